//! The core stays pure: its manifest may name only the crates below, none of which does
//! I/O, and its clippy.toml bans the std and jiff calls that read files, the environment
//! or the clock (`cargo clippy` in CI fails on any use).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Every file under `roots` (relative to the repository) whose name ends in one of
/// `extensions`, in a fixed order.
pub(crate) fn files_under(roots: &[&str], extensions: &[&str]) -> Vec<PathBuf> {
    let top = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = roots.iter().map(|r| top.join(r)).collect();
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e))
        {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// A source file's code: its lines before its `#[cfg(test)] mod`, and none of a
/// `tests.rs`.
fn code_lines(path: &Path, text: &str) -> Vec<String> {
    if path.file_name().is_some_and(|n| n == "tests.rs") {
        return Vec::new();
    }
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| {
            w[0].trim() == "#[cfg(test)]"
                && (w[1].starts_with("mod ") || w[1].starts_with("pub(crate) mod "))
        })
        .unwrap_or(lines.len());
    lines[..end].iter().map(|l| l.to_string()).collect()
}

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

/// The contract's list of audit actions and outcomes (docs/contract.md) is the enums' list.
#[test]
fn the_contract_lists_the_audit_vocabulary_of_the_core() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/contract.md")).unwrap();
    let line = |prefix: &str| -> Vec<String> {
        readme
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("docs/contract.md has no line starting {prefix:?}"))
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

/// Business time has one source, `turnstile::now()` (which honours `TURNSTILE_NOW` for
/// rehearsals); the system clock is read in `src/lib.rs` alone (`now` and `wall_clock`).
/// Before, the daemon, the store and three connectors read the system clock in nine
/// places, so a rehearsal under `TURNSTILE_NOW` mixed injected and real time (a record
/// made due at the real time, judged against the injected one).
#[test]
fn the_edge_crate_reads_the_clock_in_one_place() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut offenders = Vec::new();
    for path in files_under(&["src", "connectors"], &["rs"]) {
        // The core has its own ban, in its clippy.toml.
        if path.starts_with(root.join("src/core")) || path == root.join("src/lib.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, line) in text.lines().enumerate() {
            for call in ["Timestamp::now()", "SystemTime::now()", "Zoned::now()"] {
                if line.contains(call) {
                    offenders.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "use turnstile::now() (business time) or turnstile::wall_clock() (measuring against another system's clock):\n{}",
        offenders.join("\n")
    );
}

/// The layers of the edge crate: settings, the store, the feeds, the reports and the
/// connectors are below the engine, which is below the daemon and the CLI. A lower layer
/// never names a higher one (tests aside: `tests.rs` files and `#[cfg(test)]` modules).
/// Before, `config.rs` reached up into the daemon for the tokens file and into the
/// engine for the notice templates.
#[test]
fn no_lower_layer_imports_a_higher_one() {
    let lower = [
        "src/config.rs",
        "src/config",
        "src/tokens.rs",
        "src/kafka.rs",
        "src/retry.rs",
        "src/store",
        "src/feed",
        "src/report",
        "connectors",
    ];
    let higher = ["crate::engine", "crate::daemon", "crate::cli"];
    let files = files_under(&lower, &["rs"]);
    assert!(files.len() > 20, "{files:?}");
    let mut offenders = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, line) in code_lines(&path, &text).iter().enumerate() {
            let line = line.trim();
            if line.starts_with("//") {
                continue;
            }
            if let Some(up) = higher.iter().find(|h| line.contains(*h)) {
                offenders.push(format!("{}:{}: names {up}: {line}", path.display(), i + 1));
            }
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}

/// Files that do one job: no source file of `src/` or `connectors/` holds more than 800
/// lines of code (its `#[cfg(test)] mod` and `tests.rs` files aside). Before, ten did,
/// `cli/mod.rs` with 2,000.
#[test]
fn no_source_file_is_over_800_lines() {
    let mut over = Vec::new();
    let files = files_under(&["src", "connectors"], &["rs"]);
    let seen = files.len();
    for path in files {
        let code = code_lines(&path, &std::fs::read_to_string(&path).unwrap()).len();
        if code > 800 {
            over.push(format!("{}: {code} lines", path.display()));
        }
    }
    assert!(seen > 50, "{seen} files");
    assert!(over.is_empty(), "split by job:\n{}", over.join("\n"));
}
