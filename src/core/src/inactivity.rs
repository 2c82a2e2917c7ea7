//! Inactivity with notice (CONTRACT §5): an enabled account of a person at work that has
//! not been used for `inactivity_days` is disabled, but only after the line manager was
//! told at least `inactivity_notice_days` before, and the telling recorded. Pure: the
//! account, the person's state, the notice on record and the day in; the verdict out.

use crate::account::Account;
use crate::clock::add_days;
use crate::hr::Lifecycle;
use crate::policy::SystemPolicy;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// What is on record for one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// The day the manager's notice was sent and recorded.
    pub notified_on: Date,
    /// The day the account was disabled for inactivity, if it was.
    pub disabled_on: Option<Date>,
}

/// The verdict on one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// In use, or not this rule's business (away, leaving, no logon data, no limit).
    Fine,
    /// Unused long enough that the manager must be told now; disabled no earlier than
    /// `disable_from`.
    Notify { idle_days: i64, disable_from: Date },
    /// Told; disabled from `disable_from` unless it is used before.
    Waiting { disable_from: Date },
    /// Told long enough ago and still unused: disable it.
    Disable { idle_days: i64, notified_on: Date },
    /// Disabled for inactivity: it stays disabled until a manager's approval is recorded.
    Blocked { disabled_on: Date },
    /// Used again since the notice: the record is void.
    UsedAgain,
}

/// The day an account was last used: its last logon (a Europe/London day in `tz`), or,
/// never used, the person's first day.
pub fn last_used(account: &Account, first_day: Option<Date>, tz: &TimeZone) -> Option<Date> {
    used_since(account.last_logon, first_day, tz)
}

/// [`last_used`], from the last logon alone.
pub fn used_since(
    last_logon: Option<Timestamp>,
    first_day: Option<Date>,
    tz: &TimeZone,
) -> Option<Date> {
    match last_logon {
        Some(ts) => Some(tz.to_datetime(ts).date()),
        None => first_day,
    }
}

/// Days since the account was last used (or since the person started, if never).
pub fn idle_days(
    account: &Account,
    first_day: Option<Date>,
    today: Date,
    tz: &TimeZone,
) -> Option<i64> {
    idle_days_since(account.last_logon, first_day, today, tz)
}

/// Instants as calendar dates in one time zone, through each UTC day's offset found once
/// ([`DayOffsets`](crate::clock::DayOffsets)): drift turns millions of logons into dates.
pub struct LocalDates<'z>(crate::clock::DayOffsets<'z, i64>);

impl<'z> LocalDates<'z> {
    pub fn new(tz: &'z TimeZone) -> LocalDates<'z> {
        LocalDates(crate::clock::DayOffsets::new(tz))
    }

    pub fn tz(&self) -> &'z TimeZone {
        self.0.tz()
    }

    /// `tz.to_datetime(at).date()`.
    pub fn date(&mut self, at: Timestamp) -> Date {
        let day = at.as_second().div_euclid(86_400);
        let utc_day = |_: &TimeZone| {
            let start = Timestamp::from_second(day.checked_mul(86_400)?).ok()?;
            let end = Timestamp::from_second(day.checked_add(1)?.checked_mul(86_400)?).ok()?;
            Some((start, end))
        };
        match self.0.offset(day, utc_day) {
            Some(offset) => offset.to_datetime(at).date(),
            None => self.tz().to_datetime(at).date(),
        }
    }
}

/// [`used_since`], through `local`.
pub fn used_since_in(
    last_logon: Option<Timestamp>,
    first_day: Option<Date>,
    local: &mut LocalDates<'_>,
) -> Option<Date> {
    match last_logon {
        Some(ts) => Some(local.date(ts)),
        None => first_day,
    }
}

/// Whole days from `since` to `today` (negative when `since` is later): `today - since` in
/// days without building a `Span`, which drift asks for millions of accounts.
pub fn days_between(since: Date, today: Date) -> i64 {
    today.duration_since(since).as_hours() / 24
}

/// [`idle_days`], from the last logon alone.
pub fn idle_days_since(
    last_logon: Option<Timestamp>,
    first_day: Option<Date>,
    today: Date,
    tz: &TimeZone,
) -> Option<i64> {
    let since = used_since(last_logon, first_day, tz)?;
    Some(days_between(since, today))
}

