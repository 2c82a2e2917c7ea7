//! Desired state: (person, role model, today) → for each system, whether the person
//! should have an account, whether it should be enabled, and which entitlements it should
//! hold, each with the rule that asked for it.
//!
//! A pure function: `today` (a Europe/London calendar date) is a parameter, nothing here
//! reads the clock, and every collection is ordered, so the same inputs always give the
//! same answer.

use crate::clock::add_days;
use crate::hr::{Lifecycle, Person};
use crate::policy::{AwayAction, LeaverAction, RoleModel, System};
use jiff::civil::Date;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Why an entitlement is wanted: the rule that matched, the role it granted, and the
/// assignment it matched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Why {
    pub rule: String,
    pub role: String,
    pub assignment: String,
    /// Set when the grant is only kept for a while (a mover's handover period).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Date>,
}

impl Why {
    pub fn describe(&self) -> String {
        let mut text = String::new();
        self.borrowed().describe_into(&mut text);
        text
    }

    pub fn borrowed(&self) -> WhyRef<'_> {
        WhyRef {
            rule: &self.rule,
            role: &self.role,
            assignment: &self.assignment,
            until: self.until,
        }
    }
}

/// Whether an account should exist and be usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Must exist and be enabled.
    Enabled,
    /// Must exist, disabled: prepared for a joiner before their start date.
    Prepared,
    /// Disable it if it exists; never create it.
    DisabledIfPresent,
    /// Leave its enabled state alone if it exists; never create it (a smartcard, which
    /// belongs to the person, not the trust).
    KeptIfPresent,
    /// Delete it if it exists: a leaver past the system's retention period, on a system
    /// that allows deletion.
    DeletedIfPresent,
}

/// One system's desired account for one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredAccount {
    pub system: String,
    pub presence: Presence,
    /// The lifecycle rule behind `presence` (`active`, `leaver`, `absence`, ...).
    pub rule: String,
    /// Why, in words, for the plan and the audit trail.
    pub reason: String,
    /// Wanted entitlements with their reasons; `None` means leave them as they are.
    pub entitlements: Option<BTreeMap<String, Vec<Why>>>,
    /// Where the account should live, if the system says.
    pub container: Option<String>,
    /// Person attributes from the HR record (see [`person_attributes`]).
    pub attributes: BTreeMap<String, String>,
}

/// The attributes a target keeps for a person, from their HR record: display name, and
/// from the primary assignment the title and department; work email; the line manager's
/// employee number. Values HR does not give are left out, so they are never cleared.
pub fn person_attributes(person: &Person) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) {
            out.insert(k.to_string(), v.to_string());
        }
    };
    put("display_name", Some(&person.display_name()));
    let primary = person.primary();
    put("title", primary.and_then(|a| a.position_title.as_deref()));
    put(
        "department",
        primary.and_then(|a| a.organisation.as_deref()),
    );
    put("mail", person.work_email.as_deref());
    put(
        "manager",
        person
            .line_manager
            .as_ref()
            .filter(|m| **m != person.employee_number)
            .map(|m| m.as_str()),
    );
    out
}

/// The desired accounts of one person on every system of the role model, in system order.
pub fn desired_state(person: &Person, model: &RoleModel, today: Date) -> Vec<DesiredAccount> {
    let attributes = person_attributes(person);
    desired_views(person, model, today)
        .into_iter()
        .map(|v| v.account(attributes.clone()))
        .collect()
}

/// [`desired_state`] without copying: entitlements and their reasons borrow from the role
/// model and the person, and no attributes are made. What drift reads for every person at
/// national scale; [`DesiredView::account`] gives the [`DesiredAccount`] the plan needs.
pub fn desired_views<'a>(
    person: &'a Person,
    model: &'a RoleModel,
    today: Date,
) -> Vec<DesiredView<'a>> {
    desired_views_on(person, model, today, None)
}

/// [`desired_views`] on one system (`Some(id)`: nothing for a system the model does not
/// declare) or on every system (`None`): what planning for one target needs, without
/// working out the other systems.
pub fn desired_views_on<'a>(
    person: &'a Person,
    model: &'a RoleModel,
    today: Date,
    only: Option<&str>,
) -> Vec<DesiredView<'a>> {
    match only {
        Some(id) => views(person, model, today, model.systems.get(id), None),
        None => views(person, model, today, model.systems.values(), None),
    }
}

