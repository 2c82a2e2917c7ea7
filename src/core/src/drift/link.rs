//! Linking: each account to the person it belongs to (employee number, then the names index), and the people the report judges.

use super::*;

/// The people a report judges, indexed by employee number: each number to the first
/// person with it. A number given to two people (an ESR record and a sponsored identity,
/// say) links its accounts to both, as each is judged on its own record.
pub struct People<'p> {
    pub(super) people: &'p [Person],
    /// Numbers whose HR rows were unusable: their accounts are not judged.
    pub(super) unjudged: &'p BTreeSet<String>,
    pub(super) by_number: ByNumber<'p>,
    /// Each person's index of the first person with their number.
    pub(super) canonical: Vec<u32>,
    /// People by their folded name, made the first time an account with no employee
    /// number is met (most exports never need it).
    pub(super) names: std::sync::OnceLock<Names>,
}
/// People by a hash of their folded name (`first last` and `last first`, with the
/// known-as name too): each entry is the hash's top bits over the person's index, sorted,
/// 8 bytes a name. A hit is checked against the person's own name.
pub(super) struct Names(Vec<u64>);
pub(super) const NAME_INDEX_BITS: u32 = 22;
pub(super) fn name_hash(folded: &str) -> u64 {
    // FNV-1a: deterministic, no I/O, good enough to spread names.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in folded.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
pub(super) fn name_keys(p: &Person) -> Vec<String> {
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
    pub(super) judged: Judged<'a>,
    pub(super) unlinked: Vec<Finding>,
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
/// Employee numbers to the index of the first person with each. Numbers of up to nine
/// digits with no leading zero (ESR's eight) are keyed as integers: a third of the room of
/// a key that points at text, and found without comparing text, millions of times at
/// national scale. When a trust's numbers lie close together (no more than twice as many
/// values between the lowest and the highest as there are numbers), they index a list
/// directly: four bytes a value rather than a table three times the size, probed at random
/// for every account of every export.
pub(super) struct ByNumber<'p> {
    /// The number `base + i` is at `dense[i]` ([`NO_ONE`]: nobody has it).
    pub(super) base: u32,
    pub(super) dense: Vec<u32>,
    /// Integer numbers the list does not cover.
    pub(super) digits: FastMap<u32, u32>,
    pub(super) other: FastMap<&'p str, u32>,
}
/// No person has this number (`ByNumber::dense`).
pub(super) const NO_ONE: u32 = u32::MAX;
impl<'p> ByNumber<'p> {
    #[cfg(test)]
    pub(super) fn with_capacity(n: usize) -> ByNumber<'p> {
        ByNumber::sparse(n)
    }

    /// Room for `numbers`, as a list when they lie close together.
    pub(super) fn for_numbers(numbers: impl Iterator<Item = &'p str> + Clone) -> ByNumber<'p> {
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
    pub(super) fn first(&mut self, number: &'p str, index: u32) -> u32 {
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

    pub(super) fn get(&self, number: &str) -> Option<u32> {
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
pub(super) fn link<'a, 'p>(
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
pub(super) fn unrecorded_leaver(
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
pub(super) fn primary<'a>(accounts: &[AccountRef<'a>]) -> Option<AccountRef<'a>> {
    crate::account::primary_by(accounts, |a| (a.enabled(), a.id()))
}
