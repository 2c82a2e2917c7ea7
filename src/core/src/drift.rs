//! The drift report (CONTRACT §4): what the HR record and the role model say people should
//! have, against what the account exports say they do have.
//!
//! Pure: it takes people, accounts, the role model and `today`, and returns findings in a
//! fixed order. Reading files and writing the report happen at the edge (`cli`).
//!
//! How each category is decided (also in the README):
//! - `leaver_still_active`: an enabled account of a person whose last working day is over.
//! - `used_after_leaving`: an account (enabled or not) of a leaver whose last logon is after
//!   the end of their last working day (Europe/London): someone used it after they left.
//! - `absent_still_active`: enabled while absent or suspended, on a system that disables.
//! - `enabled_before_start`: enabled before the joiner's first day.
//! - `orphan_account`: an enabled account linked to nobody in the HR extract, and not a
//!   generic login.
//! - `generic_account`: an enabled account linked to nobody whose name matches a generic
//!   pattern, and not approved by exception.
//! - `duplicate_account`: a person in post with more than one enabled account on one system
//!   (one finding per account).
//! - `dormant_account`: the enabled account of a person working (not away) with no logon for
//!   longer than the system's `inactivity_days` (never logged on counts from their first day).
//! - `missing_account`: a person in post whose roles grant a system, with no account there.
//! - `missing_entitlement` / `excess_entitlement`: on the account a person uses, an
//!   entitlement a role grants that is not held, or a managed one held that no role grants
//!   (an enabled account on a system no role grants at all is excess access too).
//!
//! Disabled accounts of people in post are left alone (they are typically inactivity
//! disables); accounts linked to a person whose HR rows were unusable are not judged.

use crate::desired::{DesiredView, Presence, RuleMemo, desired_views_memo};
use crate::fast::FastMap;
use crate::hr::{Lifecycle, Person};
use crate::policy::{RoleModel, System};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

pub mod held;
pub use held::{AccountRef, Held, Number, TooLarge};

/// Declares the drift categories once: each one's name, severity and the guidance a
/// report gives (what it means, what to do, the expectation it touches). Adding a
/// category is one entry here plus its judge; nothing else lists them.
macro_rules! categories {
    ($($variant:ident {
        name: $name:literal,
        severity: $severity:ident,
        meaning: $meaning:literal,
        action: $action:literal,
        expectation: $expectation:literal,
    })*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Category {
            $($variant),*
        }

        impl Category {
            pub const ALL: [Category; [$(Category::$variant),*].len()] = [$(Category::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Category::$variant => $name),*
                }
            }

            pub fn severity(self) -> Severity {
                match self {
                    $(Category::$variant => Severity::$severity),*
                }
            }

            /// What the category means, what to do about it, and the CQC regulation or
            /// DSPT outcome it touches.
            pub fn guidance(self) -> (&'static str, &'static str, &'static str) {
                match self {
                    $(Category::$variant => ($meaning, $action, $expectation)),*
                }
            }
        }
    };
}

categories! {
    LeaverStillActive {
        name: "leaver_still_active",
        severity: High,
        meaning: "An account that is still enabled although its owner's last working day is over.",
        action: "Disable it today (Turnstile does so by itself when it manages the system); check with the line manager whether the leaving date is right.",
        expectation: "CQC Regulation 17 (good governance: access withdrawn promptly when staff leave); DSPT / CAF B2 (identity and access control).",
    }
    UsedAfterLeaving {
        name: "used_after_leaving",
        severity: High,
        meaning: "A leaver's account was signed in to after the end of their last working day: someone used the access after they left.",
        action: "Treat as a possible information-governance incident: find out who signed in and what they looked at (the system's own audit), disable the account, and record it in the trust's incident system.",
        expectation: "CQC Regulation 17 (audit logs checked for irregular access); DSPT / CAF B2 and C1 (security monitoring).",
    }
    AbsentStillActive {
        name: "absent_still_active",
        severity: Medium,
        meaning: "Enabled while its owner is suspended or away, on a system the role model says to disable for that absence.",
        action: "Disable it for the absence; it is enabled again on return.",
        expectation: "CQC Regulation 17; DSPT / CAF B2 (access matches current duties).",
    }
    EnabledBeforeStart {
        name: "enabled_before_start",
        severity: Medium,
        meaning: "Enabled before its owner's first day.",
        action: "Disable it until the first day; accounts are prepared disabled.",
        expectation: "DSPT / CAF B2 (access only while needed).",
    }
    OrphanAccount {
        name: "orphan_account",
        severity: High,
        meaning: "An enabled account linked to nobody in the HR extract.",
        action: "Find its owner and link it (employee number), or disable it. An orphan is a way in that nobody answers for.",
        expectation: "CQC Regulation 17 (every user has a named account); DSPT / CAF B2.",
    }
    GenericAccount {
        name: "generic_account",
        severity: Medium,
        meaning: "An enabled shared login with no approved exception.",
        action: "Replace it with named accounts, or record an approved exception in the role model.",
        expectation: "CQC Regulation 17 (named accounts, never a shared login); DSPT / CAF B2 (users uniquely identified).",
    }
    DuplicateAccount {
        name: "duplicate_account",
        severity: Medium,
        meaning: "Someone in post with more than one enabled account on one system.",
        action: "Keep the account they use and disable the others.",
        expectation: "Trust procedure: one account per user per system; DSPT / CAF B2.",
    }
    DormantAccount {
        name: "dormant_account",
        severity: Medium,
        meaning: "The enabled account of someone at work that has not been used for longer than the system's inactivity limit.",
        action: "Tell the line manager, then disable it after the notice period (Turnstile does this with a week's notice).",
        expectation: "Trust procedure: disable after 1-3 months unused, the line manager told a week before; DSPT / CAF B2.",
    }
    MissingAccount {
        name: "missing_account",
        severity: Low,
        meaning: "Someone whose role grants a system has no account there.",
        action: "Create the account (or raise the work item) so they can do their job from day one.",
        expectation: "CQC Regulation 12 (safe care: staff can reach the records they need); trust procedure: set up within 1 working day.",
    }
    MissingEntitlement {
        name: "missing_entitlement",
        severity: Low,
        meaning: "An entitlement a role grants that the account does not hold.",
        action: "Grant it, or correct the role model if the role no longer needs it.",
        expectation: "CQC Regulation 12 (safe care); DSPT / CAF B2 (access set by role).",
    }
    ExcessEntitlement {
        name: "excess_entitlement",
        severity: Medium,
        meaning: "Access no current role grants: a managed group held without a reason, or an enabled account on a system none of the person's roles grants.",
        action: "Remove it, or add the rule that should grant it. Moves leave this behind most often.",
        expectation: "CQC Regulation 17 (need to know, withdrawn when duties change); DSPT / CAF B2 (least privilege).",
    }
    ServiceRemovalDue {
        name: "service_removal_due",
        severity: Medium,
        meaning: "The service itself will soon remove this unused account of someone still employed (NHSmail deletes mailboxes unused for a set time).",
        action: "Ask the person to sign in, or accept the removal if they no longer need it.",
        expectation: "CQC Regulation 12 (staff keep the tools they need).",
    }
    PossibleUnrecordedLeaver {
        name: "possible_unrecorded_leaver",
        severity: High,
        meaning: "Someone ESR has at work whose accounts are unused on every system that reports logons: they may have left without ESR being told.",
        action: "Ask the line manager; if they have left, record the leaving in ESR so every account follows.",
        expectation: "CQC Regulation 17 (accounts deactivated promptly when staff leave); DSPT Standard 4 (an up-to-date staff register).",
    }
    PossibleDuplicate {
        name: "possible_duplicate",
        severity: Medium,
        meaning: "An enabled account with no employee number whose display name is that of one person in the HR extract: their account not yet linked, or a second one.",
        action: "If it is theirs and they have no other, link it (`turnstile matches`, or put the employee number on it); if they have another, disable this one. Left alone, it is a way in nobody answers for.",
        expectation: "Trust procedure: one account per user per system; CQC Regulation 17; DSPT / CAF B2.",
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    pub category: Category,
    pub system: String,
    pub account: Option<String>,
    pub employee_number: Option<String>,
    pub detail: String,
    pub severity: Severity,
    /// The account's last logon, when its export gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_logon: Option<Timestamp>,
    /// With `drift --compare`: whether the previous report had it, and since when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trend: Option<Trend>,
}

/// One system's accounts for the report, with what its export could tell.
pub struct SystemAccounts<'a> {
    pub system: &'a str,
    pub accounts: &'a Held,
    /// False when the export has no last-logon column: dormancy is not judged.
    pub has_last_logon: bool,
}