/// [`desired_views`] on every system, with the rules each assignment matches remembered
/// in `memo` for the assignments after it with the same shared texts (drift judges a
/// million people against the same model; their assignments share a few thousand
/// profiles).
pub fn desired_views_memo<'a>(
    person: &'a Person,
    model: &'a RoleModel,
    today: Date,
    memo: &mut RuleMemo<'a>,
) -> Vec<DesiredView<'a>> {
    views(person, model, today, model.systems.values(), Some(memo))
}

/// The views on `systems` (none when there are none: no rule is matched for nothing).
fn views<'a>(
    person: &'a Person,
    model: &'a RoleModel,
    today: Date,
    systems: impl IntoIterator<Item = &'a System>,
    memo: Option<&mut RuleMemo<'a>>,
) -> Vec<DesiredView<'a>> {
    let mut systems = systems.into_iter().peekable();
    if systems.peek().is_none() {
        return Vec::new();
    }
    let lifecycle = person.lifecycle(today);
    let matched = matches(person, model, today, memo);
    systems
        .map(|system| desired_on(person, lifecycle, &matched, system, today))
        .collect()
}

/// The rules an assignment matches, by the identities of its shared texts (see
/// [`Shared::identity`](crate::hr::Shared::identity)): the assignments are borrowed for
/// `'a`, so an identity cannot be reused by other text while the memo lives. Off when a
/// rule reads the position number (held per person, not shared).
pub struct RuleMemo<'a> {
    rules: crate::fast::FastMap<Profile, Vec<u32>>,
    on: bool,
    /// Each rule's roles, found by name once rather than once per assignment matched.
    roles: Vec<Vec<&'a crate::policy::Role>>,
    people: std::marker::PhantomData<&'a Person>,
}

/// The identities of an assignment's shared texts that rules read. Compared field by
/// field (an array of them was compared by a call to `memcmp`, once per assignment).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Profile {
    staff_group: usize,
    job_role: usize,
    occupation_code: usize,
    position_title: usize,
    organisation: usize,
    cost_centre: usize,
    location: usize,
}

/// Profiles remembered before the memo starts again (bounded whatever the input).
const MEMO_PROFILES: usize = 100_000;

impl<'a> RuleMemo<'a> {
    pub fn new(model: &'a RoleModel) -> RuleMemo<'a> {
        let reads_position = |c: &crate::policy::Criteria| {
            c.fields
                .contains_key(&crate::hr::MatchField::PositionNumber)
        };
        RuleMemo {
            rules: crate::fast::FastMap::default(),
            on: !model
                .rules
                .iter()
                .any(|r| reads_position(&r.when) || r.unless.as_ref().is_some_and(reads_position)),
            roles: model
                .rules
                .iter()
                .map(|r| {
                    r.grant
                        .iter()
                        .filter_map(|id| model.roles.get(id))
                        .collect()
                })
                .collect(),
            people: std::marker::PhantomData,
        }
    }

    fn profile(a: &crate::hr::Assignment) -> Profile {
        let id = |s: &Option<crate::hr::Shared>| s.as_ref().map_or(0, crate::hr::Shared::identity);
        Profile {
            staff_group: id(&a.staff_group),
            job_role: id(&a.job_role),
            occupation_code: id(&a.occupation_code),
            position_title: id(&a.position_title),
            organisation: id(&a.organisation),
            cost_centre: id(&a.cost_centre),
            location: id(&a.location),
        }
    }
}

/// [`Why`], borrowed. Its fields are in the same order, so it sorts the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct WhyRef<'a> {
    pub rule: &'a str,
    pub role: &'a str,
    pub assignment: &'a str,
    pub until: Option<Date>,
}

impl WhyRef<'_> {
    /// [`Why::describe`], appended to `out`.
    pub fn describe_into(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(
            out,
            "role {} (rule {}, assignment {})",
            self.role, self.rule, self.assignment
        );
        if let Some(until) = self.until {
            let _ = write!(out, ", kept for handover until {until}");
        }
    }

    pub fn owned(self) -> Why {
        Why {
            rule: self.rule.to_string(),
            role: self.role.to_string(),
            assignment: self.assignment.to_string(),
            until: self.until,
        }
    }
}

/// Wanted entitlements, each with its reasons: sorted by (entitlement, reason) and free of
/// repeats, so an entitlement's reasons sit together, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants<'a>(Vec<(&'a str, WhyRef<'a>)>);

