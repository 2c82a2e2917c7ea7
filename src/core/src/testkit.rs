//! Builders shared by every test: the core's unit tests, the edge crate's unit tests,
//! `tests/it` and the benches (feature `testkit`).

#![allow(clippy::unwrap_used)]

use crate::account::Account;
use crate::hr::{Assignment, AssignmentStatus, EmployeeNumber, IsoDate, NonBlank, Person};
use crate::policy::RoleModel;
use jiff::civil::Date;

/// The shipped example role model.
pub fn model() -> RoleModel {
    RoleModel::parse(
        "examples/role-model.toml",
        include_str!("../../../examples/role-model.toml"),
    )
    .map(|(m, _)| m)
    .unwrap()
}

pub fn d(text: &str) -> Date {
    text.parse().unwrap()
}

/// An assignment: (number, status, staff group, job role, organisation, start, end).
pub fn assignment(
    number: &str,
    status: AssignmentStatus,
    staff_group: &str,
    job_role: &str,
    organisation: &str,
    start: &str,
    end: Option<&str>,
) -> Assignment {
    Assignment {
        assignment_number: NonBlank::parse(number).unwrap(),
        primary: number.ends_with("-1"),
        status,
        position_number: Some(format!("P-{number}").into()),
        position_title: Some(job_role.into()),
        staff_group: Some(staff_group.into()),
        job_role: Some(job_role.into()),
        occupation_code: None,
        organisation: Some(organisation.into()),
        cost_centre: None,
        location: Some("Main Hospital".into()),
        supervisor: None,
        start_date: IsoDate(d(start)),
        end_date: end.map(|e| IsoDate(d(e))),
        leaving_reason: None,
    }
}

pub fn person(number: &str, assignments: Vec<Assignment>) -> Person {
    named(number, "Amara", "Okafor", assignments)
}

/// A person with the given names.
pub fn named(number: &str, given: &str, family: &str, assignments: Vec<Assignment>) -> Person {
    Person {
        employee_number: EmployeeNumber::parse(number).unwrap(),
        sds_user_id: None,
        title: None,
        given_name: NonBlank::parse(given).unwrap(),
        family_name: NonBlank::parse(family).unwrap(),
        preferred_name: None,
        work_email: None,
        line_manager: None,
        assignments,
    }
}

/// A staff nurse on Ward 7 from 2019.
pub fn nurse(number: &str) -> Person {
    person(
        number,
        vec![assignment(
            &format!("{number}-1"),
            AssignmentStatus::ActiveAssignment,
            "Nursing and Midwifery Registered",
            "Staff Nurse",
            "Ward 7 Medicine",
            "2019-04-01",
            None,
        )],
    )
}

pub fn account(
    system: &str,
    id: &str,
    number: Option<&str>,
    enabled: bool,
    ents: &[&str],
) -> Account {
    Account {
        system: system.into(),
        id: id.into(),
        employee_number: number.map(str::to_string),
        display_name: String::new(),
        enabled,
        last_logon: None,
        entitlements: ents.iter().map(|e| e.to_string()).collect(),
        container: None,
        attributes: Default::default(),
    }
}
