//! The command line end to end: validate, feed into the store, plan, audit and its verify.

use super::drift::{policy, text, turnstile};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const HEADER: &str = "Employee Number,Assignment Number,Primary Assignment (Y/N),First Name,Last Name,Staff Group,Job Role,Organisation,Supervisor Employee Number,Assignment Status,Assignment Start Date,Assignment End Date\n";

fn write_esr(dir: &Path, name: &str, rows: &[&str]) {
    std::fs::write(dir.join(name), format!("{HEADER}{}\n", rows.join("\n"))).unwrap();
}

const NURSE: &str = "40000001,40000001-1,Y,Amara,Okafor,Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,40000009,Active Assignment,01/04/2019,";
const NURSE_LEFT: &str = "40000001,40000001-1,Y,Amara,Okafor,Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,40000009,Terminate Assignment,01/04/2019,31/10/2026";
const PORTER: &str = "40000002,40000002-1,Y,Ben,Cole,Estates and Ancillary,Porter,Estates,40000009,Active Assignment,01/04/2019,";

#[test]
fn validate_names_every_problem_and_accepts_the_example() {
    let dir = tempfile::tempdir().unwrap();
    let o = turnstile(&["validate", "--policy", &policy()], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("ok: 5 systems, 16 roles"));
    std::fs::write(
        dir.path().join("bad.toml"),
        "version = 1\n[systems.emis]\nname = \"EMIS\"\nholds_clinical_history = true\ndelete_after_days = 30\n[roles.a]\ngrants = { nope = [\"x\"] }\n[[rules]]\nid = \"r\"\ngrant = [\"b\"]\n",
    )
    .unwrap();
    let o = turnstile(&["validate", "--policy", "bad.toml"], dir.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    for needle in [
        "bad.toml:5: error: system `emis` holds clinical history",
        "bad.toml:7: error: role `a` grants on system `nope`",
        "bad.toml:10: error: rule `r` grants role `b`",
        "3 error(s) found",
    ] {
        assert!(t.contains(needle), "wanted {needle:?} in {t}");
    }
}

/// Settings that knowingly weaken transport security are accepted, and said each time
/// the config is checked.
#[test]
fn validate_warns_of_an_unverified_store_and_plaintext_tokens() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(
        &tokens,
        format!(
            "[[tokens]]\nname = \"a\"\nrole = \"viewer\"\nsha256 = \"{}\"\n",
            "ab".repeat(32)
        ),
    )
    .unwrap();
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(
        dir.path().join("turnstile.toml"),
        format!(
            "[store]\nkind = \"postgres\"\nurl = \"postgres://ts@db.trust.nhs.uk/t\"\ntls_insecure_skip_verify = true\n[daemon]\nlisten = \"0.0.0.0:9464\"\ntokens_file = \"{}\"\nallow_plaintext_tokens = true\n",
            tokens.display()
        ),
    )
    .unwrap();
    let o = turnstile(&["validate", "--policy", &policy()], dir.path());
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.contains(
            "tls_insecure_skip_verify = true: the PostgreSQL server's certificate is not checked"
        ),
        "{t}"
    );
    assert!(t.contains("allow_plaintext_tokens = true"), "{t}");
}

