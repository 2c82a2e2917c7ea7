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

#[cfg(test)]
mod tests {
    use super::*;

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
