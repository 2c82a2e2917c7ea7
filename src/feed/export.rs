//! Account exports: a system's user list as a CSV file, read into accounts.
//!
//! The CONTRACT columns are `Account, Employee Number, Display Name, Enabled (true/false),
//! Last Logon, Entitlements`; config may rename each per system so an AD `Export-Csv` file
//! or a clinical system's user report is read as it comes.

use super::{FeedError, Limits, Row, RowError, RowErrors, Table, parse_date};
use crate::account::Account;
use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use serde::Deserialize;
use std::path::Path;

/// Per-system column names, where an export does not use the CONTRACT ones.
#[derive(Debug, Clone, Default, Deserialize)]
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

/// What an export yielded.
#[derive(Debug, Default)]
pub struct Export {
    pub accounts: Vec<Account>,
    pub errors: RowErrors,
    pub rows: u64,
    /// False when the file has no last-logon column: dormancy cannot be judged.
    pub has_last_logon: bool,
}

pub fn read(
    system: &str,
    path: &Path,
    columns: &ExportColumns,
    tz: &TimeZone,
    limits: &Limits,
) -> Result<Export, FeedError> {
    let mut table = Table::open(path, limits)?;
    read_table(system, &mut table, columns, tz, limits)
}

pub fn read_table(
    system: &str,
    table: &mut Table,
    names: &ExportColumns,
    tz: &TimeZone,
    limits: &Limits,
) -> Result<Export, FeedError> {
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
    let mut out = Export {
        has_last_logon: last_logon.is_some(),
        errors: RowErrors::new(limits),
        ..Export::default()
    };
    // Account names seen (lower case), to spot a name given twice.
    let mut seen = turnstile_core::fast::FastSet::default();
    while let Some(row) = table.next_row()? {
        out.rows += 1;
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                out.errors.row(e);
                continue;
            }
        };
        let parsed = (|| -> Result<Account, RowError> {
            let r: &Row<'_> = &row;
            let id = r.required(Some(account), "Account")?.to_string();
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
                Some(t) => parse_logon(t, tz).map_err(|m| r.error(format!("`Last Logon`: {m}")))?,
            };
            if let Some(cell) = r.get(entitlements)
                && cell
                    .trim()
                    .starts_with("Microsoft.ActiveDirectory.Management.")
            {
                return Err(r.error(DOTNET_COLLECTION));
            }
            let ents: Vec<String> = std::iter::once(entitlements)
                .chain(more_entitlements.iter().copied().map(Some))
                .filter_map(|c| r.get(c))
                .flat_map(|cell| cell.split(separator.as_str()))
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(|e| {
                    if names.entitlements_are_dns {
                        crate::connectors::ldap::escape::first_value(e)
                    } else {
                        e.to_string()
                    }
                })
                .collect();
            let mut attributes = std::collections::BTreeMap::new();
            if let Some(card) = r.get(smartcard) {
                attributes.insert(crate::account::SDS_USER_ID.to_string(), card.to_string());
            }
            if let Some(end) = r.date(end_date, names.end_date.as_deref().unwrap_or("end date"))? {
                attributes.insert(END_DATE.to_string(), end.to_string());
            }
            Ok(Account {
                system: system.to_string(),
                id,
                employee_number: r.get(Some(employee)).map(str::to_string),
                display_name: r.get(display).unwrap_or_default().to_string(),
                enabled: is_enabled,
                last_logon: last,
                entitlements: ents.into(),
                container: r.get(container).map(str::to_string),
                attributes,
            })
        })();
        match parsed {
            Ok(a) => {
                if seen.insert(a.id.to_lowercase()) {
                    out.accounts.push(a);
                } else {
                    out.errors.row(row.error(format!(
                        "account `{}` appears twice in the export; only the first row is used",
                        a.id
                    )));
                }
            }
            Err(e) if e.message == DOTNET_COLLECTION => {
                // Every row of such a file is the same: one error naming the fix.
                return Err(FeedError::Unusable {
                    file: table.file().to_string(),
                    detail: format!("line {}: {DOTNET_COLLECTION}", e.line),
                });
            }
            Err(e) => out.errors.row(e),
        }
    }
    Ok(out)
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
    if let Ok(ts) = t.parse::<Timestamp>() {
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
    DateTime::from_parts(date, time)
        .to_zoned(tz.clone())
        .map(|z| Some(z.timestamp()))
        .map_err(|e| format!("\"{t}\": {e}"))
}

fn parse_time(text: &str) -> Option<Time> {
    let parts: Vec<&str> = text.split(':').collect();
    let num = |s: &str| -> Option<i8> { s.parse().ok() };
    match parts.as_slice() {
        [h, m] => Time::new(num(h)?, num(m)?, 0, 0).ok(),
        [h, m, s] => {
            let whole = s.split('.').next()?;
            Time::new(num(h)?, num(m)?, num(whole)?, 0).ok()
        }
        _ => None,
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
        assert!(parse_logon("last tuesday", &tz).is_err());
        assert!(parse_logon("15/07/2026 25:00", &tz).is_err());
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
    fn renamed_columns_and_dn_entitlements() {
        let text = "SamAccountName,employeeID,Name,Enabled,LastLogonDate,MemberOf\n\
jsmith,20000001,Jane Smith,True,01/11/2026 08:00,\"CN=GG-Nursing\\, Ward 7,OU=Groups,DC=x;CN=GG-AllStaff,OU=Groups,DC=x\"\n\
jsmith,20000001,Jane Smith,True,,\n\
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
        let x = read_table("ad", &mut t, &cols, &london(), &Limits::default()).unwrap();
        assert_eq!(x.accounts.len(), 1);
        let a = &x.accounts[0];
        assert_eq!(
            a.entitlements.iter().cloned().collect::<Vec<_>>(),
            vec!["GG-AllStaff".to_string(), "GG-Nursing, Ward 7".to_string()]
        );
        assert_eq!(x.errors.listed.len(), 2);
        assert!(
            x.errors.listed[0]
                .to_string()
                .starts_with("ad.csv:3: account `jsmith` appears twice")
        );
        assert!(
            x.errors.listed[1]
                .to_string()
                .starts_with("ad.csv:4: `Enabled` is \"maybe\"")
        );
    }
}
