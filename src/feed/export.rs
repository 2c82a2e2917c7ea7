//! Account exports: a system's user list as a CSV file, read into accounts.
//!
//! The CONTRACT columns are `Account, Employee Number, Display Name, Enabled (true/false),
//! Last Logon, Entitlements`; config may rename each per system so an AD `Export-Csv` file
//! or a clinical system's user report is read as it comes.

use super::{FeedError, Limits, Row, RowError, RowErrors, Table, parse_date};
use crate::account::Account;
use crate::drift::Held;
use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::path::Path;
use turnstile_core::drift::held::Given;
use turnstile_core::fast::{FastMap, FastSet};

/// Per-system column names, where an export does not use the CONTRACT ones.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportColumns {
    pub account: Option<String>,
    pub employee_number: Option<String>,
    pub display_name: Option<String>,
    pub enabled: Option<String>,
    pub last_logon: Option<String>,
    pub entitlements: Option<String>,
    /// Column holding the account's container (an AD OU or distinguished name).
    pub container: Option<String>,
    /// Separator between entitlements in one cell (default `;`).
    pub entitlement_separator: Option<String>,
    /// Entitlements are distinguished names (`CN=GG-Nursing,OU=Groups,…`): keep the
    /// first value only, as AD's `memberOf` gives them.
    #[serde(default)]
    pub entitlements_are_dns: bool,
    /// The values of the `enabled` column that mean "can be used" (e.g. `["Active"]` for
    /// an EMIS Web status column, `["No"]` for a SystmOne "Obsolete" column); any other
    /// value means disabled. Empty: true/false, yes/no, 1/0 and an AD
    /// `userAccountControl` are read.
    #[serde(default)]
    pub enabled_values: Vec<String>,
    /// More columns whose values are entitlements too (an EMIS Web job category beside
    /// its RBAC role profile), each split like `entitlements`.
    #[serde(default)]
    pub entitlement_columns: Vec<String>,
    /// The column holding the smartcard UUID (a SystmOne staff export): an account with no
    /// employee number is linked to the person whose HR record has that UUID.
    #[serde(default)]
    pub smartcard: Option<String>,
    /// The column holding the end of the contract or employment profile (EMIS Web contract
    /// end, SystmOne employment end): an account whose end date has passed cannot be used,
    /// whatever its active flag says.
    #[serde(default)]
    pub end_date: Option<String>,
}

/// What an export yielded: its accounts as [`Account`]s (for a connector), or held
/// compactly as [`Held`] (for drift, where a national export is millions of rows).
#[derive(Debug, Default)]
pub struct Export<A = Vec<Account>> {
    pub accounts: A,
    pub errors: RowErrors,
    pub rows: u64,
    /// False when the file has no last-logon column: dormancy cannot be judged.
    pub has_last_logon: bool,
}

/// One account as an export row gave it: its own fields, as drift's compact store takes
/// them, and the rest.
pub struct Read<'r> {
    pub account: Given<'r>,
    /// Empty when `known` is given.
    pub entitlements: Vec<Cow<'r, str>>,
    /// The text the entitlements were read from (every entitlement cell, joined by NUL,
    /// which no cell holds), and the list [`Accounts::recall`] gave for it.
    pub entitlement_text: &'r str,
    pub known: Option<u64>,
    pub container: Option<&'r str>,
    pub smartcard: Option<&'r str>,
    pub end_date: Option<Date>,
}

/// Where an export's accounts are kept.
pub trait Accounts: Default {
    fn count(&self) -> usize;
    /// The name of the account kept `index`-th.
    fn id(&self, index: usize) -> Option<&str>;
    fn keep(&mut self, system: &str, account: Read<'_>) -> Result<(), String>;
    /// A token for the entitlements read before from the same text, if they are kept
    /// that way: [`Read::entitlements`] is then left empty.
    fn recall(&self, _entitlement_text: &str) -> Option<u64> {
        None
    }
    /// Called once the last row is read.
    fn finish(&mut self) {}
}

impl Accounts for Vec<Account> {
    fn count(&self) -> usize {
        self.len()
    }

    fn id(&self, index: usize) -> Option<&str> {
        self.get(index).map(|a| a.id.as_str())
    }

