//! What each fuzz target checks, beyond "no panic" (issue 33): called by the cargo-fuzz
//! targets in `fuzz/` and, over the seed corpora and every crash ever found, by the
//! ordinary suite (`tests/it/fuzz.rs`), so a crash once found stays a regression test.
//!
//! Each function takes any bytes and panics only when a promise is broken: a row neither
//! read nor reported, a line number outside the input, an event that does not re-encode
//! to the same digest, a problem without a line inside the file.

// A broken promise is a panic here: that is what a fuzzer and the regression test see.
#![allow(clippy::panic)]

use std::io::Cursor;

use crate::feed::{self, Encoding, Limits, Table};

/// A target's checks over one input: returns, or panics naming the broken promise.
pub type Check = fn(&[u8]);

/// Every target, by the name its folder under `fuzz/` and `tests/fixtures/fuzz/` has.
pub const TARGETS: &[(&str, Check)] = &[
    ("esr", esr),
    ("trac", trac),
    ("sponsored", sponsored),
    ("export", export),
    ("hr_event", hr_event),
    ("role_model", role_model),
    ("config", config),
    ("review_pack", review_pack),
    ("scim_page", scim_page),
    ("nhsmail_report", nhsmail_report),
    ("ldap_entry", ldap_entry),
    ("admin_request", admin_request),
];

/// Limits small enough that a fuzzer reaches them: few listed errors, short lines.
fn limits(encoding: Encoding) -> Limits {
    Limits {
        max_listed_errors: 8,
        max_line_bytes: 4096,
        max_field_bytes: 1024,
        max_rows_per_person: 4,
        encoding,
        ..Limits::default()
    }
}

/// The encoding a target reads with, from the input's first byte (and the rest, the file).
fn split_encoding(data: &[u8]) -> (Encoding, &[u8]) {
    match data.split_first() {
        Some((b, rest)) => (
            match b % 3 {
                0 => Encoding::Auto,
                1 => Encoding::Utf8,
                _ => Encoding::Windows1252,
            },
            rest,
        ),
        None => (Encoding::Auto, data),
    }
}

fn table(data: &[u8], limits: &Limits) -> Option<Table> {
    Table::from_reader("fuzz.csv", Box::new(Cursor::new(data.to_vec())), limits).ok()
}

/// Lines the input holds (the last one need not end in a line break).
fn lines_in(data: &[u8]) -> u64 {
    data.iter().filter(|b| **b == b'\n' || **b == b'\r').count() as u64 + 1
}

/// What every reader promises of its row counts and errors.
fn counts_add_up(data: &[u8], rows: u64, kept: u64, errors: &feed::RowErrors, what: &str) {
    assert!(
        errors.bad_rows <= rows,
        "{what}: {} bad rows of {rows} read",
        errors.bad_rows
    );
    assert!(
        kept + errors.bad_rows <= rows,
        "{what}: {kept} kept and {} bad of only {rows} rows",
        errors.bad_rows
    );
    assert!(
        errors.listed.len() as u64 + errors.unlisted >= errors.bad_rows,
        "{what}: {} bad rows but only {} errors",
        errors.bad_rows,
        errors.listed.len() as u64 + errors.unlisted
    );
    let lines = lines_in(data);
    for e in &errors.listed {
        assert!(
            e.line <= lines,
            "{what}: error on line {} of a {lines}-line input: {e}",
            e.line
        );
        assert!(!e.message.is_empty(), "{what}: an error with no message");
    }
}

