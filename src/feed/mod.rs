//! File feeds (CONTRACT §2): the ESR staff extract and TRAC new starters become HR events;
//! account exports become accounts for the offline drift report.
//!
//! Columns are found by name (case, spacing and punctuation ignored), files may start
//! with a UTF-8 BOM, dates are `dd/mm/yyyy` or `yyyy-mm-dd`. A bad row is reported with
//! its file and line and never stops the other rows. This module reads files it is given;
//! it never writes anything or reads the clock.
//!
//! **Every row is accounted for.** A file is read one physical line at a time, and each
//! line is one record: a quote left open, a field count that differs from the header's, a
//! line or field over its size limit, a control character or text that is not UTF-8 is an
//! error for *that line*, naming it, and the next line is read afresh. So one stray `"`
//! costs one row, never the rest of the file, and for any input
//! `rows read + rows reported = non-blank data lines`. Quoted fields may hold the
//! delimiter and `""`, but not a line break: no field of these feeds has one. Memory is
//! bounded whatever the input: a line is never held beyond [`Limits::max_line_bytes`].

pub mod esr;
pub mod export;
pub mod sponsored;
pub mod trac;

use jiff::civil::Date;
use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::Path;

pub use turnstile_core::input::{RowError, printable};

/// Row errors as a reader collects them: every bad row is counted, and the first
/// [`Limits::max_listed_errors`] are kept with their text, so a file of a million bad rows
/// costs a counter, not a million messages.
#[derive(Debug, Default)]
pub struct RowErrors {
    pub listed: Vec<RowError>,
    /// Errors beyond the listed ones: counted, not kept.
    pub unlisted: u64,
    /// Data rows with at least one error.
    pub bad_rows: u64,
    limit: usize,
}

impl RowErrors {
    pub fn new(limits: &Limits) -> RowErrors {
        RowErrors {
            limit: limits.max_listed_errors,
            ..RowErrors::default()
        }
    }

    /// A bad data row.
    pub fn row(&mut self, e: RowError) {
        self.bad_rows += 1;
        self.note(e);
    }

    /// A problem that is not one row's (a person held back, say).
    pub fn note(&mut self, e: RowError) {
        if self.listed.len() < self.limit {
            self.listed.push(e);
        } else {
            self.unlisted += 1;
        }
    }

    /// Every error, for printing: the listed ones, then a line counting the rest.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        let more = (self.unlisted > 0).then(|| {
            format!(
                "… and {} more error(s) not listed (only the first {} are kept)",
                self.unlisted, self.limit
            )
        });
        self.listed.iter().map(RowError::to_string).chain(more)
    }

    /// Refuses the file when more than `max_share` of its `rows` are bad (and at least
    /// [`MIN_BAD_ROWS_TO_REFUSE`] of them, so one typo in a file of five rows still only
    /// costs its row): a file that broken is more likely cut, mis-saved or the wrong file
    /// than a few typos, and judging people from it could do harm.
    pub fn check_share(&self, file: &str, rows: u64, max_share: f64) -> Result<(), FeedError> {
        if rows > 0
            && self.bad_rows >= MIN_BAD_ROWS_TO_REFUSE
            && self.bad_rows as f64 > max_share * rows as f64
        {
            return Err(FeedError::TooManyBadRows {
                file: file.to_string(),
                bad: self.bad_rows,
                rows,
                share: max_share,
            });
        }
        Ok(())
    }
}

/// Fewer bad rows than this never refuse a file, whatever their share.
pub const MIN_BAD_ROWS_TO_REFUSE: u64 = 3;

/// A problem that makes a whole file unusable.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("{file}: cannot read it: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: no header row: the first line must name the columns")]
    NoHeader { file: String },
    #[error(
        "{file}: line 1: the header row is not usable: {detail}; the first line must name the columns"
    )]
    BadHeader { file: String, detail: String },
    /// The file as a whole cannot be used as it is; `detail` says what to do.
    #[error("{file}: {detail}")]
    Unusable { file: String, detail: String },
    #[error(
        "{file}: the header has no `{column}` column (looked for it ignoring case and spaces{renamed})"
    )]
    MissingColumn {
        file: String,
        column: String,
        renamed: String,
    },
    #[error(
        "{file}: the header names `{column}` twice (columns {first} and {second}): rename or remove one so it is clear which to read"
    )]
    DuplicateColumn {
        file: String,
        column: String,
        first: usize,
        second: usize,
    },
    #[error(
        "{file}: {bad} of its {rows} rows are bad, more than [feeds] max_bad_row_share ({:.1}%): is it the right file, cut short or saved wrongly? Nothing was used; fix it (the rows are listed above) or raise the share",
        share * 100.0
    )]
    TooManyBadRows {
        file: String,
        bad: u64,
        rows: u64,
        share: f64,
    },
}

