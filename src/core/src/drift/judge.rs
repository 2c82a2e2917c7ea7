//! Judging: each person's linked accounts against what their roles grant, and each unlinked account, into findings.

use super::*;

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
pub(super) struct Judged<'a> {
    pub(super) system: &'a System,
    pub(super) has_last_logon: bool,
    pub(super) accounts: &'a Held,
    /// Whether Turnstile manages each entitlement name the accounts hold (by number): asked
    /// once per name, not once per account.
    pub(super) managed: Vec<bool>,
    /// The role model's entitlement names for this system, by where their text lives in
    /// the model (the desired views borrow it), to the number the accounts hold each by
    /// (`None`: no account holds it): a wanted entitlement is found without comparing text.
    pub(super) granted: FastMap<(usize, usize), Option<u32>>,
    /// Where this system's view is in a person's desired views (one per model system, in
    /// the model's order).
    pub(super) view: Option<usize>,
    pub(super) starts: Vec<u32>,
    pub(super) order: Vec<u32>,
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
/// The findings on `people` against each system's accounts linked to them.
pub(super) fn judge_people<'a>(
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
pub(super) fn in_turn_keeping<K, T: Send>(
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
pub(super) fn finding(
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
pub(super) fn unlinked(
    model: &RoleModel,
    system: &System,
    a: AccountRef<'_>,
    out: &mut Vec<Finding>,
) {
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
pub(super) fn display(a: AccountRef<'_>) -> &str {
    if a.display_name().is_empty() {
        a.id()
    } else {
        a.display_name()
    }
}
/// One person's accounts on one system against what the role model wants there. `at` is
/// the person's lifecycle on `today` and their employee number, worked out once for all
/// their systems.
pub(super) fn judge_person(
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
pub(super) fn used_after_leaving(
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
pub(super) fn duplicates(
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
pub(super) fn excess(
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
pub(super) fn dormant(
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
pub(super) fn service_removal(
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
