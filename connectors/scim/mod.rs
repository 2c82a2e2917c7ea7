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

mod config;
mod http;
mod read;
mod write;

pub use config::*;
use http::*;

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// `[targets.<system>] type = "scim"`.
pub const REGISTRATION: super::Registration = super::Registration {
    kind: "scim",
    build,
};

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
    use super::write::user_body;
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
