//! `turnstile backup --out FILE`: a consistent copy of the SQLite state store, taken while
//! the daemon runs (SQLite's `VACUUM INTO`: one read transaction, so the copy is the store
//! at one instant, its trail whole), written readable by its owner only. A PostgreSQL
//! store is backed up with `pg_dump` (docs/operations.md says how); this verb says so.

use super::*;

#[derive(Args, Debug)]
pub(super) struct BackupArgs {
    /// Where to write the copy (must not exist yet).
    #[arg(long, value_name = "FILE")]
    pub(super) out: PathBuf,
}

pub(super) fn backup_cmd(config: &Config, a: BackupArgs) -> Result<u8, Failure> {
    use std::os::unix::fs::PermissionsExt;
    if config.store.kind == crate::config::StoreKind::Postgres {
        return Err(Failure::Usage(
            "the PostgreSQL store is backed up with pg_dump (pg_dump --schema SCHEMA --format custom); see docs/operations.md".into(),
        ));
    }
    // Anything at the path, a dangling link included.
    if a.out.symlink_metadata().is_ok() {
        return Err(Failure::Usage(format!(
            "--out {}: it exists; give a new file (a backup never overwrites)",
            a.out.display()
        )));
    }
    // Opened as the verbs that only read open it: it must exist, and be a store.
    drop(open_existing_store(config)?);
    let db = rusqlite::Connection::open(&config.store.path).map_err(|e| {
        Failure::Runtime(format!(
            "{}: cannot open it: {e}",
            config.store.path.display()
        ))
    })?;
    let out = a.out.to_string_lossy().into_owned();
    db.execute("VACUUM INTO ?1", [&out]).map_err(|e| {
        Failure::Runtime(format!("{}: cannot write the backup: {e}", a.out.display()))
    })?;
    std::fs::set_permissions(&a.out, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Failure::Runtime(format!("{}: {e}", a.out.display())))?;
    println!(
        "backup of {} written to {} (mode 600); restore by putting it in the store's place with the daemon stopped, then `turnstile audit --verify`",
        config.store.path.display(),
        a.out.display()
    );
    Ok(0)
}
