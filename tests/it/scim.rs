//! The SCIM 2.0 connector against a real service provider (`scim2-server`, started by
//! `tests/peers/peers.sh`): joiner, mover, leaver, rehire, a uniqueness clash, a wrong
//! token, and a server that answers 429 with `Retry-After` first (a proxy in front of the
//! real server). After each step, planning again gives nothing. And `scim2-tester`, the
//! compliance checker, passes against the same server.

use super::peers::env;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use turnstile::connectors::Connector;
use turnstile::connectors::scim::{ENTERPRISE, ScimConfig, ScimConnector};
use turnstile::engine;
use turnstile::hr::{AssignmentStatus, Person};
use turnstile::policy::RoleModel;
use turnstile::store::matches::Matches;
use turnstile::store::sqlite::SqliteStore;

const MODEL: &str = r#"version = 1
[systems.rota]
name = "Rostering (SCIM)"
leaver = "disable_and_revoke"
suspension = "disable"
manages = ["SC-*"]
[roles.nurse]
grants = { rota = ["SC-Staff", "SC-Nursing"] }
[roles.admin]
grants = { rota = ["SC-Staff", "SC-Admin"] }
[[rules]]
id = "nurses"
grant = ["nurse"]
match = { job_role = ["Staff Nurse"] }
[[rules]]
id = "admin"
grant = ["admin"]
match = { job_role = ["Administrator"] }
"#;

fn model() -> RoleModel {
    RoleModel::parse("m.toml", MODEL).map(|(m, _)| m).unwrap()
}

fn config(url: &str, token: &str, extra: &str) -> ScimConfig {
    toml::from_str(&format!(
        "url = \"{url}\"\ntoken = \"{token}\"\ntimeout_secs = 10\nretries = 3\n{extra}"
    ))
    .unwrap()
}

fn connector(extra: &str) -> Arc<ScimConnector> {
    Arc::new(
        ScimConnector::new(
            "rota",
            config(&env("SCIM_URL"), &env("SCIM_TOKEN"), extra),
            false,
        )
        .unwrap(),
    )
}

/// A raw client for setting the stage and checking what the server holds.
async fn raw(method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = reqwest::Client::new()
        .request(method, format!("{}{path}", env("SCIM_URL")))
        .bearer_auth(env("SCIM_TOKEN"));
    if let Some(b) = body {
        r = r
            .header("Content-Type", "application/scim+json")
            .body(b.to_string());
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub(crate) async fn ensure_groups(names: &[&str]) {
    for name in names {
        let (_, found) = raw(
            reqwest::Method::GET,
            &format!("/Groups?filter=displayName%20eq%20%22{name}%22"),
            None,
        )
        .await;
        if found["totalResults"] == 0 {
            let (status, _) = raw(
                reqwest::Method::POST,
                "/Groups",
                Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name})),
            )
            .await;
            assert!(status == 201 || status == 409, "group {name}: {status}");
        }
    }
}

/// The users the server holds for an employee number.
async fn users_of(number: &str) -> Vec<Value> {
    let filter = format!("{ENTERPRISE}:employeeNumber eq \"{number}\"");
    let url = reqwest::Url::parse_with_params(
        &format!("{}/Users", env("SCIM_URL")),
        &[("filter", filter)],
    )
    .unwrap();
    let (_, list) = raw(
        reqwest::Method::GET,
        &format!("/Users?{}", url.query().unwrap()),
        None,
    )
    .await;
    list["Resources"].as_array().cloned().unwrap_or_default()
}

/// Amara FAMILY, in post since 2020 as `role` (a leaver when `end` is given).
fn person(number: &str, family: &str, role: &str, end: Option<&str>) -> Person {
    let status = if end.is_some() {
        AssignmentStatus::TerminateAssignment
    } else {
        AssignmentStatus::ActiveAssignment
    };
    let mut a = turnstile_core::testkit::assignment(
        &format!("{number}-1"),
        status,
        "Nursing and Midwifery Registered",
        role,
        "Ward 7",
        "2020-01-01",
        end,
    );
    a.position_title = Some(role.into());
    turnstile_core::testkit::named(number, "Amara", family, vec![a])
}