/// The ESR extract: each person once, in order; nobody held back also kept; every bad
/// row and every person held back reported.
pub fn esr(data: &[u8]) {
    let (encoding, data) = split_encoding(data);
    let limits = limits(encoding);
    let Some(mut table) = table(data, &limits) else {
        return;
    };
    let Ok(x) = feed::esr::read_table(&mut table, &limits) else {
        return;
    };
    let assignments: u64 = x.persons.iter().map(|p| p.assignments.len() as u64).sum();
    counts_add_up(data, x.rows, assignments, &x.errors, "esr");
    assert!(
        x.persons
            .windows(2)
            .all(|w| w[0].employee_number < w[1].employee_number),
        "esr: people not in employee-number order, or one twice"
    );
    for p in &x.persons {
        assert!(
            !x.held_back.contains(p.employee_number.as_str()),
            "esr: {} both held back and kept",
            p.employee_number.as_str()
        );
        assert!(
            !p.assignments.is_empty(),
            "esr: a person with no assignment"
        );
    }
    assert!(
        x.errors.listed.len() as u64 + x.errors.unlisted
            >= x.errors.bad_rows + x.held_back.len() as u64,
        "esr: {} held back and {} bad rows, but only {} errors reported",
        x.held_back.len(),
        x.errors.bad_rows,
        x.errors.listed.len() as u64 + x.errors.unlisted
    );
}

/// A feed read with the encoding the first byte names: its counts add up.
fn feed_rows<T>(
    data: &[u8],
    what: &str,
    read: fn(&mut Table, &Limits) -> Result<T, feed::FeedError>,
    counts: fn(&T) -> (u64, u64, &feed::RowErrors),
) {
    let (encoding, data) = split_encoding(data);
    let limits = limits(encoding);
    let Some(mut table) = table(data, &limits) else {
        return;
    };
    if let Ok(read) = read(&mut table, &limits) {
        let (rows, kept, errors) = counts(&read);
        counts_add_up(data, rows, kept, errors, what);
    }
}

pub fn trac(data: &[u8]) {
    feed_rows(data, "trac", feed::trac::read_table, |s| {
        (s.rows, s.persons.len() as u64, &s.errors)
    });
}

pub fn sponsored(data: &[u8]) {
    feed_rows(data, "sponsored", feed::sponsored::read_table, |s| {
        (s.rows, s.persons.len() as u64, &s.errors)
    });
}

/// An account export, with the encoding, the entitlement separator and whether
/// entitlements are distinguished names taken from the first byte.
pub fn export(data: &[u8]) {
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let limits = limits(match mode % 3 {
        0 => Encoding::Auto,
        1 => Encoding::Utf8,
        _ => Encoding::Windows1252,
    });
    let columns = feed::export::ExportColumns {
        entitlement_separator: match (mode / 3) % 3 {
            0 => None,
            1 => Some("|".into()),
            _ => Some(",".into()),
        },
        entitlements_are_dns: mode & 0x80 != 0,
        ..Default::default()
    };
    let Some(mut table) = table(data, &limits) else {
        return;
    };
    let tz = jiff::tz::TimeZone::get("Europe/London").unwrap_or(jiff::tz::TimeZone::UTC);
    if let Ok(x) = feed::export::read_table::<Vec<crate::account::Account>>(
        "fuzz", &mut table, &columns, &tz, &limits,
    ) {
        counts_add_up(data, x.rows, x.accounts.len() as u64, &x.errors, "export");
        for a in &x.accounts {
            assert!(!a.id.is_empty(), "export: an account with no name kept");
        }
    }
}

/// An HR event from the topic: one that decodes re-encodes to the same digest, and the
/// re-encoded text decodes again.
pub fn hr_event(data: &[u8]) {
    let Ok(event) = crate::hr::HrEvent::from_json(data) else {
        return;
    };
    let digest = event.content_digest();
    let Ok((json, again)) = event.json_and_digest() else {
        return;
    };
    assert_eq!(digest, again, "hr_event: two digests of one event");
    let back = match crate::hr::HrEvent::from_json(json.as_bytes()) {
        Ok(e) => e,
        Err(e) => panic!("hr_event: its own encoding is refused: {e}\n{json}"),
    };
    assert_eq!(
        back.content_digest(),
        digest,
        "hr_event: the re-encoded event has another digest"
    );
}

/// The role model: every problem names the file and a line inside it.
pub fn role_model(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let findings = match crate::policy::RoleModel::parse("roles.toml", text) {
        Ok((_, f)) => f,
        Err(f) => {
            assert!(
                f.errors().next().is_some(),
                "role_model: refused with no error"
            );
            f
        }
    };
    let lines = lines_in(data) as usize;
    for p in &findings.problems {
        assert_eq!(p.file, "roles.toml");
        if let Some(line) = p.line {
            assert!(
                (1..=lines).contains(&line),
                "role_model: problem on line {line} of {lines}: {}",
                p.message
            );
        }
    }
}

