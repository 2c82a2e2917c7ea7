use super::*;
use crate::desired::desired_state;
use crate::hr::{AssignmentStatus, IsoDate, Person};
use crate::testkit::{account, assignment, d, model, nurse, person};
use proptest::prelude::*;

fn actions(changes: &[Change], system: &str) -> Vec<String> {
    changes
        .iter()
        .filter(|c| c.system == system)
        .map(|c| c.action.to_string())
        .collect()
}

#[test]
fn a_joiner_gets_created_granted_then_enabled() {
    let changes = plan_person(&model(), &nurse("20000001"), &[], d("2026-11-23"));
    assert_eq!(
        actions(&changes, "ad"),
        vec![
            "create",
            "grant GG-AllStaff",
            "grant GG-Clinical",
            "grant GG-Nursing",
            "enable"
        ]
    );
    let grant = changes
        .iter()
        .find(|c| c.action.to_string() == "grant GG-Nursing")
        .unwrap();
    assert_eq!(grant.rule, "registered-nursing");
    assert!(grant.reason.contains("role ward_nurse"), "{}", grant.reason);
    assert!(
        actions(&changes, "emis").is_empty(),
        "no role grants EMIS: nothing to create"
    );
}

#[test]
fn a_prepared_joiner_is_created_without_enable() {
    let mut p = nurse("20000001");
    p.assignments[0].start_date = IsoDate(d("2026-11-28"));
    let changes = plan_person(&model(), &p, &[], d("2026-11-23"));
    assert_eq!(
        actions(&changes, "ad").first().map(String::as_str),
        Some("create")
    );
    assert!(!actions(&changes, "ad").contains(&"enable".to_string()));
}

#[test]
fn a_joiner_is_prepared_only_from_the_days_ahead_the_system_says() {
    let mut p = nurse("20000001");
    p.assignments[0].start_date = IsoDate(d("2027-01-05"));
    // Five days ahead (the default) is 31 December: nothing before it.
    assert!(actions(&plan_person(&model(), &p, &[], d("2026-12-30")), "ad").is_empty());
    assert_eq!(
        actions(&plan_person(&model(), &p, &[], d("2026-12-31")), "ad")
            .first()
            .map(String::as_str),
        Some("create")
    );
}

#[test]
fn a_leaver_is_disabled_first_stripped_and_moved_never_deleted_on_clinical_systems() {
    let mut p = nurse("20000001");
    p.assignments[0].status = AssignmentStatus::TerminateAssignment;
    p.assignments[0].end_date = Some(IsoDate(d("2026-11-01")));
    let mut ad = account(
        "ad",
        "aokafor",
        Some("20000001"),
        true,
        &["GG-AllStaff", "GG-Nursing", "Domain Users"],
    );
    ad.container = Some("OU=Ward 7,OU=Staff,DC=example,DC=nhs,DC=uk".into());
    let s1 = account("systmone", "AOKAFOR", Some("20000001"), true, &["Nurse"]);
    let card = account(
        "smartcard",
        "200009876204",
        Some("20000001"),
        true,
        &["R8001", "B0360"],
    );
    let changes = plan_person(&model(), &p, &[&ad, &s1, &card], d("2026-11-23"));
    assert_eq!(
        actions(&changes, "ad"),
        vec![
            "disable",
            "revoke GG-AllStaff",
            "revoke GG-Nursing",
            "move OU=Leavers,OU=Staff,DC=example,DC=nhs,DC=uk"
        ],
        "Domain Users is not ours to remove"
    );
    assert_eq!(actions(&changes, "systmone"), vec!["disable"]);
    assert_eq!(
        actions(&changes, "smartcard"),
        vec!["revoke B0360", "revoke R8001"]
    );
    assert!(changes.iter().all(|c| c.rule == "leaver"));
    // A year and more later AD deletes; SystmOne (clinical history) still only disables.
    let later = plan_person(&model(), &p, &[&ad, &s1, &card], d("2028-01-01"));
    assert_eq!(actions(&later, "ad"), vec!["delete"]);
    assert_eq!(actions(&later, "systmone"), vec!["disable"]);
}

#[test]
fn a_mover_has_groups_swapped() {
    let p = person(
        "20000001",
        vec![assignment(
            "20000001-1",
            AssignmentStatus::ActiveAssignment,
            "Admin and Clerical",
            "Medical Secretary",
            "Cardiology",
            "2019-04-01",
            None,
        )],
    );
    let ad = account(
        "ad",
        "aokafor",
        Some("20000001"),
        true,
        &["GG-AllStaff", "GG-Clinical", "GG-Nursing"],
    );
    let changes = plan_person(&model(), &p, &[&ad], d("2026-11-23"));
    assert_eq!(
        actions(&changes, "ad"),
        vec![
            "revoke GG-Clinical",
            "revoke GG-Nursing",
            "grant GG-Admin",
            "grant GG-MedSec"
        ]
    );
}

