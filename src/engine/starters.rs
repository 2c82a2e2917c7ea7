//! Starters who will not start: withdrawn in TRAC (its report's `Status` says
//! "Withdrawn"), or still not listed by ESR `[feeds] trac_unconfirmed_days` after their
//! start date. Their provisional record becomes a leaver's — so the accounts prepared for
//! them lose what they were given, as any leaver's — and the hiring manager is told once
//! (`starter.withdrawn` in the trail).

use crate::audit::{Action as AuditAction, Draft, Outcome as AuditOutcome};
use crate::hr::{AssignmentStatus, EventKind, Lifecycle, Person, Source};
use crate::policy::RoleModel;
use crate::store::{Store, StoreError};
use jiff::civil::Date;
use std::collections::BTreeMap;

/// Records as leavers the provisional starters still not on ESR `days` after their start
/// date. Returns how many.
pub fn expire(
    store: &mut dyn Store,
    model: &RoleModel,
    today: Date,
    days: u32,
    actor: &str,
) -> Result<usize, StoreError> {
    let now = crate::now();
    let mut n = 0;
    for person in store.provisional_starters()? {
        if person.lifecycle(today) == Lifecycle::Ended {
            continue;
        }
        let Some(start) = person.first_day() else {
            continue;
        };
        if crate::clock::add_days(start, i64::from(days)).is_none_or(|d| today <= d) {
            continue;
        }
        let mut ended = person.clone();
        for a in &mut ended.assignments {
            a.status = AssignmentStatus::TerminateAssignment;
            a.end_date = None;
        }
        // Newer than the record it ends, whatever the clocks said when that was taken.
        let held_at = store
            .person(person.employee_number.as_str())?
            .map(|p| p.event.occurred_at.0);
        let at = match held_at {
            Some(t) if t >= now => t
                .checked_add(jiff::SignedDuration::from_secs(1))
                .unwrap_or(t),
            _ => now,
        };
        let Ok(event) = super::ingest::file_event(Source::Trac, ended, at, EventKind::Leaver)
        else {
            continue;
        };
        super::ingest::record(store, model, &event, &[], today, actor)?;
        tracing::info!(starter = %person.employee_number, %start, "TRAC starter not on ESR after the grace period: taken as not starting");
        n += 1;
    }
    Ok(n)
}

/// A starter whose hiring manager is to be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotStarting {
    pub provisional: String,
    pub name: String,
    pub start: Option<Date>,
    /// The hiring manager's work email; `None`: the fallback.
    pub to: Option<String>,
}

/// The provisional starters that will not start and whose manager has not been told.
pub fn to_tell(
    store: &dyn Store,
    people: &[Person],
    today: Date,
) -> Result<Vec<NotStarting>, StoreError> {
    let by_number: BTreeMap<&str, &Person> = people
        .iter()
        .map(|p| (p.employee_number.as_str(), p))
        .collect();
    let mut out = Vec::new();
    for s in store.provisional_starters()? {
        if s.lifecycle(today) != Lifecycle::Ended {
            continue;
        }
        if super::notices::told(
            store,
            s.employee_number.as_str(),
            AuditAction::StarterWithdrawn,
            None,
        )? {
            continue;
        }
        out.push(NotStarting {
            provisional: s.employee_number.to_string(),
            name: s.display_name(),
            start: s.first_day(),
            to: super::notices::manager_email(&s, &by_number),
        });
    }
    Ok(out)
}

/// One starter's line of the hiring manager's email.
pub fn line(s: &NotStarting) -> String {
    format!(
        "{} ({}), due to start {}\n",
        s.name,
        s.provisional,
        s.start
            .map(crate::clock::uk_date)
            .unwrap_or_else(|| "on an unknown date".into())
    )
}

/// The hiring manager's email.
pub fn digest(list: &[&NotStarting]) -> super::work::Mail {
    let mut body = String::from(
        "These starters announced by TRAC will not start (withdrawn, or not on the Electronic\n\
         Staff Record two weeks after their start date), so the access prepared for them is\n\
         being removed:\n",
    );
    for s in list {
        body.push('\n');
        body.push_str(&line(s));
    }
    body.push_str(
        "\nIf one of them is starting after all, ask HR to add them to ESR: their access is\n\
         set up again from their ESR record.\n",
    );
    super::work::Mail {
        subject: format!(
            "[Turnstile] {} starter{} not starting: prepared access removed",
            list.len(),
            if list.len() == 1 { "" } else { "s" }
        ),
        body,
    }
}

/// The hiring managers' notices.
pub const KIND: super::notices::Kind<NotStarting> = super::notices::Kind {
    name: "starter",
    to: |s| s.to.clone(),
    line,
    mail: digest,
};

/// Tells each hiring manager once; records `starter.withdrawn` for each told.
pub async fn tell(
    store: &mut dyn Store,
    sender: Option<&super::work::Sender>,
    list: &[NotStarting],
    at: jiff::Timestamp,
    actor: &str,
) -> Result<super::notices::Sent, StoreError> {
    super::notices::send(sender, &KIND, list, |group, _| {
        store
            .append_audit(
                group
                    .iter()
                    .map(|s| Draft {
                        at,
                        actor: actor.to_string(),
                        employee_number: Some(s.provisional.clone()),
                        system: None,
                        account: None,
                        action: AuditAction::StarterWithdrawn.to_string(),
                        outcome: AuditOutcome::Recorded.to_string(),
                        rule: Some("starter".into()),
                        event_id: None,
                        reason:
                            "will not start: prepared access removed; the hiring manager was told"
                                .into(),
                    })
                    .collect(),
            )
            .map(|_| ())
    })
    .await
}
