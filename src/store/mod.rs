//! State: the newest HR record per person, the accounts known per system, and the audit
//! trail. One trait, implemented once over SQL ([`sql`]) for SQLite (embedded, the
//! default) and PostgreSQL (for replicas sharing a Kafka consumer group).
//!
//! An HR record and the audit entries it causes are written in one transaction: either
//! both are durable or neither is.

pub mod matches;
pub mod postgres;
pub mod reviews;
pub mod sql;
pub mod sqlite;

use crate::account::Account;
use crate::audit::{Break, Draft, Entry, Verified};
use crate::hr::{HrEvent, Person};
use jiff::Timestamp;

/// Gives an applied event's audit entries: `(its place in the batch, event, previous
/// record, new record)`.
pub type EventFollowUp<'a> =
    dyn FnMut(usize, &HrEvent, Option<&Person>, &Person) -> Vec<Draft> + 'a;

/// An event with what storing it needs that follows from the event alone: its content
/// digest and its JSON as stored. Worked out before the write transaction, so a caller
/// with a second core (the daemon) does it while the store writes the batch before.
#[derive(Debug, Clone, Copy)]
pub struct Ready<'a> {
    pub event: &'a HrEvent,
    /// [`HrEvent::content_digest`].
    pub digest: &'a str,
    /// The event as stored: its JSON.
    pub json: &'a str,
}

/// The owned half of a [`Ready`]: see [`Encoded::of`].
#[derive(Debug, Clone)]
pub struct Encoded {
    pub digest: String,
    pub json: String,
}

impl Encoded {
    /// `event`'s digest and stored JSON.
    pub fn of(event: &HrEvent) -> Result<Encoded, StoreError> {
        let (json, digest) = event.json_and_digest().map_err(|e| StoreError::Corrupt {
            key: event.person.employee_number.to_string(),
            detail: e.to_string(),
        })?;
        Ok(Encoded { digest, json })
    }

    pub fn ready<'a>(&'a self, event: &'a HrEvent) -> Ready<'a> {
        Ready {
            event,
            digest: &self.digest,
            json: &self.json,
        }
    }
}

/// The newest record held for a person.
#[derive(Debug, Clone)]
pub struct StoredPerson {
    pub event: HrEvent,
    /// Set when a full extract no longer listed them: a person must look.
    pub review: Option<String>,
}

/// What recording an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The event is now the person's record.
    Applied { previous: Option<Person> },
    /// Newer than the stored record but with the same content: its metadata is kept,
    /// nothing else changes and no audit entry is written.
    Unchanged,
    /// This very event is already the person's record (a replay).
    Duplicate,
    /// An older record than the one held: ignored, so a late event never undoes a newer one.
    Stale { current_event_id: String },
}

/// A record sent to the dead-letter topic: where it was read, and a digest of
/// its key and value (so a record at the same offset of a re-created topic is not
/// mistaken for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLettered {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub digest: String,
}

/// A change raised for a person to make by hand (a system with no API), tracked until the
/// system's own export shows it. Its identity is the change: one system, person, account
/// and action; while one is active (open, reopened, overdue), the same change is never
/// raised again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WorkItem {
    pub id: u64,
    pub system: String,
    pub employee_number: String,
    pub account: Option<String>,
    /// The change, as text (`create`, `grant GP`, `disable`, …).
    pub action: String,
    /// What the administrator is asked to do.
    pub detail: String,
    pub status: WorkItemStatus,
    pub raised_at: Timestamp,
    pub due_at: Timestamp,
    /// When it was confirmed or cancelled.
    pub closed_at: Option<Timestamp>,
    /// Delivery attempts (webhook and email) that failed or succeeded, in all.
    pub attempts: u32,
    /// When the service-desk webhook accepted it.
    pub delivered_at: Option<Timestamp>,
    /// When it went out in an email digest to the system's administrators.
    pub emailed_at: Option<Timestamp>,
    /// When it was escalated as overdue.
    pub escalated_at: Option<Timestamp>,
    /// The last delivery failure, if the last attempt failed.
    pub last_error: Option<String>,
    /// The change itself, to judge the next export against.
    #[serde(skip)]
    pub change: Option<crate::plan::Change>,
}

