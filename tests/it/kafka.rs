//! `turnstile run` against a real Kafka-protocol broker (tansu, started by
//! `tests/peers/peers.sh`): recording, dead letters, graceful shutdown, a broker that is
//! down or goes away, a stalled partition, and SIGKILL at random moments.
//!
//! tansu's memory storage gives nothing more to a consumer that resumes from an offset
//! inside a multi-record batch (TESTBED.md). The tests' producers therefore write one
//! record per batch (`linger.ms=0`, `batch.num.messages=1`), except the test that makes
//! the defect happen on purpose to show the daemon reports it.

use crate::peers::{Proxy, env};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use turnstile::hr::HrEvent;
use turnstile::store::prelude::*;
use turnstile::store::sqlite::SqliteStore;
use turnstile::store::{AuditFilter, Outcome, judge};

pub fn brokers() -> String {
    env("KAFKA_BROKERS")
}

/// A name no other test or run uses.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 1_000_000_000;
    format!(
        "{prefix}-{}-{t}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

pub async fn create_topic(brokers: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let result = admin
        .create_topics(&[topic], &AdminOptions::new())
        .await
        .unwrap();
    for r in result {
        r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
    }
}

/// A producer that writes one record per batch (the tansu workaround) and keeps each
/// key's order.
pub fn producer(brokers: &str, one_per_batch: bool) -> FutureProducer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("enable.idempotence", "false")
        .set("max.in.flight.requests.per.connection", "1")
        .set("message.timeout.ms", "60000");
    if one_per_batch {
        c.set("linger.ms", "0").set("batch.num.messages", "1");
    } else {
        c.set("linger.ms", "200").set("batch.num.messages", "10000");
    }
    c.create().unwrap()
}

/// A record to send: key and value as given (so the tests can send bad ones).
#[derive(Clone, Debug)]
pub struct Rec {
    pub key: Option<String>,
    pub value: Vec<u8>,
}

/// Sends every record, in order, and returns where each landed.
pub async fn produce(p: &FutureProducer, topic: &str, records: &[Rec]) -> Vec<(i32, i64)> {
    let mut pending: Vec<DeliveryFuture> = Vec::with_capacity(records.len());
    for r in records {
        let mut rec: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic).payload(&r.value);
        if let Some(k) = &r.key {
            rec = rec.key(k.as_str());
        }
        loop {
            match p.send_result(rec) {
                Ok(d) => {
                    pending.push(d);
                    break;
                }
                Err((_, back)) => {
                    rec = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }
    let mut out = Vec::with_capacity(pending.len());
    for d in pending {
        let delivered = d
            .await
            .unwrap()
            .unwrap_or_else(|(e, _)| panic!("produce: {e}"));
        out.push((delivered.partition, delivered.offset));
    }
    out
}

fn base_consumer(brokers: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap()
}

/// Committed offset and high watermark per partition.
pub fn standing(brokers: &str, group: &str, topic: &str, partitions: i32) -> Vec<(i64, i64)> {
    let c = base_consumer(brokers, group);
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    (0..partitions)
        .map(|p| {
            let done = match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => 0,
            };
            let (_, high) = c
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap();
            (done, high)
        })
        .collect()
}

/// Commits `offset` for the group on one partition, as a consumer that stopped there would.
fn commit_at(brokers: &str, group: &str, topic: &str, partition: i32, offset: i64) {
    let c = base_consumer(brokers, group);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
        .unwrap();
    c.commit(&tpl, rdkafka::consumer::CommitMode::Sync).unwrap();
}

/// A dead letter as read back.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub key: Option<String>,
    pub value: Vec<u8>,
    pub headers: BTreeMap<String, String>,
}

