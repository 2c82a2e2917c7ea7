//! Recording an HR event: shared by `feed --apply` and the daemon.
//!
//! The event becomes the person's record if it is newer than the one held, and the changes
//! it plans are written to the audit trail in the same transaction. Replays, duplicates
//! and late older events change nothing (see [`crate::store::judge`]).

use crate::account::Account;
use crate::audit::{Action as AuditAction, Draft, Outcome as AuditOutcome};
use crate::hr::{EventKind, HrEvent, NonBlank, Person, Rfc3339, SchemaTag, Source};
use crate::plan::{self, Change};
use crate::policy::RoleModel;
use crate::store::{Encoded, Outcome, Ready, Store, StoreError};
use jiff::Timestamp;
use jiff::civil::Date;

/// A file feed's person as an HR event. The id is made of the source, the extract's time,
/// the employee number and a digest of the record's content: feeding the same extract
/// twice gives the same ids and changes nothing, while a record changed in the file (even
/// with the file's time put back, or the same `--extracted-at`) gets a new id and is
/// never taken for a replay.
pub fn file_event(
    source: Source,
    person: Person,
    extracted_at: Timestamp,
    kind: EventKind,
) -> Result<HrEvent, String> {
    let stamp = extracted_at.strftime("%Y%m%dT%H%M%SZ").to_string();
    let mut event = HrEvent {
        schema: SchemaTag,
        event_id: NonBlank::parse("pending")?,
        source,
        kind,
        occurred_at: Rfc3339(extracted_at),
        sequence: None,
        replaces: None,
        person,
    };
    let digest = event.content_digest();
    event.event_id = NonBlank::parse(&format!(
        "{}-{stamp}-{}-{}",
        source.as_str(),
        event.person.employee_number,
        &digest[..12]
    ))?;
    Ok(event)
}

/// The audit entry an applied event writes: the HR record, with the changes it plans
/// against the person's accounts as last read named in its reason. One entry per event,
/// not one per planned change: a plan is a forecast (the change is planned again from
/// what the target holds when it is made), and each change made is recorded then, with
/// this event's id, its rule and its outcome.
pub fn event_draft(
    event: &HrEvent,
    changes: &[Change],
    at: Timestamp,
    actor: &str,
    today: Date,
    person: &Person,
) -> Draft {
    let mut reason = record_reason(event, person, today);
    planned_changes(changes, &mut reason);
    Draft {
        at,
        actor: actor.to_string(),
        employee_number: Some(person.employee_number.as_str().to_string()),
        system: None,
        account: None,
        action: AuditAction::HrRecord.to_string(),
        outcome: AuditOutcome::Recorded.to_string(),
        rule: None,
        event_id: Some(event.event_id.as_str().to_string()),
        reason,
    }
}

/// Appends `; plans N changes: system action [on account] (rule R), …` to `out`, each
/// change as its own entry would have named it.
fn planned_changes(changes: &[Change], out: &mut String) {
    use std::fmt::Write;
    match changes.len() {
        0 => out.push_str("; plans no change"),
        1 => out.push_str("; plans 1 change: "),
        n => {
            let _ = write!(out, "; plans {n} changes: ");
        }
    }
    for (i, c) in changes.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&c.system);
        out.push(' ');
        c.name_into(out);
    }
}

/// What an HR record says, in words that cannot be misread as a date of leaving: the
/// kind and source, the day it was recorded, and the facts behind the person's standing.
fn record_reason(event: &HrEvent, person: &Person, today: Date) -> String {
    use crate::hr::Lifecycle;
    let standing = match person.lifecycle(today) {
        Lifecycle::Ended => format!(
            "left: last working day {}",
            person
                .last_working_day()
                .map_or_else(|| "unknown".to_string(), |d| d.to_string())
        ),
        Lifecycle::Future => format!(
            "starts on {}",
            person
                .first_day()
                .map_or_else(|| "an unknown day".to_string(), |d| d.to_string())
        ),
        Lifecycle::Active => match person.first_day() {
            Some(d) => format!("in post since {d}"),
            None => "in post".to_string(),
        },
        other => other.as_str().to_string(),
    };
    format!(
        "{} from {}, recorded {today}: {standing}",
        event.kind.as_str(),
        event.source.as_str()
    )
}

