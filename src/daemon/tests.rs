use super::*;
use crate::hr::{EventKind, Rfc3339, SchemaTag, Source};
use crate::testkit;

fn event_json(number: &str) -> Vec<u8> {
    let event = HrEvent {
        schema: SchemaTag,
        event_id: crate::hr::NonBlank::parse("esr-1").unwrap(),
        source: Source::Esr,
        kind: EventKind::Joiner,
        occurred_at: Rfc3339(jiff::Timestamp::UNIX_EPOCH),
        sequence: Some(1),
        replaces: None,
        person: testkit::nurse(number),
    };
    serde_json::to_vec(&event).unwrap()
}

#[test]
fn a_well_keyed_event_is_accepted() {
    let payload = event_json("20000001");
    let event = accept(Some(b"20000001"), Some(&payload)).unwrap();
    assert_eq!(event.person.employee_number.as_str(), "20000001");
}

#[test]
fn every_unusable_record_says_why() {
    let payload = event_json("20000001");
    let kinds = |key: Option<&[u8]>, payload: Option<&[u8]>| {
        let r = accept(key, payload).unwrap_err();
        assert!(!r.reason.is_empty());
        (r.kind, r.reason)
    };
    assert_eq!(kinds(Some(b"1"), None).0, "empty");
    assert_eq!(kinds(Some(b"1"), Some(b"")).0, "empty");
    let (k, why) = kinds(Some(b"1"), Some(b"{not json"));
    assert_eq!(k, "shape");
    assert!(why.contains("hr-event.v1.schema.json"), "{why}");
    let (k, why) = kinds(Some(b"20000002"), Some(&payload));
    assert_eq!(k, "key");
    assert!(
        why.contains("\"20000002\"") && why.contains("\"20000001\""),
        "{why}"
    );
    assert_eq!(kinds(None, Some(&payload)).0, "key");

    // A business rule the schema cannot express: end before start.
    let mut v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    v["person"]["assignments"][0]["end_date"] = "2001-01-01".into();
    let bad = serde_json::to_vec(&v).unwrap();
    let (k, why) = kinds(Some(b"20000001"), Some(&bad));
    assert_eq!(k, "rules");
    assert!(why.contains("before it starts"), "{why}");

    // An unknown status is a shape fault, caught before any rule.
    let mut v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    v["person"]["assignments"][0]["status"] = "On Holiday".into();
    let bad = serde_json::to_vec(&v).unwrap();
    assert_eq!(kinds(Some(b"20000001"), Some(&bad)).0, "shape");
}

#[test]
fn health_reports_every_problem_and_metrics_encode() {
    let shared = Shared::new();
    assert_eq!(shared.with_health(|h| h.not_ready()), ["consumer"]);
    shared.with_health(|h| h.consuming = true);
    assert!(shared.with_health(|h| h.not_ready()).is_empty());
    shared.with_health(|h| h.stalled = vec!["hr[3]".into()]);
    assert_eq!(shared.with_health(|h| h.not_live()), ["partition hr[3]"]);
    let p = shared.with_health(|h| h.liveness_problems());
    assert!(p[0].contains("hr[3]") && p[0].contains("stalled"), "{p:?}");
    shared.with_health(|h| h.stalled.clear());

    // Work in hand for longer than the stall limit is stuck; for less, it is not.
    shared.with_health(|h| {
        h.stall_after = Duration::from_secs(60);
        h.in_hand = Some(("1 record(s) from hr[0] offset 5".into(), Instant::now()))
    });
    assert!(shared.with_health(|h| h.not_ready()).is_empty());
    shared.with_health(|h| h.stall_after = Duration::ZERO);
    assert_eq!(shared.with_health(|h| h.not_ready()), ["recorder"]);
    let p = shared.with_health(|h| h.liveness_problems());
    assert!(
        p[0].contains("stuck for") && p[0].contains("offset 5"),
        "{p:?}"
    );
    shared.with_health(|h| h.in_hand = None);
    // So is a batch whose planning waits on a failing store, while nothing is recorded.
    shared.with_health(|h| {
        h.in_plan = Some(("2 record(s) from hr[1] offset 9".into(), Instant::now()))
    });
    let p = shared.with_health(|h| h.liveness_problems());
    assert!(
        p[0].contains("stuck for") && p[0].contains("offset 9"),
        "{p:?}"
    );
    shared.with_health(|h| h.in_plan = None);

    // What needs a person is an alert, not unreadiness; an applier that cannot run is
    // unreadiness.
    shared.with_health(|h| {
        h.held = vec![("HP-000001".into(), "ad".into(), "12 removals".into())];
        h.quarantined = vec![("emis".into(), "credentials refused".into())];
        h.work_item_errors = vec!["WI-000001 to https://hook/x?sig=S: 500".into()];
    });
    assert!(shared.with_health(|h| h.not_ready()).is_empty());
    assert_eq!(shared.with_health(|h| h.attention()).len(), 3);
    shared.with_health(|h| h.applier_error = Some("store locked".into()));
    assert_eq!(shared.with_health(|h| h.not_ready()), ["applier"]);
    assert!(shared.with_health(|h| h.not_live()).is_empty());

    shared.metrics.count_event("recorded");
    shared.metrics.count(&shared.metrics.dead_letters, "rules");
    let text = shared.metrics.encode();
    assert!(
        text.contains("turnstile_events_total{outcome=\"recorded\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("turnstile_dead_letters_total{kind=\"rules\"} 1"),
        "{text}"
    );
}

/// What an unusable payload says of itself reaches the trail printable and short: a CR/LF
/// or an ESC in its employee number or event id cannot forge a log line or drive a
/// terminal.
#[test]
fn a_dead_letter_s_own_words_are_made_printable() {
    let payload = br#"{"event_id": "e\r\nFAKE audit line", "person": {"employee_number": "2000\u001b[2J0001xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}"#;
    let message = rdkafka::message::OwnedMessage::new(
        Some(payload.to_vec()),
        Some(b"20000001".to_vec()),
        "hr".into(),
        rdkafka::Timestamp::NotAvailable,
        0,
        7,
        None,
    );
    let dead = DeadLetter {
        kind: "shape",
        reason: "bad\nline".into(),
    };
    let d = dead_letter_draft(&message, &dead, "hr.dlq");
    let n = d.employee_number.unwrap();
    let id = d.event_id.unwrap();
    for text in [&n, &id, &d.reason] {
        assert!(!text.chars().any(char::is_control), "{text:?}");
    }
    assert!(n.starts_with("2000\\u{1b}[2J0001"), "{n}");
    assert!(n.chars().count() <= 64, "{n}");
    assert!(id.contains("\\u{d}\\u{a}FAKE"), "{id}");
}
