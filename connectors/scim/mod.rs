//! Any SCIM 2.0 service provider (RFC 7643 resources, RFC 7644 protocol): Users and
//! Groups over HTTP with `reqwest`.
//!
//! - The anchor is the enterprise extension's `employeeNumber`; `userName` comes from a
//!   pattern (`{first}.{last}`) with numbered alternatives when the service answers 409
//!   uniqueness, like the LDAP connector (`name_candidates = 1`: a clash is an error).
//! - Create is a POST (the user inactive until an enable follows); disable is a PATCH of
//!   `active` to false, never a DELETE unless the role model allows deletion; group
//!   membership is a PATCH of the group's `members`; `displayName`, `title`, `emails` and
//!   the enterprise `department` are kept in step with HR. A PATCH is accepted as 200 with
//!   a body or 204 without; it carries `If-Match` with the version last read where the
//!   server gives ETags, and a 412 re-reads and tries once more.
//! - Reading lists with `startIndex`/`count` pages (and a `filter` for one person).
//! - Auth: a bearer token from a file, or OAuth2 client credentials (the token cached
//!   until shortly before it expires).
//! - 429 and 503 honour `Retry-After`; every call has a timeout; other 5xx and transport
//!   errors are retried with backoff and then transient; 401/403 are fatal (the target is
//!   quarantined); a 409 is permanent and names the clash (`scimType`, `detail`); other
//!   4xx are permanent with the server's `scimType` and `detail`.

