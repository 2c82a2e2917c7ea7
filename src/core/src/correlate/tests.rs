use super::*;
use crate::testkit::{account, named, nurse};
use proptest::prelude::*;

fn with(mut a: Account, pairs: &[(&str, &str)]) -> Account {
    for (k, v) in pairs {
        a.attributes.insert(k.to_string(), v.to_string());
    }
    a
}

fn naming() -> Naming {
    Naming {
        pattern: "{f}{last}".into(),
        max_len: 20,
    }
}

fn situation_of(people: &[Person], accounts: &[Account], settings: &Settings) -> Vec<Situation> {
    let n = naming();
    let ix = Index::new(accounts, settings, Some(&n));
    let refs: Vec<&Person> = people.iter().collect();
    let out = correlate(&ix, &refs, &BTreeMap::new(), 1);
    people
        .iter()
        .map(|p| out[p.employee_number.as_str()].clone())
        .collect()
}

#[test]
fn email_is_strong_and_names_fold() {
    let mut p = nurse("20000001");
    p.work_email = Some("Amara.Okafor@nhs.net".into());
    let accounts = vec![
        with(
            account("ad", "aokafor", None, true, &[]),
            &[(
                attr::OTHER_MAIL,
                "SMTP:amara.okafor@nhs.net;smtp:a.o@x.nhs.uk",
            )],
        ),
        with(
            account("ad", "svc-okafor", None, true, &[]),
            &[(attr::DISPLAY_NAME, "Okafor backup service")],
        ),
    ];
    let s = situation_of(&[p], &accounts, &Settings::default());
    let Situation::Strong { candidate, others } = &s[0] else {
        panic!("{s:?}")
    };
    assert_eq!(candidate.account, "aokafor");
    assert_eq!(candidate.rules, vec![Rule::Email, Rule::AccountName]);
    assert!(others.is_empty(), "the service account is not theirs");
}

#[test]
fn a_name_alone_is_weak_and_a_department_makes_it_strong() {
    let p = nurse("20000001");
    let bare = with(
        account("ad", "amara1", None, true, &[]),
        &[(attr::GIVEN_NAME, "AMARA"), (attr::FAMILY_NAME, "O'Kafor")],
    );
    let s = situation_of(
        std::slice::from_ref(&p),
        std::slice::from_ref(&bare),
        &Settings::default(),
    );
    assert!(
        matches!(&s[0], Situation::Disputed { candidates } if candidates.len() == 1 && !candidates[0].strong),
        "{s:?}"
    );
    let placed = with(bare, &[(attr::DEPARTMENT, "ward 7 medicine")]);
    let s = situation_of(&[p], &[placed], &Settings::default());
    let Situation::Strong { candidate, .. } = &s[0] else {
        panic!("{s:?}")
    };
    assert_eq!(candidate.evidence(), "name + department");
}

#[test]
fn known_as_names_and_reversed_display_names_match() {
    let mut p = named("20000002", "Margaret", "Smith-Jones", vec![]);
    p.preferred_name = Some("Peggy".into());
    let accounts = vec![with(
        account("ad", "x1", None, true, &[]),
        &[(attr::DISPLAY_NAME, "Smith Jones, Peggy")],
    )];
    let s = situation_of(&[p], &accounts, &Settings::default());
    assert_eq!(s[0].candidates().len(), 1, "{s:?}");
    assert_eq!(s[0].candidates()[0].rules, vec![Rule::Name]);
}

#[test]
fn twins_are_disputed_and_one_account_is_never_two_peoples() {
    let a = named("20000003", "John", "Smith", vec![]);
    let b = named("20000004", "John", "Smith", vec![]);
    let accounts = vec![
        with(
            account("ad", "jsmith", None, true, &[]),
            &[(attr::MAIL, "john.smith@nhs.net")],
        ),
        account("ad", "jsmith2", None, true, &[]),
    ];
    // Both have the same work email on record (a data error): one account, two claims.
    let mut a2 = a.clone();
    a2.work_email = Some("john.smith@nhs.net".into());
    let mut b2 = b.clone();
    b2.work_email = Some("john.smith@nhs.net".into());
    let s = situation_of(&[a2, b2], &accounts, &Settings::default());
    assert!(
        s.iter().all(|s| matches!(s, Situation::Disputed { .. })),
        "{s:?}"
    );
}

