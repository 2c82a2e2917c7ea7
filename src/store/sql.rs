//! The store's logic, written once over a small SQL connection trait ([`Db`]) that SQLite
//! and PostgreSQL each implement: the same statements (numbered `?N` parameters, `ON
//! CONFLICT`, `RETURNING`, which both speak), the same transactions, the same audit chain.
//! A backend only opens connections, runs statements and brings its schema up to date.
//!
//! Every write is one transaction that holds the backend's single writer lock (SQLite's
//! `BEGIN IMMEDIATE`; a transaction-scoped advisory lock on PostgreSQL), so the hash chain
//! is appended by one writer at a time however many processes share the store.

use super::{
    AuditFilter, Channel, DeadLettered, Dormancy, EventFollowUp, HeldPlan, HeldStatus, Outcome,
    Pending, Ready, Settled, Store, StoreError, StoredPerson, WorkItem, WorkItemKey,
    WorkItemStatus, judge,
};
use crate::account::Account;
use crate::audit::{self, AuditKey, Break, Draft, Entry, Verified};
use crate::hr::HrEvent;
use crate::work::Settle;
use jiff::Timestamp;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A parameter or a column: every column the store uses is an integer or text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// Parameters for a statement: `p![a, b]`.
macro_rules! p {
    ($($v:expr),* $(,)?) => { &[$(Value::from($v)),*] };
}

/// Schema version 4 as both backends write it, but for `account_match`'s id column (an
/// alias of SQLite's rowid; an identity column on PostgreSQL): correlation's matches,
/// refusals and adoptions. Macros, so each backend's migration is one literal.
macro_rules! account_match_columns {
    () => {
        "
    system          TEXT NOT NULL,
    employee_number TEXT NOT NULL,
    situation       TEXT NOT NULL,
    candidates_json TEXT NOT NULL,
    status          TEXT NOT NULL,
    account         TEXT,
    found_at        TEXT NOT NULL,
    decided_at      TEXT,
    decided_by      TEXT,
    note            TEXT
);
CREATE UNIQUE INDEX account_match_live ON account_match (system, employee_number) WHERE status IN ('open', 'accepted');
CREATE INDEX account_match_person ON account_match (system, employee_number);
"
    };
}
pub(crate) use account_match_columns;

macro_rules! correlation_tables {
    () => {
        "CREATE TABLE match_refusal (
    system          TEXT NOT NULL,
    employee_number TEXT NOT NULL,
    account         TEXT NOT NULL,
    PRIMARY KEY (system, employee_number, account)
);
CREATE TABLE adoption (
    system          TEXT NOT NULL,
    account         TEXT NOT NULL,
    employee_number TEXT NOT NULL,
    linked_at       TEXT NOT NULL,
    evidence        TEXT NOT NULL,
    linked_by       TEXT NOT NULL,
    excess          TEXT NOT NULL,
    kept_json       TEXT NOT NULL,
    PRIMARY KEY (system, account)
);"
    };
}
pub(crate) use correlation_tables;

/// Schema version 5, the same on both backends: access review packs as issued.
pub const REVIEW_PACK_TABLES: &str = "CREATE TABLE review_pack (
    id              TEXT PRIMARY KEY,
    manager         TEXT NOT NULL,
    issued_at       TEXT NOT NULL,
    digest          TEXT NOT NULL,
    lines           BIGINT NOT NULL
);
CREATE TABLE review_line (
    pack_id         TEXT NOT NULL REFERENCES review_pack (id),
    ord             BIGINT NOT NULL,
    employee_number TEXT NOT NULL,
    system          TEXT NOT NULL,
    account         TEXT NOT NULL,
    entitlement     TEXT,
    PRIMARY KEY (pack_id, ord)
);";

mod accounts;
mod held;
mod matches;
mod migrate;
mod notices;
mod people;
mod reviews;
mod trail;
mod work;
mod work_items;

pub(crate) use migrate::HEAD_SEAL;
pub use migrate::migrate;
#[cfg(test)]
use migrate::statements;

/// One row read.
pub struct Row(pub Vec<Value>);

