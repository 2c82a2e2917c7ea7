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

/// Applies one person's changes on one target, auditing each.
pub async fn apply_person(
    connector: &dyn Connector,
    store: &mut dyn Store,
    person: &Person,
    changes: &[Change],
    by: By<'_>,
) -> Result<Tally, ApplyError> {
    let mut tally = Tally::default();
    let mut created: Option<String> = None;
    let work_items = connector.capabilities().work_items;
    // The person's entries are written together, once their changes are made (one
    // durable commit per person, not per change), and before any early return.
    let mut drafts: Vec<Draft> = Vec::new();
    // A create raised as a work item: the new account's other changes are work items too.
    let mut create_raised = false;
    for c in changes {
        let mut change = c.clone();
        if change.account.is_none() {
            change.account = created.clone();
        }
        // A change already raised and not yet seen done is not raised again.
        if work_items && store.open_work_item(&WorkItemKey::of(&change))?.is_some() {
            tally.still_open += 1;
            create_raised |= change.action == Action::Create;
            continue;
        }
        // Only a failed create stops the rest: there is no account to change. Any other
        // failure is recorded and the remaining changes still go ahead, so a missing group
        // never keeps a new starter locked out or a leaver enabled.
        if change.account.is_none() && change.action != Action::Create && !create_raised {
            tally.skipped += 1;
            drafts.push(draft(
                &change,
                None,
                AuditOutcome::Skipped,
                "not attempted: the account could not be created; the next reconciliation plans it again".into(),
                by,
            ));
            continue;
        }
        // One span per change, for every connector: around the connector's work (a future,
        // so instrumented, not entered across the await), then around its audit entry.
        let span = tracing::info_span!("change", system = %change.system, person = %change.employee_number, action = %change.action);
        let result = connector
            .apply(person, &change)
            .instrument(span.clone())
            .await;
        let _enter = span.enter();
        match result {
            Ok(Applied::Done { account }) => {
                if let Some(name) = &account {
                    created = Some(name.clone());
                }
                tally.applied += 1;
                drafts.push(draft(
                    &change,
                    account.or(change.account.clone()),
                    AuditOutcome::Applied,
                    change.reason.clone(),
                    by,
                ));
            }
            Ok(Applied::WorkItem { text }) => {
                tally.work_items += 1;
                create_raised |= change.action == Action::Create;
                let entry = draft(
                    &change,
                    change.account.clone(),
                    AuditOutcome::WorkItem,
                    text.clone(),
                    by,
                );
                // In the trail's order: what came before it first.
                store.append_audit(std::mem::take(&mut drafts))?;
                store.raise_work_item(&WorkItemKey::of(&change), &text, entry)?;
            }
            Err(e) => {
                drafts.push(draft(
                    &change,
                    change.account.clone(),
                    AuditOutcome::Failed,
                    e.to_string(),
                    by,
                ));
                // Unusable (fatal) or not answering even after the connector's own
                // retries (transient): the rest waits for the target, not tried one by
                // one against a server that is down.
                if matches!(
                    e,
                    ConnectorError::Fatal { .. } | ConnectorError::Transient { .. }
                ) {
                    store.append_audit(drafts)?;
                    return Err(ApplyError::Target(e));
                }
                tracing::warn!(error = %e, "change failed; recorded, and retried by the next reconciliation");
                tally.failed += 1;
            }
        }
    }
    store.append_audit(drafts)?;
    Ok(tally)
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
