//! The core's view of one account on a target system (what midPoint calls a shadow):
//! what a connector or an export says exists. Plain data, no I/O.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

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
    pub entitlements: BTreeSet<String>,
    /// Where the account lives (an AD OU), when the system has such a thing.
    pub container: Option<String>,
    /// Person attributes the target holds and Turnstile keeps in step (`display_name`,
    /// `title`, `department`, `mail`, `manager` as the manager's employee number). Only the
    /// keys a connector reports are compared; an absent value is reported as "".
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// The account the core acts on when a person has several on one system: an enabled one
/// before a disabled one, then by name. The others are duplicates for a person to sort out;
/// Turnstile never picks one of them to disable on its own.
pub fn primary<'a>(accounts: &[&'a Account]) -> Option<&'a Account> {
    accounts
        .iter()
        .copied()
        .min_by(|a, b| (!a.enabled, &a.id).cmp(&(!b.enabled, &b.id)))
}