impl WorkItem {
    /// The change it is for.
    pub fn key(&self) -> WorkItemKey {
        WorkItemKey {
            system: self.system.clone(),
            employee_number: self.employee_number.clone(),
            account: self.account.clone(),
            action: self.action.clone(),
        }
    }

    /// The reference people quote: `WI-000042`.
    pub fn reference(&self) -> String {
        format!("WI-{:06}", self.id)
    }
}

pub use turnstile_core::work::Status as WorkItemStatus;

/// An account under the inactivity rule: its manager was told, and perhaps it was
/// disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dormancy {
    pub system: String,
    pub account: String,
    pub employee_number: String,
    pub record: crate::inactivity::Record,
}

/// Where a work item goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// One JSON item to the service-desk webhook.
    Webhook,
    /// A digest email to the system's administrators.
    Email,
    /// The overdue escalation email.
    Escalation,
}

/// A fresh export's verdict on one active item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub id: u64,
    pub how: turnstile_core::work::Settle,
    pub reason: String,
}

/// A work item's identity: (system, employee number, account, action).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct WorkItemKey {
    pub system: String,
    pub employee_number: String,
    pub account: Option<String>,
    pub action: String,
}

impl WorkItemKey {
    pub fn of(change: &crate::plan::Change) -> WorkItemKey {
        WorkItemKey {
            system: change.system.clone(),
            employee_number: change.employee_number.clone(),
            account: change.account.clone(),
            action: change.action.to_string(),
        }
    }
}

/// A person whose access must be brought in line on the targets: at once after their HR
/// record changed, or at the start of the next day it turns (the schedule). Durable, so a
/// crash between recording and applying, or a daemon down when a leaver's last day ends,
/// loses nothing: the work is done on the next start, in due order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pending {
    pub employee_number: String,
    /// When the work falls due.
    pub due: Timestamp,
    /// Failed attempts since it fell due.
    pub attempts: u32,
    pub last_error: Option<String>,
    /// Not before this (backoff after a failed attempt).
    pub next_try: Timestamp,
    /// Waiting for a person's decision on this held plan (`turnstile approve`/`reject`):
    /// not applied, and left alone by reconciliation, until then.
    pub held_by: Option<u64>,
    /// When it was last made pending by an HR record (for the effective→applied metric).
    pub since: Option<Timestamp>,
    /// Counts the HR records that made it pending. Settling or retrying work read with an
    /// older count changes nothing: a record that arrived while the work was being applied
    /// is never lost under it.
    pub generation: u64,
    /// The replica applying it now, if one has claimed it (`host:pid`), and until when
    /// the claim holds if that replica vanishes.
    pub claimed_by: Option<String>,
    pub claimed_until: Option<Timestamp>,
}

/// A plan the mass-change guard stopped: the changes that would take access away from too
/// many accounts of one system in one window, kept exactly as planned until a named person
/// approves or rejects them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HeldPlan {
    pub id: u64,
    pub system: String,
    pub created_at: Timestamp,
    /// Why it was held, with the numbers and the limit.
    pub reason: String,
    pub people: usize,
    pub changes: usize,
    pub status: HeldStatus,
    pub decided_by: Option<String>,
    pub decided_at: Option<Timestamp>,
    /// The reason given with a rejection.
    pub note: Option<String>,
}

impl HeldPlan {
    /// The reference people quote: `HP-000007`.
    pub fn reference(&self) -> String {
        format!("HP-{:06}", self.id)
    }

    /// The plan, if it is still held; [`StoreError::AlreadyDecided`] if not.
    pub fn undecided(self) -> Result<HeldPlan, StoreError> {
        if self.status == HeldStatus::Held {
            return Ok(self);
        }
        Err(StoreError::AlreadyDecided {
            id: self.id,
            status: self.status.as_str(),
            by: self
                .decided_by
                .map(|b| format!(" (by {b})"))
                .unwrap_or_default(),
        })
    }

