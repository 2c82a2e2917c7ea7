//! Inactivity with notice, as a reconciliation does it for one target: judge every linked
//! account (`crate::inactivity::judge`), tell each line manager once per run about all
//! their staff's accounts that will be disabled (a digest), record the telling in the
//! trail, and only then, a notice period later, disable. An account disabled for
//! inactivity stays disabled until a manager's approval is recorded
//! (`turnstile reenable`).

use crate::account::Account;
use crate::audit::{Action as AuditAction, Draft, Outcome as AuditOutcome};
use crate::hr::Person;
use crate::inactivity::{Verdict, judge};
use crate::plan::{Action, Change};
use crate::policy::System;
use crate::store::{Store, StoreError};
use jiff::civil::Date;
use std::collections::{BTreeMap, BTreeSet};

/// One account a manager must be told about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub system: String,
    pub system_name: String,
    pub account: String,
    pub employee_number: String,
    /// The person, as the manager knows them.
    pub staff: String,
    pub idle_days: i64,
    pub disable_from: Date,
    /// The manager's work email; `None`: the fallback address.
    pub to: Option<String>,
}

/// What the rule asks of one target in this run.
#[derive(Debug, Default)]
pub struct Review {
    /// Disables the notice period has passed for, by employee number.
    pub disables: Vec<Change>,
    /// Accounts (lower case) disabled for inactivity: no enable without approval.
    pub blocked: BTreeSet<String>,
    pub notices: Vec<Notice>,
}

/// Judges every account of `system` linked to one of `people`.
pub fn review(
    store: &mut dyn Store,
    system: &System,
    people: &[Person],
    accounts: &[Account],
    reports_logons: bool,
    today: Date,
    write: bool,
) -> Result<Review, StoreError> {
    let mut out = Review::default();
    let records = store.dormancy(&system.id)?;
    if !reports_logons && records.is_empty() {
        return Ok(out);
    }
    let by_number: BTreeMap<&str, &Person> = people
        .iter()
        .map(|p| (p.employee_number.as_str(), p))
        .collect();
    let tz = crate::clock::london();
    for a in accounts {
        let Some(person) = a.employee_number.as_deref().and_then(|n| by_number.get(n)) else {
            continue;
        };
        let key = a.id.to_lowercase();
        let mut record = records.get(&key).map(|d| d.record);
        // Told, and now disabled (by this rule, or by hand): blocked from here on.
        if let Some(r) = record
            && r.disabled_on.is_none()
            && !a.enabled
        {
            if write {
                store.dormancy_disabled(&system.id, &a.id, today)?;
            }
            record = Some(crate::inactivity::Record {
                disabled_on: Some(today),
                ..r
            });
        }
        let verdict = if reports_logons || record.is_some_and(|r| r.disabled_on.is_some()) {
            judge(
                &system.policy,
                person.lifecycle(today),
                a,
                person.first_day(),
                record,
                today,
                &tz,
            )
        } else {
            Verdict::Fine
        };
        match verdict {
            Verdict::Fine | Verdict::Waiting { .. } => {}
            Verdict::UsedAgain => {
                if write {
                    store.clear_dormancy(&system.id, &a.id, None)?;
                }
            }
            Verdict::Blocked { .. } => {
                out.blocked.insert(key);
            }
            Verdict::Notify {
                idle_days,
                disable_from,
            } => {
                let to = super::notices::manager_email(person, &by_number);
                out.notices.push(Notice {
                    system: system.id.clone(),
                    system_name: system.policy.name.clone(),
                    account: a.id.clone(),
                    employee_number: person.employee_number.to_string(),
                    staff: person.display_name(),
                    idle_days,
                    disable_from,
                    to,
                });
            }
            Verdict::Disable {
                idle_days,
                notified_on,
            } => out.disables.push(Change {
                system: system.id.clone(),
                employee_number: person.employee_number.to_string(),
                account: Some(a.id.clone()),
                action: Action::Disable,
                rule: "inactivity".into(),
                reason: format!(
                    "not used for {idle_days} days (over {} days); the line manager was told on {notified_on}",
                    system.policy.inactivity_days.unwrap_or_default()
                ),
            }),
        }
    }
    Ok(out)
}

/// One account's line of the manager's digest.
pub fn line(n: &Notice) -> String {
    format!(
        "{} (ESR {}): {} account {}, not used for {} days; disabled from {} unless it is used before then\n",
        n.staff,
        n.employee_number,
        n.system_name,
        n.account,
        n.idle_days,
        crate::clock::uk_date(n.disable_from)
    )
}

/// The manager's digest: every account of their staff in this run, how to keep each.
pub fn digest(notices: &[&Notice]) -> super::work::Mail {
    let mut body = String::from(
        "Turnstile, which keeps staff access in step with the Electronic Staff Record, will\n\
         disable these accounts of your staff because they have not been used. Access to\n\
         patient data must end when it is no longer needed.\n",
    );
    for n in notices {
        body.push('\n');
        body.push_str(&line(n));
    }
    body.push_str(
        "\nTo keep an account, ask the person to sign in to it before that day. Once disabled,\n\
         it is enabled again only with your approval, recorded by the IT service desk\n\
         (turnstile reenable SYSTEM ACCOUNT --as YOUR NAME).\n",
    );
    super::work::Mail {
        subject: format!(
            "[Turnstile] {} account{} of your staff will be disabled for inactivity",
            notices.len(),
            if notices.len() == 1 { "" } else { "s" }
        ),
        body,
    }
}

/// The line managers' notices.
pub const KIND: super::notices::Kind<Notice> = super::notices::Kind {
    name: "inactivity",
    to: |n| n.to.clone(),
    line,
    mail: digest,
};

/// Sends one digest per manager and records each notice that went (with its trail
/// entry). A digest that could not be sent is not recorded, so its disables wait and it
/// is sent again next run. Returns the notices recorded, the failures, and how many could
/// not be sent at all for want of a mail relay (nothing is disabled for inactivity then).
pub async fn notify(
    store: &mut dyn Store,
    sender: Option<&super::work::Sender>,
    notices: &[Notice],
    today: Date,
    at: jiff::Timestamp,
    actor: &str,
) -> Result<Sent, StoreError> {
    super::notices::send(sender, &KIND, notices, |group, fallback| {
        let rows: Vec<(String, String, String)> = group
            .iter()
            .map(|n| {
                (
                    n.system.clone(),
                    n.account.clone(),
                    n.employee_number.clone(),
                )
            })
            .collect();
        let drafts = group
            .iter()
            .map(|n| Draft {
                at,
                actor: actor.to_string(),
                employee_number: Some(n.employee_number.clone()),
                system: Some(n.system.clone()),
                account: Some(n.account.clone()),
                action: AuditAction::InactivityNotice.to_string(),
                outcome: AuditOutcome::Recorded.to_string(),
                rule: Some("inactivity".into()),
                event_id: None,
                reason: format!(
                    "not used for {} days; the line manager was told{} that it is disabled from {}",
                    n.idle_days,
                    if fallback {
                        " (through [notify] fallback: no manager's email)"
                    } else {
                        ""
                    },
                    n.disable_from
                ),
            })
            .collect();
        store.record_notices(&rows, today, drafts)
    })
    .await
}

use super::notices::Sent;
