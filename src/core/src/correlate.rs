//! Correlation: before anything is created, find the accounts people already have.
//!
//! A real directory is never empty: most of a trust's accounts were made by hand, years
//! before Turnstile, and carry no ESR employee number. For each person with no account
//! linked on a system, correlation looks through that system's *unlinked* accounts (no
//! anchor) for ones that are theirs, by an ordered list of rules from config, and says
//! which situation the person is in (midPoint's words):
//!
//! - **no candidate**: nothing matches; an account may be created;
//! - **strong**: exactly one account matches by a strong rule (the normalised anchor, the
//!   work email, the smartcard UUID, or the name narrowed by department, manager or
//!   location) and no other account matches as strongly; it is proposed for linking (or
//!   linked, where the target adopts strong matches by itself);
//! - **disputed**: several accounts match as strongly, or only weak rules match (the name
//!   alone, the account name the pattern would give); a person decides.
//!
//! An account that is the strong candidate of two people is disputed for both: one
//! account is never linked to two people. Pure: no I/O, deterministic order.

use crate::account::Account;
use crate::hr::Person;
use crate::naming::{Naming, fold};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Account attributes correlation reads, as connectors report them in
/// [`Account::attributes`]. Absent ones are simply not compared.
pub mod attr {
    pub const GIVEN_NAME: &str = "given_name";
    pub const FAMILY_NAME: &str = "family_name";
    pub const DISPLAY_NAME: &str = "display_name";
    pub const MAIL: &str = "mail";
    /// AD `userPrincipalName`.
    pub const UPN: &str = "upn";
    /// Further addresses, `;`-separated (AD `proxyAddresses` without `smtp:`, SCIM
    /// `emails`).
    pub const OTHER_MAIL: &str = "other_mail";
    pub const DEPARTMENT: &str = "department";
    pub const LOCATION: &str = "location";
    /// The manager's employee number.
    pub const MANAGER: &str = "manager";
}

/// One way of finding a person's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The account holds the employee number written another way (leading zeros, spaces,
    /// case): the anchor loaded by hand from a spreadsheet.
    Anchor,
    /// The ESR work email is one of the account's addresses (mail, UPN, proxy addresses,
    /// SCIM emails, the NHSmail address).
    Email,
    /// The smartcard UUID (SDS user id) the account carries.
    Smartcard,
    /// Given name and surname, or the display name, folded (known-as name, hyphens,
    /// apostrophes, accents and case), narrowed by `narrow_by`.
    Name,
    /// The name the target's naming pattern would give the person, or a numbered form.
    AccountName,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Anchor => "anchor",
            Rule::Email => "email",
            Rule::Smartcard => "smartcard",
            Rule::Name => "name",
            Rule::AccountName => "account_name",
        }
    }

    /// Every rule, in the default order.
    pub const ALL: [Rule; 5] = [
        Rule::Anchor,
        Rule::Email,
        Rule::Smartcard,
        Rule::Name,
        Rule::AccountName,
    ];
}

/// What narrows a name match down to one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Narrow {
    Department,
    Manager,
    Location,
}

impl Narrow {
    pub fn as_str(self) -> &'static str {
        match self {
            Narrow::Department => "department",
            Narrow::Manager => "manager",
            Narrow::Location => "location",
        }
    }
}

/// What the engine does with a strong candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Adopt {
    /// Propose the link; a person accepts it (`turnstile matches accept`). The default.
    #[default]
    Propose,
    /// Link a strong match by itself (the anchor written, audited `account.linked`).
    Auto,
    /// No correlation: an account is created for anyone with none linked (the guard on
    /// creates still applies).
    Off,
}

/// A target's correlation settings: `[targets.<system>.correlation]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The rules tried, in order (the order candidates' evidence is given in).
    #[serde(default = "all_rules")]
    pub rules: Vec<Rule>,
    /// What makes a name match strong: one of these agreeing as well.
    #[serde(default = "by_department")]
    pub narrow_by: Vec<Narrow>,
    #[serde(default)]
    pub adopt: Adopt,
    /// Revoke managed entitlements the role model does not grant from an account as soon
    /// as it is linked. Off by default: an adopted account's groups granted by hand are
    /// reported (`excess_entitlement`) and revoked only after a person decides.
    #[serde(default)]
    pub revoke_unmanaged_after_adoption: bool,
}