    /// Reads `7`, `HP-7` or `HP-000007`.
    pub fn parse_reference(text: &str) -> Option<u64> {
        let t = text.trim();
        let digits = t
            .strip_prefix("HP-")
            .or_else(|| t.strip_prefix("hp-"))
            .unwrap_or(t);
        digits.parse().ok().filter(|n| *n > 0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeldStatus {
    Held,
    Approved,
    Rejected,
}

impl HeldStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HeldStatus::Held => "held",
            HeldStatus::Approved => "approved",
            HeldStatus::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<HeldStatus> {
        match text {
            "held" => Some(HeldStatus::Held),
            "approved" => Some(HeldStatus::Approved),
            "rejected" => Some(HeldStatus::Rejected),
            _ => None,
        }
    }
}

/// Filters for reading the trail.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub employee_number: Option<String>,
    pub since: Option<Timestamp>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "state store {path}: cannot open it: {detail}; check the path in [store] and that the directory is writable"
    )]
    Open { path: String, detail: String },
    #[error(
        "state store {url}: cannot connect: {detail}; check [store] url (host, port, database, user and password) and that the server accepts connections from this host"
    )]
    Connect { url: String, detail: String },
    #[error(
        "state store {path}: there is no store here; check [store] path (or TURNSTILE__STORE__PATH), or record something first with `turnstile feed … --apply`"
    )]
    Missing { path: String },
    #[error(
        "state store {path}: the file is empty (0 bytes): a store in use is never empty, so it was reset or replaced; restore it from backup (and check it with `turnstile audit --verify --expect-head` against your last shipped head), or delete it to start a new store"
    )]
    EmptyFile { path: String },
    #[error(
        "state store {path}: this is not a Turnstile state store (it has no person or audit table); check [store] path"
    )]
    NotAStore { path: String },
    #[error(
        "state store: another Turnstile process kept it busy for more than 10 s; wait for it to finish (a long `reconcile` or `feed --apply`) and run this again"
    )]
    Busy,
    /// The database itself failed (any backend: SQLite, PostgreSQL).
    #[error("state store: {0}; if this repeats, run `turnstile audit --verify` and check the disk")]
    Database(String),
    #[error(
        "held plan HP-{id:06} is {status}, not held{by}: a plan is decided once; see `turnstile held`"
    )]
    AlreadyDecided {
        id: u64,
        status: &'static str,
        by: String,
    },
    #[error("there is no held plan HP-{0:06}; `turnstile held` lists them")]
    NoSuchPlan(u64),
    #[error("there is no match M-{0:06}; `turnstile matches` lists them")]
    NoSuchMatch(u64),
    #[error(
        "match M-{id:06} is {status}, not open{by}: a match is decided once; see `turnstile matches show M-{id:06}`"
    )]
    MatchDecided {
        id: u64,
        status: &'static str,
        by: String,
    },
    #[error(
        "{system} account {account} was not linked by correlation (no adoption is recorded for it); `turnstile matches` lists what was"
    )]
    NotAdopted { system: String, account: String },
    #[error(
        "state store holds a record it cannot read for {key}: {detail}; it was written by another version or edited by hand"
    )]
    Corrupt { key: String, detail: String },
}

/// Opens the store `[store] kind` names: creating it when `must_exist` is false and there
/// is none, with the audit key when one is configured.
pub fn open(
    config: &crate::config::StoreConfig,
    key: Option<crate::audit::AuditKey>,
    must_exist: bool,
) -> Result<Box<dyn Store + Send>, StoreError> {
    let claim = jiff::SignedDuration::from_secs(config.claim_secs.clamp(1, 86_400) as i64);
    match config.kind {
        crate::config::StoreKind::Sqlite => {
            // One replica only (a file on one host): every process on it is the same
            // owner, so a daemon restarted after a crash takes its work up at once.
            let owner = sql::Owner {
                name: "local".into(),
                claim,
            };
            let store = if must_exist {
                sqlite::SqliteStore::open_existing(&config.path)?
            } else {
                sqlite::SqliteStore::open(&config.path)?
            };
            Ok(Box::new(store.with_audit_key(key).with_owner(owner)))
        }
        crate::config::StoreKind::Postgres => {
            let owner = sql::Owner {
                name: sql::replica_name(),
                claim,
            };
            let store = postgres::PgStore::connect_with(
                config.url.expose(),
                config.schema.as_deref(),
                postgres::PgTls::from_config(config),
                must_exist,
            )?;
            Ok(Box::new(store.with_audit_key(key).with_owner(owner)))
        }
    }
}

