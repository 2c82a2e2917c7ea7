//! Configuration: `turnstile.toml`, then `TURNSTILE__SECTION__KEY` environment variables,
//! then command-line flags. Unknown keys are refused so a typo is never silently ignored.

use crate::feed::export::ExportColumns;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub store: StoreConfig,
    pub policy: PolicyConfig,
    /// Column renames for account exports, per system id.
    pub exports: BTreeMap<String, ExportColumns>,
    /// Bounds on what one input file may make Turnstile hold, and how many bad rows a
    /// usable file may have.
    pub feeds: crate::feed::Limits,
    /// The target systems, per system id of the role model: `[targets.<system>]` with a
    /// `type` (a connector kind, see `connectors::REGISTRY`) and that connector's settings.
    pub targets: BTreeMap<String, toml::Table>,
    /// The older form of an LDAP target, `[ldap.<system>]`: read as `[targets.<system>]`
    /// with `type = "ldap"`.
    pub ldap: BTreeMap<String, toml::Table>,
    pub reconcile: ReconcileConfig,
    /// The mass-change guard for the changes the daemon applies by itself.
    pub guard: GuardConfig,
    pub log: LogConfig,
    /// The Kafka topic of HR events (`run`, `feed --publish`).
    pub kafka: crate::kafka::KafkaConfig,
    /// The daemon (`run`): admin endpoint, progress checks, shutdown.
    pub daemon: DaemonConfig,
    /// The audit trail's keyed integrity.
    pub audit: AuditConfig,
    /// Work items (systems with no API): when they fall due and where they are sent.
    pub work_items: WorkItemsConfig,
    /// The mail relay for work-item digests, escalations and inactivity notices.
    pub smtp: SmtpConfig,
    /// Who is told when a person's own manager cannot be.
    pub notify: NotifyConfig,
}

/// `[notify]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Where an inactivity notice goes for staff with no line manager (or none with a
    /// work email): the IT service desk, say.
    pub fallback: Option<String>,
    /// Days before a sponsored identity's end that the sponsor is told.
    pub sponsor_notice_days: u32,
    /// A folder of the trust's own wording for the emails to people: `inactivity.txt`
    /// (line managers), `sponsorship.txt` (sponsors), `starter.txt` (hiring managers).
    /// Each starts `Subject: …`, then a blank line, then the body; `{count}` is the number
    /// of people or accounts, `{list}` the lines Turnstile fills in. A file left out keeps
    /// Turnstile's wording.
    pub templates: Option<PathBuf>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            fallback: None,
            sponsor_notice_days: 14,
            templates: None,
        }
    }
}

/// The kinds of email a trust may word itself.
pub const TEMPLATES: [&str; 3] = ["inactivity", "sponsorship", "starter"];

impl NotifyConfig {
    /// Reads `[notify] templates`: each file there must start `Subject:` and use
    /// `{list}`. Kind → text, for the kinds the trust worded.
    pub fn templates(&self) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        let Some(dir) = &self.templates else {
            return Ok(out);
        };
        for kind in TEMPLATES {
            let path = dir.join(format!("{kind}.txt"));
            if !path.exists() {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("[notify] templates: {}: {e}", path.display()))?;
            if !text.starts_with("Subject:") || !text.contains("{list}") {
                return Err(format!(
                    "[notify] templates: {} must start with a `Subject:` line and put `{{list}}` in the body",
                    path.display()
                ));
            }
            out.insert(kind.to_string(), text);
        }
        Ok(out)
    }
}

/// Working days a work item has before it is overdue, unless configured.
pub const DEFAULT_DUE_DAYS: u32 = 5;

/// The sub-table of `[targets.<system>]` the engine reads for correlation.
const CORRELATION: &str = "correlation";

/// `[work_items]`: defaults for every system with no API, and `[work_items.systems.<s>]`
/// for one system (each key falls back to the default).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkItemsConfig {
    /// Working days (Monday to Friday, Europe/London) before an open item is overdue.
    pub due_days: u32,
    /// The system administrators' addresses: one digest email per run with the new items.
    pub email_to: Vec<String>,
    /// Where overdue items are escalated (a service manager, the IG lead).
    pub escalate_to: Vec<String>,
    /// The service desk's webhook: each item is POSTed to it as JSON, once.
    pub webhook_url: Option<String>,
    /// The bearer token for the webhook, from a file (mode 600) or
    /// `TURNSTILE__WORK_ITEMS__WEBHOOK_TOKEN`.
    pub webhook_token: Secret,
    pub webhook_token_file: Option<PathBuf>,
    /// Tries per item per delivery run, with exponential backoff between them; an item
    /// not delivered is tried again on the next run.
    pub attempts: u32,
    /// The first backoff between tries, in milliseconds (doubling, at most 30 s).
    pub retry_min_ms: u64,
    /// Seconds an HTTP call or SMTP session may take.
    pub timeout_secs: u64,
    /// How often the daemon sends new items and checks for overdue ones.
    pub send_every_secs: u64,
    /// Accept `http://` webhook URLs to hosts other than this machine's loopback (the
    /// token and the items would cross the network in clear).
    pub allow_plain_http: bool,
    pub systems: BTreeMap<String, WorkItemsSystem>,
}

impl Default for WorkItemsConfig {
    fn default() -> Self {
        WorkItemsConfig {
            due_days: DEFAULT_DUE_DAYS,
            email_to: Vec::new(),
            escalate_to: Vec::new(),
            webhook_url: None,
            webhook_token: Secret::default(),
            webhook_token_file: None,
            attempts: 5,
            retry_min_ms: 500,
            timeout_secs: 30,
            send_every_secs: 60,
            allow_plain_http: false,
            systems: BTreeMap::new(),
        }
    }
}

