//! Work items for systems with no API, end to end through the command line: raised by
//! `reconcile`, sent to a real HTTP receiver on loopback (a service desk that fails
//! twice first) and to the aiosmtpd sink, confirmed, reopened and escalated by what the
//! system's export shows; and no path ever deletes on a system that holds clinical history.

use super::drift::{policy, text, turnstile};
use super::peers::env;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ESR_HEADER: &str = "Employee Number,Assignment Number,Primary Assignment (Y/N),Title,First Name,Last Name,Staff Group,Job Role,Organisation,Supervisor Employee Number,Assignment Status,Assignment Start Date,Assignment End Date\n";
const GP: &str = "41000001,41000001-1,Y,Dr,Amara,Okafor,Medical and Dental,General Practitioner,RX1 Primary Care,41000009,Active Assignment,01/04/2019,";
const EXPORT: &str = "Account,Employee Number,Display Name,Enabled,Last Logon,Entitlements\n";

/// One request the service desk received.
#[derive(Debug, Clone)]
struct Received {
    key: String,
    authorization: String,
    body: serde_json::Value,
    answered: u16,
}

/// A service-desk webhook on loopback: answers 503 to the first `fail_first` requests,
/// then 201, and records every request.
struct ServiceDesk {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
}

impl ServiceDesk {
    fn start(fail_first: usize) -> ServiceDesk {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/items", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let (r, s) = (received.clone(), stop.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(600);
            while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut reader = BufReader::new(stream);
                let (mut length, mut key, mut auth) = (0usize, String::new(), String::new());
                for _ in 0..100 {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    let value = line.split_once(':').map(|(_, v)| v.trim().to_string());
                    if lower.starts_with("content-length:") {
                        length = value.clone().unwrap().parse().unwrap();
                    } else if lower.starts_with("idempotency-key:") {
                        key = value.clone().unwrap();
                    } else if lower.starts_with("authorization:") {
                        auth = value.clone().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let n = served.fetch_add(1, Ordering::SeqCst);
                let status = if n < fail_first { 503 } else { 201 };
                r.lock().unwrap().push(Received {
                    key,
                    authorization: auth,
                    body: serde_json::from_slice(&body).unwrap(),
                    answered: status,
                });
                let mut stream = reader.into_inner();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    if status == 503 {
                        "Service Unavailable"
                    } else {
                        "Created"
                    }
                );
            }
        });
        ServiceDesk {
            url,
            received,
            stop,
        }
    }

    fn accepted(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.answered == 201)
            .cloned()
            .collect()
    }
}

impl Drop for ServiceDesk {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The messages in the SMTP sink addressed to `to`.
fn mail_to(to: &str) -> Vec<String> {
    let dir = Path::new(&env("SMTP_MAILDIR")).join("new");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<(std::time::SystemTime, String)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path()).ok()?;
            let at = e.metadata().ok()?.modified().ok()?;
            text.lines()
                .any(|l| l.starts_with("To:") && l.contains(to))
                .then_some((at, text))
        })
        .collect();
    out.sort();
    out.into_iter()
        .map(|(_, t)| super::inactivity::readable(&t))
        .collect()
}

fn items(dir: &Path) -> Vec<serde_json::Value> {
    let o = turnstile(&["work-items", "--format", "json"], dir);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn by_action<'a>(items: &'a [serde_json::Value], action: &str) -> &'a serde_json::Value {
    items
        .iter()
        .find(|i| i["action"] == action)
        .unwrap_or_else(|| panic!("no {action} item in {items:?}"))
}

