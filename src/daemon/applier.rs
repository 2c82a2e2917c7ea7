//! The daemon's second half: it applies the pending work the store holds — a person whose
//! HR record changed, a person whose checkpoint day has begun — to every target, by itself,
//! and reconciles every target in full on a schedule. It runs on its own thread with its
//! own store connection, so recording events never waits on a slow or absent target; the
//! store is what joins the two halves, so a crash between recording and applying loses
//! nothing.

use super::admin::Shared;
use crate::config::Config;
use crate::engine::{due, reconcile, targets};
use crate::policy::RoleModel;
use crate::store::{HeldStatus, Store};
use jiff::Timestamp;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const ACTOR: &str = "turnstile run";

/// People looked at in one pass at most (the guard judges a pass as a whole, together
/// with what its window already let through).
const PASS: usize = 500;

/// How often the pending gauges are read from the store.
const GAUGES_EVERY: Duration = Duration::from_secs(5);

/// Starts the applier when targets are configured; `None` when there are none.
pub fn spawn(
    config: &Config,
    model: Arc<RoleModel>,
    shutdown: watch::Receiver<bool>,
    shared: Shared,
) -> Option<std::thread::JoinHandle<()>> {
    if config.target_sections().is_empty() {
        tracing::info!("no [targets.*] configured: events are recorded, nothing is applied");
        return None;
    }
    let config = config.clone();
    std::thread::Builder::new()
        .name("applier".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    shared.with_health(|h| h.applier_error = Some(e.to_string()));
                    return;
                }
            };
            // Work items are sent beside the applier, with their own store connection, so
            // a slow service desk or mail relay never holds up applying changes.
            runtime.block_on(async {
                tokio::join!(
                    run(config.clone(), model, shutdown.clone(), shared.clone()),
                    send_work_items(config, shutdown, shared)
                )
            });
        })
        .map_err(|e| tracing::error!("cannot start the applier thread: {e}"))
        .ok()
}

async fn run(
    config: Config,
    model: Arc<RoleModel>,
    mut shutdown: watch::Receiver<bool>,
    shared: Shared,
) {
    let setup = (|| -> Result<(Box<dyn Store + Send>, Vec<targets::Target>), String> {
        let key = config.audit_key()?;
        let store = crate::store::open(&config.store, key, false).map_err(|e| e.to_string())?;
        let targets = targets::build(&config, &model).map_err(|p| p.join("; "))?;
        Ok((store, targets))
    })();
    let (mut store, mut targets) = match setup {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("the applier cannot start: {e}");
            shared.with_health(|h| h.applier_error = Some(e));
            return;
        }
    };
    let every = Duration::from_millis(config.daemon.apply_every_ms.max(10));
    let reconcile_every = Duration::from_secs(config.daemon.reconcile_every_secs);
    let mut next_reconcile = (!reconcile_every.is_zero()).then(Instant::now);
    let mut failing: Option<String> = None;
    let mut last_gauges: Option<Instant> = None;
    let mut lead = Lead::default();
    tracing::info!(targets = targets.len(), "applying changes to the targets");
    loop {
        if *shutdown.borrow() {
            break;
        }
        let now = crate::now();
        // Probes an operator asked for, before anything else.
        let asked: Vec<String> = std::mem::take(&mut *super::lock(&shared.probe))
            .into_iter()
            .collect();
        for t in targets
            .iter_mut()
            .filter(|t| asked.iter().any(|a| a == t.system()))
        {
            t.probe_now(now);
            let answer = t.ready(now).await;
            tracing::info!(system = %t.system(), ok = answer.is_ok(), "probed at an operator's request");
        }
        let leader = lead.holds(store.as_mut(), now);
        if leader && next_reconcile.is_some_and(|at| Instant::now() >= at) {
            scheduled_reconcile(&config, &model, store.as_mut(), &mut targets, now).await;
            next_reconcile = Some(Instant::now() + reconcile_every);
        }
        let more = match due::apply_due(
            &model,
            store.as_mut(),
            &mut targets,
            &config.guard,
            now,
            PASS,
            ACTOR,
        )
        .await
        {
            Ok(r) => {
                if failing.take().is_some() {
                    tracing::info!("the state store answers again: applying changes");
                }
                if r.settled + r.waiting + r.held > 0 {
                    tracing::debug!(
                        settled = r.settled,
                        waiting = r.waiting,
                        held = r.held,
                        applied = r.tally.applied,
                        "pending work"
                    );
                }
                shared.metrics.count_pass(&r);
                // A full pass may have left more due work: go again at once.
                r.settled + r.waiting + r.held == PASS
            }
            Err(e) => {
                // Said once per outage, not on every pass.
                if failing.as_deref() != Some(&e.to_string()) {
                    tracing::error!("applying pending changes: {e}; retrying");
                    failing = Some(e.to_string());
                }
                false
            }
        };
        let mut quarantined = Vec::new();
        let mut unreachable = Vec::new();
        for t in &targets {
            let system = t.system().to_string();
            match &t.state {
                targets::TargetState::Quarantined { reason, .. } => {
                    quarantined.push((system, reason.clone()))
                }
                targets::TargetState::Unreachable { reason, since, .. } => {
                    unreachable.push((system, format!("{reason} (since {since})")))
                }
                targets::TargetState::Online => {}
            }
            shared.metrics.set_target_state(t.system(), &t.state);
        }
        let held = store.held_plans(Some(HeldStatus::Held)).unwrap_or_default();
        shared.metrics.held_plans.set(held.len() as i64);
        // Reading every pending row is kept to every few seconds.
        if last_gauges.is_none_or(|at: Instant| at.elapsed() >= GAUGES_EVERY)
            && let Ok(pending) = store.pending()
        {
            shared.metrics.set_pending(&pending, now);
            if let Ok(open) = store.open_match_counts() {
                shared.metrics.set_account_matches(&open);
            }
            last_gauges = Some(Instant::now());
        }
        shared.with_health(|h| {
            h.quarantined = quarantined;
            h.unreachable = unreachable;
            h.held = held
                .iter()
                .map(|p| (p.reference(), p.system.clone(), p.reason.clone()))
                .collect();
            h.applier_error = failing.clone();
        });
        if !more {
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => break,
                _ = tokio::time::sleep(every) => {}
                _ = shared.wake.notified() => {}
            }
        }
    }
}

