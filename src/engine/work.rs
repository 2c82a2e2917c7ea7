//! Work items after they are raised: judged against each fresh export of their system,
//! sent to the service desk (a webhook, one JSON item per change) and to the system's
//! administrators (one digest email per run), and escalated when overdue.
//!
//! Sending is at least once and idempotent by the item's reference: an item is marked
//! sent only when the receiver accepted it, every attempt is counted on the item, and the
//! webhook gets an `Idempotency-Key` (the reference and the status it was sent in) so a
//! retry after a lost answer is recognisable.

use crate::account::Account;
use crate::config::{Config, Delivery, SmtpConfig, SmtpTls, WorkItemsConfig};
use crate::plan::Change;
use crate::store::{Channel, Settled, Store, StoreError, WorkItem, WorkItemKey};
use crate::work::{Settle, settle};
use backon::BackoffBuilder;
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Confirms or cancels every active item of `system` against the export just read
/// (`accounts`) and the changes still planned from it.
pub fn track(
    store: &mut dyn Store,
    system: &str,
    planned: &[Change],
    accounts: &[Account],
    at: Timestamp,
    actor: &str,
) -> Result<Vec<WorkItem>, StoreError> {
    let still: BTreeSet<WorkItemKey> = planned.iter().map(WorkItemKey::of).collect();
    // An item raised for an account still to be created stands for the same change on the
    // account that was created since.
    let unnamed: BTreeSet<WorkItemKey> = still
        .iter()
        .map(|k| WorkItemKey {
            account: None,
            ..k.clone()
        })
        .collect();
    let mut settled = Vec::new();
    for status in [
        crate::work::Status::Open,
        crate::work::Status::Reopened,
        crate::work::Status::Overdue,
    ] {
        for item in store.work_items(Some(system), Some(status))? {
            let key = item.key();
            let planned = if key.account.is_none() {
                unnamed.contains(&key)
            } else {
                still.contains(&key)
            };
            let how = match &item.change {
                Some(change) => settle(change, planned, accounts),
                // An item raised before changes were kept with it: its change is no
                // longer planned, so the export shows it done (the old rule).
                None => (!planned).then_some(Settle::Confirmed),
            };
            if let Some(how) = how {
                settled.push(Settled {
                    id: item.id,
                    how,
                    reason: match how {
                        Settle::Confirmed => "the system's export shows it done".into(),
                        Settle::Cancelled => "no longer needed: the person's record changed before it was done (the export does not show it, and nothing asks for it now)".into(),
                    },
                });
            }
        }
    }
    store.settle_work_items(&settled, at, actor)
}

/// The service-desk JSON of one item: what an administrator needs to act, nothing more.
pub fn ticket(item: &WorkItem) -> serde_json::Value {
    serde_json::json!({
        "id": item.reference(),
        "system": item.system,
        "employee_number": item.employee_number,
        "account": item.account,
        "action": item.action,
        "detail": item.detail,
        "status": item.status.as_str(),
        "raised_at": item.raised_at.to_string(),
        "due_at": item.due_at.to_string(),
    })
}

/// The London day by whose end an item is due (dd/mm/yyyy).
pub fn due_day(item: &WorkItem) -> String {
    let last = item
        .due_at
        .checked_sub(jiff::SignedDuration::from_secs(1))
        .unwrap_or(item.due_at);
    crate::clock::uk_date(crate::clock::today(last))
}

/// An email: subject and plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub subject: String,
    pub body: String,
}

/// The digest of new items for one system's administrators.
pub fn digest(system: &str, items: &[&WorkItem]) -> Mail {
    let refs: Vec<String> = items.iter().map(|i| i.reference()).collect();
    let mut body = format!(
        "Turnstile raised {} change{} on {system} to make by hand. Each is checked against the next\n\
         user export Turnstile reads: there is nothing to reply to, and an item closes by itself\n\
         once the export shows it done.\n",
        items.len(),
        if items.len() == 1 { "" } else { "s" }
    );
    for i in items {
        let again = if i.status == crate::work::Status::Reopened {
            ", raised again: the export shows it undone"
        } else {
            ""
        };
        body.push_str(&format!(
            "\n{} (by the end of {}{again})\n  {}\n",
            i.reference(),
            due_day(i),
            i.detail
        ));
    }
    body.push_str(&format!(
        "\nWhat is still open: turnstile work-items --system {system} --status open\n"
    ));
    Mail {
        subject: format!(
            "[Turnstile] {system}: {} change{} to make ({})",
            items.len(),
            if items.len() == 1 { "" } else { "s" },
            summarise(&refs)
        ),
        body,
    }
}

