//! TRAC new starters: each row becomes a future-dated joiner.
//!
//! A starter has no ESR employee number yet, so they are keyed `TRAC-<candidate
//! reference>` until ESR lists them. Their accounts are prepared disabled before the start
//! date and enabled on it.

use super::{FeedError, Limits, Row, RowError, RowErrors, Table};
use crate::hr::{Assignment, AssignmentStatus, EmployeeNumber, IsoDate, NonBlank, Person};
use std::collections::BTreeSet;
use std::path::Path;

/// What a TRAC report yielded.
#[derive(Debug, Default)]
pub struct Starters {
    pub persons: Vec<Person>,
    pub errors: RowErrors,
    pub rows: u64,
}

/// The provisional key of a TRAC candidate.
pub fn provisional_number(candidate_reference: &str) -> Result<EmployeeNumber, String> {
    EmployeeNumber::parse(&format!("TRAC-{candidate_reference}")).map_err(|_| {
        format!("candidate reference \"{candidate_reference}\" must be letters, digits or '-'")
    })
}

pub fn read(path: &Path, limits: &Limits) -> Result<Starters, FeedError> {
    let mut table = Table::open(path, limits)?;
    read_table(&mut table, limits)
}

/// The TRAC starters file's columns, as CONTRACT §2 names them (`[feeds.trac]` renames
/// them).
pub const COLUMNS: &[&str] = &[
    "Candidate Reference",
    "First Name",
    "Last Name",
    "Post Title",
    "Staff Group",
    "Job Role",
    "Department",
    "Location",
    "Start Date",
    "Hiring Manager Employee Number",
    "Position Number",
    "Status",
];

pub fn read_table(table: &mut Table, limits: &Limits) -> Result<Starters, FeedError> {
    table.rename(&limits.trac);
    let req = |name: &str| table.require(name, name);
    let reference = req("Candidate Reference")?;
    let first = req("First Name")?;
    let last = req("Last Name")?;
    let start = req("Start Date")?;
    let post = table.column("Post Title")?;
    let staff_group = table.column("Staff Group")?;
    let job_role = table.column("Job Role")?;
    let department = table.column("Department")?;
    let location = table.column("Location")?;
    let manager = table.column("Hiring Manager Employee Number")?;
    let position = table.column("Position Number")?;
    // "Withdrawn": the offer was withdrawn, the starter will not start.
    let status = table.column("Status")?;
    let mut out = Starters {
        errors: RowErrors::new(limits),
        ..Starters::default()
    };
    let mut seen = BTreeSet::new();
    while let Some(row) = table.next_row()? {
        out.rows += 1;
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                out.errors.row(e);
                continue;
            }
        };
        let parsed = (|| -> Result<Person, RowError> {
            let r: &Row<'_> = &row;
            let candidate = r.required(Some(reference), "Candidate Reference")?;
            let employee_number = provisional_number(candidate)
                .map_err(|m| r.error(format!("`Candidate Reference`: {m}")))?;
            let start_date = r
                .date(Some(start), "Start Date")?
                .ok_or_else(|| r.error("`Start Date` is empty"))?;
            let hiring_manager = match r.get(manager) {
                None => None,
                Some(t) => Some(
                    EmployeeNumber::parse(t)
                        .map_err(|m| r.error(format!("`Hiring Manager Employee Number`: {m}")))?,
                ),
            };
            let non_blank = |t: &str| NonBlank::parse(t).map_err(|m| r.error(m));
            Ok(Person {
                employee_number,
                sds_user_id: None,
                title: None,
                given_name: non_blank(r.required(Some(first), "First Name")?)?,
                family_name: non_blank(r.required(Some(last), "Last Name")?)?,
                preferred_name: None,
                work_email: None,
                line_manager: hiring_manager.clone(),
                assignments: vec![Assignment {
                    assignment_number: non_blank(&format!("TRAC-{candidate}-1"))?,
                    primary: true,
                    status: if r
                        .get(status)
                        .is_some_and(|s| s.eq_ignore_ascii_case("withdrawn"))
                    {
                        // Ended with no end date: ended already, a leaver before starting.
                        AssignmentStatus::TerminateAssignment
                    } else {
                        AssignmentStatus::ActiveAssignment
                    },
                    position_number: r.get(position).map(crate::hr::Text::from),
                    position_title: r.get(post).map(Into::into),
                    staff_group: r.get(staff_group).map(Into::into),
                    job_role: r.get(job_role).map(Into::into),
                    occupation_code: None,
                    organisation: r.get(department).map(Into::into),
                    cost_centre: None,
                    location: r.get(location).map(Into::into),
                    supervisor: hiring_manager,
                    start_date: IsoDate(start_date),
                    end_date: None,
                    leaving_reason: None,
                }],
            })
        })();
        match parsed {
            Ok(person) => {
                if seen.insert(person.employee_number.clone()) {
                    out.persons.push(person);
                } else {
                    out.errors.row(row.error(format!(
                        "candidate {} appears twice; only the first row is used",
                        person.employee_number
                    )));
                }
            }
            Err(e) => out.errors.row(e),
        }
    }
    out.persons
        .sort_by(|a, b| a.employee_number.cmp(&b.employee_number));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starters_become_future_joiners_and_bad_rows_are_named() {
        let text = "Candidate Reference,First Name,Last Name,Post Title,Staff Group,Job Role,Department,Location,Start Date,Hiring Manager Employee Number,Position Number\n\
C-1001,Zoë,O'Brien,Staff Nurse,Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,Main Hospital,05/01/2027,20001111,P-0431\n\
C-1002,Sam,Jones,Porter,Estates and Ancillary,Porter,Estates,Main Hospital,31/02/2027,20001111,P-0500\n\
C 1003,Kim,Lee,Porter,Estates and Ancillary,Porter,Estates,Main Hospital,01/03/2027,,P-0501\n\
C-1001,Zoë,O'Brien,Staff Nurse,Nursing and Midwifery Registered,Staff Nurse,Ward 7 Medicine,Main Hospital,05/01/2027,20001111,P-0431\n";
        let mut t = Table::from_reader(
            "trac.csv",
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
            &Limits::default(),
        )
        .unwrap();
        let s = read_table(&mut t, &Limits::default()).unwrap();
        assert_eq!(s.rows, 4);
        assert_eq!(s.persons.len(), 1);
        let p = &s.persons[0];
        assert_eq!(p.employee_number.as_str(), "TRAC-C-1001");
        assert_eq!(
            p.lifecycle(jiff::civil::date(2026, 11, 23)),
            crate::hr::Lifecycle::Future
        );
        assert_eq!(
            p.lifecycle(jiff::civil::date(2027, 1, 5)),
            crate::hr::Lifecycle::Active
        );
        let errors: Vec<String> = s.errors.lines().collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].starts_with("trac.csv:3: `Start Date`"),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("trac.csv:4: `Candidate Reference`"),
            "{errors:?}"
        );
        assert!(
            errors[2].starts_with("trac.csv:5: candidate TRAC-C-1001 appears twice"),
            "{errors:?}"
        );
    }
}