fn run(model: &RoleModel) -> engine::reconcile::Run<'_> {
    engine::reconcile::Run {
        model,
        today: jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::get("Europe/London").unwrap())
            .date(),
        now: jiff::Timestamp::now(),
        actor: "test",
        dry_run: false,
        approve: true,
        max_removal_share: 1.0,
        guard: None,
        hold_as_plan: false,
        notify: None,
        stop: None,
    }
}

/// Reconciles one person; the outcome, and the changes a second plan still finds.
async fn reconcile(
    c: &Arc<ScimConnector>,
    p: &Person,
) -> (
    engine::reconcile::TargetOutcome,
    Vec<turnstile::plan::Change>,
) {
    let m = model();
    let r = run(&m);
    let mut store = SqliteStore::in_memory().unwrap();
    let mut target = engine::targets::Target::new(c.clone());
    let report =
        engine::reconcile::reconcile_target(&r, &mut store, &mut target, std::slice::from_ref(p))
            .await
            .unwrap();
    let again = engine::reconcile::Run {
        dry_run: true,
        ..run(&m)
    };
    let second = engine::reconcile::reconcile_target(
        &again,
        &mut store,
        &mut target,
        std::slice::from_ref(p),
    )
    .await
    .unwrap();
    (report.result, second.changes)
}

fn applied(outcome: &engine::reconcile::TargetOutcome) -> usize {
    match outcome {
        engine::reconcile::TargetOutcome::Applied(t) if t.failed == 0 && t.skipped == 0 => {
            t.applied
        }
        other => panic!("{other:?}"),
    }
}

fn groups(user: &Value, all: &[Value]) -> Vec<String> {
    let id = user["id"].as_str().unwrap();
    let mut out: Vec<String> = all
        .iter()
        .filter(|g| {
            g["members"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["value"] == id))
        })
        .map(|g| g["displayName"].as_str().unwrap().to_string())
        .filter(|n| n.starts_with("SC-"))
        .collect();
    out.sort();
    out
}

