//! Turnstile keeps NHS staff access in step with HR.
//!
//! The rooms, in the order data flows through them: `feed` (files in) → `hr` (the person)
//! → `policy` (the role model) → `desired` (what they should have) → `plan` (the changes)
//! → `connectors` (applying them to a target) → `audit` (the trail), with `store` keeping
//! state and `drift` comparing HR with account exports. `hr`, `policy`, `desired`, `plan`,
//! `drift` and `audit` are pure: time is a parameter and nothing there does I/O.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![deny(unsafe_code)]

pub mod account;
pub mod apply;
pub mod audit;
pub mod cli;
pub mod config;
#[path = "../connectors/mod.rs"]
pub mod connectors;
pub mod daemon;
pub mod desired;
pub mod drift;
pub mod feed;
pub mod hr;
pub mod ingest;
pub mod kafka;
pub mod plan;
pub mod policy;
pub mod report;
pub mod store;
#[cfg(test)]
pub(crate) mod testkit;