/// The escalation of overdue items of one system.
pub fn escalation(system: &str, items: &[&WorkItem]) -> Mail {
    let refs: Vec<String> = items.iter().map(|i| i.reference()).collect();
    let mut body = format!(
        "{} work item{} on {system} {} past due: the system's export does not show the change\n\
         made. Please see that it is done, or find out why not.\n",
        items.len(),
        if items.len() == 1 { "" } else { "s" },
        if items.len() == 1 { "is" } else { "are" }
    );
    for i in items {
        body.push_str(&format!(
            "\n{} raised {}, due by the end of {}\n  {}\n",
            i.reference(),
            crate::clock::uk_date(crate::clock::today(i.raised_at)),
            due_day(i),
            i.detail
        ));
    }
    body.push_str(&format!(
        "\nWhat is overdue: turnstile work-items --system {system} --status overdue\n"
    ));
    Mail {
        subject: format!(
            "[Turnstile] {system}: {} work item{} overdue ({})",
            items.len(),
            if items.len() == 1 { "" } else { "s" },
            summarise(&refs)
        ),
        body,
    }
}

/// "WI-000001, WI-000002" or "WI-000001 … WI-000040 and 38 more" for long lists.
fn summarise(refs: &[String]) -> String {
    match refs {
        [] => String::new(),
        r if r.len() <= 3 => r.join(", "),
        [first, .., last] => format!("{first} … {last}"),
        [_] => String::new(),
    }
}

/// What one delivery run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Items that became overdue in this run.
    pub overdue: usize,
    /// Items the webhook accepted.
    pub posted: usize,
    /// Items sent in a digest.
    pub emailed: usize,
    /// Items escalated.
    pub escalated: usize,
    /// What could not be sent (tried again on the next run).
    pub failed: Vec<String>,
}

/// Sends work items: the webhook client and the SMTP relay, built once.
pub struct Sender {
    config: WorkItemsConfig,
    fallback: Option<String>,
    /// The trust's own wording, by kind (`inactivity`, `sponsorship`, `starter`).
    templates: BTreeMap<String, String>,
    http: reqwest::Client,
    smtp: Option<(
        lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
        lettre::message::Mailbox,
    )>,
}