/// The verdict for `account` of a person in `lifecycle` on `today`.
pub fn judge(
    policy: &SystemPolicy,
    lifecycle: Lifecycle,
    account: &Account,
    first_day: Option<Date>,
    record: Option<Record>,
    today: Date,
    tz: &TimeZone,
) -> Verdict {
    if let Some(Record {
        disabled_on: Some(on),
        ..
    }) = record
    {
        return Verdict::Blocked { disabled_on: on };
    }
    let Some(limit) = policy.inactivity_days else {
        return Verdict::Fine;
    };
    // Away (maternity, suspension) or not at work: idle for a known reason.
    if lifecycle != Lifecycle::Active || !account.enabled {
        return Verdict::Fine;
    }
    let Some(idle) = idle_days(account, first_day, today, tz) else {
        return Verdict::Fine;
    };
    let limit = i64::from(limit);
    let notice = i64::from(policy.inactivity_notice_days);
    if idle + notice < limit {
        return match record {
            Some(_) => Verdict::UsedAgain,
            None => Verdict::Fine,
        };
    }
    match record {
        None => Verdict::Notify {
            idle_days: idle,
            // The later of: the day the limit is reached, and a full notice from today.
            disable_from: later(
                add_days(today, limit - idle),
                add_days(today, notice),
                today,
            ),
        },
        Some(r) => {
            let told_enough = add_days(r.notified_on, notice).is_some_and(|d| today >= d);
            if told_enough && idle >= limit {
                Verdict::Disable {
                    idle_days: idle,
                    notified_on: r.notified_on,
                }
            } else {
                Verdict::Waiting {
                    disable_from: later(
                        add_days(today, limit - idle),
                        add_days(r.notified_on, notice),
                        today,
                    ),
                }
            }
        }
    }
}

