//! Configuration: `turnstile.toml`, then `TURNSTILE__SECTION__KEY` environment variables,
//! then command-line flags. Unknown keys are refused so a typo is never silently ignored.

use crate::feed::export::ExportColumns;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod daemon;
mod delivery;
mod guard;
mod notify;
mod secret;
mod store;

pub use daemon::*;
pub use delivery::*;
pub use guard::*;
pub use notify::*;
pub use secret::*;
pub use store::*;

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub store: StoreConfig,
    pub policy: PolicyConfig,
    /// Column renames for account exports, per system id.
    pub exports: BTreeMap<String, ExportColumns>,
    /// Bounds on what one input file may make Turnstile hold, and how many bad rows a
    /// usable file may have.
    pub feeds: crate::feed::Limits,
    /// The target systems, per system id of the role model: `[targets.<system>]` with a
    /// `type` (a connector kind, see `connectors::REGISTRY`) and that connector's settings.
    #[schemars(with = "BTreeMap<String, serde_json::Map<String, serde_json::Value>>")]
    pub targets: BTreeMap<String, toml::Table>,
    /// The older form of an LDAP target, `[ldap.<system>]`: read as `[targets.<system>]`
    /// with `type = "ldap"`.
    #[schemars(with = "BTreeMap<String, serde_json::Map<String, serde_json::Value>>")]
    pub ldap: BTreeMap<String, toml::Table>,
    pub reconcile: ReconcileConfig,
    /// The mass-change guard for the changes the daemon applies by itself.
    pub guard: GuardConfig,
    pub log: LogConfig,
    /// The Kafka topic of HR events (`run`, `feed --publish`).
    pub kafka: crate::kafka::KafkaConfig,
    /// The daemon (`run`): admin endpoint, progress checks, shutdown.
    pub daemon: DaemonConfig,
    /// The audit trail's keyed integrity.
    pub audit: AuditConfig,
    /// Work items (systems with no API): when they fall due and where they are sent.
    pub work_items: WorkItemsConfig,
    /// The mail relay for work-item digests, escalations and inactivity notices.
    pub smtp: SmtpConfig,
    /// Who is told when a person's own manager cannot be.
    pub notify: NotifyConfig,
}

/// The sub-table of `[targets.<system>]` the engine reads for correlation.
const CORRELATION: &str = "correlation";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{path}: the config file does not exist; create it or leave out --config to use the defaults"
    )]
    Missing { path: String },
    #[error("{path}: {detail}")]
    Invalid { path: String, detail: String },
    /// Every problem found, one per line.
    #[error("{}", .0.join("\n"))]
    Problems(Vec<String>),
}

