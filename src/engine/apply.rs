//! Applying a plan: hands each change to a target's connector, in order, and records what
//! happened in the audit trail: applied, raised as a work item, or failed with the
//! operator's message. A failed change is not retried here. The next reconciliation plans
//! again from what the target really holds, so the same change comes round again until it
//! succeeds, and each attempt is in the trail.
//!
//! A person's entries on one target are written in one transaction once their changes are
//! made (one durable commit per person, not per change). A crash in between leaves those
//! changes made and not yet in the trail as applied; their `planned` entries (written with
//! the HR record) are, and the next pass finds them done.
//!
//! Also the mass-change guard (CONTRACT §5): a run that would disable or remove more than a
//! configured share of a system's accounts stops before acting until a person approves it.

use crate::audit::{Action as AuditAction, Draft, Outcome as AuditOutcome};
use crate::connectors::{Applied, Connector, ConnectorError};
use crate::hr::Person;
use crate::plan::{Action, Change};
use crate::store::{Store, StoreError, WorkItemKey};
use jiff::Timestamp;
use std::collections::BTreeSet;
use tracing::Instrument;

/// What applying one person's changes did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub applied: usize,
    pub work_items: usize,
    pub failed: usize,
    /// Changes not attempted because the account they need could not be created.
    pub skipped: usize,
    /// Changes not raised again because a work item for them is still open.
    pub still_open: usize,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.applied += o.applied;
        self.work_items += o.work_items;
        self.failed += o.failed;
        self.skipped += o.skipped;
        self.still_open += o.still_open;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The target as a whole is unusable: stop changing it.
    #[error("{0}")]
    Target(ConnectorError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who applies, when, and the HR event behind it (when applying follows one).
#[derive(Debug, Clone, Copy)]
pub struct By<'a> {
    pub at: Timestamp,
    pub actor: &'a str,
    pub event_id: Option<&'a str>,
    /// Working days a work item raised now has before it is overdue (the target's).
    pub due_days: u32,
}

fn draft(
    c: &Change,
    account: Option<String>,
    outcome: AuditOutcome,
    reason: String,
    by: By<'_>,
) -> Draft {
    Draft {
        at: by.at,
        actor: by.actor.to_string(),
        employee_number: Some(c.employee_number.clone()),
        system: Some(c.system.clone()),
        account,
        action: AuditAction::Change(c.action.clone()).to_string(),
        outcome: outcome.to_string(),
        rule: Some(c.rule.clone()),
        event_id: by.event_id.map(str::to_string),
        reason,
    }
}

/// What a connector did with one change, before it is written down.
#[derive(Debug)]
pub enum Done {
    Applied {
        account: Option<String>,
    },
    WorkItem {
        text: String,
    },
    Failed(ConnectorError),
    /// Not attempted: the account it needs could not be created.
    Skipped,
    /// A work item for it is still open: not raised again.
    StillOpen,
}

/// The changes among `changes` that have a work item still open (a system with no API).
pub fn open_items(
    store: &dyn Store,
    connector: &dyn Connector,
    changes: &[Change],
) -> Result<BTreeSet<WorkItemKey>, StoreError> {
    let mut open = BTreeSet::new();
    if connector.capabilities().work_items {
        for c in changes {
            let key = WorkItemKey::of(c);
            if store.open_work_item(&key)?.is_some() {
                open.insert(key);
            }
        }
    }
    Ok(open)
}

/// The entry written before one person's changes on one target are made (`apply.started`):
/// each change that will be sent, with its account and rule, so that a run cut short
/// between a change and its own entry still leaves the change in the trail. `None` when
/// nothing will be sent (every change already has an open work item).
pub fn intent(changes: &[Change], open: &BTreeSet<WorkItemKey>, by: By<'_>) -> Option<Draft> {
    let sent: Vec<&Change> = changes
        .iter()
        .filter(|c| !open.contains(&WorkItemKey::of(c)))
        .collect();
    let first = sent.first()?;
    let mut reason = format!("about to make {} change(s): ", sent.len());
    for (i, c) in sent.iter().enumerate() {
        if i > 0 {
            reason.push_str(", ");
        }
        c.name_into(&mut reason);
    }
    reason.push_str("; each is recorded with its outcome once made (one with no entry after this was cut short: the next pass plans it again from what the target holds)");
    Some(Draft {
        at: by.at,
        actor: by.actor.to_string(),
        employee_number: Some(first.employee_number.clone()),
        system: Some(first.system.clone()),
        account: None,
        action: AuditAction::ApplyStarted.to_string(),
        outcome: AuditOutcome::Started.to_string(),
        rule: None,
        event_id: by.event_id.map(str::to_string),
        reason,
    })
}

