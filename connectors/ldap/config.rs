//! An LDAP target's settings (`[targets.<system>]` with `type = "ldap"`), and their checks.

use super::*;

/// Which directory the connector talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    ActiveDirectory,
    OpenLdap,
}
/// One LDAP target, from config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// The system id in the role model (filled from the `[ldap.<system>]` key in config).
    #[serde(default)]
    pub system: String,
    pub dialect: Dialect,
    /// `ldaps://host:636/` or `ldap://host:389/` (with `starttls = true` for production).
    pub url: String,
    #[serde(default)]
    pub starttls: bool,
    pub bind_dn: String,
    #[serde(default)]
    pub bind_password: crate::config::Secret,
    /// A file holding the bind password (mode 600), in place of `bind_password`.
    #[serde(default)]
    pub bind_password_file: Option<PathBuf>,
    /// Allow a simple bind over an unencrypted connection (a lab, never production).
    #[serde(default)]
    pub allow_plain_bind: bool,
    /// Where accounts are searched for.
    pub base_dn: String,
    /// Where new accounts are created.
    pub users_container: String,
    /// Where groups live: entitlement `GG-Nursing` is the group `CN=GG-Nursing,<this>`.
    pub groups_container: String,
    /// A PEM file of CA certificates to trust for LDAPS/StartTLS.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Check the server's name against its certificate (turn off only for a lab server
    /// whose certificate names another host).
    #[serde(default = "yes")]
    pub tls_verify_hostname: bool,
    #[serde(default = "thirty")]
    pub timeout_secs: u64,
    #[serde(default = "page")]
    pub page_size: i32,
    /// The most entries one search may return before the read is refused (never held
    /// whole, never cut short silently).
    #[serde(default = "two_million")]
    pub max_entries: u64,
    /// Attempts after the first for transient failures.
    #[serde(default = "three")]
    pub retries: usize,
    /// Active Directory: the UPN suffix (`example.nhs.uk`).
    #[serde(default)]
    pub upn_suffix: Option<String>,
    /// Account name pattern: `{first}` `{last}` `{f}` (first initial), lower-cased ASCII.
    #[serde(default = "pattern")]
    pub name_pattern: String,
    #[serde(default = "twenty")]
    pub name_max_len: usize,
    /// OpenLDAP: the attribute and value that mark an account disabled.
    #[serde(default = "disabled_attribute")]
    pub disabled_attribute: String,
    #[serde(default = "disabled_value")]
    pub disabled_value: String,
}
pub(super) fn yes() -> bool {
    true
}
pub(super) fn thirty() -> u64 {
    30
}
pub(super) fn page() -> i32 {
    500
}
pub(super) fn two_million() -> u64 {
    2_000_000
}
pub(super) fn three() -> usize {
    3
}
pub(super) fn pattern() -> String {
    "{f}{last}".into()
}
pub(super) fn twenty() -> usize {
    20
}
pub(super) fn disabled_attribute() -> String {
    "employeeType".into()
}
pub(super) fn disabled_value() -> String {
    "disabled".into()
}
impl LdapConfig {
    /// The config of `[targets.<system>]`, its password read from `bind_password_file`
    /// when given, every mistake named.
    pub fn from_section(
        settings: toml::Table,
        ctx: &crate::connectors::BuildContext<'_>,
    ) -> Result<LdapConfig, String> {
        let mut config: LdapConfig = crate::connectors::settings(ctx.system, settings)?;
        config.system = ctx.system.to_string();
        let mut problems = Vec::new();
        crate::config::resolve_secret(
            &mut config.bind_password,
            &config.bind_password_file,
            &format!("[targets.{}] bind_password", ctx.system),
            &mut problems,
        );
        problems.extend(config.check());
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems.join("\n"))
        }
    }

    /// Every number out of its sane range, named by its key.
    pub fn check(&self) -> Vec<String> {
        crate::config::out_of_range(
            &format!("[targets.{}]", self.system),
            &[
                ("timeout_secs", self.timeout_secs.into(), 1, 3600),
                ("page_size", self.page_size.into(), 1, 100_000),
                ("max_entries", self.max_entries.into(), 1, 100_000_000),
                ("retries", self.retries as i128, 0, 20),
                ("name_max_len", self.name_max_len as i128, 3, 256),
            ],
        )
    }
}
