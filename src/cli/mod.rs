//! The command line (CONTRACT §3): parses flags, reads files, opens the store, calls the
//! pure core or the engine and prints what it found. Exit codes: 0 success, 1 runtime
//! failure, 2 bad usage, config or input, 3 drift found with `--fail-on-drift`.
//!
//! This file holds the verbs' table, the exit codes and what every verb shares (the
//! store, the role model, the day, output); each verb's arguments and body are in a file
//! of its own (`feed_cmd.rs`, `reconcile.rs`, `held.rs`, …).

use crate::config::Config;
use crate::drift;
use crate::engine::ingest;
use crate::feed::{self, esr, trac};
use crate::hr::{self, HrEvent, IsoDate, Person, Rfc3339, Source};
use crate::plan;
use crate::policy::{Findings, RoleModel};
use crate::report::{self, Format};
use crate::store::{AuditFilter, Store};
use clap::{Args, Parser, Subcommand, ValueEnum};
use jiff::Timestamp;
use jiff::civil::Date;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod audit;
mod backup;
mod connect;
mod drift_cmd;
mod drift_read;
mod evidence;
mod explain;
mod feed_cmd;
mod held;
mod history;
mod manuals;
mod matches;
mod plan_cmd;
mod reconcile;
mod reenable;
mod reference;
pub(crate) mod review;
mod run;
mod token;
mod validate;
mod work_items;

use audit::*;
use drift_cmd::*;
use feed_cmd::*;
use held::*;
use plan_cmd::*;
use reconcile::*;
use reenable::*;
use run::*;
use token::*;
use validate::*;
use work_items::*;

#[derive(Parser, Debug)]
#[command(
    name = "turnstile",
    version,
    about = "Keeps NHS staff access in step with HR."
)]
pub struct Cli {
    /// Config file; every key can be overridden by TURNSTILE__SECTION__KEY. Give it more
    /// than once to layer files: a later file's keys win, tables merge (the Helm chart
    /// layers its own keys over the trust's config this way).
    #[arg(long, global = true, value_name = "FILE")]
    config: Vec<PathBuf>,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand, Debug)]
enum Verb {
    /// The daemon: consume HR events from Kafka and record them with the changes they
    /// plan; serves /metrics, /healthz and /readyz. Stops cleanly on SIGTERM or SIGINT.
    Run(RunArgs),
    /// Read a file feed into HR events; print them, or --apply them to the state store.
    Feed(FeedArgs),
    /// Show what would change and why, touching nothing.
    Plan(PlanArgs),
    /// Read every target, compare with what HR says, fix drift.
    Reconcile(ReconcileArgs),
    /// The offline drift report, from files alone.
    Drift(DriftArgs),
    /// Who changed whose access, when and why; --verify checks the trail.
    Audit(AuditArgs),
    /// Check the config and the role model, naming every problem at once.
    Validate(ValidateArgs),
    /// Plans stopped by the mass-change guard: all undecided ones, or one with its changes.
    Held(HeldArgs),
    /// Changes raised as work items for systems without an API, and where they stand.
    WorkItems(WorkItemsArgs),
    /// Record a line manager's approval to enable again an account disabled for
    /// inactivity; the next reconcile enables it.
    Reenable(ReenableArgs),
    /// Apply a held plan (the changes still needed), under your name in the audit trail.
    Approve(DecideArgs),
    /// Refuse a held plan: none of its changes is applied; your name and reason are
    /// recorded.
    Reject(RejectArgs),
    /// One person: each entitlement and change with the HR fact, rule and role behind
    /// it, and for a removal the fact that ended it.
    Explain(explain::ExplainArgs),
    /// Access review packs per line manager (--manager N, or --all --out DIR), and
    /// `review record FILE --as NAME` to read a completed one back.
    Review(review::ReviewArgs),
    /// What a CQC inspection or a DSPT return asks about access, in one report: leaver
    /// removal times, joiners set up in time, dormancy, generic accounts, reviews,
    /// changes made outside Turnstile, and the audit trail's verification.
    Evidence(evidence::EvidenceArgs),
    /// The first-rollout survey of one system, touching nothing: every HR person and
    /// every account classified (linked, strong match, disputed, no candidate, orphan,
    /// generic), as json, csv or html.
    Onboard(matches::OnboardArgs),
    /// Existing accounts correlation found for people (proposals and disputes), and a
    /// person's decisions: list, show, accept, accept-strong, reject, unlink, excess.
    Matches(matches::MatchesArgs),
    /// Admin API tokens: `token new --name N --role viewer|operator|approver` prints a
    /// new random token once and the [[tokens]] entry (its SHA-256) for the tokens file.
    Token(TokenArgs),
    /// Create or upgrade the state store's schema, then exit: run it as the schema's
    /// owner where the role the daemon runs as may not create tables (so it cannot
    /// alter or disable the audit trail's triggers either).
    Migrate,
    /// A consistent copy of the SQLite state store, taken while the daemon runs.
    Backup(backup::BackupArgs),
    /// The configuration reference (every key: type, default, environment variable,
    /// meaning) or turnstile.toml's JSON Schema, made from the config structs.
    Reference(reference::ReferenceArgs),
    /// Shell completions for bash, zsh, fish, elvish or PowerShell, on standard output.
    Completions(manuals::CompletionsArgs),
    /// The man pages (turnstile.1 and one per verb), written into a folder.
    Man(manuals::ManArgs),
}

