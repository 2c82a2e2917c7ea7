//! Where the daemon's time per event goes when it records a backlog: the same steps as
//! `turnstile run` (the record's JSON parsed and checked by `accept`, then batches of 500
//! recorded by `ingest::record_batch` into a durable SQLite store, one transaction each),
//! timed step by step on one core, with no broker in the way.
//!
//! `cargo bench --bench record` (`TURNSTILE_BENCH_EVENTS`, default 50,000). With
//! `TURNSTILE_BENCH_STORE=postgres` the store is the local PostgreSQL
//! (`TURNSTILE_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432/test`), in a
//! schema of its own, as replicas would share it.

#[allow(dead_code)]
mod common;

use std::time::Instant;
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
    let records: Vec<(String, Vec<u8>)> = (20_000_000..20_000_000 + total)
        .map(|n| (n.to_string(), common::hr_event(n)))
        .collect();

    let t = Instant::now();
    let events: Vec<HrEvent> = records
        .iter()
        .map(|(k, v)| turnstile::daemon::accept(Some(k.as_bytes()), Some(v)).unwrap())
        .collect();
    let parse = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut planned = 0usize;
    let mut changed = 0usize;
    for e in &events {
        let changes = turnstile::plan::plan_person_brief(&model, &e.person, &[], today);
        let draft = turnstile::engine::ingest::event_draft(
            e,
            &changes,
            jiff::Timestamp::now(),
            "bench",
            today,
            &e.person,
        );
        planned += 1;
        changed += changes.len();
        std::hint::black_box(draft);
    }
    let plan = t.elapsed().as_secs_f64();

    let dir = tempfile::tempdir().unwrap();
    let mut store: Box<dyn Store> = match std::env::var("TURNSTILE_BENCH_STORE").as_deref() {
        Ok("postgres") => {
            let url = std::env::var("TURNSTILE_TEST_POSTGRES")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            let schema = format!("bench_record_{}", std::process::id());
            println!("store: PostgreSQL, schema {schema}");
            Box::new(
                turnstile::store::postgres::PgStore::connect(&url, Some(&schema), false).unwrap(),
            )
        }
        _ => {
            println!("store: SQLite (WAL, synchronous=FULL)");
            Box::new(SqliteStore::open(&dir.path().join("state.db")).unwrap())
        }
    };
    let record_all = |store: &mut dyn Store| {
        let t = Instant::now();
        for batch in events.chunks(500) {
            let refs: Vec<&HrEvent> = batch.iter().collect();
            turnstile::engine::ingest::record_batch(store, &model, &refs, today, "bench").unwrap();
        }
        t.elapsed().as_secs_f64()
    };
    let mut record = record_all(store.as_mut());
    let mut inline = None;
    if std::env::var("TURNSTILE_BENCH_STORE").as_deref() != Ok("postgres") {
        // As the daemon records: the log copied into the database by a thread of its own.
        let path = dir.path().join("checkpointed.db");
        let mut recorder = SqliteStore::open(&path).unwrap();
        let mut checkpointer = SqliteStore::open(&path).unwrap();
        recorder.leave_checkpoints().unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let beside = std::thread::scope(|scope| {
            scope.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    checkpointer.checkpoint().unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(250));
                }
            });
            let took = record_all(&mut recorder);
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            took
        });
        inline = Some(record);
        record = beside;
    }
    let us = |s: f64| s / total as f64 * 1e6;
    println!("{total} events, {planned} audit entries, {changed} changes planned:");
    println!(
        "  parse and check (accept):             {:>6.1} µs/event",
        us(parse)
    );
    println!(
        "  plan and audit drafts (no store):     {:>6.1} µs/event",
        us(plan)
    );
    if let Some(inline) = inline {
        println!(
            "  record_batch, copying the log itself: {:>6.1} µs/event",
            us(inline)
        );
    }
    println!(
        "  record_batch (plan + store, durable): {:>6.1} µs/event",
        us(record)
    );
    println!(
        "  the daemon's floor without the broker: {:>8.0} events/s",
        total as f64 / (parse + record)
    );
    let entries = store.verify_audit(None).unwrap().unwrap().count;
    assert_eq!(
        entries as usize, planned,
        "every event's entry is in the trail"
    );
}
