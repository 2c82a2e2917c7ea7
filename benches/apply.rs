//! The daemon closing the loop, against real peers, beside bare clients in the same run:
//!
//! 1. Latency on Samba AD: N people in post (set up by the daemon itself), then N leavers
//!    published at a steady rate; each is timed from its publish to the moment a watcher
//!    polling AD sees the account disabled. Beside it: a bare rdkafka consumer's publish →
//!    receipt on the same broker and fetch settings, and a bare ldap3 modify round trip on
//!    the same server.
//! 2. Throughput on slapd: a backlog of M joiners, from the daemon's start to every change
//!    applied (events/s and changes/s), beside a bare ldap3 loop making the same writes
//!    (add the entry, two group memberships, enable) on the same slapd.
//!
//! Needs the peers: `tests/peers/peers.sh start`, then `cargo bench --bench apply` (or
//! `scripts/bench-apply.sh`). `TURNSTILE_BENCH_LEAVERS` (1000), `TURNSTILE_BENCH_RATE`
//! (20/s), `TURNSTILE_BENCH_EVENTS` (2000), `TURNSTILE_BENCH_FETCH_WAIT_MS` (50).

#[allow(dead_code)]
mod common;

use common::{create_topic, env_or, peers, percentile, producer};
use ldap3::{Ldap, Mod, Scope, SearchEntry};
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use turnstile::store::AuditFilter;
use turnstile::store::prelude::*;
use turnstile::store::sqlite::SqliteStore;

const MODEL: &str = r#"version = 1
[systems.ad]
name = "Directory"
leaver = "disable_and_revoke"
manages = ["GG-*"]
[roles.nurse]
grants = { ad = ["GROUP_A", "GROUP_B"] }
[[rules]]
id = "nurses"
grant = ["nurse"]
match = { job_role = ["Staff Nurse"] }
"#;

fn fetch_wait() -> u64 {
    env_or("TURNSTILE_BENCH_FETCH_WAIT_MS", 50)
}

/// A directory: URL, bind, base, and whether it is AD.
struct Directory {
    ad: bool,
    url: String,
    bind: String,
    password: String,
    base: String,
    ca: Option<String>,
}

impl Directory {
    fn ou(&self, name: &str) -> String {
        if self.ad {
            format!("OU={name},{}", self.base)
        } else {
            format!("ou={name},{}", self.base)
        }
    }

    fn section(&self, pw_file: &Path) -> String {
        let dialect = match &self.ca {
            Some(ca) => format!(
                "dialect = \"active_directory\"\nca_file = \"{ca}\"\ntls_verify_hostname = false\nupn_suffix = \"example.nhs.uk\""
            ),
            None => "dialect = \"open_ldap\"\nallow_plain_bind = true".into(),
        };
        format!(
            "[targets.ad]\ntype = \"ldap\"\n{dialect}\nurl = \"{}\"\nbind_dn = \"{}\"\nbind_password_file = \"{}\"\nbase_dn = \"{}\"\nusers_container = \"{}\"\ngroups_container = \"{}\"\ntimeout_secs = 30\n",
            self.url,
            self.bind,
            pw_file.display(),
            self.base,
            self.ou("Staff"),
            self.ou("Groups")
        )
    }

    async fn raw(&self) -> Ldap {
        common::raw_ldap(&self.url, &self.bind, &self.password, self.ca.as_deref()).await
    }

    async fn ensure_groups(&self, ldap: &mut Ldap, names: &[&str]) {
        for &g in names {
            let dn = if self.ad {
                format!("CN={g},{}", self.ou("Groups"))
            } else {
                format!("cn={g},{}", self.ou("Groups"))
            };
            let attrs = if self.ad {
                vec![
                    ("objectClass", HashSet::from(["group"])),
                    ("sAMAccountName", HashSet::from([g])),
                ]
            } else {
                vec![
                    ("objectClass", HashSet::from(["groupOfNames"])),
                    ("member", HashSet::from(["cn=nobody"])),
                ]
            };
            // 68: it exists already.
            let r = ldap.add(&dn, attrs).await.unwrap();
            assert!(r.rc == 0 || r.rc == 68, "{g}: {r:?}");
        }
    }
}

fn directory(p: &BTreeMap<String, String>, ad: bool) -> Directory {
    let k = |a: &str, s: &str| p[if ad { a } else { s }].clone();
    Directory {
        ad,
        url: k("AD_LDAPS_URL", "SLAPD_URL"),
        bind: k("AD_BIND", "SLAPD_BIND"),
        password: k("AD_PASSWORD", "SLAPD_PASSWORD"),
        base: k("AD_BASE", "SLAPD_BASE"),
        ca: ad.then(|| p["AD_CA"].clone()),
    }
}

