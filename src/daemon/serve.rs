//! The admin endpoint's own accept loop, so that no client can stall it.
//!
//! `axum::serve` accepts one connection at a time and, over TLS, ran each handshake inside
//! that loop: sixty silent TCP connections held `/healthz` for minutes. Here the loop only
//! accepts; each connection is served on a task of its own, where its TLS handshake (with
//! a deadline), its request headers (with a deadline) and its requests run. The number of
//! connections open at once is capped in all and per client address; one over either cap is
//! closed at once, so a flood costs the endpoint a file descriptor for an instant.

use super::api::Peer;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How long a client may take over a TLS handshake.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// What one client may hold of the endpoint.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From the connection's start (or the last answer) to a request's complete headers.
    pub header_timeout: Duration,
    /// Connections open at once, in all.
    pub max_connections: usize,
    /// Connections open at once from one client address.
    pub max_per_peer: usize,
}

impl Limits {
    pub fn from_config(d: &crate::config::DaemonConfig) -> Limits {
        Limits {
            header_timeout: Duration::from_secs(d.header_timeout_secs.max(1)),
            max_connections: d.max_connections.max(1),
            max_per_peer: d.max_connections_per_peer.max(1),
        }
    }
}

/// Connections open per client address; an entry goes when its last connection closes,
/// so the map holds at most `max_connections` entries.
#[derive(Default)]
struct Open {
    total: usize,
    per_peer: HashMap<IpAddr, usize>,
}

/// One connection's place in `Open`, given back when the connection ends.
struct Slot {
    open: Arc<Mutex<Open>>,
    ip: IpAddr,
}

impl Slot {
    fn take(open: &Arc<Mutex<Open>>, ip: IpAddr, limits: &Limits) -> Option<Slot> {
        let mut o = open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mine = o.per_peer.get(&ip).copied().unwrap_or(0);
        if o.total >= limits.max_connections || mine >= limits.max_per_peer {
            return None;
        }
        o.total += 1;
        o.per_peer.insert(ip, mine + 1);
        Some(Slot {
            open: open.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut o = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        o.total = o.total.saturating_sub(1);
        if let Some(n) = o.per_peer.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                o.per_peer.remove(&self.ip);
            }
        }
    }
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until `stop` turns true, then
/// lets each open connection finish the request in hand (up to `grace`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_native_tls::TlsAcceptor>,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let open = Arc::new(Mutex::new(Open::default()));
    let tls = tls.map(Arc::new);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (stream, addr) = tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!("admin endpoint: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Finished connections' tasks are reaped as we go, so the set stays bounded.
        while tasks.try_join_next().is_some() {}
        let Some(slot) = Slot::take(&open, addr.ip(), &limits) else {
            tracing::debug!(client = %addr, "admin endpoint: too many connections; closed");
            drop(stream);
            continue;
        };
        let (app, tls, stop) = (app.clone(), tls.clone(), stop.clone());
        tasks.spawn(async move {
            let _slot = slot;
            match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
                        Ok(Ok(io)) => connection(io, addr, app, limits, stop).await,
                        Ok(Err(e)) => {
                            tracing::debug!(client = %addr, "admin endpoint: TLS handshake failed: {e}")
                        }
                        Err(_) => {
                            tracing::debug!(client = %addr, "admin endpoint: TLS handshake timed out")
                        }
                    }
                }
                None => connection(stream, addr, app, limits, stop).await,
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
}

/// Returns once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The borrow `wait_for` answers with is dropped here, not held across an await.
    let _ = stop.wait_for(|s| *s).await.is_ok();
}

/// Serves HTTP/1.1 on one connection; the client's address is given to the handlers as
/// `ConnectInfo<Peer>`.
async fn connection<I>(
    io: I,
    addr: SocketAddr,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(Peer(addr)));
            let mut app = app.clone();
            async move {
                let answer = tower_service::Service::call(&mut app, req).await;
                Ok::<_, Infallible>(match answer {
                    Ok(a) => a,
                    Err(never) => match never {},
                })
            }
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let stopping = tokio::select! {
        done = conn.as_mut() => {
            if let Err(e) = done {
                tracing::debug!(client = %addr, "admin endpoint: connection ended: {e}");
            }
            false
        }
        _ = stopped(&mut stop) => true,
    };
    if stopping {
        // The request in hand is answered; the connection then closes.
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_in_all_and_per_address_and_given_back() {
        let limits = Limits {
            header_timeout: Duration::from_secs(1),
            max_connections: 3,
            max_per_peer: 2,
        };
        let open = Arc::new(Mutex::new(Open::default()));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = Slot::take(&open, a, &limits).unwrap();
        let a2 = Slot::take(&open, a, &limits).unwrap();
        assert!(Slot::take(&open, a, &limits).is_none(), "per address");
        let b1 = Slot::take(&open, b, &limits).unwrap();
        assert!(Slot::take(&open, b, &limits).is_none(), "in all");
        drop(a1);
        let a3 = Slot::take(&open, a, &limits).unwrap();
        drop((a2, a3, b1));
        let o = open.lock().unwrap();
        assert_eq!(o.total, 0);
        assert!(o.per_peer.is_empty(), "no entry outlives its connections");
    }
}
