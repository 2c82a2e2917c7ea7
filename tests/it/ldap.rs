//! The LDAP connector against a real Samba AD domain controller and a real OpenLDAP slapd,
//! started by `tests/peers/peers.sh` (idempotent: a second run reuses them).
//!
//! Each scenario reads the directory, plans with the real planner, applies through the
//! connector, reads back, and checks that planning again gives nothing.

use crate::peers::{Proxy, env};
use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, OnceLock};
use turnstile::account::Account;
use turnstile::connectors::ldap::{Dialect, LdapConfig, LdapConnector};
use turnstile::connectors::{Connector, ConnectorError};
use turnstile::engine;
use turnstile::hr::{AssignmentStatus, IsoDate, Person};
use turnstile::plan::{Action, Change, plan_person};
use turnstile::policy::RoleModel;
use turnstile::store::prelude::*;
use turnstile::store::sqlite::SqliteStore;
use turnstile_core::testkit;

pub(crate) const MODEL: &str = r#"
version = 1
[systems.dir]
name = "Directory"
delete_after_days = 30
leaver = "disable_and_revoke"
leaver_container = "LEAVERS"
staff_container = "STAFFOU"
mover_grace_days = 0
manages = ["GG-*"]
[systems.clinical]
name = "Clinical directory"
holds_clinical_history = true
leaver = "disable"
[roles.nurse]
grants = { dir = ["GG-AllStaff", "GG-Nursing"], clinical = ["GG-Clinical"] }
[roles.admin]
grants = { dir = ["GG-AllStaff", "GG-Admin"], clinical = ["GG-Clinical"] }
[[rules]]
id = "nurses"
grant = ["nurse"]
match = { job_role = ["Staff Nurse"] }
[[rules]]
id = "admin"
grant = ["admin"]
match = { job_role = ["Administrator"] }
"#;

pub(crate) struct Dir {
    pub(crate) dialect: Dialect,
    pub(crate) base: String,
    pub(crate) staff: String,
    pub(crate) leavers: String,
    pub(crate) groups: String,
}

impl Dir {
    pub(crate) fn ad() -> Dir {
        let base = env("AD_BASE");
        Dir {
            dialect: Dialect::ActiveDirectory,
            staff: format!("OU=Staff,{base}"),
            leavers: format!("OU=Leavers,{base}"),
            groups: format!("OU=Groups,{base}"),
            base,
        }
    }
    pub(crate) fn openldap() -> Dir {
        let base = env("SLAPD_BASE");
        Dir {
            dialect: Dialect::OpenLdap,
            staff: format!("ou=Staff,{base}"),
            leavers: format!("ou=Leavers,{base}"),
            groups: format!("ou=Groups,{base}"),
            base,
        }
    }

    pub(crate) fn config(&self, system: &str) -> LdapConfig {
        let (url, bind, password, ca, plain) = match self.dialect {
            Dialect::ActiveDirectory => (
                env("AD_LDAPS_URL"),
                env("AD_BIND"),
                env("AD_PASSWORD"),
                Some(env("AD_CA").into()),
                false,
            ),
            Dialect::OpenLdap => (
                env("SLAPD_URL"),
                env("SLAPD_BIND"),
                env("SLAPD_PASSWORD"),
                None,
                true,
            ),
        };
        LdapConfig {
            system: system.into(),
            dialect: self.dialect,
            url,
            starttls: false,
            bind_dn: bind,
            bind_password: turnstile::config::Secret::new(password),
            bind_password_file: None,
            allow_plain_bind: plain,
            base_dn: self.base.clone(),
            users_container: self.staff.clone(),
            groups_container: self.groups.clone(),
            ca_file: ca,
            // Samba's self-signed certificate names the host VM.example.nhs.uk, not 127.0.0.1.
            tls_verify_hostname: false,
            timeout_secs: 10,
            page_size: 50,
            max_entries: 2_000_000,
            retries: 2,
            upn_suffix: Some("example.nhs.uk".into()),
            name_pattern: "{f}{last}".into(),
            name_max_len: 20,
            disabled_attribute: "employeeType".into(),
            disabled_value: "disabled".into(),
        }
    }

    fn model(&self) -> RoleModel {
        RoleModel::parse(
            "test-model.toml",
            &MODEL
                .replace("LEAVERS", &self.leavers)
                .replace("STAFFOU", &self.staff),
        )
        .unwrap()
        .0
    }

    /// A raw ldap3 connection as the administrator, for setup and for checks the connector
    /// must not be trusted to make about itself.
    pub(crate) async fn raw(&self) -> ldap3::Ldap {
        let cfg = self.config("raw");
        let mut settings = ldap3::LdapConnSettings::new();
        if cfg.url.starts_with("ldaps") {
            let pem = std::fs::read(cfg.ca_file.as_ref().unwrap()).unwrap();
            let tls = native_tls::TlsConnector::builder()
                .add_root_certificate(native_tls::Certificate::from_pem(&pem).unwrap())
                .danger_accept_invalid_hostnames(true)
                .build()
                .unwrap();
            settings = settings.set_connector(tls);
        }
        let (conn, mut ldap) = ldap3::LdapConnAsync::with_settings(settings, &cfg.url)
            .await
            .unwrap();
        ldap3::drive!(conn);
        ldap.simple_bind(&cfg.bind_dn, cfg.bind_password.expose())
            .await
            .unwrap()
            .success()
            .unwrap();
        ldap
    }

    /// This directory with the groups the example role model grants made (if missing).
    pub(crate) async fn with_staff_groups(self) -> Dir {
        self.ensure_groups(&["GG-AllStaff", "GG-Nursing", "GG-Admin"])
            .await;
        self
    }

    pub(crate) async fn ensure_groups(&self, names: &[&str]) {
        let mut ldap = self.raw().await;
        for g in names {
            let dn = format!("CN={g},{}", self.groups);
            let attrs: Vec<(&str, HashSet<&str>)> = match self.dialect {
                Dialect::ActiveDirectory => vec![
                    ("objectClass", ["top", "group"].into()),
                    ("sAMAccountName", [*g].into()),
                ],
                Dialect::OpenLdap => vec![
                    ("objectClass", ["top", "groupOfNames"].into()),
                    ("cn", [*g].into()),
                    ("member", [env("SLAPD_BIND").leak() as &str].into()),
                ],
            };
            let r = ldap.add(&dn, attrs).await.unwrap();
            assert!(r.rc == 0 || r.rc == 68, "creating group {dn}: {r:?}");
        }
    }

