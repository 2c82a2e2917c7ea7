//! What can be wrong with a feed: one row (kept with its line, the file still read), or the whole file.

use super::*;

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
    pub(super) limit: usize,
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
