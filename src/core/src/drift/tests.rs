use super::*;
use crate::account::Account;
use crate::hr::{AssignmentStatus, IsoDate};
use crate::testkit::{account, d, model, nurse};

fn run(people: &[Person], accounts: &[Account]) -> Vec<(Category, Option<String>, Option<String>)> {
    run_with(&model(), people, accounts)
}

fn run_with(
    m: &RoleModel,
    people: &[Person],
    accounts: &[Account],
) -> Vec<(Category, Option<String>, Option<String>)> {
    findings_with(m, people, accounts)
        .into_iter()
        .map(|f| (f.category, f.account, f.employee_number))
        .collect()
}

/// The findings on 23 November 2026, whole.
fn findings_with(m: &RoleModel, people: &[Person], accounts: &[Account]) -> Vec<Finding> {
    let tz = TimeZone::get("Europe/London").unwrap();
    let systems: Vec<String> = accounts
        .iter()
        .map(|a| a.system.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let per: Vec<Held> = systems
        .iter()
        .map(|s| {
            let mine: Vec<Account> = accounts
                .iter()
                .filter(|a| &a.system == s)
                .cloned()
                .collect();
            Held::from_accounts(&mine).unwrap()
        })
        .collect();
    let sa: Vec<SystemAccounts<'_>> = systems
        .iter()
        .zip(&per)
        .map(|(s, a)| SystemAccounts {
            system: s,
            accounts: a,
            has_last_logon: true,
        })
        .collect();
    findings(m, people, &BTreeSet::new(), &sa, d("2026-11-23"), &tz)
}

fn recent(mut a: Account) -> Account {
    a.last_logon = Some("2026-11-20T09:00:00Z".parse().unwrap());
    a
}

fn s(x: &str) -> Option<String> {
    Some(x.to_string())
}

#[test]
fn a_correct_estate_has_no_findings() {
    let n = nurse("20000001");
    let accounts = vec![
        recent(account(
            "ad",
            "aokafor",
            s("20000001").as_deref(),
            true,
            &["GG-AllStaff", "GG-Clinical", "GG-Nursing", "Domain Users"],
        )),
        recent(account(
            "nhsmail",
            "amara.okafor@nhs.net",
            s("20000001").as_deref(),
            true,
            &["Mailbox"],
        )),
        account("ad", "ed.triage.kiosk", None, true, &[]),
        account("ad", "old.orphan", None, false, &[]),
    ];
    assert_eq!(run(&[n], &accounts), vec![]);
}

#[test]
fn each_category_is_found() {
    let mut leaver = nurse("20000002");
    leaver.assignments[0].status = AssignmentStatus::TerminateAssignment;
    leaver.assignments[0].end_date = Some(IsoDate(d("2026-10-31")));
    let mut joiner = nurse("20000003");
    joiner.assignments[0].start_date = IsoDate(d("2027-01-04"));
    let mut suspended = nurse("20000004");
    suspended.assignments[0].status = AssignmentStatus::SuspendWithPay;
    let people = vec![
        nurse("20000001"),
        leaver,
        joiner,
        suspended,
        nurse("20000005"),
    ];
    let full = ["GG-AllStaff", "GG-Clinical", "GG-Nursing"];
    let mut dormant = account("ad", "dormant1", Some("20000005"), true, &full);
    dormant.last_logon = Some("2026-06-01T09:00:00Z".parse().unwrap());
    let accounts = vec![
        recent(account(
            "ad",
            "aokafor",
            Some("20000001"),
            true,
            &["GG-AllStaff", "GG-Clinical", "GG-IT-Support"],
        )),
        recent(account("ad", "aokafor2", Some("20000001"), true, &full)),
        recent(account("ad", "leaver1", Some("20000002"), true, &full)),
        account("ad", "joiner1", Some("20000003"), true, &full),
        recent(account("ad", "susp1", Some("20000004"), true, &full)),
        dormant,
        account("ad", "jbloggs", Some("99999999"), true, &[]),
        account("ad", "ward7.nurses", None, true, &[]),
    ];
    let got = run(&people, &accounts);
    let want = vec![
        (Category::LeaverStillActive, s("leaver1"), s("20000002")),
        // Signed in on 20 November, after leaving on 31 October.
        (Category::UsedAfterLeaving, s("leaver1"), s("20000002")),
        (Category::AbsentStillActive, s("susp1"), s("20000004")),
        (Category::EnabledBeforeStart, s("joiner1"), s("20000003")),
        (Category::OrphanAccount, s("jbloggs"), s("99999999")),
        (Category::GenericAccount, s("ward7.nurses"), None),
        (Category::DuplicateAccount, s("aokafor"), s("20000001")),
        (Category::DuplicateAccount, s("aokafor2"), s("20000001")),
        (Category::DormantAccount, s("dormant1"), s("20000005")),
        (Category::MissingEntitlement, s("aokafor"), s("20000001")),
        (Category::ExcessEntitlement, s("aokafor"), s("20000001")),
    ];
    assert_eq!(got, want);
    // The SystmOne and smartcard accounts the role model grants are missing only where an
    // export for that system was given.
    let with_s1 = run(
        &[nurse("20000001")],
        &[account("systmone", "OTHER", Some("20000009"), false, &[])],
    );
    assert_eq!(
        with_s1,
        vec![(Category::MissingAccount, None, s("20000001"))]
    );
}

#[test]
fn a_leaver_whose_disabled_account_keeps_groups_is_excess_and_clinical_profiles_are_not() {
    let mut leaver = nurse("20000002");
    leaver.assignments[0].status = AssignmentStatus::TerminateAssignment;
    leaver.assignments[0].end_date = Some(IsoDate(d("2026-10-31")));
    let got = run(
        std::slice::from_ref(&leaver),
        &[
            account("ad", "leaver1", Some("20000002"), false, &["GG-Nursing"]),
            account("systmone", "LEAVER1", Some("20000002"), false, &["Nurse"]),
        ],
    );
    assert_eq!(
        got,
        vec![(Category::ExcessEntitlement, s("leaver1"), s("20000002"))]
    );
}

#[test]
fn day_counts_at_their_type_limit_neither_panic_nor_wrap() {
    // A role model that skipped `validate`: every day count at u32::MAX.
    let mut m = model();
    let ad = m.systems.get_mut("ad").unwrap();
    ad.policy.inactivity_days = Some(u32::MAX);
    ad.policy.delete_after_days = Some(u32::MAX);
    ad.policy.mover_grace_days = u32::MAX;
    let full = ["GG-AllStaff", "GG-Nursing", "GG-Ward7"];
    let mut idle = account("ad", "idle", Some("20000001"), true, &full);
    idle.last_logon = Some("2020-01-01T09:00:00Z".parse().unwrap());
    let mut leaver = nurse("20000002");
    leaver.assignments[0].status = AssignmentStatus::TerminateAssignment;
    leaver.assignments[0].end_date = Some(IsoDate(d("2026-01-31")));
    let gone = account("ad", "gone", Some("20000002"), false, &[]);
    let found = run_with(&m, &[nurse("20000001"), leaver], &[idle, gone]);
    assert!(
        !found.iter().any(|(c, _, _)| *c == Category::DormantAccount),
        "idle for six years is not dormant under an inactivity period of u32::MAX days: {found:?}"
    );
    // The same account under the shipped model is dormant: the test can fail.
    let mut idle = account("ad", "idle", Some("20000001"), true, &full);
    idle.last_logon = Some("2020-01-01T09:00:00Z".parse().unwrap());
    assert!(
        run(&[nurse("20000001")], &[idle])
            .iter()
            .any(|(c, _, _)| *c == Category::DormantAccount)
    );
}

#[test]
fn dormancy_begins_the_day_after_inactivity_days() {
    // AD: inactivity_days = 90. Judged on 2026-11-23.
    let full = ["GG-AllStaff", "GG-Clinical", "GG-Nursing"];
    let idle_since = |date: &str| {
        let mut a = account("ad", "idle", Some("20000001"), true, &full);
        a.last_logon = Some(format!("{date}T09:00:00Z").parse().unwrap());
        a
    };
    let dormant = |a: Account| {
        run(&[nurse("20000001")], &[a])
            .iter()
            .any(|(c, _, _)| *c == Category::DormantAccount)
    };
    assert!(
        !dormant(idle_since("2026-08-25")),
        "90 days idle is not yet dormant"
    );
    assert!(dormant(idle_since("2026-08-24")), "91 days idle is dormant");
    // Never logged on: counted from the first day in post.
    let mut fresh = nurse("20000001");
    fresh.assignments[0].start_date = IsoDate(d("2026-08-25"));
    let never = account("ad", "idle", Some("20000001"), true, &full);
    assert!(
        !run(std::slice::from_ref(&fresh), std::slice::from_ref(&never))
            .iter()
            .any(|(c, _, _)| *c == Category::DormantAccount),
        "started 90 days ago, never logged on: not yet"
    );
    fresh.assignments[0].start_date = IsoDate(d("2026-08-24"));
    assert!(
        run(&[fresh], &[never])
            .iter()
            .any(|(c, _, _)| *c == Category::DormantAccount)
    );
}

#[test]
fn accounts_of_people_held_back_are_not_judged() {
    let m = model();
    let tz = TimeZone::get("Europe/London").unwrap();
    let a = account("ad", "held", Some("20000009"), true, &["GG-AllStaff"]);
    let accounts = Held::from_accounts(&[a]).unwrap();
    let sa = [SystemAccounts {
        system: "ad",
        accounts: &accounts,
        has_last_logon: true,
    }];
    let held: BTreeSet<String> = ["20000009".to_string()].into();
    let found = findings(&m, &[nurse("20000001")], &held, &sa, d("2026-11-23"), &tz);
    assert!(
        found.iter().all(|f| f.account.as_deref() != Some("held")),
        "a held-back person's account is neither orphan nor anything else: {found:?}"
    );
    // Without the hold, it is an orphan: the test can fail.
    let found = findings(
        &m,
        &[nurse("20000001")],
        &BTreeSet::new(),
        &sa,
        d("2026-11-23"),
        &tz,
    );
    assert!(found.iter().any(|f| f.category == Category::OrphanAccount));
}

#[test]
fn categories_and_severities_are_named_as_the_contract_says() {
    let names: Vec<String> = Category::ALL.iter().map(|c| c.to_string()).collect();
    assert_eq!(
        names,
        [
            "leaver_still_active",
            "used_after_leaving",
            "absent_still_active",
            "enabled_before_start",
            "orphan_account",
            "generic_account",
            "duplicate_account",
            "dormant_account",
            "missing_account",
            "missing_entitlement",
            "excess_entitlement",
            "service_removal_due",
            "possible_unrecorded_leaver",
            "possible_duplicate"
        ]
    );
    assert_eq!(
        [Severity::High, Severity::Medium, Severity::Low].map(Severity::as_str),
        ["high", "medium", "low"]
    );
}

/// An unlinked account named like one person in the extract is a possible duplicate of
/// theirs, not an orphan; named like two people, or like nobody, it stays an orphan.
#[test]
fn an_unanchored_account_named_like_one_person_is_a_possible_duplicate() {
    let mut known_as = crate::testkit::named(
        "20000002",
        "Margaret",
        "Smith-Jones",
        nurse("x").assignments,
    );
    known_as.preferred_name = Some("Peggy".into());
    let people = vec![
        nurse("20000001"),
        known_as,
        crate::testkit::named("20000003", "John", "Smith", vec![]),
        crate::testkit::named("20000004", "John", "Smith", vec![]),
    ];
    let named = |id: &str, display: &str| {
        let mut a = recent(account("ad", id, None, true, &[]));
        a.display_name = display.into();
        a
    };
    let accounts = vec![
        recent(account(
            "ad",
            "aokafor",
            Some("20000001"),
            true,
            &["GG-AllStaff", "GG-Clinical", "GG-Nursing"],
        )),
        named("aokafor.old", "OKAFOR, Amara"),
        named("pjones", "Peggy Smith Jones"),
        named("jsmith", "John Smith"),
        named("nobody", "Zed Nobody"),
    ];
    let got: Vec<_> = run(&people, &accounts)
        .into_iter()
        .filter(|f| matches!(f.0, Category::PossibleDuplicate | Category::OrphanAccount))
        .collect();
    assert_eq!(
        got,
        vec![
            (Category::OrphanAccount, s("jsmith"), None),
            (Category::OrphanAccount, s("nobody"), None),
            (Category::PossibleDuplicate, s("aokafor.old"), s("20000001")),
            (Category::PossibleDuplicate, s("pjones"), s("20000002")),
        ]
    );
}

/// A person whose given name is also their family name ("Tan Tan") folds to one name key
/// in both word orders, and an account of that name is still theirs.
#[test]
fn an_account_named_like_a_person_with_one_name_twice_is_their_possible_duplicate() {
    let people = vec![
        nurse("20000001"),
        crate::testkit::named("20000005", "Tan", "Tan", vec![]),
    ];
    let mut twice = recent(account("ad", "ttan", None, true, &[]));
    twice.display_name = "TAN, Tan".into();
    let accounts = vec![
        recent(account(
            "ad",
            "aokafor",
            Some("20000001"),
            true,
            &["GG-AllStaff", "GG-Clinical", "GG-Nursing"],
        )),
        twice,
    ];
    let got: Vec<_> = run(&people, &accounts)
        .into_iter()
        .filter(|f| matches!(f.0, Category::PossibleDuplicate | Category::OrphanAccount))
        .collect();
    assert_eq!(
        got,
        vec![(Category::PossibleDuplicate, s("ttan"), s("20000005"))]
    );
}

#[test]
fn a_generic_login_is_named_by_its_display_name_or_else_its_id() {
    let m = model();
    let tz = TimeZone::get("Europe/London").unwrap();
    let mut named = account("ad", "ward7-kiosk", None, true, &[]);
    named.display_name = "Ward 7 Kiosk".into();
    let bare = account("ad", "training-pc3", None, true, &[]);
    let accounts = Held::from_accounts(&[named, bare]).unwrap();
    let sa = [SystemAccounts {
        system: "ad",
        accounts: &accounts,
        has_last_logon: true,
    }];
    let found = findings(&m, &[], &BTreeSet::new(), &sa, d("2026-11-23"), &tz);
    let details: Vec<&str> = found.iter().map(|f| f.detail.as_str()).collect();
    assert!(
        details.iter().any(|t| t.contains("\"Ward 7 Kiosk\"")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|t| t.contains("\"training-pc3\"")),
        "{details:?}"
    );
}

#[test]
fn rows_not_listed_are_reported_only_when_there_are_some() {
    let mut inputs = Inputs::default();
    let text = serde_json::to_string(&inputs).unwrap();
    assert!(!text.contains("row_errors_not_listed"), "{text}");
    inputs.row_errors_not_listed = 7;
    let text = serde_json::to_string(&inputs).unwrap();
    assert!(text.contains("\"row_errors_not_listed\":7"), "{text}");
}

/// Two enabled accounts on a system no role of theirs grants: excess access, and
/// duplicates too, as the README defines them.
#[test]
fn two_enabled_accounts_on_an_ungranted_system_are_duplicates_as_well() {
    let n = nurse("20000001");
    let got = run(
        std::slice::from_ref(&n),
        &[
            recent(account("emis", "EMIS1", Some("20000001"), true, &[])),
            recent(account("emis", "EMIS2", Some("20000001"), true, &[])),
        ],
    );
    let count = |c: Category| got.iter().filter(|(k, _, _)| *k == c).count();
    assert_eq!(count(Category::DuplicateAccount), 2, "{got:?}");
    assert_eq!(count(Category::ExcessEntitlement), 2, "{got:?}");
}

/// A person's accounts are grouped from all over the export (between other people's)
/// and named in the export's order, whatever their names.
#[test]
fn a_persons_accounts_are_found_wherever_they_are_and_kept_in_the_exports_order() {
    let tz = TimeZone::get("Europe/London").unwrap();
    let people = [nurse("20000001"), nurse("20000002")];
    let ad = [
        recent(account("ad", "zz-nurse", Some("20000001"), true, &[])),
        recent(account("ad", "other", Some("20000002"), true, &[])),
        recent(account("ad", "aa-nurse", Some("20000001"), true, &[])),
        recent(account("ad", "mm-nurse", Some("20000001"), true, &[])),
    ];
    let held = Held::from_accounts(&ad).unwrap();
    let sa = [SystemAccounts {
        system: "ad",
        accounts: &held,
        has_last_logon: true,
    }];
    let found = findings(
        &model(),
        &people,
        &BTreeSet::new(),
        &sa,
        d("2026-11-23"),
        &tz,
    );
    let duplicates: Vec<&Finding> = found
        .iter()
        .filter(|f| f.category == Category::DuplicateAccount)
        .collect();
    assert_eq!(duplicates.len(), 3, "{found:#?}");
    for f in duplicates {
        assert_eq!(f.employee_number.as_deref(), Some("20000001"));
        assert!(
            f.detail.ends_with("accounts: zz-nurse, aa-nurse, mm-nurse"),
            "{}",
            f.detail
        );
    }
}

/// One employee number on two records (an ESR record and a sponsored identity): each is
/// judged with the number's accounts, as the two are judged on their own.
#[test]
fn two_records_with_one_number_are_each_judged_with_its_accounts() {
    let got = run(
        &[nurse("20000001"), nurse("20000001")],
        &[
            recent(account("ad", "one", Some("20000001"), true, &[])),
            recent(account("ad", "two", Some("20000001"), true, &[])),
        ],
    );
    let count = |c: Category| got.iter().filter(|(k, _, _)| *k == c).count();
    assert_eq!(count(Category::DuplicateAccount), 4, "{got:?}");
    assert_eq!(count(Category::MissingAccount), 0, "{got:?}");
}

#[test]
fn an_account_the_service_itself_will_remove_is_reported_while_the_person_is_employed() {
    // NHSmail deletes mailboxes unused for 60 days; report from 30 days before.
    let m = crate::policy::RoleModel::parse(
        "m.toml",
        &include_str!("../../../../examples/role-model.toml").replace(
            "[systems.nhsmail]\nname = \"NHSmail\"",
            "[systems.nhsmail]\nname = \"NHSmail\"\nservice_removes_unused_after_days = 60",
        ),
    )
    .map(|(m, _)| m)
    .unwrap();
    let mailbox = |id: &str, emp: &str, last: &str| {
        let mut a = account("nhsmail", id, Some(emp), true, &["Mailbox"]);
        a.last_logon = Some(last.parse().unwrap());
        a
    };
    let mut leaver = nurse("20000003");
    leaver.assignments[0].status = AssignmentStatus::TerminateAssignment;
    leaver.assignments[0].end_date = Some(IsoDate(d("2026-09-30")));
    let all = findings_with(
        &m,
        &[
            nurse("20000001"),
            nurse("20000002"),
            leaver,
            nurse("20000004"),
            nurse("20000005"),
            nurse("20000006"),
        ],
        &[
            // 40 days unused: removed in 20 days.
            mailbox("a@nhs.net", "20000001", "2026-10-14T09:00:00Z"),
            // 30 days unused: the notice starts today; 29: tomorrow.
            mailbox("d@nhs.net", "20000004", "2026-10-24T09:00:00Z"),
            mailbox("e@nhs.net", "20000005", "2026-10-25T09:00:00Z"),
            // 60 days unused: at the limit, removed now.
            mailbox("f@nhs.net", "20000006", "2026-09-24T09:00:00Z"),
            // 20 days unused: not yet.
            mailbox("b@nhs.net", "20000002", "2026-11-03T09:00:00Z"),
            // A leaver's mailbox going is no loss (reported as a leaver instead).
            mailbox("c@nhs.net", "20000003", "2026-09-01T09:00:00Z"),
        ],
    );
    let detail = |id: &str| {
        all.iter()
            .find(|f| f.category == Category::ServiceRemovalDue && f.account.as_deref() == Some(id))
            .map(|f| f.detail.clone())
            .unwrap_or_default()
    };
    assert!(
        detail("a@nhs.net").contains("in 20 days"),
        "{}",
        detail("a@nhs.net")
    );
    assert!(
        detail("d@nhs.net").contains("in 30 days"),
        "{}",
        detail("d@nhs.net")
    );
    assert!(
        detail("f@nhs.net").contains("now (past the limit)"),
        "{}",
        detail("f@nhs.net")
    );
    let got: Vec<_> = all
        .into_iter()
        .map(|f| (f.category, f.account, f.employee_number))
        .collect();
    let removal: Vec<_> = got
        .iter()
        .filter(|f| f.0 == Category::ServiceRemovalDue)
        .collect();
    assert_eq!(
        removal,
        [
            &(Category::ServiceRemovalDue, s("a@nhs.net"), s("20000001")),
            &(Category::ServiceRemovalDue, s("d@nhs.net"), s("20000004")),
            &(Category::ServiceRemovalDue, s("f@nhs.net"), s("20000006"))
        ],
        "{got:?}"
    );
    // Without the setting (the example model), nothing of the kind.
    let plain = run(
        &[nurse("20000001")],
        &[mailbox("a@nhs.net", "20000001", "2026-10-14T09:00:00Z")],
    );
    assert!(
        plain.iter().all(|f| f.0 != Category::ServiceRemovalDue),
        "{plain:?}"
    );
}

#[test]
fn someone_in_post_unused_everywhere_may_have_left_without_hr_knowing() {
    let stale = |system: &str, id: &str, emp: &str, at: &str| {
        let mut a = account(
            system,
            id,
            Some(emp),
            true,
            &["GG-AllStaff", "GG-Clinical", "GG-Nursing"],
        );
        a.last_logon = Some(at.parse().unwrap());
        a
    };
    let got = run(
        &[nurse("20000001"), nurse("20000002")],
        &[
            // Unused for over 90 days (the longest inactivity_days) on both systems.
            stale("ad", "aokafor", "20000001", "2026-07-01T09:00:00Z"),
            stale("nhsmail", "a@nhs.net", "20000001", "2026-08-01T09:00:00Z"),
            // Unused on AD, but reading mail last week: in post.
            stale("ad", "bcole", "20000002", "2026-07-01T09:00:00Z"),
            stale("nhsmail", "b@nhs.net", "20000002", "2026-11-16T09:00:00Z"),
        ],
    );
    let flagged: Vec<_> = got
        .iter()
        .filter(|f| f.0 == Category::PossibleUnrecordedLeaver)
        .collect();
    assert_eq!(
        flagged,
        [&(
            Category::PossibleUnrecordedLeaver,
            s("a@nhs.net"),
            s("20000001")
        )],
        "one finding, on the account used last: {got:?}"
    );
    // One system alone is dormancy, not a possible leaver.
    let one = run(
        &[nurse("20000001")],
        &[stale("ad", "aokafor", "20000001", "2026-07-01T09:00:00Z")],
    );
    assert!(
        one.iter()
            .all(|f| f.0 != Category::PossibleUnrecordedLeaver),
        "{one:?}"
    );
}

#[test]
fn a_leaver_s_account_used_after_the_last_working_day_is_its_own_high_finding() {
    let mut leaver = nurse("20000002");
    leaver.assignments[0].status = AssignmentStatus::TerminateAssignment;
    leaver.assignments[0].end_date = Some(IsoDate(d("2026-10-31")));
    let full = ["GG-AllStaff", "GG-Clinical", "GG-Nursing"];
    // 23:30 UTC on 31 October is still the last working day in London (GMT); 00:30 on
    // 1 November (GMT) is after it. Disabled now, but used after leaving.
    let mut on_last_day = account("ad", "lastday", Some("20000002"), false, &[]);
    on_last_day.last_logon = Some("2026-10-31T23:30:00Z".parse().unwrap());
    let mut after = account("nhsmail", "after", Some("20000002"), false, &[]);
    after.last_logon = Some("2026-11-01T00:30:00Z".parse().unwrap());
    let mut enabled = account("ad", "still", Some("20000002"), true, &full);
    enabled.last_logon = Some("2026-11-20T09:00:00Z".parse().unwrap());
    let got = run(&[leaver], &[on_last_day, after, enabled]);
    assert_eq!(
        got,
        vec![
            (Category::LeaverStillActive, s("still"), s("20000002")),
            (Category::UsedAfterLeaving, s("still"), s("20000002")),
            (Category::UsedAfterLeaving, s("after"), s("20000002")),
        ]
    );
    assert_eq!(Category::UsedAfterLeaving.severity(), Severity::High);
}

fn report_of(today: &str, findings: Vec<Finding>) -> Report {
    Report::new(Timestamp::UNIX_EPOCH, d(today), findings, Inputs::default())
}

fn f(category: Category, account: &str, detail: &str) -> Finding {
    Finding {
        category,
        system: "ad".into(),
        account: s(account),
        employee_number: s("20000001"),
        detail: detail.into(),
        severity: category.severity(),
        last_logon: None,
        trend: None,
    }
}

fn previous(report: &Report) -> Previous {
    serde_json::from_value(serde_json::to_value(report).unwrap()).unwrap()
}

#[test]
fn a_comparison_marks_new_persisting_with_age_and_resolved() {
    let first = report_of(
        "2026-10-01",
        vec![
            f(Category::DormantAccount, "a", "idle 100 days"),
            f(Category::MissingEntitlement, "b", "GG-One is not held"),
            f(Category::MissingEntitlement, "b", "GG-Two is not held"),
            f(Category::OrphanAccount, "gone", "enabled"),
        ],
    );
    let mut second = report_of(
        "2026-10-31",
        vec![
            // The day count moved on: still the same finding.
            f(Category::DormantAccount, "a", "idle 130 days"),
            f(Category::MissingEntitlement, "b", "GG-Two is not held"),
            f(Category::MissingEntitlement, "b", "GG-Three is not held"),
        ],
    );
    compare(&mut second, &previous(&first));
    let trends: Vec<(TrendStatus, Date, i32)> = second
        .findings
        .iter()
        .map(|f| {
            let t = f.trend.unwrap();
            (t.status, t.first_seen, t.age_days)
        })
        .collect();
    assert_eq!(
        trends,
        vec![
            (TrendStatus::Persisting, d("2026-10-01"), 30),
            (TrendStatus::Persisting, d("2026-10-01"), 30),
            (TrendStatus::Persisting, d("2026-10-01"), 30),
        ]
    );
    let c = second.comparison.clone().unwrap();
    assert_eq!((c.new, c.persisting), (0, 3));
    assert_eq!(c.resolved.len(), 1);
    assert_eq!(c.resolved[0].account.as_deref(), Some("gone"));
    assert_eq!(c.resolved[0].age_days, 30);

    // A third report carries the first day seen on, and a finding new since is new.
    let mut third = report_of(
        "2026-11-30",
        vec![
            f(Category::DormantAccount, "a", "idle 160 days"),
            f(Category::LeaverStillActive, "c", "enabled"),
        ],
    );
    compare(&mut third, &previous(&second));
    let t: Vec<Trend> = third.findings.iter().map(|f| f.trend.unwrap()).collect();
    assert_eq!(
        (t[0].status, t[0].first_seen, t[0].age_days),
        (TrendStatus::Persisting, d("2026-10-01"), 60)
    );
    assert_eq!(
        (t[1].status, t[1].first_seen, t[1].age_days),
        (TrendStatus::New, d("2026-11-30"), 0)
    );
    assert_eq!(third.comparison.unwrap().resolved.len(), 2);
}

/// Sharing the people out among threads changes nothing: the same findings in the same
/// order, for a population mixing leavers, people away, orphans, duplicates, missing and
/// excess access across systems.
#[test]
fn findings_are_the_same_whatever_the_number_of_workers() {
    let tz = TimeZone::get("Europe/London").unwrap();
    let m = model();
    let mut people = Vec::new();
    let mut ad = Vec::new();
    let mut emis = Vec::new();
    for i in 0..3000u32 {
        let number = format!("{}", 30_000_000 + i);
        let mut p = nurse(&number);
        match i % 7 {
            0 => {
                p.assignments[0].status = AssignmentStatus::TerminateAssignment;
                p.assignments[0].end_date = Some(IsoDate(d("2026-10-31")));
            }
            1 => p.assignments[0].status = AssignmentStatus::MaternityAndAdoption,
            _ => {}
        }
        people.push(p);
        let groups: &[&str] = match i % 5 {
            0 => &[],
            1 => &["GG-AllStaff", "GG-Nursing", "GG-Finance"],
            _ => &["GG-AllStaff", "GG-Nursing"],
        };
        if i % 11 != 0 {
            ad.push(account(
                "ad",
                &format!("n{i}"),
                Some(&number),
                i % 13 != 0,
                groups,
            ));
        }
        if i % 17 == 0 {
            ad.push(account(
                "ad",
                &format!("n{i}b"),
                Some(&number),
                true,
                groups,
            ));
        }
        if i % 3 == 0 {
            emis.push(account(
                "emis",
                &format!("E{i}"),
                Some(&number),
                true,
                &["GP"],
            ));
        }
        if i % 19 == 0 {
            ad.push(account(
                "ad",
                &format!("orphan{i}"),
                Some("99999999"),
                true,
                &[],
            ));
        }
    }
    let sa = [
        SystemAccounts {
            system: "ad",
            accounts: &Held::from_accounts(&ad).unwrap(),
            has_last_logon: true,
        },
        SystemAccounts {
            system: "emis",
            accounts: &Held::from_accounts(&emis).unwrap(),
            has_last_logon: true,
        },
    ];
    let today = d("2026-11-23");
    let one = findings_on(&m, &people, &BTreeSet::new(), &sa, today, &tz, 1);
    assert!(
        one.len() > 1000,
        "a population with plenty to find: {}",
        one.len()
    );
    for workers in [2, 3, 8] {
        let many = findings_on(&m, &people, &BTreeSet::new(), &sa, today, &tz, workers);
        assert!(one == many, "{workers} workers gave other findings");
    }
}

/// Numbers of digits are keyed as integers without two numbers meeting: leading zeros,
/// lengths and numbers that are not digits (TRAC references, over nine digits) stay apart.
#[test]
fn employee_numbers_keyed_as_integers_stay_apart() {
    let numbers = [
        "123",
        "0123",
        "00123",
        "1230",
        "0",
        "00",
        "999999999",
        "1000000000",
        "0999999999",
        "4294967296",
        "00000000",
        "TRAC-123",
        "12a3",
        "",
    ];
    let mut by = ByNumber::with_capacity(numbers.len());
    for (i, n) in numbers.iter().enumerate() {
        assert_eq!(by.first(n, i as u32), i as u32, "{n} met another number");
    }
    for (i, n) in numbers.iter().enumerate() {
        assert_eq!(by.get(n), Some(i as u32), "{n}");
        // A second person with the number links to the first.
        assert_eq!(by.first(n, 100), i as u32, "{n}");
    }
    assert_eq!(by.get("1234"), None);
    assert_eq!(by.get("0000123"), None);
}

/// Numbers close together are held as a list: every number links to its first person,
/// numbers outside the list's span are still found, and a number nobody has is not.
#[test]
fn close_numbers_are_indexed_by_a_list() {
    let numbers: Vec<String> = (20_000_000u32..20_003_000)
        .filter(|n| n % 3 != 0)
        .map(|n| n.to_string())
        .collect();
    let mut by = ByNumber::for_numbers(numbers.iter().map(String::as_str));
    assert!(!by.dense.is_empty(), "held as a list");
    for (i, n) in numbers.iter().enumerate() {
        assert_eq!(by.first(n, i as u32), i as u32, "{n} met another number");
    }
    for (i, n) in numbers.iter().enumerate() {
        assert_eq!(by.get(n), Some(i as u32), "{n}");
        assert_eq!(
            by.first(n, 99_999),
            i as u32,
            "{n}: the first person keeps it"
        );
    }
    assert_eq!(by.get("20000001"), None, "nobody has it");
    assert_eq!(by.get("020000001"), None, "another text, another number");
    for (n, i) in [("19999999", 7_000), ("20003001", 7_001), ("4", 7_002)] {
        assert_eq!(by.get(n), None);
        assert_eq!(by.first(n, i), i, "{n}: outside the list");
        assert_eq!(by.get(n), Some(i), "{n}");
    }
    let far = ["20000001", "90000001", "10"];
    assert!(
        ByNumber::for_numbers(far.into_iter()).dense.is_empty(),
        "far apart: a table"
    );
}