    /// The entry of an account, read with the raw client.
    pub(crate) async fn entry(&self, account: &str) -> Option<ldap3::SearchEntry> {
        let mut ldap = self.raw().await;
        let attr = if self.dialect == Dialect::ActiveDirectory {
            "sAMAccountName"
        } else {
            "uid"
        };
        let filter = format!(
            "({attr}={})",
            turnstile::connectors::ldap::escape::filter_value(account)
        );
        let (rs, _) = ldap
            .search(&self.base, ldap3::Scope::Subtree, &filter, vec!["*"])
            .await
            .unwrap()
            .success()
            .unwrap();
        rs.into_iter().next().map(ldap3::SearchEntry::construct)
    }
}

/// Runs the `turnstile` binary in `dir`: its exit code and everything it printed.
pub(crate) fn turnstile_in(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    turnstile_env(dir, args, &[])
}

/// [`turnstile_in`] with environment variables set (`TURNSTILE_NOW`, say).
pub(crate) fn turnstile_env(
    dir: &std::path::Path,
    args: &[&str],
    vars: &[(&str, &str)],
) -> (Option<i32>, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_turnstile"))
        .args(args)
        .envs(vars.iter().copied())
        .current_dir(dir)
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
}

pub(crate) fn run_id() -> String {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        format!("T{}", t.as_millis() % 100_000_000)
    })
    .clone()
}

fn person(n: u32, given: &str, family: &str, role: &str, start: &str, end: Option<&str>) -> Person {
    let number = format!("{}-{n}", run_id());
    let status = if end.is_some() {
        AssignmentStatus::TerminateAssignment
    } else {
        AssignmentStatus::ActiveAssignment
    };
    let mut a = testkit::assignment(
        &format!("{number}-1"),
        status,
        "",
        role,
        "Ward 7",
        start,
        end,
    );
    // Only what the test's role model and the directory read: no group, post or place.
    (a.staff_group, a.position_number, a.location) = (None, None, None);
    testkit::named(&number, given, family, vec![a])
}

/// Reconciles one person on one system through the engine (read, plan, guard, apply,
/// audit, read again); returns what was planned. Any failed change fails the test.
async fn reconcile(
    c: &Arc<LdapConnector>,
    model: &RoleModel,
    p: &Person,
    today: &str,
) -> Vec<Change> {
    let run = engine::reconcile::Run {
        model,
        today: today.parse().unwrap(),
        now: jiff::Timestamp::now(),
        actor: "test",
        dry_run: false,
        approve: true,
        max_removal_share: 1.0,
        guard: None,
        hold_as_plan: false,
        notify: None,
        stop: None,
    };
    let mut store = SqliteStore::in_memory().unwrap();
    let mut target = engine::targets::Target::new(c.clone());
    let report =
        engine::reconcile::reconcile_target(&run, &mut store, &mut target, std::slice::from_ref(p))
            .await
            .unwrap();
    match report.result {
        engine::reconcile::TargetOutcome::Applied(t) if t.failed == 0 && t.skipped == 0 => {}
        other => panic!(
            "reconcile of {} on {}: {other:?}",
            p.employee_number,
            c.system()
        ),
    }
    report.changes
}

async fn account_of(c: &LdapConnector, p: &Person) -> Account {
    let all: Vec<Account> = c
        .read_accounts()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.employee_number.as_deref() == Some(p.employee_number.as_str()))
        .collect();
    // Looking one person up gives exactly what the full read gives for them: groups,
    // attributes, the manager as an employee number.
    let one = c.read_person(p.employee_number.as_str()).await.unwrap();
    assert_eq!(one, all, "read_person of {}", p.employee_number);
    all.into_iter().next().expect("the account is read back")
}

fn names(changes: &[Change]) -> Vec<String> {
    changes.iter().map(|c| c.action.to_string()).collect()
}

fn groups(a: &Account) -> Vec<&str> {
    a.entitlements
        .iter()
        .map(String::as_str)
        .filter(|g| g.starts_with("GG-"))
        .collect()
}

