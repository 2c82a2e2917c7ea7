//! The embedded SQLite store: one file, nothing to install.
//!
//! WAL journal with `synchronous=FULL`, so a committed transaction survives a crash or a
//! power cut. The audit table refuses UPDATE and DELETE by trigger (stopping accidents);
//! the hash chain is what detects deliberate tampering with the file.

use super::{
    AuditFilter, Channel, DeadLettered, Dormancy, EventFollowUp, HeldPlan, HeldStatus, Outcome,
    Pending, Settled, Store, StoreError, StoredPerson, WorkItem, WorkItemKey, WorkItemStatus,
    judge,
};
use crate::account::Account;
use crate::audit::{self, AuditKey, Break, Draft, Entry, Verified};
use crate::hr::HrEvent;
use crate::work::Settle;
use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::path::Path;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS person (
    employee_number TEXT PRIMARY KEY,
    event_json      TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    review          TEXT
);
CREATE TABLE IF NOT EXISTS account (
    system          TEXT NOT NULL,
    id              TEXT NOT NULL,
    employee_number TEXT,
    account_json    TEXT NOT NULL,
    PRIMARY KEY (system, id)
);
CREATE INDEX IF NOT EXISTS account_by_person ON account (employee_number);
CREATE TABLE IF NOT EXISTS audit (
    seq             INTEGER PRIMARY KEY,
    at              TEXT NOT NULL,
    at_us           INTEGER NOT NULL,
    actor           TEXT NOT NULL,
    employee_number TEXT,
    system          TEXT,
    account         TEXT,
    action          TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    rule            TEXT,
    event_id        TEXT,
    reason          TEXT NOT NULL,
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL,
    mac             TEXT
);
CREATE INDEX IF NOT EXISTS audit_by_person ON audit (employee_number, seq);
CREATE TABLE IF NOT EXISTS refused (
    topic           TEXT NOT NULL,
    partition       INTEGER NOT NULL,
    offset          INTEGER NOT NULL,
    digest          TEXT NOT NULL,
    audit_seq       INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, offset, digest)
);
CREATE TABLE IF NOT EXISTS event_seen (
    event_id        TEXT NOT NULL,
    digest          TEXT NOT NULL,
    PRIMARY KEY (event_id, digest)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS work_item (
    id              INTEGER PRIMARY KEY,
    system          TEXT NOT NULL,
    employee_number TEXT NOT NULL,
    account         TEXT NOT NULL,
    action          TEXT NOT NULL,
    detail          TEXT NOT NULL,
    status          TEXT NOT NULL,
    raised_at       TEXT NOT NULL,
    closed_at       TEXT,
    due_at          TEXT,
    due_us          INTEGER NOT NULL DEFAULT 0,
    change_json     TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    delivered_at    TEXT,
    emailed_at      TEXT,
    escalated_at    TEXT,
    last_error      TEXT
);
CREATE INDEX IF NOT EXISTS work_item_by_change ON work_item (system, employee_number, account, action);
CREATE TABLE IF NOT EXISTS starter_link (
    provisional     TEXT PRIMARY KEY,
    employee_number TEXT NOT NULL,
    linked_at       TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dormancy (
    system          TEXT NOT NULL,
    account         TEXT NOT NULL,
    employee_number TEXT NOT NULL,
    notified_on     TEXT NOT NULL,
    disabled_on     TEXT,
    PRIMARY KEY (system, account)
);
CREATE TABLE IF NOT EXISTS pending (
    employee_number TEXT PRIMARY KEY,
    due_us          INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_try_us     INTEGER NOT NULL DEFAULT 0,
    held_by         INTEGER,
    since_us        INTEGER,
    generation      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS pending_by_due ON pending (due_us);
CREATE TABLE IF NOT EXISTS held_plan (
    id              INTEGER PRIMARY KEY,
    system          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    reason          TEXT NOT NULL,
    people          INTEGER NOT NULL,
    changes         INTEGER NOT NULL,
    status          TEXT NOT NULL,
    decided_by      TEXT,
    decided_at      TEXT,
    note            TEXT
);
CREATE TABLE IF NOT EXISTS held_change (
    plan_id         INTEGER NOT NULL REFERENCES held_plan (id),
    ord             INTEGER NOT NULL,
    employee_number TEXT NOT NULL,
    change_json     TEXT NOT NULL,
    PRIMARY KEY (plan_id, ord)
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at_us);
CREATE TABLE IF NOT EXISTS audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"#;

pub struct SqliteStore {
    conn: Connection,
    key: Option<AuditKey>,
}

impl SqliteStore {
    /// Opens the store at `path`, creating it (readable by its owner only: it holds
    /// personal data) when there is nothing there. An existing file that is empty is
    /// refused: a store in use is never empty, so it was reset or replaced.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let shown = path.display().to_string();
        match std::fs::metadata(path) {
            Ok(m) if m.len() == 0 => return Err(StoreError::EmptyFile { path: shown }),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_store(path)?,
            Err(e) => {
                return Err(StoreError::Open {
                    path: shown,
                    detail: e.to_string(),
                });
            }
        }
        Self::connect(path, true)
    }

    /// Opens a store that must already exist, for the verbs that only read (`plan`,
    /// `audit`): a wrong path is an error, never a new empty store.
    pub fn open_existing(path: &Path) -> Result<SqliteStore, StoreError> {
        let shown = path.display().to_string();
        match std::fs::metadata(path) {
            Ok(m) if m.len() == 0 => Err(StoreError::EmptyFile { path: shown }),
            Ok(_) => Self::connect(path, true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::Missing { path: shown })
            }
            Err(e) => Err(StoreError::Open {
                path: shown,
                detail: e.to_string(),
            }),
        }
    }

    /// Connects and brings the schema up to date. With `existing`, the file must already
    /// be a Turnstile store: a file of something else is never taken over.
    fn connect(path: &Path, existing: bool) -> Result<SqliteStore, StoreError> {
        let open_err = |e: rusqlite::Error| StoreError::Open {
            path: path.display().to_string(),
            detail: e.to_string(),
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| busy_or(e, open_err))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        if existing {
            let tables: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('person', 'audit')",
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| busy_or(e, open_err))?;
            if tables < 2 {
                return Err(StoreError::NotAStore {
                    path: path.display().to_string(),
                });
            }
        }
        conn.execute_batch(SCHEMA)
            .map_err(|e| busy_or(e, open_err))?;
        migrate(&conn).map_err(|e| busy_or(e, open_err))?;
        Ok(SqliteStore { conn, key: None })
    }

    /// An in-memory store, for tests and previews.
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        migrate(&conn)?;
        Ok(SqliteStore { conn, key: None })
    }

    /// Signs every entry written from now on with `key`, and checks MACs on verification.
    pub fn with_audit_key(mut self, key: Option<AuditKey>) -> SqliteStore {
        self.key = key;
        self
    }

    /// A write transaction that takes the write lock at once (`BEGIN IMMEDIATE`), so a
    /// second writer waits up to the busy timeout instead of failing on its first write.
    fn write(&mut self) -> Result<Transaction<'_>, StoreError> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        ) {
            StoreError::Busy
        } else {
            StoreError::Database(e.to_string())
        }
    }
}