/// One system's accounts, grouped by the person they are linked to: person `i`'s are
/// `order[starts[i]..starts[i + 1]]`, in the order the export gave them. Two flat arrays
/// rather than a list per person: at national scale that was 7.5 million allocations.
struct Judged<'a> {
    system: &'a System,
    has_last_logon: bool,
    accounts: &'a Held,
    /// Whether Turnstile manages each entitlement name the accounts hold (by number): asked
    /// once per name, not once per account.
    managed: Vec<bool>,
    /// The role model's entitlement names for this system, by where their text lives in
    /// the model (the desired views borrow it), to the number the accounts hold each by
    /// (`None`: no account holds it): a wanted entitlement is found without comparing text.
    granted: FastMap<(usize, usize), Option<u32>>,
    /// Where this system's view is in a person's desired views (one per model system, in
    /// the model's order).
    view: Option<usize>,
    starts: Vec<u32>,
    order: Vec<u32>,
}

impl<'a> Judged<'a> {
    /// The accounts linked to the person at `index` in the list given to [`findings`],
    /// into `out` (emptied first).
    fn fill(&self, index: usize, out: &mut Vec<AccountRef<'a>>) {
        out.clear();
        let (Some(from), Some(to)) = (self.starts.get(index), self.starts.get(index + 1)) else {
            return;
        };
        let mine = self.order.get(*from as usize..*to as usize).unwrap_or(&[]);
        out.extend(mine.iter().filter_map(|i| self.accounts.get(*i as usize)));
    }
}

/// The findings for every system given, sorted by category, system, account, person.
pub fn findings(
    model: &RoleModel,
    people: &[Person],
    unjudged: &BTreeSet<String>,
    systems: &[SystemAccounts<'_>],
    today: Date,
    tz: &TimeZone,
) -> Vec<Finding> {
    findings_on(model, people, unjudged, systems, today, tz, 1)
}

/// [`findings`], with the work shared out among `workers` threads. The result is the same
/// whatever the number: every finding is sorted on all its fields at the end.
///
/// In three steps a caller may also take one by one, to link each export as soon as it is
/// read: [`People::new`], [`People::link`] per system, then [`People::judge`].
pub fn findings_on<'a>(
    model: &'a RoleModel,
    people: &[Person],
    unjudged: &BTreeSet<String>,
    systems: &[SystemAccounts<'a>],
    today: Date,
    tz: &TimeZone,
    workers: usize,
) -> Vec<Finding> {
    let index = People::new(people, unjudged);
    // The systems shared out among the workers when there are many people (a lookup per
    // account, 7.5 million at national scale): no more at once than there are workers,
    // as each holds a list the length of its export while it links.
    let linked: Vec<Option<LinkedSystem<'_>>> = if workers > 1 && people.len() >= 1000 {
        in_turn(systems.len(), workers, |k| {
            systems.get(k).and_then(|s| index.link(model, s))
        })
    } else {
        systems.iter().map(|s| index.link(model, s)).collect()
    };
    index.judge(model, linked, today, tz, workers)
}

/// The people a report judges, indexed by employee number: each number to the first
/// person with it. A number given to two people (an ESR record and a sponsored identity,
/// say) links its accounts to both, as each is judged on its own record.
pub struct People<'p> {
    people: &'p [Person],
    /// Numbers whose HR rows were unusable: their accounts are not judged.
    unjudged: &'p BTreeSet<String>,
    by_number: ByNumber<'p>,
    /// Each person's index of the first person with their number.
    canonical: Vec<u32>,
    /// People by their folded name, made the first time an account with no employee
    /// number is met (most exports never need it).
    names: std::sync::OnceLock<Names>,
}

