//! `turnstile work-items`: changes raised for systems without an API, and where they stand.

use super::*;

#[derive(Args, Debug)]
pub(super) struct WorkItemsArgs {
    /// Only this system.
    #[arg(long)]
    pub(super) system: Option<String>,
    /// Only items in this state.
    #[arg(long, value_name = "STATUS", value_parser = statuses())]
    pub(super) status: Option<String>,
    /// First send what is waiting: new items to the webhook and in digests, overdue items
    /// escalated (`reconcile` and `run` do this by themselves).
    #[arg(long)]
    pub(super) send: bool,
    /// With --send: judge due dates at this time (RFC 3339) instead of now, e.g. to
    /// rehearse escalations.
    #[arg(long, value_name = "TIME", requires = "send")]
    pub(super) at: Option<String>,
    /// Who runs it, for the audit trail (with --send).
    #[arg(long = "as", value_name = "NAME")]
    pub(super) by: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    pub(super) format: ItemFormat,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(super) enum ItemFormat {
    Text,
    Json,
    Csv,
}
/// The states a work item can be in, as `--help` lists them (from the core's list).
fn statuses() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(crate::work::Status::ALL.map(|s| s.as_str()))
}

pub(super) fn work_items_cmd(config: &Config, a: WorkItemsArgs) -> Result<u8, Failure> {
    use crate::store::WorkItemStatus;
    let status = match a.status.as_deref() {
        None => None,
        Some(text) => Some(
            WorkItemStatus::parse(text)
                .ok_or_else(|| Failure::Usage(format!("--status {text}: not a state")))?,
        ),
    };
    let mut store = open_existing_store(config)?;
    if a.send {
        let at = match a.at.as_deref() {
            None => crate::now(),
            Some(t) => t.parse::<Timestamp>().map_err(|e| {
                Failure::Usage(format!(
                    "--at {t}: not a time ({e}); use RFC 3339, e.g. 2026-12-07T09:00:00Z"
                ))
            })?,
        };
        let actor = actor(a.by.as_deref(), "turnstile work-items")?;
        let sender = crate::engine::work::Sender::new(config).map_err(Failure::Usage)?;
        let runtime = runtime(&mut tokio::runtime::Builder::new_current_thread())?;
        let sent = runtime.block_on(sender.deliver(store.as_mut(), at, &actor))?;
        eprintln!(
            "work items: {} sent to the service desk, {} emailed, {} became overdue, {} escalated",
            sent.posted, sent.emailed, sent.overdue, sent.escalated
        );
        for f in &sent.failed {
            eprintln!("error: work item not sent (tried again next run): {f}");
        }
        if !sent.failed.is_empty() {
            return Ok(1);
        }
    }
    let items = store.work_items(a.system.as_deref(), status)?;
    let mut out = std::io::stdout().lock();
    let io = write_failed;
    match a.format {
        ItemFormat::Json => {
            let time = |t: Option<Timestamp>| t.map(|t| t.to_string());
            for item in &items {
                let mut json = crate::engine::work::ticket(item);
                if let Some(o) = json.as_object_mut() {
                    o.insert("closed_at".into(), time(item.closed_at).into());
                    o.insert("attempts".into(), item.attempts.into());
                    o.insert("delivered_at".into(), time(item.delivered_at).into());
                    o.insert("emailed_at".into(), time(item.emailed_at).into());
                    o.insert("escalated_at".into(), time(item.escalated_at).into());
                    o.insert("last_error".into(), item.last_error.clone().into());
                }
                writeln!(out, "{json}").map_err(io)?;
            }
        }
        ItemFormat::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            let err = |e: csv::Error| Failure::Runtime(e.to_string());
            w.write_record([
                "reference",
                "system",
                "employee_number",
                "account",
                "action",
                "detail",
                "status",
                "raised_at",
                "due_at",
                "closed_at",
                "attempts",
            ])
            .map_err(err)?;
            for i in &items {
                w.write_record([
                    i.reference(),
                    report::safe_cell(&i.system),
                    report::safe_cell(&i.employee_number),
                    report::safe_cell(i.account.as_deref().unwrap_or("")),
                    report::safe_cell(&i.action),
                    report::safe_cell(&i.detail),
                    i.status.as_str().to_string(),
                    i.raised_at.to_string(),
                    i.due_at.to_string(),
                    i.closed_at.map(|t| t.to_string()).unwrap_or_default(),
                    i.attempts.to_string(),
                ])
                .map_err(err)?;
            }
            let bytes = w
                .into_inner()
                .map_err(|e| Failure::Runtime(e.to_string()))?;
            out.write_all(&bytes).map_err(io)?;
        }
        ItemFormat::Text => {
            if items.is_empty() {
                writeln!(out, "no work items").map_err(io)?;
            }
            for i in &items {
                writeln!(
                    out,
                    "{}  {}  {}  raised {}, due by the end of {}{}\n    {}",
                    i.reference(),
                    i.system,
                    i.status.as_str(),
                    local_time(i.raised_at),
                    crate::engine::work::due_day(i),
                    i.closed_at
                        .map(|t| format!(", closed {}", local_time(t)))
                        .unwrap_or_default(),
                    i.detail
                )
                .map_err(io)?;
            }
        }
    }
    Ok(0)
}
