//! Systems with no provisioning API (EMIS Web, SystmOne, smartcard positions, or any
//! system a trust only has a user list for): their accounts are read from the user export
//! an administrator saves, and each planned change becomes a work item for that
//! administrator, in words they act on; the next export read confirms it (see
//! `engine::work`).
//!
//! `type = "export_file"` is the generic form. The EMIS Web, SystmOne and smartcard
//! connectors (their own folders) are this same reader with their own wording and column
//! defaults: a [`Manual`] with a [`Wording`].

use super::{Applied, BoxFuture, Connector, ConnectorError};
use crate::account::Account;
use crate::feed::export::{self, ExportColumns};
use crate::hr::Person;
use crate::plan::{Action, Change};
use serde::Deserialize;
use std::path::PathBuf;

/// How one kind of system words its work items.
pub trait Wording: Send + Sync {
    /// The system's name as its administrators know it ("EMIS Web").
    fn product(&self) -> &str;

    /// The instruction for one change, or why the change is never raised (a delete on a
    /// system that holds clinical history).
    fn instruction(&self, person: &Person, change: &Change) -> Result<String, String>;
}

/// A system read from its export, changed by work items.
pub struct Manual {
    pub system: String,
    pub path: PathBuf,
    pub columns: ExportColumns,
    pub limits: crate::feed::Limits,
    pub wording: Box<dyn Wording>,
}

/// The generic system: "for NAME (employee N), account A: what. Reason: …".
pub struct Generic;

impl Wording for Generic {
    fn product(&self) -> &str {
        "the system"
    }

    fn instruction(&self, person: &Person, change: &Change) -> Result<String, String> {
        let account = change.account.as_deref().unwrap_or("(new account)");
        let what = match &change.action {
            Action::Create => "create an account (disabled until told otherwise)".to_string(),
            Action::Enable => "enable the account".to_string(),
            Action::Disable => "disable the account (do not delete it)".to_string(),
            Action::Grant { entitlement } => format!("add the role {entitlement}"),
            Action::Revoke { entitlement } => format!("remove the role {entitlement}"),
            Action::Move { container } => format!("move the account to {container}"),
            Action::Update { attribute, value } => format!("set {attribute} to \"{value}\""),
            Action::Delete => return Err(never_deleted(&change.system)),
        };
        Ok(format!(
            "{}: for {} (employee {}), account {account}: {what}. Reason: {} [rule {}]",
            change.system,
            person.display_name(),
            person.employee_number,
            change.reason,
            change.rule
        ))
    }
}

/// Why a delete is never raised on a system read from its export: each holds, or may
/// hold, clinical history recorded under the account.
pub fn never_deleted(system: &str) -> String {
    format!(
        "{system} accounts are never deleted by Turnstile: clinical entries record the user who made them; the account is disabled (end-dated) instead"
    )
}

/// A system whose users record clinical history is never given a delete: a role model
/// that allows one there (`delete_after_days` without `holds_clinical_history`) is refused
/// when the target is built, naming the fix.
pub fn refuse_delete(ctx: &super::BuildContext<'_>, product: &str) -> Result<(), String> {
    if ctx.allows_delete {
        return Err(format!(
            "[targets.{0}] is {product}, which holds clinical history, but the role model allows deleting its accounts: remove delete_after_days from [systems.{0}] and set holds_clinical_history = true",
            ctx.system
        ));
    }
    Ok(())
}

/// The person as an administrator identifies them: title and name, and the ESR number.
pub fn who(person: &Person) -> String {
    let name = person.display_name();
    match person
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        Some(title) => format!("{title} {name} (ESR {})", person.employee_number),
        None => format!("{name} (ESR {})", person.employee_number),
    }
}

pub use crate::clock::uk_date;

/// `[targets.<system>] type = "export_file"` (and the connectors built on it): the export
/// to read, and its column renames.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManualConfig {
    pub path: PathBuf,
    #[serde(default)]
    pub columns: Option<ExportColumns>,
}

/// `type = "export_file"`: a system with no API, read from its user export.
pub const REGISTRATION: super::Registration = super::Registration {
    kind: "export_file",
    build,
};

fn build(
    settings: toml::Table,
    ctx: &super::BuildContext<'_>,
) -> Result<Box<dyn Connector>, String> {
    let c: ManualConfig = super::settings(ctx.system, settings)?;
    Ok(Box::new(Manual::new(ctx, c, Box::new(Generic))))
}