#[test]
fn feed_records_plans_and_audits_and_a_replay_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"{}\"\n",
            policy()
        ),
    )
    .unwrap();
    write_esr(p, "day1.csv", &[NURSE, PORTER]);
    let feed = |file: &str, at: &str, extra: &[&str]| {
        let mut args = vec![
            "feed",
            "esr",
            file,
            "--apply",
            "--extracted-at",
            at,
            "--today",
            "2026-11-23",
        ];
        args.extend_from_slice(extra);
        turnstile(&args, p)
    };
    let o = feed("day1.csv", "2026-11-22T06:00:00Z", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("2 people: 2 recorded"), "{}", text(&o));

    let audit = |person: &str| {
        let o = turnstile(&["audit", "--person", person, "--format", "json"], p);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        serde_json::from_slice::<Vec<serde_json::Value>>(&o.stdout).unwrap()
    };
    let trail = audit("40000001");
    assert_eq!(trail[0]["action"], "hr.record");
    let id = trail[0]["event_id"].as_str().unwrap();
    assert!(
        id.starts_with("esr-20261122T060000Z-40000001-") && id.len() == 42,
        "source, time, person and a digest of the record: {id}"
    );
    // One entry for the record, naming the changes it plans and the rule behind each:
    // the changes themselves are recorded as they are made.
    assert_eq!(trail.len(), 1, "{trail:#?}");
    let reason = trail[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("plans ")
            && reason.contains("ad grant GG-Nursing (rule registered-nursing)"),
        "{reason}"
    );
    assert!(trail.iter().all(|e| e["employee_number"] == "40000001"));
    let before = trail.len();

    // The same file again: same event ids, nothing recorded, nothing audited.
    let o = feed("day1.csv", "2026-11-22T06:00:00Z", &[]);
    assert!(text(&o).contains("2 duplicate"), "{}", text(&o));
    assert_eq!(audit("40000001").len(), before);
    // An older extract arriving late changes nothing either.
    write_esr(p, "older.csv", &[NURSE_LEFT]);
    let o = feed("older.csv", "2026-11-01T06:00:00Z", &[]);
    assert!(text(&o).contains("1 stale"), "{}", text(&o));

    // A newer full extract without the porter flags him for review; it does not make him
    // a leaver. The nurse's leaving is recorded with its planned changes.
    write_esr(p, "day2.csv", &[NURSE_LEFT]);
    // One of two people missing is far over the 5% a full extract may drop without a
    // person's say-so: nobody is flagged until it is approved.
    let o = feed("day2.csv", "2026-11-23T06:00:00Z", &["--full"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no longer lists 1 of the 2 ESR people held (50.0%)"),
        "{}",
        text(&o)
    );
    assert!(!audit("40000002").iter().any(|e| e["action"] == "hr.review"));
    // The old spelling of the override still works, and says it was renamed.
    let o = feed("day2.csv", "2026-11-23T06:00:00Z", &["--full", "--approve"]);
    assert!(text(&o).contains("1 flagged for review"), "{}", text(&o));
    assert!(
        text(&o).contains("--approve is now --allow-review-share"),
        "{}",
        text(&o)
    );
    let porter = audit("40000002");
    assert_eq!(porter.last().unwrap()["action"], "hr.review");
    let o = turnstile(
        &["plan", "--person", "40000002", "--today", "2026-11-23"],
        p,
    );
    // No target has been read: plan says so instead of a create for everyone.
    assert!(
        text(&o).contains("its accounts have never been read") && !text(&o).contains("create"),
        "{}",
        text(&o)
    );
    let nurse = audit("40000001");
    assert!(
        nurse
            .iter()
            .any(|e| e["reason"].as_str().unwrap().starts_with("leaver from esr"))
    );

    let o = turnstile(&["audit", "--since", "2020-01-01"], p);
    assert!(text(&o).contains("hr.record recorded"), "{}", text(&o));
    let o = turnstile(&["audit", "--verify"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("audit trail intact"));

    // Tamper with the database file behind Turnstile's back.
    let conn = rusqlite::Connection::open(p.join("state.db")).unwrap();
    conn.execute_batch(
        "DROP TRIGGER audit_no_update; UPDATE audit SET reason = 'nothing to see' WHERE seq = 2;",
    )
    .unwrap();
    drop(conn);
    let o = turnstile(&["audit", "--verify"], p);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("entry 2: its content no longer matches its hash"),
        "{}",
        text(&o)
    );
}

#[test]
fn environment_overrides_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write_esr(p, "day1.csv", &[PORTER]);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_turnstile"))
        .args([
            "feed",
            "esr",
            "day1.csv",
            "--apply",
            "--policy",
            &policy(),
            "--extracted-at",
            "2026-11-22T06:00:00Z",
        ])
        .current_dir(p)
        .env("TURNSTILE__STORE__PATH", "from-env.db")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(p.join("from-env.db").exists());
    assert!(!p.join("turnstile.db").exists());
}

