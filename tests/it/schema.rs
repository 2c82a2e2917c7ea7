//! The JSON Schema and the Rust types accept and reject the same HR events.

use proptest::prelude::*;
use serde_json::{Value, json};
use turnstile::hr::HrEvent;

fn validator() -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(include_str!("../../schemas/hr-event.v1.schema.json")).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

fn base() -> Value {
    serde_json::from_str(include_str!("../fixtures/hr-events/contract-example.json")).unwrap()
}

/// Replaces (or with `None` removes) the value at a JSON pointer.
fn mutate(doc: &Value, pointer: &str, value: Option<Value>) -> Value {
    let mut doc = doc.clone();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = doc.pointer_mut(parent).unwrap();
    match (target, value) {
        (Value::Object(map), Some(v)) => {
            map.insert(key.to_string(), v);
        }
        (Value::Object(map), None) => {
            map.remove(key);
        }
        (Value::Array(items), Some(v)) => items[key.parse::<usize>().unwrap()] = v,
        (Value::Array(items), None) => {
            items.remove(key.parse::<usize>().unwrap());
        }
        _ => panic!("{pointer}"),
    }
    doc
}

fn agree(v: &jsonschema::Validator, doc: &Value) -> (bool, bool) {
    let schema_ok = v.is_valid(doc);
    let rust_ok = serde_json::from_value::<HrEvent>(doc.clone()).is_ok();
    (schema_ok, rust_ok)
}

#[test]
fn the_contract_example_is_valid_for_both() {
    let v = validator();
    assert_eq!(agree(&v, &base()), (true, true));
    let event: HrEvent = serde_json::from_value(base()).unwrap();
    assert!(event.person.check().is_empty());
    // And what Rust writes, the schema reads.
    let written = serde_json::to_value(&event).unwrap();
    assert!(v.is_valid(&written));
}

#[test]
fn schema_and_types_agree_on_every_mutation() {
    let v = validator();
    let a = "/person/assignments/0";
    let cases: Vec<(String, Option<Value>, bool)> = vec![
        // (pointer, new value or removal, should be accepted)
        (
            "/schema".into(),
            Some(json!("turnstile.hr-event/v2")),
            false,
        ),
        ("/schema".into(), None, false),
        ("/event_id".into(), Some(json!("")), false),
        ("/event_id".into(), Some(json!("   ")), false),
        ("/event_id".into(), Some(json!(7)), false),
        ("/source".into(), Some(json!("ESR")), false),
        ("/source".into(), Some(json!("manual")), true),
        ("/kind".into(), Some(json!("rehire")), false),
        ("/kind".into(), Some(json!("return")), true),
        (
            "/occurred_at".into(),
            Some(json!("2026-11-23T09:15:00")),
            false,
        ),
        (
            "/occurred_at".into(),
            Some(json!("2026-11-23 09:15:00Z")),
            false,
        ),
        (
            "/occurred_at".into(),
            Some(json!("2026-11-23T09:15:00.250+01:00")),
            true,
        ),
        (
            "/occurred_at".into(),
            Some(json!("2026-02-30T09:15:00Z")),
            false,
        ),
        (
            "/occurred_at".into(),
            Some(json!("2026-11-23T25:15:00Z")),
            false,
        ),
        ("/occurred_at".into(), Some(json!(1732353300)), false),
        ("/sequence".into(), None, true),
        ("/sequence".into(), Some(Value::Null), true),
        ("/sequence".into(), Some(json!(-1)), false),
        ("/sequence".into(), Some(json!(5.0)), false),
        ("/sequence".into(), Some(json!(5.5)), false),
        ("/sequence".into(), Some(json!("5")), false),
        (
            "/sequence".into(),
            Some(json!(18446744073709551615u64)),
            true,
        ),
        ("/unexpected".into(), Some(json!(true)), false),
        ("/person/employee_number".into(), None, false),
        ("/person/employee_number".into(), Some(json!("")), false),
        (
            "/person/employee_number".into(),
            Some(json!("2000 4567")),
            false,
        ),
        (
            "/person/employee_number".into(),
            Some(json!("TRAC-C-1001")),
            true,
        ),
        (
            "/person/employee_number".into(),
            Some(json!("123456789012345678901234567890123")),
            false,
        ),
        (
            "/person/employee_number".into(),
            Some(json!(20004567)),
            false,
        ),
        ("/person/sds_user_id".into(), Some(json!("12345")), false),
        ("/person/sds_user_id".into(), Some(Value::Null), true),
        ("/person/sds_user_id".into(), None, true),
        ("/person/given_name".into(), None, false),
        ("/person/given_name".into(), Some(json!("Zoë")), true),
        ("/person/family_name".into(), Some(json!("O'Brien")), true),
        ("/person/family_name".into(), Some(json!("")), false),
        (
            "/person/line_manager".into(),
            Some(json!("not a number!")),
            false,
        ),
        ("/person/line_manager".into(), Some(Value::Null), true),
        ("/person/nickname".into(), Some(json!("Ami")), false),
        ("/person/assignments".into(), Some(json!([])), true),
        ("/person/assignments".into(), Some(json!({})), false),
        (format!("{a}/status"), Some(json!("On Holiday")), false),
        (
            format!("{a}/status"),
            Some(json!("active assignment")),
            false,
        ),
        (
            format!("{a}/status"),
            Some(json!("Out on External Secondment – Paid")),
            true,
        ),
        (
            format!("{a}/status"),
            Some(json!("Out on External Secondment - Unpaid")),
            true,
        ),
        (format!("{a}/primary"), Some(json!("Y")), false),
        (format!("{a}/primary"), None, false),
        (format!("{a}/start_date"), Some(json!("01/04/2019")), false),
        (format!("{a}/start_date"), Some(json!("2019-02-29")), false),
        (format!("{a}/start_date"), None, false),
        (format!("{a}/end_date"), Some(Value::Null), true),
        (format!("{a}/end_date"), None, true),
        (
            format!("{a}/end_date"),
            Some(json!("2026-11-30T00:00:00Z")),
            false,
        ),
        (format!("{a}/supervisor"), Some(json!("")), false),
        (format!("{a}/cost_centre"), Some(json!(4410)), false),
        (format!("{a}/cost_centre"), None, true),
        (format!("{a}/grade"), Some(json!("Band 5")), false),
    ];
    for (pointer, value, accepted) in cases {
        let doc = mutate(&base(), &pointer, value.clone());
        let (schema_ok, rust_ok) = agree(&v, &doc);
        assert_eq!(
            schema_ok, rust_ok,
            "schema and types disagree at {pointer} = {value:?}"
        );
        assert_eq!(
            schema_ok, accepted,
            "{pointer} = {value:?}: expected accepted = {accepted}"
        );
    }
}

