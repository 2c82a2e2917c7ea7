//! The ESR staff extract: one row per assignment, grouped into one person per employee
//! number.
//!
//! A person any of whose rows is bad is held back whole: sending the rest of their record
//! could make a working member of staff look like a leaver (their only active assignment
//! being the bad row). They are reported, and their previous record stands.

use super::{FeedError, Limits, Row, RowError, RowErrors, Table};
use crate::hr::{
    Assignment, AssignmentStatus, EmployeeNumber, Interner, IsoDate, NonBlank, Person, SdsUserId,
    Text,
};
use std::collections::BTreeSet;
use std::path::Path;
use turnstile_core::fast::FastMap;

/// What an extract yielded.
#[derive(Debug, Default)]
pub struct Extract {
    /// Whole, checked records, in employee-number order.
    pub persons: Vec<Person>,
    /// Every bad row and every person held back, with file and line.
    pub errors: RowErrors,
    /// Employee numbers held back because one of their rows was bad.
    pub held_back: BTreeSet<String>,
    /// Data rows read (good and bad).
    pub rows: u64,
}

struct Columns {
    employee: usize,
    assignment: usize,
    primary: Option<usize>,
    title: Option<usize>,
    first: usize,
    last: usize,
    known_as: Option<usize>,
    email: Option<usize>,
    smartcard: Option<usize>,
    staff_group: Option<usize>,
    job_role: Option<usize>,
    occupation: Option<usize>,
    position_number: Option<usize>,
    position_title: Option<usize>,
    organisation: Option<usize>,
    cost_centre: Option<usize>,
    location: Option<usize>,
    supervisor: Option<usize>,
    status: usize,
    start: usize,
    end: Option<usize>,
    leaving_reason: Option<usize>,
}

/// The ESR extract's columns, as CONTRACT §2 names them (`[feeds.esr]` renames them).
pub const COLUMNS: &[&str] = &[
    "Employee Number",
    "Assignment Number",
    "Primary Assignment (Y/N)",
    "Title",
    "First Name",
    "Last Name",
    "Known As",
    "Work Email",
    "Smartcard UUID",
    "Staff Group",
    "Job Role",
    "Occupation Code",
    "Position Number",
    "Position Title",
    "Organisation",
    "Cost Centre",
    "Location",
    "Supervisor Employee Number",
    "Assignment Status",
    "Assignment Start Date",
    "Assignment End Date",
    "Leaving Reason",
];

impl Columns {
    fn find(t: &Table) -> Result<Columns, FeedError> {
        let req = |name: &str| t.require(name, name);
        let opt = |name: &str| t.column(name);
        Ok(Columns {
            employee: req("Employee Number")?,
            assignment: req("Assignment Number")?,
            primary: opt("Primary Assignment (Y/N)")?,
            title: opt("Title")?,
            first: req("First Name")?,
            last: req("Last Name")?,
            known_as: opt("Known As")?,
            email: opt("Work Email")?,
            smartcard: opt("Smartcard UUID")?,
            staff_group: opt("Staff Group")?,
            job_role: opt("Job Role")?,
            occupation: opt("Occupation Code")?,
            position_number: opt("Position Number")?,
            position_title: opt("Position Title")?,
            organisation: opt("Organisation")?,
            cost_centre: opt("Cost Centre")?,
            location: opt("Location")?,
            supervisor: opt("Supervisor Employee Number")?,
            status: req("Assignment Status")?,
            start: req("Assignment Start Date")?,
            end: opt("Assignment End Date")?,
            leaving_reason: opt("Leaving Reason")?,
        })
    }
}

/// A person as their rows arrive: their record so far, or only their number while they
/// have none (none read yet, or held back).
enum Record {
    Number(EmployeeNumber),
    Person(Person),
}

struct Partial {
    record: Record,
    lines: Lines,
}

/// A person's first line, the next few (up to [`LINES_SHOWN`] in all; most people have
/// one row, so no room is made for more), and how many rows in all.
#[derive(Default)]
struct Lines {
    first: u64,
    more: Option<Box<[u64; LINES_SHOWN - 1]>>,
    rows: u64,
}

/// Finds each person's partial record by employee number. While the rows come in
/// employee-number order (as ESR writes them) the list itself is the index: a new number
/// is the largest yet, a repeated one the last or found by binary search. The first row
/// out of order builds a hash map of every number, used from then on.
#[derive(Default)]
struct Index {
    map: Option<FastMap<EmployeeNumber, u32>>,
}

