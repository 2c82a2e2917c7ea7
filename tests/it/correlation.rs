//! Day one in a real trust, against a real Samba AD domain controller and a real OpenLDAP
//! slapd: staff already have accounts made by hand (no employee number on them), and the
//! first reconcile must link them, not make second ones. Driven through the `turnstile`
//! binary, as a trust's IT team would run it.
//!
//! Each run works in an OU of its own (`base_dn` scoped to it), so what one run leaves in
//! the shared directory is never another run's candidate.

use crate::ldap::{Dir, MODEL, run_id, turnstile_in};
use crate::peers::json_in as json;
use std::collections::HashSet;
use turnstile::connectors::Connector;
use turnstile::connectors::ldap::{Dialect, LdapConnector};

/// One account made by hand, years ago: no anchor.
pub(crate) struct Hand<'a> {
    pub(crate) id: &'a str,
    pub(crate) given: &'a str,
    pub(crate) sn: &'a str,
    pub(crate) display: &'a str,
    pub(crate) mail: Option<&'a str>,
    pub(crate) department: Option<&'a str>,
}

pub(crate) struct Day1 {
    pub(crate) dir: Dir,
    /// The OU this run's accounts live in (users_container and base_dn).
    pub(crate) ou: String,
    pub(crate) legacy_group: String,
}

/// Deletes the entries directly under `ou`, then `ou` itself.
async fn remove_ou(ldap: &mut ldap3::Ldap, ou: &str) {
    let (inside, _) = ldap
        .search(ou, ldap3::Scope::OneLevel, "(objectClass=*)", vec!["1.1"])
        .await
        .unwrap()
        .success()
        .unwrap();
    for entry in inside {
        let dn = ldap3::SearchEntry::construct(entry).dn;
        ldap.delete(&dn).await.unwrap().success().unwrap();
    }
    ldap.delete(ou).await.unwrap().success().unwrap();
}

