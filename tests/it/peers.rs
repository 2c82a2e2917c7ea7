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
/// connection), silence (accept, then never answer), take down (close every new
/// connection at once, as a stopped server would) or make unreliable ([`Chaos`]).
pub struct Proxy {
    pub port: u16,
    pub cut: Arc<tokio::sync::Notify>,
    pub silent: Arc<AtomicBool>,
    pub down: Arc<AtomicBool>,
    pub chaos: Arc<std::sync::Mutex<Option<Chaos>>>,
    /// AddResponses withheld ([`Chaos::hold_add_response`]).
    pub held: Arc<std::sync::atomic::AtomicU64>,
    /// Requests answered with a refusal in the server's place ([`Chaos::busy_per_mille`]).
    pub refused: Arc<std::sync::atomic::AtomicU64>,
}

/// A slow, unreliable network, the same for the same seed: each chunk the server sends
/// waits up to `delay_ms`, and with `cut_per_mille`/1000 the connection is cut part-way
/// through a chunk (the client has half a response; the server may have done the write).
#[derive(Clone, Copy, Debug, Default)]
pub struct Chaos {
    pub seed: u64,
    pub delay_ms: u64,
    pub cut_per_mille: u64,
    /// Withhold the first LDAP AddResponse (the server has made the entry; the client
    /// never hears so) and count it in [`Proxy::held`], so a test can stop the client in
    /// exactly that moment.
    pub hold_add_response: bool,
    /// LDAP: answer this many per thousand requests (searches and writes) with result 51
    /// (busy) or 52 (unavailable) in the server's place, the request never reaching it.
    pub busy_per_mille: u64,
    /// HTTP: answer this many per thousand requests `429 Too Many Requests` (with
    /// `Retry-After: 1`) or `503` in the server's place.
    pub refuse_http_per_mille: u64,
}

/// The protocol operation of the LDAP message at the start of `buf`, if it can be read.
fn ldap_op(buf: &[u8]) -> Option<u8> {
    if *buf.first()? != 0x30 {
        return None;
    }
    let len = *buf.get(1)?;
    let mut at = 2 + if len & 0x80 != 0 {
        (len & 0x7f) as usize
    } else {
        0
    };
    if *buf.get(at)? != 0x02 {
        return None;
    }
    at += 2 + *buf.get(at + 1)? as usize;
    buf.get(at).copied()
}

/// The seed a fault test runs with: `TURNSTILE_FAULT_SEED`, else a new one each run;
/// printed, so a failure can be replayed.
pub fn fault_seed(test: &str) -> u64 {
    let seed = env_number(
        "TURNSTILE_FAULT_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            % 1_000_000,
    );
    eprintln!("{test}: fault seed {seed} (replay with TURNSTILE_FAULT_SEED={seed})");
    seed
}

/// xorshift64*: small, seeded, and the same everywhere.
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// The length of the whole BER element at the start of `buf`, once it has all arrived.
fn ber_len(buf: &[u8]) -> Option<usize> {
    let first = *buf.get(1)?;
    if first & 0x80 == 0 {
        let n = 2 + first as usize;
        return (buf.len() >= n).then_some(n);
    }
    let k = (first & 0x7f) as usize;
    let len = buf
        .get(2..2 + k)?
        .iter()
        .fold(0usize, |a, b| a << 8 | *b as usize);
    let n = 2 + k + len;
    (buf.len() >= n).then_some(n)
}

/// The LDAP response refusing the request `msg` with `code`, if it is one answered by a
/// single result (search, add, modify, delete, modify DN).
fn ldap_refusal(msg: &[u8], code: u8) -> Option<Vec<u8>> {
    let header = if msg[1] & 0x80 != 0 {
        2 + (msg[1] & 0x7f) as usize
    } else {
        2
    };
    let id = msg.get(header..header + 2 + *msg.get(header + 1)? as usize)?;
    let op = *msg.get(header + id.len())?;
    let answer = match op {
        0x63 => 0x65, // SearchRequest -> SearchResultDone
        0x66 => 0x67, // ModifyRequest -> ModifyResponse
        0x68 => 0x69, // AddRequest -> AddResponse
        0x4a => 0x6b, // DelRequest -> DelResponse
        0x6c => 0x6d, // ModifyDNRequest -> ModifyDNResponse
        _ => return None,
    };
    let mut body = id.to_vec();
    body.extend([answer, 7, 0x0a, 1, code, 4, 0, 4, 0]);
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    Some(out)
}