/// Every record on `topic` (all partitions), from the start.
pub fn read_all(brokers: &str, topic: &str, partitions: i32) -> Vec<DeadLetter> {
    let c = base_consumer(brokers, &unique("reader"));
    let mut tpl = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
        let (_, high) = c
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .unwrap();
        ends.insert(p, high);
    }
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let mut seen: BTreeMap<i32, i64> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while ends
        .iter()
        .any(|(p, h)| seen.get(p).copied().unwrap_or(0) < *h)
    {
        assert!(Instant::now() < deadline, "reading {topic} timed out");
        let Some(m) = c.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = m.unwrap();
        seen.insert(m.partition(), m.offset() + 1);
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|x| {
                        (
                            x.key.to_string(),
                            String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(DeadLetter {
            key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
            value: m.payload().unwrap_or_default().to_vec(),
            headers,
        });
    }
    out
}

/// One daemon's world: a topic, a group, a store and a config file.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub store: PathBuf,
    pub topic: String,
    pub dlq: String,
    pub group: String,
    pub partitions: i32,
    pub admin: String,
    pub brokers: String,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Setup {
    pub async fn new(brokers: &str, partitions: i32, create_topics: bool) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let topic = unique("hr");
        let dlq = format!("{topic}.dlq");
        if create_topics {
            create_topic(brokers, &topic, partitions).await;
            create_topic(brokers, &dlq, 1).await;
        }
        let store = dir.path().join("state.db");
        let admin = format!("127.0.0.1:{}", free_port());
        let setup = Setup {
            config: dir.path().join("turnstile.toml"),
            store,
            group: unique("turnstile"),
            topic,
            dlq,
            partitions,
            admin,
            brokers: brokers.to_string(),
            dir,
        };
        setup.write_config("");
        setup
    }

    pub fn write_config(&self, extra: &str) {
        let model = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/role-model.toml");
        let text = format!(
            r#"[store]
path = "{store}"
[policy]
path = "{model}"
[log]
level = "info"
[daemon]
listen = "{admin}"
check_every_secs = 1
stall_after_secs = 3
shutdown_timeout_secs = 10
{extra}
[kafka]
brokers = "{brokers}"
topic = "{topic}"
group_id = "{group}"
session_timeout_ms = 2000
auto_commit_interval_ms = 200
[kafka.consumer]
"heartbeat.interval.ms" = "500"
[kafka.producer]
"linger.ms" = "0"
"batch.num.messages" = "1"
"enable.idempotence" = "false"
"#,
            store = self.store.display(),
            admin = self.admin,
            brokers = self.brokers,
            topic = self.topic,
            group = self.group,
        );
        std::fs::write(&self.config, text).unwrap();
    }

    pub fn log(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    pub fn start(&self) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_turnstile"))
            .arg("run")
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info,turnstile::daemon=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Daemon {
            child,
            admin: self.admin.clone(),
        }
    }

    pub fn open_store(&self) -> SqliteStore {
        SqliteStore::open(&self.store).unwrap()
    }

    /// How many `hr.record` entries the trail holds.
    pub fn recorded(&self) -> usize {
        if !self.store.exists() {
            return 0;
        }
        // The daemon may hold the write lock past the store's busy timeout while this
        // polls (a crash test on a loaded machine): a busy store is asked again.
        for _ in 0..100 {
            match SqliteStore::open(&self.store).and_then(|s| s.audit(&AuditFilter::default())) {
                Ok(trail) => {
                    return trail
                        .iter()
                        .filter(|e| e.draft.action == "hr.record")
                        .count();
                }
                Err(turnstile::store::StoreError::Busy) => {
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(e) => panic!("reading the store: {e}"),
            }
        }
        panic!("the store stayed busy for 10 seconds")
    }

    /// True once the group's commits reach the end of every partition.
    pub fn caught_up(&self) -> bool {
        standing(&self.brokers, &self.group, &self.topic, self.partitions)
            .iter()
            .all(|(done, high)| done == high)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }
}

pub struct Daemon {
    pub child: Child,
    pub admin: String,
}

impl Daemon {
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits (bounded) for the exit status. A daemon still starting is
    /// first let finish (its admin endpoint answers, or it exits, within 30 s): a test may
    /// find all it waits for done the moment the daemon starts, and a signal before the
    /// process has installed its handlers is the signal's default, an abrupt death, which
    /// is not the stop these tests check.
    pub fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        let up = Instant::now() + Duration::from_secs(30);
        while Instant::now() < up
            && self.get("/healthz").is_none()
            && self.child.try_wait().ok().flatten().is_none()
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// A GET on the admin endpoint: (status, body), or None if it does not answer.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = std::net::TcpStream::connect(&self.admin).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let status = text.split(' ').nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
        Some((status, body))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `f` holds, or fails the test with `what`.
pub fn wait_until(what: &str, within: Duration, f: impl FnMut() -> bool) {
    wait_until_else(what, within, f, String::new)
}

/// [`wait_until`], failing with `what` and what `why` then says (the state to look at).
pub fn wait_until_else(
    what: &str,
    within: Duration,
    mut f: impl FnMut() -> bool,
    why: impl Fn() -> String,
) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting: {what} {}",
            why()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A person's HR record at one moment of their story.
fn person(number: &str, step: u32, ended: bool) -> serde_json::Value {
    let (org, position, role) = match step % 3 {
        0 => ("Ward 7 Medicine", "P-0431", "Staff Nurse"),
        1 => ("Ward 9 Surgery", "P-0562", "Staff Nurse"),
        _ => ("Outpatients", "P-0777", "Sister/Charge Nurse"),
    };
    let status = if ended {
        "Terminate Assignment"
    } else if step % 5 == 4 {
        "Maternity and Adoption"
    } else {
        "Active Assignment"
    };
    json!({
        "employee_number": number,
        "given_name": "Amara",
        "family_name": format!("Okafor{number}"),
        "work_email": format!("a{number}@nhs.net"),
        "line_manager": "20001111",
        "assignments": [{
            "assignment_number": format!("{number}-1"),
            "primary": true,
            "status": status,
            "position_number": position,
            "position_title": role,
            "staff_group": "Nursing and Midwifery Registered",
            "job_role": role,
            "organisation": org,
            "location": "Main Hospital",
            "start_date": "2019-04-01",
            "end_date": if ended { json!("2026-01-31") } else { json!(null) },
        }]
    })
}

pub fn event(number: &str, seq: u32, ended: bool) -> serde_json::Value {
    let kind = match (seq, ended) {
        (_, true) => "leaver",
        (1, _) => "joiner",
        _ => "mover",
    };
    json!({
        "schema": "turnstile.hr-event/v1",
        "event_id": format!("esr-{number}-{seq}"),
        "source": "esr",
        "kind": kind,
        "occurred_at": format!("2026-11-{:02}T09:{:02}:00Z", 1 + seq / 60, seq % 60),
        "sequence": seq,
        "person": person(number, seq, ended),
    })
}

pub fn rec(key: &str, value: &serde_json::Value) -> Rec {
    Rec {
        key: Some(key.to_string()),
        value: serde_json::to_vec(value).unwrap(),
    }
}

/// A small deterministic generator, so a failing run can be repeated from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// An invalid record of one of the kinds CONTRACT §1 names, for person `number`.
fn invalid(number: &str, seq: u32, which: u64) -> Rec {
    let mut e = event(number, seq, false);
    e["event_id"] = json!(format!("bad-{number}-{seq}-{which}"));
    match which {
        0 => Rec {
            key: Some(number.into()),
            value: b"{\"schema\": \"turnstile.hr-event/v1\", \"event_id\": ".to_vec(),
        },
        1 => {
            e["person"]["assignments"][0]["end_date"] = json!("2001-01-01");
            rec(number, &e)
        }
        2 => {
            e["person"]["assignments"][0]["status"] = json!("On Holiday");
            rec(number, &e)
        }
        3 => {
            e["person"]
                .as_object_mut()
                .unwrap()
                .remove("employee_number");
            rec(number, &e)
        }
        4 => rec("99999999", &e),
        _ => Rec {
            key: None,
            value: serde_json::to_vec(&e).unwrap(),
        },
    }
}

/// The mixed stream of the crash test: each person's story in order, with duplicates,
/// out-of-order pairs and invalid records mixed in.
pub fn story(rng: &mut Rng, people: u32, first: u32) -> Vec<Rec> {
    let mut lanes: Vec<Vec<Rec>> = Vec::new();
    for i in 0..people {
        let number = format!("{}", first + i);
        let steps = 3 + rng.below(6) as u32;
        let mut lane = Vec::new();
        let mut seq = 1;
        while seq <= steps {
            let ended = seq == steps && rng.below(3) == 0;
            let this = rec(&number, &event(&number, seq, ended));
            match rng.below(20) {
                // An out-of-order pair: the newer event overtakes the older one.
                0 | 1 if seq < steps => {
                    lane.push(rec(&number, &event(&number, seq + 1, false)));
                    lane.push(this);
                    seq += 2;
                    continue;
                }
                // A duplicate, delivered twice.
                2 | 3 => {
                    lane.push(this.clone());
                    lane.push(this);
                }
                4 => {
                    lane.push(invalid(&number, seq, rng.below(6)));
                    lane.push(this);
                }
                _ => lane.push(this),
            }
            seq += 1;
        }
        lanes.push(lane);
    }
    interleave(rng, &lanes)
}

/// The people's records mixed at random, each person's kept in order.
pub fn interleave(rng: &mut Rng, lanes: &[Vec<Rec>]) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut cursors = vec![0usize; lanes.len()];
    let total: usize = lanes.iter().map(Vec::len).sum();
    while out.len() < total {
        let i = rng.below(lanes.len() as u64) as usize;
        if cursors[i] < lanes[i].len() {
            out.push(lanes[i][cursors[i]].clone());
            cursors[i] += 1;
        }
    }
    out
}

/// What the store must hold after `records` were consumed in order, whatever crashed:
/// the events that became a record (each exactly once in the trail), each person's
/// final record, and the invalid records.
pub struct Expected {
    pub applied: BTreeSet<String>,
    pub finals: BTreeMap<String, HrEvent>,
    pub invalid: usize,
}

pub fn expected(records: &[Rec]) -> Expected {
    let mut current: BTreeMap<String, HrEvent> = BTreeMap::new();
    let mut applied = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let mut invalid = 0;
    for r in records {
        match turnstile::daemon::accept(r.key.as_deref().map(str::as_bytes), Some(&r.value)) {
            Ok(e) => {
                let number = e.person.employee_number.as_str().to_string();
                let seen_before =
                    seen.contains(&(e.event_id.as_str().to_string(), e.content_digest()));
                match judge(current.get(&number), &e, seen_before) {
                    Outcome::Applied { .. } => {
                        applied.insert(e.event_id.as_str().to_string());
                        seen.insert((e.event_id.as_str().to_string(), e.content_digest()));
                        current.insert(number, e);
                    }
                    Outcome::Unchanged => {
                        seen.insert((e.event_id.as_str().to_string(), e.content_digest()));
                        current.insert(number, e);
                    }
                    Outcome::Duplicate | Outcome::Stale { .. } => {}
                }
            }
            Err(_) => invalid += 1,
        }
    }
    Expected {
        applied,
        finals: current,
        invalid,
    }
}

/// Checks the store against what consuming `records` once, in order, must give.
pub fn check_effects(setup: &Setup, want: &Expected) {
    let store = setup.open_store();
    let trail = store.audit(&AuditFilter::default()).unwrap();
    let mut recorded: BTreeMap<String, usize> = BTreeMap::new();
    let mut change_times: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in &trail {
        let id = e.draft.event_id.clone().unwrap_or_default();
        if e.draft.action == "hr.record" {
            *recorded.entry(id.clone()).or_default() += 1;
        }
        if e.draft.action.starts_with("change.") {
            change_times
                .entry(id)
                .or_default()
                .insert(e.draft.at.to_string());
        }
    }
    let rejected = trail
        .iter()
        .filter(|e| e.draft.action == "hr.rejected")
        .count();
    assert_eq!(
        rejected, want.invalid,
        "one hr.rejected entry per invalid record"
    );
    let twice: Vec<_> = recorded.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "events recorded more than once: {twice:?}"
    );
    let got: BTreeSet<String> = recorded.keys().cloned().collect();
    let missing: Vec<_> = want.applied.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want.applied).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "recorded events differ: missing {missing:?}, extra {extra:?}"
    );
    // An event's planned changes come from one transaction: one timestamp each.
    for (id, times) in &change_times {
        assert!(
            got.contains(id),
            "changes planned by {id}, which has no record"
        );
        assert_eq!(
            times.len(),
            1,
            "{id} planned its changes {} times",
            times.len()
        );
    }
    let persons = store.persons().unwrap();
    assert_eq!(persons.len(), want.finals.len());
    for p in persons {
        let number = p.event.person.employee_number.as_str();
        let w = &want.finals[number];
        assert_eq!(p.event.event_id, w.event_id, "{number}'s record");
        assert_eq!(p.event.person, w.person, "{number}'s record");
    }
    assert!(
        matches!(store.verify_audit(None).unwrap(), Ok(v) if v.count as usize == trail.len()),
        "the audit chain verifies"
    );
}