/// How long a writer waits for another to finish before giving up.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn busy_or(e: rusqlite::Error, other: impl FnOnce(rusqlite::Error) -> StoreError) -> StoreError {
    if is_busy(&e) {
        StoreError::Busy
    } else {
        other(e)
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// Creates a new store at `path` all at once: built beside it in a file only its owner
/// can read and write (the journal files SQLite makes get the same mode), then linked into
/// place. A crash while creating leaves no half-made store at `path`, and of two processes
/// creating the same store at once, one wins and the other opens it.
fn create_store(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = |e: String| StoreError::Open {
        path: path.display().to_string(),
        detail: e,
    };
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".new-{}", std::process::id()));
    let staging = path.with_file_name(name);
    let _ = std::fs::remove_file(&staging);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&staging)
        .map_err(|e| err(e.to_string()))?;
    let built = (|| -> rusqlite::Result<()> {
        let conn = Connection::open(&staging)?;
        // A rollback journal while building: nothing is left beside the file afterwards.
        conn.execute_batch(SCHEMA)?;
        conn.close().map_err(|(_, e)| e)
    })();
    let linked = built.map_err(|e| err(e.to_string())).and_then(|()| {
        match std::fs::hard_link(&staging, path) {
            Ok(()) => Ok(()),
            // Another process made it first: theirs is the store.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(err(e.to_string())),
        }
    });
    let _ = std::fs::remove_file(&staging);
    linked
}

/// Brings a store written by an earlier version up to this schema.
fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let has_mac: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('audit') WHERE name = 'mac'")?
        .exists([])?;
    if !has_mac {
        conn.execute_batch("ALTER TABLE audit ADD COLUMN mac TEXT")?;
    }
    let has_held_by: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('pending') WHERE name = 'held_by'")?
        .exists([])?;
    if !has_held_by {
        conn.execute_batch(
            "ALTER TABLE pending ADD COLUMN held_by INTEGER; ALTER TABLE pending ADD COLUMN since_us INTEGER;
             ALTER TABLE pending ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;",
        )?;
    }
    conn.execute_batch("CREATE INDEX IF NOT EXISTS pending_by_plan ON pending (held_by)")?;
    let has_due: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('work_item') WHERE name = 'due_at'")?
        .exists([])?;
    if !has_due {
        // Work items before tracking had open and closed (= shown done by the export).
        conn.execute_batch(
            "ALTER TABLE work_item ADD COLUMN due_at TEXT;
             ALTER TABLE work_item ADD COLUMN due_us INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE work_item ADD COLUMN change_json TEXT;
             ALTER TABLE work_item ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE work_item ADD COLUMN delivered_at TEXT;
             ALTER TABLE work_item ADD COLUMN emailed_at TEXT;
             ALTER TABLE work_item ADD COLUMN escalated_at TEXT;
             ALTER TABLE work_item ADD COLUMN last_error TEXT;
             DROP INDEX IF EXISTS work_item_one_open;
             UPDATE work_item SET status = 'confirmed' WHERE status = 'closed';",
        )?;
    }
    conn.execute_batch(
        "CREATE UNIQUE INDEX IF NOT EXISTS work_item_one_active ON work_item (system, employee_number, account, action) WHERE status IN ('open', 'reopened', 'overdue');
         CREATE INDEX IF NOT EXISTS work_item_by_status ON work_item (status, due_us);",
    )?;
    Ok(())
}

fn decode_accounts(mut rows: rusqlite::Rows<'_>) -> Result<Vec<Account>, StoreError> {
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let (sys, id, json) = (
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        );
        out.push(
            serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                key: format!("{sys}/{id}"),
                detail: e.to_string(),
            })?,
        );
    }
    Ok(out)
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

fn head(tx: &Connection) -> Result<Option<(u64, String)>, StoreError> {
    Ok(tx
        .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
            Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
        })
        .optional()?)
}

fn micros(ts: Timestamp) -> i64 {
    ts.as_microsecond()
}

