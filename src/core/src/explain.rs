//! Explain one person (`turnstile explain N`, `plan --person N`): for each system, the HR
//! facts behind what they should have, and for each entitlement and change the chain
//! HR fact (assignment, status, dates) → rule → role → entitlement. A removal names the
//! fact that ended it: the assignment that granted it and the day it ended, the leaving
//! date, the absence, or that no current rule grants it.
//!
//! Pure: person, role model, accounts and `today` in, an ordered explanation out.

use crate::account::Account;
use crate::desired::{DesiredAccount, Why, desired_state};
use crate::hr::{Assignment, Lifecycle, Person};
use crate::plan::{Action, Change, plan_account};
use crate::policy::RoleModel;
use jiff::civil::Date;
use serde::Serialize;

/// One assignment as a fact: what HR says, and where it stands today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssignmentFact {
    pub assignment: String,
    pub primary: bool,
    pub status: String,
    pub lifecycle: Lifecycle,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position_title: Option<crate::hr::Shared>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff_group: Option<crate::hr::Shared>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_role: Option<crate::hr::Shared>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation: Option<crate::hr::Shared>,
    pub start_date: Date,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_date: Option<Date>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaving_reason: Option<crate::hr::Shared>,
}

impl AssignmentFact {
    fn of(a: &Assignment, today: Date) -> AssignmentFact {
        AssignmentFact {
            assignment: a.assignment_number.as_str().to_string(),
            primary: a.primary,
            status: a.status.as_str().to_string(),
            lifecycle: a.lifecycle(today),
            position_title: a.position_title.clone(),
            staff_group: a.staff_group.clone(),
            job_role: a.job_role.clone(),
            organisation: a.organisation.clone(),
            start_date: a.start_date.0,
            end_date: a.end_date.map(|d| d.0),
            leaving_reason: a.leaving_reason.clone(),
        }
    }

    /// "assignment 123-1 (Staff Nurse, Active Assignment, 2021-04-01 to 2026-10-31)".
    pub fn describe(&self) -> String {
        let mut what = Vec::new();
        if let Some(t) = &self.position_title {
            what.push(t.to_string());
        }
        what.push(self.status.clone());
        let dates = match self.end_date {
            Some(end) => format!("{} to {end}", self.start_date),
            None => format!("from {}", self.start_date),
        };
        what.push(dates);
        format!("assignment {} ({})", self.assignment, what.join(", "))
    }
}

/// Why one entitlement is wanted: each grant's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub entitlement: String,
    pub held: bool,
    pub because: Vec<Chain>,
}

/// HR fact → rule → role → entitlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chain {
    pub fact: String,
    pub rule: String,
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Date>,
}

impl Chain {
    fn of(why: &Why, person: &Person, today: Date) -> Chain {
        let fact = person
            .assignments
            .iter()
            .find(|a| a.assignment_number.as_str() == why.assignment)
            .map_or_else(
                || format!("assignment {}", why.assignment),
                |a| AssignmentFact::of(a, today).describe(),
            );
        Chain {
            fact,
            rule: why.rule.clone(),
            role: why.role.clone(),
            until: why.until,
        }
    }

    pub fn describe(&self, entitlement: &str) -> String {
        let mut s = format!(
            "{} → rule {} → role {} → {entitlement}",
            self.fact, self.rule, self.role
        );
        if let Some(until) = self.until {
            s.push_str(&format!(" (kept for handover until {until})"));
        }
        s
    }
}

/// A planned change with the fact behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExplainedChange {
    #[serde(flatten)]
    pub change: Change,
    /// The HR fact that asks for it (for a removal: what ended the access).
    pub because: String,
}

/// One system: what the person should have there and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemExplanation {
    pub system: String,
    pub presence: crate::desired::Presence,
    /// The lifecycle rule behind the presence (`active`, `leaver`, `absence`, …).
    pub rule: String,
    pub reason: String,
    /// The accounts linked to the person there.
    pub accounts: Vec<String>,
    pub grants: Vec<Grant>,
    pub changes: Vec<ExplainedChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub employee_number: String,
    pub today: Date,
    pub lifecycle: Lifecycle,
    pub assignments: Vec<AssignmentFact>,
    pub systems: Vec<SystemExplanation>,
}