    fn keep(&mut self, system: &str, read: Read<'_>) -> Result<(), String> {
        let a = read.account;
        let mut attributes = std::collections::BTreeMap::new();
        if let Some(card) = read.smartcard {
            attributes.insert(crate::account::SDS_USER_ID.to_string(), card.to_string());
        }
        if let Some(end) = read.end_date {
            attributes.insert(END_DATE.to_string(), end.to_string());
        }
        self.push(Account {
            system: system.to_string(),
            id: a.id.to_string(),
            employee_number: a.employee_number.map(str::to_string),
            display_name: a.display_name.to_string(),
            enabled: a.enabled,
            last_logon: a.last_logon,
            entitlements: read
                .entitlements
                .into_iter()
                .map(Cow::into_owned)
                .collect::<Vec<_>>()
                .into(),
            container: read.container.map(str::to_string),
            attributes,
        });
        Ok(())
    }
}

/// Drift keeps what it reads: no container, smartcard or end date (drift judges the
/// export as it stands; the daemon's reconcile applies those).
impl Accounts for Held {
    fn count(&self) -> usize {
        self.len()
    }

    fn id(&self, index: usize) -> Option<&str> {
        self.get(index).map(|a| a.id())
    }

    fn keep(&mut self, _system: &str, a: Read<'_>) -> Result<(), String> {
        self.push_read(
            a.account,
            a.entitlement_text,
            a.known,
            a.entitlements.iter().map(|e| &**e),
        )
        .map_err(|e| e.to_string())
    }

    fn recall(&self, entitlement_text: &str) -> Option<u64> {
        Held::recall(self, entitlement_text)
    }

