//! What went wrong with one input row: the shape every feed reports bad rows in, so the
//! drift report can carry them. Text shown to people is made [`printable`] first.

use std::borrow::Cow;
use std::fmt;

/// A problem with one row; the rest of the file still goes through.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    pub file: String,
    pub line: u64,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}",
            printable(&self.file),
            self.line,
            printable(&self.message)
        )
    }
}

/// Text safe for a terminal or a log line: control characters (ESC and friends, which
/// could rewrite what an operator sees) are shown as `\u{1b}` escapes.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}
