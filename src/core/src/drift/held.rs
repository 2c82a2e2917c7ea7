//! One system's accounts as drift reads them, held compactly: every name in one text
//! buffer, every entitlement as a number into the system's own list of names.
//!
//! An [`Account`] costs a dozen heap allocations (its strings, its entitlements, its
//! attribute map); at national scale (7.5 million accounts) that was gigabytes and a
//! quarter of the run in malloc and free. Drift needs only the name, the employee number,
//! the display name, whether it is enabled, the last logon and the entitlements, so that
//! is all that is kept, in 32 bytes plus the text. An employee number written as an
//! integer (ESR's eight digits) is held in the row, not in the text.

use crate::account::Account;
use crate::fast::FastMap;
use jiff::Timestamp;
use std::fmt;

/// The text of one system's accounts does not fit the 4 GiB a compact store addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLarge;

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the export holds over 4 GiB of account names and entitlements: split it by OU or department and run drift on each part")
    }
}

impl std::error::Error for TooLarge {}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    len: u32,
}

/// No employee number (`Row::employee_len`).
const NO_NUMBER: u32 = u32::MAX;
/// `Row::employee_len`: the number is this bit plus its value (under 2^30), not text.
const DIGITS: u32 = 1 << 31;
/// `Row::nanos_flags`: the two bits above a second's nanoseconds (under 2^30).
const ENABLED: u32 = 1 << 31;
const LOGGED_ON: u32 = 1 << 30;
const NANOS: u32 = LOGGED_ON - 1;

/// One account in 32 bytes (a national export is millions of rows): its name, employee
/// number and display name lie one after the other in `text` from `start`.
#[derive(Debug, Clone, Copy)]
struct Row {
    start: u32,
    id_len: u32,
    /// The employee number's length in `text`; [`DIGITS`] and its value when it is
    /// written as an integer ([`digits`]); [`NO_NUMBER`]: the account carries none.
    employee_len: u32,
    display_len: u32,
    /// Where the row's entitlement list is in `entitlements`: its length, then its
    /// numbers (accounts given by role share a list, so the length is mostly held once).
    list: u32,
    /// The last logon's fraction of a second in nanoseconds (when [`LOGGED_ON`]), with
    /// [`ENABLED`] and [`LOGGED_ON`] in the bits above.
    nanos_flags: u32,
    /// The last logon's seconds since 1970, as jiff gives them.
    seconds: i64,
}

/// An employee number's value when it is written as an integer: 1 to 9 digits, no
/// leading zero but `0` itself, so the value gives back exactly the same text.
pub fn digits(number: &str) -> Option<u32> {
    let b = number.as_bytes();
    if b.is_empty() || b.len() > 9 || (b[0] == b'0' && b.len() > 1) {
        return None;
    }
    let mut value = 0u32;
    for d in b {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(d - b'0');
    }
    Some(value)
}

/// An account's employee number as held: the integer it is written as ([`digits`]), or
/// its text. Shown, both are the text the export gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Number<'a> {
    Digits(u32),
    Text(&'a str),
}

impl Number<'_> {
    /// Calls `f` with the number's text (digits written into a buffer on the stack).
    pub fn with_str<R>(self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            Number::Text(t) => f(t),
            Number::Digits(mut v) => {
                let mut buf = [0u8; 10];
                let mut at = buf.len();
                loop {
                    at -= 1;
                    buf[at] = b'0' + (v % 10) as u8;
                    v /= 10;
                    if v == 0 {
                        break;
                    }
                }
                f(std::str::from_utf8(&buf[at..]).unwrap_or(""))
            }
        }
    }
}

impl fmt::Display for Number<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Digits(v) => write!(f, "{v}"),
            Number::Text(t) => f.write_str(t),
        }
    }
}

/// One system's accounts, in the order they were given.
#[derive(Debug, Default)]
pub struct Held {
    text: String,
    rows: Vec<Row>,
    /// Each row's entitlement list: its length, then numbers into `names`, sorted and
    /// free of repeats.
    entitlements: Vec<u32>,
    names: Vec<Box<str>>,
    numbers: FastMap<Box<str>, u32>,
    /// Scratch for one row's entitlement numbers.
    scratch: Vec<u32>,
    /// Entitlement lists already held, by the export text they were read from: accounts
    /// given by role share a handful of lists, read and stored once each. At most
    /// [`LIST_TEXT`] bytes of text are remembered.
    lists: FastMap<Box<str>, u32>,
    list_text: usize,
}

/// How much export text [`Held`] remembers entitlement lists by.
const LIST_TEXT: usize = 8 << 20;

