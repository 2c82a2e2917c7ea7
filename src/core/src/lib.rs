//! Turnstile's pure core: what a person should have and what must change, as functions
//! of their inputs.
//!
//! The rooms, in the order data flows through them: `hr` (the person, from any feed) →
//! `policy` (the role model) → `desired` (the accounts and entitlements they should have)
//! → `plan` (the changes, against the `account`s a target holds) → `audit` (the chained
//! trail entry of each). `drift` compares HR with account exports, `clock` holds the one
//! clock rule (Europe/London calendar days), and `input` the shape of a bad input row.
//!
//! Nothing here does I/O or reads the clock: time is a parameter, output is ordered, and
//! the build keeps it so — this crate's `Cargo.toml` has no runtime, database, broker,
//! HTTP or file-system dependency (a test checks the list), and its `clippy.toml` bans the
//! std and jiff calls that read files, the environment or the time.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![deny(unsafe_code)]

pub mod account;
pub mod audit;
pub mod clock;
pub mod correlate;
pub mod desired;
pub mod dn;
pub mod drift;
pub mod evidence;
pub mod explain;
pub mod fast;
pub mod hr;
pub mod inactivity;
pub mod input;
pub mod naming;
pub mod plan;
pub mod policy;
pub mod review;
pub mod schedule;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod work;
