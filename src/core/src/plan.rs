//! The plan: (desired, actual) → the ordered changes that make the actual account what
//! the role model says, each with its reason.
//!
//! Pure: no clock, no I/O. Planning again on the result of applying a plan gives no
//! changes (a property test holds this). Deletion is only ever planned on systems whose
//! role model allows it, and never on one that holds clinical history.

use crate::account::{Account, primary};
use crate::desired::{DesiredAccount, DesiredView, Grants, Presence, Why, WhyRef};
use crate::policy::RoleModel;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One step on one account.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Create the account (disabled; an `Enable` follows when it should be usable).
    Create,
    Disable,
    Revoke {
        entitlement: String,
    },
    Grant {
        entitlement: String,
    },
    Move {
        container: String,
    },
    /// Set a person attribute (`display_name`, `title`, `department`, `mail`, `manager`).
    Update {
        attribute: String,
        value: String,
    },
    Enable,
    Delete,
}

/// What a target can do, as the planner needs to know it: a change of a kind the target
/// cannot make is never planned for it ([`Abilities::permits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abilities {
    pub delete: bool,
    pub move_accounts: bool,
    pub groups: bool,
    pub attributes: bool,
}

impl Abilities {
    /// A target that can do everything.
    pub const ALL: Abilities = Abilities {
        delete: true,
        move_accounts: true,
        groups: true,
        attributes: true,
    };

    /// True when the target can make this kind of change. Create, enable and disable are
    /// what every target does.
    pub fn permits(&self, action: &Action) -> bool {
        match action {
            Action::Create | Action::Enable | Action::Disable => true,
            Action::Grant { .. } | Action::Revoke { .. } => self.groups,
            Action::Move { .. } => self.move_accounts,
            Action::Update { .. } => self.attributes,
            Action::Delete => self.delete,
        }
    }
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Disable => "disable",
            Action::Revoke { .. } => "revoke",
            Action::Grant { .. } => "grant",
            Action::Move { .. } => "move",
            Action::Update { .. } => "update",
            Action::Enable => "enable",
            Action::Delete => "delete",
        }
    }

    /// True for a change that takes access away (disable, revoke, delete): what the
    /// mass-change guards count.
    pub fn takes_access(&self) -> bool {
        matches!(
            self,
            Action::Disable | Action::Revoke { .. } | Action::Delete
        )
    }

    /// The entitlement or container the action is about, if any.
    pub fn object(&self) -> Option<&str> {
        match self {
            Action::Revoke { entitlement } | Action::Grant { entitlement } => Some(entitlement),
            Action::Move { container } => Some(container),
            Action::Update { attribute, .. } => Some(attribute),
            _ => None,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.object() {
            Some(o) => write!(f, "{} {o}", self.name()),
            None => f.write_str(self.name()),
        }
    }
}

/// The attribute an `Update` re-anchors an account with: the HR key the target holds
/// (`employeeID` in AD, the enterprise `employeeNumber` in SCIM).
pub const ANCHOR: &str = "employee_number";

/// What a reconciliation adds to the reason of a change that undoes a change made to the
/// target outside Turnstile since it was last read (`evidence` counts them).
pub const CHANGED_OUTSIDE: &str = "undoes a change made outside Turnstile since the last read";

/// A planned change with everything the audit trail needs to say why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub system: String,
    pub employee_number: String,
    /// The account acted on; `None` for an account still to be created.
    pub account: Option<String>,
    #[serde(flatten)]
    pub action: Action,
    /// The rule behind the change: a role rule id, or a lifecycle rule such as `leaver`.
    pub rule: String,
    pub reason: String,
}

impl Change {
    /// Appends the change as a forecast names it, `action [on account] (rule R)`: what an
    /// HR record's entry plans and what `apply.started` announces.
    pub fn name_into(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(out, "{}", self.action);
        if let Some(account) = &self.account {
            let _ = write!(out, " on {account}");
        }
        let _ = write!(out, " (rule {})", self.rule);
    }
}

/// The changes for one person on one system. `actual` are the accounts linked to the
/// person there.
///
/// A person in post is served by one account (the [`primary`] one); any others are
/// duplicates for a person to resolve, never disabled on a guess. Everything that takes
/// access away (leaver, absence, no role, not started yet) applies to every linked account,
/// so a leaver with two accounts loses both.
pub fn plan_account(
    model: &RoleModel,
    employee_number: &str,
    desired: &DesiredAccount,
    actual: &[&Account],
) -> Vec<Change> {
    let wanted = Wanted {
        system: &desired.system,
        presence: desired.presence,
        rule: &desired.rule,
        reason: &desired.reason,
        entitlements: desired.entitlements.as_ref().map(Entitlements::Owned),
        container: desired.container.as_deref(),
        attributes: &desired.attributes,
        words: true,
    };
    plan_wanted(model, employee_number, &wanted, actual)
}