/// The lease that makes one replica the scheduler: it alone runs the scheduled
/// reconcile, the notices and the work items' sending. Renewed well before it runs out;
/// if the holder vanishes, another replica takes it over once it has.
const SCHEDULER: &str = "scheduler";
const LEASE: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

/// This replica's view of the scheduler lease.
#[derive(Default)]
pub(super) struct Lead {
    /// Ours until then (as last renewed).
    until: Option<Timestamp>,
    /// When to ask the store again.
    next_ask: Option<Timestamp>,
}

impl Lead {
    /// True while this replica holds the scheduler lease, renewing or taking it when due.
    pub(super) fn holds(&mut self, store: &mut dyn Store, now: Timestamp) -> bool {
        if self.next_ask.is_none_or(|at| now >= at) {
            let was = self.until.is_some_and(|u| now < u);
            match store.take_lease(SCHEDULER, now, LEASE) {
                Ok(true) => {
                    if !was {
                        tracing::info!(
                            "this replica runs the schedule (scheduled reconcile, notices, work items)"
                        );
                    }
                    self.until = now.checked_add(LEASE).ok();
                }
                Ok(false) => {
                    if was {
                        tracing::warn!("another replica runs the schedule now");
                    }
                    self.until = None;
                }
                Err(e) => tracing::warn!("cannot renew the scheduler lease: {e}"),
            }
            self.next_ask = now.checked_add(LEASE / 4).ok();
        }
        self.until.is_some_and(|u| now < u)
    }
}