impl<'a> Grants<'a> {
    fn new(mut list: Vec<(&'a str, WhyRef<'a>)>) -> Grants<'a> {
        // Sorted, then repeats dropped: linear in the matches, however many assignments
        // grant the same entitlement.
        list.sort_unstable();
        list.dedup();
        Grants(list)
    }

    /// The entitlements of one role on one system (a set: in order, each once), all for
    /// the same reason: already as [`Grants::new`] would leave them.
    fn of_one(entitlements: &'a std::collections::BTreeSet<String>, why: WhyRef<'a>) -> Grants<'a> {
        Grants(entitlements.iter().map(|e| (e.as_str(), why)).collect())
    }

    pub fn contains(&self, entitlement: &str) -> bool {
        self.0
            .binary_search_by(|(e, _)| (*e).cmp(entitlement))
            .is_ok()
    }

    /// Each wanted entitlement once, with its first reason.
    pub fn first_reasons(&self) -> impl Iterator<Item = (&'a str, WhyRef<'a>)> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(|(i, (e, _))| *i == 0 || self.0[i - 1].0 != *e)
            .map(|(_, pair)| *pair)
    }

    /// Each wanted entitlement once, in order, with all its reasons in order.
    pub fn by_entitlement(&self) -> impl Iterator<Item = (&'a str, &[(&'a str, WhyRef<'a>)])> {
        self.0
            .chunk_by(|a, b| a.0 == b.0)
            .map(|run| (run[0].0, run))
    }

    /// Every (entitlement, reason), in order.
    pub fn iter(&self) -> impl Iterator<Item = &(&'a str, WhyRef<'a>)> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn owned(&self) -> BTreeMap<String, Vec<Why>> {
        let mut out: BTreeMap<String, Vec<Why>> = BTreeMap::new();
        for (e, why) in &self.0 {
            out.entry((*e).to_string()).or_default().push(why.owned());
        }
        out
    }
}

/// One system's desired account for one person, borrowed (see [`desired_views`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredView<'a> {
    pub system: &'a str,
    pub presence: Presence,
    pub rule: &'static str,
    pub reason: Cow<'static, str>,
    /// `None` means leave them as they are.
    pub entitlements: Option<Grants<'a>>,
    pub container: Option<&'a str>,
}

impl DesiredView<'_> {
    pub fn account(&self, attributes: BTreeMap<String, String>) -> DesiredAccount {
        DesiredAccount {
            system: self.system.to_string(),
            presence: self.presence,
            rule: self.rule.to_string(),
            reason: self.reason.to_string(),
            entitlements: self.entitlements.as_ref().map(Grants::owned),
            container: self.container.map(str::to_string),
            attributes,
        }
    }
}

/// An assignment that can still give access today, with a rule it matches and one role
/// that rule grants.
struct Match<'a> {
    assignment: &'a crate::hr::Assignment,
    /// The assignment's number, read once per match rather than once per system.
    number: &'a str,
    ended: bool,
    rule: &'a crate::policy::Rule,
    role: &'a crate::policy::Role,
}

/// Every (assignment, rule, role granted) match, worked out once per person for all
/// systems (a role named by no `[roles]` entry grants nothing). Ended assignments are kept:
/// a system's handover period may still honour them.
fn matches<'a>(
    person: &'a Person,
    model: &'a RoleModel,
    today: Date,
    mut memo: Option<&mut RuleMemo<'a>>,
) -> Vec<Match<'a>> {
    let mut out = Vec::new();
    let mut found: Vec<u32> = Vec::new();
    for assignment in &person.assignments {
        let ended = assignment.lifecycle(today) == Lifecycle::Ended;
        let find = |found: &mut Vec<u32>| {
            found.clear();
            found.extend(
                (0u32..)
                    .zip(&model.rules)
                    .filter(|(_, r)| r.matches(assignment))
                    .map(|(i, _)| i),
            );
        };
        match memo.as_deref_mut().filter(|m| m.on) {
            Some(m) => {
                let profile = RuleMemo::profile(assignment);
                match m.rules.get(&profile) {
                    Some(known) => {
                        found.clear();
                        found.extend_from_slice(known);
                    }
                    None => {
                        find(&mut found);
                        if m.rules.len() >= MEMO_PROFILES {
                            m.rules.clear();
                        }
                        m.rules.insert(profile, found.clone());
                    }
                }
            }
            None => find(&mut found),
        }
        let known = memo.as_deref().map(|m| &m.roles);
        for &i in &found {
            let Some(rule) = model.rules.get(i as usize) else {
                continue;
            };
            let mut push = |role| {
                out.push(Match {
                    assignment,
                    number: assignment.assignment_number.as_str(),
                    ended,
                    rule,
                    role,
                })
            };
            match known.and_then(|r| r.get(i as usize)) {
                Some(roles) => roles.iter().copied().for_each(&mut push),
                None => rule
                    .grant
                    .iter()
                    .filter_map(|id| model.roles.get(id))
                    .for_each(&mut push),
            }
        }
    }
    out
}

