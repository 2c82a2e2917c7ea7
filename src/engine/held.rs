//! The mass-change guard for the changes the daemon applies by itself (CONTRACT §5), and a
//! person's decision on what it held.
//!
//! In any window of `[guard] window_secs`, the accounts of one system that lose access
//! (disable, revoke, delete) may not exceed `max_removals` nor `max_removal_share` of the
//! accounts the system held at its last full read (a window of `min_removals` or fewer is
//! never held). The accounts already changed in the
//! window count, so a burst cannot slip through in small passes. Past the limit, every
//! change of the people losing access on that system in that pass is stored as a *held
//! plan*; their other systems go ahead. While a plan for a system is undecided, anyone
//! else who would lose access there waits behind it (never applied, never merged into a
//! plan someone may already be reading), and reconciliation leaves them alone.
//!
//! `turnstile approve ID --as NAME` applies exactly the held changes that are still
//! needed (each re-checked against what the target holds now, so an event that arrived
//! since — a rehire, a corrected record — is never undone), under the approver's name.
//! `turnstile reject ID --as NAME --reason …` applies none of them. Either way the
//! decision, who made it and when are in the audit trail, and the people held are looked
//! at afresh.

use super::apply::{self, ApplyError, Tally};
use super::targets::Target;
use crate::audit::{Action as AuditAction, Draft, Outcome as AuditOutcome};
use crate::config::{GuardConfig, Limits};
use crate::plan::{self, Change};
use crate::policy::RoleModel;
use crate::schedule;
use crate::store::{HeldPlan, HeldStatus, Store, StoreError};
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;

/// Why a window is over the guard's limit, or `None` when it is within it: `taken` accounts
/// losing access in the window (those already changed plus those about to be), out of
/// `accounts` on the system.
pub fn over_limit(system: &str, taken: usize, accounts: usize, l: Limits) -> Option<String> {
    let window = describe_window(l.window_secs);
    if taken as u64 <= l.min_removals {
        return None;
    }
    if taken as u64 > l.max_removals {
        return Some(format!(
            "{taken} account(s) of {system} would lose access within {window}, over [guard] max_removals {}",
            l.max_removals
        ));
    }
    if accounts > 0 && taken as f64 > l.max_removal_share * accounts as f64 {
        return Some(format!(
            "{taken} of {accounts} account(s) of {system} ({:.1}%) would lose access within {window}, over [guard] max_removal_share {:.1}%",
            taken as f64 * 100.0 / accounts as f64,
            l.max_removal_share * 100.0
        ));
    }
    None
}

/// Why creating `made` accounts in a window (those already made plus those about to be)
/// is over the guard's limit for creates, or `None` when it is within it; `accounts` is
/// how many the system held when read.
pub fn over_create_limit(system: &str, made: usize, accounts: usize, l: Limits) -> Option<String> {
    let window = describe_window(l.window_secs);
    if made as u64 <= l.min_creates {
        return None;
    }
    if made as u64 > l.max_creates {
        return Some(format!(
            "{made} account(s) would be created on {system} within {window}, over [guard] max_creates {}",
            l.max_creates
        ));
    }
    if accounts > 0 && made as f64 > l.max_create_share * accounts as f64 {
        return Some(format!(
            "{made} account(s) would be created on {system} within {window}, {:.1}% of the {accounts} it holds, over [guard] max_create_share {:.1}%",
            made as f64 * 100.0 / accounts as f64,
            l.max_create_share * 100.0
        ));
    }
    None
}

/// Judges the creates a reconciliation would make on `system` (`creating`: each person's
/// changes there), holding them as a plan when over the limit for creates: a directory
/// that was never correlated cannot get a second account for everyone in one run.
pub fn judge_creates(
    store: &mut dyn Store,
    guard: &GuardConfig,
    system: &str,
    creating: &[(&str, &[Change])],
    accounts_read: usize,
    now: Timestamp,
    actor: &str,
) -> Result<Verdict, StoreError> {
    if creating.is_empty() {
        return Ok(Verdict::Go);
    }
    let window_start = window_start(guard, now);
    let made = store.created_since(system, window_start)? + creating.len();
    let Some(reason) = over_create_limit(system, made, accounts_read, guard.limits(system)) else {
        return Ok(Verdict::Go);
    };
    store_plan(store, system, &reason, creating, now, actor)
}

