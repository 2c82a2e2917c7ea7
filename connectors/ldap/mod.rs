//! The LDAP connector: Active Directory (`user` objects, `userAccountControl`, `memberOf`)
//! and OpenLDAP (`inetOrgPerson`, `groupOfNames`, a configurable disabled marker).
//!
//! It reuses one connection, puts a timeout on every operation (ldap3's default is none),
//! reconnects when the connection drops, and retries transient failures with backoff.
//! Permanent failures name the account and the change. Passwords are never sent over plain
//! LDAP: user passwords need LDAPS or StartTLS, and a plain-text bind must be allowed
//! explicitly (`allow_plain_bind`, for a lab only). It never deletes on a system whose role
//! model forbids deletion, whatever it is asked.

pub mod escape;

use super::{Applied, BoxFuture, Connector, ConnectorError};
use crate::account::Account;
use crate::hr::Person;
use crate::plan::{Action, Change};
use backon::Retryable;
use ldap3::{
    Ldap, LdapConnAsync, LdapConnSettings, LdapError, Mod, Scope, SearchEntry,
    adapters::{Adapter, EntriesOnly, PagedResults},
};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::Mutex;

/// Which directory the connector talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    ActiveDirectory,
    OpenLdap,
}

/// One LDAP target, from config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// The system id in the role model (filled from the `[ldap.<system>]` key in config).
    #[serde(default)]
    pub system: String,
    pub dialect: Dialect,
    /// `ldaps://host:636/` or `ldap://host:389/` (with `starttls = true` for production).
    pub url: String,
    #[serde(default)]
    pub starttls: bool,
    pub bind_dn: String,
    #[serde(default)]
    pub bind_password: crate::config::Secret,
    /// A file holding the bind password (mode 600), in place of `bind_password`.
    #[serde(default)]
    pub bind_password_file: Option<PathBuf>,
    /// Allow a simple bind over an unencrypted connection (a lab, never production).
    #[serde(default)]
    pub allow_plain_bind: bool,
    /// Where accounts are searched for.
    pub base_dn: String,
    /// Where new accounts are created.
    pub users_container: String,
    /// Where groups live: entitlement `GG-Nursing` is the group `CN=GG-Nursing,<this>`.
    pub groups_container: String,
    /// A PEM file of CA certificates to trust for LDAPS/StartTLS.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Check the server's name against its certificate (turn off only for a lab server
    /// whose certificate names another host).
    #[serde(default = "yes")]
    pub tls_verify_hostname: bool,
    #[serde(default = "thirty")]
    pub timeout_secs: u64,
    #[serde(default = "page")]
    pub page_size: i32,
    /// The most entries one search may return before the read is refused (never held
    /// whole, never cut short silently).
    #[serde(default = "two_million")]
    pub max_entries: u64,
    /// Attempts after the first for transient failures.
    #[serde(default = "three")]
    pub retries: usize,
    /// Active Directory: the UPN suffix (`example.nhs.uk`).
    #[serde(default)]
    pub upn_suffix: Option<String>,
    /// Account name pattern: `{first}` `{last}` `{f}` (first initial), lower-cased ASCII.
    #[serde(default = "pattern")]
    pub name_pattern: String,
    #[serde(default = "twenty")]
    pub name_max_len: usize,
    /// OpenLDAP: the attribute and value that mark an account disabled.
    #[serde(default = "disabled_attribute")]
    pub disabled_attribute: String,
    #[serde(default = "disabled_value")]
    pub disabled_value: String,
}

fn yes() -> bool {
    true
}
fn thirty() -> u64 {
    30
}
fn page() -> i32 {
    500
}
fn two_million() -> u64 {
    2_000_000
}
fn three() -> usize {
    3
}
fn pattern() -> String {
    "{f}{last}".into()
}
fn twenty() -> usize {
    20
}
fn disabled_attribute() -> String {
    "employeeType".into()
}
fn disabled_value() -> String {
    "disabled".into()
}

/// AD `userAccountControl` bits.
const UAC_ACCOUNTDISABLE: u32 = 0x2;
const UAC_NORMAL_ACCOUNT: u32 = 0x200;

/// LDAP result codes the connector tells apart.
mod rc {
    pub const NO_SUCH_ATTRIBUTE: u32 = 16;
    pub const CONSTRAINT_VIOLATION: u32 = 19;
    pub const ATTRIBUTE_OR_VALUE_EXISTS: u32 = 20;
    pub const NO_SUCH_OBJECT: u32 = 32;
    pub const INVALID_CREDENTIALS: u32 = 49;
    pub const INSUFFICIENT_ACCESS: u32 = 50;
    pub const BUSY: u32 = 51;
    pub const UNAVAILABLE: u32 = 52;
    pub const UNWILLING: u32 = 53;
    pub const ALREADY_EXISTS: u32 = 68;
    pub const OTHER: u32 = 80;
}

pub struct LdapConnector {
    config: LdapConfig,
    /// False on systems whose role model forbids deletion (clinical history).
    allows_delete: bool,
    conn: Mutex<Option<Ldap>>,
}

/// What went wrong in one LDAP exchange, before it is given an operator's meaning.
#[derive(Debug, Clone)]
enum Failure {
    /// The connection failed, dropped or timed out: retry on a new connection.
    Transport(String),
    /// The server answered with a result code.
    Result { code: u32, text: String },
    /// Refused before anything was sent.
    Refused(String),
}

impl Failure {
    fn transient(&self) -> bool {
        match self {
            Failure::Transport(_) => true,
            Failure::Result { code, .. } => matches!(*code, rc::BUSY | rc::UNAVAILABLE | rc::OTHER),
            Failure::Refused(_) => false,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transport(t) => write!(f, "connection problem: {t}"),
            Failure::Result { code, text } => {
                let hint = match *code {
                    rc::INVALID_CREDENTIALS => {
                        " (invalid credentials: check bind_dn and bind_password)"
                    }
                    rc::INSUFFICIENT_ACCESS => {
                        " (insufficient access: the service account lacks rights on this object)"
                    }
                    rc::NO_SUCH_OBJECT => {
                        " (no such object: the entry or its container does not exist)"
                    }
                    rc::CONSTRAINT_VIOLATION => {
                        " (constraint violation: the directory refused the value)"
                    }
                    rc::UNWILLING => {
                        " (the server is unwilling to perform this; for a password, use LDAPS)"
                    }
                    _ => "",
                };
                write!(f, "LDAP result {code}{hint}: {text}")
            }
            Failure::Refused(t) => f.write_str(t),
        }
    }
}