/// People by a hash of their folded name (`first last` and `last first`, with the
/// known-as name too): each entry is the hash's top bits over the person's index, sorted,
/// 8 bytes a name. A hit is checked against the person's own name.
struct Names(Vec<u64>);

const NAME_INDEX_BITS: u32 = 22;

fn name_hash(folded: &str) -> u64 {
    // FNV-1a: deterministic, no I/O, good enough to spread names.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in folded.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn name_keys(p: &Person) -> Vec<String> {
    use crate::naming::fold;
    let last = fold(p.family_name.as_str());
    let mut firsts = vec![fold(p.given_name.as_str())];
    if let Some(k) = p.preferred_name.as_deref().map(fold)
        && !k.is_empty()
        && !firsts.contains(&k)
    {
        firsts.push(k);
    }
    let mut out = Vec::with_capacity(firsts.len() * 2);
    for f in firsts.iter().filter(|f| !f.is_empty()) {
        out.push(format!("{f}{last}"));
        out.push(format!("{last}{f}"));
    }
    out
}

impl Names {
    fn new(people: &[Person]) -> Names {
        let mut keys: Vec<u64> = Vec::new();
        if people.len() < (1usize << NAME_INDEX_BITS) {
            for (i, p) in people.iter().enumerate() {
                for k in name_keys(p) {
                    keys.push((name_hash(&k) << NAME_INDEX_BITS) | i as u64);
                }
            }
        }
        keys.sort_unstable();
        keys.dedup();
        Names(keys)
    }

    /// The people whose name folds to `folded`, in index order.
    fn find(&self, people: &[Person], folded: &str) -> Vec<u32> {
        let top = name_hash(folded) << NAME_INDEX_BITS;
        let mask = (1u64 << NAME_INDEX_BITS) - 1;
        let from = self.0.partition_point(|k| (k & !mask) < top);
        let mut out: Vec<u32> = self.0[from..]
            .iter()
            .take_while(|k| (**k & !mask) == top)
            .map(|k| (k & mask) as u32)
            .filter(|i| {
                people
                    .get(*i as usize)
                    .is_some_and(|p| name_keys(p).iter().any(|k| k == folded))
            })
            .collect();
        out.dedup();
        out
    }
}

/// One system's accounts linked to the people of a [`People`], and the findings on those
/// linked to nobody.
pub struct LinkedSystem<'a> {
    judged: Judged<'a>,
    unlinked: Vec<Finding>,
}

impl<'p> People<'p> {
    pub fn new(people: &'p [Person], unjudged: &'p BTreeSet<String>) -> People<'p> {
        let mut by_number =
            ByNumber::for_numbers(people.iter().map(|p| p.employee_number.as_str()));
        let canonical = people
            .iter()
            .enumerate()
            .map(|(i, p)| by_number.first(p.employee_number.as_str(), i as u32))
            .collect();
        People {
            people,
            unjudged,
            by_number,
            canonical,
            names: std::sync::OnceLock::new(),
        }
    }

    /// One system's accounts linked to these people (`None`: the role model has no such
    /// system). Systems may be linked in any order, on any thread.
    pub fn link<'a>(
        &self,
        model: &'a RoleModel,
        accounts: &SystemAccounts<'a>,
    ) -> Option<LinkedSystem<'a>> {
        let system = model.systems.get(accounts.system)?;
        let named_like = |display: &str| -> Option<&'p Person> {
            let folded = crate::naming::fold(display);
            if folded.is_empty() {
                return None;
            }
            let names = self.names.get_or_init(|| Names::new(self.people));
            // Only one person of that name: two would be a guess.
            match names.find(self.people, &folded)[..] {
                [one] => self.people.get(one as usize),
                _ => None,
            }
        };
        let (judged, unlinked) = link(
            model,
            system,
            accounts,
            &self.by_number,
            self.unjudged,
            self.people.len(),
            &named_like,
        );
        Some(LinkedSystem { judged, unlinked })
    }

    /// The findings on every person and every linked system, with the people shared out
    /// among `workers` threads; `linked` is in the order the systems were given (a
    /// finding naming several systems names them in that order).
    pub fn judge<'a>(
        self,
        model: &'a RoleModel,
        linked: Vec<Option<LinkedSystem<'a>>>,
        today: Date,
        tz: &TimeZone,
        workers: usize,
    ) -> Vec<Finding> {
        let People {
            people,
            by_number,
            canonical,
            ..
        } = self;
        // Linked: the numbers are not looked up again.
        drop(by_number);
        let mut out = Vec::new();
        let mut judged: Vec<Judged<'_>> = Vec::with_capacity(linked.len());
        for l in linked.into_iter().flatten() {
            judged.push(l.judged);
            out.extend(l.unlinked);
        }
        out.extend(judge_people(
            model, people, &canonical, &judged, today, tz, workers,
        ));
        // Equal findings are identical (the order is on every field), so an unstable
        // sort gives the same bytes as a stable one.
        out.sort_unstable();
        out
    }
}

