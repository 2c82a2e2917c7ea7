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

const ESR_COLUMNS: &str = "Employee Number,Assignment Number,Primary Assignment (Y/N),First Name,Last Name,Staff Group,Job Role,Assignment Status,Assignment Start Date,Assignment End Date,Supervisor Employee Number";
const EXPORT_COLUMNS: &str = "Account,Employee Number,Display Name,Enabled,Last Logon,Entitlements";

/// A practice's month on EMIS Web, a system with no API: Turnstile raises work items and
/// the practice's own user export, read at each reconcile, says when they were done.
///
/// - GPs 50000001..=50000012 in post since 2020 under 50000099 (also a GP).
/// - 50000001..=50000004 leave on Friday 6 November; their accounts are shown disabled by
///   the export read on Monday 9 November at 10:00 (58 hours after the end of the day).
/// - 50000005 leaves on Friday 13 November; shown disabled on Wednesday 18 November at
///   12:00 (108 hours).
/// - 50000010 is disabled by hand in EMIS before Monday 16 November: a change outside
///   Turnstile, found and undone (an enable raised) by the reconcile that day.
/// - 50000020 starts on Monday 9 November, shown enabled the same day (in time);
///   50000021 starts on Monday 16 November, shown enabled on Wednesday 18 November at
///   12:00 (after the end of Tuesday: late).
pub(crate) fn scripted_month(p: &Path) {
    let gp = |n: u32, start: &str, end: &str| {
        let status = if end.is_empty() {
            "Active Assignment"
        } else {
            "Terminate Assignment"
        };
        format!(
            "{n},{n}-1,Y,Gp,Number{n},Medical and Dental,General Practitioner,{status},{start},{end},50000099\n"
        )
    };
    let esr = |leavers: &[(u32, &str)]| {
        let mut s = format!(
            "{ESR_COLUMNS}\n50000099,50000099-1,Y,Mia,Manager,Medical and Dental,General Practitioner,Active Assignment,01/04/2015,,\n"
        );
        for n in 50000001..=50000012 {
            let end = leavers
                .iter()
                .find(|(l, _)| *l == n)
                .map_or("", |(_, e)| *e);
            s.push_str(&gp(n, "01/04/2020", end));
        }
        s.push_str(&gp(50000020, "09/11/2026", ""));
        s.push_str(&gp(50000021, "16/11/2026", ""));
        s
    };
    // The export: who is enabled as the practice's administrator left it.
    let export = |disabled: &[u32], joined: &[u32]| {
        let mut s =
            format!("{EXPORT_COLUMNS}\nGP99,50000099,Mia Manager,true,2026-11-02 08:30,GP\n");
        for n in (50000001..=50000012).chain(joined.iter().copied()) {
            let on = !disabled.contains(&n);
            // One GP also holds a profile no role grants.
            let ents = if n == 50000008 { "GP;Reports" } else { "GP" };
            s.push_str(&format!(
                "GP{n},{n},Gp Number{n},{on},2026-11-02 08:30,{ents}\n"
            ));
        }
        s
    };
    std::fs::write(
        p.join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"{}\"\n[reconcile]\nmax_removal_share = 0.9\n[guard]\nmax_removal_share = 0.9\nmin_removals = 10\n[targets.emis]\ntype = \"emis\"\npath = \"emis.csv\"\n",
            policy()
        ),
    )
    .unwrap();
    let step = |now: &str, args: &[&str]| {
        let o = at(p, now, args);
        assert!(
            matches!(o.status.code(), Some(0)),
            "{now} {args:?}: {}",
            text(&o)
        );
    };
    let week1 = [
        (50000001, "06/11/2026"),
        (50000002, "06/11/2026"),
        (50000003, "06/11/2026"),
        (50000004, "06/11/2026"),
    ];
    let mut week2 = week1.to_vec();
    week2.push((50000005, "13/11/2026"));
    std::fs::write(p.join("esr.csv"), esr(&[])).unwrap();
    std::fs::write(p.join("emis.csv"), export(&[], &[])).unwrap();
    step(
        "2026-11-02T09:00:00Z",
        &["feed", "esr", "esr.csv", "--apply"],
    );
    step("2026-11-02T09:05:00Z", &["reconcile"]);
    std::fs::write(p.join("esr.csv"), esr(&week1)).unwrap();
    step(
        "2026-11-04T09:00:00Z",
        &["feed", "esr", "esr.csv", "--apply"],
    );
    // Saturday: the leavers' disables are raised as work items.
    step("2026-11-07T09:00:00Z", &["reconcile"]);
    // Monday: the export shows them done, and the first joiner set up.
    std::fs::write(
        p.join("emis.csv"),
        export(&[50000001, 50000002, 50000003, 50000004], &[50000020]),
    )
    .unwrap();
    step("2026-11-09T10:00:00Z", &["reconcile"]);
    std::fs::write(p.join("esr.csv"), esr(&week2)).unwrap();
    step(
        "2026-11-10T09:00:00Z",
        &["feed", "esr", "esr.csv", "--apply"],
    );
    // Someone disables a GP in post by hand in EMIS: the next reconcile finds it and
    // raises the enable, marked as undoing a change made outside Turnstile.
    std::fs::write(
        p.join("emis.csv"),
        export(
            &[50000001, 50000002, 50000003, 50000004, 50000010],
            &[50000020],
        ),
    )
    .unwrap();
    step("2026-11-16T09:00:00Z", &["reconcile"]);
    std::fs::write(
        p.join("emis.csv"),
        export(
            &[50000001, 50000002, 50000003, 50000004, 50000005],
            &[50000020, 50000021],
        ),
    )
    .unwrap();
    step("2026-11-18T12:00:00Z", &["reconcile"]);
}

