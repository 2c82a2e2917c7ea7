//! The daemon closes the loop: HR events published to Kafka change the real accounts in
//! Samba AD by themselves, with no `reconcile` run, and each change is audited with the
//! event behind it.

use crate::kafka::{Setup, brokers, produce, producer, rec};
use crate::ldap::Dir;
use serde_json::json;
use std::time::Duration;
use turnstile::connectors::Connector;
use turnstile::connectors::ldap::LdapConnector;
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
    let dir = Dir::ad();
    dir.ensure_groups(&["GG-AllStaff", "GG-Nursing", "GG-Admin"])
        .await;
    let brokers = brokers();
    let setup = Setup::new(&brokers, 1, true).await;
    let d = setup.dir.path();
    std::fs::write(d.join("model.toml"), MODEL).unwrap();
    let cfg = dir.config("ad");
    let pw = d.join("ad.pw");
    std::fs::write(&pw, cfg.bind_password.expose()).unwrap();
    std::fs::set_permissions(&pw, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
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
[kafka]
brokers = "{brokers}"
topic = "{topic}"
group_id = "{group}"
session_timeout_ms = 2000
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[kafka.producer]
"enable.idempotence" = "false"
[targets.ad]
type = "ldap"
dialect = "active_directory"
url = "{url}"
ca_file = "{ca}"
tls_verify_hostname = false
bind_dn = "{bind}"
bind_password_file = "{pw}"
base_dn = "{base}"
users_container = "{users}"
groups_container = "{groups}"
upn_suffix = "example.nhs.uk"
timeout_secs = 10
"#,
            store = setup.store.display(),
            model = d.join("model.toml").display(),
            admin = setup.admin,
            brokers = brokers,
            topic = setup.topic,
            group = setup.group,
            url = cfg.url,
            ca = cfg.ca_file.as_ref().unwrap().display(),
            bind = cfg.bind_dn,
            pw = pw.display(),
            base = cfg.base_dn,
            users = cfg.users_container,
            groups = cfg.groups_container,
        ),
    )
    .unwrap();

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
    let store = turnstile::store::sqlite::SqliteStore::open(&setup.store).unwrap();
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

/// One pass of the daemon's applier at `now`.
async fn pass(
    model: &turnstile::policy::RoleModel,
    store: &mut turnstile::store::sqlite::SqliteStore,
    targets: &mut [turnstile::engine::targets::Target],
    now: &str,
) -> turnstile::engine::due::DueReport {
    turnstile::engine::due::apply_due(model, store, targets, now.parse().unwrap(), 100, "test")
        .await
        .unwrap()
}

/// A leaver entered three weeks ahead, with the clock moved by the test: untouched until
/// their last day ends in Europe/London (the day the clocks go back), disabled straight
/// after; and, for a second leaver, with nothing running over that moment, disabled at the
/// first pass after it (catch-up on start).
#[tokio::test(flavor = "current_thread")]
async fn a_leaver_entered_early_is_disabled_when_their_last_day_ends() {
    use std::sync::Arc;
    use turnstile::engine::{ingest, targets::Target};
    use turnstile::hr::{AssignmentStatus, EventKind, Source};
    use turnstile_core::testkit;
    let dir = Dir::openldap();
    dir.ensure_groups(&["GG-AllStaff", "GG-Nursing", "GG-Admin"])
        .await;
    let model = turnstile::policy::RoleModel::parse("m.toml", MODEL)
        .unwrap()
        .0;
    let connector = Arc::new(LdapConnector::new(dir.config("ad"), false));
    let mut targets = vec![Target::new(connector.clone())];
    let mut store = turnstile::store::sqlite::SqliteStore::in_memory().unwrap();
    let at = |t: &str| -> jiff::Timestamp { t.parse().unwrap() };
    let run = format!("S{}", std::process::id());
    let people: Vec<String> = (1..=2).map(|i| format!("{run}-{i}")).collect();
    let nurse = |number: &str, end: Option<&str>| {
        let status = if end.is_some() {
            AssignmentStatus::TerminateAssignment
        } else {
            AssignmentStatus::ActiveAssignment
        };
        let mut a = testkit::assignment(
            &format!("{number}-1"),
            status,
            "",
            "Staff Nurse",
            "Ward 7",
            "2020-01-01",
            end,
        );
        a.staff_group = None;
        let family = format!("Leaver{}", &number[number.len() - 1..]);
        testkit::named(number, "Early", &family, vec![a])
    };
    let record = |store: &mut turnstile::store::sqlite::SqliteStore, p, when: &str| {
        let event = ingest::file_event(Source::Esr, p, at(when), EventKind::Mover).unwrap();
        let today = turnstile::clock::today(at(when));
        ingest::record(store, &model, &event, &[], today, "test").unwrap();
    };
    let enabled = |number: &String| {
        let (c, n) = (connector.clone(), number.clone());
        async move { c.read_person(&n).await.unwrap()[0].enabled }
    };
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
