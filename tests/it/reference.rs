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

/// Every environment variable the docs, the examples and the chart name is a key the
/// config has (as docs/config.md lists them; a target's own keys aside), and none names
/// the old `[ldap.<id>]` form: `TURNSTILE__LDAP__AD__BIND_PASSWORD`, once given in the
/// README and the example, made an `[ldap.ad]` beside `[targets.ad]` and loading failed.
#[test]
fn every_environment_variable_the_docs_name_is_a_config_key() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let known: std::collections::BTreeSet<String> = checked_in("docs/config.md")
        .split('`')
        .filter(|w| w.starts_with("TURNSTILE__"))
        .map(str::to_string)
        .collect();
    assert!(known.len() > 50, "{}", known.len());
    let mut files = vec![root.join("README.md")];
    files.extend(crate::purity::files_under(
        &["docs", "examples", "helm"],
        &["md", "toml", "yaml", "tpl"],
    ));
    let mut wrong = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("TURNSTILE__") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "_<>".contains(*c))
                .collect();
            rest = &rest[at + name.len()..];
            let name = name.trim_end_matches('_').to_string();
            if name == "TURNSTILE__SECTION__KEY" || name.starts_with("TURNSTILE__TARGETS__") {
                continue;
            }
            let parts: Vec<&str> = name.split("__").collect();
            let as_id = (1..parts.len()).any(|i| {
                let mut p = parts.clone();
                p[i] = "<ID>";
                known.contains(&p.join("__"))
            });
            if name.starts_with("TURNSTILE__LDAP__") || !(known.contains(&name) || as_id) {
                wrong.push(format!("{}: {name}", file.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "not a config key:\n{}", wrong.join("\n"));
}