fn all_rules() -> Vec<Rule> {
    Rule::ALL.to_vec()
}

fn by_department() -> Vec<Narrow> {
    vec![Narrow::Department]
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            rules: all_rules(),
            narrow_by: by_department(),
            adopt: Adopt::Propose,
            revoke_unmanaged_after_adoption: false,
        }
    }
}

impl Settings {
    /// True when correlation runs at all.
    pub fn enabled(&self) -> bool {
        self.adopt != Adopt::Off && !self.rules.is_empty()
    }
}

/// One account that may be a person's, with what matched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Candidate {
    pub account: String,
    /// The rules that matched, in the settings' order.
    pub rules: Vec<Rule>,
    /// What narrowed a name match (empty when none did).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub narrowed_by: Vec<Narrow>,
    pub strong: bool,
}

impl Candidate {
    /// The evidence in words: `email, name + department`; an account no rule matched
    /// (a person chose it) says so.
    pub fn evidence(&self) -> String {
        if self.rules.is_empty() {
            return "a person's choice".into();
        }
        let mut out = Vec::new();
        for r in &self.rules {
            if *r == Rule::Name && !self.narrowed_by.is_empty() {
                let by: Vec<&str> = self.narrowed_by.iter().map(|n| n.as_str()).collect();
                out.push(format!("name + {}", by.join(" + ")));
            } else {
                out.push(r.as_str().to_string());
            }
        }
        out.join(", ")
    }
}

/// Where a person with no linked account stands on one system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "situation", rename_all = "snake_case")]
pub enum Situation {
    /// No account matches: one may be created.
    NoCandidate,
    /// One account matches strongly; `others` matched only weakly.
    Strong {
        candidate: Candidate,
        others: Vec<Candidate>,
    },
    /// Several accounts match as strongly, only weak rules match, or the one strong match
    /// is also another person's: a person decides.
    Disputed { candidates: Vec<Candidate> },
}

impl Situation {
    pub fn name(&self) -> &'static str {
        match self {
            Situation::NoCandidate => "no_candidate",
            Situation::Strong { .. } => "strong",
            Situation::Disputed { .. } => "disputed",
        }
    }

    /// Every candidate, the strong one first.
    pub fn candidates(&self) -> Vec<&Candidate> {
        match self {
            Situation::NoCandidate => Vec::new(),
            Situation::Strong { candidate, others } => {
                std::iter::once(candidate).chain(others.iter()).collect()
            }
            Situation::Disputed { candidates } => candidates.iter().collect(),
        }
    }
}

/// True when an account is linked to nobody: no anchor at all.
pub fn unlinked(account: &Account) -> bool {
    account
        .employee_number
        .as_deref()
        .is_none_or(|n| n.trim().is_empty())
}

/// Whether `account` could be `person`'s in correlation's eyes: linked to nobody, or
/// anchored on their employee number written another way. What a connector's search for
/// candidates keeps; correlation itself decides among them.
pub fn could_be_theirs(account: &Account, person: &Person) -> bool {
    unlinked(account)
        || account
            .employee_number
            .as_deref()
            .is_some_and(|n| normal_anchor(n) == normal_anchor(person.employee_number.as_str()))
}

/// An employee number written another way, as the anchor rule compares it: trimmed,
/// leading zeros off, upper case.
fn normal_anchor(text: &str) -> String {
    let t = text.trim().to_ascii_uppercase();
    let stripped = t.trim_start_matches('0');
    if stripped.is_empty() && !t.is_empty() {
        "0".into()
    } else {
        stripped.to_string()
    }
}

fn split_mail(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split([';', ',', ' '])
        .map(str::trim)
        .map(|m| {
            m.strip_prefix("smtp:")
                .or_else(|| m.strip_prefix("SMTP:"))
                .unwrap_or(m)
        })
        .filter(|m| m.contains('@'))
        .map(str::to_ascii_lowercase)
}

