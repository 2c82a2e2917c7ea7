//! Changes a person decided — the removals of an access review — applied the one way every
//! change is: through the mass-change guard (over its limit they are held as a plan for
//! `turnstile approve`, like any other) and only to a target that takes changes now.
//! Nothing here checks whether the person may decide them: the caller has checked each
//! against what was put in front of them.

use super::apply::{self, ApplyError, Tally};
use super::held::{self, Verdict};
use super::targets::Target;
use crate::account::Account;
use crate::config::GuardConfig;
use crate::plan::{Action, Change};
use crate::store::{Store, StoreError};
use jiff::Timestamp;
use std::collections::BTreeMap;

/// The rule a decided removal carries in the trail and in a held plan.
pub const RULE: &str = "access-review";

/// What applying decided changes did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub tally: Tally,
    /// Systems whose removals were held by the guard: (system, plan id, people).
    pub held: Vec<(String, u64, usize)>,
    /// Removals on systems with no target configured here: left in the trail as decided.
    pub not_here: BTreeMap<String, usize>,
    /// Systems that could not take changes now (quarantined, unreachable), with why.
    pub away: Vec<(String, String)>,
}

/// Whether a decided change still has something to do on the accounts read now: the
/// account still holds the entitlement (a revoke) or is still enabled (a disable).
pub fn still_applies(change: &Change, accounts: &[Account]) -> bool {
    let Some(account) = accounts.iter().find(|a| {
        change
            .account
            .as_deref()
            .is_some_and(|id| a.id.eq_ignore_ascii_case(id))
    }) else {
        return false;
    };
    match &change.action {
        Action::Revoke { entitlement } => account.entitlements.contains(entitlement),
        Action::Disable => account.enabled,
        _ => true,
    }
}

/// Applies `changes` (per person) through the guard and each target's state.
pub async fn apply(
    store: &mut dyn Store,
    targets: &mut [Target],
    guard: &GuardConfig,
    changes: &BTreeMap<String, Vec<Change>>,
    now: Timestamp,
    actor: &str,
) -> Result<Outcome, StoreError> {
    let mut out = Outcome::default();
    let mut by_system: BTreeMap<&str, Vec<(&str, Vec<Change>)>> = BTreeMap::new();
    for (number, mine) in changes {
        let mut per: BTreeMap<&str, Vec<Change>> = BTreeMap::new();
        for c in mine {
            per.entry(c.system.as_str()).or_default().push(c.clone());
        }
        for (system, c) in per {
            by_system
                .entry(system)
                .or_default()
                .push((number.as_str(), c));
        }
    }
    for (system, people) in by_system {
        let Some(target) = targets.iter_mut().find(|t| t.system() == system) else {
            *out.not_here.entry(system.to_string()).or_default() +=
                people.iter().map(|(_, c)| c.len()).sum::<usize>();
            continue;
        };
        let losing: Vec<(&str, &[Change])> =
            people.iter().map(|(n, c)| (*n, c.as_slice())).collect();
        match held::judge(store, guard, system, &losing, now, actor)? {
            Verdict::Go => {}
            Verdict::Held(plan) => {
                out.held.push((system.to_string(), plan.id, people.len()));
                continue;
            }
            Verdict::Waiting(id) => {
                out.held.push((system.to_string(), id, people.len()));
                continue;
            }
        }
        if let Err(reason) = target.ready(now).await {
            out.away.push((system.to_string(), reason));
            continue;
        }
        for (number, changes) in &people {
            let Some(stored) = store.person(number)? else {
                continue;
            };
            match apply::apply_person(
                target.connector.as_ref(),
                store,
                &stored.event.person,
                changes,
                apply::By {
                    at: now,
                    actor,
                    event_id: None,
                    due_days: target.due_days,
                },
            )
            .await
            {
                Ok(t) => out.tally += t,
                Err(ApplyError::Target(e)) => {
                    target.failed(&e, now);
                    out.away.push((system.to_string(), e.to_string()));
                    break;
                }
                Err(ApplyError::Store(e)) => return Err(e),
            }
        }
    }
    Ok(out)
}
