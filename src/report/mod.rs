//! Renders a drift report as JSON, CSV or HTML. Text in, text out: writing the file is
//! the caller's job.

use crate::drift::Report;

mod drift_html;
pub mod page;

pub use page::escape;

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
        Format::Html => drift_html::render(report),
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
    let compared = report.comparison.is_some();
    let mut header = vec![
        "category",
        "system",
        "account",
        "employee_number",
        "detail",
        "severity",
    ];
    // The contract's columns; a comparison adds its own at the end.
    if compared {
        header.extend(["trend", "first_seen", "age_days"]);
    }
    w.write_record(&header).map_err(err)?;
    for f in &report.findings {
        let mut row = vec![
            f.category.as_str().to_string(),
            safe_cell(&f.system),
            safe_cell(f.account.as_deref().unwrap_or("")),
            safe_cell(f.employee_number.as_deref().unwrap_or("")),
            safe_cell(&f.detail),
            f.severity.as_str().to_string(),
        ];
        if compared && let Some(t) = &f.trend {
            row.push(t.status.as_str().to_string());
            row.push(t.first_seen.to_string());
            row.push(t.age_days.to_string());
        }
        w.write_record(&row).map_err(err)?;
    }
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::{Category, Finding, Inputs, Severity};

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
                last_logon: None,
                trend: None,
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
        // Table data is JSON inside the page with every `<` escaped; the page script puts
        // it in with textContent.
        assert!(h.contains("\\u003cscript\\u003ealert(1)"), "{h}");
        assert!(!h.contains("</script>alert"));
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
