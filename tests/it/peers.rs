//! The real peers the integration tests talk to, started by `tests/peers/peers.sh`
//! (idempotent: a second run reuses them), and a TCP proxy to break connections with.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

pub fn peers() -> &'static BTreeMap<String, String> {
    static PEERS: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    PEERS.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/peers.sh");
        let out = std::process::Command::new(script).arg("start").output().unwrap();
        assert!(
            out.status.success(),
            "could not start the peers (install them with `{script} install`, or run tests/run.sh): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    })
}

/// A number from the test's own environment (runs, seeds), or `default`.
pub fn env_number(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn env(key: &str) -> String {
    peers()
        .get(key)
        .cloned()
        .unwrap_or_else(|| panic!("peer setting {key} missing"))
}

/// A TCP proxy in front of a real server that the test can cut (drop every live
/// connection), silence (accept, then never answer) or take down (close every new
/// connection at once, as a stopped server would).
pub struct Proxy {
    pub port: u16,
    pub cut: Arc<tokio::sync::Notify>,
    pub silent: Arc<AtomicBool>,
    pub down: Arc<AtomicBool>,
}

impl Proxy {
    pub async fn start(target: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(tokio::sync::Notify::new());
        let silent = Arc::new(AtomicBool::new(false));
        let down = Arc::new(AtomicBool::new(false));
        let (c, s, d) = (cut.clone(), silent.clone(), down.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let (cut, silent, down, target) = (c.clone(), s.clone(), d.clone(), target.clone());
                tokio::spawn(async move {
                    if down.load(Ordering::SeqCst) {
                        return;
                    }
                    if silent.load(Ordering::SeqCst) {
                        // Hold the connection open and say nothing.
                        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                        return;
                    }
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.notified() => {}
                    }
                });
            }
        });
        Proxy {
            port,
            cut,
            silent,
            down,
        }
    }

    /// Stops serving: drops live connections and closes new ones.
    pub fn take_down(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    pub fn bring_up(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// The first JSON value in what a command printed (after any lines of text before it).
pub fn json_in(out: &str) -> serde_json::Value {
    let at = out
        .find(['[', '{'])
        .unwrap_or_else(|| panic!("no JSON in {out}"));
    let mut de = serde_json::Deserializer::from_str(&out[at..]).into_iter::<serde_json::Value>();
    de.next().unwrap().unwrap()
}

/// A self-signed certificate and its PKCS#8 key, one day long, for `subject` (e.g.
/// `/CN=t`) with the `subjectAltName` given (e.g. `IP:127.0.0.1`), written by openssl.
pub fn self_signed(
    cert: &std::path::Path,
    key: &std::path::Path,
    subject: &str,
    alt: Option<&str>,
) {
    let mut c = std::process::Command::new("openssl");
    c.args([
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", subject,
    ]);
    if let Some(alt) = alt {
        c.args(["-addext", &format!("subjectAltName={alt}")]);
    }
    let o = c
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
