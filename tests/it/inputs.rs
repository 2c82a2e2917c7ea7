//! Files as trusts really have them (issue 14's defects): Windows-1252 text, CRLF line
//! ends, PowerShell 5.1's `#TYPE` line and unjoined collections, `;` separators, Excel
//! workbooks, empty exports, a report's format from its file name, a missing role model,
//! and a reader that goes away.

use crate::drift::{policy, text, turnstile};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

const ESR_HEADER: &str = "Employee Number,Assignment Number,Primary Assignment (Y/N),First Name,Last Name,Staff Group,Job Role,Assignment Status,Assignment Start Date,Assignment End Date";
const EXPORT_HEADER: &str = "Account,Employee Number,Display Name,Enabled,Last Logon,Entitlements";

/// An extract of `n` nurses (the first named Zoë Siân), as `encode` writes it.
fn esr(dir: &Path, n: u32, line_end: &str, encode: impl Fn(&str) -> Vec<u8>) {
    let mut out = format!("{ESR_HEADER}{line_end}");
    for i in 0..n {
        let (first, last) = if i == 0 {
            ("Zoë", "Siân")
        } else {
            ("Ann", "Other")
        };
        out.push_str(&format!(
            "{},{}-1,Y,{first},{last},Nursing and Midwifery Registered,Staff Nurse,Active Assignment,01/04/2020,{line_end}",
            30_000_000 + i,
            30_000_000 + i
        ));
    }
    std::fs::write(dir.join("esr.csv"), encode(&out)).unwrap();
}

fn utf8(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// Windows-1252, as Excel and PowerShell 5.1 save it (these tests' text is Latin-1).
fn cp1252(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("Latin-1 text"))
        .collect()
}

fn drift(dir: &Path, export: &str, extra: &[&str]) -> std::process::Output {
    let policy = policy();
    let mut args = vec![
        "drift",
        "--policy",
        &policy,
        "--hr",
        "esr.csv",
        "--export",
        export,
        "--today",
        "2026-11-23",
    ];
    args.extend_from_slice(extra);
    turnstile(&args, dir)
}

