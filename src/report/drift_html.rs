//! The drift report for people: headline cards by severity, a category × system matrix
//! that filters the table, what each category means and what to do about it (with the CQC
//! regulation and DSPT outcome it touches), every finding in one sortable, filterable
//! table, and what the report was read from. Times are Europe/London.

use super::page::{self, Card, Column, Kind, Table, escape};
use crate::clock::london;
use crate::drift::{Category, Report, Severity};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What a category means, what to do, and the expectation it touches (declared with the
/// category, in the core).
pub fn guidance(c: Category) -> (&'static str, &'static str, &'static str) {
    c.guidance()
}

fn london_time(t: jiff::Timestamp) -> String {
    t.to_zoned(london()).strftime("%Y-%m-%d %H:%M").to_string()
}

pub fn render(report: &Report) -> Result<String, String> {
    let mut body = String::new();
    let by_severity = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    let after_leaving = report
        .findings
        .iter()
        .filter(|f| f.category == Category::UsedAfterLeaving)
        .count();
    let inputs = &report.inputs;
    let unread = inputs.row_errors.len() as u64 + inputs.row_errors_not_listed;
    let _ = write!(
        body,
        "<h1>Access drift report</h1>\n<p class=\"meta\">For {today}; made {made} (Europe/London). {total} findings from {people} people and {accounts} accounts; {held} people held back (their HR rows could not be used, so their accounts were not judged); {unread} rows could not be read.</p>\n",
        today = report.today,
        made = london_time(report.generated_at),
        total = report.findings.len(),
        people = inputs.people,
        accounts = inputs.accounts.values().sum::<usize>(),
        held = inputs.people_held_back,
        unread = unread,
    );
    let mut headline = vec![
        Card {
            label: "High severity",
            value: by_severity(Severity::High).to_string(),
            tone: "high",
        },
        Card {
            label: "Medium severity",
            value: by_severity(Severity::Medium).to_string(),
            tone: "medium",
        },
        Card {
            label: "Low severity",
            value: by_severity(Severity::Low).to_string(),
            tone: "low",
        },
        Card {
            label: "Logons after leaving",
            value: after_leaving.to_string(),
            tone: if after_leaving > 0 { "high" } else { "good" },
        },
        Card {
            label: "People held back",
            value: inputs.people_held_back.to_string(),
            tone: if inputs.people_held_back > 0 {
                "medium"
            } else {
                "good"
            },
        },
        Card {
            label: "Rows not read",
            value: unread.to_string(),
            tone: if unread > 0 { "medium" } else { "good" },
        },
    ];
    if let Some(c) = &report.comparison {
        headline.push(Card {
            label: "New since last report",
            value: c.new.to_string(),
            tone: if c.new > 0 { "medium" } else { "good" },
        });
        headline.push(Card {
            label: "Persisting",
            value: c.persisting.to_string(),
            tone: "",
        });
        headline.push(Card {
            label: "Resolved",
            value: c.resolved.len().to_string(),
            tone: "good",
        });
    }
    body.push_str(&page::cards(&headline));
    if let Some(c) = &report.comparison {
        let _ = writeln!(
            body,
            "<p class=\"note\">Compared with the report for {} : {} new, {} persisting, {} resolved.</p>",
            c.previous_today,
            c.new,
            c.persisting,
            c.resolved.len()
        );
    }
    body.push_str(&matrix(report));
    body.push_str("<h2 id=\"findings\">Findings</h2>\n");
    body.push_str(&findings_table(report)?.html()?);
    if let Some(c) = &report.comparison
        && !c.resolved.is_empty()
    {
        body.push_str("<h2>Resolved since the last report</h2>\n");
        let table = Table {
            id: "resolved".into(),
            columns: vec![
                Column::new("Category", Kind::Text, true),
                Column::new("System", Kind::Text, true),
                Column::new("Account", Kind::Code, false),
                Column::new("Employee", Kind::Code, false),
                Column::new("First seen", Kind::Text, false),
                Column::new("Open for (days)", Kind::Number, false),
            ],
            rows: c
                .resolved
                .iter()
                .map(|r| {
                    vec![
                        r.category.clone(),
                        r.system.clone(),
                        r.account.clone().unwrap_or_default(),
                        r.employee_number.clone().unwrap_or_default(),
                        r.first_seen.to_string(),
                        r.age_days.to_string(),
                    ]
                })
                .collect(),
            page_size: 50,
        };
        body.push_str(&table.html()?);
    }
    body.push_str("<h2>What each category means</h2>\n");
    for c in Category::ALL {
        let (meaning, action, standard) = guidance(c);
        let n = report.summary.get(c.as_str()).copied().unwrap_or(0);
        let _ = writeln!(
            body,
            "<details id=\"about-{name}\"{open}><summary>{name} <span class=\"sev {sev}\">{sev}</span> ({n})</summary><p>{}</p><p><strong>What to do:</strong> {}</p><p><strong>Touches:</strong> {}</p></details>",
            escape(meaning),
            escape(action),
            escape(standard),
            name = c.as_str(),
            sev = c.severity().as_str(),
            open = if n > 0 && c.severity() == Severity::High {
                " open"
            } else {
                ""
            },
        );
    }
    body.push_str(&inputs_section(report));
    Ok(page::document(
        &format!("Turnstile drift report {}", report.today),
        &body,
    ))
}

/// Categories down, systems across: each count filters the findings table.
fn matrix(report: &Report) -> String {
    let mut systems: Vec<&str> = report.inputs.accounts.keys().map(String::as_str).collect();
    for f in &report.findings {
        if !systems.contains(&f.system.as_str()) {
            systems.push(&f.system);
        }
    }
    systems.sort_unstable();
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for f in &report.findings {
        *counts
            .entry((f.category.as_str(), f.system.as_str()))
            .or_default() += 1;
    }
    let mut s = String::from(
        "<h2>By category and system</h2>\n<div class=\"wrap\"><table class=\"matrix\"><thead><tr><th>Category</th><th>Severity</th>",
    );
    for sys in &systems {
        let _ = write!(s, "<th class=\"num\">{}</th>", escape(sys));
    }
    s.push_str("<th class=\"num\">All</th></tr></thead><tbody>\n");
    let cell = |n: usize, filters: String| {
        if n == 0 {
            "<td class=\"num\">0</td>".to_string()
        } else {
            format!(
                "<td class=\"num\"><button type=\"button\" data-dt=\"findings-table\" data-filters=\"{}\">{n}</button></td>",
                escape(&filters)
            )
        }
    };
    let json = |v: &str| serde_json::to_string(v).unwrap_or_default();
    for c in Category::ALL {
        let name = c.as_str();
        let _ = write!(
            s,
            "<tr><td><a href=\"#about-{name}\">{name}</a></td><td class=\"{sev}\">{sev}</td>",
            sev = c.severity().as_str()
        );
        let mut total = 0;
        for sys in &systems {
            let n = counts.get(&(name, *sys)).copied().unwrap_or(0);
            total += n;
            s.push_str(&cell(
                n,
                format!("{{\"1\":{},\"2\":{}}}", json(name), json(sys)),
            ));
        }
        s.push_str(&cell(total, format!("{{\"1\":{},\"2\":\"\"}}", json(name))));
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody></table></div>\n");
    s
}

fn findings_table(report: &Report) -> Result<Table, String> {
    let compared = report.comparison.is_some();
    let mut columns = vec![
        Column::new("Severity", Kind::Severity, true),
        Column::new("Category", Kind::Text, true),
        Column::new("System", Kind::Text, true),
        Column::new("Account", Kind::Code, false),
        Column::new("Employee", Kind::Code, false),
        Column::new("Last logon", Kind::Text, false),
        Column::new("Detail", Kind::Text, false),
    ];
    if compared {
        columns.push(Column::new("Trend", Kind::Text, true));
        columns.push(Column::new("Open for (days)", Kind::Number, false));
    }
    let rows = report
        .findings
        .iter()
        .map(|f| {
            let mut row = vec![
                f.severity.as_str().to_string(),
                f.category.as_str().to_string(),
                f.system.clone(),
                f.account.clone().unwrap_or_default(),
                f.employee_number.clone().unwrap_or_default(),
                f.last_logon.map(london_time).unwrap_or_default(),
                f.detail.clone(),
            ];
            if compared {
                let (status, age) = f.trend.map_or(("", 0), |t| (t.status.as_str(), t.age_days));
                row.push(status.to_string());
                row.push(age.to_string());
            }
            row
        })
        .collect();
    Ok(Table {
        id: "findings-table".into(),
        columns,
        rows,
        page_size: 100,
    })
}

fn inputs_section(report: &Report) -> String {
    let inputs = &report.inputs;
    let mut s = String::from("<h2>What this report was made from</h2>\n");
    let _ = writeln!(
        s,
        "<p>{} HR rows gave {} people ({} held back). Accounts per system: {}.</p>",
        inputs.hr_rows,
        inputs.people,
        inputs.people_held_back,
        inputs
            .accounts
            .iter()
            .map(|(k, v)| format!("{} {v}", escape(k)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if !inputs.files.is_empty() {
        s.push_str("<div class=\"wrap\"><table><thead><tr><th>Kind</th><th>System</th><th>File</th><th class=\"num\">Rows</th><th>SHA-256</th></tr></thead><tbody>\n");
        for f in &inputs.files {
            let _ = writeln!(
                s,
                "<tr><td>{}</td><td>{}</td><td class=\"code\">{}</td><td class=\"num\">{}</td><td class=\"code\">{}</td></tr>",
                f.kind,
                escape(f.system.as_deref().unwrap_or("")),
                escape(&f.path),
                f.rows,
                escape(&f.sha256)
            );
        }
        s.push_str("</tbody></table></div>\n");
    }
    if !inputs.notes.is_empty() {
        s.push_str("<ul>\n");
        for n in &inputs.notes {
            let _ = writeln!(s, "<li>{}</li>", escape(n));
        }
        s.push_str("</ul>\n");
    }
    if !inputs.sponsored.is_empty() {
        let _ = writeln!(
            s,
            "<h3>Sponsored identities ({})</h3>\n<div class=\"wrap\"><table><thead><tr><th>Employee</th><th>Sponsor</th><th>Access ends</th></tr></thead><tbody>",
            inputs.sponsored.len()
        );
        for p in &inputs.sponsored {
            let _ = writeln!(
                s,
                "<tr><td class=\"code\">{}</td><td class=\"code\">{}</td><td>{}</td></tr>",
                escape(&p.employee_number),
                escape(p.sponsor.as_deref().unwrap_or("")),
                p.ends.map(|d| d.to_string()).unwrap_or_default()
            );
        }
        s.push_str("</tbody></table></div>\n");
    }
    let unread = inputs.row_errors.len() as u64 + inputs.row_errors_not_listed;
    if unread > 0 {
        let _ = writeln!(s, "<h3>Rows that could not be read ({unread})</h3>\n<ul>");
        for e in &inputs.row_errors {
            let _ = writeln!(s, "<li>{}</li>", escape(&e.to_string()));
        }
        if inputs.row_errors_not_listed > 0 {
            let _ = writeln!(
                s,
                "<li>and {} more, counted but not listed</li>",
                inputs.row_errors_not_listed
            );
        }
        s.push_str("</ul>\n");
    }
    s
}
