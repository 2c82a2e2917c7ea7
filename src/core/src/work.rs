//! Work items: changes on systems with no API (EMIS Web, SystmOne, smartcard positions),
//! made by a person and verified by the system's own export.
//!
//! Pure rules only: whether an export shows a change done, what becomes of an item after a
//! fresh read, and when an item falls due. The store keeps the items; the engine reads the
//! export, asks these functions, and delivers.

use crate::account::Account;
use crate::plan::{Action, Change};
use jiff::Timestamp;
use jiff::civil::{Date, Weekday};

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Raised, waiting for the administrator.
    Open,
    /// Was confirmed, then an export showed the change undone: raised again.
    Reopened,
    /// Open past its due time: escalated.
    Overdue,
    /// The system's export shows the change done.
    Confirmed,
    /// No longer needed (the person's record changed before the item was done).
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Open,
        Status::Reopened,
        Status::Overdue,
        Status::Confirmed,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Reopened => "reopened",
            Status::Overdue => "overdue",
            Status::Confirmed => "confirmed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Still waiting for the administrator: open, reopened or overdue. While an item is
    /// active its change is never raised again.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Open | Status::Reopened | Status::Overdue)
    }
}

/// What a fresh export does to an active item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    Confirmed,
    Cancelled,
}

/// Whether `accounts` (a system's export, read just now) show `change` done.
///
/// A change to an account still to be created (no account name) shows on any account
/// linked to the person. A disable shows when the account is disabled or gone: either way
/// nobody can use it.
pub fn shows(change: &Change, accounts: &[Account]) -> bool {
    let linked: Vec<&Account> = accounts
        .iter()
        .filter(|a| a.employee_number.as_deref() == Some(change.employee_number.as_str()))
        .collect();
    let target: Vec<&Account> = match change.account.as_deref() {
        Some(id) => accounts
            .iter()
            .filter(|a| a.id.eq_ignore_ascii_case(id))
            .collect(),
        None => linked.clone(),
    };
    let any = |f: &dyn Fn(&Account) -> bool| target.iter().any(|a| f(a));
    let none = |f: &dyn Fn(&Account) -> bool| !target.iter().any(|a| f(a));
    match &change.action {
        Action::Create => !linked.is_empty(),
        Action::Delete => target.is_empty(),
        Action::Enable => any(&|a| a.enabled),
        Action::Disable => none(&|a| a.enabled),
        Action::Grant { entitlement } => {
            any(&|a| a.enabled && a.entitlements.contains(entitlement))
        }
        Action::Revoke { entitlement } => none(&|a| a.entitlements.contains(entitlement)),
        Action::Move { container } => any(&|a| a.container.as_deref() == Some(container)),
        Action::Update { attribute, value } => any(&|a| a.attributes.get(attribute) == Some(value)),
    }
}

/// What a fresh read of the system does to an active item for `change`: nothing while the
/// plan still wants the change; otherwise confirmed when the export shows it done, and
/// cancelled when it does not (the person's record changed and it is no longer needed).
pub fn settle(change: &Change, still_planned: bool, accounts: &[Account]) -> Option<Settle> {
    if still_planned {
        None
    } else if shows(change, accounts) {
        Some(Settle::Confirmed)
    } else {
        Some(Settle::Cancelled)
    }
}

/// When an item raised at `raised` falls due: the end of the `due_days`-th working day
/// (Monday to Friday, Europe/London) after the day it was raised. Bank holidays are not
/// known here; a trust that needs them counts them into `due_days`.
pub fn due_at(raised: Timestamp, due_days: u32) -> Timestamp {
    let mut day = crate::clock::today(raised);
    let mut left = due_days;
    while left > 0 {
        day = next_day(day);
        if !matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday) {
            left -= 1;
        }
    }
    crate::clock::start_of(next_day(day)).unwrap_or(Timestamp::MAX)
}

fn next_day(day: Date) -> Date {
    crate::clock::add_days(day, 1).unwrap_or(day)
}

