//! The store's traits, one per kind of data it keeps; [`super::Store`] is all of them.

use super::*;
use crate::account::Account;
use crate::audit::{Break, Draft, Entry, Verified};
use crate::hr::{HrEvent, Person};
use jiff::Timestamp;

/// HR records: recording events, reading people, TRAC starters' links.
pub trait People {
    /// Records `event` if it is newer than what is held. When it is applied,
    /// `follow_up(previous, new)` gives the audit entries it causes (the HR record itself
    /// and the planned changes); they are written in the same transaction.
    fn record_event(
        &mut self,
        event: &HrEvent,
        follow_up: &mut dyn FnMut(Option<&Person>, &Person) -> Vec<Draft>,
    ) -> Result<Outcome, StoreError> {
        let mut outcomes = self.record_events(&[event], &mut |_, _, previous, new| {
            follow_up(previous, new)
        })?;
        outcomes.pop().ok_or_else(|| StoreError::Corrupt {
            key: event.event_id.as_str().to_string(),
            detail: "recording gave no outcome".into(),
        })
    }

    /// Records several events, in order, in one transaction: as if each were recorded on
    /// its own, but with one durable commit. `follow_up(i, event, previous, new)` gives
    /// each applied event's audit entries. One outcome per event, in order.
    fn record_events(
        &mut self,
        events: &[&HrEvent],
        follow_up: &mut EventFollowUp<'_>,
    ) -> Result<Vec<Outcome>, StoreError> {
        let encoded = events
            .iter()
            .map(|e| Encoded::of(e))
            .collect::<Result<Vec<_>, _>>()?;
        let ready: Vec<Ready<'_>> = events
            .iter()
            .zip(&encoded)
            .map(|(e, x)| x.ready(e))
            .collect();
        self.record_ready(&ready, follow_up)
    }

    /// [`Store::record_events`] with each event's digest and JSON worked out beforehand.
    fn record_ready(
        &mut self,
        events: &[Ready<'_>],
        follow_up: &mut EventFollowUp<'_>,
    ) -> Result<Vec<Outcome>, StoreError>;

    fn person(&self, employee_number: &str) -> Result<Option<StoredPerson>, StoreError>;

    /// Every person, in employee-number order.
    fn persons(&self) -> Result<Vec<StoredPerson>, StoreError>;

    /// Flags people for review (and writes `hr.review` audit entries) unless already
    /// flagged; returns how many were newly flagged.
    fn flag_for_review(
        &mut self,
        employee_numbers: &[String],
        reason: &str,
        at: Timestamp,
        actor: &str,
    ) -> Result<usize, StoreError>;

    /// Links a TRAC starter's provisional key to their ESR employee number, with the trail
    /// entry saying so, in one transaction: the provisional record is no longer one of
    /// [`Store::persons`], its pending work is dropped, and its accounts are re-anchored by
    /// the next plan.
    fn link_starter(
        &mut self,
        provisional: &str,
        employee_number: &str,
        draft: Draft,
    ) -> Result<(), StoreError>;

    /// Provisional key → ESR employee number, for every starter linked.
    fn starter_links(&self) -> Result<std::collections::BTreeMap<String, String>, StoreError>;

    /// The provisional (TRAC) starters not yet linked.
    fn provisional_starters(&self) -> Result<Vec<Person>, StoreError>;
}

/// Accounts as last read from each target, and counts over them.
pub trait Accounts {
    /// Accounts known on one system, or on every system, in (system, id) order.
    fn accounts(&self, system: Option<&str>) -> Result<Vec<Account>, StoreError>;

    /// Accounts known to belong to one person, on every system, in (system, id) order.
    fn accounts_of(&self, employee_number: &str) -> Result<Vec<Account>, StoreError>;

    /// The accounts known for each of `employee_numbers` (those with none are left out),
    /// each in (system, id) order: one read for a batch of people.
    fn accounts_of_people(
        &self,
        employee_numbers: &[&str],
    ) -> Result<std::collections::BTreeMap<String, Vec<Account>>, StoreError> {
        let mut out = std::collections::BTreeMap::new();
        for n in employee_numbers {
            let accounts = self.accounts_of(n)?;
            if !accounts.is_empty() {
                out.insert(n.to_string(), accounts);
            }
        }
        Ok(out)
    }

    /// Replaces what is known of one system's accounts with a fresh read.
    fn replace_accounts(&mut self, system: &str, accounts: &[Account]) -> Result<(), StoreError>;

