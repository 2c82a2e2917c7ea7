//! The one full pass, the same for `turnstile reconcile` and the daemon's schedule: TRAC
//! starters ESR never listed taken as not starting, every target reconciled (plan,
//! correlate, guard, apply, audit, inactivity notices), then the notices about people
//! (hiring managers of starters who will not start, sponsors of people whose access ends
//! soon), then, where the caller asks, work items sent. Each notice sender is a step this
//! pass calls; none calls another.

use super::notices::Sent;
use super::reconcile::{self, Run, SystemReport};
use super::targets::Target;
use super::work::{Delivered, Sender};
use crate::hr::Person;
use crate::store::{Store, StoreError};
use jiff::civil::Date;

/// What a pass needs beyond a reconciliation's own settings.
pub struct Pass<'a> {
    /// The reconciliation's settings (model, day, actor, dry run, guards, notify).
    pub run: Run<'a>,
    /// Days after their start date a TRAC starter ESR has not listed is taken as not
    /// starting (`[feeds] trac_unconfirmed_days`).
    pub trac_unconfirmed_days: u32,
    /// Days ahead a sponsor is told of an end (`[notify] sponsor_notice_days`).
    pub sponsor_notice_days: u32,
    /// Send work items at the end (the CLI); the daemon sends them on its own cadence.
    pub deliver: Option<&'a Sender>,
}

/// What one pass did. A dry run changes nothing and sends nothing: only `targets` is
/// filled.
#[derive(Debug, Default)]
pub struct PassReport {
    /// TRAC starters taken as not starting.
    pub expired: usize,
    pub targets: Vec<SystemReport>,
    pub after: AfterReconcile,
    pub delivered: Option<Delivered>,
}

/// What the notices that follow a reconciliation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AfterReconcile {
    /// Hiring managers told of starters not starting.
    pub starters: Sent,
    /// Sponsors told of ends.
    pub sponsors: Sent,
}

/// Runs the pass over `targets`.
pub async fn run(
    pass: &Pass<'_>,
    store: &mut dyn Store,
    targets: &mut [Target],
) -> Result<PassReport, StoreError> {
    let r = &pass.run;
    let mut out = PassReport::default();
    if !r.dry_run {
        out.expired =
            super::starters::expire(store, r.model, r.today, pass.trac_unconfirmed_days, r.actor)?;
    }
    out.targets = reconcile::reconcile(r, store, targets).await?;
    // Asked to stop: the notices and the delivery wait for the next pass too.
    if r.dry_run || r.stopping() {
        return Ok(out);
    }
    out.after = notices_about_people(
        store,
        r.notify,
        r.today,
        pass.sponsor_notice_days,
        r.now,
        r.actor,
    )
    .await?;
    if let Some(sender) = pass.deliver {
        out.delivered = Some(sender.deliver(store, crate::now(), r.actor).await?);
    }
    Ok(out)
}

/// The notices about people that follow every reconciliation: hiring managers of
/// starters who will not start, and sponsors of people whose access ends within
/// `sponsor_notice_days`.
async fn notices_about_people(
    store: &mut dyn Store,
    sender: Option<&Sender>,
    today: Date,
    sponsor_notice_days: u32,
    at: jiff::Timestamp,
    actor: &str,
) -> Result<AfterReconcile, StoreError> {
    let people: Vec<Person> = store
        .persons()?
        .into_iter()
        .map(|p| p.event.person)
        .collect();
    let not_starting = super::starters::to_tell(store, &people, today)?;
    let starters = super::starters::tell(store, sender, &not_starting, at, actor).await?;
    let endings = super::sponsorship::ending(store, &people, today, sponsor_notice_days)?;
    let sponsors = super::sponsorship::warn(store, sender, &endings, at, actor).await?;
    Ok(AfterReconcile { starters, sponsors })
}