impl Row {
    fn get(&self, i: usize) -> Result<&Value, StoreError> {
        self.0.get(i).ok_or_else(|| StoreError::Corrupt {
            key: format!("column {i}"),
            detail: "missing from the row".into(),
        })
    }

    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.opt_int(i)?.ok_or_else(|| StoreError::Corrupt {
            key: format!("column {i}"),
            detail: "null where a number belongs".into(),
        })
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.get(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(*v)),
            Value::Text(t) => t.parse().map(Some).map_err(|_| StoreError::Corrupt {
                key: format!("column {i}"),
                detail: "text where a number belongs".into(),
            }),
        }
    }

    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        self.opt_text(i)?.ok_or_else(|| StoreError::Corrupt {
            key: format!("column {i}"),
            detail: "null where text belongs".into(),
        })
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.get(i)? {
            Value::Null => Ok(None),
            Value::Int(v) => Ok(Some(v.to_string())),
            Value::Text(t) => Ok(Some(t.clone())),
        }
    }
}

/// A connection to the store's database.
pub trait Db: Send {
    /// Starts a write transaction holding the store's single writer lock.
    fn begin(&mut self) -> Result<(), StoreError>;
    fn commit(&mut self) -> Result<(), StoreError>;
    /// Undoes the open transaction (after a failed statement); never fails loudly.
    fn rollback(&mut self);
    /// Runs one statement; how many rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    /// Runs one query; every row.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError>;
    /// Runs one query, handing `each` one row at a time, so a large table is never held
    /// as raw rows and as what they are read into at once.
    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.query(sql, params)?.into_iter().try_for_each(each)
    }
    /// From now on this connection's commits leave copying the log into the database to
    /// [`Db::checkpoint`] on another connection (SQLite's write-ahead log; nothing to do
    /// elsewhere).
    fn leave_checkpoints(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Copies what it can of the log into the database without waiting for anyone;
    /// how many log pages that copied.
    fn checkpoint(&mut self) -> Result<u64, StoreError> {
        Ok(0)
    }
}

fn one(db: &mut dyn Db, sql: &str, params: &[Value]) -> Result<Option<Row>, StoreError> {
    Ok(db.query(sql, params)?.into_iter().next())
}

fn exists(db: &mut dyn Db, sql: &str, params: &[Value]) -> Result<bool, StoreError> {
    Ok(!db.query(sql, params)?.is_empty())
}

/// Who takes due work, and for how long a claim holds if they vanish.
#[derive(Debug, Clone)]
pub struct Owner {
    pub name: String,
    pub claim: jiff::SignedDuration,
}

impl Default for Owner {
    fn default() -> Self {
        Owner {
            name: replica_name(),
            claim: jiff::SignedDuration::from_secs(120),
        }
    }
}

/// This process's name among replicas: the host (a pod's name) and the process id.
pub fn replica_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// The store over one connection.
pub struct SqlStore<D: Db> {
    db: RefCell<D>,
    key: Option<AuditKey>,
    owner: Owner,
}

impl<D: Db + 'static> SqlStore<D> {
    pub fn new(db: D) -> SqlStore<D> {
        SqlStore {
            db: RefCell::new(db),
            key: None,
            owner: Owner::default(),
        }
    }

    /// Signs every entry written from now on with `key`, and checks MACs on verification.
    pub fn with_audit_key(mut self, key: Option<AuditKey>) -> SqlStore<D> {
        self.key = key;
        self
    }

    /// Takes due work in the name of `owner` (a replica), each claim holding for
    /// `owner.claim` unless settled first.
    pub fn with_owner(mut self, owner: Owner) -> SqlStore<D> {
        self.owner = owner;
        self
    }

    /// Runs `f` in one write transaction: committed if it succeeds, undone if not.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut dyn Db, Option<&AuditKey>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut db = self.db.borrow_mut();
        db.begin()?;
        HEAD_WRITTEN.set(None);
        let done = match f(&mut *db, self.key.as_ref()) {
            Ok(v) => match db.commit() {
                Ok(()) => Ok(v),
                Err(e) => {
                    db.rollback();
                    Err(e)
                }
            },
            Err(e) => {
                db.rollback();
                Err(e)
            }
        };
        if let (Ok(_), Some((seq, hash))) = (&done, HEAD_WRITTEN.take()) {
            AUDIT_HEAD_SEQ.fetch_max(seq, std::sync::atomic::Ordering::Relaxed);
            // Once durable, the new head is said for shipping off the host (a log
            // collector, syslog): the outside anchor `audit --verify --expect-head` checks
            // the trail against, which nobody with the store alone can rewrite.
            tracing::info!(target: "turnstile::audit::head", seq, hash = %hash, "audit head");
        }
        done
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn Db) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        f(&mut *self.db.borrow_mut())
    }
}

