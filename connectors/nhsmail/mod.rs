//! NHSmail, the national Microsoft 365 service, changed by trusts through the NHSmail
//! Portal's bulk CSV upload (no public provisioning API).
//!
//! - **Reading**: the Portal's mailbox report export (columns mapped in config), one row
//!   per account: the email address, `ExternalSyncID` (the local key: the ESR employee
//!   number), the status and the last logon. Active, Inactive, Locked and Pending accounts
//!   can be used; Active (Leaver), Disabled and Disabled_Leaver cannot; Deleted rows are
//!   gone. A report with no rows, a report with far fewer rows than the last one, or one
//!   with too many bad rows is refused: never read as "everyone left".
//! - **Writing**: each change is a line of a bulk-upload batch in the Portal's format, one
//!   file per operation (create, update, leaver), validated locally before it is released
//!   (headings in order, required fields, lengths, characters). Lines queue in
//!   `outbox/queue/`; a batch is released into `outbox/` only when no earlier batch is
//!   still there waiting to be uploaded (parallel uploads create duplicates), and posted to
//!   `upload_url` where the trust has one. Each line is also a work item, confirmed or
//!   reopened by the next report read.
//! - A leaver is marked as leaver (the national service deletes after 30 days unless
//!   another organisation joins them), never deleted.

use super::export_file::{never_deleted, uk_date, who};
use super::{Applied, BoxFuture, Connector, ConnectorError};
use crate::account::Account;
use crate::feed::{Limits, RowErrors, Table};
use crate::hr::Person;
use crate::plan::{Action, Change};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// `[targets.<system>] type = "nhsmail"`.
pub const REGISTRATION: super::Registration = super::Registration {
    kind: "nhsmail",
    build,
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct NhsmailConfig {
    /// The Portal's mailbox report export (CSV).
    report: PathBuf,
    /// Where batches are written: `queue/` for lines not yet released, the folder itself
    /// for the batch waiting to be uploaded, `uploaded/` for what was uploaded.
    outbox: PathBuf,
    /// The organisation's ODS code, written on each create line.
    org_code: String,
    /// Where released batches are POSTed, where the trust has an upload service.
    #[serde(default)]
    upload_url: Option<String>,
    #[serde(default)]
    upload_token: crate::config::Secret,
    #[serde(default)]
    upload_token_file: Option<PathBuf>,
    /// A report with fewer rows than this share of the last one read is refused as partial.
    #[serde(default = "nine_tenths")]
    min_report_share: f64,
    #[serde(default)]
    report_columns: ReportColumns,
    /// The domain of the national service's addresses: a joiner whose ESR work email is in
    /// it already has an account, which is joined to this organisation, not created.
    #[serde(default = "nhs_net")]
    national_domain: String,
    /// Accept an `http://` upload_url to a host other than this machine's loopback.
    #[serde(default)]
    allow_plain_http: bool,
}

fn nhs_net() -> String {
    "nhs.net".into()
}

/// The person's work email when it is an address of the national service.
fn national_address(person: &Person, domain: &str) -> Option<String> {
    let mail = person.work_email.as_deref()?.trim().to_ascii_lowercase();
    let (_, at) = mail.rsplit_once('@')?;
    (!domain.is_empty() && at == domain.to_ascii_lowercase()).then_some(mail)
}

fn nine_tenths() -> f64 {
    0.9
}

/// The mailbox report's headings (defaults as the Portal names them; check yours).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportColumns {
    pub email: String,
    pub external_sync_id: String,
    pub display_name: String,
    pub status: String,
    pub last_logon: String,
    /// Shared mailboxes the account has access to, `;`-separated, where the report has
    /// them (read as entitlements `Shared:<name>`).
    pub shared_mailboxes: String,
}

impl Default for ReportColumns {
    fn default() -> Self {
        ReportColumns {
            email: "Email Address".into(),
            external_sync_id: "ExternalSyncID".into(),
            display_name: "Display Name".into(),
            status: "Status".into(),
            last_logon: "Last Logon".into(),
            shared_mailboxes: "Shared Mailboxes".into(),
        }
    }
}

/// The entitlement every NHSmail account has: the mailbox itself.
pub const MAILBOX: &str = "Mailbox";

