//! The daemon closes the loop: HR events published to Kafka change the real accounts in
//! Samba AD by themselves, with no `reconcile` run, and each change is audited with the
//! event behind it.

use crate::kafka::{Setup, brokers, produce, producer, rec, wait_until, wait_until_else};
use crate::ldap::Dir;
use serde_json::json;
use std::time::Duration;
use turnstile::connectors::Connector;
use turnstile::connectors::ldap::LdapConnector;
use turnstile::store::prelude::*;
use turnstile::store::{AuditFilter, Store};

const MODEL: &str = r#"version = 1
[systems.ad]
name = "Active Directory"
leaver = "disable_and_revoke"
suspension = "disable"
manages = ["GG-*"]
[roles.nurse]
grants = { ad = ["GG-AllStaff", "GG-Nursing"] }
[roles.admin]
grants = { ad = ["GG-AllStaff", "GG-Admin"] }
[[rules]]
id = "nurses"
grant = ["nurse"]
match = { job_role = ["Staff Nurse"] }
[[rules]]
id = "admin"
grant = ["admin"]
match = { job_role = ["Administrator"] }
"#;

/// An HR event for `number`: one assignment as `role` with `status`, from `start` to `end`.
fn event(
    number: &str,
    seq: u64,
    role: &str,
    status: &str,
    start: &str,
    end: Option<&str>,
) -> serde_json::Value {
    json!({
        "schema": "turnstile.hr-event/v1",
        "event_id": format!("{number}-{seq}"),
        "source": "esr",
        "kind": "mover",
        "occurred_at": format!("2026-11-01T09:{:02}:00Z", seq),
        "sequence": seq,
        "person": {
            "employee_number": number,
            "given_name": "Close",
            "family_name": format!("Loop{}", number.rsplit('-').next().unwrap_or("0")),
            "assignments": [{
                "assignment_number": format!("{number}-1"),
                "primary": true,
                "status": status,
                "job_role": role,
                "position_title": role,
                "organisation": "Ward 7",
                "start_date": start,
                "end_date": end,
            }]
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hr_events_change_active_directory_by_themselves() {
    let dir = Dir::ad().with_staff_groups().await;
    let brokers = brokers();
    let setup = Setup::new(&brokers, 1, true).await;
    let cfg = dir.config("ad");
    write_daemon_config(&setup, &brokers, &cfg, "");

    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Europe/London").unwrap())
        .date();
    let yesterday = today.yesterday().unwrap().to_string();
    let today = today.to_string();
    let run = format!("C{}", std::process::id());
    let n = |i: u32| format!("{run}-{i}");
    let (joiner, leaver, mover, suspended) = (n(1), n(2), n(3), n(4));
    let p = producer(&brokers, true);
    let mut daemon = setup.start();
    // First everyone is in post (the joiner from today).
    produce(
        &p,
        &setup.topic,
        &[
            rec(
                &joiner,
                &event(&joiner, 1, "Staff Nurse", "Active Assignment", &today, None),
            ),
            rec(
                &leaver,
                &event(
                    &leaver,
                    1,
                    "Staff Nurse",
                    "Active Assignment",
                    "2020-01-01",
                    None,
                ),
            ),
            rec(
                &mover,
                &event(
                    &mover,
                    1,
                    "Staff Nurse",
                    "Active Assignment",
                    "2020-01-01",
                    None,
                ),
            ),
            rec(
                &suspended,
                &event(
                    &suspended,
                    1,
                    "Staff Nurse",
                    "Active Assignment",
                    "2020-01-01",
                    None,
                ),
            ),
        ],
    )
    .await;
    let c = LdapConnector::new(cfg.clone(), false);
    let account = |number: String| {
        let c = &c;
        async move { c.read_person(&number).await.unwrap().into_iter().next() }
    };
    for who in [&joiner, &leaver, &mover, &suspended] {
        let mut found = None;
        for _ in 0..300 {
            found = account(who.clone()).await.filter(|a| a.enabled);
            if found.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let a = found.unwrap_or_else(|| {
            panic!(
                "{who} was never enabled in AD; see {}",
                setup.log().display()
            )
        });
        assert!(a.entitlements.contains("GG-Nursing"), "{a:?}");
    }
    // Then the leaver's last working day was yesterday, the mover becomes an
    // administrator, and the fourth is suspended.
    produce(
        &p,
        &setup.topic,
        &[
            rec(
                &leaver,
                &event(
                    &leaver,
                    2,
                    "Staff Nurse",
                    "Terminate Assignment",
                    "2020-01-01",
                    Some(&yesterday),
                ),
            ),
            rec(
                &mover,
                &event(
                    &mover,
                    2,
                    "Administrator",
                    "Active Assignment",
                    "2020-01-01",
                    None,
                ),
            ),
            rec(
                &suspended,
                &event(
                    &suspended,
                    2,
                    "Staff Nurse",
                    "Suspend No Pay",
                    "2020-01-01",
                    None,
                ),
            ),
        ],
    )
    .await;
    let mut settled = false;
    for _ in 0..300 {
        let l = account(leaver.clone()).await;
        let m = account(mover.clone()).await;
        let s = account(suspended.clone()).await;
        if let (Some(l), Some(m), Some(s)) = (l, m, s)
            && !l.enabled
            && l.entitlements.is_empty()
            && m.enabled
            && m.entitlements.contains("GG-Admin")
            && !m.entitlements.contains("GG-Nursing")
            && !s.enabled
        {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        settled,
        "AD did not reach the state HR says; see {}",
        setup.log().display()
    );
    let status = daemon.terminate(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");

    // Each change is in the trail, applied, with the event that caused it.
    let mut store = turnstile::store::sqlite::SqliteStore::open(&setup.store).unwrap();
    let trail = store.audit(&AuditFilter::default()).unwrap();
    let applied = |who: &str, action: &str| {
        trail.iter().any(|e| {
            e.draft.employee_number.as_deref() == Some(who)
                && e.draft.outcome == "applied"
                && e.draft.action.starts_with(action)
                && e.draft.event_id.is_some()
                && e.draft.actor == "turnstile run"
        })
    };
    assert!(applied(&joiner, "change.create"));
    assert!(
        applied(&leaver, "change.disable"),
        "the leaver's disable, with its event"
    );
    assert!(applied(&mover, "change.grant GG-Admin"));
    assert!(applied(&mover, "change.revoke GG-Nursing"));
    assert!(applied(&suspended, "change.disable"));
    assert!(store.verify_audit(None).unwrap().is_ok());
    // Nothing is left pending but future checkpoints.
    let now = jiff::Timestamp::now();
    assert!(store.due_pending(now, 10).unwrap().is_empty());
}

/// The daemon's config for `setup`, with the LDAP target `cfg` as `[targets.ad]` (its
/// password in a file only its owner can read) and `extra` sections.
fn write_daemon_config(
    setup: &Setup,
    brokers: &str,
    cfg: &turnstile::connectors::ldap::LdapConfig,
    extra: &str,
) {
    write_daemon_config_with(setup, brokers, cfg, "", extra)
}

/// As [`write_daemon_config`], with `daemon` lines added to `[daemon]`.
fn write_daemon_config_with(
    setup: &Setup,
    brokers: &str,
    cfg: &turnstile::connectors::ldap::LdapConfig,
    daemon: &str,
    extra: &str,
) {
    let d = setup.dir.path();
    std::fs::write(d.join("model.toml"), MODEL).unwrap();
    let pw = d.join("ad.pw");
    std::fs::write(&pw, cfg.bind_password.expose()).unwrap();
    std::fs::set_permissions(&pw, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let dialect = match cfg.dialect {
        turnstile::connectors::ldap::Dialect::ActiveDirectory => format!(
            "dialect = \"active_directory\"\nca_file = \"{}\"\ntls_verify_hostname = false\nupn_suffix = \"example.nhs.uk\"",
            cfg.ca_file.as_ref().unwrap().display()
        ),
        turnstile::connectors::ldap::Dialect::OpenLdap => {
            "dialect = \"open_ldap\"\nallow_plain_bind = true".to_string()
        }
    };
    std::fs::write(
        &setup.config,
        format!(
            r#"[store]
path = "{store}"
[policy]
path = "{model}"
[daemon]
listen = "{admin}"
apply_every_ms = 100
check_every_secs = 1
{daemon}
[kafka]
brokers = "{brokers}"
topic = "{topic}"
group_id = "{group}"
session_timeout_ms = 2000
auto_commit_interval_ms = 200
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[kafka.producer]
"enable.idempotence" = "false"
{extra}
[targets.ad]
type = "ldap"
{dialect}
url = "{url}"
bind_dn = "{bind}"
bind_password_file = "{pw}"
base_dn = "{base}"
users_container = "{users}"
groups_container = "{groups}"
timeout_secs = 10
"#,
            store = setup.store.display(),
            model = d.join("model.toml").display(),
            admin = setup.admin,
            topic = setup.topic,
            group = setup.group,
            url = cfg.url,
            bind = cfg.bind_dn,
            pw = pw.display(),
            base = cfg.base_dn,
            users = cfg.users_container,
            groups = cfg.groups_container,
        ),
    )
    .unwrap();
}

/// A staff nurse on Ward 7 since 2020 (a leaver when `end` is given), named `given` and
/// `family` with the last character of the number, so each test's people differ.
fn ward_nurse(number: &str, given: &str, family: &str, end: Option<&str>) -> turnstile::hr::Person {
    use turnstile::hr::AssignmentStatus;
    let status = if end.is_some() {
        AssignmentStatus::TerminateAssignment
    } else {
        AssignmentStatus::ActiveAssignment
    };
    let mut a = turnstile_core::testkit::assignment(
        &format!("{number}-1"),
        status,
        "",
        "Staff Nurse",
        "Ward 7",
        "2020-01-01",
        end,
    );
    a.staff_group = None;
    let family = format!("{family}{}", &number[number.len() - 1..]);
    turnstile_core::testkit::named(number, given, &family, vec![a])
}

/// Records `person` as an ESR file event taken at `at`, with the changes it plans.
fn record_at(
    store: &mut turnstile::store::sqlite::SqliteStore,
    model: &turnstile::policy::RoleModel,
    person: turnstile::hr::Person,
    at: jiff::Timestamp,
) {
    use turnstile::engine::ingest;
    use turnstile::hr::{EventKind, Source};
    let event = ingest::file_event(Source::Esr, person, at, EventKind::Mover).unwrap();
    ingest::record(
        store,
        model,
        &event,
        &[],
        turnstile::clock::today(at),
        "test",
    )
    .unwrap();
}

/// Whether the person's (first) account on `c` is enabled; they must have one.
async fn is_enabled(c: std::sync::Arc<LdapConnector>, number: String) -> bool {
    c.read_person(&number).await.unwrap()[0].enabled
}

/// One pass of the daemon's applier at `now`.
async fn pass(
    model: &turnstile::policy::RoleModel,
    store: &mut turnstile::store::sqlite::SqliteStore,
    targets: &mut [turnstile::engine::targets::Target],
    now: &str,
) -> turnstile::engine::due::DueReport {
    pass_guarded(model, store, targets, &Default::default(), now).await
}

async fn pass_guarded(
    model: &turnstile::policy::RoleModel,
    store: &mut turnstile::store::sqlite::SqliteStore,
    targets: &mut [turnstile::engine::targets::Target],
    guard: &turnstile::config::GuardConfig,
    now: &str,
) -> turnstile::engine::due::DueReport {
    turnstile::engine::due::apply_due(
        model,
        store,
        targets,
        guard,
        now.parse().unwrap(),
        100,
        "test",
    )
    .await
    .unwrap()
}

/// A held plan that is rejected applies none of its changes, and its people are not held
/// again by themselves (they wait for their next checkpoint or a new HR record); a second
/// batch while a plan is undecided waits behind it, never merged into it.
#[tokio::test(flavor = "current_thread")]
async fn a_rejected_plan_changes_nothing() {
    use std::sync::Arc;
    use turnstile::engine::{held, targets::Target};
    use turnstile::store::HeldStatus;
    let dir = Dir::openldap().with_staff_groups().await;
    let model = turnstile::policy::RoleModel::parse("m.toml", MODEL)
        .unwrap()
        .0;
    let connector = Arc::new(LdapConnector::new(dir.config("ad"), false));
    let mut targets = vec![Target::new(connector.clone())];
    let mut store = turnstile::store::sqlite::SqliteStore::in_memory().unwrap();
    let guard = turnstile::config::GuardConfig {
        min_removals: 0,
        max_removals: 1,
        ..Default::default()
    };
    let at = |t: &str| -> jiff::Timestamp { t.parse().unwrap() };
    let run = format!("J{}", std::process::id());
    let people: Vec<String> = (1..=4).map(|i| format!("{run}-{i}")).collect();
    let nurse = |number: &str, end: Option<&str>| ward_nurse(number, "Held", "Reject", end);
    let record = |store: &mut turnstile::store::sqlite::SqliteStore, p, when: &str| {
        record_at(store, &model, p, at(when))
    };
    let enabled = |number: &String| is_enabled(connector.clone(), number.clone());
    for n in &people {
        record(&mut store, nurse(n, None), "2026-11-01T08:00:00Z");
    }
    pass_guarded(
        &model,
        &mut store,
        &mut targets,
        &guard,
        "2026-11-01T08:00:01Z",
    )
    .await;
    // Two leave at once: over the limit of one, held.
    for n in &people[..2] {
        record(
            &mut store,
            nurse(n, Some("2026-11-09")),
            "2026-11-10T08:00:00Z",
        );
    }
    let r = pass_guarded(
        &model,
        &mut store,
        &mut targets,
        &guard,
        "2026-11-10T08:00:01Z",
    )
    .await;
    assert_eq!((r.plans.len(), r.held), (1, 2), "{r:?}");
    let id = r.plans[0].id;
    // A third leaves while it is undecided: they wait behind it, outside it.
    record(
        &mut store,
        nurse(&people[2], Some("2026-11-09")),
        "2026-11-10T09:00:00Z",
    );
    let r = pass_guarded(
        &model,
        &mut store,
        &mut targets,
        &guard,
        "2026-11-10T09:00:01Z",
    )
    .await;
    assert_eq!((r.plans.len(), r.held), (0, 1), "{r:?}");
    assert_eq!(
        store
            .held_plan(id)
            .unwrap()
            .unwrap()
            .1
            .iter()
            .filter(|c| c.employee_number == people[2])
            .count(),
        0
    );
    for n in &people[..3] {
        assert!(enabled(n).await, "{n}: nothing applied while held");
    }
    let rejected = held::reject(
        &model,
        &mut store,
        id,
        "Sam Lee",
        "ESR extract was cut",
        at("2026-11-10T10:00:00Z"),
    )
    .unwrap();
    assert_eq!(rejected.status, HeldStatus::Rejected);
    assert!(
        held::reject(
            &model,
            &mut store,
            id,
            "Sam Lee",
            "again",
            at("2026-11-10T10:00:01Z")
        )
        .is_err()
    );
    // The rejected two stay as they are; the one who waited is looked at afresh, alone
    // within the limit, and goes through.
    let r = pass_guarded(
        &model,
        &mut store,
        &mut targets,
        &guard,
        "2026-11-10T10:00:02Z",
    )
    .await;
    assert!(r.plans.is_empty(), "{r:?}");
    assert!(enabled(&people[0]).await && enabled(&people[1]).await);
    assert!(!enabled(&people[2]).await, "the one who waited behind it");
    assert!(enabled(&people[3]).await);
    let trail = store.audit(&AuditFilter::default()).unwrap();
    assert!(trail.iter().any(|e| e.draft.action == "plan.rejected"
        && e.draft.actor == "Sam Lee"
        && e.draft.reason.contains("ESR extract was cut")));
}

/// The mass-change guard on the daemon's own changes: 6 of 20 staff (30 %) turned into
/// leavers in one batch change nothing in the directory, a plan is held and shown in
/// `/metrics` and `turnstile held` (the daemon stays ready), until `turnstile approve ID
/// --as NAME` applies exactly it, under that name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mass_leaving_waits_for_a_named_approval() {
    let dir = Dir::openldap().with_staff_groups().await;
    let brokers = brokers();
    let setup = Setup::new(&brokers, 1, true).await;
    let cfg = dir.config("ad");
    write_daemon_config(
        &setup,
        &brokers,
        &cfg,
        "[guard]\nmin_removals = 0\nmax_removals = 5\nmax_removal_share = 1.0",
    );
    let yesterday = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Europe/London").unwrap())
        .date()
        .yesterday()
        .unwrap()
        .to_string();
    let run = format!("G{}", std::process::id());
    let staff: Vec<String> = (1..=20).map(|i| format!("{run}-{i}")).collect();
    let (leavers, stayers) = staff.split_at(6);
    let p = producer(&brokers, true);
    let mut daemon = setup.start();
    let in_post: Vec<_> = staff
        .iter()
        .map(|n| {
            rec(
                n,
                &event(n, 1, "Staff Nurse", "Active Assignment", "2020-01-01", None),
            )
        })
        .collect();
    produce(&p, &setup.topic, &in_post).await;
    let c = LdapConnector::new(cfg.clone(), false);
    let enabled = |numbers: &[String]| {
        let c = &c;
        let numbers = numbers.to_vec();
        async move {
            let mut out = Vec::new();
            for n in numbers {
                out.push(
                    c.read_person(&n)
                        .await
                        .unwrap()
                        .first()
                        .is_some_and(|a| a.enabled),
                );
            }
            out
        }
    };
    for _ in 0..300 {
        if enabled(&staff).await.iter().all(|e| *e) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        enabled(&staff).await.iter().all(|e| *e),
        "all 20 in post; see {}",
        setup.log().display()
    );
    // The batch arrives while the daemon is down, so it is one window on start.
    let status = daemon.terminate(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let leaving: Vec<_> = leavers
        .iter()
        .map(|n| {
            rec(
                n,
                &event(
                    n,
                    2,
                    "Staff Nurse",
                    "Terminate Assignment",
                    "2020-01-01",
                    Some(&yesterday),
                ),
            )
        })
        .collect();
    produce(&p, &setup.topic, &leaving).await;
    let daemon = setup.start();
    let config = setup.config.display().to_string();
    let cli = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_turnstile"))
            .args(args)
            .args(["--config", &config])
            .output()
            .unwrap();
        (
            o.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    };
    let mut held = String::new();
    wait_until("a held plan", Duration::from_secs(30), || {
        held = cli(&["held", "--format", "json"]).1;
        held.contains("\"status\":\"held\"")
    });
    let plan: serde_json::Value = serde_json::from_str(held.lines().next().unwrap()).unwrap();
    let id = plan["id"].as_u64().unwrap().to_string();
    assert_eq!(plan["system"], "ad", "{plan}");
    assert_eq!(plan["people"], 6, "{plan}");
    // Held: visible in the metrics, and nothing of it applied, however long it waits.
    // The daemon stays ready: a held plan is an alert, and an unready pod would leave
    // its Service, taking the approve route with it.
    wait_until(
        "the metrics count the plan",
        Duration::from_secs(10),
        || {
            daemon
                .get("/metrics")
                .is_some_and(|(_, m)| m.contains("turnstile_held_plans 1"))
        },
    );
    let (status, body) = daemon.get("/readyz").unwrap();
    assert_eq!(status, 200, "ready while a plan is held: {body}");
    assert_eq!(
        daemon.get("/healthz").map(|(s, _)| s),
        Some(200),
        "alive all the same"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        enabled(leavers).await.iter().all(|e| *e),
        "nothing applied before the approval; see {}",
        setup.log().display()
    );
    let (_, shown) = cli(&["held", &id]);
    for n in leavers {
        assert!(shown.contains(&format!("{n} ")), "{shown}");
    }
    // Approval needs a name.
    let (code, out) = cli(&["approve", &id]);
    assert_eq!(code, Some(2), "{out}");
    let (code, out) = cli(&["approve", &id, "--as", "Dr Jane Smith"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        enabled(leavers).await.iter().all(|e| !*e),
        "the held plan applied: {out}"
    );
    assert!(
        enabled(stayers).await.iter().all(|e| *e),
        "and nothing else"
    );
    let (code, out) = cli(&["approve", &id, "--as", "Dr Jane Smith"]);
    assert_eq!(code, Some(2), "decided once: {out}");
    assert!(out.contains("approved"), "{out}");
    wait_until("the metrics clear", Duration::from_secs(10), || {
        daemon
            .get("/metrics")
            .is_some_and(|(_, m)| m.contains("turnstile_held_plans 0"))
    });
    drop(daemon);
    let store = turnstile::store::sqlite::SqliteStore::open(&setup.store).unwrap();
    let trail = store.audit(&AuditFilter::default()).unwrap();
    let held = trail
        .iter()
        .filter(|e| e.draft.action == "plan.held")
        .count();
    assert_eq!(held, 1, "held once");
    assert!(trail.iter().any(|e| e.draft.action == "plan.approved"
        && e.draft.actor == "Dr Jane Smith (turnstile approve)"));
    for n in leavers {
        assert!(
            trail
                .iter()
                .any(|e| e.draft.employee_number.as_deref() == Some(n.as_str())
                    && e.draft.action == "change.disable"
                    && e.draft.outcome == "applied"
                    && e.draft.actor == "Dr Jane Smith (turnstile approve)"
                    && e.draft.event_id.is_some()),
            "{n}'s disable is the approver's, with its event"
        );
    }
    assert!(store.verify_audit(None).unwrap().is_ok());
}

/// slapd cut mid-stream (by the test's TCP proxy, as a stopped server looks): the metrics
/// show the target down (the daemon stays ready), the changes wait as pending without using up their attempts, nothing
/// is lost, and everything lands once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_outage_loses_nothing() {
    use crate::peers::{Proxy, env};
    let dir = Dir::openldap().with_staff_groups().await;
    let brokers = brokers();
    let setup = Setup::new(&brokers, 1, true).await;
    let cfg = dir.config("ad");
    let proxy = Proxy::start(
        env("SLAPD_URL")
            .trim_start_matches("ldap://")
            .trim_end_matches('/')
            .to_string(),
    )
    .await;
    let mut via = cfg.clone();
    via.url = format!("ldap://127.0.0.1:{}/", proxy.port);
    // The guard is not what this test is about.
    write_daemon_config(&setup, &brokers, &via, "[guard]\nmin_removals = 1000");
    let yesterday = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Europe/London").unwrap())
        .date()
        .yesterday()
        .unwrap()
        .to_string();
    let run = format!("O{}", std::process::id());
    let staff: Vec<String> = (1..=15).map(|i| format!("{run}-{i}")).collect();
    let (first, joiners) = staff.split_at(10);
    let leavers = &first[..5];
    let p = producer(&brokers, true);
    let daemon = setup.start();
    let in_post = |numbers: &[String]| -> Vec<_> {
        numbers
            .iter()
            .map(|n| {
                rec(
                    n,
                    &event(n, 1, "Staff Nurse", "Active Assignment", "2020-01-01", None),
                )
            })
            .collect()
    };
    produce(&p, &setup.topic, &in_post(first)).await;
    let c = LdapConnector::new(cfg.clone(), false);
    let state = |numbers: &[String]| {
        let c = &c;
        let numbers = numbers.to_vec();
        async move {
            let mut out = Vec::new();
            for n in numbers {
                out.push(c.read_person(&n).await.unwrap().first().map(|a| a.enabled));
            }
            out
        }
    };
    for _ in 0..300 {
        if state(first).await.iter().all(|e| *e == Some(true)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        state(first).await.iter().all(|e| *e == Some(true)),
        "in post"
    );

    proxy.take_down();
    let mut stream = in_post(joiners);
    stream.extend(leavers.iter().map(|n| {
        rec(
            n,
            &event(
                n,
                2,
                "Staff Nurse",
                "Terminate Assignment",
                "2020-01-01",
                Some(&yesterday),
            ),
        )
    }));
    produce(&p, &setup.topic, &stream).await;
    wait_until(
        "the metrics show the target down",
        Duration::from_secs(30),
        || {
            daemon
                .get("/metrics")
                .is_some_and(|(_, m)| m.contains("turnstile_target_up{system=\"ad\"} 0"))
        },
    );
    let (status, body) = daemon.get("/readyz").unwrap();
    assert_eq!(
        status, 200,
        "a target down is an alert, not unreadiness: {body}"
    );
    // A minute: on a loaded CI machine the consumer may first sit out a group rebalance.
    wait_until_else(
        "all ten wait as pending",
        Duration::from_secs(60),
        || {
            let pending = setup.open_store().pending().unwrap();
            pending.iter().filter(|p| p.last_error.is_some()).count() == 10
        },
        || {
            format!(
                "{} recorded, pending {:#?}\n{}",
                setup.recorded(),
                setup.open_store().pending().unwrap(),
                setup.log_text()
            )
        },
    );
    let (_, metrics) = daemon.get("/metrics").unwrap();
    assert!(
        metrics.contains("turnstile_target_up{system=\"ad\"} 0"),
        "{metrics}"
    );
    assert!(
        state(leavers).await.iter().all(|e| *e == Some(true)),
        "nothing reached it"
    );
    // Down for longer than the first few retries would last.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let pending = setup.open_store().pending().unwrap();
    assert!(
        pending.iter().all(|p| p.attempts == 0),
        "waiting for a target costs no attempt: {pending:?}"
    );

    proxy.bring_up();
    let mut landed = false;
    for _ in 0..600 {
        let l = state(leavers).await;
        let j = state(joiners).await;
        if l.iter().all(|e| *e == Some(false)) && j.iter().all(|e| *e == Some(true)) {
            landed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        landed,
        "everything lands after it returns; see {}",
        setup.log().display()
    );
    wait_until("the target is up again", Duration::from_secs(30), || {
        daemon
            .get("/metrics")
            .is_some_and(|(_, m)| m.contains("turnstile_target_up{system=\"ad\"} 1"))
    });
    drop(daemon);
    let log = setup.log_text();
    assert_eq!(
        log.matches("target cannot be reached").count(),
        1,
        "said once when it went away, not on every try:\n{log}"
    );
    assert_eq!(log.matches("target answers again").count(), 1, "{log}");
    // Each change was announced in the trail before it was sent.
    let trail = setup.open_store().audit(&AuditFilter::default()).unwrap();
    for n in leavers {
        let of = |action: &str| {
            trail
                .iter()
                .find(|e| {
                    e.draft.employee_number.as_deref() == Some(n.as_str())
                        && e.draft.action == action
                        && (action != "apply.started" || e.draft.reason.contains("disable"))
                })
                .map(|e| e.seq)
        };
        let (started, disabled) = (of("apply.started"), of("change.disable"));
        assert!(
            started.is_some() && started < disabled,
            "{n}: apply.started ({started:?}) before change.disable ({disabled:?})"
        );
    }
}

/// One crash run against a real target: a stream of HR stories (in post, moving role,
/// suspended, on maternity leave, leaving, coming back) flows through Kafka while the
/// daemon applies them to slapd and is SIGKILLed at random moments; after a last clean
/// run the directory is what HR says (planning again gives nothing, one account each),
/// nothing is left due, and every failed change carries its reason.
/// Thirty people's HR stories (2–5 records each: nurses, administrators, suspensions,
/// maternity leave, leavers), interleaved as a feed would carry them; with each
/// person's last record.
fn crash_story(
    rng: &mut crate::kafka::Rng,
    run: &str,
) -> (
    Vec<crate::kafka::Rec>,
    std::collections::BTreeMap<String, serde_json::Value>,
) {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Europe/London").unwrap())
        .date();
    let yesterday = today.yesterday().unwrap().to_string();
    let mut lanes = Vec::new();
    let mut finals = std::collections::BTreeMap::new();
    for i in 1..=30 {
        let number = format!("{run}-{i}");
        let steps = 2 + rng.below(4);
        let mut lane = Vec::new();
        for seq in 1..=steps {
            let (role, status, end) = match if seq == 1 { rng.below(2) } else { rng.below(5) } {
                0 => ("Staff Nurse", "Active Assignment", None),
                1 => ("Administrator", "Active Assignment", None),
                2 => ("Staff Nurse", "Suspend No Pay", None),
                3 => ("Staff Nurse", "Maternity and Adoption", None),
                _ => (
                    "Staff Nurse",
                    "Terminate Assignment",
                    Some(yesterday.as_str()),
                ),
            };
            let e = event(&number, seq, role, status, "2020-01-01", end);
            finals.insert(number.clone(), e.clone());
            lane.push(rec(&number, &e));
        }
        lanes.push(lane);
    }
    (crate::kafka::interleave(rng, &lanes), finals)
}

/// Produces the first half of `records` now and the rest ten at a time, `pace` apart.
async fn feed_in_two_halves(
    brokers: &str,
    topic: &str,
    records: &[crate::kafka::Rec],
    pace: Duration,
) -> tokio::task::JoinHandle<()> {
    let p = producer(brokers, true);
    let half = records.len() / 2;
    produce(&p, topic, &records[..half]).await;
    let rest = records[half..].to_vec();
    let topic = topic.to_string();
    tokio::spawn(async move {
        for chunk in rest.chunks(10) {
            produce(&p, &topic, chunk).await;
            tokio::time::sleep(pace).await;
        }
    })
}

/// Everyone's account in the directory is what their last HR record says (one account
/// each), no failure is without a reason, and the trail verifies.
async fn check_directory_as_hr_says(
    cfg: turnstile::connectors::ldap::LdapConfig,
    finals: &std::collections::BTreeMap<String, serde_json::Value>,
    store: &dyn Store,
    what: &str,
) {
    let model = turnstile::policy::RoleModel::parse("m.toml", MODEL)
        .unwrap()
        .0;
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Europe/London").unwrap())
        .date();
    let c = LdapConnector::new(cfg, false);
    let abilities = c.capabilities().abilities();
    let trail = store.audit(&AuditFilter::default()).unwrap();
    for (number, e) in finals {
        let person: turnstile::hr::Person = serde_json::from_value(e["person"].clone()).unwrap();
        let accounts = c.read_person(number).await.unwrap();
        assert!(
            accounts.len() <= 1,
            "{number}: one account, never two: {accounts:?}"
        );
        let mine: Vec<&turnstile::account::Account> = accounts.iter().collect();
        let left =
            turnstile::plan::plan_for_target(&model, &person, &mine, today, "ad", &abilities);
        assert!(
            left.is_empty(),
            "{what}: {number} is not what HR says: {left:?}"
        );
        // Every account made is in the trail, however the runs were cut short: its create
        // applied, or (killed between the change and its own entry) announced by the
        // `apply.started` entry written before it was sent.
        if !accounts.is_empty() {
            let of_person = |e: &&turnstile::audit::Entry| {
                e.draft.employee_number.as_deref() == Some(number.as_str())
                    && e.draft.system.as_deref() == Some("ad")
            };
            assert!(
                trail
                    .iter()
                    .filter(of_person)
                    .any(
                        |e| (e.draft.action == "change.create" && e.draft.outcome == "applied")
                            || (e.draft.action == "apply.started"
                                && e.draft.reason.contains("create"))
                    ),
                "{what}: {number}'s account is on the directory with no entry for its create"
            );
        }
    }
    for e in trail.iter().filter(|e| e.draft.outcome == "failed") {
        assert!(
            !e.draft.reason.trim().is_empty(),
            "a failure without a reason: {e:?}"
        );
    }
    assert!(
        store.verify_audit(None).unwrap().is_ok(),
        "{what}: the trail verifies"
    );
}

/// True when no person's work is left: nothing due, nothing waiting for another try
/// (work held for a decision, and later checkpoints, are not left over). Read without
/// claiming anything.
fn nothing_due(store: &dyn Store) -> bool {
    let now = jiff::Timestamp::now();
    !store
        .pending()
        .unwrap()
        .iter()
        .any(|p| p.held_by.is_none() && (p.due <= now || p.last_error.is_some()))
}

/// Changes the trail says were applied.
fn applied(store: &dyn Store) -> usize {
    store
        .audit(&AuditFilter::default())
        .unwrap()
        .iter()
        .filter(|e| e.draft.outcome == "applied")
        .count()
}

async fn target_crash_run(seed: u64, kills: u32) -> (usize, Vec<usize>) {
    use crate::kafka::{Rng, standing};
    let dir = Dir::openldap().with_staff_groups().await;
    let brokers = brokers();
    let setup = Setup::new(&brokers, 2, true).await;
    let cfg = dir.config("ad");
    // No scheduled reconciliation: the pending work in the store alone must carry every
    // change across the crashes.
    write_daemon_config_with(
        &setup,
        &brokers,
        &cfg,
        "reconcile_every_secs = 0",
        "[guard]\nmin_removals = 1000000",
    );
    let mut rng = Rng::new(seed);
    let run = format!("K{}x{seed}", std::process::id());
    let (records, finals) = crash_story(&mut rng, &run);
    let late =
        feed_in_two_halves(&brokers, &setup.topic, &records, Duration::from_millis(150)).await;
    let changes_applied = |setup: &Setup| -> usize {
        if !setup.store.exists() {
            return 0;
        }
        applied(&setup.open_store())
    };
    let mut at_kill = Vec::new();
    for _ in 0..kills {
        let before = changes_applied(&setup);
        let mut daemon = setup.start();
        // Kill it while it is changing the directory.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while changes_applied(&setup) == before && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.below(500))).await;
        daemon.kill();
        at_kill.push(changes_applied(&setup));
    }
    late.await.unwrap();
    let mut daemon = setup.start();
    let (b, g, t) = (brokers.clone(), setup.group.clone(), setup.topic.clone());
    tokio::task::spawn_blocking(move || {
        wait_until(
            "the last daemon catches up",
            Duration::from_secs(120),
            || standing(&b, &g, &t, 2).iter().all(|(d, h)| d == h),
        )
    })
    .await
    .unwrap();
    wait_until("nothing is left due", Duration::from_secs(120), || {
        nothing_due(&setup.open_store())
    });
    let status = daemon.terminate(Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let what = format!("seed {seed} (see {})", setup.log().display());
    check_directory_as_hr_says(cfg, &finals, &setup.open_store(), &what).await;
    (records.len(), at_kill)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_applying_to_a_target_ends_in_the_state_hr_says() {
    let runs: u64 = crate::peers::env_number("TURNSTILE_TARGET_CRASH_RUNS", 20);
    let base: u64 = crate::peers::env_number("TURNSTILE_CRASH_SEED", 1);
    for i in 0..runs {
        let seed = base + i;
        let (n, at_kill) = target_crash_run(seed, 2).await;
        eprintln!(
            "target crash run {} (seed {seed}): {n} events, SIGKILL with {at_kill:?} changes applied: directory as HR says",
            i + 1
        );
    }
}

/// The daemon's scheduled reconciliation, over the run-wide removal share, holds the
/// people losing access as a plan a person can approve (visible like any held plan),
/// and applies everything else; the approval applies exactly them.
#[tokio::test(flavor = "current_thread")]
async fn a_scheduled_reconciliation_over_the_share_holds_a_plan() {
    use std::sync::Arc;
    use turnstile::engine::{held, reconcile, targets::Target};
    let dir = Dir::openldap().with_staff_groups().await;
    let model = turnstile::policy::RoleModel::parse("m.toml", MODEL)
        .unwrap()
        .0;
    let connector = Arc::new(LdapConnector::new(dir.config("ad"), false));
    let mut targets = vec![Target::new(connector.clone())];
    let mut store = turnstile::store::sqlite::SqliteStore::in_memory().unwrap();
    let now = jiff::Timestamp::now();
    let today = turnstile::clock::today(now);
    let yesterday = today.yesterday().unwrap().to_string();
    let run = format!("H{}", std::process::id());
    let people: Vec<String> = (1..=4).map(|i| format!("{run}-{i}")).collect();
    let nurse = |number: &str, end: Option<&str>| ward_nurse(number, "Held", "Share", end);
    let mut seq = 0;
    let mut record = |store: &mut turnstile::store::sqlite::SqliteStore, p| {
        seq += 1;
        record_at(
            store,
            &model,
            p,
            now.checked_add(jiff::SignedDuration::from_secs(seq))
                .unwrap(),
        )
    };
    let guard = turnstile::config::GuardConfig::default();
    let pass = |share: f64| reconcile::Run {
        model: &model,
        today,
        now,
        actor: "turnstile run",
        dry_run: false,
        approve: false,
        max_removal_share: share,
        guard: Some(&guard),
        hold_as_plan: true,
        notify: None,
        stop: None,
    };
    for n in &people[..3] {
        record(&mut store, nurse(n, None));
    }
    reconcile::reconcile(&pass(1.0), &mut store, &mut targets)
        .await
        .unwrap();
    let enabled = |number: &String| is_enabled(connector.clone(), number.clone());
    for n in &people[..3] {
        assert!(enabled(n).await, "{n} in post");
    }
    // Two leave and one joins; any removal is over a share of 0.
    record(&mut store, nurse(&people[0], Some(&yesterday)));
    record(&mut store, nurse(&people[1], Some(&yesterday)));
    record(&mut store, nurse(&people[3], None));
    let reports = reconcile::reconcile(&pass(0.0), &mut store, &mut targets)
        .await
        .unwrap();
    let (id, held_people) = reports[0].held.expect("held as a plan");
    assert_eq!(held_people, 2, "{reports:?}");
    assert!(
        enabled(&people[0]).await && enabled(&people[1]).await,
        "held"
    );
    assert!(enabled(&people[3]).await, "the joiner went ahead");
    let plans = store
        .held_plans(Some(turnstile::store::HeldStatus::Held))
        .unwrap();
    assert_eq!(plans.len(), 1);
    assert!(
        plans[0].reason.contains("max_removal_share"),
        "{}",
        plans[0].reason
    );
    let done = held::approve(&model, &mut store, &mut targets, id, "Sam Lee", now)
        .await
        .unwrap();
    assert!(done.tally.applied >= 2, "{done:?}");
    assert!(!enabled(&people[0]).await && !enabled(&people[1]).await);
    assert!(enabled(&people[2]).await && enabled(&people[3]).await);
}

/// A leaver entered three weeks ahead, with the clock moved by the test: untouched until
/// their last day ends in Europe/London (the day the clocks go back), disabled straight
/// after; and, for a second leaver, with nothing running over that moment, disabled at the
/// first pass after it (catch-up on start).
#[tokio::test(flavor = "current_thread")]
async fn a_leaver_entered_early_is_disabled_when_their_last_day_ends() {
    use std::sync::Arc;
    use turnstile::engine::targets::Target;
    let dir = Dir::openldap().with_staff_groups().await;
    let model = turnstile::policy::RoleModel::parse("m.toml", MODEL)
        .unwrap()
        .0;
    let connector = Arc::new(LdapConnector::new(dir.config("ad"), false));
    let mut targets = vec![Target::new(connector.clone())];
    let mut store = turnstile::store::sqlite::SqliteStore::in_memory().unwrap();
    let at = |t: &str| -> jiff::Timestamp { t.parse().unwrap() };
    let run = format!("S{}", std::process::id());
    let people: Vec<String> = (1..=2).map(|i| format!("{run}-{i}")).collect();
    let nurse = |number: &str, end: Option<&str>| ward_nurse(number, "Early", "Leaver", end);
    let record = |store: &mut turnstile::store::sqlite::SqliteStore, p, when: &str| {
        record_at(store, &model, p, at(when))
    };
    let enabled = |number: &String| is_enabled(connector.clone(), number.clone());
    // In post on 1 October: accounts made and enabled.
    for n in &people {
        record(&mut store, nurse(n, None), "2026-10-01T08:00:00Z");
    }
    pass(&model, &mut store, &mut targets, "2026-10-01T08:00:01Z").await;
    for n in &people {
        assert!(enabled(n).await, "{n} in post");
    }
    // On 4 October HR enters both as leavers: the first's last working day is Sunday 25
    // October (the day British Summer Time ends), the second's the Monday after.
    record(
        &mut store,
        nurse(&people[0], Some("2026-10-25")),
        "2026-10-04T08:00:00Z",
    );
    record(
        &mut store,
        nurse(&people[1], Some("2026-10-26")),
        "2026-10-04T08:00:00Z",
    );
    pass(&model, &mut store, &mut targets, "2026-10-04T08:00:01Z").await;
    assert!(enabled(&people[0]).await, "untouched three weeks ahead");
    // 23:59 in London on the first's last day (GMT again by then): still theirs.
    let r = pass(&model, &mut store, &mut targets, "2026-10-25T23:59:00Z").await;
    assert_eq!(r.settled, 0, "nothing is due before the day ends");
    assert!(enabled(&people[0]).await);
    // One second into Monday in London: the first is disabled, without any command.
    let due: Vec<jiff::Timestamp> = store.pending().unwrap().iter().map(|p| p.due).collect();
    assert_eq!(
        due,
        [at("2026-10-26T00:00:00Z"), at("2026-10-27T00:00:00Z")]
    );
    let r = pass(&model, &mut store, &mut targets, "2026-10-26T00:00:01Z").await;
    assert_eq!(r.settled, 1);
    assert!(
        !enabled(&people[0]).await,
        "disabled straight after the last day"
    );
    assert!(enabled(&people[1]).await, "the second's last day is today");
    // Nothing runs over the end of the second's last day; the first pass after it (a
    // start after downtime) catches up.
    let r = pass(&model, &mut store, &mut targets, "2026-10-28T10:00:00Z").await;
    assert_eq!(r.settled, 1);
    assert!(!enabled(&people[1]).await);
    let r = pass(&model, &mut store, &mut targets, "2026-10-29T10:00:00Z").await;
    assert_eq!((r.settled, r.waiting), (0, 0), "done once, not again");
}

/// The PostgreSQL database the replica test shares (`TURNSTILE_TEST_POSTGRES`, default
/// the local server's `test`).
fn postgres_url() -> String {
    std::env::var("TURNSTILE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".into())
}

/// Drops a test's PostgreSQL schema when the test is done with it, passed or failed (on a
/// thread of its own: the sync client cannot run inside the test's runtime).
struct DropSchema(String);

impl Drop for DropSchema {
    fn drop(&mut self) {
        let name = self.0.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(mut db) = postgres::Client::connect(&postgres_url(), postgres::NoTls) {
                let _ = db.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"));
            }
        })
        .join();
    }
}

/// Points a daemon's config at the PostgreSQL store at `url` in `schema`, with claims
/// that run out after 3 s (so a killed replica's work is taken over quickly).
/// Two daemons of one consumer group (a fresh two-partition topic) sharing the PostgreSQL
/// store `schema` at `url` and the directory `cfg`, with no scheduled reconcile and no
/// guard on removals.
async fn two_replicas(
    brokers: &str,
    cfg: &turnstile::connectors::ldap::LdapConfig,
    url: &str,
    schema: &str,
) -> (Setup, Setup) {
    let a = Setup::new(brokers, 2, true).await;
    let mut b = Setup::new(brokers, 2, false).await;
    (b.topic, b.dlq, b.group) = (a.topic.clone(), a.dlq.clone(), a.group.clone());
    for s in [&a, &b] {
        write_daemon_config_with(
            s,
            brokers,
            cfg,
            "reconcile_every_secs = 0",
            "[guard]\nmin_removals = 1000000",
        );
        use_postgres(s, url, schema);
    }
    (a, b)
}

fn use_postgres(setup: &Setup, url: &str, schema: &str) {
    let text = std::fs::read_to_string(&setup.config).unwrap();
    let sqlite = format!("[store]\npath = \"{}\"\n", setup.store.display());
    assert!(text.contains(&sqlite));
    let text = text.replace(
        &sqlite,
        &format!(
            "[store]\nkind = \"postgres\"\nurl = \"{url}\"\nschema = \"{schema}\"\nclaim_secs = 3\n"
        ),
    );
    std::fs::write(&setup.config, text).unwrap();
}

/// Two daemons in one consumer group share one PostgreSQL store and apply to one
/// directory; one is SIGKILLed mid-stream. The other takes over its partitions and, once
/// their claims run out, its people: every event is recorded exactly once, no change is
/// applied twice in a row to an account, the directory ends as HR says, and the chain
/// verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgresql_survive_one_killed_mid_stream() {
    use crate::kafka::{Rng, standing};
    // Five runs: with claims switched off, seed 4 applies a revoke twice.
    let runs: u64 = crate::peers::env_number("TURNSTILE_REPLICA_RUNS", 5);
    for seed in 1..=runs {
        let dir = Dir::openldap().with_staff_groups().await;
        let brokers = brokers();
        let cfg = dir.config("ad");
        let schema = crate::kafka::unique("replicas").replace('-', "_");
        let _drop = DropSchema(schema.clone());
        let (a, b) = two_replicas(&brokers, &cfg, &postgres_url(), &schema).await;
        let open = || {
            turnstile::store::postgres::PgStore::connect(&postgres_url(), Some(&schema), false)
                .unwrap()
        };
        let mut rng = Rng::new(seed);
        let run = format!("R{}x{seed}", std::process::id());
        let (records, finals) = crash_story(&mut rng, &run);
        let mut first = a.start();
        let mut second = b.start();
        // The second half flows in over about four seconds.
        let late =
            feed_in_two_halves(&brokers, &a.topic, &records, Duration::from_millis(500)).await;
        // Kill the first replica once changes are being applied, with most of them still
        // to come: after a random number of changes, from one to a third of the records
        // (a random wait would depend on how fast the replicas are).
        let kill_after = 1 + rng.below((records.len() as u64 / 3).max(1)) as usize;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while applied(&open()) < kill_after && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let killed = format!(":{}", first.child.id());
        first.kill();
        let at_kill = applied(&open());
        // What the killed replica was in the middle of: the people it held claims on,
        // and the trail as far as it went. A change it made to a target and was killed
        // before recording leaves no entry (the survivor plans from the target and puts
        // things right, but the trail does not show it): a later entry for the same
        // change is then the next real one, not the same change made twice.
        let mid_flight: std::collections::BTreeSet<String> = open()
            .pending()
            .unwrap()
            .into_iter()
            .filter(|p| {
                p.claimed_by
                    .as_deref()
                    .is_some_and(|c| c.ends_with(&killed))
            })
            .map(|p| p.employee_number)
            .collect();
        let kill_seq = open()
            .audit(&AuditFilter::default())
            .unwrap()
            .last()
            .map_or(0, |e| e.seq);
        late.await.unwrap();
        let (brk, g, t) = (brokers.clone(), a.group.clone(), a.topic.clone());
        tokio::task::spawn_blocking(move || {
            wait_until(
                "the surviving replica catches up",
                Duration::from_secs(120),
                || standing(&brk, &g, &t, 2).iter().all(|(d, h)| d == h),
            )
        })
        .await
        .unwrap();
        wait_until("nothing is left due", Duration::from_secs(120), || {
            nothing_due(&open())
        });
        let status = second.terminate(Duration::from_secs(20));
        assert!(status.is_some_and(|s| s.success()), "{status:?}");

        let store = open();
        let trail = store.audit(&AuditFilter::default()).unwrap();
        let recorded = recorded_per_event(&trail);
        // Each record whose person differs from the one before it in their lane is a
        // change of record (one saying the same again is kept without a trail entry).
        let mut events = std::collections::BTreeSet::new();
        let mut previous: std::collections::BTreeMap<String, serde_json::Value> =
            Default::default();
        for r in &records {
            let v: serde_json::Value = serde_json::from_slice(&r.value).unwrap();
            let who = r.key.clone().unwrap_or_default();
            if previous.get(&who) != Some(&v["person"]) {
                events.insert(v["event_id"].as_str().unwrap().to_string());
            }
            previous.insert(who, v["person"].clone());
        }
        assert_eq!(
            recorded
                .keys()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>(),
            events,
            "seed {seed}: every event recorded"
        );
        assert!(
            recorded.values().all(|n| *n == 1),
            "seed {seed}: an event recorded twice: {recorded:?}"
        );
        // No change applied twice over: the same change to the same account twice in a
        // row (with nothing between undoing it) would be a change made twice. An update
        // is the same change only if it sets the same value (its reason says which).
        let mut last: std::collections::BTreeMap<String, (String, u64)> = Default::default();
        for e in trail.iter().filter(|e| e.draft.outcome == "applied") {
            let account = e.draft.account.clone().unwrap_or_default();
            let target = e.draft.action.split_once(' ').map(|(_, g)| g.to_string());
            let key = format!("{account}|{}", target.unwrap_or_default());
            let change = if e.draft.action.starts_with("change.update") {
                format!("{} ({})", e.draft.action, e.draft.reason)
            } else {
                e.draft.action.clone()
            };
            let before = last.insert(key.clone(), (change.clone(), e.seq));
            let across_the_kill = before.as_ref().is_some_and(|(_, seq)| *seq <= kill_seq)
                && e.seq > kill_seq
                && e.draft
                    .employee_number
                    .as_ref()
                    .is_some_and(|n| mid_flight.contains(n));
            if across_the_kill {
                continue;
            }
            assert_ne!(
                before.map(|(c, _)| c).as_deref(),
                Some(change.as_str()),
                "seed {seed}: {key} had {change} applied twice in a row (see {} and {})",
                a.log().display(),
                b.log().display()
            );
        }
        let total = applied(&store);
        assert!(
            at_kill > 0 && total > at_kill,
            "seed {seed}: changes were applied before and after the kill ({at_kill} before, {total} in all)"
        );
        let what = format!(
            "seed {seed} (see {} and {})",
            a.log().display(),
            b.log().display()
        );
        check_directory_as_hr_says(cfg, &finals, &store, &what).await;
        eprintln!(
            "replica run {seed}: {} events, {at_kill} changes applied when one replica was killed, {total} in all: each event once, the directory as HR says",
            records.len()
        );
    }
}

/// How many times each HR event was recorded (`hr.record` entries by event id).
fn recorded_per_event(
    trail: &[turnstile::audit::Entry],
) -> std::collections::BTreeMap<String, usize> {
    let mut recorded = std::collections::BTreeMap::new();
    for e in trail.iter().filter(|e| e.draft.action == "hr.record") {
        *recorded
            .entry(e.draft.event_id.clone().unwrap_or_default())
            .or_default() += 1;
    }
    recorded
}

/// A PostgreSQL cluster of the test's own (the machine's shared one serves other tests
/// running at the same time), run as the `postgres` user: started, restarted, stopped
/// when dropped.
struct PrivatePostgres {
    dir: std::path::PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn bin(tool: &str) -> std::path::PathBuf {
        let versions = std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL's binaries");
        let mut found: Vec<std::path::PathBuf> = versions
            .filter_map(|v| Some(v.ok()?.path().join("bin").join(tool)))
            .filter(|p| p.exists())
            .collect();
        found.sort();
        found
            .pop()
            .expect("a PostgreSQL version under /usr/lib/postgresql")
    }

    fn as_postgres(args: &[&std::ffi::OsStr]) {
        let o = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }

    fn ctl(&self, what: &str) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        Self::as_postgres(&[
            Self::bin("pg_ctl").as_os_str(),
            "-D".as_ref(),
            self.dir.join("data").as_os_str(),
            "-o".as_ref(),
            options.as_ref(),
            "-l".as_ref(),
            self.dir.join("log").as_os_str(),
            "-m".as_ref(),
            "fast".as_ref(),
            "-w".as_ref(),
            what.as_ref(),
        ]);
    }

    fn start() -> PrivatePostgres {
        let dir = std::env::temp_dir().join(format!("turnstile-pg-{}", crate::kafka::unique("pg")));
        std::fs::create_dir_all(&dir).unwrap();
        let o = std::process::Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .status()
            .unwrap();
        assert!(o.success());
        Self::as_postgres(&[
            Self::bin("initdb").as_os_str(),
            "-D".as_ref(),
            dir.join("data").as_os_str(),
            "-A".as_ref(),
            "trust".as_ref(),
            "-U".as_ref(),
            "postgres".as_ref(),
        ]);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = PrivatePostgres { dir, port };
        pg.ctl("start");
        pg
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| self.ctl("stop"));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Two daemons share a PostgreSQL store and apply to one directory while PostgreSQL is
/// restarted under them mid-stream (every connection cut, the server away for a moment):
/// they carry on once it is back, every event is recorded exactly once, nothing is left
/// due, the directory ends as HR says and the chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_restarted_under_two_replicas_loses_nothing() {
    use crate::kafka::Rng;
    let seed = crate::peers::fault_seed("postgresql_restarted");
    let pg = PrivatePostgres::start();
    let dir = Dir::openldap().with_staff_groups().await;
    let brokers = brokers();
    let cfg = dir.config("ad");
    let schema = "restarted";
    let (a, b) = two_replicas(&brokers, &cfg, &pg.url(), schema).await;
    let url = pg.url();
    let open = move || turnstile::store::postgres::PgStore::connect(&url, Some(schema), false).ok();
    let mut rng = Rng::new(seed);
    let run = format!("PG{}x{seed}", std::process::id());
    let (records, finals) = crash_story(&mut rng, &run);
    let mut first = a.start();
    let mut second = b.start();
    let late = feed_in_two_halves(&brokers, &a.topic, &records, Duration::from_millis(500)).await;
    let restart_after = 1 + rng.below((records.len() as u64 / 3).max(1)) as usize;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while open().map_or(0, |s| applied(&s)) < restart_after && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at_restart = open().map_or(0, |s| applied(&s));
    eprintln!("restarting PostgreSQL after {at_restart} changes applied");
    pg.ctl("restart");
    late.await.unwrap();
    let (brk, g, t) = (brokers.clone(), a.group.clone(), a.topic.clone());
    tokio::task::spawn_blocking(move || {
        wait_until(
            "the replicas catch up after the restart",
            Duration::from_secs(120),
            || {
                crate::kafka::standing(&brk, &g, &t, 2)
                    .iter()
                    .all(|(d, h)| d == h)
            },
        )
    })
    .await
    .unwrap();
    wait_until("nothing is left due", Duration::from_secs(120), || {
        open().is_some_and(|s| nothing_due(&s))
    });
    for (name, daemon, setup) in [("first", &mut first, &a), ("second", &mut second, &b)] {
        let status = daemon.terminate(Duration::from_secs(20));
        assert!(
            status.is_some_and(|s| s.success()),
            "the {name} replica stopped cleanly after the restart: {status:?} (see {})",
            setup.log().display()
        );
    }
    let store = open().expect("PostgreSQL is back");
    let trail = store.audit(&AuditFilter::default()).unwrap();
    let recorded = recorded_per_event(&trail);
    assert!(
        recorded.values().all(|n| *n == 1),
        "seed {seed}: an event recorded twice: {recorded:?}"
    );
    let total = applied(&store);
    assert!(
        total > at_restart,
        "seed {seed}: changes were applied after the restart ({at_restart} before, {total} in all)"
    );
    check_directory_as_hr_says(cfg, &finals, &store, &format!("seed {seed}")).await;
}
