//! Where the daemon's time per event goes when it records a backlog: the same steps as
//! `turnstile run` (the record's JSON parsed and checked by `accept`, batches of 500
//! planned by `ingest::plan_events`, then recorded by `ingest::record_planned` into a
//! durable SQLite store, one transaction each), timed step by step on one core, then
//! pipelined on two threads as the daemon runs them, with no broker in the way.
//!
//! `cargo bench --bench record` (`TURNSTILE_BENCH_EVENTS`, default 50,000;
//! `TURNSTILE_BENCH_BATCH`, default the daemon's most, 500). With
//! `TURNSTILE_BENCH_STORE=postgres` the store is the local PostgreSQL
//! (`TURNSTILE_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432/test?sslmode=disable`), in a
//! schema of its own, as replicas would share it.

#[allow(dead_code)]
mod common;

use std::time::Instant;
use turnstile::engine::ingest;
use turnstile::hr::HrEvent;
use turnstile::store::Store;
use turnstile::store::sqlite::SqliteStore;

fn main() {
    let total: u64 = std::env::var("TURNSTILE_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let model = turnstile::policy::RoleModel::parse(
        "role-model.toml",
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/role-model.toml"
        ))
        .unwrap(),
    )
    .unwrap()
    .0;
    let today: jiff::civil::Date = "2026-11-23".parse().unwrap();
    // Records per batch: at most as many as the daemon takes (`TURNSTILE_BENCH_BATCH`).
    let batch_size: usize = std::env::var("TURNSTILE_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(turnstile::daemon::MAX_BATCH);
    let records: Vec<(String, Vec<u8>)> = (20_000_000..20_000_000 + total)
        .map(|n| (n.to_string(), common::hr_event(n)))
        .collect();

    let t = Instant::now();
    let events: Vec<HrEvent> = records
        .iter()
        .map(|(k, v)| turnstile::daemon::accept(Some(k.as_bytes()), Some(v)).unwrap())
        .collect();
    let parse = t.elapsed().as_secs_f64();
    let refs: Vec<&HrEvent> = events.iter().collect();

    let dir = tempfile::tempdir().unwrap();
    let postgres = std::env::var("TURNSTILE_BENCH_STORE").as_deref() == Ok("postgres");
    let open = |name: &str| -> Box<dyn Store + Send> {
        if postgres {
            let url = std::env::var("TURNSTILE_TEST_POSTGRES").unwrap_or_else(|_| {
                "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".into()
            });
            let schema = format!("bench_record_{}_{name}", std::process::id());
            Box::new(
                turnstile::store::postgres::PgStore::connect(&url, Some(&schema), false).unwrap(),
            )
        } else {
            Box::new(SqliteStore::open(&dir.path().join(format!("{name}.db"))).unwrap())
        }
    };
    println!(
        "store: {}",
        if postgres {
            "PostgreSQL, a schema of its own"
        } else {
            "SQLite (WAL, synchronous=FULL), the log copied by a thread beside, as the daemon does"
        }
    );
    // As the daemon records: the log copied into the database by a thread of its own.
    let beside = |name: &str, work: &mut dyn FnMut() -> f64| -> f64 {
        let mut checkpointer = open(name);
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    checkpointer.checkpoint().unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(250));
                }
            });
            let took = work();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            took
        })
    };

    // One step after the other, on one core.
    let mut store = open("steps");
    store.leave_checkpoints().unwrap();
    let t = Instant::now();
    let planned: Vec<Vec<ingest::Planned>> = refs
        .chunks(batch_size)
        .map(|batch| ingest::plan_events(store.as_ref(), &model, batch, today, "bench").unwrap())
        .collect();
    let plan = t.elapsed().as_secs_f64();
    let record = beside("steps", &mut || {
        let t = Instant::now();
        for (batch, planned) in refs.chunks(batch_size).zip(&planned) {
            ingest::record_planned(store.as_mut(), batch, planned, "bench").unwrap();
        }
        t.elapsed().as_secs_f64()
    });
    drop(planned);

    // As the daemon does it: the next batch parsed and planned (reading accounts on a
    // connection of its own) while the store writes the one before.
    let mut recorder = open("pipelined");
    recorder.leave_checkpoints().unwrap();
    let mut planner = Some(open("pipelined"));
    let (records, model) = (&records, &model);
    let pipelined = beside("pipelined", &mut || {
        let t = Instant::now();
        let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<HrEvent>, Vec<ingest::Planned>)>(1);
        let planner = planner.take().unwrap();
        std::thread::scope(|scope| {
            scope.spawn(move || {
                for batch in records.chunks(batch_size) {
                    let events: Vec<HrEvent> = batch
                        .iter()
                        .map(|(k, v)| {
                            turnstile::daemon::accept(Some(k.as_bytes()), Some(v)).unwrap()
                        })
                        .collect();
                    let refs: Vec<&HrEvent> = events.iter().collect();
                    let planned =
                        ingest::plan_events(planner.as_ref(), model, &refs, today, "bench")
                            .unwrap();
                    tx.send((events, planned)).unwrap();
                }
                drop(tx);
            });
            for (events, planned) in rx {
                let refs: Vec<&HrEvent> = events.iter().collect();
                ingest::record_planned(recorder.as_mut(), &refs, &planned, "bench").unwrap();
            }
        });
        t.elapsed().as_secs_f64()
    });

    let us = |s: f64| s / total as f64 * 1e6;
    println!("{total} events, batches of {batch_size}:");
    println!(
        "  parse and check (accept):                  {:>6.1} µs/event",
        us(parse)
    );
    println!(
        "  plan_events (accounts, plan, digest, JSON): {:>6.1} µs/event",
        us(plan)
    );
    println!(
        "  record_planned (store, durable):            {:>6.1} µs/event",
        us(record)
    );
    println!(
        "  one after the other, one core:     {:>8.0} events/s",
        total as f64 / (parse + plan + record)
    );
    println!(
        "  pipelined, two threads (as `run`): {:>8.0} events/s",
        total as f64 / pipelined
    );
    for s in [&store, &recorder] {
        let entries = s.verify_audit(None).unwrap().unwrap().count;
        assert_eq!(entries, total, "every event's entry is in the trail");
    }
}