/// The explanation of one person on `today`. `accounts` are theirs (on any system);
/// `read` says which systems' accounts are known: on the others no change is planned
/// (planning against accounts never read would call for a create).
pub fn explain(
    model: &RoleModel,
    person: &Person,
    accounts: &[&Account],
    read: &dyn Fn(&str) -> bool,
    today: Date,
) -> Explanation {
    let systems = desired_state(person, model, today)
        .into_iter()
        .map(|desired| system(model, person, &desired, accounts, read, today))
        .collect();
    Explanation {
        employee_number: person.employee_number.as_str().to_string(),
        today,
        lifecycle: person.lifecycle(today),
        assignments: person
            .assignments
            .iter()
            .map(|a| AssignmentFact::of(a, today))
            .collect(),
        systems,
    }
}

fn system(
    model: &RoleModel,
    person: &Person,
    desired: &DesiredAccount,
    accounts: &[&Account],
    read: &dyn Fn(&str) -> bool,
    today: Date,
) -> SystemExplanation {
    let here: Vec<&Account> = accounts
        .iter()
        .copied()
        .filter(|a| a.system == desired.system)
        .collect();
    let primary = crate::account::primary(&here);
    let grants = desired
        .entitlements
        .iter()
        .flatten()
        .map(|(e, whys)| Grant {
            entitlement: e.clone(),
            held: primary.is_some_and(|a| a.entitlements.contains(e)),
            because: whys.iter().map(|w| Chain::of(w, person, today)).collect(),
        })
        .collect();
    let changes = if read(&desired.system) {
        plan_account(model, person.employee_number.as_str(), desired, &here)
            .into_iter()
            .map(|change| {
                let because = because(model, person, desired, &change, today);
                ExplainedChange { change, because }
            })
            .collect()
    } else {
        Vec::new()
    };
    SystemExplanation {
        system: desired.system.clone(),
        presence: desired.presence,
        rule: desired.rule.clone(),
        reason: desired.reason.clone(),
        accounts: here.iter().map(|a| a.id.clone()).collect(),
        grants,
        changes,
    }
}