/// Whether an active item due at `due` is overdue at `now`.
pub fn is_overdue(status: Status, due: Timestamp, now: Timestamp) -> bool {
    matches!(status, Status::Open | Status::Reopened) && now >= due
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Entitlements;

    fn account(id: &str, emp: &str, enabled: bool, ents: &[&str]) -> Account {
        Account {
            system: "emis".into(),
            id: id.into(),
            employee_number: Some(emp.into()),
            display_name: String::new(),
            enabled,
            last_logon: None,
            entitlements: Entitlements::from(
                ents.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
            ),
            container: None,
            attributes: Default::default(),
        }
    }

    fn change(account: Option<&str>, action: Action) -> Change {
        Change {
            system: "emis".into(),
            employee_number: "1".into(),
            account: account.map(str::to_string),
            action,
            rule: "r".into(),
            reason: "because".into(),
        }
    }

    #[test]
    fn an_export_shows_each_kind_of_change_done_or_not() {
        let on = [account("AOK", "1", true, &["GP"])];
        let off = [account("AOK", "1", false, &[])];
        let grant = |e: &str| Action::Grant {
            entitlement: e.into(),
        };
        let revoke = |e: &str| Action::Revoke {
            entitlement: e.into(),
        };
        assert!(shows(&change(None, Action::Create), &on));
        assert!(!shows(&change(None, Action::Create), &[]));
        assert!(shows(&change(Some("aok"), Action::Disable), &off));
        assert!(!shows(&change(Some("AOK"), Action::Disable), &on));
        assert!(
            shows(&change(Some("AOK"), Action::Disable), &[]),
            "gone is disabled"
        );
        assert!(shows(&change(Some("AOK"), Action::Enable), &on));
        assert!(!shows(&change(Some("AOK"), Action::Enable), &off));
        assert!(shows(&change(Some("AOK"), grant("GP")), &on));
        assert!(
            shows(&change(None, grant("GP")), &on),
            "a new account's role"
        );
        assert!(!shows(&change(Some("AOK"), grant("Nurse")), &on));
        assert!(shows(&change(Some("AOK"), revoke("Nurse")), &on));
        assert!(!shows(&change(Some("AOK"), revoke("GP")), &on));
        assert!(!shows(&change(Some("AOK"), Action::Delete), &off));
        assert!(shows(&change(Some("AOK"), Action::Delete), &[]));
    }

    #[test]
    fn an_item_settles_only_when_the_plan_no_longer_wants_its_change() {
        let off = [account("AOK", "1", false, &[])];
        let on = [account("AOK", "1", true, &[])];
        let disable = change(Some("AOK"), Action::Disable);
        assert_eq!(settle(&disable, true, &off), None);
        assert_eq!(settle(&disable, false, &off), Some(Settle::Confirmed));
        // A leaver rehired before the item was done: still enabled, no longer wanted.
        assert_eq!(settle(&disable, false, &on), Some(Settle::Cancelled));
    }

    #[test]
    fn due_counts_working_days_in_london() {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        // Friday 27 November 2026, 16:00: 2 working days → end of Tuesday 1 December.
        assert_eq!(
            due_at(t("2026-11-27T16:00:00Z"), 2),
            t("2026-12-02T00:00:00Z")
        );
        // 0 days: due at the end of the day it was raised.
        assert_eq!(
            due_at(t("2026-11-27T16:00:00Z"), 0),
            t("2026-11-28T00:00:00Z")
        );
        // British Summer Time: the end of the London day is 23:00 UTC.
        assert_eq!(
            due_at(t("2026-06-01T09:00:00Z"), 1),
            t("2026-06-02T23:00:00Z")
        );
        assert!(is_overdue(
            Status::Open,
            t("2026-12-02T00:00:00Z"),
            t("2026-12-02T00:00:00Z")
        ));
        assert!(!is_overdue(
            Status::Open,
            t("2026-12-02T00:00:00Z"),
            t("2026-12-01T23:59:59Z")
        ));
        assert!(!is_overdue(
            Status::Confirmed,
            t("2026-12-02T00:00:00Z"),
            t("2026-12-03T00:00:00Z")
        ));
        assert!(!is_overdue(
            Status::Overdue,
            t("2026-12-02T00:00:00Z"),
            t("2026-12-03T00:00:00Z")
        ));
    }
}
