//! Inactivity with a week's notice to the line manager, through the command line and a
//! real SMTP server (aiosmtpd): the manager's digest names the right accounts, the
//! disable waits until the notice is recorded and a week has passed, a relay that is down
//! delays the disable (never skips the notice), and an account disabled for inactivity is
//! enabled again only with a recorded approval.

use super::drift::{policy, text, turnstile};
use super::peers::env;
use std::path::Path;

const ESR: &str = "Employee Number,Assignment Number,Primary Assignment (Y/N),First Name,Last Name,Work Email,Staff Group,Job Role,Organisation,Supervisor Employee Number,Assignment Status,Assignment Start Date,Assignment End Date\n";
const EXPORT: &str = "Account,Employee Number,Display Name,Enabled,Last Logon,Entitlements\n";
const GROUPS: &str = "GG-AllStaff;GG-Clinical;GG-Nursing";

fn setup(p: &Path, tag: &str, smtp_port: &str) {
    std::fs::write(
        p.join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"{}\"\n[reconcile]\nmax_removal_share = 1.0\n\
             [targets.ad]\ntype = \"export_file\"\npath = \"ad.csv\"\n\
             [smtp]\nhost = \"127.0.0.1\"\nport = {smtp_port}\ntls = \"none\"\nfrom = \"turnstile@example.nhs.uk\"\n\
             [notify]\nfallback = \"it-desk-{tag}@example.nhs.uk\"\n",
            policy()
        ),
    )
    .unwrap();
    // A ward manager and two nurses; one nurse has no manager.
    std::fs::write(
        p.join("esr.csv"),
        format!(
            "{ESR}44000009,44000009-1,Y,Mary,Sister,mgr-{tag}@example.nhs.uk,Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,,Active Assignment,01/04/2015,\n\
             44000001,44000001-1,Y,Amara,Okafor,,Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,44000009,Active Assignment,01/04/2019,\n\
             44000002,44000002-1,Y,Ben,Cole,,Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,,Active Assignment,01/04/2019,\n"
        ),
    )
    .unwrap();
    export(p, true);
    let o = turnstile(
        &["feed", "esr", "esr.csv", "--apply", "--today", "2026-11-23"],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// The AD export: the manager in use, both nurses unused since August (95 days by 23
/// November); Amara's account enabled or not.
fn export(p: &Path, amara_enabled: bool) {
    std::fs::write(
        p.join("ad.csv"),
        format!(
            "{EXPORT}msister,44000009,Mary Sister,true,2026-11-20 08:30,{GROUPS}\n\
             aokafor,44000001,Amara Okafor,{amara_enabled},2026-08-20 08:30,{GROUPS}\n\
             bcole,44000002,Ben Cole,true,2026-08-20 08:30,{GROUPS}\n"
        ),
    )
    .unwrap();
}

/// A message as its reader sees it: quoted-printable soft breaks and escapes undone.
pub fn readable(raw: &str) -> String {
    let text = raw.replace("=\r\n", "").replace("=\n", "");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

fn mail_to(to: &str) -> Vec<String> {
    let dir = Path::new(&env("SMTP_MAILDIR")).join("new");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|t| t.lines().any(|l| l.starts_with("To:") && l.contains(to)))
        .map(|t| readable(&t))
        .collect()
}

fn disable_items(p: &Path) -> Vec<String> {
    let o = turnstile(&["work-items", "--format", "json"], p);
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains("\"action\":\"disable\""))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_manager_is_told_a_week_before_and_the_disable_waits_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let tag = format!("{}a", std::process::id());
    setup(p, &tag, &env("SMTP_PORT"));

    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("2 line manager notice(s)"),
        "{}",
        text(&o)
    );
    assert!(
        disable_items(p).is_empty(),
        "nothing disabled on the day of the notice"
    );
    // The manager's digest names her nurse's account; the nurse with no manager goes to
    // the fallback.
    let to_manager = mail_to(&format!("mgr-{tag}@example.nhs.uk"));
    assert_eq!(to_manager.len(), 1);
    let m = &to_manager[0];
    assert!(
        m.contains("Subject: [Turnstile] 1 account of your staff will be disabled for inactivity"),
        "{m}"
    );
    assert!(m.contains("Amara Okafor (ESR 44000001): Active Directory account aokafor, not used for 95 days; disabled from 30/11/2026"), "{m}");
    assert!(!m.contains("Ben Cole"), "only her staff: {m}");
    let fallback = mail_to(&format!("it-desk-{tag}@example.nhs.uk"));
    assert_eq!(fallback.len(), 1);
    assert!(
        fallback[0].contains("Ben Cole (ESR 44000002)"),
        "{}",
        fallback[0]
    );
    let o = turnstile(&["audit", "--format", "json"], p);
    assert_eq!(
        text(&o).matches("inactivity.notice").count(),
        2,
        "{}",
        text(&o)
    );

    // Three days on: told once, still waiting.
    let o = turnstile(&["reconcile", "--today", "2026-11-26"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(disable_items(p).is_empty());
    assert_eq!(
        mail_to(&format!("mgr-{tag}@example.nhs.uk")).len(),
        1,
        "one notice, not one a day"
    );

    // A week after the notice: disabled.
    let o = turnstile(&["reconcile", "--today", "2026-11-30"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let items = disable_items(p);
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(
        items.iter().any(|i| i.contains("\"account\":\"aokafor\"")),
        "{items:?}"
    );
    assert!(
        !items.iter().any(|i| i.contains("msister")),
        "the manager's own account is in use"
    );

    // Done: the account reads disabled. It is not enabled again without approval...
    export(p, false);
    let o = turnstile(&["reconcile", "--today", "2026-12-01", "--dry-run"], p);
    assert!(!text(&o).contains("aokafor: enable"), "{}", text(&o));
    // ...and is, once the manager's approval is recorded.
    let o = turnstile(
        &[
            "reenable",
            "ad",
            "aokafor",
            "--as",
            "Mary Sister",
            "--reason",
            "back from a long course",
        ],
        p,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = turnstile(&["reconcile", "--today", "2026-12-01", "--dry-run"], p);
    assert!(text(&o).contains("aokafor: enable"), "{}", text(&o));
    let o = turnstile(&["audit", "--format", "json"], p);
    assert!(text(&o).contains("inactivity.approved"), "{}", text(&o));
}

#[test]
fn with_the_mail_relay_down_nothing_is_disabled_and_the_notice_is_sent_later() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let tag = format!("{}b", std::process::id());
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    setup(p, &tag, &closed.to_string());
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("inactivity notice to"), "{}", text(&o));
    // Weeks later, still down: the notice was never recorded, so nothing is disabled.
    let o = turnstile(&["reconcile", "--today", "2026-12-14"], p);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(disable_items(p).is_empty());
    // The relay is back: the notice goes now, and the disable a week after it.
    setup_relay(p, &env("SMTP_PORT"));
    let o = turnstile(&["reconcile", "--today", "2026-12-14"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(mail_to(&format!("mgr-{tag}@example.nhs.uk")).len(), 1);
    assert!(disable_items(p).is_empty(), "a full week's notice first");
    let o = turnstile(&["reconcile", "--today", "2026-12-21"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(disable_items(p).len(), 2);
}

fn setup_relay(p: &Path, port: &str) {
    let config = std::fs::read_to_string(p.join("turnstile.toml")).unwrap();
    let fixed: String = config
        .lines()
        .map(|l| {
            if l.starts_with("port = ") {
                format!("port = {port}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(p.join("turnstile.toml"), fixed).unwrap();
}

/// The trust's own wording: a template in `[notify] templates` is used for the line
/// manager's digest, with Turnstile's lines in it; a template without `{list}` is refused.
#[test]
fn a_trust_words_the_notice_itself() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let tag = format!("{}c", std::process::id());
    setup(p, &tag, &env("SMTP_PORT"));
    std::fs::create_dir_all(p.join("templates")).unwrap();
    std::fs::write(
        p.join("templates/inactivity.txt"),
        "Subject: Action needed: {count} unused account(s) in your team\n\nDear manager,\n\n{list}\n\nPlease reply to the Digital Service Desk on 01234 567890.\n",
    )
    .unwrap();
    let config = std::fs::read_to_string(p.join("turnstile.toml")).unwrap();
    std::fs::write(
        p.join("turnstile.toml"),
        config.replace("[notify]\n", "[notify]\ntemplates = \"templates\"\n"),
    )
    .unwrap();
    let o = turnstile(&["reconcile", "--today", "2026-11-23"], p);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m = mail_to(&format!("mgr-{tag}@example.nhs.uk"));
    assert_eq!(m.len(), 1);
    assert!(
        m[0].contains("Subject: Action needed: 1 unused account(s) in your team"),
        "{}",
        m[0]
    );
    assert!(m[0].contains("Dear manager,"), "{}", m[0]);
    assert!(
        m[0].contains(
            "Amara Okafor (ESR 44000001): Active Directory account aokafor, not used for 95 days"
        ),
        "{}",
        m[0]
    );
    assert!(m[0].contains("Digital Service Desk"), "{}", m[0]);
    // A template that would drop the accounts is refused, naming the file.
    std::fs::write(
        p.join("templates/inactivity.txt"),
        "Subject: Hello\n\nNothing here.\n",
    )
    .unwrap();
    let o = turnstile(&["reconcile", "--today", "2026-11-24"], p);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(
            "inactivity.txt must start with a `Subject:` line and put `{list}` in the body"
        ),
        "{}",
        text(&o)
    );
}
