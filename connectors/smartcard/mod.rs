//! Smartcard positions in the Care Identity Service (national RBAC). No public API writes
//! positions: Registration Authority agents do it in Care Identity Management (ESR's own
//! interface raises requests they accept). Turnstile reads the positions report for the
//! trust's organisation and raises each change as a work item for the RA team.
//!
//! An account here is a smartcard (its 12-digit UUID, the SDS user id); its entitlements
//! are the job roles (R-codes) and activities (B-codes) of its current positions **at this
//! organisation** (`org_code`); it is enabled while it holds one. Positions at other
//! organisations are never read as ours, so never ended: a person who moves to another
//! NHS organisation keeps their card and their positions there. A leaver's work item ends
//! this organisation's positions only; the card stays with the person.
//!
//! Two export shapes are read. With `org_code` set, one row per position (columns under
//! `[targets.<system>.positions]`); without, the generic one row per card of CONTRACT §3
//! (the example trust's `smartcard.csv`).

use super::export_file::{Manual, ManualConfig, Wording, uk_date, who};
use super::{BoxFuture, Connector, ConnectorError};
use crate::account::Account;
use crate::feed::export::ExportColumns;
use crate::feed::{Limits, RowErrors, Table};
use crate::hr::Person;
use crate::plan::{Action, Change};
use jiff::civil::Date;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// `[targets.<system>] type = "smartcard"`.
pub const REGISTRATION: super::Registration = super::Registration {
    kind: "smartcard",
    build,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SmartcardConfig {
    path: PathBuf,
    /// The trust's ODS code (e.g. `RX1`): only positions at it are Turnstile's to change.
    /// Set, the export is read one row per position.
    #[serde(default)]
    org_code: Option<String>,
    /// Column names of the positions report.
    #[serde(default)]
    positions: PositionColumns,
    /// Column renames of the one-row-per-card shape (without `org_code`).
    #[serde(default)]
    columns: Option<ExportColumns>,
}

/// The columns of a positions report, by the names a CIS report gives them (defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PositionColumns {
    pub uuid: String,
    /// The ESR employee number, where the report carries one; otherwise a card is linked
    /// to the person whose HR record has that smartcard UUID.
    pub employee_number: String,
    pub name: String,
    pub organisation: String,
    pub position: String,
    pub job_role: String,
    pub activities: String,
    pub activity_separator: String,
    pub start: String,
    pub expiry: String,
    pub last_logon: String,
}

impl Default for PositionColumns {
    fn default() -> Self {
        PositionColumns {
            uuid: "UUID".into(),
            employee_number: "Employee Number".into(),
            name: "Name".into(),
            organisation: "Organisation Code".into(),
            position: "Position ID".into(),
            job_role: "Job Role Code".into(),
            activities: "Activity Codes".into(),
            activity_separator: ";".into(),
            start: "Start Date".into(),
            expiry: "End Date".into(),
            last_logon: "Last Logon".into(),
        }
    }
}

fn build(
    settings: toml::Table,
    ctx: &super::BuildContext<'_>,
) -> Result<Box<dyn Connector>, String> {
    let c: SmartcardConfig = super::settings(ctx.system, settings)?;
    super::export_file::refuse_delete(ctx, "smartcard positions (Care Identity Service)")?;
    if let Some(org) = &c.org_code
        && (org.trim().is_empty() || org.len() > 10)
    {
        return Err(format!(
            "[targets.{}] org_code \"{org}\" is not an ODS code (e.g. \"RX1\")",
            ctx.system
        ));
    }
    let org_code = c.org_code.clone();
    let manual = Manual::new(
        ctx,
        ManualConfig {
            path: c.path,
            columns: c.columns,
        },
        Box::new(super::export_file::Generic),
    );
    Ok(Box::new(Smartcard {
        manual,
        wording: Positions {
            org_code: org_code.clone(),
            held: Mutex::new(BTreeMap::new()),
        },
        org_code,
        columns: c.positions,
    }))
}

/// The positions a card holds at this organisation, by code, from the last read: what a
/// work item names when it asks for a position to be ended.
type Held = BTreeMap<(String, String), Vec<String>>;

pub struct Smartcard {
    /// The export's path, limits and one-row-per-card reader.
    manual: Manual,
    wording: Positions,
    org_code: Option<String>,
    columns: PositionColumns,
}

/// The RA team's wording.
pub struct Positions {
    pub org_code: Option<String>,
    /// (card, code) → position ids, from the last read.
    pub held: Mutex<Held>,
}