#[test]
fn attributes_follow_hr_only_where_the_target_reports_them() {
    let mut p = nurse("20000001");
    p.line_manager = Some(crate::hr::EmployeeNumber::parse("20000009").unwrap());
    let mut ad = account(
        "ad",
        "aokafor",
        Some("20000001"),
        true,
        &["GG-AllStaff", "GG-Clinical", "GG-Nursing"],
    );
    // An export reports no attributes: nothing to compare, nothing planned.
    assert!(actions(&plan_person(&model(), &p, &[&ad], d("2026-11-23")), "ad").is_empty());
    // A directory reports them: a stale department and an empty manager are updated; the
    // mail HR does not give is never cleared, and a title the target does not report is
    // not compared.
    ad.attributes = [
        ("display_name", "Amara Okafor"),
        ("department", "Ward 3 Surgery"),
        ("manager", ""),
        ("mail", "old@nhs.net"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let changes = plan_person(&model(), &p, &[&ad], d("2026-11-23"));
    assert_eq!(
        actions(&changes, "ad"),
        vec!["update department", "update manager"]
    );
    let manager = changes
        .iter()
        .find(|c| c.action.to_string() == "update manager")
        .unwrap();
    assert_eq!(
        manager.action,
        Action::Update {
            attribute: "manager".into(),
            value: "20000009".into()
        }
    );
    assert!(
        manager.reason.contains("HR says manager is \"20000009\""),
        "{}",
        manager.reason
    );
}

// ---- property: planning on the result of a plan gives nothing ----

const PROFILES: &[(&str, &str, &str)] = &[
    (
        "Nursing and Midwifery Registered",
        "Staff Nurse",
        "Ward 7 Medicine",
    ),
    ("Medical and Dental", "Consultant", "Cardiology"),
    (
        "Medical and Dental",
        "General Practitioner",
        "Riverside Practice",
    ),
    ("Admin and Clerical", "Receptionist", "Outpatients"),
    ("Admin and Clerical", "Medical Secretary", "Cardiology"),
    ("Estates and Ancillary", "Porter", "Estates"),
    ("Admin and Clerical", "Systems Analyst", "Digital Services"),
    ("Students", "Student Nurse", "Ward 7 Medicine"),
    (
        "Nursing and Midwifery Registered",
        "Staff Nurse",
        "Nurse Bank",
    ),
];
const ENTITLEMENTS: &[&str] = &[
    "GG-AllStaff",
    "GG-Nursing",
    "GG-Admin",
    "GG-IT-Support",
    "Domain Users",
    "Nurse",
    "GP",
    "R8001",
    "B0360",
    "Mailbox",
];
const SYSTEMS: &[&str] = &["ad", "nhsmail", "emis", "systmone", "smartcard"];

fn arb_person() -> impl Strategy<Value = Person> {
    let one = (
        0..PROFILES.len(),
        0..AssignmentStatus::ALL.len(),
        -800i32..200,
        proptest::option::of(-800i32..200),
    );
    proptest::collection::vec(one, 1..3).prop_map(|parts| {
        let today = d("2026-11-23");
        let assignments = parts
            .into_iter()
            .enumerate()
            .map(|(i, (profile, status, start, end))| {
                let (group, role, org) = PROFILES[profile];
                let start_date = today
                    .checked_add(jiff::Span::new().days(start as i64))
                    .unwrap();
                let end_date = end
                    .map(|e| today.checked_add(jiff::Span::new().days(e as i64)).unwrap())
                    .filter(|e| *e >= start_date);
                let mut a = assignment(
                    &format!("20000001-{}", i + 1),
                    AssignmentStatus::ALL[status],
                    group,
                    role,
                    org,
                    "2019-01-01",
                    None,
                );
                a.start_date = IsoDate(start_date);
                a.end_date = end_date.map(IsoDate);
                a
            })
            .collect();
        person("20000001", assignments)
    })
}

fn arb_accounts() -> impl Strategy<Value = Vec<crate::account::Account>> {
    let one = (
        0..SYSTEMS.len(),
        any::<bool>(),
        proptest::collection::btree_set(0..ENTITLEMENTS.len(), 0..5),
        any::<bool>(),
    );
    proptest::collection::vec(one, 0..6).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (s, enabled, ents, in_ou))| {
                let names: Vec<&str> = ents.into_iter().map(|e| ENTITLEMENTS[e]).collect();
                let mut a = account(
                    SYSTEMS[s],
                    &format!("acct{i}"),
                    Some("20000001"),
                    enabled,
                    &names,
                );
                a.container = in_ou.then(|| "OU=Staff".to_string());
                a
            })
            .collect()
    })
}