/// What one system's account should be, as the plan reads it: borrowed from a
/// [`DesiredAccount`] or from a [`DesiredView`] and the person's attributes, so the rules
/// are written once and planning a person copies nothing it does not change.
struct Wanted<'a> {
    system: &'a str,
    presence: Presence,
    rule: &'a str,
    reason: &'a str,
    /// `None` means leave them as they are.
    entitlements: Option<Entitlements<'a>>,
    container: Option<&'a str>,
    attributes: &'a BTreeMap<String, String>,
    /// Whether changes carry their reasons in words (not for a forecast that only names
    /// them: formatting a reason per grant was a fifth of recording an HR event).
    words: bool,
}

impl<'a> Wanted<'a> {
    fn view(
        view: &'a DesiredView<'a>,
        attributes: &'a BTreeMap<String, String>,
        words: bool,
    ) -> Self {
        Wanted {
            words,
            system: view.system,
            presence: view.presence,
            rule: view.rule,
            reason: &view.reason,
            entitlements: view.entitlements.as_ref().map(Entitlements::Borrowed),
            container: view.container,
            attributes,
        }
    }
}

/// Wanted entitlements with their reasons, in either form; both are in entitlement order
/// with each entitlement's reasons in order, so a plan reads the same from either.
#[derive(Clone, Copy)]
enum Entitlements<'a> {
    Owned(&'a BTreeMap<String, Vec<Why>>),
    Borrowed(&'a Grants<'a>),
}

impl Entitlements<'_> {
    fn contains(&self, entitlement: &str) -> bool {
        match self {
            Entitlements::Owned(m) => m.contains_key(entitlement),
            Entitlements::Borrowed(g) => g.contains(entitlement),
        }
    }

    /// Each wanted entitlement in order, with the rule of its first reason and (with
    /// `words`) all its reasons in words, joined by `; `.
    fn each(&self, words: bool, mut f: impl FnMut(&str, &str, String)) {
        match self {
            Entitlements::Owned(m) => {
                for (e, whys) in m.iter() {
                    let (rule, reason) = in_words(whys.iter().map(Why::borrowed), words);
                    f(e, rule, reason);
                }
            }
            Entitlements::Borrowed(g) => {
                for (e, whys) in g.by_entitlement() {
                    let (rule, reason) = in_words(whys.iter().map(|(_, why)| *why), words);
                    f(e, rule, reason);
                }
            }
        }
    }
}

/// The rule of the first reason, and (with `words`) every reason in words joined by `; `.
fn in_words<'w>(mut whys: impl Iterator<Item = WhyRef<'w>>, words: bool) -> (&'w str, String) {
    let (mut rule, mut text) = ("", String::new());
    if !words {
        return (whys.next().map_or("", |why| why.rule), text);
    }
    for (i, why) in whys.enumerate() {
        if i == 0 {
            rule = why.rule;
        } else {
            text.push_str("; ");
        }
        why.describe_into(&mut text);
    }
    (rule, text)
}

