//! The CSV table reader every feed and export reader shares: headers found by name, delimiters detected, quoting checked, every row read or reported with its line.

use super::*;

/// Lower-case letters and digits only: how column names are compared.
pub fn normalise_header(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}
/// One record's fields as spans: of the line itself when it has no quote (nearly every
/// line: nothing is copied), else of `copied`, which holds the fields unquoted. Both lists
/// are reused from row to row.
#[derive(Debug, Default)]
pub(super) struct Record {
    pub(super) copied: String,
    pub(super) in_copied: bool,
    pub(super) spans: Vec<(u32, u32)>,
}
impl Record {
    fn len(&self) -> usize {
        self.spans.len()
    }

    fn get<'a>(&'a self, line: &'a str, i: usize) -> Option<&'a str> {
        let (start, end) = *self.spans.get(i)?;
        let text = if self.in_copied { &self.copied } else { line };
        text.get(start as usize..end as usize)
    }

    pub(super) fn iter<'a>(&'a self, line: &'a str) -> impl Iterator<Item = &'a str> {
        (0..self.len()).filter_map(move |i| self.get(line, i))
    }
}
/// Splits one line into fields: RFC 4180 within a line (quoted fields may hold the
/// delimiter and `""`). Text after a closing quote is kept, as spreadsheet tools do. A
/// quote still open at the end of the line is an error: the line break is never taken
/// into the field. Lines are at most `max_line_bytes` (u32 spans).
pub(super) fn split_line(line: &str, delimiter: u8, out: &mut Record) -> Result<(), String> {
    out.spans.clear();
    let bytes = line.as_bytes();
    if memchr::memchr(b'"', bytes).is_none() {
        out.in_copied = false;
        let mut start = 0u32;
        for end in memchr::memchr_iter(delimiter, bytes) {
            out.spans.push((start, end as u32));
            start = end as u32 + 1;
        }
        out.spans.push((start, bytes.len() as u32));
        return Ok(());
    }
    out.in_copied = true;
    out.copied.clear();
    let mut i = 0;
    loop {
        let field_start = i;
        let copied_start = out.copied.len() as u32;
        if bytes.get(i) == Some(&b'"') {
            i += 1;
            loop {
                match bytes[i..].iter().position(|&b| b == b'"') {
                    None => {
                        return Err(format!(
                            "a quote opened in field {} is not closed on this line (a field cannot span lines): remove the stray `\"` or close it",
                            out.spans.len() + 1
                        ));
                    }
                    Some(q) => {
                        out.copied.push_str(&line[i..i + q]);
                        i += q + 1;
                        if bytes.get(i) == Some(&b'"') {
                            out.copied.push('"');
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
            }
            let rest = bytes[i..]
                .iter()
                .position(|&b| b == delimiter)
                .map_or(bytes.len(), |p| i + p);
            out.copied.push_str(&line[i..rest]);
            i = rest;
        } else {
            let end = bytes[i..]
                .iter()
                .position(|&b| b == delimiter)
                .map_or(bytes.len(), |p| i + p);
            out.copied.push_str(&line[field_start..end]);
            i = end;
        }
        out.spans.push((copied_start, out.copied.len() as u32));
        if i >= bytes.len() {
            return Ok(());
        }
        i += 1; // the delimiter
        if i == bytes.len() {
            let end = out.copied.len() as u32;
            out.spans.push((end, end));
            return Ok(());
        }
    }
}
/// An Excel workbook (xlsx is a zip file; xls a compound document) rather than text.
pub(super) fn is_workbook(first: &[u8]) -> bool {
    first.starts_with(b"PK\x03\x04") || first.starts_with(&[0xD0, 0xCF, 0x11, 0xE0])
}
/// What one physical line gave.
pub(super) enum Line {
    End,
    Blank,
    Text,
    TooLong(u64),
    NotUtf8,
}
/// A CSV file read line by line, with its columns found by name.
pub struct Table {
    pub(super) file: String,
    pub(super) limits: Limits,
    pub(super) columns: BTreeMap<String, Vec<usize>>,
    pub(super) headers: Vec<String>,
    pub(super) input: Box<dyn BufRead>,
    /// The line as read, until it is known to be text; then it moves to `text` (no copy).
    pub(super) buf: Vec<u8>,
    pub(super) text: String,
    pub(super) line: u64,
    pub(super) record: Record,
    /// The fields of the last bad line, split leniently, for [`Table::salvage`].
    pub(super) salvage: Vec<String>,
    /// `,`, `;` or a tab: whichever the header uses.
    pub(super) delimiter: u8,
    /// The file's own names for CONTRACT columns (normalised CONTRACT name → its name).
    pub(super) renames: BTreeMap<String, String>,
}
/// The separator a header line uses: the most frequent of `,`, `;` and tab outside quotes
/// (a comma when there is none, a one-column file).
pub(super) fn detect_delimiter(line: &str) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for b in line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted && let Some(c) = counts.iter_mut().find(|(d, _)| *d == b) {
            c.1 += 1;
        }
    }
    counts
        .iter()
        .copied()
        .max_by_key(|&(d, n)| (n, d == b','))
        .filter(|&(_, n)| n > 0)
        .map_or(b',', |(d, _)| d)
}
/// The file at `path`, with the name its errors give.
pub(super) fn open_file(path: &Path) -> Result<(String, std::fs::File), FeedError> {
    let file = path.display().to_string();
    match std::fs::File::open(path) {
        Ok(handle) => Ok((file, handle)),
        Err(source) => Err(FeedError::Io { file, source }),
    }
}
impl Table {
    pub fn open(path: &Path, limits: &Limits) -> Result<Table, FeedError> {
        let (file, handle) = open_file(path)?;
        Table::from_reader(&file, Box::new(handle), limits)
    }

    /// [`Table::open`], with the file's [`Digest`] worked out as it is read.
    pub fn open_hashed(path: &Path, limits: &Limits) -> Result<(Table, Digest), FeedError> {
        let (file, handle) = open_file(path)?;
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Default::default()));
        let input = Hashing {
            file: handle,
            seen: seen.clone(),
        };
        let table = Table::from_reader(&file, Box::new(input), limits)?;
        let digest = Digest {
            path: path.to_path_buf(),
            seen,
        };
        Ok((table, digest))
    }

    pub fn from_reader(
        file: &str,
        input: Box<dyn Read>,
        limits: &Limits,
    ) -> Result<Table, FeedError> {
        let mut t = Table {
            file: file.into(),
            limits: limits.clone(),
            columns: BTreeMap::new(),
            headers: Vec::new(),
            input: Box::new(std::io::BufReader::with_capacity(1 << 16, input)),
            buf: Vec::new(),
            text: String::new(),
            line: 0,
            record: Record::default(),
            salvage: Vec::new(),
            delimiter: b',',
            renames: BTreeMap::new(),
        };
        let bad_header = |detail: String| FeedError::BadHeader {
            file: file.into(),
            detail,
        };
        loop {
            match t.read_line()? {
                Line::End => return Err(FeedError::NoHeader { file: file.into() }),
                Line::Blank if t.line == 1 => {
                    return Err(FeedError::NoHeader { file: file.into() });
                }
                Line::Blank => continue,
                Line::TooLong(n) => {
                    return Err(bad_header(format!(
                        "it is longer than {} bytes ({n} bytes before it was cut off); is this a CSV file?",
                        t.limits.max_line_bytes
                    )));
                }
                Line::NotUtf8 => {
                    return Err(bad_header(
                        "it is not UTF-8 text; save the file as CSV UTF-8".into(),
                    ));
                }
                Line::Text => {
                    // Windows PowerShell 5.1's `Export-Csv` (without -NoTypeInformation)
                    // puts the object's type on the first line, before the header.
                    if t.line == 1 && t.text.starts_with("#TYPE") {
                        continue;
                    }
                    break;
                }
            }
        }
        let text = t.text.trim_start_matches('\u{feff}');
        t.delimiter = detect_delimiter(text);
        let mut header = Record::default();
        split_line(text, t.delimiter, &mut header).map_err(bad_header)?;
        if header.iter(text).all(|h| h.trim().is_empty()) {
            return Err(FeedError::NoHeader { file: file.into() });
        }
        for (i, h) in header.iter(text).enumerate() {
            t.columns.entry(normalise_header(h)).or_default().push(i);
            t.headers.push(h.trim().to_string());
        }
        Ok(t)
    }

    /// Reads the next physical line into `buf` (without its line end), never holding more
    /// than `max_line_bytes` of it; a line of text ends up in `text`.
    fn read_line(&mut self) -> Result<Line, FeedError> {
        if self.buf.capacity() == 0 {
            // The last line's room, back from `text`.
            self.buf = std::mem::take(&mut self.text).into_bytes();
        }
        self.buf.clear();
        let limit = self.limits.max_line_bytes as u64 + 1;
        let io = |source: std::io::Error, file: &str| FeedError::Io {
            file: file.to_string(),
            source,
        };
        let n = (&mut self.input)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| io(e, &self.file))?;
        if n == 0 {
            return Ok(Line::End);
        }
        self.line += 1;
        if self.line == 1 && is_workbook(&self.buf) {
            return Err(FeedError::BadHeader {
                file: self.file.clone(),
                detail: "this is an Excel workbook, not CSV text: open it in Excel and use File > Save As > \"CSV UTF-8 (Comma delimited)\"".into(),
            });
        }
        if self.buf.last() != Some(&b'\n') && n as u64 == limit {
            // Skip the rest of the line without keeping it.
            let mut skipped = n as u64;
            loop {
                let chunk = self.input.fill_buf().map_err(|e| io(e, &self.file))?;
                if chunk.is_empty() {
                    break;
                }
                match chunk.iter().position(|&b| b == b'\n') {
                    Some(p) => {
                        self.input.consume(p + 1);
                        skipped += p as u64;
                        break;
                    }
                    None => {
                        let len = chunk.len();
                        self.input.consume(len);
                        skipped += len as u64;
                    }
                }
            }
            self.buf.clear();
            return Ok(Line::TooLong(skipped));
        }
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        // Validated once here (the text made from Windows-1252 is UTF-8 by construction);
        // a national extract is most of a gigabyte.
        let utf8 = std::str::from_utf8(&self.buf).is_ok();
        let cp1252 = match self.limits.encoding {
            Encoding::Utf8 => false,
            Encoding::Windows1252 => true,
            // Text that is not UTF-8 is, in practice, a Windows code page file.
            Encoding::Auto => !utf8,
        };
        if cp1252 {
            let text = windows_1252(&self.buf);
            self.buf.clear();
            self.buf.extend_from_slice(text.as_bytes());
        } else if !utf8 {
            return Ok(Line::NotUtf8);
        }
        if self
            .buf
            .iter()
            .all(|b| b.is_ascii_whitespace() || *b == b',' || *b == b';')
        {
            return Ok(Line::Blank);
        }
        match String::from_utf8(std::mem::take(&mut self.buf)) {
            Ok(text) => {
                self.text = text;
                Ok(Line::Text)
            }
            // Checked above; kept as it was all the same.
            Err(e) => {
                self.buf = e.into_bytes();
                Ok(Line::NotUtf8)
            }
        }
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    /// Reads CONTRACT columns under the file's own names (`[feeds.esr]`, `[feeds.trac]`):
    /// CONTRACT name → the name in the file.
    pub fn rename(&mut self, renames: &BTreeMap<String, String>) {
        self.renames = renames
            .iter()
            .map(|(contract, given)| (normalise_header(contract), given.clone()))
            .collect();
    }

    /// The name a column goes by in this file.
    fn named(&self, name: &str) -> String {
        self.renames
            .get(&normalise_header(name))
            .cloned()
            .unwrap_or_else(|| name.to_string())
    }

    /// The index of a column, by its CONTRACT name or a configured rename; an error when
    /// the header names it twice.
    pub fn column(&self, name: &str) -> Result<Option<usize>, FeedError> {
        let name = self.named(name);
        match self
            .columns
            .get(&normalise_header(&name))
            .map(Vec::as_slice)
        {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(*one)),
            Some([first, second, ..]) => Err(FeedError::DuplicateColumn {
                file: self.file.clone(),
                column: name,
                first: first + 1,
                second: second + 1,
            }),
        }
    }

    /// Like [`Table::column`], but a missing column makes the file unusable.
    pub fn require(&self, name: &str, contract_name: &str) -> Result<usize, FeedError> {
        let named = self.named(name);
        self.column(name)?.ok_or_else(|| FeedError::MissingColumn {
            file: self.file.clone(),
            renamed: if named == contract_name {
                String::new()
            } else {
                format!("; configured in place of `{contract_name}`")
            },
            column: named,
        })
    }

    /// The next data row (`Ok`), a line that is not a usable row (`Err`, naming it), or
    /// `None` at the end. Blank lines are skipped. A file that cannot be read any further
    /// is a [`FeedError`].
    #[allow(clippy::type_complexity)]
    pub fn next_row(&mut self) -> Result<Option<Result<Row<'_>, RowError>>, FeedError> {
        let problem = loop {
            match self.read_line()? {
                Line::End => return Ok(None),
                Line::Blank => continue,
                Line::TooLong(n) => {
                    self.salvage.clear();
                    break format!(
                        "the line is {n} bytes long, over the limit of {} ([feeds] max_line_bytes); it was skipped",
                        self.limits.max_line_bytes
                    );
                }
                Line::NotUtf8 => {
                    self.salvage =
                        lenient_fields(&String::from_utf8_lossy(&self.buf), self.delimiter);
                    break "the line is not UTF-8 text; save the file as CSV UTF-8".to_string();
                }
                Line::Text => match self.check_line() {
                    Ok(()) => {
                        return Ok(Some(Ok(Row {
                            file: &self.file,
                            line: self.line,
                            text: &self.text,
                            record: &self.record,
                        })));
                    }
                    Err(problem) => {
                        self.salvage = lenient_fields(&self.text, self.delimiter);
                        break problem;
                    }
                },
            }
        };
        Ok(Some(Err(RowError {
            file: self.file.clone(),
            line: self.line,
            message: problem,
        })))
    }

    /// Splits the line in `buf` and checks its shape: field count, field sizes and
    /// control characters.
    fn check_line(&mut self) -> Result<(), String> {
        let text = self.text.as_str();
        split_line(text, self.delimiter, &mut self.record)?;
        if self.record.len() != self.headers.len() {
            return Err(format!(
                "the row has {} field(s) where the header has {}: a stray comma or quote? Quote a field that holds a comma",
                self.record.len(),
                self.headers.len()
            ));
        }
        // A field is a part of the line (less its quotes): a line short enough and free
        // of control characters has no field to look at one by one.
        if text.len() <= self.limits.max_field_bytes
            && turnstile_core::hr::control_character_but(text, Some('\t')).is_none()
        {
            return Ok(());
        }
        for (i, field) in self.record.iter(text).enumerate() {
            let column = self.headers.get(i).map_or("?", String::as_str);
            if field.len() > self.limits.max_field_bytes {
                return Err(format!(
                    "`{column}` is {} bytes long, over the limit of {} ([feeds] max_field_bytes)",
                    field.len(),
                    self.limits.max_field_bytes
                ));
            }
            if let Some(c) = turnstile_core::hr::control_character_but(field, Some('\t')) {
                return Err(format!(
                    "`{column}` holds a control character ({}): remove it",
                    c.escape_unicode()
                ));
            }
        }
        Ok(())
    }

    /// After a bad line: the text of column `i` as well as it can be made out, so a reader
    /// can still tell whose row it was (and hold that person back).
    pub fn salvage(&self, i: usize) -> Option<&str> {
        self.salvage
            .get(i)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }
}
/// [`str::trim`], answered at once for a cell that neither starts nor ends with a space
/// (nearly every one): str's own decodes a character at each end, once per cell of
/// every row, 2-3 % of a national drift.
pub(super) fn trim(cell: &str) -> &str {
    // An ASCII byte that is not whitespace is a character that is not whitespace.
    let solid = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii() && !matches!(b, b' ' | 9..=13));
    let bytes = cell.as_bytes();
    if solid(bytes.first()) && solid(bytes.last()) {
        cell
    } else {
        cell.trim()
    }
}
/// Fields split at every comma, quotes stripped: only for naming whose bad line it was.
pub(super) fn lenient_fields(line: &str, delimiter: u8) -> Vec<String> {
    line.split(char::from(delimiter))
        .take(64)
        .map(|f| f.trim().trim_matches('"').chars().take(64).collect())
        .collect()
}
/// One data row.
pub struct Row<'a> {
    pub file: &'a str,
    pub line: u64,
    pub(super) text: &'a str,
    pub(super) record: &'a Record,
}
impl Row<'_> {
    /// The trimmed cell, `None` when the column is absent or the cell blank.
    pub fn get(&self, column: Option<usize>) -> Option<&str> {
        column
            .and_then(|i| self.record.get(self.text, i))
            .map(trim)
            .filter(|s| !s.is_empty())
    }

    pub fn error(&self, message: impl Into<String>) -> RowError {
        RowError {
            file: self.file.to_string(),
            line: self.line,
            message: message.into(),
        }
    }

    /// A required cell, or an error naming the column.
    pub fn required(&self, column: Option<usize>, name: &str) -> Result<&str, RowError> {
        self.get(column)
            .ok_or_else(|| self.error(format!("`{name}` is empty")))
    }

    /// An optional date cell.
    pub fn date(&self, column: Option<usize>, name: &str) -> Result<Option<Date>, RowError> {
        match self.get(column) {
            None => Ok(None),
            Some(text) => parse_date(text)
                .map(Some)
                .map_err(|m| self.error(format!("`{name}`: {m}"))),
        }
    }
}
