use super::*;
use crate::hr::AssignmentStatus;
use crate::testkit::{assignment, model};

#[test]
fn the_example_role_model_loads_cleanly() {
    let (m, findings) = RoleModel::parse(
        "examples/role-model.toml",
        include_str!("../../../../examples/role-model.toml"),
    )
    .unwrap();
    assert!(findings.problems.is_empty(), "{:?}", findings.problems);
    assert!(m.roles.len() >= 12);
    for r in [
        "ward_nurse",
        "consultant",
        "gp",
        "receptionist",
        "medical_secretary",
        "admin_clerical",
        "estates",
        "it_systems_support",
        "caldicott_guardian",
        "student",
        "bank_staff",
        "agency",
    ] {
        assert!(m.roles.contains_key(r), "{r}");
    }
    assert!(!m.systems["emis"].allows_delete());
    assert!(m.systems["ad"].allows_delete());
}

#[test]
fn every_problem_is_reported_at_once_with_its_line() {
    let text = r#"version = 1

[systems.ad]
name = "AD"
delete_after_days = 30
inactivity_notice_days = 3

[systems.emis]
name = "EMIS"
holds_clinical_history = true
delete_after_days = 30

[systems.broken]
name = "x"
leaver = "shred"

[roles.nurse]
grants = { ad = ["GG-Nursing"], sharepoint = ["Site"] }

[roles.unused]
grants = { ad = ["GG-X"] }

[[rules]]
id = "nurses"
grant = ["nurse", "matron"]
match = { staff_group = ["Nursing and Midwifery Registered"], job_role = [] }

[[rules]]
id = "nurses"
grant = ["nurse"]
match = { staf_group = ["x"] }
"#;
    let findings = RoleModel::parse("model.toml", text).unwrap_err();
    let lines: Vec<String> = findings.problems.iter().map(|p| p.to_string()).collect();
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(
        has("model.toml:6: error: system `ad`: inactivity_notice_days is 3"),
        "{lines:#?}"
    );
    assert!(
        has("model.toml:11: error: system `emis` holds clinical history"),
        "{lines:#?}"
    );
    assert!(
        has("model.toml:13: error: system `broken`: unknown variant `shred`"),
        "{lines:#?}"
    );
    assert!(
        has("model.toml:18: error: role `nurse` grants on system `sharepoint`"),
        "{lines:#?}"
    );
    assert!(
        has("model.toml:25: error: rule `nurses` grants role `matron`"),
        "{lines:#?}"
    );
    assert!(
        has("model.toml:26: error: rule `nurses`: match.job_role is empty"),
        "{lines:#?}"
    );
    assert!(
        has("model.toml:28: error: rule: unknown field `staf_group`"),
        "{lines:#?}"
    );
    assert!(
        has("warning: role `unused` is not granted by any rule"),
        "{lines:#?}"
    );
    assert!(findings.errors().count() >= 7);
}

#[test]
fn a_syntax_error_names_its_line() {
    let findings = RoleModel::parse("m.toml", "version = 1\n[systems.ad\nname = 1\n").unwrap_err();
    assert_eq!(findings.problems.len(), 1);
    assert!(
        findings.problems[0]
            .to_string()
            .starts_with("m.toml:2: error:"),
        "{}",
        findings.problems[0]
    );
}

#[test]
fn rules_match_with_globs_and_exclusions() {
    let m = model();
    let rule = |id: &str| m.rules.iter().find(|r| r.id == id).unwrap();
    let nurse = assignment(
        "1-1",
        AssignmentStatus::ActiveAssignment,
        "Nursing and Midwifery Registered",
        "Sister/Charge Nurse",
        "Ward 7",
        "2019-01-01",
        None,
    );
    assert!(rule("registered-nursing").matches(&nurse));
    let bank = assignment(
        "1-2",
        AssignmentStatus::ActiveAssignment,
        "Nursing and Midwifery Registered",
        "Staff Nurse",
        "Nurse Bank",
        "2019-01-01",
        None,
    );
    assert!(
        !rule("registered-nursing").matches(&bank),
        "bank shifts do not get the ward role"
    );
    assert!(rule("staff-bank").matches(&bank));
    let student = assignment(
        "2-1",
        AssignmentStatus::ActiveAssignment,
        "Students",
        "Student Nurse",
        "Ward 7",
        "2019-01-01",
        None,
    );
    assert!(!rule("all-staff").matches(&student));
    let mut missing = nurse.clone();
    missing.job_role = None;
    assert!(
        !rule("registered-nursing").matches(&missing),
        "a missing field never matches"
    );
}

#[test]
fn managed_entitlements_default_to_what_roles_grant() {
    let m = model();
    assert!(m.systems["ad"].manages("GG-Anything"));
    assert!(!m.systems["ad"].manages("Domain Users"));
    assert!(m.systems["emis"].manages("GP"));
    assert!(!m.systems["emis"].manages("Practice Manager (local)"));
    assert!(m.looks_generic("ward7.nurses", ""));
    assert!(m.looks_generic("x1", "Main Reception"));
    assert!(!m.looks_generic("aokafor", "Amara Okafor"));
    assert!(m.is_approved_generic("ad", "ED.Triage.Kiosk"));
}

#[test]
fn day_counts_beyond_ten_years_are_refused_by_name() {
    let text = r#"version = 1

[systems.ad]
name = "AD"
delete_after_days = 4000000000
mover_grace_days = 4000000000
inactivity_days = 4294967295

[roles.staff]
grants = { ad = [] }

[[rules]]
id = "all"
grant = ["staff"]
"#;
    let findings = RoleModel::parse("model.toml", text).unwrap_err();
    let text: Vec<String> = findings.problems.iter().map(|p| p.to_string()).collect();
    for (line, key) in [
        (5, "delete_after_days is 4000000000"),
        (6, "mover_grace_days is 4000000000"),
        (7, "inactivity_days is 4294967295"),
    ] {
        assert!(
            text.iter()
                .any(|t| t.starts_with(&format!("model.toml:{line}:")) && t.contains(key)),
            "{key} at line {line}: {text:?}"
        );
    }
}

/// A problem's line is looked for in its own section only: a rule naming an unknown role
/// in single quotes is placed at its own rule, not at a later rule that names it in
/// double quotes.
#[test]
fn a_problem_is_placed_in_its_own_section() {
    let text = "version = 1\n\
                [systems.ad]\n\
                name = \"AD\"\n\
                [roles.nurse]\n\
                grants = { ad = [\"GG-Nursing\"] }\n\
                [[rules]]\n\
                id = \"first\"\n\
                grant = ['ghost']\n\
                [[rules]]\n\
                id = \"second\"\n\
                grant = [\"nurse\", \"ghost\"]\n";
    let findings = RoleModel::parse("model.toml", text).unwrap_err();
    let first = findings
        .problems
        .iter()
        .find(|p| p.message.contains("rule `first` grants role `ghost`"))
        .unwrap();
    assert!(
        first.line.is_some_and(|l| l <= 8),
        "placed at the second rule: {first}"
    );
}
