//! `turnstile audit`: who changed whose access, when and why, and the trail verified.

use super::*;

#[derive(Args, Debug)]
pub(super) struct AuditArgs {
    /// Only entries about this employee number.
    #[arg(long, value_name = "N")]
    pub(super) person: Option<String>,
    /// Only entries from this Europe/London date on.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub(super) since: Option<String>,
    /// Check that no entry was edited, removed or reordered; prints the head (`head
    /// SEQ:HASH`) to keep outside the host.
    #[arg(long)]
    pub(super) verify: bool,
    /// With --verify: fail unless the trail still holds this entry with this hash (a head
    /// printed by an earlier `--verify` and kept elsewhere).
    #[arg(long, value_name = "SEQ:HASH", requires = "verify")]
    pub(super) expect_head: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub(super) format: TextOrJson,
}
pub(super) fn audit_cmd(config: &Config, a: AuditArgs) -> Result<u8, Failure> {
    let expected = match &a.expect_head {
        Some(text) => Some(
            crate::audit::parse_head(text)
                .map_err(|m| Failure::Usage(format!("--expect-head: {m}")))?,
        ),
        None => None,
    };
    let store = open_existing_store(config)?;
    if a.verify {
        let expected = expected.as_ref().map(|(s, h)| (*s, h.as_str()));
        return match store.verify_audit(expected)? {
            Ok(v) => {
                let keyed = match v.keyed_from {
                    Some(1) => ", every entry's MAC checked".to_string(),
                    Some(from) => format!(
                        ", MACs checked from entry {from} (earlier entries were written before the key was configured)"
                    ),
                    None => String::new(),
                };
                println!(
                    "audit trail intact: {} entries verified{keyed}{}",
                    v.count,
                    if expected.is_some() {
                        ", and it still holds the expected head"
                    } else {
                        ""
                    }
                );
                println!("head {}", v.head_text());
                Ok(0)
            }
            Err(b) => Err(Failure::Runtime(format!(
                "audit trail has been altered: {b}"
            ))),
        };
    }
    let since = match &a.since {
        Some(text) => {
            let date = IsoDate::parse(text).map_err(|m| Failure::Usage(format!("--since: {m}")))?;
            Some(crate::clock::start_of(date.0).ok_or_else(|| {
                Failure::Usage(format!("--since: {text} has no start in Europe/London"))
            })?)
        }
        None => None,
    };
    let entries = store.audit(&AuditFilter {
        employee_number: a.person.clone(),
        since,
    })?;
    match a.format {
        TextOrJson::Json => print_json(&entries)?,
        TextOrJson::Text => {
            let mut out = std::io::stdout().lock();
            let io = write_failed;
            for e in &entries {
                let d = &e.draft;
                // Every field may carry text from a feed or a topic: printed safe, so no
                // control character rewrites the terminal or forges a line.
                let p = crate::input::printable;
                writeln!(
                    out,
                    "#{} {} {} {} {}{}{} [{}] by {}{}{}: {}",
                    e.seq,
                    d.at,
                    p(d.employee_number.as_deref().unwrap_or("-")),
                    p(&d.action),
                    p(&d.outcome),
                    d.system
                        .as_deref()
                        .map(|s| format!(" on {}", p(s)))
                        .unwrap_or_default(),
                    d.account
                        .as_deref()
                        .map(|s| format!(" account {}", p(s)))
                        .unwrap_or_default(),
                    p(d.rule.as_deref().unwrap_or("-")),
                    p(&d.actor),
                    if d.event_id.is_some() { " event " } else { "" },
                    p(d.event_id.as_deref().unwrap_or("")),
                    p(&d.reason)
                )
                .map_err(io)?;
            }
            if entries.is_empty() {
                writeln!(out, "no audit entries match").map_err(io)?;
            }
        }
    }
    Ok(0)
}
