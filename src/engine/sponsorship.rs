//! Sponsored identities (staff not on ESR): the sponsor is told `[notify]
//! sponsor_notice_days` (default 14) before a sponsored person's access ends, once per end
//! date, so they can extend it (a new row in the sponsored feed) in time. The telling is
//! recorded in the trail (`sponsorship.notice`) only once the relay accepted it; a failed
//! send is tried again on the next run.

use crate::audit::{Action as AuditAction, Draft, Outcome as AuditOutcome};
use crate::feed::sponsored::is_sponsored;
use crate::hr::{Lifecycle, Person};
use crate::store::{AuditFilter, Store, StoreError};
use jiff::civil::Date;
use std::collections::BTreeMap;

/// One sponsored person whose access ends soon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub employee_number: String,
    pub name: String,
    pub end: Date,
    /// The sponsor's work email; `None`: the fallback address.
    pub to: Option<String>,
}

/// The sponsored people (of `people`) whose last day is within `days` of `today` and whose
/// sponsor has not been told about this end date yet.
pub fn ending(
    store: &dyn Store,
    people: &[Person],
    today: Date,
    days: u32,
) -> Result<Vec<Ending>, StoreError> {
    let by_number: BTreeMap<&str, &Person> = people
        .iter()
        .map(|p| (p.employee_number.as_str(), p))
        .collect();
    let mut out = Vec::new();
    for p in people
        .iter()
        .filter(|p| is_sponsored(p.employee_number.as_str()))
    {
        if !matches!(p.lifecycle(today), Lifecycle::Active | Lifecycle::Future) {
            continue;
        }
        let Some(end) = p.last_working_day() else {
            continue;
        };
        let left = i64::from((end - today).get_days());
        if left < 0 || left > i64::from(days) {
            continue;
        }
        let marker = format!("ends on {end}");
        let told = store
            .audit(&AuditFilter {
                employee_number: Some(p.employee_number.to_string()),
                since: None,
            })?
            .iter()
            .any(|e| {
                e.draft.action == AuditAction::SponsorshipNotice.to_string()
                    && e.draft.reason.contains(&marker)
            });
        if told {
            continue;
        }
        let to = p
            .line_manager
            .as_ref()
            .and_then(|s| by_number.get(s.as_str()))
            .and_then(|s| s.work_email.clone())
            .filter(|e| !e.trim().is_empty());
        out.push(Ending {
            employee_number: p.employee_number.to_string(),
            name: p.display_name(),
            end,
            to,
        });
    }
    Ok(out)
}

/// The sponsor's digest.
pub fn digest(endings: &[&Ending]) -> super::work::Mail {
    let date = crate::connectors::export_file::uk_date;
    let mut body = String::from(
        "You sponsor these people, who are not on the Electronic Staff Record. Their access\n\
         ends on the day shown, when they are treated as leavers:\n",
    );
    for e in endings {
        body.push_str(&format!(
            "\n{} ({}): access ends at the end of {}\n",
            e.name,
            e.employee_number,
            date(e.end)
        ));
    }
    body.push_str(
        "\nIf they still need access, extend it before then: send the IT service desk a new end\n\
         date (at most the longest sponsorship the trust allows) for the sponsored identity feed.\n",
    );
    super::work::Mail {
        subject: format!(
            "[Turnstile] access of {} person{} you sponsor ends soon",
            endings.len(),
            if endings.len() == 1 { "" } else { "s" }
        ),
        body,
    }
}

/// Tells each sponsor about their people's ends; records each notice that went.
pub async fn warn(
    store: &mut dyn Store,
    sender: Option<&super::work::Sender>,
    endings: &[Ending],
    at: jiff::Timestamp,
    actor: &str,
) -> Result<super::inactivity::Sent, StoreError> {
    let mut out = super::inactivity::Sent::default();
    if endings.is_empty() {
        return Ok(out);
    }
    let Some(sender) = sender else {
        out.no_relay = endings.len();
        return Ok(out);
    };
    let mut by_sponsor: BTreeMap<Option<String>, Vec<&Ending>> = BTreeMap::new();
    for e in endings {
        by_sponsor.entry(e.to.clone()).or_default().push(e);
    }
    for (to, group) in by_sponsor {
        let Some(address) = to.clone().or_else(|| sender.fallback().map(str::to_string)) else {
            out.failed.push(format!(
                "{} sponsorship notice(s) for sponsors with no work email: set [notify] fallback",
                group.len()
            ));
            continue;
        };
        let list: String = group
            .iter()
            .map(|e| {
                format!(
                    "{} ({}): access ends at the end of {}\n",
                    e.name,
                    e.employee_number,
                    crate::connectors::export_file::uk_date(e.end)
                )
            })
            .collect();
        let mail = sender.shape("sponsorship", digest(&group), group.len(), &list);
        if let Err(e) = sender.mail(std::slice::from_ref(&address), &mail).await {
            out.failed
                .push(format!("sponsorship notice to {address}: {e}"));
            continue;
        }
        let drafts = group
            .iter()
            .map(|e| Draft {
                at,
                actor: actor.to_string(),
                employee_number: Some(e.employee_number.clone()),
                system: None,
                account: None,
                action: AuditAction::SponsorshipNotice.to_string(),
                outcome: AuditOutcome::Recorded.to_string(),
                rule: Some("sponsorship".into()),
                event_id: None,
                reason: format!(
                    "sponsored access ends on {}; the sponsor was told{}",
                    e.end,
                    if to.is_some() {
                        ""
                    } else {
                        " (through [notify] fallback)"
                    }
                ),
            })
            .collect();
        store.append_audit(drafts)?;
        out.recorded += group.len();
    }
    Ok(out)
}
