//! The command line (CONTRACT §3): parses flags, reads files, opens the store, calls the
//! pure core and prints what it found. Exit codes: 0 success, 1 runtime failure, 2 bad
//! usage, config or input, 3 drift found with `--fail-on-drift`.

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

mod connect;
mod drift_read;
mod evidence;
mod explain;
mod history;
mod matches;
mod review;

#[derive(Parser, Debug)]
#[command(
    name = "turnstile",
    version,
    about = "Keeps NHS staff access in step with HR."
)]
pub struct Cli {
    /// Config file; every key can be overridden by TURNSTILE__SECTION__KEY.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
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
}

#[derive(Args, Debug)]
struct TokenArgs {
    #[command(subcommand)]
    verb: TokenVerb,
}

#[derive(Subcommand, Debug)]
enum TokenVerb {
    /// A new token: printed once on standard output with the entry to add.
    New {
        /// Who or what uses it (recorded as the actor of what it approves).
        #[arg(long)]
        name: String,
        /// viewer (reads), operator (also retries), approver (also approves and rejects).
        #[arg(long)]
        role: String,
    },
}

#[derive(Args, Debug)]
struct HeldArgs {
    /// A plan's id (`7` or `HP-000007`): show its changes.
    id: Option<String>,
    /// Also list plans already approved or rejected.
    #[arg(long)]
    all: bool,
    #[arg(long, value_enum, default_value = "text")]
    format: TextOrJson,
}

#[derive(Args, Debug)]
struct ReenableArgs {
    /// The system id (as in the role model).
    system: String,
    /// The account's name on that system.
    account: String,
    /// The manager approving (recorded in the trail).
    #[arg(long = "as", value_name = "NAME")]
    by: String,
    /// Why it is needed again.
    #[arg(long, value_name = "TEXT")]
    reason: String,
}