#[test]
fn feed_prints_events_that_satisfy_the_schema_and_trac_starters_are_future_joiners() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("trac.csv"),
        "Candidate Reference,First Name,Last Name,Post Title,Staff Group,Job Role,Department,Location,Start Date,Hiring Manager Employee Number,Position Number\nC-1,Zoë,O'Brien,Staff Nurse,Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,Main,05/01/2027,40000009,P-1\nC-2,Bad,Date,Porter,Estates and Ancillary,Porter,Estates,Main,soon,,P-2\n",
    )
    .unwrap();
    let o = turnstile(
        &[
            "feed",
            "trac",
            "trac.csv",
            "--extracted-at",
            "2026-11-22T06:00:00Z",
            "--today",
            "2026-11-23",
        ],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("trac.csv:3: `Start Date`"));
    let line = String::from_utf8(o.stdout).unwrap();
    let event = turnstile::hr::HrEvent::from_json(line.trim().as_bytes()).unwrap();
    assert_eq!(event.kind, turnstile::hr::EventKind::Joiner);
    assert_eq!(event.person.employee_number.as_str(), "TRAC-C-1");
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schemas/hr-event.v1.schema.json")).unwrap();
    let v = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    assert!(v.is_valid(&serde_json::from_str(&line).unwrap()));
}

