//! Dates as ESR, TRAC and the exports write them.

use super::*;

/// Year, month and day of `dd/mm/yyyy` or `yyyy-mm-dd` written with every digit.
pub(super) fn full_date(b: &[u8]) -> Option<(i16, i8, i8)> {
    let digits = |from: usize, to: usize| {
        b.get(from..to)?.iter().try_fold(0i16, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + i16::from(c - b'0'))
        })
    };
    let (y, m, d) = match b {
        [_, _, b'/', _, _, b'/', _, _, _, _] => (digits(6, 10)?, digits(3, 5)?, digits(0, 2)?),
        [_, _, _, _, b'-', _, _, b'-', _, _] => (digits(0, 4)?, digits(5, 7)?, digits(8, 10)?),
        _ => return None,
    };
    Some((y, i8::try_from(m).ok()?, i8::try_from(d).ok()?))
}
/// `dd/mm/yyyy` (UK order) or ISO `yyyy-mm-dd`.
pub fn parse_date(text: &str) -> Result<Date, String> {
    let text = text.trim();
    // Nearly every date is written in full (`23/11/2026`, `2026-11-23`): read those
    // digit by digit; anything else (`1/2/2026`) and every error take the general path.
    if let Some((y, m, d)) = full_date(text.as_bytes())
        && y >= 1900
        && let Ok(date) = Date::new(y, m, d)
    {
        return Ok(date);
    }
    general_date(text)
}
/// [`parse_date`] of trimmed `text`, however it is written.
pub(super) fn general_date(text: &str) -> Result<Date, String> {
    // Exactly three parts, without collecting them (a date per row of a national extract).
    let three = |sep: char| -> Option<(&str, &str, &str)> {
        let mut parts = text.split(sep);
        let found = (parts.next()?, parts.next()?, parts.next()?);
        parts.next().is_none().then_some(found)
    };
    let (y, m, d) = if let Some((d, m, y)) = three('/') {
        (y, m, d)
    } else {
        match three('-') {
            Some((y, m, d)) if y.len() == 4 => (y, m, d),
            _ => {
                return Err(format!(
                    "\"{text}\" is not a date (use dd/mm/yyyy or yyyy-mm-dd)"
                ));
            }
        }
    };
    let num = |s: &str, max_len: usize| -> Option<i32> {
        (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (Some(y), Some(m), Some(d)) = (num(y, 4), num(m, 2), num(d, 2)) else {
        return Err(format!(
            "\"{text}\" is not a date (use dd/mm/yyyy or yyyy-mm-dd)"
        ));
    };
    if y < 1900 {
        return Err(format!("\"{text}\" has a four-digit year before 1900"));
    }
    Date::new(y as i16, m as i8, d as i8)
        .map_err(|_| format!("\"{text}\" is not a real calendar date"))
}