fn from_ldap(e: LdapError) -> Failure {
    match e {
        LdapError::LdapResult { result } => Failure::Result {
            code: result.rc,
            text: result.text,
        },
        other => Failure::Transport(other.to_string()),
    }
}

fn check(result: ldap3::LdapResult) -> Result<(), Failure> {
    if result.rc == 0 {
        Ok(())
    } else {
        Err(Failure::Result {
            code: result.rc,
            text: result.text,
        })
    }
}

/// Account naming is the core's ([`crate::naming`]), shared with correlation and SCIM.
pub use crate::naming::{base_name, candidate};

/// A random password meeting AD complexity, for an account that must change it at first
/// logon: 24 characters drawn from the operating system's random source (not a hash
/// seed), set once and never logged or stored. Without a random source nothing is
/// created.
fn initial_password() -> Result<String, Failure> {
    use std::io::Read;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 48];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| {
            Failure::Refused(format!(
                "no random source for the first password (/dev/urandom: {e}); nothing created"
            ))
        })?;
    let mut out = String::from("Ts-");
    // Rejection sampling: only bytes below the largest multiple of the alphabet's size,
    // so every character is equally likely.
    let limit = 256 - 256 % ALPHABET.len();
    for b in bytes.iter().filter(|b| usize::from(**b) < limit).take(24) {
        out.push(ALPHABET[usize::from(*b) % ALPHABET.len()] as char);
    }
    if out.len() < 3 + 24 {
        return Err(Failure::Refused(
            "the random source gave too few usable bytes for the first password; nothing created"
                .into(),
        ));
    }
    out.push_str("!7");
    Ok(out)
}