/// Makes one person's changes on one target, in order, through the connector alone: no
/// store, so several targets can be worked at once. Stops at an error that makes the
/// target unusable (fatal, or still transient after the connector's retries: the rest
/// waits for the target, not tried one by one against a server that is down), and
/// returns it.
pub async fn make_changes(
    connector: &dyn Connector,
    person: &Person,
    changes: &[Change],
    open: &BTreeSet<WorkItemKey>,
) -> (Vec<(Change, Done)>, Option<ConnectorError>) {
    let mut out = Vec::with_capacity(changes.len());
    let mut created: Option<String> = None;
    // A create raised as a work item: the new account's other changes are work items too.
    let mut create_raised = false;
    for c in changes {
        let mut change = c.clone();
        if change.account.is_none() {
            change.account = created.clone();
        }
        if open.contains(&WorkItemKey::of(c)) {
            create_raised |= change.action == Action::Create;
            out.push((change, Done::StillOpen));
            continue;
        }
        // Only a failed create stops the rest: there is no account to change. Any other
        // failure is recorded and the remaining changes still go ahead, so a missing group
        // never keeps a new starter locked out or a leaver enabled.
        if change.account.is_none() && change.action != Action::Create && !create_raised {
            out.push((change, Done::Skipped));
            continue;
        }
        // One span per change, for every connector, around the connector's work.
        let span = tracing::info_span!("change", system = %change.system, person = %change.employee_number, action = %change.action);
        match connector.apply(person, &change).instrument(span).await {
            Ok(Applied::Done { account }) => {
                if let Some(name) = &account {
                    created = Some(name.clone());
                }
                out.push((change, Done::Applied { account }));
            }
            Ok(Applied::WorkItem { text }) => {
                create_raised |= change.action == Action::Create;
                out.push((change, Done::WorkItem { text }));
            }
            Err(e) => {
                let stop = matches!(
                    e,
                    ConnectorError::Fatal { .. } | ConnectorError::Transient { .. }
                )
                .then(|| e.clone());
                out.push((change, Done::Failed(e)));
                if stop.is_some() {
                    return (out, stop);
                }
            }
        }
    }
    (out, None)
}

/// Writes down what [`make_changes`] did, in order: the person's entries in one commit
/// (split only around a work item, which is raised in its own), the tally back.
pub fn record_changes(
    store: &mut dyn Store,
    made: Vec<(Change, Done)>,
    by: By<'_>,
) -> Result<Tally, StoreError> {
    let mut tally = Tally::default();
    let mut drafts: Vec<Draft> = Vec::new();
    for (change, done) in made {
        match done {
            Done::StillOpen => tally.still_open += 1,
            Done::Skipped => {
                tally.skipped += 1;
                drafts.push(draft(
                    &change,
                    None,
                    AuditOutcome::Skipped,
                    "not attempted: the account could not be created; the next reconciliation plans it again".into(),
                    by,
                ));
            }
            Done::Applied { account } => {
                tally.applied += 1;
                drafts.push(draft(
                    &change,
                    account.or(change.account.clone()),
                    AuditOutcome::Applied,
                    change.reason.clone(),
                    by,
                ));
            }
            Done::WorkItem { text } => {
                tally.work_items += 1;
                // The trail keeps what the administrator is asked to do, and that it
                // undoes a change made outside Turnstile when it does.
                let reason = if change.reason.contains(crate::plan::CHANGED_OUTSIDE) {
                    format!("{text}; {}", crate::plan::CHANGED_OUTSIDE)
                } else {
                    text.clone()
                };
                let entry = draft(
                    &change,
                    change.account.clone(),
                    AuditOutcome::WorkItem,
                    reason,
                    by,
                );
                // In the trail's order: what came before it first.
                store.append_audit(std::mem::take(&mut drafts))?;
                let due = crate::work::due_at(by.at, by.due_days);
                store.raise_work_item(&change, &text, due, entry)?;
            }
            Done::Failed(e) => {
                tracing::warn!(system = %change.system, person = %change.employee_number, error = %e, "change failed; recorded, and retried by the next reconciliation");
                tally.failed += 1;
                drafts.push(draft(
                    &change,
                    change.account.clone(),
                    AuditOutcome::Failed,
                    e.to_string(),
                    by,
                ));
            }
        }
    }
    store.append_audit(drafts)?;
    Ok(tally)
}

