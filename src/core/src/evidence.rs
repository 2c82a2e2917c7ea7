//! Inspection evidence (`turnstile evidence --since DATE`): what a CQC inspection or a DSPT
//! return (CAF B2, identity and access control) asks about access, from the audit trail,
//! the HR records and the accounts last read.
//!
//! Pure: entries, people, accounts, the role model, the window and `now` in; figures out.
//! Every figure says what it counts, so it can be checked against the trail.

use crate::account::Account;
use crate::audit::Entry;
use crate::hr::{Lifecycle, Person};
use crate::policy::RoleModel;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub since: Date,
    pub until: Date,
    pub generated_at: Timestamp,
    pub leavers: Leavers,
    pub joiners: Joiners,
    pub dormancy: Dormancy,
    pub generic: Generic,
    pub reviews: Vec<ReviewAttested>,
    pub outside_changes: Vec<OutsideChanges>,
}

/// Hours from the end of a leaver's last working day to their access being removed.
#[derive(Debug, Clone, Serialize)]
pub struct Leavers {
    /// Leavers whose last working day fell in the window and is over.
    pub people: usize,
    /// (person, system) pairs whose access was removed.
    pub removed: usize,
    /// Pairs still enabled now.
    pub still_enabled: usize,
    pub median_hours: Option<f64>,
    pub p95_hours: Option<f64>,
    pub within_24_hours: usize,
    pub by_system: Vec<SystemTimes>,
    /// The ten slowest removals (and any still open, counted to now), slowest first.
    pub worst: Vec<Removal>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SystemTimes {
    pub system: String,
    pub removed: usize,
    pub still_enabled: usize,
    pub median_hours: Option<f64>,
    pub p95_hours: Option<f64>,
    pub max_hours: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Removal {
    pub employee_number: String,
    pub system: String,
    pub last_working_day: Date,
    pub hours: f64,
    /// False when the account is still enabled (hours counted to now).
    pub removed: bool,
}

/// Joiners whose first day fell in the window and has come, on the systems whose
/// accounts Turnstile reads.
#[derive(Debug, Clone, Serialize)]
pub struct Joiners {
    pub people: usize,
    /// (person, system) pairs a role grants.
    pub accounts: usize,
    /// Enabled by the end of the first working day after the first day.
    pub within_one_working_day: usize,
    pub late: usize,
    /// Not enabled yet.
    pub not_yet: usize,
    pub by_system: BTreeMap<String, [usize; 3]>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dormancy {
    /// Line-manager notices sent (`inactivity.notice`).
    pub notices: usize,
    /// Accounts disabled for inactivity (after a notice).
    pub disabled: usize,
    /// Enabled again with a named manager's approval (`inactivity.approved`).
    pub re_enabled_with_approval: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Generic {
    /// Exceptions approved in the role model, with who approved each and why.
    pub approved: Vec<crate::policy::ApprovedGeneric>,
    /// Enabled accounts that look generic and have no approval, per the last read.
    pub unapproved_enabled: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewAttested {
    pub manager: String,
    pub packs: usize,
    pub people: usize,
    pub attested_by: Vec<String>,
    pub last: Date,
}

/// Changes reconciliation made because the target had moved away from what the HR record
/// asks since it was last read: somebody changed it by hand outside Turnstile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutsideChanges {
    pub system: String,
    pub action: String,
    pub count: usize,
}

/// The figures for `since ..= until` (Europe/London days).
#[allow(clippy::too_many_arguments)]
pub fn evidence(
    model: &RoleModel,
    entries: &[Entry],
    people: &[Person],
    accounts: &[Account],
    since: Date,
    until: Date,
    now: Timestamp,
    tz: &TimeZone,
) -> Evidence {
    let start = |d: Date| d.to_zoned(tz.clone()).map(|z| z.timestamp()).ok();
    let in_window = |t: Timestamp| {
        let d = t.to_zoned(tz.clone()).date();
        d >= since && d <= until
    };
    let applied = |e: &&Entry| e.draft.outcome == "applied";
    // When access was removed or given, per (person, system): a change applied through
    // an API, or a work item the system's own export confirmed done (raising it changed
    // nothing yet).
    let mut removals: BTreeMap<(&str, &str), Vec<Timestamp>> = BTreeMap::new();
    let mut enables: BTreeMap<(&str, &str), Vec<Timestamp>> = BTreeMap::new();
    for e in entries {
        let (Some(n), Some(s)) = (
            e.draft.employee_number.as_deref(),
            e.draft.system.as_deref(),
        ) else {
            continue;
        };
        let what = match (e.draft.action.as_str(), e.draft.outcome.as_str()) {
            (a, "applied") => a.strip_prefix("change.").unwrap_or(""),
            // "WI-000012: disable: shown by the export of …"
            ("work_item.confirmed", _) => e.draft.reason.split(": ").nth(1).unwrap_or(""),
            _ => "",
        };
        if what == "disable" || what == "delete" {
            removals.entry((n, s)).or_default().push(e.draft.at);
        } else if what == "enable" {
            enables.entry((n, s)).or_default().push(e.draft.at);
        }
    }
    let first_from =
        |map: &BTreeMap<(&str, &str), Vec<Timestamp>>, key: (&str, &str), from: Timestamp| {
            map.get(&key)
                .and_then(|v| v.iter().copied().filter(|t| *t >= from).min())
        };
    let today = now.to_zoned(tz.clone()).date();
    // The systems each person has an enabled account on (last read), built once.
    let mut enabled: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for a in accounts.iter().filter(|a| a.enabled) {
        if let Some(n) = a.employee_number.as_deref() {
            enabled.entry(n).or_default().insert(a.system.as_str());
        }
    }
    let none = BTreeSet::new();
    let hours = |d: SignedDuration| (d.as_secs_f64() / 360.0).round() / 10.0;

    // Leavers.
    let mut times: Vec<Removal> = Vec::new();
    let mut leaver_count = 0;
    for p in people {
        if p.lifecycle(today) != Lifecycle::Ended {
            continue;
        }
        let Some(last) = p.last_working_day().filter(|d| *d >= since && *d <= until) else {
            continue;
        };
        let Some(end) = crate::clock::add_days(last, 1).and_then(start) else {
            continue;
        };
        if end > now {
            continue;
        }
        leaver_count += 1;
        let number = p.employee_number.as_str();
        let still = enabled.get(number).unwrap_or(&none);
        let mut systems: BTreeSet<&str> = removals
            .range((number, "")..)
            .take_while(|((n, _), _)| *n == number)
            .map(|((_, s), _)| *s)
            .collect();
        systems.extend(still);
        // A removal may come before the end (an early disable): that counts as at once.
        let from = end
            .checked_sub(SignedDuration::from_hours(24 * 366))
            .unwrap_or(end);
        for s in systems {
            if still.contains(s) {
                times.push(Removal {
                    employee_number: number.to_string(),
                    system: s.to_string(),
                    last_working_day: last,
                    hours: hours(now.duration_since(end)),
                    removed: false,
                });
            } else if let Some(at) = first_from(&removals, (number, s), from) {
                times.push(Removal {
                    employee_number: number.to_string(),
                    system: s.to_string(),
                    last_working_day: last,
                    hours: hours(at.duration_since(end)).max(0.0),
                    removed: true,
                });
            }
        }
    }
    let done: Vec<f64> = times
        .iter()
        .filter(|r| r.removed)
        .map(|r| r.hours)
        .collect();
    let systems: BTreeSet<&str> = times.iter().map(|r| r.system.as_str()).collect();
    let by_system = systems
        .into_iter()
        .map(|s| {
            let mine: Vec<f64> = times
                .iter()
                .filter(|r| r.system == s && r.removed)
                .map(|r| r.hours)
                .collect();
            SystemTimes {
                system: s.to_string(),
                removed: mine.len(),
                still_enabled: times.iter().filter(|r| r.system == s && !r.removed).count(),
                median_hours: quantile(&mine, 0.5),
                p95_hours: quantile(&mine, 0.95),
                max_hours: mine.iter().copied().reduce(f64::max),
            }
        })
        .collect();
    let mut worst = times.clone();
    worst.sort_by(|a, b| {
        b.hours
            .total_cmp(&a.hours)
            .then_with(|| a.employee_number.cmp(&b.employee_number))
            .then_with(|| a.system.cmp(&b.system))
    });
    worst.truncate(10);
    let leavers = Leavers {
        people: leaver_count,
        removed: done.len(),
        still_enabled: times.len() - done.len(),
        median_hours: quantile(&done, 0.5),
        p95_hours: quantile(&done, 0.95),
        within_24_hours: done.iter().filter(|h| **h <= 24.0).count(),
        by_system,
        worst,
    };

    // Joiners: each system a role grants, enabled by the end of the next working day.
    let mut joiners = Joiners {
        people: 0,
        accounts: 0,
        within_one_working_day: 0,
        late: 0,
        not_yet: 0,
        by_system: BTreeMap::new(),
    };
    // Only systems whose accounts Turnstile reads can say when an account was set up.
    let read: BTreeSet<&str> = accounts.iter().map(|a| a.system.as_str()).collect();
    for p in people {
        let Some(first) = p
            .first_day()
            .filter(|d| *d >= since && *d <= until && *d <= today)
        else {
            continue;
        };
        // Someone long in post whose record arrived late is not a joiner: only people
        // whose earliest assignment starts in the window count.
        let Some(from) = start(first) else { continue };
        let Some(deadline) = start(next_working_day(next_working_day_or_same(first))) else {
            continue;
        };
        let wanted: Vec<&str> = crate::desired::desired_state(p, model, first)
            .into_iter()
            .filter(|d| d.presence == crate::desired::Presence::Enabled)
            .filter_map(|d| {
                model
                    .systems
                    .get_key_value(&d.system)
                    .map(|(k, _)| k.as_str())
            })
            .filter(|s| read.contains(s))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        joiners.people += 1;
        let number = p.employee_number.as_str();
        let early = from
            .checked_sub(SignedDuration::from_hours(24 * 60))
            .unwrap_or(from);
        for s in wanted {
            joiners.accounts += 1;
            // Enabled before the first day is not possible (prepared disabled), but an
            // account already enabled (a rehire) counts as set up at once.
            let already = enabled.get(number).is_some_and(|e| e.contains(s));
            let at = first_from(&enables, (number, s), early);
            let slot = match at {
                Some(t) if t <= deadline => 0,
                Some(_) => 1,
                None if already => 0,
                None => 2,
            };
            match slot {
                0 => joiners.within_one_working_day += 1,
                1 => joiners.late += 1,
                _ => joiners.not_yet += 1,
            }
            joiners.by_system.entry(s.to_string()).or_insert([0; 3])[slot] += 1;
        }
    }

    // Dormancy, reviews and outside changes come from the window's entries.
    let window: Vec<&Entry> = entries.iter().filter(|e| in_window(e.draft.at)).collect();
    let dormancy = Dormancy {
        notices: window
            .iter()
            .filter(|e| e.draft.action == "inactivity.notice")
            .count(),
        disabled: window
            .iter()
            .filter(|e| applied(e))
            .filter(|e| {
                e.draft.action == "change.disable" && e.draft.rule.as_deref() == Some("inactivity")
            })
            .count(),
        re_enabled_with_approval: window
            .iter()
            .filter(|e| e.draft.action == "inactivity.approved")
            .count(),
    };
    let generic = Generic {
        approved: model.approved_generic.clone(),
        unapproved_enabled: accounts
            .iter()
            .filter(|a| a.enabled && a.employee_number.is_none())
            .filter(|a| !model.is_approved_generic(&a.system, &a.id))
            .filter(|a| model.looks_generic(&a.id, &a.display_name))
            .count(),
    };
    // Per manager: packs, people reviewed, who attested, the last day.
    let mut reviews: BTreeMap<String, Attested> = BTreeMap::new();
    for e in window
        .iter()
        .filter(|e| e.draft.action == "review.attested")
    {
        let Some((pack, manager)) = review_pack(&e.draft.reason) else {
            continue;
        };
        let day = e.draft.at.to_zoned(tz.clone()).date();
        let r = reviews
            .entry(manager)
            .or_insert_with(|| (BTreeSet::new(), BTreeSet::new(), BTreeSet::new(), day));
        r.0.insert(pack);
        if let Some(n) = &e.draft.employee_number {
            r.1.insert(n.clone());
        }
        r.2.insert(e.draft.actor.clone());
        r.3 = r.3.max(day);
    }
    let reviews = reviews
        .into_iter()
        .map(|(manager, (packs, people, by, last))| ReviewAttested {
            manager,
            packs: packs.len(),
            people: people.len(),
            attested_by: by.into_iter().collect(),
            last,
        })
        .collect();
    let mut outside: BTreeMap<(String, String), usize> = BTreeMap::new();
    // Found and corrected: applied, or raised as a work item on a system with no API.
    for e in window
        .iter()
        .filter(|e| e.draft.outcome == "applied" || e.draft.outcome == "work_item")
    {
        if e.draft.reason.contains(crate::plan::CHANGED_OUTSIDE)
            && let (Some(s), Some(action)) = (
                e.draft.system.as_ref(),
                e.draft.action.strip_prefix("change."),
            )
        {
            let name = action.split(' ').next().unwrap_or(action).to_string();
            *outside.entry((s.clone(), name)).or_default() += 1;
        }
    }
    let outside_changes = outside
        .into_iter()
        .map(|((system, action), count)| OutsideChanges {
            system,
            action,
            count,
        })
        .collect();
    Evidence {
        since,
        until,
        generated_at: now,
        leavers,
        joiners,
        dormancy,
        generic,
        reviews,
        outside_changes,
    }
}

type Attested = (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>, Date);

/// `(pack, manager)` from a `review.attested` entry's reason: "access review pack
/// 2026-11-27/30000001 (line manager 30000001) attested by …".
fn review_pack(reason: &str) -> Option<(String, String)> {
    let rest = reason.strip_prefix("access review pack ")?;
    let pack = rest.split(' ').next()?;
    let manager = pack.split('/').nth(1)?;
    Some((pack.to_string(), manager.to_string()))
}

fn next_working_day_or_same(day: Date) -> Date {
    let mut d = day;
    while matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
        d = crate::clock::add_days(d, 1).unwrap_or(d);
    }
    d
}

/// The start of the day after `day`'s next working day: a first day on Monday is set up
/// in time by the end of Tuesday (Monday to Friday; bank holidays are not known here).
fn next_working_day(day: Date) -> Date {
    let mut d = crate::clock::add_days(day, 1).unwrap_or(day);
    while matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
        d = crate::clock::add_days(d, 1).unwrap_or(d);
    }
    crate::clock::add_days(d, 1).unwrap_or(d)
}

/// The `q` quantile by the nearest-rank method (an actual value, never interpolated).
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (q * v.len() as f64).ceil().max(1.0) as usize;
    v.get(rank.min(v.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit;

    /// A trail entry for the tests: `action` with `outcome` at `at`, about `number`'s
    /// account `a{number}` on AD when a number is given.
    fn trail(number: Option<&str>, action: &str, outcome: &str, at: &str, reason: &str) -> Entry {
        Entry {
            seq: 1,
            draft: crate::audit::Draft {
                at: at.parse().unwrap(),
                actor: "turnstile run".into(),
                employee_number: number.map(Into::into),
                system: number.map(|_| "ad".into()),
                account: number.map(|n| format!("a{n}")),
                action: action.into(),
                outcome: outcome.into(),
                rule: None,
                event_id: None,
                reason: reason.into(),
            },
            prev_hash: String::new(),
            hash: String::new(),
            mac: None,
        }
    }

    /// [`trail`] with the rule that made the change.
    fn by_rule(mut e: Entry, rule: &str) -> Entry {
        e.draft.rule = Some(rule.into());
        e
    }

    fn leaver(number: &str) -> Person {
        testkit::person(
            number,
            vec![testkit::assignment(
                &format!("{number}-1"),
                crate::hr::AssignmentStatus::TerminateAssignment,
                "Nursing and Midwifery Registered",
                "Staff Nurse",
                "Ward 7 Medicine",
                "2019-04-01",
                Some("2026-11-20"),
            )],
        )
    }

    #[test]
    fn a_leaver_still_enabled_counts_against_the_removals_made() {
        let tz = TimeZone::get("Europe/London").unwrap();
        let people = vec![leaver("1001"), leaver("1002")];
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let entry = by_rule(
            trail(
                Some("1001"),
                "change.disable",
                "applied",
                "2026-11-21T08:00:00Z",
                "left",
            ),
            "leaver",
        );
        let accounts = vec![
            testkit::account("ad", "a1001", Some("1001"), false, &[]),
            testkit::account("ad", "a1002", Some("1002"), true, &[]),
        ];
        let e = evidence(
            &testkit::model(),
            &[entry],
            &people,
            &accounts,
            testkit::d("2026-11-01"),
            testkit::d("2026-11-30"),
            at("2026-11-23T12:00:00Z"),
            &tz,
        );
        assert_eq!(
            (e.leavers.people, e.leavers.removed, e.leavers.still_enabled),
            (2, 1, 1)
        );
        assert_eq!(e.leavers.median_hours, Some(8.0));
        assert_eq!(e.leavers.within_24_hours, 1);
    }

    /// Joiners are the people whose first day falls in the period, up to today: one who
    /// started before it is the last period's, one after it (though before today) the next.
    #[test]
    fn joiners_are_the_periods_own() {
        let tz = TimeZone::get("Europe/London").unwrap();
        let starting = |n: &str, day: &str| {
            let mut p = testkit::nurse(n);
            p.assignments[0].start_date = crate::hr::IsoDate(testkit::d(day));
            p
        };
        let people = vec![
            starting("1000", "2026-10-20"),
            starting("1001", "2026-11-05"),
            starting("1002", "2026-11-15"),
            starting("1003", "2026-12-01"),
        ];
        // AD is read (its accounts say when each was set up).
        let accounts = vec![testkit::account("ad", "a1001", Some("1001"), true, &[])];
        let e = evidence(
            &testkit::model(),
            &[],
            &people,
            &accounts,
            testkit::d("2026-11-01"),
            testkit::d("2026-11-10"),
            "2026-11-23T12:00:00Z".parse().unwrap(),
            &tz,
        );
        assert_eq!(e.joiners.people, 1);
        // The one counted is 1001, whose account is already there.
        assert_eq!(
            (e.joiners.within_one_working_day, e.joiners.not_yet),
            (1, 0)
        );
    }

    /// An account enabled ahead of the first day (prepared and switched on early) counts
    /// as set up in time from as far back as sixty days; one enabled earlier than that was
    /// someone else's start, and the joiner's account is still to be set up.
    #[test]
    fn an_account_enabled_days_before_the_first_day_is_in_time() {
        let tz = TimeZone::get("Europe/London").unwrap();
        let starting = |n: &str| {
            let mut p = testkit::nurse(n);
            p.assignments[0].start_date = crate::hr::IsoDate(testkit::d("2026-11-16"));
            p
        };
        let people = vec![starting("1001"), starting("1002"), starting("1003")];
        let enabled_at =
            |n: &str, at: &str| trail(Some(n), "change.enable", "applied", at, "joiner");
        // Ten days ahead; seventy days ahead. Neither account is enabled now.
        let entries = vec![
            enabled_at("1001", "2026-11-06T09:00:00Z"),
            enabled_at("1002", "2026-09-07T09:00:00Z"),
            // Five days after the first day: late.
            enabled_at("1003", "2026-11-21T09:00:00Z"),
        ];
        let accounts = vec![
            testkit::account("ad", "a1001", Some("1001"), false, &[]),
            testkit::account("ad", "a1002", Some("1002"), false, &[]),
            testkit::account("ad", "a1003", Some("1003"), true, &[]),
        ];
        let e = evidence(
            &testkit::model(),
            &entries,
            &people,
            &accounts,
            testkit::d("2026-11-01"),
            testkit::d("2026-11-30"),
            "2026-11-23T12:00:00Z".parse().unwrap(),
            &tz,
        );
        assert_eq!(e.joiners.by_system.get("ad"), Some(&[1, 1, 1]));
        assert_eq!((e.joiners.people, e.joiners.accounts), (3, 3));
    }

    /// A leaver counts from the very start of the day after their last working day: at
    /// that instant their access should already be gone.
    #[test]
    fn a_leaver_counts_from_the_first_instant_after_their_last_day() {
        let tz = TimeZone::get("Europe/London").unwrap();
        let accounts = vec![testkit::account("ad", "a1001", Some("1001"), true, &[])];
        let at = |now: &str| {
            evidence(
                &testkit::model(),
                &[],
                &[leaver("1001")],
                &accounts,
                testkit::d("2026-11-01"),
                testkit::d("2026-11-30"),
                now.parse().unwrap(),
                &tz,
            )
            .leavers
        };
        let midnight = at("2026-11-21T00:00:00Z");
        assert_eq!((midnight.people, midnight.still_enabled), (1, 1));
        let before = at("2026-11-20T23:59:59Z");
        assert_eq!(before.people, 0);
    }

    /// Only inactivity disables that were applied count as made; those that failed do not.
    #[test]
    fn only_applied_inactivity_disables_count() {
        let tz = TimeZone::get("Europe/London").unwrap();
        let disable = |outcome: &str| {
            let at = "2026-11-20T10:00:00Z";
            let e = trail(
                Some("1001"),
                "change.disable",
                outcome,
                at,
                "unused for 90 days",
            );
            by_rule(e, "inactivity")
        };
        let e = evidence(
            &testkit::model(),
            &[disable("applied"), disable("failed"), disable("failed")],
            &[],
            &[],
            testkit::d("2026-11-01"),
            testkit::d("2026-11-30"),
            "2026-11-30T12:00:00Z".parse().unwrap(),
            &tz,
        );
        assert_eq!(e.dormancy.disabled, 1);
    }

    /// Each manager's attested packs in the period are counted from the trail's
    /// `review.attested` entries, and no other entry is read as one, nor one from before
    /// the period.
    #[test]
    fn attested_reviews_are_counted_per_manager() {
        let tz = TimeZone::get("Europe/London").unwrap();
        let entries = vec![
            trail(
                None,
                "review.attested",
                "recorded",
                "2026-11-27T10:00:00Z",
                "access review pack 2026-11-27/30000001 (line manager 30000001) attested by Sam Lee",
            ),
            // Before the period.
            trail(
                None,
                "review.attested",
                "recorded",
                "2026-10-15T10:00:00Z",
                "access review pack 2026-10-15/30000003 (line manager 30000003) attested by Sam Lee",
            ),
            trail(
                None,
                "review.issued",
                "recorded",
                "2026-11-27T10:00:00Z",
                "access review pack 2026-11-27/30000002 (line manager 30000002) issued",
            ),
        ];
        let e = evidence(
            &testkit::model(),
            &entries,
            &[],
            &[],
            testkit::d("2026-11-01"),
            testkit::d("2026-11-30"),
            "2026-11-30T12:00:00Z".parse().unwrap(),
            &tz,
        );
        let managers: Vec<(&str, usize)> = e
            .reviews
            .iter()
            .map(|r| (r.manager.as_str(), r.packs))
            .collect();
        assert_eq!(managers, vec![("30000001", 1)]);
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(10.0));
        assert_eq!(quantile(&v, 0.95), Some(19.0));
        assert_eq!(quantile(&[3.0], 0.95), Some(3.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn a_monday_starter_is_in_time_until_the_end_of_tuesday_a_friday_one_until_monday() {
        let d = |s: &str| s.parse::<Date>().unwrap();
        assert_eq!(next_working_day(d("2026-11-23")), d("2026-11-25"));
        assert_eq!(next_working_day(d("2026-11-27")), d("2026-12-01"));
        assert_eq!(next_working_day_or_same(d("2026-11-28")), d("2026-11-30"));
        assert_eq!(
            review_pack(
                "access review pack 2026-11-27/30000001 (line manager 30000001) attested by Ann"
            ),
            Some(("2026-11-27/30000001".into(), "30000001".into()))
        );
    }
}