#[derive(Args, Debug)]
pub(crate) struct Common {
    /// Role model file (default: [policy] path in the config).
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: Option<PathBuf>,
    /// The Europe/London date to judge on (default: today).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub(crate) today: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum TextOrJson {
    Text,
    Json,
}

/// How a verb failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Failure {
    /// Bad usage, config or input: exit 2.
    #[error("{0}")]
    Usage(String),
    /// Something broke while running: exit 1.
    #[error("{0}")]
    Runtime(String),
    /// The reader of standard output went away (`turnstile audit | head`): stop quietly,
    /// exit 0.
    #[error("standard output was closed")]
    Closed,
}

/// Writing to standard output failed; a reader that went away is not an error.
fn write_failed(e: std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Failure::Closed
    } else {
        Failure::Runtime(format!("writing the output: {e}"))
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        Failure::Runtime(e.to_string())
    }
}

/// Every feed error is about the input file (unreadable, bad CSV, missing column): exit 2.
impl From<feed::FeedError> for Failure {
    fn from(e: feed::FeedError) -> Self {
        feed_failed(&e)
    }
}

fn feed_failed(e: &feed::FeedError) -> Failure {
    Failure::Usage(e.to_string())
}

/// Opens the configured store for writing (creating it if there is none), with the audit
/// key when one is configured.
fn open_store(config: &Config) -> Result<Box<dyn Store + Send>, Failure> {
    let key = config.audit_key().map_err(Failure::Usage)?;
    Ok(crate::store::open(&config.store, key, false)?)
}

/// Opens the configured store for reading: it must exist.
fn open_existing_store(config: &Config) -> Result<Box<dyn Store + Send>, Failure> {
    let key = config.audit_key().map_err(Failure::Usage)?;
    Ok(crate::store::open(&config.store, key, true)?)
}

pub use crate::clock::london;

