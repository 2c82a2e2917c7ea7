//! The quick starts run as written: every `turnstile …` line of a ```sh block in the
//! docs is run with the binary built from this tree, from a folder that holds the
//! repository's `examples/`, and must succeed; each `--out` file it names must then exist.
//! The commands are read from the Markdown, not copied here, so the docs cannot drift from
//! the code.

use std::path::Path;
use std::process::Command;

/// The `turnstile …` command lines of the ```sh blocks of `doc`.
fn commands(doc: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(doc)).unwrap();
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_sh = !in_sh && trimmed == "```sh";
            continue;
        }
        if in_sh && let Some(rest) = trimmed.strip_prefix("turnstile ") {
            assert!(
                !rest.contains(['"', '\'', '\\', '$', '|', ';']),
                "{doc}: keep quick-start commands to plain words: {trimmed}"
            );
            out.push(rest.split_whitespace().map(str::to_string).collect());
        }
    }
    out
}

#[test]
fn the_drift_quick_start_runs_as_written() {
    let steps = commands("docs/quickstart-drift.md");
    assert!(steps.len() >= 3, "{steps:?}");
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        dir.path().join("examples"),
    )
    .unwrap();
    for args in steps {
        let o = Command::new(env!("CARGO_BIN_EXE_turnstile"))
            .args(&args)
            .current_dir(dir.path())
            .env_remove("TURNSTILE_NOW")
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "turnstile {}: {}",
            args.join(" "),
            crate::drift::text(&o)
        );
        if let Some(i) = args.iter().position(|a| a == "--out") {
            let out = dir.path().join(&args[i + 1]);
            let len = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            assert!(len > 0, "{} was not written", out.display());
        }
    }
}