/// `"password"` as UTF-16LE, as AD's `unicodePwd` wants it.
fn unicode_pwd(password: &str) -> Vec<u8> {
    format!("\"{password}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

fn filetime(text: &str) -> Option<jiff::Timestamp> {
    crate::feed::export::filetime(text.parse().ok()?)
}

fn first_rdn_value(dn: &str) -> String {
    escape::first_value(dn)
}

fn parent_dn(dn: &str) -> Option<String> {
    escape::split_dn(dn).1.map(str::to_string)
}

fn one(entry: &SearchEntry, attr: &str) -> Option<String> {
    entry.attrs.get(attr).and_then(|v| v.first()).cloned()
}

impl LdapConnector {
    pub fn new(config: LdapConfig, allows_delete: bool) -> LdapConnector {
        LdapConnector {
            config,
            allows_delete,
            conn: Mutex::new(None),
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout_secs.max(1))
    }

    fn encrypted(&self) -> bool {
        self.config.url.starts_with("ldaps://") || self.config.starttls
    }

    fn account_attr(&self) -> &'static str {
        match self.config.dialect {
            Dialect::ActiveDirectory => "sAMAccountName",
            Dialect::OpenLdap => "uid",
        }
    }

    fn anchor_attr(&self) -> &'static str {
        match self.config.dialect {
            Dialect::ActiveDirectory => "employeeID",
            Dialect::OpenLdap => "employeeNumber",
        }
    }

    fn department_attr(&self) -> &'static str {
        match self.config.dialect {
            Dialect::ActiveDirectory => "department",
            Dialect::OpenLdap => "ou",
        }
    }

    /// The person attributes this connector keeps, with the LDAP attribute holding each.
    /// `manager` holds a DN and is compared as the manager's employee number.
    fn person_attrs(&self) -> [(&'static str, &'static str); 5] {
        [
            ("display_name", "displayName"),
            ("title", "title"),
            ("department", self.department_attr()),
            ("mail", "mail"),
            ("manager", "manager"),
        ]
    }

    /// The attributes correlation compares (besides the person attributes above), with
    /// the LDAP attribute holding each; read only, never written by correlation.
    fn match_attrs(&self) -> &'static [(&'static str, &'static str)] {
        use crate::correlate::attr;
        match self.config.dialect {
            Dialect::ActiveDirectory => &[
                (attr::GIVEN_NAME, "givenName"),
                (attr::FAMILY_NAME, "sn"),
                (attr::LOCATION, "l"),
                (attr::UPN, "userPrincipalName"),
            ],
            Dialect::OpenLdap => &[
                (attr::GIVEN_NAME, "givenName"),
                (attr::FAMILY_NAME, "sn"),
                (attr::LOCATION, "l"),
            ],
        }
    }

    /// Sets one person attribute; `manager` is given as an employee number and written as
    /// the manager's DN.
    async fn update(&self, account: &str, attribute: &str, value: &str) -> Result<(), Failure> {
        let entry = self.must_find(account).await?;
        if attribute == crate::plan::ANCHOR {
            // An empty anchor takes it off (a link undone).
            let values: HashSet<Vec<u8>> = if value.trim().is_empty() {
                HashSet::new()
            } else {
                [value.as_bytes().to_vec()].into()
            };
            return self
                .modify(
                    &entry.dn,
                    vec![Mod::Replace(self.anchor_attr().as_bytes().to_vec(), values)],
                )
                .await;
        }
        let Some((_, name)) = self
            .person_attrs()
            .into_iter()
            .find(|(a, _)| *a == attribute)
        else {
            return Err(Failure::Refused(format!(
                "attribute `{attribute}` is not one this connector keeps"
            )));
        };
        let value = if attribute == "manager" {
            self.find_by_anchor(value).await?.ok_or_else(|| Failure::Result {
                code: rc::NO_SUCH_OBJECT,
                text: format!("line manager {value} has no account in this directory, so `manager` cannot point at them"),
            })?
        } else {
            value.to_string()
        };
        self.modify(
            &entry.dn,
            vec![Mod::Replace(
                name.as_bytes().to_vec(),
                [value.into_bytes()].into(),
            )],
        )
        .await
    }

    fn group_dn(&self, entitlement: &str) -> String {
        format!(
            "CN={},{}",
            escape::dn_value(entitlement),
            self.config.groups_container
        )
    }

    fn tls_connector(&self) -> Result<native_tls::TlsConnector, Failure> {
        let mut b = native_tls::TlsConnector::builder();
        if let Some(path) = &self.config.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                Failure::Refused(format!("cannot read ca_file {}: {e}", path.display()))
            })?;
            let cert = native_tls::Certificate::from_pem(&pem).map_err(|e| {
                Failure::Refused(format!(
                    "ca_file {} is not a PEM certificate: {e}",
                    path.display()
                ))
            })?;
            b.add_root_certificate(cert);
        }
        b.danger_accept_invalid_hostnames(!self.config.tls_verify_hostname);
        b.build()
            .map_err(|e| Failure::Refused(format!("cannot set up TLS: {e}")))
    }

    /// A live, bound connection: the cached one, or a new one.
    async fn ldap(&self) -> Result<Ldap, Failure> {
        let mut slot = self.conn.lock().await;
        if let Some(l) = slot.as_mut()
            && !l.is_closed()
        {
            return Ok(l.clone());
        }
        if !self.encrypted() && !self.config.allow_plain_bind {
            return Err(Failure::Refused(format!(
                "refusing to send the bind password over plain LDAP to {}: use ldaps:// or starttls = true (allow_plain_bind is for a lab only)",
                self.config.url
            )));
        }
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout())
            .set_starttls(self.config.starttls);
        if self.encrypted() {
            settings = settings.set_connector(self.tls_connector()?);
        }
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.config.url)
            .await
            .map_err(from_ldap)?;
        ldap3::drive!(conn);
        ldap.with_timeout(self.timeout());
        let bound = ldap
            .simple_bind(&self.config.bind_dn, self.config.bind_password.expose())
            .await
            .map_err(from_ldap)?;
        check(bound)?;
        *slot = Some(ldap.clone());
        Ok(ldap)
    }

    /// Forgets the cached connection so the next attempt reconnects.
    async fn drop_connection(&self) {
        if let Some(mut l) = self.conn.lock().await.take() {
            let _ = l.unbind().await;
        }
    }

    /// Runs one LDAP exchange with retries for transient failures.
    async fn exchange<T, F, Fut>(&self, what: &str, op: F) -> Result<T, Failure>
    where
        F: Fn(Ldap) -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let attempt = || async {
            let mut ldap = self.ldap().await?;
            // ldap3's timeout covers the next operation only, so set it every time.
            ldap.with_timeout(self.timeout());
            let result = op(ldap).await;
            if let Err(e) = &result
                && e.transient()
            {
                tracing::warn!(system = %self.config.system, what, error = %e, "LDAP transient failure, retrying");
                self.drop_connection().await;
            }
            result
        };
        attempt
            .retry(crate::retry::policy(
                Duration::from_millis(200),
                Duration::from_secs(10),
                Some(self.config.retries),
            ))
            .when(Failure::transient)
            .await
    }

    fn to_error(&self, change: Option<&Change>, f: Failure) -> ConnectorError {
        let system = self.config.system.clone();
        match (&f, change) {
            (
                Failure::Result {
                    code: rc::INVALID_CREDENTIALS,
                    ..
                },
                _,
            )
            | (Failure::Refused(_), None) => ConnectorError::Fatal {
                system,
                detail: f.to_string(),
            },
            _ if f.transient() => ConnectorError::Transient {
                system,
                detail: f.to_string(),
            },
            (_, Some(c)) => ConnectorError::Permanent {
                system,
                change: format!(
                    "{} for employee {} (account {})",
                    c.action,
                    c.employee_number,
                    c.account.as_deref().unwrap_or("not yet created")
                ),
                detail: f.to_string(),
            },
            (_, None) => ConnectorError::Fatal {
                system,
                detail: f.to_string(),
            },
        }
    }

    async fn search(
        &self,
        base: &str,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>, Failure> {
        self.search_map(base, filter, attrs, &Some).await
    }

    /// A paged search whose entries are turned into `T` as each page arrives, so a large
    /// directory is never held as raw entries and as results at once.
    async fn search_map<T, F>(
        &self,
        base: &str,
        filter: &str,
        attrs: &[&str],
        convert: &F,
    ) -> Result<Vec<T>, Failure>
    where
        F: Fn(SearchEntry) -> Option<T>,
    {
        let base = base.to_string();
        let filter = filter.to_string();
        let attrs: Vec<String> = attrs.iter().map(|a| a.to_string()).collect();
        let page = self.config.page_size;
        let max = self.config.max_entries;
        self.exchange("search", |mut ldap| {
            let (base, filter, attrs) = (base.clone(), filter.clone(), attrs.clone());
            async move {
                let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
                    Box::new(EntriesOnly::new()),
                    Box::new(PagedResults::new(page)),
                ];
                let mut stream = ldap
                    .streaming_search_with(adapters, &base, Scope::Subtree, &filter, attrs)
                    .await
                    .map_err(from_ldap)?;
                let mut out = Vec::new();
                let mut seen: u64 = 0;
                while let Some(entry) = stream.next().await.map_err(from_ldap)? {
                    seen += 1;
                    if seen > max {
                        // Asked to stop; the connection stays usable for what follows.
                        let ldap = stream.ldap_handle();
                        let id = ldap.last_id();
                        let _ = ldap.abandon(id).await;
                        return Err(Failure::Refused(format!(
                            "{base}: the search returns more than {max} entries (max_entries): refused rather than held in memory; raise max_entries if the directory really holds that many"
                        )));
                    }
                    out.extend(convert(SearchEntry::construct(entry)));
                }
                check(stream.finish().await)?;
                Ok(out)
            }
        })
        .await
    }

    /// A plain (unpaged) search for lookups that return an entry or two.
    async fn lookup(&self, filter: &str, attrs: &[&str]) -> Result<Vec<SearchEntry>, Failure> {
        let base = self.config.base_dn.clone();
        let filter = filter.to_string();
        let attrs: Vec<String> = attrs.iter().map(|a| a.to_string()).collect();
        self.exchange("lookup", |mut ldap| {
            let (base, filter, attrs) = (base.clone(), filter.clone(), attrs.clone());
            async move {
                let (entries, result) = ldap
                    .search(&base, Scope::Subtree, &filter, attrs)
                    .await
                    .map_err(from_ldap)?
                    .success()
                    .map_err(from_ldap)?;
                let _ = result;
                Ok(entries.into_iter().map(SearchEntry::construct).collect())
            }
        })
        .await
    }

    fn account_filter(&self) -> String {
        match self.config.dialect {
            Dialect::ActiveDirectory => "(&(objectCategory=person)(objectClass=user))".into(),
            Dialect::OpenLdap => "(objectClass=inetOrgPerson)".into(),
        }
    }

    async fn find(&self, account: &str) -> Result<Option<SearchEntry>, Failure> {
        let filter = format!(
            "(&{}({}={}))",
            self.account_filter(),
            self.account_attr(),
            escape::filter_value(account)
        );
        let mut found = self
            .search(
                &self.config.base_dn,
                &filter,
                &[
                    "userAccountControl",
                    self.config.disabled_attribute.as_str(),
                ],
            )
            .await?;
        Ok(found.pop())
    }

    /// The account's entry, or "no such object" naming it.
    async fn must_find(&self, account: &str) -> Result<SearchEntry, Failure> {
        self.find(account).await?.ok_or_else(|| Failure::Result {
            code: rc::NO_SUCH_OBJECT,
            text: format!("no account {account}"),
        })
    }

    async fn find_by_anchor(&self, employee_number: &str) -> Result<Option<String>, Failure> {
        let filter = format!(
            "(&{}({}={}))",
            self.account_filter(),
            self.anchor_attr(),
            escape::filter_value(employee_number)
        );
        Ok(self
            .search(&self.config.base_dn, &filter, &["1.1"])
            .await?
            .pop()
            .map(|e| e.dn))
    }

    async fn modify(&self, dn: &str, mods: Vec<Mod<Vec<u8>>>) -> Result<(), Failure> {
        let dn = dn.to_string();
        self.exchange("modify", |mut ldap| {
            let (dn, mods) = (dn.clone(), mods.clone());
            async move { check(ldap.modify(&dn, mods).await.map_err(from_ldap)?) }
        })
        .await
    }

    fn bytes(values: &[&str]) -> HashSet<Vec<u8>> {
        values.iter().map(|v| v.as_bytes().to_vec()).collect()
    }

    /// Reads every account, in name order.
    async fn read_all(&self) -> Result<Vec<Account>, Failure> {
        self.read_matching(&self.account_filter(), "(objectClass=groupOfNames)")
            .await
    }

    /// The accounts anchored on one employee number, looked up by the (indexed) anchor;
    /// their groups and their managers' employee numbers are looked up for them alone.
    async fn read_person_accounts(&self, employee_number: &str) -> Result<Vec<Account>, Failure> {
        let filter = format!(
            "(&{}({}={}))",
            self.account_filter(),
            self.anchor_attr(),
            escape::filter_value(employee_number)
        );
        let Some(groups) = self.groups_of_matching(&filter).await? else {
            return Ok(Vec::new());
        };
        let mut accounts = self.read_matching(&filter, &groups).await?;
        for a in &mut accounts {
            if let Some(manager) = a.attributes.get_mut("manager")
                && manager.contains('=')
                && let Some(anchor) = self.anchor_at(manager).await?
            {
                *manager = anchor;
            }
        }
        Ok(accounts)
    }

    /// OpenLDAP (no memberOf): the filter for the groups the entries `filter` finds are
    /// members of, or `None` when it finds none; AD needs none (empty).
    async fn groups_of_matching(&self, filter: &str) -> Result<Option<String>, Failure> {
        if self.config.dialect != Dialect::OpenLdap {
            return Ok(Some(String::new()));
        }
        let dns: Vec<String> = self
            .lookup(filter, &["1.1"])
            .await?
            .into_iter()
            .map(|e| format!("(member={})", escape::filter_value(&e.dn)))
            .collect();
        if dns.is_empty() {
            return Ok(None);
        }
        Ok(Some(format!(
            "(&(objectClass=groupOfNames)(|{}))",
            dns.concat()
        )))
    }

    /// The entries a correlation rule could match for `person`: no anchor (or one ending
    /// in their number), and their email, a word of their surname, or the start of the
    /// account name their pattern gives. Correlation decides among them.
    async fn candidate_accounts(&self, person: &Person) -> Result<Vec<Account>, Failure> {
        use escape::filter_value as v;
        let mut any = Vec::new();
        if let Some(mail) = person
            .work_email
            .as_deref()
            .map(str::trim)
            .filter(|m| m.contains('@'))
        {
            any.push(format!("(mail={})", v(mail)));
            if self.config.dialect == Dialect::ActiveDirectory {
                any.push(format!("(userPrincipalName={})", v(mail)));
                any.push(format!("(proxyAddresses=smtp:{})", v(mail)));
            }
        }
        // The longest plain run of the surname: LDAP compares without case, not without
        // accents or hyphens, so the search is wide and correlation narrows it.
        let word: String = person
            .family_name
            .as_str()
            .split(|c: char| !c.is_alphanumeric())
            .max_by_key(|w| w.chars().count())
            .unwrap_or("")
            .to_string();
        if word.chars().count() >= 2 {
            let plain = crate::naming::fold(&word);
            for attr in ["sn", "displayName", "cn"] {
                any.push(format!("({attr}=*{}*)", v(&word)));
                if !plain.is_empty() && !plain.eq_ignore_ascii_case(&word) {
                    any.push(format!("({attr}=*{}*)", v(&plain)));
                }
            }
        }
        let base = base_name(&self.config.name_pattern, person, self.config.name_max_len);
        let stem: String = base
            .chars()
            .take(self.config.name_max_len.saturating_sub(3).max(1))
            .collect();
        if !stem.is_empty() {
            any.push(format!("({}={}*)", self.account_attr(), v(&stem)));
        }
        let number = person.employee_number.as_str().trim_start_matches('0');
        if !number.is_empty() {
            any.push(format!("({}=*{})", self.anchor_attr(), v(number)));
        }
        if any.is_empty() {
            return Ok(Vec::new());
        }
        let filter = format!("(&{}(|{}))", self.account_filter(), any.concat());
        let Some(groups) = self.groups_of_matching(&filter).await? else {
            return Ok(Vec::new());
        };
        let accounts = self.read_matching(&filter, &groups).await?;
        Ok(accounts
            .into_iter()
            .filter(|a| crate::correlate::could_be_theirs(a, person))
            .collect())
    }

    /// The anchor (employee number) of the entry at `dn`, if it exists and has one.
    async fn anchor_at(&self, dn: &str) -> Result<Option<String>, Failure> {
        let dn = dn.to_string();
        let anchor = self.anchor_attr();
        self.exchange("lookup", |mut ldap| {
            let dn = dn.clone();
            async move {
                let found = ldap
                    .search(&dn, Scope::Base, "(objectClass=*)", vec![anchor])
                    .await
                    .map_err(from_ldap)?;
                if found.1.rc == rc::NO_SUCH_OBJECT {
                    return Ok(None);
                }
                let (entries, _) = found.success().map_err(from_ldap)?;
                Ok(entries
                    .into_iter()
                    .next()
                    .and_then(|e| one(&SearchEntry::construct(e), anchor)))
            }
        })
        .await
    }

    /// The accounts `filter` finds (OpenLDAP: with the groups `groups_filter` finds),
    /// in name order.
    async fn read_matching(
        &self,
        filter: &str,
        groups_filter: &str,
    ) -> Result<Vec<Account>, Failure> {
        let d = self.config.dialect;
        let mut attrs = vec![self.account_attr(), self.anchor_attr(), "cn"];
        attrs.extend(self.person_attrs().map(|(_, ldap)| ldap));
        attrs.extend(self.match_attrs().iter().map(|(_, ldap)| *ldap));
        if d == Dialect::ActiveDirectory {
            attrs.push("proxyAddresses");
        }
        match d {
            Dialect::ActiveDirectory => {
                attrs.extend(["userAccountControl", "lastLogonTimestamp", "memberOf"])
            }
            Dialect::OpenLdap => attrs.push(self.config.disabled_attribute.as_str()),
        }
        // OpenLDAP has no memberOf without an overlay: read the groups once and invert.
        let mut member_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        if d == Dialect::OpenLdap {
            for g in self
                .search(
                    &self.config.groups_container,
                    groups_filter,
                    &["cn", "member"],
                )
                .await?
            {
                let name = one(&g, "cn").unwrap_or_else(|| first_rdn_value(&g.dn));
                for m in g.attrs.get("member").into_iter().flatten() {
                    member_of
                        .entry(m.to_lowercase())
                        .or_default()
                        .insert(name.clone());
                }
            }
        }
        // Each entry becomes an account (kept with its DN) as its page arrives; managers are
        // named by DN and compared as employee numbers, so they are resolved once every
        // page is in.
        let convert = |e: SearchEntry| {
            let id = one(&e, self.account_attr())?;
            let (enabled, last_logon, entitlements) = match d {
                Dialect::ActiveDirectory => {
                    let uac: u32 = one(&e, "userAccountControl")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let groups = e
                        .attrs
                        .get("memberOf")
                        .into_iter()
                        .flatten()
                        .map(|dn| first_rdn_value(dn))
                        .collect();
                    (
                        uac & UAC_ACCOUNTDISABLE == 0,
                        one(&e, "lastLogonTimestamp").and_then(|t| filetime(&t)),
                        groups,
                    )
                }
                Dialect::OpenLdap => {
                    let disabled = e
                        .attrs
                        .get(&self.config.disabled_attribute)
                        .is_some_and(|v| {
                            v.iter()
                                .any(|x| x.eq_ignore_ascii_case(&self.config.disabled_value))
                        });
                    (
                        !disabled,
                        None,
                        member_of
                            .get(&e.dn.to_lowercase())
                            .cloned()
                            .unwrap_or_default(),
                    )
                }
            };
            Some((
                e.dn.to_lowercase(),
                Account {
                    system: self.config.system.clone(),
                    id,
                    employee_number: one(&e, self.anchor_attr()),
                    display_name: one(&e, "displayName")
                        .or_else(|| one(&e, "cn"))
                        .unwrap_or_default(),
                    enabled,
                    last_logon,
                    entitlements: entitlements.into_iter().collect(),
                    container: parent_dn(&e.dn),
                    attributes: {
                        let mut attributes: BTreeMap<String, String> = self
                            .person_attrs()
                            .into_iter()
                            .map(|(name, ldap)| {
                                (name.to_string(), one(&e, ldap).unwrap_or_default())
                            })
                            .collect();
                        // What correlation compares, only where the entry holds it.
                        for (name, ldap) in self.match_attrs() {
                            if let Some(v) = one(&e, ldap).filter(|v| !v.trim().is_empty()) {
                                attributes.insert(name.to_string(), v);
                            }
                        }
                        if let Some(more) = e.attrs.get("proxyAddresses")
                            && !more.is_empty()
                        {
                            attributes.insert(
                                crate::correlate::attr::OTHER_MAIL.to_string(),
                                more.join(";"),
                            );
                        }
                        attributes
                    },
                },
            ))
        };
        let read = self
            .search_map(&self.config.base_dn, filter, &attrs, &convert)
            .await?;
        let anchor_of: BTreeMap<&str, &str> = read
            .iter()
            .filter_map(|(dn, a)| Some((dn.as_str(), a.employee_number.as_deref()?)))
            .collect();
        let anchors: Vec<Option<String>> = read
            .iter()
            .map(|(_, a)| {
                let manager = a.attributes.get("manager")?.to_lowercase();
                anchor_of.get(manager.as_str()).map(|s| s.to_string())
            })
            .collect();
        drop(anchor_of);
        let mut out: Vec<Account> = read.into_iter().map(|(_, a)| a).collect();
        for (a, anchor) in out.iter_mut().zip(anchors) {
            if let (Some(manager), Some(anchor)) = (a.attributes.get_mut("manager"), anchor) {
                *manager = anchor;
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// A free account name for a person: the pattern, then `name2`, `name3`, ... An existing
    /// account (a leaver's included) keeps its name, so a name is never reused while the
    /// account exists.
    async fn free_name(&self, person: &Person) -> Result<String, Failure> {
        let base = base_name(&self.config.name_pattern, person, self.config.name_max_len);
        let anchor = format!(
            "({}={})",
            self.anchor_attr(),
            escape::filter_value(person.employee_number.as_str())
        );
        for n in 1..1000 {
            let name = candidate(&base, n, self.config.name_max_len);
            let mut taken = format!("({}={})", self.account_attr(), escape::filter_value(&name));
            if let (Dialect::ActiveDirectory, Some(suffix)) =
                (self.config.dialect, &self.config.upn_suffix)
            {
                taken = format!(
                    "{taken}(userPrincipalName={})",
                    escape::filter_value(&format!("{name}@{suffix}"))
                );
            }
            // The first query also asks whether this person already has an account: one
            // round trip for both safety checks.
            let filter = if n == 1 {
                format!("(|{anchor}{taken})")
            } else {
                format!("(|{taken})")
            };
            let found = self.lookup(&filter, &[self.anchor_attr()]).await?;
            if let Some(existing) = found.iter().find(|e| {
                one(e, self.anchor_attr()).as_deref() == Some(person.employee_number.as_str())
            }) {
                return Err(Failure::Refused(format!(
                    "employee {} already has an account at {}; read accounts again before creating",
                    person.employee_number, existing.dn
                )));
            }
            if found.is_empty() {
                return Ok(name);
            }
        }
        Err(Failure::Refused(format!(
            "no free account name for {base} after 999 tries"
        )))
    }

    async fn create(&self, person: &Person) -> Result<String, Failure> {
        let name = self.free_name(person).await?;
        let display = person.display_name();
        let primary = person.primary();
        let manager_dn = match &person.line_manager {
            Some(m) if m != &person.employee_number => self.find_by_anchor(m.as_str()).await?,
            _ => None,
        };
        let mut attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = Vec::new();
        let mut put = |k: &str, v: &str| {
            if !v.trim().is_empty() {
                attrs.push((k.as_bytes().to_vec(), Self::bytes(&[v])));
            }
        };
        put("givenName", person.given_name.as_str());
        put("sn", person.family_name.as_str());
        put("displayName", &display);
        put(self.anchor_attr(), person.employee_number.as_str());
        if let Some(mail) = &person.work_email {
            put("mail", mail);
        }
        if let Some(title) = primary.and_then(|a| a.position_title.as_deref()) {
            put("title", title);
        }
        if let Some(m) = &manager_dn {
            put("manager", m);
        }
        let dn = match self.config.dialect {
            Dialect::ActiveDirectory => {
                put("sAMAccountName", &name);
                if let Some(suffix) = &self.config.upn_suffix {
                    put("userPrincipalName", &format!("{name}@{suffix}"));
                }
                if let Some(dept) = primary.and_then(|a| a.organisation.as_deref()) {
                    put("department", dept);
                }
                put(
                    "userAccountControl",
                    &(UAC_NORMAL_ACCOUNT | UAC_ACCOUNTDISABLE).to_string(),
                );
                attrs.push((
                    b"objectClass".to_vec(),
                    Self::bytes(&["top", "person", "organizationalPerson", "user"]),
                ));
                // CN must be unique in the container: the display name, then with the
                // account name when two people share it.
                format!(
                    "CN={} ({name}),{}",
                    escape::dn_value(&display),
                    self.config.users_container
                )
            }
            Dialect::OpenLdap => {
                put("uid", &name);
                put("cn", &display);
                if let Some(dept) = primary.and_then(|a| a.organisation.as_deref()) {
                    put("ou", dept);
                }
                put(
                    &self.config.disabled_attribute.clone(),
                    &self.config.disabled_value.clone(),
                );
                attrs.push((
                    b"objectClass".to_vec(),
                    Self::bytes(&["top", "person", "organizationalPerson", "inetOrgPerson"]),
                ));
                format!(
                    "uid={},{}",
                    escape::dn_value(&name),
                    self.config.users_container
                )
            }
        };
        let add_dn = dn.clone();
        self.exchange("add", |mut ldap| {
            let (dn, attrs) = (add_dn.clone(), attrs.clone());
            async move { check(ldap.add(&dn, attrs).await.map_err(from_ldap)?) }
        })
        .await?;
        if self.config.dialect == Dialect::ActiveDirectory {
            if self.encrypted() {
                // A random first password the user must change at first logon (seed 002).
                self.modify(
                    &dn,
                    vec![
                        Mod::Replace(
                            b"unicodePwd".to_vec(),
                            [unicode_pwd(&initial_password()?)].into(),
                        ),
                        Mod::Replace(b"pwdLastSet".to_vec(), [b"0".to_vec()].into()),
                    ],
                )
                .await?;
            } else {
                tracing::warn!(system = %self.config.system, account = %name,
                    "created without a password: passwords are only sent over LDAPS or StartTLS");
            }
        }
        Ok(name)
    }

    async fn set_enabled(&self, account: &str, enabled: bool) -> Result<(), Failure> {
        let entry = self.must_find(account).await?;
        match self.config.dialect {
            Dialect::ActiveDirectory => {
                let uac: u32 = one(&entry, "userAccountControl")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(UAC_NORMAL_ACCOUNT);
                // Only the disable bit changes; every other bit is kept.
                let new = if enabled {
                    uac & !UAC_ACCOUNTDISABLE
                } else {
                    uac | UAC_ACCOUNTDISABLE
                };
                if new != uac {
                    self.modify(
                        &entry.dn,
                        vec![Mod::Replace(
                            b"userAccountControl".to_vec(),
                            [new.to_string().into_bytes()].into(),
                        )],
                    )
                    .await?;
                }
                Ok(())
            }
            Dialect::OpenLdap => {
                let attr = self.config.disabled_attribute.as_bytes().to_vec();
                let value: HashSet<Vec<u8>> =
                    [self.config.disabled_value.as_bytes().to_vec()].into();
                let marked = entry
                    .attrs
                    .get(&self.config.disabled_attribute)
                    .is_some_and(|v| {
                        v.iter()
                            .any(|x| x.eq_ignore_ascii_case(&self.config.disabled_value))
                    });
                match (enabled, marked) {
                    (true, true) => self.modify(&entry.dn, vec![Mod::Delete(attr, value)]).await,
                    (false, false) => self.modify(&entry.dn, vec![Mod::Add(attr, value)]).await,
                    _ => Ok(()),
                }
            }
        }
    }

    async fn membership(&self, account: &str, entitlement: &str, add: bool) -> Result<(), Failure> {
        let entry = self.must_find(account).await?;
        let group = self.group_dn(entitlement);
        let member: HashSet<Vec<u8>> = [entry.dn.into_bytes()].into();
        let m = if add {
            Mod::Add(b"member".to_vec(), member)
        } else {
            Mod::Delete(b"member".to_vec(), member)
        };
        match self.modify(&group, vec![m]).await {
            // Already a member / already not a member: the change is done.
            Err(Failure::Result { code, .. })
                if (add && matches!(code, rc::ATTRIBUTE_OR_VALUE_EXISTS | rc::ALREADY_EXISTS))
                    || (!add && matches!(code, rc::NO_SUCH_ATTRIBUTE | rc::UNWILLING)) =>
            {
                Ok(())
            }
            Err(Failure::Result {
                code: rc::NO_SUCH_OBJECT,
                text,
            }) => Err(Failure::Result {
                code: rc::NO_SUCH_OBJECT,
                text: format!(
                    "group {group} does not exist (create it, or remove {entitlement} from the role model): {text}"
                ),
            }),
            other => other,
        }
    }

    async fn move_to(&self, account: &str, container: &str) -> Result<(), Failure> {
        let entry = self.must_find(account).await?;
        if parent_dn(&entry.dn).is_some_and(|p| p.eq_ignore_ascii_case(container)) {
            return Ok(());
        }
        let rdn = rdn_of(&entry.dn).unwrap_or(&entry.dn).to_string();
        let (dn, container) = (entry.dn.clone(), container.to_string());
        self.exchange("modifydn", |mut ldap| {
            let (dn, rdn, container) = (dn.clone(), rdn.clone(), container.clone());
            async move {
                check(
                    ldap.modifydn(&dn, &rdn, true, Some(&container))
                        .await
                        .map_err(from_ldap)?,
                )
            }
        })
        .await
    }

    async fn delete(&self, account: &str) -> Result<(), Failure> {
        if !self.allows_delete {
            return Err(Failure::Refused(format!(
                "refusing to delete {account}: the role model says {} holds clinical history or never deletes; accounts there are disabled, never deleted",
                self.config.system
            )));
        }
        let entry = self.must_find(account).await?;
        let dn = entry.dn.clone();
        self.exchange("delete", |mut ldap| {
            let dn = dn.clone();
            async move { check(ldap.delete(&dn).await.map_err(from_ldap)?) }
        })
        .await
    }

    async fn apply_change(&self, person: &Person, change: &Change) -> Result<Applied, Failure> {
        let account = || {
            change
                .account
                .clone()
                .ok_or_else(|| Failure::Refused(format!("{} needs an account name", change.action)))
        };
        match &change.action {
            Action::Create => Ok(Applied::Done {
                account: Some(self.create(person).await?),
            }),
            Action::Enable => self
                .set_enabled(&account()?, true)
                .await
                .map(|()| Applied::Done { account: None }),
            Action::Disable => self
                .set_enabled(&account()?, false)
                .await
                .map(|()| Applied::Done { account: None }),
            Action::Grant { entitlement } => self
                .membership(&account()?, entitlement, true)
                .await
                .map(|()| Applied::Done { account: None }),
            Action::Revoke { entitlement } => self
                .membership(&account()?, entitlement, false)
                .await
                .map(|()| Applied::Done { account: None }),
            Action::Update { attribute, value } => self
                .update(&account()?, attribute, value)
                .await
                .map(|()| Applied::Done { account: None }),
            Action::Move { container } => self
                .move_to(&account()?, container)
                .await
                .map(|()| Applied::Done { account: None }),
            Action::Delete => self
                .delete(&account()?)
                .await
                .map(|()| Applied::Done { account: None }),
        }
    }
}

/// The first RDN of a DN, honouring escaped commas.
fn rdn_of(dn: &str) -> Option<&str> {
    match escape::split_dn(dn) {
        (rdn, Some(_)) => Some(rdn),
        (_, None) => None,
    }
}

/// `type = "ldap"`: Active Directory or OpenLDAP, by `dialect`.
pub const REGISTRATION: super::Registration = super::Registration {
    kind: "ldap",
    build,
};

fn build(
    settings: toml::Table,
    ctx: &super::BuildContext<'_>,
) -> Result<Box<dyn Connector>, String> {
    let config = LdapConfig::from_section(settings, ctx)?;
    Ok(Box::new(LdapConnector::new(config, ctx.allows_delete)))
}

impl LdapConfig {
    /// The config of `[targets.<system>]`, its password read from `bind_password_file`
    /// when given, every mistake named.
    pub fn from_section(
        settings: toml::Table,
        ctx: &super::BuildContext<'_>,
    ) -> Result<LdapConfig, String> {
        let mut config: LdapConfig = super::settings(ctx.system, settings)?;
        config.system = ctx.system.to_string();
        let mut problems = Vec::new();
        crate::config::resolve_secret(
            &mut config.bind_password,
            &config.bind_password_file,
            &format!("[targets.{}] bind_password", ctx.system),
            &mut problems,
        );
        problems.extend(config.check());
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems.join("\n"))
        }
    }

    /// Every number out of its sane range, named by its key.
    pub fn check(&self) -> Vec<String> {
        crate::config::out_of_range(
            &format!("[targets.{}]", self.system),
            &[
                ("timeout_secs", self.timeout_secs.into(), 1, 3600),
                ("page_size", self.page_size.into(), 1, 100_000),
                ("max_entries", self.max_entries.into(), 1, 100_000_000),
                ("retries", self.retries as i128, 0, 20),
                ("name_max_len", self.name_max_len as i128, 3, 256),
            ],
        )
    }
}

