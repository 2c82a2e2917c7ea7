//! `turnstile drift` on files it has never seen: synthetic trusts with planted problems
//! (several seeds), a hand-written trust in another tool's export format, and bad input.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

pub fn turnstile(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_turnstile"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// What a run printed, standard output then standard error.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn policy() -> String {
    format!("{}/examples/role-model.toml", env!("CARGO_MANIFEST_DIR"))
}

type Key = (String, String, String, String);

fn read_findings(path: &Path) -> BTreeSet<Key> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    let (c, s, a, e) = (
        col("category"),
        col("system"),
        col("account"),
        col("employee_number"),
    );
    r.records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[c].to_string(),
                r[s].to_string(),
                r[a].to_string(),
                r[e].to_string(),
            )
        })
        .collect()
}

fn synth(dir: &Path, staff: u32, seed: u32, bad_rows: u32) {
    let status = Command::new(env!("CARGO_BIN_EXE_turnstile-synth"))
        .args([
            "--staff",
            &staff.to_string(),
            "--seed",
            &seed.to_string(),
            "--today",
            "2026-11-23",
        ])
        .args(["--bad-rows", &bad_rows.to_string(), "--out"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
}

fn exports(dir: &Path) -> Vec<String> {
    ["ad", "nhsmail", "emis", "systmone", "smartcard"]
        .iter()
        .flat_map(|s| {
            [
                "--export".to_string(),
                format!(
                    "{s}={}",
                    dir.join("exports").join(format!("{s}.csv")).display()
                ),
            ]
        })
        .collect()
}

#[test]
fn finds_every_planted_problem_and_nothing_else() {
    for (staff, seed, bad) in [(1500, 1, 0), (2500, 29, 3), (800, 4242, 1)] {
        let dir = tempfile::tempdir().unwrap();
        synth(dir.path(), staff, seed, bad);
        let hr = dir.path().join("esr-extract.csv").display().to_string();
        let out = dir.path().join("report.csv").display().to_string();
        let pol = policy();
        let mut args = vec!["drift", "--hr", &hr, "--policy", &pol];
        let ex = exports(dir.path());
        args.extend(ex.iter().map(String::as_str));
        args.extend(["--today", "2026-11-23", "--format", "csv", "--out", &out]);
        let o = turnstile(&args, dir.path());
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{stderr}");
        let expected = read_findings(&dir.path().join("expected-findings.csv"));
        let got = read_findings(Path::new(&out));
        let categories: BTreeSet<&str> = expected.iter().map(|k| k.0.as_str()).collect();
        assert!(
            categories.len() >= 8,
            "every category planted: {categories:?}"
        );
        assert_eq!(
            got.difference(&expected).collect::<Vec<_>>(),
            Vec::<&Key>::new(),
            "found but not planted (seed {seed})"
        );
        assert_eq!(
            expected.difference(&got).collect::<Vec<_>>(),
            Vec::<&Key>::new(),
            "planted but not found (seed {seed})"
        );
        // Bad rows are named with their line and the rest still went through.
        assert_eq!(stderr.matches("held back").count() as u32, bad, "{stderr}");
    }
}

const ESR: &str = "\
employee number , ASSIGNMENT NUMBER,Primary Assignment (Y/N),Title,First Name,Last Name,Known As,Work Email,Smartcard UUID,Staff Group,Job Role,Occupation Code,Position Number,Position Title,Organisation,Cost Centre,Location,Supervisor Employee Number,Assignment Status,Assignment Start Date,Assignment End Date,Grade
30000001,30000001-1,Y,Ms,Zoë,O'Brien,,zoe.obrien@nhs.net,,Nursing and Midwifery Registered,Staff Nurse,N0C,P1,Staff Nurse,Ward 3 Surgery,RX1-1,Main,30000009,Active Assignment,2015-01-01,,Band 5
30000002,30000002-1,Y,Mr,Tom,\"Smith, Jr\",,,,Admin and Clerical,Receptionist,G0R,P2,Receptionist,Riverside Practice,RX1-2,Main,30000009,Terminate Assignment,01/01/2016,31/10/2026,Band 3
30000003,30000003-1,Y,Dr,Ana,Ruiz,,,,Medical and Dental,General Practitioner,M2G,P3,GP,Riverside Practice,RX1-3,Main,30000009,Active Assignment,01/01/2017,,
30000004,30000004-1,Y,Mr,Raj,Shah,,,,Estates and Ancillary,Porter,E0P,P4,Porter,Estates,RX1-4,Main,30000009,Maternity and Adoption,01/01/2018,,
30000005,30000005-1,Y,Ms,Kim,Lee,,,,Admin and Clerical,Administrator,G0A,P5,Clerk,Finance,RX1-5,Main,30000009,Acting Up,01/01/2019,,
30000006,30000006-1,Y,Ms,Bad,Row,,,,Admin and Clerical,Administrator,G0A,P6,Clerk,Finance,RX1-5,Main,30000009,Gardening Leave,01/01/2019,,
";

// An AD Export-Csv file as it comes: its own column names, memberOf as DNs, True/False.
const AD: &str = "\
\"SamAccountName\",\"EmployeeID\",\"Name\",\"Enabled\",\"LastLogonDate\",\"MemberOf\"
\"zobrien\",\"30000001\",\"Zoë O'Brien\",\"True\",\"20/11/2026 08:01:02\",\"CN=GG-AllStaff,OU=Groups,DC=x;CN=GG-Clinical,OU=Groups,DC=x;CN=GG-Nursing,OU=Groups,DC=x;CN=Domain Users,CN=Users,DC=x\"
\"tsmith\",\"30000002\",\"Tom Smith, Jr\",\"True\",\"30/10/2026 17:00:00\",\"CN=GG-AllStaff,OU=Groups,DC=x;CN=GG-Admin,OU=Groups,DC=x\"
\"aruiz\",\"30000003\",\"Ana Ruiz\",\"True\",\"01/06/2026 09:00:00\",\"CN=GG-AllStaff,OU=Groups,DC=x;CN=GG-Clinical,OU=Groups,DC=x;CN=GG-GP,OU=Groups,DC=x;CN=GG-IT-Admins,OU=Groups,DC=x\"
\"rshah\",\"30000004\",\"Raj Shah\",\"True\",\"01/01/2026 09:00:00\",\"CN=GG-AllStaff,OU=Groups,DC=x;CN=GG-Estates,OU=Groups,DC=x\"
\"klee\",\"30000005\",\"Kim Lee\",\"True\",\"\",\"CN=GG-AllStaff,OU=Groups,DC=x\"
\"brow\",\"30000006\",\"Bad Row\",\"True\",\"\",\"\"
\"reception.desk\",\"\",\"Reception Desk\",\"True\",\"22/11/2026 07:00:00\",\"\"
\"svc-backup\",\"\",\"Backup service\",\"True\",\"22/11/2026 07:00:00\",\"\"
\"svc-old\",\"\",\"Old service\",\"False\",\"\",\"\"
";

// An EMIS user report with the CONTRACT columns.
const EMIS: &str = "\
Account,Employee Number,Display Name,Enabled,Last Logon,Entitlements
ARUIZ,30000003,Dr Ana Ruiz,true,2026-11-22,GP
TSMITH,30000002,Tom Smith,false,2026-10-30,Receptionist
TSMITH2,30000002,Tom Smith,true,2026-11-01,Receptionist
";

const CONFIG: &str = "\
[exports.ad]
account = \"SamAccountName\"
employee_number = \"EmployeeID\"
display_name = \"Name\"
last_logon = \"LastLogonDate\"
entitlements = \"MemberOf\"
entitlements_are_dns = true
";

#[test]
fn reads_another_trusts_files_as_they_come() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("esr.csv"), ESR).unwrap();
    std::fs::write(p.join("ad.csv"), AD).unwrap();
    std::fs::write(p.join("emis.csv"), EMIS).unwrap();
    std::fs::write(p.join("turnstile.toml"), CONFIG).unwrap();
    let o = turnstile(
        &[
            "drift",
            "--hr",
            "esr.csv",
            "--export",
            "ad=ad.csv",
            "--export",
            "emis=emis.csv",
            "--policy",
            &policy(),
            "--today",
            "2026-11-23",
            "--format",
            "json",
            "--out",
            "r.json",
        ],
        p,
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("esr.csv:7: `Assignment Status` \"Gardening Leave\""),
        "{stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("r.json")).unwrap()).unwrap();
    let got: BTreeSet<(String, String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["category"].as_str().unwrap().into(),
                f["system"].as_str().unwrap().into(),
                f["account"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String, String)> = [
        ("leaver_still_active", "ad", "tsmith"),
        ("leaver_still_active", "emis", "TSMITH2"),
        // Its EMIS logon is after the last working day.
        ("used_after_leaving", "emis", "TSMITH2"),
        ("excess_entitlement", "ad", "aruiz"),
        ("dormant_account", "ad", "aruiz"),
        ("generic_account", "ad", "reception.desk"),
        ("orphan_account", "ad", "svc-backup"),
        ("missing_entitlement", "ad", "klee"),
        ("dormant_account", "ad", "klee"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(got, want, "{:#}", report["findings"]);
    assert_eq!(report["summary"]["leaver_still_active"], 2);
    assert_eq!(report["summary"]["duplicate_account"], 0);
    assert_eq!(report["inputs"]["people_held_back"], 1);
    // Raj is on maternity leave: his old logon is not dormancy. Only the GP and the
    // receptionist are granted EMIS, so no EMIS account is missing.
    assert_eq!(report["summary"]["missing_account"], 0);
}
#[test]
fn bad_input_exits_2_with_the_file_and_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("esr.csv"), ESR).unwrap();
    std::fs::write(p.join("emis.csv"), EMIS).unwrap();
    std::fs::write(
        p.join("no-account-col.csv"),
        "Login,Employee Number,Enabled\nx,1,true\n",
    )
    .unwrap();
    std::fs::write(
        p.join("all-bad.csv"),
        "Account,Employee Number,Enabled\nx,1,perhaps\ny,2,\n",
    )
    .unwrap();
    std::fs::write(
        p.join("binary.csv"),
        [0xff_u8, 0xfe, 0x00, 0x41, 0x0a, 0x80, 0x81, 0x0a],
    )
    .unwrap();
    std::fs::write(p.join("empty.csv"), "").unwrap();
    let pol = policy();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--hr", "esr.csv", "--export", "ad=no-account-col.csv"],
            "no-account-col.csv: the header has no `Account` column",
        ),
        (
            vec!["--hr", "esr.csv", "--export", "ad=all-bad.csv"],
            "all-bad.csv: none of its 2 rows could be read",
        ),
        (
            vec!["--hr", "esr.csv", "--export", "ad=missing.csv"],
            "missing.csv: cannot read it",
        ),
        (
            vec!["--hr", "esr.csv", "--export", "sharepoint=emis.csv"],
            "declares no system `sharepoint`",
        ),
        (
            vec!["--hr", "esr.csv", "--export", "emis.csv"],
            "write it as SYSTEM=FILE",
        ),
        (
            vec![
                "--hr",
                "esr.csv",
                "--export",
                "emis=emis.csv",
                "--export",
                "emis=emis.csv",
            ],
            "given twice",
        ),
        (
            vec!["--hr", "binary.csv", "--export", "emis=emis.csv"],
            "binary.csv",
        ),
        (
            vec!["--hr", "empty.csv", "--export", "emis=emis.csv"],
            "empty.csv",
        ),
        (
            vec!["--hr", "emis.csv", "--export", "emis=emis.csv"],
            "emis.csv: the header has no `Assignment Number` column",
        ),
        (
            vec![
                "--hr",
                "esr.csv",
                "--export",
                "emis=emis.csv",
                "--today",
                "23/11/2026",
            ],
            "--today",
        ),
        (
            vec![
                "--hr",
                "esr.csv",
                "--export",
                "emis=emis.csv",
                "--format",
                "pdf",
            ],
            "pdf",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["drift", "--policy", &pol];
        args.extend(extra.iter().copied());
        let o = turnstile(&args, p);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(
            stderr.contains(needle),
            "{extra:?}: wanted {needle:?} in {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn fail_on_drift_exits_3_and_formats_render() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("esr.csv"), ESR).unwrap();
    std::fs::write(p.join("emis.csv"), EMIS).unwrap();
    let pol = policy();
    let base = [
        "drift",
        "--policy",
        &pol,
        "--hr",
        "esr.csv",
        "--export",
        "emis=emis.csv",
        "--today",
        "2026-11-23",
    ];
    let o = turnstile(
        &[
            &base[..],
            &["--fail-on-drift", "--format", "html", "--out", "r.html"],
        ]
        .concat(),
        p,
    );
    assert_eq!(o.status.code(), Some(3));
    let html = std::fs::read_to_string(p.join("r.html")).unwrap();
    assert!(
        html.contains("leaver_still_active")
            && html.contains("TSMITH2")
            && html.contains("class=\"matrix\"")
    );
    let o = turnstile(&[&base[..], &["--format", "csv"]].concat(), p);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.starts_with("category,system,account,employee_number,detail,severity\n"),
        "{text}"
    );
}
