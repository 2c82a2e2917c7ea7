//! The bounds every reader keeps whatever the input (bytes, rows, fields, line length), and the text encodings it accepts.

use super::*;

/// Bounds on what one file may make Turnstile hold: `[feeds]` in the config.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The longest line (one record), in bytes.
    #[schemars(range(min = 1024, max = 67108864))]
    pub max_line_bytes: usize,
    /// The longest field, in bytes.
    #[schemars(range(min = 64, max = 67108864))]
    pub max_field_bytes: usize,
    /// The most rows (assignments) one person may have in an ESR extract; a person with
    /// more is held back.
    #[schemars(range(min = 1, max = crate::hr::MAX_ASSIGNMENTS))]
    pub max_rows_per_person: usize,
    /// A file with a larger share of bad rows is refused whole (exit 2).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_bad_row_share: f64,
    /// `feed esr --full` refuses to flag more than this share of the people held for
    /// review without `--allow-review-share`: a cut or wrong extract would flag everyone.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_review_share: f64,
    /// `drift --compare` refuses an export holding fewer accounts than the previous
    /// report's by more than this share, without `--allow-shrink`: a cut-short export
    /// reads as hundreds of missing accounts.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub max_export_shrink_share: f64,
    /// How many row errors are kept with their text; the rest are counted.
    #[schemars(range(min = 1, max = 1000000))]
    pub max_listed_errors: usize,
    /// Column names of the trust's ESR report where they differ from CONTRACT §2:
    /// `[feeds.esr] "Employee Number" = "Staff Number"`.
    pub esr: BTreeMap<String, String>,
    /// The same for the TRAC starters file.
    pub trac: BTreeMap<String, String>,
    /// The files' text encoding: `auto` (UTF-8, with or without a BOM; a line that is not
    /// UTF-8 is read as Windows-1252, as Excel and PowerShell 5.1 save it), `utf-8` (a line
    /// that is not is an error) or `windows-1252`.
    pub encoding: Encoding,
    /// The longest a sponsored identity (staff not on ESR) may last, start to end, in days.
    #[schemars(range(min = 1, max = 3650))]
    pub sponsored_max_days: u32,
    /// Days after a TRAC starter's start date with no ESR record before they are taken
    /// as not starting: their prepared access goes and the hiring manager is told.
    #[schemars(range(min = 1, max = 365))]
    pub trac_unconfirmed_days: u32,
}
/// How the bytes of a feed are read as text.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
    clap::ValueEnum,
)]
pub enum Encoding {
    /// UTF-8, else Windows-1252 line by line.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "utf-8")]
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    #[serde(rename = "windows-1252")]
    #[value(name = "windows-1252", alias = "cp1252", alias = "latin1")]
    Windows1252,
}
impl std::str::FromStr for Encoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Encoding, String> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "auto" => Ok(Encoding::Auto),
            "utf-8" | "utf8" => Ok(Encoding::Utf8),
            "windows-1252" | "cp1252" | "latin1" => Ok(Encoding::Windows1252),
            other => Err(format!(
                "`{other}` is not an encoding Turnstile reads: use auto, utf-8 or windows-1252"
            )),
        }
    }
}
/// Windows-1252 as Unicode: 0x80–0x9F from the code page's table (its five unassigned
/// bytes as U+FFFD), everything else as Latin-1.
pub fn windows_1252(bytes: &[u8]) -> String {
    const HIGH: [char; 32] = [
        '€', '\u{fffd}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{fffd}', 'Ž',
        '\u{fffd}', '\u{fffd}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ',
        '\u{fffd}', 'ž', 'Ÿ',
    ];
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9f => HIGH[usize::from(b - 0x80)],
            _ => char::from(b),
        })
        .collect()
}
impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_bytes: 1 << 20,
            max_field_bytes: 64 << 10,
            max_rows_per_person: 100,
            max_bad_row_share: 0.05,
            max_review_share: 0.05,
            max_export_shrink_share: 0.2,
            max_listed_errors: 1000,
            esr: BTreeMap::new(),
            trac: BTreeMap::new(),
            encoding: Encoding::Auto,
            sponsored_max_days: 365,
            trac_unconfirmed_days: 14,
        }
    }
}
impl Limits {
    /// Every setting out of its sane range, named.
    pub fn check(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !(1..=365).contains(&self.trac_unconfirmed_days) {
            out.push(format!(
                "[feeds] trac_unconfirmed_days is {}: use 1 to 365",
                self.trac_unconfirmed_days
            ));
        }
        if !(1..=3650).contains(&self.sponsored_max_days) {
            out.push(format!(
                "[feeds] sponsored_max_days is {}: use 1 to 3650",
                self.sponsored_max_days
            ));
        }
        if !(1024..=(64 << 20)).contains(&self.max_line_bytes) {
            out.push(format!(
                "[feeds] max_line_bytes is {}: use 1024 to 67108864",
                self.max_line_bytes
            ));
        }
        if self.max_field_bytes < 64 || self.max_field_bytes > self.max_line_bytes {
            out.push(format!(
                "[feeds] max_field_bytes is {}: use 64 up to max_line_bytes",
                self.max_field_bytes
            ));
        }
        let most = crate::hr::MAX_ASSIGNMENTS;
        if !(1..=most).contains(&self.max_rows_per_person) {
            out.push(format!(
                "[feeds] max_rows_per_person is {}: use 1 to {most}",
                self.max_rows_per_person
            ));
        }
        if !(0.0..=1.0).contains(&self.max_bad_row_share) {
            out.push(format!(
                "[feeds] max_bad_row_share is {}: use a share from 0 to 1 (0.05 = 5%)",
                self.max_bad_row_share
            ));
        }
        if !(0.0..=1.0).contains(&self.max_export_shrink_share) {
            out.push(format!(
                "[feeds] max_export_shrink_share is {}: use a share from 0 to 1 (0.2 = 20%)",
                self.max_export_shrink_share
            ));
        }
        if !(0.0..=1.0).contains(&self.max_review_share) {
            out.push(format!(
                "[feeds] max_review_share is {}: use a share from 0 to 1 (0.05 = 5%)",
                self.max_review_share
            ));
        }
        for (feed, renames, known) in [
            ("esr", &self.esr, esr::COLUMNS),
            ("trac", &self.trac, trac::COLUMNS),
        ] {
            for (column, given) in renames {
                let key = normalise_header(column);
                if !known.iter().any(|k| normalise_header(k) == key) {
                    out.push(format!(
                        "[feeds.{feed}] `{column}` is not a column of the {feed} feed (CONTRACT §2: {})",
                        known.join(", ")
                    ));
                } else if normalise_header(given).is_empty() {
                    out.push(format!(
                        "[feeds.{feed}] `{column}`: give the name the file's header uses"
                    ));
                }
            }
        }
        if !(1..=1_000_000).contains(&self.max_listed_errors) {
            out.push(format!(
                "[feeds] max_listed_errors is {}: use 1 to 1000000",
                self.max_listed_errors
            ));
        }
        out
    }
}