/// Raised once, delivered once although the service desk failed twice first, emailed
/// in one digest, confirmed by the export, reopened when the export contradicts it, and
/// escalated when overdue.
#[test]
fn an_emis_item_is_delivered_once_confirmed_reopened_and_escalated() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let tag = std::process::id();
    let admins = format!("emis-admins-{tag}@example.nhs.uk");
    let lead = format!("it-lead-{tag}@example.nhs.uk");
    let desk = ServiceDesk::start(2);
    let token = "s3rvice-desk-t0ken-never-printed";
    std::fs::write(p.join("desk-token"), token).unwrap();
    std::fs::set_permissions(
        p.join("desk-token"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(
        p.join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"{policy}\"\n\
             [targets.emis]\ntype = \"emis\"\npath = \"emis.csv\"\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"turnstile@example.nhs.uk\"\n\
             [work_items]\ndue_days = 2\nretry_min_ms = 20\nwebhook_url = \"{url}\"\nwebhook_token_file = \"desk-token\"\n\
             [work_items.systems.emis]\nemail_to = [\"{admins}\"]\nescalate_to = [\"{lead}\"]\n",
            policy = policy(),
            port = env("SMTP_PORT"),
            url = desk.url,
        ),
    )
    .unwrap();
    std::fs::write(p.join("esr.csv"), format!("{ESR_HEADER}{GP}\n")).unwrap();
    std::fs::write(p.join("emis.csv"), EXPORT).unwrap();
    let o = turnstile(
        &["feed", "esr", "esr.csv", "--apply", "--today", "2026-11-23"],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // A GP in post with no EMIS Web user: create, role profile GP, activate.
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("3 work item(s) raised"), "{out}");
    assert!(
        out.contains("3 sent to the service desk, 3 emailed"),
        "{out}"
    );
    assert!(!out.contains(token), "the token is never printed: {out}");
    let all = items(p);
    assert_eq!(all.len(), 3, "{all:?}");
    let create = by_action(&all, "create");
    assert_eq!(
        create["detail"],
        "Create EMIS Web user for Dr Amara Okafor (ESR 41000001), General Practitioner, contract from 01/04/2019"
    );
    assert_eq!(
        create["attempts"], 4,
        "to the desk: two failures, then accepted; then the digest: {create}"
    );
    for i in &all {
        assert!(i["delivered_at"].is_string(), "{i}");
        assert!(i["emailed_at"].is_string(), "{i}");
        assert_eq!(i["status"], "open");
    }
    // Each item reached the desk exactly once, under its own key, with the token.
    let accepted = desk.accepted();
    let mut keys: Vec<&str> = accepted.iter().map(|r| r.key.as_str()).collect();
    keys.sort();
    assert_eq!(keys, ["WI-000001-open", "WI-000002-open", "WI-000003-open"]);
    let tries: Vec<String> = desk
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.key.clone())
        .collect();
    assert_eq!(
        &tries[..3],
        ["WI-000001-open"; 3],
        "the same item retried: {tries:?}"
    );
    for r in &accepted {
        assert_eq!(r.authorization, format!("Bearer {token}"));
        assert_eq!(r.body["system"], "emis");
        assert!(r.body["due_at"].is_string(), "{:?}", r.body);
    }
    let digests = mail_to(&admins);
    assert_eq!(digests.len(), 1, "one digest for the run");
    assert!(
        digests[0].contains("Subject: [Turnstile] emis: 3 changes to make"),
        "{}",
        digests[0]
    );
    assert!(digests[0].contains("role profile GP"), "{}", digests[0]);

    // Not done yet: nothing raised or sent again.
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(items(p).len(), 3);
    assert_eq!(desk.accepted().len(), 3);
    assert_eq!(mail_to(&admins).len(), 1);

    // The administrator set the user up: the export shows it, every item is confirmed.
    std::fs::write(
        p.join("emis.csv"),
        format!("{EXPORT}AOKAFOR1,41000001,Amara Okafor,Active,,GP\n"),
    )
    .unwrap();
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert!(
        text(&o).contains("3 work item(s) confirmed by the export"),
        "{}",
        text(&o)
    );
    assert!(items(p).iter().all(|i| i["status"] == "confirmed"));

    // Someone deactivated the user by hand: the activate item is reopened, not raised
    // anew, and sent again under a new key.
    std::fs::write(
        p.join("emis.csv"),
        format!("{EXPORT}AOKAFOR1,41000001,Amara Okafor,Inactive,,GP\n"),
    )
    .unwrap();
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let all = items(p);
    assert_eq!(all.len(), 3, "reopened, not a fourth item: {all:?}");
    let enable = by_action(&all, "enable");
    assert_eq!(enable["status"], "reopened");
    assert!(
        desk.accepted()
            .iter()
            .any(|r| r.key == format!("{}-reopened", enable["id"].as_str().unwrap())),
        "sent again"
    );
    assert_eq!(
        mail_to(&admins).len(),
        2,
        "a second digest with the reopened item"
    );

    // Two working days pass with no sign of it: overdue, escalated once. The reopened
    // item was raised at the host's clock, so a week from now (a fixed date here stopped
    // being "later" once the calendar passed it).
    let later = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * 7)).to_string();
    let later = later.as_str();
    let o = turnstile(
        &["work-items", "--send", "--at", later, "--status", "overdue"],
        p,
    );
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("1 became overdue, 1 escalated"), "{out}");
    assert!(out.contains(enable["id"].as_str().unwrap()), "{out}");
    let escalations = mail_to(&lead);
    assert_eq!(escalations.len(), 1);
    assert!(
        escalations[0].contains("1 work item overdue"),
        "{}",
        escalations[0]
    );
    let o = turnstile(&["work-items", "--send", "--at", later], p);
    assert!(
        text(&o).contains("0 escalated"),
        "escalated once: {}",
        text(&o)
    );
    assert_eq!(mail_to(&lead).len(), 1);
    let o = turnstile(&["audit", "--format", "json"], p);
    for action in ["work_item.confirmed", "work_item.overdue"] {
        assert!(text(&o).contains(action), "{action} in the trail");
    }
    let o = turnstile(&["audit", "--verify"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// A leaver rehired before the item was done: the item is cancelled, not confirmed.
#[test]
fn an_item_no_longer_needed_is_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"{}\"\n[reconcile]\nmax_removal_share = 1.0\n[targets.emis]\ntype = \"emis\"\npath = \"emis.csv\"\n",
            policy()
        ),
    )
    .unwrap();
    let left = GP.replace(
        "Active Assignment,01/04/2019,",
        "Terminate Assignment,01/04/2019,20/11/2026",
    );
    std::fs::write(p.join("esr.csv"), format!("{ESR_HEADER}{left}\n")).unwrap();
    std::fs::write(
        p.join("emis.csv"),
        format!("{EXPORT}AOKAFOR1,41000001,Amara Okafor,Active,,GP\n"),
    )
    .unwrap();
    let o = turnstile(
        &[
            "feed",
            "esr",
            "esr.csv",
            "--apply",
            "--today",
            "2026-11-23",
            "--extracted-at",
            "2026-11-23T06:00:00Z",
        ],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let all = items(p);
    let disable = by_action(&all, "disable");
    assert!(
        disable["detail"]
            .as_str()
            .unwrap()
            .contains("end the contract on 20/11/2026 — do not delete"),
        "{disable}"
    );
    // Rehired (the termination withdrawn) before EMIS was touched.
    std::fs::write(p.join("esr.csv"), format!("{ESR_HEADER}{GP}\n")).unwrap();
    let o = turnstile(
        &[
            "feed",
            "esr",
            "esr.csv",
            "--apply",
            "--today",
            "2026-11-24",
            "--extracted-at",
            "2026-11-24T06:00:00Z",
        ],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = turnstile(&["reconcile", "--today", "2026-11-24"], p);
    assert!(
        text(&o).contains("0 work item(s) confirmed by the export, 1 cancelled"),
        "{}",
        text(&o)
    );
    assert_eq!(by_action(&items(p), "disable")["status"], "cancelled");
}

/// No role model, event or config makes Turnstile delete on EMIS Web, SystmOne or
/// smartcards: a model that allows deletion there is refused when the target is built,
/// and a leaver long past any retention gets a disable item, never a delete.
#[test]
fn nothing_deletes_on_a_system_that_holds_clinical_history() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // The example model, with EMIS Web claimed not to hold clinical history and a
    // retention period after which accounts would be deleted.
    let model = std::fs::read_to_string(policy()).unwrap().replace(
        "[systems.emis]\nname = \"EMIS Web\"\nholds_clinical_history = true",
        "[systems.emis]\nname = \"EMIS Web\"\nholds_clinical_history = false\ndelete_after_days = 30",
    );
    assert!(
        model.contains("delete_after_days = 30"),
        "the model was edited"
    );
    std::fs::write(p.join("model.toml"), model).unwrap();
    let left = GP.replace(
        "Active Assignment,01/04/2019,",
        "Terminate Assignment,01/04/2019,31/03/2025",
    );
    std::fs::write(p.join("esr.csv"), format!("{ESR_HEADER}{left}\n")).unwrap();
    std::fs::write(
        p.join("emis.csv"),
        format!("{EXPORT}AOKAFOR1,41000001,Amara Okafor,Active,,GP\n"),
    )
    .unwrap();
    let write_config = |kind: &str, model: &str| {
        std::fs::write(
            p.join("turnstile.toml"),
            format!(
                "[store]\npath = \"state.db\"\n[policy]\npath = \"{model}\"\n[reconcile]\nmax_removal_share = 1.0\n[targets.emis]\ntype = \"{kind}\"\npath = \"emis.csv\"\n"
            ),
        )
        .unwrap();
    };
    for kind in ["emis", "systmone", "smartcard"] {
        write_config(kind, "model.toml");
        let o = turnstile(&["validate"], p);
        assert_eq!(o.status.code(), Some(2), "{kind}: {}", text(&o));
        assert!(
            text(&o).contains("remove delete_after_days from [systems.emis]"),
            "{}",
            text(&o)
        );
    }
    // Nor NHSmail, whose mailboxes the national service deletes, never a trust.
    let nhsmail_model = std::fs::read_to_string(policy()).unwrap().replace(
        "[systems.nhsmail]\nname = \"NHSmail\"",
        "[systems.nhsmail]\nname = \"NHSmail\"\ndelete_after_days = 30",
    );
    assert!(nhsmail_model.contains("delete_after_days = 30"));
    std::fs::write(p.join("nhsmail-model.toml"), nhsmail_model).unwrap();
    std::fs::write(
        p.join("turnstile.toml"),
        "[store]\npath = \"state.db\"\n[policy]\npath = \"nhsmail-model.toml\"\n[targets.nhsmail]\ntype = \"nhsmail\"\nreport = \"report.csv\"\noutbox = \"outbox\"\norg_code = \"RX1\"\n",
    )
    .unwrap();
    let o = turnstile(&["validate"], p);
    assert_eq!(o.status.code(), Some(2), "nhsmail: {}", text(&o));
    assert!(
        text(&o).contains("remove delete_after_days from [systems.nhsmail]"),
        "{}",
        text(&o)
    );
    // The generic export connector never deletes either, with the same model.
    write_config("export_file", "model.toml");
    let o = turnstile(
        &["feed", "esr", "esr.csv", "--apply", "--today", "2026-11-23"],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let all = items(p);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["action"], "disable");
    let o = turnstile(&["audit", "--format", "json"], p);
    assert!(!text(&o).contains("change.delete"), "{}", text(&o));
}

