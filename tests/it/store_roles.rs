//! The documented PostgreSQL set-up (`schemas/postgres-roles.sql`) run as written: the
//! schema's owner makes the store with `turnstile migrate`, the daemon's role reads and
//! writes it, and that role cannot alter, disable or drop the audit trail's triggers, nor
//! empty the trail (before: the runtime role owned the tables and could switch the
//! triggers off, then rewrite the trail).

use std::process::Command;
use turnstile::store::prelude::*;

fn admin_url() -> String {
    std::env::var("TURNSTILE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".into())
}

/// `admin_url` with the user replaced by `user`.
fn url_as(user: &str) -> String {
    let url = admin_url();
    let (scheme, rest) = url.split_once("://").unwrap();
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    format!("{scheme}://{user}@{host}")
}

/// Drops what the test made, whatever happened.
struct Cleanup {
    owner: String,
    runtime: String,
    schema: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(mut db) = postgres::Client::connect(&admin_url(), postgres::NoTls) {
            let _ = db.batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{s}\" CASCADE; DROP OWNED BY \"{r}\"; DROP OWNED BY \"{o}\"; DROP ROLE IF EXISTS \"{r}\"; DROP ROLE IF EXISTS \"{o}\";",
                s = self.schema,
                r = self.runtime,
                o = self.owner
            ));
        }
    }
}

#[test]
fn the_runtime_role_of_the_documented_set_up_cannot_touch_the_trail_s_triggers() {
    let tag = crate::kafka::unique("roles")
        .replace('-', "_")
        .to_lowercase();
    let names = Cleanup {
        owner: format!("{tag}_owner"),
        runtime: format!("{tag}_rt"),
        schema: format!("{tag}_s"),
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/postgres-roles.sql");
    let o = Command::new("psql")
        .arg(admin_url())
        .args(["-v", "ON_ERROR_STOP=1", "-q"])
        .args(["-v", &format!("owner={}", names.owner)])
        .args(["-v", &format!("runtime={}", names.runtime)])
        .args(["-v", &format!("schema={}", names.schema)])
        .args(["-f", script])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", crate::drift::text(&o));

    // The owner makes the store, as the documented first step.
    let dir = tempfile::tempdir().unwrap();
    let config = |user: &str| {
        let path = dir.path().join(format!("{user}.toml"));
        std::fs::write(
            &path,
            format!(
                "[store]\nkind = \"postgres\"\nurl = \"{}\"\nschema = \"{}\"\n",
                url_as(user),
                names.schema
            ),
        )
        .unwrap();
        path
    };
    let migrate = |user: &str| {
        Command::new(env!("CARGO_BIN_EXE_turnstile"))
            .args(["migrate", "--config"])
            .arg(config(user))
            .output()
            .unwrap()
    };
    let o = migrate(&names.runtime);
    assert!(
        !o.status.success(),
        "the runtime role may not make the store: {}",
        crate::drift::text(&o)
    );
    let o = migrate(&names.owner);
    assert!(o.status.success(), "{}", crate::drift::text(&o));

    // The daemon's role opens the store and writes to the trail.
    let mut store = turnstile::store::postgres::PgStore::connect(
        &url_as(&names.runtime),
        Some(&names.schema),
        true,
    )
    .unwrap();

    store
        .append_audit(vec![turnstile::audit::Draft {
            at: jiff::Timestamp::now(),
            actor: "test".into(),
            employee_number: None,
            system: None,
            account: None,
            action: "hr.record".into(),
            outcome: "recorded".into(),
            rule: None,
            event_id: None,
            reason: "written by the runtime role".into(),
        }])
        .unwrap();
    assert!(store.verify_audit(None).unwrap().is_ok());
    drop(store);

    // It cannot switch the guard off, drop it, rewrite or empty the trail.
    let session = |user: &str| {
        let mut db = postgres::Client::connect(&url_as(user), postgres::NoTls).unwrap();
        db.batch_execute(&format!("SET search_path TO \"{}\"", names.schema))
            .unwrap();
        db
    };
    let mut rt = session(&names.runtime);
    for attempt in [
        "ALTER TABLE audit DISABLE TRIGGER audit_no_change",
        "ALTER TABLE audit DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_no_change ON audit",
        "DROP FUNCTION turnstile_audit_append_only() CASCADE",
        "UPDATE audit SET reason = 'nothing happened'",
        "DELETE FROM audit",
        "TRUNCATE audit",
        "DROP TABLE audit",
    ] {
        let r = rt.batch_execute(attempt);
        assert!(r.is_err(), "the runtime role could: {attempt}");
    }
    // The owner can (which is why the daemon does not run as it).
    let mut owner = session(&names.owner);
    owner
        .batch_execute("BEGIN; ALTER TABLE audit DISABLE TRIGGER audit_no_change; ROLLBACK;")
        .unwrap();
}
