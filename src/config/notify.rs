//! `[notify]`: who is told what, and the trust's own wording.

use super::*;

/// `[notify]`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Where an inactivity notice goes for staff with no line manager (or none with a
    /// work email): the IT service desk, say.
    pub fallback: Option<String>,
    /// Days before a sponsored identity's end that the sponsor is told.
    #[schemars(range(min = 0, max = 365))]
    pub sponsor_notice_days: u32,
    /// A folder of the trust's own wording for the emails to people: `inactivity.txt`
    /// (line managers), `sponsorship.txt` (sponsors), `starter.txt` (hiring managers).
    /// Each starts `Subject: …`, then a blank line, then the body; `{count}` is the number
    /// of people or accounts, `{list}` the lines Turnstile fills in. A file left out keeps
    /// Turnstile's wording.
    pub templates: Option<PathBuf>,
}
impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            fallback: None,
            sponsor_notice_days: 14,
            templates: None,
        }
    }
}
/// The kinds of email a trust may word itself.
pub const TEMPLATES: [&str; 3] = ["inactivity", "sponsorship", "starter"];
impl NotifyConfig {
    /// Reads `[notify] templates`: each file there must start `Subject:` and use
    /// `{list}`. Kind → text, for the kinds the trust worded.
    pub fn templates(&self) -> Result<BTreeMap<String, String>, String> {
        let mut out = BTreeMap::new();
        let Some(dir) = &self.templates else {
            return Ok(out);
        };
        for kind in TEMPLATES {
            let path = dir.join(format!("{kind}.txt"));
            if !path.exists() {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("[notify] templates: {}: {e}", path.display()))?;
            if !text.starts_with("Subject:") || !text.contains("{list}") {
                return Err(format!(
                    "[notify] templates: {} must start with a `Subject:` line and put `{{list}}` in the body",
                    path.display()
                ));
            }
            out.insert(kind.to_string(), text);
        }
        Ok(out)
    }
}