fn report(dir: &Path, export: &str) -> serde_json::Value {
    let o = drift(dir, export, &["--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn windows_1252_files_are_read_as_excel_saved_them() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    esr(p, 3, "\r\n", cp1252);
    let export = format!(
        "{EXPORT_HEADER}\r\nzsian,30000000,Zoë Siân,true,2026-11-20,GG-Nursing\r\nzsian2,30000000,Zoë Siân,true,2026-11-20,\r\nother1,99999999,Ölaf Orphan,true,2026-11-20,\r\n"
    );
    std::fs::write(p.join("ad.csv"), cp1252(&export)).unwrap();
    let r = report(p, "ad=ad.csv");
    assert_eq!(
        r["inputs"]["row_errors"],
        serde_json::json!([]),
        "{}",
        r["inputs"]
    );
    let duplicate = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["category"] == "duplicate_account")
        .expect("the duplicate is found");
    assert!(
        duplicate["detail"]
            .as_str()
            .unwrap()
            .contains("Zoë Siân has 2"),
        "the extract's names decoded, not mangled: {duplicate}"
    );
    // Forcing UTF-8 makes the same lines errors, each named.
    let o = drift(p, "ad=ad.csv", &["--encoding", "utf-8"]);
    assert!(text(&o).contains("not UTF-8"), "{}", text(&o));
}

#[test]
fn crlf_files_name_the_bad_line_itself() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    esr(p, 40, "\r\n", utf8);
    let mut lines: Vec<String> = std::fs::read_to_string(p.join("esr.csv"))
        .unwrap()
        .split("\r\n")
        .map(str::to_string)
        .collect();
    // Line 5 of the file (the fourth data row) gets a date that does not exist.
    lines[4] = lines[4].replace("01/04/2020", "31/02/2020");
    std::fs::write(p.join("esr.csv"), lines.join("\r\n")).unwrap();
    std::fs::write(
        p.join("ad.csv"),
        format!("{EXPORT_HEADER}\r\nx,30000000,Zoë Siân,true,,\r\n"),
    )
    .unwrap();
    let o = drift(p, "ad=ad.csv", &["--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("esr.csv:5:"), "{}", text(&o));
    assert!(!text(&o).contains("esr.csv:4:"), "{}", text(&o));
}

#[test]
fn powershell_exports_read_as_they_come_or_are_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    esr(p, 2, "\n", utf8);
    // Windows PowerShell 5.1's Export-Csv without -NoTypeInformation, `;` as in a
    // European locale's -UseCulture.
    std::fs::write(
        p.join("ad.csv"),
            "#TYPE Selected.Microsoft.ActiveDirectory.Management.ADUser\r\n\"Account\";\"Employee Number\";\"Display Name\";\"Enabled\";\"Last Logon\";\"Entitlements\"\r\n\"zsian\";\"30000000\";\"Zoë Siân\";\"True\";\"2026-11-20\";\"GG-AllStaff,x\"\r\n\"aother1\";\"30000001\";\"Ann Other\";\"True\";\"2026-11-20\";\"GG-AllStaff\"\r\n",
    )
    .unwrap();
    let r = report(p, "ad=ad.csv");
    assert_eq!(r["inputs"]["accounts"]["ad"], 2, "{}", r["inputs"]);
    // MemberOf exported without joining it.
    std::fs::write(
        p.join("ad.csv"),
        format!(
            "{EXPORT_HEADER}\nzsian,30000000,Zoë Siân,true,,Microsoft.ActiveDirectory.Management.ADPropertyValueCollection\n"
        ),
    )
    .unwrap();
    let o = drift(p, "ad=ad.csv", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("-join ';'"), "{}", text(&o));
    assert!(text(&o).contains("-NoTypeInformation"), "{}", text(&o));
    // An Excel workbook.
    std::fs::write(
        p.join("ad.xlsx"),
        b"PK\x03\x04\x14\x00\x06\x00rest of a zip",
    )
    .unwrap();
    let o = drift(p, "ad=ad.xlsx", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("CSV UTF-8"), "{}", text(&o));
}

#[test]
fn an_empty_export_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    esr(p, 5, "\n", utf8);
    std::fs::write(p.join("ad.csv"), format!("{EXPORT_HEADER}\n")).unwrap();
    let o = drift(p, "ad=ad.csv", &[]);
    assert_eq!(o.status.code(), Some(2), "no false assurance: {}", text(&o));
    assert!(text(&o).contains("--allow-empty"), "{}", text(&o));
    let o = drift(p, "ad=ad.csv", &["--allow-empty"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn the_report_format_follows_the_file_name_and_a_missing_model_says_pass_policy() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    esr(p, 2, "\n", utf8);
    std::fs::write(
        p.join("ad.csv"),
        format!("{EXPORT_HEADER}\nzsian,30000000,Zoë Siân,true,,\n"),
    )
    .unwrap();
    let o = drift(p, "ad=ad.csv", &["--out", "report.html"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let html = std::fs::read_to_string(p.join("report.html")).unwrap();
    assert!(
        html.trim_start()
            .to_ascii_lowercase()
            .starts_with("<!doctype html>"),
        "{}",
        &html[..80.min(html.len())]
    );
    let o = drift(p, "ad=ad.csv", &["--out", "report.txt"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--format"), "{}", text(&o));
    let o = turnstile(&["drift", "--hr", "esr.csv", "--export", "ad=ad.csv"], p);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("pass --policy"), "{}", text(&o));
}

#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    esr(p, 600, "\n", utf8);
    std::fs::write(
        p.join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"{}\"\n",
            policy()
        ),
    )
    .unwrap();
    let o = turnstile(
        &["feed", "esr", "esr.csv", "--apply", "--today", "2026-11-23"],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // `turnstile audit | head -1`: the reader takes one line and closes the pipe.
    let mut child = Command::new(env!("CARGO_BIN_EXE_turnstile"))
        .arg("audit")
        .current_dir(p)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("Broken pipe"), "{err}");
    // The record's reason reads as what it is, and the actor is the person who fed it.
    let o = turnstile(&["audit", "--person", "30000000", "--format", "json"], p);
    let trail = text(&o);
    assert!(trail.contains("in post since 2020-04-01"), "{trail}");
    assert!(trail.contains("(turnstile feed esr)"), "{trail}");
}

/// Each trust's ESR report names its columns its own way: `[feeds.esr]` maps them, and a
/// key that is not an ESR column is refused by name.
#[test]
fn esr_columns_are_renamed_per_trust() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    esr(p, 2, "\n", utf8);
    let renamed = std::fs::read_to_string(p.join("esr.csv"))
        .unwrap()
        .replacen("Employee Number", "Staff No", 1)
        .replacen("Assignment Status", "Asg Status", 1);
    std::fs::write(p.join("esr.csv"), renamed).unwrap();
    std::fs::write(
        p.join("ad.csv"),
        format!("{EXPORT_HEADER}\nzsian,30000000,Zoë Siân,true,2026-11-20,\n"),
    )
    .unwrap();
    let o = drift(p, "ad=ad.csv", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("Employee Number"), "{}", text(&o));
    std::fs::write(
        p.join("turnstile.toml"),
        "[feeds.esr]\n\"Employee Number\" = \"Staff No\"\n\"Assignment Status\" = \"Asg Status\"\n",
    )
    .unwrap();
    let r = report(p, "ad=ad.csv");
    assert_eq!(r["inputs"]["people"], 2, "{}", r["inputs"]);
    std::fs::write(
        p.join("turnstile.toml"),
        "[feeds.esr]\n\"Employee Numbr\" = \"Staff No\"\n",
    )
    .unwrap();
    let o = drift(p, "ad=ad.csv", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("[feeds.esr] `Employee Numbr` is not a column"),
        "{}",
        text(&o)
    );
}

/// `turnstile work-items` lists what `reconcile` raised for a system with no API, in
/// text, JSON (one object a line) and CSV with formula prefixes neutralised.
#[test]
fn work_items_are_listed_in_each_format() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    esr(p, 2, "\n", utf8);
    std::fs::write(p.join("systmone.csv"), format!("{EXPORT_HEADER}\n")).unwrap();
    std::fs::write(
        p.join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"{}\"\n[targets.systmone]\ntype = \"export_file\"\npath = \"systmone.csv\"\n",
            policy()
        ),
    )
    .unwrap();
    let o = turnstile(
        &["feed", "esr", "esr.csv", "--apply", "--today", "2026-11-23"],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("work item(s) raised"), "{}", text(&o));
    let o = turnstile(&["work-items", "--format", "json"], p);
    let items: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!items.is_empty(), "{}", text(&o));
    for i in &items {
        assert_eq!(i["system"], "systmone");
        assert_eq!(i["status"], "open");
        for field in ["id", "employee_number", "action", "detail", "raised_at"] {
            assert!(!i[field].is_null(), "{field} in {i}");
        }
    }
    let o = turnstile(&["work-items", "--format", "csv", "--status", "open"], p);
    let csv = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(csv.starts_with("reference,system,employee_number"), "{csv}");
    assert_eq!(csv.lines().count(), items.len() + 1, "{csv}");
    let o = turnstile(&["work-items", "--status", "confirmed"], p);
    assert!(text(&o).contains("no work items"), "{}", text(&o));
    let o = turnstile(&["work-items", "--status", "done"], p);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
