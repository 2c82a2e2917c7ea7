//! The embedded SQLite store: one file, nothing to install.
//!
//! WAL journal with `synchronous=FULL`, so a committed transaction survives a crash or a
//! power cut. The audit table refuses UPDATE and DELETE by trigger (stopping accidents);
//! the hash chain is what detects deliberate tampering with the file.

use super::StoreError;
use super::sql::{Db, Row, SqlStore, Value};
use rusqlite::Connection;
use rusqlite::types::{ToSqlOutput, ValueRef};
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

/// The SQLite store: the shared store logic over one SQLite connection.
pub type SqliteStore = SqlStore<SqliteDb>;

/// One SQLite connection.
pub struct SqliteDb {
    conn: Connection,
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
        })
    }
}

impl Db for SqliteDb {
    fn leave_checkpoints(&mut self) -> Result<(), StoreError> {
        Ok(self.conn.pragma_update(None, "wal_autocheckpoint", 0)?)
    }

    fn checkpoint(&mut self) -> Result<u64, StoreError> {
        // (busy, pages in the log, pages copied); -1s when the store is not in WAL mode.
        let copied: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(2))?;
        Ok(copied.max(0) as u64)
    }

    /// Takes the write lock at once (`BEGIN IMMEDIATE`), so a second writer waits up to
    /// the busy timeout instead of failing on its first write.
    fn begin(&mut self) -> Result<(), StoreError> {
        Ok(self.conn.execute_batch("BEGIN IMMEDIATE")?)
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        Ok(self.conn.execute_batch("COMMIT")?)
    }

    fn rollback(&mut self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        Ok(stmt.execute(rusqlite::params_from_iter(params))? as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut out = Vec::new();
        self.query_each(sql, params, &mut |row| {
            out.push(row);
            Ok(())
        })?;
        Ok(out)
    }

    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        while let Some(r) = rows.next()? {
            let mut row = Vec::with_capacity(columns);
            for i in 0..columns {
                row.push(match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(v) => Value::Text(v.to_string()),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Value::Text(String::from_utf8_lossy(t).into_owned())
                    }
                });
            }
            each(Row(row))?;
        }
        Ok(())
    }
}

/// The schema's versions (see [`super::sql::migrate`]): 1 is the schema as it was before
/// versions were kept (`SCHEMA` and [`legacy_migrate`] bring any earlier store to it);
/// 2 lets replicas claim due work and hold leases; 3 finds TRAC starters by index; 4 keeps
/// correlation's matches and adoptions; 5 the review packs issued; 6 seals the trail's
/// head with the audit key.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, ""),
    (
        2,
        "ALTER TABLE pending ADD COLUMN claimed_by TEXT;
         ALTER TABLE pending ADD COLUMN claimed_until_us INTEGER NOT NULL DEFAULT 0;
         CREATE TABLE lease (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_us INTEGER NOT NULL);",
    ),
    (
        3,
        "CREATE INDEX person_provisional ON person (employee_number) WHERE substr(employee_number, 1, 5) = 'TRAC-';",
    ),
    (4, CORRELATION),
    (5, REVIEW_PACKS),
    (6, super::sql::HEAD_SEAL),
];

/// Version 5: access review packs as issued, so a pack read back acts only on its own
/// lines (the same on PostgreSQL).
const REVIEW_PACKS: &str = super::sql::REVIEW_PACK_TABLES;

/// Version 4: correlation's matches, refusals and adoptions (the same on PostgreSQL but for
/// the id column).
const CORRELATION: &str = concat!(
    "CREATE TABLE account_match (\n    id              INTEGER PRIMARY KEY,",
    super::sql::account_match_columns!(),
    super::sql::correlation_tables!()
);

impl SqlStore<SqliteDb> {
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
        // The write-ahead log is copied into the database every WAL_CHECKPOINT_PAGES
        // pages, not SQLite's 1,000: a backlog's batches rewrite the same index pages,
        // and each copy is written and synced once instead of several times.
        conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)
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
        legacy_migrate(&conn).map_err(|e| busy_or(e, open_err))?;
        let mut db = SqliteDb { conn };
        super::sql::migrate(&mut db, MIGRATIONS)?;
        Ok(SqlStore::new(db))
    }

    /// An in-memory store, for tests and previews.
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(SCHEMA)?;
        legacy_migrate(&conn)?;
        let mut db = SqliteDb { conn };
        super::sql::migrate(&mut db, MIGRATIONS)?;
        Ok(SqlStore::new(db))
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
/// Pages of write-ahead log (4 KiB each, so 16 MiB) before it is copied into the database.
const WAL_CHECKPOINT_PAGES: i64 = 4_000;

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

/// Brings a store written before schema versions were kept up to version 1.
fn legacy_migrate(conn: &Connection) -> rusqlite::Result<()> {
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

#[cfg(test)]
mod tests;
