//! The role model: which assignments get which roles, which entitlements each role gives
//! on each target system, and how each system treats joiners, absences, movers and
//! leavers. Read from a TOML file (`schemas/role-model.v1.schema.json` describes it).
//!
//! Loading reports every problem at once, each with its file and line, so `turnstile
//! validate` can be fixed in one pass. This module never reads the clock or a target.

mod glob;

pub use glob::Glob;

use crate::hr::{Assignment, MatchField};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use toml::Spanned;

/// What a system does with an account while its owner is absent or suspended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AwayAction {
    /// Leave the account as it is.
    Keep,
    /// Disable it, keeping its entitlements for the return.
    Disable,
}

/// What a system does with a leaver's account once their last working day is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaverAction {
    /// Disable the account and remove every entitlement Turnstile manages (AD groups).
    DisableAndRevoke,
    /// Disable the account and leave its entitlements, for systems where the role
    /// profile is part of the clinical record (EMIS Web, SystmOne).
    Disable,
    /// End the entitlements but keep the account usable elsewhere: smartcard positions
    /// end while the card, which belongs to the person, stays valid.
    RevokeOnly,
}

/// One target system's lifecycle rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemPolicy {
    /// A human name for reports.
    pub name: String,
    /// Clinical entries depend on this account: it is disabled, never deleted.
    #[serde(default)]
    pub holds_clinical_history: bool,
    /// Days after the last working day when a leaver's account may be deleted. Absent:
    /// never delete. Refused on systems that hold clinical history.
    #[serde(default)]
    pub delete_after_days: Option<u32>,
    #[serde(default = "default_absence")]
    pub absence: AwayAction,
    #[serde(default = "default_suspension")]
    pub suspension: AwayAction,
    #[serde(default = "default_leaver")]
    pub leaver: LeaverAction,
    /// Days a mover keeps the entitlements of an assignment that ended, while they have
    /// another assignment, for handover.
    #[serde(default)]
    pub mover_grace_days: u32,
    /// Days before a joiner's first day that their account is prepared (created
    /// disabled); it is enabled on the first day.
    #[serde(default = "default_prepare")]
    pub prepare_days_before_start: u32,
    /// Days without a logon after which an enabled account counts as dormant.
    #[serde(default)]
    pub inactivity_days: Option<u32>,
    /// Days of notice the line manager gets before an inactivity disable (at least 7).
    #[serde(default = "default_notice")]
    pub inactivity_notice_days: u32,
    /// Days unused after which the service itself removes an account, whatever Turnstile
    /// does (NHSmail: 60, marked inactive at 30). Drift reports the accounts of people in
    /// post that are within `service_removal_notice_days` of it.
    #[serde(default)]
    pub service_removes_unused_after_days: Option<u32>,
    /// ESR leaving reasons that mean the person leaves health and care altogether (e.g.
    /// "Retirement - Age", "Death in Service"): their account here is closed, not just this
    /// organisation's part of it (a smartcard profile: the card is cancelled). Anyone else
    /// keeps it, as staff moving between NHS organisations keep their card.
    #[serde(default)]
    pub closed_when_leaving_for: Vec<String>,
    /// How long before the service's removal an account is reported (default 30).
    #[serde(default = "default_service_notice")]
    pub service_removal_notice_days: u32,
    /// Entitlement patterns Turnstile owns on this system. Entitlements outside them are
    /// never revoked or reported as excess. Absent: exactly those some role grants.
    #[serde(default)]
    pub manages: Option<Vec<String>>,
    /// Where a leaver's account is moved (an AD OU, for instance).
    #[serde(default)]
    pub leaver_container: Option<String>,
    /// Where the account of someone back in post (a rehire) is moved from
    /// `leaver_container`. Absent: it stays where it is.
    #[serde(default)]
    pub staff_container: Option<String>,
}

fn default_absence() -> AwayAction {
    AwayAction::Keep
}
fn default_suspension() -> AwayAction {
    AwayAction::Disable
}
fn default_leaver() -> LeaverAction {
    LeaverAction::DisableAndRevoke
}
fn default_notice() -> u32 {
    7
}