#[test]
fn bad_usage_and_bad_settings_exit_2_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.csv"), HEADER).unwrap();
    let o = turnstile(&["feed", "esr", "x.csv", "--publish", "--full"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--full needs --apply"), "{}", text(&o));
    // The daemon refuses bad Kafka settings before connecting, naming each key.
    std::fs::write(
        dir.path().join("k.toml"),
        "[kafka]\nsecurity_protocol = \"sasl_ssl\"\n[kafka.consumer]\n\"enable.auto.offset.store\" = \"true\"\n",
    )
    .unwrap();
    let o = turnstile(
        &["--config", "k.toml", "run", "--policy", &policy()],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2));
    for key in [
        "[kafka] sasl_mechanism",
        "[kafka] sasl_username",
        "enable.auto.offset.store",
    ] {
        assert!(text(&o).contains(key), "{key}: {}", text(&o));
    }
    // The same from the environment, which overrides the file.
    let o = Command::new(env!("CARGO_BIN_EXE_turnstile"))
        .args(["run", "--policy", &policy()])
        .current_dir(dir.path())
        .env("TURNSTILE__KAFKA__SECURITY_PROTOCOL", "sasl_ssl")
        .env("TURNSTILE__KAFKA__SASL_USERNAME", "turnstile")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("[kafka] sasl_mechanism: required"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("sasl_username"), "{}", text(&o));
    let o = turnstile(&["reconcile", "--policy", &policy()], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("no connector is configured"),
        "{}",
        text(&o)
    );
    let o = turnstile(&["--config", "missing.toml", "validate"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("missing.toml: the config file does not exist"));
    let o = turnstile(&["frobnicate"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    let o = turnstile(&["drift", "--help"], dir.path());
    assert_eq!(o.status.code(), Some(0));
}

fn config(p: &Path) {
    std::fs::write(
        p.join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"{}\"\n",
            policy()
        ),
    )
    .unwrap();
}

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// The people `feed esr` reads from a file (one JSON line each), and what it printed.
fn people_in(p: &Path, file: &str) -> (usize, String) {
    let o = turnstile(
        &[
            "feed",
            "esr",
            file,
            "--extracted-at",
            "2026-11-22T06:00:00Z",
        ],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    (
        String::from_utf8_lossy(&o.stdout).lines().count(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_stray_quote_costs_one_person_never_the_rest_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let original = std::fs::read_to_string(examples().join("esr-extract.csv")).unwrap();
    std::fs::write(p.join("esr.csv"), &original).unwrap();
    let (before, _) = people_in(p, "esr.csv");
    assert_eq!(before, 400);
    // One stray quote in line 11's last name ("Kofi Ahmed", a person with one row).
    let mut lines: Vec<String> = original.lines().map(str::to_string).collect();
    let cols: Vec<&str> = lines[10].split(',').collect();
    let employee = cols[0].to_string();
    lines[10] = lines[10].replacen(cols[5], &format!("\"{}", cols[5]), 1);
    std::fs::write(p.join("quoted.csv"), lines.join("\n") + "\n").unwrap();
    let (after, err) = people_in(p, "quoted.csv");
    assert_eq!(after, before - 1, "{err}");
    assert!(
        err.contains("quoted.csv:11: a quote opened in field 6"),
        "{err}"
    );
    assert!(
        err.contains(&format!("person {employee} held back (lines 11)")),
        "{err}"
    );
}

#[test]
fn a_changed_extract_with_the_same_time_is_recorded_not_taken_for_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    config(p);
    let feed = |file: &str| {
        turnstile(
            &[
                "feed",
                "esr",
                file,
                "--apply",
                "--extracted-at",
                "2026-11-22T06:00:00Z",
                "--today",
                "2026-11-23",
            ],
            p,
        )
    };
    write_esr(p, "esr.csv", &[NURSE, PORTER]);
    assert!(text(&feed("esr.csv")).contains("2 recorded"));
    // The nurse becomes a leaver in the same file, fed with the same extract time.
    write_esr(p, "esr.csv", &[NURSE_LEFT, PORTER]);
    let o = feed("esr.csv");
    assert!(text(&o).contains("1 duplicate, 1 recorded"), "{}", text(&o));
    let o = turnstile(
        &["plan", "--person", "40000001", "--today", "2026-11-23"],
        p,
    );
    assert!(
        text(&o).contains("0 change(s)") || text(&o).contains("leaver"),
        "{}",
        text(&o)
    );
    let o = turnstile(&["audit", "--person", "40000001"], p);
    assert!(text(&o).contains("leaver from esr"), "{}", text(&o));
    // Feeding it once more changes nothing.
    assert!(text(&feed("esr.csv")).contains("2 duplicate"));
}

#[test]
fn audit_verify_prints_the_head_and_holds_the_trail_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    config(p);
    // Readers never create a store, wherever the path points.
    let o = turnstile(&["plan", "--today", "2026-11-23"], p);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("there is no store here"), "{}", text(&o));
    assert!(!p.join("state.db").exists());
    write_esr(p, "esr.csv", &[NURSE, PORTER]);
    let o = turnstile(
        &["feed", "esr", "esr.csv", "--apply", "--today", "2026-11-23"],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = turnstile(&["audit", "--verify"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let head = out
        .lines()
        .find_map(|l| l.strip_prefix("head "))
        .unwrap_or_else(|| panic!("no head in {out}"))
        .to_string();
    let verify_against = |head: &str| turnstile(&["audit", "--verify", "--expect-head", head], p);
    assert_eq!(verify_against(&head).status.code(), Some(0));
    let (seq, hash) = head.split_once(':').unwrap();
    let wrong = format!("{seq}:{}", "0".repeat(64));
    let o = verify_against(&wrong);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("re-chained"), "{}", text(&o));
    let beyond = format!("{}:{hash}", seq.parse::<u64>().unwrap() + 1);
    assert_eq!(verify_against(&beyond).status.code(), Some(1));
    assert_eq!(verify_against("7").status.code(), Some(2));

    // Everything removed, head too: not "intact".
    let conn = rusqlite::Connection::open(p.join("state.db")).unwrap();
    conn.execute_batch("DROP TRIGGER audit_no_delete; DELETE FROM audit; DELETE FROM audit_head;")
        .unwrap();
    drop(conn);
    let o = turnstile(&["audit", "--verify"], p);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("the trail is empty"), "{}", text(&o));
    // A store file emptied to 0 bytes is neither read nor written as a new store.
    std::fs::write(p.join("state.db"), b"").unwrap();
    for args in [
        &["audit", "--verify"][..],
        &["feed", "esr", "esr.csv", "--apply"][..],
    ] {
        let o = turnstile(args, p);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(
            text(&o).contains("the file is empty (0 bytes)"),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn a_keyed_trail_is_signed_and_checked() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let key = p.join("audit.key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef0123").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(
        p.join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"{}\"\n[audit]\nhmac_key_file = \"audit.key\"\n",
            policy()
        ),
    )
    .unwrap();
    write_esr(p, "esr.csv", &[NURSE]);
    let o = turnstile(&["feed", "esr", "esr.csv", "--apply"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = turnstile(&["audit", "--verify"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("every entry's MAC checked"),
        "{}",
        text(&o)
    );
    // Another key (or a forger's) does not verify.
    std::fs::write(&key, "another-key-another-key-another-key!").unwrap();
    let o = turnstile(&["audit", "--verify"], p);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("MAC does not match"), "{}", text(&o));
    // A key file others can read is refused.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = turnstile(&["audit", "--verify"], p);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("chmod 600"), "{}", text(&o));
}

#[test]
fn hostile_rows_are_named_escaped_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // A column named twice is refused, naming both.
    std::fs::write(
        p.join("dup.csv"),
        format!("{}Last Name\n", HEADER.trim_end().to_string() + ","),
    )
    .unwrap();
    let o = turnstile(&["feed", "esr", "dup.csv"], p);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("names `Last Name` twice"), "{}", text(&o));
    // An escape sequence in a name never reaches the terminal raw.
    let evil = PORTER.replace("Cole", "Cole\u{1b}[2J");
    write_esr(p, "esc.csv", &[NURSE, &evil]);
    let o = turnstile(&["feed", "esr", "esc.csv"], p);
    assert!(!o.stderr.contains(&0x1b), "{}", text(&o));
    assert!(
        text(&o).contains("esc.csv:3: `Last Name` holds a control character (\\u{1b})"),
        "{}",
        text(&o)
    );
    // 100,000 copies of one row: one person held back, a few lines of output.
    let rows = vec![NURSE; 100_000];
    write_esr(p, "many.csv", &rows);
    let o = turnstile(&["feed", "esr", "many.csv"], p);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        o.stderr.len() < 2_000,
        "{} bytes: {}",
        o.stderr.len(),
        text(&o)
    );
    assert!(
        text(&o).contains("person 40000001 held back (lines 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, … (100000 rows in all)): has 100000 rows, more than [feeds] max_rows_per_person (100)"),
        "{}",
        text(&o)
    );
    // A file most of whose rows are bad is refused whole.
    let bad = PORTER.replace("Active Assignment", "On Holiday");
    let bad: Vec<String> = (2..5)
        .map(|i| bad.replace("40000002", &format!("4000000{i}")))
        .collect();
    let rows: Vec<&str> = std::iter::once(NURSE)
        .chain(bad.iter().map(String::as_str))
        .collect();
    write_esr(p, "bad.csv", &rows);
    let o = turnstile(&["feed", "esr", "bad.csv"], p);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("3 of its 4 rows are bad"), "{}", text(&o));
}

/// `validate --connect` tries every peer the config names before a rollout and names each
/// that does not answer, all at once; the ones that answer are said so. It leaves a
/// PostgreSQL store it only looked at as it was (no tables made).
#[test]
fn validate_connect_tries_every_peer_and_names_each_that_does_not_answer() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let schema = crate::kafka::unique("validate").replace('-', "_");
    let url = std::env::var("TURNSTILE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test?sslmode=disable".into());
    let topic = crate::kafka::unique("nothing-here");
    std::fs::write(
        p.join("t.toml"),
        format!(
            r#"[store]
kind = "postgres"
url = "{url}"
schema = "{schema}"
[policy]
path = "{policy}"
[kafka]
brokers = "{brokers}"
topic = "{topic}"
[smtp]
host = "127.0.0.1"
port = 1
from = "turnstile@example.nhs.uk"
[targets.ad]
type = "ldap"
dialect = "open_ldap"
allow_plain_bind = true
url = "ldap://127.0.0.1:1"
bind_dn = "cn=admin,dc=example,dc=nhs,dc=uk"
bind_password = "not-used"
base_dn = "dc=example,dc=nhs,dc=uk"
users_container = "ou=people,dc=example,dc=nhs,dc=uk"
groups_container = "ou=groups,dc=example,dc=nhs,dc=uk"
timeout_secs = 2
"#,
            policy = policy(),
            brokers = crate::kafka::brokers(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(p.join("t.toml"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = turnstile(&["validate", "--config", "t.toml", "--connect"], p);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    for needle in [
        "[store]: postgres://",
        "no Turnstile store there yet",
        &format!("answers but topic {topic} does not exist"),
        "[smtp]: 127.0.0.1:1",
        "[targets.ad]: does not answer",
    ] {
        assert!(t.contains(needle), "wanted {needle:?} in {t}");
    }
    // Nothing was made in the database by looking.
    let o = Command::new(env!("CARGO_BIN_EXE_turnstile"))
        .args(["validate", "--config", "t.toml", "--connect"])
        .current_dir(p)
        .output()
        .unwrap();
    assert!(
        text(&o).contains("no Turnstile store there yet"),
        "{}",
        text(&o)
    );
    // A database that does not answer is named too, with what to check.
    let o = Command::new(env!("CARGO_BIN_EXE_turnstile"))
        .args(["validate", "--config", "t.toml", "--connect"])
        .env(
            "TURNSTILE__STORE__URL",
            "postgres://turnstile@127.0.0.1:1/turnstile",
        )
        .current_dir(p)
        .output()
        .unwrap();
    let t = text(&o);
    assert!(
        t.contains("[store]: state store postgres://127.0.0.1:1/turnstile: cannot connect")
            && t.contains("check [store] url"),
        "{t}"
    );
}

/// One meaning per word, and every closed set listed by `--help` (before: free strings
/// `--help` could not list, `evidence --help` offering csv and then refusing it, and the
/// person given as `explain N` but `--person N` elsewhere).
#[test]
fn help_lists_every_closed_set_and_a_person_is_named_one_way_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let help = |args: &[&str]| {
        let o = turnstile(args, dir.path());
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        text(&o)
    };
    for (args, values) in [
        (
            &["token", "new", "--help"][..],
            &["viewer", "operator", "approver"][..],
        ),
        (
            &["work-items", "--help"][..],
            &["open", "reopened", "overdue", "confirmed", "cancelled"][..],
        ),
        (
            &["drift", "--help"][..],
            &["auto", "utf-8", "windows-1252"][..],
        ),
        (&["evidence", "--help"][..], &["html", "json"][..]),
    ] {
        let said = help(args);
        assert!(said.contains("ossible values"), "{args:?}: {said}");
        for v in values {
            assert!(said.contains(v), "{args:?} lists {v}: {said}");
        }
    }
    assert!(!help(&["evidence", "--help"]).contains("csv"));
    let o = turnstile(
        &["evidence", "--since", "2026-01-01", "--format", "csv"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = turnstile(
        &["token", "new", "--name", "x", "--role", "admin"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // The overrides say what they override; "approve" is a held plan's decision only.
    assert!(help(&["reconcile", "--help"]).contains("--allow-share"));
    assert!(help(&["feed", "--help"]).contains("--allow-review-share"));
    assert!(
        !help(&["reconcile", "--help"])
            .lines()
            .any(|l| l.trim_start().starts_with("--approve")),
        "the old spelling is a hidden alias"
    );
    // A person is `--person N` wherever one is named; explain also takes it bare.
    std::fs::write(
        dir.path().join("turnstile.toml"),
        format!(
            "[store]\npath = \"s.db\"\n[policy]\npath = \"{}\"\n",
            policy()
        ),
    )
    .unwrap();
    let made = turnstile(&["migrate"], dir.path());
    assert_eq!(made.status.code(), Some(0), "{}", text(&made));
    let bare = turnstile(&["explain", "40000009"], dir.path());
    let named = turnstile(&["explain", "--person", "40000009"], dir.path());
    assert_eq!(bare.status.code(), named.status.code(), "{}", text(&named));
    assert_eq!(text(&bare), text(&named));
    assert!(text(&named).contains("40000009"), "{}", text(&named));
}

/// The man pages under `docs/man/` are what `turnstile man` writes from the same
/// definitions as `--help` (regenerate with `turnstile man --out docs/man` when a flag
/// changes); the shell completions know every verb and the renamed overrides.
#[test]
fn man_pages_and_completions_come_from_the_command_line_itself() {
    let dir = tempfile::tempdir().unwrap();
    let o = turnstile(&["man", "--out", "pages"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let checked_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/man");
    let names = |d: &Path| -> BTreeSet<String> {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    let made = dir.path().join("pages");
    assert_eq!(
        names(&made),
        names(&checked_in),
        "docs/man is stale: turnstile man --out docs/man"
    );
    for page in names(&made) {
        assert_eq!(
            std::fs::read_to_string(made.join(&page)).unwrap(),
            std::fs::read_to_string(checked_in.join(&page)).unwrap(),
            "docs/man/{page} is stale: turnstile man --out docs/man"
        );
    }
    assert!(names(&made).contains("turnstile-reconcile.1"));
    for shell in ["bash", "zsh", "fish"] {
        let o = turnstile(&["completions", shell], dir.path());
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let script = String::from_utf8_lossy(&o.stdout);
        for word in ["reconcile", "allow-share", "work-items"] {
            assert!(script.contains(word), "{shell}: {word}");
        }
    }
}

/// `--dry-run`, and every verb that only reads, writes nothing to the store: its rows are
/// the same before and after each (a digest of every table). Against the example trust
/// with its export-read targets, after a real feed and reconcile have filled the store.
#[test]
fn dry_runs_and_reading_verbs_leave_the_store_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // A copy: an export is changed below, as an administrator changes a system by hand.
    assert!(
        Command::new("cp")
            .arg("-r")
            .arg(examples())
            .arg(p.join("examples"))
            .status()
            .unwrap()
            .success()
    );
    std::fs::copy(examples().join("turnstile.toml"), p.join("turnstile.toml")).unwrap();
    let day = ["--today", "2026-11-23"];
    let run = |args: &[&str]| {
        let o = turnstile(args, p);
        (o.status.code(), text(&o))
    };
    let (code, out) = run(&[
        "feed",
        "esr",
        "examples/esr-extract.csv",
        "--apply",
        "--extracted-at",
        "2026-11-01T06:00:00Z",
        day[0],
        day[1],
    ]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = run(&["reconcile", day[0], day[1]]);
    assert!(matches!(code, Some(0 | 1)), "{out}");
    // Since that run, an account was removed from EMIS by hand: a dry run must not take
    // that into the stored snapshot, or the next real run could not see the change.
    let emis = p.join("examples/exports/emis.csv");
    let text = std::fs::read_to_string(&emis).unwrap();
    let kept: Vec<&str> = text.lines().collect();
    std::fs::write(&emis, kept[..kept.len() - 1].join("\n") + "\n").unwrap();
    let db = p.join("turnstile.db");
    let before = crate::peers::store_digest(&db);
    let person = "20000001";
    let reading: &[&[&str]] = &[
        &["reconcile", "--dry-run", day[0], day[1]],
        &["reconcile", "--dry-run", "--system", "emis", day[0], day[1]],
        &["feed", "esr", "examples/esr-extract.csv", day[0], day[1]],
        &[
            "feed",
            "esr",
            "examples/esr-extract.csv",
            "--full",
            day[0],
            day[1],
        ],
        &["feed", "trac", "examples/trac-starters.csv", day[0], day[1]],
        &["plan", day[0], day[1]],
        &["plan", "--person", person, day[0], day[1]],
        &["explain", "--person", person, day[0], day[1]],
        &["held"],
        &["audit"],
        &["audit", "--verify"],
        &["audit", "--person", person, "--format", "json"],
        &["evidence", "--since", "2026-08-01", day[0], day[1]],
        &["matches", "list"],
        &["work-items"],
        &["validate"],
        &["matches", "list", "--format", "json"],
    ];
    for args in reading {
        let (code, out) = run(args);
        assert!(
            matches!(code, Some(0 | 1)),
            "turnstile {} did not run: {out}",
            args.join(" ")
        );
        assert_eq!(
            crate::peers::store_digest(&db),
            before,
            "turnstile {} wrote to the store: {out}",
            args.join(" ")
        );
    }
}
