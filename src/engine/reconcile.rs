//! Reconciliation: for each target, read what it holds, plan against the HR records in the
//! store, stop before a mass removal unless approved, apply, audit, and read it again so
//! the store knows what it holds now. The same pass serves `turnstile reconcile`, the
//! daemon's schedule, an API route and the tests.

use super::apply::{self, ApplyError, Tally};
use super::targets::Target;
use crate::account::Account;
use crate::audit::{Action as AuditAction, Draft, Outcome as AuditOutcome};
use crate::connectors::ConnectorError;
use crate::hr::Person;
use crate::plan::{self, Change};
use crate::policy::RoleModel;
use crate::store::{Store, StoreError};
use jiff::Timestamp;
use jiff::civil::Date;

/// One reconciliation pass: what it judges by and what it may do.
pub struct Run<'a> {
    pub model: &'a RoleModel,
    /// The Europe/London day the plan is made for.
    pub today: Date,
    /// When it runs (audit times).
    pub now: Timestamp,
    /// Who runs it, for the audit trail.
    pub actor: &'a str,
    /// Read and plan, change nothing.
    pub dry_run: bool,
    /// A person approved going past the mass-removal guard.
    pub approve: bool,
    /// The most a run may disable or delete of a system's accounts without approval.
    pub max_removal_share: f64,
    /// The windowed mass-change guard the daemon's own changes go through: a run under
    /// `max_removal_share` still holds the people losing access when the window is over
    /// its limit (or a plan for the system is undecided), so reconciling never slips past
    /// a held plan. `None` in tests of the other parts.
    pub guard: Option<&'a crate::config::GuardConfig>,
    /// A run over `max_removal_share` holds the people losing access as a plan (for
    /// `turnstile approve`) and applies the rest, instead of stopping whole: the daemon's
    /// scheduled runs, which no one is there to re-run with `--allow-share`.
    pub hold_as_plan: bool,
    /// The mail relay for inactivity notices; without one no notice can be sent, so no
    /// account is disabled for inactivity.
    pub notify: Option<&'a super::work::Sender>,
    /// Set when the run is asked to stop (SIGTERM): the person in hand is finished and
    /// recorded, and the rest wait for the next pass.
    pub stop: Option<&'a std::sync::atomic::AtomicBool>,
}