#[test]
fn business_rules_are_checked_after_the_schema() {
    // Valid for the schema, refused by the checks the schema cannot express.
    let v = validator();
    let doc = mutate(
        &base(),
        "/person/assignments/0/end_date",
        Some(json!("2019-01-01")),
    );
    assert_eq!(agree(&v, &doc), (true, true));
    let err = HrEvent::from_json(&serde_json::to_vec(&doc).unwrap()).unwrap_err();
    assert!(
        err.to_string()
            .contains("ends on 2019-01-01 before it starts on 2019-04-01"),
        "{err}"
    );
}

const STATUSES: &[&str] = &[
    "Acting Up",
    "Active Assignment",
    "Career Break",
    "End",
    "Internal Secondment",
    "Maternity and Adoption",
    "Out on External Secondment - Paid",
    "Suspend No Pay",
    "Suspend With Pay",
    "Terminate Assignment",
    "Terminate Process Assignment",
];

fn arb_text() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        "[ -~]{0,12}".prop_map(Value::from),
        "[^\u{0}]{0,6}".prop_map(Value::from)
    ]
}

fn arb_doc() -> impl Strategy<Value = Value> {
    (
        "[A-Za-z0-9][A-Za-z0-9:_ -]{0,34}",
        prop_oneof![Just(Value::Null), "[0-9]{10,13}".prop_map(Value::from)],
        "[ -~]{0,8}",
        (
            0usize..STATUSES.len(),
            1990i32..2040,
            1u32..13,
            1u32..32,
            any::<bool>(),
        ),
        (arb_text(), arb_text(), proptest::option::of(0u64..1000)),
    )
        .prop_map(
            |(emp, sds, given, (status, y, m, dd, primary), (org, role, seq))| {
                let mut doc = base();
                doc["person"]["employee_number"] = emp.into();
                doc["person"]["sds_user_id"] = sds;
                doc["person"]["given_name"] = given.into();
                doc["person"]["assignments"][0]["status"] = STATUSES[status].into();
                doc["person"]["assignments"][0]["start_date"] =
                    format!("{y:04}-{m:02}-{dd:02}").into();
                doc["person"]["assignments"][0]["primary"] = primary.into();
                doc["person"]["assignments"][0]["organisation"] = org;
                doc["person"]["assignments"][0]["job_role"] = role;
                match seq {
                    Some(s) => doc["sequence"] = s.into(),
                    None => {
                        doc.as_object_mut().unwrap().remove("sequence");
                    }
                }
                doc
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]
    #[test]
    fn generated_documents_are_judged_alike(doc in arb_doc()) {
        let v = validator();
        let (schema_ok, rust_ok) = agree(&v, &doc);
        prop_assert_eq!(schema_ok, rust_ok, "disagree on {}", doc);
    }
}
