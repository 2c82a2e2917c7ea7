//! The first-rollout survey: before Turnstile changes anything on a system, every HR
//! person and every account put in one situation each, with counts, for the people who
//! switch it on (`turnstile onboard`). Pure: it only reads what it is given.

use super::{Index, Settings, Situation, correlate, unlinked};
use crate::account::Account;
use crate::desired::Presence;
use crate::hr::Person;
use crate::naming::Naming;
use crate::plan::Abilities;
use crate::policy::RoleModel;
use jiff::civil::Date;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One person's situation on the system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonRow {
    pub employee_number: String,
    pub name: String,
    /// `linked` (by anchor), `strong`, `disputed`, `no_candidate` (an account would be
    /// created), `no_account` (their role wants none here).
    pub class: &'static str,
    /// The linked account, or the candidates with what matched each.
    pub accounts: Vec<String>,
}

/// One account's situation on the system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountRow {
    pub account: String,
    pub display_name: String,
    pub enabled: bool,
    /// `linked`, `strong_match`, `disputed_candidate`, `orphan` (an anchor no HR person
    /// has), `generic` (a shared login by its name), `unmatched` (no anchor, nobody's).
    pub class: &'static str,
    /// The person it is linked or matched to (several for a disputed candidate).
    pub employee_numbers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Survey {
    pub system: String,
    pub people: Vec<PersonRow>,
    pub accounts: Vec<AccountRow>,
    /// Rows per class, people and accounts apart.
    pub people_by_class: BTreeMap<&'static str, usize>,
    pub accounts_by_class: BTreeMap<&'static str, usize>,
}

/// What the survey needs of the system.
pub struct Target<'a> {
    pub system: &'a str,
    pub settings: &'a Settings,
    pub naming: Option<&'a Naming>,
    pub abilities: &'a Abilities,
    /// Threads correlation may use at once (the answer is the same with one).
    pub workers: usize,
}

/// Classifies every person and every account of one system, touching nothing.
pub fn survey(
    model: &RoleModel,
    people: &[Person],
    accounts: &[Account],
    target: &Target<'_>,
    refused: &BTreeMap<String, BTreeSet<String>>,
    today: Date,
) -> Survey {
    let by_person = crate::account::by_person(accounts);
    let mut rows = Vec::with_capacity(people.len());
    let mut creating: Vec<&Person> = Vec::new();
    for p in people {
        let number = p.employee_number.as_str();
        let mine = by_person.get(number).map_or(&[][..], Vec::as_slice);
        if !mine.is_empty() {
            rows.push(PersonRow {
                employee_number: number.to_string(),
                name: p.display_name(),
                class: "linked",
                accounts: mine.iter().map(|a| a.id.clone()).collect(),
            });
            continue;
        }
        // With no account there, a create is planned exactly when the person should have
        // one (enabled, or prepared before their start): the desired view says so without
        // planning every grant.
        let wants = crate::desired::desired_views_on(p, model, today, Some(target.system))
            .iter()
            .any(|v| matches!(v.presence, Presence::Enabled | Presence::Prepared));
        if wants {
            creating.push(p);
        } else {
            rows.push(PersonRow {
                employee_number: number.to_string(),
                name: p.display_name(),
                class: "no_account",
                accounts: Vec::new(),
            });
        }
    }
    let known: BTreeSet<&str> = people.iter().map(|p| p.employee_number.as_str()).collect();
    let mut claims: BTreeMap<String, (bool, BTreeSet<String>)> = BTreeMap::new();
    if target.settings.enabled() {
        let ix = Index::new(accounts, target.settings, target.naming);
        let by_number: BTreeMap<&str, &Person> = creating
            .iter()
            .map(|p| (p.employee_number.as_str(), *p))
            .collect();
        for (number, s) in correlate(&ix, &creating, refused, target.workers) {
            let strong = matches!(s, Situation::Strong { .. });
            for c in s.candidates() {
                let e = claims.entry(c.account.to_lowercase()).or_default();
                e.0 |= strong && c.strong;
                e.1.insert(number.to_string());
            }
            let person = by_number.get(number);
            rows.push(PersonRow {
                employee_number: number.to_string(),
                name: person.map(|p| p.display_name()).unwrap_or_default(),
                class: s.name(),
                accounts: s
                    .candidates()
                    .iter()
                    .map(|c| format!("{} ({})", c.account, c.evidence()))
                    .collect(),
            });
        }
    } else {
        for p in creating {
            rows.push(PersonRow {
                employee_number: p.employee_number.to_string(),
                name: p.display_name(),
                class: "no_candidate",
                accounts: Vec::new(),
            });
        }
    }
    rows.sort_by(|a, b| a.employee_number.cmp(&b.employee_number));
    let policy = model.systems.get(target.system);
    let account_rows: Vec<AccountRow> = accounts
        .iter()
        .map(|a| {
            let claim = claims.get(&a.id.to_lowercase());
            let (class, numbers) = match (&a.employee_number, claim) {
                (Some(n), _) if !unlinked(a) && known.contains(n.as_str()) => {
                    ("linked", vec![n.clone()])
                }
                (_, Some((true, who))) => ("strong_match", who.iter().cloned().collect()),
                (_, Some((false, who))) => ("disputed_candidate", who.iter().cloned().collect()),
                (Some(n), None) if !unlinked(a) => ("orphan", vec![n.clone()]),
                _ if model.looks_generic(&a.id, &a.display_name)
                    || policy.is_some_and(|_| model.is_approved_generic(target.system, &a.id)) =>
                {
                    ("generic", Vec::new())
                }
                _ => ("unmatched", Vec::new()),
            };
            AccountRow {
                account: a.id.clone(),
                display_name: a.display_name.clone(),
                enabled: a.enabled,
                class,
                employee_numbers: numbers,
            }
        })
        .collect();
    let mut people_by_class = BTreeMap::new();
    for r in &rows {
        *people_by_class.entry(r.class).or_default() += 1;
    }
    let mut accounts_by_class = BTreeMap::new();
    for r in &account_rows {
        *accounts_by_class.entry(r.class).or_default() += 1;
    }
    Survey {
        system: target.system.to_string(),
        people: rows,
        accounts: account_rows,
        people_by_class,
        accounts_by_class,
    }
}