    fn finish(&mut self) {
        self.shrink_to_fit();
    }
}

pub fn read<A: Accounts>(
    system: &str,
    path: &Path,
    columns: &ExportColumns,
    tz: &TimeZone,
    limits: &Limits,
) -> Result<Export<A>, FeedError> {
    let mut table = Table::open(path, limits)?;
    read_table(system, &mut table, columns, tz, limits)
}

pub fn read_table<A: Accounts>(
    system: &str,
    table: &mut Table,
    names: &ExportColumns,
    tz: &TimeZone,
    limits: &Limits,
) -> Result<Export<A>, FeedError> {
    let name = |renamed: &Option<String>, contract: &'static str| -> (String, &'static str) {
        (
            renamed.clone().unwrap_or_else(|| contract.to_string()),
            contract,
        )
    };
    let required = |(n, c): (String, &str)| table.require(&n, c);
    let optional = |(n, _): (String, &str)| table.column(&n);
    let account = required(name(&names.account, "Account"))?;
    let employee = required(name(&names.employee_number, "Employee Number"))?;
    let enabled = required(name(&names.enabled, "Enabled"))?;
    let display = optional(name(&names.display_name, "Display Name"))?;
    let last_logon = optional(name(&names.last_logon, "Last Logon"))?;
    let entitlements = optional(name(&names.entitlements, "Entitlements"))?;
    let mut more_entitlements = Vec::with_capacity(names.entitlement_columns.len());
    for c in &names.entitlement_columns {
        match table.column(c)? {
            Some(i) => more_entitlements.push(i),
            None => {
                return Err(FeedError::MissingColumn {
                    file: table.file().to_string(),
                    column: c.clone(),
                    renamed: "; configured in entitlement_columns".into(),
                });
            }
        }
    }
    let configured = |c: &Option<String>, what: &str| -> Result<Option<usize>, FeedError> {
        match c {
            None => Ok(None),
            Some(name) => table
                .column(name)?
                .map(Some)
                .ok_or_else(|| FeedError::MissingColumn {
                    file: table.file().to_string(),
                    column: name.clone(),
                    renamed: format!("; configured as the {what} column"),
                }),
        }
    };
    let smartcard = configured(&names.smartcard, "smartcard")?;
    let end_date = configured(&names.end_date, "end date")?;
    let container = match &names.container {
        Some(c) => table.column(c)?,
        None => None,
    };
    if let Some(c) = &names.container
        && container.is_none()
    {
        return Err(FeedError::MissingColumn {
            file: table.file().to_string(),
            column: c.clone(),
            renamed: "; configured as the container column".into(),
        });
    }
    let separator = names
        .entitlement_separator
        .clone()
        .unwrap_or_else(|| ";".into());
    let mut out: Export<A> = Export {
        has_last_logon: last_logon.is_some(),
        errors: RowErrors::new(limits),
        ..Export::default()
    };
    let mut seen = Seen::default();
    let file = table.file().to_string();
    let mut joined = String::new();
    let mut local = LocalTimes::new(tz);
    while let Some(row) = table.next_row()? {
        out.rows += 1;
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                out.errors.row(e);
                continue;
            }
        };
        let r: &Row<'_> = &row;
        let entitlement_text = if more_entitlements.is_empty() {
            r.get(entitlements).unwrap_or_default()
        } else {
            joined.clear();
            for c in
                std::iter::once(entitlements).chain(more_entitlements.iter().copied().map(Some))
            {
                joined.push_str(r.get(c).unwrap_or_default());
                joined.push('\0');
            }
            &joined
        };
        let known = out.accounts.recall(entitlement_text);
        let parsed = (|| -> Result<Read<'_>, RowError> {
            let id = r.required(Some(account), "Account")?;
            let enabled_text = r.required(Some(enabled), "Enabled")?;
            let is_enabled = if names.enabled_values.is_empty() {
                parse_enabled(enabled_text).ok_or_else(|| {
                    r.error(format!(
                        "`Enabled` is \"{enabled_text}\": use true/false (yes/no, 1/0 and an AD userAccountControl number are read too)"
                    ))
                })?
            } else {
                names
                    .enabled_values
                    .iter()
                    .any(|v| v.trim().eq_ignore_ascii_case(enabled_text.trim()))
            };
            let last = match r.get(last_logon) {
                None => None,
                Some(t) => parse_logon_in(t, &mut local)
                    .map_err(|m| r.error(format!("`Last Logon`: {m}")))?,
            };
            if let Some(cell) = r.get(entitlements)
                && cell
                    .trim()
                    .starts_with("Microsoft.ActiveDirectory.Management.")
            {
                return Err(r.error(DOTNET_COLLECTION));
            }
            let end = r.date(end_date, names.end_date.as_deref().unwrap_or("end date"))?;
            // A list read before from the same text is not read again.
            let entitlements = std::iter::once(entitlements)
                .chain(more_entitlements.iter().copied().map(Some))
                .filter(|_| known.is_none())
                .filter_map(|c| r.get(c))
                .flat_map(|cell| cell.split(separator.as_str()))
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(|e| {
                    if names.entitlements_are_dns {
                        Cow::Owned(crate::dn::first_value(e))
                    } else {
                        Cow::Borrowed(e)
                    }
                })
                .collect();
            Ok(Read {
                account: Given {
                    id,
                    employee_number: r.get(Some(employee)),
                    display_name: r.get(display).unwrap_or_default(),
                    enabled: is_enabled,
                    last_logon: last,
                },
                entitlements,
                entitlement_text,
                known,
                container: r.get(container),
                smartcard: r.get(smartcard),
                end_date: end,
            })
        })();
        let read = match parsed {
            Ok(p) => p,
            Err(e) if e.message == DOTNET_COLLECTION => {
                // Every row of such a file is the same: one error naming the fix.
                return Err(FeedError::Unusable {
                    file,
                    detail: format!("line {}: {DOTNET_COLLECTION}", e.line),
                });
            }
            Err(e) => {
                out.errors.row(e);
                continue;
            }
        };
        let id = read.account.id;
        let index = out.accounts.count() as u32;
        let first = seen.first(id, lower_hash(id), index, |i| out.accounts.id(i as usize));
        if !first {
            out.errors.row(row.error(format!(
                "account `{id}` appears twice in the export; only the first row is used"
            )));
            continue;
        }
        out.accounts
            .keep(system, read)
            .map_err(|detail| FeedError::Unusable {
                file: file.clone(),
                detail: format!("line {}: {detail}", row.line),
            })?;
    }
    out.accounts.finish();
    Ok(out)
}

/// Account names seen, by the hash of their lower-case form: a name given twice is spotted
/// without keeping a second copy of every name. Names whose hashes meet are told apart in
/// full.
#[derive(Default)]
struct Seen {
    /// 32 bits of the hash → the first kept account with them. Eight bytes a name rather
    /// than sixteen: at national scale the table (millions of names, probed at random)
    /// was tens of megabytes per export read, and a probe a cache miss; the few hundred
    /// names whose bits meet in an export of millions are told apart in full.
    by_hash: FastMap<u32, u32>,
    /// Lower-case names that met another name's hash.
    collided: FastSet<String>,
}