/// An account's own fields, as an export or a connector gives them (its entitlements
/// apart).
#[derive(Debug, Clone, Copy)]
pub struct Given<'s> {
    pub id: &'s str,
    pub employee_number: Option<&'s str>,
    pub display_name: &'s str,
    pub enabled: bool,
    pub last_logon: Option<Timestamp>,
}

/// One account of a [`Held`] list.
#[derive(Clone, Copy)]
pub struct AccountRef<'a> {
    held: &'a Held,
    row: &'a Row,
}

impl Held {
    pub fn new() -> Held {
        Held::default()
    }

    /// The same accounts, held compactly (for callers that already have [`Account`]s).
    pub fn from_accounts(accounts: &[Account]) -> Result<Held, TooLarge> {
        let mut held = Held::new();
        for a in accounts {
            let given = Given {
                id: &a.id,
                employee_number: a.employee_number.as_deref(),
                display_name: &a.display_name,
                enabled: a.enabled,
                last_logon: a.last_logon,
            };
            held.push(given, a.entitlements.iter().map(String::as_str))?;
        }
        Ok(held)
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Adds one account; entitlements given twice are kept once.
    pub fn push<'e>(
        &mut self,
        given: Given<'_>,
        entitlements: impl IntoIterator<Item = &'e str>,
    ) -> Result<(), TooLarge> {
        let list = self.list(entitlements)?;
        self.push_row(given, list)
    }

    /// The entitlement list read before from export text `cells`, if it is remembered: a
    /// token for [`Held::push_read`].
    pub fn recall(&self, cells: &str) -> Option<u64> {
        self.lists.get(cells).map(|&list| u64::from(list))
    }

    /// Adds one account whose entitlements were read from export text `cells`: the list
    /// [`Held::recall`] gave (`known`), or `entitlements`, remembered by `cells`.
    pub fn push_read<'e>(
        &mut self,
        given: Given<'_>,
        cells: &str,
        known: Option<u64>,
        entitlements: impl IntoIterator<Item = &'e str>,
    ) -> Result<(), TooLarge> {
        let list = match known.and_then(|token| u32::try_from(token).ok()) {
            Some(list) => list,
            None => {
                let list = self.list(entitlements)?;
                if self.list_text + cells.len() <= LIST_TEXT {
                    self.list_text += cells.len();
                    self.lists.insert(cells.into(), list);
                }
                list
            }
        };
        self.push_row(given, list)
    }

    /// Entitlement names as a sorted list of numbers after its length, stored once in
    /// `entitlements`: where it starts.
    fn list<'e>(
        &mut self,
        entitlements: impl IntoIterator<Item = &'e str>,
    ) -> Result<u32, TooLarge> {
        self.scratch.clear();
        for e in entitlements {
            let n = match self.numbers.get(e) {
                Some(n) => *n,
                None => {
                    let n = u32::try_from(self.names.len()).map_err(|_| TooLarge)?;
                    self.names.push(e.into());
                    self.numbers.insert(e.into(), n);
                    n
                }
            };
            self.scratch.push(n);
        }
        self.scratch.sort_unstable();
        self.scratch.dedup();
        let start = u32::try_from(self.entitlements.len()).map_err(|_| TooLarge)?;
        let len = u32::try_from(self.scratch.len()).map_err(|_| TooLarge)?;
        self.entitlements.push(len);
        self.entitlements.extend_from_slice(&self.scratch);
        Ok(start)
    }

    fn push_row(&mut self, given: Given<'_>, list: u32) -> Result<(), TooLarge> {
        let start = self.put(given.id)?;
        let employee_len = match given.employee_number {
            Some(n) => match digits(n) {
                Some(value) => DIGITS | value,
                None => {
                    let len = self.put(n)?.len;
                    if len >= DIGITS {
                        return Err(TooLarge);
                    }
                    len
                }
            },
            None => NO_NUMBER,
        };
        let display_len = self.put(given.display_name)?.len;
        let (seconds, mut nanos_flags) = match given.last_logon {
            Some(t) => {
                // As whole seconds and a fraction from 0 up (jiff gives the fraction the
                // sign of the seconds, negative before 1970).
                let (s, n) = (t.as_second(), t.subsec_nanosecond());
                let (s, n) = if n < 0 {
                    (s - 1, n + 1_000_000_000)
                } else {
                    (s, n)
                };
                (s, n.unsigned_abs() & NANOS | LOGGED_ON)
            }
            None => (0, 0),
        };
        if given.enabled {
            nanos_flags |= ENABLED;
        }
        self.rows.push(Row {
            start: start.start,
            id_len: start.len,
            employee_len,
            display_len,
            list,
            nanos_flags,
            seconds,
        });
        Ok(())
    }

    fn put(&mut self, s: &str) -> Result<Span, TooLarge> {
        let start = u32::try_from(self.text.len()).map_err(|_| TooLarge)?;
        let len = u32::try_from(s.len()).map_err(|_| TooLarge)?;
        if len == NO_NUMBER {
            return Err(TooLarge);
        }
        start.checked_add(len).ok_or(TooLarge)?;
        self.text.push_str(s);
        Ok(Span { start, len })
    }

    fn text(&self, start: u32, len: u32) -> &str {
        let start = start as usize;
        self.text.get(start..start + len as usize).unwrap_or("")
    }

    /// Gives back the room kept for accounts that never came (a list grows by doubling,
    /// so up to half of it).
    pub fn shrink_to_fit(&mut self) {
        self.text.shrink_to_fit();
        self.rows.shrink_to_fit();
        self.entitlements.shrink_to_fit();
        self.scratch = Vec::new();
        self.lists = FastMap::default();
    }

    /// The number of an entitlement name some account holds.
    pub fn number(&self, name: &str) -> Option<u32> {
        self.numbers.get(name).copied()
    }

    /// Every entitlement name the accounts hold, each once: [`AccountRef::numbers`] index it.
    pub fn names(&self) -> &[Box<str>] {
        &self.names
    }

    /// The accounts, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = AccountRef<'_>> {
        self.rows.iter().map(|row| AccountRef { held: self, row })
    }

    /// The account at `index` (as counted by [`Held::iter`]).
    pub fn get(&self, index: usize) -> Option<AccountRef<'_>> {
        self.rows
            .get(index)
            .map(|row| AccountRef { held: self, row })
    }
}