#[test]
fn evidence_after_a_scripted_month_gives_the_figures_the_script_implies() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    scripted_month(p);
    let o = at(
        p,
        "2026-11-30T12:00:00Z",
        &["evidence", "--since", "2026-11-01", "--format", "json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let l = &e["leavers"];
    assert_eq!(l["people"], 5, "{l:#}");
    assert_eq!(l["removed"], 5, "{l:#}");
    assert_eq!(l["still_enabled"], 0);
    // Four at 58 hours, one at 108: the median is 58, the 95th percentile 108.
    assert_eq!(l["median_hours"], 58.0, "{l:#}");
    assert_eq!(l["p95_hours"], 108.0, "{l:#}");
    assert_eq!(l["within_24_hours"], 0);
    assert_eq!(l["by_system"][0]["system"], "emis");
    assert_eq!(l["by_system"][0]["max_hours"], 108.0);
    assert_eq!(l["worst"][0]["employee_number"], "50000005");
    assert_eq!(l["worst"][0]["hours"], 108.0);
    let j = &e["joiners"];
    assert_eq!(j["people"], 2, "{j:#}");
    // Only EMIS is read here: one account each.
    assert_eq!(j["accounts"], 2, "{j:#}");
    assert_eq!(j["within_one_working_day"], 1, "{j:#}");
    assert_eq!(j["late"], 1, "{j:#}");
    assert_eq!(
        e["outside_changes"],
        serde_json::json!([{"system": "emis", "action": "enable", "count": 1}])
    );
    assert_eq!(e["audit_trail"]["intact"], true);
    assert!(e["audit_trail"]["head"].as_str().unwrap().contains(':'));
}

/// A line manager's pack read back: a typo refuses the file, a removal the role model
/// grants is a conflict (not made), a removal of what no role grants becomes a change
/// (an EMIS work item here) under the reviewer's name, and the attestation is in the
/// trail and in the evidence.
#[test]
fn a_completed_review_pack_is_attested_and_its_removals_made() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    scripted_month(p);
    let now = "2026-11-20T09:00:00Z";
    let o = at(
        p,
        now,
        &["review", "--manager", "50000099", "--out", "packs"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let pack = p.join("packs/review-50000099-2026-11-20.csv");
    let blank = std::fs::read_to_string(&pack).unwrap();
    // Staff still in post and their accounts: seven GPs and the two joiners, leavers out.
    let lines: Vec<&str> = blank.lines().skip(1).collect();
    assert!(lines.iter().all(|l| !l.contains(",50000001,")), "{blank}");
    assert!(lines.iter().any(|l| l.contains(",50000021,")), "{blank}");
    let reports = lines
        .iter()
        .find(|l| l.contains(",Reports,"))
        .expect("the ungranted profile is listed");
    assert!(reports.contains("no current role grants it"), "{reports}");
    // The manager decides: remove Reports and 50000006's GP profile (granted by the
    // role model), keep the rest, one line left undecided.
    let decide = |typo: bool| {
        let mut out = vec![blank.lines().next().unwrap().to_string()];
        let mut typo = typo;
        for (i, l) in lines.iter().enumerate() {
            let decision =
                if l.contains(",Reports,") || (l.contains(",50000006,") && l.contains(",GP,")) {
                    "remove"
                } else if i == 0 {
                    ""
                } else if std::mem::take(&mut typo) {
                    "kepp"
                } else {
                    "keep"
                };
            out.push(format!("{},{decision},", &l[..l.len() - 2]));
        }
        out.join("\n") + "\n"
    };
    std::fs::write(p.join("done.csv"), decide(true)).unwrap();
    let o = at(
        p,
        now,
        &["review", "record", "done.csv", "--as", "Mia Manager"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("decision `kepp`: write keep or remove"),
        "{}",
        text(&o)
    );
    let o = at(p, now, &["audit", "--format", "json"]);
    assert!(
        !text(&o).contains("review.attested"),
        "nothing recorded from a refused file"
    );

    std::fs::write(p.join("done.csv"), decide(false)).unwrap();
    let o = at(
        p,
        now,
        &["review", "record", "done.csv", "--as", "Mia Manager"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("1 removal(s), 1 granted by the role model and recorded as conflicts"),
        "{out}"
    );
    assert!(out.contains("1 line(s) undecided"), "{out}");
    let o = at(p, now, &["audit", "--format", "json"]);
    let trail: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let by = |action: &str| -> Vec<&serde_json::Value> {
        trail.iter().filter(|e| e["action"] == action).collect()
    };
    assert_eq!(by("review.conflict").len(), 1);
    assert_eq!(by("review.conflict")[0]["employee_number"], "50000006");
    let attested = by("review.attested");
    assert!(attested.len() >= 8, "{attested:?}");
    assert!(
        attested
            .iter()
            .all(|e| e["actor"] == "Mia Manager (turnstile review record)")
    );
    let revoke: Vec<&serde_json::Value> = by("change.revoke Reports");
    assert_eq!(revoke.len(), 1, "{trail:#?}");
    assert_eq!(revoke[0]["outcome"], "work_item");
    assert_eq!(revoke[0]["actor"], "Mia Manager (turnstile review record)");
    // The evidence counts the review.
    let o = at(
        p,
        "2026-11-30T12:00:00Z",
        &["evidence", "--since", "2026-11-01", "--format", "json"],
    );
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(e["reviews"][0]["manager"], "50000099", "{e:#}");
    assert_eq!(e["reviews"][0]["packs"], 1);
    assert_eq!(
        e["reviews"][0]["attested_by"][0],
        "Mia Manager (turnstile review record)"
    );
}

/// Without --compare, the last run on the same export file is the yardstick: an export
/// overwritten by a cut-short one is refused, a small real change is not.
#[test]
fn an_export_much_smaller_than_the_last_run_on_it_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let state = p.join("state");
    let full = std::fs::read_to_string(examples().join("exports/ad.csv")).unwrap();
    let run = |extra: &[&str]| {
        let pol = policy();
        let hr = examples().join("esr-extract.csv").display().to_string();
        let mut args = vec![
            "drift",
            "--policy",
            &pol,
            "--hr",
            &hr,
            "--export",
            "ad=ad.csv",
            "--today",
            "2026-11-23",
            "--out",
            "r.json",
        ];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_turnstile"))
            .args(&args)
            .current_dir(p)
            .env("XDG_STATE_HOME", &state)
            .output()
            .unwrap()
    };
    std::fs::write(p.join("ad.csv"), &full).unwrap();
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // The history names the files read: readable by its owner only.
    {
        use std::os::unix::fs::PermissionsExt;
        let kept = state.join("turnstile/drift-history.json");
        let mode = std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", kept.display());
    }
    // A few accounts fewer: a real change, taken.
    let fewer: String = full.lines().take(400).map(|l| format!("{l}\n")).collect();
    std::fs::write(p.join("ad.csv"), &fewer).unwrap();
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Cut to 100 rows: refused, naming the last run.
    let cut: String = full.lines().take(101).map(|l| format!("{l}\n")).collect();
    std::fs::write(p.join("ad.csv"), &cut).unwrap();
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("the ad export has 100 accounts where the last drift run on this file"),
        "{}",
        text(&o)
    );
    let o = run(&["--allow-shrink"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Taken once, it is the new yardstick.
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
