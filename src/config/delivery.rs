//! `[work_items]` and `[smtp]`: how work items and emails leave, and the rule that credentials never cross a network in clear.

use super::*;

/// Working days a work item has before it is overdue, unless configured.
pub const DEFAULT_DUE_DAYS: u32 = 5;
/// `[work_items]`: defaults for every system with no API, and `[work_items.systems.<s>]`
/// for one system (each key falls back to the default).
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WorkItemsConfig {
    /// Working days (Monday to Friday, Europe/London) before an open item is overdue.
    #[schemars(range(min = 0, max = 365))]
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
    #[schemars(range(min = 1, max = 100))]
    pub attempts: u32,
    /// The first backoff between tries, in milliseconds (doubling, at most 30 s).
    #[schemars(range(min = 1, max = 600000))]
    pub retry_min_ms: u64,
    /// Seconds an HTTP call or SMTP session may take.
    #[schemars(range(min = 1, max = 3600))]
    pub timeout_secs: u64,
    /// How often the daemon sends new items and checks for overdue ones.
    #[schemars(range(min = 1, max = 86400))]
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
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WorkItemsSystem {
    #[schemars(range(min = 0, max = 365))]
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

    pub(super) fn check(&self, smtp: &SmtpConfig) -> Vec<String> {
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
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
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
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Empty: no email is sent.
    pub host: String,
    #[schemars(range(min = 1, max = 65535))]
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
    pub(super) fn check(&self) -> Vec<String> {
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
    let (_, host_port, _) = crate::input::authority(rest);
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
