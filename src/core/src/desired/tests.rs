use super::*;
use crate::hr::{AssignmentStatus, IsoDate};
use crate::testkit::{assignment, d, model, nurse, person};

fn on<'a>(all: &'a [DesiredAccount], system: &str) -> &'a DesiredAccount {
    all.iter().find(|a| a.system == system).unwrap()
}

fn names(a: &DesiredAccount) -> Vec<&str> {
    a.entitlements
        .as_ref()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn a_nurse_in_post_gets_each_system_with_the_rule_that_granted_it() {
    let all = desired_state(&nurse("20000001"), &model(), d("2026-11-23"));
    assert_eq!(all.len(), 5, "one entry per system, in system order");
    let ad = on(&all, "ad");
    assert_eq!(ad.presence, Presence::Enabled);
    assert_eq!(names(ad), vec!["GG-AllStaff", "GG-Clinical", "GG-Nursing"]);
    let why = &ad.entitlements.as_ref().unwrap()["GG-Nursing"][0];
    assert_eq!(
        (
            why.rule.as_str(),
            why.role.as_str(),
            why.assignment.as_str()
        ),
        ("registered-nursing", "ward_nurse", "20000001-1")
    );
    assert_eq!(
        names(on(&all, "smartcard")),
        vec!["B0264", "B0360", "R8001"]
    );
    assert_eq!(names(on(&all, "systmone")), vec!["Nurse"]);
    let emis = on(&all, "emis");
    assert_eq!(
        emis.presence,
        Presence::DisabledIfPresent,
        "no role gives a nurse EMIS"
    );
    assert_eq!(emis.rule, "no-role");
}

#[test]
fn a_future_joiner_is_prepared_disabled_then_enabled_on_the_day() {
    let mut p = nurse("20000001");
    p.assignments[0].start_date = IsoDate(d("2027-01-05"));
    assert_eq!(
        on(&desired_state(&p, &model(), d("2027-01-04")), "ad").presence,
        Presence::Prepared
    );
    let before = desired_state(&p, &model(), d("2027-01-04"));
    let prepared = on(&before, "ad");
    assert_eq!(
        prepared.rule, "joiner",
        "the rule that prepares it is named"
    );
    assert!(
        prepared
            .reason
            .contains("joiner starting on 2027-01-05: prepared disabled"),
        "{}",
        prepared.reason
    );
    assert_eq!(
        on(&desired_state(&p, &model(), d("2027-01-05")), "ad").presence,
        Presence::Enabled
    );
}

#[test]
fn a_leaver_per_system_rules() {
    let mut p = nurse("20000001");
    p.assignments[0].status = AssignmentStatus::TerminateAssignment;
    p.assignments[0].end_date = Some(IsoDate(d("2026-11-30")));
    let m = model();
    let before = desired_state(&p, &m, d("2026-11-30"));
    assert_eq!(
        on(&before, "ad").presence,
        Presence::Enabled,
        "access lasts through the last working day"
    );
    let after = desired_state(&p, &m, d("2026-12-01"));
    let ad = on(&after, "ad");
    assert_eq!(
        (ad.presence, ad.rule.as_str()),
        (Presence::DisabledIfPresent, "leaver")
    );
    assert!(names(ad).is_empty(), "AD groups are stripped");
    assert_eq!(
        ad.container.as_deref(),
        Some("OU=Leavers,OU=Staff,DC=example,DC=nhs,DC=uk")
    );
    let s1 = on(&after, "systmone");
    assert_eq!(s1.presence, Presence::DisabledIfPresent);
    assert!(
        s1.entitlements.is_none(),
        "the clinical role profile stays with the record"
    );
    let card = on(&after, "smartcard");
    assert_eq!(
        card.presence,
        Presence::KeptIfPresent,
        "the card belongs to the person"
    );
    assert!(names(card).is_empty(), "the trust's positions end");
    // 395 days after the last working day AD may delete; clinical systems never do.
    let much_later = desired_state(&p, &m, d("2027-12-31"));
    assert_eq!(on(&much_later, "ad").presence, Presence::DeletedIfPresent);
    for s in ["emis", "systmone", "smartcard", "nhsmail"] {
        assert_ne!(
            on(&much_later, s).presence,
            Presence::DeletedIfPresent,
            "{s}"
        );
    }
}

#[test]
fn absence_and_suspension_follow_each_system() {
    let m = model();
    let mut p = nurse("20000001");
    p.assignments[0].status = AssignmentStatus::MaternityAndAdoption;
    let all = desired_state(&p, &m, d("2026-11-23"));
    assert_eq!(
        on(&all, "ad").presence,
        Presence::Enabled,
        "AD keeps access during absence"
    );
    assert_eq!(on(&all, "systmone").presence, Presence::Enabled);
    p.assignments[0].status = AssignmentStatus::SuspendWithPay;
    let all = desired_state(&p, &m, d("2026-11-23"));
    let ad = on(&all, "ad");
    assert_eq!(
        (ad.presence, ad.rule.as_str()),
        (Presence::DisabledIfPresent, "suspension")
    );
    assert!(
        names(ad).contains(&"GG-Nursing"),
        "entitlements are kept for the return"
    );
    assert_eq!(
        on(&all, "smartcard").presence,
        Presence::Enabled,
        "positions are kept"
    );
}

#[test]
fn a_mover_keeps_old_access_through_the_handover_period_only() {
    let m = model();
    let p = person(
        "20000001",
        vec![
            assignment(
                "20000001-1",
                AssignmentStatus::End,
                "Nursing and Midwifery Registered",
                "Staff Nurse",
                "Ward 7",
                "2019-04-01",
                Some("2026-11-10"),
            ),
            assignment(
                "20000001-2",
                AssignmentStatus::ActiveAssignment,
                "Admin and Clerical",
                "Medical Secretary",
                "Cardiology",
                "2026-11-11",
                None,
            ),
        ],
    );
    let during = desired_state(&p, &m, d("2026-11-24"));
    let ad = on(&during, "ad");
    let nursing = &ad.entitlements.as_ref().unwrap()["GG-Nursing"][0];
    assert_eq!(nursing.until, Some(d("2026-11-24")));
    assert!(names(ad).contains(&"GG-MedSec"));
    let after = desired_state(&p, &m, d("2026-11-25"));
    assert!(!names(on(&after, "ad")).contains(&"GG-Nursing"));
    // Systems without a grace period drop the old role at once.
    assert!(!names(on(&during, "smartcard")).contains(&"R8001"));
}

#[test]
fn the_same_inputs_always_give_the_same_answer() {
    let m = model();
    let p = nurse("20000001");
    assert_eq!(
        desired_state(&p, &m, d("2026-11-23")),
        desired_state(&p, &m, d("2026-11-23"))
    );
}

fn leaver(last_day: &str) -> crate::hr::Person {
    let mut p = nurse("20000001");
    p.assignments[0].status = AssignmentStatus::TerminateAssignment;
    p.assignments[0].end_date = Some(IsoDate(d(last_day)));
    p
}

#[test]
fn deletion_comes_the_day_after_the_retention_period_never_earlier() {
    // AD deletes 395 days after the last working day: on day 395 the account is kept
    // (disabled), on day 396 it may go.
    let m = model();
    let last = d("2025-01-31");
    let day = |n: i64| last.checked_add(jiff::Span::new().days(n)).unwrap();
    assert_eq!(
        on(&desired_state(&leaver("2025-01-31"), &m, day(395)), "ad").presence,
        Presence::DisabledIfPresent
    );
    let gone = desired_state(&leaver("2025-01-31"), &m, day(396));
    assert_eq!(on(&gone, "ad").presence, Presence::DeletedIfPresent);
    assert_eq!(on(&gone, "ad").rule, "leaver-retention");
    // Never on a system that holds clinical history, however long ago.
    assert_ne!(on(&gone, "emis").presence, Presence::DeletedIfPresent);
    assert_ne!(on(&gone, "systmone").presence, Presence::DeletedIfPresent);
}

#[test]
fn people_not_at_work_are_given_no_account_where_no_role_grants_one() {
    let m = model();
    let mut future = nurse("20000001");
    future.assignments[0].start_date = IsoDate(d("2027-01-05"));
    let mut absent = nurse("20000002");
    absent.assignments[0].status = AssignmentStatus::MaternityAndAdoption;
    let mut suspended = nurse("20000003");
    suspended.assignments[0].status = AssignmentStatus::SuspendWithPay;
    for p in [future, absent, suspended] {
        let all = desired_state(&p, &m, d("2026-11-23"));
        // A nurse has no role on EMIS: never an account there, whatever their state.
        let emis = on(&all, "emis");
        assert!(
            matches!(
                emis.presence,
                Presence::DisabledIfPresent | Presence::KeptIfPresent | Presence::DeletedIfPresent
            ),
            "{}: {:?}",
            p.employee_number,
            emis.presence
        );
    }
}

#[test]
fn a_one_day_assignment_is_a_real_assignment() {
    let mut p = nurse("20000001");
    p.assignments[0].start_date = IsoDate(d("2026-11-23"));
    p.assignments[0].end_date = Some(IsoDate(d("2026-11-23")));
    p.assignments[0].status = AssignmentStatus::ActiveAssignment;
    assert!(
        p.check().is_empty(),
        "start and end on the same day is allowed"
    );
    let all = desired_state(&p, &model(), d("2026-11-23"));
    assert_eq!(
        on(&all, "ad").presence,
        Presence::Enabled,
        "in post on their one day"
    );
}

#[test]
fn a_name_change_reaches_the_display_name() {
    let mut p = nurse("20000001");
    let before =
        on(&desired_state(&p, &model(), d("2026-11-23")), "ad").attributes["display_name"].clone();
    assert_eq!(before, "Amara Okafor");
    p.family_name = crate::hr::NonBlank::parse("Mensah").unwrap();
    p.preferred_name = Some("Mara".into());
    let after =
        on(&desired_state(&p, &model(), d("2026-11-23")), "ad").attributes["display_name"].clone();
    assert_eq!(after, "Mara Mensah");
}

#[test]
fn each_state_says_its_rule_and_reason() {
    let m = model();
    let today = d("2026-11-23");
    let rr = |p: &crate::hr::Person, system: &str| {
        let all = desired_state(p, &m, today);
        let a = on(&all, system);
        (a.rule.clone(), a.reason.clone())
    };
    let nurse_ = nurse("20000001");
    assert_eq!(rr(&nurse_, "ad"), ("active".into(), "in post".into()));
    assert_eq!(
        rr(&nurse_, "emis"),
        (
            "no-role".into(),
            "no current role grants access to EMIS Web".into()
        )
    );
    let mut absent = nurse("20000002");
    absent.assignments[0].status = AssignmentStatus::MaternityAndAdoption;
    assert_eq!(
        rr(&absent, "ad"),
        (
            "absence".into(),
            "absence; Active Directory keeps access during absence".into()
        )
    );
    let mut suspended = nurse("20000003");
    suspended.assignments[0].status = AssignmentStatus::SuspendWithPay;
    assert_eq!(
        rr(&suspended, "ad"),
        (
            "suspension".into(),
            "suspension; Active Directory disables access until return".into()
        )
    );
    let mut joiner = nurse("20000004");
    joiner.assignments[0].start_date = IsoDate(d("2027-01-05"));
    assert_eq!(
        rr(&joiner, "ad"),
        (
            "joiner".into(),
            "joiner starting on 2027-01-05: prepared 5 day(s) ahead, from 2026-12-31".into()
        )
    );
}

#[test]
fn each_kind_of_leaver_rule_keeps_and_removes_what_it_says() {
    let m = model();
    let all = desired_state(&leaver("2026-10-31"), &m, d("2026-11-23"));
    let ad = on(&all, "ad");
    assert_eq!(ad.reason, "leaver: last working day was 2026-10-31");
    assert_eq!(ad.entitlements, Some(BTreeMap::new()), "every group goes");
    assert_eq!(
        ad.container.as_deref(),
        Some("OU=Leavers,OU=Staff,DC=example,DC=nhs,DC=uk")
    );
    let systmone = on(&all, "systmone");
    assert_eq!(systmone.presence, Presence::DisabledIfPresent);
    assert_eq!(
        systmone.reason,
        "leaver: last working day was 2026-10-31; role profile kept for the clinical record"
    );
    assert_eq!(systmone.entitlements, None, "the role profile stays");
    let card = on(&all, "smartcard");
    assert_eq!(card.presence, Presence::KeptIfPresent);
    assert_eq!(
        card.reason,
        "leaver: last working day was 2026-10-31; positions end, the account itself stays with the person"
    );
    assert_eq!(
        card.entitlements,
        Some(BTreeMap::new()),
        "the positions end"
    );
    let mut suspended = nurse("20000003");
    suspended.assignments[0].status = AssignmentStatus::SuspendWithPay;
    assert_eq!(
        on(&desired_state(&suspended, &m, d("2026-11-23")), "emis").rule,
        "no-role",
        "a suspended nurse has no role on EMIS: that, not the suspension, is why"
    );
}

#[test]
fn every_leaver_rule_moves_the_account_where_the_system_says() {
    let mut m = model();
    for system in ["systmone", "smartcard"] {
        m.systems.get_mut(system).unwrap().policy.leaver_container =
            Some(format!("OU=Gone-{system}"));
    }
    let all = desired_state(&leaver("2026-10-31"), &m, d("2026-11-23"));
    assert_eq!(
        on(&all, "systmone").container.as_deref(),
        Some("OU=Gone-systmone")
    );
    assert_eq!(
        on(&all, "smartcard").container.as_deref(),
        Some("OU=Gone-smartcard")
    );
    // Past AD's retention the reason says so.
    let gone = desired_state(&leaver("2025-01-31"), &m, d("2026-11-23"));
    assert_eq!(
        on(&gone, "ad").reason,
        "leaver since 2025-01-31; Active Directory deletes accounts 395 days after the last working day"
    );
}

#[test]
fn leaving_health_and_care_closes_the_smartcard_and_moving_on_keeps_it() {
    let m = crate::policy::RoleModel::parse(
        "m.toml",
        &include_str!("../../../../examples/role-model.toml").replace(
            "[systems.smartcard]\n",
            "[systems.smartcard]\nclosed_when_leaving_for = [\"Retirement - Age\", \"Death in Service\"]\n",
        ),
    )
    .map(|(m, _)| m)
    .unwrap();
    let mut retired = leaver("2026-10-31");
    retired.assignments[0].leaving_reason = Some(" retirement - age ".into());
    let card = on(&desired_state(&retired, &m, d("2026-11-23")), "smartcard").clone();
    assert_eq!(card.presence, Presence::DisabledIfPresent);
    assert_eq!(card.rule, "leaves-care");
    assert!(
        card.reason.contains("leaving reason: retirement - age"),
        "{}",
        card.reason
    );
    // Moving to another NHS organisation: only this organisation's positions end.
    let mut moved = leaver("2026-10-31");
    moved.assignments[0].leaving_reason = Some("Voluntary Resignation - Relocation".into());
    let card = on(&desired_state(&moved, &m, d("2026-11-23")), "smartcard").clone();
    assert_eq!(card.presence, Presence::KeptIfPresent);
    assert_eq!(card.rule, "leaver");
    // Without the setting (the example model), nobody's card is closed.
    let card = on(
        &desired_state(&retired, &model(), d("2026-11-23")),
        "smartcard",
    )
    .clone();
    assert_eq!(card.presence, Presence::KeptIfPresent);
}

/// The memo of rules matched gives every person what working the rules out afresh gives,
/// whichever field tells two profiles apart (organisation, post title, job role, staff
/// group), and stands aside when a rule reads the position number.
#[test]
fn remembered_rule_matches_are_the_rules_matched() {
    let mut interner = crate::hr::Interner::default();
    let today = d("2026-11-23");
    let profiles = [
        (
            "Nursing and Midwifery Registered",
            "Staff Nurse",
            "Ward 7",
            "Staff Nurse",
        ),
        (
            "Nursing and Midwifery Registered",
            "Staff Nurse",
            "Nurse Bank",
            "Staff Nurse",
        ),
        (
            "Medical and Dental",
            "Consultant",
            "Cardiology",
            "Caldicott Guardian and Consultant",
        ),
        (
            "Medical and Dental",
            "Consultant",
            "Cardiology",
            "Consultant",
        ),
        (
            "Admin and Clerical",
            "Receptionist",
            "Outpatients",
            "Receptionist",
        ),
        (
            "Admin and Clerical",
            "Data Analyst",
            "Digital Services",
            "Analyst",
        ),
        ("Students", "Staff Nurse", "Ward 7", "Student Nurse"),
    ];
    let people: Vec<Person> = (0..3)
        .flat_map(|round| profiles.iter().enumerate().map(move |(i, p)| (round, i, p)))
        .map(|(round, i, (group, role, org, title))| {
            let n = format!("2000{round}{i:03}");
            let mut a = assignment(
                &format!("{n}-1"),
                AssignmentStatus::ActiveAssignment,
                group,
                role,
                org,
                "2019-04-01",
                None,
            );
            a.staff_group = Some(interner.get(group));
            a.job_role = Some(interner.get(role));
            a.organisation = Some(interner.get(org));
            a.position_title = Some(interner.get(title));
            for field in [&mut a.occupation_code, &mut a.cost_centre, &mut a.location] {
                *field = field.as_deref().map(|t| interner.get(t));
            }
            person(&n, vec![a])
        })
        .collect();
    let m = model();
    let mut memo = RuleMemo::new(&m);
    assert!(memo.on);
    for p in &people {
        assert_eq!(
            desired_views_memo(p, &m, today, &mut memo),
            desired_views(p, &m, today),
            "{}",
            p.employee_number
        );
    }
    assert_eq!(memo.rules.len(), profiles.len(), "one entry per profile");
    let mut by_position = m.clone();
    by_position.rules[0].when.fields.insert(
        crate::hr::MatchField::PositionNumber,
        vec![crate::policy::Glob::new("P-*")],
    );
    assert!(!RuleMemo::new(&by_position).on);
}

#[test]
fn a_reason_names_the_role_rule_assignment_and_any_handover() {
    let why = Why {
        rule: "nurses".into(),
        role: "nurse".into(),
        assignment: "1001-1".into(),
        until: None,
    };
    assert_eq!(
        why.describe(),
        "role nurse (rule nurses, assignment 1001-1)"
    );
    let kept = Why {
        until: Some(jiff::civil::date(2026, 12, 1)),
        ..why
    };
    assert_eq!(
        kept.describe(),
        "role nurse (rule nurses, assignment 1001-1), kept for handover until 2026-12-01"
    );
}

/// The handover period is for movers who still hold another assignment: a leaver whose
/// only assignment ended keeps none of its access during it.
#[test]
fn a_leaver_keeps_no_access_for_handover() {
    let m = model();
    let p = person(
        "20000001",
        vec![assignment(
            "20000001-1",
            AssignmentStatus::End,
            "Nursing and Midwifery Registered",
            "Staff Nurse",
            "Ward 7",
            "2019-04-01",
            Some("2026-11-10"),
        )],
    );
    let within = desired_state(&p, &m, d("2026-11-12"));
    let ad = within.iter().find(|a| a.system == "ad");
    let kept = ad.and_then(|a| a.entitlements.as_ref());
    assert!(kept.is_none_or(|e| e.is_empty()), "{kept:?}");
}