use super::{Applied, BoxFuture, Connector, ConnectorError};
use crate::account::Account;
use crate::config::Secret;
use crate::hr::Person;
use crate::plan::{Action, Change};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// `[targets.<system>] type = "scim"`.
pub const REGISTRATION: super::Registration = super::Registration {
    kind: "scim",
    build,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimConfig {
    /// The service provider's base URL, e.g. `https://host/scim/v2`.
    pub url: String,
    /// The bearer token: from `token_file` (mode 600) or `TURNSTILE__TARGETS__<S>__TOKEN`.
    #[serde(default)]
    pub token: Secret,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// OAuth2 client credentials in place of a fixed token.
    #[serde(default)]
    pub oauth2: Option<OAuth2Config>,
    /// `userName` pattern: `{first}` `{last}` `{f}` (first initial), lower-cased ASCII.
    #[serde(default = "pattern")]
    pub name_pattern: String,
    #[serde(default = "sixty_four")]
    pub name_max_len: usize,
    /// How many names to try when one is taken (`name`, `name2`, …); 1: a clash is an
    /// error for a person to resolve.
    #[serde(default = "ninety_nine")]
    pub name_candidates: u32,
    /// Appended to the name: `@example.nhs.uk` where the service wants an email-like
    /// `userName`.
    #[serde(default)]
    pub name_suffix: String,
    #[serde(default = "thirty")]
    pub timeout_secs: u64,
    #[serde(default = "hundred")]
    pub page_size: u32,
    /// Attempts after the first, for transient failures (429, 5xx, transport).
    #[serde(default = "four")]
    pub retries: usize,
    /// The longest `Retry-After` waited for in one call; longer is a transient failure.
    #[serde(default = "sixty")]
    pub max_retry_after_secs: u64,
    /// The attribute holding a last-logon time (RFC 3339), where the service gives one,
    /// e.g. `urn:example:params:scim:schemas:extension:activity:2.0:User:lastLogon`.
    #[serde(default)]
    pub last_logon_attribute: Option<String>,
    /// Accept `http://` for `url` and the OAuth2 `token_url` to a host other than this
    /// machine's loopback (tokens and personal data would cross the network in clear).
    #[serde(default)]
    pub allow_plain_http: bool,
    /// The largest answer read (bytes); a larger one is refused, never held whole.
    #[serde(default = "thirty_two_mib")]
    pub max_response_bytes: usize,
    /// The most users (or groups) a list may return before the read is refused.
    #[serde(default = "two_million")]
    pub max_resources: u64,
}

fn thirty_two_mib() -> usize {
    32 << 20
}
fn two_million() -> u64 {
    2_000_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Config {
    pub token_url: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Secret,
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub scope: Option<String>,
}

fn pattern() -> String {
    "{first}.{last}".into()
}
fn sixty_four() -> usize {
    64
}
fn ninety_nine() -> u32 {
    99
}
fn thirty() -> u64 {
    30
}
fn hundred() -> u32 {
    100
}
fn four() -> usize {
    4
}
fn sixty() -> u64 {
    60
}

fn build(
    settings: toml::Table,
    ctx: &super::BuildContext<'_>,
) -> Result<Box<dyn Connector>, String> {
    let mut c: ScimConfig = super::settings(ctx.system, settings)?;
    let mut problems = Vec::new();
    let section = format!("[targets.{}]", ctx.system);
    crate::config::resolve_secret(
        &mut c.token,
        &c.token_file,
        &format!("{section} token"),
        &mut problems,
    );
    if let Some(o) = c.oauth2.as_mut() {
        crate::config::resolve_secret(
            &mut o.client_secret,
            &o.client_secret_file,
            &format!("{section} oauth2.client_secret"),
            &mut problems,
        );
        if !c.token.is_empty() {
            problems.push(format!(
                "{section} has both a token and oauth2: keep one way to authenticate"
            ));
        }
    } else if c.token.is_empty() {
        problems.push(format!(
            "{section} has no credentials: set token_file (a bearer token, mode 600) or [targets.{}.oauth2]",
            ctx.system
        ));
    }
    if !(c.url.starts_with("https://") || c.url.starts_with("http://")) {
        problems.push(format!(
            "{section} url \"{}\" is not an http(s) URL (e.g. https://host/scim/v2)",
            c.url
        ));
    }
    problems.extend(crate::config::plain_http(
        &section,
        "url",
        &c.url,
        c.allow_plain_http,
    ));
    if let Some(o) = &c.oauth2 {
        problems.extend(crate::config::plain_http(
            &section,
            "oauth2.token_url",
            &o.token_url,
            c.allow_plain_http,
        ));
    }
    problems.extend(crate::config::out_of_range(
        &section,
        &[
            ("timeout_secs", c.timeout_secs.into(), 1, 3600),
            ("page_size", c.page_size.into(), 1, 10_000),
            (
                "max_response_bytes",
                c.max_response_bytes as i128,
                1 << 16,
                1 << 30,
            ),
            ("max_resources", c.max_resources.into(), 1, 100_000_000),
            ("retries", c.retries as i128, 0, 20),
            ("name_candidates", c.name_candidates.into(), 1, 999),
            ("name_max_len", c.name_max_len as i128, 3, 256),
            (
                "max_retry_after_secs",
                c.max_retry_after_secs.into(),
                0,
                3600,
            ),
        ],
    ));
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    ScimConnector::new(ctx.system, c, ctx.allows_delete).map(|s| Box::new(s) as Box<dyn Connector>)
}

/// A response body, read up to `cap` bytes: a larger one is refused, never held whole.
async fn read_capped(mut r: reqwest::Response, cap: usize) -> Result<String, String> {
    if r.content_length().is_some_and(|n| n > cap as u64) {
        return Err(format!(
            "the answer is {} bytes, more than max_response_bytes ({cap}): refused",
            r.content_length().unwrap_or_default()
        ));
    }
    let mut body = Vec::new();
    loop {
        match r.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > cap {
                    return Err(format!(
                        "the answer runs past max_response_bytes ({cap}): refused"
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(String::from_utf8_lossy(&body).into_owned()),
            // Cut off mid-answer: read as no body at all, never as half of one.
            Err(_) => return Ok(String::new()),
        }
    }
}

/// A SCIM error body (RFC 7644 §3.12).
#[derive(Debug, Clone, Default, Deserialize)]
struct ScimError {
    #[serde(default, rename = "scimType")]
    scim_type: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

/// A list response (RFC 7644 §3.4.2).
#[derive(Debug, Deserialize)]
struct ListResponse {
    #[serde(default, rename = "totalResults")]
    total_results: u64,
    #[serde(default, rename = "Resources")]
    resources: Vec<Value>,
}

/// A PATCH request (RFC 7644 §3.5.2).
#[derive(Debug, Serialize)]
struct PatchOp {
    schemas: [&'static str; 1],
    #[serde(rename = "Operations")]
    operations: Vec<Value>,
}

impl PatchOp {
    fn new(operations: Vec<Value>) -> PatchOp {
        PatchOp {
            schemas: [PATCH_OP],
            operations,
        }
    }
}

/// What went wrong in one call, before it is given an operator's meaning.
#[derive(Debug, Clone)]
enum Failure {
    /// Worth retrying later: transport, 429, 5xx.
    Transient(String),
    /// The credentials or the URL are wrong: the target stops.
    Fatal(String),
    /// This request cannot succeed as it stands.
    Refused {
        status: u16,
        scim_type: Option<String>,
        detail: String,
    },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transient(t) | Failure::Fatal(t) => f.write_str(t),
            Failure::Refused {
                status,
                scim_type,
                detail,
            } => match scim_type {
                Some(t) => write!(f, "the service refused it ({status} {t}): {detail}"),
                None => write!(f, "the service refused it ({status}): {detail}"),
            },
        }
    }
}

/// One answer.
struct Answer {
    etag: Option<String>,
    body: Option<Value>,
}

/// A user as last read: its SCIM id and version.
#[derive(Debug, Clone)]
struct Known {
    id: String,
    etag: Option<String>,
}

pub struct ScimConnector {
    system: String,
    config: ScimConfig,
    base: String,
    allows_delete: bool,
    http: reqwest::Client,
    /// userName (lower case) → id and version, from the last read.
    users: Mutex<BTreeMap<String, Known>>,
    /// Group displayName → id.
    groups: Mutex<BTreeMap<String, String>>,
    /// The OAuth2 access token and when to fetch a new one.
    oauth_token: tokio::sync::Mutex<Option<(Secret, Instant)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl ScimConnector {
    pub fn new(
        system: &str,
        config: ScimConfig,
        allows_delete: bool,
    ) -> Result<ScimConnector, String> {
        let timeout = Duration::from_secs(config.timeout_secs);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| format!("[targets.{system}] the HTTP client cannot be built: {e}"))?;
        Ok(ScimConnector {
            system: system.to_string(),
            base: config.url.trim_end_matches('/').to_string(),
            config,
            allows_delete,
            http,
            users: Mutex::new(BTreeMap::new()),
            groups: Mutex::new(BTreeMap::new()),
            oauth_token: tokio::sync::Mutex::new(None),
        })
    }

    /// The bearer token: the configured one, or a fresh or cached OAuth2 token.
    async fn bearer(&self) -> Result<Secret, Failure> {
        let Some(o) = &self.config.oauth2 else {
            return Ok(self.config.token.clone());
        };
        let mut cached = self.oauth_token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", o.client_id.clone()),
            ("client_secret", o.client_secret.expose().to_string()),
        ];
        if let Some(scope) = &o.scope {
            form.push(("scope", scope.clone()));
        }
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let r = self
            .http
            .post(&o.token_url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                Failure::Transient(format!(
                    "the OAuth2 token endpoint could not be reached: {e}"
                ))
            })?;
        let status = r.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(Failure::Fatal(format!(
                "the OAuth2 token endpoint refused the client credentials ({status}): check client_id and client_secret_file"
            )));
        }
        #[derive(Deserialize)]
        struct TokenAnswer {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let t: TokenAnswer = r.json().await.map_err(|e| {
            Failure::Fatal(format!(
                "the OAuth2 token endpoint's answer is not a token: {e}"
            ))
        })?;
        // Renewed a minute before it expires (or after 5 minutes when it does not say).
        let life = t.expires_in.unwrap_or(360).saturating_sub(60).max(1);
        let token = Secret::new(t.access_token);
        *cached = Some((token.clone(), Instant::now() + Duration::from_secs(life)));
        Ok(token)
    }

    /// One call with retries: 429/503 wait for `Retry-After`, other transient failures
    /// back off.
    async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Answer, Failure> {
        use backon::BackoffBuilder;
        let mut delays = crate::retry::policy(
            Duration::from_millis(200),
            Duration::from_secs(10),
            Some(self.config.retries),
        )
        .build();
        loop {
            let token = self.bearer().await?;
            let mut request = self
                .http
                .request(method.clone(), url)
                .bearer_auth(token.expose())
                .header("Accept", "application/scim+json, application/json");
            if let Some(b) = body {
                request = request
                    .header("Content-Type", "application/scim+json")
                    .body(b.to_string());
            }
            if let Some(tag) = if_match {
                request = request.header("If-Match", tag);
            }
            let (failure, wait) = match request.send().await {
                Err(e) => (
                    Failure::Transient(format!("{} could not be reached: {e}", self.base)),
                    None,
                ),
                Ok(r) => {
                    let status = r.status().as_u16();
                    let etag = r
                        .headers()
                        .get("etag")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let retry_after = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(retry_after);
                    let text = read_capped(r, self.config.max_response_bytes)
                        .await
                        .map_err(|e| Failure::Fatal(format!("{url}: {e}")))?;
                    let json: Option<Value> = if text.trim().is_empty() {
                        None
                    } else {
                        serde_json::from_str(&text).ok()
                    };
                    if (200..300).contains(&status) {
                        return Ok(Answer { etag, body: json });
                    }
                    let error: ScimError = json
                        .as_ref()
                        .and_then(|j| serde_json::from_value(j.clone()).ok())
                        .unwrap_or_default();
                    // The service's own words, short: they reach the log and the API.
                    let detail: String = error
                        .detail
                        .as_deref()
                        .unwrap_or(&text)
                        .chars()
                        .take(200)
                        .collect();
                    match status {
                        401 | 403 => {
                            return Err(Failure::Fatal(format!(
                                "the service refused Turnstile's credentials ({status}: {detail}); renew the token in token_file or fix the OAuth2 client"
                            )));
                        }
                        429 | 503 => (
                            Failure::Transient(format!(
                                "the service is busy ({status}){}",
                                retry_after
                                    .map(|d| format!(", Retry-After {}s", d.as_secs()))
                                    .unwrap_or_default()
                            )),
                            retry_after,
                        ),
                        500..=599 => (
                            Failure::Transient(format!("the service failed ({status}): {detail}")),
                            None,
                        ),
                        _ => {
                            return Err(Failure::Refused {
                                status,
                                scim_type: error.scim_type,
                                detail,
                            });
                        }
                    }
                }
            };
            let Some(backoff) = delays.next() else {
                return Err(failure);
            };
            let pause = match wait {
                Some(w) if w > Duration::from_secs(self.config.max_retry_after_secs) => {
                    return Err(failure);
                }
                Some(w) => w,
                None => backoff,
            };
            tracing::debug!(system = %self.system, error = %failure, pause_ms = pause.as_millis() as u64, "retrying");
            tokio::time::sleep(pause).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Every resource of a list, page by page (`startIndex`/`count`), optionally filtered.
    async fn list(&self, resource: &str, filter: Option<&str>) -> Result<Vec<Value>, Failure> {
        let mut out = Vec::new();
        let mut start: u64 = 1;
        // Bounded in pages and in resources held: a server that keeps answering pages
        // never makes this loop run for ever or hold more than the cap.
        let max = self.config.max_resources;
        for _ in 0..max.div_ceil(u64::from(self.config.page_size.max(1))) + 1 {
            let mut url = reqwest::Url::parse(&self.url(resource))
                .map_err(|e| Failure::Fatal(format!("url {}: {e}", self.base)))?;
            url.query_pairs_mut()
                .append_pair("startIndex", &start.to_string())
                .append_pair("count", &self.config.page_size.to_string());
            if let Some(f) = filter {
                url.query_pairs_mut().append_pair("filter", f);
            }
            let answer = self
                .call(reqwest::Method::GET, url.as_str(), None, None)
                .await?;
            let page: ListResponse = answer
                .body
                .and_then(|b| serde_json::from_value(b).ok())
                .ok_or_else(|| {
                    Failure::Transient(format!("{resource}: the answer is not a SCIM list"))
                })?;
            let got = page.resources.len() as u64;
            if out.len() as u64 + got > max {
                return Err(Failure::Fatal(format!(
                    "{resource}: the service lists more than {max} (max_resources): refused rather than held in memory; raise max_resources if it really holds that many"
                )));
            }
            out.extend(page.resources);
            start += got;
            if got == 0 || start > page.total_results {
                return Ok(out);
            }
        }
        Err(Failure::Fatal(format!(
            "{resource}: the service kept answering pages past {max} resources (max_resources): refused"
        )))
    }

    fn account_of(
        &self,
        user: &Value,
        member_of: &BTreeMap<String, Vec<String>>,
    ) -> Option<Account> {
        let id = user.get("id")?.as_str()?.to_string();
        let name = user.get("userName")?.as_str()?.to_string();
        let ext = user.get(ENTERPRISE);
        let mut attributes = BTreeMap::new();
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
        attributes.insert("display_name".to_string(), text(user.get("displayName")));
        attributes.insert("title".to_string(), text(user.get("title")));
        attributes.insert(
            "department".to_string(),
            text(ext.and_then(|e| e.get("department"))),
        );
        attributes.insert(
            "mail".to_string(),
            user.get("emails")
                .and_then(Value::as_array)
                .and_then(|emails| {
                    emails
                        .iter()
                        .find(|e| e.get("type").and_then(Value::as_str) == Some("work"))
                        .or_else(|| emails.first())
                })
                .map(|e| text(e.get("value")))
                .unwrap_or_default(),
        );
        // What correlation compares, only where the user holds it.
        {
            use crate::correlate::attr;
            let name = user.get("name");
            for (key, field) in [
                (attr::GIVEN_NAME, "givenName"),
                (attr::FAMILY_NAME, "familyName"),
            ] {
                let v = text(name.and_then(|n| n.get(field)));
                if !v.trim().is_empty() {
                    attributes.insert(key.to_string(), v);
                }
            }
            let all: Vec<String> = user
                .get("emails")
                .and_then(Value::as_array)
                .map(|emails| {
                    emails
                        .iter()
                        .map(|e| text(e.get("value")))
                        .filter(|v| !v.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            if !all.is_empty() {
                attributes.insert(attr::OTHER_MAIL.to_string(), all.join(";"));
            }
        }
        let last_logon = self
            .config
            .last_logon_attribute
            .as_deref()
            .and_then(|path| {
                let (schema, attr) = path.rsplit_once(':').unwrap_or(("", path));
                let holder = if schema.is_empty() {
                    Some(user)
                } else {
                    user.get(schema)
                };
                holder?.get(attr)?.as_str()?.parse::<jiff::Timestamp>().ok()
            });
        Some(Account {
            system: self.system.clone(),
            employee_number: ext
                .and_then(|e| e.get("employeeNumber"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            display_name: text(user.get("displayName")),
            // `active` absent means active (RFC 7643 §4.1.1 leaves it to the provider;
            // every provider seen treats a user as usable unless told otherwise).
            enabled: user.get("active").and_then(Value::as_bool).unwrap_or(true),
            last_logon,
            entitlements: member_of.get(&id).cloned().unwrap_or_default().into(),
            container: None,
            attributes,
            id: name,
        })
    }

    fn remember(&self, users: &[Value]) {
        let mut known = lock(&self.users);
        for u in users {
            if let (Some(id), Some(name)) = (
                u.get("id").and_then(Value::as_str),
                u.get("userName").and_then(Value::as_str),
            ) {
                let etag = u
                    .get("meta")
                    .and_then(|m| m.get("version"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                known.insert(
                    name.to_lowercase(),
                    Known {
                        id: id.to_string(),
                        etag,
                    },
                );
            }
        }
    }

    /// user id → the names of the groups it is a member of, from `groups`.
    fn membership(&self, groups: &[Value]) -> BTreeMap<String, Vec<String>> {
        let mut ids = lock(&self.groups);
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for g in groups {
            let (Some(id), Some(name)) = (
                g.get("id").and_then(Value::as_str),
                g.get("displayName").and_then(Value::as_str),
            ) else {
                continue;
            };
            ids.insert(name.to_string(), id.to_string());
            for m in g
                .get("members")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(user) = m.get("value").and_then(Value::as_str) {
                    out.entry(user.to_string())
                        .or_default()
                        .push(name.to_string());
                }
            }
        }
        out
    }

    async fn read_all(&self) -> Result<Vec<Account>, Failure> {
        let users = self.list("/Users", None).await?;
        let groups = self.list("/Groups", None).await?;
        self.remember(&users);
        let member_of = self.membership(&groups);
        let mut out: Vec<Account> = users
            .iter()
            .filter_map(|u| self.account_of(u, &member_of))
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn read_one(&self, employee_number: &str) -> Result<Vec<Account>, Failure> {
        let filter = format!("{ENTERPRISE}:employeeNumber eq {}", quote(employee_number));
        let users = self.list("/Users", Some(&filter)).await?;
        self.remember(&users);
        let mut out = Vec::new();
        for u in &users {
            let Some(id) = u.get("id").and_then(Value::as_str) else {
                continue;
            };
            let groups = self
                .list("/Groups", Some(&format!("members.value eq {}", quote(id))))
                .await?;
            let member_of = self.membership(&groups);
            out.extend(self.account_of(u, &member_of));
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The SCIM id and version of an account, from the last read or looked up by name.
    async fn known(&self, name: &str) -> Result<Known, Failure> {
        if let Some(k) = lock(&self.users).get(&name.to_lowercase()).cloned() {
            return Ok(k);
        }
        let users = self
            .list("/Users", Some(&format!("userName eq {}", quote(name))))
            .await?;
        self.remember(&users);
        lock(&self.users)
            .get(&name.to_lowercase())
            .cloned()
            .ok_or_else(|| Failure::Refused {
                status: 404,
                scim_type: None,
                detail: format!("there is no user {name}"),
            })
    }

    async fn group_id(&self, name: &str) -> Result<String, Failure> {
        if let Some(id) = lock(&self.groups).get(name).cloned() {
            return Ok(id);
        }
        let groups = self
            .list("/Groups", Some(&format!("displayName eq {}", quote(name))))
            .await?;
        self.membership(&groups);
        lock(&self.groups).get(name).cloned().ok_or_else(|| Failure::Refused {
            status: 404,
            scim_type: None,
            detail: format!("there is no group {name}: create it in the service, or take it out of the role model"),
        })
    }

    /// A PATCH of a user, with `If-Match` when its version is known; a 412 (changed since
    /// read) re-reads it and tries once more.
    async fn patch_user(&self, name: &str, ops: Vec<Value>) -> Result<(), Failure> {
        let body =
            serde_json::to_value(PatchOp::new(ops)).map_err(|e| Failure::Fatal(e.to_string()))?;
        for attempt in 0..2 {
            let k = self.known(name).await?;
            let url = self.url(&format!("/Users/{}", k.id));
            match self
                .call(reqwest::Method::PATCH, &url, Some(&body), k.etag.as_deref())
                .await
            {
                Ok(a) => {
                    self.update_version(name, &k.id, &a);
                    return Ok(());
                }
                Err(Failure::Refused { status: 412, .. }) if attempt == 0 => {
                    lock(&self.users).remove(&name.to_lowercase());
                }
                Err(e) => return Err(e),
            }
        }
        Err(Failure::Transient(format!(
            "{name} kept changing on the service while Turnstile changed it"
        )))
    }

    /// The version after a change: from the answer's ETag or body (200), else unknown
    /// (204), so the next change reads it afresh rather than sending a stale one.
    fn update_version(&self, name: &str, id: &str, a: &Answer) {
        let etag = a.etag.clone().or_else(|| {
            a.body
                .as_ref()
                .and_then(|b| b.get("meta")?.get("version")?.as_str().map(str::to_string))
        });
        let mut known = lock(&self.users);
        match etag {
            Some(etag) => {
                known.insert(
                    name.to_lowercase(),
                    Known {
                        id: id.to_string(),
                        etag: Some(etag),
                    },
                );
            }
            None => {
                known.remove(&name.to_lowercase());
            }
        }
    }

    async fn create(&self, person: &Person) -> Result<String, Failure> {
        // Never a second account for someone who has one.
        let existing = self.read_one(person.employee_number.as_str()).await?;
        if let Some(a) = existing.first() {
            return Ok(a.id.clone());
        }
        let base =
            crate::naming::base_name(&self.config.name_pattern, person, self.config.name_max_len);
        let mut last = None;
        for n in 1..=self.config.name_candidates {
            let name = format!(
                "{}{}",
                crate::naming::candidate(&base, n, self.config.name_max_len),
                self.config.name_suffix
            );
            // The service says whether a name is taken (409 uniqueness) in the same
            // request that takes it: no window between a check and the create.
            let body = user_body(person, &name);
            match self
                .call(
                    reqwest::Method::POST,
                    &self.url("/Users"),
                    Some(&body),
                    None,
                )
                .await
            {
                Ok(a) => {
                    if let Some(id) = a
                        .body
                        .as_ref()
                        .and_then(|b| b.get("id"))
                        .and_then(Value::as_str)
                    {
                        self.update_version(&name, id, &a);
                    }
                    return Ok(name);
                }
                Err(Failure::Refused {
                    status: 409,
                    scim_type,
                    detail,
                }) => {
                    last = Some(Failure::Refused {
                        status: 409,
                        scim_type,
                        detail: format!("userName {name} clashes with an existing user: {detail}"),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Failure::Refused {
            status: 409,
            scim_type: Some("uniqueness".into()),
            detail: format!(
                "every userName from {base}{} to the {}th alternative is taken: give this person a name by hand",
                self.config.name_suffix, self.config.name_candidates
            ),
        }))
    }

    async fn membership_change(
        &self,
        account: &str,
        group: &str,
        add: bool,
    ) -> Result<(), Failure> {
        let user = self.known(account).await?;
        let gid = self.group_id(group).await?;
        let op = if add {
            json!({"op": "add", "path": "members", "value": [{"value": user.id}]})
        } else {
            json!({"op": "remove", "path": format!("members[value eq {}]", quote(&user.id))})
        };
        let body = serde_json::to_value(PatchOp::new(vec![op]))
            .map_err(|e| Failure::Fatal(e.to_string()))?;
        self.call(
            reqwest::Method::PATCH,
            &self.url(&format!("/Groups/{gid}")),
            Some(&body),
            None,
        )
        .await
        .map(|_| ())
    }

    async fn apply_change(
        &self,
        person: &Person,
        change: &Change,
    ) -> Result<Option<String>, Failure> {
        let account = || {
            change.account.clone().ok_or_else(|| Failure::Refused {
                status: 400,
                scim_type: None,
                detail: "no account named".into(),
            })
        };
        match &change.action {
            Action::Create => return self.create(person).await.map(Some),
            Action::Enable | Action::Disable => {
                let active = change.action == Action::Enable;
                self.patch_user(
                    &account()?,
                    vec![json!({"op": "replace", "path": "active", "value": active})],
                )
                .await?
            }
            Action::Grant { entitlement } => {
                self.membership_change(&account()?, entitlement, true)
                    .await?
            }
            Action::Revoke { entitlement } => {
                self.membership_change(&account()?, entitlement, false)
                    .await?
            }
            Action::Update { attribute, value } => {
                let (path, value) = match attribute.as_str() {
                    "display_name" => ("displayName".to_string(), json!(value)),
                    "title" => ("title".to_string(), json!(value)),
                    "department" => (format!("{ENTERPRISE}:department"), json!(value)),
                    crate::plan::ANCHOR => (format!("{ENTERPRISE}:employeeNumber"), json!(value)),
                    "mail" => (
                        "emails".to_string(),
                        json!([{"value": value, "type": "work", "primary": true}]),
                    ),
                    other => {
                        return Err(Failure::Refused {
                            status: 400,
                            scim_type: None,
                            detail: format!(
                                "attribute {other} is not kept in step on SCIM targets"
                            ),
                        });
                    }
                };
                self.patch_user(
                    &account()?,
                    vec![json!({"op": "replace", "path": path, "value": value})],
                )
                .await?
            }
            Action::Move { .. } => {
                return Err(Failure::Refused {
                    status: 400,
                    scim_type: None,
                    detail: "SCIM has no containers to move accounts between".into(),
                });
            }
            Action::Delete => {
                if !self.allows_delete {
                    return Err(Failure::Refused {
                        status: 400,
                        scim_type: None,
                        detail: "the role model does not allow deleting accounts here; the account is disabled instead".into(),
                    });
                }
                let name = account()?;
                let k = self.known(&name).await?;
                self.call(
                    reqwest::Method::DELETE,
                    &self.url(&format!("/Users/{}", k.id)),
                    None,
                    None,
                )
                .await?;
                lock(&self.users).remove(&name.to_lowercase());
            }
        }
        Ok(None)
    }

    fn error(&self, change: Option<&Change>, f: Failure) -> ConnectorError {
        match (f, change) {
            (Failure::Transient(detail), _) => ConnectorError::Transient {
                system: self.system.clone(),
                detail,
            },
            (Failure::Fatal(detail), _) => ConnectorError::Fatal {
                system: self.system.clone(),
                detail,
            },
            (f @ Failure::Refused { .. }, Some(c)) => ConnectorError::Permanent {
                system: self.system.clone(),
                change: format!(
                    "{} for employee {}{}",
                    c.action,
                    c.employee_number,
                    c.account
                        .as_deref()
                        .map(|a| format!(" ({a})"))
                        .unwrap_or_default()
                ),
                detail: f.to_string(),
            },
            (f @ Failure::Refused { .. }, None) => ConnectorError::Fatal {
                system: self.system.clone(),
                detail: format!("reading the users failed: {f}"),
            },
        }
    }
}

/// A SCIM filter string literal.
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(text).ok()?.timestamp();
    // An HTTP date is the server's wall clock.
    let now = crate::wall_clock();
    Some(Duration::from_secs(
        u64::try_from(at.as_second().saturating_sub(now.as_second())).unwrap_or(0),
    ))
}

/// The user resource Turnstile creates: inactive until an enable follows, anchored on the
/// employee number, with the person attributes HR gives (name, title, department, work
/// email), so a new account needs no update after it.
fn user_body(person: &Person, name: &str) -> Value {
    let given = person
        .preferred_name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(person.given_name.as_str());
    let hr = crate::desired::person_attributes(person);
    let mut enterprise = json!({"employeeNumber": person.employee_number.as_str()});
    if let (Some(d), Some(o)) = (hr.get("department"), enterprise.as_object_mut()) {
        o.insert("department".into(), json!(d));
    }
    let mut user = json!({
        "schemas": [USER, ENTERPRISE],
        "userName": name,
        "active": false,
        "displayName": person.display_name(),
        "name": {"givenName": given, "familyName": person.family_name.as_str()},
        ENTERPRISE: enterprise,
    });
    if let Some(o) = user.as_object_mut() {
        if let Some(title) = hr.get("title") {
            o.insert("title".into(), json!(title));
        }
        if let Some(mail) = hr.get("mail") {
            o.insert(
                "emails".into(),
                json!([{"value": mail, "type": "work", "primary": true}]),
            );
        }
    }
    user
}

impl Connector for ScimConnector {
    fn system(&self) -> &str {
        &self.system
    }

    fn capabilities(&self) -> super::Capabilities {
        super::Capabilities {
            delete: self.allows_delete,
            move_accounts: false,
            groups: true,
            attributes: true,
            last_logon: self.config.last_logon_attribute.is_some(),
            batch: false,
            work_items: false,
        }
    }

    fn read_accounts(&self) -> BoxFuture<'_, Result<Vec<Account>, ConnectorError>> {
        Box::pin(async move { self.read_all().await.map_err(|f| self.error(None, f)) })
    }

    fn read_person<'a>(
        &'a self,
        employee_number: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Account>, ConnectorError>> {
        Box::pin(async move {
            self.read_one(employee_number)
                .await
                .map_err(|f| self.error(None, f))
        })
    }

    fn apply<'a>(
        &'a self,
        person: &'a Person,
        change: &'a Change,
    ) -> BoxFuture<'a, Result<Applied, ConnectorError>> {
        Box::pin(async move {
            self.apply_change(person, change)
                .await
                .map(|account| Applied::Done { account })
                .map_err(|f| self.error(Some(change), f))
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
            // An authenticated read: /ServiceProviderConfig may be open to anyone.
            self.call(
                reqwest::Method::GET,
                &self.url("/Users?startIndex=1&count=1"),
                None,
                None,
            )
            .await
            .map(|_| ())
            .map_err(|f| self.error(None, f))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_literals_and_retry_after_are_read_as_the_rfcs_say() {
        assert_eq!(quote(r#"O"Brien\x"#), r#""O\"Brien\\x""#);
        assert_eq!(retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon"), None);
        assert_eq!(form_encode("a b&c=d"), "a%20b%26c%3Dd");
    }

    #[test]
    fn a_new_user_is_inactive_and_anchored_on_the_employee_number() {
        let mut p = crate::testkit::nurse("20000001");
        p.work_email = Some("amara.okafor@nhs.net".into());
        let u = user_body(&p, "amara.okafor");
        assert_eq!(u["active"], false);
        assert_eq!(u[ENTERPRISE]["employeeNumber"], "20000001");
        assert_eq!(u["emails"][0]["value"], "amara.okafor@nhs.net");
        assert_eq!(u["schemas"], json!([USER, ENTERPRISE]));
    }
}
