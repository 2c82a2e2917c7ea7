//! A "manual" system with no API (EMIS Web, SystmOne, NHSmail bulk upload): its accounts
//! are read from the user-list export an administrator saves, and each change becomes a
//! work item for that administrator; the next export shows whether it was done.

use super::{Applied, BoxFuture, Connector, ConnectorError};
use crate::account::Account;
use crate::feed::export::{self, ExportColumns};
use crate::hr::Person;
use crate::plan::{Action, Change};
use serde::Deserialize;
use std::path::PathBuf;

pub struct ExportFile {
    pub system: String,
    pub path: PathBuf,
    pub columns: ExportColumns,
    pub limits: crate::feed::Limits,
}

/// `[targets.<system>] type = "export_file"`: the export to read, and its column renames.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportFileConfig {
    path: PathBuf,
    #[serde(default)]
    columns: ExportColumns,
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
    let c: ExportFileConfig = super::settings(ctx.system, settings)?;
    Ok(Box::new(ExportFile {
        system: ctx.system.to_string(),
        path: c.path,
        columns: c.columns,
        limits: ctx.limits.clone(),
    }))
}

impl ExportFile {
    /// The work-item text an administrator acts on.
    pub fn work_item(&self, person: &Person, change: &Change) -> String {
        let account = change.account.as_deref().unwrap_or("(new account)");
        let what = match &change.action {
            Action::Create => "create an account (disabled until told otherwise)".to_string(),
            Action::Enable => "enable the account".to_string(),
            Action::Disable => "disable the account (do not delete it)".to_string(),
            Action::Grant { entitlement } => format!("add the role {entitlement}"),
            Action::Revoke { entitlement } => format!("remove the role {entitlement}"),
            Action::Move { container } => format!("move the account to {container}"),
            Action::Update { attribute, value } => format!("set {attribute} to \"{value}\""),
            Action::Delete => "delete the account".to_string(),
        };
        format!(
            "{}: for {} (employee {}), account {account}: {what}. Reason: {} [rule {}]",
            self.system,
            person.display_name(),
            person.employee_number,
            change.reason,
            change.rule
        )
    }
}

impl Connector for ExportFile {
    fn system(&self) -> &str {
        &self.system
    }

    fn capabilities(&self) -> super::Capabilities {
        // Every change is a work item for the system's administrator; accounts are never
        // deleted or moved by a work item.
        super::Capabilities {
            delete: false,
            move_accounts: false,
            groups: true,
            attributes: false,
            last_logon: true,
            batch: false,
            work_items: true,
        }
    }

    fn read_accounts(&self) -> BoxFuture<'_, Result<Vec<Account>, ConnectorError>> {
        Box::pin(async move {
            let tz = crate::clock::london();
            let fatal = |detail: String| ConnectorError::Fatal {
                system: self.system.clone(),
                detail,
            };
            let read = export::read(&self.system, &self.path, &self.columns, &tz, &self.limits)
                .map_err(|e| fatal(e.to_string()))?;
            // A broken export must never read as "these people have no account here".
            read.errors
                .check_share(
                    &self.path.display().to_string(),
                    read.rows,
                    self.limits.max_bad_row_share,
                )
                .map_err(|e| fatal(e.to_string()))?;
            Ok(read.accounts)
        })
    }

    fn apply<'a>(
        &'a self,
        person: &'a Person,
        change: &'a Change,
    ) -> BoxFuture<'a, Result<Applied, ConnectorError>> {
        Box::pin(async move {
            Ok(Applied::WorkItem {
                text: self.work_item(person, change),
            })
        })
    }

    fn health(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async move {
            std::fs::metadata(&self.path)
                .map(|_| ())
                .map_err(|e| ConnectorError::Fatal {
                    system: self.system.clone(),
                    detail: format!("export {} cannot be read: {e}", self.path.display()),
                })
        })
    }
}