#[derive(Args, Debug)]
struct WorkItemsArgs {
    /// Only this system.
    #[arg(long)]
    system: Option<String>,
    /// Only items in this state: open, reopened, overdue, confirmed or cancelled.
    #[arg(long, value_name = "STATUS")]
    status: Option<String>,
    /// First send what is waiting: new items to the webhook and in digests, overdue items
    /// escalated (`reconcile` and `run` do this by themselves).
    #[arg(long)]
    send: bool,
    /// With --send: judge due dates at this time (RFC 3339) instead of now, e.g. to
    /// rehearse escalations.
    #[arg(long, value_name = "TIME", requires = "send")]
    at: Option<String>,
    /// Who runs it, for the audit trail (with --send).
    #[arg(long = "as", value_name = "NAME")]
    by: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: ItemFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ItemFormat {
    Text,
    Json,
    Csv,
}

#[derive(Args, Debug)]
struct DecideArgs {
    /// The held plan's id (`7` or `HP-000007`), as `turnstile held` lists it.
    id: String,
    /// Who decides: recorded in the audit trail as the actor.
    #[arg(long = "as", value_name = "NAME", required = true)]
    by: String,
    /// Role model file (default: [policy] path in the config).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct RejectArgs {
    #[command(flatten)]
    decide: DecideArgs,
    /// Why: recorded in the audit trail with the decision.
    #[arg(long, value_name = "TEXT", required = true)]
    reason: String,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Role model file (default: [policy] path in the config).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct FeedArgs {
    #[arg(value_enum)]
    source: FeedSource,
    /// The CSV file.
    file: PathBuf,
    /// The file is a full extract: people it no longer lists are flagged for review
    /// (never made leavers).
    #[arg(long)]
    full: bool,
    /// Record the events in the state store, with the changes they plan.
    #[arg(long, conflicts_with = "publish")]
    apply: bool,
    /// Publish the events to the Kafka topic of [kafka] (key = employee number).
    #[arg(long)]
    publish: bool,
    /// When the extract was taken (RFC 3339); default: the file's modification time. Two
    /// feeds of the same file give the same event ids, so a replay changes nothing.
    #[arg(long, value_name = "TIME")]
    extracted_at: Option<String>,
    /// With --full: go ahead although more than `[feeds] max_review_share` of the people
    /// held would be flagged for review (a cut or wrong extract looks like that).
    #[arg(long, requires = "full")]
    approve: bool,
    /// Who feeds it, for the audit trail (default: the operating-system user).
    #[arg(long = "as", value_name = "NAME")]
    by: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FeedSource {
    Esr,
    Trac,
    /// Staff not on ESR (students, agency, locums, honorary): each with a sponsor and an
    /// end date.
    Sponsored,
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

#[derive(Args, Debug)]
struct PlanArgs {
    /// Only this employee number.
    #[arg(long, value_name = "N")]
    person: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: TextOrJson,
    /// Exit 3 when there is anything to change.
    #[arg(long)]
    fail_on_drift: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct ReconcileArgs {
    /// Only this system (as in the role model and `[targets.<system>]`).
    #[arg(long)]
    system: Option<String>,
    /// Read the targets and show what would change, changing nothing.
    #[arg(long)]
    dry_run: bool,
    /// Go ahead although the run would disable or delete more than
    /// `[reconcile] max_removal_share` of a system's accounts (check `--dry-run` first).
    #[arg(long, requires = "by")]
    approve: bool,
    /// Who runs it, for the audit trail (required with --approve; default: the
    /// operating-system user).
    #[arg(long = "as", value_name = "NAME")]
    by: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum TextOrJson {
    Text,
    Json,
}

#[derive(Args, Debug)]
struct DriftArgs {
    /// The ESR staff extract.
    #[arg(long, value_name = "FILE")]
    hr: PathBuf,
    /// An account export, as SYSTEM=FILE (SYSTEM as in the role model); repeat per system.
    #[arg(long = "export", value_name = "SYSTEM=FILE", required = true)]
    exports: Vec<String>,
    /// The sponsored identities (staff not on ESR), judged with the rest and listed apart.
    #[arg(long, value_name = "FILE")]
    sponsored: Option<PathBuf>,
    /// The report's format (default: from the --out file's extension, else json).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Where to write the report (default: standard output).
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Accept an export with no accounts (a system that really has none).
    #[arg(long)]
    allow_empty: bool,
    /// A previous report (its JSON): each finding is marked new or persisting (with the
    /// day first seen), what it had and this one has not is listed as resolved, and an
    /// export much smaller than the one it read is refused.
    #[arg(long, value_name = "FILE")]
    compare: Option<PathBuf>,
    /// Accept an export with more than `[feeds] max_export_shrink_share` fewer accounts
    /// than the previous report (--compare) or the last run on the same file read.
    #[arg(long)]
    allow_shrink: bool,
    /// The files' encoding: auto (UTF-8, else Windows-1252 line by line), utf-8 or
    /// windows-1252 (default: [feeds] encoding).
    #[arg(long, value_name = "ENCODING")]
    encoding: Option<String>,
    /// Exit 3 when anything is found.
    #[arg(long)]
    fail_on_drift: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
struct AuditArgs {
    /// Only entries about this employee number.
    #[arg(long, value_name = "N")]
    person: Option<String>,
    /// Only entries from this Europe/London date on.
    #[arg(long, value_name = "YYYY-MM-DD")]
    since: Option<String>,
    /// Check that no entry was edited, removed or reordered; prints the head (`head
    /// SEQ:HASH`) to keep outside the host.
    #[arg(long)]
    verify: bool,
    /// With --verify: fail unless the trail still holds this entry with this hash (a head
    /// printed by an earlier `--verify` and kept elsewhere).
    #[arg(long, value_name = "SEQ:HASH", requires = "verify")]
    expect_head: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    format: TextOrJson,
}

#[derive(Args, Debug)]
struct ValidateArgs {
    /// Role model file (default: [policy] path in the config).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Also try every peer the config names (state store, Kafka, targets, mail relay)
    /// and name each that does not answer; changes nothing.
    #[arg(long)]
    connect: bool,
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
    let explicit = cli.config.is_some();
    let config_path = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("turnstile.toml"));
    let config = match Config::load(&config_path, explicit) {
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
    }
}

fn token_cmd(a: TokenArgs) -> Result<u8, Failure> {
    let TokenVerb::New { name, role } = a.verb;
    let name = name.trim();
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_control() || c == '"' || c == '\\')
    {
        return Err(Failure::Usage(
            "--name: one line, without quotes or backslashes".into(),
        ));
    }
    if !["viewer", "operator", "approver"].contains(&role.as_str()) {
        return Err(Failure::Usage(format!(
            "--role {role}: use viewer, operator or approver"
        )));
    }
    let (token, hash) = crate::daemon::api::new_token().map_err(Failure::Runtime)?;
    println!(
        "# Give this token to {name} (it is shown once, and not stored anywhere):\n# {token}\n# Add this to the tokens file ([daemon] tokens_file, mode 600):\n[[tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{hash}\""
    );
    Ok(0)
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

fn validate(config: &Config, policy: Option<&Path>, connect: bool) -> Result<u8, Failure> {
    let path = policy.unwrap_or(&config.policy.path);
    let (model, findings) = match crate::config::load_role_model(path) {
        Ok((m, f)) => (Some(m), f),
        Err(f) => (None, f),
    };
    let mut problems = findings.problems;
    if let Some(model) = &model {
        if let Err(target_problems) = crate::engine::targets::build(config, model) {
            problems.extend(
                target_problems
                    .into_iter()
                    .map(|message| crate::policy::Problem {
                        file: "config".into(),
                        line: None,
                        message,
                        warning: false,
                    }),
            );
        }
        for system in config.exports.keys() {
            if !model.systems.contains_key(system) {
                problems.push(crate::policy::Problem {
                    file: "config".into(),
                    line: None,
                    message: format!(
                        "[exports.{system}] names a system the role model does not declare"
                    ),
                    warning: false,
                });
            }
        }
    }
    // Settings that knowingly weaken transport security are said at every check.
    for (on, message) in [
        (
            config.store.kind == crate::config::StoreKind::Postgres
                && config.store.tls_insecure_skip_verify,
            "[store] tls_insecure_skip_verify = true: the PostgreSQL server's certificate is not checked and plain text is allowed; whoever sits between can read every record and write work the applier carries out",
        ),
        (
            config.daemon.allow_plaintext_tokens && config.daemon.plaintext_tokens(),
            "[daemon] allow_plaintext_tokens = true: bearer tokens reach the admin endpoint over plain HTTP on a network address",
        ),
    ] {
        if on {
            problems.push(crate::policy::Problem {
                file: "config".into(),
                line: None,
                message: message.into(),
                warning: true,
            });
        }
    }
    if connect {
        problems.extend(connect::try_peers(config, model.as_ref()));
    }
    for p in &problems {
        println!("{p}");
    }
    let errors = problems.iter().filter(|p| !p.warning).count();
    if errors > 0 {
        return Err(Failure::Usage(format!("{errors} error(s) found")));
    }
    if let Some(m) = model {
        println!(
            "{}: ok: {} systems, {} roles, {} rules ({} warning(s))",
            path.display(),
            m.systems.len(),
            m.roles.len(),
            m.rules.len(),
            problems.len()
        );
    }
    Ok(0)
}

/// When the extract was taken: `--extracted-at`, else the file's modification time. The
/// file events' ids are made from it, so feeding the same extract twice changes nothing.
fn extracted_at(arg: Option<&str>, file: &Path) -> Result<Timestamp, Failure> {
    match arg {
        Some(text) => Rfc3339::parse(text)
            .map(|t| t.0)
            .map_err(|m| Failure::Usage(format!("--extracted-at: {m}"))),
        None => {
            let modified = std::fs::metadata(file)
                .and_then(|m| m.modified())
                .map_err(|e| Failure::Usage(format!("{}: cannot read it: {e}", file.display())))?;
            Timestamp::try_from(modified)
                .map(|t| Timestamp::from_second(t.as_second()).unwrap_or(t))
                .map_err(|e| {
                    Failure::Usage(format!("{}: odd modification time: {e}", file.display()))
                })
        }
    }
}

fn feed_cmd(config: &Config, a: FeedArgs) -> Result<u8, Failure> {
    if a.publish && a.full {
        return Err(Failure::Usage(
            "--full needs --apply: finding the people a full extract no longer lists reads the state store".into(),
        ));
    }
    let today = today(a.common.today.as_deref())?;
    let at = extracted_at(a.extracted_at.as_deref(), &a.file)?;
    let limits = &config.feeds;
    let (source, persons, errors, rows, held_back) = match a.source {
        FeedSource::Esr => {
            let x = esr::read(&a.file, limits)?;
            (Source::Esr, x.persons, x.errors, x.rows, x.held_back)
        }
        FeedSource::Trac => {
            if a.full {
                return Err(Failure::Usage("--full applies to ESR extracts only".into()));
            }
            let s = trac::read(&a.file, limits)?;
            (Source::Trac, s.persons, s.errors, s.rows, BTreeSet::new())
        }
        FeedSource::Sponsored => {
            if a.full {
                return Err(Failure::Usage("--full applies to ESR extracts only".into()));
            }
            let s = crate::feed::sponsored::read(&a.file, limits)?;
            (Source::Manual, s.persons, s.errors, s.rows, BTreeSet::new())
        }
    };
    report_rows(&errors, &a.file, rows, limits)?;
    if persons.is_empty() && rows > 0 {
        return Err(Failure::Usage(format!(
            "{}: none of its {rows} rows could be used; nothing was recorded",
            a.file.display()
        )));
    }
    if a.publish {
        return publish_cmd(
            config,
            &a.file,
            source,
            persons,
            at,
            today,
            errors.bad_rows,
            held_back.len(),
        );
    }
    if !a.apply {
        let mut out = std::io::stdout().lock();
        for person in persons {
            let kind = hr::guess_kind(None, &person, today);
            let event = ingest::file_event(source, person, at, kind).map_err(Failure::Usage)?;
            let line =
                serde_json::to_string(&event).map_err(|e| Failure::Runtime(e.to_string()))?;
            writeln!(out, "{line}").map_err(write_failed)?;
        }
        return Ok(0);
    }
    let model = load_model(config, a.common.policy.as_deref())?;
    let mut store = open_store(config)?;
    let accounts = store.accounts(None)?;
    let by_person = crate::account::by_person(&accounts);
    let actor = actor(
        a.by.as_deref(),
        &format!("turnstile feed {}", source.as_str()),
    )?;
    let now = crate::now();
    let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
    let mut listed = BTreeSet::new();
    let mut recorded: Vec<crate::hr::Person> = Vec::new();
    for person in persons {
        listed.insert(person.employee_number.as_str().to_string());
        let previous = store.person(person.employee_number.as_str())?;
        let kind = hr::guess_kind(previous.as_ref().map(|p| &p.event.person), &person, today);
        let event = ingest::file_event(source, person, at, kind).map_err(Failure::Usage)?;
        let span = tracing::info_span!("event", event_id = %event.event_id, person = %event.person.employee_number);
        let _guard = span.enter();
        let mine = by_person
            .get(event.person.employee_number.as_str())
            .map_or(&[][..], Vec::as_slice);
        let outcome = ingest::record(store.as_mut(), &model, &event, mine, today, &actor)?;
        if source == Source::Esr {
            recorded.push(event.person.clone());
        }
        let label = ingest::outcome_label(&outcome);
        tracing::debug!(outcome = label, kind = event.kind.as_str(), "HR event");
        *tally.entry(label).or_default() += 1;
    }
    let refs: Vec<&crate::hr::Person> = recorded.iter().collect();
    for (provisional, number) in ingest::link_starters(store.as_mut(), &refs, &actor)? {
        println!(
            "{number}: linked to TRAC starter {provisional}; the accounts prepared for them are re-anchored by the next reconcile"
        );
    }
    // What the feed did, in one line.
    let summary = |tally: &BTreeMap<&str, usize>| {
        let counts: Vec<String> = tally.iter().map(|(k, v)| format!("{v} {k}")).collect();
        format!(
            "{}: {rows} rows, {} people: {}; {} bad row(s), {} held back",
            a.file.display(),
            listed.len(),
            counts.join(", "),
            errors.bad_rows,
            held_back.len()
        )
    };
    if a.full {
        let held: Vec<String> = store
            .persons()?
            .into_iter()
            .filter(|p| p.event.source == Source::Esr)
            .map(|p| p.event.person.employee_number.as_str().to_string())
            .collect();
        let missing: Vec<String> = held
            .iter()
            .filter(|n| !listed.contains(*n) && !held_back.contains(*n))
            .cloned()
            .collect();
        let share = config.feeds.max_review_share;
        if missing.len() as f64 > share * held.len() as f64 && !a.approve {
            println!("{}", summary(&tally));
            return Err(Failure::Usage(format!(
                "{}: the full extract no longer lists {} of the {} ESR people held ({:.1}%), more than [feeds] max_review_share ({:.1}%): is it cut short or the wrong file? Nobody was flagged for review (the records it does list were recorded). If the extract is right, run it again with --approve",
                a.file.display(),
                missing.len(),
                held.len(),
                missing.len() as f64 * 100.0 / held.len().max(1) as f64,
                share * 100.0
            )));
        }
        let flagged = store.flag_for_review(
            &missing,
            &format!(
                "not listed in the full extract {}: check with HR whether they left; access is unchanged until HR says so",
                a.file.display()
            ),
            now,
            &actor,
        )?;
        tally.insert("flagged for review", flagged);
    }
    println!("{}", summary(&tally));
    Ok(0)
}

/// Prints a file's row errors, then refuses the file if too many of its rows are bad.
fn report_rows(
    errors: &feed::RowErrors,
    file: &Path,
    rows: u64,
    limits: &feed::Limits,
) -> Result<(), Failure> {
    for line in errors.lines() {
        eprintln!("{line}");
    }
    Ok(errors.check_share(&file.display().to_string(), rows, limits.max_bad_row_share)?)
}

#[allow(clippy::too_many_arguments)]
fn publish_cmd(
    config: &Config,
    file: &Path,
    source: Source,
    persons: Vec<Person>,
    at: Timestamp,
    today: Date,
    row_errors: u64,
    held_back: usize,
) -> Result<u8, Failure> {
    let problems: Vec<String> = config.kafka.check().iter().map(|e| e.to_string()).collect();
    if !problems.is_empty() {
        return Err(Failure::Usage(problems.join("\n")));
    }
    let events = persons
        .into_iter()
        .map(|p| {
            let kind = hr::guess_kind(None, &p, today);
            ingest::file_event(source, p, at, kind).map_err(Failure::Usage)
        })
        .collect::<Result<Vec<HrEvent>, Failure>>()?;
    let runtime = runtime(&mut tokio::runtime::Builder::new_current_thread())?;
    let published = runtime
        .block_on(crate::kafka::publish(&config.kafka, &events, 10_000))
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    println!(
        "{}: {} of {} event(s) published to {} at {}; {row_errors} bad row(s), {held_back} held back",
        file.display(),
        published.delivered,
        events.len(),
        config.kafka.topic,
        config.kafka.brokers
    );
    if let Some((id, why)) = published.failed.first() {
        return Err(Failure::Runtime(format!(
            "{} event(s) were not published (first: {id}: {why}). Re-run the same command when Kafka is reachable: the event ids are the same, so events already delivered change nothing",
            published.failed.len()
        )));
    }
    Ok(0)
}

/// An async runtime for the verbs that talk to servers.
fn runtime(builder: &mut tokio::runtime::Builder) -> Result<tokio::runtime::Runtime, Failure> {
    builder
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(format!("cannot start the async runtime: {e}")))
}

fn run_cmd(config: &Config, a: RunArgs) -> Result<u8, Failure> {
    use crate::daemon::{self, SharedStore};
    use std::sync::{Arc, Mutex};
    let runtime = runtime(tokio::runtime::Builder::new_multi_thread().worker_threads(2))?;
    // Listen for SIGTERM and SIGINT before anything else: a stop asked while the daemon is
    // still starting is a clean stop, never the signal's default (an abrupt death).
    let signals = {
        let _inside = runtime.enter();
        Signals::listen()
    };
    let model = Arc::new(load_model(config, a.policy.as_deref())?);
    let store: SharedStore = Arc::new(Mutex::new(open_store(config)?));
    let limit = std::time::Duration::from_secs(config.daemon.shutdown_timeout_secs.max(1));
    let result = runtime.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(stop_on_signal(signals, tx, limit));
        daemon::run(config, model, store, rx).await
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(_) => Ok(0),
        Err(e @ (daemon::DaemonError::Config(_) | daemon::DaemonError::Listen { .. })) => {
            Err(Failure::Usage(e.to_string()))
        }
        Err(e) => Err(Failure::Runtime(e.to_string())),
    }
}

/// The stop signals, listened for from the moment they are made.
struct Signals {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Installs the handlers now (inside a runtime), so a signal from here on is caught.
    fn listen() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        let open = |kind, name: &str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(
                    "cannot listen for {name}: {e}; stop the daemon with the other signal"
                );
                None
            }
        };
        Signals {
            term: open(SignalKind::terminate(), "SIGTERM"),
            int: open(SignalKind::interrupt(), "SIGINT"),
        }
    }
}

/// Waits for a signal, or forever without a handler.
async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// SIGTERM (Kubernetes) or SIGINT asks the daemon to stop; if it has not stopped a little
/// after `limit`, the process exits with 1 (nothing is lost: uncommitted events are read
/// again after the restart and change nothing).
async fn stop_on_signal(
    mut signals: Signals,
    tx: tokio::sync::watch::Sender<bool>,
    limit: std::time::Duration,
) {
    tokio::select! {
        _ = next(&mut signals.term) => tracing::info!("SIGTERM: finishing the event in hand, committing, stopping"),
        _ = next(&mut signals.int) => tracing::info!("SIGINT: finishing the event in hand, committing, stopping"),
    }
    let _ = tx.send(true);
    tokio::time::sleep(limit + std::time::Duration::from_secs(5)).await;
    eprintln!(
        "error: the daemon did not stop within {}s of the signal; exiting (uncommitted events are read again after restart and change nothing)",
        limit.as_secs()
    );
    std::process::exit(1);
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
    let each = |w: &mut dyn Write| pieces.iter().try_for_each(|p| w.write_all(p.as_ref()));
    match out {
        // Reports hold personal data: owner-only, whole, never through a link.
        Some(path) => {
            let pieces: Vec<&[u8]> = pieces.iter().map(AsRef::as_ref).collect();
            crate::config::files::write_private(path, &pieces).map_err(Failure::Runtime)
        }
        None => each(&mut std::io::stdout().lock()).map_err(write_failed),
    }
}

/// Prints `value` as pretty JSON on standard output.
fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Failure::Runtime(e.to_string()))?;
    writeln!(std::io::stdout().lock(), "{text}").map_err(write_failed)
}