fn decode_accounts(rows: Vec<Row>) -> Result<Vec<Account>, StoreError> {
    rows.iter()
        .map(|r| {
            let json = r.text(2)?;
            serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                key: format!(
                    "{}/{}",
                    r.text(0).unwrap_or_default(),
                    r.text(1).unwrap_or_default()
                ),
                detail: e.to_string(),
            })
        })
        .collect()
}

fn decode_event(key: &str, json: &str) -> Result<HrEvent, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        detail: e.to_string(),
    })
}

fn encode<T: serde::Serialize>(key: &str, value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        detail: e.to_string(),
    })
}

/// The newest head this process wrote (`turnstile_audit_head_seq`): a trail whose head
/// stops moving while events are recorded is not being written.
pub static AUDIT_HEAD_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

thread_local! {
    /// The head the current write transaction moved the trail to, said once committed.
    static HEAD_WRITTEN: std::cell::RefCell<Option<(u64, String)>> =
        const { std::cell::RefCell::new(None) };
}

/// The trail's head as recorded: its newest entry's number and hash, and the seal (MAC
/// under the audit key) written with them, if any.
struct Head {
    seq: u64,
    hash: String,
    mac: Option<String>,
}

fn head(db: &mut dyn Db) -> Result<Option<Head>, StoreError> {
    one(
        db,
        "SELECT seq, hash, mac FROM audit_head WHERE id = 1",
        &[],
    )?
    .map(|r| {
        Ok(Head {
            seq: r.int(0)? as u64,
            hash: r.text(1)?,
            mac: r.opt_text(2)?,
        })
    })
    .transpose()
}

fn micros(ts: Timestamp) -> i64 {
    ts.as_microsecond()
}

fn at_micros(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Rows written by one statement: on PostgreSQL each statement is a round trip, so a
/// batch's rows go 32 at a time (the rest one by one, so each kind of insert has only two
/// statements to prepare).
const ROWS_PER_STATEMENT: usize = 32;

/// `head VALUES (…), (…) … tail` for `values` (`width` per row), [`ROWS_PER_STATEMENT`]
/// rows per statement. A row is `(?1, ?2, …)`; a column the row sets to a constant is
/// given as a value like the others.
fn insert_rows(
    db: &mut dyn Db,
    head: &str,
    width: usize,
    tail: &str,
    values: &[Value],
) -> Result<(), StoreError> {
    if values.is_empty() {
        return Ok(());
    }
    let sql = |rows: usize| {
        let mut sql = format!("{head} VALUES ");
        for r in 0..rows {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 1..=width {
                if c > 1 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("?{}", r * width + c));
            }
            sql.push(')');
        }
        format!("{sql} {tail}")
    };
    let (many, one) = (sql(ROWS_PER_STATEMENT), sql(1));
    for chunk in values.chunks(ROWS_PER_STATEMENT * width) {
        if chunk.len() == ROWS_PER_STATEMENT * width {
            db.execute(&many, chunk)?;
        } else {
            for row in chunk.chunks(width) {
                db.execute(&one, row)?;
            }
        }
    }
    Ok(())
}

/// The rows of `{select} IN (…) {tail}` for every key, [`ROWS_PER_STATEMENT`] keys per
/// statement; a short last chunk is padded with its own first key, so one statement
/// (prepared once) serves every chunk.
fn query_in(
    db: &mut dyn Db,
    select: &str,
    tail: &str,
    keys: &[&str],
) -> Result<Vec<Row>, StoreError> {
    let list = (1..=ROWS_PER_STATEMENT)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("{select} IN ({list}) {tail}");
    let mut out = Vec::new();
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let values: Vec<Value> = (0..ROWS_PER_STATEMENT)
            .filter_map(|i| chunk.get(i).or(chunk.first()))
            .map(|k| Value::from(*k))
            .collect();
        out.extend(db.query(&sql, &values)?);
    }
    Ok(out)
}

