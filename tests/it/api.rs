//! The admin API over real HTTP, served by a real `turnstile run` on tansu: every route
//! refuses a missing, wrong or under-privileged token (a table over all routes × roles),
//! a decision is recorded under the token's name, failed authentication is rate-limited,
//! and no token value reaches the log.

use crate::kafka::{Setup, brokers, wait_until};
use std::time::Duration;
use turnstile::audit::Draft;
use turnstile::daemon::api::{Role, routes};
use turnstile::plan::{Action, Change};
use turnstile::store::prelude::*;
use turnstile::store::{AuditFilter, Store};

const VIEWER: &str = "tst_viewer_0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccdd";
const OPERATOR: &str = "tst_operator_a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c";
const APPROVER: &str = "tst_approver_ffeeddccbbaa99887766554433221100ffeeddccbbaa998877665544";
const WRONG: &str = "tst_wrong_00000000000000000000000000000000000000000000000000000000000";

fn sha(token: &str) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(token.as_bytes()))
}

/// Holds a plan of one disable, as the mass-change guard would.
fn hold(store: &mut impl Store, system: &str, employee_number: &str, account: &str) {
    let change = Change {
        system: system.into(),
        employee_number: employee_number.into(),
        account: Some(account.into()),
        action: Action::Disable,
        rule: "leaver".into(),
        reason: "left".into(),
    };
    store
        .hold_plan(
            system,
            "test hold",
            &[change],
            Draft {
                at: jiff::Timestamp::now(),
                actor: "test".into(),
                employee_number: None,
                system: Some(system.into()),
                account: None,
                action: "plan.held".into(),
                outcome: "held".into(),
                rule: None,
                event_id: None,
                reason: "test hold".into(),
            },
        )
        .unwrap();
}