/// Bounds on what one file may make Turnstile hold: `[feeds]` in the config.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The longest line (one record), in bytes.
    pub max_line_bytes: usize,
    /// The longest field, in bytes.
    pub max_field_bytes: usize,
    /// The most rows (assignments) one person may have in an ESR extract; a person with
    /// more is held back.
    pub max_rows_per_person: usize,
    /// A file with a larger share of bad rows is refused whole (exit 2).
    pub max_bad_row_share: f64,
    /// `feed esr --full` refuses to flag more than this share of the people held for
    /// review without `--approve`: a cut or wrong extract would flag everyone.
    pub max_review_share: f64,
    /// `drift --compare` refuses an export holding fewer accounts than the previous
    /// report's by more than this share, without `--allow-shrink`: a cut-short export
    /// reads as hundreds of missing accounts.
    pub max_export_shrink_share: f64,
    /// How many row errors are kept with their text; the rest are counted.
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
    pub sponsored_max_days: u32,
    /// Days after a TRAC starter's start date with no ESR record before they are taken
    /// as not starting: their prepared access goes and the hiring manager is told.
    pub trac_unconfirmed_days: u32,
}

/// How the bytes of a feed are read as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub enum Encoding {
    #[default]
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "windows-1252")]
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

/// Lower-case letters and digits only: how column names are compared.
pub fn normalise_header(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// One record's fields as spans: of the line itself when it has no quote (nearly every
/// line: nothing is copied), else of `copied`, which holds the fields unquoted. Both lists
/// are reused from row to row.
#[derive(Debug, Default)]
struct Record {
    copied: String,
    in_copied: bool,
    spans: Vec<(u32, u32)>,
}

impl Record {
    fn len(&self) -> usize {
        self.spans.len()
    }

    fn get<'a>(&'a self, line: &'a str, i: usize) -> Option<&'a str> {
        let (start, end) = *self.spans.get(i)?;
        let text = if self.in_copied { &self.copied } else { line };
        text.get(start as usize..end as usize)
    }

    fn iter<'a>(&'a self, line: &'a str) -> impl Iterator<Item = &'a str> {
        (0..self.len()).filter_map(move |i| self.get(line, i))
    }
}

/// Splits one line into fields: RFC 4180 within a line (quoted fields may hold the
/// delimiter and `""`). Text after a closing quote is kept, as spreadsheet tools do. A
/// quote still open at the end of the line is an error: the line break is never taken
/// into the field. Lines are at most `max_line_bytes` (u32 spans).
fn split_line(line: &str, delimiter: u8, out: &mut Record) -> Result<(), String> {
    out.spans.clear();
    let bytes = line.as_bytes();
    if memchr::memchr(b'"', bytes).is_none() {
        out.in_copied = false;
        let mut start = 0u32;
        for end in memchr::memchr_iter(delimiter, bytes) {
            out.spans.push((start, end as u32));
            start = end as u32 + 1;
        }
        out.spans.push((start, bytes.len() as u32));
        return Ok(());
    }
    out.in_copied = true;
    out.copied.clear();
    let mut i = 0;
    loop {
        let field_start = i;
        let copied_start = out.copied.len() as u32;
        if bytes.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match bytes[i..].iter().position(|&b| b == b'"') {
                    None => {
                        return Err(format!(
                            "a quote opened in field {} is not closed on this line (a field cannot span lines): remove the stray `\"` or close it",
                            out.spans.len() + 1
                        ));
                    }
                    Some(q) => {
                        out.copied.push_str(&line[i..i + q]);
                        i += q + 1;
                        if bytes.get(i) == Some(&b'"') {
                            out.copied.push('"');
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            let rest = bytes[i..]
                .iter()
                .position(|&b| b == delimiter)
                .map_or(bytes.len(), |p| i + p);
            out.copied.push_str(&line[i..rest]);
            i = rest;
        } else {
            let end = bytes[i..]
                .iter()
                .position(|&b| b == delimiter)
                .map_or(bytes.len(), |p| i + p);
            out.copied.push_str(&line[field_start..end]);
            i = end;
        }
        out.spans.push((copied_start, out.copied.len() as u32));
        if i >= bytes.len() {
            return Ok(());
        }
        i += 1; // the delimiter
        if i == bytes.len() {
            let end = out.copied.len() as u32;
            out.spans.push((end, end));
            return Ok(());
        }
    }
}

/// An Excel workbook (xlsx is a zip file; xls a compound document) rather than text.
fn is_workbook(first: &[u8]) -> bool {
    first.starts_with(b"PK\x03\x04") || first.starts_with(&[0xD0, 0xCF, 0x11, 0xE0])
}

/// What one physical line gave.
enum Line {
    End,
    Blank,
    Text,
    TooLong(u64),
    NotUtf8,
}

/// A CSV file read line by line, with its columns found by name.
pub struct Table {
    file: String,
    limits: Limits,
    columns: BTreeMap<String, Vec<usize>>,
    headers: Vec<String>,
    input: Box<dyn BufRead>,
    /// The line as read, until it is known to be text; then it moves to `text` (no copy).
    buf: Vec<u8>,
    text: String,
    line: u64,
    record: Record,
    /// The fields of the last bad line, split leniently, for [`Table::salvage`].
    salvage: Vec<String>,
    /// `,`, `;` or a tab: whichever the header uses.
    delimiter: u8,
    /// The file's own names for CONTRACT columns (normalised CONTRACT name → its name).
    renames: BTreeMap<String, String>,
}

/// The separator a header line uses: the most frequent of `,`, `;` and tab outside quotes
/// (a comma when there is none, a one-column file).
fn detect_delimiter(line: &str) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for b in line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(c) = counts.iter_mut().find(|(d, _)| *d == b) {
            c.1 += 1;
        }
    }
    counts
        .iter()
        .copied()
        .max_by_key(|&(d, n)| (n, d == b','))
        .filter(|&(_, n)| n > 0)
        .map_or(b',', |(d, _)| d)
}

/// A file's SHA-256, worked out from the bytes a [`Table`] reads as it reads them: a
/// report's inputs are read once for their rows and their digests.
pub struct Digest {
    path: std::path::PathBuf,
    seen: std::rc::Rc<std::cell::RefCell<(sha2::Sha256, u64)>>,
}

/// A file that passes every byte read from it through a [`Digest`].
struct Hashing {
    file: std::fs::File,
    seen: std::rc::Rc<std::cell::RefCell<(sha2::Sha256, u64)>>,
}

impl Read for Hashing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest as _;
        let n = self.file.read(buf)?;
        let mut seen = self.seen.borrow_mut();
        seen.0.update(&buf[..n]);
        seen.1 += n as u64;
        Ok(n)
    }
}