/// The bulk operations, one batch file each, with the headings in the Portal's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Create,
    Update,
    Leaver,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Leaver => "leaver",
        }
    }

    /// The headings, in order (an assumption to check against the Portal's current
    /// templates: see the README).
    pub fn headings(self) -> &'static [&'static str] {
        match self {
            Operation::Create => &[
                "ExternalSyncID",
                "Title",
                "FirstName",
                "LastName",
                "DisplayName",
                "JobTitle",
                "Department",
                "OrganisationCode",
                "StartDate",
            ],
            Operation::Update => &[
                "ExternalSyncID",
                "EmailAddress",
                "DisplayName",
                "JobTitle",
                "Department",
                "MarkAsLeaver",
            ],
            Operation::Leaver => &["ExternalSyncID", "EmailAddress", "LeavingDate"],
        }
    }

    fn required(self) -> &'static [&'static str] {
        match self {
            Operation::Create => &[
                "ExternalSyncID",
                "FirstName",
                "LastName",
                "DisplayName",
                "OrganisationCode",
            ],
            Operation::Update => &["ExternalSyncID", "EmailAddress"],
            Operation::Leaver => &["ExternalSyncID", "EmailAddress", "LeavingDate"],
        }
    }
}

/// One validated line of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub operation: Operation,
    pub fields: Vec<String>,
}

/// The longest value the Portal takes in a field (an assumption; 64 for names and titles).
const MAX_FIELD: usize = 64;

impl Line {
    /// A line with its fields by heading; every field checked.
    pub fn new(operation: Operation, values: &[(&str, String)]) -> Result<Line, String> {
        let mut fields = Vec::with_capacity(operation.headings().len());
        for heading in operation.headings() {
            let value = values
                .iter()
                .find(|(h, _)| h == heading)
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default();
            if value.is_empty() && operation.required().contains(heading) {
                return Err(format!(
                    "{heading} is required on a bulk {} line",
                    operation.name()
                ));
            }
            if value.chars().count() > MAX_FIELD {
                return Err(format!(
                    "{heading} \"{value}\" is longer than {MAX_FIELD} characters"
                ));
            }
            if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
                return Err(format!(
                    "{heading} \"{value}\" holds '{bad}', which the Portal's bulk upload refuses"
                ));
            }
            // A field a spreadsheet would read as a formula (the batch is opened in one
            // before upload): `=`, `+` and `;` are refused above; `-` and `@` may stand
            // inside a value (a double-barrelled name, an address), never at its start.
            if let Some(first @ ('-' | '@')) = value.chars().next() {
                return Err(format!(
                    "{heading} \"{value}\" starts with '{first}', which a spreadsheet reads as a formula: correct the HR record"
                ));
            }
            fields.push(value);
        }
        Ok(Line { operation, fields })
    }
}

/// Characters a bulk upload field may hold: letters (accented too), digits, space and
/// `' - . @ _ / ( ) &`. No commas, quotes, semicolons or control characters: a spreadsheet
/// or the Portal would split or refuse them.
fn allowed(c: char) -> bool {
    c.is_alphanumeric()
        || matches!(
            c,
            ' ' | '\'' | '-' | '.' | '@' | '_' | '/' | '(' | ')' | '&'
        )
}

/// A batch file's text: the headings, then the lines, CRLF as the Portal's templates.
pub fn batch_text(operation: Operation, lines: &[Line]) -> String {
    let mut out = operation.headings().join(",");
    out.push_str("\r\n");
    for l in lines.iter().filter(|l| l.operation == operation) {
        out.push_str(&l.fields.join(","));
        out.push_str("\r\n");
    }
    out
}