impl Run<'_> {
    /// Whether the run has been asked to stop.
    pub fn stopping(&self) -> bool {
        self.stop
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// What happened on one target.
#[derive(Debug)]
pub enum TargetOutcome {
    /// Read and planned; nothing changed (`--dry-run`).
    DryRun,
    /// Stopped before acting: too much would be removed.
    Held,
    /// Changes applied (some may have failed, each audited).
    Applied(Tally),
    /// The target is quarantined (before or during this pass): nothing (more) was sent.
    Quarantined { reason: String, tally: Tally },
    /// The target stopped answering this time (a transient error): while it was read,
    /// nothing was planned; part-way through applying, `tally` says what was made (and
    /// recorded) before it stopped, and the rest waits for the next pass.
    Unreadable { reason: String, tally: Tally },
    /// Asked to stop (SIGTERM) part way: what was made is recorded; `left` people's
    /// changes wait for the next pass, which plans them again from the target.
    Stopped { tally: Tally, left: usize },
}

/// One target's report.
#[derive(Debug)]
pub struct SystemReport {
    pub system: String,
    pub accounts_read: usize,
    /// The changes planned (all of them; in a dry run, what would be done).
    pub changes: Vec<Change>,
    pub people: usize,
    /// Accounts the plan would disable or delete, and their share of the system's.
    pub removed: usize,
    pub share: f64,
    /// People whose changes were held by the windowed guard, and the plan they are in or
    /// wait behind.
    pub held: Option<(u64, usize)>,
    /// People whose creates were held by the guard on creates, and the plan they are in.
    pub creates_held: Option<(u64, usize)>,
    /// What correlation found before any create: links made, matches proposed or
    /// disputed, entitlements of adopted accounts kept for a decision.
    pub correlation: super::correlation::Found,
    /// Work items the export read this run confirmed or cancelled.
    pub settled: Vec<crate::store::WorkItem>,
    /// Inactivity notices recorded this run, and the ones that could not be sent.
    pub notices: super::notices::Sent,
    pub result: TargetOutcome,
}

impl SystemReport {
    /// True when an operator must look: a failed change, a quarantine, a hold or an
    /// unreadable target.
    pub fn needs_attention(&self) -> bool {
        if self.held.is_some() || self.creates_held.is_some() {
            return true;
        }
        match &self.result {
            TargetOutcome::DryRun => false,
            TargetOutcome::Applied(t) => t.failed > 0,
            TargetOutcome::Held
            | TargetOutcome::Quarantined { .. }
            | TargetOutcome::Unreadable { .. }
            | TargetOutcome::Stopped { .. } => true,
        }
    }
}

/// Reconciles every target in `targets`, one after another; a quarantined or unreadable
/// target is reported and the others carry on.
pub async fn reconcile(
    run: &Run<'_>,
    store: &mut dyn Store,
    targets: &mut [Target],
) -> Result<Vec<SystemReport>, StoreError> {
    // People held by the mass-change guard wait for a person's decision: their accounts
    // are left as they are until then.
    let held: std::collections::BTreeSet<String> = store
        .pending()?
        .into_iter()
        .filter(|p| p.held_by.is_some())
        .map(|p| p.employee_number)
        .collect();
    if !held.is_empty() {
        tracing::warn!(
            people = held.len(),
            "people held by an undecided plan are left alone (see `turnstile held`)"
        );
    }
    let people: Vec<Person> = store
        .persons()?
        .into_iter()
        .map(|p| p.event.person)
        .filter(|p| !held.contains(p.employee_number.as_str()))
        .collect();
    let mut reports = Vec::with_capacity(targets.len());
    for target in targets.iter_mut() {
        if run.stopping() {
            break;
        }
        let span = tracing::info_span!("reconcile", system = %target.system());
        let _enter = span.enter();
        reports.push(reconcile_target(run, store, target, &people).await?);
    }
    Ok(reports)
}

/// Reconciles one target against `people`.
pub async fn reconcile_target(
    run: &Run<'_>,
    store: &mut dyn Store,
    target: &mut Target,
    people: &[Person],
) -> Result<SystemReport, StoreError> {
    let system = target.system().to_string();
    let mut report = SystemReport {
        system: system.clone(),
        accounts_read: 0,
        changes: Vec::new(),
        people: 0,
        removed: 0,
        share: 0.0,
        held: None,
        creates_held: None,
        correlation: Default::default(),
        settled: Vec::new(),
        notices: Default::default(),
        result: TargetOutcome::DryRun,
    };
    if let Err(reason) = target.ready(run.now).await {
        report.result = TargetOutcome::Quarantined {
            reason,
            tally: Tally::default(),
        };
        return Ok(report);
    }
    let mut accounts = match target.connector.read_accounts().await {
        Ok(a) => a,
        Err(e) => {
            report.result = unusable(target, e, run.now, Tally::default());
            return Ok(report);
        }
    };
    crate::account::link_by_smartcard(&mut accounts, &crate::account::smartcards(people));
    // A TRAC starter's prepared accounts, held under the provisional key, are the ESR
    // person's once linked: re-anchored on the target first of all.
    let reanchored = crate::account::relink(&mut accounts, &store.starter_links()?);
    let before = store.accounts(Some(&system))?;
    // A dry run writes nothing anywhere: the snapshot stays what the last real run read,
    // so the next real run still sees what was changed outside Turnstile since.
    if !run.dry_run {
        store.replace_accounts(&system, &accounts)?;
    }
    report.accounts_read = accounts.len();
    let abilities = target.connector.capabilities().abilities();
    let mut planned = plan_all(run, people, &accounts, &system, &abilities);
    mark_outside_changes(run, &mut planned, &before, &system, &abilities);
    drop(before);
    // Before any create: the accounts people already have (linked, proposed or
    // disputed); an adopted account's entitlements granted by hand are kept.
    let naming = target.connector.naming();
    let ctx = super::correlation::Ctx {
        model: run.model,
        system: &system,
        settings: &target.correlation,
        naming: naming.as_ref(),
        abilities: &abilities,
        today: run.today,
        now: run.now,
        actor: run.actor,
        dry_run: run.dry_run,
        full: true,
    };
    let (found, links) = super::correlation::prepare(&ctx, store, &mut accounts, &mut planned)?;
    report.correlation = found;
    // Inactivity with notice: disables whose notice period has passed join the plan; an
    // account disabled for inactivity is not enabled again without approval.
    let inactivity = match run.model.systems.get(&system) {
        Some(policy) => super::inactivity::review(
            store,
            policy,
            people,
            &accounts,
            target.connector.capabilities().last_logon,
            run.today,
            !run.dry_run,
        )?,
        None => Default::default(),
    };
    merge_inactivity(&mut planned, people, &inactivity);
    explain_recreates(store, &system, &mut planned)?;
    for (account, number) in reanchored.iter().rev() {
        let change = crate::account::reanchor(&system, account, number);
        match planned
            .iter_mut()
            .find(|(p, _)| p.employee_number.as_str() == number)
        {
            Some((_, changes)) => changes.insert(0, change),
            None => {
                if let Some(p) = people.iter().find(|p| p.employee_number.as_str() == number) {
                    planned.push((p, vec![change]));
                }
            }
        }
    }
    report.people = planned.len();
    report.changes = planned
        .iter()
        .flat_map(|(_, c)| c.iter().cloned())
        .collect();
    (report.removed, report.share) = apply::removal_share(&report.changes, accounts.len());
    if run.dry_run {
        return Ok(report);
    }
    // Over the run-wide share: why, in words, for the trail or the held plan.
    let over_share = (report.share > run.max_removal_share && !run.approve).then(|| {
        format!(
            "{} of {} accounts of {system} would be disabled or deleted by a reconciliation ({:.1}%, over [reconcile] max_removal_share {:.1}%)",
            report.removed,
            accounts.len(),
            report.share * 100.0,
            run.max_removal_share * 100.0
        )
    });
    if target.connector.capabilities().work_items {
        // The export just read is the system's own word on every item still waiting.
        report.settled = super::work::track(
            store,
            &system,
            &report.changes,
            &accounts,
            run.now,
            run.actor,
        )?;
    }
    drop(accounts);
    if let Some(reason) = &over_share
        && !(run.hold_as_plan && run.guard.is_some())
    {
        store.append_audit(vec![Draft {
            at: run.now,
            actor: run.actor.into(),
            employee_number: None,
            system: Some(system.clone()),
            account: None,
            action: AuditAction::ReconcileHeld.to_string(),
            outcome: AuditOutcome::Held.to_string(),
            rule: None,
            event_id: None,
            reason: reason.clone(),
        }])?;
        report.result = TargetOutcome::Held;
        return Ok(report);
    }
    if let (Some(guard), false) = (run.guard, run.approve) {
        let losing: Vec<(&str, &[Change])> = planned
            .iter()
            .filter(|(_, c)| c.iter().any(|c| c.action.takes_access()))
            .map(|(p, c)| (p.employee_number.as_str(), c.as_slice()))
            .collect();
        let verdict = match &over_share {
            Some(reason) => super::held::hold(store, &system, reason, &losing, run.now, run.actor)?,
            None => super::held::judge(store, guard, &system, &losing, run.now, run.actor)?,
        };
        let id = match verdict {
            super::held::Verdict::Go => None,
            super::held::Verdict::Held(plan) => Some(plan.id),
            super::held::Verdict::Waiting(id) => Some(id),
        };
        if let Some(id) = id {
            let held: std::collections::BTreeSet<String> =
                losing.iter().map(|(e, _)| e.to_string()).collect();
            report.held = Some((id, held.len()));
            planned.retain(|(p, _)| !held.contains(p.employee_number.as_str()));
        }
    }
    // Creates are guarded like removals: more than the guard allows in a window become a
    // held plan for a person to approve.
    if let (Some(guard), false) = (run.guard, run.approve) {
        let creating: Vec<(&str, &[Change])> = planned
            .iter()
            .filter(|(_, c)| c.iter().any(|c| c.action == plan::Action::Create))
            .map(|(p, c)| (p.employee_number.as_str(), c.as_slice()))
            .collect();
        let verdict = super::held::judge_creates(
            store,
            guard,
            &system,
            &creating,
            report.accounts_read,
            run.now,
            run.actor,
        )?;
        if let super::held::Verdict::Held(plan) = verdict {
            let held: std::collections::BTreeSet<String> =
                creating.iter().map(|(e, _)| e.to_string()).collect();
            report.creates_held = Some((plan.id, held.len()));
            planned.retain(|(p, _)| !held.contains(p.employee_number.as_str()));
        }
    }
    let mut linked_ok = std::collections::BTreeSet::new();
    let mut tally = Tally::default();
    let mut stopped = None;
    let mut left = None;
    for (i, (person, changes)) in planned.iter().enumerate() {
        if run.stopping() {
            left = Some(planned.len() - i);
            break;
        }
        // The HR record the plan was made from is the event behind each change (the
        // contract: every change is recorded with the event that caused it).
        let event_id = store
            .person(person.employee_number.as_str())?
            .map(|s| s.event.event_id.as_str().to_string());
        match apply::apply_person(
            target.connector.as_ref(),
            store,
            person,
            changes,
            apply::By {
                at: run.now,
                actor: run.actor,
                event_id: event_id.as_deref(),
                due_days: target.due_days,
            },
        )
        .await
        {
            Ok(t) => {
                if t.failed == 0 && t.skipped == 0 {
                    linked_ok.insert(person.employee_number.to_string());
                }
                tally += t
            }
            Err(ApplyError::Target(e)) => {
                stopped = Some(e);
                break;
            }
            Err(ApplyError::Store(e)) => return Err(e),
        }
    }
    // The links whose anchor was written, also when the target stopped part way.
    super::correlation::record_links(store, links, &|n| linked_ok.contains(n), run.now, run.actor)?;
    if let Some(e) = stopped {
        report.result = unusable(target, e, run.now, tally);
        return Ok(report);
    }
    if let Some(left) = left {
        tracing::warn!(
            left,
            "stopped as asked; the rest are planned again on the next pass"
        );
        report.result = TargetOutcome::Stopped { tally, left };
        return Ok(report);
    }
    report.notices = super::inactivity::notify(
        store,
        run.notify,
        &inactivity.notices,
        run.today,
        run.now,
        run.actor,
    )
    .await?;
    // What the target holds now, for `plan` and the next run (unchanged if nothing was
    // sent: the daily case reads once).
    if planned.is_empty() {
        report.result = TargetOutcome::Applied(tally);
        return Ok(report);
    }
    match target.connector.read_accounts().await {
        Ok(after) => store.replace_accounts(&system, &after)?,
        Err(e) => {
            report.result = unusable(target, e, run.now, tally);
            return Ok(report);
        }
    }
    report.result = TargetOutcome::Applied(tally);
    Ok(report)
}

/// A create for someone whose account here was deleted after the retention period (a
/// rehire after it) says so, so the trail explains why they have a new account.
fn explain_recreates(
    store: &dyn Store,
    system: &str,
    planned: &mut [(&Person, Vec<Change>)],
) -> Result<(), StoreError> {
    for (person, changes) in planned.iter_mut() {
        let Some(create) = changes
            .iter_mut()
            .find(|c| c.action == plan::Action::Create)
        else {
            continue;
        };
        let deleted = store
            .audit(&crate::store::AuditFilter {
                employee_number: Some(person.employee_number.to_string()),
                since: None,
            })?
            .into_iter()
            .rev()
            .find(|e| {
                e.draft.system.as_deref() == Some(system)
                    && e.draft.action == "change.delete"
                    && e.draft.outcome == AuditOutcome::Applied.to_string()
            });
        if let Some(e) = deleted {
            create.reason = format!(
                "{}; their previous account {} was deleted on {} after the retention period, so a new one is made",
                create.reason,
                e.draft.account.as_deref().unwrap_or("(unnamed)"),
                crate::clock::today(e.draft.at)
            );
        }
    }
    Ok(())
}

/// Adds the inactivity disables to each person's changes and drops the enables of
/// accounts disabled for inactivity (they wait for a manager's approval).
fn merge_inactivity<'p>(
    planned: &mut Vec<(&'p Person, Vec<Change>)>,
    people: &'p [Person],
    review: &super::inactivity::Review,
) {
    for (_, changes) in planned.iter_mut() {
        changes.retain(|c| {
            !(c.action == plan::Action::Enable
                && c.account
                    .as_deref()
                    .is_some_and(|a| review.blocked.contains(&a.to_lowercase())))
        });
    }
    for d in &review.disables {
        match planned
            .iter_mut()
            .find(|(p, _)| p.employee_number.as_str() == d.employee_number)
        {
            Some((_, changes)) => {
                if !changes
                    .iter()
                    .any(|c| c.account == d.account && c.action == plan::Action::Disable)
                {
                    changes.push(d.clone());
                }
            }
            None => {
                if let Some(p) = people
                    .iter()
                    .find(|p| p.employee_number.as_str() == d.employee_number)
                {
                    planned.push((p, vec![d.clone()]));
                }
            }
        }
    }
    planned.retain(|(_, c)| !c.is_empty());
}

/// Every person's changes on one system, for the people who have any.
fn plan_all<'p>(
    run: &Run<'_>,
    people: &'p [Person],
    accounts: &[Account],
    system: &str,
    abilities: &plan::Abilities,
) -> Vec<(&'p Person, Vec<Change>)> {
    let by_person = crate::account::by_person(accounts);
    people
        .iter()
        .filter_map(|person| {
            let mine = by_person
                .get(person.employee_number.as_str())
                .map_or(&[][..], Vec::as_slice);
            let changes =
                plan::plan_for_target(run.model, person, mine, run.today, system, abilities);
            (!changes.is_empty()).then_some((person, changes))
        })
        .collect()
}