impl Seen {
    /// Whether `id` (hashed `hash`; kept `index`-th if new) is new. `kept` gives the name
    /// of an account kept earlier.
    fn first<'k>(
        &mut self,
        id: &str,
        hash: u64,
        index: u32,
        kept: impl FnOnce(u32) -> Option<&'k str>,
    ) -> bool {
        // The top bits: the table's own hash of the key picks buckets by the bottom ones.
        match self.by_hash.entry((hash >> 32) as u32) {
            Entry::Vacant(v) => {
                v.insert(index);
                true
            }
            Entry::Occupied(o) => {
                let lower = id.to_lowercase();
                if kept(*o.get()).is_some_and(|k| k.to_lowercase() == lower) {
                    false
                } else {
                    self.collided.insert(lower)
                }
            }
        }
    }
}

/// The hash of a name's lower-case form, without making that form when the name has no
/// capital letter (almost every account name).
fn lower_hash(id: &str) -> u64 {
    use std::hash::BuildHasher;
    let hasher = std::hash::BuildHasherDefault::<turnstile_core::fast::FastHasher>::default();
    if id.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
        hasher.hash_one(id.to_lowercase())
    } else {
        hasher.hash_one(id)
    }
}

/// The attribute an export's end date is kept under (`yyyy-mm-dd`), for the connector to
/// judge against today.
pub const END_DATE: &str = "end_date";

/// A multi-valued AD attribute exported without joining it.
const DOTNET_COLLECTION: &str = "the entitlements column holds a .NET type name (Microsoft.ActiveDirectory.Management.ADPropertyValueCollection), not the groups: Export-Csv wrote the collection, not its values. Export it joined, e.g. `Get-ADUser -Filter * -Properties employeeID,displayName,enabled,lastLogonTimestamp,memberOf | Select-Object SamAccountName,employeeID,displayName,Enabled,lastLogonTimestamp,@{n='MemberOf';e={$_.MemberOf -join ';'}} | Export-Csv ad.csv -NoTypeInformation -Encoding UTF8`";

/// `true/false`, `yes/no`, `y/n`, `1/0`, `enabled/disabled`, `active/inactive`, or an AD
/// `userAccountControl` value (disabled when bit 0x2 is set).
pub fn parse_enabled(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "enabled" | "active" => Some(true),
        "false" | "no" | "n" | "0" | "disabled" | "inactive" => Some(false),
        other => other
            .parse::<u32>()
            .ok()
            .filter(|v| *v > 1)
            .map(|uac| uac & 0x2 == 0),
    }
}

/// Windows FILETIME ticks (100 ns since 1601) between 1601 and the Unix epoch.
const FILETIME_UNIX_OFFSET: i64 = 116_444_736_000_000_000;

/// A Windows FILETIME (AD `lastLogonTimestamp`) as a timestamp; `None` for 0 ("never"),
/// the "never expires" maximum, or out of range.
pub fn filetime(ticks: i64) -> Option<Timestamp> {
    if ticks <= 0 || ticks == i64::MAX {
        return None;
    }
    Timestamp::from_second((ticks - FILETIME_UNIX_OFFSET) / 10_000_000).ok()
}

/// A last-logon cell: blank or `never` (no logon), an ISO date or date-time, `dd/mm/yyyy`
/// with an optional `hh:mm[:ss]`, or an AD FILETIME number. Times without an offset are
/// read in `tz` (Europe/London).
pub fn parse_logon(text: &str, tz: &TimeZone) -> Result<Option<Timestamp>, String> {
    parse_logon_in(text, &mut LocalTimes::new(tz))
}

/// Local date-times of one time zone as instants, through each local day's offset found
/// once ([`DayOffsets`](turnstile_core::clock::DayOffsets)): an export has a logon per
/// account and a few hundred distinct days.
pub struct LocalTimes<'z>(turnstile_core::clock::DayOffsets<'z, Date>);