/// How `plan` tags a change: `rule ID` for a rule of the role model, else `lifecycle X`.
fn rule_tag(model: &RoleModel, rule: &str) -> String {
    if model.rules.iter().any(|r| r.id == rule) {
        format!("rule {rule}")
    } else {
        format!("lifecycle {rule}")
    }
}

fn plan_cmd(config: &Config, a: PlanArgs) -> Result<u8, Failure> {
    if let Some(n) = &a.person {
        return plan_person_cmd(config, &a, n);
    }
    let today = today(a.common.today.as_deref())?;
    let model = load_model(config, a.common.policy.as_deref())?;
    let store = open_existing_store(config)?;
    let people: Vec<Person> = match &a.person {
        Some(n) => match store.person(n)? {
            Some(p) => vec![p.event.person],
            None => {
                return Err(Failure::Usage(format!(
                    "no HR record is held for employee number {n}"
                )));
            }
        },
        None => store
            .persons()?
            .into_iter()
            .map(|p| p.event.person)
            .collect(),
    };
    let accounts = store.accounts(None)?;
    let by_person = crate::account::by_person(&accounts);
    // A system whose accounts were never read: planning against nothing would call for a
    // create for everyone. Its changes are left out and it is named.
    let known: BTreeSet<&str> = accounts.iter().map(|a| a.system.as_str()).collect();
    let mut unknown: BTreeMap<String, usize> = BTreeMap::new();
    let mut changes = Vec::new();
    for person in &people {
        let mine = by_person
            .get(person.employee_number.as_str())
            .map_or(&[][..], Vec::as_slice);
        for c in plan::plan_person(&model, person, mine, today) {
            if known.contains(c.system.as_str()) {
                changes.push(c);
            } else {
                *unknown.entry(c.system.clone()).or_default() += 1;
            }
        }
    }
    for (system, n) in &unknown {
        eprintln!(
            "note: {system}: its accounts have never been read, so {n} change(s) there are not shown; read them with `turnstile reconcile --system {system} --dry-run` (a [targets.{system}] section is needed)"
        );
    }
    match a.format {
        TextOrJson::Json => print_json(&changes)?,
        TextOrJson::Text => {
            let mut out = std::io::stdout().lock();
            let io = write_failed;
            for c in &changes {
                writeln!(
                    out,
                    "{} {} {}: {}  [{}] {}",
                    c.employee_number,
                    c.system,
                    c.account.as_deref().unwrap_or("(new account)"),
                    c.action,
                    rule_tag(&model, &c.rule),
                    c.reason
                )
                .map_err(io)?;
            }
            writeln!(
                out,
                "{} change(s) for {} person(s) on {today}",
                changes.len(),
                people.len()
            )
            .map_err(io)?;
        }
    }
    Ok(if a.fail_on_drift && !changes.is_empty() {
        3
    } else {
        0
    })
}