/// Dead letters must be exactly the invalid records (the same record may appear twice if
/// the daemon was killed between sending it and storing its offset).
pub fn check_dead_letters(setup: &Setup, origin: &[(i32, i64)], records: &[Rec]) -> usize {
    let letters = read_all(&setup.brokers, &setup.dlq, 1);
    let mut by_origin: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    for l in &letters {
        let p: i32 = l.headers["turnstile.source.partition"].parse().unwrap();
        let o: i64 = l.headers["turnstile.source.offset"].parse().unwrap();
        assert!(!l.headers["turnstile.reason"].is_empty());
        *by_origin.entry((p, o)).or_default() += 1;
        let i = origin.iter().position(|x| *x == (p, o)).unwrap();
        assert_eq!(l.value, records[i].value, "a dead letter keeps the payload");
        assert_eq!(l.key, records[i].key, "a dead letter keeps the key");
    }
    let want: BTreeSet<(i32, i64)> = records
        .iter()
        .zip(origin)
        .filter(|(r, _)| {
            turnstile::daemon::accept(r.key.as_deref().map(str::as_bytes), Some(&r.value)).is_err()
        })
        .map(|(_, o)| *o)
        .collect();
    let got: BTreeSet<(i32, i64)> = by_origin.keys().copied().collect();
    assert_eq!(got, want, "dead letters are exactly the invalid records");
    letters.len() - got.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_events_dead_letters_bad_ones_and_stops_cleanly_on_sigterm() {
    let setup = Setup::new(&brokers(), 3, true).await;
    let mut rng = Rng::new(7);
    let records = story(&mut rng, 40, 31_000_000);
    let want = expected(&records);
    assert!(want.invalid > 0, "the story has invalid records");
    let p = producer(&setup.brokers, true);
    let origin = produce(&p, &setup.topic, &records).await;

    let mut daemon = setup.start();
    wait_until("the daemon catches up", Duration::from_secs(60), || {
        setup.caught_up()
    });
    check_effects(&setup, &want);
    assert_eq!(check_dead_letters(&setup, &origin, &records), 0);

    let (status, body) = daemon.get("/readyz").unwrap();
    assert_eq!(status, 200, "{body}");
    let (_, metrics) = daemon.get("/metrics").unwrap();
    let recorded = format!(
        "turnstile_events_total{{outcome=\"recorded\"}} {}",
        want.applied.len()
    );
    assert!(metrics.contains(&recorded), "{recorded} in\n{metrics}");
    let dead = format!(
        "turnstile_events_total{{outcome=\"dead_lettered\"}} {}",
        want.invalid
    );
    assert!(metrics.contains(&dead), "{dead} in\n{metrics}");

    let status = daemon
        .terminate(Duration::from_secs(15))
        .expect("stops within 15 s");
    assert_eq!(status.code(), Some(0), "{}", setup.log_text());
    let log = setup.log_text();
    assert!(log.contains("SIGTERM"), "{log}");
    // Each dead letter is logged once, with its reason.
    assert_eq!(log.matches("event sent to").count(), want.invalid, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_publish_gives_the_same_records_as_feed_apply() {
    let setup = Setup::new(&brokers(), 2, true).await;
    let esr = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/esr-extract.csv");
    let feed = |extra: &[&str], config: &Path| {
        Command::new(env!("CARGO_BIN_EXE_turnstile"))
            .args(["feed", "esr", esr, "--extracted-at", "2026-11-23T06:00:00Z"])
            .args(extra)
            .arg("--config")
            .arg(config)
            .output()
            .unwrap()
    };
    let out = feed(&["--publish"], &setup.config);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("400 of 400 event(s) published"), "{said}");

    let _daemon = setup.start();
    wait_until(
        "the daemon records the extract",
        Duration::from_secs(60),
        || setup.caught_up(),
    );

    // The same file through --apply into a second store.
    let other = Setup::new(&setup.brokers, 1, false).await;
    let out = feed(&["--apply"], &other.config);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a: Vec<_> = setup.open_store().persons().unwrap();
    let b: Vec<_> = other.open_store().persons().unwrap();
    assert_eq!(a.len(), 400);
    assert_eq!(
        a.iter().map(|p| &p.event).collect::<Vec<_>>(),
        b.iter().map(|p| &p.event).collect::<Vec<_>>()
    );

    // Publishing again changes nothing: the ids are the same, so every event is a duplicate.
    let before = setup.recorded();
    let out = feed(&["--publish"], &setup.config);
    assert_eq!(out.status.code(), Some(0));
    wait_until("the replay is consumed", Duration::from_secs(60), || {
        setup.caught_up()
    });
    assert_eq!(setup.recorded(), before);
}

#[test]
fn publish_to_a_broker_that_is_not_there_fails_in_bounded_time_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("t.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbrokers = \"127.0.0.1:{}\"\nmessage_timeout_ms = 2000\n",
            free_port()
        ),
    )
    .unwrap();
    let esr = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/esr-extract.csv");
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_turnstile"))
        .args(["feed", "esr", esr, "--publish", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("400 event(s) were not published"), "{err}");
    assert!(err.contains("Re-run the same command"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_a_broker_that_is_down_and_resumes_after_it_goes_away_mid_stream() {
    // A broker of our own, reached only through a proxy we can take down: it advertises
    // the proxy's address, so every connection goes through it.
    let port = free_port();
    let proxy = Proxy::start(format!("127.0.0.1:{port}")).await;
    proxy.take_down();
    let via = format!("127.0.0.1:{}", proxy.port);
    let tansu = Command::new(env("TANSU_BIN"))
        .args(["broker", "--listener-url"])
        .arg(format!("tcp://127.0.0.1:{port}"))
        .arg("--advertised-listener-url")
        .arg(format!("tcp://{via}"))
        .args(["--storage-engine", "memory://tansu/"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Stop(Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _tansu = Stop(tansu);

    let setup = Setup::new(&via, 1, false).await;
    let daemon = setup.start();
    // Down at start: the daemon waits, says so, and is not ready.
    wait_until(
        "the daemon reports the broker down",
        Duration::from_secs(20),
        || setup.log_text().contains("cannot reach Kafka"),
    );
    let (status, body) = daemon.get("/readyz").expect("admin endpoint answers");
    assert_eq!(status, 503);
    // The open route names the part, not the reason (which is in the log).
    assert!(
        body.contains("broker") || body.contains("consumer"),
        "{body}"
    );

    proxy.bring_up();
    create_topic(&via, &setup.topic, 1).await;
    create_topic(&via, &setup.dlq, 1).await;
    let records: Vec<Rec> = (0..300)
        .map(|i| {
            let n = format!("{}", 32_000_000 + i);
            rec(&n, &event(&n, 1, false))
        })
        .collect();
    let p = producer(&via, true);
    produce(&p, &setup.topic, &records[..150]).await;
    wait_until(
        "the first events are recorded",
        Duration::from_secs(60),
        || setup.recorded() > 0,
    );

    // Mid-stream, the broker goes away.
    proxy.take_down();
    wait_until("the daemon notices", Duration::from_secs(30), || {
        daemon
            .get("/readyz")
            .is_some_and(|(s, b)| s == 503 && b.contains("broker"))
    });
    let during = setup.recorded();
    std::thread::sleep(Duration::from_secs(2));
    proxy.bring_up();
    produce(&p, &setup.topic, &records[150..]).await;
    wait_until("everything is recorded", Duration::from_secs(90), || {
        setup.recorded() == 300
    });
    assert!(during <= 300);
    wait_until("ready again", Duration::from_secs(30), || {
        daemon.get("/readyz").is_some_and(|(s, _)| s == 200)
    });
    check_effects(&setup, &expected(&records));
    // A person can read the log of the mid-stream outage: a few lines when it starts and
    // one when it ends, not one per retry.
    let log = std::fs::read_to_string(setup.log()).unwrap();
    let (_, outage) = log.split_once("partitions assigned").unwrap();
    let warnings: Vec<&str> = outage
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    assert!(
        warnings.len() <= 6,
        "{} warning lines for one outage:\n{}",
        warnings.len(),
        warnings.join("\n")
    );
    assert!(
        outage.contains("the Kafka broker answers again"),
        "{outage}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_that_stops_moving_with_lag_is_reported_not_healthy() {
    // Reproduces tansu's defect on purpose: 60 events in multi-record batches, and the
    // group's offset committed inside a batch, as after a crash.
    let setup = Setup::new(&brokers(), 1, true).await;
    let records: Vec<Rec> = (0..60)
        .map(|i| {
            let n = format!("{}", 33_000_000 + i);
            rec(&n, &event(&n, 1, false))
        })
        .collect();
    let origin = produce(&producer(&setup.brokers, false), &setup.topic, &records).await;
    assert_eq!(origin.last().unwrap().1, 59);
    commit_at(&setup.brokers, &setup.group, &setup.topic, 0, 25);

    let daemon = setup.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let recorded = setup.recorded();
        let ready = daemon.get("/readyz");
        if recorded == 35 {
            // The broker served the rest after all: nothing to report.
            eprintln!("the broker resumed inside the batch; no stall to report");
            break;
        }
        if let Some((503, body)) = &ready
            && body.contains("partition ")
        {
            let (_, metrics) = daemon.get("/metrics").unwrap();
            assert!(
                metrics.contains("turnstile_partition_stalled{topic=\"")
                    && metrics.contains("\",partition=\"0\"} 1"),
                "{metrics}"
            );
            let log = setup.log_text();
            assert!(log.contains("partition stalled"), "{log}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{recorded} of 35 recorded, yet the daemon says {ready:?}: a stuck consumer must not look healthy\n{}",
            setup.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One crash run: a few thousand events, SIGKILL at random moments while they flow, a
/// restart after each, then the end state checked against consuming once in order.
async fn crash_run(seed: u64, kills: u32) -> (usize, usize, usize, Vec<usize>) {
    let setup = Setup::new(&brokers(), 3, true).await;
    let mut rng = Rng::new(seed);
    let records = story(&mut rng, 450, 40_000_000 + (seed as u32 % 100) * 1000);
    let want = expected(&records);
    let p = producer(&setup.brokers, true);
    let half = records.len() / 2;
    let mut origin = produce(&p, &setup.topic, &records[..half]).await;
    let rest = records[half..].to_vec();
    let topic = setup.topic.clone();
    // The rest flows in over a few seconds, while the daemons are killed.
    let late = tokio::spawn(async move {
        let mut out = Vec::new();
        for chunk in rest.chunks(50) {
            out.extend(produce(&p, &topic, chunk).await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        out
    });

    // How many events had been recorded at each kill: proof the kills land mid-stream.
    let mut at_kill = Vec::new();
    for _ in 0..kills {
        let before = setup.recorded();
        let mut daemon = setup.start();
        // Once this daemon is recording (after the group hands it the partitions of the
        // one killed before), kill it at a random moment.
        let deadline = Instant::now() + Duration::from_secs(30);
        let all = want.applied.len();
        while setup.recorded() == before && before < all && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.below(600))).await;
        daemon.kill();
        at_kill.push(setup.recorded());
    }
    origin.extend(late.await.unwrap());
    let mut daemon = setup.start();
    let (s, b, c) = (
        setup.brokers.clone(),
        setup.group.clone(),
        setup.topic.clone(),
    );
    let parts = setup.partitions;
    tokio::task::spawn_blocking(move || {
        wait_until(
            "the last daemon catches up",
            Duration::from_secs(180),
            || standing(&s, &b, &c, parts).iter().all(|(d, h)| d == h),
        )
    })
    .await
    .unwrap();
    // The last daemon may find everything recorded the moment it starts: let it finish
    // starting (its admin endpoint answers) before asking it to stop, since this checks
    // the stop of a running daemon.
    wait_until("the last daemon is up", Duration::from_secs(30), || {
        daemon.get("/healthz").is_some()
    });
    let status = daemon
        .terminate(Duration::from_secs(20))
        .expect("stops on SIGTERM");
    assert_eq!(status.code(), Some(0));
    check_effects(&setup, &want);
    let repeats = check_dead_letters(&setup, &origin, &records);
    (records.len(), want.invalid, repeats, at_kill)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_nothing_and_applies_nothing_twice() {
    let runs: u64 = crate::peers::env_number("TURNSTILE_CRASH_RUNS", 20);
    let base: u64 = crate::peers::env_number("TURNSTILE_CRASH_SEED", 1);
    let mut events = 0;
    for i in 0..runs {
        let seed = base + i;
        let (n, invalid, repeats, at_kill) = crash_run(seed, 3).await;
        eprintln!(
            "crash run {} (seed {seed}): {n} events, {invalid} invalid, SIGKILL with {at_kill:?} recorded, {repeats} dead letter(s) sent twice: ok",
            i + 1
        );
        events += n;
    }
    eprintln!("{runs} crash runs, {events} events: every effect exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_dead_letter_topic_holds_consumption_until_it_exists() {
    let setup = Setup::new(&brokers(), 1, false).await;
    create_topic(&setup.brokers, &setup.topic, 1).await;
    let mut records = vec![invalid("34000000", 1, 1)];
    records.extend((1..=3).map(|i| {
        let n = format!("{}", 34_000_000 + i);
        rec(&n, &event(&n, 1, false))
    }));
    produce(&producer(&setup.brokers, true), &setup.topic, &records).await;
    let daemon = setup.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !setup.log_text().contains("check that the topic exists") {
        assert!(
            Instant::now() < deadline,
            "the daemon should say the topic is missing:\n{}",
            setup.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Nothing past the refused record is acknowledged while it cannot be dead-lettered,
    // and the daemon does not look healthy.
    assert_eq!(
        standing(&setup.brokers, &setup.group, &setup.topic, 1)[0].0,
        0
    );
    let (status, body) = daemon.get("/readyz").unwrap();
    assert_eq!(status, 503);
    assert!(body.contains("recorder"), "{body}");

    create_topic(&setup.brokers, &setup.dlq, 1).await;
    wait_until("the daemon catches up", Duration::from_secs(60), || {
        setup.caught_up()
    });
    let letters = read_all(&setup.brokers, &setup.dlq, 1);
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].headers["turnstile.kind"], "rules");
    assert_eq!(setup.recorded(), 3);
}