fn plan_wanted(
    model: &RoleModel,
    employee_number: &str,
    desired: &Wanted<'_>,
    actual: &[&Account],
) -> Vec<Change> {
    let Some(system) = model.systems.get(desired.system) else {
        return Vec::new();
    };
    let presence = match desired.presence {
        // Belt and braces: the desired state never asks for this, but a plan must not
        // delete on a system that forbids it whatever it is given.
        Presence::DeletedIfPresent if !system.allows_delete() => Presence::DisabledIfPresent,
        p => p,
    };
    let mut sorted: Vec<&Account> = actual.to_vec();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut changes = Vec::new();
    match presence {
        Presence::Enabled | Presence::Prepared => {
            // Before the start date every account is disabled, so the one prepared is
            // simply the first by name; in post it is the primary one.
            let target = if presence == Presence::Prepared {
                sorted.first().copied()
            } else {
                primary(&sorted)
            };
            if presence == Presence::Prepared {
                for a in sorted.iter().filter(|a| a.enabled) {
                    let c = Changes::new(desired, employee_number, Some(a));
                    changes
                        .push(c.make(Action::Disable, desired.rule, || desired.reason.to_string()));
                }
            }
            let c = Changes::new(desired, employee_number, target);
            match target {
                None => {
                    changes
                        .push(c.make(Action::Create, desired.rule, || desired.reason.to_string()));
                    if let Some(wanted) = &desired.entitlements {
                        wanted.each(desired.words, |e, rule, reason| {
                            changes.push(c.grant(e, rule, reason))
                        });
                    }
                }
                Some(account) => {
                    c.entitlements(system, account, &mut changes);
                    c.attributes(account, &mut changes);
                    // Back in post (a rehire): out of the leavers' container.
                    let policy = &system.policy;
                    if presence == Presence::Enabled
                        && let (Some(leavers), Some(staff), Some(now)) = (
                            &policy.leaver_container,
                            &policy.staff_container,
                            &account.container,
                        )
                        && now.eq_ignore_ascii_case(leavers)
                    {
                        changes.push(c.make(
                            Action::Move {
                                container: staff.clone(),
                            },
                            desired.rule,
                            || {
                                format!(
                                    "{}; back in post, out of the leavers' container",
                                    desired.reason
                                )
                            },
                        ));
                    }
                }
            }
            if presence == Presence::Enabled && !target.is_some_and(|a| a.enabled) {
                changes.push(c.make(Action::Enable, desired.rule, || desired.reason.to_string()));
            }
        }
        Presence::DeletedIfPresent => {
            for a in &sorted {
                let c = Changes::new(desired, employee_number, Some(a));
                changes.push(c.make(Action::Delete, desired.rule, || desired.reason.to_string()));
            }
        }
        Presence::DisabledIfPresent | Presence::KeptIfPresent => {
            for a in &sorted {
                let c = Changes::new(desired, employee_number, Some(a));
                if a.enabled && presence == Presence::DisabledIfPresent {
                    changes
                        .push(c.make(Action::Disable, desired.rule, || desired.reason.to_string()));
                }
                c.entitlements(system, a, &mut changes);
                if let (Some(to), Some(now)) = (desired.container, &a.container)
                    && !to.eq_ignore_ascii_case(now)
                {
                    changes.push(c.make(
                        Action::Move {
                            container: to.to_string(),
                        },
                        desired.rule,
                        || desired.reason.to_string(),
                    ));
                }
            }
        }
    }
    changes
}

/// Builds the changes of one account.
struct Changes<'a> {
    desired: &'a Wanted<'a>,
    employee_number: &'a str,
    account: Option<&'a Account>,
}

impl<'a> Changes<'a> {
    fn new(
        desired: &'a Wanted<'a>,
        employee_number: &'a str,
        account: Option<&'a Account>,
    ) -> Self {
        Changes {
            desired,
            employee_number,
            account,
        }
    }

    /// A change; its reason is put in words only when the plan asks for them.
    fn make(&self, action: Action, rule: &str, reason: impl FnOnce() -> String) -> Change {
        let reason = if self.desired.words {
            reason()
        } else {
            String::new()
        };
        Change {
            system: self.desired.system.to_string(),
            employee_number: self.employee_number.to_string(),
            account: self.account.map(|a| a.id.clone()),
            action,
            rule: rule.to_string(),
            reason,
        }
    }

    fn grant(&self, entitlement: &str, rule: &str, reason: String) -> Change {
        self.make(
            Action::Grant {
                entitlement: entitlement.to_string(),
            },
            rule,
            || reason,
        )
    }

    /// Brings the attributes the target reports in step with HR. An attribute HR does not
    /// supply is left alone, never cleared.
    fn attributes(&self, account: &Account, out: &mut Vec<Change>) {
        for (attribute, value) in self.desired.attributes {
            if let Some(held) = account.attributes.get(attribute)
                && held != value
            {
                out.push(self.make(
                    Action::Update {
                        attribute: attribute.clone(),
                        value: value.clone(),
                    },
                    "hr-record",
                    || format!("HR says {attribute} is \"{value}\" (the target holds \"{held}\")"),
                ));
            }
        }
    }

    /// Revokes managed entitlements no role wants, then grants the missing ones.
    fn entitlements(
        &self,
        system: &crate::policy::System,
        account: &Account,
        out: &mut Vec<Change>,
    ) {
        let Some(wanted) = &self.desired.entitlements else {
            return;
        };
        for held in &account.entitlements {
            if system.manages(held) && !wanted.contains(held) {
                out.push(self.make(
                    Action::Revoke {
                        entitlement: held.clone(),
                    },
                    self.desired.rule,
                    || format!("no current role grants {held} ({})", self.desired.reason),
                ));
            }
        }
        wanted.each(self.desired.words, |e, rule, reason| {
            if !account.entitlements.contains(e) {
                out.push(self.grant(e, rule, reason));
            }
        });
    }
}