#[test]
fn anchors_written_another_way_are_found() {
    let p = nurse("20000005");
    let accounts = vec![account("ad", "aok", Some(" 020000005"), true, &[])];
    let s = situation_of(&[p], &accounts, &Settings::default());
    assert!(
        matches!(&s[0], Situation::Strong { candidate, .. } if candidate.rules == vec![Rule::Anchor]),
        "{s:?}"
    );
}

#[test]
fn numbered_and_shortened_account_names_are_weak_candidates() {
    let p = named("20000006", "Alexandra", "Featherstonehaugh", vec![]);
    let n = Naming {
        pattern: "{first}{last}".into(),
        max_len: 20,
    };
    let accounts = vec![
        account("ad", "alexandrafeatherst12", None, true, &[]),
        account("ad", "alexandrafeatherston", None, true, &[]),
        account("ad", "alexandrafeath", None, true, &[]),
    ];
    let settings = Settings::default();
    let ix = Index::new(&accounts, &settings, Some(&n));
    let c = ix.candidates(&p, &BTreeSet::new());
    let names: Vec<&str> = c.iter().map(|c| c.account.as_str()).collect();
    assert_eq!(names, ["alexandrafeatherst12", "alexandrafeatherston"]);
    assert!(c.iter().all(|c| !c.strong));
    // A base that ends in digits (a pattern with a number in it) is found as it is.
    let n = Naming {
        pattern: "{last}{f}7".into(),
        max_len: 20,
    };
    let accounts = vec![account("ad", "featherstonehaugha7", None, true, &[])];
    let ix = Index::new(&accounts, &settings, Some(&n));
    assert_eq!(ix.candidates(&p, &BTreeSet::new()).len(), 1);
}

#[test]
fn refused_accounts_are_left_out_and_no_candidate_means_create() {
    let mut p = nurse("20000007");
    p.work_email = Some("amara.okafor@nhs.net".into());
    let accounts = vec![with(
        account("ad", "aokafor", None, true, &[]),
        &[(attr::MAIL, "amara.okafor@nhs.net")],
    )];
    let settings = Settings::default();
    let n = naming();
    let ix = Index::new(&accounts, &settings, Some(&n));
    let refused = BTreeMap::from([(
        "20000007".to_string(),
        BTreeSet::from(["aokafor".to_string()]),
    )]);
    let out = correlate(&ix, &[&p], &refused, 1);
    assert_eq!(out["20000007"], Situation::NoCandidate);
    assert_eq!(
        decide(out["20000007"].clone(), Adopt::Auto),
        Decision::Create
    );
}

#[test]
fn linked_accounts_are_never_candidates() {
    let mut p = nurse("20000008");
    p.work_email = Some("amara.okafor@nhs.net".into());
    let accounts = vec![with(
        account("ad", "aokafor", Some("20000099"), true, &[]),
        &[(attr::MAIL, "amara.okafor@nhs.net")],
    )];
    assert!(!could_be_theirs(&accounts[0], &p));
    assert!(could_be_theirs(&account("ad", "x", None, true, &[]), &p));
    assert!(could_be_theirs(
        &account("ad", "x", Some(" 020000008"), true, &[]),
        &p
    ));
    let s = situation_of(&[p], &accounts, &Settings::default());
    assert_eq!(s[0], Situation::NoCandidate);
}

#[test]
fn settings_parse_and_refuse_unknown_keys() {
    let s: Settings = toml::from_str("rules = [\"email\", \"name\"]\nadopt = \"auto\"").unwrap();
    assert_eq!(s.rules, vec![Rule::Email, Rule::Name]);
    assert_eq!(s.adopt, Adopt::Auto);
    assert!(toml::from_str::<Settings>("rule = []").is_err());
    assert!(toml::from_str::<Settings>("rules = [\"shoe_size\"]").is_err());
    assert!(
        !Settings {
            adopt: Adopt::Off,
            ..Settings::default()
        }
        .enabled()
    );
}

const GIVEN: [&str; 4] = ["Amara", "Priya", "John", "Zoë"];
const FAMILY: [&str; 4] = ["Okafor", "Raman", "Smith", "O'Brien"];
const DEPTS: [&str; 3] = ["Ward 7", "Pharmacy", ""];

fn arb_person() -> impl Strategy<Value = (usize, usize, usize, bool)> {
    (0..4usize, 0..4usize, 0..3usize, any::<bool>())
}

fn arb_account() -> impl Strategy<Value = (usize, usize, usize, u8, bool, u8)> {
    (
        0..4usize,
        0..4usize,
        0..3usize,
        0..4u8,
        any::<bool>(),
        0..6u8,
    )
}