/// Keys to account positions as one sorted vector of (hash of the key, position), built
/// with one sort and no allocation per key, and a table of where each run of hashes with
/// the same top bits starts: a probe is two memory reads, where a binary search over
/// hundreds of thousands of keys is a cache miss a step. A probe gives the positions filed
/// under the key's hash; the caller checks that the account really holds the key, so a
/// collision costs a check, never a wrong match.
#[derive(Default)]
struct Keyed {
    keys: Vec<(u64, u32)>,
    /// `starts[b]`: the first key whose hash's top `bits` bits are `b`; one more at the end.
    starts: Vec<u32>,
    bits: u32,
}

fn key_hash(key: &str) -> u64 {
    use std::hash::BuildHasher;
    std::hash::BuildHasherDefault::<crate::fast::FastHasher>::default().hash_one(key)
}

impl Keyed {
    fn push(&mut self, key: &str, i: u32) {
        self.keys.push((key_hash(key), i));
    }

    /// Sorted by hash, then position; one entry per key hash and account; the table of
    /// starts about as long as the keys.
    fn seal(&mut self) {
        self.keys.sort_unstable();
        self.keys.dedup();
        self.bits = usize::BITS - self.keys.len().leading_zeros();
        let mut starts = vec![0u32; (1usize << self.bits) + 1];
        for (h, _) in &self.keys {
            if let Some(n) = starts.get_mut(self.bucket(*h) + 1) {
                *n += 1;
            }
        }
        for b in 1..starts.len() {
            starts[b] += starts[b - 1];
        }
        self.starts = starts;
    }

    fn bucket(&self, h: u64) -> usize {
        h.checked_shr(u64::BITS - self.bits).unwrap_or(0) as usize
    }

    /// The positions filed under `key`'s hash, in position order.
    fn get(&self, key: &str) -> impl Iterator<Item = u32> + '_ {
        let h = key_hash(key);
        let b = self.bucket(h);
        let (from, to) = match (self.starts.get(b), self.starts.get(b + 1)) {
            (Some(from), Some(to)) => (*from as usize, *to as usize),
            _ => (0, 0),
        };
        self.keys
            .get(from..to)
            .unwrap_or_default()
            .iter()
            .filter(move |(k, _)| *k == h)
            .map(|(_, i)| *i)
    }
}

/// An account's addresses, as the email rule compares them (lower case, `smtp:` off).
fn mail_keys(a: &Account) -> BTreeSet<String> {
    [attr::MAIL, attr::UPN, attr::OTHER_MAIL]
        .iter()
        .filter_map(|key| a.attributes.get(*key))
        .flat_map(|v| split_mail(v))
        .collect()
}

/// An account's smartcard UUID, trimmed, when it holds one.
fn card_key(a: &Account) -> Option<&str> {
    a.attributes
        .get(crate::account::SDS_USER_ID)
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
}

/// An account's names as the name rule compares them: folded `given + family`, and the
/// folded display name (both word orders are looked up from the person's side).
fn account_name_keys(a: &Account) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    if let (Some(g), Some(f)) = (
        a.attributes.get(attr::GIVEN_NAME),
        a.attributes.get(attr::FAMILY_NAME),
    ) {
        let (g, f) = (fold(g), fold(f));
        if !g.is_empty() && !f.is_empty() {
            keys.insert(format!("{g}{f}"));
        }
    }
    let shown = a
        .attributes
        .get(attr::DISPLAY_NAME)
        .filter(|d| !d.trim().is_empty())
        .unwrap_or(&a.display_name);
    let d = fold(shown);
    if !d.is_empty() {
        keys.insert(d);
    }
    keys
}

/// An account name without the number at its end.
fn stem_of(id: &str) -> &str {
    id.trim_end_matches(|c: char| c.is_ascii_digit())
}

