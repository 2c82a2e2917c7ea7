//! The core stays pure: its manifest may name only the crates below, none of which does
//! I/O, and its clippy.toml bans the std and jiff calls that read files, the environment
//! or the clock (`cargo clippy` in CI fails on any use).

use std::collections::BTreeSet;

const ALLOWED: &[&str] = &[
    "compact_str",
    "hmac",
    "jiff",
    "serde",
    "serde_json",
    "sha2",
    "thiserror",
    "toml",
    "proptest",
];

#[test]
fn the_core_manifest_names_no_io_crate() {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/src/core/Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    let mut named = BTreeSet::new();
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(deps) = manifest.get(section).and_then(|d| d.as_table()) {
            named.extend(deps.keys().cloned());
        }
    }
    assert!(
        manifest.get("target").is_none(),
        "no target-specific dependencies"
    );
    let stray: Vec<&String> = named
        .iter()
        .filter(|n| !ALLOWED.contains(&n.as_str()))
        .collect();
    assert!(
        stray.is_empty(),
        "the core may not depend on {stray:?}: put I/O in the edge crate"
    );
    // jiff without its default features: no system time-zone database read from disk.
    let jiff = &manifest["dependencies"]["jiff"];
    assert_eq!(jiff["default-features"].as_bool(), Some(false));

    let clippy = std::fs::read_to_string(format!("{root}/src/core/clippy.toml")).unwrap();
    for banned in [
        "std::fs::read_to_string",
        "std::fs::File::open",
        "std::env::var",
        "std::time::SystemTime::now",
        "jiff::Timestamp::now",
        "jiff::Zoned::now",
    ] {
        assert!(
            clippy.contains(&format!("\"{banned}\"")),
            "clippy.toml must ban {banned}"
        );
    }
}

/// The README's list of audit actions and outcomes is the enums' list.
#[test]
fn the_readme_lists_the_audit_vocabulary_of_the_core() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let line = |prefix: &str| -> Vec<String> {
        readme
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("README has no line starting {prefix:?}"))
            .split(", ")
            .map(|w| w.trim().trim_matches('`').to_string())
            .collect()
    };
    let actions: Vec<String> = turnstile::audit::Action::KINDS
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(line("- actions: "), actions);
    let outcomes: Vec<String> = turnstile::audit::Outcome::ALL
        .iter()
        .map(|o| o.to_string())
        .collect();
    assert_eq!(line("- outcomes: "), outcomes);
}