    /// Accounts of `system` that lost access (an applied disable, revoke or delete) since
    /// `since`: what the mass-change guard's window has already let through.
    fn access_taken_since(&self, system: &str, since: Timestamp) -> Result<usize, StoreError>;

    /// How many accounts the last full read of `system` found.
    fn account_count(&self, system: &str) -> Result<usize, StoreError>;

    /// Accounts created on `system` since `since` (applied, or raised as work items): what
    /// the guard on creates counts.
    fn created_since(&self, system: &str, since: Timestamp) -> Result<usize, StoreError>;
}

/// The audit trail: appended, read, verified; dead letters noted in it.
pub trait Trail {
    fn append_audit(&mut self, drafts: Vec<Draft>) -> Result<Vec<Entry>, StoreError>;

    /// The latest time any entry was written at: the latest moment Turnstile has acted,
    /// which a pass never judges before (see `engine::clock`).
    fn latest_entry_at(&self) -> Result<Option<Timestamp>, StoreError>;

    /// True when this very record was already dead-lettered (before a crash or restart).
    fn was_dead_lettered(&self, noted: &DeadLettered) -> Result<bool, StoreError>;

    /// Notes a dead-lettered record, with its audit entry, in one transaction.
    fn note_dead_letter(&mut self, noted: &DeadLettered, draft: Draft) -> Result<(), StoreError>;

    fn audit(&self, filter: &AuditFilter) -> Result<Vec<Entry>, StoreError>;

    /// Checks the whole trail (and each entry's MAC when the store has an audit key), and
    /// that it still holds `expected_head` (a head shipped off the host earlier): what was
    /// verified, or the first break.
    fn verify_audit(
        &self,
        expected_head: Option<(u64, &str)>,
    ) -> Result<Result<Verified, Break>, StoreError>;
}

/// Pending work per person, replicas' claims on it, and leases.
pub trait Work {
    /// Takes the work that is due at `now` (due and past its backoff), earliest first:
    /// claimed for this store's owner (a replica) until it is settled or retried, or the
    /// claim runs out. Work another replica holds a live claim on is left to it.
    fn due_pending(&mut self, now: Timestamp, limit: usize) -> Result<Vec<Pending>, StoreError>;

    /// Renews this store's owner's claim on `work` until `now` plus the claim time, just
    /// before its changes are made: false when the claim is no longer ours (it ran out and
    /// another replica took the person, or settled them), and then nothing may be made
    /// from a plan drawn up under it.
    fn renew_claim(&mut self, work: &Pending, now: Timestamp) -> Result<bool, StoreError>;

    /// Takes or renews the lease `name` for this store's owner until `now + ttl`: true when
    /// it is ours (it was free, had run out, or was ours already). Jobs that must run on one
    /// replica at a time (the scheduled reconcile, notices, work items) hold one.
    fn take_lease(
        &mut self,
        name: &str,
        now: Timestamp,
        ttl: jiff::SignedDuration,
    ) -> Result<bool, StoreError>;

    /// Every pending person, earliest first (health, metrics, the CLI).
    fn pending(&self) -> Result<Vec<Pending>, StoreError>;

    /// Done for now: the person is next due at `next` (their next checkpoint), or never.
    /// Only if no HR record made them pending again since `work` was read.
    fn settle_pending(&mut self, work: &Pending, next: Option<Timestamp>)
    -> Result<(), StoreError>;

    /// An attempt failed: try again at `next_try`, keeping the error for operators. With
    /// `counts`, it is one more failed attempt; without, it only waited (for a target
    /// that is away).
    /// Only if no HR record made them pending again since `work` was read (then the new
    /// record is due at once instead).
    fn retry_pending(
        &mut self,
        work: &Pending,
        next_try: Timestamp,
        error: &str,
        counts: bool,
    ) -> Result<(), StoreError>;
}

/// Plans held by the mass-change guard, and their decisions.
pub trait Held {
    /// Stores a held plan for `system` with its changes, marks every person in it as held
    /// by it (their pending work waits), and writes `draft` (its reason prefixed with the
    /// plan's reference), all in one transaction.
    fn hold_plan(
        &mut self,
        system: &str,
        reason: &str,
        changes: &[crate::plan::Change],
        draft: Draft,
    ) -> Result<HeldPlan, StoreError>;