proptest! {
    /// For random directories and HR sets: no account is linked to two people, no person
    /// to two accounts, and a create is decided only when no candidate exists at all.
    #[test]
    fn correlation_never_links_twice_and_never_creates_beside_a_candidate(
        people in proptest::collection::vec(arb_person(), 0..12),
        accounts in proptest::collection::vec(arb_account(), 0..14),
        auto in any::<bool>(),
    ) {
        let people: Vec<Person> = people.iter().enumerate().map(|(i, (g, f, d, mail))| {
            let mut p = named(&format!("2000{i:04}"), GIVEN[*g], FAMILY[*f], vec![crate::testkit::assignment(
                &format!("2000{i:04}-1"), crate::hr::AssignmentStatus::ActiveAssignment,
                "Admin", "Clerk", if DEPTS[*d].trim().is_empty() { "Estates" } else { DEPTS[*d] },
                "2020-01-01", None)]);
            if *mail { p.work_email = Some(format!("{}.{}@nhs.net", fold(GIVEN[*g]), fold(FAMILY[*f])).as_str().into()); }
            p
        }).collect();
        let mut ids = BTreeSet::new();
        let accounts: Vec<Account> = accounts.iter().enumerate().map(|(i, (g, f, d, n, mail, anchor))| {
            let id = format!("{}{}{}", &fold(GIVEN[*g])[..1], fold(FAMILY[*f]), if *n == 0 { String::new() } else { (n + 1).to_string() });
            let number = match anchor { 0 => Some(format!("02000{:04}", i % 12)), 1 => Some(format!("2000{:04}", i % 12)), _ => None };
            let mut a = account("ad", &format!("{id}-{i}"), number.as_deref(), true, &[]);
            if *n < 2 && !ids.contains(&id) { a.id = id; }
            ids.insert(a.id.clone());
            a.attributes.insert(attr::GIVEN_NAME.into(), GIVEN[*g].into());
            a.attributes.insert(attr::FAMILY_NAME.into(), FAMILY[*f].into());
            a.attributes.insert(attr::DEPARTMENT.into(), DEPTS[*d].into());
            if *mail { a.attributes.insert(attr::MAIL.into(), format!("{}.{}@nhs.net", fold(GIVEN[*g]), fold(FAMILY[*f]))); }
            a
        }).collect();
        let settings = Settings::default();
        let n = naming();
        let ix = Index::new(&accounts, &settings, Some(&n));
        let refs: Vec<&Person> = people.iter().collect();
        let out = correlate(&ix, &refs, &BTreeMap::new(), 1);
        prop_assert_eq!(out.len(), people.len());
        let mut linked: BTreeMap<String, &str> = BTreeMap::new();
        for p in &people {
            let number = p.employee_number.as_str();
            let s = out[number].clone();
            let all = ix.candidates(p, &BTreeSet::new());
            match decide(s.clone(), if auto { Adopt::Auto } else { Adopt::Propose }) {
                Decision::Create => prop_assert!(all.is_empty(), "create beside {:?}", all),
                Decision::Link(c) | Decision::Propose(c, _) => {
                    prop_assert!(c.strong);
                    prop_assert_eq!(all.iter().filter(|x| x.strong).count(), 1);
                    prop_assert!(linked.insert(c.account.clone(), number).is_none(), "{} twice", c.account);
                }
                Decision::Dispute(cs) => prop_assert!(!cs.is_empty()),
            }
            // Every candidate is unlinked or carries this person's anchor written another way.
            for c in s.candidates() {
                let a = accounts.iter().find(|a| a.id == c.account).unwrap();
                prop_assert!(unlinked(a) || normal_anchor(a.employee_number.as_deref().unwrap()) == normal_anchor(number));
            }
        }
    }
}

/// A strong candidate is linked by itself only where the target adopts automatically;
/// elsewhere it is proposed; no candidate is a create; several are a dispute.
#[test]
fn the_decision_follows_the_situation_and_the_adopt_setting() {
    let candidate = |account: &str| Candidate {
        account: account.into(),
        rules: vec![Rule::Email],
        narrowed_by: Vec::new(),
        strong: true,
    };
    let strong = || Situation::Strong {
        candidate: candidate("rnurse"),
        others: vec![candidate("rnurse2")],
    };
    assert_eq!(
        decide(strong(), Adopt::Auto),
        Decision::Link(candidate("rnurse"))
    );
    for adopt in [Adopt::Propose, Adopt::Off] {
        assert_eq!(
            decide(strong(), adopt),
            Decision::Propose(candidate("rnurse"), vec![candidate("rnurse2")])
        );
    }
    assert_eq!(
        decide(Situation::NoCandidate, Adopt::Auto),
        Decision::Create
    );
    let both = vec![candidate("a"), candidate("b")];
    assert_eq!(
        decide(
            Situation::Disputed {
                candidates: both.clone()
            },
            Adopt::Auto
        ),
        Decision::Dispute(both)
    );
}

