//! The daemon against a real broker: events per second from the topic to recorded plans,
//! and latency from publish to recorded plan, beside bare rdkafka consumers on the same
//! broker in the same run.
//!
//! Needs the peers: `tests/peers/peers.sh start`, then `cargo bench --bench kafka`
//! (or `scripts/bench-kafka.sh`). `TURNSTILE_BENCH_EVENTS` (default 10000) sets the
//! backlog (published many records to a batch; `TURNSTILE_BENCH_ONE_PER_BATCH=1` for
//! one); `TURNSTILE_BENCH_RATE` (default 100/s) the paced publishing for latency, one
//! record to a batch.

#[allow(dead_code)]
mod common;

use common::{batching_producer, create_topic, env_or, hr_event, peers, percentile, producer};
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use turnstile::store::AuditFilter;
use turnstile::store::prelude::*;
use turnstile::store::sqlite::SqliteStore;

const PARTITIONS: i32 = 3;

/// `fetch.wait.max.ms` for every consumer here (librdkafka's default is 500): tansu answers
/// a fetch only when the wait is over, not when it has records to give, so on tansu it
/// sets the floor of publish-to-consume latency and the pace of a backlog (a bare
/// consumer reads ~39,000 events/s at 500 ms, ~390,000 at 20).
fn fetch_wait() -> String {
    std::env::var("TURNSTILE_BENCH_FETCH_WAIT_MS").unwrap_or_else(|_| "20".into())
}

fn bare_consumer(brokers: &str, group: &str) -> StreamConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", fetch_wait())
        .create()
        .unwrap()
}