/// The stored records of `keys` (employee numbers).
fn stored_events(db: &mut dyn Db, keys: &[&str]) -> Result<HashMap<String, HrEvent>, StoreError> {
    let rows = query_in(
        db,
        "SELECT employee_number, event_json FROM person WHERE employee_number",
        "",
        keys,
    )?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in rows {
        let key = r.text(0)?;
        let event = decode_event(&key, &r.text(1)?)?;
        out.insert(key, event);
    }
    Ok(out)
}

const AUDIT_INSERT: &str = "INSERT INTO audit (seq, at, at_us, actor, employee_number, system, account, action, outcome, rule, event_id, reason, prev_hash, hash, mac)";

/// One entry's columns, in [`AUDIT_INSERT`]'s order.
fn audit_values(entry: &Entry, out: &mut Vec<Value>) {
    let d = &entry.draft;
    out.extend([
        Value::from(entry.seq as i64),
        Value::from(d.at.to_string()),
        Value::from(micros(d.at)),
        Value::from(d.actor.as_str()),
        Value::from(d.employee_number.as_deref()),
        Value::from(d.system.as_deref()),
        Value::from(d.account.as_deref()),
        Value::from(d.action.as_str()),
        Value::from(d.outcome.as_str()),
        Value::from(d.rule.as_deref()),
        Value::from(d.event_id.as_deref()),
        Value::from(d.reason.as_str()),
        Value::from(entry.prev_hash.as_str()),
        Value::from(entry.hash.as_str()),
        Value::from(entry.mac.as_deref()),
    ]);
}

/// Appends `drafts` to the chain, inside the caller's write transaction.
fn append(
    db: &mut dyn Db,
    key: Option<&AuditKey>,
    drafts: Vec<Draft>,
) -> Result<Vec<Entry>, StoreError> {
    if drafts.is_empty() {
        return Ok(Vec::new());
    }
    let found = head(db)?;
    let mut prev = found.as_ref().map(|h| (h.seq, h.hash.clone()));
    let mut values = Vec::with_capacity((drafts.len() + 1) * 15);
    // A head the key did not seal is said in the trail itself before anything is chained
    // to it: once after an upgrade or after the key is first configured; at any other
    // time, someone without the key cut entries off the end and moved the head back.
    if let (Some(key), Some(h)) = (key, &found)
        && !key.seals_head(h.seq, &h.hash, h.mac.as_deref())
    {
        tracing::warn!(
            head = h.seq,
            "the audit trail's head is not sealed with the audit key: sealed now and noted as audit.resealed; unless this store was just upgraded or the key just configured, compare the trail with the head last shipped off the host"
        );
        let note = Draft {
            at: drafts[0].at,
            actor: "turnstile".into(),
            employee_number: None,
            system: None,
            account: None,
            action: audit::Action::AuditResealed.to_string(),
            outcome: audit::Outcome::Recorded.to_string(),
            rule: None,
            event_id: None,
            reason: format!(
                "the head (entry {}) carried no valid seal under the audit key: a store written before heads were sealed or without the key, or entries cut off the end",
                h.seq
            ),
        };
        let entry = audit::chain(
            prev.as_ref().map(|(s, h)| (*s, h.as_str())),
            note,
            Some(key),
        );
        prev = Some((entry.seq, entry.hash.clone()));
        audit_values(&entry, &mut values);
    }
    let mut out = Vec::with_capacity(drafts.len());
    for draft in drafts {
        let entry = audit::chain(prev.as_ref().map(|(s, h)| (*s, h.as_str())), draft, key);
        prev = Some((entry.seq, entry.hash.clone()));
        out.push(entry);
    }
    for entry in &out {
        audit_values(entry, &mut values);
    }
    insert_rows(db, AUDIT_INSERT, 15, "", &values)?;
    if let Some((seq, hash)) = prev {
        let mac = key.map(|k| k.head_mac(seq, &hash));
        HEAD_WRITTEN.set(Some((seq, hash.clone())));
        db.execute(
            "INSERT INTO audit_head (id, seq, hash, mac) VALUES (1, ?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac",
            p![seq as i64, hash, mac],
        )?;
    }
    Ok(out)
}