/// `turnstile validate` on the setup's config: it must refuse it (exit 2); what it said.
fn validate_refuses(setup: &Setup) -> String {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_turnstile"))
        .args(["validate", "--config"])
        .arg(&setup.config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2), "{said}");
    said
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_its_role_and_a_decision_is_recorded_under_the_token_s_name() {
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new(&brokers(), 1, true).await;
    let tokens = setup.dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "[[tokens]]\nname = \"dashboard\"\nrole = \"viewer\"\nsha256 = \"{}\"\n[[tokens]]\nname = \"on-call\"\nrole = \"operator\"\nsha256 = \"{}\"\n[[tokens]]\nname = \"Dr Ann Lee, IG lead\"\nrole = \"approver\"\nsha256 = \"{}\"\n",
            sha(VIEWER),
            sha(OPERATOR),
            sha(APPROVER)
        ),
    )
    .unwrap();
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o644)).unwrap();
    // An EMIS Web target (its user export): a plan held for it can be approved here.
    let emis = setup.dir.path().join("emis.csv");
    std::fs::write(
        &emis,
        "Account,Employee Number,Display Name,Enabled,Last Logon,Entitlements\n",
    )
    .unwrap();
    setup.write_config(&format!(
        "tokens_file = \"{}\"\nmax_failed_auth_per_minute = 40\nreconcile_every_secs = 0\n[targets.emis]\ntype = \"emis\"\npath = \"{}\"\n",
        tokens.display(),
        emis.display()
    ));
    // A tokens file others can read is refused before anything starts.
    let said = validate_refuses(&setup);
    assert!(said.contains("other users can read or change it"), "{said}");
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o600)).unwrap();

    // Plans held for a person's decision: HP-000001 on AD (not configured here),
    // HP-000002 on EMIS Web (configured).
    {
        let mut store = setup.open_store();
        hold(&mut store, "ad", "40000001", "alee");
        // 40000001's HR record, so that reading it is answered (and recorded).
        let hr: turnstile::hr::HrEvent =
            serde_json::from_value(crate::kafka::event("40000001", 1, false)).unwrap();
        store.record_event(&hr, &mut |_, _| Vec::new()).unwrap();
        hold(&mut store, "emis", "40000002", "GP2");
        // A proposal correlation made for someone with an EMIS user not yet linked (no
        // scheduled pass runs here to find them gone from HR and close it).
        use turnstile::correlate::{Candidate, Rule, Situation};
        use turnstile::store::matches::Matches;
        let proposal = Situation::Strong {
            candidate: Candidate {
                account: "GP3".into(),
                rules: vec![Rule::Smartcard],
                narrowed_by: vec![],
                strong: true,
            },
            others: vec![],
        };
        store
            .note_match(
                "emis",
                "40000003",
                &proposal,
                Draft {
                    at: jiff::Timestamp::now(),
                    actor: "test".into(),
                    employee_number: Some("40000003".into()),
                    system: Some("emis".into()),
                    account: None,
                    action: "account.matched".into(),
                    outcome: "held".into(),
                    rule: None,
                    event_id: None,
                    reason: "test".into(),
                },
            )
            .unwrap();
    }
    let mut daemon = setup.start();
    let base = format!("http://{}", setup.admin);
    let http = reqwest::Client::new();
    wait_until(
        "the admin endpoint answers",
        Duration::from_secs(30),
        || daemon.get("/healthz").is_some(),
    );
    let call = |method: &str, path: &str, token: Option<&str>, body: Option<&str>| {
        let mut r = match method {
            "POST" => http.post(format!("{base}{path}")),
            _ => http.get(format!("{base}{path}")),
        };
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.body(b.to_string());
        }
        r.send()
    };
    // Health checks need nothing.
    for path in ["/healthz", "/readyz"] {
        let s = call("GET", path, None, None)
            .await
            .unwrap()
            .status()
            .as_u16();
        assert!(s == 200 || s == 503, "{path}: {s}");
    }
    // The table: each route × no token, a wrong one, and each role.
    let roles = [
        (Role::Viewer, VIEWER),
        (Role::Operator, OPERATOR),
        (Role::Approver, APPROVER),
    ];
    for (method, route, need) in routes() {
        // Decisions in the table go to a plan that does not exist.
        let path = route
            .replace("{n}", "40000001")
            .replace("{id}", "999")
            .replace("{system}", "emis");
        for token in [None, Some(WRONG)] {
            let r = call(method, &path, token, None).await.unwrap();
            assert_eq!(r.status().as_u16(), 401, "{method} {path} with {token:?}");
            assert_eq!(r.headers()["www-authenticate"], "Bearer");
        }
        for (role, token) in roles {
            let status = call(method, &path, Some(token), Some("{\"reason\":\"table\"}"))
                .await
                .unwrap()
                .status()
                .as_u16();
            if role < need {
                assert_eq!(status, 403, "{method} {path} as {role:?}");
            } else {
                assert!(
                    ![401, 403, 429].contains(&status),
                    "{method} {path} as {role:?}: {status}"
                );
            }
        }
    }
    // Reads answer with what the store holds.
    let held: serde_json::Value = call("GET", "/api/v1/held", Some(VIEWER), None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(held[0]["id"], 1, "{held}");
    let verified: serde_json::Value = call("GET", "/api/v1/audit/verify", Some(VIEWER), None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verified["intact"], true, "{verified}");
    let open: serde_json::Value = call("GET", "/api/v1/matches?system=emis", Some(VIEWER), None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(open[0]["id"], "M-000001", "{open}");
    assert_eq!(open[0]["candidates"][0]["rules"][0], "smartcard", "{open}");
    // An operator rejects it: recorded under the token's name, and decided once.
    let r = call(
        "POST",
        "/api/v1/matches/M-000001/reject",
        Some(OPERATOR),
        Some("{\"reason\":\"GP3 is a locum's account\"}"),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await);
    let r = call(
        "POST",
        "/api/v1/matches/1/reject",
        Some(OPERATOR),
        Some("{\"reason\":\"again\"}"),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 409, "a decided match stays decided");
    let trail = setup.open_store().audit(&AuditFilter::default()).unwrap();
    let decided = trail
        .iter()
        .find(|e| e.draft.action == "match.decided")
        .expect("the decision is in the trail");
    assert_eq!(decided.draft.actor, "on-call (admin API)");
    // Approving needs the plan's target configured here: said, and nothing decided.
    let r = call(
        "POST",
        "/api/v1/held/HP-000001/approve",
        Some(APPROVER),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    assert!(r.text().await.unwrap().contains("[targets.ad]"));
    // An operator asks for a probe now: the applier makes it and says where it stands.
    let probed: serde_json::Value =
        call("POST", "/api/v1/targets/emis/probe", Some(OPERATOR), None)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(probed["probed"], true, "{probed}");
    assert_eq!(probed["state"], "online", "{probed}");
    let r = call(
        "POST",
        "/api/v1/targets/nowhere/probe",
        Some(OPERATOR),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    // Approving the plan held for EMIS Web is recorded under the token's name (its one
    // change is no longer needed: nobody is held for 40000002 any more).
    let r = call("POST", "/api/v1/held/2/approve", Some(APPROVER), None)
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await);
    let approved = setup.open_store().audit(&AuditFilter::default()).unwrap();
    let approved = approved
        .iter()
        .find(|e| e.draft.action == "plan.approved")
        .expect("the approval is in the trail");
    assert_eq!(approved.draft.actor, "Dr Ann Lee, IG lead (admin API)");
    let again = call("POST", "/api/v1/held/2/approve", Some(APPROVER), None)
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 409, "a decided plan stays decided");
    // A rejection needs a reason, and is recorded under the token's name.
    let r = call("POST", "/api/v1/held/1/reject", Some(APPROVER), Some("{}"))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = call(
        "POST",
        "/api/v1/held/1/reject",
        Some(APPROVER),
        Some("{\"reason\":\"the leaving date is wrong\"}"),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await);
    let trail = setup.open_store().audit(&AuditFilter::default()).unwrap();
    let decided = trail
        .iter()
        .find(|e| e.draft.action == "plan.rejected")
        .expect("the rejection is in the trail");
    assert_eq!(decided.draft.actor, "Dr Ann Lee, IG lead (admin API)");
    assert!(decided.draft.reason.contains("the leaving date is wrong"));

    // Failed authentication from one address is cut off with 429 and Retry-After until
    // the minute is over; a good token from the same address is still answered (behind
    // an ingress every client has one address).
    let mut limited = None;
    for i in 0..60 {
        let r = call("GET", "/api/v1/held", Some(WRONG), None)
            .await
            .unwrap();
        if r.status().as_u16() == 429 {
            limited = Some((i, r.headers().get("retry-after").cloned()));
            break;
        }
    }
    let (after, retry) = limited.expect("rate limited");
    assert!(after <= 40, "limited after {after} more failures");
    assert!(retry.is_some());
    let s = call("GET", "/api/v1/held", Some(VIEWER), None)
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(
        s, 200,
        "a valid token is never locked out by others' failures"
    );
    let s = call("GET", "/api/v1/held", Some(WRONG), None)
        .await
        .unwrap()
        .status()
        .as_u16();
    assert_eq!(s, 429, "the bad ones stay cut off");

    daemon.terminate(Duration::from_secs(20));
    // No token value in the log, and the failures were logged.
    let log = setup.log_text();
    for t in [VIEWER, OPERATOR, APPROVER, WRONG] {
        assert!(!log.contains(t), "a token reached the log");
        assert!(!log.contains(&t[4..20]), "part of a token reached the log");
    }
    assert!(log.contains("admin API: authentication failed"), "{log}");
    // Each new head of the trail is said once durable, for shipping off the host, and
    // the person read above was recorded as read.
    let head = setup.open_store().verify_audit(None).unwrap().unwrap().head;
    assert!(
        log.contains(&format!("seq={} hash={}", head.0, head.1)),
        "the last head in the log: {log}"
    );
    let trail = setup.open_store().audit(&AuditFilter::default()).unwrap();
    assert!(
        trail.iter().any(|e| e.draft.action == "api.read"
            && e.draft.actor == "dashboard (admin API)"
            && e.draft.employee_number.as_deref() == Some("40000001")),
        "the read of 40000001 is in the trail"
    );
}

/// With a certificate configured the endpoint speaks only TLS; a key others can read is
/// refused before anything starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_endpoint_speaks_tls_when_given_a_certificate() {
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new(&brokers(), 1, true).await;
    let dir = setup.dir.path();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    crate::peers::self_signed(&cert, &key, "/CN=turnstile-test", Some("IP:127.0.0.1"));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    setup.write_config(&format!(
        "tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
        cert.display(),
        key.display()
    ));
    let said = validate_refuses(&setup);
    assert!(
        said.contains("holds the admin endpoint's TLS key but other users can read"),
        "{said}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    let mut daemon = setup.start();
    let pem = std::fs::read(&cert).unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let url = format!("https://{}/healthz", setup.admin);
    let mut answered = None;
    for _ in 0..300 {
        if let Ok(r) = https.get(&url).send().await {
            answered = Some(r.status().as_u16());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = answered.expect("the endpoint answers over TLS");
    assert!(status == 200 || status == 503, "{status}");
    // 100 clients that connect and never start their handshake stall nothing: each
    // handshake runs on its own task (before: inside the accept loop, 10 s each).
    let idle = idle_connections(&setup.admin, 100);
    // A client of its own: the one above keeps its connection open, which would be
    // reused and never wait behind the idle ones.
    let fresh = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let r = fresh.get(&url).send().await.unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "/healthz over TLS took {took:?} beside 100 idle connections"
    );
    assert!([200, 503].contains(&r.status().as_u16()));
    drop(idle);
    // Plain HTTP gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/healthz", setup.admin))
        .timeout(Duration::from_secs(12))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP answered: {plain:?}");
    daemon.terminate(Duration::from_secs(20));
}

/// `n` TCP connections to `addr` that send nothing.
fn idle_connections(addr: &str, n: usize) -> Vec<std::net::TcpStream> {
    (0..n)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect()
}

/// No client can stall the plain-HTTP endpoint: 100 idle connections leave `/healthz`
/// answering at once, a client that never finishes its headers is cut off after
/// `header_timeout_secs`, and a request with no token is answered 401 without waiting for
/// a body it announces and never sends (before: the body was read before the token was
/// checked, and a slow header was waited for without end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_client_can_stall_the_admin_endpoint() {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new(&brokers(), 1, true).await;
    let tokens = setup.dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "[[tokens]]\nname = \"approver\"\nrole = \"approver\"\nsha256 = \"{}\"\n",
            sha(APPROVER)
        ),
    )
    .unwrap();
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o600)).unwrap();
    setup.write_config(&format!(
        "tokens_file = \"{}\"\nheader_timeout_secs = 1\nreconcile_every_secs = 0\n",
        tokens.display()
    ));
    let mut daemon = setup.start();
    wait_until(
        "the admin endpoint answers",
        Duration::from_secs(30),
        || daemon.get("/healthz").is_some(),
    );
    let idle = idle_connections(&setup.admin, 100);
    let started = std::time::Instant::now();
    assert!(daemon.get("/healthz").is_some());
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "/healthz took {took:?} beside 100 idle connections"
    );

    // Half a request line, then nothing: disconnected after about a second.
    let mut slow = std::net::TcpStream::connect(&setup.admin).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow:")
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "a client that never finishes its headers was held {took:?}"
    );
    assert!(
        !String::from_utf8_lossy(&buf).contains("200 OK"),
        "and is not answered as if it had"
    );

    // A body announced and never sent, without a token: 401 at once.
    let mut post = std::net::TcpStream::connect(&setup.admin).unwrap();
    post.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    post.write_all(
        b"POST /api/v1/held/1/reject HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let mut head = [0u8; 12];
    post.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 401", "{}", String::from_utf8_lossy(&head));
    assert!(started.elapsed() < Duration::from_secs(2));
    // With the token, an over-long body is refused before it is read whole.
    let r = reqwest::Client::new()
        .post(format!("http://{}/api/v1/held/1/reject", setup.admin))
        .bearer_auth(APPROVER)
        .body(format!("{{\"reason\":\"{}\"}}", "x".repeat(100_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    drop(idle);
    daemon.terminate(Duration::from_secs(20));
}
