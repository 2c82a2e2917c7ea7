//! Checked strings of the HR event. Each mirrors one `$defs` entry of
//! `schemas/hr-event.v1.schema.json`, so the schema and these types refuse the same text.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Text of up to [`Short::INLINE`] bytes held in place, longer text on the heap: 16
/// bytes, and 16 as an `Option` too, where a `CompactString` takes 24 for its 24 bytes in
/// place. What the checked strings below are made of: a person holds several (an employee
/// number, names, a line manager, an assignment number and supervisor), nearly all short,
/// and at national scale 8 bytes less each is some 85 MB. Compares, orders and hashes as
/// the text it holds.
#[derive(Clone)]
enum Short {
    Inline {
        len: u8,
        bytes: [u8; Short::INLINE],
    },
    /// One pointer wide (the text's length lives with the text), so the whole is 16.
    Heap(Box<Box<str>>),
}

impl Short {
    const INLINE: usize = 14;

    fn new(text: &str) -> Short {
        match u8::try_from(text.len()) {
            Ok(len) if text.len() <= Self::INLINE => {
                let mut bytes = [0u8; Self::INLINE];
                bytes[..text.len()].copy_from_slice(text.as_bytes());
                Short::Inline { len, bytes }
            }
            _ => Short::Heap(Box::new(text.into())),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Whole text copied in: always UTF-8, the check never fails.
            Short::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Short::Heap(text) => text,
        }
    }

    /// The text's bytes, not checked again: what comparing, ordering and hashing read
    /// (UTF-8 orders byte by byte as its characters do).
    fn as_bytes(&self) -> &[u8] {
        match self {
            Short::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            Short::Heap(text) => text.as_bytes(),
        }
    }
}

impl PartialEq for Short {
    fn eq(&self, other: &Short) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Short {}

impl PartialOrd for Short {
    fn partial_cmp(&self, other: &Short) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Short {
    fn cmp(&self, other: &Short) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::hash::Hash for Short {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As `str` hashes.
        state.write(self.as_bytes());
        state.write_u8(0xff);
    }
}

impl fmt::Debug for Short {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $check:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        // Inline up to 14 bytes (an employee number, a name, an assignment number) in
        // 16: no allocation of its own, where a national extract has a score of them
        // per person (see [`Short`]).
        pub struct $name(Short);

        impl $name {
            /// Checks `text`, returning what is wrong with it otherwise.
            pub fn parse(text: &str) -> Result<Self, String> {
                let check: fn(&str) -> bool = $check;
                if check(text) {
                    Ok($name(Short::new(text)))
                } else {
                    Err(format!(concat!("\"{}\" is not ", $what), text))
                }
            }

            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.0.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                $name::parse(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

checked_string!(
    /// An ESR employee number (or a provisional `TRAC-…` reference): 1–32 letters, digits,
    /// `-`, `_` or `:`, starting with a letter or digit.
    EmployeeNumber,
    |t| {
        let mut chars = t.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
            && t.len() <= 32
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'))
    },
    "an employee number (1-32 letters, digits, '-', '_' or ':')"
);

checked_string!(
    /// A smartcard UUID (SDS user ID): exactly 12 digits.
    SdsUserId,
    |t| t.len() == 12 && t.bytes().all(|b| b.is_ascii_digit()),
    "a smartcard UUID (12 digits)"
);

checked_string!(
    /// Text that must hold at least one non-space character.
    NonBlank,
    |t| t.chars().any(|c| !c.is_whitespace()),
    "allowed to be blank"
);

/// A calendar date written `yyyy-mm-dd` (RFC 3339 full-date), in Europe/London.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IsoDate(pub Date);

impl IsoDate {
    pub fn parse(text: &str) -> Result<IsoDate, String> {
        let b = text.as_bytes();
        let shaped = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shaped {
            return Err(format!("\"{text}\" is not a date written yyyy-mm-dd"));
        }
        text.parse::<Date>()
            .map(IsoDate)
            .map_err(|_| format!("\"{text}\" is not a real calendar date"))
    }
}

impl fmt::Display for IsoDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for IsoDate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for IsoDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        IsoDate::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An instant written as RFC 3339 `date-time` with a `Z` or numeric offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rfc3339(pub Timestamp);

impl Rfc3339 {
    pub fn parse(text: &str) -> Result<Rfc3339, String> {
        if !rfc3339_shape(text.as_bytes()) {
            return Err(format!(
                "\"{text}\" is not an RFC 3339 date-time such as 2026-11-23T09:15:00Z"
            ));
        }
        text.parse::<Timestamp>()
            .map(Rfc3339)
            .map_err(|_| format!("\"{text}\" is not a real instant"))
    }
}

/// `yyyy-mm-ddThh:mm:ss[.fraction](Z|+hh:mm|-hh:mm)`, `T` and `Z` in either case.
fn rfc3339_shape(b: &[u8]) -> bool {
    fn digits(b: &[u8]) -> bool {
        !b.is_empty() && b.iter().all(u8::is_ascii_digit)
    }
    if b.len() < 20 || IsoDate::parse(&String::from_utf8_lossy(&b[..10])).is_err() {
        return false;
    }
    if !matches!(b[10], b'T' | b't')
        || !digits(&b[11..13])
        || b[13] != b':'
        || !digits(&b[14..16])
        || b[16] != b':'
        || !digits(&b[17..19])
    {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(after_dot) = rest.strip_prefix(b".") {
        let n = after_dot.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &after_dot[n..];
    }
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => digits(&[*h1, *h2, *m1, *m2]),
        _ => false,
    }
}

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Rfc3339 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Rfc3339::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Text that many records share (a staff group, a job role, an organisation, a title, a
/// known-as name): one copy, counted, however many records hold it. Reads, compares,
/// serialises and prints as the plain text it holds; a national extract has a million
/// and a half assignments and a few hundred distinct values in each of these fields. One
/// pointer wide (the text's length lives with the text): an assignment holds eight.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shared(std::sync::Arc<Box<str>>);

impl Shared {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where the one copy lives: two `Shared` alive at once with the same identity hold
    /// the same text (the same text may still have two copies, from two interners).
    pub fn identity(&self) -> usize {
        std::sync::Arc::as_ptr(&self.0) as usize
    }
}

impl std::borrow::Borrow<str> for Shared {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Shared {
    fn from(text: &str) -> Shared {
        Shared(std::sync::Arc::new(text.into()))
    }
}

impl From<String> for Shared {
    fn from(text: String) -> Shared {
        Shared(std::sync::Arc::new(text.into_boxed_str()))
    }
}

/// A record's own free text (a work email, a position number):
/// held inline up to 24 bytes, so most cost no allocation of their own. Reads, compares,
/// serialises and prints as the plain text it holds.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(compact_str::CompactString);

impl Text {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Text {
        Text(text.into())
    }
}

impl From<String> for Text {
    fn from(text: String) -> Text {
        Text(text.into())
    }
}

/// What [`Shared`] and [`Text`] share: each reads, compares, prints and serialises as the
/// plain text it holds (through its `as_str` and `From<&str>`).
macro_rules! reads_as_text {
    ($name:ident) => {
        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                self.as_str()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // Read as a borrowed str where the parser can give one: no String first.
                struct Visit;
                impl serde::de::Visitor<'_> for Visit {
                    type Value = $name;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a string")
                    }

                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok($name::from(v))
                    }
                }
                d.deserialize_str(Visit)
            }
        }
    };
}

reads_as_text!(Shared);
reads_as_text!(Text);

/// Hands out one [`Shared`] per distinct text: a reader of a large extract keeps one.
#[derive(Default)]
pub struct Interner(crate::fast::FastSet<Shared>);

impl Interner {
    pub fn get(&mut self, text: &str) -> Shared {
        if let Some(s) = self.0.get(text) {
            return s.clone();
        }
        let s = Shared::from(text);
        self.0.insert(s.clone());
        s
    }
}

#[cfg(test)]
mod shared_tests {
    use super::*;

