//! Renders a drift report as JSON, CSV or HTML. Text in, text out: writing the file is
//! the caller's job.

use crate::drift::{Finding, Report};

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
        Format::Json => {
            let workers = crate::workers();
            String::from_utf8(json_pieces(report, workers)?.concat()).map_err(|e| e.to_string())
        }
        Format::Csv => csv(report),
        Format::Html => drift_html::render(report),
    }
}

/// The report as pretty JSON (as `serde_json::to_string_pretty` writes it, and a
/// newline), in pieces to be written one after the other: the findings, nearly all of a
/// large report, rendered by `workers` threads at once. At national scale (92,000
/// findings, 28 MB) rendering them in turn was half a second with every other core idle.
pub fn json_pieces(report: &Report, workers: usize) -> Result<Vec<Vec<u8>>, String> {
    let shell = Report {
        generated_at: report.generated_at,
        today: report.today,
        summary: report.summary.clone(),
        findings: Vec::new(),
        inputs: report.inputs.clone(),
        comparison: report.comparison.clone(),
    };
    let mut text = serde_json::to_vec_pretty(&shell).map_err(|e| e.to_string())?;
    text.push(b'\n');
    if report.findings.is_empty() {
        return Ok(vec![text]);
    }
    // A top-level key is the only place this can be: a newline inside a string is
    // written escaped.
    const EMPTY: &[u8] = b"\n  \"findings\": []";
    let at = text
        .windows(EMPTY.len())
        .position(|w| w == EMPTY)
        .ok_or("the report's findings were not where JSON puts them")?
        + EMPTY.len()
        - 2;
    let tail = text.split_off(at + 2);
    text.truncate(at);
    text.extend_from_slice(b"[\n");
    let share = report
        .findings
        .len()
        .div_ceil(workers.clamp(1, 64) * 4)
        .max(1000);
    let parts: Vec<&[Finding]> = report.findings.chunks(share).collect();
    let rendered = crate::drift::in_turn(parts.len(), workers, |k| {
        parts
            .get(k)
            .map_or_else(|| Ok(Vec::new()), |part| findings_json(part, k == 0))
    });
    let mut pieces = vec![text];
    for r in rendered {
        pieces.push(r?);
    }
    let mut end = b"\n  ]".to_vec();
    end.extend_from_slice(&tail);
    pieces.push(end);
    Ok(pieces)
}

/// Findings as the elements of the report's `findings` array, two levels deep (each
/// rendered on its own and indented four spaces more), each after a comma but the
/// `first`.
fn findings_json(findings: &[Finding], first: bool) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(findings.len() * 320);
    let mut one = Vec::new();
    for (i, f) in findings.iter().enumerate() {
        if i > 0 || !first {
            out.extend_from_slice(b",\n");
        }
        one.clear();
        serde_json::to_writer_pretty(&mut one, f).map_err(|e| e.to_string())?;
        out.extend_from_slice(b"    ");
        for line in one.split_inclusive(|b| *b == b'\n') {
            out.extend_from_slice(line);
            if line.ends_with(b"\n") {
                out.extend_from_slice(b"    ");
            }
        }
    }
    Ok(out)
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

    /// The JSON given in pieces, the findings rendered apart on several threads, is the
    /// very text serde_json writes for the whole report: with no findings, with one
    /// share, and with many shares, trends, a comparison and text to escape.
    #[test]
    fn json_in_pieces_is_the_pretty_json_of_the_whole_report() {
        use crate::drift::{Comparison, Trend, TrendStatus};
        let whole = |r: &Report| serde_json::to_string_pretty(r).unwrap() + "\n";
        let joined = |r: &Report, workers: usize| {
            String::from_utf8(json_pieces(r, workers).unwrap().concat()).unwrap()
        };
        let mut r = report();
        r.findings.clear();
        assert_eq!(joined(&r, 4), whole(&r));
        let r = report();
        assert_eq!(joined(&r, 1), whole(&r));
        let mut r = report();
        r.findings = (0..2_500)
            .map(|i| Finding {
                category: Category::OrphanAccount,
                system: "ad".into(),
                account: Some(format!("user{i}\n\"quoted\"")),
                employee_number: (i % 3 == 0).then(|| format!("{}", 20_000_000 + i)),
                detail: format!("line one\nline {i}"),
                severity: Severity::High,
                last_logon: (i % 2 == 0).then_some(jiff::Timestamp::UNIX_EPOCH),
                trend: (i % 5 == 0).then_some(Trend {
                    status: TrendStatus::Persisting,
                    first_seen: jiff::civil::date(2026, 11, 1),
                    age_days: i,
                }),
            })
            .collect();
        r.inputs.notes.push("a note".into());
        r.comparison = Some(Comparison {
            previous_today: jiff::civil::date(2026, 11, 22),
            previous_generated_at: None,
            new: 1,
            persisting: 2,
            resolved: Vec::new(),
        });
        assert!(json_pieces(&r, 4).unwrap().len() > 3, "rendered in shares");
        assert_eq!(joined(&r, 4), whole(&r));
        assert_eq!(joined(&r, 1), whole(&r));
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
