//! When a person's access must change with no event arriving: the days their desired
//! state turns (a first day, the day after a last working day, the end of a handover, the
//! end of a retention period). A daemon wakes at the start of each such day in
//! Europe/London and plans again; planning at a day where nothing turns changes nothing,
//! so the list may be generous but must never miss one.

use crate::clock::{self, add_days};
use crate::hr::Person;
use crate::policy::RoleModel;
use jiff::Timestamp;
use jiff::civil::Date;
use std::collections::BTreeSet;

/// Every day on which the person's desired state may turn.
pub fn checkpoints(person: &Person, model: &RoleModel) -> BTreeSet<Date> {
    let mut out = BTreeSet::new();
    for a in &person.assignments {
        // Their first day: enabled at the start of it; prepared some days before.
        out.insert(a.start_date.0);
        for system in model.systems.values() {
            let ahead = system.policy.prepare_days_before_start;
            out.extend(add_days(a.start_date.0, -i64::from(ahead)));
        }
        if let Some(end) = a.last_day() {
            // Access ends straight after the last working day.
            out.extend(add_days(end, 1));
            // A mover's handover ends after each system's grace period.
            for system in model.systems.values() {
                let grace = system.policy.mover_grace_days;
                if grace > 0 {
                    out.extend(add_days(end, i64::from(grace) + 1));
                }
            }
        }
    }
    if let Some(last) = person.last_working_day() {
        for system in model.systems.values() {
            if let (true, Some(days)) = (system.allows_delete(), system.policy.delete_after_days) {
                out.extend(add_days(last, i64::from(days) + 1));
            }
        }
    }
    out
}

/// The next day after `today` on which the person's access may turn, if any.
pub fn next_due(person: &Person, model: &RoleModel, today: Date) -> Option<Date> {
    checkpoints(person, model).into_iter().find(|d| *d > today)
}

/// The moment a due day begins in Europe/London: when the work is done.
pub fn due_at(day: Date) -> Option<Timestamp> {
    clock::start_of(day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hr::{AssignmentStatus, IsoDate};
    use crate::testkit::{d, model, nurse};

    fn leaver(last: &str) -> Person {
        let mut p = nurse("20000001");
        p.assignments[0].status = AssignmentStatus::TerminateAssignment;
        p.assignments[0].end_date = Some(IsoDate(d(last)));
        p
    }

    #[test]
    fn a_leaver_is_due_the_moment_their_last_day_ends_in_london() {
        let m = model();
        // Entered three weeks ahead: nothing is due before the day after the last one.
        let p = leaver("2026-07-14");
        assert_eq!(next_due(&p, &m, d("2026-06-23")), Some(d("2026-07-15")));
        // In summer (BST) the day starts at 23:00 UTC the evening before.
        assert_eq!(
            due_at(d("2026-07-15")).unwrap().to_string(),
            "2026-07-14T23:00:00Z"
        );
        // A last day on the Saturday before the clocks go back (25 October 2026): the
        // next day starts at 23:00 UTC, still BST; in winter at midnight UTC.
        let p = leaver("2026-10-24");
        assert_eq!(next_due(&p, &m, d("2026-10-01")), Some(d("2026-10-25")));
        assert_eq!(
            due_at(d("2026-10-25")).unwrap().to_string(),
            "2026-10-24T23:00:00Z"
        );
        assert_eq!(
            due_at(d("2026-10-26")).unwrap().to_string(),
            "2026-10-26T00:00:00Z"
        );
        // The day the clocks go forward (29 March 2026) starts at midnight GMT.
        assert_eq!(
            due_at(d("2026-03-29")).unwrap().to_string(),
            "2026-03-29T00:00:00Z"
        );
    }

    #[test]
    fn joiners_movers_and_retention_each_have_their_day() {
        let m = model();
        let mut joiner = nurse("20000002");
        joiner.assignments[0].start_date = IsoDate(d("2027-01-05"));
        // Prepared five days ahead (the default), enabled on the first day.
        assert_eq!(
            next_due(&joiner, &m, d("2026-12-01")),
            Some(d("2026-12-31"))
        );
        assert_eq!(
            next_due(&joiner, &m, d("2026-12-31")),
            Some(d("2027-01-05"))
        );
        assert_eq!(
            next_due(&joiner, &m, d("2027-01-05")),
            None,
            "in post, nothing more"
        );
        // AD keeps a mover's old groups 14 days; AD deletes 395 days after leaving.
        let p = leaver("2026-01-31");
        let days = checkpoints(&p, &m);
        assert!(days.contains(&d("2026-02-01")));
        assert!(
            days.contains(&d("2026-02-15")),
            "end of AD's 14-day handover"
        );
        assert!(
            days.contains(&d("2027-03-03")),
            "the day after 395 days: {days:?}"
        );
        assert_eq!(next_due(&p, &m, d("2027-03-03")), None);
    }

    /// Wherever the desired state turns between two days, a checkpoint lies in between:
    /// planning at each checkpoint never misses a change.
    #[test]
    fn no_change_of_desired_state_falls_between_checkpoints() {
        let m = model();
        let mut mover = nurse("20000003");
        let mut second = mover.assignments[0].clone();
        second.assignment_number = crate::hr::NonBlank::parse("20000003-2").unwrap();
        second.primary = false;
        second.job_role = Some("Healthcare Assistant".into());
        second.staff_group = Some("Additional Clinical Services".into());
        second.start_date = IsoDate(d("2026-11-01"));
        mover.assignments[0].end_date = Some(IsoDate(d("2026-10-31")));
        mover.assignments.push(second);
        for p in [leaver("2026-01-31"), mover, nurse("20000004")] {
            let days = checkpoints(&p, &m);
            let mut day = d("2025-12-01");
            let mut before = crate::desired::desired_state(&p, &m, day);
            while day < d("2027-06-01") {
                let next = add_days(day, 1).unwrap();
                let after = crate::desired::desired_state(&p, &m, next);
                if after != before {
                    assert!(
                        days.contains(&next),
                        "{}: desired state turns on {next} with no checkpoint",
                        p.employee_number
                    );
                }
                (day, before) = (next, after);
            }
        }
    }
}