/// The property tests' day: `offset` days after 23 November 2026.
fn days_after(offset: i64) -> jiff::civil::Date {
    d("2026-11-23")
        .checked_add(jiff::Span::new().days(offset))
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn reconciling_twice_equals_reconciling_once(p in arb_person(), accounts in arb_accounts(), offset in 0i64..900) {
        let m = model();
        let today = days_after(offset);
        let refs: Vec<&crate::account::Account> = accounts.iter().collect();
        let first = plan_person(&m, &p, &refs, today);
        let mut after: Vec<crate::account::Account> = Vec::new();
        for system in SYSTEMS {
            let here: Vec<crate::account::Account> = accounts.iter().filter(|a| a.system == *system).cloned().collect();
            after.extend(simulate(system, "20000001", here, &first));
        }
        let refs2: Vec<&crate::account::Account> = after.iter().collect();
        let second = plan_person(&m, &p, &refs2, today);
        prop_assert!(second.is_empty(), "second plan not empty: {:?}\nfirst: {:?}", second, first);
    }

    #[test]
    fn clinical_history_is_never_deleted(p in arb_person(), accounts in arb_accounts(), offset in 0i64..3000) {
        let m = model();
        let today = days_after(offset);
        let refs: Vec<&crate::account::Account> = accounts.iter().collect();
        for c in plan_person(&m, &p, &refs, today) {
            if c.action == Action::Delete {
                prop_assert!(m.systems[&c.system].allows_delete(), "delete planned on {}", c.system);
            }
        }
    }

    #[test]
    fn planning_is_deterministic(p in arb_person(), accounts in arb_accounts()) {
        let m = model();
        let refs: Vec<&crate::account::Account> = accounts.iter().collect();
        let today = d("2026-11-23");
        prop_assert_eq!(plan_person(&m, &p, &refs, today), plan_person(&m, &p, &refs, today));
        prop_assert_eq!(desired_state(&p, &m, today), desired_state(&p, &m, today));
    }

    /// Planning for one target works out that system alone; it must come to the same
    /// changes as the whole plan has there, and nothing for a system the model lacks.
    #[test]
    fn a_targets_plan_is_the_whole_plan_on_its_system(p in arb_person(), accounts in arb_accounts(), offset in 0i64..900) {
        let m = model();
        let today = days_after(offset);
        let refs: Vec<&crate::account::Account> = accounts.iter().collect();
        let whole = plan_person(&m, &p, &refs, today);
        for system in SYSTEMS {
            let here: Vec<Change> = whole.iter().filter(|c| c.system == *system).cloned().collect();
            prop_assert_eq!(plan_for_target(&m, &p, &refs, today, system, &Abilities::ALL), here);
        }
        prop_assert!(plan_for_target(&m, &p, &refs, today, "no-such-system", &Abilities::ALL).is_empty());
    }

    /// The plan reads a person's desired state borrowed (plan_person) or owned (explain,
    /// through plan_account): both must come to the same changes, reasons included.
    #[test]
    fn the_borrowed_and_the_owned_desired_state_plan_alike(p in arb_person(), accounts in arb_accounts(), offset in 0i64..900) {
        let m = model();
        let today = days_after(offset);
        let refs: Vec<&crate::account::Account> = accounts.iter().collect();
        let owned: Vec<Change> = desired_state(&p, &m, today)
            .iter()
            .flat_map(|desired| {
                let here: Vec<&crate::account::Account> =
                    refs.iter().copied().filter(|a| a.system == desired.system).collect();
                plan_account(&m, p.employee_number.as_str(), desired, &here)
            })
            .collect();
        prop_assert_eq!(plan_person(&m, &p, &refs, today), owned);
    }

    /// A record's forecast plans without reasons: the very same changes, in the same
    /// order, each with an empty reason.
    #[test]
    fn the_brief_plan_is_the_plan_without_its_reasons(p in arb_person(), accounts in arb_accounts(), offset in 0i64..900) {
        let m = model();
        let today = days_after(offset);
        let refs: Vec<&crate::account::Account> = accounts.iter().collect();
        let full: Vec<Change> = plan_person(&m, &p, &refs, today)
            .into_iter()
            .map(|c| Change { reason: String::new(), ..c })
            .collect();
        prop_assert_eq!(plan_person_brief(&m, &p, &refs, today), full);
    }
}

