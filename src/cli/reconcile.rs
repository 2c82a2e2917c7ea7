//! `turnstile reconcile`: the engine's full pass over every target, printed.

use super::*;

#[derive(Args, Debug)]
pub(super) struct ReconcileArgs {
    /// Only this system (as in the role model and `[targets.<system>]`).
    #[arg(long)]
    pub(super) system: Option<String>,
    /// Read the targets and show what would change, changing nothing.
    #[arg(long)]
    pub(super) dry_run: bool,
    /// Go ahead although the run would disable or delete more than
    /// `[reconcile] max_removal_share` of a system's accounts (check `--dry-run` first).
    /// (`--approve`, its old name, still works and says so.)
    #[arg(long = "allow-share", alias = "approve", requires = "by")]
    pub(super) approve: bool,
    /// Who runs it, for the audit trail (required with --allow-share; default: the
    /// operating-system user).
    #[arg(long = "as", value_name = "NAME")]
    pub(super) by: Option<String>,
    #[command(flatten)]
    pub(super) common: Common,
}
/// Set by the first SIGTERM or SIGINT: the pass finishes the person in hand, records it,
/// and stops (a CronJob's pod being stopped, an operator's Ctrl-C).
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The first SIGTERM or SIGINT asks the pass to stop after the person in hand; a second
/// stops at once (what is made and not yet recorded is named by the trail's
/// `apply.started` entry, and found made by the next pass).
async fn stop_on_signal(
    mut term: tokio::signal::unix::Signal,
    mut int: tokio::signal::unix::Signal,
) {
    for asked in 0.. {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        if asked > 0 {
            eprintln!("error: stopped at once by a second signal");
            std::process::exit(143);
        }
        eprintln!(
            "note: stopping after the person in hand (send the signal again to stop at once)"
        );
        STOP.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

pub(super) fn reconcile_cmd(config: &Config, a: ReconcileArgs) -> Result<u8, Failure> {
    use crate::engine::reconcile::{self, TargetOutcome};
    // Checked before anything is opened; judged below against the trail's latest entry.
    let asked = today(a.common.today.as_deref())?;
    let model = load_model(config, a.common.policy.as_deref())?;
    let mut targets = crate::engine::targets::build(config, &model)
        .map_err(|problems| Failure::Usage(problems.join("\n")))?;
    targets.retain(|t| a.system.as_ref().is_none_or(|s| s == t.system()));
    if targets.is_empty() {
        return Err(Failure::Usage(match &a.system {
            Some(s) => format!(
                "no connector is configured for system `{s}`: add a [targets.{s}] section (with its type) to the config"
            ),
            None => "no connector is configured: add a [targets.<system>] section (with its type, e.g. type = \"ldap\") to the config".into(),
        }));
    }
    super::renamed("--approve", "--allow-share");
    let mut store = open_store(config)?;
    let now = crate::engine::clock::steady(&*store, crate::now())?;
    let today = match a.common.today {
        Some(_) => asked,
        None => crate::clock::today(now),
    };
    let actor = actor(a.by.as_deref(), "turnstile reconcile")?;
    let sender = crate::engine::work::Sender::new(config).map_err(Failure::Usage)?;
    let run = reconcile::Run {
        model: &model,
        today,
        now,
        actor: &actor,
        dry_run: a.dry_run,
        approve: a.approve,
        max_removal_share: config.reconcile.max_removal_share,
        guard: Some(&config.guard),
        hold_as_plan: false,
        notify: sender.mails().then_some(&sender),
        stop: Some(&STOP),
    };
    let runtime = runtime(&mut tokio::runtime::Builder::new_current_thread())?;
    // Listening before the pass starts: a signal from here on is the pass's to handle.
    let listening = runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        )
    });
    match listening {
        (Ok(term), Ok(int)) => drop(runtime.spawn(stop_on_signal(term, int))),
        _ => tracing::warn!("cannot listen for SIGTERM: a stop signal ends the run at once"),
    }
    let pass = crate::engine::pass::Pass {
        run,
        trac_unconfirmed_days: config.feeds.trac_unconfirmed_days,
        sponsor_notice_days: config.notify.sponsor_notice_days,
        deliver: Some(&sender),
    };
    let done = runtime.block_on(crate::engine::pass::run(
        &pass,
        store.as_mut(),
        &mut targets,
    ))?;
    if done.expired > 0 {
        println!(
            "starters: {} TRAC starter(s) not on ESR {} days after their start date, taken as not starting",
            done.expired, config.feeds.trac_unconfirmed_days
        );
    }
    let reports = &done.targets;
    let mut attention = false;
    if STOP.load(std::sync::atomic::Ordering::SeqCst) {
        attention = true;
        for t in targets.iter().skip(reports.len()) {
            eprintln!(
                "error: {}: not reached: the run was asked to stop; the next run reconciles it",
                t.system()
            );
        }
    }
    for r in reports {
        let id = &r.system;
        attention |= r.needs_attention();
        if !matches!(
            r.result,
            TargetOutcome::Quarantined { .. } | TargetOutcome::Unreadable { .. }
        ) || r.accounts_read > 0
        {
            println!(
                "{id}: {} accounts read, {} change(s) for {} person(s); {} account(s) to disable or delete",
                r.accounts_read,
                r.changes.len(),
                r.people,
                r.removed
            );
        }
        let c = &r.correlation;
        if c.looked > 0 || c.kept > 0 {
            println!(
                "{id}: correlation: {} without an account looked for, {} linked to an existing account, {} proposed, {} disputed, {} with no candidate{}",
                c.looked,
                c.linked,
                c.proposed,
                c.disputed,
                c.no_candidate,
                if c.kept > 0 {
                    format!(
                        "; {} entitlement(s) granted by hand on adopted accounts kept for a decision",
                        c.kept
                    )
                } else {
                    String::new()
                }
            );
        }
        if c.proposed + c.disputed > 0 {
            eprintln!(
                "note: {id}: nothing was created for {} person(s) who may already have an account; decide with `turnstile matches`",
                c.proposed + c.disputed
            );
        }
        if let Some((plan, people)) = r.creates_held {
            eprintln!(
                "error: {id}: the creates of {people} person(s) are held by the guard on creates as HP-{plan:06}, with nothing created for them; check `turnstile onboard --system {id}` for accounts they may already have, then `turnstile approve {plan} --as NAME` or `turnstile reject {plan} --as NAME --reason TEXT`"
            );
        }
        if let Some((plan, people)) = r.held {
            eprintln!(
                "error: {id}: the changes of {people} person(s) losing access are held by the mass-change guard as HP-{plan:06}, with nothing applied for them; see `turnstile held {plan}`, then `turnstile approve {plan} --as NAME` or `turnstile reject {plan} --as NAME --reason TEXT`"
            );
        }
        match &r.result {
            TargetOutcome::DryRun => {
                for c in &r.changes {
                    println!(
                        "  {} {}: {}  [rule {}] {}",
                        c.employee_number,
                        c.account.as_deref().unwrap_or("(new account)"),
                        c.action,
                        c.rule,
                        c.reason
                    );
                }
            }
            TargetOutcome::Held => eprintln!(
                "error: {id}: stopped before acting: {} of {} accounts ({:.1}%) would be disabled or deleted, over [reconcile] max_removal_share {:.1}%. Check `turnstile reconcile --system {id} --dry-run`, then re-run with --allow-share --as NAME",
                r.removed,
                r.accounts_read,
                r.share * 100.0,
                config.reconcile.max_removal_share * 100.0
            ),
            TargetOutcome::Applied(t) => println!(
                "{id}: {} applied, {} failed, {} skipped{} (see `turnstile audit`; failed changes are planned again next run)",
                t.applied,
                t.failed,
                t.skipped,
                if t.work_items > 0 {
                    format!(", {} work item(s) raised", t.work_items)
                } else {
                    String::new()
                }
            ),
            TargetOutcome::Quarantined { reason, tally } => eprintln!(
                "error: quarantined: {reason}. {} change(s) applied on {id} before it stopped; the other targets were reconciled",
                tally.applied
            ),
            TargetOutcome::Unreadable { reason, tally } if tally.applied + tally.failed > 0 => {
                eprintln!(
                    "error: {id}: stopped answering part-way: {reason}. {} change(s) applied and {} failed before it stopped, each recorded; the rest wait: run reconcile again later",
                    tally.applied, tally.failed
                )
            }
            TargetOutcome::Unreadable { reason, .. } => eprintln!(
                "error: {id}: could not be read, nothing was changed there: {reason}; run reconcile again later"
            ),
            TargetOutcome::Stopped { tally, left } => eprintln!(
                "error: {id}: stopped as asked: {} applied, {} failed before it stopped, each recorded; {left} person(s) left for the next run",
                tally.applied, tally.failed
            ),
        }
        if r.notices.recorded > 0 {
            println!(
                "{id}: {} line manager notice(s) of an inactivity disable sent and recorded",
                r.notices.recorded
            );
        }
        if r.notices.no_relay > 0 {
            eprintln!(
                "note: {id}: {} account(s) are past inactivity_days less the notice period, but no [smtp] relay is configured to tell their managers, so none is disabled for inactivity",
                r.notices.no_relay
            );
        }
        for f in &r.notices.failed {
            attention = true;
            eprintln!("error: {id}: {f}; the disables wait, and the notice is sent again next run");
        }
        if !r.settled.is_empty() {
            let confirmed = r
                .settled
                .iter()
                .filter(|i| i.status == crate::work::Status::Confirmed)
                .count();
            println!(
                "{id}: {confirmed} work item(s) confirmed by the export, {} cancelled as no longer needed",
                r.settled.len() - confirmed
            );
        }
    }
    if !a.dry_run {
        let (managers, told) = (&done.after.starters, &done.after.sponsors);
        if managers.recorded > 0 {
            println!(
                "starters: {} hiring manager notice(s) of a starter not starting sent and recorded",
                managers.recorded
            );
        }
        if told.recorded > 0 {
            println!(
                "sponsorship: {} sponsor notice(s) of an ending sent and recorded",
                told.recorded
            );
        }
        if told.no_relay > 0 {
            eprintln!(
                "note: {} sponsored identities end within {} days, but no [smtp] relay is configured to tell their sponsors",
                told.no_relay, config.notify.sponsor_notice_days
            );
        }
        for f in managers.failed.iter().chain(&told.failed) {
            attention = true;
            eprintln!("error: {f}; sent again next run");
        }
        let sent = done.delivered.unwrap_or_default();
        if sent != crate::engine::work::Delivered::default() {
            println!(
                "work items: {} sent to the service desk, {} emailed, {} became overdue, {} escalated",
                sent.posted, sent.emailed, sent.overdue, sent.escalated
            );
        }
        for f in &sent.failed {
            attention = true;
            eprintln!("error: work item not sent (tried again next run): {f}");
        }
    }
    Ok(if attention { 1 } else { 0 })
}