/// The HR fact behind one change.
fn because(
    model: &RoleModel,
    person: &Person,
    desired: &DesiredAccount,
    change: &Change,
    today: Date,
) -> String {
    let wanted = |e: &str| {
        desired
            .entitlements
            .as_ref()
            .and_then(|m| m.get(e))
            .map(|whys| {
                whys.iter()
                    .map(|w| Chain::of(w, person, today).describe(e))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
    };
    match &change.action {
        Action::Grant { entitlement } => {
            wanted(entitlement).unwrap_or_else(|| desired.reason.clone())
        }
        Action::Revoke { entitlement } => {
            ended_grant(model, person, &desired.system, entitlement, today).unwrap_or_else(|| {
                format!(
                    "no current assignment's rule grants {entitlement} on {} ({})",
                    desired.system, desired.reason
                )
            })
        }
        Action::Disable | Action::Delete => match person.lifecycle(today) {
            Lifecycle::Ended => {
                let last = person
                    .last_working_day()
                    .map_or_else(|| "no end date given".to_string(), |d| d.to_string());
                let ended: Vec<String> = person
                    .assignments
                    .iter()
                    .map(|a| AssignmentFact::of(a, today).describe())
                    .collect();
                format!("left: last working day {last}; {}", ended.join("; "))
            }
            Lifecycle::Absent | Lifecycle::Suspended => {
                let away: Vec<String> = person
                    .assignments
                    .iter()
                    .filter(|a| {
                        matches!(a.lifecycle(today), Lifecycle::Absent | Lifecycle::Suspended)
                    })
                    .map(|a| AssignmentFact::of(a, today).describe())
                    .collect();
                format!("away: {}", away.join("; "))
            }
            Lifecycle::Future => format!(
                "not started: first day {}",
                person
                    .first_day()
                    .map_or_else(|| "unknown".to_string(), |d| d.to_string())
            ),
            Lifecycle::Active => desired.reason.clone(),
        },
        _ => desired.reason.clone(),
    }
}

/// The assignment that granted `entitlement` until it ended: desired state on its last
/// day says which rule and role gave it.
fn ended_grant(
    model: &RoleModel,
    person: &Person,
    system: &str,
    entitlement: &str,
    today: Date,
) -> Option<String> {
    person
        .assignments
        .iter()
        .filter_map(|a| a.last_day().filter(|end| *end < today).map(|end| (a, end)))
        .find_map(|(a, end)| {
            let then = desired_state(person, model, end);
            let whys = then
                .iter()
                .find(|d| d.system == system)?
                .entitlements
                .as_ref()?
                .get(entitlement)?
                .clone();
            let why = whys
                .iter()
                .find(|w| w.assignment == a.assignment_number.as_str())?;
            Some(format!(
                "{} ended on {end}: it granted {entitlement} by rule {} → role {}",
                AssignmentFact::of(a, today).describe(),
                why.rule,
                why.role
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hr::{AssignmentStatus, IsoDate};
    use crate::testkit::{account, d, model, nurse};

    #[test]
    fn a_grant_and_a_removal_each_name_the_fact_rule_and_role() {
        let m = model();
        let mut p = nurse("20000001");
        let mut old = p.assignments[0].clone();
        old.assignment_number = crate::hr::NonBlank::parse("20000001-0").unwrap();
        old.primary = false;
        old.staff_group = Some("Allied Health Professionals".into());
        old.job_role = Some("Physiotherapist".into());
        old.position_title = Some("Physiotherapist".into());
        old.end_date = Some(IsoDate(d("2026-06-30")));
        old.status = AssignmentStatus::TerminateAssignment;
        p.assignments.push(old);
        let a = account(
            "ad",
            "aokafor",
            Some("20000001"),
            true,
            &["GG-AllStaff", "GG-AHP"],
        );
        let e = explain(&m, &p, &[&a], &|_| true, d("2026-11-23"));
        let ad = e.systems.iter().find(|s| s.system == "ad").unwrap();
        let grant = ad
            .changes
            .iter()
            .find(|c| matches!(&c.change.action, Action::Grant { entitlement } if entitlement == "GG-Nursing"))
            .expect("a grant of GG-Nursing");
        assert!(
            grant.because.contains("assignment 20000001-1"),
            "{}",
            grant.because
        );
        assert!(grant.because.contains("→ rule "), "{}", grant.because);
        assert!(grant.because.contains("→ role "), "{}", grant.because);
        let revoke = ad
            .changes
            .iter()
            .find(|c| matches!(&c.change.action, Action::Revoke { entitlement } if entitlement == "GG-AHP"))
            .expect("a revoke of GG-AHP");
        assert!(
            revoke.because.starts_with(
                "assignment 20000001-0 (Physiotherapist, Terminate Assignment, 2019-04-01 to 2026-06-30) ended on 2026-06-30: it granted GG-AHP by rule allied-health → role allied_health"
            ),
            "{}",
            revoke.because
        );
        assert_eq!(e.assignments.len(), 2);
        assert_eq!(e.assignments[1].lifecycle, Lifecycle::Ended);
        // Systems never read plan nothing.
        let none = explain(&m, &p, &[&a], &|_| false, d("2026-11-23"));
        assert!(none.systems.iter().all(|s| s.changes.is_empty()));
    }

    #[test]
    fn a_leaver_s_disable_names_the_last_working_day() {
        let m = model();
        let mut p = nurse("20000002");
        p.assignments[0].status = AssignmentStatus::TerminateAssignment;
        p.assignments[0].end_date = Some(IsoDate(d("2026-10-31")));
        let a = account("ad", "leaver", Some("20000002"), true, &["GG-AllStaff"]);
        let e = explain(&m, &p, &[&a], &|_| true, d("2026-11-23"));
        let ad = e.systems.iter().find(|s| s.system == "ad").unwrap();
        let disable = ad
            .changes
            .iter()
            .find(|c| c.change.action == Action::Disable)
            .expect("a disable");
        assert!(
            disable
                .because
                .starts_with("left: last working day 2026-10-31"),
            "{}",
            disable.because
        );
    }
}
