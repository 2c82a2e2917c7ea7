//! Every crate in `Cargo.lock` checked against the RustSec advisory database, offline:
//! the copy in `../shared/advisory-db` (or `TURNSTILE_ADVISORY_DB`). A crate with an
//! advisory that its version is not patched against or unaffected by fails the test —
//! vulnerabilities, and unmaintained or unsound crates alike — unless `advisories.toml`
//! lists that advisory with a line of reason. Withdrawn advisories are skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn database() -> PathBuf {
    std::env::var("TURNSTILE_ADVISORY_DB").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/advisory-db"),
        PathBuf::from,
    )
}

/// The `[advisory]` and `[versions]` of one advisory file (its TOML front matter).
fn front_matter(text: &str) -> Option<toml::Table> {
    let body = text.strip_prefix("```toml")?;
    let end = body.find("\n```")?;
    toml::from_str(&body[..end]).ok()
}

fn matches_any(version: &semver::Version, reqs: Option<&toml::Value>) -> bool {
    reqs.and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_str)
        .filter_map(|r| semver::VersionReq::parse(r).ok())
        .any(|r| r.matches(version))
}

/// The advisories of `db` open against the lock file, and how many crates were checked.
fn open_advisories(db: &Path) -> (usize, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lock: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("Cargo.lock")).unwrap()).unwrap();
    let allowed: toml::Table =
        toml::from_str(&std::fs::read_to_string(root.join("advisories.toml")).unwrap()).unwrap();
    let allowed = allowed["allowed"].as_table().unwrap();
    for (id, reason) in allowed {
        assert!(
            reason.as_str().is_some_and(|r| r.len() > 20),
            "advisories.toml: {id} needs a line of reason"
        );
    }
    let mut open = Vec::new();
    let mut checked = 0;
    for package in lock["package"].as_array().unwrap() {
        // Our own crates are not on crates.io.
        if package.get("source").is_none() {
            continue;
        }
        let name = package["name"].as_str().unwrap();
        let Ok(version) = semver::Version::parse(package["version"].as_str().unwrap()) else {
            continue;
        };
        checked += 1;
        let Ok(entries) = std::fs::read_dir(db.join("crates").join(name)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let Some(front) = std::fs::read_to_string(&path)
                .ok()
                .as_deref()
                .and_then(front_matter)
            else {
                continue;
            };
            let advisory = front["advisory"].as_table().unwrap();
            let id = advisory["id"].as_str().unwrap();
            if advisory.contains_key("withdrawn") || allowed.contains_key(id) {
                continue;
            }
            let versions = front.get("versions").and_then(toml::Value::as_table);
            let patched = matches_any(&version, versions.and_then(|v| v.get("patched")));
            let unaffected = matches_any(&version, versions.and_then(|v| v.get("unaffected")));
            if !patched && !unaffected {
                open.push(format!(
                    "{name} {version}: {id} ({})",
                    advisory
                        .get("informational")
                        .and_then(toml::Value::as_str)
                        .unwrap_or("vulnerability")
                ));
            }
        }
    }
    (checked, open)
}

#[test]
fn no_crate_in_the_lock_file_has_an_open_advisory() {
    let db = database();
    assert!(
        db.join("crates").is_dir(),
        "no advisory database at {} (set TURNSTILE_ADVISORY_DB)",
        db.display()
    );
    let (checked, open) = open_advisories(&db);
    assert!(checked > 100, "{checked} crates checked");
    assert!(
        open.is_empty(),
        "advisories open against the lock file (upgrade, replace, or list in advisories.toml with a reason):\n{}",
        open.join("\n")
    );
}

/// The check finds what it should: an advisory against a version in the lock file is
/// reported; one the version is patched against, or that was withdrawn, is not.
#[test]
fn an_advisory_against_a_locked_version_is_found() {
    let db = tempfile::tempdir().unwrap();
    let dir = db.path().join("crates/serde");
    std::fs::create_dir_all(&dir).unwrap();
    let advisory = |id: &str, extra: &str, patched: &str| {
        std::fs::write(
            dir.join(format!("{id}.md")),
            format!(
                "```toml\n[advisory]\nid = \"{id}\"\npackage = \"serde\"\ndate = \"2026-01-01\"\n{extra}\n[versions]\npatched = [{patched}]\n```\n\n# test\n"
            ),
        )
        .unwrap();
    };
    advisory("RUSTSEC-9999-0001", "", "\">= 99.0.0\"");
    advisory("RUSTSEC-9999-0002", "", "\">= 0.1.0\"");
    advisory("RUSTSEC-9999-0003", "withdrawn = \"2026-02-01\"", "");
    let (_, open) = open_advisories(db.path());
    assert_eq!(open.len(), 1, "{open:?}");
    assert!(open[0].contains("RUSTSEC-9999-0001") && open[0].contains("vulnerability"));
}

