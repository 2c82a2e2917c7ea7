//! Case-insensitive wildcard patterns for role rules and generic-account names:
//! `*` matches any run of characters, `?` exactly one; everything else is literal.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    folded: Vec<char>,
}

impl Glob {
    pub fn new(text: &str) -> Glob {
        Glob {
            text: text.to_string(),
            folded: fold(text),
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
        wildcard(&self.folded, &fold(candidate))
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

/// Iterative wildcard match with single backtrack point: linear in practice, never
/// exponential.
fn wildcard(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::Glob;
    use proptest::prelude::*;

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
        fn star_around_matches_any_containing_text(a in "[a-z]{0,6}", b in "[a-z]{1,6}", c in "[a-z]{0,6}") {
            let text = format!("{a}{b}{c}");
            let pattern = format!("*{}*", b);
            prop_assert!(Glob::new(&pattern).matches(&text));
        }
    }
}
