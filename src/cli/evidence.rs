//! `turnstile evidence --since DATE`: the access figures a CQC inspection or a DSPT
//! return asks for, in one report (HTML for people, JSON for records).

use super::{Failure, load_model, open_existing_store, today};
use crate::config::Config;
use crate::evidence::{Evidence, evidence};
use crate::hr::{IsoDate, Person};
use crate::report::Format;
use crate::report::page::{self, Card, Column, Kind, Table, escape};
use crate::store::AuditFilter;
use clap::Args;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub(super) struct EvidenceArgs {
    /// The first Europe/London day of the period.
    #[arg(long, value_name = "YYYY-MM-DD")]
    since: String,
    /// The report's format (default: from the --out file's extension, else html).
    #[arg(long, value_enum)]
    format: Option<EvidenceFormat>,
    /// Where to write it (default: standard output).
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    #[command(flatten)]
    common: super::Common,
}

/// The formats evidence is written in: its figures are not one table, so no CSV.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(super) enum EvidenceFormat {
    Html,
    Json,
}

impl From<EvidenceFormat> for Format {
    fn from(f: EvidenceFormat) -> Format {
        match f {
            EvidenceFormat::Html => Format::Html,
            EvidenceFormat::Json => Format::Json,
        }
    }
}

/// The audit trail's verification, as the report shows it.
#[derive(Debug, serde::Serialize)]
struct Verified {
    intact: bool,
    entries: u64,
    head: Option<String>,
    problem: Option<String>,
}

#[derive(Debug, serde::Serialize)]
struct Report {
    #[serde(flatten)]
    evidence: Evidence,
    audit_trail: Verified,
}

pub(super) fn evidence_cmd(config: &Config, a: EvidenceArgs) -> Result<u8, Failure> {
    let since = IsoDate::parse(&a.since)
        .map(|d| d.0)
        .map_err(|m| Failure::Usage(format!("--since: {m}")))?;
    let until = today(a.common.today.as_deref())?;
    if since > until {
        return Err(Failure::Usage(format!(
            "--since {since} is after the last day of the period ({until})"
        )));
    }
    let format = super::out_format(
        a.format.map(EvidenceFormat::into),
        a.out.as_deref(),
        Format::Html,
        "html|json",
    )?;
    if format == Format::Csv {
        return Err(Failure::Usage(
            "evidence is written as html or json (its figures are not one table)".into(),
        ));
    }
    let model = load_model(config, a.common.policy.as_deref())?;
    let store = open_existing_store(config)?;
    // Entries from a year before the period: a leaver's removal is looked for from their
    // last day, an early disable may precede it.
    let from = crate::clock::add_days(since, -366).unwrap_or(since);
    let entries = store.audit(&AuditFilter {
        employee_number: None,
        since: crate::clock::start_of(from),
    })?;
    let people: Vec<Person> = store
        .persons()?
        .into_iter()
        .map(|p| p.event.person)
        .collect();
    let accounts = store.accounts(None)?;
    // The end of the last day of the period, or now if that is earlier.
    let now = crate::clock::add_days(until, 1)
        .and_then(crate::clock::start_of)
        .map_or_else(crate::now, |end| end.min(crate::now()));
    let evidence = evidence(
        &model,
        &entries,
        &people,
        &accounts,
        since,
        until,
        now,
        &super::london(),
    );
    let audit_trail = match store.verify_audit(None)? {
        Ok(v) => Verified {
            intact: true,
            entries: v.count,
            head: Some(v.head_text()),
            problem: None,
        },
        Err(b) => Verified {
            intact: false,
            entries: 0,
            head: None,
            problem: Some(b.to_string()),
        },
    };
    let report = Report {
        evidence,
        audit_trail,
    };
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&report)
            .map(|s| s + "\n")
            .map_err(|e| Failure::Runtime(e.to_string()))?,
        _ => html(&report).map_err(Failure::Runtime)?,
    };
    super::write_out(a.out.as_deref(), &text)?;
    Ok(if report.audit_trail.intact { 0 } else { 1 })
}

fn hours(h: Option<f64>) -> String {
    h.map_or_else(|| "–".to_string(), |h| format!("{h:.1} h"))
}