/// The SHA-256 of the file at `path`, in lower-case hex, read in blocks: memory stays
/// bounded whatever its size.
pub fn sha256_of(path: &Path) -> std::io::Result<String> {
    Digest {
        path: path.to_path_buf(),
        seen: Default::default(),
    }
    .finish()
}

impl Digest {
    /// The file's SHA-256 in lower-case hex: of what the table read, and of the rest of
    /// the file where the table stopped before its end.
    pub fn finish(self) -> std::io::Result<String> {
        use sha2::Digest as _;
        use std::io::{Seek, SeekFrom};
        let (mut hash, read) = match std::rc::Rc::try_unwrap(self.seen) {
            Ok(cell) => cell.into_inner(),
            Err(shared) => shared.borrow().clone(),
        };
        let mut rest = std::fs::File::open(&self.path)?;
        rest.seek(SeekFrom::Start(read))?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = rest.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
        }
        Ok(crate::audit::hex(&hash.finalize()))
    }
}

/// The file at `path`, with the name its errors give.
fn open_file(path: &Path) -> Result<(String, std::fs::File), FeedError> {
    let file = path.display().to_string();
    match std::fs::File::open(path) {
        Ok(handle) => Ok((file, handle)),
        Err(source) => Err(FeedError::Io { file, source }),
    }
}

impl Table {
    pub fn open(path: &Path, limits: &Limits) -> Result<Table, FeedError> {
        let (file, handle) = open_file(path)?;
        Table::from_reader(&file, Box::new(handle), limits)
    }