fn append(
    tx: &Transaction<'_>,
    key: Option<&AuditKey>,
    drafts: Vec<Draft>,
) -> Result<Vec<Entry>, StoreError> {
    let mut prev = head(tx)?;
    let mut out = Vec::with_capacity(drafts.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO audit (seq, at, at_us, actor, employee_number, system, account, action, outcome, rule, event_id, reason, prev_hash, hash, mac)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        )?;
        for draft in drafts {
            let entry = audit::chain(prev.as_ref().map(|(s, h)| (*s, h.as_str())), draft, key);
            let d = &entry.draft;
            insert.execute(params![
                entry.seq as i64,
                d.at.to_string(),
                micros(d.at),
                d.actor,
                d.employee_number,
                d.system,
                d.account,
                d.action,
                d.outcome,
                d.rule,
                d.event_id,
                d.reason,
                entry.prev_hash,
                entry.hash,
                entry.mac,
            ])?;
            prev = Some((entry.seq, entry.hash.clone()));
            out.push(entry);
        }
    }
    if let Some((seq, hash)) = prev {
        tx.execute(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            params![seq as i64, hash],
        )?;
    }
    Ok(out)
}

/// An entry as stored, with the columns verification checks beside the hashed content:
/// the `at` text as written and `at_us`, which `--since` filters on.
fn read_entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Entry, String, i64)> {
    let at_text: String = r.get(1)?;
    let at = at_text
        .parse::<Timestamp>()
        .unwrap_or(Timestamp::UNIX_EPOCH);
    Ok((
        Entry {
            seq: r.get::<_, i64>(0)? as u64,
            draft: Draft {
                at,
                actor: r.get(2)?,
                employee_number: r.get(3)?,
                system: r.get(4)?,
                account: r.get(5)?,
                action: r.get(6)?,
                outcome: r.get(7)?,
                rule: r.get(8)?,
                event_id: r.get(9)?,
                reason: r.get(10)?,
            },
            prev_hash: r.get(11)?,
            hash: r.get(12)?,
            mac: r.get(13)?,
        },
        at_text,
        r.get(14)?,
    ))
}

const ENTRY_COLUMNS: &str = "seq, at, actor, employee_number, system, account, action, outcome, rule, event_id, reason, prev_hash, hash, mac, at_us";

