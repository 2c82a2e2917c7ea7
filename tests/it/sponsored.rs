//! Staff not on ESR through the sponsored identity feed: each with a sponsor and an end
//! date; the sponsor is told two weeks before the end (once, through a real SMTP server),
//! can extend it, and at the end the person is a leaver.

use super::drift::{policy, text, turnstile};
use super::inactivity::readable;
use super::peers::env;
use std::path::Path;

const SPONSORED: &str = "Reference,First Name,Last Name,Staff Group,Job Role,Organisation,Sponsor Employee Number,Start Date,End Date\n";

fn mail_to(to: &str) -> Vec<String> {
    let dir = Path::new(&env("SMTP_MAILDIR")).join("new");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|t| t.lines().any(|l| l.starts_with("To:") && l.contains(to)))
        .map(|t| readable(&t))
        .collect()
}

#[test]
fn a_sponsored_student_is_warned_about_extended_and_ends_as_a_leaver() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let tag = std::process::id();
    let sponsor = format!("sponsor-{tag}@example.nhs.uk");
    std::fs::write(
        p.join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"{}\"\n[reconcile]\nmax_removal_share = 1.0\n\
             [targets.ad]\ntype = \"export_file\"\npath = \"ad.csv\"\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"turnstile@example.nhs.uk\"\n\
             [notify]\nfallback = \"it-desk@example.nhs.uk\"\n",
            policy(),
            env("SMTP_PORT")
        ),
    )
    .unwrap();
    std::fs::write(
        p.join("esr.csv"),
        format!(
            "Employee Number,Assignment Number,Primary Assignment (Y/N),First Name,Last Name,Work Email,Staff Group,Job Role,Organisation,Assignment Status,Assignment Start Date,Assignment End Date\n\
             47000001,47000001-1,Y,Mary,Sister,{sponsor},Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,Active Assignment,01/04/2015,\n"
        ),
    )
    .unwrap();
    std::fs::write(
        p.join("sponsored.csv"),
        format!("{SPONSORED}S-1,Priya,Shah,Students,Student Nurse,Ward 7 Medicine,47000001,01/09/2026,15/12/2026\n"),
    )
    .unwrap();
    std::fs::write(
        p.join("ad.csv"),
        "Account,Employee Number,Display Name,Enabled,Last Logon,Entitlements\n\
         msister,47000001,Mary Sister,true,2026-11-20 08:30,GG-AllStaff;GG-Clinical;GG-Nursing\n\
         pshah,SP-S-1,Priya Shah,true,2026-11-20 08:30,GG-Students\n",
    )
    .unwrap();
    let o = turnstile(
        &["feed", "esr", "esr.csv", "--apply", "--today", "2026-11-23"],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = turnstile(
        &[
            "feed",
            "sponsored",
            "sponsored.csv",
            "--apply",
            "--today",
            "2026-11-23",
            "--extracted-at",
            "2026-11-23T06:00:00Z",
        ],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // Over two weeks before the end: nothing said.
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(mail_to(&sponsor).is_empty());
    // Two weeks before: the sponsor is told, once.
    let o = turnstile(&["reconcile", "--today", "2026-12-01"], p);
    assert!(text(&o).contains("1 sponsor notice(s)"), "{}", text(&o));
    let o = turnstile(&["reconcile", "--today", "2026-12-02"], p);
    assert!(!text(&o).contains("sponsor notice"), "{}", text(&o));
    let told = mail_to(&sponsor);
    assert_eq!(told.len(), 1);
    assert!(
        told[0].contains("Priya Shah (SP-S-1): access ends at the end of 15/12/2026"),
        "{}",
        told[0]
    );

    // Extended to the end of March: told again two weeks before that, not now.
    std::fs::write(
        p.join("sponsored.csv"),
        format!("{SPONSORED}S-1,Priya,Shah,Students,Student Nurse,Ward 7 Medicine,47000001,01/09/2026,31/03/2027\n"),
    )
    .unwrap();
    let o = turnstile(
        &[
            "feed",
            "sponsored",
            "sponsored.csv",
            "--apply",
            "--today",
            "2026-12-03",
            "--extracted-at",
            "2026-12-03T06:00:00Z",
        ],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = turnstile(&["reconcile", "--today", "2026-12-16"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("0 change(s)"),
        "extended: still in: {}",
        text(&o)
    );
    let o = turnstile(&["reconcile", "--today", "2027-03-20"], p);
    assert!(
        text(&o).contains("1 sponsor notice(s)"),
        "the new end date: {}",
        text(&o)
    );
    // The day after the end: a leaver, disabled.
    let o = turnstile(&["reconcile", "--today", "2027-04-01"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = turnstile(&["work-items", "--format", "json"], p);
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.contains("\"employee_number\":\"SP-S-1\"")
                && l.contains("\"action\":\"disable\"")),
        "{}",
        text(&o)
    );
    let about_ends: Vec<String> = mail_to(&sponsor)
        .into_iter()
        .filter(|m| m.contains("you sponsor ends soon"))
        .collect();
    assert_eq!(
        about_ends.len(),
        2,
        "told once per end date: {about_ends:?}"
    );

    // Drift judges them with everyone else and lists them apart.
    let o = turnstile(
        &[
            "drift",
            "--policy",
            &policy(),
            "--hr",
            "esr.csv",
            "--export",
            "ad=ad.csv",
            "--sponsored",
            "sponsored.csv",
            "--today",
            "2027-04-01",
            "--format",
            "json",
        ],
        p,
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let leaver = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["account"] == "pshah")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(leaver["category"], "leaver_still_active");
    assert_eq!(
        report["inputs"]["sponsored"],
        serde_json::json!([{"employee_number": "SP-S-1", "sponsor": "47000001", "ends": "2027-03-31"}])
    );
    // Without the sponsored file the account is linked to nobody HR knows.
    let o = turnstile(
        &[
            "drift",
            "--policy",
            &policy(),
            "--hr",
            "esr.csv",
            "--export",
            "ad=ad.csv",
            "--today",
            "2027-04-01",
            "--format",
            "json",
        ],
        p,
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["account"] == "pshah" && f["category"] == "orphan_account"),
        "{report}"
    );
}

/// Starters who will not start: one withdrawn in TRAC, one ESR never lists. The access
/// prepared for each goes as a leaver's, and the hiring manager is told once.
#[test]
fn starters_withdrawn_or_never_on_esr_lose_their_prepared_access() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let tag = std::process::id();
    let manager = format!("hiring-{tag}@example.nhs.uk");
    std::fs::write(
        p.join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"{}\"\n[reconcile]\nmax_removal_share = 1.0\n\
             [targets.ad]\ntype = \"export_file\"\npath = \"ad.csv\"\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"turnstile@example.nhs.uk\"\n\
             [notify]\nfallback = \"it-desk@example.nhs.uk\"\n",
            policy(),
            env("SMTP_PORT")
        ),
    )
    .unwrap();
    std::fs::write(
        p.join("esr.csv"),
        format!(
            "Employee Number,Assignment Number,Primary Assignment (Y/N),First Name,Last Name,Work Email,Staff Group,Job Role,Organisation,Assignment Status,Assignment Start Date,Assignment End Date\n\
             48000009,48000009-1,Y,Mary,Sister,{manager},Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,Active Assignment,01/04/2015,\n"
        ),
    )
    .unwrap();
    let trac = |status: &str| {
        format!(
            "Candidate Reference,First Name,Last Name,Post Title,Staff Group,Job Role,Department,Location,Start Date,Hiring Manager Employee Number,Position Number,Status\n\
             C-1,Zoe,Stays,Staff Nurse,Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,Main Hospital,04/01/2027,48000009,P-1,\n\
             C-2,Sam,Goes,Staff Nurse,Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,Main Hospital,04/01/2027,48000009,P-2,{status}\n"
        )
    };
    std::fs::write(p.join("trac.csv"), trac("")).unwrap();
    // Both prepared on AD: disabled, in their groups.
    std::fs::write(
        p.join("ad.csv"),
        "Account,Employee Number,Display Name,Enabled,Last Logon,Entitlements\n\
         msister,48000009,Mary Sister,true,2026-12-20 08:30,GG-AllStaff;GG-Clinical;GG-Nursing\n\
         zstays,TRAC-C-1,Zoe Stays,false,,GG-AllStaff;GG-Clinical;GG-Nursing\n\
         sgoes,TRAC-C-2,Sam Goes,false,,GG-AllStaff;GG-Clinical;GG-Nursing\n",
    )
    .unwrap();
    for (feed, file, at) in [
        ("esr", "esr.csv", "2026-12-01T06:00:00Z"),
        ("trac", "trac.csv", "2026-12-01T06:00:00Z"),
    ] {
        let o = turnstile(
            &[
                "feed",
                feed,
                file,
                "--apply",
                "--today",
                "2026-12-30",
                "--extracted-at",
                at,
            ],
            p,
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let o = turnstile(&["reconcile", "--today", "2026-12-30"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("0 change(s)"),
        "both prepared as they should be: {}",
        text(&o)
    );

    // TRAC withdraws Sam's offer: his prepared access goes; the manager is told.
    std::fs::write(p.join("trac.csv"), trac("Withdrawn")).unwrap();
    let o = turnstile(
        &[
            "feed",
            "trac",
            "trac.csv",
            "--apply",
            "--today",
            "2026-12-31",
            "--extracted-at",
            "2026-12-31T06:00:00Z",
        ],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = turnstile(&["reconcile", "--today", "2026-12-31"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("1 hiring manager notice(s)"),
        "{}",
        text(&o)
    );
    let o = turnstile(&["work-items", "--format", "json"], p);
    let items = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        items
            .lines()
            .any(|l| l.contains("TRAC-C-2") && l.contains("revoke GG-Nursing")),
        "{items}"
    );
    assert!(!items.contains("TRAC-C-1"), "Zoe still starts: {items}");

    // Zoe's start (4 January) passes and ESR never lists her: after 14 days, the same.
    let o = turnstile(&["reconcile", "--today", "2027-01-18"], p);
    assert!(!text(&o).contains("not starting"), "not yet: {}", text(&o));
    let o = turnstile(&["reconcile", "--today", "2027-01-19"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("1 TRAC starter(s) not on ESR 14 days after their start date"),
        "{}",
        text(&o)
    );
    let o = turnstile(&["work-items", "--format", "json"], p);
    let items = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        items
            .lines()
            .any(|l| l.contains("TRAC-C-1") && l.contains("revoke GG-Nursing")),
        "{items}"
    );
    let told: Vec<String> =
        std::fs::read_dir(std::path::Path::new(&env("SMTP_MAILDIR")).join("new"))
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .filter(|t| t.contains(&manager) && t.contains("not starting"))
            .map(|t| readable(&t))
            .collect();
    assert_eq!(told.len(), 2, "once for each: {told:?}");
    assert!(
        told.iter()
            .any(|t| t.contains("Sam Goes (TRAC-C-2), due to start 04/01/2027")),
        "{told:?}"
    );
    let o = turnstile(&["audit", "--format", "json"], p);
    assert_eq!(
        text(&o).matches("starter.withdrawn").count(),
        2,
        "{}",
        text(&o)
    );
}
