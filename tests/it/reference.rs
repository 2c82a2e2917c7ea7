//! The configuration reference and `turnstile.toml`'s JSON Schema are made from the config
//! structs (`turnstile reference`); the checked-in copies must be what it makes now, so a
//! key added without its reference fails here. The example config validates against the
//! schema, and the schema refuses a key the loader refuses.

use crate::drift::text;
use std::path::Path;
use std::process::Command;

fn reference(format: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_turnstile"))
        .args(["reference", "--format", format])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

fn checked_in(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
}

#[test]
fn the_reference_and_the_schema_are_the_ones_the_code_makes() {
    assert_eq!(
        reference("markdown"),
        checked_in("docs/config.md"),
        "docs/config.md is stale: turnstile reference --format markdown > docs/config.md"
    );
    assert_eq!(
        reference("json-schema"),
        checked_in("schemas/turnstile.schema.json"),
        "the schema is stale: turnstile reference --format json-schema > schemas/turnstile.schema.json"
    );
    let md = checked_in("docs/config.md");
    for needle in [
        "## `[daemon]`",
        "`TURNSTILE__DAEMON__HEADER_TIMEOUT_SECS`",
        "## `[work_items.systems.<id>]`",
        "one of: sqlite, postgres",
    ] {
        assert!(md.contains(needle), "{needle}");
    }
}

#[test]
fn the_example_config_validates_against_the_schema_and_an_unknown_key_does_not() {
    let schema: serde_json::Value =
        serde_json::from_str(&checked_in("schemas/turnstile.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let example = checked_in("examples/turnstile.toml");
    assert!(
        example.starts_with("#:schema ../schemas/turnstile.schema.json"),
        "editors find the schema from the example's first line"
    );
    let as_json = |text: &str| -> serde_json::Value {
        serde_json::to_value(toml::from_str::<toml::Table>(text).unwrap()).unwrap()
    };
    let errors: Vec<String> = validator
        .iter_errors(&as_json(&example))
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert!(!validator.is_valid(&as_json("[store]\npaht = \"a.db\"\n")));
    assert!(!validator.is_valid(&as_json("[daemon]\nlisten = 9464\n")));
}