impl Connector for LdapConnector {
    fn system(&self) -> &str {
        &self.config.system
    }

    fn capabilities(&self) -> super::Capabilities {
        super::Capabilities {
            delete: self.allows_delete,
            move_accounts: true,
            groups: true,
            attributes: true,
            last_logon: true,
            batch: false,
            work_items: false,
        }
    }

    fn read_accounts(&self) -> BoxFuture<'_, Result<Vec<Account>, ConnectorError>> {
        Box::pin(async move { self.read_all().await.map_err(|f| self.to_error(None, f)) })
    }

    fn read_person<'a>(
        &'a self,
        employee_number: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Account>, ConnectorError>> {
        Box::pin(async move {
            self.read_person_accounts(employee_number)
                .await
                .map_err(|f| self.to_error(None, f))
        })
    }

    fn find_candidates<'a>(
        &'a self,
        person: &'a Person,
    ) -> BoxFuture<'a, Result<Vec<Account>, ConnectorError>> {
        Box::pin(async move {
            self.candidate_accounts(person)
                .await
                .map_err(|f| self.to_error(None, f))
        })
    }

    fn apply<'a>(
        &'a self,
        person: &'a Person,
        change: &'a Change,
    ) -> BoxFuture<'a, Result<Applied, ConnectorError>> {
        // The caller (`engine::apply::apply_person`) spans each change, for every connector.
        Box::pin(async move {
            self.apply_change(person, change)
                .await
                .map_err(|f| self.to_error(Some(change), f))
        })
    }

    fn naming(&self) -> Option<crate::naming::Naming> {
        Some(crate::naming::Naming {
            pattern: self.config.name_pattern.clone(),
            max_len: self.config.name_max_len,
        })
    }

    fn health(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async move {
            self.ldap()
                .await
                .map(|_| ())
                .map_err(|f| self.to_error(None, f))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::person;

    #[test]
    fn names_follow_the_pattern_and_collisions_get_numbers() {
        let mut p = person("20000001", vec![]);
        p.given_name = crate::hr::NonBlank::parse("Zoë").unwrap();
        p.family_name = crate::hr::NonBlank::parse("O'Brien-Smythe").unwrap();
        assert_eq!(base_name("{f}{last}", &p, 20), "zobriensmythe");
        assert_eq!(base_name("{first}.{last}", &p, 12), "zoe.obriensm");
        assert_eq!(candidate("zobriensmythe", 1, 20), "zobriensmythe");
        assert_eq!(candidate("zobriensmythe", 2, 20), "zobriensmythe2");
        assert_eq!(
            candidate("abcdefghijklmnopqrst", 12, 20),
            "abcdefghijklmnopqr12"
        );
    }

    #[test]
    fn dn_helpers_honour_escaped_commas() {
        let dn = "CN=Smith\\, Jr (jsmith),OU=Staff,DC=x";
        assert_eq!(rdn_of(dn), Some("CN=Smith\\, Jr (jsmith)"));
        assert_eq!(parent_dn(dn).as_deref(), Some("OU=Staff,DC=x"));
        assert_eq!(
            first_rdn_value("CN=GG-Nursing\\, Ward 7,OU=Groups,DC=x"),
            "GG-Nursing, Ward 7"
        );
    }

    #[test]
    fn passwords_are_utf16le_and_complex() {
        assert_eq!(unicode_pwd("ab"), vec![b'"', 0, b'a', 0, b'b', 0, b'"', 0]);
        let p = initial_password().unwrap();
        assert!(
            p.len() >= 20
                && p.chars().any(|c| c.is_ascii_uppercase())
                && p.chars().any(|c| c.is_ascii_digit())
        );
        assert_ne!(initial_password().unwrap(), initial_password().unwrap());
        assert_eq!(p.len(), 3 + 24 + 2);
    }

    #[test]
    fn failures_are_classified_for_the_operator() {
        let c = LdapConnector::new(
            LdapConfig {
                system: "ad".into(),
                dialect: Dialect::ActiveDirectory,
                url: "ldap://127.0.0.1:1/".into(),
                starttls: false,
                bind_dn: "x".into(),
                bind_password: crate::config::Secret::new("y"),
                bind_password_file: None,
                allow_plain_bind: false,
                base_dn: "DC=x".into(),
                users_container: "OU=Staff,DC=x".into(),
                groups_container: "OU=Groups,DC=x".into(),
                ca_file: None,
                tls_verify_hostname: true,
                timeout_secs: 1,
                page_size: 100,
                max_entries: two_million(),
                retries: 0,
                upn_suffix: None,
                name_pattern: pattern(),
                name_max_len: 20,
                disabled_attribute: disabled_attribute(),
                disabled_value: disabled_value(),
            },
            false,
        );
        let change = Change {
            system: "ad".into(),
            employee_number: "20000001".into(),
            account: Some("aokafor".into()),
            action: Action::Disable,
            rule: "leaver".into(),
            reason: "leaver".into(),
        };
        let e = c.to_error(
            Some(&change),
            Failure::Result {
                code: 50,
                text: "denied".into(),
            },
        );
        assert!(matches!(e, ConnectorError::Permanent { .. }));
        assert!(
            e.to_string()
                .contains("disable for employee 20000001 (account aokafor)"),
            "{e}"
        );
        assert!(e.to_string().contains("insufficient access"), "{e}");
        let e = c.to_error(
            Some(&change),
            Failure::Result {
                code: 49,
                text: "bad".into(),
            },
        );
        assert!(
            matches!(e, ConnectorError::Fatal { .. }),
            "bad credentials stop the target"
        );
        let e = c.to_error(Some(&change), Failure::Transport("reset".into()));
        assert!(matches!(e, ConnectorError::Transient { .. }));
        for code in [19u32, 32] {
            assert!(matches!(
                c.to_error(
                    Some(&change),
                    Failure::Result {
                        code,
                        text: String::new()
                    }
                ),
                ConnectorError::Permanent { .. }
            ));
        }
    }
}