/// The bulk line for a change, or `None` when the change is not a bulk operation (a
/// shared mailbox, raised as a work item for the Portal administrator).
pub fn line_for(person: &Person, change: &Change, org_code: &str) -> Result<Option<Line>, String> {
    let hr = crate::desired::person_attributes(person);
    let get = |k: &str| hr.get(k).cloned().unwrap_or_default();
    // The post's title, else its job role (an extract without position titles).
    let title = hr.get("title").cloned().unwrap_or_else(|| {
        person
            .primary()
            .and_then(|a| a.job_role.as_deref())
            .unwrap_or_default()
            .to_string()
    });
    let email = change.account.clone().unwrap_or_default();
    let id = person.employee_number.to_string();
    let line = match &change.action {
        Action::Create => Line::new(
            Operation::Create,
            &[
                ("ExternalSyncID", id),
                (
                    "Title",
                    person.title.as_deref().unwrap_or_default().to_string(),
                ),
                (
                    "FirstName",
                    person
                        .preferred_name
                        .as_deref()
                        .filter(|n| !n.trim().is_empty())
                        .unwrap_or(person.given_name.as_str())
                        .to_string(),
                ),
                ("LastName", person.family_name.to_string()),
                ("DisplayName", person.display_name()),
                ("JobTitle", title.clone()),
                ("Department", get("department")),
                ("OrganisationCode", org_code.to_string()),
                (
                    "StartDate",
                    person.first_day().map(uk_date).unwrap_or_default(),
                ),
            ],
        )?,
        Action::Update { .. } => Line::new(
            Operation::Update,
            &[
                ("ExternalSyncID", id),
                ("EmailAddress", email),
                ("DisplayName", get("display_name")),
                ("JobTitle", title.clone()),
                ("Department", get("department")),
                ("MarkAsLeaver", "No".to_string()),
            ],
        )?,
        // Only a leaver is marked as leaver: the national service deletes 30 days later.
        Action::Disable if change.rule.starts_with("leaver") => Line::new(
            Operation::Leaver,
            &[
                ("ExternalSyncID", id),
                ("EmailAddress", email),
                (
                    "LeavingDate",
                    person.last_working_day().map(uk_date).unwrap_or_default(),
                ),
            ],
        )?,
        // Sign-in blocked while absent, a rejoin, a shared mailbox: done in the Portal.
        Action::Disable
        | Action::Enable
        | Action::Grant { .. }
        | Action::Revoke { .. }
        | Action::Move { .. } => return Ok(None),
        Action::Delete => return Err(never_deleted("NHSmail")),
    };
    Ok(Some(line))
}

/// What an administrator reads for the change.
fn instruction(person: &Person, change: &Change, line: Option<&Line>) -> String {
    let account = change.account.as_deref().unwrap_or("(a new mailbox)");
    match (&change.action, line) {
        (Action::Grant { entitlement }, _) => format!(
            "In the NHSmail Portal, give {account} of {} access to {}",
            who(person),
            entitlement.trim_start_matches("Shared:")
        ),
        (Action::Revoke { entitlement }, _) => format!(
            "In the NHSmail Portal, remove access to {} from {account} of {}",
            entitlement.trim_start_matches("Shared:"),
            who(person)
        ),
        (Action::Disable, Some(_)) => format!(
            "Mark {account} of {} as leaver (bulk leaver batch; the national service deletes it 30 days later unless another organisation joins them) — do not delete",
            who(person)
        ),
        (Action::Disable, None) => format!(
            "In the NHSmail Portal, block sign-in for {account} of {} while they are away — do not mark as leaver",
            who(person)
        ),
        (Action::Enable, None) => format!(
            "In the NHSmail Portal, let {account} of {} sign in again (if it is marked as leaver, rejoin it to this organisation before the 30 days are up)",
            who(person)
        ),
        (_, Some(l)) => format!(
            "NHSmail bulk {} line for {}, account {account} (batch in the outbox)",
            l.operation.name(),
            who(person)
        ),
        (a, None) => format!("NHSmail: {a} for {account} of {}", who(person)),
    }
}

pub struct Nhsmail {
    system: String,
    config: NhsmailConfig,
    limits: Limits,
    http: Option<reqwest::Client>,
    /// One batch written at a time, and one read at a time.
    lock: Mutex<()>,
}