/// One system's work-item settings in place of the defaults.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkItemsSystem {
    pub due_days: Option<u32>,
    pub email_to: Option<Vec<String>>,
    pub escalate_to: Option<Vec<String>>,
    pub webhook_url: Option<String>,
    pub webhook_token: Secret,
    pub webhook_token_file: Option<PathBuf>,
}

/// One system's work-item settings, resolved.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub due_days: u32,
    pub email_to: Vec<String>,
    pub escalate_to: Vec<String>,
    /// The webhook and its bearer token (empty: none sent).
    pub webhook: Option<(String, Secret)>,
}

impl WorkItemsConfig {
    pub fn delivery(&self, system: &str) -> Delivery {
        let own = self.systems.get(system);
        let webhook = match own.and_then(|o| o.webhook_url.clone()) {
            Some(url) => Some((
                url,
                own.map(|o| o.webhook_token.clone()).unwrap_or_default(),
            )),
            None => self
                .webhook_url
                .clone()
                .map(|url| (url, self.webhook_token.clone())),
        };
        Delivery {
            due_days: own.and_then(|o| o.due_days).unwrap_or(self.due_days),
            email_to: own
                .and_then(|o| o.email_to.clone())
                .unwrap_or_else(|| self.email_to.clone()),
            escalate_to: own
                .and_then(|o| o.escalate_to.clone())
                .unwrap_or_else(|| self.escalate_to.clone()),
            webhook: webhook.filter(|(url, _)| !url.trim().is_empty()),
        }
    }

    fn check(&self, smtp: &SmtpConfig) -> Vec<String> {
        let mut out = out_of_range(
            "[work_items]",
            &[
                ("due_days", self.due_days.into(), 0, 365),
                ("attempts", self.attempts.into(), 1, 100),
                ("retry_min_ms", self.retry_min_ms.into(), 1, 600_000),
                ("timeout_secs", self.timeout_secs.into(), 1, 3600),
                ("send_every_secs", self.send_every_secs.into(), 1, 86_400),
            ],
        );
        let sections = std::iter::once(("[work_items]".to_string(), self.delivery(""))).chain(
            self.systems
                .keys()
                .map(|s| (format!("[work_items.systems.{s}]"), self.delivery(s))),
        );
        for (section, d) in sections {
            if d.due_days > 365 {
                out.push(format!(
                    "{section} due_days is {}: use 0 to 365 working days",
                    d.due_days
                ));
            }
            for address in d.email_to.iter().chain(&d.escalate_to) {
                if address.parse::<lettre::Address>().is_err() {
                    out.push(format!("{section} \"{address}\" is not an email address"));
                }
            }
            if (!d.email_to.is_empty() || !d.escalate_to.is_empty()) && smtp.host.trim().is_empty()
            {
                out.push(format!(
                    "{section} sends email but [smtp] host is not set: set [smtp] host and from"
                ));
            }
            if let Some((url, _)) = &d.webhook {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    out.push(format!(
                        "{section} webhook_url \"{url}\" is not an http(s) URL"
                    ));
                }
                out.extend(plain_http(
                    &section,
                    "webhook_url",
                    url,
                    self.allow_plain_http,
                ));
            }
        }
        out
    }
}

/// How the SMTP session is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// STARTTLS, required (port 587): the NHSmail relay and most trust relays.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain text: only for a relay on the same host or a test sink.
    None,
}

/// `[smtp]`: the relay Turnstile sends mail through.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Empty: no email is sent.
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// The sender, e.g. `turnstile@example.nhs.uk`.
    pub from: String,
    pub username: Option<String>,
    /// From a file (mode 600) or `TURNSTILE__SMTP__PASSWORD`.
    pub password: Secret,
    pub password_file: Option<PathBuf>,
    /// Accept logging in over `tls = "none"` to a relay other than loopback.
    pub allow_plaintext_login: bool,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: String::new(),
            port: 587,
            tls: SmtpTls::Starttls,
            from: String::new(),
            username: None,
            password: Secret::default(),
            password_file: None,
            allow_plaintext_login: false,
        }
    }
}

impl SmtpConfig {
    fn check(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.host.trim().is_empty() {
            return out;
        }
        if self.from.parse::<lettre::Address>().is_err() {
            out.push(format!(
                "[smtp] from \"{}\" is not an email address: set the sender, e.g. turnstile@example.nhs.uk",
                self.from
            ));
        }
        if self.username.is_some() && self.password.is_empty() {
            out.push("[smtp] username is set without a password: set password_file".into());
        }
        if self.tls == SmtpTls::None
            && self.username.is_some()
            && !is_loopback_host(&self.host)
            && !self.allow_plaintext_login
        {
            out.push(format!(
                "[smtp] tls = \"none\" with a username: the password would cross the network to {} in clear; use tls = \"starttls\" or \"tls\", or set allow_plaintext_login = true for a relay you trust on the path",
                self.host
            ));
        }
        out
    }
}

/// Whether `host` (a name or an address, `[v6]` too) is this machine's loopback.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Credentials and personal data go to `url` (the `key` of `section`): `https://`, or
/// `http://` to this machine's loopback only (a test peer, a local relay), unless
/// `allowed` (the section's `allow_plain_http`) names the exception.
pub fn plain_http(section: &str, key: &str, url: &str, allowed: bool) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    (!allowed && !is_loopback_host(host)).then(|| {
        format!(
            "{section} {key} \"{}\" is plain http to {host}: the credentials and personal data it carries would cross the network in clear; use https://, or set allow_plain_http = true in {section} to accept it knowingly",
            crate::input::redacted(url, 200)
        )
    })
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// A file holding the HMAC key (at least 32 bytes, mode 600) that signs every audit
    /// entry, so a writer without it cannot re-chain the trail. Keep it off the store's
    /// disk (a mounted secret); never in the store, never in this file.
    pub hmac_key_file: Option<PathBuf>,
}