impl Store for SqliteStore {
    fn record_events(
        &mut self,
        events: &[&HrEvent],
        follow_up: &mut EventFollowUp<'_>,
    ) -> Result<Vec<Outcome>, StoreError> {
        let audit_key = self.key.clone();
        let tx = self.write()?;
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            let key = event.person.employee_number.as_str();
            let current: Option<HrEvent> = tx
                .prepare_cached("SELECT event_json FROM person WHERE employee_number = ?1")?
                .query_row([key], |r| r.get::<_, String>(0))
                .optional()?
                .map(|json| decode_event(key, &json))
                .transpose()?;
            let digest = event.content_digest();
            // Only a tie needs to know whether this content was recorded before.
            let seen_before = match &current {
                Some(cur) if cur.ties(event) && cur.person != event.person => tx
                    .prepare_cached("SELECT 1 FROM event_seen WHERE event_id = ?1 AND digest = ?2")?
                    .exists(params![event.event_id.as_str(), digest])?,
                _ => false,
            };
            let outcome = judge(current.as_ref(), event, seen_before);
            match &outcome {
                Outcome::Applied { previous } => {
                    let drafts = follow_up(event, previous.as_ref(), &event.person);
                    write_person(&tx, event)?;
                    // Their access is brought in line as soon as a daemon can.
                    tx.prepare_cached(
                        "INSERT INTO pending (employee_number, due_us, attempts, next_try_us, since_us) VALUES (?1, 0, 0, 0, ?2)
                         ON CONFLICT (employee_number) DO UPDATE SET due_us = 0, attempts = 0, next_try_us = 0,
                             last_error = NULL, held_by = NULL, since_us = excluded.since_us,
                             generation = generation + 1",
                    )?
                    .execute(params![key, micros(Timestamp::now())])?;
                    note_seen(&tx, event, &digest)?;
                    append(&tx, audit_key.as_ref(), drafts)?;
                }
                Outcome::Unchanged => {
                    write_person(&tx, event)?;
                    note_seen(&tx, event, &digest)?;
                }
                Outcome::Duplicate | Outcome::Stale { .. } => {}
            }
            outcomes.push(outcome);
        }
        tx.commit()?;
        Ok(outcomes)
    }

    fn person(&self, employee_number: &str) -> Result<Option<StoredPerson>, StoreError> {
        self.conn
            .query_row(
                "SELECT event_json, review FROM person WHERE employee_number = ?1",
                [employee_number],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)),
            )
            .optional()?
            .map(|(json, review)| {
                Ok(StoredPerson {
                    event: decode_event(employee_number, &json)?,
                    review,
                })
            })
            .transpose()
    }

    fn persons(&self) -> Result<Vec<StoredPerson>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT employee_number, event_json, review FROM person
             WHERE employee_number NOT IN (SELECT provisional FROM starter_link) ORDER BY employee_number",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (key, json, review) = row?;
            out.push(StoredPerson {
                event: decode_event(&key, &json)?,
                review,
            });
        }
        Ok(out)
    }

    fn flag_for_review(
        &mut self,
        employee_numbers: &[String],
        reason: &str,
        at: Timestamp,
        actor: &str,
    ) -> Result<usize, StoreError> {
        let audit_key = self.key.clone();
        let tx = self.write()?;
        let mut drafts = Vec::new();
        {
            let mut update = tx.prepare_cached(
                "UPDATE person SET review = ?2 WHERE employee_number = ?1 AND review IS NULL",
            )?;
            for n in employee_numbers {
                if update.execute(params![n, reason])? > 0 {
                    drafts.push(Draft {
                        at,
                        actor: actor.to_string(),
                        employee_number: Some(n.clone()),
                        system: None,
                        account: None,
                        action: audit::Action::HrReview.to_string(),
                        outcome: audit::Outcome::Recorded.to_string(),
                        rule: None,
                        event_id: None,
                        reason: reason.to_string(),
                    });
                }
            }
        }
        let flagged = drafts.len();
        append(&tx, audit_key.as_ref(), drafts)?;
        tx.commit()?;
        Ok(flagged)
    }

    fn accounts(&self, system: Option<&str>) -> Result<Vec<Account>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT system, id, account_json FROM account WHERE ?1 IS NULL OR system = ?1 ORDER BY system, id",
        )?;
        decode_accounts(stmt.query([system])?)
    }

    fn accounts_of(&self, employee_number: &str) -> Result<Vec<Account>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT system, id, account_json FROM account WHERE employee_number = ?1 ORDER BY system, id",
        )?;
        decode_accounts(stmt.query([employee_number])?)
    }

    fn replace_accounts(&mut self, system: &str, accounts: &[Account]) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.execute("DELETE FROM account WHERE system = ?1", [system])?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO account (system, id, employee_number, account_json) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for a in accounts {
                let key = format!("{system}/{}", a.id);
                insert.execute(params![system, a.id, a.employee_number, encode(&key, a)?])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn append_audit(&mut self, drafts: Vec<Draft>) -> Result<Vec<Entry>, StoreError> {
        if drafts.is_empty() {
            return Ok(Vec::new());
        }
        let audit_key = self.key.clone();
        let tx = self.write()?;
        let out = append(&tx, audit_key.as_ref(), drafts)?;
        tx.commit()?;
        Ok(out)
    }

    fn was_dead_lettered(&self, r: &DeadLettered) -> Result<bool, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT 1 FROM refused WHERE topic = ?1 AND partition = ?2 AND offset = ?3 AND digest = ?4",
        )?;
        Ok(stmt.exists(params![r.topic, r.partition, r.offset, r.digest])?)
    }

    fn note_dead_letter(&mut self, r: &DeadLettered, draft: Draft) -> Result<(), StoreError> {
        let audit_key = self.key.clone();
        let tx = self.write()?;
        let known: bool = tx
            .prepare_cached(
                "SELECT 1 FROM refused WHERE topic = ?1 AND partition = ?2 AND offset = ?3 AND digest = ?4",
            )?
            .exists(params![r.topic, r.partition, r.offset, r.digest])?;
        if !known {
            let entries = append(&tx, audit_key.as_ref(), vec![draft])?;
            let seq = entries.first().map_or(0, |e| e.seq as i64);
            tx.execute(
                "INSERT INTO refused (topic, partition, offset, digest, audit_seq) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![r.topic, r.partition, r.offset, r.digest, seq],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn audit(&self, filter: &AuditFilter) -> Result<Vec<Entry>, StoreError> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM audit WHERE (?1 IS NULL OR employee_number = ?1) AND (?2 IS NULL OR at_us >= ?2) ORDER BY seq"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(
            params![filter.employee_number, filter.since.map(micros)],
            read_entry,
        )?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row?.0);
        }
        Ok(out)
    }

    fn due_pending(&self, now: Timestamp, limit: usize) -> Result<Vec<Pending>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {PENDING_COLUMNS} FROM pending
             WHERE due_us <= ?1 AND next_try_us <= ?1 AND held_by IS NULL ORDER BY due_us, employee_number LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![micros(now), limit as i64], read_pending)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn pending(&self) -> Result<Vec<Pending>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {PENDING_COLUMNS} FROM pending ORDER BY due_us, employee_number"
        ))?;
        let rows = stmt.query_map([], read_pending)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn settle_pending(
        &mut self,
        work: &Pending,
        next: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let tx = self.write()?;
        let (who, generation) = (&work.employee_number, work.generation as i64);
        match next {
            Some(at) => tx.execute(
                "UPDATE pending SET due_us = ?2, attempts = 0, last_error = NULL, next_try_us = 0, since_us = NULL
                 WHERE employee_number = ?1 AND generation = ?3 AND held_by IS NULL",
                params![who, micros(at), generation],
            )?,
            None => tx.execute(
                "DELETE FROM pending WHERE employee_number = ?1 AND generation = ?2 AND held_by IS NULL",
                params![who, generation],
            )?,
        };
        tx.commit()?;
        Ok(())
    }

    fn retry_pending(
        &mut self,
        work: &Pending,
        next_try: Timestamp,
        error: &str,
        counts: bool,
    ) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.execute(
            "UPDATE pending SET attempts = attempts + ?4, last_error = ?2, next_try_us = ?3
             WHERE employee_number = ?1 AND generation = ?5 AND held_by IS NULL",
            params![
                work.employee_number,
                error,
                micros(next_try),
                i64::from(counts),
                work.generation as i64
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn hold_plan(
        &mut self,
        system: &str,
        reason: &str,
        changes: &[crate::plan::Change],
        mut draft: Draft,
    ) -> Result<HeldPlan, StoreError> {
        let audit_key = self.key.clone();
        let people: std::collections::BTreeSet<&str> =
            changes.iter().map(|c| c.employee_number.as_str()).collect();
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO held_plan (system, created_at, reason, people, changes, status) VALUES (?1, ?2, ?3, ?4, ?5, 'held')",
            params![
                system,
                draft.at.to_string(),
                reason,
                people.len() as i64,
                changes.len() as i64
            ],
        )?;
        let id = tx.last_insert_rowid();
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO held_change (plan_id, ord, employee_number, change_json) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (ord, change) in changes.iter().enumerate() {
                let json = serde_json::to_string(change).map_err(|e| StoreError::Corrupt {
                    key: change.employee_number.clone(),
                    detail: e.to_string(),
                })?;
                insert.execute(params![id, ord as i64, change.employee_number, json])?;
            }
            let mut hold = tx.prepare_cached(HOLD_PENDING)?;
            for person in &people {
                hold.execute(params![id, person])?;
            }
        }
        draft.reason = format!("HP-{id:06}: {}", draft.reason);
        append(&tx, audit_key.as_ref(), vec![draft])?;
        let plan = held_plan_row(&tx, id)?.ok_or(StoreError::NoSuchPlan(id as u64))?;
        tx.commit()?;
        Ok(plan)
    }

    fn wait_behind(&mut self, id: u64, employee_numbers: &[String]) -> Result<(), StoreError> {
        let tx = self.write()?;
        {
            let mut hold = tx.prepare_cached(HOLD_PENDING)?;
            for person in employee_numbers {
                hold.execute(params![id as i64, person])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn held_plans(&self, status: Option<HeldStatus>) -> Result<Vec<HeldPlan>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {HELD_PLAN_COLUMNS} FROM held_plan WHERE (?1 IS NULL OR status = ?1) ORDER BY id"
        ))?;
        let rows = stmt.query_map([status.map(HeldStatus::as_str)], read_held_plan)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn held_plan(
        &self,
        id: u64,
    ) -> Result<Option<(HeldPlan, Vec<crate::plan::Change>)>, StoreError> {
        let Some(plan) = held_plan_row(&self.conn, id as i64)? else {
            return Ok(None);
        };
        let mut stmt = self
            .conn
            .prepare("SELECT change_json FROM held_change WHERE plan_id = ?1 ORDER BY ord")?;
        let mut changes = Vec::new();
        for json in stmt.query_map([id as i64], |r| r.get::<_, String>(0))? {
            let json = json?;
            changes.push(
                serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
                    key: plan.reference(),
                    detail: e.to_string(),
                })?,
            );
        }
        Ok(Some((plan, changes)))
    }

    fn decide_held_plan(
        &mut self,
        id: u64,
        status: HeldStatus,
        by: &str,
        at: Timestamp,
        note: Option<&str>,
        release: &[(String, Option<Timestamp>)],
        drafts: Vec<Draft>,
    ) -> Result<HeldPlan, StoreError> {
        let audit_key = self.key.clone();
        let tx = self.write()?;
        held_plan_row(&tx, id as i64)?
            .ok_or(StoreError::NoSuchPlan(id))?
            .undecided()?;
        tx.execute(
            "UPDATE held_plan SET status = ?2, decided_by = ?3, decided_at = ?4, note = ?5 WHERE id = ?1",
            params![id as i64, status.as_str(), by, at.to_string(), note],
        )?;
        {
            let mut settle = tx.prepare_cached(
                "UPDATE pending SET held_by = NULL, due_us = ?2, attempts = 0, last_error = NULL, next_try_us = 0
                 WHERE employee_number = ?1 AND held_by = ?3",
            )?;
            let mut drop_row = tx.prepare_cached(
                "DELETE FROM pending WHERE employee_number = ?1 AND held_by = ?2",
            )?;
            for (person, due) in release {
                match due {
                    Some(due) => settle.execute(params![person, micros(*due), id as i64])?,
                    None => drop_row.execute(params![person, id as i64])?,
                };
            }
        }
        // Anyone else who waited behind it is looked at afresh at once.
        tx.execute(
            "UPDATE pending SET held_by = NULL, due_us = 0, attempts = 0, last_error = NULL, next_try_us = 0 WHERE held_by = ?1",
            [id as i64],
        )?;
        append(&tx, audit_key.as_ref(), drafts)?;
        let plan = held_plan_row(&tx, id as i64)?.ok_or(StoreError::NoSuchPlan(id))?;
        tx.commit()?;
        Ok(plan)
    }

    fn access_taken_since(&self, system: &str, since: Timestamp) -> Result<usize, StoreError> {
        let n: i64 = self.conn.prepare_cached(
            "SELECT count(DISTINCT account) FROM audit WHERE at_us >= ?2 AND system = ?1 AND outcome = 'applied'
             AND (action = 'change.disable' OR action = 'change.delete' OR action LIKE 'change.revoke %')",
        )?
        .query_row(params![system, micros(since)], |r| r.get(0))?;
        Ok(n as usize)
    }

    fn account_count(&self, system: &str) -> Result<usize, StoreError> {
        let n: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM account WHERE system = ?1")?
            .query_row([system], |r| r.get(0))?;
        Ok(n as usize)
    }

    fn open_work_item(&self, key: &WorkItemKey) -> Result<Option<WorkItem>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {WORK_ITEM_COLUMNS} FROM work_item WHERE system = ?1 AND employee_number = ?2 AND (account = ?3 OR account = '') AND action = ?4 AND status IN ('open', 'reopened', 'overdue') ORDER BY account = ?3 DESC, id DESC LIMIT 1"
            ))?
            .query_row(
                params![
                    key.system,
                    key.employee_number,
                    key.account.as_deref().unwrap_or(""),
                    key.action
                ],
                read_work_item,
            )
            .optional()?)
    }

    fn raise_work_item(
        &mut self,
        change: &crate::plan::Change,
        detail: &str,
        due_at: Timestamp,
        mut draft: Draft,
    ) -> Result<WorkItem, StoreError> {
        let key = WorkItemKey::of(change);
        let audit_key = self.key.clone();
        let change_json = serde_json::to_string(change).map_err(|e| StoreError::Corrupt {
            key: format!("work item {}/{}", key.system, key.employee_number),
            detail: e.to_string(),
        })?;
        let tx = self.write()?;
        let account = key.account.as_deref().unwrap_or("");
        let last: Option<(i64, String)> = tx
            .query_row(
                // An item raised for an account still to be created (no name) is the same
                // change as one for the account that was then created.
                "SELECT id, status FROM work_item WHERE system = ?1 AND employee_number = ?2 AND (account = ?3 OR account = '') AND action = ?4 ORDER BY account = ?3 DESC, id DESC LIMIT 1",
                params![key.system, key.employee_number, account, key.action],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let at = draft.at.to_string();
        let due = due_at.to_string();
        let (id, how) = match last {
            Some((id, status))
                if WorkItemStatus::parse(&status).is_some_and(WorkItemStatus::is_active) =>
            {
                (id, "still open")
            }
            Some((id, status)) if status == WorkItemStatus::Confirmed.as_str() => {
                // Sent again as if new: the administrator has to act on it again.
                tx.execute(
                    "UPDATE work_item SET status = 'reopened', detail = ?2, closed_at = NULL, due_at = ?3, due_us = ?4, change_json = ?5,
                     delivered_at = NULL, emailed_at = NULL, escalated_at = NULL, last_error = NULL, account = ?6 WHERE id = ?1",
                    params![id, detail, due, micros(due_at), change_json, account],
                )?;
                (id, "reopened: the export shows the change undone")
            }
            _ => {
                tx.execute(
                    "INSERT INTO work_item (system, employee_number, account, action, detail, status, raised_at, due_at, due_us, change_json)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6, ?7, ?8, ?9)",
                    params![key.system, key.employee_number, account, key.action, detail, at, due, micros(due_at), change_json],
                )?;
                (tx.last_insert_rowid(), "raised")
            }
        };
        draft.reason = format!("WI-{id:06} {how}: {}", draft.reason);
        append(&tx, audit_key.as_ref(), vec![draft])?;
        let item = tx.query_row(
            &format!("SELECT {WORK_ITEM_COLUMNS} FROM work_item WHERE id = ?1"),
            [id],
            read_work_item,
        )?;
        tx.commit()?;
        Ok(item)
    }

    fn settle_work_items(
        &mut self,
        settled: &[Settled],
        at: Timestamp,
        actor: &str,
    ) -> Result<Vec<WorkItem>, StoreError> {
        let audit_key = self.key.clone();
        let tx = self.write()?;
        let mut out = Vec::new();
        let mut drafts = Vec::new();
        for s in settled {
            let status = match s.how {
                Settle::Confirmed => WorkItemStatus::Confirmed,
                Settle::Cancelled => WorkItemStatus::Cancelled,
            };
            let n = tx.execute(
                "UPDATE work_item SET status = ?2, closed_at = ?3 WHERE id = ?1 AND status IN ('open', 'reopened', 'overdue')",
                params![s.id as i64, status.as_str(), at.to_string()],
            )?;
            if n == 0 {
                continue;
            }
            let item = tx.query_row(
                &format!("SELECT {WORK_ITEM_COLUMNS} FROM work_item WHERE id = ?1"),
                [s.id as i64],
                read_work_item,
            )?;
            drafts.push(Draft {
                at,
                actor: actor.to_string(),
                employee_number: Some(item.employee_number.clone()),
                system: Some(item.system.clone()),
                account: item.account.clone(),
                action: match s.how {
                    Settle::Confirmed => audit::Action::WorkItemConfirmed,
                    Settle::Cancelled => audit::Action::WorkItemCancelled,
                }
                .to_string(),
                outcome: audit::Outcome::Closed.to_string(),
                rule: None,
                event_id: None,
                reason: format!("{}: {}: {}", item.reference(), item.action, s.reason),
            });
            out.push(item);
        }
        append(&tx, audit_key.as_ref(), drafts)?;
        tx.commit()?;
        Ok(out)
    }

    fn mark_overdue(&mut self, now: Timestamp, actor: &str) -> Result<Vec<WorkItem>, StoreError> {
        let audit_key = self.key.clone();
        let tx = self.write()?;
        let due: Vec<WorkItem> = tx
            .prepare(&format!(
                "SELECT {WORK_ITEM_COLUMNS} FROM work_item WHERE status IN ('open', 'reopened') AND due_us <= ?1 ORDER BY id"
            ))?
            .query_map([micros(now)], read_work_item)?
            .collect::<Result<_, _>>()?;
        let mut drafts = Vec::new();
        let mut out = Vec::new();
        for mut item in due {
            if !turnstile_core::work::is_overdue(item.status, item.due_at, now) {
                continue;
            }
            tx.execute(
                "UPDATE work_item SET status = 'overdue' WHERE id = ?1",
                [item.id as i64],
            )?;
            drafts.push(Draft {
                at: now,
                actor: actor.to_string(),
                employee_number: Some(item.employee_number.clone()),
                system: Some(item.system.clone()),
                account: item.account.clone(),
                action: audit::Action::WorkItemOverdue.to_string(),
                outcome: audit::Outcome::Held.to_string(),
                rule: None,
                event_id: None,
                reason: format!(
                    "{}: {}: not shown done by the system's export since {} (due {}); escalated",
                    item.reference(),
                    item.action,
                    item.raised_at,
                    item.due_at
                ),
            });
            item.status = WorkItemStatus::Overdue;
            out.push(item);
        }
        append(&tx, audit_key.as_ref(), drafts)?;
        tx.commit()?;
        Ok(out)
    }

    fn work_items_to_send(&self, channel: Channel) -> Result<Vec<WorkItem>, StoreError> {
        let filter = match channel {
            Channel::Webhook => {
                "status IN ('open', 'reopened', 'overdue') AND delivered_at IS NULL"
            }
            Channel::Email => "status IN ('open', 'reopened', 'overdue') AND emailed_at IS NULL",
            Channel::Escalation => "status = 'overdue' AND escalated_at IS NULL",
        };
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {WORK_ITEM_COLUMNS} FROM work_item WHERE {filter} ORDER BY id"
        ))?;
        let rows = stmt.query_map([], read_work_item)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn work_item_sent(
        &mut self,
        id: u64,
        channel: Channel,
        result: Result<(), &str>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let column = match channel {
            Channel::Webhook => "delivered_at",
            Channel::Email => "emailed_at",
            Channel::Escalation => "escalated_at",
        };
        let tx = self.write()?;
        match result {
            Ok(()) => tx.execute(
                &format!("UPDATE work_item SET attempts = attempts + 1, {column} = ?2, last_error = NULL WHERE id = ?1"),
                params![id as i64, at.to_string()],
            )?,
            Err(e) => tx.execute(
                "UPDATE work_item SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                params![id as i64, e],
            )?,
        };
        tx.commit()?;
        Ok(())
    }

    fn work_items(
        &self,
        system: Option<&str>,
        status: Option<WorkItemStatus>,
    ) -> Result<Vec<WorkItem>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {WORK_ITEM_COLUMNS} FROM work_item WHERE (?1 IS NULL OR system = ?1) AND (?2 IS NULL OR status = ?2) ORDER BY id"
        ))?;
        let rows = stmt.query_map(
            params![system, status.map(WorkItemStatus::as_str)],
            read_work_item,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn link_starter(
        &mut self,
        provisional: &str,
        employee_number: &str,
        draft: Draft,
    ) -> Result<(), StoreError> {
        let audit_key = self.key.clone();
        let at = draft.at.to_string();
        let tx = self.write()?;
        tx.execute(
            "INSERT OR REPLACE INTO starter_link (provisional, employee_number, linked_at) VALUES (?1, ?2, ?3)",
            params![provisional, employee_number, at],
        )?;
        tx.execute(
            "DELETE FROM pending WHERE employee_number = ?1",
            [provisional],
        )?;
        // What was asked of administrators for the starter is asked for the ESR person:
        // the same items, never raised a second time under the new number.
        tx.execute(
            "UPDATE work_item SET employee_number = ?2 WHERE employee_number = ?1 AND status IN ('open', 'reopened', 'overdue')",
            params![provisional, employee_number],
        )?;
        append(&tx, audit_key.as_ref(), vec![draft])?;
        tx.commit()?;
        Ok(())
    }

    fn starter_links(&self) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT provisional, employee_number FROM starter_link")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn provisional_starters(&self) -> Result<Vec<crate::hr::Person>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT employee_number, event_json FROM person
             WHERE employee_number LIKE 'TRAC-%' AND employee_number NOT IN (SELECT provisional FROM starter_link)
             ORDER BY employee_number",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (key, json) = row?;
            out.push(decode_event(&key, &json)?.person);
        }
        Ok(out)
    }

    fn dormancy(
        &self,
        system: &str,
    ) -> Result<std::collections::BTreeMap<String, Dormancy>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT account, employee_number, notified_on, disabled_on FROM dormancy WHERE system = ?1",
        )?;
        let rows = stmt.query_map([system], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })?;
        let mut out = std::collections::BTreeMap::new();
        for row in rows {
            let (account, employee_number, notified, disabled) = row?;
            let day = |t: &str| {
                t.parse::<jiff::civil::Date>()
                    .map_err(|e| StoreError::Corrupt {
                        key: format!("dormancy {system}/{account}"),
                        detail: e.to_string(),
                    })
            };
            let record = crate::inactivity::Record {
                notified_on: day(&notified)?,
                disabled_on: disabled.as_deref().map(day).transpose()?,
            };
            out.insert(
                account.to_lowercase(),
                Dormancy {
                    system: system.to_string(),
                    account,
                    employee_number,
                    record,
                },
            );
        }
        Ok(out)
    }

    fn record_notices(
        &mut self,
        notices: &[(String, String, String)],
        on: jiff::civil::Date,
        drafts: Vec<Draft>,
    ) -> Result<(), StoreError> {
        let audit_key = self.key.clone();
        let tx = self.write()?;
        for (system, account, employee) in notices {
            tx.execute(
                "INSERT INTO dormancy (system, account, employee_number, notified_on) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (system, account) DO UPDATE SET notified_on = excluded.notified_on, disabled_on = NULL",
                params![system, account, employee, on.to_string()],
            )?;
        }
        append(&tx, audit_key.as_ref(), drafts)?;
        tx.commit()?;
        Ok(())
    }

    fn dormancy_disabled(
        &mut self,
        system: &str,
        account: &str,
        on: jiff::civil::Date,
    ) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.execute(
            "UPDATE dormancy SET disabled_on = ?3 WHERE system = ?1 AND lower(account) = lower(?2)",
            params![system, account, on.to_string()],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn clear_dormancy(
        &mut self,
        system: &str,
        account: &str,
        draft: Option<Draft>,
    ) -> Result<bool, StoreError> {
        let audit_key = self.key.clone();
        let tx = self.write()?;
        let n = tx.execute(
            "DELETE FROM dormancy WHERE system = ?1 AND lower(account) = lower(?2)",
            params![system, account],
        )?;
        if n > 0 {
            append(&tx, audit_key.as_ref(), draft.into_iter().collect())?;
        }
        tx.commit()?;
        Ok(n > 0)
    }

    fn verify_audit(
        &self,
        expected_head: Option<(u64, &str)>,
    ) -> Result<Result<Verified, Break>, StoreError> {
        let head = head(&self.conn)?;
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {ENTRY_COLUMNS} FROM audit ORDER BY seq"))?;
        let mut entries = Vec::new();
        for row in stmt.query_map([], read_entry)? {
            let (entry, at_text, at_us) = row?;
            // A time that no longer parses or prints as stored, or a filter column that no
            // longer matches the hashed time, was edited.
            if entry.draft.at.to_string() != at_text || micros(entry.draft.at) != at_us {
                return Ok(Err(Break::Edited { seq: entry.seq }));
            }
            entries.push(entry);
        }
        let verified = audit::verify(
            &entries,
            head.as_ref().map(|(s, h)| (*s, h.as_str())),
            self.key.as_ref(),
        );
        Ok(match (verified, expected_head) {
            (Ok(v), Some(expected)) => audit::expect_head(&entries, expected).map(|()| v),
            (other, _) => other,
        })
    }
}