/// The findings on `people` against each system's accounts linked to them.
fn judge_people<'a>(
    model: &'a RoleModel,
    people: &'a [Person],
    canonical: &[u32],
    judged: &'a [Judged<'a>],
    today: Date,
    tz: &'a TimeZone,
    workers: usize,
) -> Vec<Finding> {
    // What a worker keeps from one share of people to the next: each system's accounts
    // of the person at hand (the lists reused person to person), the rules each profile
    // of assignment matches (learnt once per worker, not once per share: a trust has
    // thousands of profiles), and the local dates of logons.
    struct Kept<'a> {
        mine: Vec<Vec<AccountRef<'a>>>,
        memo: RuleMemo<'a>,
        local: crate::inactivity::LocalDates<'a>,
    }
    let start = || Kept {
        mine: judged.iter().map(|_| Vec::new()).collect(),
        memo: RuleMemo::new(model),
        local: crate::inactivity::LocalDates::new(tz),
    };
    let each = |kept: &mut Kept<'a>, first: usize, people: &'a [Person]| {
        let Kept { mine, memo, local } = kept;
        let mut out = Vec::new();
        for (offset, person) in people.iter().enumerate() {
            let index = canonical
                .get(first + offset)
                .map_or(usize::MAX, |i| *i as usize);
            for (j, list) in judged.iter().zip(mine.iter_mut()) {
                j.fill(index, list);
            }
            // The role model is read once per person for every system.
            let desired = desired_views_memo(person, model, today, memo);
            // Asked once per person, not once per system: each asks every assignment.
            let lifecycle = person.lifecycle(today);
            let number = person.employee_number.as_str();
            unrecorded_leaver(person, lifecycle, judged, mine, today, local, &mut out);
            for (j, mine) in judged.iter().zip(mine.iter()) {
                let Some(wanted) = j
                    .view
                    .and_then(|k| desired.get(k))
                    .filter(|d| d.system == j.system.id)
                else {
                    continue;
                };
                let at = (lifecycle, today, number);
                judge_person(j, person, wanted, mine, at, local, &mut out);
            }
        }
        out
    };
    let workers = workers.clamp(1, 64);
    if workers == 1 || people.len() < 1000 {
        return each(&mut start(), 0, people);
    }
    // Small shares taken in turn, not one share per worker: people differ in cost (a
    // leaver with five systems against a starter with one), and one large share ran on
    // alone for half a second at national scale while the other cores idled.
    let share = people.len().div_ceil(workers * 16).max(1000);
    let parts: Vec<&[Person]> = people.chunks(share).collect();
    let found = in_turn_keeping(parts.len(), workers, start, |kept, k| {
        parts
            .get(k)
            .map_or_else(Vec::new, |part| each(kept, k * share, part))
    });
    found.into_iter().flatten().collect()
}

/// `job(0)` up to `job(jobs - 1)` on up to `workers` threads, each taking the next job
/// when it finishes one (jobs of unequal cost share the cores out evenly): the results in
/// job order, whichever thread did each.
pub fn in_turn<T: Send>(jobs: usize, workers: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    in_turn_keeping(jobs, workers, || (), |_, k| job(k))
}

/// [`in_turn`], each worker keeping what `start` gives it from one job to the next.
fn in_turn_keeping<K, T: Send>(
    jobs: usize,
    workers: usize,
    start: impl Fn() -> K + Sync,
    job: impl Fn(&mut K, usize) -> T + Sync,
) -> Vec<T> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let take = || {
        let mut kept = start();
        let mut done = Vec::new();
        loop {
            let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if k >= jobs {
                break;
            }
            done.push((k, job(&mut kept, k)));
        }
        done
    };
    let mut done: Vec<(usize, T)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers.clamp(1, jobs.max(1)))
            .map(|_| scope.spawn(take))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    done.sort_unstable_by_key(|(k, _)| *k);
    done.into_iter().map(|(_, t)| t).collect()
}

/// Employee numbers to the index of the first person with each. Numbers of up to nine
/// digits with no leading zero (ESR's eight) are keyed as integers: a third of the room of
/// a key that points at text, and found without comparing text, millions of times at
/// national scale. When a trust's numbers lie close together (no more than twice as many
/// values between the lowest and the highest as there are numbers), they index a list
/// directly: four bytes a value rather than a table three times the size, probed at random
/// for every account of every export.
struct ByNumber<'p> {
    /// The number `base + i` is at `dense[i]` ([`NO_ONE`]: nobody has it).
    base: u32,
    dense: Vec<u32>,
    /// Integer numbers the list does not cover.
    digits: FastMap<u32, u32>,
    other: FastMap<&'p str, u32>,
}

/// No person has this number (`ByNumber::dense`).
const NO_ONE: u32 = u32::MAX;

impl<'p> ByNumber<'p> {
    #[cfg(test)]
    fn with_capacity(n: usize) -> ByNumber<'p> {
        ByNumber::sparse(n)
    }

    /// Room for `numbers`, as a list when they lie close together.
    fn for_numbers(numbers: impl Iterator<Item = &'p str> + Clone) -> ByNumber<'p> {
        let (mut low, mut high, mut count) = (u32::MAX, 0u32, 0usize);
        for k in numbers.filter_map(held::digits) {
            low = low.min(k);
            high = high.max(k);
            count += 1;
        }
        let span = if count == 0 {
            0
        } else {
            (high - low) as usize + 1
        };
        if count > 0 && span <= count.saturating_mul(2).saturating_add(64) {
            ByNumber {
                base: low,
                dense: vec![NO_ONE; span],
                digits: FastMap::default(),
                other: FastMap::default(),
            }
        } else {
            ByNumber::sparse(count)
        }
    }

    fn sparse(count: usize) -> ByNumber<'p> {
        let mut digits = FastMap::default();
        digits.reserve(count);
        ByNumber {
            base: 0,
            dense: Vec::new(),
            digits,
            other: FastMap::default(),
        }
    }

    /// Records `index` for `number` unless a person came first with it: the first's index.
    fn first(&mut self, number: &'p str, index: u32) -> u32 {
        match held::digits(number) {
            Some(k) => match self.dense.get_mut(k.wrapping_sub(self.base) as usize) {
                Some(slot) => {
                    if *slot == NO_ONE {
                        *slot = index;
                    }
                    *slot
                }
                None => *self.digits.entry(k).or_insert(index),
            },
            None => *self.other.entry(number).or_insert(index),
        }
    }

    fn get(&self, number: &str) -> Option<u32> {
        match held::digits(number) {
            Some(k) => self.get_key(k),
            None => self.other.get(number).copied(),
        }
    }

    fn get_key(&self, k: u32) -> Option<u32> {
        match self.dense.get(k.wrapping_sub(self.base) as usize) {
            Some(&slot) => (slot != NO_ONE).then_some(slot),
            None => self.digits.get(&k).copied(),
        }
    }

    /// [`ByNumber::get`] for a number as an export's accounts hold it: one held as an
    /// integer is the same key (both key by [`held::digits`]).
    fn get_held(&self, number: Number<'_>) -> Option<u32> {
        match number {
            Number::Digits(k) => self.get_key(k),
            Number::Text(t) => self.get(t),
        }
    }
}

