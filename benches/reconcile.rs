//! A full reconcile at scale: 100,000 HR persons against 100,000 accounts in slapd (made
//! with `ldapadd`, not through Turnstile), beside a bare paged ldap3 search of the same
//! directory in the same run. Wall time and peak RSS of `turnstile reconcile` come from
//! `/usr/bin/time -v`; the bare search runs in this process.
//!
//! `scripts/bench-reconcile.sh` builds the release binary, starts the peers and runs this
//! (`TURNSTILE_BENCH_PEOPLE`, default 100000). The directory is already right for every
//! person (the daily case): the run reads, records, plans and applies nothing.

#[allow(dead_code)]
mod common;

use common::peers;
use std::io::Write;
use std::process::Command;
use std::time::Instant;

const MODEL: &str = r#"version = 1
[systems.dir]
name = "Directory"
leaver = "disable_and_revoke"
manages = ["GG-*"]
[roles.nurse]
grants = { dir = [] }
[[rules]]
id = "nurses"
grant = ["nurse"]
match = { job_role = ["Staff Nurse"] }
"#;

/// What the connector reads of each entry, so the floor reads it too.
const ATTRS: &[&str] = &[
    "uid",
    "employeeNumber",
    "cn",
    "displayName",
    "title",
    "ou",
    "mail",
    "manager",
    "employeeType",
];

fn main() {
    let people = common::env_or("TURNSTILE_BENCH_PEOPLE", 100_000) as usize;
    let bin = std::env::var("TURNSTILE_BIN").unwrap_or_else(|_| "target/release/turnstile".into());
    let p = peers();
    let (url, bind, pw, base) = (
        &p["SLAPD_URL"],
        &p["SLAPD_BIND"],
        &p["SLAPD_PASSWORD"],
        &p["SLAPD_BASE"],
    );
    let run = format!("R{}", std::process::id());
    let ou = format!("ou={run},{base}");
    let staff = format!("ou=Staff,{ou}");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // The directory: an OU of its own and the people. (No group: slapd's test instance
    // cannot index one entry holding 100,000 members.)
    let mut ldif = String::new();
    let mut esr = String::from(
        "Employee Number,Assignment Number,Primary Assignment (Y/N),First Name,Last Name,Job Role,Position Title,Organisation,Assignment Status,Assignment Start Date,Assignment End Date\n",
    );
    for i in 0..people {
        let n = format!("{run}-{i}");
        let uid = format!("b{i}x{run}").to_lowercase();
        ldif.push_str(&format!(
            "dn: uid={uid},{staff}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: Bench {i}\nsn: P{i}\n\
             displayName: Bench P{i}\ntitle: Staff Nurse\nou: Ward 7\nemployeeNumber: {n}\n\n"
        ));
        esr.push_str(&format!(
            "{n},{n}-1,Y,Bench,P{i},Staff Nurse,Staff Nurse,Ward 7,Active Assignment,01/01/2020,\n"
        ));
    }
    let trust = common::SlapdTrust {
        bin: &bin,
        dir: d,
        peers: &p,
        ou: &ou,
        model: MODEL,
    };
    trust.load(people, &ldif, &esr);

    let timed = |label: &str, args: &[&str]| common::timed(&bin, d, label, args);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for round in 1..=3 {
        let t = Instant::now();
        let n = rt.block_on(common::bare_search(url, bind, pw, &staff, ATTRS));
        let bare = t.elapsed().as_secs_f64();
        assert_eq!(n, people);
        let (ours, rss, out) = timed("reconcile", &["reconcile", "--today", "2026-11-23"]);
        assert!(
            out.contains(&format!("dir: {people} accounts read, 0 change(s)")),
            "{out}"
        );
        println!(
            "round {round}: bare paged ldap3 search {bare:.2} s; turnstile reconcile {ours:.2} s, peak RSS {} MB; ratio {:.2}",
            rss / 1024,
            ours / bare
        );
        rows.push((bare, ours, rss));
    }
    let bare = common::median(rows.iter().map(|r| r.0).collect());
    let ours = common::median(rows.iter().map(|r| r.1).collect());
    let rss = rows.iter().map(|r| r.2).max().unwrap_or(0);
    println!(
        "reconcile of {people} persons against {people} slapd accounts: median {ours:.2} s vs bare search {bare:.2} s (ratio {:.2}; goal <= 1.5), peak RSS {} MB (goal <= 300)",
        ours / bare,
        rss / 1024
    );
    common::result(
        &format!(
            "reconcile {people} HR records × {people} slapd accounts (peak {} MB)",
            rss / 1024
        ),
        ours,
        bare,
        "s",
        "bare paged ldap3 search",
        true,
    );
    let _ = std::io::stdout().flush();
    // Leave the directory as it was.
    let _ = Command::new("ldapdelete")
        .args(["-x", "-r", "-H", url, "-D", bind, "-w", pw, &ou])
        .output();
}
