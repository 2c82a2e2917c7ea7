//! The LDAP connector: Active Directory (`user` objects, `userAccountControl`, `memberOf`)
//! and OpenLDAP (`inetOrgPerson`, `groupOfNames`, a configurable disabled marker).
//!
//! It reuses one connection, puts a timeout on every operation (ldap3's default is none),
//! reconnects when the connection drops, and retries transient failures with backoff.
//! Permanent failures name the account and the change. Passwords are never sent over plain
//! LDAP: user passwords need LDAPS or StartTLS, and a plain-text bind must be allowed
//! explicitly (`allow_plain_bind`, for a lab only). It never deletes on a system whose role
//! model forbids deletion, whatever it is asked.

mod config;
mod connection;
/// DN and filter escaping, shared with the export readers: [`crate::dn`].
pub use crate::dn as escape;
mod failure;
mod read;
mod write;

pub use config::*;
use failure::*;
use read::*;
use write::*;

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

pub struct LdapConnector {
    config: LdapConfig,
    /// False on systems whose role model forbids deletion (clinical history).
    allows_delete: bool,
    conn: Mutex<Option<Ldap>>,
}

/// Account naming is the core's ([`crate::naming`]), shared with correlation and SCIM.
pub use crate::naming::{base_name, candidate};

impl LdapConnector {
    pub fn new(config: LdapConfig, allows_delete: bool) -> LdapConnector {
        LdapConnector {
            config,
            allows_delete,
            conn: Mutex::new(None),
        }
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

    fn group_dn(&self, entitlement: &str) -> String {
        format!(
            "CN={},{}",
            escape::dn_value(entitlement),
            self.config.groups_container
        )
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

/// One entry as a read turns it into an account, with no directory behind it: what
/// `fuzz/`'s `ldap_entry` target drives (`turnstile::fuzzing::ldap_entry`).
#[doc(hidden)]
pub fn entry_account(
    dialect: Dialect,
    dn: String,
    attrs: std::collections::HashMap<String, Vec<String>>,
) -> Option<Account> {
    let name = match dialect {
        Dialect::ActiveDirectory => "active_directory",
        Dialect::OpenLdap => "open_ldap",
    };
    let config: LdapConfig = toml::from_str(&format!(
        "dialect = \"{name}\"\nurl = \"ldap://fuzz.invalid\"\nbind_dn = \"cn=fuzz\"\nbase_dn = \"dc=fuzz\"\n\
         users_container = \"dc=fuzz\"\ngroups_container = \"dc=fuzz\"\n"
    ))
    .ok()?;
    let entry = SearchEntry {
        dn,
        attrs,
        bin_attrs: std::collections::HashMap::new(),
    };
    LdapConnector::new(config, false)
        .account_of(entry, &BTreeMap::new())
        .map(|(_, a)| a)
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
