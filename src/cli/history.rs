//! What the last `drift` run read from each export file, so that an export much smaller
//! than last time is noticed without `--compare` (a cut-short or filtered export reads as
//! hundreds of missing accounts). Kept per file (its canonical path) in
//! `$XDG_STATE_HOME/turnstile/drift-history.json` (else `~/.local/state/turnstile/`),
//! the newest 1,000 files, written whole and renamed into place. A history that cannot be
//! read or written is said and ignored: it never stops a report.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Seen {
    pub system: String,
    pub accounts: usize,
    pub at: Timestamp,
}

pub(super) struct History {
    path: Option<PathBuf>,
    runs: BTreeMap<String, Seen>,
}

const KEEP: usize = 1000;

fn location() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".local/state"),
    };
    Some(base.join("turnstile/drift-history.json"))
}

fn key(file: &Path) -> Option<String> {
    std::fs::canonicalize(file)
        .ok()
        .map(|p| p.display().to_string())
}

impl History {
    pub(super) fn load() -> History {
        let path = location();
        let runs = path
            .as_deref()
            .and_then(|p| match std::fs::read(p) {
                Ok(bytes) => match serde_json::from_slice(&bytes) {
                    Ok(runs) => Some(runs),
                    Err(e) => {
                        eprintln!(
                            "note: {}: not readable as a drift history ({e}); starting a new one",
                            p.display()
                        );
                        None
                    }
                },
                Err(_) => None,
            })
            .unwrap_or_default();
        History { path, runs }
    }

    /// What the last run read from this file.
    pub(super) fn last(&self, file: &Path) -> Option<&Seen> {
        self.runs.get(&key(file)?)
    }

    pub(super) fn record(&mut self, file: &Path, system: &str, accounts: usize, at: Timestamp) {
        if let Some(k) = key(file) {
            self.runs.insert(
                k,
                Seen {
                    system: system.to_string(),
                    accounts,
                    at,
                },
            );
        }
    }

    pub(super) fn save(mut self) {
        let Some(path) = self.path.take() else {
            return;
        };
        if self.runs.len() > KEEP {
            let mut by_age: Vec<(Timestamp, String)> =
                self.runs.iter().map(|(k, s)| (s.at, k.clone())).collect();
            by_age.sort();
            for (_, k) in by_age.iter().take(self.runs.len() - KEEP) {
                self.runs.remove(k);
            }
        }
        // The files read and their counts: private (0600), whole, never through a link.
        let write = || -> Result<(), String> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            }
            let json = serde_json::to_vec(&self.runs).unwrap_or_default();
            crate::config::files::write_private(&path, &[&json])
        };
        if let Err(e) = write() {
            eprintln!(
                "note: {}: cannot keep the drift history ({e}); the next run will not notice a shrunken export",
                path.display()
            );
        }
    }
}