fn default_service_notice() -> u32 {
    30
}
fn default_prepare() -> u32 {
    5
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleSpec {
    #[serde(default)]
    description: String,
    /// system id → entitlements. An empty list still gives an account on that system.
    grants: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CriteriaSpec {
    staff_group: Option<Vec<String>>,
    job_role: Option<Vec<String>>,
    occupation_code: Option<Vec<String>>,
    position_number: Option<Vec<String>>,
    position_title: Option<Vec<String>>,
    organisation: Option<Vec<String>>,
    cost_centre: Option<Vec<String>>,
    location: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    id: String,
    #[serde(default)]
    description: String,
    grant: Vec<String>,
    #[serde(default, rename = "match")]
    when: CriteriaSpec,
    #[serde(default)]
    unless: Option<CriteriaSpec>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericSpec {
    #[serde(default)]
    patterns: Vec<String>,
    #[serde(default)]
    approved: Vec<ApprovedGeneric>,
}

/// A generic login allowed by exception (seed 002), with who approved it and why.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovedGeneric {
    pub system: String,
    pub account: String,
    pub reason: String,
    pub approved_by: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    version: u32,
    #[serde(default)]
    systems: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    roles: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    rules: Vec<Spanned<toml::Value>>,
    #[serde(default)]
    generic_accounts: Option<Spanned<toml::Value>>,
}

/// Conditions on an assignment: every named field must match one of its patterns.
#[derive(Debug, Clone, Default)]
pub struct Criteria {
    pub fields: BTreeMap<MatchField, Vec<Glob>>,
}

impl Criteria {
    pub fn matches(&self, assignment: &Assignment) -> bool {
        self.fields.iter().all(|(field, patterns)| {
            assignment
                .field(*field)
                .is_some_and(|value| patterns.iter().any(|p| p.matches(value)))
        })
    }
}

/// A role: a named bundle of entitlements across systems.
#[derive(Debug, Clone)]
pub struct Role {
    pub id: String,
    pub description: String,
    pub grants: BTreeMap<String, BTreeSet<String>>,
}

/// A rule: assignments it matches are granted its roles.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub description: String,
    pub grant: Vec<String>,
    pub when: Criteria,
    pub unless: Option<Criteria>,
}

impl Rule {
    pub fn matches(&self, assignment: &Assignment) -> bool {
        self.when.matches(assignment)
            && !self.unless.as_ref().is_some_and(|u| u.matches(assignment))
    }
}

/// A system's rules plus what Turnstile computed from the roles.
#[derive(Debug, Clone)]
pub struct System {
    pub id: String,
    pub policy: SystemPolicy,
    manages: Option<Vec<Glob>>,
    granted: BTreeSet<String>,
}

impl System {
    /// True when Turnstile owns this entitlement on this system and may revoke it.
    pub fn manages(&self, entitlement: &str) -> bool {
        match &self.manages {
            Some(patterns) => patterns.iter().any(|p| p.matches(entitlement)),
            None => self.granted.contains(entitlement),
        }
    }

    /// May a leaver's account be deleted at all on this system?
    pub fn allows_delete(&self) -> bool {
        !self.policy.holds_clinical_history && self.policy.delete_after_days.is_some()
    }
}

/// The loaded, checked role model.
#[derive(Debug, Clone)]
pub struct RoleModel {
    pub systems: BTreeMap<String, System>,
    pub roles: BTreeMap<String, Role>,
    pub rules: Vec<Rule>,
    pub generic_patterns: Vec<Glob>,
    pub approved_generic: Vec<ApprovedGeneric>,
}

/// One problem found in a role model or config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
    pub warning: bool,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = if self.warning { "warning" } else { "error" };
        match self.line {
            Some(line) => write!(f, "{}:{}: {level}: {}", self.file, line, self.message),
            None => write!(f, "{}: {level}: {}", self.file, self.message),
        }
    }
}

/// Everything found while loading a role model; `errors()` empty means it loaded.
#[derive(Debug, Default)]
pub struct Findings {
    pub problems: Vec<Problem>,
}

impl Findings {
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| !p.warning)
    }
    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }
}

struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn line_at(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    /// Where the section that starts inside `span` ends: `toml` spans a table by its
    /// header only, so a section runs to the next header line or the end of the file.
    fn section_end(&self, span: &std::ops::Range<usize>) -> usize {
        let from = span.end.min(self.text.len());
        let mut offset = from;
        for line in self.text[from..].split_inclusive('\n') {
            if offset > from && line.starts_with('[') {
                return offset;
            }
            offset += line.len();
        }
        self.text.len()
    }

    /// The line of `needle` inside the section at `span`, or of the span's start.
    fn line_of(&self, span: &std::ops::Range<usize>, needle: &str) -> usize {
        let start = span.start.min(self.text.len());
        let end = self
            .section_end(span)
            .max(span.end)
            .clamp(start, self.text.len());
        let at = self
            .text
            .get(start..end)
            .and_then(|s| s.find(needle))
            .map_or(start, |i| start + i);
        self.line_at(at)
    }

    fn problem(&self, line: Option<usize>, message: impl Into<String>) -> Problem {
        Problem {
            file: self.file.to_string(),
            line,
            message: message.into(),
            warning: false,
        }
    }

    fn warning(&self, line: Option<usize>, message: impl Into<String>) -> Problem {
        Problem {
            warning: true,
            ..self.problem(line, message)
        }
    }
}