/// Records `event` with the changes it plans against `accounts` (the person's accounts
/// as last read), in one transaction.
pub fn record(
    store: &mut dyn Store,
    model: &RoleModel,
    event: &HrEvent,
    accounts: &[&Account],
    today: Date,
    actor: &str,
) -> Result<Outcome, StoreError> {
    let now = crate::now();
    let outcome = store.record_event(event, &mut |_, new| {
        let changes = plan::plan_person_brief(model, new, accounts, today);
        vec![event_draft(event, &changes, now, actor, today, new)]
    })?;
    if matches!(outcome, Outcome::Applied { .. }) {
        link_corrections(store, &[event], actor)?;
    }
    Ok(outcome)
}

/// A correction that moves a person to another employee number (`replaces`) re-links the
/// old number to the new: the old record is retired and its accounts are re-anchored by
/// the next plan. An old number already linked to someone else is a conflict for a
/// person to sort out (`hr.review`), never a guess.
pub fn link_corrections(
    store: &mut dyn Store,
    events: &[&HrEvent],
    actor: &str,
) -> Result<(), StoreError> {
    let now = crate::now();
    for e in events {
        let Some(old) = e.replaces.as_ref().map(|o| o.to_string()) else {
            continue;
        };
        let new = e.person.employee_number.to_string();
        if old == new {
            continue;
        }
        let links = store.starter_links()?;
        let draft = |action: crate::audit::Action, reason: String| crate::audit::Draft {
            at: now,
            actor: actor.to_string(),
            employee_number: Some(new.clone()),
            system: None,
            account: None,
            action: action.to_string(),
            outcome: crate::audit::Outcome::Recorded.to_string(),
            rule: Some("correction".into()),
            event_id: Some(e.event_id.to_string()),
            reason,
        };
        match links.get(&old) {
            Some(linked) if *linked == new => Ok(()),
            Some(other) => store.append_audit(vec![draft(
                crate::audit::Action::HrReview,
                format!(
                    "correction says {new} replaces {old}, but {old} is already linked to {other}: not re-linked, as an account is never linked to two people; check with HR"
                ),
            )])
            .map(|_| ()),
            None if links.contains_key(&new) => store.append_audit(vec![draft(
                crate::audit::Action::HrReview,
                format!(
                    "correction says {new} replaces {old}, but {new} was itself replaced: not re-linked; check with HR"
                ),
            )])
            .map(|_| ()),
            None => store.link_starter(
                &old,
                &new,
                draft(
                    crate::audit::Action::HrLinked,
                    format!(
                        "correction: employee number {old} is now {new}; their accounts are re-linked"
                    ),
                ),
            ),
        }?;
    }
    Ok(())
}

/// What recording one event needs that follows from the event and the person's accounts
/// alone: its digest and stored JSON, and the audit entry it writes if it is applied (its
/// time set when it is). Worked out outside the store's write transaction, so the daemon
/// plans the next batch while the store writes this one.
#[derive(Debug, Clone)]
pub struct Planned {
    encoded: Encoded,
    draft: Draft,
}

/// Plans each of `events` against the accounts of their people as the store last read
/// them (one read for the batch).
pub fn plan_events(
    store: &dyn Store,
    model: &RoleModel,
    events: &[&HrEvent],
    today: Date,
    actor: &str,
) -> Result<Vec<Planned>, StoreError> {
    let numbers: std::collections::BTreeSet<&str> = events
        .iter()
        .map(|e| e.person.employee_number.as_str())
        .collect();
    let accounts = store.accounts_of_people(&numbers.into_iter().collect::<Vec<_>>())?;
    let mut mine: Vec<&Account> = Vec::new();
    events
        .iter()
        .map(|event| {
            mine.clear();
            if let Some(held) = accounts.get(event.person.employee_number.as_str()) {
                mine.extend(held);
            }
            let changes = plan::plan_person_brief(model, &event.person, &mine, today);
            Ok(Planned {
                encoded: Encoded::of(event)?,
                draft: event_draft(
                    event,
                    &changes,
                    Timestamp::UNIX_EPOCH,
                    actor,
                    today,
                    &event.person,
                ),
            })
        })
        .collect()
}

