//! The HTML pages in a real browser: Debian's headless Chromium, driven by
//! tests/browser/check.mjs (playwright-core from the peers' cache). Each page loads with no
//! console error, a click on a header sorts, a drop-down and the search box filter, the
//! page fits 700 px, and screenshots at 1400 and 700 px are written to
//! target/screenshots/.

use crate::drift::{policy, text, turnstile};
use crate::reports::scripted_month;
use std::path::{Path, PathBuf};
use std::process::Command;

fn shots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What the browser saw (see check.mjs).
fn browse(page: &Path, name: &str, table: &str, sort: usize, search: &str) -> serde_json::Value {
    let cache = std::env::var("TURNSTILE_CACHE").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/turnstile"),
        PathBuf::from,
    );
    let modules = cache.join("node/node_modules");
    assert!(
        modules.join("playwright-core").exists() && Path::new("/usr/bin/chromium").exists(),
        "Chromium and playwright-core are missing: run tests/peers/peers.sh install"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/check.mjs");
    let o = Command::new("node")
        .arg(script)
        .arg(page)
        .arg(shots())
        .args([name, table, &sort.to_string(), search])
        .env("TURNSTILE_NODE_MODULES", &modules)
        .output()
        .expect("node runs");
    assert!(o.status.success(), "{}", text(&o));
    let seen: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert_eq!(
        seen["errors"],
        serde_json::json!([]),
        "console errors on {name}"
    );
    assert_eq!(seen["overflow_700"], false, "{name} is wider than 700 px");
    assert_eq!(seen["overflow_1400"], false, "{name} is wider than 1400 px");
    for w in [1400, 700] {
        let png = std::fs::read(shots().join(format!("{name}-{w}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name}-{w}.png");
    }
    seen
}

/// A table as the page holds it (its JSON data island): each column's kind, the rows.
struct Data {
    kinds: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn rows_of(html: &str, table: &str) -> Data {
    let open = format!("<script type=\"application/json\" id=\"{table}-data\">");
    let start = html.find(&open).unwrap() + open.len();
    let end = start + html[start..].find("</script>").unwrap();
    let data: serde_json::Value = serde_json::from_str(&html[start..end]).unwrap();
    Data {
        kinds: data["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["kind"].as_str().unwrap().to_string())
            .collect(),
        rows: serde_json::from_value(data["rows"].clone()).unwrap(),
    }
}

/// The order a column sorts in: numbers as numbers, severities by rank, else text.
fn order(kind: &str, a: &str, b: &str) -> std::cmp::Ordering {
    let rank = |s: &str| {
        ["high", "medium", "low"]
            .iter()
            .position(|r| *r == s)
            .unwrap_or(9)
    };
    match kind {
        "number" => {
            let n = |s: &str| s.parse::<f64>().unwrap_or(f64::NEG_INFINITY);
            n(a).total_cmp(&n(b))
        }
        "severity" => rank(a).cmp(&rank(b)),
        _ => a.cmp(b),
    }
}

/// What the page must show after each step, worked out here from its own data.
fn check_table(seen: &serde_json::Value, data: &Data, sort: usize, search: &str) {
    let rows = &data.rows;
    let kind = data.kinds[sort].as_str();
    let n = rows.len();
    let page = seen["initial"]["rows"].as_array().unwrap().len();
    assert_eq!(seen["initial"]["count"], format!("{n} rows"));
    assert_eq!(page, n.min(page.max(1)), "a page of rows shows");
    let mut up: Vec<&Vec<String>> = rows.iter().collect();
    up.sort_by(|a, b| order(kind, &a[sort], &b[sort]));
    let want: Vec<&str> = up.iter().take(page).map(|r| r[sort].as_str()).collect();
    assert_eq!(
        seen["sorted_ascending"],
        serde_json::json!(want),
        "sorted up"
    );
    let mut down: Vec<&Vec<String>> = rows.iter().collect();
    down.sort_by(|a, b| order(kind, &b[sort], &a[sort]));
    let want: Vec<&str> = down.iter().take(page).map(|r| r[sort].as_str()).collect();
    assert_eq!(
        seen["sorted_descending"],
        serde_json::json!(want),
        "sorted down"
    );
    if let Some(sel) = seen.get("selected") {
        let col = sel["column"].as_u64().unwrap() as usize;
        let value = sel["value"].as_str().unwrap();
        let k = rows.iter().filter(|r| r[col] == value).count();
        assert_eq!(sel["count"], count_text(k, n));
        for r in sel["rows"].as_array().unwrap() {
            assert_eq!(r[col], value);
        }
    }
    let q = search.to_lowercase();
    let k = rows
        .iter()
        .filter(|r| r.join("\u{1}").to_lowercase().contains(&q))
        .count();
    assert!(k > 0, "the search finds something");
    assert_eq!(seen["searched"]["count"], count_text(k, n));
    for r in seen["searched"]["rows"].as_array().unwrap() {
        let joined: Vec<&str> = r
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert!(joined.join("\u{1}").to_lowercase().contains(&q), "{r}");
    }
}

/// How the page counts `k` rows shown of `n`.
fn count_text(k: usize, n: usize) -> String {
    if k == n {
        format!("{n} rows")
    } else {
        format!("{k} of {n} rows")
    }
}

/// The drift report of a 100,000-staff synthetic trust.
#[test]
fn the_drift_report_of_a_large_trust_sorts_filters_and_searches_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let o = Command::new(env!("CARGO_BIN_EXE_turnstile-synth"))
        .args([
            "--staff",
            "100000",
            "--seed",
            "5",
            "--today",
            "2026-11-23",
            "--out",
        ])
        .arg(p)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let pol = policy();
    let mut args = vec!["drift", "--policy", &pol, "--hr", "esr-extract.csv"];
    let exports: Vec<String> = ["ad", "nhsmail", "emis", "systmone", "smartcard"]
        .iter()
        .map(|s| format!("{s}=exports/{s}.csv"))
        .collect();
    for e in &exports {
        args.extend(["--export", e.as_str()]);
    }
    args.extend(["--today", "2026-11-23", "--out", "drift.html"]);
    let o = turnstile(&args, p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let html = std::fs::read_to_string(p.join("drift.html")).unwrap();
    let rows = rows_of(&html, "findings-table");
    assert!(rows.rows.len() > 5000, "{}", rows.rows.len());
    // Sort by account; search for part of an orphan's name.
    let seen = browse(&p.join("drift.html"), "drift", "findings-table", 3, "jdoe1");
    check_table(&seen, &rows, 3, "jdoe1");
    assert!(
        seen["load_ms"].as_u64().unwrap() < 30_000,
        "{}",
        seen["load_ms"]
    );
}

/// The evidence and a review pack after the scripted month.
#[test]
fn evidence_and_a_review_pack_work_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    scripted_month(p);
    let at = |now: &str, args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_turnstile"))
            .args(args)
            .current_dir(p)
            .env("TURNSTILE_NOW", now)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    };
    at(
        "2026-11-20T09:00:00Z",
        &["review", "--manager", "50000099", "--out", "packs"],
    );
    at(
        "2026-11-30T12:00:00Z",
        &[
            "evidence",
            "--since",
            "2026-11-01",
            "--out",
            "evidence.html",
        ],
    );
    let pack = p.join("packs/review-50000099-2026-11-20.html");
    let html = std::fs::read_to_string(&pack).unwrap();
    let rows = rows_of(&html, "pack");
    let seen = browse(&pack, "review-pack", "pack", 0, "Reports");
    check_table(&seen, &rows, 0, "Reports");
    let evidence = p.join("evidence.html");
    let html = std::fs::read_to_string(&evidence).unwrap();
    let rows = rows_of(&html, "leavers-worst");
    assert_eq!(rows.rows.len(), 5);
    let seen = browse(&evidence, "evidence", "leavers-worst", 3, "50000005");
    check_table(&seen, &rows, 3, "50000005");
}
