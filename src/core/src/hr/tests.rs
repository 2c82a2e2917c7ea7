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
fn control_characters_are_found_in_ascii_and_in_c1() {
    let control = |given: &str| {
        let mut p = one(ActiveAssignment, "2026-01-01", None);
        p.given_name = crate::hr::NonBlank::parse(given).unwrap();
        p.check()
            .into_iter()
            .filter(|e| matches!(e, EventError::ControlCharacter { .. }))
            .count()
    };
    assert_eq!(control("Zoë Ångström"), 0);
    assert_eq!(control("Ann\u{7}"), 1);
    assert_eq!(control("Ann\u{7f}"), 1);
    assert_eq!(control("Ann\u{85}e"), 1);
    assert_eq!(control("Ann\u{9f}"), 1);
    // U+00A0 (no-break space) also starts with 0xC2 in UTF-8 but is no control.
    assert_eq!(control("Ann\u{a0}Lee"), 0);
    // Two in one stretch of text: the first is found, the second does not hide it.
    assert_eq!(
        crate::hr::control_character_but("a\u{1}b\u{2}c", None),
        Some('\u{1}')
    );
    assert_eq!(
        crate::hr::control_character_but("a\tb\u{7}c", Some('\t')),
        Some('\u{7}')
    );
}

use proptest::prelude::*;

proptest::proptest! {
    /// The quick look for a control character finds the same one as going through the
    /// text a character at a time, wherever it lies in a long text and whatever is let
    /// through (a tab in a CSV field).
    #[test]
    fn the_quick_control_check_finds_what_a_plain_search_finds(
        plain in "[a-zA-Z0-9 ,.;ëÅ\u{a0}]{0,150}",
        at in 0usize..151,
        odd in proptest::prop_oneof![
            proptest::strategy::Just(None),
            proptest::char::range('\u{0}', '\u{1f}').prop_map(Some),
            proptest::char::range('\u{7f}', '\u{a0}').prop_map(Some),
        ],
        tab in proptest::bool::ANY,
    ) {
        let mut text = plain.clone();
        if let Some(c) = odd {
            let at = text.char_indices().map(|(i, _)| i).nth(at).unwrap_or(text.len());
            text.insert(at, c);
        }
        let allowed = tab.then_some('\t');
        let plainly = text.chars().find(|c| c.is_control() && Some(*c) != allowed);
        prop_assert_eq!(control_character_but(&text, allowed), plainly);
    }
}

#[test]
fn business_rules_report_every_breach() {
    let mut p = one(ActiveAssignment, "2026-01-01", Some("2025-12-31"));
    p.assignments.push(p.assignments[0].clone());
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
    // Each repeat once: the second and the third.
    assert_eq!(
        errors
            .iter()
            .filter(|e| matches!(e, EventError::DuplicateAssignment { .. }))
            .count(),
        2
    );
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, EventError::SeveralPrimary { count: 3, .. }))
    );
    assert_eq!(errors.len(), 6, "all three copies end early: {errors:?}");
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
        replaces: None,
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
    // The first record of someone long in post is a first load, not a joiner.
    assert_eq!(guess_kind(None, &n, today), EventKind::Correction);
    let mut new_starter = n.clone();
    new_starter.assignments[0].start_date = IsoDate(d("2026-11-02"));
    assert_eq!(guess_kind(None, &new_starter, today), EventKind::Joiner);
    new_starter.assignments[0].start_date = IsoDate(d("2026-10-25"));
    assert_eq!(
        guess_kind(None, &new_starter, today),
        EventKind::Correction,
        "29 days in post"
    );
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

#[test]
fn names_are_the_contract_names() {
    assert_eq!(
        [Source::Esr, Source::Trac, Source::Manual].map(Source::as_str),
        ["esr", "trac", "manual"]
    );
    assert_eq!(
        [
            EventKind::Joiner,
            EventKind::Mover,
            EventKind::Leaver,
            EventKind::Absence,
            EventKind::Return,
            EventKind::Correction
        ]
        .map(EventKind::as_str),
        [
            "joiner",
            "mover",
            "leaver",
            "absence",
            "return",
            "correction"
        ]
    );
    assert_eq!(
        [
            Lifecycle::Future,
            Lifecycle::Active,
            Lifecycle::Absent,
            Lifecycle::Suspended,
            Lifecycle::Ended
        ]
        .map(Lifecycle::as_str),
        ["future", "active", "absent", "suspended", "ended"]
    );
    assert_eq!(MaternityAndAdoption.to_string(), "Maternity and Adoption");
    assert_eq!(IsoDate(d("2026-11-23")).to_string(), "2026-11-23");
    assert_eq!(
        Rfc3339::parse("2026-11-23T09:15:00Z").unwrap().to_string(),
        "2026-11-23T09:15:00Z"
    );
}

