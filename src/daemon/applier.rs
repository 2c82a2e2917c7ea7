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
use crate::store::Store;
use jiff::Timestamp;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const ACTOR: &str = "turnstile run";

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
            runtime.block_on(run(config, model, shutdown, shared));
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
    tracing::info!(targets = targets.len(), "applying changes to the targets");
    loop {
        if *shutdown.borrow() {
            break;
        }
        let now = Timestamp::now();
        if next_reconcile.is_some_and(|at| Instant::now() >= at) {
            scheduled_reconcile(&config, &model, store.as_mut(), &mut targets, now).await;
            next_reconcile = Some(Instant::now() + reconcile_every);
        }
        let more = match due::apply_due(&model, store.as_mut(), &mut targets, now, 100, ACTOR).await
        {
            Ok(r) => {
                if failing.take().is_some() {
                    tracing::info!("the state store answers again: applying changes");
                }
                if r.settled + r.waiting > 0 {
                    tracing::debug!(
                        settled = r.settled,
                        waiting = r.waiting,
                        applied = r.tally.applied,
                        "pending work"
                    );
                }
                // A full pass may have left more due work: go again at once.
                r.settled + r.waiting == 100
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
        let quarantined: Vec<(String, String)> = targets
            .iter()
            .filter_map(|t| match &t.state {
                targets::TargetState::Quarantined { reason, .. } => {
                    Some((t.system().to_string(), reason.clone()))
                }
                targets::TargetState::Online => None,
            })
            .collect();
        shared.with_health(|h| {
            h.quarantined = quarantined;
            h.applier_error = failing.clone();
        });
        if !more {
            tokio::select! {
                _ = shutdown.wait_for(|s| *s) => break,
                _ = tokio::time::sleep(every) => {}
            }
        }
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
    let run = reconcile::Run {
        model,
        today: crate::clock::today(now),
        now,
        actor: ACTOR,
        dry_run: false,
        approve: false,
        max_removal_share: config.reconcile.max_removal_share,
    };
    match reconcile::reconcile(&run, store, targets).await {
        Ok(reports) => {
            for r in reports {
                match &r.result {
                    reconcile::TargetOutcome::Applied(t) => tracing::info!(
                        system = %r.system,
                        accounts = r.accounts_read,
                        applied = t.applied,
                        failed = t.failed,
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
        }
        Err(e) => tracing::error!("scheduled reconciliation: {e}"),
    }
}