/// A password or key from config: never printed, not even in debug logs.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// Where the admin endpoint listens: `/metrics` (Prometheus), `/healthz`, `/readyz`.
    /// Empty: no endpoint.
    pub listen: String,
    /// How often partition progress and the broker are checked.
    pub check_every_secs: u64,
    /// A partition with events waiting whose position has not moved for this long is
    /// reported as stalled (log, metric, `/readyz` 503).
    pub stall_after_secs: u64,
    /// After SIGTERM/SIGINT: the most time given to finish the event in hand and commit.
    pub shutdown_timeout_secs: u64,
    /// How often the applier looks for pending work that has fallen due (milliseconds).
    pub apply_every_ms: u64,
    /// How often every target is reconciled in full (and once at start); 0: never.
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
    pub max_failed_auth_per_minute: u32,
    /// Serve the admin endpoint over TLS with this PEM certificate (chain) and the PKCS#8
    /// PEM key in `tls_key_file` (private to the daemon's user). Both or neither.
    pub tls_cert_file: Option<std::path::PathBuf>,
    pub tls_key_file: Option<std::path::PathBuf>,
    /// A client that has not sent a request's complete headers this long after connecting
    /// (or after its last answer) is disconnected.
    pub header_timeout_secs: u64,
    /// Connections the admin endpoint keeps open at once; one more is closed at once.
    pub max_connections: usize,
    /// Connections one client address may hold open at once (behind an ingress every
    /// client has its address, so keep it well above what the ingress opens).
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    /// A run that would disable or delete more than this share of a system's accounts
    /// stops before acting until someone re-runs it with `--approve` (CONTRACT §5).
    pub max_removal_share: f64,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            max_removal_share: 0.05,
        }
    }
}

/// The mass-change guard for event-driven changes (CONTRACT §5): in any window of
/// `window_secs`, the accounts of one system that lose access (disable, revoke, delete)
/// may not exceed `max_removals`, nor `max_removal_share` of the accounts the system held
/// at its last full read, whichever is hit first; a window of `min_removals` or fewer is
/// never held (two leavers on a 30-account system are not a mass change). Past that, the
/// changes are held as a plan for `turnstile approve`/`reject`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardConfig {
    pub window_secs: u64,
    pub min_removals: u64,
    pub max_removals: u64,
    pub max_removal_share: f64,
    /// Accounts a reconciliation may create on one system in a window without a person's
    /// approval: a first run against a directory that was never correlated must not make
    /// a second account for everyone. `min_creates` or fewer are never held.
    pub min_creates: u64,
    pub max_creates: u64,
    /// ... and as a share of the accounts the system held when read.
    pub max_create_share: f64,
    /// Per-system limits in place of the ones above: `[guard.systems.ad] max_removals = 20`.
    pub systems: BTreeMap<String, GuardLimits>,
}

/// One system's guard limits, as [`GuardConfig::limits`] resolves them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub window_secs: u64,
    pub min_removals: u64,
    pub max_removals: u64,
    pub max_removal_share: f64,
    pub min_creates: u64,
    pub max_creates: u64,
    pub max_create_share: f64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardLimits {
    pub min_removals: Option<u64>,
    pub max_removals: Option<u64>,
    pub max_removal_share: Option<f64>,
    pub min_creates: Option<u64>,
    pub max_creates: Option<u64>,
    pub max_create_share: Option<f64>,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            window_secs: 3600,
            min_removals: 10,
            max_removals: 50,
            max_removal_share: 0.05,
            min_creates: 10,
            max_creates: 50,
            max_create_share: 0.05,
            systems: BTreeMap::new(),
        }
    }
}

impl GuardConfig {
    /// The limits for one system.
    pub fn limits(&self, system: &str) -> Limits {
        let own = self.systems.get(system);
        Limits {
            window_secs: self.window_secs,
            min_removals: own
                .and_then(|l| l.min_removals)
                .unwrap_or(self.min_removals),
            max_removals: own
                .and_then(|l| l.max_removals)
                .unwrap_or(self.max_removals),
            max_removal_share: own
                .and_then(|l| l.max_removal_share)
                .unwrap_or(self.max_removal_share),
            min_creates: own.and_then(|l| l.min_creates).unwrap_or(self.min_creates),
            max_creates: own.and_then(|l| l.max_creates).unwrap_or(self.max_creates),
            max_create_share: own
                .and_then(|l| l.max_create_share)
                .unwrap_or(self.max_create_share),
        }
    }

    fn check(&self) -> Vec<String> {
        let mut out = out_of_range(
            "[guard]",
            &[
                ("window_secs", self.window_secs.into(), 60, 7 * 86_400),
                ("min_removals", self.min_removals.into(), 0, 1_000_000),
                ("max_removals", self.max_removals.into(), 0, 1_000_000),
                ("min_creates", self.min_creates.into(), 0, 1_000_000),
                ("max_creates", self.max_creates.into(), 0, 1_000_000),
            ],
        );
        let shares = [
            (
                "[guard]".to_string(),
                "max_removal_share",
                Some(self.max_removal_share),
            ),
            (
                "[guard]".to_string(),
                "max_create_share",
                Some(self.max_create_share),
            ),
        ]
        .into_iter()
        .chain(self.systems.iter().flat_map(|(s, l)| {
            [
                (
                    format!("[guard.systems.{s}]"),
                    "max_removal_share",
                    l.max_removal_share,
                ),
                (
                    format!("[guard.systems.{s}]"),
                    "max_create_share",
                    l.max_create_share,
                ),
            ]
        }));
        for (section, key, share) in shares {
            if let Some(share) = share
                && !(0.0..=1.0).contains(&share)
            {
                out.push(format!(
                    "{section} {key} is {share}: use a share from 0 to 1 (0.05 = 5%)"
                ));
            }
        }
        for (s, l) in &self.systems {
            for (key, n) in [
                ("min_removals", l.min_removals),
                ("max_removals", l.max_removals),
                ("min_creates", l.min_creates),
                ("max_creates", l.max_creates),
            ] {
                if let Some(n) = n {
                    out.extend(out_of_range(
                        &format!("[guard.systems.{s}]"),
                        &[(key, n.into(), 0, 1_000_000)],
                    ));
                }
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    #[default]
    Sqlite,
    /// One PostgreSQL database shared by every replica.
    Postgres,
}

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{path}: the config file does not exist; create it or leave out --config to use the defaults"
    )]
    Missing { path: String },
    #[error("{path}: {detail}")]
    Invalid { path: String, detail: String },
    /// Every problem found, one per line.
    #[error("{}", .0.join("\n"))]
    Problems(Vec<String>),
}