/// Entitlements the role model grants this person on one system today.
fn grants_on<'a>(
    lifecycle: Lifecycle,
    matched: &[Match<'a>],
    system: &System,
    today: Date,
) -> (bool, Grants<'a>) {
    let mut wants_account = false;
    // Most people hold one role on a system: its set is taken as it is, never sorted.
    let mut first: Option<(&'a std::collections::BTreeSet<String>, WhyRef<'a>)> = None;
    let mut grants = Vec::new();
    let grace = system.policy.mover_grace_days;
    for m in matched {
        let until = if m.ended {
            // A mover keeps an ended assignment's access for the handover period, but
            // only while they still hold another assignment.
            let handover_end = m
                .assignment
                .last_day()
                .filter(|_| lifecycle != Lifecycle::Ended && grace > 0)
                .and_then(|last| add_days(last, i64::from(grace)));
            match handover_end {
                Some(end) if today <= end => Some(end),
                _ => continue,
            }
        } else {
            None
        };
        let Some(entitlements) = m.role.grants.get(&system.id) else {
            continue;
        };
        wants_account = true;
        let why = WhyRef {
            rule: &m.rule.id,
            role: &m.role.id,
            assignment: m.number,
            until,
        };
        match first {
            None => first = Some((entitlements, why)),
            Some((earlier, earlier_why)) => {
                if grants.is_empty() {
                    grants.extend(earlier.iter().map(|e| (e.as_str(), earlier_why)));
                }
                grants.extend(entitlements.iter().map(|e| (e.as_str(), why)));
            }
        }
    }
    let grants = match first {
        Some((entitlements, why)) if grants.is_empty() => Grants::of_one(entitlements, why),
        _ => Grants::new(grants),
    };
    (wants_account, grants)
}

fn desired_on<'a>(
    person: &'a Person,
    lifecycle: Lifecycle,
    matched: &[Match<'a>],
    system: &'a System,
    today: Date,
) -> DesiredView<'a> {
    let policy = &system.policy;
    let (wants_account, grants) = grants_on(lifecycle, matched, system, today);
    let base = DesiredView {
        system: &system.id,
        presence: Presence::Enabled,
        rule: "",
        reason: Cow::Borrowed(""),
        entitlements: Some(grants),
        container: None,
    };
    let not_granted = |base: DesiredView<'a>| -> DesiredView<'a> {
        // Working, but no role gives an account here: excess access, removed the way a
        // leaver's is, without deleting anything.
        let presence = if policy.leaver == LeaverAction::RevokeOnly {
            Presence::KeptIfPresent
        } else {
            Presence::DisabledIfPresent
        };
        DesiredView {
            presence,
            rule: "no-role",
            reason: Cow::Owned(format!("no current role grants access to {}", policy.name)),
            entitlements: Some(Grants::default()),
            ..base
        }
    };
    let away =
        |action: AwayAction, rule: &'static str, what: &str, base: DesiredView<'a>| match action {
            AwayAction::Keep => DesiredView {
                rule,
                reason: Cow::Owned(format!(
                    "{what}; {} keeps access during {what}",
                    policy.name
                )),
                ..base
            },
            AwayAction::Disable => DesiredView {
                presence: Presence::DisabledIfPresent,
                rule,
                reason: Cow::Owned(format!(
                    "{what}; {} disables access until return",
                    policy.name
                )),
                ..base
            },
        };
    match lifecycle {
        Lifecycle::Active if wants_account => DesiredView {
            rule: "active",
            reason: Cow::Borrowed("in post"),
            ..base
        },
        Lifecycle::Future if wants_account => {
            let first_day = person.first_day();
            let first = first_day.map_or_else(|| "their start date".to_string(), |d| d.to_string());
            let days = policy.prepare_days_before_start;
            let prepare_from = first_day.and_then(|d| add_days(d, -i64::from(days)));
            if prepare_from.is_some_and(|from| today < from) {
                // Too early to prepare: nothing is created yet (an account that already
                // exists stays disabled).
                return DesiredView {
                    presence: Presence::DisabledIfPresent,
                    rule: "joiner",
                    reason: Cow::Owned(format!(
                        "joiner starting on {first}: prepared {days} day(s) ahead, from {}",
                        prepare_from.map_or_else(String::new, |d| d.to_string())
                    )),
                    ..base
                };
            }
            DesiredView {
                presence: Presence::Prepared,
                rule: "joiner",
                reason: Cow::Owned(format!(
                    "joiner starting on {first}: prepared disabled until then"
                )),
                ..base
            }
        }
        Lifecycle::Absent if wants_account => away(policy.absence, "absence", "absence", base),
        Lifecycle::Suspended if wants_account => {
            away(policy.suspension, "suspension", "suspension", base)
        }
        Lifecycle::Ended => leaver(person, system, today, base),
        Lifecycle::Active | Lifecycle::Future | Lifecycle::Absent | Lifecycle::Suspended => {
            not_granted(base)
        }
    }
}

