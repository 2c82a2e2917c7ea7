//! Bringing people's access in line by themselves: the work the store holds as pending
//! (a person whose HR record changed, or whose next checkpoint day has begun) is applied to
//! every target, from what each target holds now, so applying twice is harmless. Work
//! that fails is tried again with growing gaps; work for a quarantined target waits.

use super::apply::{self, ApplyError};
use super::targets::Target;
use crate::plan;
use crate::policy::RoleModel;
use crate::schedule;
use crate::store::{Pending, Store, StoreError};
use jiff::{SignedDuration, Timestamp};

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DueReport {
    /// People brought in line (and rescheduled for their next checkpoint, if any).
    pub settled: usize,
    /// People whose work failed on some target and waits for another try.
    pub waiting: usize,
    pub tally: apply::Tally,
}

/// Failed attempts before the work is left to the next reconciliation (each attempt and
/// its failure are in the trail).
pub const MAX_ATTEMPTS: u32 = 8;

/// The gap after `attempts` failed tries: 5 s, doubling, at most 10 minutes.
pub fn retry_gap(attempts: u32) -> SignedDuration {
    let gap = crate::retry::gap(
        std::time::Duration::from_secs(5),
        std::time::Duration::from_secs(600),
        attempts,
    );
    SignedDuration::try_from(gap).unwrap_or(SignedDuration::from_secs(600))
}

/// Applies the work due at `now` (up to `limit` people), earliest first.
pub async fn apply_due(
    model: &RoleModel,
    store: &mut dyn Store,
    targets: &mut [Target],
    now: Timestamp,
    limit: usize,
    actor: &str,
) -> Result<DueReport, StoreError> {
    let mut report = DueReport::default();
    for due in store.due_pending(now, limit)? {
        let span = tracing::info_span!("due", person = %due.employee_number);
        let _enter = span.enter();
        match apply_one(model, store, targets, &due, now, actor, &mut report).await? {
            None => report.settled += 1,
            Some(error) => {
                report.waiting += 1;
                if due.attempts + 1 >= MAX_ATTEMPTS {
                    tracing::error!(%error, attempts = due.attempts + 1, "giving up for now; the next reconciliation plans it again");
                    let next = next_checkpoint(model, store, &due.employee_number, now)?;
                    store.settle_pending(&due.employee_number, next)?;
                } else {
                    let next_try = now.saturating_add(retry_gap(due.attempts)).unwrap_or(now);
                    store.retry_pending(&due.employee_number, next_try, &error)?;
                }
            }
        }
    }
    Ok(report)
}

/// The start of the person's next checkpoint day after `now`, if they have one.
fn next_checkpoint(
    model: &RoleModel,
    store: &dyn Store,
    employee_number: &str,
    now: Timestamp,
) -> Result<Option<Timestamp>, StoreError> {
    let today = crate::clock::today(now);
    Ok(store
        .person(employee_number)?
        .and_then(|p| schedule::next_due(&p.event.person, model, today).and_then(schedule::due_at)))
}

/// One person on every target; `Some(error)` when some target could not be brought in
/// line this time.
async fn apply_one(
    model: &RoleModel,
    store: &mut dyn Store,
    targets: &mut [Target],
    due: &Pending,
    now: Timestamp,
    actor: &str,
    report: &mut DueReport,
) -> Result<Option<String>, StoreError> {
    let Some(stored) = store.person(&due.employee_number)? else {
        store.settle_pending(&due.employee_number, None)?;
        return Ok(None);
    };
    let event_id = stored.event.event_id.as_str().to_string();
    let person = stored.event.person;
    let today = crate::clock::today(now);
    let mut problems = Vec::new();
    for target in targets.iter_mut() {
        let system = target.system().to_string();
        if let Err(reason) = target.ready(now).await {
            problems.push(format!("{system} is quarantined: {reason}"));
            continue;
        }
        let accounts = match target
            .connector
            .read_person(person.employee_number.as_str())
            .await
        {
            Ok(a) => a,
            Err(e) => {
                target.failed(&e, now);
                problems.push(e.to_string());
                continue;
            }
        };
        let mine: Vec<&crate::account::Account> = accounts.iter().collect();
        let abilities = target.connector.capabilities().abilities();
        let changes = plan::plan_for_target(model, &person, &mine, today, &system, &abilities);
        if changes.is_empty() {
            continue;
        }
        match apply::apply_person(
            target.connector.as_ref(),
            store,
            &person,
            &changes,
            apply::By {
                at: now,
                actor,
                event_id: Some(event_id.as_str()),
            },
        )
        .await
        {
            Ok(t) => {
                if t.failed > 0 || t.skipped > 0 {
                    problems.push(format!(
                        "{system}: {} change(s) failed, {} skipped (see the audit trail)",
                        t.failed, t.skipped
                    ));
                }
                report.tally += t;
            }
            Err(ApplyError::Target(e)) => {
                target.failed(&e, now);
                problems.push(e.to_string());
            }
            Err(ApplyError::Store(e)) => return Err(e),
        }
    }
    if problems.is_empty() {
        let next = schedule::next_due(&person, model, today).and_then(schedule::due_at);
        store.settle_pending(&due.employee_number, next)?;
        Ok(None)
    } else {
        Ok(Some(problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_ten_minutes() {
        assert_eq!(retry_gap(0).as_secs(), 5);
        assert_eq!(retry_gap(1).as_secs(), 10);
        assert_eq!(retry_gap(6).as_secs(), 320);
        assert_eq!(retry_gap(7).as_secs(), 600);
        assert_eq!(retry_gap(u32::MAX).as_secs(), 600);
    }
}