impl RoleModel {
    /// Parses and checks role-model text; `file` names it in messages. Returns the model
    /// with any warnings, or every problem found.
    pub fn parse(file: &str, text: &str) -> Result<(RoleModel, Findings), Findings> {
        let src = Source { file, text };
        let mut findings = Findings::default();
        let raw: RawModel = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let line = e.span().map(|s| src.line_at(s.start));
                findings
                    .problems
                    .push(src.problem(line, e.message().trim().to_string()));
                return Err(findings);
            }
        };
        if raw.version != 1 {
            findings.problems.push(src.problem(
                Some(src.line_of(&(0..text.len()), "version")),
                format!(
                    "version {} is not known: this Turnstile reads version 1",
                    raw.version
                ),
            ));
        }

        let mut systems = BTreeMap::new();
        for (id, spanned) in &raw.systems {
            let span = spanned.span();
            match spanned.get_ref().clone().try_into::<SystemPolicy>() {
                Ok(policy) => {
                    check_system(&src, id, &policy, &span, &mut findings);
                    let manages = policy
                        .manages
                        .as_ref()
                        .map(|list| list.iter().map(|p| Glob::new(p)).collect());
                    systems.insert(
                        id.clone(),
                        System {
                            id: id.clone(),
                            policy,
                            manages,
                            granted: BTreeSet::new(),
                        },
                    );
                }
                Err(e) => findings.problems.push(src.problem(
                    Some(src.line_at(span.start)),
                    format!("system `{id}`: {}", e.message().trim()),
                )),
            }
        }
        if raw.systems.is_empty() {
            findings.problems.push(src.problem(
                None,
                "no [systems.*] defined: declare at least one target system",
            ));
        }

        let mut roles = BTreeMap::new();
        for (id, spanned) in &raw.roles {
            let span = spanned.span();
            match spanned.get_ref().clone().try_into::<RoleSpec>() {
                Ok(spec) => {
                    let mut grants = BTreeMap::new();
                    for (system, entitlements) in spec.grants {
                        if !raw.systems.contains_key(&system) {
                            findings.problems.push(src.problem(
                                Some(src.line_of(&span, &system)),
                                format!(
                                    "role `{id}` grants on system `{system}`, which is not declared under [systems]"
                                ),
                            ));
                        }
                        let mut set = BTreeSet::new();
                        for e in entitlements {
                            if e.trim().is_empty() {
                                findings.problems.push(src.problem(
                                    Some(src.line_of(&span, &system)),
                                    format!("role `{id}` grants a blank entitlement on `{system}`"),
                                ));
                            } else if !set.insert(e.clone()) {
                                findings.problems.push(src.warning(
                                    Some(src.line_of(&span, &e)),
                                    format!("role `{id}` lists `{e}` twice on `{system}`"),
                                ));
                            }
                        }
                        if let Some(sys) = systems.get_mut(&system) {
                            sys.granted.extend(set.iter().cloned());
                        }
                        grants.insert(system, set);
                    }
                    if grants.is_empty() {
                        findings.problems.push(src.problem(
                            Some(src.line_at(span.start)),
                            format!("role `{id}` grants nothing: give it at least one system"),
                        ));
                    }
                    roles.insert(
                        id.clone(),
                        Role {
                            id: id.clone(),
                            description: spec.description,
                            grants,
                        },
                    );
                }
                Err(e) => findings.problems.push(src.problem(
                    Some(src.line_at(span.start)),
                    format!("role `{id}`: {}", e.message().trim()),
                )),
            }
        }

        let mut rules = Vec::new();
        let mut rule_ids = BTreeMap::new();
        let mut used_roles = BTreeSet::new();
        for spanned in &raw.rules {
            let span = spanned.span();
            let line = src.line_at(span.start);
            let spec = match spanned.get_ref().clone().try_into::<RuleSpec>() {
                Ok(spec) => spec,
                Err(e) => {
                    findings
                        .problems
                        .push(src.problem(Some(line), format!("rule: {}", e.message().trim())));
                    continue;
                }
            };
            if let Some(first) = rule_ids.insert(spec.id.clone(), line) {
                findings.problems.push(src.problem(
                    Some(line),
                    format!(
                        "rule id `{}` is used twice (first at line {first})",
                        spec.id
                    ),
                ));
            }
            if spec.grant.is_empty() {
                findings
                    .problems
                    .push(src.problem(Some(line), format!("rule `{}` grants no role", spec.id)));
            }
            for role in &spec.grant {
                used_roles.insert(role.clone());
                if !raw.roles.contains_key(role) {
                    findings.problems.push(src.problem(
                        Some(src.line_of(&span, &format!("\"{role}\""))),
                        format!(
                            "rule `{}` grants role `{role}`, which is not defined under [roles]",
                            spec.id
                        ),
                    ));
                }
            }
            let when = criteria(&src, &span, &spec.id, "match", &spec.when, &mut findings);
            let unless = spec
                .unless
                .as_ref()
                .map(|u| criteria(&src, &span, &spec.id, "unless", u, &mut findings));
            if let Some(u) = &unless
                && u.fields.is_empty()
            {
                findings.problems.push(src.problem(
                    Some(line),
                    format!(
                        "rule `{}` has an empty `unless`, which would exclude everyone",
                        spec.id
                    ),
                ));
            }
            rules.push(Rule {
                id: spec.id,
                description: spec.description,
                grant: spec.grant,
                when,
                unless,
            });
        }
        if raw.rules.is_empty() {
            findings.problems.push(src.problem(
                None,
                "no [[rules]] defined: nobody would be granted anything",
            ));
        }
        for id in raw.roles.keys() {
            if !used_roles.contains(id) {
                let line = raw.roles.get(id).map(|s| src.line_at(s.span().start));
                findings
                    .problems
                    .push(src.warning(line, format!("role `{id}` is not granted by any rule")));
            }
        }

        let mut generic = GenericSpec::default();
        if let Some(spanned) = &raw.generic_accounts {
            let span = spanned.span();
            match spanned.get_ref().clone().try_into::<GenericSpec>() {
                Ok(spec) => {
                    for a in &spec.approved {
                        if !raw.systems.contains_key(&a.system) {
                            findings.problems.push(src.problem(
                                Some(src.line_of(&span, &a.account)),
                                format!(
                                    "approved generic account `{}` names system `{}`, which is not declared",
                                    a.account, a.system
                                ),
                            ));
                        }
                        if a.reason.trim().is_empty() || a.approved_by.trim().is_empty() {
                            findings.problems.push(src.problem(
                                Some(src.line_of(&span, &a.account)),
                                format!(
                                    "approved generic account `{}` needs a reason and who approved it",
                                    a.account
                                ),
                            ));
                        }
                    }
                    generic = spec;
                }
                Err(e) => findings.problems.push(src.problem(
                    Some(src.line_at(span.start)),
                    format!("generic_accounts: {}", e.message().trim()),
                )),
            }
        }

        if findings.has_errors() {
            return Err(findings);
        }
        Ok((
            RoleModel {
                systems,
                roles,
                rules,
                generic_patterns: generic.patterns.iter().map(|p| Glob::new(p)).collect(),
                approved_generic: generic.approved,
            },
            findings,
        ))
    }

    /// Is this account an approved generic login on this system?
    pub fn is_approved_generic(&self, system: &str, account: &str) -> bool {
        self.approved_generic
            .iter()
            .any(|a| a.system == system && a.account.eq_ignore_ascii_case(account))
    }

    /// Does this account name look like a shared login ("ward7", "temp.nurse")?
    pub fn looks_generic(&self, account: &str, display_name: &str) -> bool {
        self.generic_patterns
            .iter()
            .any(|p| p.matches(account) || (!display_name.is_empty() && p.matches(display_name)))
    }
}

