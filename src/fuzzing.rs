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