impl Index {
    fn entry(&mut self, employee: &EmployeeNumber, people: &mut Vec<Partial>) -> usize {
        let add = |people: &mut Vec<Partial>| {
            people.push(Partial {
                record: Record::Number(employee.clone()),
                lines: Lines::default(),
            });
            people.len() - 1
        };
        let map = match &mut self.map {
            Some(map) => map,
            None => {
                match people.last().map(|p| p.employee().cmp(employee)) {
                    None | Some(std::cmp::Ordering::Less) => return add(people),
                    Some(std::cmp::Ordering::Equal) => return people.len() - 1,
                    Some(std::cmp::Ordering::Greater) => {}
                }
                if let Ok(i) = people.binary_search_by(|p| p.employee().cmp(employee)) {
                    return i;
                }
                self.map.insert(
                    people
                        .iter()
                        .enumerate()
                        .map(|(i, p)| (p.employee().clone(), i as u32))
                        .collect(),
                )
            }
        };
        if let Some(i) = map.get(employee) {
            return *i as usize;
        }
        let i = add(people);
        map.insert(employee.clone(), i as u32);
        i
    }
}

/// Reads an ESR extract file.
pub fn read(path: &Path, limits: &Limits) -> Result<Extract, FeedError> {
    let mut table = Table::open(path, limits)?;
    read_table(&mut table, limits)
}

pub fn read_table(table: &mut Table, limits: &Limits) -> Result<Extract, FeedError> {
    table.rename(&limits.esr);
    let cols = Columns::find(table)?;
    let mut extract = Extract {
        errors: RowErrors::new(limits),
        ..Extract::default()
    };
    // Each person once, in the order first met, found by employee number (see [`Index`]);
    // sorted once at the end.
    let mut people: Vec<Partial> = Vec::new();
    // One copy of each staff group, job role, organisation, … for the whole extract.
    let mut interner = Interner::default();
    let mut index = Index::default();
    while let Some(row) = table.next_row()? {
        extract.rows += 1;
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                // Whose line it was, if that can be made out: hold them back, since the
                // rest of their record alone could make them look like a leaver.
                let line = e.line;
                extract.errors.row(e);
                if let Some(n) = table
                    .salvage(cols.employee)
                    .and_then(|t| EmployeeNumber::parse(t).ok())
                {
                    let i = index.entry(&n, &mut people);
                    let Some(entry) = people.get_mut(i) else {
                        continue;
                    };
                    entry.lines.note(line);
                    entry.hold_back();
                    extract.held_back.insert(n.as_str().to_string());
                }
                continue;
            }
        };
        let employee = match row
            .required(Some(cols.employee), "Employee Number")
            .and_then(|t| {
                EmployeeNumber::parse(t).map_err(|m| row.error(format!("`Employee Number`: {m}")))
            }) {
            Ok(e) => e,
            Err(e) => {
                extract.errors.row(e);
                continue;
            }
        };
        let i = index.entry(&employee, &mut people);
        let Some(entry) = people.get_mut(i) else {
            continue;
        };
        entry.lines.note(row.line);
        if entry.lines.rows > limits.max_rows_per_person as u64 {
            // Past the limit: counted, not kept; the person is held back below.
            entry.hold_back();
            extract.held_back.insert(employee.as_str().to_string());
            continue;
        }
        match parse_row(&row, &cols, employee, &mut interner) {
            Ok((person, assignment)) => {
                if !extract.held_back.is_empty()
                    && extract.held_back.contains(person.employee_number.as_str())
                {
                    continue;
                }
                match &mut entry.record {
                    Record::Number(_) => {
                        // Exactly one: a first push would make room for four, and most
                        // people have one assignment (at 280 bytes each, at national
                        // scale that was over a gigabyte).
                        let mut p = person;
                        p.assignments = vec![assignment];
                        entry.record = Record::Person(p);
                    }
                    Record::Person(existing) => {
                        if assignment.primary {
                            // Person-level fields come from the primary assignment's row.
                            let assignments = std::mem::take(&mut existing.assignments);
                            *existing = Person {
                                assignments,
                                ..person
                            };
                        }
                        existing.assignments.push(assignment);
                    }
                }
            }
            Err(e) => {
                extract.held_back.insert(e.0.clone());
                entry.hold_back();
                extract.errors.row(e.1);
            }
        }
    }
    drop(index);
    // Nothing to do for an extract in employee-number order.
    people.sort_unstable_by(|a, b| a.employee().cmp(b.employee()));
    // Persons taken out where they lie: collected from the list of partial records in
    // place (a person is smaller than a partial record), not copied into a second list.
    let file = table.file().to_string();
    let errors = &mut extract.errors;
    let held_back = &mut extract.held_back;
    let held = |employee: &str, lines: &Lines, errors: &mut RowErrors| {
        let why = if lines.rows > limits.max_rows_per_person as u64 {
            format!(
                "has {} rows, more than [feeds] max_rows_per_person ({}): check the extract for repeated rows",
                lines.rows, limits.max_rows_per_person
            )
        } else {
            "fix the bad row so their whole record can be read".to_string()
        };
        errors.note(RowError {
            file: file.clone(),
            line: lines.first,
            message: format!(
                "person {employee} held back (lines {}): {why}; their previous record stands",
                lines.list()
            ),
        });
    };
    extract.persons = people
        .into_iter()
        .filter_map(|Partial { record, lines }| {
            let mut person = match record {
                Record::Person(p) if !held_back.contains(p.employee_number.as_str()) => p,
                Record::Person(Person {
                    employee_number: n, ..
                })
                | Record::Number(n) => {
                    if held_back.contains(n.as_str()) {
                        held(n.as_str(), &lines, errors);
                    }
                    return None;
                }
            };
            person.line_manager = person.primary().and_then(|a| a.supervisor.clone());
            person
                .assignments
                .sort_by(|a, b| a.assignment_number.cmp(&b.assignment_number));
            person.assignments.shrink_to_fit();
            let problems = person.check();
            if problems.is_empty() {
                return Some(person);
            }
            let employee = person.employee_number.as_str();
            held_back.insert(employee.to_string());
            let list = lines.list();
            for p in problems {
                errors.note(RowError {
                    file: file.clone(),
                    line: lines.first,
                    message: format!("person {employee} (lines {list}): {p}"),
                });
            }
            None
        })
        .collect();
    // The list was sized for partial records, larger than persons.
    extract.persons.shrink_to_fit();
    extract
        .errors
        .listed
        .sort_by(|a, b| a.line.cmp(&b.line).then(a.message.cmp(&b.message)));
    Ok(extract)
}

