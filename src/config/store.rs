//! `[store]`, `[audit]`, `[policy]` and `[log]`.

use super::*;

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// A file holding the HMAC key (at least 32 bytes, mode 600) that signs every audit
    /// entry, so a writer without it cannot re-chain the trail. Keep it off the store's
    /// disk (a mounted secret); never in the store, never in this file.
    pub hmac_key_file: Option<PathBuf>,
}
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    #[default]
    Sqlite,
    /// One PostgreSQL database shared by every replica.
    Postgres,
}
/// What `validate` and every connection say while `[store] tls_insecure_skip_verify` is set.
pub const INSECURE_STORE: &str = "[store] tls_insecure_skip_verify = true: the PostgreSQL server's certificate is not checked and plain text is allowed; whoever sits between can read every record and write work the applier carries out";

#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub kind: StoreKind,
    /// The SQLite file (`kind = "sqlite"`).
    pub path: PathBuf,
    /// The PostgreSQL database (`kind = "postgres"`): `postgres://user@host:5432/db`. It
    /// may hold a password, so it is better given by `url_file` (a private file) or
    /// `TURNSTILE__STORE__URL`.
    pub url: Secret,
    pub url_file: Option<PathBuf>,
    /// The PostgreSQL schema to keep the tables in (made if missing); default the
    /// server's search path (`public`).
    pub schema: Option<String>,
    /// PEM certificate(s) the PostgreSQL server's certificate may chain to, beside the
    /// system's roots. The server's certificate is always verified, its host name
    /// included. To a host other than loopback TLS is required (a URL's `sslmode=prefer`
    /// or none becomes `require`, so a peer in the middle cannot strip it;
    /// `sslmode=disable` is refused); on loopback or a Unix socket the URL's `sslmode`
    /// stands (default `prefer`).
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate for any host name, and plain text to a network host:
    /// whoever sits between Turnstile and its store can then read all the personal data
    /// it holds and write work the applier carries out. For a test bench only; `validate`
    /// and every start warn while it is set.
    pub tls_insecure_skip_verify: bool,
    /// How long a replica's claim on a person's due work holds if the replica vanishes
    /// mid-change; another replica takes the work over after it.
    #[schemars(range(min = 1, max = 86400))]
    pub claim_secs: u64,
}
impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            kind: StoreKind::Sqlite,
            path: PathBuf::from("turnstile.db"),
            url: Secret::default(),
            url_file: None,
            schema: None,
            ca_file: None,
            tls_insecure_skip_verify: false,
            claim_secs: 120,
        }
    }
}
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// The role model file.
    pub path: PathBuf,
}
impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            path: PathBuf::from("role-model.toml"),
        }
    }
}
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `turnstile=debug`.
    pub level: String,
}
impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
        }
    }
}
