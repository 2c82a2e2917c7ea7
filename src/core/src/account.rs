//! The core's view of one account on a target system (what midPoint calls a shadow):
//! what a connector or an export says exists. Plain data, no I/O.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Accounts indexed by the employee number they are linked to; unlinked ones are left out.
pub fn by_person(accounts: &[Account]) -> BTreeMap<&str, Vec<&Account>> {
    let mut out: BTreeMap<&str, Vec<&Account>> = BTreeMap::new();
    for a in accounts {
        if let Some(n) = a.employee_number.as_deref() {
            out.entry(n).or_default().push(a);
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The system id from the role model (`ad`, `emis`, ...).
    pub system: String,
    /// The account's name on that system (sAMAccountName, EMIS login, ...).
    pub id: String,
    /// The HR anchor linking the account to a person, if the system records one.
    pub employee_number: Option<String>,
    pub display_name: String,
    pub enabled: bool,
    /// Last logon, if the system reports it; `None` means never (or not reported).
    pub last_logon: Option<Timestamp>,
    pub entitlements: Entitlements,
    /// Where the account lives (an AD OU), when the system has such a thing.
    pub container: Option<String>,
    /// Person attributes the target holds and Turnstile keeps in step (`display_name`,
    /// `title`, `department`, `mail`, `manager` as the manager's employee number). Only the
    /// keys a connector reports are compared; an absent value is reported as "".
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// The attribute under which a connector reports an account's smartcard UUID (SDS user
/// id), for systems whose exports carry no ESR employee number (CIS positions, SystmOne).
pub const SDS_USER_ID: &str = "sds_user_id";

/// Each person's smartcard UUID to their employee number, for [`link_by_smartcard`].
pub fn smartcards(people: &[crate::hr::Person]) -> std::collections::BTreeMap<String, String> {
    people
        .iter()
        .filter_map(|p| {
            p.sds_user_id
                .as_ref()
                .map(|c| (c.to_string(), p.employee_number.to_string()))
        })
        .collect()
}

/// Links each account that carries no employee number but a smartcard UUID to the person
/// whose HR record has that UUID (`cards`: UUID → employee number). A UUID no person holds
/// leaves the account unlinked (an orphan for drift). Returns how many were linked.
pub fn link_by_smartcard(
    accounts: &mut [Account],
    cards: &std::collections::BTreeMap<String, String>,
) -> usize {
    let mut linked = 0;
    for a in accounts.iter_mut().filter(|a| a.employee_number.is_none()) {
        if let Some(emp) = a.attributes.get(SDS_USER_ID).and_then(|c| cards.get(c)) {
            a.employee_number = Some(emp.clone());
            linked += 1;
        }
    }
    linked
}

/// Re-anchors accounts held under a TRAC starter's provisional key to the ESR employee
/// number it was linked to (`links`: provisional → ESR). Returns (account id, the ESR
/// number) for each one moved, for the plan's `Update` of the anchor on the target.
pub fn relink(
    accounts: &mut [Account],
    links: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let mut moved = Vec::new();
    for a in accounts.iter_mut() {
        if let Some(new) = a.employee_number.as_deref().and_then(|n| links.get(n)) {
            moved.push((a.id.clone(), new.clone()));
            a.employee_number = Some(new.clone());
        }
    }
    moved
}

/// The change that writes an account's new anchor on its target.
pub fn reanchor(system: &str, account: &str, employee_number: &str) -> crate::plan::Change {
    crate::plan::Change {
        system: system.to_string(),
        employee_number: employee_number.to_string(),
        account: Some(account.to_string()),
        action: crate::plan::Action::Update {
            attribute: crate::plan::ANCHOR.to_string(),
            value: employee_number.to_string(),
        },
        rule: "starter-link".into(),
        reason: "the TRAC starter's prepared account, now theirs under their ESR employee number"
            .into(),
    }
}

/// The account the core acts on when a person has several on one system: an enabled one
/// before a disabled one, then by name. The others are duplicates for a person to sort out;
/// Turnstile never picks one of them to disable on its own.
pub fn primary<'a>(accounts: &[&'a Account]) -> Option<&'a Account> {
    primary_by(accounts, |a| (a.enabled, a.id.as_str()))
}

/// [`primary`] over any view of accounts, given each one's (enabled, name): drift holds
/// its accounts compactly, not as [`Account`]s, and picks by the same rule.
pub fn primary_by<'a, T: Copy>(accounts: &[T], key: impl Fn(T) -> (bool, &'a str)) -> Option<T> {
    accounts.iter().copied().min_by(|a, b| {
        let ((a_on, a_id), (b_on, b_id)) = (key(*a), key(*b));
        (!a_on, a_id).cmp(&(!b_on, b_id))
    })
}

/// An account's entitlements: sorted and free of duplicates. A sorted `Vec`, not a
/// `BTreeSet`: accounts hold a handful each, and a B-tree node per account costs about
/// 300 bytes, which at a national scale (7.5 million accounts) was gigabytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<String>", into = "Vec<String>")]
pub struct Entitlements(Vec<String>);