/// Who may read or change a file that holds or steers secrets.
pub mod files {
    use std::path::Path;

    /// The permission bits of `path` (Unix).
    fn mode(path: &Path) -> Result<u32, String> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .map(|m| m.permissions().mode())
            .map_err(|e| format!("{}: cannot read it: {e}", path.display()))
    }

    /// A file holding a secret must not be readable or writable by other users, nor
    /// writable by its group.
    pub fn check_private(path: &Path, what: &str) -> Result<(), String> {
        let m = mode(path)?;
        if m & 0o027 != 0 {
            return Err(format!(
                "{}: holds {what} but other users can read or change it (mode {:o}); run `chmod 600 {}`",
                path.display(),
                m & 0o777,
                path.display()
            ));
        }
        Ok(())
    }

    /// A config file anyone may change could point Turnstile at another directory or
    /// turn its guard off: refused whatever it holds.
    pub fn check_not_world_writable(path: &Path) -> Result<(), String> {
        let m = mode(path)?;
        if m & 0o002 != 0 {
            return Err(format!(
                "{}: any user can change it (mode {:o}); run `chmod 600 {}` (or 644 if it holds no secret)",
                path.display(),
                m & 0o777,
                path.display()
            ));
        }
        Ok(())
    }

    /// Writes a file that holds personal data (a report, a review pack, a survey): readable
    /// by its owner only (0600), written whole (a temporary file beside it, synced, then
    /// renamed over it, so a reader never sees half of it), and never through a symbolic
    /// link (one at `path` is refused: it could point anywhere).
    pub fn write_private(path: &Path, pieces: &[&[u8]]) -> Result<(), String> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let shown = path.display();
        if let Ok(m) = std::fs::symlink_metadata(path)
            && m.file_type().is_symlink()
        {
            return Err(format!(
                "{shown}: is a symbolic link: refused (personal data is never written through a link); give the real path"
            ));
        }
        // A device or a pipe (`--out /dev/stdout`) is written as it is: never replaced.
        if let Ok(m) = std::fs::metadata(path)
            && !m.is_file()
        {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| format!("{shown}: cannot write it: {e}"))?;
            for piece in pieces {
                f.write_all(piece)
                    .map_err(|e| format!("{shown}: cannot write it: {e}"))?;
            }
            return Ok(());
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| format!("{shown}: not a file name"))?;
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let written = (|| {
            // create_new: never opens what is already there (a link included).
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            for piece in pieces {
                f.write_all(piece)?;
            }
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(format!("{shown}: cannot write it: {e}"));
        }
        Ok(())
    }

    /// Reads a secret file after checking its mode; surrounding whitespace is dropped.
    pub fn read_secret(path: &Path, what: &str) -> Result<Vec<u8>, String> {
        check_private(path, what)?;
        let bytes =
            std::fs::read(path).map_err(|e| format!("{}: cannot read it: {e}", path.display()))?;
        let trimmed = bytes.trim_ascii().to_vec();
        if trimmed.is_empty() {
            return Err(format!("{}: holds {what} but is empty", path.display()));
        }
        Ok(trimmed)
    }
}

/// Fills `secret` from `file` when given; both at once is a mistake.
pub fn resolve_secret(
    secret: &mut Secret,
    file: &Option<PathBuf>,
    key: &str,
    problems: &mut Vec<String>,
) {
    let Some(path) = file else { return };
    if !secret.is_empty() {
        problems.push(format!(
            "{key} and {key}_file are both set: keep only {key}_file"
        ));
        return;
    }
    match files::read_secret(path, key).and_then(|b| {
        String::from_utf8(b).map_err(|_| format!("{}: {key} is not UTF-8 text", path.display()))
    }) {
        Ok(text) => *secret = Secret::new(text),
        Err(e) => problems.push(format!("{key}_file: {e}")),
    }
}

/// Where a TOML syntax error is, without the text of the line: the line may hold a
/// password.
fn syntax_error(path: &str, source: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column) = e.span().map_or((0, 0), |span| {
        let before = &source[..span.start.min(source.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    });
    ConfigError::Invalid {
        path: format!("{path}:{line}:{column}"),
        detail: format!(
            "not valid TOML: {} (the line is not shown: it may hold a secret)",
            e.message().trim_end()
        ),
    }
}

/// True when a config file itself (not the environment) gives a password, token or other
/// secret: any non-empty string under a key that names one, at any depth.
fn holds_literal_secret(table: &toml::Table) -> bool {
    table.iter().any(|(key, value)| match value {
        toml::Value::Table(t) => holds_literal_secret(t),
        toml::Value::String(v) => {
            let key = key.to_ascii_lowercase();
            (!v.is_empty()
                && !key.ends_with("_file")
                && ["password", "token", "secret"]
                    .iter()
                    .any(|w| key.contains(w)))
                || (key.ends_with("url") && url_holds_password(v))
        }
        _ => false,
    })
}

/// Whether a connection URL carries a password: `scheme://user:password@host…`, or a
/// `key=value` connection string with `password=`.
fn url_holds_password(url: &str) -> bool {
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if let Some((user_info, _)) = authority.rsplit_once('@')
            && user_info.contains(':')
        {
            return true;
        }
    }
    url.to_ascii_lowercase()
        .split(['&', '?', ' '])
        .any(|kv| kv.trim().starts_with("password="))
}