impl Positions {
    fn at(&self) -> String {
        self.org_code
            .as_deref()
            .map_or_else(|| "this organisation".to_string(), |o| o.to_string())
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        match self.held.lock() {
            Ok(h) => h,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The ids of the card's positions with this job role at this organisation.
    fn with_role(&self, card: &str, role: &str) -> Vec<String> {
        let mut ids = self
            .held()
            .get(&(card.to_string(), role.to_string()))
            .cloned()
            .unwrap_or_default();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Every position of the card at this organisation, as "P-0431 (R8001)".
    fn every_position(&self, card: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .held()
            .iter()
            .filter(|((c, code), _)| c == card && code.starts_with('R'))
            .flat_map(|((_, code), ids)| ids.iter().map(move |id| format!("{id} ({code})")))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Replaces what the last read found.
    pub fn remember(&self, held: Held) {
        *self.held() = held;
    }
}

impl Wording for Positions {
    fn product(&self) -> &str {
        "Care Identity Service"
    }

    fn instruction(&self, person: &Person, change: &Change) -> Result<String, String> {
        let at = self.at();
        let card = change
            .account
            .clone()
            .or_else(|| person.sds_user_id.as_ref().map(|c| c.to_string()));
        let for_card = card.as_deref().map_or_else(
            || format!("for {}", who(person)),
            |c| format!("for smartcard {c} of {}", who(person)),
        );
        let is_role = |code: &str| code.starts_with('R');
        Ok(match &change.action {
            Action::Create => format!(
                "Register {} for a smartcard in Care Identity Service (identity check by an RA agent; the card's UUID links it here)",
                who(person)
            ),
            Action::Enable => format!(
                "Assign a position at {at} {for_card}{}",
                person
                    .first_day()
                    .map(|d| format!(" from {}", uk_date(d)))
                    .unwrap_or_default()
            ),
            Action::Grant { entitlement } if is_role(entitlement) => {
                let position = person
                    .primary()
                    .and_then(|a| a.position_number.clone())
                    .map(|p| format!("position {p} "))
                    .unwrap_or_default();
                format!("Assign {position}with job role {entitlement} at {at} {for_card}")
            }
            Action::Grant { entitlement } => {
                format!("Add activity {entitlement} to the position at {at} {for_card}")
            }
            Action::Revoke { entitlement } if is_role(entitlement) => {
                let ids = card
                    .as_deref()
                    .map(|c| self.with_role(c, entitlement))
                    .unwrap_or_default();
                let which = match ids.as_slice() {
                    [] => format!("the position with job role {entitlement}"),
                    [one] => format!("position {one} ({entitlement})"),
                    many => format!("positions {} ({entitlement})", many.join(", ")),
                };
                format!("End {which} at {at} {for_card} — the card stays with the person")
            }
            Action::Revoke { entitlement } => {
                format!("Remove activity {entitlement} from the position at {at} {for_card}")
            }
            Action::Disable => {
                let ids = card
                    .as_deref()
                    .map(|c| self.every_position(c))
                    .unwrap_or_default();
                let which = match ids.as_slice() {
                    [] => "every position".to_string(),
                    [one] => format!("position {one}"),
                    many => format!("positions {}", many.join(", ")),
                };
                let when = match (change.rule.as_str(), person.last_working_day()) {
                    ("leaver" | "leaves-care", Some(d)) => format!(" on {}", uk_date(d)),
                    _ => String::new(),
                };
                if change.rule == "leaves-care" {
                    let why = person
                        .assignments
                        .iter()
                        .filter(|a| a.end_date.is_some())
                        .max_by_key(|a| a.end_date)
                        .and_then(|a| a.leaving_reason.clone())
                        .map(|r| r.to_string())
                        .unwrap_or_default();
                    format!(
                        "End {which} at {at}{when} {for_card}, then close their Care Identity Service profile and cancel the card: they leave health and care (leaving reason: {why})"
                    )
                } else {
                    format!(
                        "End {which} at {at}{when} {for_card} — the card stays with the person; positions at other organisations are not ours to end"
                    )
                }
            }
            Action::Update { attribute, value } => {
                format!("Change {attribute} to \"{value}\" {for_card}")
            }
            Action::Move { container } => format!("Move {for_card} to {container}"),
            Action::Delete => {
                return Err(
                    "a smartcard is never cancelled by Turnstile: staff moving between NHS organisations keep their card; only this organisation's positions are ended"
                        .to_string(),
                );
            }
        })
    }
}

/// One position row.
struct Position {
    uuid: String,
    employee_number: Option<String>,
    name: String,
    organisation: String,
    id: String,
    codes: Vec<String>,
    start: Option<Date>,
    expiry: Option<Date>,
    last_logon: Option<jiff::Timestamp>,
}

impl Smartcard {
    /// Reads the positions report into one account per card, keeping this organisation's
    /// current positions; remembers their ids for the wording.
    fn read_positions(
        &self,
        org: &str,
        today: Date,
    ) -> Result<(Vec<Account>, Held), ConnectorError> {
        let fatal = |detail: String| ConnectorError::Fatal {
            system: self.manual.system.clone(),
            detail,
        };
        let limits: &Limits = &self.manual.limits;
        let mut table = Table::open(&self.manual.path, limits).map_err(|e| fatal(e.to_string()))?;
        let c = &self.columns;
        let req = |t: &Table, n: &str| t.require(n, n).map_err(|e| fatal(e.to_string()));
        let opt = |t: &Table, n: &str| t.column(n).map_err(|e| fatal(e.to_string()));
        let uuid = req(&table, &c.uuid)?;
        let organisation = req(&table, &c.organisation)?;
        let position = req(&table, &c.position)?;
        let job_role = req(&table, &c.job_role)?;
        let activities = opt(&table, &c.activities)?;
        let employee = opt(&table, &c.employee_number)?;
        let name = opt(&table, &c.name)?;
        let start = opt(&table, &c.start)?;
        let expiry = opt(&table, &c.expiry)?;
        let last_logon = opt(&table, &c.last_logon)?;
        let tz = crate::clock::london();
        let mut errors = RowErrors::new(limits);
        let mut rows = 0u64;
        let mut cards: BTreeMap<String, Account> = BTreeMap::new();
        let mut held = Held::new();
        while let Some(row) = table.next_row().map_err(|e| fatal(e.to_string()))? {
            rows += 1;
            let row = match row {
                Ok(r) => r,
                Err(e) => {
                    errors.row(e);
                    continue;
                }
            };
            let parsed = (|| {
                let card = row.required(Some(uuid), &c.uuid)?.to_string();
                if card.len() != 12 || !card.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(row.error(format!(
                        "`{}` is \"{card}\": a smartcard UUID is 12 digits",
                        c.uuid
                    )));
                }
                let mut codes = vec![row.required(Some(job_role), &c.job_role)?.to_string()];
                if let Some(cell) = row.get(activities) {
                    codes.extend(
                        cell.split(c.activity_separator.as_str())
                            .map(str::trim)
                            .filter(|a| !a.is_empty())
                            .map(str::to_string),
                    );
                }
                let logon = match row.get(last_logon) {
                    None => None,
                    Some(t) => crate::feed::export::parse_logon(t, &tz)
                        .map_err(|m| row.error(format!("`{}`: {m}", c.last_logon)))?,
                };
                Ok(Position {
                    uuid: card,
                    employee_number: row.get(employee).map(str::to_string),
                    name: row.get(name).unwrap_or_default().to_string(),
                    organisation: row
                        .required(Some(organisation), &c.organisation)?
                        .to_string(),
                    id: row.required(Some(position), &c.position)?.to_string(),
                    codes,
                    start: row.date(start, &c.start)?,
                    expiry: row.date(expiry, &c.expiry)?,
                    last_logon: logon,
                })
            })();
            let p = match parsed {
                Ok(p) => p,
                Err(e) => {
                    errors.row(e);
                    continue;
                }
            };
            let account = cards.entry(p.uuid.clone()).or_insert_with(|| Account {
                system: self.manual.system.clone(),
                id: p.uuid.clone(),
                employee_number: None,
                display_name: p.name.clone(),
                enabled: false,
                last_logon: None,
                entitlements: Default::default(),
                container: None,
                attributes: Default::default(),
            });
            if account.employee_number.is_none() {
                account.employee_number = p.employee_number.clone();
            }
            // The card links to the person whose HR record has its UUID.
            account
                .attributes
                .insert(crate::account::SDS_USER_ID.to_string(), p.uuid.clone());
            account.last_logon = account.last_logon.max(p.last_logon);
            // Only this organisation's current positions are ours; a position ended (by
            // ESR's own interface, or an RA agent) no longer counts.
            let current = p.organisation.eq_ignore_ascii_case(org)
                && p.start.is_none_or(|s| s <= today)
                && p.expiry.is_none_or(|e| e >= today);
            if current {
                account.enabled = true;
                for code in &p.codes {
                    account.entitlements.insert(code.clone());
                    held.entry((p.uuid.clone(), code.clone()))
                        .or_default()
                        .push(p.id.clone());
                }
            }
        }
        super::export_file::whole(&errors, rows).map_err(fatal)?;
        Ok((cards.into_values().collect(), held))
    }
}

impl Connector for Smartcard {
    fn system(&self) -> &str {
        &self.manual.system
    }

    fn capabilities(&self) -> super::Capabilities {
        super::export_file::CAPABILITIES
    }

    fn read_accounts(&self) -> BoxFuture<'_, Result<Vec<Account>, ConnectorError>> {
        Box::pin(async move {
            match &self.org_code {
                None => self.manual.read_export(),
                Some(org) => {
                    let today = crate::clock::today(crate::now());
                    let (accounts, held) = self.read_positions(org, today)?;
                    self.wording.remember(held);
                    Ok(accounts)
                }
            }
        })
    }

    fn apply<'a>(
        &'a self,
        person: &'a Person,
        change: &'a Change,
    ) -> BoxFuture<'a, Result<super::Applied, ConnectorError>> {
        Box::pin(async move {
            super::export_file::raise(&self.manual.system, &self.wording, person, change)
        })
    }

    fn health(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async move { self.manual.check_export() })
    }
}
