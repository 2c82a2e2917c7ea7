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
mod traits;

pub use traits::*;

use crate::audit::Draft;
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

    /// The plan, if it is still held; [`Refusal::AlreadyDecided`] if not.
    pub fn undecided(self) -> Result<HeldPlan, StoreError> {
        if self.status == HeldStatus::Held {
            return Ok(self);
        }
        Err(StoreError::Refused(Refusal::AlreadyDecided {
            id: self.id,
            status: self.status.as_str(),
            by: self
                .decided_by
                .map(|b| format!(" (by {b})"))
                .unwrap_or_default(),
        }))
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
    /// What was asked cannot be done to the data as it stands (a decision made twice, a
    /// plan that does not exist): the asker's to resolve, not the store's failure.
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(
        "state store holds a record it cannot read for {key}: {detail}; it was written by another version or edited by hand"
    )]
    Corrupt { key: String, detail: String },
}

/// A request the store refuses because of the data, not because the store failed: an
/// API answers these 404 or 409 and the CLI as a usage error, where a [`StoreError`] of
/// any other kind is the server's (500, exit 1).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
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

/// Every trait of the store, for callers that use several kinds of data.
pub mod prelude {
    pub use super::matches::Matches;
    pub use super::reviews::Reviews;
    pub use super::{Accounts, Held, Notices, People, Store, Trail, Work, WorkItems};
}
