//! File feeds (CONTRACT §2): the ESR staff extract and TRAC new starters become HR events;
//! account exports become accounts for the offline drift report.
//!
//! Columns are found by name (case, spacing and punctuation ignored), files may start
//! with a UTF-8 BOM, dates are `dd/mm/yyyy` or `yyyy-mm-dd`. A bad row is reported with
//! its file and line and never stops the other rows. This module reads files it is given;
//! it never writes anything or reads the clock.
//!
//! **Every row is accounted for.** A file is read one physical line at a time, and each
//! line is one record: a quote left open, a field count that differs from the header's, a
//! line or field over its size limit, a control character or text that is not UTF-8 is an
//! error for *that line*, naming it, and the next line is read afresh. So one stray `"`
//! costs one row, never the rest of the file, and for any input
//! `rows read + rows reported = non-blank data lines`. Quoted fields may hold the
//! delimiter and `""`, but not a line break: no field of these feeds has one. Memory is
//! bounded whatever the input: a line is never held beyond [`Limits::max_line_bytes`].

pub mod esr;
pub mod export;
pub mod sponsored;
pub mod trac;

mod dates;
mod errors;
mod hashing;
mod limits;
mod table;

pub use dates::*;
pub use errors::*;
pub use hashing::*;
pub use limits::*;
pub use table::*;

use jiff::civil::Date;
use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::Path;

