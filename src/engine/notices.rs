//! Emails to people about people — line managers about their staff's unused accounts,
//! sponsors about ends, hiring managers about starters who will not start — sent one per
//! recipient per run, in the trust's wording where it has some, and recorded only once the
//! relay took them. One mechanism for every kind.

use super::work::{Mail, Sender};
use crate::hr::Person;
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;

/// What one kind of notice did in a run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Notices sent and recorded.
    pub recorded: usize,
    /// Emails that could not be sent (tried again next run).
    pub failed: Vec<String>,
    /// Notices due that no relay is configured to send.
    pub no_relay: usize,
}

/// The work email of `person`'s line manager (or sponsor, or hiring manager: whoever
/// ESR, TRAC or the sponsored feed names), when their own record gives one.
pub fn manager_email(person: &Person, by_number: &BTreeMap<&str, &Person>) -> Option<String> {
    person
        .line_manager
        .as_ref()
        .and_then(|m| by_number.get(m.as_str()))
        .and_then(|m| m.work_email.as_deref().map(str::to_string))
        .filter(|e| !e.trim().is_empty())
}

/// Whether the trail already holds an entry of `action` about `employee_number` (whose
/// reason contains `marker`, when given): a notice is sent once.
pub fn told(
    store: &dyn Store,
    employee_number: &str,
    action: crate::audit::Action,
    marker: Option<&str>,
) -> Result<bool, StoreError> {
    let action = action.to_string();
    Ok(store
        .audit(&crate::store::AuditFilter {
            employee_number: Some(employee_number.to_string()),
            since: None,
        })?
        .iter()
        .any(|e| e.draft.action == action && marker.is_none_or(|m| e.draft.reason.contains(m))))
}

/// One kind of notice: its template name, its lines and its default wording.
pub struct Kind<T> {
    /// The template's name in `[notify] templates`, and the word in error messages.
    pub name: &'static str,
    /// The recipient of one item; `None`: `[notify] fallback`.
    pub to: fn(&T) -> Option<String>,
    /// One item's line of the list.
    pub line: fn(&T) -> String,
    /// Turnstile's own email for a group (built from the same lines).
    pub mail: fn(&[&T]) -> Mail,
}

/// Sends one email per recipient for `items` and, for each group the relay accepted,
/// calls `record` (with whether it went to the fallback address) so the sending is in
/// the trail. A group that could not be sent is not recorded and is tried again next run.
pub async fn send<T>(
    sender: Option<&Sender>,
    kind: &Kind<T>,
    items: &[T],
    mut record: impl FnMut(&[&T], bool) -> Result<(), StoreError>,
) -> Result<Sent, StoreError> {
    let mut out = Sent::default();
    if items.is_empty() {
        return Ok(out);
    }
    let Some(sender) = sender else {
        out.no_relay = items.len();
        return Ok(out);
    };
    let mut groups: BTreeMap<Option<String>, Vec<&T>> = BTreeMap::new();
    for item in items {
        groups.entry((kind.to)(item)).or_default().push(item);
    }
    for (to, group) in groups {
        let Some(address) = to.clone().or_else(|| sender.fallback().map(str::to_string)) else {
            out.failed.push(format!(
                "{} {} notice(s) with no one's email to send them to: set [notify] fallback",
                group.len(),
                kind.name
            ));
            continue;
        };
        let list: String = group.iter().map(|i| (kind.line)(i)).collect();
        let mail = sender.shape(kind.name, (kind.mail)(&group), group.len(), &list);
        if let Err(e) = sender.mail(std::slice::from_ref(&address), &mail).await {
            out.failed
                .push(format!("{} notice to {address}: {e}", kind.name));
            continue;
        }
        record(&group, to.is_none())?;
        out.recorded += group.len();
    }
    Ok(out)
}