impl<'z> LocalTimes<'z> {
    pub fn new(tz: &'z TimeZone) -> LocalTimes<'z> {
        LocalTimes(turnstile_core::clock::DayOffsets::new(tz))
    }

    /// As `tz.to_timestamp` reads it (the earlier instant in a clock change).
    pub fn to_timestamp(&mut self, at: DateTime) -> Result<Timestamp, jiff::Error> {
        let date = at.date();
        let local_day = |tz: &TimeZone| {
            let start = tz.to_timestamp(date.to_datetime(Time::midnight())).ok()?;
            let next = date.tomorrow().ok()?.to_datetime(Time::midnight());
            Some((start, tz.to_timestamp(next).ok()?))
        };
        match self.0.offset(date, local_day) {
            Some(offset) => offset.to_timestamp(at),
            None => self.0.tz().to_timestamp(at),
        }
    }
}

/// [`parse_logon`], converting local times through `local`.
pub fn parse_logon_in(text: &str, local: &mut LocalTimes<'_>) -> Result<Option<Timestamp>, String> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    if t.bytes().all(|b| b.is_ascii_digit()) && (t.len() >= 15 || t.bytes().all(|b| b == b'0')) {
        let ticks: i64 = t
            .parse()
            .map_err(|_| format!("\"{t}\" is too large for a FILETIME"))?;
        if ticks == 0 || ticks == i64::MAX {
            return Ok(None);
        }
        return filetime(ticks)
            .map(Some)
            .ok_or_else(|| format!("FILETIME {t} is out of range"));
    }
    // An instant carries its offset (`Z`, `+01:00`, `-05`) after the date; most logons
    // are local times, not worth a failed parse each.
    let has_offset = t.ends_with(['Z', 'z', ']'])
        || t.get(10..).is_some_and(|rest| rest.contains(['+', '-']))
        || !t.is_ascii();
    if has_offset && let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(Some(ts));
    }
    let (date_part, time_part) = match t.split_once([' ', 'T']) {
        Some((d, rest)) => (d, Some(rest.trim())),
        None => (t, None),
    };
    let date: Date = parse_date(date_part)?;
    let time = match time_part {
        None => Time::midnight(),
        Some(tp) => parse_time(tp)
            .ok_or_else(|| format!("\"{t}\" has a time that is not hh:mm or hh:mm:ss"))?,
    };
    // The time zone's own conversion (as `to_zoned` does, with the same choice in a
    // clock change), without building a zoned value per row.
    local
        .to_timestamp(DateTime::from_parts(date, time))
        .map(Some)
        .map_err(|e| format!("\"{t}\": {e}"))
}