    /// [`Table::open`], with the file's [`Digest`] worked out as it is read.
    pub fn open_hashed(path: &Path, limits: &Limits) -> Result<(Table, Digest), FeedError> {
        let (file, handle) = open_file(path)?;
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Default::default()));
        let input = Hashing {
            file: handle,
            seen: seen.clone(),
        };
        let table = Table::from_reader(&file, Box::new(input), limits)?;
        let digest = Digest {
            path: path.to_path_buf(),
            seen,
        };
        Ok((table, digest))
    }

    pub fn from_reader(
        file: &str,
        input: Box<dyn Read>,
        limits: &Limits,
    ) -> Result<Table, FeedError> {
        let mut t = Table {
            file: file.into(),
            limits: limits.clone(),
            columns: BTreeMap::new(),
            headers: Vec::new(),
            input: Box::new(std::io::BufReader::with_capacity(1 << 16, input)),
            buf: Vec::new(),
            text: String::new(),
            line: 0,
            record: Record::default(),
            salvage: Vec::new(),
            delimiter: b',',
            renames: BTreeMap::new(),
        };
        let bad_header = |detail: String| FeedError::BadHeader {
            file: file.into(),
            detail,
        };
        loop {
            match t.read_line()? {
                Line::End => return Err(FeedError::NoHeader { file: file.into() }),
                Line::Blank if t.line == 1 => {
                    return Err(FeedError::NoHeader { file: file.into() });
                }
                Line::Blank => continue,
                Line::TooLong(n) => {
                    return Err(bad_header(format!(
                        "it is longer than {} bytes ({n} bytes before it was cut off); is this a CSV file?",
                        t.limits.max_line_bytes
                    )));
                }
                Line::NotUtf8 => {
                    return Err(bad_header(
                        "it is not UTF-8 text; save the file as CSV UTF-8".into(),
                    ));
                }
                Line::Text => {
                    // Windows PowerShell 5.1's `Export-Csv` (without -NoTypeInformation)
                    // puts the object's type on the first line, before the header.
                    if t.line == 1 && t.text.starts_with("#TYPE") {
                        continue;
                    }
                    break;
                }
            }
        }
        let text = t.text.trim_start_matches('\u{feff}');
        t.delimiter = detect_delimiter(text);
        let mut header = Record::default();
        split_line(text, t.delimiter, &mut header).map_err(bad_header)?;
        if header.iter(text).all(|h| h.trim().is_empty()) {
            return Err(FeedError::NoHeader { file: file.into() });
        }
        for (i, h) in header.iter(text).enumerate() {
            t.columns.entry(normalise_header(h)).or_default().push(i);
            t.headers.push(h.trim().to_string());
        }
        Ok(t)
    }

    /// Reads the next physical line into `buf` (without its line end), never holding more
    /// than `max_line_bytes` of it; a line of text ends up in `text`.
    fn read_line(&mut self) -> Result<Line, FeedError> {
        if self.buf.capacity() == 0 {
            // The last line's room, back from `text`.
            self.buf = std::mem::take(&mut self.text).into_bytes();
        }
        self.buf.clear();
        let limit = self.limits.max_line_bytes as u64 + 1;
        let io = |source: std::io::Error, file: &str| FeedError::Io {
            file: file.to_string(),
            source,
        };
        let n = (&mut self.input)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| io(e, &self.file))?;
        if n == 0 {
            return Ok(Line::End);
        }
        self.line += 1;
        if self.line == 1 && is_workbook(&self.buf) {
            return Err(FeedError::BadHeader {
                file: self.file.clone(),
                detail: "this is an Excel workbook, not CSV text: open it in Excel and use File > Save As > \"CSV UTF-8 (Comma delimited)\"".into(),
            });
        }
        if self.buf.last() != Some(&b'\n') && n as u64 == limit {
            // Skip the rest of the line without keeping it.
            let mut skipped = n as u64;
            loop {
                let chunk = self.input.fill_buf().map_err(|e| io(e, &self.file))?;
                if chunk.is_empty() {
                    break;
                }
                match chunk.iter().position(|&b| b == b'\n') {
                    Some(p) => {
                        self.input.consume(p + 1);
                        skipped += p as u64;
                        break;
                    }
                    None => {
                        let len = chunk.len();
                        self.input.consume(len);
                        skipped += len as u64;
                    }
                }
            }
            self.buf.clear();
            return Ok(Line::TooLong(skipped));
        }
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        // Validated once here (the text made from Windows-1252 is UTF-8 by construction);
        // a national extract is most of a gigabyte.
        let utf8 = std::str::from_utf8(&self.buf).is_ok();
        let cp1252 = match self.limits.encoding {
            Encoding::Utf8 => false,
            Encoding::Windows1252 => true,
            // Text that is not UTF-8 is, in practice, a Windows code page file.
            Encoding::Auto => !utf8,
        };
        if cp1252 {
            let text = windows_1252(&self.buf);
            self.buf.clear();
            self.buf.extend_from_slice(text.as_bytes());
        } else if !utf8 {
            return Ok(Line::NotUtf8);
        }
        if self
            .buf
            .iter()
            .all(|b| b.is_ascii_whitespace() || *b == b',' || *b == b';')
        {
            return Ok(Line::Blank);
        }
        match String::from_utf8(std::mem::take(&mut self.buf)) {
            Ok(text) => {
                self.text = text;
                Ok(Line::Text)
            }
            // Checked above; kept as it was all the same.
            Err(e) => {
                self.buf = e.into_bytes();
                Ok(Line::NotUtf8)
            }
        }
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    /// Reads CONTRACT columns under the file's own names (`[feeds.esr]`, `[feeds.trac]`):
    /// CONTRACT name → the name in the file.
    pub fn rename(&mut self, renames: &BTreeMap<String, String>) {
        self.renames = renames
            .iter()
            .map(|(contract, given)| (normalise_header(contract), given.clone()))
            .collect();
    }

    /// The name a column goes by in this file.
    fn named(&self, name: &str) -> String {
        self.renames
            .get(&normalise_header(name))
            .cloned()
            .unwrap_or_else(|| name.to_string())
    }

    /// The index of a column, by its CONTRACT name or a configured rename; an error when
    /// the header names it twice.
    pub fn column(&self, name: &str) -> Result<Option<usize>, FeedError> {
        let name = self.named(name);
        match self
            .columns
            .get(&normalise_header(&name))
            .map(Vec::as_slice)
        {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(*one)),
            Some([first, second, ..]) => Err(FeedError::DuplicateColumn {
                file: self.file.clone(),
                column: name,
                first: first + 1,
                second: second + 1,
            }),
        }
    }

    /// Like [`Table::column`], but a missing column makes the file unusable.
    pub fn require(&self, name: &str, contract_name: &str) -> Result<usize, FeedError> {
        let named = self.named(name);
        self.column(name)?.ok_or_else(|| FeedError::MissingColumn {
            file: self.file.clone(),
            renamed: if named == contract_name {
                String::new()
            } else {
                format!("; configured in place of `{contract_name}`")
            },
            column: named,
        })
    }

    /// The next data row (`Ok`), a line that is not a usable row (`Err`, naming it), or
    /// `None` at the end. Blank lines are skipped. A file that cannot be read any further
    /// is a [`FeedError`].
    #[allow(clippy::type_complexity)]
    pub fn next_row(&mut self) -> Result<Option<Result<Row<'_>, RowError>>, FeedError> {
        let problem = loop {
            match self.read_line()? {
                Line::End => return Ok(None),
                Line::Blank => continue,
                Line::TooLong(n) => {
                    self.salvage.clear();
                    break format!(
                        "the line is {n} bytes long, over the limit of {} ([feeds] max_line_bytes); it was skipped",
                        self.limits.max_line_bytes
                    );
                }
                Line::NotUtf8 => {
                    self.salvage =
                        lenient_fields(&String::from_utf8_lossy(&self.buf), self.delimiter);
                    break "the line is not UTF-8 text; save the file as CSV UTF-8".to_string();
                }
                Line::Text => match self.check_line() {
                    Ok(()) => {
                        return Ok(Some(Ok(Row {
                            file: &self.file,
                            line: self.line,
                            text: &self.text,
                            record: &self.record,
                        })));
                    }
                    Err(problem) => {
                        self.salvage = lenient_fields(&self.text, self.delimiter);
                        break problem;
                    }
                },
            }
        };
        Ok(Some(Err(RowError {
            file: self.file.clone(),
            line: self.line,
            message: problem,
        })))
    }

    /// Splits the line in `buf` and checks its shape: field count, field sizes and
    /// control characters.
    fn check_line(&mut self) -> Result<(), String> {
        let text = self.text.as_str();
        split_line(text, self.delimiter, &mut self.record)?;
        if self.record.len() != self.headers.len() {
            return Err(format!(
                "the row has {} field(s) where the header has {}: a stray comma or quote? Quote a field that holds a comma",
                self.record.len(),
                self.headers.len()
            ));
        }
        // A field is a part of the line (less its quotes): a line short enough and free
        // of control characters has no field to look at one by one.
        if text.len() <= self.limits.max_field_bytes
            && turnstile_core::hr::control_character_but(text, Some('\t')).is_none()
        {
            return Ok(());
        }
        for (i, field) in self.record.iter(text).enumerate() {
            let column = self.headers.get(i).map_or("?", String::as_str);
            if field.len() > self.limits.max_field_bytes {
                return Err(format!(
                    "`{column}` is {} bytes long, over the limit of {} ([feeds] max_field_bytes)",
                    field.len(),
                    self.limits.max_field_bytes
                ));
            }
            if let Some(c) = turnstile_core::hr::control_character_but(field, Some('\t')) {
                return Err(format!(
                    "`{column}` holds a control character ({}): remove it",
                    c.escape_unicode()
                ));
            }
        }
        Ok(())
    }

    /// After a bad line: the text of column `i` as well as it can be made out, so a reader
    /// can still tell whose row it was (and hold that person back).
    pub fn salvage(&self, i: usize) -> Option<&str> {
        self.salvage
            .get(i)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }
}