impl<'a> AccountRef<'a> {
    /// The list the account is held in.
    pub fn held(self) -> &'a Held {
        self.held
    }

    pub fn id(self) -> &'a str {
        self.held.text(self.row.start, self.row.id_len)
    }

    pub fn employee_number(self) -> Option<Number<'a>> {
        let r = self.row;
        match r.employee_len {
            NO_NUMBER => None,
            n if n & DIGITS != 0 => Some(Number::Digits(n & !DIGITS)),
            n => Some(Number::Text(self.held.text(r.start + r.id_len, n))),
        }
    }

    pub fn display_name(self) -> &'a str {
        let r = self.row;
        // Only a number held as text lies between the name and the display name.
        let number = if r.employee_len & DIGITS != 0 {
            0
        } else {
            r.employee_len
        };
        self.held.text(r.start + r.id_len + number, r.display_len)
    }

    pub fn enabled(self) -> bool {
        self.row.nanos_flags & ENABLED != 0
    }

    pub fn last_logon(self) -> Option<Timestamp> {
        let r = self.row;
        if r.nanos_flags & LOGGED_ON == 0 {
            return None;
        }
        Timestamp::new(r.seconds, (r.nanos_flags & NANOS) as i32).ok()
    }

    /// The entitlements held, as numbers into [`Held::names`] (sorted).
    pub fn numbers(self) -> &'a [u32] {
        let all = &self.held.entitlements;
        let start = self.row.list as usize;
        let len = all.get(start).map_or(0, |n| *n as usize);
        all.get(start + 1..start + 1 + len).unwrap_or(&[])
    }

    /// The entitlements held (in no particular order).
    pub fn entitlements(self) -> impl Iterator<Item = &'a str> {
        let names = &self.held.names;
        self.numbers()
            .iter()
            .filter_map(move |n| names.get(*n as usize).map(|s| &**s))
    }

    pub fn holds(self, entitlement: &str) -> bool {
        self.held
            .numbers
            .get(entitlement)
            .is_some_and(|n| self.numbers().binary_search(n).is_ok())
    }
}