/// Every target reconciled in full, as `turnstile reconcile` does it, so drift made by
/// hand is corrected without cron. A run over the mass-removal guard is held.
async fn scheduled_reconcile(
    config: &Config,
    model: &RoleModel,
    store: &mut dyn Store,
    targets: &mut [targets::Target],
    now: Timestamp,
) {
    let now = match crate::engine::clock::steady(store, now) {
        Ok(now) => now,
        Err(e) => {
            tracing::error!("the scheduled reconciliation waits: {e}");
            return;
        }
    };
    let sender = crate::engine::work::Sender::new(config)
        .map_err(|e| tracing::error!("inactivity notices cannot be sent: {e}"))
        .ok();
    let pass = crate::engine::pass::Pass {
        run: reconcile::Run {
            model,
            today: crate::clock::today(now),
            now,
            actor: ACTOR,
            dry_run: false,
            approve: false,
            max_removal_share: config.reconcile.max_removal_share,
            guard: Some(&config.guard),
            hold_as_plan: true,
            notify: sender.as_ref().filter(|s| s.mails()),
            // The daemon's own shutdown waits for the pass in hand.
            stop: None,
        },
        trac_unconfirmed_days: config.feeds.trac_unconfirmed_days,
        sponsor_notice_days: config.notify.sponsor_notice_days,
        // Work items go out on their own cadence (`send_work_items`).
        deliver: None,
    };
    let done = match crate::engine::pass::run(&pass, store, targets).await {
        Ok(done) => done,
        Err(e) => {
            tracing::error!("scheduled reconciliation: {e}");
            return;
        }
    };
    for r in &done.targets {
        match &r.result {
            reconcile::TargetOutcome::Applied(t) => tracing::info!(
                system = %r.system,
                accounts = r.accounts_read,
                applied = t.applied,
                failed = t.failed,
                held = r.held.map_or(0, |(_, n)| n),
                "scheduled reconciliation"
            ),
            reconcile::TargetOutcome::Held => tracing::error!(
                system = %r.system,
                removed = r.removed,
                "scheduled reconciliation held: it would disable or delete {} of {} accounts; run `turnstile reconcile --system {} --dry-run` and approve",
                r.removed,
                r.accounts_read,
                r.system
            ),
            other => {
                tracing::warn!(system = %r.system, outcome = ?other, "scheduled reconciliation")
            }
        }
    }
    for f in done
        .after
        .starters
        .failed
        .iter()
        .chain(&done.after.sponsors.failed)
    {
        tracing::warn!("{f}; sent again next time");
    }
}

/// Sends work items (webhook, digests, escalations) and marks overdue ones, every
/// `[work_items] send_every_secs`; keeps the work-item gauges and health current.
async fn send_work_items(config: Config, mut shutdown: watch::Receiver<bool>, shared: Shared) {
    let sender = match crate::engine::work::Sender::new(&config) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("work items cannot be sent: {e}");
            shared.with_health(|h| h.work_item_errors = vec![e]);
            return;
        }
    };
    let every = Duration::from_secs(config.work_items.send_every_secs.max(1));
    let mut store: Option<Box<dyn Store + Send>> = None;
    let mut lead = Lead::default();
    loop {
        if *shutdown.borrow() {
            break;
        }
        if store.is_none() {
            match config.audit_key().and_then(|key| {
                crate::store::open(&config.store, key, false).map_err(|e| e.to_string())
            }) {
                Ok(s) => store = Some(s),
                Err(e) => shared.with_health(|h| h.work_item_errors = vec![e]),
            }
        }
        if let Some(store) = store.as_mut()
            && lead.holds(store.as_mut(), crate::now())
        {
            let now = crate::now();
            match sender.deliver(store.as_mut(), now, ACTOR).await {
                Ok(sent) => {
                    if sent.posted + sent.emailed + sent.escalated + sent.overdue > 0 {
                        tracing::info!(
                            posted = sent.posted,
                            emailed = sent.emailed,
                            overdue = sent.overdue,
                            escalated = sent.escalated,
                            "work items sent"
                        );
                    }
                    for f in &sent.failed {
                        tracing::warn!("work item not sent (tried again next time): {f}");
                    }
                    shared.metrics.count_sent(&sent);
                    let active = store.work_items(None, None).map(|items| {
                        items
                            .into_iter()
                            .filter(|i| i.status.is_active())
                            .collect::<Vec<_>>()
                    });
                    if let Ok(active) = active {
                        shared.metrics.set_work_items(&active);
                        shared.with_health(|h| {
                            h.overdue = overdue_by_system(&active);
                            h.work_item_errors = sent.failed.clone();
                        });
                    }
                }
                Err(e) => shared.with_health(|h| h.work_item_errors = vec![e.to_string()]),
            }
        }
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Overdue items per system: (system, count, oldest reference).
fn overdue_by_system(active: &[crate::store::WorkItem]) -> Vec<(String, usize, String)> {
    let mut out: std::collections::BTreeMap<&str, (usize, String)> = Default::default();
    for i in active
        .iter()
        .filter(|i| i.status == crate::work::Status::Overdue)
    {
        let e = out.entry(&i.system).or_insert((0, i.reference()));
        e.0 += 1;
    }
    out.into_iter()
        .map(|(s, (n, oldest))| (s.to_string(), n, oldest))
        .collect()
}
