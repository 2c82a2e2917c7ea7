//! EMIS Web: no public user API. Users are set up by hand in Organisation Configuration
//! (user, job category, contract start and end, RBAC role profile), so Turnstile reads the
//! user-in-role export (columns mapped in config) and raises each change as a work item for
//! the practice or trust's EMIS administrator. A user is deactivated (contract ended),
//! never deleted: every clinical entry records the user-in-role who made it.

use super::export_file::{Wording, never_deleted, uk_date, who};
use crate::hr::Person;
use crate::plan::{Action, Change};

/// `[targets.<system>] type = "emis"`: `path` of the user export and its `columns`.
pub const REGISTRATION: super::Registration = super::Registration {
    kind: "emis",
    build,
};

fn build(
    settings: toml::Table,
    ctx: &super::BuildContext<'_>,
) -> Result<Box<dyn super::Connector>, String> {
    super::export_file::build_clinical(settings, ctx, Box::new(Emis))
}

pub struct Emis;

impl Wording for Emis {
    fn product(&self) -> &str {
        "EMIS Web"
    }

    fn instruction(&self, person: &Person, change: &Change) -> Result<String, String> {
        let user = change.account.as_deref().map_or_else(
            || "the new EMIS Web user".to_string(),
            |a| format!("EMIS Web user {a}"),
        );
        let role = person
            .primary()
            .and_then(|a| a.job_role.as_deref().or(a.position_title.as_deref()))
            .map(|r| format!(", {r}"))
            .unwrap_or_default();
        Ok(match &change.action {
            Action::Create => {
                let contract = contract(person);
                format!("Create EMIS Web user for {}{role}{contract}", who(person))
            }
            Action::Enable => format!(
                "Activate {user} for {}{}",
                who(person),
                person
                    .first_day()
                    .map(|d| format!(" from {}", uk_date(d)))
                    .unwrap_or_default()
            ),
            Action::Disable => format!(
                "Deactivate {user} of {}: {} — do not delete (clinical entries record the user-in-role)",
                who(person),
                match (change.rule.as_str(), person.last_working_day()) {
                    ("leaver", Some(d)) => format!("end the contract on {}", uk_date(d)),
                    _ => "set the user inactive now".to_string(),
                }
            ),
            Action::Grant { entitlement } => format!(
                "Add RBAC role profile {entitlement} to {user} of {}",
                who(person)
            ),
            Action::Revoke { entitlement } => format!(
                "Remove RBAC role profile {entitlement} from {user} of {}",
                who(person)
            ),
            Action::Update { attribute, value } => format!(
                "Change {attribute} of {user} of {} to \"{value}\"",
                who(person)
            ),
            Action::Move { container } => {
                format!("Move {user} of {} to {container}", who(person))
            }
            Action::Delete => return Err(never_deleted("EMIS Web")),
        })
    }
}

/// ", contract from 01/12/2026[ to 31/03/2027]" from the primary assignment.
pub fn contract(person: &Person) -> String {
    let Some(a) = person.primary() else {
        return String::new();
    };
    let mut out = format!(", contract from {}", uk_date(a.start_date.0));
    if let Some(end) = a.end_date {
        out.push_str(&format!(" to {}", uk_date(end.0)));
    }
    out
}
