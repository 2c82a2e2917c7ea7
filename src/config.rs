//! Configuration: `turnstile.toml`, then `TURNSTILE__SECTION__KEY` environment variables,
//! then command-line flags. Unknown keys are refused so a typo is never silently ignored.

use crate::feed::export::ExportColumns;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub store: StoreConfig,
    pub policy: PolicyConfig,
    /// Column renames for account exports, per system id.
    pub exports: BTreeMap<String, ExportColumns>,
    /// LDAP targets (Active Directory, OpenLDAP), per system id.
    pub ldap: BTreeMap<String, crate::connectors::ldap::LdapConfig>,
    pub reconcile: ReconcileConfig,
    pub log: LogConfig,
    /// The Kafka topic of HR events (`run`, `feed --publish`).
    pub kafka: crate::kafka::KafkaConfig,
    /// The daemon (`run`): admin endpoint, progress checks, shutdown.
    pub daemon: DaemonConfig,
}

/// A password or key from config: never printed, not even in debug logs.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// Where the admin endpoint listens: `/metrics` (Prometheus), `/healthz`, `/readyz`.
    /// Empty: no endpoint.
    pub listen: String,
    /// How often partition progress and the broker are checked.
    pub check_every_secs: u64,
    /// A partition with events waiting whose position has not moved for this long is
    /// reported as stalled (log, metric, `/readyz` 503).
    pub stall_after_secs: u64,
    /// After SIGTERM/SIGINT: the most time given to finish the event in hand and commit.
    pub shutdown_timeout_secs: u64,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            listen: "127.0.0.1:9464".into(),
            check_every_secs: 10,
            stall_after_secs: 60,
            shutdown_timeout_secs: 20,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    /// A run that would disable or delete more than this share of a system's accounts
    /// stops before acting until someone re-runs it with `--approve` (CONTRACT §5).
    pub max_removal_share: f64,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            max_removal_share: 0.05,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    #[default]
    Sqlite,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub kind: StoreKind,
    /// The SQLite file.
    pub path: PathBuf,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            kind: StoreKind::Sqlite,
            path: PathBuf::from("turnstile.db"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// The role model file.
    pub path: PathBuf,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            path: PathBuf::from("role-model.toml"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `turnstile=debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{path}: the config file does not exist; create it or leave out --config to use the defaults"
    )]
    Missing { path: String },
    #[error("{path}: {detail}")]
    Invalid { path: String, detail: String },
}

impl Config {
    /// Loads `path` (optional when `explicit` is false) with environment overrides.
    pub fn load(path: &Path, explicit: bool) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        if explicit && !path.exists() {
            return Err(ConfigError::Missing { path: shown });
        }
        let built = config::Config::builder()
            .add_source(
                config::File::from(path)
                    .format(config::FileFormat::Toml)
                    .required(explicit),
            )
            .add_source(
                config::Environment::with_prefix("TURNSTILE")
                    .prefix_separator("__")
                    .separator("__"),
            )
            .build()
            .and_then(|c| c.try_deserialize::<Config>())
            .map_err(|e| ConfigError::Invalid {
                path: shown,
                detail: e.to_string(),
            })?;
        Ok(built)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("turnstile.toml");
        std::fs::write(
            &path,
            "[store]\npath = \"a.db\"\n[exports.ad]\naccount = \"SamAccountName\"\n",
        )
        .unwrap();
        let c = Config::load(&path, true).unwrap();
        assert_eq!(c.store.path, PathBuf::from("a.db"));
        assert_eq!(c.exports["ad"].account.as_deref(), Some("SamAccountName"));
        assert_eq!(c.policy.path, PathBuf::from("role-model.toml"));

        std::fs::write(&path, "[store]\npaht = \"a.db\"\n").unwrap();
        let err = Config::load(&path, true).unwrap_err().to_string();
        assert!(err.contains("paht"), "{err}");

        let err = Config::load(&dir.path().join("nope.toml"), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
        assert!(Config::load(&dir.path().join("nope.toml"), false).is_ok());
    }
}