/// A system that holds clinical history, read from its export and worded by `wording`
/// (EMIS Web, SystmOne): a role model that would delete its accounts is refused.
pub fn build_clinical(
    settings: toml::Table,
    ctx: &super::BuildContext<'_>,
    wording: Box<dyn Wording>,
) -> Result<Box<dyn Connector>, String> {
    let c: ManualConfig = super::settings(ctx.system, settings)?;
    refuse_delete(ctx, wording.product())?;
    Ok(Box::new(Manual::new(ctx, c, wording)))
}

impl Manual {
    /// The connector for `ctx.system` from its section (the CONTRACT §3 columns unless it
    /// renames them).
    pub fn new(
        ctx: &super::BuildContext<'_>,
        c: ManualConfig,
        wording: Box<dyn Wording>,
    ) -> Manual {
        Manual {
            system: ctx.system.to_string(),
            path: c.path,
            columns: c.columns.unwrap_or_default(),
            limits: ctx.limits.clone(),
            wording,
        }
    }

    /// The work-item text an administrator acts on.
    pub fn work_item(&self, person: &Person, change: &Change) -> Result<String, String> {
        self.wording.instruction(person, change)
    }

    fn fatal(&self, detail: String) -> ConnectorError {
        ConnectorError::Fatal {
            system: self.system.clone(),
            detail,
        }
    }

    /// The export as accounts; a broken export must never read as "these people have no
    /// account here", so too many bad rows make it unusable.
    pub fn read_export(&self) -> Result<Vec<Account>, ConnectorError> {
        let tz = crate::clock::london();
        let read = export::read::<Vec<Account>>(
            &self.system,
            &self.path,
            &self.columns,
            &tz,
            &self.limits,
        )
        .map_err(|e| self.fatal(e.to_string()))?;
        whole(&read.errors, read.rows).map_err(|e| self.fatal(e))?;
        // An account whose contract or employment profile has ended cannot be used.
        let today = crate::clock::today(crate::now());
        let mut accounts = read.accounts;
        for a in &mut accounts {
            if let Some(end) = a.attributes.remove(export::END_DATE)
                && end.parse::<jiff::civil::Date>().is_ok_and(|d| d < today)
            {
                a.enabled = false;
            }
        }
        Ok(accounts)
    }

    /// A work item for the change, or a permanent refusal (never a delete).
    pub fn raise(&self, person: &Person, change: &Change) -> Result<Applied, ConnectorError> {
        raise(&self.system, self.wording.as_ref(), person, change)
    }

    pub fn check_export(&self) -> Result<(), ConnectorError> {
        std::fs::metadata(&self.path).map(|_| ()).map_err(|e| {
            self.fatal(format!(
                "export {} cannot be read: {e}",
                self.path.display()
            ))
        })
    }
}

/// A work item for the change in `wording`'s words, or a permanent refusal (a delete).
pub fn raise(
    system: &str,
    wording: &dyn Wording,
    person: &Person,
    change: &Change,
) -> Result<Applied, ConnectorError> {
    wording
        .instruction(person, change)
        .map(|text| Applied::WorkItem { text })
        .map_err(|detail| ConnectorError::Permanent {
            system: system.to_string(),
            change: change.action.to_string(),
            detail,
        })
}

/// An export is used only whole: a row that cannot be read could be someone's account,
/// and planning without it would raise a create (or miss a leaver). The error lists the
/// first bad rows by file and line.
pub fn whole(errors: &crate::feed::RowErrors, rows: u64) -> Result<(), String> {
    if errors.bad_rows == 0 {
        return Ok(());
    }
    let listed: Vec<String> = errors
        .listed
        .iter()
        .take(5)
        .map(ToString::to_string)
        .collect();
    Err(format!(
        "{} of {rows} rows of the export cannot be read, so it is not used (a missing row would read as a missing account): {}{}; fix them or export again",
        errors.bad_rows,
        listed.join("; "),
        if errors.bad_rows > 5 { "; …" } else { "" }
    ))
}

/// What every system read from an export can do: every change is a work item for its
/// administrator; accounts are never deleted or moved by a work item.
pub const CAPABILITIES: super::Capabilities = super::Capabilities {
    delete: false,
    move_accounts: false,
    groups: true,
    attributes: false,
    last_logon: true,
    batch: false,
    work_items: true,
};

impl Connector for Manual {
    fn system(&self) -> &str {
        &self.system
    }

    fn capabilities(&self) -> super::Capabilities {
        CAPABILITIES
    }

    fn read_accounts(&self) -> BoxFuture<'_, Result<Vec<Account>, ConnectorError>> {
        Box::pin(async move { self.read_export() })
    }

    fn apply<'a>(
        &'a self,
        person: &'a Person,
        change: &'a Change,
    ) -> BoxFuture<'a, Result<Applied, ConnectorError>> {
        Box::pin(async move { self.raise(person, change) })
    }

    fn health(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async move { self.check_export() })
    }
}
