//! Turnstile keeps NHS staff access in step with HR.
//!
//! Two crates. `turnstile-core` (`src/core`) is the pure core: `hr` (the person) →
//! `policy` (the role model) → `desired` (what they should have) → `plan` (the changes)
//! → `audit` (the chained trail entry), with `drift`, `account`, `clock` and `input`; no
//! I/O, time passed in, enforced by its own manifest and clippy.toml. This crate is the
//! edge, re-exporting the core's modules under the same names: `feed` (files in) →
//! `ingest` (an event recorded with its plan) → `store` (state and the trail) →
//! `connectors` and `apply` (changes applied to targets), with `kafka` and `daemon`
//! (`turnstile run`), `report` (drift rendered) and `cli` (parses, calls, prints).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![deny(unsafe_code)]

pub use turnstile_core::{
    account, audit, clock, correlate, desired, dn, drift, evidence, explain, hr, inactivity, input,
    naming, plan, policy, review, schedule, work,
};

/// The wall clock, for measuring against other systems' clocks only (a Kafka record's
/// timestamp, an HTTP date, when a migration ran): never for business time, which is
/// [`now`]. The one place the edge crate reads the system clock
/// (`tests/it/purity.rs` holds every other file to it).
pub fn wall_clock() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

/// The current instant: `TURNSTILE_NOW` (RFC 3339) when it is set — for rehearsals and
/// tests that play a month of events in minutes (`turnstile` refuses to start when it is
/// not a valid instant) — else the system clock.
pub fn now() -> jiff::Timestamp {
    // Read once: the daemon's event path asks for the time per event.
    static INJECTED: std::sync::OnceLock<Option<jiff::Timestamp>> = std::sync::OnceLock::new();
    INJECTED
        .get_or_init(|| std::env::var(NOW_VAR).ok().and_then(|t| t.parse().ok()))
        .unwrap_or_else(jiff::Timestamp::now)
}

/// How many threads the pure core's shared-out work (drift, correlation, report rendering)
/// may use: the cores this process may run on, at least one. The core takes it as an
/// argument; this is where the edge asks the machine.
pub fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The variable [`now`] reads.
pub const NOW_VAR: &str = "TURNSTILE_NOW";

pub mod cli;
pub mod config;
#[path = "../connectors/mod.rs"]
pub mod connectors;
pub mod daemon;
pub mod engine;
pub mod feed;
#[doc(hidden)]
pub mod fuzzing;
pub mod kafka;
pub mod report;
pub mod retry;
pub mod store;
pub mod tokens;
#[cfg(test)]
pub(crate) use turnstile_core::testkit;