/// One system's accounts linked to the people given (by their index in `people`), and
/// the findings for those linked to nobody.
fn link<'a, 'p>(
    model: &RoleModel,
    system: &'a System,
    accounts: &SystemAccounts<'a>,
    by_number: &ByNumber<'_>,
    unjudged: &BTreeSet<String>,
    people: usize,
    named_like: &dyn Fn(&str) -> Option<&'p Person>,
) -> (Judged<'a>, Vec<Finding>) {
    let mut out = Vec::new();
    // Whose each account is (`u32::MAX`: nobody's), then a counting sort by person,
    // which keeps each person's accounts in the export's order.
    let mut owner: Vec<u32> = Vec::with_capacity(accounts.accounts.len());
    let mut starts = vec![0u32; people + 1];
    for a in accounts.accounts.iter() {
        let who = match a.employee_number() {
            Some(n) => match by_number.get_held(n) {
                Some(i) => {
                    starts[i as usize] += 1;
                    i
                }
                None if n.with_str(|n| unjudged.contains(n)) => u32::MAX,
                None => {
                    unlinked(model, system, a, &mut out);
                    u32::MAX
                }
            },
            None => {
                match (a.enabled(), named_like(a.display_name())) {
                    (true, Some(p)) if !model.is_approved_generic(&system.id, a.id()) => {
                        out.push(finding(
                            Category::PossibleDuplicate,
                            system,
                            Some(a),
                            Some(p.employee_number.as_str()),
                            format!(
                                "enabled, no employee number, named \"{}\" like {} in the HR extract: their account not yet linked, or a second one (link it with `turnstile matches`, or retire it)",
                                a.display_name(),
                                p.display_name()
                            ),
                        ));
                    }
                    _ => unlinked(model, system, a, &mut out),
                }
                u32::MAX
            }
        };
        owner.push(who);
    }
    // Each person's count becomes where their accounts end; placing the accounts from
    // the last back then leaves it where they start (no second list of positions).
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut order = vec![0u32; starts.last().map_or(0, |n| *n as usize)];
    for (index, who) in owner.iter().enumerate().rev() {
        if let Some(slot) = starts.get_mut(*who as usize) {
            *slot -= 1;
            if let Some(o) = order.get_mut(*slot as usize) {
                *o = index as u32;
            }
        }
    }
    drop(owner);
    let held = accounts.accounts;
    let granted = model
        .roles
        .values()
        .filter_map(|role| role.grants.get(&system.id))
        .flatten()
        .filter(|e| !e.is_empty())
        .map(|e| ((e.as_ptr() as usize, e.len()), held.number(e)))
        .collect();
    let judged = Judged {
        system,
        has_last_logon: accounts.has_last_logon,
        accounts: accounts.accounts,
        granted,
        view: model.systems.keys().position(|id| *id == system.id),
        managed: accounts
            .accounts
            .names()
            .iter()
            .map(|n| system.manages(n))
            .collect(),
        starts,
        order,
    };
    (judged, out)
}