/// Where a TOML syntax error is, without the text of the line: the line may hold a
/// password.
fn syntax_error(path: &str, source: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column) = e.span().map_or((0, 0), |span| {
        let before = &source[..span.start.min(source.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    });
    ConfigError::Invalid {
        path: format!("{path}:{line}:{column}"),
        detail: format!(
            "not valid TOML: {} (the line is not shown: it may hold a secret)",
            e.message().trim_end()
        ),
    }
}

impl Config {
    /// Loads `path` (optional when `explicit` is false) with environment overrides, reads
    /// every `*_file` secret, and checks who may read the files that hold secrets.
    pub fn load(path: &Path, explicit: bool) -> Result<Config, ConfigError> {
        Config::load_all(&[path.to_path_buf()], explicit)
    }

    /// Loads `paths` in order, each layered over the ones before (a later file's keys
    /// win; tables merge), then the environment over all. Each file is checked on its own:
    /// its syntax, who may change it, and who may read it when it holds a secret.
    pub fn load_all(paths: &[PathBuf], explicit: bool) -> Result<Config, ConfigError> {
        let shown = paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" + ");
        // Each file is read and parsed once: for its syntax, for the secrets it holds, and
        // as a source of the settings.
        let mut files: Vec<(&Path, String, toml::Table)> = Vec::new();
        for path in paths {
            let one = path.display().to_string();
            if !path.exists() {
                if explicit {
                    return Err(ConfigError::Missing { path: one });
                }
                continue;
            }
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid {
                path: one.clone(),
                detail: format!("cannot read it: {e}"),
            })?;
            let table =
                toml::from_str::<toml::Table>(&text).map_err(|e| syntax_error(&one, &text, &e))?;
            files::check_not_world_writable(path).map_err(|d| ConfigError::Problems(vec![d]))?;
            files.push((path, text, table));
        }
        let mut builder = config::Config::builder();
        for (_, text, _) in &files {
            builder = builder.add_source(config::File::from_str(text, config::FileFormat::Toml));
        }
        let mut config = builder
            .add_source(
                config::Environment::with_prefix("TURNSTILE")
                    .prefix_separator("__")
                    .separator("__"),
            )
            .build()
            .and_then(|c| c.try_deserialize::<Config>())
            .map_err(|e| ConfigError::Invalid {
                path: shown.clone(),
                detail: e.to_string(),
            })?;
        let mut problems = Vec::new();
        for (path, _, table) in &files {
            if holds_literal_secret(table)
                && let Err(e) = files::check_private(path, "a password")
            {
                problems.push(format!(
                    "{e}, or move the password to a *_file setting or the environment"
                ));
            }
        }
        let k = &mut config.kafka;
        resolve_secret(
            &mut k.sasl_password,
            &k.sasl_password_file,
            "[kafka] sasl_password",
            &mut problems,
        );
        resolve_secret(
            &mut k.ssl_key_password,
            &k.ssl_key_password_file,
            "[kafka] ssl_key_password",
            &mut problems,
        );
        let w = &mut config.work_items;
        resolve_secret(
            &mut w.webhook_token,
            &w.webhook_token_file,
            "[work_items] webhook_token",
            &mut problems,
        );
        for (system, own) in w.systems.iter_mut() {
            resolve_secret(
                &mut own.webhook_token,
                &own.webhook_token_file,
                &format!("[work_items.systems.{system}] webhook_token"),
                &mut problems,
            );
        }
        let st = &mut config.store;
        resolve_secret(&mut st.url, &st.url_file, "[store] url", &mut problems);
        if st.kind == StoreKind::Postgres && st.url.is_empty() {
            problems.push(
                "[store] kind = \"postgres\" needs url, url_file or TURNSTILE__STORE__URL (postgres://user@host:5432/database)".into(),
            );
        }
        let m = &mut config.smtp;
        resolve_secret(
            &mut m.password,
            &m.password_file,
            "[smtp] password",
            &mut problems,
        );
        for id in config.ldap.keys() {
            if config.targets.contains_key(id) {
                problems.push(format!(
                    "[ldap.{id}] and [targets.{id}] both configure system `{id}`: keep [targets.{id}] (type = \"ldap\")"
                ));
            }
        }
        problems.extend(config.check());
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Problems(
                problems
                    .into_iter()
                    .map(|p| format!("{shown}: {p}"))
                    .collect(),
            ))
        }
    }

    /// Every target section, `[targets.*]` and the older `[ldap.*]`, as (system, type,
    /// settings without `type`).
    pub fn target_sections(&self) -> Vec<(String, String, toml::Table)> {
        let mut out = Vec::new();
        for (id, table) in &self.targets {
            let mut settings = table.clone();
            let kind = match settings.remove("type") {
                Some(toml::Value::String(k)) => k,
                _ => String::new(),
            };
            // The engine's own keys, not the connector's.
            settings.remove(CORRELATION);
            out.push((id.clone(), kind, settings));
        }
        for (id, table) in &self.ldap {
            if !self.targets.contains_key(id) {
                out.push((id.clone(), "ldap".into(), table.clone()));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// A target's correlation settings, `[targets.<system>.correlation]` (the defaults
    /// when the section is absent: every rule, narrowed by department, links proposed).
    pub fn correlation(&self, system: &str) -> Result<crate::correlate::Settings, String> {
        match self.targets.get(system).and_then(|t| t.get(CORRELATION)) {
            None => Ok(Default::default()),
            Some(v) => v.clone().try_into().map_err(|e: toml::de::Error| {
                format!(
                    "[targets.{system}.correlation] {} (rules: anchor, email, smartcard, name, account_name; narrow_by: department, manager, location; adopt: propose, auto, off)",
                    e.message().trim_end()
                )
            }),
        }
    }

    /// Every number out of its sane range, named by its key: no arithmetic on a setting
    /// may overflow, wrap or make a guard meaningless.
    pub fn check(&self) -> Vec<String> {
        let mut out = self.feeds.check();
        let share = self.reconcile.max_removal_share;
        if !(0.0..=1.0).contains(&share) {
            out.push(format!(
                "[reconcile] max_removal_share is {share}: use a share from 0 to 1 (0.05 = 5%)"
            ));
        }
        out.extend(self.guard.check());
        out.extend(self.work_items.check(&self.smtp));
        out.extend(self.smtp.check());
        if let Err(e) = self.notify.templates() {
            out.push(e);
        }
        if let Some(f) = &self.notify.fallback
            && f.parse::<lettre::Address>().is_err()
        {
            out.push(format!("[notify] fallback \"{f}\" is not an email address"));
        }
        let d = &self.daemon;
        out.extend(out_of_range(
            "[daemon]",
            &[
                ("check_every_secs", d.check_every_secs.into(), 1, 3600),
                ("stall_after_secs", d.stall_after_secs.into(), 1, 86_400),
                (
                    "shutdown_timeout_secs",
                    d.shutdown_timeout_secs.into(),
                    1,
                    3600,
                ),
                ("apply_every_ms", d.apply_every_ms.into(), 10, 60_000),
                (
                    "reconcile_every_secs",
                    d.reconcile_every_secs.into(),
                    0,
                    7 * 86_400,
                ),
                (
                    "max_failed_auth_per_minute",
                    d.max_failed_auth_per_minute.into(),
                    1,
                    10_000,
                ),
                ("header_timeout_secs", d.header_timeout_secs.into(), 1, 300),
                ("max_connections", d.max_connections as i128, 1, 100_000),
                (
                    "max_connections_per_peer",
                    d.max_connections_per_peer as i128,
                    1,
                    100_000,
                ),
            ],
        ));
        let k = &self.kafka;
        out.extend(out_of_range(
            "[kafka]",
            &[
                (
                    "session_timeout_ms",
                    k.session_timeout_ms.into(),
                    1000,
                    3_600_000,
                ),
                (
                    "auto_commit_interval_ms",
                    k.auto_commit_interval_ms.into(),
                    100,
                    3_600_000,
                ),
                (
                    "message_timeout_ms",
                    k.message_timeout_ms.into(),
                    1000,
                    3_600_000,
                ),
            ],
        ));
        out.extend(out_of_range(
            "[notify]",
            &[(
                "sponsor_notice_days",
                self.notify.sponsor_notice_days.into(),
                0,
                365,
            )],
        ));
        out.extend(out_of_range(
            "[store]",
            &[("claim_secs", self.store.claim_secs.into(), 1, 86_400)],
        ));
        out.extend(out_of_range(
            "[smtp]",
            &[("port", self.smtp.port.into(), 1, 65_535)],
        ));
        out.extend(d.plaintext_tokens_refused());
        if let Some(file) = &d.tokens_file
            && let Err(e) = crate::tokens::Tokens::load(file)
        {
            out.push(format!("[daemon] tokens_file: {e}"));
        }
        match (&d.tls_cert_file, &d.tls_key_file) {
            (Some(_), None) | (None, Some(_)) => out.push(
                "[daemon] tls_cert_file and tls_key_file: give both (TLS) or neither (plain HTTP)"
                    .into(),
            ),
            (Some(cert), Some(key)) => {
                if let Err(e) =
                    crate::config::files::read_secret(key, "the admin endpoint's TLS key").and_then(
                        |k| {
                            let c = std::fs::read(cert)
                                .map_err(|e| format!("{}: cannot read it: {e}", cert.display()))?;
                            native_tls::Identity::from_pkcs8(&c, &k)
                                .map(|_| ())
                                .map_err(|e| format!("{} / {}: {e}", cert.display(), key.display()))
                        },
                    )
                {
                    out.push(format!("[daemon] TLS: {e}"));
                }
            }
            (None, None) => {}
        }
        for (id, kind, _) in self.target_sections() {
            if let Err(e) = self.correlation(&id) {
                out.push(e);
            }
            if kind.is_empty() {
                out.push(format!(
                    "[targets.{id}] has no `type`: say which connector it is (e.g. type = \"ldap\")"
                ));
            }
        }
        out
    }

    /// The audit key, when `[audit] hmac_key_file` is set.
    pub fn audit_key(&self) -> Result<Option<crate::audit::AuditKey>, String> {
        let Some(path) = &self.audit.hmac_key_file else {
            return Ok(None);
        };
        let bytes = files::read_secret(path, "the audit HMAC key")
            .map_err(|e| format!("[audit] hmac_key_file: {e}"))?;
        crate::audit::AuditKey::new(&bytes)
            .map(Some)
            .map_err(|e| format!("[audit] hmac_key_file: {}: {e}", path.display()))
    }
}

/// Each setting of `section` outside its range `lo..=hi`, named: (key, value, lo, hi).
pub fn out_of_range(section: &str, ranges: &[(&str, i128, i128, i128)]) -> Vec<String> {
    ranges
        .iter()
        .filter(|(_, value, lo, hi)| !(lo..=hi).contains(&value))
        .map(|(key, value, lo, hi)| format!("{section} {key} is {value}: use {lo} to {hi}"))
        .collect()
}

/// Reads and checks a role model file (the core parses text; reading is the edge's job).
pub fn load_role_model(
    path: &Path,
) -> Result<(crate::policy::RoleModel, crate::policy::Findings), crate::policy::Findings> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => crate::policy::RoleModel::parse(&file, &text),
        Err(e) => Err(crate::policy::Findings {
            problems: vec![crate::policy::Problem {
                file,
                line: None,
                message: format!("cannot read the role model: {e}"),
                warning: false,
            }],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every number in `turnstile.toml` has the range `docs/config.md` shows (from its
    /// `#[schemars(range)]`), and `check` enforces exactly that range: a value just outside
    /// is refused naming the key, each bound itself is accepted. A numeric key added
    /// without a range, or a range the check does not keep, fails here.
    #[test]
    fn every_number_has_the_range_the_reference_shows_and_check_keeps_it() {
        use serde_json::{Value, json};
        let schema = serde_json::to_value(schemars::schema_for!(Config)).unwrap();
        let defs = schema["$defs"].as_object().unwrap().clone();
        let resolve = |v: &Value| -> Value {
            match v.get("$ref").and_then(Value::as_str) {
                Some(r) => defs[r.rsplit('/').next().unwrap()].clone(),
                None => v.clone(),
            }
        };
        // (path of tables, key, min, max, integer?)
        let mut numbers = Vec::new();
        let mut stack = vec![(Vec::<String>::new(), schema.clone())];
        while let Some((path, s)) = stack.pop() {
            let s = resolve(&s);
            for (key, prop) in s["properties"].as_object().into_iter().flatten() {
                let p = resolve(prop);
                let types = match &p["type"] {
                    Value::String(t) => vec![t.clone()],
                    Value::Array(ts) => ts
                        .iter()
                        .filter_map(|t| t.as_str().map(String::from))
                        .collect(),
                    _ => Vec::new(),
                };
                let mut sub = path.clone();
                sub.push(key.clone());
                if types.iter().any(|t| t == "integer" || t == "number") {
                    let (Some(lo), Some(hi)) = (p["minimum"].as_f64(), p["maximum"].as_f64())
                    else {
                        panic!(
                            "{}: a number with no allowed range: give it #[schemars(range(min, max))] and a check",
                            sub.join(".")
                        );
                    };
                    numbers.push((
                        path.clone(),
                        key.clone(),
                        lo,
                        hi,
                        types.iter().any(|t| t == "integer"),
                    ));
                } else if p.get("properties").is_some() {
                    stack.push((sub, p));
                } else if let Some(each) = p.get("additionalProperties").map(&resolve)
                    && each.get("properties").is_some()
                {
                    sub.push("x".into());
                    stack.push((sub, each));
                }
            }
        }
        assert!(numbers.len() >= 40, "{numbers:?}");
        let base = serde_json::to_value(Config::default()).unwrap();
        let complaints = |path: &[String], key: &str, value: Value| -> Vec<String> {
            let mut v = base.clone();
            let mut at = &mut v;
            for p in path {
                at = at
                    .as_object_mut()
                    .unwrap()
                    .entry(p.clone())
                    .or_insert(json!({}));
            }
            at[key] = value;
            // A value its type cannot hold (70000 for a port) is refused on reading.
            let c: Config = match serde_json::from_value(v) {
                Ok(c) => c,
                Err(e) => return vec![e.to_string()],
            };
            let named = format!("[{}] {key} is", path.join("."));
            c.check()
                .into_iter()
                .filter(|p| p.contains(&named))
                .collect()
        };
        for (path, key, lo, hi, integer) in numbers {
            let at = |x: f64| if integer { json!(x as i64) } else { json!(x) };
            let step = if integer { 1.0 } else { 0.01 };
            let name = format!("[{}] {key}", path.join("."));
            if lo > 0.0 || !integer {
                assert!(
                    !complaints(&path, &key, at(lo - step)).is_empty(),
                    "{name} below {lo} is not refused"
                );
            }
            assert!(
                !complaints(&path, &key, at(hi + step)).is_empty(),
                "{name} above {hi} is not refused"
            );
            assert_eq!(
                complaints(&path, &key, at(lo)),
                Vec::<String>::new(),
                "{name} = {lo}"
            );
            // The longest field is bounded by the longest line too (its own message).
            if key != "max_field_bytes" {
                assert_eq!(
                    complaints(&path, &key, at(hi)),
                    Vec::<String>::new(),
                    "{name} = {hi}"
                );
            }
        }
    }

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

    /// Bearer tokens in clear on a network address are refused unless named as allowed;
    /// on loopback, or over TLS, they are fine.
    #[test]
    fn plaintext_tokens_on_a_network_address_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = write(
            dir.path(),
            "tokens.toml",
            &format!(
                "[[tokens]]\nname = \"a\"\nrole = \"viewer\"\nsha256 = \"{}\"\n",
                "ab".repeat(32)
            ),
            0o600,
        );
        let mut c = Config::default();
        c.daemon.tokens_file = Some(tokens);
        let refused = |c: &Config| {
            c.check()
                .iter()
                .any(|p| p.contains("allow_plaintext_tokens"))
        };
        for (listen, loopback) in [
            ("127.0.0.1:9464", true),
            ("[::1]:9464", true),
            ("localhost:9464", true),
            ("0.0.0.0:9464", false),
            ("[::]:9464", false),
            ("10.1.2.3:9464", false),
            ("admin.trust.nhs.uk:9464", false),
        ] {
            c.daemon.listen = listen.into();
            assert_eq!(c.daemon.listens_on_loopback(), loopback, "{listen}");
            assert_eq!(refused(&c), !loopback, "{listen}");
        }
        c.daemon.allow_plaintext_tokens = true;
        assert!(!refused(&c), "allowed knowingly");
        c.daemon.allow_plaintext_tokens = false;
        c.daemon.tokens_file = None;
        assert!(!refused(&c), "no tokens, nothing to read off the wire");
    }

    /// A PostgreSQL URL with a password in it is a secret: a config others can read that
    /// holds one is refused (before: accepted, as `url` names no password).
    #[test]
    fn a_store_url_with_a_password_is_a_secret() {
        for (url, secret) in [
            ("postgres://ts:s3cret@db:5432/t", true),
            ("postgres://ts@db:5432/t", false),
            ("postgres://db:5432/t?user=ts&password=s3cret", true),
            ("host=db user=ts password=s3cret", true),
            ("postgres://db/t?sslmode=require", false),
        ] {
            assert_eq!(url_holds_password(url), secret, "{url}");
        }
        let dir = tempfile::tempdir().unwrap();
        let text = "[store]\nkind = \"postgres\"\nurl = \"postgres://ts:s3cret@db:5432/t\"\n";
        let open = write(dir.path(), "open.toml", text, 0o644);
        let err = Config::load(&open, true).unwrap_err().to_string();
        assert!(err.contains("other users can read"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
        let private = write(dir.path(), "private.toml", text, 0o600);
        assert!(Config::load(&private, true).is_ok());
    }

    /// Credentials and personal data never go out in clear unless a setting says so:
    /// `http://` to a host other than loopback, and an SMTP login without TLS, are refused
    /// (before: accepted without a word).
    #[test]
    fn plain_http_and_plaintext_smtp_logins_need_a_named_exception() {
        for (url, refused) in [
            ("https://hooks.trust.nhs.uk/x", false),
            ("http://127.0.0.1:8080/x", false),
            ("http://localhost/x", false),
            ("http://[::1]:9/x", false),
            ("http://hooks.trust.nhs.uk/x?sig=abc", true),
            ("http://user:pw@10.0.0.5/x", true),
        ] {
            let said = plain_http("[work_items]", "webhook_url", url, false);
            assert_eq!(said.is_some(), refused, "{url}: {said:?}");
            if let Some(said) = said {
                assert!(!said.contains("sig=abc") && !said.contains("pw"), "{said}");
            }
            assert!(plain_http("[work_items]", "webhook_url", url, true).is_none());
        }
        let mut c = Config::default();
        c.work_items.webhook_url = Some("http://hooks.trust.nhs.uk/x".into());
        assert!(c.check().iter().any(|p| p.contains("allow_plain_http")));
        c.work_items.allow_plain_http = true;
        assert!(!c.check().iter().any(|p| p.contains("allow_plain_http")));

        c.smtp = SmtpConfig {
            host: "relay.trust.nhs.uk".into(),
            from: "turnstile@trust.nhs.uk".into(),
            tls: SmtpTls::None,
            username: Some("turnstile".into()),
            password: Secret::new("pw"),
            ..SmtpConfig::default()
        };
        assert!(
            c.check()
                .iter()
                .any(|p| p.contains("allow_plaintext_login"))
        );
        c.smtp.host = "127.0.0.1".into();
        assert!(c.check().is_empty(), "{:?}", c.check());
        c.smtp.host = "relay.trust.nhs.uk".into();
        c.smtp.allow_plaintext_login = true;
        assert!(c.check().is_empty(), "{:?}", c.check());
    }

    /// Files given together are layered: a later file's keys win and tables merge, so a
    /// deployment can add its keys to a section the trust's config also fills (before:
    /// the chart appended text, and TOML refuses a table opened twice).
    #[test]
    fn config_files_are_layered_and_their_tables_merged() {
        let dir = tempfile::tempdir().unwrap();
        let trust = write(
            dir.path(),
            "trust.toml",
            "[daemon]\nlisten = \"127.0.0.1:1\"\ncheck_every_secs = 7\n[store]\npath = \"a.db\"\n",
            0o600,
        );
        let chart = write(
            dir.path(),
            "chart.toml",
            "[daemon]\nlisten = \"127.0.0.1:9464\"\n[store]\npath = \"/var/lib/turnstile/turnstile.db\"\n",
            0o600,
        );
        let c = Config::load_all(&[trust.clone(), chart.clone()], true).unwrap();
        assert_eq!(c.daemon.listen, "127.0.0.1:9464", "the later file wins");
        assert_eq!(
            c.daemon.check_every_secs, 7,
            "and the earlier one's other keys stay"
        );
        assert_eq!(
            c.store.path,
            PathBuf::from("/var/lib/turnstile/turnstile.db")
        );
        // Each file is checked on its own: a missing one is named.
        let err = Config::load_all(&[trust, dir.path().join("nope.toml")], true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope.toml"), "{err}");
    }

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn try_ldap(c: &Config) -> Result<crate::connectors::ldap::LdapConfig, String> {
        let (id, kind, settings) = c.target_sections().remove(0);
        assert_eq!((id.as_str(), kind.as_str()), ("ad", "ldap"));
        let limits = crate::feed::Limits::default();
        let ctx = crate::connectors::BuildContext {
            system: "ad",
            allows_delete: true,
            limits: &limits,
        };
        crate::connectors::ldap::LdapConfig::from_section(settings, &ctx)
    }

    fn ldap(c: &Config) -> crate::connectors::ldap::LdapConfig {
        try_ldap(c).unwrap()
    }

    const LDAP: &str = "[ldap.ad]\ndialect = \"active_directory\"\nurl = \"ldaps://dc:636/\"\nbind_dn = \"svc\"\nbase_dn = \"DC=x\"\nusers_container = \"OU=Staff,DC=x\"\ngroups_container = \"OU=Groups,DC=x\"\n";

    #[test]
    fn a_syntax_error_names_the_line_but_never_prints_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "t.toml",
            &format!("{LDAP}bind_password = \"hunter2\n"),
            0o600,
        );
        let err = Config::load(&path, true).unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("t.toml:8:"), "{err}");
    }

    #[test]
    fn files_that_others_can_read_or_change_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let secret = format!("{LDAP}bind_password = \"hunter2\"\n");
        let path = write(dir.path(), "a.toml", &secret, 0o644);
        let err = Config::load(&path, true).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let path = write(dir.path(), "b.toml", &secret, 0o600);
        let c = Config::load(&path, true).unwrap();
        assert_eq!(ldap(&c).bind_password.expose(), "hunter2");
        // No secret, but anyone may change it: refused all the same.
        let path = write(dir.path(), "c.toml", "[store]\npath = \"a.db\"\n", 0o666);
        let err = Config::load(&path, true).unwrap_err().to_string();
        assert!(err.contains("any user can change it"), "{err}");
        let path = write(dir.path(), "d.toml", "[store]\npath = \"a.db\"\n", 0o644);
        assert!(Config::load(&path, true).is_ok());
    }

    #[test]
    fn secrets_come_from_private_files() {
        let dir = tempfile::tempdir().unwrap();
        let pw = write(dir.path(), "pw", "s3cret\n", 0o600);
        let text = format!("{LDAP}bind_password_file = \"{}\"\n", pw.display());
        let path = write(dir.path(), "a.toml", &text, 0o644);
        let c = Config::load(&path, true).unwrap();
        assert_eq!(ldap(&c).bind_password.expose(), "s3cret");
        assert!(!format!("{:?}", ldap(&c)).contains("s3cret"));

        write(dir.path(), "pw", "s3cret\n", 0o644);
        let err = try_ldap(&Config::load(&path, true).unwrap()).unwrap_err();
        assert!(
            err.contains("bind_password_file") && err.contains("chmod 600"),
            "{err}"
        );

        write(dir.path(), "pw", "s3cret\n", 0o600);
        let both = format!("{text}bind_password = \"x\"\n");
        let path = write(dir.path(), "b.toml", &both, 0o600);
        let err = try_ldap(&Config::load(&path, true).unwrap()).unwrap_err();
        assert!(err.contains("both set"), "{err}");

        let key = write(dir.path(), "key", &"k".repeat(40), 0o600);
        let text = format!("[audit]\nhmac_key_file = \"{}\"\n", key.display());
        let path = write(dir.path(), "c.toml", &text, 0o644);
        let c = Config::load(&path, true).unwrap();
        assert!(c.audit_key().unwrap().is_some());
        write(dir.path(), "key", "short", 0o600);
        assert!(c.audit_key().unwrap_err().contains("at least 32"));
    }

    #[test]
    fn numbers_out_of_range_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[reconcile]\nmax_removal_share = 5\n[feeds]\nmax_rows_per_person = 0\nmax_bad_row_share = -1\n[daemon]\nshutdown_timeout_secs = 0\n";
        let path = write(dir.path(), "a.toml", text, 0o600);
        let err = Config::load(&path, true).unwrap_err().to_string();
        for key in [
            "[reconcile] max_removal_share is 5",
            "[feeds] max_rows_per_person is 0",
            "[feeds] max_bad_row_share is -1",
            "[daemon] shutdown_timeout_secs is 0",
        ] {
            assert!(err.contains(key), "{key} in {err}");
        }
        // A connector's numbers are checked when it is built (by `validate` and each verb).
        let path = write(
            dir.path(),
            "b.toml",
            &format!("{LDAP}page_size = -3\n"),
            0o600,
        );
        let err = try_ldap(&Config::load(&path, true).unwrap()).unwrap_err();
        assert!(
            err.contains("[targets.ad] page_size is -3: use 1 to 100000"),
            "{err}"
        );
    }

    /// Correlation and the guard on creates are checked with everything else, named by
    /// key; the connector never sees the engine's `correlation` table.
    #[test]
    fn correlation_and_create_guard_settings_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let text = "[guard]\nmax_create_share = 2\n[guard.systems.ad]\nmax_creates = 2000000\n[targets.ad]\ntype = \"emis\"\npath = \"x.csv\"\n[targets.ad.correlation]\nrules = [\"email\", \"shoe_size\"]\n";
        let path = write(dir.path(), "a.toml", text, 0o600);
        let err = Config::load(&path, true).unwrap_err().to_string();
        assert!(err.contains("[guard] max_create_share is 2"), "{err}");
        assert!(
            err.contains("[guard.systems.ad] max_creates is 2000000"),
            "{err}"
        );
        assert!(
            err.contains("[targets.ad.correlation]") && err.contains("shoe_size"),
            "{err}"
        );
        let text = "[targets.ad]\ntype = \"emis\"\npath = \"x.csv\"\n[targets.ad.correlation]\nadopt = \"auto\"\nnarrow_by = [\"manager\"]\n";
        let path = write(dir.path(), "b.toml", text, 0o600);
        let config = Config::load(&path, true).unwrap();
        let c = config.correlation("ad").unwrap();
        assert_eq!(c.adopt, crate::correlate::Adopt::Auto);
        assert_eq!(c.narrow_by, vec![crate::correlate::Narrow::Manager]);
        let (_, _, settings) = config.target_sections().remove(0);
        assert!(!settings.contains_key("correlation"), "{settings:?}");
    }

    /// A report is written owner-only and whole, and never through a symbolic link.
    #[test]
    fn personal_data_is_written_private_whole_and_not_through_a_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("report.html");
        files::write_private(&out, &[b"<p>", b"names</p>"]).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "<p>names</p>");
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Written again over an older, wider file: it becomes owner-only.
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
        files::write_private(&out, &[b"again"]).unwrap();
        assert_eq!(
            std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let elsewhere = dir.path().join("elsewhere.txt");
        std::fs::write(&elsewhere, "untouched").unwrap();
        let link = dir.path().join("link.html");
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        let err = files::write_private(&link, &[b"names"]).unwrap_err();
        assert!(err.contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "untouched");
        // Nothing left behind.
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 3);
        // A device is written as it is, never replaced by a file.
        files::write_private(std::path::Path::new("/dev/null"), &[b"gone"]).unwrap();
        assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
    }
}