/// Marks the changes that undo a change made to the target outside Turnstile: what
/// today's desired state asks of the account now, but did not ask of it as it was last
/// read (so the target moved away from it since). A system never read before has
/// nothing to compare with. The mark is in the reason, so the trail and `evidence` show
/// it.
fn mark_outside_changes(
    run: &Run<'_>,
    planned: &mut [(&Person, Vec<Change>)],
    before: &[Account],
    system: &str,
    abilities: &plan::Abilities,
) {
    if before.is_empty() {
        return;
    }
    let earlier = crate::account::by_person(before);
    for (person, changes) in planned.iter_mut() {
        let Some(then) = earlier.get(person.employee_number.as_str()) else {
            continue;
        };
        let was = plan::plan_for_target(run.model, person, then, run.today, system, abilities);
        for c in changes.iter_mut() {
            if !was
                .iter()
                .any(|w| w.action == c.action && w.account == c.account)
            {
                c.reason = format!("{}; {}", c.reason, plan::CHANGED_OUTSIDE);
            }
        }
    }
}

/// A target error as a result: fatal ones quarantine the target.
fn unusable(target: &mut Target, e: ConnectorError, now: Timestamp, tally: Tally) -> TargetOutcome {
    let reason = e.to_string();
    if target.failed(&e, now) {
        TargetOutcome::Quarantined { reason, tally }
    } else {
        TargetOutcome::Unreadable { reason, tally }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::export_file::{Generic, Manual};
    use crate::store::WorkItemStatus;
    use crate::store::prelude::*;
    use crate::store::sqlite::SqliteStore;
    use crate::testkit::{d, model, nurse};
    use std::sync::Arc;

    const HEADER: &str = "Account,Employee Number,Display Name,Enabled,Last Logon,Entitlements\n";

    fn run<'a>(m: &'a RoleModel) -> Run<'a> {
        Run {
            model: m,
            today: d("2026-11-23"),
            now: "2026-11-23T09:00:00Z".parse().unwrap(),
            actor: "test",
            dry_run: false,
            approve: false,
            max_removal_share: 1.0,
            guard: None,
            hold_as_plan: false,
            notify: None,
            stop: None,
        }
    }

    /// A work item is raised once, not again while open, closed when the system's own
    /// export shows the change, and reopened when a later export contradicts it.
    #[tokio::test(flavor = "current_thread")]
    async fn work_items_are_raised_once_and_closed_or_reopened_by_the_export() {
        let dir = tempfile::tempdir().unwrap();
        let export = dir.path().join("systmone.csv");
        std::fs::write(&export, HEADER).unwrap();
        let m = model();
        let mut target = systmone(&export);
        let mut store = SqliteStore::in_memory().unwrap();
        let people = vec![nurse("20000001")];
        let r = run(&m);

        let first = reconcile_target(&r, &mut store, &mut target, &people)
            .await
            .unwrap();
        let TargetOutcome::Applied(t) = first.result else {
            panic!("{first:?}")
        };
        assert_eq!(
            (t.work_items, t.still_open, t.skipped),
            (3, 0, 0),
            "create, grant, enable"
        );
        let open = store
            .work_items(Some("systmone"), Some(WorkItemStatus::Open))
            .unwrap();
        assert_eq!(open.len(), 3);
        assert_eq!(open[0].action, "create");
        assert!(
            open[0]
                .detail
                .contains("for Amara Okafor (employee 20000001)"),
            "{}",
            open[0].detail
        );

        // The export does not show it yet: nothing is raised again.
        let again = reconcile_target(&r, &mut store, &mut target, &people)
            .await
            .unwrap();
        let TargetOutcome::Applied(t) = again.result else {
            panic!("{again:?}")
        };
        assert_eq!((t.work_items, t.still_open), (0, 3));
        assert_eq!(store.work_items(None, None).unwrap().len(), 3);

        // The administrator made the account: the next export shows it, the items close.
        std::fs::write(
            &export,
            format!("{HEADER}aokafor,20000001,Amara Okafor,true,,Nurse\n"),
        )
        .unwrap();
        let done = reconcile_target(&r, &mut store, &mut target, &people)
            .await
            .unwrap();
        assert!(done.changes.is_empty(), "{:?}", done.changes);
        assert!(
            store
                .work_items(None, Some(WorkItemStatus::Open))
                .unwrap()
                .is_empty()
        );
        let trail = store.audit(&Default::default()).unwrap();
        assert_eq!(
            trail
                .iter()
                .filter(|e| e.draft.action == "work_item.confirmed")
                .count(),
            3
        );

        // Someone takes the role away: the grant is wanted again on the account that was
        // created, which is the same change as the confirmed item raised for the account
        // still to be created; the export then shows it back, then gone again: that item
        // is reopened each time, never raised a second time.
        let without = format!("{HEADER}aokafor,20000001,Amara Okafor,true,,\n");
        let with = format!("{HEADER}aokafor,20000001,Amara Okafor,true,,Nurse\n");
        for text in [&without, &with, &without] {
            std::fs::write(&export, text).unwrap();
            reconcile_target(&r, &mut store, &mut target, &people)
                .await
                .unwrap();
        }
        let all = store.work_items(None, None).unwrap();
        assert_eq!(all.len(), 3, "the same item, reopened: {all:?}");
        let open = store
            .work_items(None, Some(WorkItemStatus::Reopened))
            .unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(
            (open[0].action.as_str(), open[0].account.as_deref()),
            ("grant Nurse", Some("aokafor"))
        );
        assert!(
            trail_has(&store, "reopened"),
            "the trail says it was reopened"
        );
    }

    /// A dry run reads and plans and writes nothing: not the account snapshot, not the
    /// trail, not a match.
    #[tokio::test(flavor = "current_thread")]
    async fn a_dry_run_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let export = dir.path().join("systmone.csv");
        std::fs::write(&export, format!("{HEADER}old1,20000009,Old One,true,,\n")).unwrap();
        let m = model();
        let mut target = systmone(&export);
        let mut store = SqliteStore::in_memory().unwrap();
        let people = vec![nurse("20000001")];
        reconcile_target(&run(&m), &mut store, &mut target, &people)
            .await
            .unwrap();
        let snapshot = store.accounts(Some("systmone")).unwrap();
        let trail = store.audit(&Default::default()).unwrap().len();
        // Changed outside Turnstile since; a dry run sees it and stores nothing.
        std::fs::write(
            &export,
            format!("{HEADER}old1,20000009,Old One,false,,\nnew1,,Amara Okafor,true,,\n"),
        )
        .unwrap();
        let dry = Run {
            dry_run: true,
            ..run(&m)
        };
        let report = reconcile_target(&dry, &mut store, &mut target, &people)
            .await
            .unwrap();
        assert_eq!(report.accounts_read, 2);
        assert_eq!(store.accounts(Some("systmone")).unwrap(), snapshot);
        assert_eq!(store.audit(&Default::default()).unwrap().len(), trail);
        assert!(store.account_matches(None, None).unwrap().is_empty());
    }

    /// A SystmOne target read from the export file at `export`.
    fn systmone(export: &std::path::Path) -> Target {
        Target::new(Arc::new(Manual {
            system: "systmone".into(),
            path: export.to_path_buf(),
            columns: Default::default(),
            limits: Default::default(),
            wording: Box::new(Generic),
        }))
    }

    fn trail_has(store: &SqliteStore, words: &str) -> bool {
        store
            .audit(&Default::default())
            .unwrap()
            .iter()
            .any(|e| e.draft.reason.contains(words))
    }
}
