//! The operations pack in `ops/`: the alert rules pass `promtool check rules` and their
//! unit tests (`promtool test rules`, one test per alert at least), every alert has its
//! runbook section, and every metric an alert or a dashboard panel queries is one the
//! daemon exports (a renamed metric would leave an alert that never fires).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn ops(file: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ops").join(file)).unwrap()
}

fn promtool(args: &[&str]) -> String {
    let o = Command::new("promtool")
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("ops"))
        .output()
        .expect(
            "promtool is missing: run tests/peers/peers.sh install (Debian's prometheus package)",
        );
    let text = crate::drift::text(&o);
    assert!(o.status.success(), "promtool {args:?}: {text}");
    text
}

/// The alert names in `ops/alerts.yaml`.
fn alerts() -> Vec<String> {
    ops("alerts.yaml")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .map(str::to_string)
        .collect()
}

/// The metric families the daemon registers.
fn exported() -> BTreeSet<String> {
    turnstile::daemon::admin::Metrics::new()
        .families()
        .iter()
        .cloned()
        .collect()
}

/// Every `turnstile_…` name in a query, without the suffixes a sample carries.
fn queried(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("turnstile_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        let mut base = name.as_str();
        for suffix in ["_bucket", "_total", "_count", "_sum", "_created"] {
            base = base.strip_suffix(suffix).unwrap_or(base);
        }
        out.insert(base.to_string());
    }
    out
}

#[test]
fn the_alert_rules_pass_promtool_and_each_has_a_test_and_a_runbook() {
    let said = promtool(&["check", "rules", "alerts.yaml"]);
    let names = alerts();
    assert!(
        said.contains(&format!("SUCCESS: {} rules found", names.len())),
        "{said}"
    );
    promtool(&["test", "rules", "alerts.test.yaml"]);
    let tests = ops("alerts.test.yaml");
    let runbook = ops("runbook.md");
    for name in &names {
        assert!(
            tests.contains(&format!("alertname: {name}\n")),
            "{name} has no unit test in ops/alerts.test.yaml"
        );
        assert!(
            runbook.contains(&format!("\n## {name}\n")),
            "{name} has no section in ops/runbook.md"
        );
        assert!(
            ops("alerts.yaml").contains(&format!("ops/runbook.md#{}", name.to_lowercase())),
            "{name} links its runbook section"
        );
    }
}

#[test]
fn every_metric_queried_by_an_alert_or_a_panel_is_exported() {
    let exported = exported();
    assert!(exported.contains("turnstile_held_plans"), "{exported:?}");
    let mut queries: Vec<(String, String)> = ops("alerts.yaml")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr: "))
        .map(|e| ("ops/alerts.yaml".to_string(), e.to_string()))
        .collect();
    let dashboard: serde_json::Value = serde_json::from_str(&ops("dashboard.json")).unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            queries.push((
                format!("ops/dashboard.json panel {}", panel["title"]),
                target["expr"].as_str().unwrap().to_string(),
            ));
        }
    }
    assert!(queries.len() > 10);
    for (place, expr) in &queries {
        let names = queried(expr);
        assert!(
            !names.is_empty(),
            "{place}: {expr} queries no Turnstile metric"
        );
        for name in names {
            assert!(
                exported.contains(&name),
                "{place}: {expr} queries {name}, which the daemon does not export"
            );
        }
    }
}

/// Backup and restore as docs/operations.md describes them, end to end for each store
/// (`scripts/backup-restore.sh`): the restored trail verifies against the head the
/// original printed.
#[test]
fn a_backup_restores_to_a_trail_that_verifies_on_each_store() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ["sqlite", "postgres"] {
        let o =
            Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/backup-restore.sh"))
                .arg(kind)
                .arg(dir.path().join(kind))
                .env("TURNSTILE_BIN", env!("CARGO_BIN_EXE_turnstile"))
                .output()
                .unwrap();
        let said = crate::drift::text(&o);
        assert!(o.status.success(), "{kind}: {said}");
        assert!(
            said.contains("restored trail verified against head"),
            "{kind}: {said}"
        );
    }
    // A backup never overwrites.
    let o = Command::new(env!("CARGO_BIN_EXE_turnstile"))
        .args(["backup", "--out"])
        .arg(dir.path().join("sqlite/backup.db"))
        .arg("--config")
        .arg(dir.path().join("sqlite/original.toml"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", crate::drift::text(&o));
}