/// Parses the command line and runs the verb.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    if let Ok(text) = std::env::var(crate::NOW_VAR)
        && text.parse::<Timestamp>().is_err()
    {
        eprintln!(
            "error: {}={text:?} is not an RFC 3339 instant (e.g. 2026-11-27T09:00:00Z); unset it to use the clock",
            crate::NOW_VAR
        );
        return ExitCode::from(2);
    }
    let explicit = !cli.config.is_empty();
    let config_paths = if explicit {
        cli.config.clone()
    } else {
        vec![PathBuf::from("turnstile.toml")]
    };
    let config = match Config::load_all(&config_paths, explicit) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config.log.level);
    match run(cli, config) {
        Ok(code) => ExitCode::from(code),
        Err(Failure::Usage(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(1)
        }
        Err(Failure::Closed) => ExitCode::SUCCESS,
    }
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

fn run(cli: Cli, config: Config) -> Result<u8, Failure> {
    match cli.verb {
        Verb::Run(a) => run_cmd(&config, a),
        Verb::Reconcile(a) => reconcile_cmd(&config, a),
        Verb::Validate(a) => validate(&config, a.policy.as_deref(), a.connect),
        Verb::Feed(a) => feed_cmd(&config, a),
        Verb::Plan(a) => plan_cmd(&config, a),
        Verb::Drift(a) => drift_cmd(&config, a),
        Verb::Audit(a) => audit_cmd(&config, a),
        Verb::Held(a) => held_cmd(&config, a),
        Verb::Onboard(a) => matches::onboard_cmd(&config, a),
        Verb::Matches(a) => matches::matches_cmd(&config, a),
        Verb::WorkItems(a) => work_items_cmd(&config, a),
        Verb::Approve(a) => approve_cmd(&config, a),
        Verb::Reenable(a) => reenable_cmd(&config, a),
        Verb::Reject(a) => reject_cmd(&config, a),
        Verb::Explain(a) => explain::explain_cmd(&config, a),
        Verb::Review(a) => review::review_cmd(&config, a),
        Verb::Evidence(a) => evidence::evidence_cmd(&config, a),
        Verb::Token(a) => token_cmd(a),
        Verb::Migrate => {
            open_store(&config)?;
            println!("the state store is set up and at this version's schema");
            Ok(0)
        }
        Verb::Backup(a) => backup::backup_cmd(&config, a),
        Verb::Reference(a) => reference::reference_cmd(a),
        Verb::Completions(a) => manuals::completions_cmd(a),
        Verb::Man(a) => manuals::man_cmd(a),
    }
}

fn print_findings(findings: &Findings) {
    for p in &findings.problems {
        eprintln!("{p}");
    }
}

fn load_model(config: &Config, policy: Option<&Path>) -> Result<RoleModel, Failure> {
    let path = policy.unwrap_or(&config.policy.path);
    if policy.is_none() && !path.exists() {
        return Err(Failure::Usage(format!(
            "no role model: {} (the [policy] path in the config) does not exist; pass --policy FILE or set [policy] path",
            path.display()
        )));
    }
    match crate::config::load_role_model(path) {
        Ok((model, warnings)) => {
            print_findings(&warnings);
            Ok(model)
        }
        Err(findings) => {
            print_findings(&findings);
            Err(Failure::Usage(format!(
                "{}: the role model has {} problem(s); run `turnstile validate` after fixing them",
                path.display(),
                findings.errors().count()
            )))
        }
    }
}

fn today(arg: Option<&str>) -> Result<Date, Failure> {
    match arg {
        Some(text) => IsoDate::parse(text)
            .map(|d| d.0)
            .map_err(|m| Failure::Usage(format!("--today: {m}"))),
        None => Ok(crate::clock::today(crate::now())),
    }
}

/// An async runtime for the verbs that talk to servers.
fn runtime(builder: &mut tokio::runtime::Builder) -> Result<tokio::runtime::Runtime, Failure> {
    builder
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the async runtime: {e}")))
}

/// Says on standard error that `old` (given on the command line) is now `new`: "approve"
/// meant three things, and now means a held plan's decision only.
fn renamed(old: &str, new: &str) {
    if std::env::args().any(|a| a == old) {
        eprintln!("note: {old} is now {new}; the old spelling still works for now");
    }
}

/// The format a report is written in: `--format`, else `--out`'s extension, else
/// `default`. `offered` lists the formats the verb writes, for the error.
fn out_format(
    format: Option<Format>,
    out: Option<&Path>,
    default: Format,
    offered: &str,
) -> Result<Format, Failure> {
    match (format, out) {
        (Some(f), _) => Ok(f),
        (None, Some(out)) => Format::from_extension(out).ok_or_else(|| {
            Failure::Usage(format!(
                "--out {}: say which format to write with --format {offered} (the file name's extension does not say)",
                out.display()
            ))
        }),
        (None, None) => Ok(default),
    }
}

/// Writes `text` to the `--out` file, or to standard output.
fn write_out(out: Option<&Path>, text: &str) -> Result<(), Failure> {
    write_pieces(out, &[text.as_bytes()])
}

/// [`write_out`], of text given in pieces.
fn write_pieces(out: Option<&Path>, pieces: &[impl AsRef<[u8]>]) -> Result<(), Failure> {
    write_out_with(out, &mut |w| {
        pieces.iter().try_for_each(|p| w.write_all(p.as_ref()))
    })
}

/// [`write_out`], the text written by `write` as it is made, never held whole.
fn write_out_with(
    out: Option<&Path>,
    write: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Failure> {
    match out {
        Some(path) => {
            crate::config::files::write_private_with(path, write).map_err(Failure::Runtime)
        }
        None => {
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            write(&mut w).and_then(|()| w.flush()).map_err(write_failed)
        }
    }
}

/// Prints `value` as pretty JSON on standard output.
fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::Runtime(e.to_string()))?;
    writeln!(std::io::stdout().lock(), "{text}").map_err(write_failed)
}

/// The audit actor of a verb that changes state: the operator (`--as NAME`, else the
/// operating-system user) and the verb, e.g. `Sam Lee (turnstile reconcile)`.
fn actor(by: Option<&str>, verb: &str) -> Result<String, Failure> {
    let name = match by {
        Some(n) => decider(n)?.to_string(),
        None => os_user(),
    };
    Ok(format!("{name} ({verb})"))
}

/// The operating-system user, for the audit actor when `--as` is not given.
fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "unknown user".to_string())
}

/// A time as people in the trust read it: Europe/London.
fn local_time(at: Timestamp) -> String {
    at.to_zoned(london())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// Text a person gives with a decision (a name, a reason), trimmed: refused with
/// `problem` when it is blank or not one printable line.
fn one_line<'a>(text: &'a str, problem: &str) -> Result<&'a str, Failure> {
    let t = text.trim();
    if t.is_empty() || t.chars().any(char::is_control) {
        return Err(Failure::Usage(problem.to_string()));
    }
    Ok(t)
}

/// A decision's name must say who: not blank, one printable line.
fn decider(by: &str) -> Result<&str, Failure> {
    one_line(
        by,
        "--as: give the name of the person deciding (one line, not blank)",
    )
}