fn build(
    settings: toml::Table,
    ctx: &super::BuildContext<'_>,
) -> Result<Box<dyn Connector>, String> {
    let mut c: NhsmailConfig = super::settings(ctx.system, settings)?;
    let section = format!("[targets.{}]", ctx.system);
    let mut problems = Vec::new();
    crate::config::resolve_secret(
        &mut c.upload_token,
        &c.upload_token_file,
        &format!("{section} upload_token"),
        &mut problems,
    );
    if ctx.allows_delete {
        problems.push(format!(
            "{section} is NHSmail, whose accounts are marked as leaver and deleted by the national service, never by a trust: remove delete_after_days from [systems.{}]",
            ctx.system
        ));
    }
    if c.org_code.trim().is_empty() || c.org_code.chars().any(|ch| !ch.is_ascii_alphanumeric()) {
        problems.push(format!(
            "{section} org_code \"{}\" is not an ODS code (e.g. \"RX1\")",
            c.org_code
        ));
    }
    if let Some(url) = &c.upload_url {
        problems.extend(crate::config::plain_http(
            &section,
            "upload_url",
            url,
            c.allow_plain_http,
        ));
    }
    if !(0.0..=1.0).contains(&c.min_report_share) {
        problems.push(format!(
            "{section} min_report_share is {}: use a share from 0 to 1",
            c.min_report_share
        ));
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let http = match &c.upload_url {
        Some(_) => Some(
            reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .map_err(|e| format!("{section}: the upload client cannot be built: {e}"))?,
        ),
        None => None,
    };
    Ok(Box::new(Nhsmail {
        system: ctx.system.to_string(),
        config: c,
        limits: ctx.limits.clone(),
        http,
        lock: Mutex::new(()),
    }))
}

/// The mailbox report's rows as accounts: every row read, or named in the error that
/// refuses the report whole (with how many rows there were).
#[doc(hidden)]
pub fn report_accounts(
    system: &str,
    c: &ReportColumns,
    limits: &Limits,
    table: &mut Table,
) -> Result<(Vec<Account>, u64), String> {
    let req = |t: &Table, n: &str| t.require(n, n).map_err(|e| e.to_string());
    let email = req(table, &c.email)?;
    let sync = req(table, &c.external_sync_id)?;
    let status = req(table, &c.status)?;
    let opt = |t: &Table, n: &str| t.column(n).map_err(|e| e.to_string());
    let display = opt(table, &c.display_name)?;
    let logon = opt(table, &c.last_logon)?;
    let shared = opt(table, &c.shared_mailboxes)?;
    let tz = crate::clock::london();
    let mut errors = RowErrors::new(limits);
    let mut rows = 0u64;
    let mut out: Vec<Account> = Vec::new();
    while let Some(row) = table.next_row().map_err(|e| e.to_string())? {
        rows += 1;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                errors.row(e);
                continue;
            }
        };
        let parsed = (|| {
            let address = row.required(Some(email), &c.email)?.to_string();
            let state = row.required(Some(status), &c.status)?;
            let enabled = match state.trim().to_ascii_lowercase().as_str() {
                "active" | "inactive" | "locked" | "pending" => Some(true),
                "active (leaver)" | "disabled" | "disabled_leaver" => Some(false),
                "deleted" => None,
                other => {
                    return Err(row.error(format!(
                        "`{}` is \"{other}\": not an NHSmail status (Active, Inactive, Active (Leaver), Locked, Disabled, Disabled_Leaver, Deleted, Pending)",
                        c.status
                    )));
                }
            };
            let last_logon = match row.get(logon) {
                None => None,
                Some(t) => crate::feed::export::parse_logon(t, &tz)
                    .map_err(|m| row.error(format!("`{}`: {m}", c.last_logon)))?,
            };
            let mut entitlements = vec![MAILBOX.to_string()];
            if let Some(cell) = row.get(shared) {
                entitlements.extend(
                    cell.split(';')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| format!("Shared:{s}")),
                );
            }
            let mut attributes = std::collections::BTreeMap::new();
            attributes.insert("nhsmail_status".to_string(), state.trim().to_string());
            // The address, for correlation's email rule.
            attributes.insert(
                crate::correlate::attr::OTHER_MAIL.to_string(),
                address.to_ascii_lowercase(),
            );
            if display.is_some() {
                attributes.insert(
                    "display_name".to_string(),
                    row.get(display).unwrap_or_default().to_string(),
                );
            }
            Ok(enabled.map(|enabled| Account {
                system: system.to_string(),
                id: address,
                employee_number: row.get(Some(sync)).map(str::to_string),
                display_name: row.get(display).unwrap_or_default().to_string(),
                enabled,
                last_logon,
                entitlements: entitlements.into(),
                container: None,
                attributes,
            }))
        })();
        match parsed {
            Ok(Some(a)) => out.push(a),
            Ok(None) => {}
            Err(e) => errors.row(e),
        }
    }
    super::export_file::whole(&errors, rows).map_err(|e| format!("{}: {e}", table.file()))?;
    Ok((out, rows))
}

impl Nhsmail {
    fn fatal(&self, detail: String) -> ConnectorError {
        ConnectorError::Fatal {
            system: self.system.clone(),
            detail,
        }
    }

    fn queue(&self) -> PathBuf {
        self.config.outbox.join("queue")
    }

