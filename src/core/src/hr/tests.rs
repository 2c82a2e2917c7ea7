use super::*;
use crate::testkit::{assignment, d, nurse, person};
use AssignmentStatus::*;

fn one(status: AssignmentStatus, start: &str, end: Option<&str>) -> Person {
    person(
        "20000001",
        vec![assignment(
            "20000001-1",
            status,
            "Admin and Clerical",
            "Clerk",
            "Finance",
            start,
            end,
        )],
    )
}

#[test]
fn statuses_map_to_lifecycles() {
    let today = d("2026-11-23");
    let expect = [
        (ActingUp, Lifecycle::Active),
        (ActiveAssignment, Lifecycle::Active),
        (InternalSecondment, Lifecycle::Active),
        (CareerBreak, Lifecycle::Absent),
        (MaternityAndAdoption, Lifecycle::Absent),
        (ExternalSecondmentPaid, Lifecycle::Absent),
        (ExternalSecondmentUnpaid, Lifecycle::Absent),
        (SuspendNoPay, Lifecycle::Suspended),
        (SuspendWithPay, Lifecycle::Suspended),
        (End, Lifecycle::Ended),
        (TerminateAssignment, Lifecycle::Ended),
        (TerminateProcessAssignment, Lifecycle::Ended),
    ];
    for (status, lifecycle) in expect {
        assert_eq!(
            one(status, "2019-04-01", None).lifecycle(today),
            lifecycle,
            "{status}"
        );
    }
}

#[test]
fn a_leaver_keeps_access_to_the_end_of_their_last_working_day() {
    let p = one(TerminateAssignment, "2019-04-01", Some("2026-11-30"));
    assert_eq!(p.lifecycle(d("2026-11-23")), Lifecycle::Active);
    assert_eq!(p.lifecycle(d("2026-11-30")), Lifecycle::Active);
    assert_eq!(p.lifecycle(d("2026-12-01")), Lifecycle::Ended);
    assert_eq!(p.last_working_day(), Some(d("2026-11-30")));
}

#[test]
fn future_joiners_and_the_most_present_assignment_wins() {
    let p = one(ActiveAssignment, "2027-01-05", None);
    assert_eq!(p.lifecycle(d("2027-01-04")), Lifecycle::Future);
    assert_eq!(p.lifecycle(d("2027-01-05")), Lifecycle::Active);
    let two = person(
        "20000001",
        vec![
            assignment(
                "20000001-1",
                MaternityAndAdoption,
                "Admin and Clerical",
                "Clerk",
                "Finance",
                "2019-04-01",
                None,
            ),
            assignment(
                "20000001-2",
                ActiveAssignment,
                "Admin and Clerical",
                "Clerk",
                "Staff Bank",
                "2020-01-01",
                None,
            ),
        ],
    );
    assert_eq!(two.lifecycle(d("2026-11-23")), Lifecycle::Active);
}

#[test]
fn statuses_are_read_leniently_from_feeds() {
    assert_eq!(
        AssignmentStatus::parse_lenient("active assignment"),
        Some(ActiveAssignment)
    );
    assert_eq!(
        AssignmentStatus::parse_lenient("Out on External Secondment – Paid"),
        Some(ExternalSecondmentPaid)
    );
    assert_eq!(
        AssignmentStatus::parse_lenient("OUT ON EXTERNAL SECONDMENT - UNPAID"),
        Some(ExternalSecondmentUnpaid)
    );
    assert_eq!(AssignmentStatus::parse_lenient("Holiday"), None);
}

#[test]
fn business_rules_report_every_breach() {
    let mut p = one(ActiveAssignment, "2026-01-01", Some("2025-12-31"));
    p.assignments.push(p.assignments[0].clone());
    // Being recorded as one's own manager (the top of a hierarchy) is not a reason to
    // hold a record back.
    p.line_manager = Some(p.employee_number.clone());
    let errors = p.check();
    assert!(errors.contains(&EventError::EndBeforeStart {
        assignment: "20000001-1".into(),
        start: d("2026-01-01"),
        end: d("2025-12-31"),
    }));
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, EventError::DuplicateAssignment { .. }))
    );
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, EventError::SeveralPrimary { count: 2, .. }))
    );
    assert_eq!(errors.len(), 4, "both copies end early: {errors:?}");
    assert!(nurse("20000002").check().is_empty());
    let empty = person("20000003", vec![]);
    assert_eq!(
        empty.check(),
        vec![EventError::NoAssignments {
            person: "20000003".into()
        }]
    );
}