/// [`str::trim`], answered at once for a cell that neither starts nor ends with a space
/// (nearly every one): str's own decodes a character at each end, once per cell of
/// every row, 2-3 % of a national drift.
fn trim(cell: &str) -> &str {
    // An ASCII byte that is not whitespace is a character that is not whitespace.
    let solid = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii() && !matches!(b, b' ' | 9..=13));
    let bytes = cell.as_bytes();
    if solid(bytes.first()) && solid(bytes.last()) {
        cell
    } else {
        cell.trim()
    }
}

/// Fields split at every comma, quotes stripped: only for naming whose bad line it was.
fn lenient_fields(line: &str, delimiter: u8) -> Vec<String> {
    line.split(char::from(delimiter))
        .take(64)
        .map(|f| f.trim().trim_matches('"').chars().take(64).collect())
        .collect()
}

/// One data row.
pub struct Row<'a> {
    pub file: &'a str,
    pub line: u64,
    text: &'a str,
    record: &'a Record,
}

impl Row<'_> {
    /// The trimmed cell, `None` when the column is absent or the cell blank.
    pub fn get(&self, column: Option<usize>) -> Option<&str> {
        column
            .and_then(|i| self.record.get(self.text, i))
            .map(trim)
            .filter(|s| !s.is_empty())
    }

    pub fn error(&self, message: impl Into<String>) -> RowError {
        RowError {
            file: self.file.to_string(),
            line: self.line,
            message: message.into(),
        }
    }

    /// A required cell, or an error naming the column.
    pub fn required(&self, column: Option<usize>, name: &str) -> Result<&str, RowError> {
        self.get(column)
            .ok_or_else(|| self.error(format!("`{name}` is empty")))
    }

    /// An optional date cell.
    pub fn date(&self, column: Option<usize>, name: &str) -> Result<Option<Date>, RowError> {
        match self.get(column) {
            None => Ok(None),
            Some(text) => parse_date(text)
                .map(Some)
                .map_err(|m| self.error(format!("`{name}`: {m}"))),
        }
    }
}

/// Year, month and day of `dd/mm/yyyy` or `yyyy-mm-dd` written with every digit.
fn full_date(b: &[u8]) -> Option<(i16, i8, i8)> {
    let digits = |from: usize, to: usize| {
        b.get(from..to)?.iter().try_fold(0i16, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + i16::from(c - b'0'))
        })
    };
    let (y, m, d) = match b {
        [_, _, b'/', _, _, b'/', _, _, _, _] => (digits(6, 10)?, digits(3, 5)?, digits(0, 2)?),
        [_, _, _, _, b'-', _, _, b'-', _, _] => (digits(0, 4)?, digits(5, 7)?, digits(8, 10)?),
        _ => return None,
    };
    Some((y, i8::try_from(m).ok()?, i8::try_from(d).ok()?))
}

/// `dd/mm/yyyy` (UK order) or ISO `yyyy-mm-dd`.
pub fn parse_date(text: &str) -> Result<Date, String> {
    let text = text.trim();
    // Nearly every date is written in full (`23/11/2026`, `2026-11-23`): read those
    // digit by digit; anything else (`1/2/2026`) and every error take the general path.
    if let Some((y, m, d)) = full_date(text.as_bytes())
        && y >= 1900
        && let Ok(date) = Date::new(y, m, d)
    {
        return Ok(date);
    }
    general_date(text)
}

