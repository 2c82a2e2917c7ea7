//! Connectors: one folder per kind of target system, each behind the [`Connector`] trait.
//!
//! A connector reads a system's accounts and applies planned changes to it. The core never
//! sees connector types: it plans against [`Account`]s and hands [`Change`]s over.
//!
//! Connectors are registered by type (the Vector `SinkConfig::build` pattern): a
//! `[targets.<system>]` section names its `type`, and that type's [`Registration`] turns
//! the rest of the section into the running connector, whose [`Connector::health`] is its
//! health check. Adding a target system means one folder here and one line in
//! [`REGISTRY`]; the CLI, the engine and the root config never change.
//!
//! Errors say what the caller should do: retry later (transient), record the change as
//! failed and move on (permanent for this change), or stop using the target until a person
//! looks (fatal for the target).

pub mod emis;
pub mod export_file;
pub mod ldap;
pub mod nhsmail;
pub mod scim;
pub mod smartcard;
pub mod systmone;

use crate::account::Account;
use crate::hr::Person;
use crate::plan::Change;
use std::future::Future;
use std::pin::Pin;

/// A boxed future, so connectors can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What applying a change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The target now reflects the change; for a create, the new account's name.
    Done { account: Option<String> },
    /// The system has no API: a work item (ticket text) was raised for its administrator,
    /// and the next export read verifies it.
    WorkItem { text: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    /// Worth retrying with backoff: a timeout, a dropped connection, a busy server.
    #[error("{system}: {detail} (temporary: retried with backoff)")]
    Transient { system: String, detail: String },
    /// This change cannot succeed as it stands: recorded as failed, retried by the next
    /// reconciliation once someone fixes the cause named here.
    #[error("{system}: {change} failed: {detail}")]
    Permanent {
        system: String,
        change: String,
        detail: String,
    },
    /// The target as a whole is unusable (bad credentials, missing OU): it is quarantined.
    #[error("{system}: {detail}; Turnstile stops changing this system until it is fixed")]
    Fatal { system: String, detail: String },
}

/// What a target can do. The engine never hands a connector a change it cannot make
/// (see [`crate::plan::Abilities`]): no `Move` where there are no containers, no delete
/// where accounts are only ever disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Accounts can be deleted (still only where the role model allows it).
    pub delete: bool,
    /// Accounts can be moved between containers (an AD OU).
    pub move_accounts: bool,
    /// Entitlements (groups, roles) can be granted and revoked.
    pub groups: bool,
    /// Person attributes (display name, title, department, mail, manager) are kept in step.
    pub attributes: bool,
    /// Accounts report their last logon (dormancy can be judged).
    pub last_logon: bool,
    /// Changes go best in batches ([`Connector::apply_batch`]), e.g. a bulk CSV.
    pub batch: bool,
    /// Changes become work items for a person (no API): stored, tracked, verified by the
    /// next export.
    pub work_items: bool,
}

impl Capabilities {
    /// The same, as the planner sees it.
    pub fn abilities(&self) -> crate::plan::Abilities {
        crate::plan::Abilities {
            delete: self.delete,
            move_accounts: self.move_accounts,
            groups: self.groups,
            attributes: self.attributes,
        }
    }
}

/// What a connector is built with besides its own section.
pub struct BuildContext<'a> {
    /// The system id (the `<system>` of `[targets.<system>]`), as in the role model.
    pub system: &'a str,
    /// The role model allows deleting accounts on this system.
    pub allows_delete: bool,
    /// Bounds on input files (for connectors that read exports).
    pub limits: &'a crate::feed::Limits,
}

