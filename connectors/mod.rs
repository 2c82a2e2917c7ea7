//! Connectors: one folder per kind of target system, each behind the [`Connector`] trait.
//!
//! A connector reads a system's accounts and applies planned changes to it. The core never
//! sees connector types: it plans against [`Account`]s and hands [`Change`]s over. Adding a
//! target system means one folder here, one line below, and its section in the config.
//!
//! Errors say what the caller should do: retry later (transient), record the change as
//! failed and move on (permanent for this change), or stop using the target until a person
//! looks (fatal for the target).

pub mod export_file;
pub mod ldap;

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

/// One target system.
pub trait Connector: Send + Sync {
    /// The system id from the role model.
    fn system(&self) -> &str;

    /// Every account on the system, as the core sees accounts.
    fn read_accounts(&self) -> BoxFuture<'_, Result<Vec<Account>, ConnectorError>>;

    /// Applies one planned change for `person`.
    fn apply<'a>(
        &'a self,
        person: &'a Person,
        change: &'a Change,
    ) -> BoxFuture<'a, Result<Applied, ConnectorError>>;

    /// A cheap check that the target answers (bind, list one entry, read the file).
    fn health(&self) -> BoxFuture<'_, Result<(), ConnectorError>>;
}
