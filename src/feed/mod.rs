//! File feeds (CONTRACT §2): the ESR staff extract and TRAC new starters become HR events;
//! account exports become accounts for the offline drift report.
//!
//! Columns are found by name (case, spacing and punctuation ignored), files may start
//! with a UTF-8 BOM, dates are `dd/mm/yyyy` or `yyyy-mm-dd`. A bad row is reported with
//! its file and line and never stops the other rows. This module reads files it is given;
//! it never writes anything or reads the clock.

pub mod esr;
pub mod export;
pub mod trac;

use jiff::civil::Date;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

/// A problem with one row; the rest of the file still goes through.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    pub file: String,
    pub line: u64,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

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
        "{file}: the header has no `{column}` column (looked for it ignoring case and spaces{renamed})"
    )]
    MissingColumn {
        file: String,
        column: String,
        renamed: String,
    },
    #[error("{file}: line {line}: the file is not valid CSV ({detail}); fix the quoting there")]
    Csv {
        file: String,
        line: u64,
        detail: String,
    },
}

/// Lower-case letters and digits only: how column names are compared.
pub fn normalise_header(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A CSV file read row by row, with its columns found by name.
pub struct Table {
    file: String,
    columns: BTreeMap<String, usize>,
    reader: csv::Reader<Box<dyn Read>>,
    record: csv::StringRecord,
}

impl Table {
    pub fn open(path: &Path) -> Result<Table, FeedError> {
        let file = path.display().to_string();
        let handle = std::fs::File::open(path).map_err(|source| FeedError::Io {
            file: file.clone(),
            source,
        })?;
        Table::from_reader(
            &file,
            Box::new(std::io::BufReader::with_capacity(1 << 16, handle)),
        )
    }

    pub fn from_reader(file: &str, input: Box<dyn Read>) -> Result<Table, FeedError> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::None)
            .from_reader(input);
        let headers = reader.headers().map_err(|e| csv_error(file, &e))?.clone();
        if headers.iter().all(|h| h.trim().is_empty()) {
            return Err(FeedError::NoHeader { file: file.into() });
        }
        let mut columns = BTreeMap::new();
        for (i, h) in headers.iter().enumerate() {
            columns.entry(normalise_header(h)).or_insert(i);
        }
        Ok(Table {
            file: file.into(),
            columns,
            reader,
            record: csv::StringRecord::new(),
        })
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    /// The index of a column, by its CONTRACT name or a configured rename.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.get(&normalise_header(name)).copied()
    }

    /// Like [`Table::column`], but a missing column makes the file unusable.
    pub fn require(&self, name: &str, contract_name: &str) -> Result<usize, FeedError> {
        self.column(name).ok_or_else(|| FeedError::MissingColumn {
            file: self.file.clone(),
            column: name.to_string(),
            renamed: if name == contract_name {
                String::new()
            } else {
                format!("; configured in place of `{contract_name}`")
            },
        })
    }

    /// The next row, or `None` at the end. Blank lines are skipped.
    pub fn next_row(&mut self) -> Option<Result<Row<'_>, FeedError>> {
        loop {
            match self.reader.read_record(&mut self.record) {
                Ok(false) => return None,
                Ok(true) => {
                    if self.record.iter().all(|f| f.trim().is_empty()) {
                        continue;
                    }
                    let line = self.record.position().map_or(0, |p| p.line());
                    return Some(Ok(Row {
                        file: &self.file,
                        line,
                        record: &self.record,
                    }));
                }
                Err(e) => return Some(Err(csv_error(&self.file, &e))),
            }
        }
    }
}

fn csv_error(file: &str, e: &csv::Error) -> FeedError {
    let line = e.position().map_or(0, |p| p.line());
    match e.kind() {
        csv::ErrorKind::Io(io) => FeedError::Io {
            file: file.into(),
            source: std::io::Error::new(io.kind(), io.to_string()),
        },
        _ => FeedError::Csv {
            file: file.into(),
            line,
            detail: e.to_string(),
        },
    }
}

/// One data row.
pub struct Row<'a> {
    pub file: &'a str,
    pub line: u64,
    record: &'a csv::StringRecord,
}

impl Row<'_> {
    /// The trimmed cell, `None` when the column is absent or the cell blank.
    pub fn get(&self, column: Option<usize>) -> Option<&str> {
        column
            .and_then(|i| self.record.get(i))
            .map(str::trim)
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

/// `dd/mm/yyyy` (UK order) or ISO `yyyy-mm-dd`.
pub fn parse_date(text: &str) -> Result<Date, String> {
    let text = text.trim();
    let parts: Vec<&str> = text.split('/').collect();
    let (y, m, d) = if parts.len() == 3 {
        (parts[2], parts[1], parts[0])
    } else {
        let parts: Vec<&str> = text.split('-').collect();
        if parts.len() != 3 || parts[0].len() != 4 {
            return Err(format!(
                "\"{text}\" is not a date (use dd/mm/yyyy or yyyy-mm-dd)"
            ));
        }
        (parts[0], parts[1], parts[2])
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