#[test]
fn dates_and_instants_must_have_their_exact_shape() {
    // A wrong shape is said to be one, whatever a lenient parser would make of it.
    for bad in [
        "2026/11/23",
        "2026-1a-23",
        "20261123ab",
        "2026-11-2",
        "2026x11-23",
        "2026-11x23",
    ] {
        let e = IsoDate::parse(bad).unwrap_err();
        assert!(e.contains("is not a date written yyyy-mm-dd"), "{bad}: {e}");
    }
    assert!(
        IsoDate::parse("2026-02-30")
            .unwrap_err()
            .contains("not a real calendar date")
    );
    for good in [
        "2026-11-23T09:15:00Z",
        "2026-11-23t09:15:00z",
        "2026-11-23T09:15:00.123+01:00",
        "2026-11-23T09:15:00-05:00",
    ] {
        assert!(Rfc3339::parse(good).is_ok(), "{good}");
    }
    for bad in [
        "2026-11-23 09:15:00Z",
        "2026-11-23T09:15Z",
        "2026-11-23T09:15:00",
        "2026-11-23T09:15:00+0100",
        "2026-11-23T09:15:00.Z",
        "2026-11-23T09.15:00Z",
        "2026-11-23T09:15.00Z",
        "2026-11-23T9:15:00.0Z",
        "2026-11-23T09:15:00+ab:cd",
        "2026-11-23T09:15:00Zjunk",
        "2026-11-23T0x:15:00Z",
        "2026-11-23T09:1x:00Z",
        "2026-11-23T09:15:0xZ",
        "2026-11-23T09:15:00+01:0x",
        "2026-02-30T09:15:00Z",
    ] {
        let e = Rfc3339::parse(bad).unwrap_err();
        assert!(e.contains("is not an RFC 3339 date-time"), "{bad}: {e}");
    }
    assert!(
        Rfc3339::parse("2026-11-23T25:15:00Z")
            .unwrap_err()
            .contains("not a real instant")
    );
}

#[test]
fn a_record_may_have_a_thousand_assignments_and_no_more() {
    let many = |n: usize| {
        person(
            "20000001",
            (0..n)
                .map(|i| {
                    let mut a = nurse("20000001").assignments.remove(0);
                    a.assignment_number = NonBlank::parse(&format!("20000001-{i}")).unwrap();
                    a.primary = i == 0;
                    a
                })
                .collect(),
        )
    };
    assert!(many(MAX_ASSIGNMENTS).check().is_empty());
    assert!(matches!(
        many(MAX_ASSIGNMENTS + 1).check().as_slice(),
        [EventError::TooManyAssignments { count: 1001, .. }]
    ));
}

fn event_of(p: Person, second: i64, sequence: Option<u64>) -> HrEvent {
    HrEvent {
        schema: SchemaTag,
        event_id: NonBlank::parse(&format!("e{second}")).unwrap(),
        source: Source::Esr,
        kind: EventKind::Mover,
        occurred_at: Rfc3339(jiff::Timestamp::from_second(1_790_000_000 + second).unwrap()),
        sequence,
        replaces: None,
        person: p,
    }
}

/// A store writes the event's JSON and digest from one serialisation: the same bytes as
/// serialising the event, and the same digest, with and without the optional fields.
#[test]
fn one_serialisation_gives_the_events_json_and_its_digest() {
    let mut e = event_of(nurse("20000001"), 1, None);
    for (sequence, replaces) in [(None, None), (Some(7), None), (Some(0), Some("1234"))] {
        e.sequence = sequence;
        e.replaces = replaces.map(|r: &str| EmployeeNumber::parse(r).unwrap());
        let (json, digest) = e.json_and_digest().unwrap();
        assert_eq!(json, serde_json::to_string(&e).unwrap());
        assert_eq!(digest, e.content_digest());
        let back: HrEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }
}