/// Lines shown for one person: at most this many, then a count of the rest.
const LINES_SHOWN: usize = 10;

impl Partial {
    fn employee(&self) -> &EmployeeNumber {
        match &self.record {
            Record::Number(n) => n,
            Record::Person(p) => &p.employee_number,
        }
    }

    /// Drops what was read of them (they are held back).
    fn hold_back(&mut self) {
        if let Record::Person(p) = &self.record {
            self.record = Record::Number(p.employee_number.clone());
        }
    }
}

impl Lines {
    fn note(&mut self, line: u64) {
        self.rows += 1;
        if self.rows == 1 {
            self.first = line;
        } else if let Some(slot) = self
            .more
            .get_or_insert_with(|| Box::new([0; LINES_SHOWN - 1]))
            .get_mut(self.rows as usize - 2)
        {
            *slot = line;
        }
    }

    /// The lines kept after the first.
    fn more(&self) -> &[u64] {
        let kept = (self.rows.saturating_sub(1) as usize).min(LINES_SHOWN - 1);
        self.more.as_deref().map_or(&[], |m| &m[..kept])
    }

    /// `4, 5` or `4, 5, … (120 rows in all)`.
    fn list(&self) -> String {
        let lines = if self.rows == 0 {
            &[][..]
        } else {
            std::slice::from_ref(&self.first)
        };
        let shown = lines
            .iter()
            .chain(self.more())
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        if self.rows > (lines.len() + self.more().len()) as u64 {
            format!("{shown}, … ({} rows in all)", self.rows)
        } else {
            shown
        }
    }
}

