//! Case-insensitive wildcard patterns for role rules and generic-account names:
//! `*` matches any run of characters, `?` exactly one; everything else is literal.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    folded: Vec<char>,
    /// The folded pattern as bytes when it is ASCII: the fast path, with no allocation.
    ascii: Option<Vec<u8>>,
}

impl Glob {
    pub fn new(text: &str) -> Glob {
        let folded = fold(text);
        let ascii = folded
            .iter()
            .all(char::is_ascii)
            .then(|| folded.iter().map(|c| *c as u8).collect());
        Glob {
            text: text.to_string(),
            folded,
            ascii,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_literal(&self) -> bool {
        !self.folded.iter().any(|c| matches!(c, '*' | '?'))
    }

    /// True when `candidate` matches, ignoring case and surrounding spaces.
    pub fn matches(&self, candidate: &str) -> bool {
        let candidate = candidate.trim();
        match &self.ascii {
            Some(pattern) if candidate.is_ascii() => {
                wildcard(pattern, candidate.as_bytes(), |p, t| {
                    p == t.to_ascii_lowercase()
                })
            }
            _ => wildcard(&self.folded, &fold(candidate), |p, t| p == t),
        }
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn fold(text: &str) -> Vec<char> {
    text.trim().chars().flat_map(char::to_lowercase).collect()
}

/// Iterative wildcard match with a single backtrack point: linear in practice, never
/// exponential. `eq(pattern_char, text_char)` compares one pattern character with one of
/// the text (the text is lower-cased there on the ASCII path).
fn wildcard<T: Copy + PartialEq + From<u8>>(
    pattern: &[T],
    text: &[T],
    eq: impl Fn(T, T) -> bool,
) -> bool {
    let star = T::from(b'*');
    let any = T::from(b'?');
    let (mut p, mut t) = (0, 0);
    let mut resume: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == any || eq(pattern[p], text[t])) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == star {
            resume = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = resume {
            p = sp + 1;
            t = st + 1;
            resume = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == star)
}

#[cfg(test)]
mod tests {
    use super::Glob;
    use proptest::prelude::*;

    /// A pattern shows itself as it was written (what the role model's problems and the
    /// explanation name).
    #[test]
    fn a_pattern_reads_back_as_written() {
        assert_eq!(Glob::new("GG-Ward*").as_str(), "GG-Ward*");
        assert!(Glob::new("GG-Ward7").is_literal());
        assert!(!Glob::new("GG-*").is_literal());
    }

    #[test]
    fn wildcards_and_case() {
        assert!(Glob::new("Sister*").matches("sister/charge nurse"));
        assert!(Glob::new("*bank*").matches("Nurse Bank - Medicine"));
        assert!(Glob::new("R80??").matches("r8001"));
        assert!(!Glob::new("R80??").matches("R800"));
        assert!(!Glob::new("Staff Nurse").matches("Staff Nurse Practitioner"));
        assert!(Glob::new("  Staff Nurse ").matches("staff nurse"));
        assert!(Glob::new("*").matches(""));
        assert!(!Glob::new("a*b").matches("a"));
    }

    proptest! {
        #[test]
        fn literal_matches_itself_in_any_case(s in "[A-Za-z0-9 /-]{0,20}") {
            prop_assert!(Glob::new(&s).matches(&s.to_uppercase()));
        }

        #[test]
        fn ascii_and_unicode_paths_agree(p in "[a-zA-Zë*? ]{0,8}", t in "[a-zA-Zë ]{0,10}") {
            // Forcing the Unicode path (a non-ASCII pattern char appended then removed is not
            // possible), compare against matching with both sides folded by hand.
            let g = Glob::new(&p);
            let slow = super::wildcard(&super::fold(&p), &super::fold(&t), |a, b| a == b);
            prop_assert_eq!(g.matches(&t), slow);
        }

        #[test]
        fn star_around_matches_any_containing_text(a in "[a-z]{0,6}", b in "[a-z]{1,6}", c in "[a-z]{0,6}") {
            let text = format!("{a}{b}{c}");
            let pattern = format!("*{}*", b);
            prop_assert!(Glob::new(&pattern).matches(&text));
        }
    }
}