/// Where the guard's window that ends `now` begins.
fn window_start(guard: &GuardConfig, now: Timestamp) -> Timestamp {
    now.checked_sub(SignedDuration::from_secs(guard.window_secs as i64))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

fn describe_window(secs: u64) -> String {
    match secs {
        s if s % 3600 == 0 => format!("{} hour(s)", s / 3600),
        s if s % 60 == 0 => format!("{} minute(s)", s / 60),
        s => format!("{s} s"),
    }
}

/// Accounts that `changes` take access from (disable, revoke or delete), counted once each.
pub fn accounts_losing_access(changes: &[&Change]) -> usize {
    changes
        .iter()
        .filter(|c| c.action.takes_access())
        .filter_map(|c| c.account.as_deref().map(|a| (c.system.as_str(), a)))
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// What the guard decided for one system in one pass.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit: apply.
    Go,
    /// Over the limit: held as this new plan.
    Held(HeldPlan),
    /// A plan for this system is undecided: these people wait behind it.
    Waiting(u64),
}

/// Judges the changes that would take access away on `system` in this pass
/// (`losing`: each person's changes there), holding them when over the limit.
pub fn judge(
    store: &mut dyn Store,
    guard: &GuardConfig,
    system: &str,
    losing: &[(&str, &[Change])],
    now: Timestamp,
    actor: &str,
) -> Result<Verdict, StoreError> {
    if losing.is_empty() {
        return Ok(Verdict::Go);
    }
    if let Some(waiting) = behind_open_plan(store, system, losing)? {
        return Ok(waiting);
    }
    let all: Vec<&Change> = losing.iter().flat_map(|(_, c)| c.iter()).collect();
    let window_start = window_start(guard, now);
    let taken = store.access_taken_since(system, window_start)? + accounts_losing_access(&all);
    let accounts = store.account_count(system)?;
    let Some(reason) = over_limit(system, taken, accounts, guard.limits(system)) else {
        return Ok(Verdict::Go);
    };
    store_plan(store, system, &reason, losing, now, actor)
}

/// When a plan for `system` is undecided, the people in `losing` wait behind it.
fn behind_open_plan(
    store: &mut dyn Store,
    system: &str,
    losing: &[(&str, &[Change])],
) -> Result<Option<Verdict>, StoreError> {
    let Some(open) = store
        .held_plans(Some(HeldStatus::Held))?
        .into_iter()
        .find(|p| p.system == system)
    else {
        return Ok(None);
    };
    let people: Vec<String> = losing.iter().map(|(e, _)| e.to_string()).collect();
    store.wait_behind(open.id, &people)?;
    Ok(Some(Verdict::Waiting(open.id)))
}

/// Holds the changes of the people in `losing` as a plan for `reason` (or, when a plan
/// for the system is undecided, has them wait behind it): what a guard that tripped does.
pub fn hold(
    store: &mut dyn Store,
    system: &str,
    reason: &str,
    losing: &[(&str, &[Change])],
    now: Timestamp,
    actor: &str,
) -> Result<Verdict, StoreError> {
    if losing.is_empty() {
        return Ok(Verdict::Go);
    }
    if let Some(waiting) = behind_open_plan(store, system, losing)? {
        return Ok(waiting);
    }
    store_plan(store, system, reason, losing, now, actor)
}

/// Stores `losing`'s changes as a new held plan for `reason` (no plan for the system is
/// undecided: the caller has looked).
fn store_plan(
    store: &mut dyn Store,
    system: &str,
    reason: &str,
    losing: &[(&str, &[Change])],
    now: Timestamp,
    actor: &str,
) -> Result<Verdict, StoreError> {
    let people: Vec<String> = losing.iter().map(|(e, _)| e.to_string()).collect();
    let changes: Vec<Change> = losing.iter().flat_map(|(_, c)| c.iter().cloned()).collect();
    let plan = store.hold_plan(
        system,
        reason,
        &changes,
        Draft {
            at: now,
            actor: actor.to_string(),
            employee_number: None,
            system: Some(system.to_string()),
            account: None,
            action: AuditAction::PlanHeld.to_string(),
            outcome: AuditOutcome::Held.to_string(),
            rule: None,
            event_id: None,
            reason: format!(
                "{reason}: {} change(s) for {} person(s) wait for `turnstile approve` or `turnstile reject`",
                changes.len(),
                people.len()
            ),
        },
    )?;
    tracing::error!(
        plan = %plan.reference(),
        system,
        people = plan.people,
        "{reason}: held; see `turnstile held {}` and approve or reject it",
        plan.id
    );
    Ok(Verdict::Held(plan))
}

#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "held plan HP-{id:06} is for `{system}`, and no [targets.{system}] is configured here: approve it where that target is configured"
    )]
    NoTarget { id: u64, system: String },
    #[error(
        "held plan HP-{id:06}: {system} cannot be changed now ({reason}); nothing more was applied and the plan is still held: approve it again once the target answers"
    )]
    Target {
        id: u64,
        system: String,
        reason: String,
    },
}