/// Builds a connector from its section (without `type`), naming every mistake.
pub type Build = fn(toml::Table, &BuildContext<'_>) -> Result<Box<dyn Connector>, String>;

/// One kind of connector: its `type` name and how to build it from its config section.
pub struct Registration {
    pub kind: &'static str,
    pub build: Build,
}

/// Every kind of connector, by `type`.
pub const REGISTRY: &[Registration] = &[
    ldap::REGISTRATION,
    export_file::REGISTRATION,
    emis::REGISTRATION,
    systmone::REGISTRATION,
    smartcard::REGISTRATION,
    scim::REGISTRATION,
    nhsmail::REGISTRATION,
];

/// Builds the connector for `[targets.<system>]` of type `kind`.
pub fn build(
    kind: &str,
    settings: toml::Table,
    ctx: &BuildContext<'_>,
) -> Result<Box<dyn Connector>, String> {
    match REGISTRY.iter().find(|r| r.kind == kind) {
        Some(r) => (r.build)(settings, ctx),
        None => Err(format!(
            "[targets.{}] type = \"{kind}\" is not a kind of connector (known: {})",
            ctx.system,
            REGISTRY
                .iter()
                .map(|r| r.kind)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// A connector's own section as its config struct, every mistake named by key.
pub fn settings<T: serde::de::DeserializeOwned>(
    system: &str,
    settings: toml::Table,
) -> Result<T, String> {
    let read = |table: &toml::Table| {
        toml::Value::Table(table.clone())
            .try_into::<T>()
            .map_err(|e| format!("[targets.{system}] {}", e.message().trim_end()))
    };
    let first = match read(&settings) {
        Ok(own) => return Ok(own),
        Err(e) => e,
    };
    // A key given in the environment (`TURNSTILE__TARGETS__AD__TLS_VERIFY_HOSTNAME=false`)
    // arrives as text, as it does for every other section: where the struct wants a
    // boolean or a number and finds text that is one, read it as one (each such key in
    // turn, as the errors name them), as the typed sections are read.
    let mut table = settings;
    let mut error = first.clone();
    for _ in 0..64 {
        let Some((text, expected)) = error
            .split_once("invalid type: string \"")
            .and_then(|(_, rest)| rest.split_once("\", expected "))
        else {
            break;
        };
        let typed = if expected.contains("bool") {
            text.parse::<bool>().ok().map(toml::Value::Boolean)
        } else if expected.starts_with('u')
            || expected.starts_with('i')
            || expected.contains("integer")
        {
            text.parse::<i64>().ok().map(toml::Value::Integer)
        } else if expected.starts_with('f') || expected.contains("float") {
            text.parse::<f64>().ok().map(toml::Value::Float)
        } else {
            None
        };
        let Some(typed) = typed else { break };
        if !retype(&mut table, text, &typed) {
            break;
        }
        match read(&table) {
            Ok(own) => return Ok(own),
            Err(e) => error = e,
        }
    }
    Err(first)
}

/// Every text value equal to `text` in `table` (and the tables within) made `typed`;
/// whether any was.
fn retype(table: &mut toml::Table, text: &str, typed: &toml::Value) -> bool {
    let mut changed = false;
    for (_, value) in table.iter_mut() {
        match value {
            toml::Value::String(s) if s == text => {
                *value = typed.clone();
                changed = true;
            }
            toml::Value::Table(inner) => changed |= retype(inner, text, typed),
            _ => {}
        }
    }
    changed
}

/// One target system.
pub trait Connector: Send + Sync {
    /// The system id from the role model.
    fn system(&self) -> &str;

    /// What this target can do.
    fn capabilities(&self) -> Capabilities;

    /// Every account on the system, as the core sees accounts.
    fn read_accounts(&self) -> BoxFuture<'_, Result<Vec<Account>, ConnectorError>>;

    /// The accounts linked to one employee number. The default reads every account; a
    /// connector that can look one person up overrides it.
    fn read_person<'a>(
        &'a self,
        employee_number: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Account>, ConnectorError>> {
        Box::pin(async move {
            Ok(self
                .read_accounts()
                .await?
                .into_iter()
                .filter(|a| a.employee_number.as_deref() == Some(employee_number))
                .collect())
        })
    }

    /// The accounts that may be `person`'s though not linked to them: every account with
    /// no anchor (or an anchor written another way) that correlation's rules could match.
    /// The default reads every account; a connector that can search overrides it with a
    /// narrower query. Correlation itself decides; this only has to include every
    /// account a rule could match.
    fn find_candidates<'a>(
        &'a self,
        person: &'a Person,
    ) -> BoxFuture<'a, Result<Vec<Account>, ConnectorError>> {
        Box::pin(async move {
            Ok(self
                .read_accounts()
                .await?
                .into_iter()
                .filter(|a| crate::correlate::could_be_theirs(a, person))
                .collect())
        })
    }

    /// Applies one planned change for `person`.
    fn apply<'a>(
        &'a self,
        person: &'a Person,
        change: &'a Change,
    ) -> BoxFuture<'a, Result<Applied, ConnectorError>>;

    /// Applies several changes (for one or more people) at once, one result per change in
    /// order. The default applies them one by one; a bulk-upload target overrides it.
    fn apply_batch<'a>(
        &'a self,
        items: &'a [(&'a Person, &'a Change)],
    ) -> BoxFuture<'a, Vec<Result<Applied, ConnectorError>>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(items.len());
            for (person, change) in items {
                out.push(self.apply(person, change).await);
            }
            out
        })
    }

    /// A cheap check that the target answers (bind, list one entry, read the file).
    fn health(&self) -> BoxFuture<'_, Result<(), ConnectorError>>;

    /// How the target names new accounts, when Turnstile names them: correlation looks
    /// for the name (and its numbered forms) a person would have been given.
    fn naming(&self) -> Option<crate::naming::Naming> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Own {
        flag: bool,
        n: u64,
        name: String,
        columns: std::collections::BTreeMap<String, String>,
    }

    /// Keys from the environment arrive as text: read as their types, as in every other
    /// section, with the text of a text key and the case of a map's keys kept.
    #[test]
    fn a_target_key_from_the_environment_is_read_as_its_type() {
        let table: toml::Table = toml::from_str(
            "flag = \"false\"\nn = \"10\"\nname = \"12345\"\ncolumns = { \"Payroll Number\" = \"EmployeeID\" }",
        )
        .unwrap();
        let own: Own = settings("ad", table).unwrap();
        assert!(!own.flag);
        assert_eq!((own.n, own.name.as_str()), (10, "12345"));
        assert_eq!(own.columns["Payroll Number"], "EmployeeID");
        let table: toml::Table =
            toml::from_str("flag = \"maybe\"\nn = 1\nname = \"x\"\ncolumns = {}").unwrap();
        let e = settings::<Own>("ad", table).unwrap_err();
        assert!(
            e.starts_with("[targets.ad] ") && e.contains("boolean"),
            "{e}"
        );
    }
}