#[test]
fn a_target_is_never_planned_a_change_it_cannot_make() {
    let m = model();
    // A leaver on AD: disable, revoke, move (and delete after retention) where allowed.
    let mut p = crate::testkit::nurse("20000001");
    p.assignments[0].status = AssignmentStatus::TerminateAssignment;
    p.assignments[0].end_date = Some(crate::hr::IsoDate(d("2026-10-31")));
    let mut a = account(
        "ad",
        "aokafor",
        Some("20000001"),
        true,
        &["GG-AllStaff", "GG-Nursing"],
    );
    a.container = Some("OU=Staff,DC=example,DC=nhs,DC=uk".into());
    let all = plan_for_target(&m, &p, &[&a], d("2026-11-23"), "ad", &Abilities::ALL);
    assert!(
        all.iter().any(|c| matches!(c.action, Action::Move { .. })),
        "{all:?}"
    );
    assert!(
        all.iter()
            .any(|c| matches!(c.action, Action::Revoke { .. }))
    );
    let flat = Abilities {
        move_accounts: false,
        groups: false,
        ..Abilities::ALL
    };
    let some = plan_for_target(&m, &p, &[&a], d("2026-11-23"), "ad", &flat);
    assert!(
        some.iter().all(|c| !matches!(
            c.action,
            Action::Move { .. } | Action::Revoke { .. } | Action::Grant { .. }
        )),
        "{some:?}"
    );
    assert!(
        some.iter().any(|c| c.action == Action::Disable),
        "the disable still goes"
    );
    assert!(some.iter().all(|c| c.system == "ad"));
}

#[test]
fn with_two_accounts_on_one_system_the_plan_acts_on_the_one_in_use() {
    // A stale disabled duplicate and the enabled account in use: groups go to the one in
    // use, and nothing enables the stale one.
    let m = model();
    let p = nurse("20000001");
    let stale = account("ad", "aokafor-old", Some("20000001"), false, &[]);
    let live = account("ad", "aokafor", Some("20000001"), true, &["GG-AllStaff"]);
    let changes = plan_person(&m, &p, &[&stale, &live], d("2026-11-23"));
    let ad: Vec<&Change> = changes.iter().filter(|c| c.system == "ad").collect();
    assert!(!ad.is_empty());
    assert!(
        ad.iter().all(|c| c.account.as_deref() == Some("aokafor")),
        "{ad:?}"
    );
    // Listed the other way round, the same.
    let changes = plan_person(&m, &p, &[&live, &stale], d("2026-11-23"));
    assert!(
        changes
            .iter()
            .filter(|c| c.system == "ad")
            .all(|c| c.account.as_deref() == Some("aokafor"))
    );
}

#[test]
fn a_delete_asked_of_a_system_that_never_deletes_becomes_a_disable() {
    // The desired state never asks it; the plan refuses whatever it is given.
    let m = model();
    let p = nurse("20000001");
    let mut desired = desired_state(&p, &m, d("2026-11-23"))
        .into_iter()
        .find(|a| a.system == "emis")
        .unwrap();
    desired.presence = crate::desired::Presence::DeletedIfPresent;
    let a = account("emis", "AOKAFOR", Some("20000001"), true, &[]);
    let changes = plan_account(&m, "20000001", &desired, &[&a]);
    assert!(
        !changes.iter().any(|c| c.action == Action::Delete),
        "{changes:?}"
    );
    assert!(
        changes.iter().any(|c| c.action == Action::Disable),
        "{changes:?}"
    );
}

#[test]
fn a_delete_the_target_cannot_make_is_a_disable_not_nothing() {
    let m = model();
    // Left long past AD's retention (395 days), account still enabled.
    let mut p = crate::testkit::nurse("20000001");
    p.assignments[0].status = AssignmentStatus::TerminateAssignment;
    p.assignments[0].end_date = Some(crate::hr::IsoDate(d("2024-01-31")));
    let a = account("ad", "aokafor", Some("20000001"), true, &["GG-AllStaff"]);
    let today = d("2026-11-23");
    let all = plan_for_target(&m, &p, &[&a], today, "ad", &Abilities::ALL);
    assert!(all.iter().any(|c| c.action == Action::Delete), "{all:?}");
    let no_delete = Abilities {
        delete: false,
        ..Abilities::ALL
    };
    let some = plan_for_target(&m, &p, &[&a], today, "ad", &no_delete);
    assert!(some.iter().all(|c| c.action != Action::Delete), "{some:?}");
    assert!(
        some.iter()
            .any(|c| c.action == Action::Disable && c.account.as_deref() == Some("aokafor")),
        "the leaver's access still goes: {some:?}"
    );
    let instead = some.iter().find(|c| c.action == Action::Disable).unwrap();
    assert!(
        instead.reason.contains("never deleted: disabled instead"),
        "the reason says why it is a disable: {}",
        instead.reason
    );
    // Already disabled: nothing to do.
    let off = account("ad", "aokafor", Some("20000001"), false, &[]);
    assert!(plan_for_target(&m, &p, &[&off], today, "ad", &no_delete).is_empty());
}
