//! The people-facing side (issue 14): drift trends and shrink refusal, the inputs a
//! report was made from, escaping in every HTML page, review packs read back, `explain`,
//! and `evidence` after a scripted month of events (an injected clock, TURNSTILE_NOW)
//! against a real slapd.

use crate::drift::{policy, text, turnstile};
use std::path::Path;
use std::process::{Command, Output};

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn drift_examples(dir: &Path, ad: &Path, today: &str, extra: &[&str]) -> Output {
    let pol = policy();
    let ex = examples();
    let hr = ex.join("esr-extract.csv").display().to_string();
    let ad = format!("ad={}", ad.display());
    let nhsmail = format!("nhsmail={}", ex.join("exports/nhsmail.csv").display());
    let mut args = vec![
        "drift", "--policy", &pol, "--hr", &hr, "--export", &ad, "--export", &nhsmail, "--today",
        today,
    ];
    args.extend_from_slice(extra);
    turnstile(&args, dir)
}

#[test]
fn a_comparison_marks_each_finding_and_a_cut_short_export_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let ad = examples().join("exports/ad.csv");
    let o = drift_examples(p, &ad, "2026-11-23", &["--out", "first.json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let first: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.join("first.json")).unwrap()).unwrap();
    // Every input with its rows and SHA-256.
    let files = first["inputs"]["files"].as_array().unwrap();
    assert_eq!(files.len(), 3, "{files:?}");
    use sha2::Digest;
    let want = format!("{:x}", sha2::Sha256::digest(std::fs::read(&ad).unwrap()));
    assert_eq!(files[1]["system"], "ad");
    assert_eq!(files[1]["sha256"], want.as_str());
    assert!(files[1]["rows"].as_u64().unwrap() > 400);
    assert!(first["findings"][0].get("trend").is_none());

    // A week later against the same files: everything persists, first seen a week ago.
    let o = drift_examples(
        p,
        &ad,
        "2026-11-30",
        &["--compare", "first.json", "--out", "second.json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let second: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.join("second.json")).unwrap()).unwrap();
    let firsts: Vec<&serde_json::Value> = second["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["category"] != "leaver_still_active"
                && f["category"] != "dormant_account"
                && f["category"] != "excess_entitlement"
        })
        .collect();
    assert!(!firsts.is_empty());
    for f in &firsts {
        assert_eq!(f["trend"]["status"], "persisting", "{f}");
        assert_eq!(f["trend"]["first_seen"], "2026-11-23", "{f}");
        assert_eq!(f["trend"]["age_days"], 7, "{f}");
    }

    // An AD export cut to its first 100 rows is refused (exit 2), naming the counts;
    // --allow-shrink takes it, and the accounts no longer there are resolved.
    let full = std::fs::read_to_string(&ad).unwrap();
    let cut: String = full.lines().take(101).map(|l| format!("{l}\n")).collect();
    std::fs::write(p.join("cut.csv"), cut).unwrap();
    let o = drift_examples(
        p,
        &p.join("cut.csv"),
        "2026-11-30",
        &["--compare", "second.json", "--out", "third.json"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("the ad export has 100 accounts where the previous report read")
            && text(&o).contains("--allow-shrink"),
        "{}",
        text(&o)
    );
    assert!(!p.join("third.json").exists());
    let o = drift_examples(
        p,
        &p.join("cut.csv"),
        "2026-11-30",
        &[
            "--compare",
            "second.json",
            "--allow-shrink",
            "--out",
            "third.json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let third: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.join("third.json")).unwrap()).unwrap();
    let resolved = third["comparison"]["resolved"].as_array().unwrap();
    assert!(
        resolved
            .iter()
            .any(|r| r["account"] == "ward0.nurses" || r["account"] == "owilliams340"),
        "{resolved:?}"
    );
    assert!(third["comparison"]["persisting"].as_u64().unwrap() > 0);
    // Not a report: refused by name.
    std::fs::write(p.join("junk.json"), "{\"x\":1}").unwrap();
    let o = drift_examples(p, &ad, "2026-11-30", &["--compare", "junk.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("--compare junk.json: not a drift report"),
        "{}",
        text(&o)
    );
}

const HOSTILE: &str = "<script>alert(1)</script>";

/// A name that is markup, in every HTML page and CSV Turnstile writes about people.
#[test]
fn every_page_escapes_what_the_inputs_hold() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let esr = format!(
        "Employee Number,Assignment Number,Primary Assignment (Y/N),First Name,Last Name,Staff Group,Job Role,Assignment Status,Assignment Start Date,Assignment End Date,Supervisor Employee Number\n\
         40000001,40000001-1,Y,\"{HOSTILE}\",=HYPERLINK(\"x\"),Medical and Dental,General Practitioner,Active Assignment,01/04/2020,,40000009\n\
         40000009,40000009-1,Y,Mia,Manager,Medical and Dental,General Practitioner,Active Assignment,01/04/2015,,\n"
    );
    std::fs::write(p.join("esr.csv"), esr).unwrap();
    std::fs::write(
        p.join("emis.csv"),
        format!("Account,Employee Number,Display Name,Enabled,Last Logon,Entitlements\nGP1,40000001,\"{HOSTILE}\",true,2026-11-20 08:30,GP;{HOSTILE};=SUM(1)\nMGR,40000009,Mia,true,2026-11-20 08:30,GP\n"),
    )
    .unwrap();
    std::fs::write(
        p.join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"{}\"\n[targets.emis]\ntype = \"emis\"\npath = \"emis.csv\"\n",
            policy()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let o = turnstile(args, p);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
        o
    };
    run(&[
        "drift",
        "--policy",
        &policy(),
        "--hr",
        "esr.csv",
        "--export",
        "emis=emis.csv",
        "--today",
        "2026-11-23",
        "--out",
        "drift.html",
    ]);
    run(&["feed", "esr", "esr.csv", "--apply", "--today", "2026-11-23"]);
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(1),
        "{}",
        text(&o)
    );
    run(&[
        "review",
        "--manager",
        "40000009",
        "--out",
        "packs",
        "--today",
        "2026-11-23",
    ]);
    run(&[
        "evidence",
        "--since",
        "2026-11-01",
        "--today",
        "2026-11-23",
        "--out",
        "evidence.html",
    ]);
    let pack = std::fs::read_to_string(p.join("packs/review-40000009-2026-11-23.html")).unwrap();
    let csv = std::fs::read_to_string(p.join("packs/review-40000009-2026-11-23.csv")).unwrap();
    for (name, page) in [
        (
            "drift",
            std::fs::read_to_string(p.join("drift.html")).unwrap(),
        ),
        ("review pack", pack),
        (
            "evidence",
            std::fs::read_to_string(p.join("evidence.html")).unwrap(),
        ),
    ] {
        assert!(!page.contains("<script>alert"), "{name}: {page}");
        assert!(!page.contains("</script>alert"), "{name}");
        assert_eq!(
            page.matches("<script").count(),
            page.matches("</script>").count(),
            "{name}"
        );
    }
    // The hostile cell is in the pack, as text: quoted, and the formula defused.
    assert!(csv.contains(HOSTILE), "{csv}");
    assert!(csv.contains(",'=SUM(1),"), "{csv}");
}

/// The `turnstile` binary under an injected clock.
fn at(dir: &Path, now: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_turnstile"))
        .args(args)
        .current_dir(dir)
        .env("TURNSTILE_NOW", now)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

#[test]
fn a_wrong_injected_clock_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let o = at(dir.path(), "yesterday", &["validate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("TURNSTILE_NOW=\"yesterday\" is not an RFC 3339 instant"),
        "{}",
        text(&o)
    );
}
