//! Sponsored identities (staff not on ESR): the sponsor is told `[notify]
//! sponsor_notice_days` (default 14) before a sponsored person's access ends, once per end
//! date, so they can extend it (a new row in the sponsored feed) in time. The telling is
//! recorded in the trail (`sponsorship.notice`) only once the relay accepted it; a failed
//! send is tried again on the next run.

use crate::audit::{Action as AuditAction, Draft, Outcome as AuditOutcome};
use crate::feed::sponsored::is_sponsored;
use crate::hr::{Lifecycle, Person};
use crate::store::{Store, StoreError};
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
        if super::notices::told(
            store,
            p.employee_number.as_str(),
            AuditAction::SponsorshipNotice,
            Some(&format!("ends on {end}")),
        )? {
            continue;
        }
        let to = super::notices::manager_email(p, &by_number);
        out.push(Ending {
            employee_number: p.employee_number.to_string(),
            name: p.display_name(),
            end,
            to,
        });
    }
    Ok(out)
}

/// One person's line of the sponsor's email.
pub fn line(e: &Ending) -> String {
    format!(
        "{} ({}): access ends at the end of {}\n",
        e.name,
        e.employee_number,
        crate::clock::uk_date(e.end)
    )
}

/// The sponsor's digest.
pub fn digest(endings: &[&Ending]) -> super::work::Mail {
    let mut body = String::from(
        "You sponsor these people, who are not on the Electronic Staff Record. Their access\n\
         ends on the day shown, when they are treated as leavers:\n",
    );
    for e in endings {
        body.push('\n');
        body.push_str(&line(e));
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

/// The sponsors' notices.
pub const KIND: super::notices::Kind<Ending> = super::notices::Kind {
    name: "sponsorship",
    to: |e| e.to.clone(),
    line,
    mail: digest,
};

/// Tells each sponsor about their people's ends; records each notice that went.
pub async fn warn(
    store: &mut dyn Store,
    sender: Option<&super::work::Sender>,
    endings: &[Ending],
    at: jiff::Timestamp,
    actor: &str,
) -> Result<super::notices::Sent, StoreError> {
    super::notices::send(sender, &KIND, endings, |group, fallback| {
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
                    if fallback {
                        " (through [notify] fallback)"
                    } else {
                        ""
                    }
                ),
            })
            .collect();
        store.append_audit(drafts).map(|_| ())
    })
    .await
}