/// `plan --person N`: the person's changes, each with the HR fact behind it.
fn plan_person_cmd(config: &Config, a: &PlanArgs, number: &str) -> Result<u8, Failure> {
    let one = explain::of_person(
        config,
        a.common.policy.as_deref(),
        a.common.today.as_deref(),
        number,
    )?;
    explain::note_unknown(&one.unknown);
    let changes: Vec<&crate::explain::ExplainedChange> = one
        .explanation
        .systems
        .iter()
        .flat_map(|s| &s.changes)
        .collect();
    match a.format {
        TextOrJson::Json => print_json(&changes)?,
        TextOrJson::Text => {
            let mut out = std::io::stdout().lock();
            let io = write_failed;
            for c in &changes {
                let ch = &c.change;
                writeln!(
                    out,
                    "{} {} {}: {}  [{}] {}\n    because {}",
                    ch.employee_number,
                    ch.system,
                    ch.account.as_deref().unwrap_or("(new account)"),
                    ch.action,
                    rule_tag(&one.model, &ch.rule),
                    ch.reason,
                    c.because
                )
                .map_err(io)?;
            }
            writeln!(
                out,
                "{} change(s) for 1 person(s) on {}",
                changes.len(),
                one.explanation.today
            )
            .map_err(io)?;
        }
    }
    Ok(if a.fail_on_drift && !changes.is_empty() {
        3
    } else {
        0
    })
}