fn html(r: &Report) -> Result<String, String> {
    let e = &r.evidence;
    let l = &e.leavers;
    let j = &e.joiners;
    let mut b = format!(
        "<h1>Access evidence</h1>\n<p class=\"meta\">{} to {} (Europe/London); made {}. For a CQC inspection (Regulation 17: access removed promptly, permissions reviewed, audit logs kept) or a DSPT return (CAF B2, identity and access control).</p>\n",
        e.since,
        e.until,
        e.generated_at
            .to_zoned(super::london())
            .strftime("%Y-%m-%d %H:%M")
    );
    let on_time = if j.accounts == 0 {
        "–".to_string()
    } else {
        format!(
            "{:.0}%",
            100.0 * j.within_one_working_day as f64 / j.accounts as f64
        )
    };
    b.push_str(&page::cards(&[
        Card {
            label: "Leavers",
            value: l.people.to_string(),
            tone: "",
        },
        Card {
            label: "Access removed: median",
            value: hours(l.median_hours),
            tone: "",
        },
        Card {
            label: "Access removed: 95th percentile",
            value: hours(l.p95_hours),
            tone: if l.p95_hours.is_some_and(|h| h > 24.0) {
                "medium"
            } else {
                "good"
            },
        },
        Card {
            label: "Leavers' accounts still enabled",
            value: l.still_enabled.to_string(),
            tone: if l.still_enabled > 0 { "high" } else { "good" },
        },
        Card {
            label: "Joiners' accounts set up within 1 working day",
            value: on_time,
            tone: "",
        },
        Card {
            label: "Audit trail",
            value: if r.audit_trail.intact {
                "intact".into()
            } else {
                "ALTERED".into()
            },
            tone: if r.audit_trail.intact { "good" } else { "high" },
        },
    ]));
    let _ = writeln!(
        b,
        "<h2>Leavers: time from the end of the last working day to access removed</h2>\n<p>{} leavers; {} accounts removed ({} within 24 hours), {} still enabled. Median {}, 95th percentile {}.</p>",
        l.people,
        l.removed,
        l.within_24_hours,
        l.still_enabled,
        hours(l.median_hours),
        hours(l.p95_hours)
    );
    let by_system = Table {
        id: "leavers-by-system".into(),
        columns: vec![
            Column::new("System", Kind::Text, false),
            Column::new("Removed", Kind::Number, false),
            Column::new("Still enabled", Kind::Number, false),
            Column::new("Median (h)", Kind::Number, false),
            Column::new("95th percentile (h)", Kind::Number, false),
            Column::new("Slowest (h)", Kind::Number, false),
        ],
        rows: l
            .by_system
            .iter()
            .map(|s| {
                let f = |h: Option<f64>| h.map(|h| format!("{h:.1}")).unwrap_or_default();
                vec![
                    s.system.clone(),
                    s.removed.to_string(),
                    s.still_enabled.to_string(),
                    f(s.median_hours),
                    f(s.p95_hours),
                    f(s.max_hours),
                ]
            })
            .collect(),
        page_size: 50,
    };
    b.push_str(&by_system.html()?);
    b.push_str("<h3>The ten slowest</h3>\n");
    let worst = Table {
        id: "leavers-worst".into(),
        columns: vec![
            Column::new("Employee", Kind::Code, false),
            Column::new("System", Kind::Text, true),
            Column::new("Last working day", Kind::Text, false),
            Column::new("Hours", Kind::Number, false),
            Column::new("Removed", Kind::Text, true),
        ],
        rows: l
            .worst
            .iter()
            .map(|w| {
                vec![
                    w.employee_number.clone(),
                    w.system.clone(),
                    w.last_working_day.to_string(),
                    format!("{:.1}", w.hours),
                    if w.removed {
                        "yes"
                    } else {
                        "no, still enabled"
                    }
                    .into(),
                ]
            })
            .collect(),
        page_size: 10,
    };
    b.push_str(&worst.html()?);
    let _ = writeln!(
        b,
        "<h2>Joiners</h2>\n<p>{} joiners started; of the {} accounts their roles grant, {} were set up by the end of the first working day after the first day, {} later, {} not yet.</p>",
        j.people, j.accounts, j.within_one_working_day, j.late, j.not_yet
    );
    let joiners = Table {
        id: "joiners".into(),
        columns: vec![
            Column::new("System", Kind::Text, false),
            Column::new("Within 1 working day", Kind::Number, false),
            Column::new("Later", Kind::Number, false),
            Column::new("Not yet", Kind::Number, false),
        ],
        rows: j
            .by_system
            .iter()
            .map(|(s, n)| {
                vec![
                    s.clone(),
                    n[0].to_string(),
                    n[1].to_string(),
                    n[2].to_string(),
                ]
            })
            .collect(),
        page_size: 50,
    };
    b.push_str(&joiners.html()?);
    let d = &e.dormancy;
    let _ = writeln!(
        b,
        "<h2>Dormant accounts</h2>\n<p>{} line-manager notices sent; {} accounts disabled for inactivity after notice; {} enabled again with a named manager's approval.</p>",
        d.notices, d.disabled, d.re_enabled_with_approval
    );
    let _ = writeln!(
        b,
        "<h2>Generic accounts</h2>\n<p>{} approved exceptions; {} enabled generic-looking accounts without one (last read).</p>",
        e.generic.approved.len(),
        e.generic.unapproved_enabled
    );
    if !e.generic.approved.is_empty() {
        b.push_str("<div class=\"wrap\"><table><thead><tr><th>System</th><th>Account</th><th>Approved by</th><th>Why</th></tr></thead><tbody>\n");
        for g in &e.generic.approved {
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td class=\"code\">{}</td><td>{}</td><td>{}</td></tr>",
                escape(&g.system),
                escape(&g.account),
                escape(&g.approved_by),
                escape(&g.reason)
            );
        }
        b.push_str("</tbody></table></div>\n");
    }
    let _ = writeln!(
        b,
        "<h2>Access reviews attested</h2>\n<p>{} line managers' reviews recorded in the period.</p>",
        e.reviews.len()
    );
    let reviews = Table {
        id: "reviews".into(),
        columns: vec![
            Column::new("Line manager", Kind::Code, false),
            Column::new("Packs", Kind::Number, false),
            Column::new("Staff reviewed", Kind::Number, false),
            Column::new("Attested by", Kind::Text, false),
            Column::new("Last", Kind::Text, false),
        ],
        rows: e
            .reviews
            .iter()
            .map(|r| {
                vec![
                    r.manager.clone(),
                    r.packs.to_string(),
                    r.people.to_string(),
                    r.attested_by.join(", "),
                    r.last.to_string(),
                ]
            })
            .collect(),
        page_size: 50,
    };
    b.push_str(&reviews.html()?);
    let _ = writeln!(
        b,
        "<h2>Changes made outside Turnstile, found and corrected</h2>\n<p>Reconciliation's corrections with no HR event behind them: {} in the period.</p>",
        e.outside_changes.iter().map(|o| o.count).sum::<usize>()
    );
    let outside = Table {
        id: "outside".into(),
        columns: vec![
            Column::new("System", Kind::Text, true),
            Column::new("Correction", Kind::Text, true),
            Column::new("Count", Kind::Number, false),
        ],
        rows: e
            .outside_changes
            .iter()
            .map(|o| vec![o.system.clone(), o.action.clone(), o.count.to_string()])
            .collect(),
        page_size: 50,
    };
    b.push_str(&outside.html()?);
    let t = &r.audit_trail;
    let _ = writeln!(
        b,
        "<h2>Audit trail</h2>\n<p>{}</p>",
        if t.intact {
            format!(
                "Verified intact: {} entries chained, head <code>{}</code>. Compare the head with a copy kept off this host (`turnstile audit --verify --expect-head`).",
                t.entries,
                escape(t.head.as_deref().unwrap_or(""))
            )
        } else {
            format!(
                "ALTERED: {}",
                escape(t.problem.as_deref().unwrap_or("unknown"))
            )
        }
    );
    Ok(page::document(
        &format!("Turnstile access evidence {} to {}", e.since, e.until),
        &b,
    ))
}