/// The systems among `model`'s whose accounts were ever read into the store (a count
/// each, not every account): a system never read is unknown, not empty.
pub fn systems_read<'m>(
    store: &dyn Store,
    model: &'m crate::policy::RoleModel,
) -> Result<std::collections::BTreeSet<&'m str>, StoreError> {
    let mut read = std::collections::BTreeSet::new();
    for system in model.systems.keys() {
        if store.account_count(system)? > 0 {
            read.insert(system.as_str());
        }
    }
    Ok(read)
}

/// Looks at the store `[store]` names without changing it (`validate --connect`): where
/// it stands, or why it cannot be reached.
pub fn look(config: &crate::config::StoreConfig) -> Result<String, StoreError> {
    match config.kind {
        crate::config::StoreKind::Sqlite => match std::fs::metadata(&config.path) {
            Ok(m) if m.len() == 0 => Err(StoreError::EmptyFile {
                path: config.path.display().to_string(),
            }),
            Ok(_) => sqlite::SqliteStore::open_existing(&config.path)
                .map(|_| format!("SQLite store {} opens", config.path.display())),
            Err(_) => Ok(format!(
                "no SQLite store at {} yet: the first start creates it",
                config.path.display()
            )),
        },
        crate::config::StoreKind::Postgres => {
            let mut db = postgres::PgDb::new(config.url.expose(), config.schema.as_deref())?;
            db.tls = postgres::PgTls::from_config(config);
            Ok(if db.is_set_up()? {
                format!("{} answers and holds a Turnstile store", db.shown)
            } else {
                format!(
                    "{} answers; no Turnstile store there yet: the first start creates it",
                    db.shown
                )
            })
        }
    }
}

/// Decides what a new event does to the stored record: pure, shared by every store.
///
/// Identity is the content, not only the id: an event is a `Duplicate` only when it says
/// what the record held already says (or, at a tie, when this very content was recorded
/// before: `seen_before`), so a changed record is never dropped as a replay.
///
/// A *tie* — the same `occurred_at` and `sequence`, different content — happens when a
/// file is edited and fed again with the same extract time (or `--extracted-at`), or a
/// producer reuses a time. Neither record is newer by the source's own order, so arrival
/// order decides: the one fed last wins, and a replay of one recorded earlier
/// (`seen_before`) changes nothing.
pub fn judge(current: Option<&HrEvent>, incoming: &HrEvent, seen_before: bool) -> Outcome {
    match current {
        None => Outcome::Applied { previous: None },
        Some(cur) if cur.person == incoming.person && !incoming.supersedes(cur) => {
            if cur.event_id == incoming.event_id || cur.ties(incoming) {
                Outcome::Duplicate
            } else {
                Outcome::Stale {
                    current_event_id: cur.event_id.as_str().to_string(),
                }
            }
        }
        Some(cur) if cur.ties(incoming) && seen_before => Outcome::Duplicate,
        Some(cur) if !cur.ties(incoming) && !incoming.supersedes(cur) => Outcome::Stale {
            current_event_id: cur.event_id.as_str().to_string(),
        },
        Some(cur) if cur.person == incoming.person => Outcome::Unchanged,
        Some(cur) => Outcome::Applied {
            previous: Some(cur.person.clone()),
        },
    }
}

/// The state store: every kind of data it keeps has a trait of its own (bring the ones
/// you call into scope, or `use crate::store::prelude::*`); `Store` is all of them, plus
/// the write-ahead log's upkeep.
pub trait Store:
    People + Accounts + Trail + Work + Held + WorkItems + Notices + matches::Matches + reviews::Reviews
{
    /// This connection's commits stop copying SQLite's write-ahead log into the database
    /// (a few milliseconds every few thousand pages, on whichever commit crosses the
    /// line); a [`Store::checkpoint`] on another connection does it instead. The daemon's
    /// recorder, so a backlog's batches are not held up. Nothing to do on PostgreSQL.
    fn leave_checkpoints(&mut self) -> Result<(), StoreError>;

    /// Copies what it can of the write-ahead log into the database without waiting for
    /// readers or writers; how many pages it copied (0 on PostgreSQL).
    fn checkpoint(&mut self) -> Result<u64, StoreError>;
}