/// The survey puts a person whose account carries their number as `linked` to it, and
/// one with none (and no candidate) as an account to create.
#[test]
fn the_survey_links_anchored_accounts_and_creates_for_the_rest() {
    let mut mailed = nurse("20000003");
    mailed.work_email = Some("Amara.Okafor@nhs.net".into());
    let other = named("20000002", "Zed", "Quill", nurse("20000002").assignments);
    let people = vec![nurse("20000001"), other, mailed];
    let accounts = vec![
        account("ad", "rnurse", Some("20000001"), true, &[]),
        with(
            account("ad", "aokafor", None, true, &[]),
            &[(attr::OTHER_MAIL, "amara.okafor@nhs.net")],
        ),
        // An anchor attribute holding only a space: no anchor at all.
        account("ad", "blank", Some(" "), true, &[]),
        // Anchored to a number nobody in HR has.
        account("ad", "gone", Some("29999999"), true, &[]),
        // The same name, nothing else: a weak candidate beside the strong one.
        with(
            account("ad", "aokafor2", None, true, &[]),
            &[(attr::DISPLAY_NAME, "Amara Okafor")],
        ),
    ];
    let settings = Settings::default();
    let n = naming();
    let s = survey::survey(
        &crate::testkit::model(),
        &people,
        &accounts,
        &survey::Target {
            system: "ad",
            settings: &settings,
            naming: Some(&n),
            abilities: &crate::plan::Abilities::ALL,
            workers: 1,
        },
        &BTreeMap::new(),
        crate::testkit::d("2026-11-23"),
    );
    let row = |n: &str| s.people.iter().find(|r| r.employee_number == n).unwrap();
    assert_eq!(row("20000001").class, "linked");
    assert_eq!(row("20000001").accounts, vec!["rnurse".to_string()]);
    assert_eq!(row("20000002").class, "no_candidate");
    assert!(row("20000002").accounts.is_empty());
    assert_eq!(row("20000003").class, "strong");
    let account = |id: &str| s.accounts.iter().find(|a| a.account == id).unwrap();
    assert_eq!(account("rnurse").class, "linked");
    assert_eq!(account("aokafor").class, "strong_match");
    assert_eq!(account("aokafor2").class, "disputed_candidate");
    assert_eq!(account("gone").class, "orphan");
    assert_eq!(account("blank").class, "unmatched");
    assert_eq!(
        account("aokafor").employee_numbers,
        vec!["20000003".to_string()]
    );
}

/// The index's key table finds every position filed under a key, in order, whatever the
/// number of keys (the table of starts grows with them), and nothing for a key never
/// filed or for an empty table.
#[test]
fn the_key_table_finds_exactly_what_was_filed() {
    let mut empty = Keyed::default();
    empty.seal();
    assert_eq!(empty.get("anything").count(), 0);
    for n in [1u32, 2, 3, 7, 1000, 5000] {
        let mut keyed = Keyed::default();
        for i in 0..n {
            // Each key under two positions, one filed twice.
            keyed.push(&format!("key{i}"), i);
            keyed.push(&format!("key{i}"), i + n);
            keyed.push(&format!("key{i}"), i);
        }
        keyed.seal();
        assert_eq!(
            keyed.keys.len(),
            2 * n as usize,
            "{n} keys: one entry per key and position"
        );
        for i in 0..n {
            let got: Vec<u32> = keyed.get(&format!("key{i}")).collect();
            assert_eq!(got, vec![i, i + n], "{n} keys: key{i}");
        }
        assert_eq!(
            keyed.get(&format!("key{n}")).count(),
            0,
            "{n} keys: one never filed"
        );
        assert_eq!(keyed.get("").count(), 0);
    }
}