/// The unlinked accounts of one system, indexed by every key a rule looks up. Built once
/// per pass; each lookup is a probe of a hash-prefix table, so 100,000 people against 100,000
/// accounts is a few hundred thousand probes, not ten billion comparisons.
pub struct Index<'a> {
    accounts: Vec<&'a Account>,
    anchor: Keyed,
    mail: Keyed,
    card: Keyed,
    name: Keyed,
    /// Account names (lower case) under themselves and under their stem, the name
    /// without a number at its end, for the pattern rule.
    stem: Keyed,
    settings: &'a Settings,
    naming: Option<&'a Naming>,
}

impl<'a> Index<'a> {
    /// Indexes the unlinked accounts of `accounts` for the rules `settings` names.
    pub fn new(
        accounts: &'a [Account],
        settings: &'a Settings,
        naming: Option<&'a Naming>,
    ) -> Self {
        let mut ix = Index {
            accounts: Vec::new(),
            anchor: Keyed::default(),
            mail: Keyed::default(),
            card: Keyed::default(),
            name: Keyed::default(),
            stem: Keyed::default(),
            settings,
            naming,
        };
        let wants = |r: Rule| settings.rules.contains(&r);
        for a in accounts {
            // The anchor rule looks at accounts whose anchor is written another way; every
            // other rule at accounts with no anchor at all.
            let i = ix.accounts.len() as u32;
            let has_anchor = !unlinked(a);
            if has_anchor && !wants(Rule::Anchor) {
                continue;
            }
            ix.accounts.push(a);
            if let Some(n) = a.employee_number.as_deref().filter(|_| has_anchor) {
                ix.anchor.push(&normal_anchor(n), i);
                continue;
            }
            if wants(Rule::Email) {
                for m in mail_keys(a) {
                    ix.mail.push(&m, i);
                }
            }
            if wants(Rule::Smartcard)
                && let Some(c) = card_key(a)
            {
                ix.card.push(c, i);
            }
            if wants(Rule::Name) {
                for k in account_name_keys(a) {
                    ix.name.push(&k, i);
                }
            }
            if wants(Rule::AccountName) {
                // Under the name itself (a base may end in digits) and under its stem.
                let id = a.id.to_ascii_lowercase();
                ix.stem.push(stem_of(&id), i);
                ix.stem.push(&id, i);
            }
        }
        for keyed in [
            &mut ix.anchor,
            &mut ix.mail,
            &mut ix.card,
            &mut ix.name,
            &mut ix.stem,
        ] {
            keyed.seal();
        }
        ix
    }