/// `turnstile.toml` as the loader reads it (without the environment or secret files),
/// then every section's own checks.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if toml::from_str::<toml::Table>(text).is_err() {
        return;
    }
    let loaded = ::config::Config::builder()
        .add_source(::config::File::from_str(text, ::config::FileFormat::Toml))
        .build()
        .and_then(|c| c.try_deserialize::<crate::config::Config>());
    if let Ok(c) = loaded {
        for problem in c.check() {
            assert!(!problem.is_empty(), "config: an empty problem");
        }
    }
}

/// A review pack sent back: refused whole (naming lines inside it) or read, each decided
/// line once, none of it undecided too.
pub fn review_pack(data: &[u8]) {
    let (encoding, data) = split_encoding(data);
    let limits = limits(encoding);
    let Some(mut table) = table(data, &limits) else {
        return;
    };
    let lines = lines_in(data);
    match crate::cli::review::read_completed(&mut table, &limits) {
        Ok((decided, undecided)) => {
            assert!(
                !decided.is_empty(),
                "review_pack: accepted with no decision"
            );
            for d in &decided {
                assert!(d.line <= lines && !undecided.contains(&d.line));
                assert!(!d.pack.is_empty() && !d.employee_number.is_empty());
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// A SCIM list response's users and groups as the connector reads them: an account per
/// user with an id and a userName, never one without.
pub fn scim_page(data: &[u8]) {
    let Ok(page) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(config) =
        toml::from_str::<crate::connectors::scim::ScimConfig>("url = \"https://scim.invalid/v2\"")
    else {
        return;
    };
    let Ok(scim) = crate::connectors::scim::ScimConnector::new("fuzz", config, false) else {
        return;
    };
    let list = |key: &str| {
        page.get(key)
            .and_then(serde_json::Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let users = list("Resources");
    let member_of = scim.membership(&list("groups"));
    scim.remember(&users);
    for u in &users {
        if let Some(a) = scim.account_of(u, &member_of) {
            assert_eq!(
                u.get("userName").and_then(serde_json::Value::as_str),
                Some(a.id.as_str()),
                "scim_page: the account is not the userName"
            );
        }
    }
}

/// An NHSmail mailbox report as the connector reads it (columns as the Portal names
/// them): refused whole with a reason, or every row an account, a deleted mailbox or a
/// named error; each account an address the report holds, with its mailbox.
pub fn nhsmail_report(data: &[u8]) {
    use crate::connectors::nhsmail::{ReportColumns, report_accounts};
    let (encoding, data) = split_encoding(data);
    let limits = limits(encoding);
    let Some(mut t) = table(data, &limits) else {
        return;
    };
    match report_accounts("nhsmail", &ReportColumns::default(), &limits, &mut t) {
        Ok((accounts, rows)) => {
            assert!(
                accounts.len() as u64 <= rows,
                "nhsmail_report: more accounts than rows"
            );
            // Every account a real address with its mailbox. (Whether the address is
            // the report's own cell is the CSV reader's business: quoting makes a
            // substring check wrong, as two crashes of this check showed.)
            for a in &accounts {
                assert!(
                    !a.id.trim().is_empty(),
                    "nhsmail_report: an account with no address"
                );
                assert!(
                    a.entitlements.iter().any(|e| e == "Mailbox"),
                    "nhsmail_report: {} has no mailbox",
                    a.id
                );
            }
        }
        Err(e) => assert!(
            !e.trim().is_empty(),
            "nhsmail_report: a refusal with no reason"
        ),
    }
}

/// A directory entry (a DN line, then `attribute: value` lines) as the LDAP connector's
/// read turns it into an account, in both dialects: the account is the entry's account
/// name, its container the rest of its DN, and the logon time only from the attribute.
pub fn ldap_entry(data: &[u8]) {
    use crate::connectors::ldap::{Dialect, entry_account};
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let dn = lines.next().unwrap_or_default().to_string();
    let mut attrs: std::collections::HashMap<String, Vec<String>> = Default::default();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            attrs
                .entry(k.trim().to_string())
                .or_default()
                .push(v.trim_start().to_string());
        }
    }
    for (dialect, name_attr) in [
        (Dialect::ActiveDirectory, "sAMAccountName"),
        (Dialect::OpenLdap, "uid"),
    ] {
        let named = attrs.get(name_attr).and_then(|v| v.first());
        match entry_account(dialect, dn.clone(), attrs.clone()) {
            Some(a) => {
                assert_eq!(
                    Some(&a.id),
                    named,
                    "ldap_entry: the account is not its name"
                );
                if let Some(c) = &a.container {
                    assert!(
                        dn.ends_with(c.as_str()) && c.len() < dn.len(),
                        "ldap_entry: container {c:?} is not the rest of {dn:?}"
                    );
                }
                if a.last_logon.is_some() {
                    assert!(
                        dialect == Dialect::ActiveDirectory
                            && attrs.contains_key("lastLogonTimestamp"),
                        "ldap_entry: a logon time from nowhere"
                    );
                }
            }
            None => assert!(named.is_none(), "ldap_entry: a named entry was dropped"),
        }
    }
}

/// What a SQLite state store holds, as one digest: every row of every table (sorted), so
/// a request or a verb that must write nothing can be checked to have written nothing,
/// whatever the file's pages (a WAL checkpoint moves bytes, not rows). Used by the
/// `admin_request` target and by the suite's dry-run tests.
#[doc(hidden)]
pub fn store_digest(db: &std::path::Path) -> String {
    use sha2::Digest;
    let Ok(c) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        panic!("{}: the store cannot be opened", db.display());
    };
    let mut hash = sha2::Sha256::new();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap_or_else(|e| panic!("{}: its tables cannot be listed: {e}", db.display()));
    for t in tables {
        let rows: Vec<String> = c
            .prepare(&format!("SELECT * FROM \"{t}\""))
            .and_then(|mut s| {
                let n = s.column_count();
                s.query_map([], |r| {
                    Ok((0..n)
                        .map(|i| format!("{:?}", r.get_ref(i).ok()))
                        .collect::<Vec<_>>()
                        .join("\u{1f}"))
                })?
                .collect::<Result<Vec<_>, _>>()
            })
            .unwrap_or_else(|e| panic!("{}: table {t} cannot be read: {e}", db.display()));
        hash.update(format!("{t}:{}\n", rows.len()));
        let mut rows = rows;
        rows.sort();
        for r in rows {
            hash.update(r);
            hash.update("\n");
        }
    }
    format!("{:x}", hash.finalize())
}

/// The admin API as the daemon serves it, over a store of its own in a scratch folder,
/// with a viewer, an operator and an approver token.
struct AdminHarness {
    db: std::path::PathBuf,
    app: axum::Router,
    runtime: tokio::runtime::Runtime,
}

fn admin_harness() -> &'static AdminHarness {
    static HARNESS: std::sync::OnceLock<AdminHarness> = std::sync::OnceLock::new();
    HARNESS.get_or_init(|| {
        use sha2::Digest;
        // A folder of this process's own, emptied first (a fuzzer runs for hours in one).
        let dir = std::env::temp_dir().join(format!("turnstile-fuzz-admin-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("admin_request: {e}"));
        let tokens = dir.join("tokens.toml");
        let mut text = String::new();
        for role in ["viewer", "operator", "approver"] {
            let hash = format!(
                "{:x}",
                sha2::Sha256::digest(format!("tst_{role}").as_bytes())
            );
            text.push_str(&format!(
                "[[tokens]]\nname = \"{role}\"\nrole = \"{role}\"\nsha256 = \"{hash}\"\n"
            ));
        }
        let written = std::fs::write(&tokens, text).and_then(|()| {
            std::fs::set_permissions(&tokens, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        });
        written.unwrap_or_else(|e| panic!("admin_request: {e}"));
        let mut config = crate::config::Config::default();
        config.store.path = dir.join("state.db");
        config.daemon.tokens_file = Some(tokens);
        config.daemon.max_failed_auth_per_minute = 10_000;
        drop(
            crate::store::open(&config.store, None, false)
                .unwrap_or_else(|e| panic!("admin_request: {e}")),
        );
        let model = crate::policy::RoleModel::parse(
            "role-model.toml",
            include_str!("../examples/role-model.toml"),
        )
        .map(|(m, _)| m)
        .unwrap_or_else(|_| panic!("admin_request: the example role model"));
        let shared = crate::daemon::admin::Shared::new();
        // Up and consuming, as a daemon that has started.
        shared.with_health(|h| h.consuming = true);
        let api = crate::daemon::api::Api::new(
            std::sync::Arc::new(config.clone()),
            std::sync::Arc::new(model),
            shared.clone(),
        )
        .unwrap_or_else(|e| panic!("admin_request: {e}"));
        let app = crate::daemon::admin::router(shared).merge(crate::daemon::api::router(api));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("admin_request: {e}"));
        AdminHarness {
            db: config.store.path.clone(),
            app,
            runtime,
        }
    })
}

/// One request to the admin API (token, method, path, headers, body from the input):
/// never a 500, and a store left as it was by every request without an operator's or
/// approver's token and by every request refused (4xx).
pub fn admin_request(data: &[u8]) {
    let Some((token, method, path, status, changed)) = admin_exchange(data) else {
        return;
    };
    assert_ne!(status, 500, "admin_request: {method} {path} answered 500");
    if matches!(token, "" | "tst_viewer") || (400..500).contains(&status) {
        assert!(
            !changed,
            "admin_request: {method} {path} ({status}) changed the store"
        );
    }
}

/// The request an input makes, sent: (token, method, path, status, whether the store
/// changed); `None` for an input that makes no request.
fn admin_exchange(data: &[u8]) -> Option<(&'static str, &'static str, String, u16, bool)> {
    use tower_service::Service;
    let h = admin_harness();
    let (Some(&who), Some(&how)) = (data.first(), data.get(1)) else {
        return None;
    };
    let token = ["", "tst_viewer", "tst_operator", "tst_approver"][who as usize % 4];
    let method = ["GET", "POST", "PUT", "DELETE", "PATCH"][how as usize % 5];
    let rest = &data[2..];
    let head_end = rest
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(rest.len());
    let head = String::from_utf8_lossy(&rest[..head_end]);
    let body = rest.get(head_end + 2..).unwrap_or_default().to_vec();
    let mut lines = head.split('\n');
    let path = lines.next().unwrap_or_default();
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/api/v1/{path}")
    };
    let mut req = axum::http::Request::builder()
        .method(method)
        .uri(path.as_str());
    if !token.is_empty() {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            req = req.header(k.trim(), v.trim());
        }
    }
    let Ok(mut req) = req.body(axum::body::Body::from(body)) else {
        return None;
    };
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(crate::daemon::api::Peer(
            std::net::SocketAddr::from(([127, 0, 0, 1], 5000)),
        )));
    let before = store_digest(&h.db);
    let status = h.runtime.block_on(async {
        let mut app = h.app.clone();
        let Ok(r) = app.call(req).await;
        let status = r.status().as_u16();
        let _ = axum::body::to_bytes(r.into_body(), 1 << 20).await;
        status
    });
    let changed = store_digest(&h.db) != before;
    Some((token, method, path, status, changed))
}

#[cfg(test)]
mod tests {
    /// The harness answers as the daemon does: open health, tokens by role, refusals.
    #[test]
    fn the_admin_harness_answers_as_the_daemon_does() {
        let status = |data: &[u8]| super::admin_exchange(data).map(|(_, _, _, s, _)| s);
        assert_eq!(status(b"\x00\x00/healthz\n\n"), Some(200));
        assert_eq!(status(b"\x00\x00/api/v1/status\n\n"), Some(401));
        assert_eq!(status(b"\x01\x00/api/v1/status\n\n"), Some(200));
        assert_eq!(status(b"\x01\x01/api/v1/held/1/approve\n\n"), Some(403));
        let approve = b"\x03\x01/api/v1/held/7/approve\ncontent-type: application/json\n\n{\"reason\":\"checked\"}";
        assert_eq!(status(approve), Some(404));
    }
}
