//! Account names and name folding, shared by every connector that names accounts and by
//! correlation, which must find the name a connector would have given.
//!
//! Pure: a name is a function of the pattern and the person.

use crate::hr::Person;

/// One letter with its accent taken off (Zoë → e), or the letter itself.
fn plain(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' | 'ā' | 'À' | 'Á' | 'Â' | 'Ä' | 'Ã' | 'Å' | 'Ā' => {
            'a'
        }
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'È' | 'É' | 'Ê' | 'Ë' | 'Ē' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'Ì' | 'Í' | 'Î' | 'Ï' | 'Ī' => 'i',
        'ò' | 'ó' | 'ô' | 'ö' | 'õ' | 'ø' | 'ō' | 'Ò' | 'Ó' | 'Ô' | 'Ö' | 'Õ' | 'Ø' | 'Ō' => {
            'o'
        }
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'Ù' | 'Ú' | 'Û' | 'Ü' | 'Ū' => 'u',
        'ý' | 'ÿ' | 'Ý' => 'y',
        'ç' | 'Ç' | 'č' | 'Č' | 'ć' | 'Ć' => 'c',
        'ñ' | 'Ñ' | 'ń' | 'Ń' => 'n',
        'š' | 'Š' | 'ś' | 'Ś' => 's',
        'ž' | 'Ž' | 'ź' | 'Ź' | 'ż' | 'Ż' => 'z',
        'ł' | 'Ł' => 'l',
        c => c,
    }
}

/// Lower-case ASCII letters and digits of a name, accents taken off and everything else
/// (spaces, hyphens, apostrophes) dropped: Zoë → zoe, O'Brien → obrien, Smith-Jones →
/// smithjones. Two spellings of one name fold to the same text.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().map(plain) {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if c == 'ß' {
            out.push_str("ss");
        } else if c == 'æ' || c == 'Æ' {
            out.push_str("ae");
        }
    }
    out
}

/// The first name a person goes by: the known-as name when HR has one.
pub fn first_name(person: &Person) -> &str {
    person
        .preferred_name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(person.given_name.as_str())
}

/// The account name a pattern gives for a person, before collision handling: `{first}`
/// (the known-as name when there is one), `{last}`, `{f}` (first initial), folded.
pub fn base_name(pattern: &str, person: &Person, max_len: usize) -> String {
    let first = fold(first_name(person));
    let last = fold(person.family_name.as_str());
    let name = pattern
        .replace("{first}", &first)
        .replace("{last}", &last)
        .replace("{f}", first.get(..1).unwrap_or(""));
    let name = if name.is_empty() {
        fold(person.employee_number.as_str())
    } else {
        name
    };
    name.chars().take(max_len).collect()
}

/// The `n`th candidate for a name (1 is the name itself), kept within `max_len`.
pub fn candidate(base: &str, n: u32, max_len: usize) -> String {
    if n <= 1 {
        return base.to_string();
    }
    let suffix = n.to_string();
    let keep = max_len.saturating_sub(suffix.len());
    format!("{}{suffix}", base.chars().take(keep).collect::<String>())
}

/// How a target names new accounts, for the connectors that make names (LDAP) and for
/// correlation, which looks for the name (and its numbered forms) a person would get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Naming {
    pub pattern: String,
    pub max_len: usize,
}

impl Naming {
    /// The name a person would get, before collision handling.
    pub fn base(&self, person: &Person) -> String {
        base_name(&self.pattern, person, self.max_len)
    }

    /// Whether `account` is the name a person would get or one of its numbered forms
    /// (`name2` … `name999`), compared without regard to case.
    pub fn is_form_of(&self, base: &str, account: &str) -> bool {
        let account = account.to_ascii_lowercase();
        if base.is_empty() {
            return false;
        }
        if account == base {
            return true;
        }
        // A numbered form keeps as much of the base as fits beside its number.
        let digits = account.bytes().rev().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 3 || account.as_bytes()[account.len() - digits] == b'0' {
            return false;
        }
        let (stem, number) = account.split_at(account.len() - digits);
        let Ok(n) = number.parse::<u32>() else {
            return false;
        };
        n >= 2 && candidate(base, n, self.max_len) == format!("{stem}{number}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{named, nurse};

    #[test]
    fn folding_ignores_case_accents_hyphens_and_apostrophes() {
        assert_eq!(fold("Zoë O'Brien-Smith"), "zoeobriensmith");
        assert_eq!(fold("ZOE OBRIEN SMITH"), "zoeobriensmith");
        assert_eq!(fold("Łukasz Nowak"), "lukasznowak");
        assert_ne!(fold("Anne"), fold("Ann"));
        // Ligatures are written out in either case.
        assert_eq!(fold("Æsa Bæk"), "aesabaek");
        assert_eq!(fold("Strauß"), "strauss");
    }

    #[test]
    fn names_follow_the_pattern_and_collisions_get_numbers() {
        let p = nurse("20000001");
        assert_eq!(base_name("{f}{last}", &p, 20), "aokafor");
        assert_eq!(base_name("{first}.{last}", &p, 20), "amara.okafor");
        assert_eq!(candidate("aokafor", 1, 20), "aokafor");
        assert_eq!(candidate("aokafor", 2, 20), "aokafor2");
        assert_eq!(candidate("abcdefgh", 12, 8), "abcdef12");
        let mut known = named("20000002", "Margaret", "Jones", vec![]);
        known.preferred_name = Some("Peggy".into());
        assert_eq!(base_name("{f}{last}", &known, 20), "pjones");
    }

    #[test]
    fn numbered_forms_are_recognised_and_nothing_else() {
        let n = Naming {
            pattern: "{f}{last}".into(),
            max_len: 8,
        };
        assert!(n.is_form_of("aokafor", "AOkafor"));
        assert!(n.is_form_of("aokafor", "aokafor2"));
        assert!(n.is_form_of("abcdefgh", "abcdef12"));
        assert!(!n.is_form_of("aokafor", "aokafor1"));
        assert!(!n.is_form_of("aokafor", "aokafor02"));
        // Numbers run to three digits; a longer one is someone else's name.
        assert!(!n.is_form_of("aokafor", "aokafor1234"));
        assert!(!n.is_form_of("aokafor", "aokaforx"));
        assert!(!n.is_form_of("aokafor", "bokafor2"));
        assert!(!n.is_form_of("", "2"));
    }
}
