//! The clock rule: HR dates are calendar days in Europe/London. A leaver keeps access to
//! the end of their last working day there, across BST and GMT. The time is always passed
//! in; nothing here reads it.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// Europe/London, from the time-zone data compiled into the binary (UTC only if that data
/// were somehow missing, which the bundled database rules out).
pub fn london() -> TimeZone {
    TimeZone::get("Europe/London").unwrap_or(TimeZone::UTC)
}

/// A date as the NHS writes it: 01/12/2026.
pub fn uk_date(date: Date) -> String {
    format!("{:02}/{:02}/{}", date.day(), date.month(), date.year())
}

/// The Europe/London calendar day at `now`.
pub fn today(now: Timestamp) -> Date {
    now.to_zoned(london()).date()
}

/// The first instant of `date` in Europe/London: where a `--since` date starts.
pub fn start_of(date: Date) -> Option<Timestamp> {
    date.to_zoned(london()).ok().map(|z| z.timestamp())
}

/// `date` plus `days` calendar days, or `None` past the calendar's end: never a panic,
/// whatever a role model says.
pub fn add_days(date: Date, days: i64) -> Option<Date> {
    jiff::Span::new()
        .try_days(days)
        .ok()
        .and_then(|span| date.checked_add(span).ok())
}

/// Days of one time zone to the UTC offset it keeps all through each, worked out once
/// per day (a day in which the clocks change has none: it goes through the zone itself).
/// Readers that turn millions of times into instants or dates meet a few hundred days;
/// `K` names a day as the reader counts them (a local date, a UTC day number).
pub struct DayOffsets<'z, K> {
    tz: &'z TimeZone,
    days: crate::fast::FastMap<K, Option<jiff::tz::Offset>>,
}

/// Days remembered before [`DayOffsets`] starts again (bounded whatever the input).
const MAX_DAYS: usize = 100_000;

impl<'z, K: std::hash::Hash + Eq> DayOffsets<'z, K> {
    pub fn new(tz: &'z TimeZone) -> DayOffsets<'z, K> {
        DayOffsets {
            tz,
            days: crate::fast::FastMap::default(),
        }
    }

    pub fn tz(&self) -> &'z TimeZone {
        self.tz
    }

    /// The offset the zone keeps all through the day `day`, which runs from the first
    /// to the second instant `bounds` gives (asked once per day); `None` when the clocks
    /// change in it or it cannot be bounded.
    pub fn offset(
        &mut self,
        day: K,
        bounds: impl FnOnce(&TimeZone) -> Option<(Timestamp, Timestamp)>,
    ) -> Option<jiff::tz::Offset> {
        if self.days.len() >= MAX_DAYS {
            self.days.clear();
        }
        let tz = self.tz;
        *self.days.entry(day).or_insert_with(|| {
            let (start, end) = bounds(tz)?;
            // A change at the very first instant counts: the day's first local times may
            // be the hour the clocks skipped (Apia's midnight changes).
            let before = start
                .checked_sub(jiff::SignedDuration::from_nanos(1))
                .ok()?;
            let changes = tz
                .following(before)
                .next()
                .is_some_and(|t| t.timestamp() <= end);
            (!changes).then(|| tz.to_offset(start))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uk_date_is_day_month_year() {
        assert_eq!(uk_date(jiff::civil::date(2026, 1, 5)), "05/01/2026");
        assert_eq!(uk_date(jiff::civil::date(2026, 12, 31)), "31/12/2026");
    }

    /// A whole BST day keeps +01:00 all through; the day the clocks go forward keeps no
    /// one offset; a day that cannot be bounded has none.
    #[test]
    fn a_day_keeps_its_offset_unless_the_clocks_change_in_it() {
        let tz = london();
        let mut days: DayOffsets<'_, Date> = DayOffsets::new(&tz);
        let bounds = |d: Date| {
            move |tz: &TimeZone| {
                let start = d.to_zoned(tz.clone()).ok()?.timestamp();
                let end = d.tomorrow().ok()?.to_zoned(tz.clone()).ok()?.timestamp();
                Some((start, end))
            }
        };
        let summer = jiff::civil::date(2026, 7, 1);
        assert_eq!(
            days.offset(summer, bounds(summer)),
            Some(jiff::tz::Offset::from_hours(1).unwrap())
        );
        let winter = jiff::civil::date(2026, 12, 1);
        assert_eq!(
            days.offset(winter, bounds(winter)),
            Some(jiff::tz::Offset::UTC)
        );
        let spring_forward = jiff::civil::date(2026, 3, 29);
        assert_eq!(days.offset(spring_forward, bounds(spring_forward)), None);
        let nowhere = jiff::civil::date(2026, 7, 2);
        assert_eq!(days.offset(nowhere, |_| None), None);
        assert!(std::ptr::eq(days.tz(), &tz));
    }

    #[test]
    fn days_are_london_days_across_bst_and_gmt() {
        // 23:30 UTC on 30 June is already 1 July in London (BST, UTC+1)...
        let summer: Timestamp = "2026-06-30T23:30:00Z".parse().unwrap();
        assert_eq!(today(summer), jiff::civil::date(2026, 7, 1));
        // ...but 23:30 UTC on 30 November is still 30 November (GMT).
        let winter: Timestamp = "2026-11-30T23:30:00Z".parse().unwrap();
        assert_eq!(today(winter), jiff::civil::date(2026, 11, 30));
        assert_eq!(
            start_of(jiff::civil::date(2026, 7, 1)).unwrap().to_string(),
            "2026-06-30T23:00:00Z"
        );
        assert_eq!(
            start_of(jiff::civil::date(2026, 12, 1))
                .unwrap()
                .to_string(),
            "2026-12-01T00:00:00Z"
        );
    }
}