/// The shipped example trust: with `examples/turnstile.toml` (EMIS Web, SystmOne and
/// smartcard read from `examples/exports/`), `reconcile` raises exactly the items the
/// drift report implies for those systems, and a second run raises none.
#[test]
fn the_example_trust_raises_what_drift_implies_and_no_more() {
    let state = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_turnstile"))
            .args(["--config", "examples/turnstile.toml"])
            .args(args)
            .current_dir(root)
            .env("TURNSTILE__STORE__PATH", state.path().join("state.db"))
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let o = run(&[
        "feed",
        "esr",
        "examples/esr-extract.csv",
        "--apply",
        "--today",
        "2026-11-23",
        "--extracted-at",
        "2026-11-23T06:00:00Z",
    ]);
    assert!(text(&o).contains("400 recorded"), "{}", text(&o));
    let o = run(&[
        "drift",
        "--hr",
        "examples/esr-extract.csv",
        "--export",
        "emis=examples/exports/emis.csv",
        "--export",
        "systmone=examples/exports/systmone.csv",
        "--export",
        "smartcard=examples/exports/smartcard.csv",
        "--today",
        "2026-11-23",
        "--format",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // What the findings imply a person must do on each system.
    let mut implied = std::collections::BTreeSet::new();
    for f in report["findings"].as_array().unwrap() {
        let first = match f["category"].as_str().unwrap() {
            "missing_account" => "create",
            "leaver_still_active" | "absent_still_active" | "enabled_before_start" => "disable",
            "missing_entitlement" => "grant",
            "excess_entitlement" => "revoke",
            // Reported for a person to judge, never changed by Turnstile.
            "generic_account" | "orphan_account" | "duplicate_account" | "dormant_account" => {
                continue;
            }
            other => panic!("a finding this test does not know: {other}"),
        };
        implied.insert((
            f["system"].as_str().unwrap().to_string(),
            f["employee_number"].as_str().unwrap().to_string(),
            first.to_string(),
        ));
    }
    assert!(
        !implied.is_empty(),
        "the example has a missing SystmOne account"
    );

    let o = run(&["reconcile", "--today", "2026-11-23"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(&["work-items", "--format", "json"]);
    let items: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Each person's first item is the change the finding names; a new account's role
    // profiles and activation follow it, for the same person and system.
    let mut raised = std::collections::BTreeSet::new();
    for i in &items {
        let key = (
            i["system"].as_str().unwrap().to_string(),
            i["employee_number"].as_str().unwrap().to_string(),
        );
        let kind = i["action"]
            .as_str()
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string();
        if implied
            .iter()
            .any(|(s, e, k)| (s, e) == (&key.0, &key.1) && k == "create")
            && kind != "create"
        {
            assert!(["grant", "enable"].contains(&kind.as_str()), "{i}");
            continue;
        }
        raised.insert((key.0, key.1, kind));
    }
    assert_eq!(raised, implied, "items: {items:?}");

    let o = run(&["reconcile", "--today", "2026-11-23"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("work item(s) raised"), "{}", text(&o));
    let o = run(&["work-items", "--format", "json"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().count(),
        items.len(),
        "none raised again"
    );
}

/// A smartcard's positions, read from a CIS positions report for this organisation: a
/// leaver's items end this organisation's positions only (named by id), the card is linked
/// by its UUID, and positions ESR's own interface ended are confirmed, not raised again.
#[test]
fn smartcard_items_end_only_this_organisations_positions() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"{}\"\n[reconcile]\nmax_removal_share = 1.0\n\
             [targets.smartcard]\ntype = \"smartcard\"\npath = \"positions.csv\"\norg_code = \"RX1\"\n",
            policy()
        ),
    )
    .unwrap();
    std::fs::write(
        p.join("esr.csv"),
        "Employee Number,Assignment Number,Primary Assignment (Y/N),First Name,Last Name,Smartcard UUID,Staff Group,Job Role,Organisation,Assignment Status,Assignment Start Date,Assignment End Date\n\
         41000002,41000002-1,Y,Amara,Okafor,200009876204,Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,Terminate Assignment,01/04/2019,20/11/2026\n",
    )
    .unwrap();
    let header = "UUID,Name,Organisation Code,Position ID,Job Role Code,Activity Codes,Start Date,End Date\n";
    let elsewhere = "200009876204,Amara Okafor,RY2,P-9001,R8001,B0360,01/01/2024,\n";
    std::fs::write(
        p.join("positions.csv"),
        format!("{header}200009876204,Amara Okafor,RX1,P-0431,R8001,B0360;B0264,01/04/2019,\n{elsewhere}"),
    )
    .unwrap();
    let o = turnstile(
        &["feed", "esr", "esr.csv", "--apply", "--today", "2026-11-23"],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let all = items(p);
    let mut actions: Vec<&str> = all.iter().map(|i| i["action"].as_str().unwrap()).collect();
    actions.sort();
    assert_eq!(
        actions,
        ["revoke B0264", "revoke B0360", "revoke R8001"],
        "{all:?}"
    );
    assert_eq!(
        by_action(&all, "revoke R8001")["detail"],
        "End position P-0431 (R8001) at RX1 for smartcard 200009876204 of Amara Okafor (ESR 41000002) — the card stays with the person"
    );
    for i in &all {
        assert_eq!(
            i["account"], "200009876204",
            "linked by the card's UUID: {i}"
        );
        let detail = i["detail"].as_str().unwrap();
        assert!(
            !detail.contains("RY2") && !detail.contains("P-9001"),
            "{detail}"
        );
    }
    // ESR's own interface ended the position: the export shows it, the items are confirmed.
    std::fs::write(
        p.join("positions.csv"),
        format!("{header}200009876204,Amara Okafor,RX1,P-0431,R8001,B0360;B0264,01/04/2019,20/11/2026\n{elsewhere}"),
    )
    .unwrap();
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert!(
        text(&o).contains("3 work item(s) confirmed by the export"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("work item(s) raised"), "{}", text(&o));
    assert!(items(p).iter().all(|i| i["status"] == "confirmed"));
}

/// The daemon, with no one running `reconcile`: an HR event for a GP raises the EMIS Web
/// items, its sender posts them to the service desk, and the gauges count them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_raises_and_sends_work_items_by_itself() {
    use crate::kafka::{Setup, brokers, produce, producer, rec, wait_until};
    let setup = Setup::new(&brokers(), 1, true).await;
    let desk = ServiceDesk::start(1);
    let export = setup.dir.path().join("emis.csv");
    std::fs::write(&export, EXPORT).unwrap();
    setup.write_config(&format!(
        "apply_every_ms = 100\n[targets.emis]\ntype = \"emis\"\npath = \"{}\"\n\
         [work_items]\nsend_every_secs = 1\nretry_min_ms = 20\nwebhook_url = \"{}\"\n",
        export.display(),
        desk.url
    ));
    let mut daemon = setup.start();
    let number = format!("W{}", std::process::id());
    let event = serde_json::json!({
        "schema": "turnstile.hr-event/v1",
        "event_id": format!("{number}-1"),
        "source": "esr",
        "kind": "joiner",
        "occurred_at": "2026-11-01T09:00:00Z",
        "person": {
            "employee_number": number,
            "title": "Dr",
            "given_name": "Amara",
            "family_name": "Okafor",
            "assignments": [{
                "assignment_number": format!("{number}-1"),
                "primary": true,
                "status": "Active Assignment",
                "staff_group": "Medical and Dental",
                "job_role": "General Practitioner",
                "organisation": "RX1 Primary Care",
                "start_date": "2019-04-01"
            }]
        }
    });
    produce(
        &producer(&brokers(), true),
        &setup.topic,
        &[rec(&number, &event)],
    )
    .await;
    wait_until(
        "three items at the service desk",
        Duration::from_secs(60),
        || desk.accepted().len() == 3,
    );
    let mut keys: Vec<String> = desk.accepted().iter().map(|r| r.key.clone()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 3, "each item once: {keys:?}");
    wait_until("the work-item gauge", Duration::from_secs(30), || {
        daemon.get("/metrics").is_some_and(|(_, body)| {
            body.contains(r#"turnstile_work_items{system="emis",status="open"} 3"#)
                && body.contains(r#"turnstile_work_items_sent_total{kind="webhook"} 3"#)
        })
    });
    assert!(
        daemon
            .terminate(Duration::from_secs(20))
            .is_some_and(|s| s.success())
    );
}

/// NHSmail accounts are national: a joiner whose ESR work email is already an NHSmail
/// address that this organisation's report does not list is joined (a work item), never
/// given a second mailbox; one the report lists without their ExternalSyncID is proposed
/// for linking. The next report that lists the joined account confirms the item.
#[test]
fn an_nhsmail_joiner_from_elsewhere_is_joined_and_a_listed_one_proposed() {
    let dir = nhsmail_folder();
    let p = dir.path();
    let header = "Employee Number,Assignment Number,Primary Assignment (Y/N),Title,First Name,Last Name,Work Email,Staff Group,Job Role,Organisation,Assignment Status,Assignment Start Date,Assignment End Date\n";
    std::fs::write(
        p.join("esr.csv"),
        format!(
            "{header}42100001,42100001-1,Y,Ms,Priya,Raman,priya.raman@nhs.net,Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,Active Assignment,01/04/2019,\n\
             42100002,42100002-1,Y,Mr,Tom,Hughes,tom.hughes3@nhs.net,Admin and Clerical,Administrator,Estates,Active Assignment,01/04/2019,\n"
        ),
    )
    .unwrap();
    let report = |priya: bool| {
        let mut text =
            String::from("Email Address,ExternalSyncID,Display Name,Status,Last Logon\n");
        for i in 0..20 {
            text.push_str(&format!(
                "other{i}@nhs.net,4400{i:04},Other {i},Active,2026-11-20 09:00\n"
            ));
        }
        // Tom's mailbox is this organisation's, made before Turnstile: no ExternalSyncID.
        text.push_str("tom.hughes3@nhs.net,,Tom Hughes,Active,2026-11-19 09:00\n");
        if priya {
            text.push_str("priya.raman@nhs.net,42100001,Priya Raman,Active,\n");
        }
        std::fs::write(p.join("report.csv"), text).unwrap();
    };
    report(false);
    let o = turnstile(
        &["feed", "esr", "esr.csv", "--apply", "--today", "2026-11-23"],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("1 proposed, 0 disputed, 1 with no candidate"),
        "{}",
        text(&o)
    );
    // No create line anywhere: not queued, not released.
    assert!(!p.join("outbox/queue/create.csv").exists());
    let released: Vec<String> = std::fs::read_dir(p.join("outbox"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("nhsmail-create"))
        .collect();
    assert!(released.is_empty(), "{released:?}");
    let all = items(p);
    let join = by_action(&all, "create");
    assert_eq!(join["employee_number"], "42100001");
    assert!(
        join["detail"]
            .as_str()
            .unwrap()
            .contains("join the existing national account priya.raman@nhs.net")
            && join["detail"]
                .as_str()
                .unwrap()
                .contains("do not create a new mailbox"),
        "{join:#}"
    );
    assert!(
        all.iter().all(|i| i["employee_number"] != "42100002"),
        "nothing raised for Tom: {all:#?}"
    );
    let o = turnstile(&["matches", "list", "--format", "json"], p);
    let listed = text(&o);
    assert!(
        listed.contains("tom.hughes3@nhs.net") && listed.contains("\"email\""),
        "{listed}"
    );
    // The administrator joined it; the next report lists it under her number.
    report(true);
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert!(
        text(&o).contains("work item(s) confirmed by the export"),
        "{}",
        text(&o)
    );
}

/// A folder with a config whose only target is NHSmail (report.csv, outbox/, org RX1).
fn nhsmail_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"{}\"\n[reconcile]\nmax_removal_share = 1.0\n\
             [targets.nhsmail]\ntype = \"nhsmail\"\nreport = \"report.csv\"\noutbox = \"outbox\"\norg_code = \"RX1\"\n",
            policy()
        ),
    )
    .unwrap();
    dir
}

/// NHSmail through the Portal's bulk upload: a leaver's line and a joiner's line go out
/// as batches one at a time, the next mailbox report confirms them, one contradicting a
/// line reopens it, and an empty or cut-short report is refused, never read as everyone
/// gone.
#[test]
fn nhsmail_batches_go_one_at_a_time_and_the_report_confirms_them() {
    let dir = nhsmail_folder();
    let p = dir.path();
    let header = "Employee Number,Assignment Number,Primary Assignment (Y/N),Title,First Name,Last Name,Staff Group,Job Role,Organisation,Assignment Status,Assignment Start Date,Assignment End Date\n";
    std::fs::write(
        p.join("esr.csv"),
        format!(
            "{header}42000001,42000001-1,Y,Ms,Amara,Okafor,Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,Active Assignment,01/04/2019,\n\
             42000002,42000002-1,Y,Mr,Ben,Cole,Admin and Clerical,Administrator,Estates,Terminate Assignment,01/04/2019,20/11/2026\n"
        ),
    )
    .unwrap();
    let report = |ben: &str, amara: bool| {
        let mut text =
            String::from("Email Address,ExternalSyncID,Display Name,Status,Last Logon\n");
        // Other mailboxes of the organisation, not in this extract.
        for i in 0..20 {
            text.push_str(&format!(
                "other{i}@nhs.net,4300{i:04},Other {i},Active,2026-11-20 09:00\n"
            ));
        }
        text.push_str(&format!(
            "ben.cole@nhs.net,42000002,Ben Cole,{ben},2026-11-19 09:00\n"
        ));
        if amara {
            text.push_str("amara.okafor2@nhs.net,42000001,Amara Okafor,Pending,\n");
        }
        std::fs::write(p.join("report.csv"), text).unwrap();
    };
    report("Active", false);
    let o = turnstile(
        &["feed", "esr", "esr.csv", "--apply", "--today", "2026-11-23"],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let batches = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(p.join("outbox"))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with("nhsmail-"))
            .collect();
        names.sort();
        names
    };
    // One batch released (the leaver's); the joiner's line waits in the queue.
    let released = batches();
    assert_eq!(released.len(), 1, "{released:?}");
    assert!(released[0].starts_with("nhsmail-leaver-"), "{released:?}");
    assert_eq!(
        std::fs::read_to_string(p.join("outbox").join(&released[0])).unwrap(),
        "ExternalSyncID,EmailAddress,LeavingDate\r\n42000002,ben.cole@nhs.net,20/11/2026\r\n"
    );
    assert!(p.join("outbox/queue/create.csv").exists());
    let all = items(p);
    assert_eq!(by_action(&all, "disable")["status"], "open");
    assert!(
        by_action(&all, "create")["detail"]
            .as_str()
            .unwrap()
            .contains("bulk create line")
    );

    // Uploaded (moved out of the outbox): the next run releases the create batch.
    let uploaded = p.join("outbox/uploaded");
    std::fs::create_dir_all(&uploaded).unwrap();
    std::fs::rename(
        p.join("outbox").join(&released[0]),
        uploaded.join(&released[0]),
    )
    .unwrap();
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let released = batches();
    assert_eq!(released.len(), 1, "{released:?}");
    assert!(released[0].starts_with("nhsmail-create-"), "{released:?}");
    assert_eq!(
        std::fs::read_to_string(p.join("outbox").join(&released[0])).unwrap(),
        "ExternalSyncID,Title,FirstName,LastName,DisplayName,JobTitle,Department,OrganisationCode,StartDate\r\n\
         42000001,Ms,Amara,Okafor,Amara Okafor,Staff Nurse,Ward 7 Medicine,RX1,01/04/2019\r\n"
    );
    std::fs::rename(
        p.join("outbox").join(&released[0]),
        uploaded.join(&released[0]),
    )
    .unwrap();

    // The Portal did both: the report confirms every item.
    report("Active (Leaver)", true);
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert!(
        text(&o).contains("2 work item(s) confirmed by the export"),
        "{}",
        text(&o)
    );

    // Someone took the leaver mark off by hand: the item is reopened, a new line goes out.
    report("Active", true);
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(by_action(&items(p), "disable")["status"], "reopened");
    assert!(
        p.join("outbox/queue/leaver.csv").exists()
            || batches().iter().any(|b| b.starts_with("nhsmail-leaver-"))
    );

    // A report cut short or empty is refused: nothing planned from it.
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    let before = items(p).len();
    std::fs::write(p.join("report.csv"), "Email Address,ExternalSyncID,Display Name,Status,Last Logon\nben.cole@nhs.net,42000002,Ben Cole,Active,\n").unwrap();
    let o2 = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert_eq!(o2.status.code(), Some(1), "{}", text(&o2));
    assert!(text(&o2).contains("refused as partial"), "{}", text(&o2));
    std::fs::write(
        p.join("report.csv"),
        "Email Address,ExternalSyncID,Display Name,Status,Last Logon\n",
    )
    .unwrap();
    let o3 = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert_eq!(o3.status.code(), Some(1), "{}", text(&o3));
    assert!(text(&o3).contains("has no rows: refused"), "{}", text(&o3));
    assert_eq!(
        items(p).len(),
        before,
        "nothing raised from a refused report: {}",
        text(&o)
    );
}

/// A leaver whose leaving reason means they leave health and care (configured per system)
/// has their smartcard profile closed; one moving on keeps their card.
#[test]
fn a_smartcard_is_closed_only_for_someone_leaving_health_and_care() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let model = std::fs::read_to_string(policy()).unwrap().replace(
        "[systems.smartcard]\n",
        "[systems.smartcard]\nclosed_when_leaving_for = [\"Retirement - Age\"]\n",
    );
    std::fs::write(p.join("model.toml"), model).unwrap();
    std::fs::write(
        p.join("turnstile.toml"),
        "[store]\npath = \"state.db\"\n[policy]\npath = \"model.toml\"\n[reconcile]\nmax_removal_share = 1.0\n\
         [targets.smartcard]\ntype = \"smartcard\"\npath = \"positions.csv\"\norg_code = \"RX1\"\n",
    )
    .unwrap();
    std::fs::write(
        p.join("esr.csv"),
        "Employee Number,Assignment Number,Primary Assignment (Y/N),First Name,Last Name,Smartcard UUID,Staff Group,Job Role,Organisation,Assignment Status,Assignment Start Date,Assignment End Date,Leaving Reason\n\
         45000001,45000001-1,Y,Amara,Okafor,200009876204,Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,Terminate Assignment,01/04/2019,20/11/2026,Retirement - Age\n\
         45000002,45000002-1,Y,Ben,Cole,200009876205,Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,Terminate Assignment,01/04/2019,20/11/2026,Voluntary Resignation - Relocation\n",
    )
    .unwrap();
    std::fs::write(
        p.join("positions.csv"),
        "UUID,Name,Organisation Code,Position ID,Job Role Code,Activity Codes,Start Date,End Date\n\
         200009876204,Amara Okafor,RX1,P-0431,R8001,B0360;B0264,01/04/2019,\n\
         200009876205,Ben Cole,RX1,P-0432,R8001,B0360;B0264,01/04/2019,\n",
    )
    .unwrap();
    let o = turnstile(
        &["feed", "esr", "esr.csv", "--apply", "--today", "2026-11-23"],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let all = items(p);
    let closes: Vec<&serde_json::Value> = all.iter().filter(|i| i["action"] == "disable").collect();
    assert_eq!(closes.len(), 1, "{all:?}");
    assert_eq!(closes[0]["employee_number"], "45000001");
    assert_eq!(
        closes[0]["detail"],
        "End position P-0431 (R8001) at RX1 on 20/11/2026 for smartcard 200009876204 of Amara Okafor (ESR 45000001), then close their Care Identity Service profile and cancel the card: they leave health and care (leaving reason: Retirement - Age)"
    );
    // Ben moves on: his positions here end, his card stays.
    let ben: Vec<&serde_json::Value> = all
        .iter()
        .filter(|i| i["employee_number"] == "45000002")
        .collect();
    assert!(
        !ben.is_empty()
            && ben
                .iter()
                .all(|i| i["action"].as_str().unwrap().starts_with("revoke")),
        "{ben:?}"
    );
}

/// Exports as the systems give them, read through the columns mapped in config: an EMIS
/// Web status column and contract end, a job category beside the role profile, and a
/// SystmOne staff list keyed by smartcard UUID with no ESR number at all.
#[test]
fn exports_are_read_under_their_own_headings_and_linked_by_smartcard() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"{}\"\n[reconcile]\nmax_removal_share = 1.0\n\
             [targets.emis]\ntype = \"emis\"\npath = \"emis.csv\"\n\
             [targets.emis.columns]\naccount = \"Login\"\nemployee_number = \"Payroll Number\"\ndisplay_name = \"User Name\"\n\
             enabled = \"Status\"\nenabled_values = [\"Active\"]\nentitlements = \"RBAC Role Profile\"\n\
             entitlement_columns = [\"Job Category\"]\nend_date = \"Contract End\"\nlast_logon = \"Last Logon\"\n\
             [targets.systmone]\ntype = \"systmone\"\npath = \"systmone.csv\"\n\
             [targets.systmone.columns]\naccount = \"Logon\"\nemployee_number = \"Staff Number\"\ndisplay_name = \"Name\"\n\
             enabled = \"Obsolete\"\nenabled_values = [\"No\"]\nentitlements = \"Role\"\nsmartcard = \"Smartcard UUID\"\n",
            policy()
        ),
    )
    .unwrap();
    std::fs::write(
        p.join("esr.csv"),
        "Employee Number,Assignment Number,Primary Assignment (Y/N),First Name,Last Name,Smartcard UUID,Staff Group,Job Role,Organisation,Assignment Status,Assignment Start Date,Assignment End Date\n\
         46000001,46000001-1,Y,Amara,Okafor,200009876301,Medical and Dental,General Practitioner,RX1 Primary Care,Active Assignment,01/04/2019,\n\
         46000002,46000002-1,Y,Ben,Cole,200009876302,Admin and Clerical,Receptionist,RX1 Primary Care,Terminate Assignment,01/04/2019,20/11/2026\n\
         46000003,46000003-1,Y,Cara,Dunn,200009876303,Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,Active Assignment,01/04/2019,\n",
    )
    .unwrap();
    // The GP in post with her profile; the receptionist's contract already end-dated
    // (its status not yet changed): nothing to ask of EMIS.
    std::fs::write(
        p.join("emis.csv"),
        "Login,Payroll Number,User Name,Status,Job Category,RBAC Role Profile,Contract End,Last Logon\n\
         AOKAFOR,46000001,Amara Okafor,Active,Doctor,GP,,20/11/2026 09:00\n\
         BCOLE,46000002,Ben Cole,Active,Admin,Receptionist,20/11/2026,19/11/2026 09:00\n",
    )
    .unwrap();
    // SystmOne knows the nurse by her smartcard only.
    std::fs::write(
        p.join("systmone.csv"),
        "Logon,Staff Number,Name,Obsolete,Role,Smartcard UUID\nCDUNN,,Cara Dunn,No,Nurse,200009876303\n",
    )
    .unwrap();
    let o = turnstile(
        &["feed", "esr", "esr.csv", "--apply", "--today", "2026-11-23"],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("emis: 2 accounts read, 0 change(s)"), "{out}");
    assert!(
        out.contains("systmone: 1 accounts read, 0 change(s)"),
        "{out}"
    );
    assert!(items(p).is_empty(), "{:?}", items(p));
    // A contract end date that does not parse is a row error naming the column.
    std::fs::write(
        p.join("emis.csv"),
        "Login,Payroll Number,User Name,Status,Job Category,RBAC Role Profile,Contract End,Last Logon\n\
         AOKAFOR,46000001,Amara Okafor,Active,Doctor,GP,31/02/2027,20/11/2026 09:00\n",
    )
    .unwrap();
    let o = turnstile(
        &[
            "reconcile",
            "--today",
            "2026-11-23",
            "--system",
            "emis",
            "--dry-run",
        ],
        p,
    );
    assert!(text(&o).contains("Contract End"), "{}", text(&o));
}