/// What an approval did.
#[derive(Debug)]
pub struct Approved {
    pub plan: HeldPlan,
    pub tally: Tally,
    /// Held changes no longer needed when approved (the target or the HR record changed
    /// since): not applied.
    pub no_longer_needed: usize,
}

/// A held plan's changes, grouped by person in their planned order.
fn by_person(changes: Vec<Change>) -> BTreeMap<String, Vec<Change>> {
    let mut out: BTreeMap<String, Vec<Change>> = BTreeMap::new();
    for c in changes {
        out.entry(c.employee_number.clone()).or_default().push(c);
    }
    out
}

/// The plan, if it exists and is still held.
fn held(store: &dyn Store, id: u64) -> Result<(HeldPlan, Vec<Change>), StoreError> {
    let (plan, changes) = store
        .held_plan(id)?
        .ok_or(StoreError::Refused(crate::store::Refusal::NoSuchPlan(id)))?;
    Ok((plan.undecided()?, changes))
}

/// Applies a held plan under `by`'s name: each held change that the target still needs
/// (planned again from what it holds now), in order, audited; then records the approval
/// and lets the people held be looked at afresh. A target that fails as a whole leaves
/// the plan held, so approving again finishes it (what was applied is no longer planned).
pub async fn approve(
    model: &RoleModel,
    store: &mut dyn Store,
    targets: &mut [Target],
    id: u64,
    by: &str,
    now: Timestamp,
) -> Result<Approved, DecideError> {
    let (plan, changes) = held(store, id)?;
    let target = targets
        .iter_mut()
        .find(|t| t.system() == plan.system)
        .ok_or_else(|| DecideError::NoTarget {
            id,
            system: plan.system.clone(),
        })?;
    let target_error = |reason: String| DecideError::Target {
        id,
        system: plan.system.clone(),
        reason,
    };
    target.ready(now).await.map_err(target_error)?;
    let today = crate::clock::today(now);
    let abilities = target.connector.capabilities().abilities();
    let mut tally = Tally::default();
    let mut no_longer_needed = 0;
    let mut release = Vec::new();
    for (employee_number, held_changes) in by_person(changes) {
        release.push((employee_number.clone(), Some(now)));
        let Some(stored) = store.person(&employee_number)? else {
            no_longer_needed += held_changes.len();
            continue;
        };
        let person = stored.event.person;
        let accounts = match target.connector.read_person(&employee_number).await {
            Ok(a) => a,
            Err(e) => {
                target.failed(&e, now);
                return Err(target_error(e.to_string()));
            }
        };
        let mine: Vec<&crate::account::Account> = accounts.iter().collect();
        let fresh = plan::plan_for_target(model, &person, &mine, today, &plan.system, &abilities);
        // A person's decision (an access review removal) is still needed while the account
        // still has what was decided away; anything else, while today's plan still asks
        // for it.
        let (still, gone): (Vec<Change>, Vec<Change>) = held_changes.into_iter().partition(|c| {
            if c.rule == super::decided::RULE {
                super::decided::still_applies(c, &accounts)
            } else {
                fresh.iter().any(|f| same_change(f, c))
            }
        });
        no_longer_needed += gone.len();
        if still.is_empty() {
            continue;
        }
        let event_id = stored.event.event_id.as_str().to_string();
        match apply::apply_person(
            target.connector.as_ref(),
            store,
            &person,
            &still,
            apply::By {
                at: now,
                actor: by,
                event_id: Some(event_id.as_str()),
                due_days: target.due_days,
            },
        )
        .await
        {
            Ok(t) => tally += t,
            Err(ApplyError::Target(e)) => {
                target.failed(&e, now);
                return Err(target_error(e.to_string()));
            }
            Err(ApplyError::Store(e)) => return Err(e.into()),
        }
    }
    let draft = Draft {
        at: now,
        actor: by.to_string(),
        employee_number: None,
        system: Some(plan.system.clone()),
        account: None,
        action: AuditAction::PlanApproved.to_string(),
        outcome: AuditOutcome::Approved.to_string(),
        rule: None,
        event_id: None,
        reason: format!(
            "{} approved by {by}: {} change(s) applied, {} failed, {} no longer needed",
            plan.reference(),
            tally.applied + tally.work_items,
            tally.failed,
            no_longer_needed
        ),
    };
    let plan = store.decide_held_plan(
        id,
        HeldStatus::Approved,
        by,
        now,
        None,
        &release,
        vec![draft],
    )?;
    Ok(Approved {
        plan,
        tally,
        no_longer_needed,
    })
}