#[test]
fn ties_and_content_digests() {
    let a = event_of(nurse("20000001"), 1, None);
    let mut b = event_of(nurse("20000001"), 1, None);
    b.event_id = NonBlank::parse("other").unwrap();
    assert!(a.ties(&b), "same time and sequence");
    assert_eq!(
        a.content_digest(),
        b.content_digest(),
        "the id is not content"
    );
    // Stores keep the digests of events seen: the form must never change. It is the
    // SHA-256 of source, time, sequence and the person's JSON, each ended by a zero.
    let mut form = format!("esr\0{}\0\0", a.occurred_at.0).into_bytes();
    form.extend(serde_json::to_vec(&a.person).unwrap());
    assert_eq!(
        a.content_digest(),
        crate::audit::hex(&<sha2::Sha256 as sha2::Digest>::digest(&form))
    );
    b.kind = EventKind::Leaver;
    assert_eq!(
        a.content_digest(),
        b.content_digest(),
        "nor is the kind hint"
    );
    let later = event_of(nurse("20000001"), 2, None);
    assert!(!a.ties(&later));
    assert_ne!(a.content_digest(), later.content_digest());
    let sequenced = event_of(nurse("20000001"), 1, Some(7));
    assert!(!a.ties(&sequenced), "another sequence");
    assert_ne!(a.content_digest(), sequenced.content_digest());
    let mut moved = nurse("20000001");
    moved.assignments[0].organisation = Some("Ward 9".into());
    let c = event_of(moved, 1, None);
    assert!(a.ties(&c));
    assert_ne!(a.content_digest(), c.content_digest(), "other content");
}

#[test]
fn a_post_terminated_before_its_start_has_ended() {
    let mut p = crate::testkit::nurse("20000001");
    p.assignments[0].start_date = IsoDate("2027-01-04".parse().unwrap());
    assert_eq!(
        p.lifecycle("2026-12-30".parse().unwrap()),
        Lifecycle::Future
    );
    p.assignments[0].status = AssignmentStatus::TerminateAssignment;
    assert_eq!(
        p.lifecycle("2026-12-30".parse().unwrap()),
        Lifecycle::Ended,
        "withdrawn before the first day"
    );
    // With an end date, a terminated post runs to it.
    p.assignments[0].end_date = Some(IsoDate("2027-03-31".parse().unwrap()));
    assert_eq!(
        p.lifecycle("2026-12-30".parse().unwrap()),
        Lifecycle::Future
    );
}

/// The checked strings a person holds many of take 16 bytes, 16 as an `Option` too.
#[test]
fn checked_strings_take_sixteen_bytes() {
    use std::mem::size_of;
    assert_eq!(size_of::<EmployeeNumber>(), 16);
    assert_eq!(size_of::<Option<EmployeeNumber>>(), 16);
    assert_eq!(size_of::<Option<SdsUserId>>(), 16);
    assert_eq!(size_of::<NonBlank>(), 16);
}

proptest::proptest! {
    /// Held in place or on the heap, a checked string reads back as given and compares,
    /// orders and hashes as its text does (the order sorts people by employee number).
    #[test]
    fn checked_strings_read_compare_and_hash_as_their_text(
        a in "\\PC{1,20}|[a-z]{1,30}",
        b in "\\PC{1,20}|[a-z]{1,30}",
    ) {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let (Ok(x), Ok(y)) = (NonBlank::parse(&a), NonBlank::parse(&b)) else {
            return Ok(());
        };
        proptest::prop_assert_eq!(x.as_str(), a.as_str());
        proptest::prop_assert_eq!(y.to_string(), b.clone());
        proptest::prop_assert_eq!(x.cmp(&y), a.cmp(&b));
        proptest::prop_assert_eq!(x == y, a == b);
        let h = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
        proptest::prop_assert_eq!(h.hash_one(&x) == h.hash_one(&y), a == b);
        proptest::prop_assert_eq!(format!("{x:?}"), format!("NonBlank({a:?})"));
    }
}