impl Entitlements {
    pub fn contains(&self, entitlement: &str) -> bool {
        self.position(entitlement).is_ok()
    }

    /// Adds an entitlement; false when it was already held.
    pub fn insert(&mut self, entitlement: String) -> bool {
        match self.position(&entitlement) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, entitlement);
                true
            }
        }
    }

    /// Removes an entitlement; false when it was not held.
    pub fn remove(&mut self, entitlement: &str) -> bool {
        match self.position(entitlement) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    fn position(&self, entitlement: &str) -> Result<usize, usize> {
        self.0
            .binary_search_by(|held| held.as_str().cmp(entitlement))
    }
}

impl From<Vec<String>> for Entitlements {
    fn from(mut v: Vec<String>) -> Self {
        v.sort();
        v.dedup();
        v.shrink_to_fit();
        Entitlements(v)
    }
}

impl From<Entitlements> for Vec<String> {
    fn from(e: Entitlements) -> Self {
        e.0
    }
}

impl FromIterator<String> for Entitlements {
    fn from_iter<I: IntoIterator<Item = String>>(iter: I) -> Self {
        Entitlements::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl<'a> IntoIterator for &'a Entitlements {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn with_card(mut a: Account, card: &str) -> Account {
        a.attributes.insert(SDS_USER_ID.into(), card.into());
        a
    }

    /// A set counts each entitlement once.
    #[test]
    fn entitlements_count_what_they_hold_once() {
        let none = Entitlements::default();
        assert!(none.is_empty());
        assert_eq!(none.len(), 0);
        let some: Entitlements = vec!["GG-B".to_string(), "GG-A".into(), "GG-B".into()].into();
        assert!(!some.is_empty());
        assert_eq!(some.len(), 2);
    }

    #[test]
    fn accounts_with_only_a_smartcard_are_linked_to_the_person_holding_it() {
        let mut holder = testkit::nurse("1001");
        holder.sds_user_id = Some(crate::hr::SdsUserId::parse("555000111222").unwrap());
        let people = vec![holder, testkit::nurse("1002")];
        let cards = smartcards(&people);
        assert_eq!(
            cards,
            BTreeMap::from([("555000111222".to_string(), "1001".to_string())])
        );
        let mut accounts = vec![
            with_card(
                testkit::account("cis", "pos-1", None, true, &[]),
                "555000111222",
            ),
            // Already anchored: left as it is, whatever its card says.
            with_card(
                testkit::account("cis", "pos-2", Some("1002"), true, &[]),
                "555000111222",
            ),
            // A card nobody in HR holds: an orphan for drift.
            with_card(testkit::account("cis", "pos-3", None, true, &[]), "999"),
            testkit::account("cis", "pos-4", None, true, &[]),
        ];
        assert_eq!(link_by_smartcard(&mut accounts, &cards), 1);
        let numbers: Vec<Option<&str>> = accounts
            .iter()
            .map(|a| a.employee_number.as_deref())
            .collect();
        assert_eq!(numbers, [Some("1001"), Some("1002"), None, None]);
        assert_eq!(link_by_smartcard(&mut accounts, &cards), 0, "linked once");
    }

    #[test]
    fn a_starters_accounts_move_to_their_esr_number() {
        let links = BTreeMap::from([("TRAC-77".to_string(), "2001".to_string())]);
        let mut accounts = vec![
            testkit::account("ad", "jstarter", Some("TRAC-77"), false, &[]),
            testkit::account("ad", "other", Some("2002"), true, &[]),
            testkit::account("nhsmail", "j.starter", Some("TRAC-77"), false, &[]),
        ];
        let moved = relink(&mut accounts, &links);
        assert_eq!(
            moved,
            [
                ("jstarter".to_string(), "2001".to_string()),
                ("j.starter".to_string(), "2001".to_string())
            ]
        );
        let numbers: Vec<Option<&str>> = accounts
            .iter()
            .map(|a| a.employee_number.as_deref())
            .collect();
        assert_eq!(numbers, [Some("2001"), Some("2002"), Some("2001")]);
        assert!(relink(&mut accounts, &links).is_empty(), "moved once");
    }

    proptest! {
        /// Behaves exactly as the ordered set it replaced.
        #[test]
        fn behaves_as_an_ordered_set(ops in proptest::collection::vec((any::<bool>(), "[a-e]{1,2}"), 0..40)) {
            let mut ours = Entitlements::default();
            let mut model = BTreeSet::new();
            for (add, e) in ops {
                if add {
                    prop_assert_eq!(ours.insert(e.clone()), model.insert(e));
                } else {
                    prop_assert_eq!(ours.remove(&e), model.remove(&e));
                }
                prop_assert_eq!(ours.iter().cloned().collect::<Vec<_>>(), model.iter().cloned().collect::<Vec<_>>());
                prop_assert!(model.iter().all(|m| ours.contains(m)));
            }
            let json = serde_json::to_string(&ours).unwrap();
            prop_assert_eq!(serde_json::from_str::<Entitlements>(&json).unwrap(), ours);
        }
    }
}