/// An entry as stored, with the columns verification checks beside the hashed content:
/// the `at` text as written and `at_us`, which `--since` filters on.
fn read_entry(r: &Row) -> Result<(Entry, String, i64), StoreError> {
    let at_text = r.text(1)?;
    let at = at_text
        .parse::<Timestamp>()
        .unwrap_or(Timestamp::UNIX_EPOCH);
    Ok((
        Entry {
            seq: r.int(0)? as u64,
            draft: Draft {
                at,
                actor: r.text(2)?,
                employee_number: r.opt_text(3)?,
                system: r.opt_text(4)?,
                account: r.opt_text(5)?,
                action: r.text(6)?,
                outcome: r.text(7)?,
                rule: r.opt_text(8)?,
                event_id: r.opt_text(9)?,
                reason: r.text(10)?,
            },
            prev_hash: r.text(11)?,
            hash: r.text(12)?,
            mac: r.opt_text(13)?,
        },
        at_text,
        r.int(14)?,
    ))
}

const ENTRY_COLUMNS: &str = "seq, at, actor, employee_number, system, account, action, outcome, rule, event_id, reason, prev_hash, hash, mac, at_us";

/// The TRAC starters not yet linked to an ESR record. Asked on every batch the daemon
/// records, so it reads the partial index `person_provisional` (the same condition),
/// never the whole person table: `LIKE` cannot use an index on either backend.
pub(super) const PROVISIONAL_STARTERS: &str = "SELECT employee_number, event_json FROM person
     WHERE substr(employee_number, 1, 5) = 'TRAC-'
       AND employee_number NOT IN (SELECT provisional FROM starter_link)
     ORDER BY employee_number";

const REFUSED_KNOWN: &str = "SELECT 1 FROM refused WHERE topic = ?1 AND \"partition\" = ?2 AND \"offset\" = ?3 AND digest = ?4";

/// The due rows nobody else holds a live claim on.
const CLAIMABLE: &str = "due_us <= ?1 AND next_try_us <= ?1 AND held_by IS NULL
     AND (claimed_by IS NULL OR claimed_by = ?3 OR claimed_until_us <= ?1)";

impl<D: Db + 'static> Store for SqlStore<D> {
    fn leave_checkpoints(&mut self) -> Result<(), StoreError> {
        self.db.borrow_mut().leave_checkpoints()
    }

    fn checkpoint(&mut self) -> Result<u64, StoreError> {
        self.db.borrow_mut().checkpoint()
    }
}

/// Lets go of `owner`'s claim on a person's work (it was settled or will be tried again).
fn release(db: &mut dyn Db, who: &str, owner: &str) -> Result<(), StoreError> {
    db.execute(
        "UPDATE pending SET claimed_by = NULL, claimed_until_us = 0 WHERE employee_number = ?1 AND claimed_by = ?2",
        p![who, owner],
    )?;
    Ok(())
}

/// Marks a person's work as held by a plan (a person reconciliation found has no pending
/// row yet: one is made, so the hold is kept and they are looked at once it is decided).
const HOLD_PENDING: &str = "INSERT INTO pending (employee_number, due_us, attempts, next_try_us, held_by) VALUES (?2, 0, 0, 0, ?1)
     ON CONFLICT (employee_number) DO UPDATE SET held_by = excluded.held_by, attempts = 0, last_error = NULL, next_try_us = 0,
         claimed_by = NULL, claimed_until_us = 0";

const PENDING_COLUMNS: &str = "employee_number, due_us, attempts, last_error, next_try_us, held_by, since_us, generation, claimed_by, claimed_until_us";

fn read_pending(r: &Row) -> Result<Pending, StoreError> {
    let claimed_until = r.opt_int(9)?.unwrap_or(0);
    Ok(Pending {
        employee_number: r.text(0)?,
        due: at_micros(r.int(1)?),
        attempts: r.int(2)? as u32,
        last_error: r.opt_text(3)?,
        next_try: at_micros(r.int(4)?),
        held_by: r.opt_int(5)?.map(|id| id as u64),
        since: r.opt_int(6)?.map(at_micros),
        generation: r.int(7)? as u64,
        claimed_by: r.opt_text(8)?,
        claimed_until: (claimed_until > 0).then(|| at_micros(claimed_until)),
    })
}

