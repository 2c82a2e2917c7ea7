//! A returned access review pack acts only on the lines it put in front of the manager,
//! through the engine's one path (the guard, the target's state), against a real slapd.
//! Driven through the `turnstile` binary.

use crate::correlation::{Day1, Hand};
use crate::ldap::{Dir, turnstile_in};
use crate::peers::json_in as json;
use turnstile::connectors::Connector;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returned_pack_changes_only_what_it_put_in_front_of_the_manager() {
    let d = Day1::new(Dir::openldap(), "review").await;
    // A group the role model does not manage, given by hand (the APP-Rostering).
    let app = format!("APP-Rostering-{}", crate::ldap::run_id());
    d.dir.ensure_groups(&[&app]).await;
    // An unmanaged service account under base_dn, in a group the role model manages.
    d.add(&Hand {
        id: "svc-backup",
        given: "Backup",
        sn: "Service",
        display: "Backup service",
        mail: None,
        department: None,
    })
    .await;
    d.add_to_group("svc-backup", &app).await;
    // Every removal over nothing is held: the guard as strict as it goes.
    let work = d.folder("[guard]\nmin_removals = 0\nmax_removals = 0\n");
    let p = work.path();
    let run = |args: &[&str]| turnstile_in(p, args);
    // A command that must succeed: what it printed.
    let ok = |args: &[&str]| {
        let (code, out) = run(args);
        assert_eq!(code, Some(0), "{out}");
        out
    };
    let tag = crate::ldap::run_id();
    let (boss, nurse) = (format!("{tag}-M1"), format!("{tag}-N1"));
    std::fs::write(
        p.join("esr.csv"),
        format!(
            "Employee Number,Assignment Number,Primary Assignment (Y/N),First Name,Last Name,Job Role,Organisation,Supervisor Employee Number,Assignment Status,Assignment Start Date,Assignment End Date\n\
             {boss},{boss}-1,Y,Mia,Manager,Administrator,Ward 7,,Active Assignment,01/01/2020,\n\
             {nurse},{nurse}-1,Y,Rae,Reviewed,Staff Nurse,Ward 7,{boss},Active Assignment,01/01/2020,\n"
        ),
    )
    .unwrap();
    ok(&["feed", "esr", "esr.csv", "--apply", "--today", "2026-11-23"]);
    ok(&["reconcile", "--today", "2026-11-23"]);
    // The nurse was given a group by hand since: on her pack as granted by nothing.
    let c = d.connector();
    let mine = |accounts: &[turnstile::account::Account], n: &str| {
        accounts
            .iter()
            .find(|a| a.employee_number.as_deref() == Some(n))
            .cloned()
            .unwrap()
    };
    let hers = mine(&c.read_accounts().await.unwrap(), &nurse).id;
    d.add_to_group(&hers, &app).await;
    // Read again: the pack is made from what the target was last seen to hold.
    ok(&["reconcile", "--today", "2026-11-23"]);

    ok(&[
        "review",
        "--manager",
        &boss,
        "--out",
        "packs",
        "--today",
        "2026-11-23",
    ]);
    let pack =
        std::fs::read_to_string(p.join(format!("packs/review-{boss}-2026-11-23.csv"))).unwrap();
    let mut lines: Vec<String> = pack.lines().map(str::to_string).collect();
    let header = lines.remove(0);
    let legacy_line = lines
        .iter()
        .position(|l| l.contains(&app))
        .unwrap_or_else(|| panic!("{pack}"));
    let decided = |decide: &dyn Fn(usize, &str) -> &'static str, extra: &[String]| {
        let mut out = vec![header.clone()];
        for (i, l) in lines.iter().enumerate() {
            out.push(format!("{},{},", &l[..l.len() - 2], decide(i, l)));
        }
        out.extend(extra.iter().cloned());
        out.join("\n") + "\n"
    };
    let keep_all = |_: usize, _: &str| "keep";
    // Forged: the nurse's line, rewritten to name the service account — once with the
    // group, once as the account line (which would disable it).
    let forged_group = lines[legacy_line].replace(&format!(",{hers},"), ",svc-backup,");
    let forged_group = format!("{},remove,", &forged_group[..forged_group.len() - 2]);
    let account_line = lines
        .iter()
        .find(|l| l.contains(&format!(",{hers},,")))
        .unwrap_or_else(|| panic!("the account's own line: {pack}"));
    let forged_account = account_line.replace(&format!(",{hers},"), ",svc-backup,");
    let forged_account = format!("{},remove,", &forged_account[..forged_account.len() - 2]);
    let before = json(&run(&["audit", "--format", "json"]).1)
        .as_array()
        .unwrap()
        .len();
    for forged in [&forged_group, &forged_account] {
        std::fs::write(
            p.join("forged.csv"),
            decided(&keep_all, std::slice::from_ref(forged)),
        )
        .unwrap();
        let (code, out) = run(&["review", "record", "forged.csv", "--as", "Mia Manager"]);
        assert_eq!(code, Some(2), "{out}");
        assert!(
            out.contains("forged.csv:") && out.contains("not a line of pack"),
            "{out}"
        );
        assert!(out.contains("svc-backup"), "{out}");
    }
    // A pack that was never issued is refused too.
    std::fs::write(
        p.join("made-up.csv"),
        decided(&keep_all, &[]).replace("2026-11-23/", "2026-10-01/"),
    )
    .unwrap();
    let (code, out) = run(&["review", "record", "made-up.csv", "--as", "Mia Manager"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("was never issued"), "{out}");
    let after = json(&run(&["audit", "--format", "json"]).1)
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "nothing recorded from a refused file");
    let accounts = c.read_accounts().await.unwrap();
    let svc = accounts.iter().find(|a| a.id == "svc-backup").unwrap();
    assert!(svc.enabled && svc.entitlements.contains(&app), "{svc:?}");

    // The real decision: remove the hand-granted group from the nurse. A dry run records
    // nothing; the real one goes through the guard, which holds it as a plan.
    let remove_legacy = |i: usize, _: &str| if i == legacy_line { "remove" } else { "keep" };
    std::fs::write(p.join("done.csv"), decided(&remove_legacy, &[])).unwrap();
    let stored = crate::peers::store_digest(&p.join("state.db"));
    let out = ok(&[
        "review",
        "record",
        "done.csv",
        "--as",
        "Mia Manager",
        "--dry-run",
    ]);
    let after_dry = json(&run(&["audit", "--format", "json"]).1)
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after_dry, "--dry-run writes nothing: {out}");
    assert_eq!(
        crate::peers::store_digest(&p.join("state.db")),
        stored,
        "--dry-run writes nothing to any table: {out}"
    );
    let (code, out) = run(&["review", "record", "done.csv", "--as", "Mia Manager"]);
    assert_eq!(code, Some(1), "held: {out}");
    assert!(
        out.contains("held by the mass-change guard as HP-"),
        "{out}"
    );
    assert!(
        mine(&c.read_accounts().await.unwrap(), &nurse)
            .entitlements
            .contains(&app)
    );
    let (_, held) = run(&["held", "--format", "json"]);
    let plan = json(&held);
    let id = plan["id"].as_u64().unwrap().to_string();
    let out = ok(&["approve", &id, "--as", "Ruth IG"]);
    let accounts = c.read_accounts().await.unwrap();
    assert!(
        !mine(&accounts, &nurse).entitlements.contains(&app),
        "{out}"
    );
    let svc = accounts.iter().find(|a| a.id == "svc-backup").unwrap();
    assert!(
        svc.enabled && svc.entitlements.contains(&app),
        "untouched: {svc:?}"
    );
}