/// Looked up by several threads in shares, many people get exactly the situations one
/// thread gives, in the same order, disputes across shares included (an account two
/// people in different shares claim).
#[test]
fn shares_on_several_threads_give_what_one_thread_gives() {
    let people: Vec<Person> = (0..9000u32)
        .map(|i| {
            let mut p = nurse(&format!("{}", 20_000_000 + i));
            p.given_name = crate::hr::NonBlank::parse(&format!("Given{}", i % 7000)).unwrap();
            p.family_name = crate::hr::NonBlank::parse("Staff").unwrap();
            p.work_email = (i % 3 == 0).then(|| format!("p{}@nhs.net", i % 6000).as_str().into());
            p
        })
        .collect();
    let accounts: Vec<Account> = (0..8000u32)
        .map(|i| {
            with(
                account("ad", &format!("acct{i}"), None, true, &[]),
                &[
                    (attr::GIVEN_NAME, &format!("Given{i}")),
                    (attr::FAMILY_NAME, "Staff"),
                    (attr::MAIL, &format!("p{i}@nhs.net")),
                ],
            )
        })
        .collect();
    let settings = Settings::default();
    let n = naming();
    let ix = Index::new(&accounts, &settings, Some(&n));
    let refs: Vec<&Person> = people.iter().collect();
    let one = correlate(&ix, &refs, &BTreeMap::new(), 1);
    let several = correlate(&ix, &refs, &BTreeMap::new(), 2);
    assert_eq!(one.len(), people.len());
    assert!(one.values().any(|s| matches!(s, Situation::Strong { .. })));
    assert!(
        one.values()
            .any(|s| matches!(s, Situation::Disputed { .. }))
    );
    assert_eq!(one, several);
}

/// An anchor written another way compares as the rule says: leading zeros off, but a
/// number of zeros alone is zero, and nothing is nothing.
#[test]
fn anchors_are_normalised_as_the_rule_says() {
    assert_eq!(normal_anchor(" 00012345 "), "12345");
    assert_eq!(normal_anchor("000"), "0");
    assert_eq!(normal_anchor("0"), "0");
    assert_eq!(normal_anchor(""), "");
    assert_eq!(normal_anchor("ab12"), "AB12");
}

/// An address list is split on `;`, `,` and spaces, `smtp:` taken off in either case,
/// lower-cased, and anything without an `@` left out; the email rule then finds the one
/// account holding the person's address among several.
#[test]
fn address_lists_are_split_and_only_the_holder_matches() {
    let got: Vec<String> =
        split_mail("SMTP:Amara.Okafor@nhs.net; smtp:a.okafor@trust.nhs.uk,x500:/o=Trust old")
            .collect();
    assert_eq!(got, vec!["amara.okafor@nhs.net", "a.okafor@trust.nhs.uk"]);
    let mut p = nurse("20000001");
    p.work_email = Some("amara.okafor@nhs.net".into());
    let accounts = vec![
        with(
            account("ad", "aokafor", None, true, &[]),
            &[(attr::OTHER_MAIL, "smtp:amara.okafor@nhs.net")],
        ),
        with(
            account("ad", "bsmith", None, true, &[]),
            &[(attr::MAIL, "b.smith@nhs.net")],
        ),
    ];
    let settings = Settings::default();
    let ix = Index::new(&accounts, &settings, None);
    let found = ix.candidates(&p, &BTreeSet::new());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].account, "aokafor");
    assert!(found[0].rules.contains(&Rule::Email));
}

/// An account holding a given name but no surname (or the reverse) is not filed under the
/// half it has: "Amara" with no surname is not a candidate for Ama Ra.
#[test]
fn half_a_name_is_no_name() {
    let p = named("20000001", "Ama", "Ra", nurse("x").assignments);
    let mut half = with(
        account("ad", "amara", None, true, &[]),
        &[(attr::GIVEN_NAME, "Amara"), (attr::FAMILY_NAME, "-")],
    );
    half.display_name = "Ward Clerk".into();
    let accounts = vec![half];
    let settings = Settings::default();
    let ix = Index::new(&accounts, &settings, None);
    assert_eq!(ix.candidates(&p, &BTreeSet::new()), vec![]);
}

/// The index holds the accounts correlation may look at: every unanchored one, and
/// anchored ones only while the anchor rule is on (for anchors written another way).
#[test]
fn the_index_holds_only_accounts_correlation_may_look_at() {
    let accounts = vec![
        account("ad", "a", None, true, &[]),
        account("ad", "b", Some("20000001"), true, &[]),
    ];
    let all = Settings::default();
    assert_eq!(Index::new(&accounts, &all, None).len(), 2);
    let no_anchor = Settings {
        rules: vec![Rule::Email, Rule::Name],
        ..Settings::default()
    };
    let ix = Index::new(&accounts, &no_anchor, None);
    assert_eq!(ix.len(), 1);
    assert!(!ix.is_empty());
    assert!(Index::new(&[], &all, None).is_empty());
}