const HELD_PLAN_COLUMNS: &str =
    "id, system, created_at, reason, people, changes, status, decided_by, decided_at, note";

/// One held plan by id.
fn held_plan_row(db: &mut dyn Db, id: i64) -> Result<Option<HeldPlan>, StoreError> {
    one(
        db,
        &format!("SELECT {HELD_PLAN_COLUMNS} FROM held_plan WHERE id = ?1"),
        p![id],
    )?
    .as_ref()
    .map(read_held_plan)
    .transpose()
}

fn time(text: Option<String>) -> Option<Timestamp> {
    text.and_then(|t| t.parse::<Timestamp>().ok())
}

fn read_held_plan(r: &Row) -> Result<HeldPlan, StoreError> {
    Ok(HeldPlan {
        id: r.int(0)? as u64,
        system: r.text(1)?,
        created_at: time(r.opt_text(2)?).unwrap_or(Timestamp::UNIX_EPOCH),
        reason: r.text(3)?,
        people: r.int(4)? as usize,
        changes: r.int(5)? as usize,
        status: HeldStatus::parse(&r.text(6)?).unwrap_or(HeldStatus::Held),
        decided_by: r.opt_text(7)?,
        decided_at: time(r.opt_text(8)?),
        note: r.opt_text(9)?,
    })
}

const WORK_ITEM_COLUMNS: &str = "id, system, employee_number, account, action, detail, status, raised_at, closed_at, \
     due_at, attempts, delivered_at, emailed_at, escalated_at, last_error, change_json";

fn work_item(db: &mut dyn Db, id: i64) -> Result<WorkItem, StoreError> {
    let row = one(
        db,
        &format!("SELECT {WORK_ITEM_COLUMNS} FROM work_item WHERE id = ?1"),
        p![id],
    )?
    .ok_or_else(|| StoreError::Corrupt {
        key: format!("WI-{id:06}"),
        detail: "the work item just written is not there".into(),
    })?;
    read_work_item(&row)
}

fn read_work_item(r: &Row) -> Result<WorkItem, StoreError> {
    let account = r.text(3)?;
    let raised_at = time(r.opt_text(7)?).unwrap_or(Timestamp::UNIX_EPOCH);
    Ok(WorkItem {
        id: r.int(0)? as u64,
        system: r.text(1)?,
        employee_number: r.text(2)?,
        account: (!account.is_empty()).then_some(account),
        action: r.text(4)?,
        detail: r.text(5)?,
        // An unknown status (a newer version's) reads as open: shown, never dropped.
        status: WorkItemStatus::parse(&r.text(6)?).unwrap_or(WorkItemStatus::Open),
        raised_at,
        closed_at: time(r.opt_text(8)?),
        due_at: time(r.opt_text(9)?).unwrap_or(raised_at),
        attempts: r.int(10)?.max(0) as u32,
        delivered_at: time(r.opt_text(11)?),
        emailed_at: time(r.opt_text(12)?),
        escalated_at: time(r.opt_text(13)?),
        last_error: r.opt_text(14)?,
        change: r.opt_text(15)?.and_then(|j| serde_json::from_str(&j).ok()),
    })
}

#[cfg(test)]
mod unit {
    use super::statements;

    #[test]
    fn migrations_split_into_statements_keeping_function_bodies_whole() {
        let sql = "CREATE TABLE a (x INT);\nCREATE FUNCTION f() RETURNS trigger AS $$\nBEGIN\n  RAISE EXCEPTION 'no';\nEND;\n$$ LANGUAGE plpgsql;\nCREATE INDEX i ON a (x)";
        let s = statements(sql);
        assert_eq!(s.len(), 3, "{s:?}");
        assert_eq!(s[0], "CREATE TABLE a (x INT)");
        assert!(s[1].contains("RAISE EXCEPTION 'no';") && s[1].ends_with("LANGUAGE plpgsql"));
        assert_eq!(s[2], "CREATE INDEX i ON a (x)");
    }
}