/// Marks a person's work as held by a plan (a person reconciliation found has no pending
/// row yet: one is made, so the hold is kept and they are looked at once it is decided).
const HOLD_PENDING: &str = "INSERT INTO pending (employee_number, due_us, attempts, next_try_us, held_by) VALUES (?2, 0, 0, 0, ?1)
     ON CONFLICT (employee_number) DO UPDATE SET held_by = ?1, attempts = 0, last_error = NULL, next_try_us = 0";

const PENDING_COLUMNS: &str =
    "employee_number, due_us, attempts, last_error, next_try_us, held_by, since_us, generation";

fn read_pending(r: &rusqlite::Row<'_>) -> rusqlite::Result<Pending> {
    let at = |us: i64| Timestamp::from_microsecond(us).unwrap_or(Timestamp::UNIX_EPOCH);
    Ok(Pending {
        employee_number: r.get(0)?,
        due: at(r.get(1)?),
        attempts: r.get::<_, i64>(2)? as u32,
        last_error: r.get(3)?,
        next_try: at(r.get(4)?),
        held_by: r.get::<_, Option<i64>>(5)?.map(|id| id as u64),
        since: r.get::<_, Option<i64>>(6)?.map(at),
        generation: r.get::<_, i64>(7)? as u64,
    })
}