fn parse_time(text: &str) -> Option<Time> {
    let num = |s: &str| -> Option<i8> { s.parse().ok() };
    // hh:mm or hh:mm:ss[.fraction], split without collecting (a cell per account).
    let mut parts = text.split(':');
    let (h, m) = (parts.next()?, parts.next()?);
    match (parts.next(), parts.next()) {
        (None, _) => Time::new(num(h)?, num(m)?, 0, 0).ok(),
        (Some(s), None) => {
            let whole = s.split('.').next()?;
            Time::new(num(h)?, num(m)?, num(whole)?, 0).ok()
        }
        (Some(_), Some(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn london() -> TimeZone {
        TimeZone::get("Europe/London").unwrap()
    }

    #[test]
    fn logon_formats() {
        let tz = london();
        assert_eq!(parse_logon("", &tz).unwrap(), None);
        assert_eq!(parse_logon("Never", &tz).unwrap(), None);
        assert_eq!(parse_logon("0", &tz).unwrap(), None);
        let summer = parse_logon("15/07/2026 09:30", &tz).unwrap().unwrap();
        assert_eq!(summer.to_string(), "2026-07-15T08:30:00Z");
        assert_eq!(
            parse_logon("2026-07-15", &tz).unwrap().unwrap().to_string(),
            "2026-07-14T23:00:00Z"
        );
        assert_eq!(
            parse_logon("2026-07-15T09:30:00Z", &tz)
                .unwrap()
                .unwrap()
                .to_string(),
            "2026-07-15T09:30:00Z"
        );
        // 2026-01-01T00:00:00Z as FILETIME.
        let ft = (1_767_225_600i64 * 10_000_000 + FILETIME_UNIX_OFFSET).to_string();
        assert_eq!(
            parse_logon(&ft, &tz).unwrap().unwrap().to_string(),
            "2026-01-01T00:00:00Z"
        );
        // Clocks going back (01:30 happens twice: the first, BST) and forward (01:30 never
        // happens: read as the hour after), as a zoned date-time reads them.
        assert_eq!(
            parse_logon("25/10/2026 01:30", &tz)
                .unwrap()
                .unwrap()
                .to_string(),
            "2026-10-25T00:30:00Z"
        );
        assert_eq!(
            parse_logon("29/03/2026 01:30", &tz)
                .unwrap()
                .unwrap()
                .to_string(),
            "2026-03-29T01:30:00Z"
        );
        assert_eq!(
            parse_logon("15/07/2026 09:30:15.250", &tz)
                .unwrap()
                .unwrap()
                .to_string(),
            "2026-07-15T08:30:15Z"
        );
        assert!(parse_logon("15/07/2026 09:30:15:01", &tz).is_err());
        assert!(parse_logon("last tuesday", &tz).is_err());
        assert!(parse_logon("15/07/2026 25:00", &tz).is_err());
    }

    #[test]
    fn instants_with_an_offset_are_read_as_given() {
        let tz = london();
        for (text, utc) in [
            ("2026-07-15T10:30:00+01:00", "2026-07-15T09:30:00Z"),
            ("2026-07-15 05:30:00-04:00", "2026-07-15T09:30:00Z"),
            ("2026-07-15T09:30:00z", "2026-07-15T09:30:00Z"),
            (
                "2026-07-15T09:30:00Z[Europe/London]",
                "2026-07-15T09:30:00Z",
            ),
            ("2026-07-15T10:30:00", "2026-07-15T09:30:00Z"),
        ] {
            let read = parse_logon(text, &tz).map(|t| t.map(|t| t.to_string()));
            assert_eq!(read, Ok(Some(utc.to_string())), "{text}");
        }
    }

    #[test]
    fn enabled_values() {
        assert_eq!(parse_enabled("TRUE"), Some(true));
        assert_eq!(parse_enabled("no"), Some(false));
        assert_eq!(parse_enabled("512"), Some(true));
        assert_eq!(parse_enabled("514"), Some(false));
        assert_eq!(parse_enabled("66050"), Some(false));
        assert_eq!(parse_enabled("maybe"), None);
    }

    #[test]
    fn names_whose_hashes_meet_are_told_apart() {
        let mut seen = Seen::default();
        let mut kept: Vec<&str> = Vec::new();
        // Every name hashed alike: only the comparison in full tells them apart.
        let mut first = |id: &'static str| {
            let new = seen.first(id, 7, kept.len() as u32, |i| kept.get(i as usize).copied());
            if new {
                kept.push(id);
            }
            new
        };
        assert!(first("jsmith"));
        assert!(first("ajones"));
        assert!(!first("JSmith"), "the first kept, in another case");
        assert!(
            !first("AJones"),
            "one kept after a collision, in another case"
        );
        assert!(first("bkhan"));
    }

    #[test]
    fn renamed_columns_and_dn_entitlements() {
        let text = "SamAccountName,employeeID,Name,Enabled,LastLogonDate,MemberOf\n\
jsmith,20000001,Jane Smith,True,01/11/2026 08:00,\"CN=GG-Nursing\\, Ward 7,OU=Groups,DC=x;CN=GG-AllStaff,OU=Groups,DC=x\"\n\
JSmith,20000001,Jane Smith,True,,\n\
kiosk,,Ward Kiosk,maybe,,\n";
        let cols = ExportColumns {
            account: Some("SamAccountName".into()),
            employee_number: Some("employeeID".into()),
            display_name: Some("Name".into()),
            last_logon: Some("LastLogonDate".into()),
            entitlements: Some("MemberOf".into()),
            entitlements_are_dns: true,
            ..ExportColumns::default()
        };
        let mut t = Table::from_reader(
            "ad.csv",
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
            &Limits::default(),
        )
        .unwrap();
        let x: Export<Held> =
            read_table("ad", &mut t, &cols, &london(), &Limits::default()).unwrap();
        assert_eq!(x.accounts.len(), 1);
        let a = x.accounts.get(0).unwrap();
        let mut held: Vec<&str> = a.entitlements().collect();
        held.sort();
        assert_eq!(held, ["GG-AllStaff", "GG-Nursing, Ward 7"]);
        assert_eq!(x.errors.listed.len(), 2);
        assert!(
            x.errors.listed[0]
                .to_string()
                .starts_with("ad.csv:3: account `JSmith` appears twice")
        );
        assert!(
            x.errors.listed[1]
                .to_string()
                .starts_with("ad.csv:4: `Enabled` is \"maybe\"")
        );
    }

    /// Entitlement lists read once per distinct text (held compactly) are the lists read
    /// row by row (as connectors read them), whatever the columns repeat.
    #[test]
    fn remembered_entitlement_lists_are_the_lists_read() {
        let text = "Account,Employee Number,Enabled,Entitlements,Job Category\n\
a,1,true,GG-A;GG-B,Nurse\n\
b,2,true,GG-A;GG-B,Doctor\n\
c,3,true,GG-A;GG-B,Nurse\n\
d,4,true,,Nurse\n\
e,5,true,GG-B; GG-A,\n\
f,6,true,GG-A;GG-B,Nurse\n\
g,7,true,,\n";
        let cols = ExportColumns {
            entitlement_columns: vec!["Job Category".into()],
            ..ExportColumns::default()
        };
        let read = |held: bool| -> Vec<(String, Vec<String>)> {
            let mut t = Table::from_reader(
                "emis.csv",
                Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
                &Limits::default(),
            )
            .unwrap();
            let limits = Limits::default();
            let mut out: Vec<(String, Vec<String>)> = if held {
                let x: Export<Held> =
                    read_table("emis", &mut t, &cols, &london(), &limits).unwrap();
                x.accounts
                    .iter()
                    .map(|a| {
                        (
                            a.id().to_string(),
                            a.entitlements().map(str::to_string).collect(),
                        )
                    })
                    .collect()
            } else {
                let x: Export = read_table("emis", &mut t, &cols, &london(), &limits).unwrap();
                x.accounts
                    .into_iter()
                    .map(|a| (a.id, a.entitlements.into()))
                    .collect()
            };
            for (_, e) in &mut out {
                e.sort();
                e.dedup();
            }
            out
        };
        let rows = read(false);
        assert_eq!(
            rows[1],
            (
                "b".into(),
                vec!["Doctor".into(), "GG-A".into(), "GG-B".into()]
            )
        );
        assert_eq!(rows[3], ("d".into(), vec!["Nurse".into()]));
        assert_eq!(rows[6], ("g".into(), vec![]));
        assert_eq!(read(true), rows);
    }

    proptest::proptest! {
        /// Each day's offset, worked out once, gives the instants the time zone itself
        /// gives, clock changes included (London, New York, Lord Howe's half hour, Apia's
        /// lost day). Local times anywhere, and within a day and a half of a change.
        #[test]
        fn a_day_offset_reads_local_times_as_the_zone_does(
            zone in 0..4usize,
            days in proptest::collection::vec((0..12_000i32, 0..24i8, 0..60i8), 1..30),
            near in proptest::collection::vec((1995..2035i16, 0..2usize, -2160..2160i64), 1..30),
        ) {
            let tz = TimeZone::get(["Europe/London", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia"][zone]).unwrap();
            let mut local = LocalTimes::new(&tz);
            let epoch = jiff::civil::date(1995, 1, 1);
            let anywhere = days.iter().map(|(day, hour, minute)| {
                let date = epoch.checked_add(jiff::Span::new().days(*day)).unwrap();
                date.to_datetime(Time::new(*hour, *minute, 0, 0).unwrap())
            });
            // Local wall-clock times around a change (minutes either side of it).
            let around = near.iter().filter_map(|(year, nth, minutes)| {
                let from = jiff::civil::date(*year, 1, 1).to_zoned(tz.clone()).ok()?;
                let change = tz.following(from.timestamp()).nth(*nth)?.timestamp();
                let local = tz.to_datetime(change);
                local.checked_add(jiff::Span::new().minutes(*minutes)).ok()
            });
            let all: Vec<DateTime> = anywhere.chain(around).collect();
            // Each day twice: once to work its offset out, once to use it.
            for at in all.iter().chain(all.iter()) {
                let at = *at;
                proptest::prop_assert_eq!(
                    local.to_timestamp(at).ok(),
                    tz.to_timestamp(at).ok(),
                    "{}", at
                );
            }
        }
    }
}
