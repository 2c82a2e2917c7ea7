//! The engine: the one way Turnstile changes anything. The CLI, the daemon, a scheduler,
//! the admin API and the tests all call it; none of them plans or applies on its own.
//!
//! - [`ingest`]: record an HR event with the changes it plans (one transaction).
//! - [`pass`]: the one full pass (starters expired, every target reconciled, notices about
//!   people, work items sent) that `turnstile reconcile` and the daemon's schedule run.
//! - [`reconcile`]: read a target, plan against the HR records held, guard against mass
//!   removal, apply, audit; per target, so one target's quarantine never stops another.
//! - [`apply`]: one person's changes on one target, each audited; work items tracked.
//! - [`due`]: the pending work the store holds (an HR record changed, a checkpoint day
//!   begun) applied to every target by itself, retried with backoff.
//! - [`held`]: the mass-change guard for the daemon's own changes, and a person's
//!   approval or rejection of what it held.
//! - [`targets`]: the configured targets, built by type through the connector registry,
//!   each with its own state (online, or quarantined with a reason and a next probe).

pub mod apply;
pub mod clock;
pub mod correlation;
pub mod decided;
pub mod due;
pub mod held;
pub mod inactivity;
pub mod ingest;
pub mod notices;
pub mod pass;
pub mod reconcile;
pub mod sponsorship;
pub mod starters;
pub mod targets;
pub mod work;