/// Records `events` (planned by [`plan_events`], in the same order) in one transaction,
/// as if each were recorded on its own. One outcome per event.
pub fn record_planned(
    store: &mut dyn Store,
    events: &[&HrEvent],
    planned: &[Planned],
    actor: &str,
) -> Result<Vec<Outcome>, StoreError> {
    if events.len() != planned.len() {
        return Err(StoreError::Corrupt {
            key: "record_planned".into(),
            detail: format!(
                "{} events but {} plans: a bug, nothing was recorded",
                events.len(),
                planned.len()
            ),
        });
    }
    let ready: Vec<Ready<'_>> = events
        .iter()
        .zip(planned)
        .map(|(e, p)| p.encoded.ready(e))
        .collect();
    let now = crate::now();
    let outcomes = store.record_ready(&ready, &mut |i, _, _, _| {
        let mut draft = planned[i].draft.clone();
        draft.at = now;
        vec![draft]
    })?;
    let applied: Vec<&HrEvent> = events
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| matches!(o, Outcome::Applied { .. }))
        .map(|(e, _)| *e)
        .collect();
    link_corrections(store, &applied, actor)?;
    Ok(outcomes)
}

/// A short label for logs, metrics and summaries.
pub fn outcome_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Applied { .. } => "recorded",
        Outcome::Unchanged => "unchanged",
        Outcome::Duplicate => "duplicate",
        Outcome::Stale { .. } => "stale",
    }
}

/// Links each ESR person among `people` that a provisional TRAC starter is (same name,
/// first day and post) to that starter: their prepared accounts become the ESR person's,
/// never a second set. A person two starters could be is flagged for review, not guessed.
/// Returns (provisional, ESR number) for each link made.
pub fn link_starters(
    store: &mut dyn Store,
    people: &[&crate::hr::Person],
    actor: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    use crate::hr::starters::{StarterMatch, is_provisional, match_starter};
    let mut starters = store.provisional_starters()?;
    let mut out = Vec::new();
    if starters.is_empty() {
        return Ok(out);
    }
    let now = crate::now();
    for person in people
        .iter()
        .filter(|p| !is_provisional(p.employee_number.as_str()))
    {
        let refs: Vec<&crate::hr::Person> = starters.iter().collect();
        let number = person.employee_number.to_string();
        let draft = |action: crate::audit::Action, reason: String| crate::audit::Draft {
            at: now,
            actor: actor.to_string(),
            employee_number: Some(number.clone()),
            system: None,
            account: None,
            action: action.to_string(),
            outcome: crate::audit::Outcome::Recorded.to_string(),
            rule: Some("starter-link".into()),
            event_id: None,
            reason,
        };
        match match_starter(person, &refs) {
            StarterMatch::None => {}
            StarterMatch::One(provisional) => {
                store.link_starter(
                    &provisional,
                    &number,
                    draft(
                        crate::audit::Action::HrLinked,
                        format!(
                            "ESR {number} is TRAC starter {provisional} (same name, first day and post): the accounts prepared for {provisional} are theirs"
                        ),
                    ),
                )?;
                tracing::info!(%provisional, employee_number = %number, "TRAC starter linked to ESR");
                starters.retain(|s| s.employee_number.as_str() != provisional);
                out.push((provisional, number));
            }
            StarterMatch::Ambiguous(candidates) => {
                store.append_audit(vec![draft(
                    crate::audit::Action::HrReview,
                    format!(
                        "ESR {number} could be any of the TRAC starters {}: none linked; check with HR which one, as a wrong link gives one person another's access",
                        candidates.join(", ")
                    ),
                )])?;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;

    fn change(system: &str, account: Option<&str>, action: Action, rule: &str) -> Change {
        Change {
            system: system.into(),
            employee_number: "40000001".into(),
            account: account.map(str::to_string),
            action,
            rule: rule.into(),
            reason: "because".into(),
        }
    }

    #[test]
    fn a_records_entry_names_every_planned_change_with_its_rule() {
        let mut none = String::from("joiner");
        planned_changes(&[], &mut none);
        assert_eq!(none, "joiner; plans no change");

        let mut one = String::from("leaver");
        planned_changes(
            &[change("emis", Some("jsmith"), Action::Disable, "leaver")],
            &mut one,
        );
        assert_eq!(
            one,
            "leaver; plans 1 change: emis disable on jsmith (rule leaver)"
        );

        let mut two = String::from("joiner");
        let grant = Action::Grant {
            entitlement: "GG-Nursing".into(),
        };
        planned_changes(
            &[
                change("ad", None, Action::Create, "staff-account"),
                change("ad", None, grant, "registered-nursing"),
            ],
            &mut two,
        );
        assert_eq!(
            two,
            "joiner; plans 2 changes: ad create (rule staff-account), ad grant GG-Nursing (rule registered-nursing)"
        );
    }
}
