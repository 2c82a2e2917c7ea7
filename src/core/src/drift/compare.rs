//! The report and its comparison with an earlier one: what is new, persisting and resolved.

use super::*;

/// The whole report as CONTRACT §4 shapes it.
#[derive(Debug, Serialize)]
pub struct Report {
    pub generated_at: Timestamp,
    pub today: Date,
    pub summary: BTreeMap<&'static str, usize>,
    pub findings: Vec<Finding>,
    pub inputs: Inputs,
    /// With `drift --compare`: what changed since the previous report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
}
/// Whether a finding was in the previous report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrendStatus {
    New,
    Persisting,
}
impl TrendStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TrendStatus::New => "new",
            TrendStatus::Persisting => "persisting",
        }
    }
}
/// A finding's history across compared reports: first seen on the `today` of the report
/// that first had it, and how many days ago that was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Trend {
    pub status: TrendStatus,
    pub first_seen: Date,
    pub age_days: i32,
}
/// The comparison with a previous report: counts, and the findings it had that are gone.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub previous_today: Date,
    pub previous_generated_at: Option<Timestamp>,
    pub new: usize,
    pub persisting: usize,
    pub resolved: Vec<Resolved>,
}
/// A finding of the previous report that this one no longer has.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Resolved {
    pub category: String,
    pub system: String,
    pub account: Option<String>,
    pub employee_number: Option<String>,
    pub detail: String,
    pub first_seen: Date,
    /// Days from first seen to this report.
    pub age_days: i32,
}
/// A previous report (its JSON), as far as a comparison reads it. Reports written before
/// trends existed have no `trend`: their findings count as first seen on their `today`.
#[derive(Debug, Clone, Deserialize)]
pub struct Previous {
    pub today: Date,
    #[serde(default)]
    pub generated_at: Option<Timestamp>,
    pub findings: Vec<PreviousFinding>,
    #[serde(default)]
    pub inputs: PreviousInputs,
}
#[derive(Debug, Clone, Deserialize)]
pub struct PreviousFinding {
    pub category: String,
    pub system: String,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub employee_number: Option<String>,
    #[serde(default)]
    pub detail: String,
    #[serde(default)]
    pub trend: Option<PreviousTrend>,
}
#[derive(Debug, Clone, Deserialize)]
pub struct PreviousTrend {
    pub first_seen: Date,
}
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PreviousInputs {
    #[serde(default)]
    pub accounts: BTreeMap<String, usize>,
}
pub(super) type FindingKey = (String, String, Option<String>, Option<String>);
/// Marks each finding new or persisting (with the day it was first seen) against a
/// previous report, and lists what that report had that this one does not. A finding is
/// the same one when category, system, account and person agree; where several share
/// those (one per entitlement), the same detail pairs first and the rest pair in order,
/// so a dormant account whose day count moved on still persists.
pub fn compare(report: &mut Report, previous: &Previous) {
    let today = report.today;
    let age = |since: Date| (today - since).get_days().max(0);
    let mut before: BTreeMap<FindingKey, Vec<(&str, Date)>> = BTreeMap::new();
    for f in &previous.findings {
        let first = f.trend.as_ref().map_or(previous.today, |t| t.first_seen);
        before
            .entry((
                f.category.clone(),
                f.system.clone(),
                f.account.clone(),
                f.employee_number.clone(),
            ))
            .or_default()
            .push((f.detail.as_str(), first));
    }
    let (mut new, mut persisting) = (0, 0);
    // First pass: exact details; second: whatever is left under the same key.
    let mut first_seen: Vec<Option<Date>> = vec![None; report.findings.len()];
    for exact in [true, false] {
        for (i, f) in report.findings.iter().enumerate() {
            if first_seen[i].is_some() {
                continue;
            }
            let key = (
                f.category.as_str().to_string(),
                f.system.clone(),
                f.account.clone(),
                f.employee_number.clone(),
            );
            let Some(list) = before.get_mut(&key) else {
                continue;
            };
            let at = if exact {
                list.iter().position(|(d, _)| *d == f.detail)
            } else if list.is_empty() {
                None
            } else {
                Some(0)
            };
            if let Some(at) = at {
                first_seen[i] = Some(list.remove(at).1);
            }
        }
    }
    for (f, seen) in report.findings.iter_mut().zip(first_seen) {
        f.trend = Some(match seen {
            Some(first) => {
                persisting += 1;
                Trend {
                    status: TrendStatus::Persisting,
                    first_seen: first,
                    age_days: age(first),
                }
            }
            None => {
                new += 1;
                Trend {
                    status: TrendStatus::New,
                    first_seen: today,
                    age_days: 0,
                }
            }
        });
    }
    let mut resolved: Vec<Resolved> = before
        .into_iter()
        .flat_map(|((category, system, account, employee_number), left)| {
            left.into_iter().map(move |(detail, first)| Resolved {
                category: category.clone(),
                system: system.clone(),
                account: account.clone(),
                employee_number: employee_number.clone(),
                detail: detail.to_string(),
                first_seen: first,
                age_days: age(first),
            })
        })
        .collect();
    resolved.sort();
    report.comparison = Some(Comparison {
        previous_today: previous.today,
        previous_generated_at: previous.generated_at,
        new,
        persisting,
        resolved,
    });
}
/// What the report was made from, and what could not be read.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Inputs {
    pub hr_rows: u64,
    pub people: usize,
    pub people_held_back: usize,
    pub accounts: BTreeMap<String, usize>,
    pub row_errors: Vec<crate::input::RowError>,
    /// Row errors counted but not listed (past `[feeds] max_listed_errors` per file).
    #[serde(skip_serializing_if = "is_zero")]
    pub row_errors_not_listed: u64,
    pub notes: Vec<String>,
    /// The files read, with their row counts and SHA-256, so a reader can tell which
    /// extract the report was made from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<InputFile>,
    /// Staff not on ESR judged with the rest (`--sponsored`), listed apart: who sponsors
    /// each and when their access ends.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sponsored: Vec<SponsoredIdentity>,
}
/// One file a report was made from.
#[derive(Debug, Clone, Serialize)]
pub struct InputFile {
    /// `hr`, `sponsored` or `export`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    pub path: String,
    pub rows: u64,
    pub sha256: String,
}
/// A sponsored identity as the report lists it: only what the reader needs.
#[derive(Debug, Clone, Serialize)]
pub struct SponsoredIdentity {
    pub employee_number: String,
    pub sponsor: Option<String>,
    pub ends: Option<Date>,
}
pub(super) fn is_zero(n: &u64) -> bool {
    *n == 0
}
impl Report {
    pub fn new(
        generated_at: Timestamp,
        today: Date,
        findings: Vec<Finding>,
        inputs: Inputs,
    ) -> Report {
        let mut summary: BTreeMap<&'static str, usize> =
            Category::ALL.iter().map(|c| (c.as_str(), 0)).collect();
        for f in &findings {
            *summary.entry(f.category.as_str()).or_default() += 1;
        }
        Report {
            generated_at,
            today,
            summary,
            findings,
            inputs,
            comparison: None,
        }
    }
}
