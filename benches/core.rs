//! Benchmarks of the pure core, on one core (the loop is single-threaded).
//!
//! `cargo bench --bench core` plans for a synthetic population: persons per second for a
//! first plan (no accounts yet: everything to create) and a steady-state plan (accounts
//! already right: nothing to do, the daily case).
//!
//! With `TURNSTILE_BENCH_DIR=DIR` (a trust written by `turnstile-synth`, see
//! `scripts/bench-drift.sh`) it also times the drift pipeline against a raw read of the
//! same CSV files with the `csv` crate, and prints the ratio.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;
use turnstile::account::Account;
use turnstile::hr::{AssignmentStatus, Person};
use turnstile::plan::{plan_person, simulate};
use turnstile::policy::RoleModel;
use turnstile_core::testkit;

const PROFILES: &[(&str, &str, &str)] = &[
    (
        "Nursing and Midwifery Registered",
        "Staff Nurse",
        "Ward 7 Medicine",
    ),
    (
        "Additional Clinical Services",
        "Healthcare Assistant",
        "Ward 9 Surgery",
    ),
    ("Medical and Dental", "Consultant", "Cardiology"),
    (
        "Medical and Dental",
        "General Practitioner",
        "Riverside Practice",
    ),
    (
        "Allied Health Professionals",
        "Physiotherapist",
        "Therapies",
    ),
    ("Admin and Clerical", "Receptionist", "Riverside Practice"),
    ("Admin and Clerical", "Medical Secretary", "Cardiology"),
    ("Admin and Clerical", "Administrator", "Finance"),
    ("Estates and Ancillary", "Porter", "Estates"),
    ("Admin and Clerical", "Systems Analyst", "Digital Services"),
];

fn person(i: usize) -> Person {
    let (group, role, org) = PROFILES[i % PROFILES.len()];
    let (status, end) = match i % 50 {
        0 => (AssignmentStatus::TerminateAssignment, Some("2026-10-31")),
        1 => (AssignmentStatus::MaternityAndAdoption, None),
        _ => (AssignmentStatus::ActiveAssignment, None),
    };
    let number = format!("{}", 20_000_000 + i);
    let a = testkit::assignment(
        &format!("{number}-1"),
        status,
        group,
        role,
        org,
        "2019-04-01",
        end,
    );
    testkit::person(&number, vec![a])
}

fn planning(model: &RoleModel) {
    let n = 200_000;
    let people: Vec<Person> = (0..n).map(person).collect();
    let today = "2026-11-23".parse().unwrap();
    let start = Instant::now();
    let mut changes = 0usize;
    let mut settled: Vec<Vec<Account>> = Vec::with_capacity(n);
    for p in &people {
        let plan = plan_person(model, p, &[], today);
        changes += plan.len();
        let mut accounts = Vec::new();
        for system in model.systems.keys() {
            accounts.extend(simulate(
                system,
                p.employee_number.as_str(),
                Vec::new(),
                &plan,
            ));
        }
        settled.push(accounts);
    }
    let first = start.elapsed();
    let start = Instant::now();
    let mut steady = 0usize;
    for (p, accounts) in people.iter().zip(&settled) {
        let refs: Vec<&Account> = accounts.iter().collect();
        steady += black_box(plan_person(model, p, &refs, today)).len();
    }
    let again = start.elapsed();
    assert_eq!(steady, 0, "a settled population needs no changes");
    println!(
        "plan, first (everything to create): {n} persons, {changes} changes in {:.2?}: {:.0} persons/s",
        first,
        n as f64 / first.as_secs_f64()
    );
    println!(
        "plan, steady state (nothing to do): {n} persons in {:.2?}: {:.0} persons/s",
        again,
        n as f64 / again.as_secs_f64()
    );
}

fn raw_read(path: &Path) -> usize {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .unwrap();
    let mut rec = csv::StringRecord::new();
    let mut n = 0;
    while r.read_record(&mut rec).unwrap() {
        n += rec.len();
    }
    n
}

fn drift(model: &RoleModel, dir: &Path) {
    const SYSTEMS: [&str; 5] = ["ad", "nhsmail", "emis", "systmone", "smartcard"];
    let esr = dir.join("esr-extract.csv");
    let exports: Vec<_> = SYSTEMS
        .iter()
        .map(|s| dir.join("exports").join(format!("{s}.csv")))
        .collect();
    // Warm the page cache so both sides read from memory.
    raw_read(&esr);
    let start = Instant::now();
    let mut fields = raw_read(&esr);
    for e in &exports {
        fields += raw_read(e);
    }
    let raw = start.elapsed();

    let start = Instant::now();
    let tz = jiff::tz::TimeZone::get("Europe/London").unwrap();
    let extract = turnstile::feed::esr::read(&esr, &Default::default()).unwrap();
    let read: Vec<_> = SYSTEMS
        .iter()
        .zip(&exports)
        .map(|(s, e)| {
            turnstile::feed::export::read::<turnstile::drift::Held>(
                s,
                e,
                &Default::default(),
                &tz,
                &Default::default(),
            )
            .unwrap()
        })
        .collect();
    let systems: Vec<_> = SYSTEMS
        .iter()
        .zip(&read)
        .map(|(s, x)| turnstile::drift::SystemAccounts {
            system: s,
            accounts: &x.accounts,
            has_last_logon: true,
        })
        .collect();
    let findings = turnstile::drift::findings(
        model,
        &extract.persons,
        &extract.held_back,
        &systems,
        "2026-11-23".parse().unwrap(),
        &tz,
    );
    let ours = start.elapsed();
    println!(
        "drift on {}: {} persons, {} findings in {:.2?}; raw csv read of the same files ({fields} fields) {:.2?}; ratio raw/ours = {:.2}",
        dir.display(),
        extract.persons.len(),
        findings.len(),
        ours,
        raw,
        raw.as_secs_f64() / ours.as_secs_f64()
    );
}

fn main() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/role-model.toml"
    ))
    .unwrap();
    let (model, _) = RoleModel::parse("examples/role-model.toml", &text).unwrap();
    planning(&model);
    if let Ok(dir) = std::env::var("TURNSTILE_BENCH_DIR") {
        drift(&model, Path::new(&dir));
    }
}