impl Day1 {
    pub(crate) async fn new(dir: Dir, tag: &str) -> Day1 {
        let name = format!("{tag}-{}", run_id());
        let ou = match dir.dialect {
            Dialect::ActiveDirectory => format!("OU={name},{}", dir.base),
            Dialect::OpenLdap => format!("ou={name},{}", dir.base),
        };
        let mut ldap = dir.raw().await;
        // Earlier runs' accounts go first: account names are unique across an AD domain,
        // and a directory shared by runs must not give this run someone else's account.
        let (old, _) = ldap
            .search(
                &dir.base,
                ldap3::Scope::OneLevel,
                &format!("(&(objectClass=organizationalUnit)(ou={tag}-*))"),
                vec!["1.1"],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        for ou in old {
            remove_ou(&mut ldap, &ldap3::SearchEntry::construct(ou).dn).await;
        }
        let attrs: Vec<(&str, HashSet<&str>)> = vec![
            ("objectClass", ["top", "organizationalUnit"].into()),
            ("ou", [name.as_str()].into()),
        ];
        let r = ldap.add(&ou, attrs).await.unwrap();
        assert!(r.rc == 0 || r.rc == 68, "creating {ou}: {r:?}");
        let legacy_group = format!("GG-Legacy-{}", run_id());
        dir.ensure_groups(&["GG-AllStaff", "GG-Nursing", "GG-Admin", &legacy_group])
            .await;
        Day1 {
            dir,
            ou,
            legacy_group,
        }
    }

    /// Removes this run's OU and every account in it: nothing of it is left in the shared
    /// directory for another test to meet (account names are unique across an AD domain).
    pub(crate) async fn remove(&self) {
        let mut ldap = self.dir.raw().await;
        remove_ou(&mut ldap, &self.ou).await;
    }

    pub(crate) fn dn(&self, id: &str) -> String {
        match self.dir.dialect {
            Dialect::ActiveDirectory => format!("CN={id},{}", self.ou),
            Dialect::OpenLdap => format!("uid={id},{}", self.ou),
        }
    }

    pub(crate) async fn add(&self, h: &Hand<'_>) {
        let mut ldap = self.dir.raw().await;
        let dn = self.dn(h.id);
        let mut attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = Vec::new();
        let mut put = |k: &str, v: &[u8]| attrs.push((k.as_bytes().to_vec(), [v.to_vec()].into()));
        put("givenName", h.given.as_bytes());
        put("sn", h.sn.as_bytes());
        put("displayName", h.display.as_bytes());
        if let Some(m) = h.mail {
            put("mail", m.as_bytes());
        }
        match self.dir.dialect {
            Dialect::ActiveDirectory => {
                put("sAMAccountName", h.id.as_bytes());
                if let Some(d) = h.department {
                    put("department", d.as_bytes());
                }
                // Enabled, with a password, as a hand-made account is (over LDAPS).
                let pwd: Vec<u8> = "\"Hand-Made-Pw-1!\""
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .collect();
                put("unicodePwd", &pwd);
                put("userAccountControl", b"512");
                attrs.push((
                    b"objectClass".to_vec(),
                    [
                        b"top".to_vec(),
                        b"person".to_vec(),
                        b"organizationalPerson".to_vec(),
                        b"user".to_vec(),
                    ]
                    .into(),
                ));
            }
            Dialect::OpenLdap => {
                put("uid", h.id.as_bytes());
                put("cn", h.display.as_bytes());
                if let Some(d) = h.department {
                    put("ou", d.as_bytes());
                }
                attrs.push((
                    b"objectClass".to_vec(),
                    [
                        b"top".to_vec(),
                        b"person".to_vec(),
                        b"organizationalPerson".to_vec(),
                        b"inetOrgPerson".to_vec(),
                    ]
                    .into(),
                ));
            }
        }
        let r = ldap.add(&dn, attrs).await.unwrap();
        assert_eq!(r.rc, 0, "adding {dn}: {r:?}");
    }

    pub(crate) async fn add_to_group(&self, id: &str, group: &str) {
        let mut ldap = self.dir.raw().await;
        let group_dn = format!("CN={group},{}", self.dir.groups);
        let member = self.dn(id);
        let r = ldap
            .modify(
                &group_dn,
                vec![ldap3::Mod::Add("member", [member.as_str()].into())],
            )
            .await
            .unwrap();
        assert_eq!(r.rc, 0, "{group_dn} += {member}: {r:?}");
    }

    pub(crate) fn connector(&self) -> LdapConnector {
        let mut cfg = self.dir.config("dir");
        cfg.base_dn = self.ou.clone();
        cfg.users_container = self.ou.clone();
        LdapConnector::new(cfg, true)
    }

    /// A working folder with the role model, the bind password (mode 600) and a config
    /// whose `[targets.dir]` is this run's OU, plus `extra` config text.
    pub(crate) fn folder(&self, extra: &str) -> tempfile::TempDir {
        let work = tempfile::tempdir().unwrap();
        let p = work.path();
        std::fs::write(
            p.join("model.toml"),
            MODEL
                .replace("LEAVERS", &self.dir.leavers)
                .replace("STAFFOU", &self.ou),
        )
        .unwrap();
        let cfg = self.dir.config("dir");
        std::fs::write(p.join("bind.pw"), cfg.bind_password.expose()).unwrap();
        std::fs::set_permissions(
            p.join("bind.pw"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let (dialect, tls) = match self.dir.dialect {
            Dialect::ActiveDirectory => (
                "active_directory",
                format!(
                    "ca_file = \"{}\"\ntls_verify_hostname = false\nupn_suffix = \"example.nhs.uk\"\n",
                    cfg.ca_file.as_ref().unwrap().display()
                ),
            ),
            Dialect::OpenLdap => ("open_ldap", "allow_plain_bind = true\n".to_string()),
        };
        std::fs::write(
            p.join("turnstile.toml"),
            format!(
                "[store]\npath = \"state.db\"\n[policy]\npath = \"model.toml\"\n{extra}\n\
                 [targets.dir]\ntype = \"ldap\"\ndialect = \"{dialect}\"\nurl = \"{}\"\nbind_dn = \"{}\"\nbind_password_file = \"bind.pw\"\n{tls}\
                 base_dn = \"{}\"\nusers_container = \"{}\"\ngroups_container = \"{}\"\n",
                cfg.url, cfg.bind_dn, self.ou, self.ou, cfg.groups_container
            ),
        )
        .unwrap();
        work
    }
}

fn e(n: u32) -> String {
    format!("{}-C{n}", run_id())
}

const HEADER: &str = "Employee Number,Assignment Number,Primary Assignment (Y/N),First Name,Last Name,Known As,Work Email,Job Role,Organisation,Assignment Status,Assignment Start Date,Assignment End Date\n";

fn row(n: u32, first: &str, last: &str, known: &str, mail: &str, role: &str, org: &str) -> String {
    format!(
        "{},{}-1,Y,{first},{last},{known},{mail},{role},{org},Active Assignment,01/01/2020,\n",
        e(n),
        e(n)
    )
}

async fn day_one(dir: Dir, tag: &str) {
    let d = Day1::new(dir, tag).await;
    // The trust's directory before Turnstile: hand-made accounts without employee numbers.
    let hands = [
        // Found by the ESR work email.
        Hand {
            id: "praman",
            given: "Priya",
            sn: "Raman",
            display: "Priya Raman",
            mail: Some("priya.raman@nhs.net"),
            department: None,
        },
        // Married since: the surname was updated, the display name still has the old one;
        // she goes by her known-as name. Found by name + department.
        Hand {
            id: "tjones",
            given: "Tina",
            sn: "Hughes",
            display: "Tina Jones",
            mail: None,
            department: Some("Ward 7"),
        },
        // A hyphenated surname written with a space; found by name + department.
        Hand {
            id: "gadeyemi",
            given: "Grace",
            sn: "Adeyemi Smith",
            display: "Grace Adeyemi Smith",
            mail: None,
            department: Some("Pharmacy"),
        },
        // An apostrophe and an accent; found by name + department.
        Hand {
            id: "soneill",
            given: "Siobhán",
            sn: "ONeill",
            display: "Siobhan ONeill",
            mail: None,
            department: Some("Ward 7"),
        },
        // Two John Smiths, neither account says where it works: disputed.
        Hand {
            id: "jsmith",
            given: "John",
            sn: "Smith",
            display: "John Smith",
            mail: None,
            department: None,
        },
        Hand {
            id: "jsmith2",
            given: "John",
            sn: "Smith",
            display: "John Smith",
            mail: None,
            department: None,
        },
        // A service account with a person's surname: nobody's.
        Hand {
            id: "svc-hughes",
            given: "Backup",
            sn: "Hughes",
            display: "Hughes backup service",
            mail: None,
            department: None,
        },
    ];
    for h in &hands {
        d.add(h).await;
    }
    d.add_to_group("tjones", &d.legacy_group).await;
    let work = d.folder("");
    let p = work.path();
    let run = |args: &[&str]| turnstile_in(p, args);
    // A command that must succeed: what it printed.
    let ok = |args: &[&str]| {
        let (code, out) = run(args);
        assert_eq!(code, Some(0), "{out}");
        out
    };
    std::fs::write(
        p.join("esr.csv"),
        [
            HEADER.to_string(),
            row(
                1,
                "Priya",
                "Raman",
                "",
                "priya.raman@nhs.net",
                "Staff Nurse",
                "Ward 7",
            ),
            row(
                2,
                "Christina",
                "Hughes",
                "Tina",
                "",
                "Staff Nurse",
                "Ward 7",
            ),
            row(
                3,
                "Grace",
                "Adeyemi-Smith",
                "",
                "",
                "Administrator",
                "Pharmacy",
            ),
            row(4, "Siobhan", "O'Neill", "", "", "Staff Nurse", "Ward 7"),
            row(5, "John", "Smith", "", "", "Staff Nurse", "Ward 7"),
            row(6, "John", "Smith", "", "", "Administrator", "Pharmacy"),
            row(7, "Nadia", "Kowalski", "", "", "Staff Nurse", "Ward 7"),
        ]
        .concat(),
    )
    .unwrap();
    ok(&[
        "feed",
        "esr",
        "esr.csv",
        "--apply",
        "--extracted-at",
        "2026-11-01T06:00:00Z",
        "--today",
        "2026-11-23",
    ]);

    // The survey touches nothing and says where everyone stands.
    let out = ok(&[
        "onboard",
        "--system",
        "dir",
        "--today",
        "2026-11-23",
        "--format",
        "json",
    ]);
    let survey = json(&out);
    let class_of = |n: u32| {
        survey["people"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["employee_number"] == e(n))
            .map(|r| r["class"].as_str().unwrap().to_string())
            .unwrap()
    };
    for n in 1..=4 {
        assert_eq!(class_of(n), "strong", "{n}: {survey:#}");
    }
    assert_eq!(class_of(5), "disputed", "{survey:#}");
    assert_eq!(class_of(6), "disputed", "{survey:#}");
    assert_eq!(class_of(7), "no_candidate", "{survey:#}");
    let svc = survey["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["account"] == "svc-hughes")
        .unwrap();
    assert_eq!(svc["class"], "unmatched", "{svc:#}");
    let c = d.connector();
    assert_eq!(
        c.read_accounts().await.unwrap().len(),
        hands.len(),
        "onboard changed nothing"
    );

    // The first reconcile: nothing created for anyone who has an account; Nadia's made.
    let out = ok(&["reconcile", "--today", "2026-11-23"]);
    assert!(
        out.contains("4 proposed, 2 disputed, 1 with no candidate"),
        "{out}"
    );
    let accounts = c.read_accounts().await.unwrap();
    let ids: Vec<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(
        accounts.len(),
        hands.len() + 1,
        "only Nadia's account is new: {ids:?}"
    );
    assert!(ids.contains(&"nkowalski"), "{ids:?}");
    assert!(
        !ids.iter()
            .any(|i| ["praman2", "thughes", "gadeyemismith", "soneill2", "jsmith3"].contains(i)),
        "{ids:?}"
    );
    assert!(
        accounts
            .iter()
            .filter(|a| a.id != "nkowalski")
            .all(|a| a.employee_number.is_none())
    );

    let out = ok(&["matches", "list", "--format", "json"]);
    let open = json(&out);
    let id_of = |n: u32| {
        open.as_array()
            .unwrap()
            .iter()
            .find(|m| m["employee_number"] == e(n))
            .map(|m| m["id"].as_str().unwrap().to_string())
            .unwrap()
    };
    // A second pass proposes nothing new and still creates nothing.
    let out = ok(&["reconcile", "--today", "2026-11-23"]);
    assert_eq!(
        c.read_accounts().await.unwrap().len(),
        hands.len() + 1,
        "{out}"
    );

    // Siobhan says soneill is not hers: rejected, then an account of her own is made.
    ok(&[
        "matches",
        "reject",
        &id_of(4),
        "--as",
        "Ruth IG",
        "--reason",
        "a different Siobhan, left in 2019",
    ]);
    // The twins: one of them picks jsmith (a dispute needs the account named).
    let (code, out) = run(&["matches", "accept", &id_of(5), "--as", "Ruth IG"]);
    assert_eq!(
        code,
        Some(2),
        "a dispute is not accepted without --account: {out}"
    );
    ok(&[
        "matches",
        "accept",
        &id_of(5),
        "--account",
        "jsmith",
        "--as",
        "Ruth IG",
    ]);
    // Every strong proposal left, after review.
    let out = ok(&["matches", "accept-strong", "--as", "Ruth IG"]);
    assert_eq!(out.matches(" linked").count(), 3, "{out}");
    assert!(
        out.contains(&d.legacy_group),
        "the hand-granted group is listed: {out}"
    );
    for (id, n) in [("praman", 1), ("tjones", 2), ("gadeyemi", 3), ("jsmith", 5)] {
        let entry = d.dir.entry(id).await.unwrap();
        let anchor = match d.dir.dialect {
            Dialect::ActiveDirectory => "employeeID",
            Dialect::OpenLdap => "employeeNumber",
        };
        assert_eq!(
            entry.attrs.get(anchor).map(|v| v[0].clone()),
            Some(e(n)),
            "{id}: {:?}",
            entry.attrs
        );
    }
    let linked = |accounts: &[turnstile::account::Account], id: &str| {
        accounts.iter().find(|a| a.id == id).cloned().unwrap()
    };
    let accounts = c.read_accounts().await.unwrap();
    let tina = linked(&accounts, "tjones");
    assert!(tina.enabled);
    assert!(tina.entitlements.contains("GG-Nursing"), "{tina:?}");
    assert!(
        tina.entitlements.contains(&d.legacy_group),
        "kept until decided: {tina:?}"
    );

    // The pass after: Siobhan gets her own account; nothing else changes, the
    // hand-granted group survives, the remaining twin still waits.
    let out = ok(&["reconcile", "--today", "2026-11-23"]);
    assert!(
        out.contains("accounts read, 4 change(s) for 1 person(s)"),
        "only Siobhan's create, two grants, enable: {out}"
    );
    let accounts = c.read_accounts().await.unwrap();
    assert!(
        accounts
            .iter()
            .any(|a| a.id == "soneill2" && a.employee_number.as_deref() == Some(e(4).as_str())),
        "{accounts:?}"
    );
    assert!(
        linked(&accounts, "tjones")
            .entitlements
            .contains(&d.legacy_group)
    );
    assert!(
        linked(&accounts, "jsmith2").employee_number.is_none(),
        "the other twin's candidates wait"
    );
    let out = ok(&["reconcile", "--today", "2026-11-23"]);
    assert!(
        out.contains("accounts read, 0 change(s)"),
        "a pass after linking changes nothing: {out}"
    );
    assert!(!out.contains("proposed, 0 disputed"), "{out}");

    // The trail says who linked what, by which rule; the rejection and the create too.
    let (_, trail) = run(&["audit", "--format", "json"]);
    let trail = json(&trail);
    let entries = trail.as_array().unwrap();
    let linked_entry = entries
        .iter()
        .find(|t| t["action"] == "account.linked" && t["account"] == "praman")
        .unwrap_or_else(|| panic!("{trail:#}"));
    assert!(
        linked_entry["reason"]
            .as_str()
            .unwrap()
            .contains("matched by email"),
        "{linked_entry:#}"
    );
    assert!(
        linked_entry["actor"].as_str().unwrap().contains("Ruth IG"),
        "{linked_entry:#}"
    );
    assert!(entries.iter().any(|t| t["action"] == "match.decided"
        && t["outcome"] == "rejected"
        && t["employee_number"] == e(4)));
    assert!(entries.iter().any(|t| t["action"] == "change.create"
        && t["employee_number"] == e(4)
        && t["outcome"] == "applied"));

    // The hand-granted group goes only once a person approves revoking it.
    ok(&[
        "matches",
        "excess",
        "--system",
        "dir",
        "--account",
        "tjones",
        "--revoke",
        "--as",
        "Ruth IG",
        "--reason",
        "not needed on Ward 7",
    ]);
    ok(&["reconcile", "--today", "2026-11-23"]);
    let tina = linked(&c.read_accounts().await.unwrap(), "tjones");
    assert!(!tina.entitlements.contains(&d.legacy_group), "{tina:?}");
    assert!(tina.entitlements.contains("GG-Nursing"), "{tina:?}");

    // Unlinking undoes a link: the anchor comes off and it is not proposed again.
    ok(&[
        "matches",
        "unlink",
        "--system",
        "dir",
        "--account",
        "gadeyemi",
        "--as",
        "Ruth IG",
        "--reason",
        "linked in error",
    ]);
    assert!(
        linked(&c.read_accounts().await.unwrap(), "gadeyemi")
            .employee_number
            .is_none()
    );
    let (_, audit) = run(&["audit", "--verify"]);
    assert!(audit.contains("head "), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_one_on_active_directory_links_and_never_duplicates() {
    day_one(Dir::ad(), "Day1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn day_one_on_openldap_links_and_never_duplicates() {
    day_one(Dir::openldap(), "day1").await;
}

/// Correlation switched off, a store that knows nothing and a directory of people's
/// unanchored accounts: the first reconcile would make a second account for each of them.
/// The guard on creates holds them all as a plan naming the count; nothing is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_run_without_correlation_holds_its_creates() {
    let d = Day1::new(Dir::openldap(), "mass").await;
    let names = [
        "Ann", "Ben", "Cat", "Dan", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jon", "Kay", "Lee",
    ];
    for (i, n) in names.iter().enumerate() {
        d.add(&Hand {
            id: &format!("{}kent{i}", &n[..1].to_lowercase()),
            given: n,
            sn: "Kent",
            display: &format!("{n} Kent"),
            mail: None,
            department: None,
        })
        .await;
    }
    let work = d.folder(
        "[guard]\nmin_creates = 2\nmax_creates = 5\n[targets.dir.correlation]\nadopt = \"off\"\n",
    );
    let p = work.path();
    let rows: String = names
        .iter()
        .enumerate()
        .map(|(i, n)| row(100 + i as u32, n, "Kent", "", "", "Staff Nurse", "Ward 7"))
        .collect();
    std::fs::write(p.join("esr.csv"), format!("{HEADER}{rows}")).unwrap();
    let (code, out) = turnstile_in(
        p,
        &[
            "feed",
            "esr",
            "esr.csv",
            "--apply",
            "--extracted-at",
            "2026-11-01T06:00:00Z",
            "--today",
            "2026-11-23",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = turnstile_in(p, &["reconcile", "--today", "2026-11-23"]);
    assert_eq!(code, Some(1), "held needs attention: {out}");
    assert!(
        out.contains("creates of 12 person(s) are held by the guard on creates"),
        "{out}"
    );
    assert_eq!(
        d.connector().read_accounts().await.unwrap().len(),
        names.len(),
        "nothing created"
    );
    let (code, out) = turnstile_in(p, &["held"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("12 account(s) would be created on dir"),
        "the plan names the count: {out}"
    );
}
