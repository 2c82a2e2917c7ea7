//! `[daemon]`: the admin endpoint and the daemon's pace.

use super::*;

#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// Where the admin endpoint listens: `/metrics` (Prometheus), `/healthz`, `/readyz`.
    /// Empty: no endpoint.
    pub listen: String,
    /// How often partition progress and the broker are checked.
    #[schemars(range(min = 1, max = 3600))]
    pub check_every_secs: u64,
    /// A partition with events waiting whose position has not moved for this long is
    /// reported as stalled (log, metric, `/readyz` 503).
    #[schemars(range(min = 1, max = 86400))]
    pub stall_after_secs: u64,
    /// After SIGTERM/SIGINT: the most time given to finish the event in hand and commit.
    #[schemars(range(min = 1, max = 3600))]
    pub shutdown_timeout_secs: u64,
    /// How often the applier looks for pending work that has fallen due (milliseconds).
    #[schemars(range(min = 10, max = 60000))]
    pub apply_every_ms: u64,
    /// How often every target is reconciled in full (and once at start); 0: never.
    #[schemars(range(min = 0, max = 604800))]
    pub reconcile_every_secs: u64,
    /// The admin API's bearer tokens: a TOML file of `[[tokens]]` with `name`, `role`
    /// (viewer, operator, approver) and `sha256` (the hex SHA-256 of the token; the token
    /// itself is never stored). Without it the API routes answer 503 and only
    /// `/healthz`, `/readyz` and `/metrics` are served. Must not be readable by others.
    pub tokens_file: Option<std::path::PathBuf>,
    /// Serve `/metrics` without a token (for a scraper on a private network). Default:
    /// open when no tokens file is set, else closed.
    pub metrics_open: Option<bool>,
    /// Failed authentications one client address may make in a minute before it is
    /// answered 429 until the minute is over.
    #[schemars(range(min = 1, max = 10000))]
    pub max_failed_auth_per_minute: u32,
    /// Serve the admin endpoint over TLS with this PEM certificate (chain) and the PKCS#8
    /// PEM key in `tls_key_file` (private to the daemon's user). Both or neither.
    pub tls_cert_file: Option<std::path::PathBuf>,
    pub tls_key_file: Option<std::path::PathBuf>,
    /// A client that has not sent a request's complete headers this long after connecting
    /// (or after its last answer) is disconnected.
    #[schemars(range(min = 1, max = 300))]
    pub header_timeout_secs: u64,
    /// Connections the admin endpoint keeps open at once; one more is closed at once.
    #[schemars(range(min = 1, max = 100000))]
    pub max_connections: usize,
    /// Connections one client address may hold open at once (behind an ingress every
    /// client has its address, so keep it well above what the ingress opens).
    #[schemars(range(min = 1, max = 100000))]
    pub max_connections_per_peer: usize,
    /// Bearer tokens over plain HTTP on an address other than loopback are refused: anyone
    /// on the network path could read and replay them. Set this to accept it knowingly
    /// (TLS ends at a sidecar or ingress on the same host, say).
    pub allow_plaintext_tokens: bool,
}
impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            listen: "127.0.0.1:9464".into(),
            check_every_secs: 10,
            stall_after_secs: 60,
            shutdown_timeout_secs: 20,
            apply_every_ms: 500,
            reconcile_every_secs: 6 * 3600,
            tokens_file: None,
            metrics_open: None,
            max_failed_auth_per_minute: 10,
            tls_cert_file: None,
            tls_key_file: None,
            header_timeout_secs: 10,
            max_connections: 512,
            max_connections_per_peer: 256,
            allow_plaintext_tokens: false,
        }
    }
}
impl DaemonConfig {
    /// Whether `listen` names a loopback address only (`127.0.0.1:…`, `[::1]:…`,
    /// `localhost:…`).
    pub fn listens_on_loopback(&self) -> bool {
        self.listen
            .rsplit_once(':')
            .is_some_and(|(host, _)| is_loopback_host(host))
    }

    /// Tokens sent in clear over a network: refused unless `allow_plaintext_tokens`.
    pub fn plaintext_tokens(&self) -> bool {
        self.tokens_file.is_some()
            && self.tls_cert_file.is_none()
            && !self.listen.is_empty()
            && !self.listens_on_loopback()
    }

    /// Why this endpoint is refused, when it would take bearer tokens in clear on a
    /// network address without `allow_plaintext_tokens` (said by `validate` and `run`).
    pub fn plaintext_tokens_refused(&self) -> Option<String> {
        (self.plaintext_tokens() && !self.allow_plaintext_tokens).then(|| {
            format!(
                "[daemon] listen = \"{}\" is not a loopback address and the admin API takes bearer tokens over plain HTTP, where anyone on the path can read and replay them: set tls_cert_file and tls_key_file, listen on 127.0.0.1, or set allow_plaintext_tokens = true if TLS ends in front of it on the same host",
                self.listen
            )
        })
    }
}