async fn all_groups() -> Vec<Value> {
    let (_, list) = raw(reqwest::Method::GET, "/Groups?count=1000", None).await;
    list["Resources"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joiner_mover_leaver_and_rehire_on_a_real_scim_server() {
    ensure_groups(&["SC-Staff", "SC-Nursing", "SC-Admin"]).await;
    let c = connector("");
    let tag = std::process::id();
    let number = format!("S{tag}1");
    let family = format!("Okafor{tag}");

    // Joiner: created, in the groups of the role, active; planning again gives nothing.
    let (outcome, again) = reconcile(&c, &person(&number, &family, "Staff Nurse", None)).await;
    assert!(applied(&outcome) >= 4, "{outcome:?}");
    assert!(again.is_empty(), "planning again: {again:?}");
    let users = users_of(&number).await;
    assert_eq!(users.len(), 1, "{users:?}");
    let user = &users[0];
    assert_eq!(user["userName"], format!("amara.okafor{tag}"));
    assert_eq!(user["active"], true);
    assert_eq!(
        groups(user, &all_groups().await),
        ["SC-Nursing", "SC-Staff"]
    );

    // Mover: the group swapped.
    let (outcome, again) = reconcile(&c, &person(&number, &family, "Administrator", None)).await;
    assert_eq!(
        applied(&outcome),
        2 + 1,
        "grant, revoke and the new title: {outcome:?}"
    );
    assert!(again.is_empty(), "planning again: {again:?}");
    assert_eq!(groups(user, &all_groups().await), ["SC-Admin", "SC-Staff"]);

    // Leaver: inactive, out of the groups, still present.
    let yesterday = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Europe/London").unwrap())
        .date()
        .yesterday()
        .unwrap()
        .to_string();
    let (outcome, again) = reconcile(
        &c,
        &person(&number, &family, "Administrator", Some(&yesterday)),
    )
    .await;
    applied(&outcome);
    assert!(again.is_empty(), "planning again: {again:?}");
    let users = users_of(&number).await;
    assert_eq!(users.len(), 1, "still present");
    assert_eq!(users[0]["active"], false);
    assert!(groups(&users[0], &all_groups().await).is_empty());

    // Rehire: the same account back, active, with the new role's groups.
    let (outcome, again) = reconcile(&c, &person(&number, &family, "Staff Nurse", None)).await;
    applied(&outcome);
    assert!(again.is_empty(), "planning again: {again:?}");
    let users = users_of(&number).await;
    assert_eq!(users.len(), 1, "never a second account: {users:?}");
    assert_eq!(users[0]["userName"], format!("amara.okafor{tag}"));
    assert_eq!(users[0]["active"], true);
    assert_eq!(
        groups(&users[0], &all_groups().await),
        ["SC-Nursing", "SC-Staff"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_user_name_gets_the_next_or_is_a_permanent_clash() {
    ensure_groups(&["SC-Staff", "SC-Nursing", "SC-Admin"]).await;
    let tag = std::process::id();
    let family = format!("Clash{tag}");
    // Someone else holds amara.clashNNN already (linked to them: not a candidate).
    let (status, _) = raw(
        reqwest::Method::POST,
        "/Users",
        Some(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "userName": format!("amara.clash{tag}"),
            ENTERPRISE: {"employeeNumber": format!("X{tag}")}
        })),
    )
    .await;
    assert_eq!(status, 201);
    // With one name allowed, the clash is the service's 409, named for a person to fix.
    let strict = connector("name_candidates = 1");
    let (outcome, _) = reconcile(
        &strict,
        &person(&format!("S{tag}2"), &family, "Staff Nurse", None),
    )
    .await;
    let engine::reconcile::TargetOutcome::Applied(t) = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!((t.applied, t.failed), (0, 1), "{outcome:?}");
    assert!(users_of(&format!("S{tag}2")).await.is_empty());
    let create = turnstile::plan::Change {
        system: "rota".into(),
        employee_number: format!("S{tag}2"),
        account: None,
        action: turnstile::plan::Action::Create,
        rule: "joiner".into(),
        reason: "test".into(),
    };
    match strict
        .apply(
            &person(&format!("S{tag}2"), &family, "Staff Nurse", None),
            &create,
        )
        .await
    {
        Err(turnstile::connectors::ConnectorError::Permanent { detail, .. }) => {
            assert!(detail.contains("(409 uniqueness)"), "{detail}");
            assert!(
                detail.contains(&format!("userName amara.clash{tag} clashes")),
                "{detail}"
            );
        }
        other => panic!("{other:?}"),
    }
    // With alternatives, the next free name.
    let (outcome, again) = reconcile(
        &connector(""),
        &person(&format!("S{tag}2"), &family, "Staff Nurse", None),
    )
    .await;
    applied(&outcome);
    assert!(again.is_empty(), "planning again: {again:?}");
    assert_eq!(
        users_of(&format!("S{tag}2")).await[0]["userName"],
        format!("amara.clash{tag}2")
    );
}

/// Records `person` as the HR record the store holds.
fn record(store: &mut SqliteStore, model: &RoleModel, person: &Person) {
    use turnstile::engine::ingest;
    use turnstile::hr::{EventKind, Source};
    let now = jiff::Timestamp::now();
    let event = ingest::file_event(Source::Esr, person.clone(), now, EventKind::Joiner).unwrap();
    ingest::record(
        store,
        model,
        &event,
        &[],
        turnstile::clock::today(now),
        "test",
    )
    .unwrap();
}

/// One reconcile pass of `target` for `person` against `store`.
async fn pass(
    r: &engine::reconcile::Run<'_>,
    store: &mut SqliteStore,
    target: &mut engine::targets::Target,
    person: &Person,
) -> engine::reconcile::SystemReport {
    engine::reconcile::reconcile_target(r, store, target, std::slice::from_ref(person))
        .await
        .unwrap()
}

/// Users the service held before Turnstile, without `employeeNumber`: the first pass
/// proposes the one found by email and creates nothing; accepting it writes the
/// employee number onto that user, and a pass after changes nothing. A name-only match
/// is disputed, never a numbered duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_users_are_linked_not_duplicated() {
    ensure_groups(&["SC-Staff", "SC-Nursing", "SC-Admin"]).await;
    let tag = std::process::id();
    let family = format!("Existing{tag}");
    let mail = format!("amara.existing{tag}@nhs.net");
    for (user, email) in [
        (format!("aexist{tag}"), Some(mail.clone())),
        (format!("amara.{}", family.to_lowercase()), None),
    ] {
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user,
            "name": {"givenName": "Amara", "familyName": family},
        });
        if let Some(e) = email {
            body["emails"] = json!([{"value": e, "type": "work", "primary": true}]);
        }
        let (status, _) = raw(reqwest::Method::POST, "/Users", Some(body)).await;
        assert_eq!(status, 201);
    }
    let m = model();
    let r = run(&m);
    let c = connector("");
    let mut store = SqliteStore::in_memory().unwrap();
    let mut targets = vec![engine::targets::Target::new(c.clone())];
    let mut p = person(&format!("E{tag}1"), &family, "Staff Nurse", None);
    p.work_email = Some(mail.as_str().into());
    record(&mut store, &m, &p);
    let report = pass(&r, &mut store, &mut targets[0], &p).await;
    assert_eq!(report.correlation.proposed, 1, "{report:?}");
    assert!(
        report.changes.is_empty(),
        "nothing created: {:?}",
        report.changes
    );
    assert!(users_of(&format!("E{tag}1")).await.is_empty());
    let open = store.account_matches(Some("rota"), None).unwrap();
    let accepted = engine::correlation::accept(
        &m,
        &mut store,
        &mut targets,
        open[0].id,
        None,
        "Ruth IG",
        jiff::Timestamp::now(),
    )
    .await
    .unwrap();
    assert!(accepted.linked, "{accepted:?}");
    let linked = users_of(&format!("E{tag}1")).await;
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0]["userName"], format!("aexist{tag}"));
    let again = pass(&r, &mut store, &mut targets[0], &p).await;
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    // Someone of the same name with no email on record: the name alone is disputed.
    let q = person(&format!("E{tag}2"), &family, "Staff Nurse", None);
    record(&mut store, &m, &q);
    let report = pass(&r, &mut store, &mut targets[0], &q).await;
    assert_eq!(report.correlation.disputed, 1, "{report:?}");
    assert!(users_of(&format!("E{tag}2")).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_quarantines_the_target() {
    let c = Arc::new(
        ScimConnector::new("rota", config(&env("SCIM_URL"), "not-the-token", ""), false).unwrap(),
    );
    let tag = std::process::id();
    let (outcome, _) = reconcile(
        &c,
        &person(&format!("S{tag}3"), "Token", "Staff Nurse", None),
    )
    .await;
    match outcome {
        engine::reconcile::TargetOutcome::Quarantined { reason, .. } => {
            assert!(
                reason.contains("refused Turnstile's credentials (401"),
                "{reason}"
            );
            assert!(
                !reason.contains("not-the-token"),
                "the token is never shown: {reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    let health = c.health().await;
    assert!(
        matches!(
            health,
            Err(turnstile::connectors::ConnectorError::Fatal { .. })
        ),
        "{health:?}"
    );
}

/// A proxy in front of the real server that answers the first `busy` requests with 429
/// and `Retry-After: 1`, then passes everything through.
async fn busy_proxy(busy: usize) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = env("SCIM_URL")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let refused = Arc::new(AtomicUsize::new(0));
    let r = refused.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut inbound, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let r = r.clone();
            tokio::spawn(async move {
                if r.fetch_add(1, Ordering::SeqCst) < busy {
                    let mut buf = [0u8; 4096];
                    let _ = inbound.read(&mut buf).await;
                    let _ = inbound
                        .write_all(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .await;
                    return;
                }
                if let Ok(mut out) = tokio::net::TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                }
            });
        }
    });
    (format!("http://127.0.0.1:{port}/v2"), refused)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_are_waited_out_as_retry_after_says() {
    ensure_groups(&["SC-Staff", "SC-Nursing", "SC-Admin"]).await;
    let (url, seen) = busy_proxy(2).await;
    let c =
        Arc::new(ScimConnector::new("rota", config(&url, &env("SCIM_TOKEN"), ""), false).unwrap());
    let tag = std::process::id();
    let number = format!("S{tag}4");
    let started = std::time::Instant::now();
    let (outcome, again) = reconcile(
        &c,
        &person(&number, &format!("Busy{tag}"), "Staff Nurse", None),
    )
    .await;
    assert!(applied(&outcome) >= 4, "{outcome:?}");
    assert!(again.is_empty(), "planning again: {again:?}");
    assert!(
        seen.load(Ordering::SeqCst) > 2,
        "the proxy passed requests on"
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "two Retry-After: 1 waited out: {:?}",
        started.elapsed()
    );
    assert_eq!(users_of(&number).await.len(), 1);
}

/// The test peer itself is sound: the SCIM compliance checker passes against it.
#[test]
fn the_scim_peer_passes_the_compliance_checker() {
    let out = std::process::Command::new(env("SCIM_TESTER"))
        .args([
            "--url",
            &env("SCIM_URL"),
            "-h",
            &format!("Authorization: Bearer {}", env("SCIM_TOKEN")),
            "test",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.matches("SUCCESS").count() >= 100, "{text}");
    assert!(!text.contains("ERROR"), "{text}");
}

/// OAuth2 client credentials: the token is fetched from the token endpoint (a small one
/// in the test, issuing the real server's token), sent as the bearer, and cached until it
/// expires rather than fetched per call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_client_credentials_are_fetched_once_and_used() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let asked = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (a, b) = (asked.clone(), bodies.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = vec![0u8; 8192];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            b.lock().unwrap().push(request);
            a.fetch_add(1, Ordering::SeqCst);
            let body = json!({"access_token": env("SCIM_TOKEN"), "token_type": "Bearer", "expires_in": 3600}).to_string();
            let _ = s
                .write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
    });
    let config: ScimConfig = toml::from_str(&format!(
        "url = \"{}\"\n[oauth2]\ntoken_url = \"http://127.0.0.1:{port}/token\"\nclient_id = \"turnstile\"\nclient_secret = \"s3cret&more\"\n",
        env("SCIM_URL")
    ))
    .unwrap();
    let c = ScimConnector::new("rota", config, false).unwrap();
    c.health().await.unwrap();
    c.read_accounts().await.unwrap();
    c.read_person("nobody").await.unwrap();
    assert_eq!(asked.load(Ordering::SeqCst), 1, "one token for every call");
    let request = bodies.lock().unwrap()[0].clone();
    assert!(request.starts_with("POST /token"), "{request}");
    assert!(
        request.contains("grant_type=client_credentials"),
        "{request}"
    );
    assert!(
        request.contains("client_secret=s3cret%26more"),
        "form-encoded: {request}"
    );
}

/// A list longer than `max_resources` is refused with the setting named, never held
/// whole or cut short silently (before: up to a million pages were read, then whatever
/// had arrived was taken as the whole list).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_past_its_cap_is_refused_not_held_or_cut_short() {
    use turnstile::connectors::Connector;
    let tag = std::process::id();
    for i in 0..2 {
        let (status, _) = raw(
            reqwest::Method::POST,
            "/Users",
            Some(serde_json::json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": format!("cap.{tag}.{i}"),
            })),
        )
        .await;
        assert!(status == 201 || status == 409, "{status}");
    }
    let capped = connector("page_size = 1\nmax_resources = 1\n");
    let e = capped.read_accounts().await.expect_err("refused");
    assert!(e.to_string().contains("max_resources"), "{e}");
    let whole = connector("");
    assert!(whole.read_accounts().await.unwrap().len() >= 2);
}