fn event(id: &str, source: Source, at: &str, sequence: Option<u64>) -> HrEvent {
    HrEvent {
        schema: SchemaTag,
        event_id: NonBlank::parse(id).unwrap(),
        source,
        kind: EventKind::Correction,
        occurred_at: Rfc3339::parse(at).unwrap(),
        sequence,
        person: nurse("20000001"),
    }
}

#[test]
fn newer_sequence_from_the_same_source_wins_else_later_time() {
    let a = event("a", Source::Esr, "2026-11-23T09:00:00Z", Some(5));
    let b = event("b", Source::Esr, "2026-11-23T08:00:00Z", Some(6));
    assert!(
        b.supersedes(&a),
        "a higher sequence wins even with an earlier clock"
    );
    assert!(!a.supersedes(&b));
    let c = event("c", Source::Trac, "2026-11-23T10:00:00Z", Some(1));
    assert!(c.supersedes(&a), "across sources the later time wins");
    assert!(!a.supersedes(&a), "an event never supersedes itself");
}

#[test]
fn payloads_are_checked_for_shape_and_rules() {
    let good = serde_json::to_vec(&event("a", Source::Esr, "2026-11-23T09:00:00Z", None)).unwrap();
    assert!(HrEvent::from_json(&good).is_ok());
    let mut v: serde_json::Value = serde_json::from_slice(&good).unwrap();
    v["person"]["assignments"][0]["end_date"] = "2000-01-01".into();
    let err = HrEvent::from_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert!(matches!(err, PayloadError::Rules(_)), "{err}");
    assert!(
        err.to_string()
            .contains("ends on 2000-01-01 before it starts")
    );
    v["person"]["assignments"][0]["status"] = "On Holiday".into();
    let err = HrEvent::from_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert!(matches!(err, PayloadError::Shape(_)), "{err}");
    assert!(HrEvent::from_json(b"{not json").is_err());
}

#[test]
fn kinds_are_guessed_from_before_and_after() {
    let today = d("2026-11-23");
    let n = nurse("20000001");
    assert_eq!(guess_kind(None, &n, today), EventKind::Joiner);
    assert_eq!(guess_kind(Some(&n), &n, today), EventKind::Correction);
    let mut moved = n.clone();
    moved.assignments[0].organisation = Some("Ward 9 Surgery".into());
    assert_eq!(guess_kind(Some(&n), &moved, today), EventKind::Mover);
    let mut left = n.clone();
    left.assignments[0].end_date = Some(IsoDate(d("2026-11-01")));
    assert_eq!(guess_kind(Some(&n), &left, today), EventKind::Leaver);
    let mut away = n.clone();
    away.assignments[0].status = MaternityAndAdoption;
    assert_eq!(guess_kind(Some(&n), &away, today), EventKind::Absence);
    assert_eq!(guess_kind(Some(&away), &n, today), EventKind::Return);
    assert_eq!(
        guess_kind(Some(&left), &n, today),
        EventKind::Joiner,
        "a rehire"
    );
}

#[test]
fn checked_strings() {
    assert!(EmployeeNumber::parse("20004567").is_ok());
    assert!(EmployeeNumber::parse("TRAC-C-1001").is_ok());
    assert!(EmployeeNumber::parse("").is_err());
    assert!(EmployeeNumber::parse("-1").is_err());
    assert!(EmployeeNumber::parse("12 34").is_err());
    assert!(SdsUserId::parse("200009876204").is_ok());
    assert!(SdsUserId::parse("20000987620").is_err());
    assert!(NonBlank::parse("  ").is_err());
    assert!(IsoDate::parse("2026-02-29").is_err());
    assert!(IsoDate::parse("2028-02-29").is_ok());
    assert!(IsoDate::parse("2026-1-01").is_err());
    assert!(Rfc3339::parse("2026-11-23T09:15:00Z").is_ok());
    assert!(Rfc3339::parse("2026-11-23t09:15:00.123+01:00").is_ok());
    assert!(
        Rfc3339::parse("2026-11-23T09:15:00").is_err(),
        "an offset is required"
    );
    assert!(Rfc3339::parse("2026-11-23 09:15:00Z").is_err());
}
