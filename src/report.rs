//! Renders a drift report as JSON, CSV or HTML. Text in, text out: writing the file is
//! the caller's job.

use crate::drift::{Category, Report};
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Csv,
    Html,
}

impl Format {
    /// The format a file name's extension names (`.json`, `.csv`, `.html`/`.htm`).
    pub fn from_extension(path: &std::path::Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "html" | "htm" => Some(Format::Html),
            _ => None,
        }
    }
}

pub fn render(report: &Report, format: Format) -> Result<String, String> {
    match format {
        Format::Json => serde_json::to_string_pretty(report)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| e.to_string()),
        Format::Csv => csv(report),
        Format::Html => Ok(html(report)),
    }
}

/// Cells that a spreadsheet would run as a formula get a leading apostrophe (CSV injection).
pub fn safe_cell(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_string(),
    }
}

fn csv(report: &Report) -> Result<String, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| e.to_string();
    w.write_record([
        "category",
        "system",
        "account",
        "employee_number",
        "detail",
        "severity",
    ])
    .map_err(err)?;
    for f in &report.findings {
        w.write_record([
            f.category.as_str(),
            &safe_cell(&f.system),
            &safe_cell(f.account.as_deref().unwrap_or("")),
            &safe_cell(f.employee_number.as_deref().unwrap_or("")),
            &safe_cell(&f.detail),
            f.severity.as_str(),
        ])
        .map_err(err)?;
    }
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html(report: &Report) -> String {
    let mut s = String::new();
    let total: usize = report.summary.values().sum();
    let max = report.summary.values().copied().max().unwrap_or(0).max(1);
    let _ = write!(
        s,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Turnstile drift report {today}</title>\n<style>\nbody{{font-family:system-ui,sans-serif;margin:2rem;color:#212b32}}\ntable{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #d8dde0;padding:.3rem .5rem;text-align:left;vertical-align:top}}\n.bar{{background:#005eb8;height:1rem;display:inline-block}}.high{{color:#d5281b;font-weight:bold}}.medium{{color:#ae6400}}.low{{color:#4c6272}}\n</style></head><body>\n<h1>Access drift report</h1>\n<p>For {today}, generated {generated}. {total} findings from {people} people and {accounts} accounts.</p>\n<h2>Summary</h2>\n<table><tr><th>Category</th><th>Findings</th><th></th></tr>\n",
        today = report.today,
        generated = report.generated_at,
        people = report.inputs.people,
        accounts = report.inputs.accounts.values().sum::<usize>(),
    );
    for c in Category::ALL {
        let n = report.summary.get(c.as_str()).copied().unwrap_or(0);
        let width = n * 300 / max;
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{n}</td><td><span class=\"bar\" style=\"width:{width}px\"></span></td></tr>",
            c.as_str()
        );
    }
    s.push_str("</table>\n<h2>Findings</h2>\n<table><tr><th>Severity</th><th>Category</th><th>System</th><th>Account</th><th>Employee</th><th>Detail</th></tr>\n");
    for f in &report.findings {
        let _ = writeln!(
            s,
            "<tr><td class=\"{sev}\">{sev}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            f.category.as_str(),
            escape(&f.system),
            escape(f.account.as_deref().unwrap_or("")),
            escape(f.employee_number.as_deref().unwrap_or("")),
            escape(&f.detail),
            sev = f.severity.as_str(),
        );
    }
    s.push_str("</table>\n");
    if !report.inputs.row_errors.is_empty() {
        s.push_str("<h2>Rows that could not be read</h2>\n<ul>\n");
        for e in &report.inputs.row_errors {
            let _ = writeln!(s, "<li>{}</li>", escape(&e.to_string()));
        }
        s.push_str("</ul>\n");
    }
    s.push_str("</body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::{Finding, Inputs, Severity};

    fn report() -> Report {
        Report::new(
            jiff::Timestamp::UNIX_EPOCH,
            jiff::civil::date(2026, 11, 23),
            vec![Finding {
                category: Category::OrphanAccount,
                system: "ad".into(),
                account: Some("=HYPERLINK(\"x\")".into()),
                employee_number: None,
                detail: "<script>alert(1)</script>".into(),
                severity: Severity::High,
            }],
            Inputs::default(),
        )
    }

    #[test]
    fn csv_defuses_formulas_and_html_escapes() {
        let r = report();
        let c = render(&r, Format::Csv).unwrap();
        assert!(c.starts_with("category,system,account,employee_number,detail,severity\n"));
        assert!(c.contains("'=HYPERLINK"), "{c}");
        let h = render(&r, Format::Html).unwrap();
        assert!(!h.contains("<script>alert"), "{h}");
        assert!(h.contains("&lt;script&gt;"));
        let j: serde_json::Value =
            serde_json::from_str(&render(&r, Format::Json).unwrap()).unwrap();
        assert_eq!(j["summary"]["orphan_account"], 1);
        assert_eq!(j["summary"]["leaver_still_active"], 0);
        assert_eq!(j["findings"][0]["severity"], "high");
        for key in [
            "category",
            "system",
            "account",
            "employee_number",
            "detail",
            "severity",
        ] {
            assert!(j["findings"][0].get(key).is_some(), "{key}");
        }
    }
}