    #[test]
    fn text_from_an_owned_string_reads_as_it() {
        assert_eq!(Text::from(String::from("Ward 7")).as_str(), "Ward 7");
    }

    #[test]
    fn an_interner_hands_out_one_copy_per_text_that_reads_as_the_text() {
        let mut i = Interner::default();
        let a = i.get("Nursing and Midwifery Registered");
        let b = i.get("Nursing and Midwifery Registered");
        let c = i.get("Allied Health Professionals");
        assert!(
            std::sync::Arc::ptr_eq(&a.0, &b.0),
            "the same text, one copy"
        );
        assert!(!std::sync::Arc::ptr_eq(&a.0, &c.0));
        assert_eq!(a, "Nursing and Midwifery Registered");
        assert_eq!(
            serde_json::to_string(&Some(a.clone())).unwrap(),
            serde_json::to_string(&Some("Nursing and Midwifery Registered")).unwrap()
        );
        let back: Shared = serde_json::from_str("\"Ward 7\"").unwrap();
        assert_eq!(back.as_str(), "Ward 7");
        let escaped: Shared = serde_json::from_str("\"Ward \\\"7\\\"\"").unwrap();
        assert_eq!(escaped.as_str(), "Ward \"7\"");
        assert!(serde_json::from_str::<Shared>("7").is_err());
        assert_eq!(
            format!("{a} / {c:?}"),
            "Nursing and Midwifery Registered / \"Allied Health Professionals\""
        );
    }

    #[test]
    fn shared_and_own_text_stay_small() {
        // An assignment holds eight shared texts; a national extract 1.5 million of them.
        assert_eq!(std::mem::size_of::<Option<Shared>>(), 8);
        assert_eq!(std::mem::size_of::<Option<Text>>(), 24);
        let email = Text::from("amara.okafor@nhs.net");
        assert!(!email.0.is_heap_allocated(), "a short text is held inline");
        assert_eq!(email, "amara.okafor@nhs.net");
        assert_eq!(
            serde_json::to_string(&Some(email.clone())).unwrap(),
            "\"amara.okafor@nhs.net\""
        );
        let back: Option<Text> = serde_json::from_str("\"Ward \\\"7\\\"\"").unwrap();
        assert_eq!(back.as_deref(), Some("Ward \"7\""));
        assert!(serde_json::from_str::<Text>("7").is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    /// The checked strings compare with `<` and `partial_cmp` as their text does, held in
    /// place or on the heap (what sorting people by name or number relies on).
    #[test]
    fn text_orders_with_partial_cmp_as_its_text() {
        let long = "a name longer than fourteen bytes";
        for (a, b) in [("Adams", "Baker"), ("Adams", long), (long, "b")] {
            let (x, y) = (NonBlank::parse(a).unwrap(), NonBlank::parse(b).unwrap());
            assert_eq!(x.partial_cmp(&y), Some(a.cmp(b)), "{a} against {b}");
            assert_eq!(x < y, a < b, "{a} < {b}");
            assert_eq!(x.partial_cmp(&x.clone()), Some(Ordering::Equal));
        }
    }
}
