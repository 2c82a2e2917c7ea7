//! A SCIM target's settings (`[targets.<system>]` with `type = "scim"`).

use super::*;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScimConfig {
    /// The service provider's base URL, e.g. `https://host/scim/v2`.
    pub url: String,
    /// The bearer token: from `token_file` (mode 600) or `TURNSTILE__TARGETS__<S>__TOKEN`.
    #[serde(default)]
    pub token: Secret,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// OAuth2 client credentials in place of a fixed token.
    #[serde(default)]
    pub oauth2: Option<OAuth2Config>,
    /// `userName` pattern: `{first}` `{last}` `{f}` (first initial), lower-cased ASCII.
    #[serde(default = "pattern")]
    pub name_pattern: String,
    #[serde(default = "sixty_four")]
    pub name_max_len: usize,
    /// How many names to try when one is taken (`name`, `name2`, …); 1: a clash is an
    /// error for a person to resolve.
    #[serde(default = "ninety_nine")]
    pub name_candidates: u32,
    /// Appended to the name: `@example.nhs.uk` where the service wants an email-like
    /// `userName`.
    #[serde(default)]
    pub name_suffix: String,
    #[serde(default = "thirty")]
    pub timeout_secs: u64,
    #[serde(default = "hundred")]
    pub page_size: u32,
    /// Attempts after the first, for transient failures (429, 5xx, transport).
    #[serde(default = "four")]
    pub retries: usize,
    /// The longest `Retry-After` waited for in one call; longer is a transient failure.
    #[serde(default = "sixty")]
    pub max_retry_after_secs: u64,
    /// The attribute holding a last-logon time (RFC 3339), where the service gives one,
    /// e.g. `urn:example:params:scim:schemas:extension:activity:2.0:User:lastLogon`.
    #[serde(default)]
    pub last_logon_attribute: Option<String>,
    /// Accept `http://` for `url` and the OAuth2 `token_url` to a host other than this
    /// machine's loopback (tokens and personal data would cross the network in clear).
    #[serde(default)]
    pub allow_plain_http: bool,
    /// The largest answer read (bytes); a larger one is refused, never held whole.
    #[serde(default = "thirty_two_mib")]
    pub max_response_bytes: usize,
    /// The most users (or groups) a list may return before the read is refused.
    #[serde(default = "two_million")]
    pub max_resources: u64,
}
pub(super) fn thirty_two_mib() -> usize {
    32 << 20
}
pub(super) fn two_million() -> u64 {
    2_000_000
}
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Config {
    pub token_url: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Secret,
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub scope: Option<String>,
}
pub(super) fn pattern() -> String {
    "{first}.{last}".into()
}
pub(super) fn sixty_four() -> usize {
    64
}
pub(super) fn ninety_nine() -> u32 {
    99
}
pub(super) fn thirty() -> u64 {
    30
}
pub(super) fn hundred() -> u32 {
    100
}
pub(super) fn four() -> usize {
    4
}
pub(super) fn sixty() -> u64 {
    60
}