pub use turnstile_core::input::{RowError, printable};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every line a table gives: `Ok(fields)` or `Err(message)`, by line number.
    fn lines_of(text: &[u8], limits: &Limits) -> BTreeMap<u64, Result<Vec<String>, String>> {
        let mut t = Table::from_reader(
            "t.csv",
            Box::new(std::io::Cursor::new(text.to_vec())),
            limits,
        )
        .unwrap();
        let mut out = BTreeMap::new();
        while let Some(row) = t.next_row().unwrap() {
            let (line, value) = match row {
                Ok(r) => (
                    r.line,
                    Ok(r.record.iter(r.text).map(str::to_string).collect()),
                ),
                Err(e) => (e.line, Err(e.message)),
            };
            assert!(out.insert(line, value).is_none(), "line {line} given twice");
        }
        out
    }

    /// The digest a table works out as it reads is the file's own SHA-256, whether the
    /// table read every line or stopped after its header.
    #[test]
    fn a_digest_made_while_reading_is_the_whole_file_s() {
        use sha2::Digest as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("extract.csv");
        let mut text = String::from("Employee Number,First Name\n");
        for n in 0..20_000 {
            text.push_str(&format!("{n},Name {n}\n"));
        }
        std::fs::write(&path, &text).unwrap();
        let want = crate::audit::hex(&sha2::Sha256::digest(text.as_bytes()));
        let limits = Limits::default();

        let (mut table, digest) = Table::open_hashed(&path, &limits).unwrap();
        let mut rows = 0;
        while table.next_row().unwrap().is_some() {
            rows += 1;
        }
        drop(table);
        assert_eq!(rows, 20_000);
        assert_eq!(digest.finish().unwrap(), want, "read to the end");

        let (table, digest) = Table::open_hashed(&path, &limits).unwrap();
        drop(table);
        assert_eq!(digest.finish().unwrap(), want, "stopped after the header");

        // Still held by the table: the digest is of what it read, then of the rest.
        let (mut table, digest) = Table::open_hashed(&path, &limits).unwrap();
        assert!(table.next_row().unwrap().is_some());
        assert_eq!(digest.finish().unwrap(), want, "table still open");
        assert!(table.next_row().unwrap().is_some());
        assert_eq!(sha256_of(&path).unwrap(), want, "the file alone");
    }

    #[test]
    fn a_stray_quote_costs_its_own_line_only() {
        let text = "Employee Number,First Name,Last Name\n\
1,Amara,Okafor\n\
2,\"Ben,Cole\n\
3,Cy,\"Dee, Jr\"\n\
4,Di,\"O\"\"Brien\"\n\
5,Ed,Extra,field\n\
\n\
6,Fi\r\n\
7,Gus,Hay\r\n";
        let got = lines_of(text.as_bytes(), &Limits::default());
        assert_eq!(
            got[&2],
            Ok(vec!["1".into(), "Amara".into(), "Okafor".into()])
        );
        assert!(
            got[&3]
                .as_ref()
                .unwrap_err()
                .contains("quote opened in field 2 is not closed"),
            "{:?}",
            got[&3]
        );
        assert_eq!(got[&4], Ok(vec!["3".into(), "Cy".into(), "Dee, Jr".into()]));
        assert_eq!(
            got[&5],
            Ok(vec!["4".into(), "Di".into(), "O\"Brien".into()])
        );
        assert!(
            got[&6]
                .as_ref()
                .unwrap_err()
                .contains("4 field(s) where the header has 3")
        );
        assert!(!got.contains_key(&7), "a blank line is no row");
        assert!(got[&8].as_ref().unwrap_err().contains("2 field(s)"));
        assert_eq!(got[&9], Ok(vec!["7".into(), "Gus".into(), "Hay".into()]));
        assert_eq!(got.len(), 7);
    }

    #[test]
    fn lines_fields_control_characters_and_text_that_is_not_utf8_are_named() {
        let limits = Limits {
            max_line_bytes: 1024,
            max_field_bytes: 64,
            ..Limits::default()
        };
        let mut text = b"A,B\n1,ok\n".to_vec();
        text.extend_from_slice(format!("2,{}\n", "x".repeat(5000)).as_bytes());
        text.extend_from_slice(format!("3,{}\n", "y".repeat(100)).as_bytes());
        text.extend_from_slice(b"4,Zo\xeb\n5,esc\x1b[2J\n6,fine\n");
        let got = lines_of(&text, &limits);
        assert!(got[&2].is_ok());
        assert!(
            got[&3]
                .as_ref()
                .unwrap_err()
                .contains("over the limit of 1024")
        );
        assert!(
            got[&4]
                .as_ref()
                .unwrap_err()
                .contains("`B` is 100 bytes long")
        );
        // Not UTF-8: read as Windows-1252 (auto), or an error when UTF-8 is demanded.
        assert_eq!(got[&5], Ok(vec!["4".into(), "Zoë".into()]));
        let strict = Limits {
            encoding: Encoding::Utf8,
            ..limits.clone()
        };
        let got_strict = lines_of(&text, &strict);
        assert!(got_strict[&5].as_ref().unwrap_err().contains("not UTF-8"));
        let esc = got[&6].as_ref().unwrap_err();
        assert!(
            esc.contains("`B` holds a control character (\\u{1b})"),
            "{esc}"
        );
        assert_eq!(got[&7], Ok(vec!["6".into(), "fine".into()]));
        // What is printed never carries the raw control character.
        let e = RowError {
            file: "f".into(),
            line: 1,
            message: "bad \u{1b}[2J name".into(),
        };
        assert_eq!(e.to_string(), "f:1: bad \\u{1b}[2J name");
    }

    #[test]
    fn an_endless_line_or_header_is_refused_in_bounded_memory() {
        let limits = Limits {
            max_line_bytes: 4096,
            ..Limits::default()
        };
        let zeros = std::io::repeat(0).take(50 << 20);
        let err = Table::from_reader("zero", Box::new(zeros), &limits)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("longer than 4096 bytes"), "{err}");
        let mut text = b"A,B\n".to_vec();
        text.extend(std::iter::repeat_n(b'z', 1 << 20));
        text.extend_from_slice(b"\n1,2\n");
        let got = lines_of(&text, &limits);
        assert!(got[&2].is_err());
        assert_eq!(got[&3], Ok(vec!["1".into(), "2".into()]));
    }

    #[test]
    fn a_column_named_twice_is_refused_when_it_is_read() {
        let t = Table::from_reader(
            "t.csv",
            Box::new(std::io::Cursor::new(
                b"Employee Number,Name,employee_number\n".to_vec(),
            )),
            &Limits::default(),
        )
        .unwrap();
        let err = t.column("Employee Number").unwrap_err().to_string();
        assert!(
            err.contains("names `Employee Number` twice (columns 1 and 3)"),
            "{err}"
        );
        assert_eq!(t.column("Name").unwrap(), Some(1));
    }

    #[test]
    fn too_many_bad_rows_refuse_the_file() {
        let mut e = RowErrors::new(&Limits::default());
        for line in 0..6 {
            e.row(RowError {
                file: "f".into(),
                line,
                message: "bad".into(),
            });
        }
        assert!(e.check_share("f", 200, 0.05).is_ok());
        let mut two = RowErrors::new(&Limits::default());
        two.row(e.listed[0].clone());
        two.row(e.listed[1].clone());
        assert!(
            two.check_share("f", 2, 0.05).is_ok(),
            "two typos never refuse a file"
        );
        let err = e.check_share("f", 100, 0.05).unwrap_err().to_string();
        assert!(err.contains("6 of its 100 rows are bad"), "{err}");
    }

    #[test]
    fn row_errors_past_the_limit_are_counted_not_kept() {
        let mut e = RowErrors::new(&Limits {
            max_listed_errors: 3,
            ..Limits::default()
        });
        for line in 0..10 {
            e.row(RowError {
                file: "f".into(),
                line,
                message: "bad".into(),
            });
        }
        assert_eq!((e.listed.len(), e.unlisted, e.bad_rows), (3, 7, 10));
        let lines: Vec<String> = e.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[3].contains("7 more error(s)"));
    }

    /// A corruption of one line of a good file.
    #[derive(Debug, Clone)]
    enum Damage {
        StrayQuote(usize),
        Cut(usize),
        ExtraField,
        MissingField,
        Blank,
    }

    proptest! {
        /// Fields come back as written, whether the line is split in place (no quote on
        /// it) or unquoted into a copy; with a comma, a semicolon or a tab between them.
        #[test]
        fn fields_come_back_as_written(
            fields in proptest::collection::vec("[a-z ,;\t\"é]{0,6}", 1..8),
            delimiter in proptest::sample::select(vec![b',', b';', b'\t']),
            quote_all in any::<bool>(),
        ) {
            let d = char::from(delimiter);
            let line: Vec<String> = fields
                .iter()
                .map(|f| {
                    if quote_all || f.contains(d) || f.contains('"') {
                        format!("\"{}\"", f.replace('"', "\"\""))
                    } else {
                        f.clone()
                    }
                })
                .collect();
            let line = line.join(&d.to_string());
            let mut record = Record::default();
            split_line(&line, delimiter, &mut record).unwrap();
            let back: Vec<&str> = record.iter(&line).collect();
            prop_assert_eq!(back, fields.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }

    fn damage() -> impl Strategy<Value = Damage> {
        prop_oneof![
            (0usize..40).prop_map(Damage::StrayQuote),
            (0usize..40).prop_map(Damage::Cut),
            Just(Damage::ExtraField),
            Just(Damage::MissingField),
            Just(Damage::Blank),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever is done to a file's lines, every non-blank data line is either read,
        /// with its own fields when it was not damaged, or reported with its own line
        /// number, exactly once: the counts add up.
        #[test]
        fn every_row_is_read_or_reported(
            rows in proptest::collection::vec(("[a-zA-Z ,']{0,12}", "[0-9]{1,8}"), 1..40),
            damages in proptest::collection::vec((0usize..40, damage()), 0..12),
            crlf in any::<bool>(),
        ) {
            let quote = |f: &str| if f.contains(',') { format!("\"{f}\"") } else { f.to_string() };
            let mut lines: Vec<String> = rows
                .iter()
                .map(|(name, n)| format!("{},{},x", n, quote(name)))
                .collect();
            let mut damaged = std::collections::BTreeSet::new();
            for (at, d) in &damages {
                let i = at % lines.len();
                let l = &mut lines[i];
                match d {
                    Damage::StrayQuote(p) => {
                        let p = (*p).min(l.len());
                        l.insert(p, '"');
                    }
                    Damage::Cut(p) => l.truncate((*p).min(l.len())),
                    Damage::ExtraField => l.push_str(",more"),
                    Damage::MissingField => {
                        if let Some(p) = l.rfind(',') {
                            l.truncate(p);
                        }
                    }
                    Damage::Blank => l.clear(),
                }
                damaged.insert(i);
            }
            let end = if crlf { "\r\n" } else { "\n" };
            let text = format!("N,Name,X{end}{}{end}", lines.join(end));
            let got = lines_of(text.as_bytes(), &Limits::default());
            let expected_lines: Vec<u64> = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| !l.chars().all(|c| c.is_ascii_whitespace() || c == ','))
                .map(|(i, _)| i as u64 + 2)
                .collect();
            prop_assert_eq!(got.keys().copied().collect::<Vec<_>>(), expected_lines);
            for (i, (name, n)) in rows.iter().enumerate() {
                if !damaged.contains(&i) {
                    let want = vec![n.clone(), name.clone(), "x".to_string()];
                    prop_assert_eq!(got.get(&(i as u64 + 2)), Some(&Ok(want)));
                }
            }
        }
    }

    proptest! {
        /// Dates read digit by digit come out as the general reading gives them, and
        /// whatever that refuses is still refused.
        #[test]
        fn full_dates_read_as_the_general_reading_reads_them(
            text in "[0-9]{2}/[0-9]{2}/[0-9]{4}|[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9/ -]{8,12}|[0-9a/-]{10}"
        ) {
            prop_assert_eq!(parse_date(&text), general_date(text.trim()));
        }

        /// The quick trim trims as `str::trim` does, whatever the cell.
        #[test]
        fn the_quick_trim_trims_as_str_trims(cell in "[ \\t\\n\\x0b\\x0c\\r\\x1c\\u{85}\\u{a0}\\u{3000}a-z\\PC]{0,12}") {
            prop_assert_eq!(trim(&cell), cell.trim());
        }
    }

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
    fn windows_1252_maps_its_own_table_and_latin_1() {
        assert_eq!(
            windows_1252(b"Zo\xeb Si\xe2n \x80 \x96 \x93 \x81"),
            "Zoë Siân € – “ \u{fffd}"
        );
    }

    #[test]
    fn separators_are_found_in_the_header() {
        assert_eq!(detect_delimiter("a,b,c"), b',');
        assert_eq!(detect_delimiter("\"a\";\"b,c\";\"d\""), b';');
        assert_eq!(detect_delimiter("a\tb\tc"), b'\t');
        assert_eq!(detect_delimiter("single"), b',');
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
