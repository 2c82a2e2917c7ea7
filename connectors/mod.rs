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
    toml::Value::Table(settings)
        .try_into()
        .map_err(|e: toml::de::Error| format!("[targets.{system}] {}", e.message().trim_end()))
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