/// What one system's accounts look like once `changes` have been applied: the model of a
/// connector that succeeds, used to check plans and to preview them.
pub fn simulate(
    system: &str,
    employee_number: &str,
    mut accounts: Vec<Account>,
    changes: &[Change],
) -> Vec<Account> {
    for c in changes.iter().filter(|c| c.system == system) {
        if c.action == Action::Create {
            accounts.push(Account {
                system: system.to_string(),
                id: format!("new:{employee_number}"),
                employee_number: Some(employee_number.to_string()),
                display_name: String::new(),
                enabled: false,
                last_logon: None,
                entitlements: Default::default(),
                container: None,
                attributes: Default::default(),
            });
            continue;
        }
        let id = c
            .account
            .clone()
            .unwrap_or_else(|| format!("new:{employee_number}"));
        if c.action == Action::Delete {
            accounts.retain(|a| a.id != id);
            continue;
        }
        let Some(a) = accounts.iter_mut().find(|a| a.id == id) else {
            continue;
        };
        match &c.action {
            Action::Enable => a.enabled = true,
            Action::Disable => a.enabled = false,
            Action::Grant { entitlement } => {
                a.entitlements.insert(entitlement.clone());
            }
            Action::Revoke { entitlement } => {
                a.entitlements.remove(entitlement);
            }
            Action::Move { container } => a.container = Some(container.clone()),
            Action::Update { attribute, value } => {
                a.attributes.insert(attribute.clone(), value.clone());
            }
            Action::Create | Action::Delete => {}
        }
    }
    accounts
}

/// One person's changes on one target that can do what `abilities` says: the plan of
/// [`plan_person`] for that system, without what the target cannot make.
pub fn plan_for_target(
    model: &RoleModel,
    person: &crate::hr::Person,
    accounts: &[&Account],
    today: jiff::civil::Date,
    system: &str,
    abilities: &Abilities,
) -> Vec<Change> {
    plan_on(model, person, accounts, today, Some(system), true)
        .into_iter()
        .filter_map(|c| {
            if abilities.permits(&c.action) {
                return Some(c);
            }
            // A delete the target cannot make still takes the access away: an enabled
            // account is disabled instead, never left as it is.
            let enabled = accounts.iter().any(|a| {
                a.system == system && Some(a.id.as_str()) == c.account.as_deref() && a.enabled
            });
            (c.action == Action::Delete && enabled).then(|| Change {
                action: Action::Disable,
                reason: format!(
                    "{}; this system's accounts are never deleted: disabled instead",
                    c.reason
                ),
                ..c
            })
        })
        .collect()
}

/// Every change for one person across all systems, in system order. `accounts` are the
/// accounts linked to the person (any system); `today` is a Europe/London date.
pub fn plan_person(
    model: &RoleModel,
    person: &crate::hr::Person,
    accounts: &[&Account],
    today: jiff::civil::Date,
) -> Vec<Change> {
    plan_on(model, person, accounts, today, None, true)
}

/// [`plan_person`] without the reasons (each change's `reason` is empty): what a recorded
/// HR event's audit entry forecasts, naming each change and its rule. The changes
/// themselves are planned again, with their reasons, when they are made.
pub fn plan_person_brief(
    model: &RoleModel,
    person: &crate::hr::Person,
    accounts: &[&Account],
    today: jiff::civil::Date,
) -> Vec<Change> {
    plan_on(model, person, accounts, today, None, false)
}

/// [`plan_person`] on one system (`Some(id)`) or on every system (`None`), with or
/// without the reasons in words.
fn plan_on(
    model: &RoleModel,
    person: &crate::hr::Person,
    accounts: &[&Account],
    today: jiff::civil::Date,
    system: Option<&str>,
    words: bool,
) -> Vec<Change> {
    let employee_number = person.employee_number.as_str();
    let attributes = crate::desired::person_attributes(person);
    crate::desired::desired_views_on(person, model, today, system)
        .iter()
        .flat_map(|view| {
            let here: Vec<&Account> = accounts
                .iter()
                .copied()
                .filter(|a| a.system == view.system)
                .collect();
            plan_wanted(
                model,
                employee_number,
                &Wanted::view(view, &attributes, words),
                &here,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests;