/// The leaving reason of the person's last assignment to end, when it is one of `reasons`
/// (compared without regard to case or surrounding spaces).
pub fn leaves_care<'p>(person: &'p Person, reasons: &[String]) -> Option<&'p str> {
    if reasons.is_empty() {
        return None;
    }
    let last = person
        .assignments
        .iter()
        .filter(|a| a.end_date.is_some())
        .max_by_key(|a| a.end_date)?;
    let why = last.leaving_reason.as_deref()?.trim();
    reasons
        .iter()
        .any(|r| r.trim().eq_ignore_ascii_case(why))
        .then_some(why)
}

fn leaver<'a>(
    person: &Person,
    system: &'a System,
    today: Date,
    base: DesiredView<'a>,
) -> DesiredView<'a> {
    let policy = &system.policy;
    let last = person.last_working_day();
    let last_text = last.map_or_else(|| "an unknown date".to_string(), |d| d.to_string());
    let container = policy.leaver_container.as_deref();
    if system.allows_delete()
        && let (Some(last), Some(days)) = (last, policy.delete_after_days)
        && add_days(last, i64::from(days)).is_some_and(|delete_from| today > delete_from)
    {
        return DesiredView {
            presence: Presence::DeletedIfPresent,
            rule: "leaver-retention",
            reason: Cow::Owned(format!(
                "leaver since {last_text}; {} deletes accounts {days} days after the last working day",
                policy.name
            )),
            entitlements: Some(Grants::default()),
            container: None,
            ..base
        };
    }
    let reason = format!("leaver: last working day was {last_text}");
    // Leaving health and care altogether: the account is closed, whatever the leaver rule.
    if let Some(why) = leaves_care(person, &policy.closed_when_leaving_for) {
        return DesiredView {
            presence: Presence::DisabledIfPresent,
            rule: "leaves-care",
            reason: Cow::Owned(format!(
                "{reason}; leaves health and care (leaving reason: {why}): closed"
            )),
            entitlements: Some(Grants::default()),
            container,
            ..base
        };
    }
    match policy.leaver {
        LeaverAction::DisableAndRevoke => DesiredView {
            presence: Presence::DisabledIfPresent,
            rule: "leaver",
            reason: Cow::Owned(reason),
            entitlements: Some(Grants::default()),
            container,
            ..base
        },
        LeaverAction::Disable => DesiredView {
            presence: Presence::DisabledIfPresent,
            rule: "leaver",
            reason: Cow::Owned(format!(
                "{reason}; role profile kept for the clinical record"
            )),
            entitlements: None,
            container,
            ..base
        },
        LeaverAction::RevokeOnly => DesiredView {
            presence: Presence::KeptIfPresent,
            rule: "leaver",
            reason: Cow::Owned(format!(
                "{reason}; positions end, the account itself stays with the person"
            )),
            entitlements: Some(Grants::default()),
            container,
            ..base
        },
    }
}

#[cfg(test)]
mod tests;
