//! The fuzz targets' checks (`turnstile::fuzzing`) over their seed corpora
//! (`fuzz/seeds/<target>/`) and every input a fuzzer ever found breaking one
//! (`tests/fixtures/fuzz/<target>/`): a crash once found stays a regression test here,
//! run by the ordinary suite on the stable toolchain.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

#[test]
fn every_target_has_a_fuzz_binary_and_seeds() {
    let targets = root().join("fuzz/fuzz_targets");
    let mut binaries: Vec<String> = files(&targets)
        .iter()
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
        .collect();
    binaries.sort();
    let mut named: Vec<String> = turnstile::fuzzing::TARGETS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    named.sort();
    assert_eq!(
        binaries, named,
        "fuzz/fuzz_targets and fuzzing::TARGETS differ"
    );
    let manifest = std::fs::read_to_string(root().join("fuzz/Cargo.toml")).unwrap();
    for name in &named {
        assert!(
            manifest.contains(&format!("path = \"fuzz_targets/{name}.rs\"")),
            "fuzz/Cargo.toml has no [[bin]] for {name}"
        );
        assert!(
            !files(&root().join("fuzz/seeds").join(name)).is_empty(),
            "fuzz/seeds/{name} is empty"
        );
    }
}

#[test]
fn seeds_and_every_crash_found_keep_their_promises() {
    let mut ran = 0;
    for (name, check) in turnstile::fuzzing::TARGETS {
        for dir in [
            root().join("fuzz/seeds").join(name),
            root().join("tests/fixtures/fuzz").join(name),
        ] {
            for file in files(&dir) {
                let data = std::fs::read(&file).unwrap();
                let outcome = std::panic::catch_unwind(|| check(&data));
                assert!(
                    outcome.is_ok(),
                    "{name}: {} breaks a promise",
                    file.display()
                );
                ran += 1;
            }
        }
    }
    assert!(
        ran >= turnstile::fuzzing::TARGETS.len(),
        "only {ran} inputs run"
    );
}
