//! The schema's numbered migrations, the same for both backends: a store already at this version opens without any DDL, and one newer than this binary is refused.

use super::*;

/// Schema version 6 on both backends: the trail's head carries its seal, the MAC of its
/// number and hash under the audit key (NULL without a key).
pub(crate) const HEAD_SEAL: &str = "ALTER TABLE audit_head ADD COLUMN mac TEXT;";
/// Versioned schema changes: each runs once, in order, in its own write transaction, and
/// is recorded in `schema_migration`. A store newer than this program (a version it does
/// not know) is refused rather than written to.
pub fn migrate(db: &mut dyn Db, migrations: &[(i64, &str)]) -> Result<(), StoreError> {
    let newest_known = migrations.last().map_or(0, |(v, _)| *v);
    // A store already at this version is opened without any DDL: the runtime role of a
    // PostgreSQL set-up that separates the schema's owner from it may not create tables
    // (so it cannot alter or disable the trail's triggers either).
    db.begin()?;
    let applied = db.query("SELECT version FROM schema_migration", &[]);
    db.rollback();
    if let Ok(rows) = applied {
        let have: BTreeSet<i64> = rows.iter().filter_map(|r| r.int(0).ok()).collect();
        if let Some(&newest) = have.last()
            && newest > newest_known
        {
            return Err(newer_than_known(newest, newest_known));
        }
        if migrations.iter().all(|(v, _)| have.contains(v)) {
            return Ok(());
        }
    }
    db.begin()?;
    let made = db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migration (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
        &[],
    );
    match made.and_then(|_| db.commit()) {
        Ok(()) => {}
        Err(e) => {
            db.rollback();
            return Err(e);
        }
    }
    for (version, sql) in migrations {
        db.begin()?;
        let result = (|| {
            let done = exists(
                db,
                "SELECT 1 FROM schema_migration WHERE version = ?1",
                p![*version],
            )?;
            if !done {
                for statement in statements(sql) {
                    db.execute(statement, &[])?;
                }
                db.execute(
                    "INSERT INTO schema_migration (version, applied_at) VALUES (?1, ?2)",
                    p![*version, crate::wall_clock().to_string()],
                )?;
            }
            Ok(())
        })();
        match result.and_then(|()| db.commit()) {
            Ok(()) => {}
            Err(e) => {
                db.rollback();
                return Err(e);
            }
        }
    }
    let newest = one(db, "SELECT max(version) FROM schema_migration", &[])?
        .map(|r| r.opt_int(0))
        .transpose()?
        .flatten()
        .unwrap_or(0);
    if newest > newest_known {
        return Err(newer_than_known(newest, newest_known));
    }
    Ok(())
}
pub(super) fn newer_than_known(newest: i64, newest_known: i64) -> StoreError {
    StoreError::Database(format!(
        "the store's schema is version {newest}, newer than this Turnstile knows ({newest_known}): run the newer version, or restore a backup taken before it upgraded the store"
    ))
}
/// The statements of a migration, split at `;` ending a line (a `$$` body is kept whole).
pub(super) fn statements(sql: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_body = false;
    for (i, line) in sql.split_inclusive('\n').scan(0, |pos, l| {
        let at = *pos;
        *pos += l.len();
        Some((at, l))
    }) {
        if line.matches("$$").count() % 2 == 1 {
            in_body = !in_body;
        }
        if !in_body && line.trim_end().ends_with(';') {
            let end = i + line.trim_end().len() - 1;
            let s = sql[start..end].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = i + line.len();
        }
    }
    let rest = sql[start..].trim();
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}
