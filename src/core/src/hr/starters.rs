//! Linking a TRAC starter to their ESR record. A starter announced by TRAC is held as
//! `TRAC-<candidate reference>` and their accounts are prepared under that key; when ESR
//! first lists them under their employee number, the two are the same person. Matched on
//! name, first day and post; more than one candidate is reported, never guessed.

use super::Person;

/// The prefix of a provisional (TRAC) key.
pub const PROVISIONAL: &str = "TRAC-";

pub fn is_provisional(employee_number: &str) -> bool {
    employee_number.starts_with(PROVISIONAL)
}

/// What matching one ESR record against the provisional starters found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StarterMatch {
    None,
    /// Exactly one starter is this person: its key.
    One(String),
    /// Several could be: their keys, for a person to decide.
    Ambiguous(Vec<String>),
}

fn fold(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            c => c,
        })
        .collect()
}

fn same(a: Option<&str>, b: Option<&str>) -> Option<bool> {
    match (
        a.map(fold).filter(|s| !s.is_empty()),
        b.map(fold).filter(|s| !s.is_empty()),
    ) {
        (Some(a), Some(b)) => Some(a == b),
        _ => None,
    }
}

/// Whether provisional starter `s` is the ESR person `p`: the same family name, the same
/// given (or known-as) name, the same first day, and the same post where both say
/// (position number, else job role).
fn is_same(s: &Person, p: &Person) -> bool {
    fn given(x: &Person) -> [Option<&str>; 2] {
        [Some(x.given_name.as_str()), x.preferred_name.as_deref()]
    }
    let names = fold(s.family_name.as_str()) == fold(p.family_name.as_str())
        && given(s)
            .iter()
            .flatten()
            .any(|a| given(p).iter().flatten().any(|b| fold(a) == fold(b)));
    if !names || s.first_day() != p.first_day() || s.first_day().is_none() {
        return false;
    }
    let (sa, pa) = (s.primary(), p.primary());
    let post = same(
        sa.and_then(|a| a.position_number.as_deref()),
        pa.and_then(|a| a.position_number.as_deref()),
    )
    .or_else(|| {
        same(
            sa.and_then(|a| a.job_role.as_deref()),
            pa.and_then(|a| a.job_role.as_deref()),
        )
    });
    post != Some(false)
}

/// The provisional starter (among `starters`) that ESR person `person` is.
pub fn match_starter(person: &Person, starters: &[&Person]) -> StarterMatch {
    if is_provisional(person.employee_number.as_str()) {
        return StarterMatch::None;
    }
    let mut found: Vec<String> = starters
        .iter()
        .filter(|s| is_provisional(s.employee_number.as_str()) && is_same(s, person))
        .map(|s| s.employee_number.to_string())
        .collect();
    found.sort();
    match found.len() {
        0 => StarterMatch::None,
        1 => StarterMatch::One(found.remove(0)),
        _ => StarterMatch::Ambiguous(found),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hr::AssignmentStatus;
    use crate::testkit::{assignment, named};

    fn who(
        number: &str,
        given: &str,
        family: &str,
        role: &str,
        start: &str,
        position: Option<&str>,
    ) -> Person {
        let mut a = assignment(
            &format!("{number}-1"),
            AssignmentStatus::ActiveAssignment,
            "",
            role,
            "Ward 7",
            start,
            None,
        );
        a.position_number = position.map(crate::hr::Text::from);
        named(number, given, family, vec![a])
    }

    #[test]
    fn a_starter_is_linked_on_name_day_and_post_and_never_guessed() {
        let zoe = who(
            "TRAC-C-1",
            "Zoe",
            "O'Brien",
            "Staff Nurse",
            "2027-01-04",
            Some("P-0431"),
        );
        let sam = who("TRAC-C-2", "Sam", "Jones", "Porter", "2027-01-04", None);
        let esr = who(
            "20009999",
            "Zoë",
            "OBrien",
            "Staff Nurse",
            "2027-01-04",
            Some("P-0431"),
        );
        assert_eq!(
            match_starter(&esr, &[&zoe, &sam]),
            StarterMatch::One("TRAC-C-1".into())
        );
        // Another day, another post: not her.
        let later = who(
            "20009999",
            "Zoë",
            "O'Brien",
            "Staff Nurse",
            "2027-02-01",
            Some("P-0431"),
        );
        assert_eq!(match_starter(&later, &[&zoe]), StarterMatch::None);
        let other_post = who(
            "20009999",
            "Zoë",
            "O'Brien",
            "Staff Nurse",
            "2027-01-04",
            Some("P-0999"),
        );
        assert_eq!(match_starter(&other_post, &[&zoe]), StarterMatch::None);
        // Two starters who could both be her: reported, not guessed.
        let twin = who(
            "TRAC-C-3",
            "Zoe",
            "O'Brien",
            "Staff Nurse",
            "2027-01-04",
            None,
        );
        assert_eq!(
            match_starter(&esr, &[&zoe, &twin]),
            StarterMatch::Ambiguous(vec!["TRAC-C-1".into(), "TRAC-C-3".into()])
        );
    }
}