/// HR records: recording events, reading people, TRAC starters' links.
pub trait People {
    /// Records `event` if it is newer than what is held. When it is applied,
    /// `follow_up(previous, new)` gives the audit entries it causes (the HR record itself
    /// and the planned changes); they are written in the same transaction.
    fn record_event(
        &mut self,
        event: &HrEvent,
        follow_up: &mut dyn FnMut(Option<&Person>, &Person) -> Vec<Draft>,
    ) -> Result<Outcome, StoreError> {
        let mut outcomes = self.record_events(&[event], &mut |_, _, previous, new| {
            follow_up(previous, new)
        })?;
        outcomes.pop().ok_or_else(|| StoreError::Corrupt {
            key: event.event_id.as_str().to_string(),
            detail: "recording gave no outcome".into(),
        })
    }

    /// Records several events, in order, in one transaction: as if each were recorded on
    /// its own, but with one durable commit. `follow_up(i, event, previous, new)` gives
    /// each applied event's audit entries. One outcome per event, in order.
    fn record_events(
        &mut self,
        events: &[&HrEvent],
        follow_up: &mut EventFollowUp<'_>,
    ) -> Result<Vec<Outcome>, StoreError> {
        let encoded = events
            .iter()
            .map(|e| Encoded::of(e))
            .collect::<Result<Vec<_>, _>>()?;
        let ready: Vec<Ready<'_>> = events
            .iter()
            .zip(&encoded)
            .map(|(e, x)| x.ready(e))
            .collect();
        self.record_ready(&ready, follow_up)
    }

    /// [`Store::record_events`] with each event's digest and JSON worked out beforehand.
    fn record_ready(
        &mut self,
        events: &[Ready<'_>],
        follow_up: &mut EventFollowUp<'_>,
    ) -> Result<Vec<Outcome>, StoreError>;

    fn person(&self, employee_number: &str) -> Result<Option<StoredPerson>, StoreError>;

    /// Every person, in employee-number order.
    fn persons(&self) -> Result<Vec<StoredPerson>, StoreError>;

    /// Flags people for review (and writes `hr.review` audit entries) unless already
    /// flagged; returns how many were newly flagged.
    fn flag_for_review(
        &mut self,
        employee_numbers: &[String],
        reason: &str,
        at: Timestamp,
        actor: &str,
    ) -> Result<usize, StoreError>;

    /// Links a TRAC starter's provisional key to their ESR employee number, with the trail
    /// entry saying so, in one transaction: the provisional record is no longer one of
    /// [`Store::persons`], its pending work is dropped, and its accounts are re-anchored by
    /// the next plan.
    fn link_starter(
        &mut self,
        provisional: &str,
        employee_number: &str,
        draft: Draft,
    ) -> Result<(), StoreError>;

    /// Provisional key → ESR employee number, for every starter linked.
    fn starter_links(&self) -> Result<std::collections::BTreeMap<String, String>, StoreError>;

    /// The provisional (TRAC) starters not yet linked.
    fn provisional_starters(&self) -> Result<Vec<Person>, StoreError>;
}

/// Accounts as last read from each target, and counts over them.
pub trait Accounts {
    /// Accounts known on one system, or on every system, in (system, id) order.
    fn accounts(&self, system: Option<&str>) -> Result<Vec<Account>, StoreError>;

    /// Accounts known to belong to one person, on every system, in (system, id) order.
    fn accounts_of(&self, employee_number: &str) -> Result<Vec<Account>, StoreError>;

    /// The accounts known for each of `employee_numbers` (those with none are left out),
    /// each in (system, id) order: one read for a batch of people.
    fn accounts_of_people(
        &self,
        employee_numbers: &[&str],
    ) -> Result<std::collections::BTreeMap<String, Vec<Account>>, StoreError> {
        let mut out = std::collections::BTreeMap::new();
        for n in employee_numbers {
            let accounts = self.accounts_of(n)?;
            if !accounts.is_empty() {
                out.insert(n.to_string(), accounts);
            }
        }
        Ok(out)
    }

    /// Replaces what is known of one system's accounts with a fresh read.
    fn replace_accounts(&mut self, system: &str, accounts: &[Account]) -> Result<(), StoreError>;

    /// Accounts of `system` that lost access (an applied disable, revoke or delete) since
    /// `since`: what the mass-change guard's window has already let through.
    fn access_taken_since(&self, system: &str, since: Timestamp) -> Result<usize, StoreError>;