impl fmt::Debug for AccountRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountRef")
            .field("id", &self.id())
            .field("employee_number", &self.employee_number())
            .field("enabled", &self.enabled())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given<'s>(
        id: &'s str,
        employee_number: Option<&'s str>,
        display_name: &'s str,
        enabled: bool,
        last_logon: Option<Timestamp>,
    ) -> Given<'s> {
        Given {
            id,
            employee_number,
            display_name,
            enabled,
            last_logon,
        }
    }

    #[test]
    fn accounts_come_back_as_given() {
        let mut h = Held::new();
        let t: Timestamp = "2026-11-20T09:00:00.5Z".parse().unwrap();
        h.push(
            given("jsmith", Some("20000001"), "Jane Smith", true, Some(t)),
            ["GG-B", "GG-A", "GG-B"],
        )
        .unwrap();
        h.push(given("kiosk", None, "", false, None), ["GG-A"])
            .unwrap();
        assert_eq!(h.len(), 2);
        let a = h.get(0).unwrap();
        assert_eq!(
            (a.id(), a.employee_number(), a.display_name(), a.enabled()),
            ("jsmith", Some(Number::Digits(20000001)), "Jane Smith", true)
        );
        assert_eq!(a.last_logon(), Some(t));
        let mut e: Vec<&str> = a.entitlements().collect();
        e.sort();
        assert_eq!(e, ["GG-A", "GG-B"]);
        assert!(a.holds("GG-A") && a.holds("GG-B") && !a.holds("GG-C"));
        let b = h.get(1).unwrap();
        assert_eq!(
            (b.id(), b.employee_number(), b.enabled()),
            ("kiosk", None, false)
        );
        assert_eq!(b.entitlements().collect::<Vec<_>>(), ["GG-A"]);
        assert!(!b.holds("GG-B"));
        assert_eq!(
            h.iter().map(AccountRef::id).collect::<Vec<_>>(),
            ["jsmith", "kiosk"]
        );
    }

    #[test]
    fn lists_are_remembered_by_their_text_within_a_bound() {
        let mut h = Held::new();
        let a = given("a", None, "", true, None);
        h.push_read(a, "GG-A;GG-B", None, ["GG-A", "GG-B"]).unwrap();
        let known = h.recall("GG-A;GG-B");
        assert!(known.is_some() && h.recall("GG-A").is_none());
        h.push_read(given("b", None, "", true, None), "GG-A;GG-B", known, [])
            .unwrap();
        let mut b: Vec<&str> = h.get(1).unwrap().entitlements().collect();
        b.sort();
        assert_eq!(b, ["GG-A", "GG-B"]);
        // Text past the bound is read every time, not remembered.
        let long = "G".repeat(LIST_TEXT);
        h.push_read(
            given("c", None, "", true, None),
            &long,
            None,
            [long.as_str()],
        )
        .unwrap();
        assert!(h.recall(&long).is_none());
        assert_eq!(
            h.get(2).unwrap().entitlements().collect::<Vec<_>>(),
            [long.as_str()]
        );
    }

    #[test]
    fn an_account_costs_thirty_two_bytes_and_keeps_its_logon_to_the_nanosecond() {
        assert_eq!(std::mem::size_of::<Row>(), 32);
        let mut h = Held::new();
        let times = [
            "1969-12-31T23:59:58.25Z",
            "1969-12-31T23:59:59.5Z",
            "1969-12-31T23:59:59.999999999Z",
            "2026-11-20T09:00:00.999999999Z",
            "2026-11-20T09:00:00.000000001Z",
            "1970-01-01T00:00:00Z",
        ];
        for (i, t) in times.iter().enumerate() {
            let n = format!("2000000{i}");
            let id = format!("u{i}");
            let logon = Some(t.parse().unwrap());
            h.push(given(&id, Some(&n), "", i % 2 == 0, logon), [])
                .unwrap();
        }
        h.push(given("none", Some(""), "Shown", false, None), [])
            .unwrap();
        for (i, t) in times.iter().enumerate() {
            let a = h.get(i).unwrap();
            assert_eq!(a.last_logon(), Some(t.parse().unwrap()), "{t}");
            assert_eq!(a.enabled(), i % 2 == 0);
            assert_eq!(
                a.employee_number().map(|n| n.to_string()),
                Some(format!("2000000{i}"))
            );
            assert_eq!(a.display_name(), "");
        }
        let last = h.get(times.len()).unwrap();
        assert_eq!(
            (
                last.id(),
                last.employee_number(),
                last.display_name(),
                last.last_logon()
            ),
            ("none", Some(Number::Text("")), "Shown", None)
        );
    }

    /// A number written as an integer is held in the row and shown as the same text; any
    /// other (a leading zero, letters, ten digits) is held as text, and the display name
    /// after it is found either way.
    #[test]
    fn numbers_written_as_integers_take_no_text() {
        let numbers = [
            "20000001",
            "0",
            "7",
            "999999999",
            "01234567",
            "1234567890",
            "E12345",
            " 123",
            "",
        ];
        let mut h = Held::new();
        for n in numbers {
            h.push(given("u", Some(n), "Shown Name", true, None), [])
                .unwrap();
        }
        for (i, n) in numbers.iter().enumerate() {
            let a = h.get(i).unwrap();
            let held = a.employee_number().unwrap();
            assert_eq!(held.to_string(), *n);
            assert_eq!(held.with_str(str::to_string), *n);
            assert_eq!(
                matches!(held, Number::Digits(_)),
                i < 4,
                "{n} is held as {held:?}"
            );
            assert_eq!(a.display_name(), "Shown Name");
        }
        // The four integers cost no text: only the other five numbers are in it.
        let text: usize = numbers[4..].iter().map(|n| n.len()).sum();
        assert_eq!(
            h.text.len(),
            numbers.len() * ("u".len() + "Shown Name".len()) + text
        );
    }
}