/// A person HR has at work whose enabled accounts are unused on every system that reports
/// logons (two or more of them) for longer than the longest `inactivity_days` there: they
/// may have left without ESR being told. One finding, on the account used last, for the
/// line manager to confirm. No single system's dormancy says this.
fn unrecorded_leaver(
    person: &Person,
    lifecycle: Lifecycle,
    judged: &[Judged<'_>],
    mine: &[Vec<AccountRef<'_>>],
    today: Date,
    local: &mut crate::inactivity::LocalDates<'_>,
    out: &mut Vec<Finding>,
) {
    if lifecycle != Lifecycle::Active {
        return;
    }
    let mut limit: Option<u32> = None;
    // (idle days of the freshest enabled account, its system, the account) per system.
    let mut freshest: Vec<(i64, &System, AccountRef<'_>)> = Vec::new();
    for (j, mine) in judged.iter().zip(mine).filter(|(j, _)| j.has_last_logon) {
        let used: Option<(i64, AccountRef<'_>)> = mine
            .iter()
            .filter(|a| a.enabled())
            .filter_map(|a| {
                let since =
                    crate::inactivity::used_since_in(a.last_logon(), person.first_day(), local)?;
                Some((crate::inactivity::days_between(since, today), *a))
            })
            .min_by_key(|(d, _)| *d);
        let Some((idle, account)) = used else {
            continue;
        };
        if let Some(days) = j.system.policy.inactivity_days {
            // Used within this system's own limit, so within the longest: in use (most
            // people, found at their first system).
            if idle <= i64::from(days) {
                return;
            }
            limit = Some(limit.map_or(days, |l| l.max(days)));
        }
        freshest.push((idle, j.system, account));
    }
    let Some(limit) = limit else {
        return;
    };
    if freshest.len() < 2
        || freshest
            .iter()
            .any(|(idle, _, _)| *idle <= i64::from(limit))
    {
        return;
    }
    let Some(&(idle, system, account)) = freshest.iter().min_by_key(|(idle, _, _)| *idle) else {
        return;
    };
    let each = freshest
        .iter()
        .map(|(d, s, _)| format!("{} {d} days", s.id))
        .collect::<Vec<_>>()
        .join(", ");
    out.push(finding(
        Category::PossibleUnrecordedLeaver,
        system,
        Some(account),
        Some(person.employee_number.as_str()),
        format!(
            "in post according to ESR, but no logon on any system for over {limit} days ({each}; the freshest {idle} days ago): ask the line manager whether they still work here"
        ),
    ));
}

/// The account acted on when a person has several: as [`crate::account::primary`].
fn primary<'a>(accounts: &[AccountRef<'a>]) -> Option<AccountRef<'a>> {
    crate::account::primary_by(accounts, |a| (a.enabled(), a.id()))
}

fn finding(
    category: Category,
    system: &System,
    account: Option<AccountRef<'_>>,
    employee_number: Option<&str>,
    detail: String,
) -> Finding {
    Finding {
        category,
        system: system.id.clone(),
        account: account.map(|a| a.id().to_string()),
        employee_number: employee_number.map(str::to_string).or_else(|| {
            account
                .and_then(AccountRef::employee_number)
                .map(|n| n.to_string())
        }),
        detail,
        severity: category.severity(),
        last_logon: account.and_then(AccountRef::last_logon),
        trend: None,
    }
}

fn unlinked(model: &RoleModel, system: &System, a: AccountRef<'_>, out: &mut Vec<Finding>) {
    if !a.enabled() || model.is_approved_generic(&system.id, a.id()) {
        return;
    }
    let who = match a.employee_number() {
        Some(n) => format!("employee number {n} is not in the HR extract"),
        None => "no employee number".to_string(),
    };
    if model.looks_generic(a.id(), a.display_name()) {
        out.push(finding(
            Category::GenericAccount,
            system,
            Some(a),
            None,
            format!(
                "enabled shared login \"{}\" ({who}): generic logins need an approved exception",
                display(a)
            ),
        ));
    } else {
        out.push(finding(
            Category::OrphanAccount,
            system,
            Some(a),
            None,
            format!("enabled, {who}"),
        ));
    }
}

fn display(a: AccountRef<'_>) -> &str {
    if a.display_name().is_empty() {
        a.id()
    } else {
        a.display_name()
    }
}

/// One person's accounts on one system against what the role model wants there. `at` is
/// the person's lifecycle on `today` and their employee number, worked out once for all
/// their systems.
fn judge_person(
    judged: &Judged<'_>,
    person: &Person,
    desired: &DesiredView<'_>,
    accounts: &[AccountRef<'_>],
    at: (Lifecycle, Date, &str),
    local: &mut crate::inactivity::LocalDates<'_>,
    out: &mut Vec<Finding>,
) {
    let (system, has_last_logon, managed) =
        (judged.system, judged.has_last_logon, &judged.managed[..]);
    let (lifecycle, today, number) = at;
    // Nearly always every account is enabled: then no list is made (one per person and
    // system, millions at national scale).
    let enabled: std::borrow::Cow<'_, [AccountRef<'_>]> = if accounts.iter().all(|a| a.enabled()) {
        std::borrow::Cow::Borrowed(accounts)
    } else {
        std::borrow::Cow::Owned(accounts.iter().copied().filter(|a| a.enabled()).collect())
    };
    let name = &system.policy.name;
    if lifecycle == Lifecycle::Ended && has_last_logon {
        used_after_leaving(system, person, accounts, local.tz(), out);
    }

    match desired.presence {
        Presence::DisabledIfPresent | Presence::DeletedIfPresent => {
            for a in enabled.iter() {
                let (category, detail) = match lifecycle {
                    Lifecycle::Ended => (
                        Category::LeaverStillActive,
                        format!(
                            "enabled, but {} left: last working day {}",
                            person.display_name(),
                            person
                                .last_working_day()
                                .map_or_else(|| "unknown".to_string(), |d| d.to_string())
                        ),
                    ),
                    Lifecycle::Absent | Lifecycle::Suspended => (
                        Category::AbsentStillActive,
                        format!("enabled while {} ({})", lifecycle.as_str(), desired.reason),
                    ),
                    Lifecycle::Future => (
                        Category::EnabledBeforeStart,
                        format!("enabled before the first day: {}", desired.reason),
                    ),
                    Lifecycle::Active => (
                        Category::ExcessEntitlement,
                        format!("enabled account, but {}", desired.reason),
                    ),
                };
                out.push(finding(category, system, Some(*a), Some(number), detail));
            }
            // Two enabled accounts of someone in post are duplicates whether or not a
            // role grants the system.
            if matches!(
                lifecycle,
                Lifecycle::Active | Lifecycle::Absent | Lifecycle::Suspended
            ) {
                duplicates(system, person, &enabled, out);
            }
            if desired.presence == Presence::DisabledIfPresent {
                for a in accounts.iter().filter(|a| !a.enabled()) {
                    excess(system, managed, desired, *a, number, out);
                }
            }
        }
        Presence::KeptIfPresent => {
            for a in accounts {
                excess(system, managed, desired, *a, number, out);
            }
        }
        Presence::Prepared => {
            for a in enabled.iter() {
                out.push(finding(
                    Category::EnabledBeforeStart,
                    system,
                    Some(*a),
                    Some(number),
                    format!("enabled before the first day: {}", desired.reason),
                ));
            }
        }
        Presence::Enabled => {
            if accounts.is_empty() {
                let roles: BTreeSet<&str> = desired
                    .entitlements
                    .iter()
                    .flat_map(|g| g.iter().map(|(_, w)| w.role))
                    .collect();
                out.push(finding(
                    Category::MissingAccount,
                    system,
                    None,
                    Some(number),
                    format!(
                        "{} has no {name} account; granted by role {}",
                        person.display_name(),
                        roles.into_iter().collect::<Vec<_>>().join(", ")
                    ),
                ));
                return;
            }
            duplicates(system, person, &enabled, out);
            let Some(a) = primary(accounts).filter(|a| a.enabled()) else {
                return;
            };
            // People away (maternity, suspension) are idle for a known reason.
            if has_last_logon
                && lifecycle == Lifecycle::Active
                && let Some(days) = system.policy.inactivity_days
            {
                dormant(system, person, a, days, today, local, out);
            }
            if has_last_logon
                && matches!(
                    lifecycle,
                    Lifecycle::Active | Lifecycle::Absent | Lifecycle::Suspended
                )
                && let Some(days) = system.policy.service_removes_unused_after_days
            {
                service_removal(system, person, a, days, today, local, out);
            }
            if let Some(wanted) = &desired.entitlements {
                for (e, why) in wanted.first_reasons() {
                    let held = match judged.granted.get(&(e.as_ptr() as usize, e.len())) {
                        Some(Some(n)) => a.numbers().binary_search(n).is_ok(),
                        Some(None) => false,
                        None => a.holds(e),
                    };
                    if !held {
                        let why = why.owned().describe();
                        out.push(finding(
                            Category::MissingEntitlement,
                            system,
                            Some(a),
                            Some(number),
                            format!("{e} is not held; granted by {why}"),
                        ));
                    }
                }
            }
            excess(system, managed, desired, a, number, out);
        }
    }
}

/// A leaver's account signed in to after the end of their last working day (Europe/London),
/// enabled or not now: its own signal, since it means someone used the access after they
/// left, which a disable today does not undo.
fn used_after_leaving(
    system: &System,
    person: &Person,
    accounts: &[AccountRef<'_>],
    tz: &TimeZone,
    out: &mut Vec<Finding>,
) {
    let Some(last) = person.last_working_day() else {
        return;
    };
    let Some(end) = crate::clock::add_days(last, 1)
        .and_then(|next| next.to_zoned(tz.clone()).ok())
        .map(|z| z.timestamp())
    else {
        return;
    };
    for a in accounts {
        let Some(logon) = a.last_logon().filter(|t| *t >= end) else {
            continue;
        };
        let when = logon.to_zoned(tz.clone());
        out.push(finding(
            Category::UsedAfterLeaving,
            system,
            Some(*a),
            Some(person.employee_number.as_str()),
            format!(
                "last logon {} ({} days after the last working day {last}){}: check who used it and what they saw",
                when.strftime("%Y-%m-%d %H:%M %Z"),
                (when.date() - last).get_days(),
                if a.enabled() { "" } else { "; disabled since" }
            ),
        ));
    }
}

/// One `duplicate_account` finding per enabled account when a person has more than one.
fn duplicates(
    system: &System,
    person: &Person,
    enabled: &[AccountRef<'_>],
    out: &mut Vec<Finding>,
) {
    if enabled.len() < 2 {
        return;
    }
    let ids: Vec<&str> = enabled.iter().map(|a| a.id()).collect();
    for a in enabled {
        out.push(finding(
            Category::DuplicateAccount,
            system,
            Some(*a),
            Some(person.employee_number.as_str()),
            format!(
                "{} has {} enabled {} accounts: {}",
                person.display_name(),
                ids.len(),
                system.policy.name,
                ids.join(", ")
            ),
        ));
    }
}

/// `managed`: [`Judged::managed`].
fn excess(
    system: &System,
    managed: &[bool],
    desired: &DesiredView<'_>,
    a: AccountRef<'_>,
    number: &str,
    out: &mut Vec<Finding>,
) {
    let Some(wanted) = &desired.entitlements else {
        return;
    };
    let names = a.held().names();
    for &n in a.numbers() {
        let (Some(true), Some(held)) = (managed.get(n as usize).copied(), names.get(n as usize))
        else {
            continue;
        };
        let held = &**held;
        if !wanted.contains(held) {
            out.push(finding(
                Category::ExcessEntitlement,
                system,
                Some(a),
                Some(number),
                format!(
                    "{held} is held but no current role grants it ({})",
                    desired.reason
                ),
            ));
        }
    }
}

fn dormant(
    system: &System,
    person: &Person,
    a: AccountRef<'_>,
    days: u32,
    today: Date,
    local: &mut crate::inactivity::LocalDates<'_>,
    out: &mut Vec<Finding>,
) {
    let Some(since) = crate::inactivity::used_since_in(a.last_logon(), person.first_day(), local)
    else {
        return;
    };
    let idle = crate::inactivity::days_between(since, today);
    if idle > i64::from(days) {
        let what = match a.last_logon() {
            Some(_) => format!("last logon {since}, {idle} days ago"),
            None => format!("never logged on since starting on {since}"),
        };
        out.push(finding(
            Category::DormantAccount,
            system,
            Some(a),
            Some(person.employee_number.as_str()),
            format!("{what}; {} disables after {days} days", system.policy.name),
        ));
    }
}

/// The service removes accounts unused for `days` by itself (NHSmail deletes mailboxes
/// unused for 60 days): an account of a person still employed that is within the notice
/// period of it, or past it, is reported so someone can tell them to sign in.
fn service_removal(
    system: &System,
    person: &Person,
    a: AccountRef<'_>,
    days: u32,
    today: Date,
    local: &mut crate::inactivity::LocalDates<'_>,
    out: &mut Vec<Finding>,
) {
    let Some(since) = crate::inactivity::used_since_in(a.last_logon(), person.first_day(), local)
    else {
        return;
    };
    let idle = crate::inactivity::days_between(since, today);
    let notice = i64::from(system.policy.service_removal_notice_days);
    if idle + notice < i64::from(days) {
        return;
    }
    let left = i64::from(days) - idle;
    let when = if left > 0 {
        format!("in {left} days")
    } else {
        "now (past the limit)".to_string()
    };
    out.push(finding(
        Category::ServiceRemovalDue,
        system,
        Some(a),
        Some(person.employee_number.as_str()),
        format!(
            "unused since {since} ({idle} days); {} removes accounts unused for {days} days: {when}. The person is still employed: ask them to sign in",
            system.policy.name
        ),
    ));
}

/// The whole report as CONTRACT §4 shapes it.
#[derive(Debug, Serialize)]
pub struct Report {
    pub generated_at: Timestamp,
    pub today: Date,
    pub summary: BTreeMap<&'static str, usize>,
    pub findings: Vec<Finding>,
    pub inputs: Inputs,
    /// With `drift --compare`: what changed since the previous report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
}

/// Whether a finding was in the previous report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendStatus {
    New,
    Persisting,
}

impl TrendStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TrendStatus::New => "new",
            TrendStatus::Persisting => "persisting",
        }
    }
}