    /// How many accounts the last full read of `system` found.
    fn account_count(&self, system: &str) -> Result<usize, StoreError>;

    /// Accounts created on `system` since `since` (applied, or raised as work items): what
    /// the guard on creates counts.
    fn created_since(&self, system: &str, since: Timestamp) -> Result<usize, StoreError>;
}

/// The audit trail: appended, read, verified; dead letters noted in it.
pub trait Trail {
    fn append_audit(&mut self, drafts: Vec<Draft>) -> Result<Vec<Entry>, StoreError>;

    /// True when this very record was already dead-lettered (before a crash or restart).
    fn was_dead_lettered(&self, noted: &DeadLettered) -> Result<bool, StoreError>;

    /// Notes a dead-lettered record, with its audit entry, in one transaction.
    fn note_dead_letter(&mut self, noted: &DeadLettered, draft: Draft) -> Result<(), StoreError>;

    fn audit(&self, filter: &AuditFilter) -> Result<Vec<Entry>, StoreError>;

    /// Checks the whole trail (and each entry's MAC when the store has an audit key), and
    /// that it still holds `expected_head` (a head shipped off the host earlier): what was
    /// verified, or the first break.
    fn verify_audit(
        &self,
        expected_head: Option<(u64, &str)>,
    ) -> Result<Result<Verified, Break>, StoreError>;
}

/// Pending work per person, replicas' claims on it, and leases.
pub trait Work {
    /// Takes the work that is due at `now` (due and past its backoff), earliest first:
    /// claimed for this store's owner (a replica) until it is settled or retried, or the
    /// claim runs out. Work another replica holds a live claim on is left to it.
    fn due_pending(&mut self, now: Timestamp, limit: usize) -> Result<Vec<Pending>, StoreError>;

    /// Renews this store's owner's claim on `work` until `now` plus the claim time, just
    /// before its changes are made: false when the claim is no longer ours (it ran out and
    /// another replica took the person, or settled them), and then nothing may be made
    /// from a plan drawn up under it.
    fn renew_claim(&mut self, work: &Pending, now: Timestamp) -> Result<bool, StoreError>;

    /// Takes or renews the lease `name` for this store's owner until `now + ttl`: true when
    /// it is ours (it was free, had run out, or was ours already). Jobs that must run on one
    /// replica at a time (the scheduled reconcile, notices, work items) hold one.
    fn take_lease(
        &mut self,
        name: &str,
        now: Timestamp,
        ttl: jiff::SignedDuration,
    ) -> Result<bool, StoreError>;

    /// Every pending person, earliest first (health, metrics, the CLI).
    fn pending(&self) -> Result<Vec<Pending>, StoreError>;

    /// Done for now: the person is next due at `next` (their next checkpoint), or never.
    /// Only if no HR record made them pending again since `work` was read.
    fn settle_pending(&mut self, work: &Pending, next: Option<Timestamp>)
    -> Result<(), StoreError>;

    /// An attempt failed: try again at `next_try`, keeping the error for operators. With
    /// `counts`, it is one more failed attempt; without, it only waited (for a target
    /// that is away).
    /// Only if no HR record made them pending again since `work` was read (then the new
    /// record is due at once instead).
    fn retry_pending(
        &mut self,
        work: &Pending,
        next_try: Timestamp,
        error: &str,
        counts: bool,
    ) -> Result<(), StoreError>;
}

/// Plans held by the mass-change guard, and their decisions.
pub trait Held {
    /// Stores a held plan for `system` with its changes, marks every person in it as held
    /// by it (their pending work waits), and writes `draft` (its reason prefixed with the
    /// plan's reference), all in one transaction.
    fn hold_plan(
        &mut self,
        system: &str,
        reason: &str,
        changes: &[crate::plan::Change],
        draft: Draft,
    ) -> Result<HeldPlan, StoreError>;

    /// These people's pending work waits behind held plan `id` (it was planned while the
    /// plan was undecided); it is looked at afresh once the plan is decided.
    fn wait_behind(&mut self, id: u64, employee_numbers: &[String]) -> Result<(), StoreError>;

    /// Held plans, optionally of one status, by id.
    fn held_plans(&self, status: Option<HeldStatus>) -> Result<Vec<HeldPlan>, StoreError>;