fn later(a: Option<Date>, b: Option<Date>, fallback: Date) -> Date {
    match (a, b) {
        (Some(a), Some(b)) => a.max(b),
        (Some(x), None) | (None, Some(x)) => x,
        (None, None) => fallback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{account, d, model};

    fn ad() -> SystemPolicy {
        // The example AD: inactivity_days 90, notice 7.
        model().systems["ad"].policy.clone()
    }

    fn used(days_ago: i64) -> Account {
        let mut a = account("ad", "aokafor", Some("1"), true, &[]);
        let day = add_days(d("2026-11-23"), -days_ago).unwrap();
        a.last_logon = Some(day.to_zoned(TimeZone::UTC).unwrap().timestamp());
        a
    }

    fn verdict(a: &Account, record: Option<Record>, today: &str) -> Verdict {
        judge(
            &ad(),
            Lifecycle::Active,
            a,
            Some(d("2019-04-01")),
            record,
            d(today),
            &TimeZone::UTC,
        )
    }

    #[test]
    fn the_manager_is_told_a_week_ahead_and_the_disable_waits_for_the_notice() {
        assert_eq!(ad().inactivity_days, Some(90));
        assert_eq!(verdict(&used(80), None, "2026-11-23"), Verdict::Fine);
        // 83 days: within the week's notice of 90.
        assert_eq!(
            verdict(&used(83), None, "2026-11-23"),
            Verdict::Notify {
                idle_days: 83,
                disable_from: d("2026-11-30")
            }
        );
        // Long past 90 with no notice yet: told now, disabled a full week later.
        assert_eq!(
            verdict(&used(120), None, "2026-11-23"),
            Verdict::Notify {
                idle_days: 120,
                disable_from: d("2026-11-30")
            }
        );
        let told = Some(Record {
            notified_on: d("2026-11-23"),
            disabled_on: None,
        });
        assert_eq!(
            verdict(&used(83), told, "2026-11-23"),
            Verdict::Waiting {
                disable_from: d("2026-11-30")
            }
        );
        // Six days after the notice: still waiting, whatever the idle days.
        assert!(matches!(
            verdict(&used(120), told, "2026-11-29"),
            Verdict::Waiting { .. }
        ));
        assert_eq!(
            verdict(&used(120), told, "2026-11-30"),
            Verdict::Disable {
                idle_days: 127,
                notified_on: d("2026-11-23")
            }
        );
        // Used again after the notice: the record is void.
        assert_eq!(verdict(&used(2), told, "2026-11-23"), Verdict::UsedAgain);
        // Disabled for inactivity: blocked until a manager approves.
        let disabled = Some(Record {
            notified_on: d("2026-11-23"),
            disabled_on: Some(d("2026-11-30")),
        });
        assert_eq!(
            verdict(&used(120), disabled, "2026-12-10"),
            Verdict::Blocked {
                disabled_on: d("2026-11-30")
            }
        );
    }

    /// With a limit hardly longer than the notice, someone idle for a day is already
    /// within the notice: told now, and disabled a full notice from today (the limit is
    /// reached before that), never later.
    #[test]
    fn a_limit_close_to_the_notice_disables_a_full_notice_from_today() {
        let mut short = ad();
        short.inactivity_days = Some(8);
        short.inactivity_notice_days = 7;
        let got = judge(
            &short,
            Lifecycle::Active,
            &used(1),
            Some(d("2019-04-01")),
            None,
            d("2026-11-23"),
            &TimeZone::UTC,
        );
        assert_eq!(
            got,
            Verdict::Notify {
                idle_days: 1,
                disable_from: d("2026-11-30")
            }
        );
        // Told today: waiting for the same day.
        let told = Some(Record {
            notified_on: d("2026-11-23"),
            disabled_on: None,
        });
        let waiting = judge(
            &short,
            Lifecycle::Active,
            &used(1),
            Some(d("2019-04-01")),
            told,
            d("2026-11-23"),
            &TimeZone::UTC,
        );
        assert_eq!(
            waiting,
            Verdict::Waiting {
                disable_from: d("2026-11-30")
            }
        );
    }

    #[test]
    fn away_staff_and_systems_without_a_limit_are_left_alone() {
        let a = used(200);
        let p = ad();
        for away in [
            Lifecycle::Absent,
            Lifecycle::Suspended,
            Lifecycle::Ended,
            Lifecycle::Future,
        ] {
            assert_eq!(
                judge(&p, away, &a, None, None, d("2026-11-23"), &TimeZone::UTC),
                Verdict::Fine
            );
        }
        let mut none = p.clone();
        none.inactivity_days = None;
        assert_eq!(
            judge(
                &none,
                Lifecycle::Active,
                &a,
                None,
                None,
                d("2026-11-23"),
                &TimeZone::UTC
            ),
            Verdict::Fine
        );
        // Never used: counted from the first day.
        let mut never = account("ad", "new", Some("1"), true, &[]);
        never.last_logon = None;
        assert!(matches!(
            judge(
                &p,
                Lifecycle::Active,
                &never,
                Some(d("2026-01-01")),
                None,
                d("2026-11-23"),
                &TimeZone::UTC
            ),
            Verdict::Notify { .. }
        ));
    }

    proptest::proptest! {
        /// Days between two dates, without a `Span`, are the days `today - since` gives.
        #[test]
        fn days_between_dates_are_the_days_of_their_difference(
            a in -300_000i64..300_000,
            b in -300_000i64..300_000,
        ) {
            let epoch = jiff::civil::date(1970, 1, 1);
            let day = |n: i64| epoch.checked_add(jiff::Span::new().days(n)).unwrap();
            let (since, today) = (day(a), day(b));
            proptest::prop_assert_eq!(
                days_between(since, today),
                i64::from((today - since).get_days())
            );
        }

        /// Each UTC day's offset, found once, gives the dates the zone itself gives,
        /// clock changes included (London, New York, Lord Howe's half hour, Apia's lost
        /// day), each instant asked twice so the second answer comes from the memory.
        /// Instants anywhere, and within a day and a half of one of the zone's changes.
        #[test]
        fn a_day_offset_dates_instants_as_the_zone_does(
            zone in 0..4usize,
            instants in proptest::collection::vec(-1_000_000_000i64..2_500_000_000, 1..30),
            near in proptest::collection::vec((1995..2035i16, 0..2usize, -129_600..129_600i64), 1..30),
        ) {
            let tz = TimeZone::get(
                ["Europe/London", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia"][zone],
            )
            .unwrap();
            let mut local = LocalDates::new(&tz);
            let changes: Vec<i64> = near
                .iter()
                .filter_map(|(year, nth, shift)| {
                    let from = jiff::civil::date(*year, 1, 1).to_zoned(tz.clone()).ok()?;
                    let t = tz.following(from.timestamp()).nth(*nth)?;
                    Some(t.timestamp().as_second() + shift)
                })
                .collect();
            let all: Vec<i64> = instants.iter().chain(&changes).copied().collect();
            for s in all.iter().chain(all.iter()) {
                let at = Timestamp::from_second(*s).unwrap();
                proptest::prop_assert_eq!(local.date(at), tz.to_datetime(at).date(), "{}", at);
            }
        }
    }
}