const HELD_PLAN_COLUMNS: &str =
    "id, system, created_at, reason, people, changes, status, decided_by, decided_at, note";

/// One held plan by id.
fn held_plan_row(conn: &Connection, id: i64) -> rusqlite::Result<Option<HeldPlan>> {
    conn.query_row(
        &format!("SELECT {HELD_PLAN_COLUMNS} FROM held_plan WHERE id = ?1"),
        [id],
        read_held_plan,
    )
    .optional()
}

fn read_held_plan(r: &rusqlite::Row<'_>) -> rusqlite::Result<HeldPlan> {
    let time = |text: Option<String>| text.and_then(|t| t.parse::<Timestamp>().ok());
    Ok(HeldPlan {
        id: r.get::<_, i64>(0)? as u64,
        system: r.get(1)?,
        created_at: time(r.get(2)?).unwrap_or(Timestamp::UNIX_EPOCH),
        reason: r.get(3)?,
        people: r.get::<_, i64>(4)? as usize,
        changes: r.get::<_, i64>(5)? as usize,
        status: HeldStatus::parse(&r.get::<_, String>(6)?).unwrap_or(HeldStatus::Held),
        decided_by: r.get(7)?,
        decided_at: time(r.get(8)?),
        note: r.get(9)?,
    })
}