    /// The indexed accounts filed under `key` in `keyed` that really hold it, by what
    /// `holds` says of each.
    fn holding<'k>(
        &'k self,
        keyed: &'k Keyed,
        key: &'k str,
        holds: impl Fn(&Account) -> bool + 'k,
    ) -> impl Iterator<Item = u32> + 'k {
        keyed
            .get(key)
            .filter(move |i| self.accounts.get(*i as usize).is_some_and(|a| holds(a)))
    }

    /// The accounts indexed.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Every account that may be `person`'s, with what matched, in account-name order;
    /// accounts in `refused` (rejected for this person) are left out.
    pub fn candidates(&self, person: &Person, refused: &BTreeSet<&str>) -> Vec<Candidate> {
        let mut found: BTreeMap<u32, (BTreeSet<Rule>, BTreeSet<Narrow>)> = BTreeMap::new();
        let mut hit = |ids: &mut dyn Iterator<Item = u32>, rule: Rule| {
            for i in ids {
                found.entry(i).or_default().0.insert(rule);
            }
        };
        for rule in &self.settings.rules {
            match rule {
                Rule::Anchor => {
                    let key = normal_anchor(person.employee_number.as_str());
                    hit(
                        &mut self.holding(&self.anchor, &key, |a| {
                            a.employee_number
                                .as_deref()
                                .is_some_and(|n| normal_anchor(n) == key)
                        }),
                        Rule::Anchor,
                    );
                }
                Rule::Email => {
                    if let Some(m) = person.work_email.as_deref() {
                        for m in split_mail(m) {
                            hit(
                                &mut self.holding(&self.mail, &m, |a| mail_keys(a).contains(&m)),
                                Rule::Email,
                            );
                        }
                    }
                }
                Rule::Smartcard => {
                    if let Some(c) = &person.sds_user_id {
                        let c = c.to_string();
                        hit(
                            &mut self.holding(&self.card, &c, |a| card_key(a) == Some(c.as_str())),
                            Rule::Smartcard,
                        );
                    }
                }
                Rule::Name => {
                    let family = fold(person.family_name.as_str());
                    let mut firsts = BTreeSet::new();
                    firsts.insert(fold(person.given_name.as_str()));
                    if let Some(p) = person.preferred_name.as_deref() {
                        firsts.insert(fold(p));
                    }
                    firsts.remove("");
                    let mut keys = BTreeSet::new();
                    for f in &firsts {
                        keys.insert(format!("{f}{family}"));
                        keys.insert(format!("{family}{f}"));
                    }
                    for k in &keys {
                        hit(
                            &mut self.holding(&self.name, k, |a| account_name_keys(a).contains(k)),
                            Rule::Name,
                        );
                    }
                }
                Rule::AccountName => {
                    let Some(naming) = self.naming else { continue };
                    let base = naming.base(person);
                    if base.is_empty() {
                        continue;
                    }
                    // A numbered form keeps all of the base, or as much as fits beside a
                    // number of up to three digits.
                    let mut stems = BTreeSet::new();
                    stems.insert(base.as_str());
                    for cut in 1..=3 {
                        if let Some(s) = base.get(..naming.max_len.saturating_sub(cut))
                            && !s.is_empty()
                        {
                            stems.insert(s);
                        }
                    }
                    let mut forms = Vec::new();
                    for s in stems {
                        forms.extend(self.holding(&self.stem, s, |a| {
                            let id = a.id.to_ascii_lowercase();
                            (id == s || stem_of(&id) == s) && naming.is_form_of(&base, &id)
                        }));
                    }
                    hit(&mut forms.into_iter(), Rule::AccountName);
                }
            }
        }
        let mut out: Vec<Candidate> = found
            .into_iter()
            .filter_map(|(i, (rules, _))| {
                let a = self.accounts.get(i as usize)?;
                if refused.contains(a.id.as_str()) {
                    return None;
                }
                let narrowed_by: Vec<Narrow> = if rules.contains(&Rule::Name) {
                    self.settings
                        .narrow_by
                        .iter()
                        .copied()
                        .filter(|n| narrows(*n, person, a))
                        .collect()
                } else {
                    Vec::new()
                };
                let strong = rules.contains(&Rule::Anchor)
                    || rules.contains(&Rule::Email)
                    || rules.contains(&Rule::Smartcard)
                    || (rules.contains(&Rule::Name) && !narrowed_by.is_empty());
                let rules = self
                    .settings
                    .rules
                    .iter()
                    .copied()
                    .filter(|r| rules.contains(r))
                    .collect();
                Some(Candidate {
                    account: a.id.clone(),
                    rules,
                    narrowed_by,
                    strong,
                })
            })
            .collect();
        out.sort_by(|a, b| a.account.cmp(&b.account));
        out
    }
}

/// Whether the account agrees with the person on `n`. An account that holds nothing
/// there never agrees.
fn narrows(n: Narrow, person: &Person, a: &Account) -> bool {
    let held = |key: &str| {
        a.attributes
            .get(key)
            .map(|v| fold(v))
            .filter(|v| !v.is_empty())
    };
    match n {
        Narrow::Department => {
            let Some(held) = held(attr::DEPARTMENT) else {
                return false;
            };
            person
                .assignments
                .iter()
                .filter_map(|x| x.organisation.as_deref())
                .any(|o| fold(o) == held)
        }
        Narrow::Location => {
            let Some(held) = held(attr::LOCATION) else {
                return false;
            };
            person
                .assignments
                .iter()
                .filter_map(|x| x.location.as_deref())
                .any(|o| fold(o) == held)
        }
        Narrow::Manager => {
            let Some(held) = a.attributes.get(attr::MANAGER).map(|m| m.trim()) else {
                return false;
            };
            !held.is_empty()
                && (person.line_manager.as_ref().map(|m| m.as_str()) == Some(held)
                    || person
                        .assignments
                        .iter()
                        .filter_map(|x| x.supervisor.as_ref())
                        .any(|s| s.as_str() == held))
        }
    }
}