/// Rejects a held plan: none of its changes is applied. The people in it are next looked
/// at on their next checkpoint day (or a new HR record); anyone who waited behind it is
/// looked at afresh at once.
pub fn reject(
    model: &RoleModel,
    store: &mut dyn Store,
    id: u64,
    by: &str,
    reason: &str,
    now: Timestamp,
) -> Result<HeldPlan, DecideError> {
    let (plan, changes) = held(store, id)?;
    let today = crate::clock::today(now);
    let mut release = Vec::new();
    for employee_number in by_person(changes).into_keys() {
        let next = store
            .person(&employee_number)?
            .and_then(|p| schedule::next_due(&p.event.person, model, today))
            .and_then(schedule::due_at);
        release.push((employee_number, next));
    }
    let draft = Draft {
        at: now,
        actor: by.to_string(),
        employee_number: None,
        system: Some(plan.system.clone()),
        account: None,
        action: AuditAction::PlanRejected.to_string(),
        outcome: AuditOutcome::Rejected.to_string(),
        rule: None,
        event_id: None,
        reason: format!(
            "{} rejected by {by}: {reason}; none of its {} change(s) was applied",
            plan.reference(),
            plan.changes
        ),
    };
    Ok(store.decide_held_plan(
        id,
        HeldStatus::Rejected,
        by,
        now,
        Some(reason),
        &release,
        vec![draft],
    )?)
}

/// The same change on the same account (its reason may read differently today).
fn same_change(a: &Change, b: &Change) -> bool {
    a.system == b.system
        && a.employee_number == b.employee_number
        && a.account == b.account
        && a.action == b.action
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_whichever_is_hit_first() {
        let limits = Limits {
            window_secs: 3600,
            min_removals: 10,
            max_removals: 50,
            max_removal_share: 0.05,
            min_creates: 10,
            max_creates: 50,
            max_create_share: 0.05,
        };
        assert_eq!(over_limit("ad", 50, 10_000, limits), None);
        let by_count = over_limit("ad", 51, 10_000, limits).unwrap();
        assert!(by_count.contains("51 account(s) of ad"), "{by_count}");
        assert!(by_count.contains("max_removals 50"), "{by_count}");
        assert!(by_count.contains("1 hour(s)"), "{by_count}");
        assert_eq!(over_limit("ad", 12, 240, limits), None);
        let by_share = over_limit("ad", 13, 240, limits).unwrap();
        assert!(by_share.contains("13 of 240"), "{by_share}");
        assert!(by_share.contains("5.4%"), "{by_share}");
        // A few leavers on a small system are not a mass change.
        assert_eq!(over_limit("ad", 10, 20, limits), None);
        assert!(over_limit("ad", 11, 20, limits).is_some());
        // A system never read yet has no share to judge by: the count still holds.
        assert_eq!(over_limit("ad", 40, 0, limits), None);
        let strict = Limits {
            min_removals: 0,
            max_removals: 0,
            ..limits
        };
        assert!(over_limit("ad", 0, 0, strict).is_none());
        assert!(over_limit("ad", 1, 0, strict).is_some());
    }

    #[test]
    fn creates_are_held_over_their_own_limits() {
        let limits = GuardConfig::default().limits("ad");
        assert_eq!(over_create_limit("ad", 10, 0, limits), None);
        assert_eq!(over_create_limit("ad", 50, 0, limits), None);
        let by_count = over_create_limit("ad", 51, 0, limits).unwrap();
        assert!(
            by_count.contains("51 account(s) would be created on ad"),
            "{by_count}"
        );
        assert!(by_count.contains("max_creates 50"), "{by_count}");
        assert_eq!(over_create_limit("ad", 12, 240, limits), None);
        let by_share = over_create_limit("ad", 13, 240, limits).unwrap();
        assert!(by_share.contains("5.4% of the 240"), "{by_share}");
    }

    #[test]
    fn accounts_are_counted_once_whatever_they_lose() {
        let change = |account: &str, action| Change {
            system: "ad".into(),
            employee_number: "1".into(),
            account: Some(account.into()),
            action,
            rule: "leaver".into(),
            reason: String::new(),
        };
        let changes = [
            change("a", plan::Action::Disable),
            change(
                "a",
                plan::Action::Revoke {
                    entitlement: "GG".into(),
                },
            ),
            change(
                "b",
                plan::Action::Revoke {
                    entitlement: "GG".into(),
                },
            ),
            change(
                "c",
                plan::Action::Grant {
                    entitlement: "GG".into(),
                },
            ),
        ];
        let refs: Vec<&Change> = changes.iter().collect();
        assert_eq!(accounts_losing_access(&refs), 2);
    }
}
