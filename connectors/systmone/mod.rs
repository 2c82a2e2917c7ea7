//! SystmOne: no public user API. Staff are set up by hand in Staff & Organisation setup
//! (logon name, smartcard ID, RBAC role, employment profile dates), so Turnstile reads the
//! staff export (columns mapped in config) and raises each change as a work item for the
//! SystmOne administrator. A leaver's employment profile is end-dated, never deleted.

use super::export_file::{Wording, never_deleted, uk_date, who};
use crate::hr::Person;
use crate::plan::{Action, Change};

/// `[targets.<system>] type = "systmone"`: `path` of the staff export and its `columns`.
pub const REGISTRATION: super::Registration = super::Registration {
    kind: "systmone",
    build,
};

fn build(
    settings: toml::Table,
    ctx: &super::BuildContext<'_>,
) -> Result<Box<dyn super::Connector>, String> {
    super::export_file::build_clinical(settings, ctx, Box::new(SystmOne))
}

pub struct SystmOne;

/// "Ms Amara Okafor (ESR 20004567, smartcard 200009876204, logon AOKAFOR)".
fn staff(person: &Person, logon: Option<&str>) -> String {
    let mut out = who(person).trim_end_matches(')').to_string();
    if let Some(card) = &person.sds_user_id {
        out.push_str(&format!(", smartcard {card}"));
    }
    if let Some(logon) = logon {
        out.push_str(&format!(", logon {logon}"));
    }
    out.push(')');
    out
}

impl Wording for SystmOne {
    fn product(&self) -> &str {
        "SystmOne"
    }

    fn instruction(&self, person: &Person, change: &Change) -> Result<String, String> {
        let profile = format!(
            "SystmOne employment profile of {}",
            staff(person, change.account.as_deref())
        );
        Ok(match &change.action {
            Action::Create => format!(
                "Create SystmOne staff member and employment profile for {}{}",
                staff(person, None),
                person
                    .primary()
                    .map(|a| format!(", employment from {}", uk_date(a.start_date.0)))
                    .unwrap_or_default()
            ),
            Action::Enable => format!("Make the {profile} current (not obsolete)"),
            Action::Disable => format!(
                "End-date {profile} on {} — do not delete",
                match (change.rule.as_str(), person.last_working_day()) {
                    ("leaver", Some(d)) => uk_date(d),
                    _ => "today".to_string(),
                }
            ),
            Action::Grant { entitlement } => {
                format!("Add RBAC role {entitlement} to the {profile}")
            }
            Action::Revoke { entitlement } => {
                format!("Remove RBAC role {entitlement} from the {profile}")
            }
            Action::Update { attribute, value } => {
                format!("Change {attribute} on the {profile} to \"{value}\"")
            }
            Action::Move { container } => format!("Move the {profile} to {container}"),
            Action::Delete => return Err(never_deleted("SystmOne")),
        })
    }
}