fn drift_cmd(config: &Config, a: DriftArgs) -> Result<u8, Failure> {
    let today = today(a.common.today.as_deref())?;
    let model = load_model(config, a.common.policy.as_deref())?;
    let tz = london();
    let mut exports = Vec::new();
    let mut seen = BTreeSet::new();
    for spec in &a.exports {
        let Some((system, file)) = spec.split_once('=') else {
            return Err(Failure::Usage(format!(
                "--export {spec}: write it as SYSTEM=FILE, e.g. ad=ad.csv"
            )));
        };
        if !model.systems.contains_key(system) {
            return Err(Failure::Usage(format!(
                "--export {spec}: the role model declares no system `{system}` (it has: {})",
                model.systems.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        if !seen.insert(system.to_string()) {
            return Err(Failure::Usage(format!("--export {system}= is given twice")));
        }
        exports.push((system.to_string(), PathBuf::from(file)));
    }
    let mut limits = config.feeds.clone();
    if let Some(e) = &a.encoding {
        limits.encoding = e
            .parse()
            .map_err(|m| Failure::Usage(format!("--encoding: {m}")))?;
    }
    let limits = &limits;
    let format = out_format(a.format, a.out.as_deref(), Format::Json, "json|csv|html")?;
    let previous = match &a.compare {
        Some(file) => Some(read_previous(file)?),
        None => None,
    };
    // Read by one worker per core, each export linked as soon as it and the people are
    // read (see `drift_read`); what each gave is then looked at in the order given, so
    // errors and output are as if read in turn.
    let hr_slot = std::sync::OnceLock::new();
    let slots: Vec<std::sync::OnceLock<_>> =
        exports.iter().map(|_| std::sync::OnceLock::new()).collect();
    let linked = drift_read::read_and_link(
        &a.hr,
        a.sponsored.as_deref(),
        &exports,
        config,
        &tz,
        limits,
        &model,
        &hr_slot,
        &slots,
    );
    let hr_read = hr_slot.get().ok_or_else(|| not_read(&a.hr))?;
    let (extract, hr_sha) = &hr_read.extract;
    let extract = extract.as_ref().map_err(feed_failed)?;
    report_rows(&extract.errors, &a.hr, extract.rows, limits)?;
    let hr_sha = hr_sha.as_ref().map_err(Clone::clone)?;
    let mut files = vec![hashed_input(
        "hr",
        None,
        &a.hr,
        extract.rows,
        hr_sha.clone(),
    )];
    if hr_read.esr_people == 0 {
        return Err(Failure::Usage(format!(
            "{}: no usable HR record in {} rows; the report would call every account an orphan",
            a.hr.display(),
            extract.rows
        )));
    }
    let mut row_errors = extract.errors.listed.clone();
    let mut row_errors_not_listed = extract.errors.unlisted;
    if let (Some(file), Some(s)) = (&a.sponsored, &hr_read.sponsored) {
        let s = s.as_ref().map_err(feed_failed)?;
        report_rows(&s.errors, file, s.rows, limits)?;
        files.push(input_file("sponsored", None, file, s.rows)?);
        row_errors.extend(s.errors.listed.iter().cloned());
        row_errors_not_listed += s.errors.unlisted;
    }
    let sponsored = hr_read.sponsored_ids.clone();
    if !sponsored.is_empty() {
        eprintln!(
            "note: {} sponsored identities (not on ESR) judged with the rest; listed under inputs.sponsored",
            sponsored.len()
        );
    }
    let mut inputs = drift::Inputs {
        hr_rows: extract.rows,
        people: extract.persons.len(),
        people_held_back: extract.held_back.len(),
        row_errors_not_listed,
        row_errors,
        sponsored,
        ..drift::Inputs::default()
    };
    let mut history = history::History::load();
    let mut read = Vec::new();
    for ((system, file), slot) in exports.iter().zip(&slots) {
        let (x, sha) = slot.get().ok_or_else(|| not_read(file))?;
        let x = x.as_ref().map_err(feed_failed)?;
        report_rows(&x.errors, file, x.rows, limits)?;
        if x.accounts.is_empty() && x.rows > 0 {
            return Err(Failure::Usage(format!(
                "{}: none of its {} rows could be read",
                file.display(),
                x.rows
            )));
        }
        if x.rows == 0 && !a.allow_empty {
            return Err(Failure::Usage(format!(
                "{}: the {system} export has a header and no accounts: the report would say every person lacks a {system} account, which is more likely a failed export than the truth. Check the export; if {system} really has no accounts, pass --allow-empty",
                file.display()
            )));
        }
        // The previous report given, else the last run on this very file.
        let before = match previous
            .as_ref()
            .and_then(|p| p.inputs.accounts.get(system))
        {
            Some(n) => Some((*n, "the previous report read".to_string())),
            None => history.last(file).filter(|s| s.system == *system).map(|s| {
                (
                    s.accounts,
                    format!(
                        "the last drift run on this file ({}) read",
                        crate::clock::today(s.at)
                    ),
                )
            }),
        };
        if let Some((prev, when)) = before {
            let share = limits.max_export_shrink_share;
            let now = x.accounts.len();
            // Small exports move by a few accounts for real; far fewer means something.
            if prev >= MIN_SHRINK_BASE
                && (now as f64) < (prev as f64) * (1.0 - share)
                && !a.allow_shrink
            {
                return Err(Failure::Usage(format!(
                    "{}: the {system} export has {now} accounts where {when} {prev}, more than [feeds] max_export_shrink_share ({:.0}%) fewer: is it cut short or filtered? If {system} really lost them, pass --allow-shrink",
                    file.display(),
                    share * 100.0
                )));
            }
        }
        files.push(hashed_input(
            "export",
            Some(system),
            file,
            x.rows,
            sha.clone()?,
        ));
        if !x.has_last_logon {
            inputs.notes.push(format!(
                "{}: no last-logon column, so dormant accounts on {system} were not judged",
                file.display()
            ));
        }
        inputs.accounts.insert(system.clone(), x.accounts.len());
        inputs.row_errors.extend(x.errors.listed.iter().cloned());
        inputs.row_errors_not_listed += x.errors.unlisted;
        read.push((system.clone(), x));
    }
    for n in &inputs.notes {
        eprintln!("note: {n}");
    }
    // Every input was usable, so the people were indexed and every export linked.
    let (people, linked) = linked.ok_or_else(|| not_read(&a.hr))?;
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let findings = people.judge(&model, linked, today, &tz, workers);
    inputs.files = files;
    let mut report = drift::Report::new(crate::now(), today, findings, inputs);
    if let Some(previous) = &previous {
        drift::compare(&mut report, previous);
    }
    let text = match format {
        Format::Json => report::json_pieces(&report, workers),
        other => report::render(&report, other)
            .map(String::into_bytes)
            .map(|t| vec![t]),
    }
    .map_err(Failure::Runtime)?;
    write_pieces(a.out.as_deref(), &text)?;
    // Remembered only once the report is written.
    for (system, x) in &read {
        if let Some((_, file)) = exports.iter().find(|(s, _)| s == system) {
            history.record(file, system, x.accounts.len(), report.generated_at);
        }
    }
    history.save();
    let findings = report.findings.len();
    let summary: Vec<String> = report
        .summary
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    eprintln!(
        "drift on {today}: {findings} finding(s){}{}",
        if summary.is_empty() { "" } else { ": " },
        summary.join(", ")
    );
    // The process ends right after: freeing millions of small allocations one by one
    // would only add seconds at national scale.
    std::mem::forget(report);
    std::mem::forget(read);
    std::mem::forget(slots);
    std::mem::forget(hr_slot);
    std::mem::forget(text);
    Ok(if a.fail_on_drift && findings > 0 {
        3
    } else {
        0
    })
}

/// The fewest accounts an earlier read must have had for a shrink to be refused.
const MIN_SHRINK_BASE: usize = 50;

/// A previous drift report's JSON, for `--compare`.
fn read_previous(file: &Path) -> Result<drift::Previous, Failure> {
    let f = std::fs::File::open(file).map_err(|e| {
        Failure::Usage(format!("--compare {}: cannot open it: {e}", file.display()))
    })?;
    serde_json::from_reader(std::io::BufReader::new(f)).map_err(|e| {
        Failure::Usage(format!(
            "--compare {}: not a drift report in JSON ({e}); give the file an earlier `turnstile drift --format json` wrote",
            file.display()
        ))
    })
}

/// A file the report was made from, with its SHA-256 (read again in blocks: memory stays
/// bounded whatever its size).
fn input_file(
    kind: &'static str,
    system: Option<&str>,
    path: &Path,
    rows: u64,
) -> Result<drift::InputFile, Failure> {
    Ok(drift::InputFile {
        kind,
        system: system.map(str::to_string),
        path: path.display().to_string(),
        rows,
        sha256: sha256_file(path)?,
    })
}

/// [`input_file`] with its SHA-256 already worked out.
fn hashed_input(
    kind: &'static str,
    system: Option<&str>,
    path: &Path,
    rows: u64,
    sha256: String,
) -> drift::InputFile {
    drift::InputFile {
        kind,
        system: system.map(str::to_string),
        path: path.display().to_string(),
        rows,
        sha256,
    }
}

/// An input the run needed was never read: a fault in Turnstile, not in the input.
fn not_read(file: &Path) -> Failure {
    Failure::Runtime(format!(
        "{}: was not read, though nothing said it could not be; please report this",
        file.display()
    ))
}

pub(crate) fn sha256_file(path: &Path) -> Result<String, Failure> {
    crate::feed::sha256_of(path).map_err(|e| hash_failed(path, e))
}

fn hash_failed(path: &Path, e: std::io::Error) -> Failure {
    Failure::Runtime(format!(
        "{}: cannot read it again to hash it: {e}",
        path.display()
    ))
}

fn audit_cmd(config: &Config, a: AuditArgs) -> Result<u8, Failure> {
    let expected = match &a.expect_head {
        Some(text) => Some(
            crate::audit::parse_head(text)
                .map_err(|m| Failure::Usage(format!("--expect-head: {m}")))?,
        ),
        None => None,
    };
    let store = open_existing_store(config)?;
    if a.verify {
        let expected = expected.as_ref().map(|(s, h)| (*s, h.as_str()));
        return match store.verify_audit(expected)? {
            Ok(v) => {
                let keyed = match v.keyed_from {
                    Some(1) => ", every entry's MAC checked".to_string(),
                    Some(from) => format!(
                        ", MACs checked from entry {from} (earlier entries were written before the key was configured)"
                    ),
                    None => String::new(),
                };
                println!(
                    "audit trail intact: {} entries verified{keyed}{}",
                    v.count,
                    if expected.is_some() {
                        ", and it still holds the expected head"
                    } else {
                        ""
                    }
                );
                println!("head {}", v.head_text());
                Ok(0)
            }
            Err(b) => Err(Failure::Runtime(format!(
                "audit trail has been altered: {b}"
            ))),
        };
    }
    let since = match &a.since {
        Some(text) => {
            let date = IsoDate::parse(text).map_err(|m| Failure::Usage(format!("--since: {m}")))?;
            Some(crate::clock::start_of(date.0).ok_or_else(|| {
                Failure::Usage(format!("--since: {text} has no start in Europe/London"))
            })?)
        }
        None => None,
    };
    let entries = store.audit(&AuditFilter {
        employee_number: a.person.clone(),
        since,
    })?;
    match a.format {
        TextOrJson::Json => print_json(&entries)?,
        TextOrJson::Text => {
            let mut out = std::io::stdout().lock();
            let io = write_failed;
            for e in &entries {
                let d = &e.draft;
                // Every field may carry text from a feed or a topic: printed safe, so no
                // control character rewrites the terminal or forges a line.
                let p = crate::input::printable;
                writeln!(
                    out,
                    "#{} {} {} {} {}{}{} [{}] by {}{}{}: {}",
                    e.seq,
                    d.at,
                    p(d.employee_number.as_deref().unwrap_or("-")),
                    p(&d.action),
                    p(&d.outcome),
                    d.system
                        .as_deref()
                        .map(|s| format!(" on {}", p(s)))
                        .unwrap_or_default(),
                    d.account
                        .as_deref()
                        .map(|s| format!(" account {}", p(s)))
                        .unwrap_or_default(),
                    p(d.rule.as_deref().unwrap_or("-")),
                    p(&d.actor),
                    if d.event_id.is_some() { " event " } else { "" },
                    p(d.event_id.as_deref().unwrap_or("")),
                    p(&d.reason)
                )
                .map_err(io)?;
            }
            if entries.is_empty() {
                writeln!(out, "no audit entries match").map_err(io)?;
            }
        }
    }
    Ok(0)
}

fn reconcile_cmd(config: &Config, a: ReconcileArgs) -> Result<u8, Failure> {
    use crate::engine::reconcile::{self, TargetOutcome};
    let today = today(a.common.today.as_deref())?;
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
    let mut store = open_store(config)?;
    let actor = actor(a.by.as_deref(), "turnstile reconcile")?;
    let sender = crate::engine::work::Sender::new(config).map_err(Failure::Usage)?;
    let run = reconcile::Run {
        model: &model,
        today,
        now: crate::now(),
        actor: &actor,
        dry_run: a.dry_run,
        approve: a.approve,
        max_removal_share: config.reconcile.max_removal_share,
        guard: Some(&config.guard),
        hold_as_plan: false,
        notify: sender.mails().then_some(&sender),
    };
    let runtime = runtime(&mut tokio::runtime::Builder::new_current_thread())?;
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
                "error: {id}: stopped before acting: {} of {} accounts ({:.1}%) would be disabled or deleted, over [reconcile] max_removal_share {:.1}%. Check `turnstile reconcile --system {id} --dry-run`, then re-run with --approve --as NAME",
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
            TargetOutcome::Unreadable { reason } => eprintln!(
                "error: {id}: could not be read, nothing was changed there: {reason}; run reconcile again later"
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

fn plan_id(text: &str) -> Result<u64, Failure> {
    crate::store::HeldPlan::parse_reference(text).ok_or_else(|| {
        Failure::Usage(format!(
            "`{text}` is not a held plan's id: give its number or reference as `turnstile held` lists it (e.g. 7 or HP-000007)"
        ))
    })
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

fn held_cmd(config: &Config, a: HeldArgs) -> Result<u8, Failure> {
    use crate::store::HeldStatus;
    let store = open_existing_store(config)?;
    let mut out = std::io::stdout().lock();
    let io = write_failed;
    let Some(id) = a.id.as_deref() else {
        let plans = store.held_plans((!a.all).then_some(HeldStatus::Held))?;
        if a.format == TextOrJson::Json {
            for p in &plans {
                writeln!(out, "{}", serde_json::to_string(p).unwrap_or_default()).map_err(io)?;
            }
            return Ok(0);
        }
        if plans.is_empty() {
            writeln!(out, "no held plans").map_err(io)?;
        }
        for p in &plans {
            writeln!(
                out,
                "{}  {}  {}  {} change(s) for {} person(s), held {}{}\n    {}",
                p.reference(),
                p.system,
                p.status.as_str(),
                p.changes,
                p.people,
                local_time(p.created_at),
                p.decided_by
                    .as_deref()
                    .map(|b| format!(", {} by {b}", p.status.as_str()))
                    .unwrap_or_default(),
                p.reason
            )
            .map_err(io)?;
        }
        return Ok(0);
    };
    let id = plan_id(id)?;
    let (plan, changes) = store
        .held_plan(id)?
        .ok_or(crate::store::StoreError::NoSuchPlan(id))
        .map_err(|e| Failure::Usage(e.to_string()))?;
    if a.format == TextOrJson::Json {
        let value = serde_json::json!({"plan": plan, "changes": changes});
        writeln!(out, "{value}").map_err(io)?;
        return Ok(0);
    }
    writeln!(
        out,
        "{} for {}: {} ({})\n{}",
        plan.reference(),
        plan.system,
        plan.status.as_str(),
        local_time(plan.created_at),
        plan.reason
    )
    .map_err(io)?;
    for c in &changes {
        writeln!(
            out,
            "  {} {}: {}  [{}] {}",
            c.employee_number,
            c.account.as_deref().unwrap_or("(new account)"),
            c.action,
            c.rule,
            c.reason
        )
        .map_err(io)?;
    }
    if plan.status == HeldStatus::Held {
        writeln!(
            out,
            "decide: turnstile approve {id} --as NAME   or   turnstile reject {id} --as NAME --reason TEXT"
        )
        .map_err(io)?;
    }
    Ok(0)
}

fn decide_error(e: crate::engine::held::DecideError) -> Failure {
    use crate::engine::held::DecideError;
    use crate::store::StoreError;
    match e {
        DecideError::Store(e @ (StoreError::NoSuchPlan(_) | StoreError::AlreadyDecided { .. })) => {
            Failure::Usage(e.to_string())
        }
        DecideError::NoTarget { .. } => Failure::Usage(e.to_string()),
        other => Failure::Runtime(other.to_string()),
    }
}

fn approve_cmd(config: &Config, a: DecideArgs) -> Result<u8, Failure> {
    let id = plan_id(&a.id)?;
    let by = decider(&a.by)?;
    let acting = actor(Some(by), "turnstile approve")?;
    let model = load_model(config, a.policy.as_deref())?;
    let mut targets = crate::engine::targets::build(config, &model)
        .map_err(|problems| Failure::Usage(problems.join("\n")))?;
    let mut store = open_existing_store(config)?;
    let runtime = runtime(&mut tokio::runtime::Builder::new_current_thread())?;
    let done = runtime
        .block_on(crate::engine::held::approve(
            &model,
            store.as_mut(),
            &mut targets,
            id,
            &acting,
            crate::now(),
        ))
        .map_err(decide_error)?;
    println!(
        "{} approved by {by}: {} applied, {} work item(s), {} failed, {} skipped, {} no longer needed",
        done.plan.reference(),
        done.tally.applied,
        done.tally.work_items,
        done.tally.failed,
        done.tally.skipped,
        done.no_longer_needed
    );
    Ok(if done.tally.failed > 0 { 1 } else { 0 })
}

fn reject_cmd(config: &Config, a: RejectArgs) -> Result<u8, Failure> {
    let id = plan_id(&a.decide.id)?;
    let by = decider(&a.decide.by)?;
    let reason = one_line(
        &a.reason,
        "--reason: say why the plan is rejected (one line, not blank)",
    )?;
    let model = load_model(config, a.decide.policy.as_deref())?;
    let mut store = open_existing_store(config)?;
    let plan = crate::engine::held::reject(&model, store.as_mut(), id, by, reason, crate::now())
        .map_err(decide_error)?;
    println!(
        "{} rejected by {by}: none of its {} change(s) was applied",
        plan.reference(),
        plan.changes
    );
    Ok(0)
}

fn reenable_cmd(config: &Config, a: ReenableArgs) -> Result<u8, Failure> {
    let by = decider(&a.by)?.to_string();
    let reason = one_line(
        &a.reason,
        "--reason: say why the account is needed again (one line)",
    )?;
    let mut store = open_existing_store(config)?;
    let dormant = store.dormancy(&a.system)?;
    let Some(d) = dormant.get(&a.account.to_lowercase()) else {
        return Err(Failure::Usage(format!(
            "{} on {} is not disabled for inactivity (nothing to approve); see `turnstile audit`",
            a.account, a.system
        )));
    };
    let draft = crate::audit::Draft {
        at: crate::now(),
        actor: format!("{by} (turnstile reenable)"),
        employee_number: Some(d.employee_number.clone()),
        system: Some(a.system.clone()),
        account: Some(d.account.clone()),
        action: crate::audit::Action::InactivityApproved.to_string(),
        outcome: crate::audit::Outcome::Approved.to_string(),
        rule: Some("inactivity".into()),
        event_id: None,
        reason: format!("enable again approved by {by}: {reason}"),
    };
    store.clear_dormancy(&a.system, &d.account, Some(draft))?;
    println!(
        "{} on {}: approved by {by}; the next reconcile enables it",
        d.account, a.system
    );
    Ok(0)
}

fn work_items_cmd(config: &Config, a: WorkItemsArgs) -> Result<u8, Failure> {
    use crate::store::WorkItemStatus;
    let status = match a.status.as_deref() {
        None => None,
        Some(text) => Some(WorkItemStatus::parse(text).ok_or_else(|| {
            Failure::Usage(format!(
                "--status {text}: use open, reopened, overdue, confirmed or cancelled"
            ))
        })?),
    };
    let mut store = open_existing_store(config)?;
    if a.send {
        let at = match a.at.as_deref() {
            None => crate::now(),
            Some(t) => t.parse::<Timestamp>().map_err(|e| {
                Failure::Usage(format!(
                    "--at {t}: not a time ({e}); use RFC 3339, e.g. 2026-12-07T09:00:00Z"
                ))
            })?,
        };
        let actor = actor(a.by.as_deref(), "turnstile work-items")?;
        let sender = crate::engine::work::Sender::new(config).map_err(Failure::Usage)?;
        let runtime = runtime(&mut tokio::runtime::Builder::new_current_thread())?;
        let sent = runtime.block_on(sender.deliver(store.as_mut(), at, &actor))?;
        eprintln!(
            "work items: {} sent to the service desk, {} emailed, {} became overdue, {} escalated",
            sent.posted, sent.emailed, sent.overdue, sent.escalated
        );
        for f in &sent.failed {
            eprintln!("error: work item not sent (tried again next run): {f}");
        }
        if !sent.failed.is_empty() {
            return Ok(1);
        }
    }
    let items = store.work_items(a.system.as_deref(), status)?;
    let mut out = std::io::stdout().lock();
    let io = write_failed;
    match a.format {
        ItemFormat::Json => {
            let time = |t: Option<Timestamp>| t.map(|t| t.to_string());
            for item in &items {
                let mut json = crate::engine::work::ticket(item);
                if let Some(o) = json.as_object_mut() {
                    o.insert("closed_at".into(), time(item.closed_at).into());
                    o.insert("attempts".into(), item.attempts.into());
                    o.insert("delivered_at".into(), time(item.delivered_at).into());
                    o.insert("emailed_at".into(), time(item.emailed_at).into());
                    o.insert("escalated_at".into(), time(item.escalated_at).into());
                    o.insert("last_error".into(), item.last_error.clone().into());
                }
                writeln!(out, "{json}").map_err(io)?;
            }
        }
        ItemFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let err = |e: csv::Error| Failure::Runtime(e.to_string());
            w.write_record([
                "reference",
                "system",
                "employee_number",
                "account",
                "action",
                "detail",
                "status",
                "raised_at",
                "due_at",
                "closed_at",
                "attempts",
            ])
            .map_err(err)?;
            for i in &items {
                w.write_record([
                    i.reference(),
                    report::safe_cell(&i.system),
                    report::safe_cell(&i.employee_number),
                    report::safe_cell(i.account.as_deref().unwrap_or("")),
                    report::safe_cell(&i.action),
                    report::safe_cell(&i.detail),
                    i.status.as_str().to_string(),
                    i.raised_at.to_string(),
                    i.due_at.to_string(),
                    i.closed_at.map(|t| t.to_string()).unwrap_or_default(),
                    i.attempts.to_string(),
                ])
                .map_err(err)?;
            }
            let bytes = w
                .into_inner()
                .map_err(|e| Failure::Runtime(e.to_string()))?;
            out.write_all(&bytes).map_err(io)?;
        }
        ItemFormat::Text => {
            if items.is_empty() {
                writeln!(out, "no work items").map_err(io)?;
            }
            for i in &items {
                writeln!(
                    out,
                    "{}  {}  {}  raised {}, due by the end of {}{}\n    {}",
                    i.reference(),
                    i.system,
                    i.status.as_str(),
                    local_time(i.raised_at),
                    crate::engine::work::due_day(i),
                    i.closed_at
                        .map(|t| format!(", closed {}", local_time(t)))
                        .unwrap_or_default(),
                    i.detail
                )
                .map_err(io)?;
            }
        }
    }
    Ok(0)
}