impl Sender {
    /// Builds the clients from config; a relay that cannot be set up is named.
    pub fn new(config: &Config) -> Result<Sender, String> {
        let timeout = Duration::from_secs(config.work_items.timeout_secs);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| format!("the webhook client cannot be built: {e}"))?;
        let smtp = if config.smtp.host.trim().is_empty() {
            None
        } else {
            Some(smtp(&config.smtp, timeout)?)
        };
        Ok(Sender {
            config: config.work_items.clone(),
            fallback: config.notify.fallback.clone(),
            templates: config.notify.templates()?,
            http,
            smtp,
        })
    }

    /// True when anything is configured to be sent.
    pub fn sends(&self) -> bool {
        let any = |d: &Delivery| {
            d.webhook.is_some() || !d.email_to.is_empty() || !d.escalate_to.is_empty()
        };
        any(&self.config.delivery(""))
            || self
                .config
                .systems
                .keys()
                .any(|s| any(&self.config.delivery(s)))
    }

    /// Marks what is overdue, then sends what has not been sent: each new item to the
    /// webhook, a digest per system to its administrators, and the overdue to the
    /// escalation addresses.
    pub async fn deliver(
        &self,
        store: &mut dyn Store,
        now: Timestamp,
        actor: &str,
    ) -> Result<Delivered, StoreError> {
        let mut out = Delivered {
            overdue: store.mark_overdue(now, actor)?.len(),
            ..Delivered::default()
        };
        for item in store.work_items_to_send(Channel::Webhook)? {
            let Some((url, token)) = self.config.delivery(&item.system).webhook else {
                continue;
            };
            match self.post(store, &item, &url, token.expose(), now).await? {
                Ok(()) => out.posted += 1,
                Err(e) => out
                    .failed
                    .push(format!("{} to {url}: {e}", item.reference())),
            }
        }
        for (channel, to_of) in [
            (
                Channel::Email,
                (|d: Delivery| d.email_to) as fn(Delivery) -> Vec<String>,
            ),
            (Channel::Escalation, |d: Delivery| d.escalate_to),
        ] {
            let mut by_system: BTreeMap<String, Vec<WorkItem>> = BTreeMap::new();
            for item in store.work_items_to_send(channel)? {
                by_system.entry(item.system.clone()).or_default().push(item);
            }
            for (system, items) in by_system {
                let to = to_of(self.config.delivery(&system));
                if to.is_empty() {
                    continue;
                }
                let refs: Vec<&WorkItem> = items.iter().collect();
                let mail = match channel {
                    Channel::Escalation => escalation(&system, &refs),
                    _ => digest(&system, &refs),
                };
                let result = self.mail(&to, &mail).await;
                for item in &items {
                    store.work_item_sent(
                        item.id,
                        channel,
                        result.as_ref().map(|_| ()).map_err(String::as_str),
                        now,
                    )?;
                }
                match result {
                    Ok(()) if channel == Channel::Email => out.emailed += items.len(),
                    Ok(()) => out.escalated += items.len(),
                    Err(e) => out
                        .failed
                        .push(format!("{system} email to {}: {e}", to.join(", "))),
                }
            }
        }
        Ok(out)
    }

    /// POSTs one item, retrying with backoff; every attempt is counted on the item.
    async fn post(
        &self,
        store: &mut dyn Store,
        item: &WorkItem,
        url: &str,
        token: &str,
        now: Timestamp,
    ) -> Result<Result<(), String>, StoreError> {
        let body = ticket(item);
        let key = format!("{}-{}", item.reference(), item.status.as_str());
        let mut delays = crate::retry::policy(
            Duration::from_millis(self.config.retry_min_ms),
            Duration::from_secs(30),
            Some(self.config.attempts.saturating_sub(1) as usize),
        )
        .build();
        loop {
            let mut request = self
                .http
                .post(url)
                .header("Idempotency-Key", &key)
                .json(&body);
            if !token.is_empty() {
                request = request.bearer_auth(token);
            }
            let result = match request.send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!("the service desk answered {}", r.status())),
                Err(e) => Err(format!("the service desk could not be reached: {e}")),
            };
            store.work_item_sent(
                item.id,
                Channel::Webhook,
                result.as_ref().map(|_| ()).map_err(String::as_str),
                now,
            )?;
            match (result, delays.next()) {
                (Ok(()), _) => return Ok(Ok(())),
                (Err(e), None) => return Ok(Err(e)),
                (Err(e), Some(wait)) => {
                    tracing::warn!(item = %item.reference(), error = %e, retry_in_ms = wait.as_millis() as u64, "work item not delivered; retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// `default`, or the trust's template of this `kind` filled in with `count` and the
    /// `list` lines.
    pub fn shape(&self, kind: &str, default: Mail, count: usize, list: &str) -> Mail {
        match self.templates.get(kind) {
            None => default,
            Some(t) => fill(t, count, list),
        }
    }

    /// `[notify] fallback`.
    pub fn fallback(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// True when a mail relay is configured.
    pub fn mails(&self) -> bool {
        self.smtp.is_some()
    }

    /// Sends one email to `to` through the relay.
    pub async fn mail(&self, to: &[String], mail: &Mail) -> Result<(), String> {
        use lettre::AsyncTransport;
        let Some((transport, from)) = &self.smtp else {
            return Err("[smtp] host is not set".into());
        };
        let mut builder = lettre::Message::builder()
            .from(from.clone())
            .subject(mail.subject.clone())
            .header(lettre::message::header::ContentType::TEXT_PLAIN);
        for address in to {
            let mailbox = address
                .parse::<lettre::message::Mailbox>()
                .map_err(|e| format!("\"{address}\" is not an email address: {e}"))?;
            builder = builder.to(mailbox);
        }
        let message = builder
            .body(mail.body.clone())
            .map_err(|e| format!("the email cannot be built: {e}"))?;
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("the mail relay refused or could not be reached: {e}"))
    }
}

/// A template filled in: the subject from its first line, the body after the blank line.
pub fn fill(template: &str, count: usize, list: &str) -> Mail {
    let text = template
        .replace("{count}", &count.to_string())
        .replace("{list}", list.trim_end_matches('\n'));
    let (first, rest) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    Mail {
        subject: first.trim_start_matches("Subject:").trim().to_string(),
        body: format!("{}\n", rest.trim_start_matches(['\r', '\n']).trim_end()),
    }
}

fn smtp(
    c: &SmtpConfig,
    timeout: Duration,
) -> Result<
    (
        lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
        lettre::message::Mailbox,
    ),
    String,
> {
    use lettre::AsyncSmtpTransport as T;
    let host = c.host.trim();
    let builder = match c.tls {
        SmtpTls::Starttls => T::<lettre::Tokio1Executor>::starttls_relay(host),
        SmtpTls::Tls => T::<lettre::Tokio1Executor>::relay(host),
        SmtpTls::None => Ok(T::<lettre::Tokio1Executor>::builder_dangerous(host)),
    }
    .map_err(|e| format!("[smtp] host \"{host}\": {e}"))?;
    let mut builder = builder.port(c.port).timeout(Some(timeout));
    if let Some(user) = &c.username {
        builder = builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
            user.clone(),
            c.password.expose().to_string(),
        ));
    }
    let from = c
        .from
        .parse::<lettre::message::Mailbox>()
        .map_err(|e| format!("[smtp] from \"{}\": {e}", c.from))?;
    Ok((builder.build(), from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::emis::Emis;
    use crate::connectors::export_file::Wording;
    use crate::connectors::smartcard::Positions;
    use crate::connectors::systmone::SystmOne;
    use crate::hr::{AssignmentStatus, IsoDate, SdsUserId};
    use crate::plan::Action;
    use crate::testkit::{assignment, d, person};

    /// Dr Amara Okafor, a GP from 1 December 2026 (smartcard 200009876204).
    fn gp(end: Option<&str>) -> crate::hr::Person {
        let mut p = person(
            "20004567",
            vec![assignment(
                "20004567-1",
                if end.is_some() {
                    AssignmentStatus::TerminateAssignment
                } else {
                    AssignmentStatus::ActiveAssignment
                },
                "Medical and Dental",
                "General Practitioner",
                "RX1 Primary Care",
                "2026-12-01",
                end,
            )],
        );
        p.title = Some("Dr".into());
        p.sds_user_id = Some(SdsUserId::parse("200009876204").unwrap());
        p.assignments[0].position_number = Some("P-0431".into());
        p
    }

    fn change(system: &str, account: Option<&str>, action: Action, rule: &str) -> Change {
        Change {
            system: system.into(),
            employee_number: "20004567".into(),
            account: account.map(str::to_string),
            action,
            rule: rule.into(),
            reason: "see the audit trail".into(),
        }
    }

    /// Joiner (create, role, enable), mover (new role, old role off) and leaver
    /// (disable) on one system, as the items its administrators receive.
    fn scenarios(
        system: &str,
        wording: &dyn Wording,
        account: &str,
        new: &str,
        old: &str,
    ) -> Vec<WorkItem> {
        let joiner = gp(None);
        let leaver = {
            let mut p = gp(Some("2027-03-31"));
            p.assignments[0].start_date = IsoDate(d("2019-04-01"));
            p
        };
        let grant = |e: &str| Action::Grant {
            entitlement: e.into(),
        };
        let revoke = |e: &str| Action::Revoke {
            entitlement: e.into(),
        };
        let steps = [
            (&joiner, change(system, None, Action::Create, "joiner")),
            (&joiner, change(system, None, grant(new), "gp")),
            (&joiner, change(system, None, Action::Enable, "joiner")),
            (
                &joiner,
                change(system, Some(account), grant(old), "partner"),
            ),
            (&joiner, change(system, Some(account), revoke(new), "gp")),
            (
                &leaver,
                change(system, Some(account), Action::Disable, "leaver"),
            ),
        ];
        let raised: Timestamp = "2026-11-27T16:00:00Z".parse().unwrap();
        steps
            .into_iter()
            .enumerate()
            .map(|(n, (p, c))| WorkItem {
                id: n as u64 + 1,
                system: c.system.clone(),
                employee_number: c.employee_number.clone(),
                account: c.account.clone(),
                action: c.action.to_string(),
                detail: wording.instruction(p, &c).unwrap(),
                status: crate::work::Status::Open,
                raised_at: raised,
                due_at: crate::work::due_at(raised, 5),
                closed_at: None,
                attempts: 0,
                delivered_at: None,
                emailed_at: None,
                escalated_at: None,
                last_error: None,
                change: Some(c),
            })
            .collect()
    }

    fn snapshot(items: &[WorkItem]) -> String {
        let mut out: String = items.iter().map(|i| format!("{}\n", ticket(i))).collect();
        let refs: Vec<&WorkItem> = items.iter().collect();
        let mail = digest(&items[0].system, &refs);
        out.push_str(&format!("Subject: {}\n\n{}", mail.subject, mail.body));
        out
    }

    /// The exact JSON and digest for joiner, mover and leaver items on each system, kept
    /// in `tests/snapshots/`; `UPDATE_SNAPSHOTS=1 cargo test` rewrites them after a
    /// deliberate change of wording (review the diff).
    #[test]
    fn work_items_read_as_the_snapshots_say() {
        let positions = Positions {
            org_code: Some("RX1".into()),
            held: Default::default(),
        };
        positions.remember(
            [
                (
                    ("200009876204".to_string(), "R0260".to_string()),
                    vec!["P-0431".to_string()],
                ),
                (
                    ("200009876204".to_string(), "B0264".to_string()),
                    vec!["P-0431".to_string()],
                ),
            ]
            .into_iter()
            .collect(),
        );
        let cases: [(&str, &dyn Wording, &str, &str, &str, &str); 3] = [
            (
                "emis",
                &Emis,
                "AOKAFOR1",
                "GP",
                "GP Partner",
                include_str!("../../tests/snapshots/work-items-emis.txt"),
            ),
            (
                "systmone",
                &SystmOne,
                "AOKAFOR",
                "Doctor",
                "Clinical Audit",
                include_str!("../../tests/snapshots/work-items-systmone.txt"),
            ),
            (
                "smartcard",
                &positions,
                "200009876204",
                "R0260",
                "B0360",
                include_str!("../../tests/snapshots/work-items-smartcard.txt"),
            ),
        ];
        for (system, wording, account, new, old, expected) in cases {
            let items = scenarios(system, wording, account, new, old);
            let got = snapshot(&items);
            if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
                std::fs::write(format!("tests/snapshots/work-items-{system}.txt"), &got).unwrap();
                continue;
            }
            assert_eq!(
                got, expected,
                "{system}: the wording changed; see the snapshot"
            );
            // Never a delete on a system that holds clinical history, whatever asks.
            let delete = change(system, Some(account), Action::Delete, "leaver-retention");
            assert!(wording.instruction(&gp(None), &delete).is_err(), "{system}");
        }
    }

    /// The escalation of an overdue item.
    #[test]
    fn an_escalation_names_the_item_its_age_and_what_to_do() {
        let items = scenarios("emis", &Emis, "AOKAFOR1", "GP", "GP Partner");
        let mail = escalation("emis", &[&items[5]]);
        assert_eq!(
            mail.subject,
            "[Turnstile] emis: 1 work item overdue (WI-000006)"
        );
        assert_eq!(
            mail.body,
            "1 work item on emis is past due: the system's export does not show the change\n\
             made. Please see that it is done, or find out why not.\n\n\
             WI-000006 raised 27/11/2026, due by the end of 04/12/2026\n  \
             Deactivate EMIS Web user AOKAFOR1 of Dr Amara Okafor (ESR 20004567): end the contract on 31/03/2027 — do not delete (clinical entries record the user-in-role)\n\n\
             What is overdue: turnstile work-items --system emis --status overdue\n"
        );
    }
}