/// The length of the HTTP request at the start of `buf` (head and `Content-Length` body),
/// once it has all arrived.
fn http_len(buf: &[u8]) -> Option<usize> {
    let head = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let text = String::from_utf8_lossy(&buf[..head]).to_ascii_lowercase();
    let body: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |n| n.trim().parse().unwrap_or(0));
    (buf.len() >= head + body).then_some(head + body)
}

/// Client to server through `chaos`: whole requests read, and some answered with a refusal
/// in the server's place (the request never reaches it).
async fn erratic(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    back: Arc<tokio::sync::Mutex<tokio::net::tcp::OwnedWriteHalf>>,
    chaos: Chaos,
    connection: u64,
    refused: Arc<std::sync::atomic::AtomicU64>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut rng = Rng::new(chaos.seed ^ connection.wrapping_mul(0x9E37_79B9) ^ 0x5555);
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            let ldap = buf.first() == Some(&0x30);
            let Some(len) = (if ldap { ber_len(&buf) } else { http_len(&buf) }) else {
                break;
            };
            let request: Vec<u8> = buf.drain(..len).collect();
            let refusal = if ldap && rng.below(1000) < chaos.busy_per_mille {
                ldap_refusal(&request, if rng.below(2) == 0 { 51 } else { 52 })
            } else if !ldap && rng.below(1000) < chaos.refuse_http_per_mille {
                Some(if rng.below(2) == 0 {
                    b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
                        .to_vec()
                } else {
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n".to_vec()
                })
            } else {
                None
            };
            let sent = match refusal {
                Some(answer) => {
                    refused.fetch_add(1, Ordering::SeqCst);
                    back.lock().await.write_all(&answer).await
                }
                None => to.write_all(&request).await,
            };
            if sent.is_err() {
                return;
            }
        }
    }
}

/// Server to client through `chaos`: delayed chunks, and a cut part-way through one.
async fn unreliable(
    mut from: tokio::net::tcp::OwnedReadHalf,
    to: Arc<tokio::sync::Mutex<tokio::net::tcp::OwnedWriteHalf>>,
    chaos: Chaos,
    connection: u64,
    held: Arc<std::sync::atomic::AtomicU64>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut rng = Rng::new(chaos.seed ^ connection.wrapping_mul(0x1000_0000_01B3));
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        tokio::time::sleep(std::time::Duration::from_millis(
            rng.below(chaos.delay_ms + 1),
        ))
        .await;
        // 0x69: [APPLICATION 9] AddResponse.
        if chaos.hold_add_response
            && ldap_op(&buf[..n]) == Some(0x69)
            && held.fetch_add(1, Ordering::SeqCst) == 0
        {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            return;
        }
        if rng.below(1000) < chaos.cut_per_mille {
            let part = rng.below(n as u64) as usize;
            let _ = to.lock().await.write_all(&buf[..part]).await;
            return;
        }
        if to.lock().await.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Proxy {
    pub async fn start(target: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(tokio::sync::Notify::new());
        let silent = Arc::new(AtomicBool::new(false));
        let down = Arc::new(AtomicBool::new(false));
        let chaos = Arc::new(std::sync::Mutex::new(None::<Chaos>));
        let held = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (c, s, d, x, h, r) = (
            cut.clone(),
            silent.clone(),
            down.clone(),
            chaos.clone(),
            held.clone(),
            refused.clone(),
        );
        tokio::spawn(async move {
            let mut connections = 0u64;
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections += 1;
                let connection = connections;
                let chaos = *x.lock().unwrap();
                let (cut, silent, down, target, held, refused) = (
                    c.clone(),
                    s.clone(),
                    d.clone(),
                    target.clone(),
                    h.clone(),
                    r.clone(),
                );
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
                    if let Some(chaos) = chaos {
                        let (mut client_read, client_write) = inbound.into_split();
                        let (server_read, mut server_write) = outbound.into_split();
                        let back = Arc::new(tokio::sync::Mutex::new(client_write));
                        let refusing = chaos.busy_per_mille > 0 || chaos.refuse_http_per_mille > 0;
                        let up = async {
                            if refusing {
                                erratic(
                                    client_read,
                                    server_write,
                                    back.clone(),
                                    chaos,
                                    connection,
                                    refused,
                                )
                                .await;
                            } else {
                                let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                            }
                        };
                        tokio::select! {
                            _ = up => {}
                            _ = unreliable(server_read, back.clone(), chaos, connection, held) => {}
                            _ = cut.notified() => {}
                        }
                        return;
                    }
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
            chaos,
            held,
            refused,
        }
    }

    /// New connections go through `chaos` (None: a faithful proxy again).
    pub fn set_chaos(&self, chaos: Option<Chaos>) {
        *self.chaos.lock().unwrap() = chaos;
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

pub use turnstile::fuzzing::store_digest;