/// Every package built for Linux, from `cargo metadata` (offline: the sources are there).
fn packages() -> Vec<(String, String, String)> {
    let o = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--locked",
            "--filter-platform",
            "x86_64-unknown-linux-gnu",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["version"].as_str().unwrap().to_string(),
                p["license"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn policy() -> toml::Table {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deny.toml")).unwrap();
    toml::from_str(&text).unwrap()
}

/// Whether an SPDX expression (`A OR B`, `A AND B`, `A WITH exception`, parentheses, and
/// the old `A/B` for OR) is satisfied by `allowed`.
fn licence_allowed(expression: &str, allowed: &[&str]) -> bool {
    fn or(tokens: &[String], at: &mut usize, allowed: &[&str]) -> bool {
        let mut ok = and(tokens, at, allowed);
        while tokens.get(*at).map(String::as_str) == Some("OR") {
            *at += 1;
            ok |= and(tokens, at, allowed);
        }
        ok
    }
    fn and(tokens: &[String], at: &mut usize, allowed: &[&str]) -> bool {
        let mut ok = one(tokens, at, allowed);
        while tokens.get(*at).map(String::as_str) == Some("AND") {
            *at += 1;
            ok &= one(tokens, at, allowed);
        }
        ok
    }
    fn one(tokens: &[String], at: &mut usize, allowed: &[&str]) -> bool {
        let Some(t) = tokens.get(*at) else {
            return false;
        };
        *at += 1;
        if t == "(" {
            let ok = or(tokens, at, allowed);
            *at += 1; // ")"
            return ok;
        }
        let mut id = t.clone();
        if tokens.get(*at).map(String::as_str) == Some("WITH") {
            id = format!("{id} WITH {}", tokens[*at + 1]);
            *at += 2;
        }
        allowed.contains(&id.as_str())
    }
    let tokens: Vec<String> = expression
        .replace('/', " OR ")
        .replace('(', " ( ")
        .replace(')', " ) ")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let mut at = 0;
    let ok = or(&tokens, &mut at, allowed);
    ok && at == tokens.len()
}

#[test]
fn every_crate_has_a_licence_the_policy_allows() {
    let policy = policy();
    let allowed: Vec<&str> = policy["licenses"]["allow"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let refused: Vec<String> = packages()
        .into_iter()
        .filter(|(name, _, _)| !name.starts_with("turnstile"))
        .filter(|(_, _, licence)| !licence_allowed(licence, &allowed))
        .map(|(name, version, licence)| format!("{name} {version}: `{licence}`"))
        .collect();
    assert!(
        refused.is_empty(),
        "crates under a licence deny.toml does not allow (replace the crate, or add the licence to [licenses] allow if the trust's counsel agrees):\n{}",
        refused.join("\n")
    );
    // The evaluator itself, on the shapes the lock file holds.
    assert!(licence_allowed("MIT OR Apache-2.0", &["MIT"]));
    assert!(licence_allowed(
        "(MIT OR Apache-2.0) AND Unicode-3.0",
        &["MIT", "Unicode-3.0"]
    ));
    assert!(!licence_allowed(
        "(MIT OR Apache-2.0) AND Unicode-3.0",
        &["MIT"]
    ));
    assert!(licence_allowed(
        "Apache-2.0 WITH LLVM-exception OR GPL-3.0",
        &["Apache-2.0 WITH LLVM-exception"]
    ));
    assert!(!licence_allowed("GPL-3.0-only", &allowed));
    assert!(!licence_allowed("", &allowed));
}

#[test]
fn no_crate_is_built_in_two_versions_unless_the_policy_says_why() {
    let policy = policy();
    let skipped: BTreeMap<String, String> = policy["bans"]["skip"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let reason = s["reason"].as_str().unwrap_or("").to_string();
            assert!(!reason.is_empty(), "deny.toml: {s} has no reason");
            (s["crate"].as_str().unwrap().to_string(), reason)
        })
        .collect();
    let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, version, _) in packages() {
        versions.entry(name).or_default().push(version);
    }
    let twice: Vec<String> = versions
        .iter()
        .filter(|(name, v)| v.len() > 1 && !skipped.contains_key(*name))
        .map(|(name, v)| format!("{name}: {}", v.join(", ")))
        .collect();
    assert!(
        twice.is_empty(),
        "crates built in two versions that deny.toml's [bans] skip does not name (align the versions, or add the crate with the reason):\n{}",
        twice.join("\n")
    );
}