/// The longest day count a role model may give (ten years).
pub const MAX_DAYS: u32 = 3653;

fn check_system(
    src: &Source<'_>,
    id: &str,
    policy: &SystemPolicy,
    span: &std::ops::Range<usize>,
    findings: &mut Findings,
) {
    if policy.holds_clinical_history && policy.delete_after_days.is_some() {
        findings.problems.push(src.problem(
            Some(src.line_of(span, "delete_after_days")),
            format!(
                "system `{id}` holds clinical history, so its accounts are never deleted: remove delete_after_days"
            ),
        ));
    }
    // Every day count is bounded so no date arithmetic on it can overflow or wrap: ten
    // years covers any real retention, grace or inactivity period.
    let day_counts = [
        ("delete_after_days", policy.delete_after_days),
        ("mover_grace_days", Some(policy.mover_grace_days)),
        (
            "prepare_days_before_start",
            Some(policy.prepare_days_before_start),
        ),
        ("inactivity_days", policy.inactivity_days),
        (
            "inactivity_notice_days",
            Some(policy.inactivity_notice_days),
        ),
        (
            "service_removes_unused_after_days",
            policy.service_removes_unused_after_days,
        ),
        (
            "service_removal_notice_days",
            Some(policy.service_removal_notice_days),
        ),
    ];
    for (key, value) in day_counts {
        if let Some(days) = value
            && days > MAX_DAYS
        {
            findings.problems.push(src.problem(
                Some(src.line_of(span, key)),
                format!("system `{id}`: {key} is {days}: use at most {MAX_DAYS} (ten years)"),
            ));
        }
    }
    if policy.delete_after_days == Some(0) {
        findings.problems.push(src.problem(
            Some(src.line_of(span, "delete_after_days")),
            format!(
                "system `{id}`: delete_after_days must be at least 1 (leave it out to never delete)"
            ),
        ));
    }
    if policy.inactivity_notice_days < 7 {
        findings.problems.push(src.problem(
            Some(src.line_of(span, "inactivity_notice_days")),
            format!(
                "system `{id}`: inactivity_notice_days is {}, but line managers must be told at least 7 days before a disable",
                policy.inactivity_notice_days
            ),
        ));
    }
    if let Some(days) = policy.inactivity_days
        && days <= policy.inactivity_notice_days
    {
        findings.problems.push(src.problem(
            Some(src.line_of(span, "inactivity_days")),
            format!(
                "system `{id}`: inactivity_days ({days}) must be longer than the notice period ({})",
                policy.inactivity_notice_days
            ),
        ));
    }
    if let Some(list) = &policy.manages
        && list.iter().any(|p| p.trim().is_empty())
    {
        findings.problems.push(src.problem(
            Some(src.line_of(span, "manages")),
            format!("system `{id}`: `manages` holds a blank pattern"),
        ));
    }
}

fn criteria(
    src: &Source<'_>,
    span: &std::ops::Range<usize>,
    rule: &str,
    section: &str,
    spec: &CriteriaSpec,
    findings: &mut Findings,
) -> Criteria {
    let lists = [
        (MatchField::StaffGroup, &spec.staff_group),
        (MatchField::JobRole, &spec.job_role),
        (MatchField::OccupationCode, &spec.occupation_code),
        (MatchField::PositionNumber, &spec.position_number),
        (MatchField::PositionTitle, &spec.position_title),
        (MatchField::Organisation, &spec.organisation),
        (MatchField::CostCentre, &spec.cost_centre),
        (MatchField::Location, &spec.location),
    ];
    let mut out = Criteria::default();
    for (field, list) in lists {
        let Some(list) = list else { continue };
        if list.is_empty() || list.iter().any(|p| p.trim().is_empty()) {
            findings.problems.push(src.problem(
                Some(src.line_of(span, field.as_str())),
                format!(
                    "rule `{rule}`: {section}.{} is empty or holds a blank pattern, which matches nobody",
                    field.as_str()
                ),
            ));
        }
        out.fields
            .insert(field, list.iter().map(|p| Glob::new(p)).collect());
    }
    out
}

#[cfg(test)]
mod tests;