    /// One held plan and its changes, in the order they were planned.
    fn held_plan(
        &self,
        id: u64,
    ) -> Result<Option<(HeldPlan, Vec<crate::plan::Change>)>, StoreError>;

    /// Decides a plan that is still held: records who and when (and `note`), writes `drafts`,
    /// and sets the pending work of everyone held by it as `release` says (`Some(due)`:
    /// looked at again then; `None`: nothing pending), releasing anyone else held by it at
    /// once, in one transaction. [`StoreError::AlreadyDecided`] if it was decided before.
    #[allow(clippy::too_many_arguments)]
    fn decide_held_plan(
        &mut self,
        id: u64,
        status: HeldStatus,
        by: &str,
        at: Timestamp,
        note: Option<&str>,
        release: &[(String, Option<Timestamp>)],
        drafts: Vec<Draft>,
    ) -> Result<HeldPlan, StoreError>;
}

/// Work items for systems without an API: raised, sent, settled.
pub trait WorkItems {
    /// The active (open, reopened or overdue) work item for this change, if there is one.
    fn open_work_item(&self, key: &WorkItemKey) -> Result<Option<WorkItem>, StoreError>;

    /// Raises a work item for `change` due at `due_at` and writes `draft` to the trail with
    /// the item's reference, in one transaction. An active item for the same change is
    /// left as it is; a confirmed one is reopened (its change was undone) and sent again.
    fn raise_work_item(
        &mut self,
        change: &crate::plan::Change,
        detail: &str,
        due_at: Timestamp,
        draft: Draft,
    ) -> Result<WorkItem, StoreError>;

    /// After a fresh read of `system`: confirms or cancels the items named, each with a
    /// `work_item.confirmed` or `work_item.cancelled` entry in the trail. An item no longer
    /// active is left alone.
    fn settle_work_items(
        &mut self,
        settled: &[Settled],
        at: Timestamp,
        actor: &str,
    ) -> Result<Vec<WorkItem>, StoreError>;

    /// Marks every open or reopened item due by `now` overdue (`work_item.overdue` in the
    /// trail) and returns them.
    fn mark_overdue(&mut self, now: Timestamp, actor: &str) -> Result<Vec<WorkItem>, StoreError>;

    /// Active items not yet sent through `channel` (for `Escalation`: overdue items not yet
    /// escalated), by id.
    fn work_items_to_send(&self, channel: Channel) -> Result<Vec<WorkItem>, StoreError>;

    /// Records one delivery attempt of item `id` through `channel`: sent at `at`, or the
    /// error that stopped it.
    fn work_item_sent(
        &mut self,
        id: u64,
        channel: Channel,
        result: Result<(), &str>,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Work items, optionally of one system and one status, by id.
    fn work_items(
        &self,
        system: Option<&str>,
        status: Option<WorkItemStatus>,
    ) -> Result<Vec<WorkItem>, StoreError>;
}

/// Inactivity notices and the dormancy they announce.
pub trait Notices {
    /// The accounts of `system` under the inactivity rule, by account name (lower case).
    fn dormancy(
        &self,
        system: &str,
    ) -> Result<std::collections::BTreeMap<String, Dormancy>, StoreError>;

    /// Records that the managers were told (`notices`: system, account, employee number)
    /// on `on`, with the trail entries saying so, in one transaction.
    fn record_notices(
        &mut self,
        notices: &[(String, String, String)],
        on: jiff::civil::Date,
        drafts: Vec<Draft>,
    ) -> Result<(), StoreError>;

    /// Records that an account was disabled for inactivity on `on`.
    fn dormancy_disabled(
        &mut self,
        system: &str,
        account: &str,
        on: jiff::civil::Date,
    ) -> Result<(), StoreError>;

    /// Forgets an account's inactivity record (it was used again, or a manager approved
    /// re-enabling it: `draft` says who); false when there was none.
    fn clear_dormancy(
        &mut self,
        system: &str,
        account: &str,
        draft: Option<Draft>,
    ) -> Result<bool, StoreError>;
}

/// Every trait of the store, for callers that use several kinds of data.
pub mod prelude {
    pub use super::matches::Matches;
    pub use super::reviews::Reviews;
    pub use super::{Accounts, Held, Notices, People, Store, Trail, Work, WorkItems};
}