async fn lifecycle(dir: Dir) {
    dir.ensure_groups(&["GG-AllStaff", "GG-Nursing", "GG-Admin", "GG-Clinical"])
        .await;
    let model = dir.model();
    let c = Arc::new(LdapConnector::new(dir.config("dir"), true));
    c.health().await.unwrap();

    // Joiner: prepared disabled before the start date, with the right groups.
    let mut zoe = person(1, "Zoë", "O'Brien", "Staff Nurse", "2027-01-04", None);
    let planned = reconcile(&c, &model, &zoe, "2026-12-30").await;
    assert_eq!(
        names(&planned),
        vec!["create", "grant GG-AllStaff", "grant GG-Nursing"]
    );
    let a = account_of(&c, &zoe).await;
    assert!(!a.enabled, "disabled before the start date");
    assert_eq!(groups(&a), vec!["GG-AllStaff", "GG-Nursing"]);
    assert!(a.id.starts_with("zobrien"), "{}", a.id);
    assert_eq!(a.display_name, "Zoë O'Brien");
    assert!(
        reconcile(&c, &model, &zoe, "2026-12-30").await.is_empty(),
        "nothing left to do"
    );
    // A second create for the same person is refused, naming the existing account.
    let again = Change {
        system: "dir".into(),
        employee_number: zoe.employee_number.to_string(),
        account: None,
        action: Action::Create,
        rule: "test".into(),
        reason: "test".into(),
    };
    let err = c.apply(&zoe, &again).await.unwrap_err().to_string();
    assert!(err.contains("already has an account"), "{err}");
    if dir.dialect == Dialect::ActiveDirectory {
        let e = dir.entry(&a.id).await.unwrap();
        assert_eq!(e.attrs["userAccountControl"], vec!["514"]);
        assert_eq!(
            e.attrs["pwdLastSet"],
            vec!["0"],
            "must change the password at first logon"
        );
        assert_eq!(
            e.attrs["userPrincipalName"],
            vec![format!("{}@example.nhs.uk", a.id)]
        );
    }

    // On the start date: enabled.
    assert_eq!(
        names(&reconcile(&c, &model, &zoe, "2027-01-04").await),
        vec!["enable"]
    );
    assert!(account_of(&c, &zoe).await.enabled);
    if dir.dialect == Dialect::ActiveDirectory {
        assert_eq!(
            dir.entry(&a.id).await.unwrap().attrs["userAccountControl"],
            vec!["512"]
        );
    }

    // A second Zoë O'Brien gets another name; names with DN and filter specials round-trip.
    let twin = person(2, "Zoë", "O'Brien", "Administrator", "2026-01-01", None);
    reconcile(&c, &model, &twin, "2026-12-20").await;
    let b = account_of(&c, &twin).await;
    assert_ne!(a.id, b.id);
    assert!(b.id.starts_with("zobrien"));
    let odd = person(
        3,
        "a*b(c)\\",
        "Smith, Jr",
        "Administrator",
        "2026-01-01",
        None,
    );
    reconcile(&c, &model, &odd, "2026-12-20").await;
    let o = account_of(&c, &odd).await;
    assert_eq!(o.display_name, "a*b(c)\\ Smith, Jr");
    assert!(o.enabled);
    assert!(reconcile(&c, &model, &odd, "2026-12-20").await.is_empty());

    // Mover: nurse to administrator, groups swapped.
    zoe.assignments[0].job_role = Some("Administrator".into());
    let planned = reconcile(&c, &model, &zoe, "2027-02-01").await;
    assert_eq!(names(&planned), vec!["revoke GG-Nursing", "grant GG-Admin"]);
    assert_eq!(
        groups(&account_of(&c, &zoe).await),
        vec!["GG-Admin", "GG-AllStaff"]
    );

    // Department and line manager change: the directory follows HR, then nothing to do.
    zoe.assignments[0].organisation = Some("Ward 9 Surgery".into());
    zoe.line_manager = Some(twin.employee_number.clone());
    let planned = reconcile(&c, &model, &zoe, "2027-02-02").await;
    assert_eq!(names(&planned), vec!["update department", "update manager"]);
    let moved = account_of(&c, &zoe).await;
    assert_eq!(moved.attributes["department"], "Ward 9 Surgery");
    assert_eq!(moved.attributes["manager"], twin.employee_number.as_str());
    assert!(reconcile(&c, &model, &zoe, "2027-02-02").await.is_empty());

    // Leaver: disabled, groups stripped, moved to the leavers OU, still present.
    zoe.assignments[0].status = AssignmentStatus::TerminateAssignment;
    zoe.assignments[0].end_date = Some(IsoDate("2027-03-31".parse().unwrap()));
    assert!(
        reconcile(&c, &model, &zoe, "2027-03-31").await.is_empty(),
        "access lasts through the last day"
    );
    let planned = reconcile(&c, &model, &zoe, "2027-04-01").await;
    assert_eq!(
        names(&planned),
        vec![
            "disable".to_string(),
            "revoke GG-Admin".into(),
            "revoke GG-AllStaff".into(),
            format!("move {}", dir.leavers)
        ]
    );
    let gone = account_of(&c, &zoe).await;
    assert!(!gone.enabled);
    assert!(groups(&gone).is_empty());
    assert_eq!(
        gone.container.as_deref().map(str::to_lowercase),
        Some(dir.leavers.to_lowercase())
    );
    if dir.dialect == Dialect::ActiveDirectory {
        assert_eq!(
            dir.entry(&gone.id).await.unwrap().attrs["userAccountControl"],
            vec!["514"]
        );
    }
    assert!(reconcile(&c, &model, &zoe, "2027-04-01").await.is_empty());

    // An account HR does not know is read back as an orphan.
    let orphan_name = format!("orphan{}", run_id().to_lowercase());
    let mut raw = dir.raw().await;
    let (dn, attrs): (String, Vec<(&str, HashSet<&str>)>) = match dir.dialect {
        Dialect::ActiveDirectory => (
            format!("CN={orphan_name},{}", dir.staff),
            vec![
                (
                    "objectClass",
                    ["top", "person", "organizationalPerson", "user"].into(),
                ),
                ("sAMAccountName", [orphan_name.as_str()].into()),
                ("userAccountControl", ["544"].into()),
            ],
        ),
        Dialect::OpenLdap => (
            format!("uid={orphan_name},{}", dir.staff),
            vec![
                ("objectClass", ["inetOrgPerson"].into()),
                ("uid", [orphan_name.as_str()].into()),
                ("cn", ["Orphan"].into()),
                ("sn", ["Orphan"].into()),
            ],
        ),
    };
    let attrs: Vec<(&str, HashSet<&str>)> =
        attrs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    let r = raw.add(&dn, attrs).await.unwrap();
    let accounts = c.read_accounts().await.unwrap();
    let orphan = accounts.iter().find(|a| a.id == orphan_name);
    if r.rc == 0 {
        let orphan = orphan.expect("the orphan is read back");
        assert_eq!(orphan.employee_number, None);
        let people = vec![zoe.clone(), twin.clone(), odd.clone()];
        let findings = turnstile::drift::findings(
            &model,
            &people,
            &BTreeSet::new(),
            &[turnstile::drift::SystemAccounts {
                system: "dir",
                accounts: &turnstile::drift::Held::from_accounts(&accounts).unwrap(),
                has_last_logon: false,
            }],
            "2027-04-01".parse().unwrap(),
            &jiff::tz::TimeZone::UTC,
        );
        let orphan_findings: Vec<_> = findings
            .iter()
            .filter(|f| f.account.as_deref() == Some(orphan_name.as_str()))
            .collect();
        if orphan.enabled {
            assert_eq!(orphan_findings.len(), 1);
            assert_eq!(
                orphan_findings[0].category,
                turnstile::drift::Category::OrphanAccount
            );
        } else {
            assert!(
                orphan_findings.is_empty(),
                "a disabled account linked to nobody is not reported"
            );
        }
    } else {
        panic!("could not create the orphan fixture {dn}: {r:?}");
    }

    // A clinical-history system never deletes, even years later and even when asked.
    let clinical = LdapConnector::new(
        dir.config("clinical"),
        model.systems["clinical"].allows_delete(),
    );
    let mut on_clinical = gone.clone();
    on_clinical.system = "clinical".into();
    let planned = plan_person(&model, &zoe, &[&on_clinical], "2035-01-01".parse().unwrap());
    assert!(
        planned.iter().all(|c| c.action != Action::Delete),
        "{planned:?}"
    );
    let delete = Change {
        system: "clinical".into(),
        employee_number: zoe.employee_number.to_string(),
        account: Some(gone.id.clone()),
        action: Action::Delete,
        rule: "test".into(),
        reason: "asked directly".into(),
    };
    let err = clinical.apply(&zoe, &delete).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Permanent { .. }), "{err}");
    assert!(err.to_string().contains("refusing to delete"), "{err}");
    assert!(dir.entry(&gone.id).await.is_some(), "still present");

    // Where the role model allows it, a leaver past retention is deleted.
    let planned = reconcile(&c, &model, &zoe, "2027-06-01").await;
    assert_eq!(names(&planned), vec!["delete"]);
    assert!(dir.entry(&gone.id).await.is_none());

    // Permanent failures name the account and the change.
    let missing = Change {
        system: "dir".into(),
        employee_number: twin.employee_number.to_string(),
        account: Some(b.id.clone()),
        action: Action::Grant {
            entitlement: "GG-Does-Not-Exist".into(),
        },
        rule: "test".into(),
        reason: "test".into(),
    };
    let err = c.apply(&twin, &missing).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Permanent { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("account {}", b.id)) && text.contains("GG-Does-Not-Exist"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_directory_lifecycle() {
    lifecycle(Dir::ad()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openldap_lifecycle() {
    lifecycle(Dir::openldap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_ad_user_cannot_bind() {
    let dir = Dir::ad();
    dir.ensure_groups(&["GG-AllStaff", "GG-Nursing", "GG-Admin", "GG-Clinical"])
        .await;
    let model = dir.model();
    let c = Arc::new(LdapConnector::new(dir.config("dir"), true));
    let mut p = person(10, "Bind", "Tester", "Staff Nurse", "2026-01-01", None);
    reconcile(&c, &model, &p, "2026-12-01").await;
    let a = account_of(&c, &p).await;
    let dn = dir.entry(&a.id).await.unwrap().dn;
    // Give it a known password with the raw client over LDAPS.
    let mut raw = dir.raw().await;
    let pwd: Vec<u8> = "\"Known-Pass-123!\""
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    raw.modify(
        &dn,
        vec![ldap3::Mod::Replace(b"unicodePwd".to_vec(), [pwd].into())],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    let bind = |upn: String| async move {
        let mut ldap = Dir::ad().raw().await;
        ldap.simple_bind(&upn, "Known-Pass-123!").await.unwrap()
    };
    let upn = format!("{}@example.nhs.uk", a.id);
    assert_eq!(bind(upn.clone()).await.rc, 0, "enabled: the bind works");
    p.assignments[0].status = AssignmentStatus::TerminateAssignment;
    p.assignments[0].end_date = Some(IsoDate("2026-12-31".parse().unwrap()));
    reconcile(&c, &model, &p, "2027-01-01").await;
    let refused = bind(upn).await;
    assert_eq!(refused.rc, 49, "{refused:?}");
    assert!(
        refused.text.contains("data 533"),
        "account disabled: {}",
        refused.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_never_go_over_plain_ldap() {
    let dir = Dir::ad();
    let mut cfg = dir.config("dir");
    cfg.url = env("AD_URL");
    cfg.ca_file = None;
    let c = LdapConnector::new(cfg, true);
    let err = c.health().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Fatal { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("refusing to send the bind password over plain LDAP"),
        "{err}"
    );
    // A server that is not there: transient, retried, then reported.
    let mut cfg = Dir::openldap().config("dir");
    cfg.url = "ldap://127.0.0.1:9/".into();
    cfg.retries = 1;
    let err = LdapConnector::new(cfg, true)
        .read_accounts()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConnectorError::Transient { .. } | ConnectorError::Fatal { .. }
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_a_dropped_connection_and_times_out_a_silent_server() {
    let dir = Dir::openldap();
    let target = env("SLAPD_URL")
        .trim_start_matches("ldap://")
        .trim_end_matches('/')
        .to_string();
    let proxy = Proxy::start(target).await;
    let mut cfg = dir.config("dir");
    cfg.url = format!("ldap://127.0.0.1:{}/", proxy.port);
    cfg.timeout_secs = 1;
    cfg.retries = 2;
    let c = LdapConnector::new(cfg, true);
    let before = c.read_accounts().await.unwrap().len();
    // Drop the live connection under the connector: the next read reconnects and succeeds.
    proxy.cut.notify_waiters();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let after = c
        .read_accounts()
        .await
        .expect("reconnected after the connection dropped");
    assert!(after.len() >= before);
    // A server that accepts but never answers: each attempt times out, then a transient
    // error is reported, in bounded time.
    proxy
        .silent
        .store(true, std::sync::atomic::Ordering::SeqCst);
    proxy.cut.notify_waiters();
    let started = std::time::Instant::now();
    let err = c.read_accounts().await.unwrap_err();
    assert!(matches!(err, ConnectorError::Transient { .. }), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "bounded: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_a_ca_file() {
    let dir = Dir::ad();
    let mut cfg = dir.config("dir");
    cfg.url = env("AD_URL");
    cfg.starttls = true;
    let c = LdapConnector::new(cfg.clone(), true);
    c.health().await.unwrap();
    assert!(!c.read_accounts().await.unwrap().is_empty());
    // A CA file that is not a certificate is refused before anything is sent.
    let bad = std::env::temp_dir().join(format!("not-a-ca-{}.pem", run_id()));
    std::fs::write(&bad, "not a certificate").unwrap();
    cfg.ca_file = Some(bad);
    let err = LdapConnector::new(cfg, true)
        .health()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not a PEM certificate"), "{err}");
}

/// `turnstile reconcile` end to end against slapd: dry run, a failed change recorded and
/// retried on the next run, and the mass-removal guard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_verb_applies_audits_retries_and_guards() {
    let dir = Dir::openldap();
    let missing_group = format!("GG-Late-{}", run_id());
    dir.ensure_groups(&["GG-AllStaff", "GG-Nursing", "GG-Admin"])
        .await;
    let work = tempfile::tempdir().unwrap();
    let p = work.path();
    let model = MODEL.replace("LEAVERS", &dir.leavers).replace(
        "\"GG-AllStaff\", \"GG-Admin\"",
        &format!("\"GG-AllStaff\", \"GG-Admin\", \"{missing_group}\""),
    );
    std::fs::write(p.join("model.toml"), model).unwrap();
    let cfg = dir.config("dir");
    // The password in a file only its owner can read, as a trust would mount a secret.
    std::fs::write(p.join("bind.pw"), cfg.bind_password.expose()).unwrap();
    std::fs::set_permissions(
        p.join("bind.pw"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(
        p.join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"model.toml\"\n[reconcile]\nmax_removal_share = 0.0\n\
             [ldap.dir]\ndialect = \"open_ldap\"\nurl = \"{}\"\nbind_dn = \"{}\"\nbind_password_file = \"bind.pw\"\nallow_plain_bind = true\n\
             base_dn = \"{}\"\nusers_container = \"{}\"\ngroups_container = \"{}\"\n",
            cfg.url, cfg.bind_dn, cfg.base_dn, cfg.users_container, cfg.groups_container
        ),
    )
    .unwrap();
    let e = |n: u32| format!("{}-R{n}", run_id());
    let header = "Employee Number,Assignment Number,Primary Assignment (Y/N),First Name,Last Name,Job Role,Assignment Status,Assignment Start Date,Assignment End Date\n";
    std::fs::write(
        p.join("esr.csv"),
        format!("{header}{},{}-1,Y,Rae,Nurse,Staff Nurse,Active Assignment,01/01/2020,\n{},{}-1,Y,Ade,Admin,Administrator,Active Assignment,01/01/2020,\n", e(1), e(1), e(2), e(2)),
    )
    .unwrap();
    let run = |args: &[&str]| turnstile_in(p, args);
    let (code, out) = run(&[
        "feed",
        "esr",
        "esr.csv",
        "--apply",
        "--extracted-at",
        "2026-11-01T06:00:00Z",
        "--today",
        "2026-11-23",
    ]);
    assert_eq!(code, Some(0), "{out}");

    // A dry run reads and plans, and changes nothing.
    let (code, out) = run(&["reconcile", "--dry-run", "--today", "2026-11-23"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("{} (new account): create", e(1))),
        "{out}"
    );
    let c = LdapConnector::new(cfg.clone(), true);
    let mine = |accounts: &[Account], n: u32| {
        accounts
            .iter()
            .find(|a| a.employee_number.as_deref() == Some(e(n).as_str()))
            .cloned()
    };
    assert!(
        mine(&c.read_accounts().await.unwrap(), 1).is_none(),
        "a dry run creates nothing"
    );

    // The real run: the administrator's grant to a group that does not exist yet fails, is
    // recorded, and the run exits 1; everything else is applied.
    let (code, out) = run(&["reconcile", "--today", "2026-11-23"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("1 failed"), "{out}");
    let (_, trail) = run(&["audit", "--person", &e(2), "--format", "json"]);
    let trail: Vec<serde_json::Value> =
        serde_json::from_str(&trail[trail.find('[').unwrap()..]).unwrap();
    let failed: Vec<&serde_json::Value> =
        trail.iter().filter(|t| t["outcome"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{trail:#?}");
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .contains(&missing_group),
        "{:#}",
        failed[0]
    );
    let accounts = c.read_accounts().await.unwrap();
    assert!(mine(&accounts, 1).unwrap().enabled);
    assert!(
        mine(&accounts, 2)
            .unwrap()
            .entitlements
            .contains("GG-Admin")
    );

    // Once the group exists, the next run retries the change and succeeds.
    dir.ensure_groups(&[missing_group.as_str()]).await;
    let (code, out) = run(&["reconcile", "--today", "2026-11-23"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 applied, 0 failed"), "{out}");
    assert!(
        mine(&c.read_accounts().await.unwrap(), 2)
            .unwrap()
            .entitlements
            .contains(&missing_group)
    );

    // Both leave. With max_removal_share = 0 any disable is over the threshold: the run
    // stops before acting, and --approve lets it through.
    std::fs::write(
        p.join("esr2.csv"),
        format!("{header}{},{}-1,Y,Rae,Nurse,Staff Nurse,Terminate Assignment,01/01/2020,30/11/2026\n{},{}-1,Y,Ade,Admin,Administrator,Terminate Assignment,01/01/2020,30/11/2026\n", e(1), e(1), e(2), e(2)),
    )
    .unwrap();
    run(&[
        "feed",
        "esr",
        "esr2.csv",
        "--apply",
        "--extracted-at",
        "2026-11-02T06:00:00Z",
        "--today",
        "2026-12-01",
    ]);
    let (code, out) = run(&["reconcile", "--today", "2026-12-01"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("stopped before acting") && out.contains("--allow-share"),
        "{out}"
    );
    assert!(
        mine(&c.read_accounts().await.unwrap(), 1).unwrap().enabled,
        "nothing was changed"
    );
    let (code, out) = run(&[
        "reconcile",
        "--today",
        "2026-12-01",
        "--allow-share",
        "--as",
        "Sam Lee",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let accounts = c.read_accounts().await.unwrap();
    for n in [1, 2] {
        let a = mine(&accounts, n).unwrap();
        assert!(!a.enabled && a.entitlements.is_empty(), "{a:?}");
    }
    // The approver is the actor of what the approved run did.
    let (_, trail) = run(&["audit", "--person", &e(1), "--format", "json"]);
    let trail: Vec<serde_json::Value> =
        serde_json::from_str(&trail[trail.find('[').unwrap()..]).unwrap();
    assert!(
        trail.iter().any(|t| t["action"] == "change.disable"
            && t["outcome"] == "applied"
            && t["actor"] == "Sam Lee (turnstile reconcile)"),
        "{trail:#?}"
    );
    let (code, out) = run(&["audit", "--verify"]);
    assert_eq!(code, Some(0), "{out}");
}

/// Two targets, one with a wrong password: the other is reconciled in full, the bad one
/// is reported quarantined with the reason, and the run exits 1.
#[tokio::test]
async fn a_target_with_bad_credentials_is_quarantined_and_the_others_carry_on() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Dir::openldap().with_staff_groups().await;
    let work = tempfile::tempdir().unwrap();
    let p = work.path();
    std::fs::write(p.join("model.toml"), MODEL.replace("LEAVERS", &dir.leavers)).unwrap();
    let cfg = dir.config("dir");
    let section = |system: &str, password: &str| {
        format!(
            "[targets.{system}]\ntype = \"ldap\"\ndialect = \"open_ldap\"\nurl = \"{}\"\nbind_dn = \"{}\"\nbind_password = \"{password}\"\nallow_plain_bind = true\n\
             base_dn = \"{}\"\nusers_container = \"{}\"\ngroups_container = \"{}\"\ntimeout_secs = 5\nretries = 0\n",
            cfg.url, cfg.bind_dn, cfg.base_dn, cfg.users_container, cfg.groups_container
        )
    };
    std::fs::write(
        p.join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"model.toml\"\n{}{}",
            section("dir", cfg.bind_password.expose()),
            section("clinical", "not-the-password")
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        p.join("turnstile.toml"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let n = format!("{}-Q1", run_id());
    std::fs::write(
        p.join("esr.csv"),
        format!("Employee Number,Assignment Number,Primary Assignment (Y/N),First Name,Last Name,Job Role,Assignment Status,Assignment Start Date,Assignment End Date\n{n},{n}-1,Y,Quinn,Quarantine,Staff Nurse,Active Assignment,01/01/2020,\n"),
    )
    .unwrap();
    let run = |args: &[&str]| turnstile_in(p, args);
    let (code, out) = run(&["feed", "esr", "esr.csv", "--apply", "--today", "2026-11-23"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = run(&["reconcile", "--today", "2026-11-23"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("error: quarantined: clinical: LDAP result 49 (invalid credentials"),
        "the target and the reason are named: {out}"
    );
    // `clinical` comes first: its quarantine did not stop `dir`.
    assert!(out.contains("dir: 4 applied, 0 failed"), "{out}");
    let c = LdapConnector::new(cfg, true);
    let mine = c
        .read_accounts()
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.employee_number.as_deref() == Some(n.as_str()))
        .expect("the good target got its account");
    assert!(mine.enabled, "{mine:?}");
}

/// A leaver who comes back (the same employee number, a new assignment) within the
/// retention period gets the same AD object back: enabled, in the new role's groups, out
/// of the leavers OU; never a second account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehire_gets_the_same_active_directory_object_back() {
    let dir = Dir::ad();
    dir.ensure_groups(&["GG-AllStaff", "GG-Nursing", "GG-Admin", "GG-Clinical"])
        .await;
    let model = dir.model();
    let c = Arc::new(LdapConnector::new(dir.config("dir"), true));
    let nurse = person(7, "Rhiannon", "Rees", "Staff Nurse", "2020-01-06", None);
    reconcile(&c, &model, &nurse, "2026-11-23").await;
    let first = account_of(&c, &nurse).await;
    assert!(first.enabled);
    let guid = |e: &ldap3::SearchEntry| e.bin_attrs.get("objectGUID").cloned();
    let before = guid(&dir.entry(&first.id).await.unwrap());

    // Leaves on 30 November: disabled, stripped, moved to the leavers OU.
    let mut left = nurse.clone();
    left.assignments[0].status = AssignmentStatus::TerminateAssignment;
    left.assignments[0].end_date = Some(IsoDate("2026-11-30".parse().unwrap()));
    reconcile(&c, &model, &left, "2026-12-01").await;
    let gone = account_of(&c, &left).await;
    assert!(!gone.enabled);
    assert!(groups(&gone).is_empty());

    // Back on 15 December as an administrator (a new assignment; the old one stays
    // ended): the same object, enabled, in the new role's groups.
    let mut back = left.clone();
    let mut again = testkit::assignment(
        &format!("{}-2", nurse.employee_number),
        AssignmentStatus::ActiveAssignment,
        "",
        "Administrator",
        "Estates",
        "2026-12-15",
        None,
    );
    (again.staff_group, again.position_number, again.location) = (None, None, None);
    again.primary = true;
    back.assignments[0].primary = false;
    back.assignments.push(again);
    let planned = reconcile(&c, &model, &back, "2026-12-15").await;
    assert!(
        !names(&planned).iter().any(|n| n == "create"),
        "never a second account: {planned:?}"
    );
    let returned = account_of(&c, &back).await;
    assert_eq!(returned.id, first.id, "the same account");
    assert!(returned.enabled);
    assert_eq!(groups(&returned), vec!["GG-Admin", "GG-AllStaff"]);
    let entry = dir.entry(&returned.id).await.unwrap();
    assert_eq!(guid(&entry), before, "the same AD object");
    assert_eq!(entry.attrs["userAccountControl"], vec!["512"]);
    assert!(
        !returned
            .container
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(&dir.leavers)),
        "out of the leavers OU: {:?}",
        returned.container
    );
    assert!(reconcile(&c, &model, &back, "2026-12-15").await.is_empty());
    let all: Vec<Account> = c
        .read_accounts()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.employee_number.as_deref() == Some(back.employee_number.as_str()))
        .collect();
    assert_eq!(all.len(), 1, "{all:?}");
}

const AWAY_MODEL: &str = r#"
version = 1
[systems.dir]
name = "Directory"
leaver = "disable_and_revoke"
absence = "keep"
mover_grace_days = 0
manages = ["GG-*"]
[systems.clinical]
name = "Clinical directory"
holds_clinical_history = true
leaver = "disable"
absence = "disable"
[roles.nurse]
grants = { dir = ["GG-AllStaff", "GG-Nursing"], clinical = ["GG-Clinical"] }
[roles.admin]
grants = { dir = ["GG-AllStaff", "GG-Admin"] }
[[rules]]
id = "nurses"
grant = ["nurse"]
match = { job_role = ["Staff Nurse"] }
[[rules]]
id = "admin"
grant = ["admin"]
match = { job_role = ["Administrator"] }
"#;

/// Against Samba AD (and slapd for a clinical system): two assignments (one fixed-term) where ending one removes only what
/// the other does not grant; a fixed-term contract ending, unless an extension arrives
/// first; maternity leave keeping one system and disabling the other, and the return
/// giving back the same account with the same groups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_assignments_fixed_terms_and_maternity_per_system() {
    // The directory is Samba AD; the clinical system a separate OpenLDAP directory.
    let dir = Dir::ad();
    dir.ensure_groups(&["GG-AllStaff", "GG-Nursing", "GG-Admin", "GG-Clinical"])
        .await;
    let other = Dir::openldap();
    other.ensure_groups(&["GG-Clinical"]).await;
    let model = RoleModel::parse("away.toml", AWAY_MODEL).unwrap().0;
    let main = Arc::new(LdapConnector::new(dir.config("dir"), false));
    let clinical = Arc::new(LdapConnector::new(other.config("clinical"), false));
    let both = |p: &Person, today: &'static str| {
        let (main, clinical, model, p) = (main.clone(), clinical.clone(), &model, p.clone());
        async move {
            let a = reconcile(&main, model, &p, today).await;
            let b = reconcile(&clinical, model, &p, today).await;
            (a, b)
        }
    };

    // A staff nurse with a second, fixed-term admin post ending 30 November.
    let mut p = person(
        8,
        "Sian",
        "Hughes",
        "Staff Nurse",
        "2020-01-06",
        Some("2027-01-31"),
    );
    p.assignments[0].status = AssignmentStatus::ActiveAssignment;
    let mut admin = testkit::assignment(
        &format!("{}-2", p.employee_number),
        AssignmentStatus::ActiveAssignment,
        "",
        "Administrator",
        "Estates",
        "2026-06-01",
        Some("2026-11-30"),
    );
    (admin.staff_group, admin.position_number, admin.location) = (None, None, None);
    admin.primary = false;
    p.assignments.push(admin);
    both(&p, "2026-11-23").await;
    let a = account_of(&main, &p).await;
    assert!(a.enabled);
    assert_eq!(groups(&a), vec!["GG-Admin", "GG-AllStaff", "GG-Nursing"]);

    // The admin post ends: only what the nursing post does not grant goes.
    let (planned, _) = both(&p, "2026-12-01").await;
    assert_eq!(names(&planned), vec!["revoke GG-Admin"]);
    let a = account_of(&main, &p).await;
    assert!(a.enabled);
    assert_eq!(groups(&a), vec!["GG-AllStaff", "GG-Nursing"]);

    // Maternity from 1 December 2026: kept on the directory, disabled on the clinical one.
    p.assignments[0].status = AssignmentStatus::MaternityAndAdoption;
    both(&p, "2026-12-02").await;
    assert!(account_of(&main, &p).await.enabled, "absence = keep");
    let c = account_of(&clinical, &p).await;
    assert!(!c.enabled, "absence = disable");
    assert_eq!(
        groups(&c),
        vec!["GG-Clinical"],
        "the profile kept for the return"
    );
    assert_eq!(
        both(&p, "2026-12-02").await,
        (vec![], vec![]),
        "nothing left to do"
    );

    // Back: the same clinical account enabled, with the same groups.
    p.assignments[0].status = AssignmentStatus::ActiveAssignment;
    both(&p, "2027-01-04").await;
    let back = account_of(&clinical, &p).await;
    assert_eq!(back.id, c.id);
    assert!(back.enabled);
    assert_eq!(groups(&back), vec!["GG-Clinical"]);

    // The nursing post is fixed-term to 31 January; an extension to 31 March arrives
    // first: nothing ends on 1 February.
    let mut extended = p.clone();
    extended.assignments[0].end_date = Some(IsoDate("2027-03-31".parse().unwrap()));
    assert_eq!(both(&extended, "2027-02-01").await, (vec![], vec![]));
    assert!(account_of(&main, &extended).await.enabled);
    // Without one, the contract's end is a leaving: disabled on both the next day.
    both(&p, "2027-02-01").await;
    assert!(!account_of(&main, &p).await.enabled);
    assert!(!account_of(&clinical, &p).await.enabled);
}

/// Reconciles everyone the store holds on one target, through the engine.
async fn reconcile_all(
    c: &Arc<LdapConnector>,
    model: &RoleModel,
    store: &mut SqliteStore,
    day: &str,
    dry_run: bool,
) -> Vec<Change> {
    let people: Vec<Person> = store
        .persons()
        .unwrap()
        .into_iter()
        .map(|p| p.event.person)
        .collect();
    let r = engine::reconcile::Run {
        model,
        today: day.parse().unwrap(),
        now: jiff::Timestamp::now(),
        actor: "test",
        dry_run,
        approve: true,
        max_removal_share: 1.0,
        guard: None,
        hold_as_plan: false,
        notify: None,
        stop: None,
    };
    let mut target = engine::targets::Target::new(c.clone());
    engine::reconcile::reconcile_target(&r, store, &mut target, &people)
        .await
        .unwrap()
        .changes
}

/// A starter TRAC announced is prepared under `TRAC-<ref>`; when ESR first lists them
/// (same name, first day and post) the two are linked: the prepared account is
/// re-anchored to the ESR employee number on the directory, never made a second time,
/// and enabled on the first day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trac_starter_listed_by_esr_keeps_the_prepared_account() {
    use turnstile::engine::ingest;
    use turnstile::hr::Source;
    let dir = Dir::openldap();
    dir.ensure_groups(&["GG-AllStaff", "GG-Nursing", "GG-Admin", "GG-Clinical"])
        .await;
    let model = dir.model();
    let c = Arc::new(LdapConnector::new(dir.config("dir"), true));
    let mut store = SqliteStore::in_memory().unwrap();
    let run = run_id();
    let starter = |number: &str| {
        let mut p = person(
            0,
            "Zoe",
            &format!("Starter{run}"),
            "Staff Nurse",
            "2027-01-04",
            None,
        );
        p.employee_number = turnstile::hr::EmployeeNumber::parse(number).unwrap();
        p.assignments[0].position_number = Some("P-0431".into());
        p
    };
    let trac = starter(&format!("TRAC-C{run}"));
    let esr = starter(&format!("{run}-9"));
    let at: jiff::Timestamp = "2026-12-01T09:00:00Z".parse().unwrap();
    let today: jiff::civil::Date = "2026-12-30".parse().unwrap();
    let event = ingest::file_event(
        Source::Trac,
        trac.clone(),
        at,
        turnstile::hr::EventKind::Joiner,
    )
    .unwrap();
    ingest::record(&mut store, &model, &event, &[], today, "test").unwrap();
    let prepared = reconcile_all(&c, &model, &mut store, "2026-12-30", false).await;
    assert_eq!(names(&prepared)[0], "create", "{prepared:?}");
    let before = account_of(&c, &trac).await;
    assert!(!before.enabled, "prepared, disabled");

    // ESR lists her under her employee number: linked, not a second person.
    let event = ingest::file_event(
        Source::Esr,
        esr.clone(),
        at,
        turnstile::hr::EventKind::Joiner,
    )
    .unwrap();
    ingest::record(&mut store, &model, &event, &[], today, "test").unwrap();
    let linked = ingest::link_starters(&mut store, &[&esr], "test").unwrap();
    assert_eq!(
        linked,
        vec![(
            trac.employee_number.to_string(),
            esr.employee_number.to_string()
        )]
    );
    let planned = reconcile_all(&c, &model, &mut store, "2026-12-30", false).await;
    assert_eq!(
        names(&planned),
        vec![format!("update {}", turnstile::plan::ANCHOR)],
        "{planned:?}"
    );
    let after = account_of(&c, &esr).await;
    assert_eq!(after.id, before.id, "the prepared account, not a new one");
    assert_eq!(groups(&after), vec!["GG-AllStaff", "GG-Nursing"]);
    assert!(
        reconcile_all(&c, &model, &mut store, "2026-12-30", true)
            .await
            .is_empty(),
        "nothing left"
    );
    // Her first day: enabled.
    let day_one = reconcile_all(&c, &model, &mut store, "2027-01-04", false).await;
    assert_eq!(names(&day_one), vec!["enable"]);
    assert!(account_of(&c, &esr).await.enabled);
}

/// Rehired after the retention period deleted their account (where the role model allows
/// deletion): a new account, and the trail says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehire_after_retention_gets_a_new_account_and_the_reason() {
    use turnstile::engine::ingest;
    use turnstile::hr::{EventKind, Source};
    use turnstile::store::AuditFilter;
    let dir = Dir::openldap();
    dir.ensure_groups(&["GG-AllStaff", "GG-Nursing", "GG-Admin", "GG-Clinical"])
        .await;
    let model = dir.model();
    let c = Arc::new(LdapConnector::new(dir.config("dir"), true));
    let mut store = SqliteStore::in_memory().unwrap();
    let today: jiff::civil::Date = "2026-11-23".parse().unwrap();
    let mut p = person(
        11,
        "Owen",
        &format!("Return{}", run_id()),
        "Staff Nurse",
        "2020-01-06",
        None,
    );
    let record = |store: &mut SqliteStore, p: &Person, second: i64| {
        let at = jiff::Timestamp::from_second(1_790_000_000 + second).unwrap();
        let e = ingest::file_event(Source::Esr, p.clone(), at, EventKind::Mover).unwrap();
        ingest::record(store, &model, &e, &[], today, "test").unwrap();
    };
    record(&mut store, &p, 1);
    reconcile_all(&c, &model, &mut store, "2026-09-01", false).await;
    let first = account_of(&c, &p).await;
    // Leaves on 31 October; deleted 30 days on.
    p.assignments[0].status = AssignmentStatus::TerminateAssignment;
    p.assignments[0].end_date = Some(IsoDate("2026-10-31".parse().unwrap()));
    record(&mut store, &p, 2);
    reconcile_all(&c, &model, &mut store, "2026-11-01", false).await;
    let gone = reconcile_all(&c, &model, &mut store, "2026-12-15", false).await;
    assert_eq!(names(&gone), vec!["delete"]);
    // Back in January: a new account, and why.
    let mut again = testkit::assignment(
        &format!("{}-2", p.employee_number),
        AssignmentStatus::ActiveAssignment,
        "",
        "Staff Nurse",
        "Ward 7",
        "2027-01-04",
        None,
    );
    (again.staff_group, again.position_number, again.location) = (None, None, None);
    p.assignments[0].primary = false;
    p.assignments.push(again);
    record(&mut store, &p, 3);
    let back = reconcile_all(&c, &model, &mut store, "2027-01-04", false).await;
    let create = back
        .iter()
        .find(|c| c.action == Action::Create)
        .expect("a new account");
    assert!(
        create.reason.contains(&format!(
            "their previous account {} was deleted on",
            first.id
        )),
        "{}",
        create.reason
    );
    let trail = store
        .audit(&AuditFilter {
            employee_number: Some(p.employee_number.to_string()),
            since: None,
        })
        .unwrap();
    assert!(trail.iter().any(|e| e.draft.action == "change.create"
        && e.draft.reason.contains("after the retention period")));
    assert!(account_of(&c, &p).await.enabled);
}

/// HR corrects a person's employee number (a `correction` event that `replaces` the old
/// one): their account is re-anchored to the new number on the directory — not taken
/// for a leaver's and a joiner's — and a second correction claiming the same old number
/// for someone else is flagged, never followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_employee_number_correction_relinks_the_account() {
    use turnstile::engine::ingest;
    use turnstile::hr::{EmployeeNumber, EventKind, Source};
    use turnstile::store::AuditFilter;
    let dir = Dir::openldap();
    dir.ensure_groups(&["GG-AllStaff", "GG-Nursing", "GG-Admin", "GG-Clinical"])
        .await;
    let model = dir.model();
    let c = Arc::new(LdapConnector::new(dir.config("dir"), true));
    let mut store = SqliteStore::in_memory().unwrap();
    let today: jiff::civil::Date = "2026-11-23".parse().unwrap();
    let old = person(
        12,
        "Nia",
        &format!("Fix{}", run_id()),
        "Staff Nurse",
        "2020-01-06",
        None,
    );
    let at = |s: i64| jiff::Timestamp::from_second(1_790_000_000 + s).unwrap();
    let e = ingest::file_event(Source::Esr, old.clone(), at(1), EventKind::Joiner).unwrap();
    ingest::record(&mut store, &model, &e, &[], today, "test").unwrap();
    reconcile_all(&c, &model, &mut store, "2026-11-23", false).await;
    let before = account_of(&c, &old).await;

    let mut fixed = old.clone();
    fixed.employee_number =
        EmployeeNumber::parse(&format!("{}-fixed", old.employee_number)).unwrap();
    let mut e =
        ingest::file_event(Source::Esr, fixed.clone(), at(2), EventKind::Correction).unwrap();
    e.replaces = Some(old.employee_number.clone());
    ingest::record(&mut store, &model, &e, &[], today, "test").unwrap();
    let planned = reconcile_all(&c, &model, &mut store, "2026-11-23", false).await;
    assert_eq!(
        names(&planned),
        vec![format!("update {}", turnstile::plan::ANCHOR)],
        "{planned:?}"
    );
    let after = account_of(&c, &fixed).await;
    assert_eq!(after.id, before.id);
    assert!(after.enabled, "not taken for a leaver");
    assert!(
        reconcile_all(&c, &model, &mut store, "2026-11-23", true)
            .await
            .is_empty()
    );

    // Someone else claiming the old number too: flagged, not followed.
    let mut other = fixed.clone();
    other.employee_number =
        EmployeeNumber::parse(&format!("{}-other", old.employee_number)).unwrap();
    let mut e =
        ingest::file_event(Source::Esr, other.clone(), at(3), EventKind::Correction).unwrap();
    e.replaces = Some(old.employee_number.clone());
    ingest::record(&mut store, &model, &e, &[], today, "test").unwrap();
    assert_eq!(
        store.starter_links().unwrap()[old.employee_number.as_str()],
        fixed.employee_number.as_str()
    );
    let flagged = store
        .audit(&AuditFilter {
            employee_number: Some(other.employee_number.to_string()),
            since: None,
        })
        .unwrap();
    assert!(
        flagged
            .iter()
            .any(|e| e.draft.action == "hr.review" && e.draft.reason.contains("already linked")),
        "{flagged:?}"
    );
}

/// A directory search returning more than `max_entries` is refused with the setting
/// named (the target then stops as fatal), never held whole or cut short silently; the
/// connection stays usable (before: every entry was held, however many).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_past_its_cap_is_refused_not_held() {
    use turnstile::connectors::Connector;
    let dir = Dir::openldap();
    let mut raw = dir.raw().await;
    let run = run_id();
    for i in 0..2 {
        let uid = format!("cap{run}{i}");
        let dn = format!("uid={uid},{}", dir.staff);
        let r = raw
            .add(
                &dn,
                vec![
                    ("objectClass", ["inetOrgPerson"].into()),
                    ("uid", [uid.as_str()].into()),
                    ("cn", [uid.as_str()].into()),
                    ("sn", ["Cap"].into()),
                ],
            )
            .await
            .unwrap();
        assert!(r.rc == 0 || r.rc == 68, "{r:?}");
    }
    let mut capped = dir.config("capped");
    capped.max_entries = 1;
    let c = LdapConnector::new(capped, false);
    let e = c.read_accounts().await.expect_err("refused");
    assert!(e.to_string().contains("max_entries"), "{e}");
    assert!(c.health().await.is_ok(), "the connection is still usable");
    let whole = LdapConnector::new(dir.config("whole"), false);
    assert!(whole.read_accounts().await.unwrap().len() >= 2);
}