/// A finding's history across compared reports: first seen on the `today` of the report
/// that first had it, and how many days ago that was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Trend {
    pub status: TrendStatus,
    pub first_seen: Date,
    pub age_days: i32,
}

/// The comparison with a previous report: counts, and the findings it had that are gone.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub previous_today: Date,
    pub previous_generated_at: Option<Timestamp>,
    pub new: usize,
    pub persisting: usize,
    pub resolved: Vec<Resolved>,
}

/// A finding of the previous report that this one no longer has.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Resolved {
    pub category: String,
    pub system: String,
    pub account: Option<String>,
    pub employee_number: Option<String>,
    pub detail: String,
    pub first_seen: Date,
    /// Days from first seen to this report.
    pub age_days: i32,
}

/// A previous report (its JSON), as far as a comparison reads it. Reports written before
/// trends existed have no `trend`: their findings count as first seen on their `today`.
#[derive(Debug, Clone, Deserialize)]
pub struct Previous {
    pub today: Date,
    #[serde(default)]
    pub generated_at: Option<Timestamp>,
    pub findings: Vec<PreviousFinding>,
    #[serde(default)]
    pub inputs: PreviousInputs,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PreviousFinding {
    pub category: String,
    pub system: String,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub employee_number: Option<String>,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub trend: Option<PreviousTrend>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PreviousTrend {
    pub first_seen: Date,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct PreviousInputs {
    #[serde(default)]
    pub accounts: BTreeMap<String, usize>,
}

type FindingKey = (String, String, Option<String>, Option<String>);

/// Marks each finding new or persisting (with the day it was first seen) against a
/// previous report, and lists what that report had that this one does not. A finding is
/// the same one when category, system, account and person agree; where several share
/// those (one per entitlement), the same detail pairs first and the rest pair in order,
/// so a dormant account whose day count moved on still persists.
pub fn compare(report: &mut Report, previous: &Previous) {
    let today = report.today;
    let age = |since: Date| (today - since).get_days().max(0);
    let mut before: BTreeMap<FindingKey, Vec<(&str, Date)>> = BTreeMap::new();
    for f in &previous.findings {
        let first = f.trend.as_ref().map_or(previous.today, |t| t.first_seen);
        before
            .entry((
                f.category.clone(),
                f.system.clone(),
                f.account.clone(),
                f.employee_number.clone(),
            ))
            .or_default()
            .push((f.detail.as_str(), first));
    }
    let (mut new, mut persisting) = (0, 0);
    // First pass: exact details; second: whatever is left under the same key.
    let mut first_seen: Vec<Option<Date>> = vec![None; report.findings.len()];
    for exact in [true, false] {
        for (i, f) in report.findings.iter().enumerate() {
            if first_seen[i].is_some() {
                continue;
            }
            let key = (
                f.category.as_str().to_string(),
                f.system.clone(),
                f.account.clone(),
                f.employee_number.clone(),
            );
            let Some(list) = before.get_mut(&key) else {
                continue;
            };
            let at = if exact {
                list.iter().position(|(d, _)| *d == f.detail)
            } else if list.is_empty() {
                None
            } else {
                Some(0)
            };
            if let Some(at) = at {
                first_seen[i] = Some(list.remove(at).1);
            }
        }
    }
    for (f, seen) in report.findings.iter_mut().zip(first_seen) {
        f.trend = Some(match seen {
            Some(first) => {
                persisting += 1;
                Trend {
                    status: TrendStatus::Persisting,
                    first_seen: first,
                    age_days: age(first),
                }
            }
            None => {
                new += 1;
                Trend {
                    status: TrendStatus::New,
                    first_seen: today,
                    age_days: 0,
                }
            }
        });
    }
    let mut resolved: Vec<Resolved> = before
        .into_iter()
        .flat_map(|((category, system, account, employee_number), left)| {
            left.into_iter().map(move |(detail, first)| Resolved {
                category: category.clone(),
                system: system.clone(),
                account: account.clone(),
                employee_number: employee_number.clone(),
                detail: detail.to_string(),
                first_seen: first,
                age_days: age(first),
            })
        })
        .collect();
    resolved.sort();
    report.comparison = Some(Comparison {
        previous_today: previous.today,
        previous_generated_at: previous.generated_at,
        new,
        persisting,
        resolved,
    });
}

/// What the report was made from, and what could not be read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Inputs {
    pub hr_rows: u64,
    pub people: usize,
    pub people_held_back: usize,
    pub accounts: BTreeMap<String, usize>,
    pub row_errors: Vec<crate::input::RowError>,
    /// Row errors counted but not listed (past `[feeds] max_listed_errors` per file).
    #[serde(skip_serializing_if = "is_zero")]
    pub row_errors_not_listed: u64,
    pub notes: Vec<String>,
    /// The files read, with their row counts and SHA-256, so a reader can tell which
    /// extract the report was made from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<InputFile>,
    /// Staff not on ESR judged with the rest (`--sponsored`), listed apart: who sponsors
    /// each and when their access ends.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sponsored: Vec<SponsoredIdentity>,
}

/// One file a report was made from.
#[derive(Debug, Clone, Serialize)]
pub struct InputFile {
    /// `hr`, `sponsored` or `export`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    pub path: String,
    pub rows: u64,
    pub sha256: String,
}

/// A sponsored identity as the report lists it: only what the reader needs.
#[derive(Debug, Clone, Serialize)]
pub struct SponsoredIdentity {
    pub employee_number: String,
    pub sponsor: Option<String>,
    pub ends: Option<Date>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Report {
    pub fn new(
        generated_at: Timestamp,
        today: Date,
        findings: Vec<Finding>,
        inputs: Inputs,
    ) -> Report {
        let mut summary: BTreeMap<&'static str, usize> =
            Category::ALL.iter().map(|c| (c.as_str(), 0)).collect();
        for f in &findings {
            *summary.entry(f.category.as_str()).or_default() += 1;
        }
        Report {
            generated_at,
            today,
            summary,
            findings,
            inputs,
            comparison: None,
        }
    }
}

#[cfg(test)]
mod tests;
