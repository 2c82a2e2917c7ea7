//! Day one at scale: 100,000 HR persons against 100,000 accounts in slapd made by hand
//! (with `ldapadd`) and carrying **no employee number**, beside a bare paged ldap3 search
//! of the same directory (the same attributes) in the same run. Half the people have
//! their work email on their account; the other half are found by name + department.
//!
//! Timed with `/usr/bin/time -v`: `turnstile onboard` (read, correlate, classify every
//! person and account, write the JSON survey; touches nothing) and the first
//! `turnstile reconcile` (read, correlate, store 100,000 proposals; creates nothing).
//! `scripts/bench-correlate.sh` builds the release binary, starts the peers and runs
//! this (`TURNSTILE_BENCH_PEOPLE`, default 100000).

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
    "givenName",
    "sn",
    "l",
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
    let run = format!("C{}", std::process::id());
    let ou = format!("ou={run},{base}");
    let staff = format!("ou=Staff,{ou}");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // The directory: an OU of its own and the people. (No group: slapd's test instance
    // cannot index one entry holding 100,000 members.)
    let mut ldif = String::new();
    let mut esr = String::from(
        "Employee Number,Assignment Number,Primary Assignment (Y/N),First Name,Last Name,Work Email,Job Role,Position Title,Organisation,Assignment Status,Assignment Start Date,Assignment End Date\n",
    );
    for i in 0..people {
        let n = format!("{run}-{i}");
        // Made by hand: a name of their own choosing, no employee number.
        let uid = format!("h{i}x{run}").to_lowercase();
        let ward = format!("Ward {}", i % 50);
        let mail = if i % 2 == 0 {
            format!("bench.p{i}.{run}@nhs.net").to_lowercase()
        } else {
            String::new()
        };
        ldif.push_str(&format!(
            "dn: uid={uid},{staff}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: Bench P{i}\ngivenName: Bench\nsn: P{i}\n\
             displayName: Bench P{i}\ntitle: Staff Nurse\nou: {ward}\n{}\n",
            if mail.is_empty() { String::new() } else { format!("mail: {mail}\n") }
        ));
        esr.push_str(&format!(
            "{n},{n}-1,Y,Bench,P{i},{mail},Staff Nurse,Staff Nurse,{ward},Active Assignment,01/01/2020,\n"
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
        let (ours, rss, _) = timed(
            "onboard",
            &[
                "onboard",
                "--system",
                "dir",
                "--today",
                "2026-11-23",
                "--out",
                "survey.json",
            ],
        );
        let survey: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("survey.json")).unwrap()).unwrap();
        assert_eq!(
            survey["people_by_class"]["strong"].as_u64(),
            Some(people as u64),
            "every person found strongly: {}",
            survey["people_by_class"]
        );
        println!(
            "round {round}: bare paged ldap3 search {bare:.2} s; turnstile onboard {ours:.2} s, peak RSS {} MB; ratio {:.2}",
            rss / 1024,
            ours / bare
        );
        rows.push((bare, ours, rss));
    }
    let bare = common::median(rows.iter().map(|r| r.0).collect());
    let ours = common::median(rows.iter().map(|r| r.1).collect());
    let rss = rows.iter().map(|r| r.2).max().unwrap_or(0);
    println!(
        "correlating {people} persons against {people} unanchored slapd accounts (onboard): median {ours:.2} s vs bare search {bare:.2} s (ratio {:.2}; goal <= 2), peak RSS {} MB (goal <= 400)",
        ours / bare,
        rss / 1024
    );
    common::result(
        &format!(
            "correlation (onboard) of {people} people × {people} unanchored slapd accounts (peak {} MB)",
            rss / 1024
        ),
        ours,
        bare,
        "s",
        "bare paged ldap3 search",
        true,
    );
    // The first reconcile: every person proposed, in one transaction; nothing created.
    let (first, rss, out) = timed("reconcile", &["reconcile", "--today", "2026-11-23"]);
    assert!(
        out.contains(&format!("{people} proposed, 0 disputed")),
        "{out}"
    );
    println!(
        "first reconcile (read, correlate, store {people} proposals, create nothing): {first:.2} s, peak RSS {} MB; {:.2}x the bare search",
        rss / 1024,
        first / bare
    );
    let _ = std::io::stdout().flush();
    if std::env::var_os("TURNSTILE_BENCH_KEEP").is_some() {
        // For a profile: the folder (config, store) and the OU stay.
        eprintln!("kept: {} and {ou}", dir.keep().display());
        return;
    }
    // Leave the directory as it was.
    let _ = Command::new("ldapdelete")
        .args(["-x", "-r", "-H", url, "-D", bind, "-w", pw, &ou])
        .output();
}