/// [`parse_date`] of trimmed `text`, however it is written.
fn general_date(text: &str) -> Result<Date, String> {
    // Exactly three parts, without collecting them (a date per row of a national extract).
    let three = |sep: char| -> Option<(&str, &str, &str)> {
        let mut parts = text.split(sep);
        let found = (parts.next()?, parts.next()?, parts.next()?);
        parts.next().is_none().then_some(found)
    };
    let (y, m, d) = if let Some((d, m, y)) = three('/') {
        (y, m, d)
    } else {
        match three('-') {
            Some((y, m, d)) if y.len() == 4 => (y, m, d),
            _ => {
                return Err(format!(
                    "\"{text}\" is not a date (use dd/mm/yyyy or yyyy-mm-dd)"
                ));
            }
        }
    };
    let num = |s: &str, max_len: usize| -> Option<i32> {
        (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (Some(y), Some(m), Some(d)) = (num(y, 4), num(m, 2), num(d, 2)) else {
        return Err(format!(
            "\"{text}\" is not a date (use dd/mm/yyyy or yyyy-mm-dd)"
        ));
    };
    if y < 1900 {
        return Err(format!("\"{text}\" has a four-digit year before 1900"));
    }
    Date::new(y as i16, m as i8, d as i8)
        .map_err(|_| format!("\"{text}\" is not a real calendar date"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every line a table gives: `Ok(fields)` or `Err(message)`, by line number.
    fn lines_of(text: &[u8], limits: &Limits) -> BTreeMap<u64, Result<Vec<String>, String>> {
        let mut t = Table::from_reader(
            "t.csv",
            Box::new(std::io::Cursor::new(text.to_vec())),
            limits,
        )
        .unwrap();
        let mut out = BTreeMap::new();
        while let Some(row) = t.next_row().unwrap() {
            let (line, value) = match row {
                Ok(r) => (
                    r.line,
                    Ok(r.record.iter(r.text).map(str::to_string).collect()),
                ),
                Err(e) => (e.line, Err(e.message)),
            };
            assert!(out.insert(line, value).is_none(), "line {line} given twice");
        }
        out
    }

    /// The digest a table works out as it reads is the file's own SHA-256, whether the
    /// table read every line or stopped after its header.
    #[test]
    fn a_digest_made_while_reading_is_the_whole_file_s() {
        use sha2::Digest as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("extract.csv");
        let mut text = String::from("Employee Number,First Name\n");
        for n in 0..20_000 {
            text.push_str(&format!("{n},Name {n}\n"));
        }
        std::fs::write(&path, &text).unwrap();
        let want = crate::audit::hex(&sha2::Sha256::digest(text.as_bytes()));
        let limits = Limits::default();

        let (mut table, digest) = Table::open_hashed(&path, &limits).unwrap();
        let mut rows = 0;
        while table.next_row().unwrap().is_some() {
            rows += 1;
        }
        drop(table);
        assert_eq!(rows, 20_000);
        assert_eq!(digest.finish().unwrap(), want, "read to the end");

        let (table, digest) = Table::open_hashed(&path, &limits).unwrap();
        drop(table);
        assert_eq!(digest.finish().unwrap(), want, "stopped after the header");

        // Still held by the table: the digest is of what it read, then of the rest.
        let (mut table, digest) = Table::open_hashed(&path, &limits).unwrap();
        assert!(table.next_row().unwrap().is_some());
        assert_eq!(digest.finish().unwrap(), want, "table still open");
        assert!(table.next_row().unwrap().is_some());
        assert_eq!(sha256_of(&path).unwrap(), want, "the file alone");
    }

    #[test]
    fn a_stray_quote_costs_its_own_line_only() {
        let text = "Employee Number,First Name,Last Name\n\
1,Amara,Okafor\n\
2,\"Ben,Cole\n\
3,Cy,\"Dee, Jr\"\n\
4,Di,\"O\"\"Brien\"\n\
5,Ed,Extra,field\n\
\n\
6,Fi\r\n\
7,Gus,Hay\r\n";
        let got = lines_of(text.as_bytes(), &Limits::default());
        assert_eq!(
            got[&2],
            Ok(vec!["1".into(), "Amara".into(), "Okafor".into()])
        );
        assert!(
            got[&3]
                .as_ref()
                .unwrap_err()
                .contains("quote opened in field 2 is not closed"),
            "{:?}",
            got[&3]
        );
        assert_eq!(got[&4], Ok(vec!["3".into(), "Cy".into(), "Dee, Jr".into()]));
        assert_eq!(
            got[&5],
            Ok(vec!["4".into(), "Di".into(), "O\"Brien".into()])
        );
        assert!(
            got[&6]
                .as_ref()
                .unwrap_err()
                .contains("4 field(s) where the header has 3")
        );
        assert!(!got.contains_key(&7), "a blank line is no row");
        assert!(got[&8].as_ref().unwrap_err().contains("2 field(s)"));
        assert_eq!(got[&9], Ok(vec!["7".into(), "Gus".into(), "Hay".into()]));
        assert_eq!(got.len(), 7);
    }

    #[test]
    fn lines_fields_control_characters_and_text_that_is_not_utf8_are_named() {
        let limits = Limits {
            max_line_bytes: 1024,
            max_field_bytes: 64,
            ..Limits::default()
        };
        let mut text = b"A,B\n1,ok\n".to_vec();
        text.extend_from_slice(format!("2,{}\n", "x".repeat(5000)).as_bytes());
        text.extend_from_slice(format!("3,{}\n", "y".repeat(100)).as_bytes());
        text.extend_from_slice(b"4,Zo\xeb\n5,esc\x1b[2J\n6,fine\n");
        let got = lines_of(&text, &limits);
        assert!(got[&2].is_ok());
        assert!(
            got[&3]
                .as_ref()
                .unwrap_err()
                .contains("over the limit of 1024")
        );
        assert!(
            got[&4]
                .as_ref()
                .unwrap_err()
                .contains("`B` is 100 bytes long")
        );
        // Not UTF-8: read as Windows-1252 (auto), or an error when UTF-8 is demanded.
        assert_eq!(got[&5], Ok(vec!["4".into(), "Zoë".into()]));
        let strict = Limits {
            encoding: Encoding::Utf8,
            ..limits.clone()
        };
        let got_strict = lines_of(&text, &strict);
        assert!(got_strict[&5].as_ref().unwrap_err().contains("not UTF-8"));
        let esc = got[&6].as_ref().unwrap_err();
        assert!(
            esc.contains("`B` holds a control character (\\u{1b})"),
            "{esc}"
        );
        assert_eq!(got[&7], Ok(vec!["6".into(), "fine".into()]));
        // What is printed never carries the raw control character.
        let e = RowError {
            file: "f".into(),
            line: 1,
            message: "bad \u{1b}[2J name".into(),
        };
        assert_eq!(e.to_string(), "f:1: bad \\u{1b}[2J name");
    }

    #[test]
    fn an_endless_line_or_header_is_refused_in_bounded_memory() {
        let limits = Limits {
            max_line_bytes: 4096,
            ..Limits::default()
        };
        let zeros = std::io::repeat(0).take(50 << 20);
        let err = Table::from_reader("zero", Box::new(zeros), &limits)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("longer than 4096 bytes"), "{err}");
        let mut text = b"A,B\n".to_vec();
        text.extend(std::iter::repeat_n(b'z', 1 << 20));
        text.extend_from_slice(b"\n1,2\n");
        let got = lines_of(&text, &limits);
        assert!(got[&2].is_err());
        assert_eq!(got[&3], Ok(vec!["1".into(), "2".into()]));
    }

    #[test]
    fn a_column_named_twice_is_refused_when_it_is_read() {
        let t = Table::from_reader(
            "t.csv",
            Box::new(std::io::Cursor::new(
                b"Employee Number,Name,employee_number\n".to_vec(),
            )),
            &Limits::default(),
        )
        .unwrap();
        let err = t.column("Employee Number").unwrap_err().to_string();
        assert!(
            err.contains("names `Employee Number` twice (columns 1 and 3)"),
            "{err}"
        );
        assert_eq!(t.column("Name").unwrap(), Some(1));
    }

    #[test]
    fn too_many_bad_rows_refuse_the_file() {
        let mut e = RowErrors::new(&Limits::default());
        for line in 0..6 {
            e.row(RowError {
                file: "f".into(),
                line,
                message: "bad".into(),
            });
        }
        assert!(e.check_share("f", 200, 0.05).is_ok());
        let mut two = RowErrors::new(&Limits::default());
        two.row(e.listed[0].clone());
        two.row(e.listed[1].clone());
        assert!(
            two.check_share("f", 2, 0.05).is_ok(),
            "two typos never refuse a file"
        );
        let err = e.check_share("f", 100, 0.05).unwrap_err().to_string();
        assert!(err.contains("6 of its 100 rows are bad"), "{err}");
    }

    #[test]
    fn row_errors_past_the_limit_are_counted_not_kept() {
        let mut e = RowErrors::new(&Limits {
            max_listed_errors: 3,
            ..Limits::default()
        });
        for line in 0..10 {
            e.row(RowError {
                file: "f".into(),
                line,
                message: "bad".into(),
            });
        }
        assert_eq!((e.listed.len(), e.unlisted, e.bad_rows), (3, 7, 10));
        let lines: Vec<String> = e.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[3].contains("7 more error(s)"));
    }

    /// A corruption of one line of a good file.
    #[derive(Debug, Clone)]
    enum Damage {
        StrayQuote(usize),
        Cut(usize),
        ExtraField,
        MissingField,
        Blank,
    }

    proptest! {
        /// Fields come back as written, whether the line is split in place (no quote on
        /// it) or unquoted into a copy; with a comma, a semicolon or a tab between them.
        #[test]
        fn fields_come_back_as_written(
            fields in proptest::collection::vec("[a-z ,;\t\"é]{0,6}", 1..8),
            delimiter in proptest::sample::select(vec![b',', b';', b'\t']),
            quote_all in any::<bool>(),
        ) {
            let d = char::from(delimiter);
            let line: Vec<String> = fields
                .iter()
                .map(|f| {
                    if quote_all || f.contains(d) || f.contains('"') {
                        format!("\"{}\"", f.replace('"', "\"\""))
                    } else {
                        f.clone()
                    }
                })
                .collect();
            let line = line.join(&d.to_string());
            let mut record = Record::default();
            split_line(&line, delimiter, &mut record).unwrap();
            let back: Vec<&str> = record.iter(&line).collect();
            prop_assert_eq!(back, fields.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }

    fn damage() -> impl Strategy<Value = Damage> {
        prop_oneof![
            (0usize..40).prop_map(Damage::StrayQuote),
            (0usize..40).prop_map(Damage::Cut),
            Just(Damage::ExtraField),
            Just(Damage::MissingField),
            Just(Damage::Blank),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever is done to a file's lines, every non-blank data line is either read,
        /// with its own fields when it was not damaged, or reported with its own line
        /// number, exactly once: the counts add up.
        #[test]
        fn every_row_is_read_or_reported(
            rows in proptest::collection::vec(("[a-zA-Z ,']{0,12}", "[0-9]{1,8}"), 1..40),
            damages in proptest::collection::vec((0usize..40, damage()), 0..12),
            crlf in any::<bool>(),
        ) {
            let quote = |f: &str| if f.contains(',') { format!("\"{f}\"") } else { f.to_string() };
            let mut lines: Vec<String> = rows
                .iter()
                .map(|(name, n)| format!("{},{},x", n, quote(name)))
                .collect();
            let mut damaged = std::collections::BTreeSet::new();
            for (at, d) in &damages {
                let i = at % lines.len();
                let l = &mut lines[i];
                match d {
                    Damage::StrayQuote(p) => {
                        let p = (*p).min(l.len());
                        l.insert(p, '"');
                    }
                    Damage::Cut(p) => l.truncate((*p).min(l.len())),
                    Damage::ExtraField => l.push_str(",more"),
                    Damage::MissingField => {
                        if let Some(p) = l.rfind(',') {
                            l.truncate(p);
                        }
                    }
                    Damage::Blank => l.clear(),
                }
                damaged.insert(i);
            }
            let end = if crlf { "\r\n" } else { "\n" };
            let text = format!("N,Name,X{end}{}{end}", lines.join(end));
            let got = lines_of(text.as_bytes(), &Limits::default());
            let expected_lines: Vec<u64> = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| !l.chars().all(|c| c.is_ascii_whitespace() || c == ','))
                .map(|(i, _)| i as u64 + 2)
                .collect();
            prop_assert_eq!(got.keys().copied().collect::<Vec<_>>(), expected_lines);
            for (i, (name, n)) in rows.iter().enumerate() {
                if !damaged.contains(&i) {
                    let want = vec![n.clone(), name.clone(), "x".to_string()];
                    prop_assert_eq!(got.get(&(i as u64 + 2)), Some(&Ok(want)));
                }
            }
        }
    }

    proptest! {
        /// Dates read digit by digit come out as the general reading gives them, and
        /// whatever that refuses is still refused.
        #[test]
        fn full_dates_read_as_the_general_reading_reads_them(
            text in "[0-9]{2}/[0-9]{2}/[0-9]{4}|[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9/ -]{8,12}|[0-9a/-]{10}"
        ) {
            prop_assert_eq!(parse_date(&text), general_date(text.trim()));
        }

        /// The quick trim trims as `str::trim` does, whatever the cell.
        #[test]
        fn the_quick_trim_trims_as_str_trims(cell in "[ \\t\\n\\x0b\\x0c\\r\\x1c\\u{85}\\u{a0}\\u{3000}a-z\\PC]{0,12}") {
            prop_assert_eq!(trim(&cell), cell.trim());
        }
    }

    #[test]
    fn dates_in_both_forms() {
        assert_eq!(
            parse_date("01/04/2019").unwrap(),
            jiff::civil::date(2019, 4, 1)
        );
        assert_eq!(
            parse_date("2019-04-01").unwrap(),
            jiff::civil::date(2019, 4, 1)
        );
        assert_eq!(
            parse_date(" 1/4/2019 ").unwrap(),
            jiff::civil::date(2019, 4, 1)
        );
        assert!(parse_date("31/02/2026").unwrap_err().contains("not a real"));
        assert!(parse_date("2026/02/01").is_err());
        assert!(parse_date("01/04/19").is_err());
        assert!(parse_date("yesterday").is_err());
        assert!(parse_date("").is_err());
    }

    #[test]
    fn windows_1252_maps_its_own_table_and_latin_1() {
        assert_eq!(
            windows_1252(b"Zo\xeb Si\xe2n \x80 \x96 \x93 \x81"),
            "Zoë Siân € – “ \u{fffd}"
        );
    }

    #[test]
    fn separators_are_found_in_the_header() {
        assert_eq!(detect_delimiter("a,b,c"), b',');
        assert_eq!(detect_delimiter("\"a\";\"b,c\";\"d\""), b';');
        assert_eq!(detect_delimiter("a\tb\tc"), b'\t');
        assert_eq!(detect_delimiter("single"), b',');
    }

    #[test]
    fn headers_ignore_case_spacing_and_bom() {
        assert_eq!(
            normalise_header("\u{feff}Employee Number"),
            "employeenumber"
        );
        assert_eq!(
            normalise_header("  primary assignment (Y/N) "),
            "primaryassignmentyn"
        );
        assert_eq!(normalise_header("EMPLOYEE_NUMBER"), "employeenumber");
    }
}