/// The situation of one person from their candidates alone.
pub fn situation(mut candidates: Vec<Candidate>) -> Situation {
    if candidates.is_empty() {
        return Situation::NoCandidate;
    }
    let strong = candidates.iter().filter(|c| c.strong).count();
    if strong == 1 {
        let at = candidates.iter().position(|c| c.strong).unwrap_or(0);
        let candidate = candidates.remove(at);
        return Situation::Strong {
            candidate,
            others: candidates,
        };
    }
    Situation::Disputed { candidates }
}

/// Correlates every person in `people` (those with no account linked on the system)
/// against the index, leaving out the accounts `refused` for each (person → accounts a
/// person said are not theirs). An account that is the strong candidate of more than one
/// person is disputed for each of them. Returned in employee-number order. With many
/// people, `workers` threads look up shares of them at once; the answer is the same.
pub fn correlate<'p>(
    index: &Index<'_>,
    people: &[&'p Person],
    refused: &BTreeMap<String, BTreeSet<String>>,
    workers: usize,
) -> BTreeMap<&'p str, Situation> {
    let none = BTreeSet::new();
    let one = |p: &Person| {
        let mine: BTreeSet<&str> = refused
            .get(p.employee_number.as_str())
            .map(|s| s.iter().map(String::as_str).collect())
            .unwrap_or_default();
        situation(index.candidates(p, if mine.is_empty() { &none } else { &mine }))
    };
    // Shares of a few thousand people: each share's situations come back in its order.
    const SHARE: usize = 4096;
    let found: Vec<Situation> = if workers > 1 && people.len() > SHARE {
        crate::drift::in_turn(people.len().div_ceil(SHARE), workers, |k| {
            people
                .iter()
                .skip(k * SHARE)
                .take(SHARE)
                .map(|p| one(p))
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect()
    } else {
        people.iter().map(|p| one(p)).collect()
    };
    let mut out: BTreeMap<&'p str, Situation> = BTreeMap::new();
    let mut claimed: BTreeMap<String, usize> = BTreeMap::new();
    for (p, s) in people.iter().zip(found) {
        if let Situation::Strong { candidate, .. } = &s {
            *claimed.entry(candidate.account.clone()).or_default() += 1;
        }
        out.insert(p.employee_number.as_str(), s);
    }
    for s in out.values_mut() {
        let contested = matches!(s, Situation::Strong { candidate, .. }
            if claimed.get(&candidate.account).copied().unwrap_or(0) > 1);
        if contested
            && let Situation::Strong { candidate, others } =
                std::mem::replace(s, Situation::NoCandidate)
        {
            let mut candidates = others;
            candidates.push(candidate);
            candidates.sort_by(|a, b| a.account.cmp(&b.account));
            *s = Situation::Disputed { candidates };
        }
    }
    out
}

/// What the engine does for a person with no account linked on a system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No candidate: create, as for an empty directory.
    Create,
    /// A strong candidate on a target that adopts by itself: write the anchor onto it.
    Link(Candidate),
    /// A strong candidate: stored as a proposal for a person to accept; nothing created.
    Propose(Candidate, Vec<Candidate>),
    /// Several or only weak candidates: stored as a dispute; nothing created.
    Dispute(Vec<Candidate>),
}

/// The engine's reaction to a situation. A create is only ever the answer when there is
/// no candidate at all.
pub fn decide(situation: Situation, adopt: Adopt) -> Decision {
    match situation {
        Situation::NoCandidate => Decision::Create,
        Situation::Strong { candidate, .. } if adopt == Adopt::Auto => Decision::Link(candidate),
        Situation::Strong { candidate, others } => Decision::Propose(candidate, others),
        Situation::Disputed { candidates } => Decision::Dispute(candidates),
    }
}

pub mod survey;
#[cfg(test)]
mod tests;