impl Config {
    /// Loads `path` (optional when `explicit` is false) with environment overrides, reads
    /// every `*_file` secret, and checks who may read the files that hold secrets.
    pub fn load(path: &Path, explicit: bool) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        if explicit && !path.exists() {
            return Err(ConfigError::Missing { path: shown });
        }
        // The file is read and parsed once: for its syntax, for the secrets it holds, and
        // as the first source of the settings.
        let mut file: Option<(String, toml::Table)> = None;
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
                path: shown.clone(),
                detail: format!("cannot read it: {e}"),
            })?;
            let table = toml::from_str::<toml::Table>(&text)
                .map_err(|e| syntax_error(&shown, &text, &e))?;
            files::check_not_world_writable(path).map_err(|d| ConfigError::Problems(vec![d]))?;
            file = Some((text, table));
        }
        let mut builder = config::Config::builder();
        if let Some((text, _)) = &file {
            builder = builder.add_source(config::File::from_str(text, config::FileFormat::Toml));
        }
        let mut config = builder
            .add_source(
                config::Environment::with_prefix("TURNSTILE")
                    .prefix_separator("__")
                    .separator("__"),
            )
            .build()
            .and_then(|c| c.try_deserialize::<Config>())
            .map_err(|e| ConfigError::Invalid {
                path: shown.clone(),
                detail: e.to_string(),
            })?;
        let mut problems = Vec::new();
        if file
            .as_ref()
            .is_some_and(|(_, table)| holds_literal_secret(table))
        {
            if let Err(e) = files::check_private(path, "a password") {
                problems.push(format!(
                    "{e}, or move the password to a *_file setting or the environment"
                ));
            }
        }
        let k = &mut config.kafka;
        resolve_secret(
            &mut k.sasl_password,
            &k.sasl_password_file,
            "[kafka] sasl_password",
            &mut problems,
        );
        resolve_secret(
            &mut k.ssl_key_password,
            &k.ssl_key_password_file,
            "[kafka] ssl_key_password",
            &mut problems,
        );
        let w = &mut config.work_items;
        resolve_secret(
            &mut w.webhook_token,
            &w.webhook_token_file,
            "[work_items] webhook_token",
            &mut problems,
        );
        for (system, own) in w.systems.iter_mut() {
            resolve_secret(
                &mut own.webhook_token,
                &own.webhook_token_file,
                &format!("[work_items.systems.{system}] webhook_token"),
                &mut problems,
            );
        }
        let st = &mut config.store;
        resolve_secret(&mut st.url, &st.url_file, "[store] url", &mut problems);
        if st.kind == StoreKind::Postgres && st.url.is_empty() {
            problems.push(
                "[store] kind = \"postgres\" needs url, url_file or TURNSTILE__STORE__URL (postgres://user@host:5432/database)".into(),
            );
        }
        let m = &mut config.smtp;
        resolve_secret(
            &mut m.password,
            &m.password_file,
            "[smtp] password",
            &mut problems,
        );
        for id in config.ldap.keys() {
            if config.targets.contains_key(id) {
                problems.push(format!(
                    "[ldap.{id}] and [targets.{id}] both configure system `{id}`: keep [targets.{id}] (type = \"ldap\")"
                ));
            }
        }
        problems.extend(config.check());
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Problems(
                problems
                    .into_iter()
                    .map(|p| format!("{shown}: {p}"))
                    .collect(),
            ))
        }
    }

    /// Every target section, `[targets.*]` and the older `[ldap.*]`, as (system, type,
    /// settings without `type`).
    pub fn target_sections(&self) -> Vec<(String, String, toml::Table)> {
        let mut out = Vec::new();
        for (id, table) in &self.targets {
            let mut settings = table.clone();
            let kind = match settings.remove("type") {
                Some(toml::Value::String(k)) => k,
                _ => String::new(),
            };
            // The engine's own keys, not the connector's.
            settings.remove(CORRELATION);
            out.push((id.clone(), kind, settings));
        }
        for (id, table) in &self.ldap {
            if !self.targets.contains_key(id) {
                out.push((id.clone(), "ldap".into(), table.clone()));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// A target's correlation settings, `[targets.<system>.correlation]` (the defaults
    /// when the section is absent: every rule, narrowed by department, links proposed).
    pub fn correlation(&self, system: &str) -> Result<crate::correlate::Settings, String> {
        match self.targets.get(system).and_then(|t| t.get(CORRELATION)) {
            None => Ok(Default::default()),
            Some(v) => v.clone().try_into().map_err(|e: toml::de::Error| {
                format!(
                    "[targets.{system}.correlation] {} (rules: anchor, email, smartcard, name, account_name; narrow_by: department, manager, location; adopt: propose, auto, off)",
                    e.message().trim_end()
                )
            }),
        }
    }

    /// Every number out of its sane range, named by its key: no arithmetic on a setting
    /// may overflow, wrap or make a guard meaningless.
    pub fn check(&self) -> Vec<String> {
        let mut out = self.feeds.check();
        let share = self.reconcile.max_removal_share;
        if !(0.0..=1.0).contains(&share) {
            out.push(format!(
                "[reconcile] max_removal_share is {share}: use a share from 0 to 1 (0.05 = 5%)"
            ));
        }
        out.extend(self.guard.check());
        out.extend(self.work_items.check(&self.smtp));
        out.extend(self.smtp.check());
        if let Err(e) = self.notify.templates() {
            out.push(e);
        }
        if let Some(f) = &self.notify.fallback
            && f.parse::<lettre::Address>().is_err()
        {
            out.push(format!("[notify] fallback \"{f}\" is not an email address"));
        }
        let d = &self.daemon;
        out.extend(out_of_range(
            "[daemon]",
            &[
                ("check_every_secs", d.check_every_secs.into(), 1, 3600),
                ("stall_after_secs", d.stall_after_secs.into(), 1, 86_400),
                (
                    "shutdown_timeout_secs",
                    d.shutdown_timeout_secs.into(),
                    1,
                    3600,
                ),
                ("apply_every_ms", d.apply_every_ms.into(), 10, 60_000),
                (
                    "reconcile_every_secs",
                    d.reconcile_every_secs.into(),
                    0,
                    7 * 86_400,
                ),
                (
                    "max_failed_auth_per_minute",
                    d.max_failed_auth_per_minute.into(),
                    1,
                    10_000,
                ),
                ("header_timeout_secs", d.header_timeout_secs.into(), 1, 300),
                ("max_connections", d.max_connections as i128, 1, 100_000),
                (
                    "max_connections_per_peer",
                    d.max_connections_per_peer as i128,
                    1,
                    100_000,
                ),
            ],
        ));
        if d.plaintext_tokens() && !d.allow_plaintext_tokens {
            out.push(format!(
                "[daemon] listen = \"{}\" is not a loopback address and the admin API takes bearer tokens over plain HTTP, where anyone on the path can read and replay them: set tls_cert_file and tls_key_file, listen on 127.0.0.1, or set allow_plaintext_tokens = true if TLS ends in front of it on the same host",
                d.listen
            ));
        }
        if let Some(file) = &d.tokens_file
            && let Err(e) = crate::tokens::Tokens::load(file)
        {
            out.push(format!("[daemon] tokens_file: {e}"));
        }
        match (&d.tls_cert_file, &d.tls_key_file) {
            (Some(_), None) | (None, Some(_)) => out.push(
                "[daemon] tls_cert_file and tls_key_file: give both (TLS) or neither (plain HTTP)"
                    .into(),
            ),
            (Some(cert), Some(key)) => {
                if let Err(e) =
                    crate::config::files::read_secret(key, "the admin endpoint's TLS key").and_then(
                        |k| {
                            let c = std::fs::read(cert)
                                .map_err(|e| format!("{}: cannot read it: {e}", cert.display()))?;
                            native_tls::Identity::from_pkcs8(&c, &k)
                                .map(|_| ())
                                .map_err(|e| format!("{} / {}: {e}", cert.display(), key.display()))
                        },
                    )
                {
                    out.push(format!("[daemon] TLS: {e}"));
                }
            }
            (None, None) => {}
        }
        for (id, kind, _) in self.target_sections() {
            if let Err(e) = self.correlation(&id) {
                out.push(e);
            }
            if kind.is_empty() {
                out.push(format!(
                    "[targets.{id}] has no `type`: say which connector it is (e.g. type = \"ldap\")"
                ));
            }
        }
        out
    }

    /// The audit key, when `[audit] hmac_key_file` is set.
    pub fn audit_key(&self) -> Result<Option<crate::audit::AuditKey>, String> {
        let Some(path) = &self.audit.hmac_key_file else {
            return Ok(None);
        };
        let bytes = files::read_secret(path, "the audit HMAC key")
            .map_err(|e| format!("[audit] hmac_key_file: {e}"))?;
        crate::audit::AuditKey::new(&bytes)
            .map(Some)
            .map_err(|e| format!("[audit] hmac_key_file: {}: {e}", path.display()))
    }
}

/// Each setting of `section` outside its range `lo..=hi`, named: (key, value, lo, hi).
pub fn out_of_range(section: &str, ranges: &[(&str, i128, i128, i128)]) -> Vec<String> {
    ranges
        .iter()
        .filter(|(_, value, lo, hi)| !(lo..=hi).contains(&value))
        .map(|(key, value, lo, hi)| format!("{section} {key} is {value}: use {lo} to {hi}"))
        .collect()
}

/// Reads and checks a role model file (the core parses text; reading is the edge's job).
pub fn load_role_model(
    path: &Path,
) -> Result<(crate::policy::RoleModel, crate::policy::Findings), crate::policy::Findings> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => crate::policy::RoleModel::parse(&file, &text),
        Err(e) => Err(crate::policy::Findings {
            problems: vec![crate::policy::Problem {
                file,
                line: None,
                message: format!("cannot read the role model: {e}"),
                warning: false,
            }],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("turnstile.toml");
        std::fs::write(
            &path,
            "[store]\npath = \"a.db\"\n[exports.ad]\naccount = \"SamAccountName\"\n",
        )
        .unwrap();
        let c = Config::load(&path, true).unwrap();
        assert_eq!(c.store.path, PathBuf::from("a.db"));
        assert_eq!(c.exports["ad"].account.as_deref(), Some("SamAccountName"));
        assert_eq!(c.policy.path, PathBuf::from("role-model.toml"));

        std::fs::write(&path, "[store]\npaht = \"a.db\"\n").unwrap();
        let err = Config::load(&path, true).unwrap_err().to_string();
        assert!(err.contains("paht"), "{err}");

        let err = Config::load(&dir.path().join("nope.toml"), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
        assert!(Config::load(&dir.path().join("nope.toml"), false).is_ok());
    }

    /// Bearer tokens in clear on a network address are refused unless named as allowed;
    /// on loopback, or over TLS, they are fine.
    #[test]
    fn plaintext_tokens_on_a_network_address_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = write(
            dir.path(),
            "tokens.toml",
            &format!(
                "[[tokens]]\nname = \"a\"\nrole = \"viewer\"\nsha256 = \"{}\"\n",
                "ab".repeat(32)
            ),
            0o600,
        );
        let mut c = Config::default();
        c.daemon.tokens_file = Some(tokens);
        let refused = |c: &Config| {
            c.check()
                .iter()
                .any(|p| p.contains("allow_plaintext_tokens"))
        };
        for (listen, loopback) in [
            ("127.0.0.1:9464", true),
            ("[::1]:9464", true),
            ("localhost:9464", true),
            ("0.0.0.0:9464", false),
            ("[::]:9464", false),
            ("10.1.2.3:9464", false),
            ("admin.trust.nhs.uk:9464", false),
        ] {
            c.daemon.listen = listen.into();
            assert_eq!(c.daemon.listens_on_loopback(), loopback, "{listen}");
            assert_eq!(refused(&c), !loopback, "{listen}");
        }
        c.daemon.allow_plaintext_tokens = true;
        assert!(!refused(&c), "allowed knowingly");
        c.daemon.allow_plaintext_tokens = false;
        c.daemon.tokens_file = None;
        assert!(!refused(&c), "no tokens, nothing to read off the wire");
    }

    /// A PostgreSQL URL with a password in it is a secret: a config others can read that
    /// holds one is refused (before: accepted, as `url` names no password).
    #[test]
    fn a_store_url_with_a_password_is_a_secret() {
        for (url, secret) in [
            ("postgres://ts:s3cret@db:5432/t", true),
            ("postgres://ts@db:5432/t", false),
            ("postgres://db:5432/t?user=ts&password=s3cret", true),
            ("host=db user=ts password=s3cret", true),
            ("postgres://db/t?sslmode=require", false),
        ] {
            assert_eq!(url_holds_password(url), secret, "{url}");
        }
        let dir = tempfile::tempdir().unwrap();
        let text = "[store]\nkind = \"postgres\"\nurl = \"postgres://ts:s3cret@db:5432/t\"\n";
        let open = write(dir.path(), "open.toml", text, 0o644);
        let err = Config::load(&open, true).unwrap_err().to_string();
        assert!(err.contains("other users can read"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        let private = write(dir.path(), "private.toml", text, 0o600);
        assert!(Config::load(&private, true).is_ok());
    }

    /// Credentials and personal data never go out in clear unless a setting says so:
    /// `http://` to a host other than loopback, and an SMTP login without TLS, are refused
    /// (before: accepted without a word).
    #[test]
    fn plain_http_and_plaintext_smtp_logins_need_a_named_exception() {
        for (url, refused) in [
            ("https://hooks.trust.nhs.uk/x", false),
            ("http://127.0.0.1:8080/x", false),
            ("http://localhost/x", false),
            ("http://[::1]:9/x", false),
            ("http://hooks.trust.nhs.uk/x?sig=abc", true),
            ("http://user:pw@10.0.0.5/x", true),
        ] {
            let said = plain_http("[work_items]", "webhook_url", url, false);
            assert_eq!(said.is_some(), refused, "{url}: {said:?}");
            if let Some(said) = said {
                assert!(!said.contains("sig=abc") && !said.contains("pw"), "{said}");
            }
            assert!(plain_http("[work_items]", "webhook_url", url, true).is_none());
        }
        let mut c = Config::default();
        c.work_items.webhook_url = Some("http://hooks.trust.nhs.uk/x".into());
        assert!(c.check().iter().any(|p| p.contains("allow_plain_http")));
        c.work_items.allow_plain_http = true;
        assert!(!c.check().iter().any(|p| p.contains("allow_plain_http")));

        c.smtp = SmtpConfig {
            host: "relay.trust.nhs.uk".into(),
            from: "turnstile@trust.nhs.uk".into(),
            tls: SmtpTls::None,
            username: Some("turnstile".into()),
            password: Secret::new("pw"),
            ..SmtpConfig::default()
        };
        assert!(
            c.check()
                .iter()
                .any(|p| p.contains("allow_plaintext_login"))
        );
        c.smtp.host = "127.0.0.1".into();
        assert!(c.check().is_empty(), "{:?}", c.check());
        c.smtp.host = "relay.trust.nhs.uk".into();
        c.smtp.allow_plaintext_login = true;
        assert!(c.check().is_empty(), "{:?}", c.check());
    }

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn try_ldap(c: &Config) -> Result<crate::connectors::ldap::LdapConfig, String> {
        let (id, kind, settings) = c.target_sections().remove(0);
        assert_eq!((id.as_str(), kind.as_str()), ("ad", "ldap"));
        let limits = crate::feed::Limits::default();
        let ctx = crate::connectors::BuildContext {
            system: "ad",
            allows_delete: true,
            limits: &limits,
        };
        crate::connectors::ldap::LdapConfig::from_section(settings, &ctx)
    }

    fn ldap(c: &Config) -> crate::connectors::ldap::LdapConfig {
        try_ldap(c).unwrap()
    }

    const LDAP: &str = "[ldap.ad]\ndialect = \"active_directory\"\nurl = \"ldaps://dc:636/\"\nbind_dn = \"svc\"\nbase_dn = \"DC=x\"\nusers_container = \"OU=Staff,DC=x\"\ngroups_container = \"OU=Groups,DC=x\"\n";

    #[test]
    fn a_syntax_error_names_the_line_but_never_prints_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "t.toml",
            &format!("{LDAP}bind_password = \"hunter2\n"),
            0o600,
        );
        let err = Config::load(&path, true).unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("t.toml:8:"), "{err}");
    }

    #[test]
    fn files_that_others_can_read_or_change_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let secret = format!("{LDAP}bind_password = \"hunter2\"\n");
        let path = write(dir.path(), "a.toml", &secret, 0o644);
        let err = Config::load(&path, true).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let path = write(dir.path(), "b.toml", &secret, 0o600);
        let c = Config::load(&path, true).unwrap();
        assert_eq!(ldap(&c).bind_password.expose(), "hunter2");
        // No secret, but anyone may change it: refused all the same.
        let path = write(dir.path(), "c.toml", "[store]\npath = \"a.db\"\n", 0o666);
        let err = Config::load(&path, true).unwrap_err().to_string();
        assert!(err.contains("any user can change it"), "{err}");
        let path = write(dir.path(), "d.toml", "[store]\npath = \"a.db\"\n", 0o644);
        assert!(Config::load(&path, true).is_ok());
    }

    #[test]
    fn secrets_come_from_private_files() {
        let dir = tempfile::tempdir().unwrap();
        let pw = write(dir.path(), "pw", "s3cret\n", 0o600);
        let text = format!("{LDAP}bind_password_file = \"{}\"\n", pw.display());
        let path = write(dir.path(), "a.toml", &text, 0o644);
        let c = Config::load(&path, true).unwrap();
        assert_eq!(ldap(&c).bind_password.expose(), "s3cret");
        assert!(!format!("{:?}", ldap(&c)).contains("s3cret"));

        write(dir.path(), "pw", "s3cret\n", 0o644);
        let err = try_ldap(&Config::load(&path, true).unwrap()).unwrap_err();
        assert!(
            err.contains("bind_password_file") && err.contains("chmod 600"),
            "{err}"
        );

        write(dir.path(), "pw", "s3cret\n", 0o600);
        let both = format!("{text}bind_password = \"x\"\n");
        let path = write(dir.path(), "b.toml", &both, 0o600);
        let err = try_ldap(&Config::load(&path, true).unwrap()).unwrap_err();
        assert!(err.contains("both set"), "{err}");

        let key = write(dir.path(), "key", &"k".repeat(40), 0o600);
        let text = format!("[audit]\nhmac_key_file = \"{}\"\n", key.display());
        let path = write(dir.path(), "c.toml", &text, 0o644);
        let c = Config::load(&path, true).unwrap();
        assert!(c.audit_key().unwrap().is_some());
        write(dir.path(), "key", "short", 0o600);
        assert!(c.audit_key().unwrap_err().contains("at least 32"));
    }

    #[test]
    fn numbers_out_of_range_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[reconcile]\nmax_removal_share = 5\n[feeds]\nmax_rows_per_person = 0\nmax_bad_row_share = -1\n[daemon]\nshutdown_timeout_secs = 0\n";
        let path = write(dir.path(), "a.toml", text, 0o600);
        let err = Config::load(&path, true).unwrap_err().to_string();
        for key in [
            "[reconcile] max_removal_share is 5",
            "[feeds] max_rows_per_person is 0",
            "[feeds] max_bad_row_share is -1",
            "[daemon] shutdown_timeout_secs is 0",
        ] {
            assert!(err.contains(key), "{key} in {err}");
        }
        // A connector's numbers are checked when it is built (by `validate` and each verb).
        let path = write(
            dir.path(),
            "b.toml",
            &format!("{LDAP}page_size = -3\n"),
            0o600,
        );
        let err = try_ldap(&Config::load(&path, true).unwrap()).unwrap_err();
        assert!(
            err.contains("[targets.ad] page_size is -3: use 1 to 100000"),
            "{err}"
        );
    }

    /// Correlation and the guard on creates are checked with everything else, named by
    /// key; the connector never sees the engine's `correlation` table.
    #[test]
    fn correlation_and_create_guard_settings_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[guard]\nmax_create_share = 2\n[guard.systems.ad]\nmax_creates = 2000000\n[targets.ad]\ntype = \"emis\"\npath = \"x.csv\"\n[targets.ad.correlation]\nrules = [\"email\", \"shoe_size\"]\n";
        let path = write(dir.path(), "a.toml", text, 0o600);
        let err = Config::load(&path, true).unwrap_err().to_string();
        assert!(err.contains("[guard] max_create_share is 2"), "{err}");
        assert!(
            err.contains("[guard.systems.ad] max_creates is 2000000"),
            "{err}"
        );
        assert!(
            err.contains("[targets.ad.correlation]") && err.contains("shoe_size"),
            "{err}"
        );
        let text = "[targets.ad]\ntype = \"emis\"\npath = \"x.csv\"\n[targets.ad.correlation]\nadopt = \"auto\"\nnarrow_by = [\"manager\"]\n";
        let path = write(dir.path(), "b.toml", text, 0o600);
        let config = Config::load(&path, true).unwrap();
        let c = config.correlation("ad").unwrap();
        assert_eq!(c.adopt, crate::correlate::Adopt::Auto);
        assert_eq!(c.narrow_by, vec![crate::correlate::Narrow::Manager]);
        let (_, _, settings) = config.target_sections().remove(0);
        assert!(!settings.contains_key("correlation"), "{settings:?}");
    }

    /// A report is written owner-only and whole, and never through a symbolic link.
    #[test]
    fn personal_data_is_written_private_whole_and_not_through_a_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("report.html");
        files::write_private(&out, &[b"<p>", b"names</p>"]).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "<p>names</p>");
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Written again over an older, wider file: it becomes owner-only.
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
        files::write_private(&out, &[b"again"]).unwrap();
        assert_eq!(
            std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let elsewhere = dir.path().join("elsewhere.txt");
        std::fs::write(&elsewhere, "untouched").unwrap();
        let link = dir.path().join("link.html");
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        let err = files::write_private(&link, &[b"names"]).unwrap_err();
        assert!(err.contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "untouched");
        // Nothing left behind.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 3);
        // A device is written as it is, never replaced by a file.
        files::write_private(std::path::Path::new("/dev/null"), &[b"gone"]).unwrap();
        assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
    }
}
