//! Access review packs: per line manager, each of their staff's accounts and entitlements
//! with the reason for each, for the manager to mark keep or remove (CQC: permissions
//! reviewed at least quarterly and after staffing changes).
//!
//! Pure: people, accounts, the role model and `today` in, ordered lines out. A line
//! carries only what a manager needs to decide: who (name, job), where (system, account),
//! what (entitlement), whether it is used (last logon day) and why they have it.

use crate::account::Account;
use crate::explain::explain;
use crate::hr::{Lifecycle, Person};
use crate::policy::RoleModel;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;
use std::collections::BTreeMap;

/// One line of a pack: an account (no entitlement) or one entitlement on it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Line {
    pub employee_number: String,
    pub name: String,
    pub job: String,
    pub system: String,
    pub account: String,
    /// `None` for the line about the account itself.
    pub entitlement: Option<String>,
    pub enabled: bool,
    pub last_logon: Option<Date>,
    /// Why they have it: HR fact → rule → role, or that nothing grants it.
    pub reason: String,
    /// True when the role model grants it: removing it needs the HR record or the role
    /// model to change, or the next reconciliation gives it back.
    pub granted: bool,
}

/// The staff a manager reviews: people whose line manager they are, not yet left.
pub fn staff_of<'a>(manager: &str, people: &'a [Person], today: Date) -> Vec<&'a Person> {
    let mut out: Vec<&Person> = people
        .iter()
        .filter(|p| {
            p.line_manager
                .as_ref()
                .is_some_and(|m| m.as_str() == manager)
        })
        .filter(|p| p.employee_number.as_str() != manager)
        .filter(|p| p.lifecycle(today) != Lifecycle::Ended)
        .collect();
    out.sort_by(|a, b| a.employee_number.cmp(&b.employee_number));
    out
}

/// Every manager with staff to review, in order.
pub fn managers(people: &[Person], today: Date) -> Vec<String> {
    let mut out: Vec<String> = people
        .iter()
        .filter(|p| p.lifecycle(today) != Lifecycle::Ended)
        .filter_map(|p| p.line_manager.as_ref())
        .map(|m| m.as_str().to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The lines of one manager's pack. `accounts` is everyone's, by employee number
/// ([`crate::account::by_person`], built once for every pack); only the staff's are used.
pub fn pack(
    model: &RoleModel,
    staff: &[&Person],
    accounts: &BTreeMap<&str, Vec<&Account>>,
    today: Date,
    tz: &TimeZone,
) -> Vec<Line> {
    let mut out = Vec::new();
    for person in staff {
        let number = person.employee_number.as_str();
        let Some(mine) = accounts.get(number).filter(|m| !m.is_empty()) else {
            continue;
        };
        let e = explain(model, person, mine, &|_| false, today);
        let job = person
            .primary()
            .and_then(|a| a.position_title.as_deref().or(a.job_role.as_deref()))
            .unwrap_or_default()
            .to_string();
        for a in mine {
            let system = e.systems.iter().find(|s| s.system == a.system);
            let last_logon = a.last_logon.map(|t| t.to_zoned(tz.clone()).date());
            let (reason, granted) = match system {
                Some(s) => (
                    format!("{} ({})", s.reason, s.rule),
                    s.presence == crate::desired::Presence::Enabled,
                ),
                None => (
                    "no system of this name in the role model".to_string(),
                    false,
                ),
            };
            let line = |entitlement: Option<String>, reason: String, granted: bool| Line {
                employee_number: number.to_string(),
                name: person.display_name(),
                job: job.clone(),
                system: a.system.clone(),
                account: a.id.clone(),
                entitlement,
                enabled: a.enabled,
                last_logon,
                reason,
                granted,
            };
            out.push(line(None, reason, granted));
            for held in &a.entitlements {
                let grant = system.and_then(|s| s.grants.iter().find(|g| &g.entitlement == held));
                let (reason, granted) = match grant {
                    Some(g) => (
                        g.because
                            .iter()
                            .map(|c| c.describe(held))
                            .collect::<Vec<_>>()
                            .join("; "),
                        true,
                    ),
                    None => ("no current role grants it".to_string(), false),
                };
                out.push(line(Some(held.clone()), reason, granted));
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hr::EmployeeNumber;
    use crate::testkit::{account, d, model, nurse};

    #[test]
    fn a_pack_lists_each_account_and_entitlement_of_the_manager_s_staff_with_reasons() {
        let mut a = nurse("20000001");
        a.line_manager = Some(EmployeeNumber::parse("30000001").unwrap());
        let mut other = nurse("20000002");
        other.line_manager = Some(EmployeeNumber::parse("30000009").unwrap());
        let people = vec![a, other];
        let accounts = vec![
            account(
                "ad",
                "aokafor",
                Some("20000001"),
                true,
                &["GG-Nursing", "GG-Finance"],
            ),
            account("ad", "someone", Some("20000002"), true, &["GG-Nursing"]),
        ];
        let tz = TimeZone::get("Europe/London").unwrap();
        let staff = staff_of("30000001", &people, d("2026-11-23"));
        assert_eq!(staff.len(), 1);
        let index = crate::account::by_person(&accounts);
        let lines = pack(&model(), &staff, &index, d("2026-11-23"), &tz);
        let got: Vec<(Option<&str>, bool)> = lines
            .iter()
            .map(|l| (l.entitlement.as_deref(), l.granted))
            .collect();
        assert_eq!(
            got,
            vec![
                (None, true),
                (Some("GG-Finance"), false),
                (Some("GG-Nursing"), true)
            ]
        );
        assert!(
            lines[2]
                .reason
                .contains("→ rule registered-nursing → role ward_nurse → GG-Nursing"),
            "{}",
            lines[2].reason
        );
        assert_eq!(lines[1].reason, "no current role grants it");
        assert_eq!(managers(&people, d("2026-11-23")), ["30000001", "30000009"]);
    }
}