fn event(number: &str, seq: u32, leaver_on: Option<&str>) -> Vec<u8> {
    let (status, end) = match leaver_on {
        Some(d) => ("Terminate Assignment", serde_json::json!(d)),
        None => ("Active Assignment", serde_json::Value::Null),
    };
    serde_json::to_vec(&serde_json::json!({
        "schema": "turnstile.hr-event/v1",
        "event_id": format!("{number}-{seq}"),
        "source": "esr",
        "kind": if leaver_on.is_some() { "leaver" } else { "joiner" },
        "occurred_at": format!("2026-11-01T09:{seq:02}:00Z"),
        "sequence": seq,
        "person": {
            "employee_number": number,
            "given_name": "Bench",
            "family_name": format!("L{}", number.replace('-', "x")),
            "assignments": [{
                "assignment_number": format!("{number}-1"),
                "primary": true,
                "status": status,
                "job_role": "Staff Nurse",
                "position_title": "Staff Nurse",
                "organisation": "Ward 7",
                "start_date": "2020-01-01",
                "end_date": end,
            }]
        }
    }))
    .unwrap()
}

async fn send(p: &FutureProducer, topic: &str, key: &str, value: &[u8]) {
    p.send(
        FutureRecord::to(topic).key(key).payload(value),
        Duration::from_secs(30),
    )
    .await
    .unwrap();
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A daemon for `dir` consuming `topic`, with its store in `work`, granting nurses
/// `groups` (made fresh per run, so every run starts from empty groups).
fn daemon(work: &Path, brokers: &str, topic: &str, dir: &Directory, groups: [&str; 2]) -> Daemon {
    std::fs::write(
        work.join("model.toml"),
        MODEL
            .replace("GROUP_A", groups[0])
            .replace("GROUP_B", groups[1]),
    )
    .unwrap();
    let pw = work.join("bind.pw");
    std::fs::write(&pw, &dir.password).unwrap();
    std::fs::set_permissions(&pw, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let config = work.join("turnstile.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"{}\"\n[policy]\npath = \"{}\"\n[log]\nlevel = \"warn\"\n\
             [daemon]\nlisten = \"\"\nreconcile_every_secs = 0\n[guard]\nmin_removals = 1000000\n\
             [kafka]\nbrokers = \"{brokers}\"\ntopic = \"{topic}\"\ngroup_id = \"{topic}\"\n\
             [kafka.consumer]\n\"fetch.wait.max.ms\" = \"{}\"\n\
             [kafka.producer]\n\"enable.idempotence\" = \"false\"\n{}",
            work.join("state.db").display(),
            work.join("model.toml").display(),
            fetch_wait(),
            dir.section(&pw)
        ),
    )
    .unwrap();
    Daemon(
        Command::new(env!("CARGO_BIN_EXE_turnstile"))
            .args(["run", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Applied changes in the daemon's trail: (all, enables).
fn applied(store: &Path) -> (usize, usize) {
    let Ok(s) = SqliteStore::open_existing(store) else {
        return (0, 0);
    };
    let trail = s.audit(&AuditFilter::default()).unwrap_or_default();
    let all: Vec<_> = trail
        .iter()
        .filter(|e| e.draft.outcome == "applied")
        .collect();
    let enables = all
        .iter()
        .filter(|e| e.draft.action == "change.enable")
        .count();
    (all.len(), enables)
}

fn spread(name: &str, mut lat: Vec<f64>) -> (f64, f64) {
    lat.sort_by(|a, b| a.total_cmp(b));
    let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
    println!(
        "  {name}: p50 {p50:.1} ms, p99 {p99:.1} ms, max {:.1} ms ({} samples)",
        lat.last().copied().unwrap_or(0.0),
        lat.len()
    );
    (p50, p99)
}

/// Waits until `done` holds, printing progress; panics after `within`.
async fn wait(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn latency(p: &BTreeMap<String, String>, brokers: &str) {
    let n = env_or("TURNSTILE_BENCH_LEAVERS", 1000) as usize;
    let rate = env_or("TURNSTILE_BENCH_RATE", 20);
    let ad = directory(p, true);
    let mut raw = ad.raw().await;
    let run = format!("A{}", std::process::id());
    let groups = [format!("GG-{run}-A"), format!("GG-{run}-B")];
    let groups = [groups[0].as_str(), groups[1].as_str()];
    ad.ensure_groups(&mut raw, &groups).await;
    let work = tempfile::tempdir().unwrap();
    let topic = format!("bench-apply-{}", std::process::id());
    create_topic(brokers, &topic, 1).await;
    create_topic(brokers, &format!("{topic}.dlq"), 1).await;
    let people: Vec<String> = (0..n).map(|i| format!("{run}-{i}")).collect();
    let prod = producer(brokers);
    let _d = daemon(work.path(), brokers, &topic, &ad, groups);
    let store = work.path().join("state.db");
    let t = Instant::now();
    for who in &people {
        send(&prod, &topic, who, &event(who, 1, None)).await;
    }
    wait("everyone in post", Duration::from_secs(3600), || {
        applied(&store).1 >= n
    })
    .await;
    println!(
        "Samba AD: {n} people put in post by the daemon in {:.0}s",
        t.elapsed().as_secs_f64()
    );
    let yesterday = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Europe/London").unwrap())
        .date()
        .yesterday()
        .unwrap()
        .to_string();
    // The watcher polls AD for each leaver published and not yet seen disabled.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
    let users = ad.ou("Staff");
    let watcher = tokio::spawn(async move {
        let mut watch = ad.raw().await;
        let mut open: Vec<(String, Instant)> = Vec::new();
        let mut out = Vec::new();
        let mut closed = false;
        while !(closed && open.is_empty()) {
            while let Ok(x) = rx.try_recv() {
                open.push(x);
            }
            if open.is_empty() {
                match rx.recv().await {
                    Some(x) => open.push(x),
                    None => closed = true,
                }
                continue;
            }
            let mut still = Vec::new();
            for (who, sent) in open.drain(..) {
                let (rs, _) = watch
                    .search(
                        &users,
                        Scope::Subtree,
                        &format!("(employeeID={who})"),
                        vec!["userAccountControl"],
                    )
                    .await
                    .unwrap()
                    .success()
                    .unwrap();
                let uac: u32 = rs
                    .into_iter()
                    .next()
                    .map(SearchEntry::construct)
                    .and_then(|e| e.attrs.get("userAccountControl")?.first()?.parse().ok())
                    .unwrap_or(0);
                if uac & 2 != 0 {
                    out.push(sent.elapsed().as_secs_f64() * 1000.0);
                } else {
                    still.push((who, sent));
                }
            }
            open = still;
            if rx.is_closed() && rx.is_empty() {
                closed = true;
            }
        }
        out
    });
    let start = Instant::now();
    for (i, who) in people.iter().enumerate() {
        tokio::time::sleep_until((start + Duration::from_secs_f64(i as f64 / rate as f64)).into())
            .await;
        let value = event(who, 2, Some(&yesterday));
        let sent = Instant::now();
        send(&prod, &topic, who, &value).await;
        tx.send((who.clone(), sent)).unwrap();
    }
    drop(tx);
    let ours = tokio::time::timeout(Duration::from_secs(600), watcher)
        .await
        .expect("every leaver disabled within 10 minutes")
        .unwrap();

    // A bare consumer on the same broker and fetch settings: publish → receipt.
    let bare_topic = format!("{topic}-bare");
    create_topic(brokers, &bare_topic, 1).await;
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", &bare_topic)
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", fetch_wait().to_string())
        .create()
        .unwrap();
    consumer.subscribe(&[bare_topic.as_str()]).unwrap();
    let samples = 200.min(n);
    let receiving = tokio::spawn(async move {
        let mut seen = BTreeMap::new();
        while seen.len() < samples {
            let m = consumer.recv().await.unwrap();
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).to_string();
            seen.insert(key, Instant::now());
        }
        seen
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut sent_at = BTreeMap::new();
    let start = Instant::now();
    for i in 0..samples {
        tokio::time::sleep_until((start + Duration::from_secs_f64(i as f64 / rate as f64)).into())
            .await;
        let key = i.to_string();
        sent_at.insert(key.clone(), Instant::now());
        send(&prod, &bare_topic, &key, b"x").await;
    }
    let seen = receiving.await.unwrap();
    let bare_kafka: Vec<f64> = seen
        .iter()
        .map(|(k, at)| at.duration_since(sent_at[k]).as_secs_f64() * 1000.0)
        .collect();

    // A bare ldap3 modify round trip on the same AD: flip a leaver's description.
    let (rs, _) = raw
        .search(
            &users_of(p),
            Scope::Subtree,
            &format!("(employeeID={})", people[0]),
            vec!["1.1"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let dn = SearchEntry::construct(rs.into_iter().next().unwrap()).dn;
    let mut bare_ldap = Vec::new();
    for i in 0..samples {
        let t = Instant::now();
        let text = format!("bench {i}");
        raw.modify(
            &dn,
            vec![Mod::Replace("description", HashSet::from([text.as_str()]))],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
        bare_ldap.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "latency, {n} leavers at {rate}/s, fetch.wait.max.ms = {}:",
        fetch_wait()
    );
    let (_, bare_p99) = spread("bare consumer, publish to receipt          ", bare_kafka);
    let (_, ldap_p99) = spread("bare ldap3 modify round trip on Samba      ", bare_ldap);
    let (_, ours_p99) = spread("turnstile run, leaver published to disabled", ours);
    println!(
        "  ours p99 minus the bare consumer's p99: {:.1} ms (goal: at most 100 ms); bare LDAP p99 {ldap_p99:.1} ms",
        ours_p99 - bare_p99
    );
    common::result(
        &format!("leaver published → disabled on Samba AD, p99 ({n} at {rate}/s)"),
        ours_p99,
        bare_p99 + ldap_p99,
        "ms",
        "bare consumer p99 + bare ldap3 modify p99",
        true,
    );
}

fn users_of(p: &BTreeMap<String, String>) -> String {
    format!("OU=Staff,{}", p["AD_BASE"])
}

async fn throughput(p: &BTreeMap<String, String>, brokers: &str) {
    let m = env_or("TURNSTILE_BENCH_EVENTS", 2000) as usize;
    let slapd = directory(p, false);
    let mut raw = slapd.raw().await;
    let run = format!("P{}", std::process::id());
    let names = [
        format!("GG-{run}-A"),
        format!("GG-{run}-B"),
        format!("GG-{run}-BareA"),
        format!("GG-{run}-BareB"),
    ];
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    slapd.ensure_groups(&mut raw, &names).await;
    let work = tempfile::tempdir().unwrap();
    let topic = format!("bench-apply-tp-{}", std::process::id());
    create_topic(brokers, &topic, 1).await;
    create_topic(brokers, &format!("{topic}.dlq"), 1).await;
    let prod = producer(brokers);
    for i in 0..m {
        let who = format!("{run}-{i}");
        send(&prod, &topic, &who, &event(&who, 1, None)).await;
    }
    let store = work.path().join("state.db");
    let t = Instant::now();
    let _d = daemon(work.path(), brokers, &topic, &slapd, [names[0], names[1]]);
    wait("the backlog applied", Duration::from_secs(3600), || {
        applied(&store).1 >= m
    })
    .await;
    let ours = t.elapsed().as_secs_f64();
    let changes = applied(&store).0;

    // The bare loop: the same entries and writes, one after another.
    let staff = slapd.ou("Staff");
    let groups = [names[2], names[3]].map(|g| format!("cn={g},{}", slapd.ou("Groups")));
    let t = Instant::now();
    let mut writes = 0;
    for i in 0..m {
        let uid = format!("bare{run}x{i}").to_lowercase();
        let dn = format!("uid={uid},{staff}");
        let number = format!("{run}-bare-{i}");
        raw.add(
            &dn,
            vec![
                ("objectClass", HashSet::from(["inetOrgPerson"])),
                ("uid", HashSet::from([uid.as_str()])),
                ("cn", HashSet::from(["Bench Bare"])),
                ("sn", HashSet::from(["Bare"])),
                ("employeeNumber", HashSet::from([number.as_str()])),
                ("employeeType", HashSet::from(["disabled"])),
            ],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
        for g in &groups {
            raw.modify(g, vec![Mod::Add("member", HashSet::from([dn.as_str()]))])
                .await
                .unwrap()
                .success()
                .unwrap();
        }
        raw.modify(
            &dn,
            vec![Mod::Delete("employeeType", HashSet::from(["disabled"]))],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
        writes += 4;
    }
    let bare = t.elapsed().as_secs_f64();
    println!("throughput on slapd, a backlog of {m} joiners:");
    println!(
        "  bare ldap3 loop (add, 2 memberships, enable):     {:>7.1} people/s, {:>7.1} writes/s",
        m as f64 / bare,
        writes as f64 / bare
    );
    println!(
        "  turnstile run (Kafka → plan → slapd → audit):     {:>7.1} people/s, {:>7.1} changes/s ({changes} changes)",
        m as f64 / ours,
        changes as f64 / ours
    );
    println!(
        "  ratio ours/bare: {:.2} (people/s; goal at least 0.8)",
        (m as f64 / ours) / (m as f64 / bare)
    );
    common::result(
        &format!("backlog of {m} joiners applied to slapd"),
        m as f64 / ours,
        m as f64 / bare,
        "people/s",
        "bare sequential ldap3 loop",
        false,
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let p = peers();
    let brokers = p["KAFKA_BROKERS"].clone();
    if std::env::var("TURNSTILE_BENCH_ONLY").as_deref() != Ok("throughput") {
        latency(&p, &brokers).await;
    }
    if std::env::var("TURNSTILE_BENCH_ONLY").as_deref() != Ok("latency") {
        throughput(&p, &brokers).await;
    }
}