/// Applies one person's changes on one target, auditing each: [`make_changes`] then
/// [`record_changes`]. An error that makes the target unusable comes back as
/// [`ApplyError::Target`] once what was done before it is written down.
pub async fn apply_person(
    connector: &dyn Connector,
    store: &mut dyn Store,
    person: &Person,
    changes: &[Change],
    by: By<'_>,
) -> Result<Tally, ApplyError> {
    let open = open_items(store, connector, changes)?;
    if let Some(started) = intent(changes, &open, by) {
        store.append_audit(vec![started])?;
    }
    let (made, stop) = make_changes(connector, person, changes, &open).await;
    let tally = record_changes(store, made, by)?;
    match stop {
        Some(e) => Err(ApplyError::Target(e)),
        None => Ok(tally),
    }
}

/// Accounts a plan would disable or delete, out of those on the system.
pub fn removal_share(changes: &[Change], accounts_on_system: usize) -> (usize, f64) {
    let removed: BTreeSet<(&str, &str)> = changes
        .iter()
        .filter(|c| matches!(c.action, Action::Disable | Action::Delete))
        .filter_map(|c| c.account.as_deref().map(|a| (c.system.as_str(), a)))
        .collect();
    let share = if accounts_on_system == 0 {
        0.0
    } else {
        removed.len() as f64 / accounts_on_system as f64
    };
    (removed.len(), share)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(account: &str, action: Action) -> Change {
        Change {
            system: "ad".into(),
            employee_number: "1".into(),
            account: Some(account.into()),
            action,
            rule: "leaver".into(),
            reason: "r".into(),
        }
    }

    /// The entry before the changes names every change that will be sent, with its
    /// account and rule, and none that an open work item already covers.
    #[test]
    fn the_started_entry_names_each_change_to_be_sent() {
        let by = By {
            at: jiff::Timestamp::UNIX_EPOCH,
            actor: "turnstile run",
            event_id: Some("ev-1"),
            due_days: 5,
        };
        let disable = change("jsmith", Action::Disable);
        let revoke = change(
            "jsmith",
            Action::Revoke {
                entitlement: "GG-Nursing".into(),
            },
        );
        let none = BTreeSet::new();
        let d = intent(&[disable.clone(), revoke.clone()], &none, by).unwrap();
        assert_eq!(d.action, "apply.started");
        assert_eq!(d.outcome, "started");
        assert_eq!(
            (
                d.employee_number.as_deref(),
                d.system.as_deref(),
                d.event_id.as_deref()
            ),
            (Some("1"), Some("ad"), Some("ev-1"))
        );
        assert!(
            d.reason.starts_with(
                "about to make 2 change(s): disable on jsmith (rule leaver), revoke GG-Nursing on jsmith (rule leaver);"
            ),
            "{}",
            d.reason
        );
        let open: BTreeSet<WorkItemKey> = [WorkItemKey::of(&revoke)].into();
        let d = intent(&[disable.clone(), revoke.clone()], &open, by).unwrap();
        assert!(
            d.reason
                .starts_with("about to make 1 change(s): disable on jsmith (rule leaver);")
        );
        let all: BTreeSet<WorkItemKey> =
            [WorkItemKey::of(&disable), WorkItemKey::of(&revoke)].into();
        assert_eq!(intent(&[disable, revoke], &all, by), None);
    }

    #[test]
    fn removal_share_counts_accounts_not_changes() {
        let changes = vec![
            change("a", Action::Disable),
            change(
                "a",
                Action::Revoke {
                    entitlement: "GG-X".into(),
                },
            ),
            change("b", Action::Delete),
            change(
                "c",
                Action::Grant {
                    entitlement: "GG-Y".into(),
                },
            ),
        ];
        assert_eq!(removal_share(&changes, 10), (2, 0.2));
        assert_eq!(removal_share(&[], 0), (0, 0.0));
    }
}