    /// These people's pending work waits behind held plan `id` (it was planned while the
    /// plan was undecided); it is looked at afresh once the plan is decided.
    fn wait_behind(&mut self, id: u64, employee_numbers: &[String]) -> Result<(), StoreError>;

    /// Held plans, optionally of one status, by id.
    fn held_plans(&self, status: Option<HeldStatus>) -> Result<Vec<HeldPlan>, StoreError>;

    /// One held plan and its changes, in the order they were planned.
    fn held_plan(
        &self,
        id: u64,
    ) -> Result<Option<(HeldPlan, Vec<crate::plan::Change>)>, StoreError>;

    /// Decides a plan that is still held: records who and when (and `note`), writes `drafts`,
    /// and sets the pending work of everyone held by it as `release` says (`Some(due)`:
    /// looked at again then; `None`: nothing pending), releasing anyone else held by it at
    /// once, in one transaction. [`StoreError::Refused(crate::store::Refusal::AlreadyDecided)`] if it was decided before.
    #[allow(clippy::too_many_arguments)]
    fn decide_held_plan(
        &mut self,
        id: u64,
        status: HeldStatus,
        by: &str,
        at: Timestamp,
        note: Option<&str>,
        release: &[(String, Option<Timestamp>)],
        drafts: Vec<Draft>,
    ) -> Result<HeldPlan, StoreError>;
}

/// Work items for systems without an API: raised, sent, settled.
pub trait WorkItems {
    /// The active (open, reopened or overdue) work item for this change, if there is one.
    fn open_work_item(&self, key: &WorkItemKey) -> Result<Option<WorkItem>, StoreError>;

    /// Raises a work item for `change` due at `due_at` and writes `draft` to the trail with
    /// the item's reference, in one transaction. An active item for the same change is
    /// left as it is; a confirmed one is reopened (its change was undone) and sent again.
    fn raise_work_item(
        &mut self,
        change: &crate::plan::Change,
        detail: &str,
        due_at: Timestamp,
        draft: Draft,
    ) -> Result<WorkItem, StoreError>;

    /// After a fresh read of `system`: confirms or cancels the items named, each with a
    /// `work_item.confirmed` or `work_item.cancelled` entry in the trail. An item no longer
    /// active is left alone.
    fn settle_work_items(
        &mut self,
        settled: &[Settled],
        at: Timestamp,
        actor: &str,
    ) -> Result<Vec<WorkItem>, StoreError>;

    /// Marks every open or reopened item due by `now` overdue (`work_item.overdue` in the
    /// trail) and returns them.
    fn mark_overdue(&mut self, now: Timestamp, actor: &str) -> Result<Vec<WorkItem>, StoreError>;

    /// Active items not yet sent through `channel` (for `Escalation`: overdue items not yet
    /// escalated), by id.
    fn work_items_to_send(&self, channel: Channel) -> Result<Vec<WorkItem>, StoreError>;

    /// Records one delivery attempt of item `id` through `channel`: sent at `at`, or the
    /// error that stopped it.
    fn work_item_sent(
        &mut self,
        id: u64,
        channel: Channel,
        result: Result<(), &str>,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Work items, optionally of one system and one status, by id.
    fn work_items(
        &self,
        system: Option<&str>,
        status: Option<WorkItemStatus>,
    ) -> Result<Vec<WorkItem>, StoreError>;
}

/// Inactivity notices and the dormancy they announce.
pub trait Notices {
    /// The accounts of `system` under the inactivity rule, by account name (lower case).
    fn dormancy(
        &self,
        system: &str,
    ) -> Result<std::collections::BTreeMap<String, Dormancy>, StoreError>;

    /// Records that the managers were told (`notices`: system, account, employee number)
    /// on `on`, with the trail entries saying so, in one transaction.
    fn record_notices(
        &mut self,
        notices: &[(String, String, String)],
        on: jiff::civil::Date,
        drafts: Vec<Draft>,
    ) -> Result<(), StoreError>;

    /// Records that an account was disabled for inactivity on `on`.
    fn dormancy_disabled(
        &mut self,
        system: &str,
        account: &str,
        on: jiff::civil::Date,
    ) -> Result<(), StoreError>;

    /// Forgets an account's inactivity record (it was used again, or a manager approved
    /// re-enabling it: `draft` says who); false when there was none.
    fn clear_dormancy(
        &mut self,
        system: &str,
        account: &str,
        draft: Option<Draft>,
    ) -> Result<bool, StoreError>;
}