    /// Reads the mailbox report; refuses an empty, partial or broken one.
    fn read_report(&self) -> Result<Vec<Account>, ConnectorError> {
        let path = &self.config.report;
        let shown = path.display().to_string();
        let mut table = Table::open(path, &self.limits).map_err(|e| self.fatal(e.to_string()))?;
        let (mut out, rows) = report_accounts(
            &self.system,
            &self.config.report_columns,
            &self.limits,
            &mut table,
        )
        .map_err(|e| self.fatal(e))?;
        if rows == 0 {
            return Err(self.fatal(format!(
                "{shown}: the mailbox report has no rows: refused (it would read as every mailbox gone); export it again from the Portal"
            )));
        }
        // A report cut short reads as people without mailboxes: creates for all of them.
        let last_file = self.config.outbox.join(".last-report-rows");
        let last: u64 = std::fs::read_to_string(&last_file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        if (rows as f64) < self.config.min_report_share * last as f64 {
            return Err(self.fatal(format!(
                "{shown}: the mailbox report has {rows} rows where the last one had {last}: refused as partial (min_report_share {}); export it again from the Portal, or delete {} if the organisation really shrank",
                self.config.min_report_share,
                last_file.display()
            )));
        }
        std::fs::create_dir_all(&self.config.outbox)
            .and_then(|()| std::fs::write(&last_file, rows.to_string()))
            .map_err(|e| self.fatal(format!("outbox {}: {e}", self.config.outbox.display())))?;
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// Adds a validated line to its operation's queue file.
    fn enqueue(&self, line: &Line) -> Result<(), String> {
        let queue = self.queue();
        std::fs::create_dir_all(&queue).map_err(|e| format!("outbox {}: {e}", queue.display()))?;
        let file = queue.join(format!("{}.csv", line.operation.name()));
        let mut text = if file.exists() {
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?
        } else {
            format!("{}\r\n", line.operation.headings().join(","))
        };
        let row = line.fields.join(",");
        // The same line twice in one batch would upload twice.
        if !text.lines().any(|l| l == row) {
            text.push_str(&row);
            text.push_str("\r\n");
        }
        // Names and addresses: private (0600), whole, never through a link.
        crate::config::files::write_private(&file, &[text.as_bytes()])
    }

    /// Releases queued lines as batches, one operation at a time, only when no released
    /// batch still waits in the outbox to be uploaded. Returns the files released.
    pub async fn release(&self) -> Result<Vec<PathBuf>, ConnectorError> {
        let released = {
            let _one = match self.lock.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let outbox = &self.config.outbox;
            if waiting(outbox).map_err(|e| self.fatal(e))?.is_some() {
                return Ok(Vec::new());
            }
            let mut released = Vec::new();
            for op in [Operation::Leaver, Operation::Create, Operation::Update] {
                let queued = self.queue().join(format!("{}.csv", op.name()));
                if !queued.exists() {
                    continue;
                }
                let stamp = crate::wall_clock().strftime("%Y%m%dT%H%M%SZ").to_string();
                let to = outbox.join(format!("nhsmail-{}-{stamp}.csv", op.name()));
                std::fs::rename(&queued, &to)
                    .map_err(|e| self.fatal(format!("{}: {e}", queued.display())))?;
                released.push(to);
                // One batch at a time: the next waits until this one is uploaded.
                break;
            }
            released
        };
        if let (Some(url), Some(http)) = (&self.config.upload_url, &self.http) {
            for file in &released {
                let body = std::fs::read(file).map_err(|e| self.fatal(e.to_string()))?;
                let mut r = http.post(url).header("Content-Type", "text/csv").body(body);
                if !self.config.upload_token.is_empty() {
                    r = r.bearer_auth(self.config.upload_token.expose());
                }
                match r.send().await {
                    Ok(a) if a.status().is_success() => {
                        let done = self.config.outbox.join("uploaded");
                        std::fs::create_dir_all(&done)
                            .and_then(|()| {
                                std::fs::rename(
                                    file,
                                    done.join(file.file_name().unwrap_or_default()),
                                )
                            })
                            .map_err(|e| self.fatal(e.to_string()))?;
                    }
                    // Left in the outbox: it is the batch waiting; tried again next time.
                    Ok(a) => {
                        tracing::warn!(file = %file.display(), status = %a.status(), "NHSmail batch not accepted by the upload service")
                    }
                    Err(e) => {
                        tracing::warn!(file = %file.display(), error = %e, "NHSmail upload service not reached")
                    }
                }
            }
        }
        Ok(released)
    }
}

/// The released batch still waiting to be uploaded, if any.
fn waiting(outbox: &Path) -> Result<Option<PathBuf>, String> {
    let Ok(entries) = std::fs::read_dir(outbox) else {
        return Ok(None);
    };
    for e in entries {
        let e = e.map_err(|e| format!("outbox {}: {e}", outbox.display()))?;
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with("nhsmail-") && name.ends_with(".csv") {
            return Ok(Some(e.path()));
        }
    }
    Ok(None)
}

impl Connector for Nhsmail {
    fn system(&self) -> &str {
        &self.system
    }

    fn capabilities(&self) -> super::Capabilities {
        super::Capabilities {
            delete: false,
            move_accounts: false,
            groups: true,
            // The display name, where the report has it (a name change is an update line).
            attributes: true,
            last_logon: true,
            batch: true,
            work_items: true,
        }
    }

    fn read_accounts(&self) -> BoxFuture<'_, Result<Vec<Account>, ConnectorError>> {
        Box::pin(async move {
            // What the last run queued goes out as a batch when the outbox is free.
            self.release().await?;
            self.read_report()
        })
    }

    fn apply<'a>(
        &'a self,
        person: &'a Person,
        change: &'a Change,
    ) -> BoxFuture<'a, Result<Applied, ConnectorError>> {
        Box::pin(async move {
            let permanent = |detail: String| ConnectorError::Permanent {
                system: self.system.clone(),
                change: change.action.to_string(),
                detail,
            };
            // The mailbox comes with the account and goes with the leaver mark; a new
            // mailbox can be used once created: nothing more to ask for.
            let implied = match &change.action {
                Action::Grant { entitlement } | Action::Revoke { entitlement } => {
                    entitlement == MAILBOX
                }
                Action::Enable => change.account.is_none(),
                _ => false,
            };
            if implied {
                return Ok(Applied::Done { account: None });
            }
            // NHSmail accounts are national and move with the person: a joiner whose work
            // email is already an NHSmail address (and who is not in this organisation's
            // report, or correlation would have found it) is joined, never given a
            // second mailbox. The next report that lists it, with their ExternalSyncID,
            // confirms the item.
            if change.action == Action::Create
                && let Some(address) = national_address(person, &self.config.national_domain)
            {
                return Ok(Applied::WorkItem {
                    text: format!(
                        "In the NHSmail Portal, join the existing national account {address} of {} to organisation {} (the Portal's join; within its 30 days as leaver elsewhere, or reactivate it) and set its ExternalSyncID to {} — do not create a new mailbox",
                        who(person),
                        self.config.org_code,
                        person.employee_number
                    ),
                });
            }
            let line = line_for(person, change, &self.config.org_code).map_err(permanent)?;
            if let Some(l) = &line {
                self.enqueue(l).map_err(|e| self.fatal(e))?;
            }
            Ok(Applied::WorkItem {
                text: instruction(person, change, line.as_ref()),
            })
        })
    }

    fn health(&self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async move {
            std::fs::metadata(&self.config.report)
                .map(|_| ())
                .map_err(|e| {
                    self.fatal(format!(
                        "mailbox report {} cannot be read: {e}",
                        self.config.report.display()
                    ))
                })?;
            std::fs::create_dir_all(self.queue()).map_err(|e| {
                self.fatal(format!(
                    "outbox {} cannot be written: {e}",
                    self.config.outbox.display()
                ))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hr::{AssignmentStatus, IsoDate};
    use crate::testkit::{assignment, d, person};

    fn change(account: Option<&str>, action: Action) -> Change {
        Change {
            system: "nhsmail".into(),
            employee_number: "20004567".into(),
            account: account.map(str::to_string),
            action,
            rule: "leaver".into(),
            reason: "test".into(),
        }
    }

    fn amara(role: &str, end: Option<&str>) -> Person {
        let mut p = person(
            "20004567",
            vec![assignment(
                "20004567-1",
                if end.is_some() {
                    AssignmentStatus::TerminateAssignment
                } else {
                    AssignmentStatus::ActiveAssignment
                },
                "Nursing and Midwifery Registered",
                role,
                "Ward 7 Medicine",
                "2026-12-01",
                end,
            )],
        );
        p.title = Some("Ms".into());
        p
    }

    /// The exact bulk CSV of a joiner, a mover and a leaver.
    #[test]
    fn bulk_batches_read_as_the_portal_templates() {
        let joiner = amara("Staff Nurse", None);
        let mover = amara("Sister/Charge Nurse", None);
        let mut leaver = amara("Sister/Charge Nurse", Some("2027-03-31"));
        leaver.assignments[0].start_date = IsoDate(d("2019-04-01"));
        let mail = Some("amara.okafor@nhs.net");
        let lines: Vec<Line> = [
            (&joiner, change(None, Action::Create)),
            (
                &mover,
                change(
                    mail,
                    Action::Update {
                        attribute: "title".into(),
                        value: "Sister/Charge Nurse".into(),
                    },
                ),
            ),
            (&leaver, change(mail, Action::Disable)),
        ]
        .iter()
        .map(|(p, c)| line_for(p, c, "RX1").unwrap().unwrap())
        .collect();
        assert_eq!(
            batch_text(Operation::Create, &lines),
            "ExternalSyncID,Title,FirstName,LastName,DisplayName,JobTitle,Department,OrganisationCode,StartDate\r\n\
             20004567,Ms,Amara,Okafor,Amara Okafor,Staff Nurse,Ward 7 Medicine,RX1,01/12/2026\r\n"
        );
        assert_eq!(
            batch_text(Operation::Update, &lines),
            "ExternalSyncID,EmailAddress,DisplayName,JobTitle,Department,MarkAsLeaver\r\n\
             20004567,amara.okafor@nhs.net,Amara Okafor,Sister/Charge Nurse,Ward 7 Medicine,No\r\n"
        );
        assert_eq!(
            batch_text(Operation::Leaver, &lines),
            "ExternalSyncID,EmailAddress,LeavingDate\r\n20004567,amara.okafor@nhs.net,31/03/2027\r\n"
        );
        // Never a delete.
        assert!(line_for(&leaver, &change(mail, Action::Delete), "RX1").is_err());
    }

    #[test]
    fn a_line_the_portal_would_refuse_is_refused_here_naming_the_field() {
        let mut p = amara("Staff Nurse", None);
        p.assignments[0].organisation = Some("Ward 7, Medicine".into());
        let e = line_for(&p, &change(None, Action::Create), "RX1").unwrap_err();
        assert!(
            e.contains("Department \"Ward 7, Medicine\" holds ','"),
            "{e}"
        );
        p.assignments[0].organisation = Some("W".repeat(65).into());
        let e = line_for(&p, &change(None, Action::Create), "RX1").unwrap_err();
        assert!(e.contains("longer than 64"), "{e}");
        let e = line_for(&p, &change(None, Action::Disable), "RX1").unwrap_err();
        assert!(e.contains("EmailAddress is required"), "{e}");
        // Formula starters at the front of a field, from an HR record anyone can edit.
        for bad in ["-2 Ward", "@SUM(A1)"] {
            p.assignments[0].organisation = Some(bad.into());
            let e = line_for(&p, &change(None, Action::Create), "RX1").unwrap_err();
            assert!(e.contains("starts with"), "{bad}: {e}");
        }
        p.assignments[0].organisation = Some("Ward 7 - Medicine".into());
        assert!(line_for(&p, &change(None, Action::Create), "RX1").is_ok());
    }

    /// A queued batch holds names and addresses: written private (0600), not with the
    /// umask's mode.
    #[test]
    fn queued_lines_are_written_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let c = Nhsmail {
            system: "nhsmail".into(),
            config: NhsmailConfig {
                report: dir.path().join("report.csv"),
                outbox: dir.path().join("outbox"),
                org_code: "RX1".into(),
                upload_url: None,
                upload_token: Default::default(),
                upload_token_file: None,
                min_report_share: 0.9,
                report_columns: ReportColumns::default(),
                national_domain: nhs_net(),
                allow_plain_http: false,
            },
            limits: Limits::default(),
            http: None,
            lock: Mutex::new(()),
        };
        let line = line_for(
            &amara("Staff Nurse", None),
            &change(None, Action::Create),
            "RX1",
        )
        .unwrap()
        .unwrap();
        c.enqueue(&line).unwrap();
        let file = c.queue().join("create.csv");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
}
