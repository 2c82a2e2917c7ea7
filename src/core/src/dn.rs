//! Escaping of values placed in distinguished names (RFC 4514) and search filters
//! (RFC 4515). Every value that comes from HR or config passes through here before it
//! reaches the directory: names such as O'Brien, Zoë, "Smith, Jr" or `a*b(c)\` must neither
//! break a DN nor widen a filter.

/// Escapes a value for use as an attribute value in a DN (RFC 4514 §2.4).
pub fn dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Reads an escaped DN attribute value back (the inverse of [`dn_value`]); `None` when the
/// escaping is malformed.
pub fn dn_value_unescape(escaped: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(escaped.len());
    let b = escaped.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let next = *b.get(i + 1)?;
            if next.is_ascii_hexdigit() {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                bytes.push(next);
                i += 2;
            }
        } else {
            bytes.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(bytes).ok()
}

/// Splits a DN into its first RDN and the parent DN, honouring escaped commas.
pub fn split_dn(dn: &str) -> (&str, Option<&str>) {
    let bytes = dn.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b',' => return (&dn[..i], Some(&dn[i + 1..])),
            _ => i += 1,
        }
    }
    (dn, None)
}

/// The value of a DN's first RDN, unescaped: `CN=GG-Nursing\, Ward 7,OU=Groups,…` →
/// `GG-Nursing, Ward 7` (as AD's `memberOf` names groups).
pub fn first_value(dn: &str) -> String {
    let (rdn, _) = split_dn(dn);
    let value = rdn.split_once('=').map_or(rdn, |(_, v)| v).trim();
    dn_value_unescape(value).unwrap_or_else(|| value.to_string())
}

/// Escapes a value for use inside a search filter (RFC 4515 §3).
pub fn filter_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    for c in value.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// Reads an escaped filter value back (the inverse of [`filter_value`]).
pub fn filter_value_unescape(escaped: &str) -> Option<String> {
    let b = escaped.as_bytes();
    let mut bytes = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            bytes.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A DN splits at its first unescaped comma into the first RDN and the parent; the
    /// value of the first RDN is what AD's memberOf names a group by.
    #[test]
    fn a_dn_splits_at_its_first_unescaped_comma() {
        assert_eq!(
            split_dn("uid=aokafor,ou=Staff,dc=example"),
            ("uid=aokafor", Some("ou=Staff,dc=example"))
        );
        assert_eq!(
            split_dn("CN=GG-Nursing\\, Ward 7,OU=Groups"),
            ("CN=GG-Nursing\\, Ward 7", Some("OU=Groups"))
        );
        assert_eq!(split_dn("dc=example"), ("dc=example", None));
        assert_eq!(
            first_value("CN=GG-Nursing,OU=Groups,DC=trust"),
            "GG-Nursing"
        );
        // A comma written as a hex escape, as some directories return it.
        assert_eq!(first_value("CN=Smith\\2C John,OU=Staff"), "Smith, John");
    }

    #[test]
    fn awkward_names() {
        assert_eq!(dn_value("O'Brien"), "O'Brien");
        assert_eq!(dn_value("Zoë"), "Zoë");
        assert_eq!(dn_value("Smith, Jr"), "Smith\\, Jr");
        assert_eq!(dn_value("a*b(c)\\"), "a*b(c)\\\\");
        assert_eq!(dn_value(" #lead and trail "), "\\ #lead and trail\\ ");
        assert_eq!(dn_value("#x"), "\\#x");
        assert_eq!(dn_value("a=b+c"), "a\\=b\\+c");
        assert_eq!(dn_value("a\u{1}b"), "a\\01b");
        assert_eq!(dn_value("a\u{7f}"), "a\\7f");
        assert_eq!(filter_value("a*b(c)\\"), "a\\2ab\\28c\\29\\5c");
        assert_eq!(filter_value("O'Brien"), "O'Brien");
        assert_eq!(
            filter_value("*"),
            "\\2a",
            "a wildcard never widens a search"
        );
    }

    /// True when every special character in an escaped DN value is escaped.
    fn dn_safe(escaped: &str) -> bool {
        let mut chars = escaped.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.next().is_none() => return false,
                '\\' => {}
                '"' | '+' | ',' | ';' | '<' | '>' | '=' | '\0' => return false,
                _ => {}
            }
        }
        true
    }

    proptest! {
        #[test]
        fn dn_values_round_trip(s in "\\PC{0,24}|[ #,+\"\\\\<>;=a-zë'*()]{0,12}") {
            let e = dn_value(&s);
            prop_assert!(dn_safe(&e), "{:?} -> {:?}", s, e);
            prop_assert!(!e.starts_with(' ') && !e.starts_with('#'));
            prop_assert!(!e.ends_with(' ') || e.ends_with("\\ "));
            prop_assert_eq!(dn_value_unescape(&e), Some(s));
        }

        #[test]
        fn filter_values_round_trip(s in "\\PC{0,24}|[*()\\\\\u{0}a-zë' ]{0,12}") {
            let e = filter_value(&s);
            prop_assert!(!e.contains(['*', '(', ')', '\0']), "{:?} -> {:?}", s, e);
            prop_assert_eq!(filter_value_unescape(&e), Some(s));
        }
    }
}
