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

/// A URL's parts after `scheme://`: the user information (before the last `@`), the host
/// with its port, and the rest (path, query, fragment). The one reading of a URL's
/// authority, so every check and every redaction agrees on where the host is.
pub fn authority(after_scheme: &str) -> (Option<&str>, &str, &str) {
    let end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let (authority, rest) = after_scheme.split_at(end);
    match authority.rsplit_once('@') {
        Some((user, host)) => (Some(user), host, rest),
        None => (None, authority, rest),
    }
}

/// Text for a reader who should not see secrets carried in URLs: every `scheme://…` in it
/// loses its user and password, query string (webhook signatures, tokens) and fragment,
/// and the whole is made [`printable`] and cut to `max` characters.
pub fn redacted(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        out.push_str(&rest[..at + 3]);
        let after = &rest[at + 3..];
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .unwrap_or(after.len());
        let (user, host, rest_of_url) = authority(&after[..end]);
        let (path, tail) =
            rest_of_url.split_at(rest_of_url.find(['?', '#']).unwrap_or(rest_of_url.len()));
        if user.is_some() {
            out.push_str("…@");
        }
        out.push_str(host);
        out.push_str(path);
        if !tail.is_empty() {
            out.push_str("?…");
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    let shown = printable(&out);
    if shown.chars().count() > max {
        let mut cut: String = shown.chars().take(max).collect();
        cut.push('…');
        cut
    } else {
        shown.into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row's problem reads as `file:line: message`, control characters shown escaped.
    #[test]
    fn a_row_error_names_its_file_and_line() {
        let e = RowError {
            file: "esr.csv".into(),
            line: 12,
            message: "Employee Number is empty\u{1b}[2J".into(),
        };
        assert_eq!(
            e.to_string(),
            "esr.csv:12: Employee Number is empty\\u{1b}[2J"
        );
    }

    #[test]
    fn a_urls_authority_is_read_one_way() {
        assert_eq!(
            authority("h.example:8443/p?q"),
            (None, "h.example:8443", "/p?q")
        );
        assert_eq!(authority("u:pw@h/p"), (Some("u:pw"), "h", "/p"));
        // The last @ of the authority ends the user part; one in the path is the path's.
        assert_eq!(authority("a@b@[::1]:25#f"), (Some("a@b"), "[::1]:25", "#f"));
        assert_eq!(authority("h/x@y"), (None, "h", "/x@y"));
        assert_eq!(authority("h?u@v"), (None, "h", "?u@v"));
        assert_eq!(authority(""), (None, "", ""));
    }

    #[test]
    fn urls_lose_credentials_queries_and_fragments() {
        let t = "WI-000003 to https://hooks.example/api/x?sig=SECRET&se=1: 500; also http://user:pw@host:8080/p#frag done";
        let r = redacted(t, 1000);
        assert_eq!(
            r,
            "WI-000003 to https://hooks.example/api/x?… 500; also http://…@host:8080/p?… done"
        );
        assert!(!r.contains("SECRET") && !r.contains("pw"));
        assert_eq!(redacted("no url here", 1000), "no url here");
        assert_eq!(redacted("line\nforged", 1000), "line\\u{a}forged");
        assert_eq!(redacted("abcdef", 3), "abc…");
    }
}