/// Publishes events `from..to`; with `rate`, paced at that many per second. Returns when
/// each was handed to the producer (µs since the epoch).
async fn publish(
    p: &FutureProducer,
    topic: &str,
    from: u64,
    to: u64,
    rate: Option<u64>,
) -> Vec<i64> {
    let started = Instant::now();
    let mut sent = Vec::new();
    let mut pending = Vec::new();
    for (i, n) in (from..to).enumerate() {
        if let Some(r) = rate {
            let due = started + Duration::from_secs_f64(i as f64 / r as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        let key = n.to_string();
        let value = hr_event(n);
        let mut rec = FutureRecord::to(topic).key(&key).payload(&value);
        sent.push(jiff::Timestamp::now().as_microsecond());
        let delivery = loop {
            match p.send_result(rec) {
                Ok(d) => break d,
                Err((_, back)) => {
                    rec = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        };
        pending.push(delivery);
        if pending.len() >= 1000 || rate.is_some() {
            for d in pending.drain(..) {
                d.await.unwrap().unwrap();
            }
        }
    }
    for d in pending {
        d.await.unwrap().unwrap();
    }
    sent
}

/// A bare consumer in a group of its own: storing each offset, or also writing each event
/// to SQLite with a durable commit, as the floor of durable per-event recording.
async fn bare(brokers: &str, topic: &str, total: u64, durable: Option<&std::path::Path>) -> f64 {
    let group = format!("bare-{}-{}", std::process::id(), durable.is_some());
    let c = bare_consumer(brokers, &group);
    c.subscribe(&[topic]).unwrap();
    let db = durable.map(|path| {
        let db = rusqlite::Connection::open(path).unwrap();
        db.pragma_update(None, "journal_mode", "WAL").unwrap();
        db.pragma_update(None, "synchronous", "FULL").unwrap();
        db.execute_batch("CREATE TABLE IF NOT EXISTS e (id TEXT PRIMARY KEY, body TEXT)")
            .unwrap();
        db
    });
    let mut first = None;
    for _ in 0..total {
        let m = c.recv().await.unwrap();
        first.get_or_insert_with(Instant::now);
        if let Some(db) = &db {
            let body = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
            let key = format!("{}-{}", m.partition(), m.offset());
            db.execute("INSERT OR IGNORE INTO e VALUES (?1, ?2)", [key, body])
                .unwrap();
        }
        c.store_offset_from_message(&m).unwrap();
    }
    let secs = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
    (total - 1) as f64 / secs
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let _ = self.0.wait();
    }
}

/// `hr.record` times (µs) by event id.
fn recorded(store: &std::path::Path) -> BTreeMap<String, i64> {
    if !store.exists() {
        return BTreeMap::new();
    }
    SqliteStore::open(store)
        .unwrap()
        .audit(&AuditFilter::default())
        .unwrap()
        .into_iter()
        .filter(|e| e.draft.action == "hr.record")
        .filter_map(|e| Some((e.draft.event_id?, e.draft.at.as_microsecond())))
        .collect()
}

/// How many audit entries the store holds: one row read (the trail's head), so that
/// waiting takes next to no CPU from the daemon being timed on the same cores. Reading
/// the whole trail every 250 ms took a sixth of both cores by the end of a 100,000-event
/// backlog.
fn entries(store: &std::path::Path) -> u64 {
    use rusqlite::{Connection, OpenFlags, OptionalExtension};
    let Ok(db) = Connection::open_with_flags(store, OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return 0;
    };
    db.query_row("SELECT seq FROM audit_head WHERE id = 1", [], |r| {
        r.get::<_, i64>(0)
    })
    .optional()
    .ok()
    .flatten()
    .unwrap_or(0) as u64
}

fn wait_for(store: &std::path::Path, count: usize, within: Duration) -> BTreeMap<String, i64> {
    let deadline = Instant::now() + within;
    loop {
        if entries(store) >= count as u64 || Instant::now() > deadline {
            let r = recorded(store);
            if r.len() >= count || Instant::now() > deadline {
                return r;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let p = peers();
    let brokers = p["KAFKA_BROKERS"].clone();
    let total = env_or("TURNSTILE_BENCH_EVENTS", 10_000);
    let rate = env_or("TURNSTILE_BENCH_RATE", 100);
    let paced = (rate * 20).min(2_000);
    let dir = tempfile::tempdir().unwrap();
    let topic = format!("bench-{}", std::process::id());
    create_topic(&brokers, &topic, PARTITIONS).await;
    create_topic(&brokers, &format!("{topic}.dlq"), 1).await;
    let prod = producer(&brokers);
    // The backlog as a busy producer writes it, many records to a batch (the broker
    // hands a consumer one record per batch at a third of the rate); with
    // TURNSTILE_BENCH_ONE_PER_BATCH=1, one record to a batch.
    let one_per_batch = std::env::var("TURNSTILE_BENCH_ONE_PER_BATCH").as_deref() == Ok("1");
    let backlog = if one_per_batch {
        prod.clone()
    } else {
        batching_producer(&brokers)
    };
    let t = Instant::now();
    publish(&backlog, &topic, 50_000_000, 50_000_000 + total, None).await;
    println!(
        "published {total} events in {:.1}s ({:.0}/s, {})",
        t.elapsed().as_secs_f64(),
        total as f64 / t.elapsed().as_secs_f64(),
        if one_per_batch {
            "one record per batch"
        } else {
            "many records per batch"
        }
    );

    let bare_rate = bare(&brokers, &topic, total, None).await;
    let durable_rate = bare(&brokers, &topic, total, Some(&dir.path().join("bare.db"))).await;

    let store = dir.path().join("state.db");
    let config = dir.path().join("turnstile.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"{}\"\n[policy]\npath = \"{}\"\n[daemon]\nlisten = \"\"\n[log]\nlevel = \"warn\"\n\
             [kafka]\nbrokers = \"{brokers}\"\ntopic = \"{topic}\"\ngroup_id = \"bench-{}\"\n\
             [kafka.consumer]\n\"fetch.wait.max.ms\" = \"{}\"\n\
             [kafka.producer]\n\"linger.ms\" = \"0\"\n\"batch.num.messages\" = \"1\"\n\"enable.idempotence\" = \"false\"\n",
            store.display(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/examples/role-model.toml"),
            std::process::id(),
            fetch_wait()
        ),
    )
    .unwrap();
    let _daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_turnstile"))
            .args(["run", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let times = wait_for(&store, total as usize, Duration::from_secs(1800));
    let (lo, hi) = (
        times.values().min().copied().unwrap_or(0),
        times.values().max().copied().unwrap_or(0),
    );
    let ours = (times.len() as f64 - 1.0) / ((hi - lo) as f64 / 1e6);
    println!("backlog of {total} events (3 partitions), first to last recorded:");
    println!("  bare rdkafka consumer (store offset only):      {bare_rate:>8.0} events/s");
    println!("  bare consumer + one durable SQLite insert each: {durable_rate:>8.0} events/s");
    println!(
        "  turnstile run (record + plan + audit, durable):  {ours:>8.0} events/s  ({} recorded)",
        times.len()
    );
    println!(
        "  ratios: ours/bare = {:.3}, ours/bare+durable insert = {:.2}",
        ours / bare_rate,
        ours / durable_rate
    );
    common::result(
        &format!("recording a backlog of {total} HR events (turnstile run, SQLite)"),
        ours,
        durable_rate,
        "events/s",
        "bare consumer + one durable SQLite insert each",
        false,
    );

    // Latency: the daemon is caught up; publish at a steady rate and time each event from
    // its publish (the record's CreateTime, taken by the producer) to its hr.record entry.
    // A bare consumer beside the daemon, timing each event to its receipt: the same
    // broker, fetch settings and publishing, with no work done per event.
    let first = 60_000_000u64;
    let watcher = bare_consumer(&brokers, &format!("watch-{}", std::process::id()));
    watcher.subscribe(&[topic.as_str()]).unwrap();
    for _ in 0..total {
        watcher.recv().await.unwrap();
    }
    let watching = tokio::spawn(async move {
        let mut seen = BTreeMap::new();
        while seen.len() < paced as usize {
            let m = watcher.recv().await.unwrap();
            let key: u64 = String::from_utf8_lossy(m.key().unwrap_or_default())
                .parse()
                .unwrap_or(0);
            seen.insert(key, jiff::Timestamp::now().as_microsecond());
        }
        seen
    });
    let sent = publish(&prod, &topic, first, first + paced, Some(rate)).await;
    let times = wait_for(&store, (total + paced) as usize, Duration::from_secs(300));
    let seen = watching.await.unwrap();
    let spread = |arrived: &dyn Fn(u64) -> Option<i64>| {
        let mut lat: Vec<f64> = (first..first + paced)
            .zip(&sent)
            .filter_map(|(n, at)| Some((arrived(n)? - at) as f64 / 1000.0))
            .collect();
        lat.sort_by(|a, b| a.total_cmp(b));
        lat
    };
    let ours = spread(&|n| times.get(&format!("bench-{n}")).copied());
    let bare = spread(&|n| seen.get(&n).copied());
    println!(
        "latency, {paced} events at {rate}/s, fetch.wait.max.ms = {}:",
        fetch_wait()
    );
    for (name, lat) in [
        ("bare consumer, publish to receipt      ", &bare),
        ("turnstile run, publish to recorded plan", &ours),
    ] {
        println!(
            "  {name}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} events)",
            percentile(lat, 0.50),
            percentile(lat, 0.99),
            lat.last().copied().unwrap_or(0.0),
            lat.len()
        );
    }
    println!(
        "  ratios ours/bare: p50 {:.2}, p99 {:.2}",
        percentile(&ours, 0.50) / percentile(&bare, 0.50),
        percentile(&ours, 0.99) / percentile(&bare, 0.99)
    );
    common::result(
        &format!("HR event published → plan recorded, p99 ({paced} at {rate}/s)"),
        percentile(&ours, 0.99),
        percentile(&bare, 0.99),
        "ms",
        "bare consumer publish → receipt p99",
        true,
    );
}
