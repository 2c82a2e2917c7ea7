//! Staff not on ESR — students on placement, agency staff, locums, rotating trainees,
//! honorary contracts — as a sponsored identity feed: each has a named sponsor (an
//! employee number) and a mandatory end date no further than `[feeds]
//! sponsored_max_days` after the start. They are keyed `SP-<reference>`, recorded as
//! `manual` HR events, warned about through their sponsor before the end, and leavers
//! when it comes.

use super::{FeedError, Limits, Row, RowError, RowErrors, Table};
use crate::hr::{Assignment, AssignmentStatus, EmployeeNumber, IsoDate, NonBlank, Person};
use std::collections::BTreeSet;
use std::path::Path;

/// The prefix of a sponsored identity's key.
pub const PREFIX: &str = "SP-";

/// True for a sponsored identity's key.
pub fn is_sponsored(employee_number: &str) -> bool {
    employee_number.starts_with(PREFIX)
}

/// The sponsored file's columns.
pub const COLUMNS: &[&str] = &[
    "Reference",
    "Title",
    "First Name",
    "Last Name",
    "Work Email",
    "Smartcard UUID",
    "Staff Group",
    "Job Role",
    "Organisation",
    "Sponsor Employee Number",
    "Start Date",
    "End Date",
];

/// What a sponsored file yielded.
#[derive(Debug, Default)]
pub struct Sponsored {
    pub persons: Vec<Person>,
    pub errors: RowErrors,
    pub rows: u64,
}

pub fn read(path: &Path, limits: &Limits) -> Result<Sponsored, FeedError> {
    let mut table = Table::open(path, limits)?;
    read_table(&mut table, limits)
}

pub fn read_table(table: &mut Table, limits: &Limits) -> Result<Sponsored, FeedError> {
    let req = |name: &str| table.require(name, name);
    let reference = req("Reference")?;
    let first = req("First Name")?;
    let last = req("Last Name")?;
    let sponsor = req("Sponsor Employee Number")?;
    let start = req("Start Date")?;
    let end = req("End Date")?;
    let opt = |name: &str| table.column(name);
    let title = opt("Title")?;
    let email = opt("Work Email")?;
    let smartcard = opt("Smartcard UUID")?;
    let staff_group = opt("Staff Group")?;
    let job_role = opt("Job Role")?;
    let organisation = opt("Organisation")?;
    let max_days = limits.sponsored_max_days;
    let mut out = Sponsored {
        errors: RowErrors::new(limits),
        ..Sponsored::default()
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
            let given = r.required(Some(reference), "Reference")?;
            let key = if is_sponsored(given) {
                given.to_string()
            } else {
                format!("{PREFIX}{given}")
            };
            let employee_number =
                EmployeeNumber::parse(&key).map_err(|m| r.error(format!("`Reference`: {m}")))?;
            let sponsor_number =
                EmployeeNumber::parse(r.required(Some(sponsor), "Sponsor Employee Number")?)
                    .map_err(|m| r.error(format!("`Sponsor Employee Number`: {m}")))?;
            if is_sponsored(sponsor_number.as_str()) {
                return Err(r.error(
                    "`Sponsor Employee Number`: a sponsor must be on ESR, not sponsored themselves",
                ));
            }
            let from = r
                .date(Some(start), "Start Date")?
                .ok_or_else(|| r.error("`Start Date` is empty"))?;
            let until = r.date(Some(end), "End Date")?.ok_or_else(|| {
                r.error("`End Date` is empty: every sponsored identity ends on a date")
            })?;
            if until < from {
                return Err(r.error(format!("`End Date` {until} is before `Start Date` {from}")));
            }
            let days = (until - from).get_days();
            if i64::from(days) > i64::from(max_days) {
                return Err(r.error(format!(
                    "`End Date` {until} is {days} days after the start: at most {max_days} ([feeds] sponsored_max_days); the sponsor extends it before it ends"
                )));
            }
            let sds_user_id = match r.get(smartcard) {
                None => None,
                Some(t) => Some(
                    crate::hr::SdsUserId::parse(t)
                        .map_err(|m| r.error(format!("`Smartcard UUID`: {m}")))?,
                ),
            };
            let non_blank = |t: &str| NonBlank::parse(t).map_err(|m| r.error(m));
            let text = |c: Option<usize>| r.get(c);
            Ok(Person {
                employee_number: employee_number.clone(),
                sds_user_id,
                title: text(title).map(Into::into),
                given_name: non_blank(r.required(Some(first), "First Name")?)?,
                family_name: non_blank(r.required(Some(last), "Last Name")?)?,
                preferred_name: None,
                work_email: text(email).map(Into::into),
                line_manager: Some(sponsor_number.clone()),
                assignments: vec![Assignment {
                    assignment_number: non_blank(&format!("{employee_number}-1"))?,
                    primary: true,
                    status: AssignmentStatus::ActiveAssignment,
                    position_number: None,
                    position_title: text(job_role).map(Into::into),
                    staff_group: text(staff_group).map(Into::into),
                    job_role: text(job_role).map(Into::into),
                    occupation_code: None,
                    organisation: text(organisation).map(Into::into),
                    cost_centre: None,
                    location: None,
                    supervisor: Some(sponsor_number),
                    start_date: IsoDate(from),
                    end_date: Some(IsoDate(until)),
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
                        "{} appears twice; only the first row is used",
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
    fn each_sponsored_identity_has_a_sponsor_and_an_end_within_the_limit() {
        let text = "Reference,First Name,Last Name,Staff Group,Job Role,Organisation,Sponsor Employee Number,Start Date,End Date\n\
S-1,Priya,Shah,Students,Student Nurse,Ward 7 Medicine,20001111,01/09/2026,30/06/2027\n\
S-2,Tom,Reed,Agency,Staff Nurse,Ward 7 Medicine,20001111,01/09/2026,\n\
S-3,Ola,Ade,Agency,Staff Nurse,Ward 7 Medicine,20001111,01/09/2026,01/10/2027\n\
S-4,Kai,Lim,Agency,Locum,ED,,01/09/2026,01/10/2026\n\
S-5,Eve,Moss,Agency,Locum,ED,SP-9,01/09/2026,01/10/2026\n";
        let mut t = Table::from_reader(
            "sponsored.csv",
            Box::new(std::io::Cursor::new(text.as_bytes().to_vec())),
            &Limits::default(),
        )
        .unwrap();
        let s = read_table(&mut t, &Limits::default()).unwrap();
        assert_eq!(s.rows, 5);
        assert_eq!(s.persons.len(), 1);
        let p = &s.persons[0];
        assert_eq!(p.employee_number.as_str(), "SP-S-1");
        assert_eq!(p.line_manager.as_ref().unwrap().as_str(), "20001111");
        assert_eq!(
            p.assignments[0].end_date.unwrap().0.to_string(),
            "2027-06-30"
        );
        let errors: Vec<String> = s.errors.listed.iter().map(|e| e.to_string()).collect();
        assert!(errors[0].contains(":3: `End Date` is empty"), "{errors:?}");
        assert!(
            errors[1]
                .contains(":4: `End Date` 2027-10-01 is 395 days after the start: at most 365"),
            "{errors:?}"
        );
        assert!(
            errors[2].contains(":5: `Sponsor Employee Number` is empty"),
            "{errors:?}"
        );
        assert!(
            errors[3].contains(":6: `Sponsor Employee Number`: a sponsor must be on ESR"),
            "{errors:?}"
        );
    }
}
