//! Bringing people's access in line by themselves: the work the store holds as pending
//! (a person whose HR record changed, or whose next checkpoint day has begun) is applied to
//! every target, from what each target holds now, so applying twice is harmless. Work
//! that fails is tried again with growing gaps; work for a quarantined target waits.

use super::apply;
use super::held;
use super::targets::Target;
use crate::config::GuardConfig;
use crate::hr::Person;
use crate::plan::{self, Change};
use crate::policy::RoleModel;
use crate::schedule;
use crate::store::{Pending, Store, StoreError};
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, BTreeSet};

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DueReport {
    /// People brought in line (and rescheduled for their next checkpoint, if any).
    pub settled: usize,
    /// People whose claim ran out before their turn in the pass, taken over by another
    /// replica: left to it, nothing made.
    pub taken_over: usize,
    /// People whose work failed on some target and waits for another try.
    pub waiting: usize,
    /// People whose changes on some system are held by the mass-change guard (or wait
    /// behind a held plan) for a person's decision.
    pub held: usize,
    /// New held plans.
    pub plans: Vec<crate::store::HeldPlan>,
    pub tally: apply::Tally,
    /// What was done per system.
    pub per_system: BTreeMap<String, apply::Tally>,
    /// For each person brought in line with some change applied: seconds from the moment
    /// the work fell due (their record arrived, or their checkpoint day began) to applied.
    pub latencies: Vec<f64>,
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

/// One person's work in a pass: what each target needs, planned from what it holds now.
struct Work {
    due: Pending,
    person: Person,
    event_id: String,
    /// (target index, changes), for the targets with something to do.
    planned: Vec<(usize, Vec<Change>)>,
    /// Targets whose changes are held for this person (by index).
    held: BTreeSet<usize>,
    problems: Vec<String>,
    /// Some change failed or could not be planned (not only a target that is away).
    failed: bool,
    /// A target this person needs is away (quarantined or unreachable) until its next
    /// probe, the earliest of them.
    away_until: Option<Timestamp>,
    /// Links correlation makes for this person (by target index), recorded once their
    /// anchor change is applied.
    links: Vec<(usize, super::correlation::PendingLink)>,
}

impl Work {
    /// Notes that `target` cannot take changes now.
    fn away(&mut self, target: &Target, reason: String) {
        self.problems.push(reason);
        match target.state.waiting() {
            Some((_, next_probe)) => {
                self.away_until = Some(self.away_until.map_or(next_probe, |t| t.min(next_probe)));
            }
            None => self.failed = true,
        }
    }
}

/// Applies the work due at `now` (up to `limit` people), earliest first: every due
/// person is planned on every target from what it holds now, the mass-change guard judges
/// each system's share of the pass, then what may go is applied.
pub async fn apply_due(
    model: &RoleModel,
    store: &mut dyn Store,
    targets: &mut [Target],
    guard: &GuardConfig,
    now: Timestamp,
    limit: usize,
    actor: &str,
) -> Result<DueReport, StoreError> {
    let mut report = DueReport::default();
    let today = crate::clock::today(now);
    let mut work = Vec::new();
    let links = store.starter_links()?;
    for due in store.due_pending(now, limit)? {
        let Some(stored) = store.person(&due.employee_number)? else {
            store.settle_pending(&due, None)?;
            report.settled += 1;
            continue;
        };
        let mut w = Work {
            event_id: stored.event.event_id.as_str().to_string(),
            person: stored.event.person,
            due,
            planned: Vec::new(),
            held: BTreeSet::new(),
            problems: Vec::new(),
            failed: false,
            away_until: None,
            links: Vec::new(),
        };
        let aliases: Vec<String> = links
            .iter()
            .filter(|(_, n)| n.as_str() == w.person.employee_number.as_str())
            .map(|(p, _)| p.clone())
            .collect();
        plan_person(model, targets, &mut w, &aliases, today, now).await;
        correlate_person(model, store, targets, &mut w, today, now, actor).await?;
        work.push(w);
    }
    for (index, target) in targets.iter().enumerate() {
        let system = target.system();
        let losing: Vec<(usize, &str, &[Change])> = work
            .iter()
            .enumerate()
            .filter_map(|(i, w)| {
                w.planned
                    .iter()
                    .find(|(t, c)| *t == index && c.iter().any(|c| c.action.takes_access()))
                    .map(|(_, c)| (i, w.person.employee_number.as_str(), c.as_slice()))
            })
            .collect();
        let pairs: Vec<(&str, &[Change])> = losing.iter().map(|(_, e, c)| (*e, *c)).collect();
        let verdict = held::judge(store, guard, system, &pairs, now, actor)?;
        let held_people: Vec<usize> = losing.iter().map(|(i, _, _)| *i).collect();
        match verdict {
            held::Verdict::Go => {}
            held::Verdict::Held(plan) => {
                report.plans.push(plan);
                for i in held_people {
                    work[i].held.insert(index);
                }
            }
            held::Verdict::Waiting(_) => {
                for i in held_people {
                    work[i].held.insert(index);
                }
            }
        }
    }
    for mut w in work {
        let span = tracing::info_span!("due", person = %w.person.employee_number);
        let _enter = span.enter();
        // The claim was taken for the whole batch; people late in a long batch could
        // outlive it, and another replica take them and make the same changes. Renewed
        // (from the clock, not the pass's start) just before this person's changes are
        // made; if it is no longer ours, their plan is someone else's to make.
        if !store.renew_claim(&w.due, crate::now().max(now))? {
            tracing::warn!("another replica took this person over (our claim ran out): left to it");
            report.taken_over += 1;
            continue;
        }
        let applied = apply_person(store, targets, &mut w, now, actor, &mut report).await?;
        if !w.held.is_empty() {
            // Left as it is, held, until a person decides: their other systems are done.
            report.held += 1;
            continue;
        }
        if w.problems.is_empty() {
            report.settled += 1;
            if applied {
                let from = if w.due.due > Timestamp::UNIX_EPOCH {
                    w.due.due
                } else {
                    w.due.since.unwrap_or(now)
                };
                report
                    .latencies
                    .push(now.duration_since(from).as_secs_f64().max(0.0));
            }
            let next = schedule::next_due(&w.person, model, today).and_then(schedule::due_at);
            store.settle_pending(&w.due, next)?;
            continue;
        }
        report.waiting += 1;
        let error = w.problems.join("; ");
        if let (false, Some(until)) = (w.failed, w.away_until) {
            // Only a target that is away: wait for its next probe, however long it is
            // away; it costs no attempt.
            store.retry_pending(&w.due, until.max(now), &error, false)?;
            continue;
        }
        if w.due.attempts + 1 >= MAX_ATTEMPTS {
            tracing::error!(%error, attempts = w.due.attempts + 1, "giving up for now; the next reconciliation plans it again");
            let next = schedule::next_due(&w.person, model, today).and_then(schedule::due_at);
            store.settle_pending(&w.due, next)?;
        } else {
            let next_try = now.saturating_add(retry_gap(w.due.attempts)).unwrap_or(now);
            store.retry_pending(&w.due, next_try, &error, true)?;
        }
    }
    Ok(report)
}

/// Plans one person on every target that answers, from what it holds now (every target
/// read at once).
async fn plan_person(
    model: &RoleModel,
    targets: &mut [Target],
    w: &mut Work,
    aliases: &[String],
    today: jiff::civil::Date,
    now: Timestamp,
) {
    let person = &w.person;
    let read = futures_util::future::join_all(targets.iter_mut().map(|target| async move {
        let system = target.system().to_string();
        if let Err(reason) = target.ready(now).await {
            return Err(format!("{system} cannot take changes now: {reason}"));
        }
        let mut read = target
            .connector
            .read_person(person.employee_number.as_str())
            .await;
        // A linked TRAC starter's prepared accounts are still held under their old key.
        for alias in aliases {
            if let Ok(accounts) = read.as_mut() {
                match target.connector.read_person(alias).await {
                    Ok(more) => accounts.extend(more),
                    Err(e) => read = Err(e),
                }
            }
        }
        match read {
            Ok(mut accounts) => {
                let links: std::collections::BTreeMap<String, String> = aliases
                    .iter()
                    .map(|a| (a.clone(), person.employee_number.to_string()))
                    .collect();
                let moved = crate::account::relink(&mut accounts, &links);
                let mine: Vec<&crate::account::Account> = accounts.iter().collect();
                let abilities = target.connector.capabilities().abilities();
                let mut changes: Vec<plan::Change> = moved
                    .iter()
                    .map(|(account, number)| crate::account::reanchor(&system, account, number))
                    .collect();
                changes.extend(plan::plan_for_target(
                    model, person, &mine, today, &system, &abilities,
                ));
                Ok(changes)
            }
            Err(e) => {
                target.failed(&e, now);
                Err(e.to_string())
            }
        }
    }))
    .await;
    for (index, result) in read.into_iter().enumerate() {
        match result {
            Ok(changes) if changes.is_empty() => {}
            Ok(changes) => w.planned.push((index, changes)),
            Err(reason) => w.away(&targets[index], reason),
        }
    }
}

/// Before a create on any target: the accounts the person may already have there, found
/// by the target's own search and judged by correlation. A proposal or a dispute stops
/// every change for them on that target until a person decides; a link replaces the
/// create. An adopted account's entitlements granted by hand are kept.
async fn correlate_person(
    model: &RoleModel,
    store: &mut dyn Store,
    targets: &mut [Target],
    w: &mut Work,
    today: jiff::civil::Date,
    now: Timestamp,
    actor: &str,
) -> Result<(), StoreError> {
    if w.planned.is_empty() {
        return Ok(());
    }
    let person = w.person.clone();
    for (index, changes) in std::mem::take(&mut w.planned) {
        let target = &mut targets[index];
        let system = target.system().to_string();
        let settings = target.correlation.clone();
        let mut planned = vec![(&person, changes)];
        // Only a create needs the target searched for what the person may already have.
        let creates = planned[0]
            .1
            .iter()
            .any(|c| c.action == plan::Action::Create);
        let mut accounts = if settings.enabled() && creates {
            match target.connector.find_candidates(&person).await {
                Ok(a) => a,
                Err(e) => {
                    target.failed(&e, now);
                    w.away(
                        target,
                        format!("{system}: looking for existing accounts: {e}"),
                    );
                    continue;
                }
            }
        } else {
            Vec::new()
        };
        let naming = target.connector.naming();
        let abilities = target.connector.capabilities().abilities();
        let ctx = super::correlation::Ctx {
            model,
            system: &system,
            settings: &settings,
            naming: naming.as_ref(),
            abilities: &abilities,
            today,
            now,
            actor,
            dry_run: false,
            full: false,
        };
        let (_, links) = super::correlation::prepare(&ctx, store, &mut accounts, &mut planned)?;
        w.links.extend(links.into_iter().map(|l| (index, l)));
        if let Some((_, changes)) = planned.pop() {
            w.planned.push((index, changes));
        }
    }
    Ok(())
}

/// Applies one person's planned changes except what is held, on every target at once
/// (each target's changes in order); then writes down what each did, target by target.
/// True when some change was applied.
async fn apply_person(
    store: &mut dyn Store,
    targets: &mut [Target],
    w: &mut Work,
    now: Timestamp,
    actor: &str,
    report: &mut DueReport,
) -> Result<bool, StoreError> {
    let mut go = Vec::new();
    for (index, changes) in std::mem::take(&mut w.planned) {
        if w.held.contains(&index) {
            continue;
        }
        let target = &mut targets[index];
        // A target that went away earlier in this pass takes nothing more.
        if let Err(reason) = target.ready(now).await {
            let system = target.system().to_string();
            w.away(
                target,
                format!("{system} cannot take changes now: {reason}"),
            );
            continue;
        }
        let open = apply::open_items(store, target.connector.as_ref(), &changes)?;
        go.push((index, changes, open));
    }
    let event_id = w.event_id.clone();
    let by = |due_days| apply::By {
        at: now,
        actor,
        event_id: Some(event_id.as_str()),
        due_days,
    };
    // What is about to be sent, in the trail before any of it is (one commit).
    let started: Vec<crate::audit::Draft> = go
        .iter()
        .filter_map(|(index, changes, open)| {
            apply::intent(changes, open, by(targets[*index].due_days))
        })
        .collect();
    if !started.is_empty() {
        store.append_audit(started)?;
    }
    let person = &w.person;
    let made = futures_util::future::join_all(go.iter().map(|(index, changes, open)| {
        apply::make_changes(targets[*index].connector.as_ref(), person, changes, open)
    }))
    .await;
    let mut applied = false;
    for ((index, _, _), (done, stop)) in go.into_iter().zip(made) {
        let target = &mut targets[index];
        let system = target.system().to_string();
        let t = apply::record_changes(store, done, by(target.due_days))?;
        applied |= t.applied + t.work_items > 0;
        report.tally += t;
        *report.per_system.entry(system.clone()).or_default() += t;
        let (here, others) = std::mem::take(&mut w.links)
            .into_iter()
            .partition(|(i, _)| *i == index);
        w.links = others;
        if stop.is_none() && t.failed == 0 && t.skipped == 0 {
            let here: Vec<super::correlation::PendingLink> =
                here.into_iter().map(|(_, l)| l).collect();
            super::correlation::record_links(store, here, &|_| true, now, actor)?;
        }
        if let Some(e) = stop {
            target.failed(&e, now);
            w.away(target, e.to_string());
        } else if t.failed > 0 || t.skipped > 0 {
            w.failed = true;
            w.problems.push(format!(
                "{system}: {} change(s) failed, {} skipped (see the audit trail)",
                t.failed, t.skipped
            ));
        }
    }
    Ok(applied)
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

    /// A target whose every change takes 300 ms (a slow SaaS API), as a stand-in for the
    /// connector's side only: what is measured is the engine's scheduling.
    struct Slow(&'static str);

    impl crate::connectors::Connector for Slow {
        fn system(&self) -> &str {
            self.0
        }
        fn capabilities(&self) -> crate::connectors::Capabilities {
            crate::connectors::Capabilities {
                groups: true,
                ..Default::default()
            }
        }
        fn read_accounts(
            &self,
        ) -> crate::connectors::BoxFuture<
            '_,
            Result<Vec<crate::account::Account>, crate::connectors::ConnectorError>,
        > {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn apply<'a>(
            &'a self,
            _: &'a Person,
            change: &'a Change,
        ) -> crate::connectors::BoxFuture<
            'a,
            Result<crate::connectors::Applied, crate::connectors::ConnectorError>,
        > {
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                Ok(crate::connectors::Applied::Done {
                    account: change.account.clone().or(Some("new".into())),
                })
            })
        }
        fn health(
            &self,
        ) -> crate::connectors::BoxFuture<'_, Result<(), crate::connectors::ConnectorError>>
        {
            Box::pin(async { Ok(()) })
        }
    }

    /// One person's changes on two targets are made at once, each target's in order.
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn targets_are_worked_at_once() {
        let model = RoleModel::parse(
            "m.toml",
            "version = 1\n[systems.a]\nname = \"A\"\n[systems.b]\nname = \"B\"\n\
             [roles.nurse]\ngrants = { a = [\"GA\"], b = [\"GB\"] }\n\
             [[rules]]\nid = \"n\"\ngrant = [\"nurse\"]\nmatch = { job_role = [\"Staff Nurse\"] }\n",
        )
        .unwrap()
        .0;
        let mut store = crate::store::sqlite::SqliteStore::in_memory().unwrap();
        let now: Timestamp = "2026-11-23T09:00:00Z".parse().unwrap();
        let person = crate::testkit::nurse("20000001");
        let event = super::super::ingest::file_event(
            crate::hr::Source::Esr,
            person,
            now,
            crate::hr::EventKind::Joiner,
        )
        .unwrap();
        super::super::ingest::record(
            &mut store,
            &model,
            &event,
            &[],
            crate::clock::today(now),
            "t",
        )
        .unwrap();
        let mut targets = vec![
            Target::new(std::sync::Arc::new(Slow("a"))),
            Target::new(std::sync::Arc::new(Slow("b"))),
        ];
        let started = tokio::time::Instant::now();
        let r = apply_due(
            &model,
            &mut store,
            &mut targets,
            &Default::default(),
            now,
            10,
            "t",
        )
        .await
        .unwrap();
        // Create, grant and enable on each: 0.9 s a target; one after the other, 1.8 s.
        assert_eq!((r.settled, r.tally.applied), (1, 6), "{r:?}");
        assert_eq!(started.elapsed(), std::time::Duration::from_millis(900));
        assert_eq!(r.per_system.len(), 2);
    }
}