/// A TRAC starter's work items (a system with no API) become the ESR person's when ESR
/// lists them: nothing is asked of the administrator twice.
#[test]
fn a_linked_starter_keeps_their_work_items() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"{}\"\n[targets.systmone]\ntype = \"systmone\"\npath = \"systmone.csv\"\n",
            policy()
        ),
    )
    .unwrap();
    std::fs::write(
        p.join("systmone.csv"),
        format!("{EXPORT}OTHER,49000009,Someone Else,true,,Nurse\n"),
    )
    .unwrap();
    std::fs::write(
        p.join("trac.csv"),
        "Candidate Reference,First Name,Last Name,Post Title,Staff Group,Job Role,Department,Location,Start Date,Hiring Manager Employee Number,Position Number\n\
         C-77,Zoe,Starter,Staff Nurse,Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,Main Hospital,04/01/2027,,P-0431\n",
    )
    .unwrap();
    let o = turnstile(
        &[
            "feed",
            "trac",
            "trac.csv",
            "--apply",
            "--today",
            "2026-12-30",
        ],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = turnstile(&["reconcile", "--today", "2026-12-30"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let before = items(p);
    assert!(!before.is_empty());
    assert!(
        before.iter().all(|i| i["employee_number"] == "TRAC-C-77"),
        "{before:?}"
    );
    std::fs::write(
        p.join("esr.csv"),
        "Employee Number,Assignment Number,Primary Assignment (Y/N),First Name,Last Name,Staff Group,Job Role,Position Number,Organisation,Assignment Status,Assignment Start Date,Assignment End Date\n\
         49000001,49000001-1,Y,Zoë,Starter,Nursing and Midwifery Registered,Staff Nurse,P-0431,Ward 7 Medicine,Active Assignment,04/01/2027,\n",
    )
    .unwrap();
    let o = turnstile(
        &["feed", "esr", "esr.csv", "--apply", "--today", "2026-12-30"],
        p,
    );
    assert!(
        text(&o).contains("49000001: linked to TRAC starter TRAC-C-77"),
        "{}",
        text(&o)
    );
    let o = turnstile(&["reconcile", "--today", "2026-12-30"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        !text(&o).contains("work item(s) raised"),
        "nothing asked twice: {}",
        text(&o)
    );
    let after = items(p);
    assert_eq!(after.len(), before.len(), "{after:?}");
    assert!(
        after.iter().all(|i| i["employee_number"] == "49000001"),
        "{after:?}"
    );
}