fn parse_row(
    row: &Row<'_>,
    c: &Columns,
    employee: EmployeeNumber,
    interner: &mut Interner,
) -> Result<(Person, Assignment), (String, RowError)> {
    // The number as text only when a row fails (inline: no allocation per row).
    let emp = employee.clone();
    let fail = |e: RowError| (emp.as_str().to_string(), e);
    let text = |col: Option<usize>| row.get(col).map(Text::from);
    let mut shared = |col: Option<usize>| row.get(col).map(|t| interner.get(t));
    let given = row.required(Some(c.first), "First Name").map_err(fail)?;
    let family = row.required(Some(c.last), "Last Name").map_err(fail)?;
    let assignment_number = row
        .required(Some(c.assignment), "Assignment Number")
        .map_err(fail)?;
    let status_text = row
        .required(Some(c.status), "Assignment Status")
        .map_err(fail)?;
    let status = AssignmentStatus::parse_lenient(status_text).ok_or_else(|| {
        fail(row.error(format!(
            "`Assignment Status` \"{status_text}\" is not an NHS assignment status (expected one of: {})",
            AssignmentStatus::ALL.map(|s| s.as_str()).join(", ")
        )))
    })?;
    let start = row
        .date(Some(c.start), "Assignment Start Date")
        .map_err(fail)?
        .ok_or_else(|| fail(row.error("`Assignment Start Date` is empty")))?;
    let end = row.date(c.end, "Assignment End Date").map_err(fail)?;
    if let Some(end) = end
        && end < start
    {
        return Err(fail(row.error(format!(
            "assignment {assignment_number} ends on {end} before it starts on {start}"
        ))));
    }
    let yes_no = |t: &str, word: &str| t.eq_ignore_ascii_case(word);
    let primary = match row.get(c.primary) {
        None => false,
        Some(t) if yes_no(t, "n") || yes_no(t, "no") => false,
        Some(t) if yes_no(t, "y") || yes_no(t, "yes") => true,
        Some(other) => {
            let other = other.to_ascii_lowercase();
            return Err(fail(row.error(format!(
                "`Primary Assignment (Y/N)` is \"{other}\": use Y or N"
            ))));
        }
    };
    let sds_user_id = match row.get(c.smartcard) {
        None => None,
        Some(t) => Some(
            SdsUserId::parse(t).map_err(|m| fail(row.error(format!("`Smartcard UUID`: {m}"))))?,
        ),
    };
    let supervisor = match row.get(c.supervisor) {
        None => None,
        Some(t) => Some(
            EmployeeNumber::parse(t)
                .map_err(|m| fail(row.error(format!("`Supervisor Employee Number`: {m}"))))?,
        ),
    };
    let non_blank = |t: &str| NonBlank::parse(t).map_err(|m| fail(row.error(m)));
    let assignment = Assignment {
        assignment_number: non_blank(assignment_number)?,
        primary,
        status,
        position_number: text(c.position_number),
        position_title: shared(c.position_title),
        staff_group: shared(c.staff_group),
        job_role: shared(c.job_role),
        occupation_code: shared(c.occupation),
        organisation: shared(c.organisation),
        cost_centre: shared(c.cost_centre),
        location: shared(c.location),
        supervisor,
        start_date: IsoDate(start),
        end_date: end.map(IsoDate),
        leaving_reason: shared(c.leaving_reason),
    };
    let person = Person {
        employee_number: employee,
        sds_user_id,
        title: shared(c.title),
        given_name: non_blank(given)?,
        family_name: non_blank(family)?,
        preferred_name: shared(c.known_as),
        work_email: text(c.email),
        line_manager: None,
        assignments: Vec::new(),
    };
    Ok((person, assignment))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_text(text: &str) -> Extract {
        let limits = Limits::default();
        let mut t = Table::from_reader(
            "esr.csv",
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
            &limits,
        )
        .unwrap();
        read_table(&mut t, &limits).unwrap()
    }

    const HEADER: &str = "Employee Number,Assignment Number,Primary Assignment (Y/N),Title,First Name,Last Name,Known As,Work Email,Smartcard UUID,Staff Group,Job Role,Occupation Code,Position Number,Position Title,Organisation,Cost Centre,Location,Supervisor Employee Number,Assignment Status,Assignment Start Date,Assignment End Date\n";

    proptest! {
        /// The reader finds a person's rows by their order while the extract is in
        /// employee-number order and by a map once it is not: either way, the same people.
        #[test]
        fn the_order_of_the_rows_changes_nobody(
            order in proptest::sample::subsequence((0..14usize).collect::<Vec<_>>(), 14)
                .prop_shuffle(),
        ) {
            // Seven people, two rows each; person 5's second row is bad (held back).
            let row = |i: usize| {
                let person = i / 2;
                let n = 20000100 + person * 7 % 10;
                let status = if i == 11 { "Nonsense" } else { "Active Assignment" };
                let primary = if i % 2 == 0 { "Y" } else { "N" };
                format!("{n},{n}-{i},{primary},,Given{person},Family{person},,,,Admin and Clerical,Receptionist,G0A,P-{i},Receptionist,Outpatients,RX1-1000,Main Hospital,,{status},01/04/2019,\n")
            };
            let sorted: String = (0..14).map(row).collect();
            let shuffled: String = order.iter().map(|i| row(*i)).collect();
            let a = read_text(&format!("{HEADER}{sorted}"));
            let b = read_text(&format!("{HEADER}{shuffled}"));
            prop_assert_eq!(a.persons.len(), 6);
            prop_assert_eq!(&a.persons, &b.persons);
            prop_assert_eq!(&a.held_back, &b.held_back);
            prop_assert_eq!(a.errors.lines().count(), b.errors.lines().count());
        }
    }

    #[test]
    fn rows_group_into_people_and_bad_rows_hold_the_person_back() {
        let text = format!(
            "\u{feff}{HEADER}\
20000001,20000001-1,Y,Ms,Amara,Okafor,,amara.okafor@nhs.net,200009876204,Nursing and Midwifery Registered,Staff Nurse,N0C,P-1,Staff Nurse,Ward 7,RX1-4410,Main Hospital,20001111,Active Assignment,01/04/2019,\n\
20000001,20000001-2,N,Ms,Amara,Okafor,,amara.okafor@nhs.net,200009876204,Nursing and Midwifery Registered,Staff Nurse,N0C,P-9,Bank Nurse,Nurse Bank,RX1-9000,Main Hospital,20001111,Active Assignment,2020-01-01,\n\
20000002,20000002-1,Y,Mr,Ben,Cole,,,,Admin and Clerical,Receptionist,G0A,P-2,Receptionist,Outpatients,RX1-1000,Main Hospital,20001111,Active Assignment,01/04/2019,\n\
20000002,20000002-2,N,Mr,Ben,Cole,,,,Admin and Clerical,Receptionist,G0A,P-3,Receptionist,Outpatients,RX1-1000,Main Hospital,20001111,On Holiday,01/04/2019,\n\
,x-1,Y,Mr,No,Number,,,,Admin and Clerical,Receptionist,G0A,P-2,Receptionist,Outpatients,RX1-1000,Main Hospital,,Active Assignment,01/04/2019,\n\
20000003,20000003-1,Y,Dr,Cy,Dee,,,,Medical and Dental,Consultant,M0A,P-4,Consultant,Cardiology,RX1-2000,Main Hospital,,Terminate Assignment,01/04/2019,31/03/2019\n"
        );
        let x = read_text(&text);
        assert_eq!(x.rows, 6);
        assert_eq!(x.persons.len(), 1, "{:?}", x.errors);
        let amara = &x.persons[0];
        assert_eq!(amara.assignments.len(), 2);
        assert_eq!(amara.line_manager.as_ref().unwrap().as_str(), "20001111");
        assert_eq!(
            x.held_back.iter().cloned().collect::<Vec<_>>(),
            vec!["20000002", "20000003"]
        );
        let text = x
            .errors
            .listed
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            text.contains("esr.csv:5: `Assignment Status` \"On Holiday\""),
            "{text}"
        );
        assert!(
            text.contains("esr.csv:6: `Employee Number` is empty"),
            "{text}"
        );
        assert!(
            text.contains("esr.csv:7: assignment 20000003-1 ends on 2019-03-31"),
            "{text}"
        );
        assert!(
            text.contains("person 20000002 held back (lines 4, 5)"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_required_column_makes_the_file_unusable() {
        let mut t = Table::from_reader(
            "esr.csv",
            Box::new(std::io::Cursor::new(
                b"Employee Number,First Name\n1,A\n".to_vec(),
            )),
            &Limits::default(),
        )
        .unwrap();
        let err = read_table(&mut t, &Limits::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("esr.csv: the header has no `Assignment Number` column"),
            "{err}"
        );
    }
}