const WORK_ITEM_COLUMNS: &str = "id, system, employee_number, account, action, detail, status, raised_at, closed_at, \
     due_at, attempts, delivered_at, emailed_at, escalated_at, last_error, change_json";

fn read_work_item(r: &rusqlite::Row<'_>) -> rusqlite::Result<WorkItem> {
    let time = |text: Option<String>| text.and_then(|t| t.parse::<Timestamp>().ok());
    let account: String = r.get(3)?;
    let raised_at = time(r.get(7)?).unwrap_or(Timestamp::UNIX_EPOCH);
    Ok(WorkItem {
        id: r.get::<_, i64>(0)? as u64,
        system: r.get(1)?,
        employee_number: r.get(2)?,
        account: (!account.is_empty()).then_some(account),
        action: r.get(4)?,
        detail: r.get(5)?,
        // An unknown status (a newer version's) reads as open: shown, never dropped.
        status: WorkItemStatus::parse(&r.get::<_, String>(6)?).unwrap_or(WorkItemStatus::Open),
        raised_at,
        closed_at: time(r.get(8)?),
        due_at: time(r.get(9)?).unwrap_or(raised_at),
        attempts: r.get::<_, i64>(10)?.max(0) as u32,
        delivered_at: time(r.get(11)?),
        emailed_at: time(r.get(12)?),
        escalated_at: time(r.get(13)?),
        last_error: r.get(14)?,
        change: r
            .get::<_, Option<String>>(15)?
            .and_then(|j| serde_json::from_str(&j).ok()),
    })
}

/// Remembers that this content was recorded under this id, so a replay at a tie is a
/// duplicate.
fn note_seen(tx: &Transaction<'_>, event: &HrEvent, digest: &str) -> Result<(), StoreError> {
    tx.prepare_cached("INSERT OR IGNORE INTO event_seen (event_id, digest) VALUES (?1, ?2)")?
        .execute(params![event.event_id.as_str(), digest])?;
    Ok(())
}

fn write_person(tx: &Transaction<'_>, event: &HrEvent) -> Result<(), StoreError> {
    let key = event.person.employee_number.as_str();
    tx.execute(
        "INSERT INTO person (employee_number, event_json, event_id, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (employee_number) DO UPDATE SET event_json = excluded.event_json,
             event_id = excluded.event_id, updated_at = excluded.updated_at, review = NULL",
        params![key, encode(key, event)?, event.event_id.as_str(), event.occurred_at.to_string()],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests;
