//! Accounts created and disabled per second: Turnstile's LDAP connector against a bare
//! ldap3 loop doing the same operations on the same server, in the same run.
//!
//! Needs the peers: `tests/peers/peers.sh start`, then
//! `cargo bench --bench ldap` (TURNSTILE_BENCH_N accounts per side and round, default 300).
//!
//! Create: Turnstile checks the employee number is not already linked, finds a free name
//! (and UPN on AD), adds the entry disabled and, on AD over LDAPS, sets a first password
//! with pwdLastSet=0. The bare loop adds the same entry and, on AD, sets the same password:
//! it skips the safety searches. Disable: both read userAccountControl (or the marker) and
//! write the disabled value.

#[allow(dead_code)]
mod common;

use common::peers;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};
use turnstile::connectors::Connector;
use turnstile::connectors::ldap::{Dialect, LdapConfig, LdapConnector};
use turnstile::hr::{AssignmentStatus, Person};
use turnstile::plan::{Action, Change};
use turnstile_core::testkit;

fn config(p: &BTreeMap<String, String>, dialect: Dialect) -> LdapConfig {
    let ad = dialect == Dialect::ActiveDirectory;
    let base = p[if ad { "AD_BASE" } else { "SLAPD_BASE" }].clone();
    let ou = |name: &str| {
        if ad {
            format!("OU={name},{base}")
        } else {
            format!("ou={name},{base}")
        }
    };
    LdapConfig {
        system: "bench".into(),
        dialect,
        url: p[if ad { "AD_LDAPS_URL" } else { "SLAPD_URL" }].clone(),
        starttls: false,
        bind_dn: p[if ad { "AD_BIND" } else { "SLAPD_BIND" }].clone(),
        bind_password: turnstile::config::Secret::new(
            p[if ad { "AD_PASSWORD" } else { "SLAPD_PASSWORD" }].clone(),
        ),
        bind_password_file: None,
        allow_plain_bind: !ad,
        base_dn: base.clone(),
        users_container: ou("Staff"),
        groups_container: ou("Groups"),
        ca_file: ad.then(|| p["AD_CA"].clone().into()),
        tls_verify_hostname: false,
        timeout_secs: 30,
        page_size: 500,
        max_entries: 2_000_000,
        retries: 2,
        upn_suffix: Some("example.nhs.uk".into()),
        name_pattern: "{first}{last}".into(),
        name_max_len: 20,
        disabled_attribute: "employeeType".into(),
        disabled_value: "disabled".into(),
    }
}

fn person(run: &str, i: usize) -> Person {
    let number = format!("B{run}-{i}");
    let mut a = testkit::assignment(
        &format!("{number}-1"),
        AssignmentStatus::ActiveAssignment,
        "",
        "Porter",
        "Estates",
        "2026-01-01",
        None,
    );
    (a.staff_group, a.job_role, a.position_number, a.location) = (None, None, None, None);
    testkit::named(&number, "Bench", &format!("T{run}x{i}"), vec![a])
}

async fn raw(cfg: &LdapConfig) -> ldap3::Ldap {
    let ca = cfg.ca_file.as_ref().map(|p| p.display().to_string());
    common::raw_ldap(
        &cfg.url,
        &cfg.bind_dn,
        cfg.bind_password.expose(),
        ca.as_deref(),
    )
    .await
}

fn change(p: &Person, account: Option<String>, action: Action) -> Change {
    Change {
        system: "bench".into(),
        employee_number: p.employee_number.to_string(),
        account,
        action,
        rule: "bench".into(),
        reason: "bench".into(),
    }
}

fn pwd() -> Vec<u8> {
    "\"Bench-Pass-123!\""
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// The DN of an account by name, with the raw client.
async fn dn_of(ldap: &mut ldap3::Ldap, cfg: &LdapConfig, name: &str) -> String {
    let attr = if cfg.dialect == Dialect::ActiveDirectory {
        "sAMAccountName"
    } else {
        "uid"
    };
    let (rs, _) = ldap
        .search(
            &cfg.base_dn,
            ldap3::Scope::Subtree,
            &format!("({attr}={name})"),
            vec!["1.1"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    ldap3::SearchEntry::construct(rs.into_iter().next().unwrap()).dn
}

async fn enable_all(ldap: &mut ldap3::Ldap, cfg: &LdapConfig, dns: &[String]) {
    for dn in dns {
        let m = match cfg.dialect {
            Dialect::ActiveDirectory => {
                ldap3::Mod::Replace("userAccountControl", HashSet::from(["512"]))
            }
            Dialect::OpenLdap => ldap3::Mod::Delete("employeeType", HashSet::from(["disabled"])),
        };
        ldap.modify(dn, vec![m]).await.unwrap();
    }
}

/// Turnstile's connector: `n` creates, then (after enabling them, untimed) `n` disables.
async fn ours(
    cfg: &LdapConfig,
    admin: &mut ldap3::Ldap,
    tag: &str,
    n: usize,
) -> (Duration, Duration, Vec<String>) {
    let c = LdapConnector::new(cfg.clone(), true);
    c.health().await.unwrap();
    let people: Vec<Person> = (0..n).map(|i| person(tag, i)).collect();
    let t = Instant::now();
    let mut names = Vec::new();
    for person in &people {
        match c
            .apply(person, &change(person, None, Action::Create))
            .await
            .unwrap()
        {
            turnstile::connectors::Applied::Done {
                account: Some(name),
            } => names.push(name),
            other => panic!("{other:?}"),
        }
    }
    let create = t.elapsed();
    let mut dns = Vec::new();
    for name in &names {
        dns.push(dn_of(admin, cfg, name).await);
    }
    enable_all(admin, cfg, &dns).await;
    let t = Instant::now();
    for (person, name) in people.iter().zip(&names) {
        c.apply(person, &change(person, Some(name.clone()), Action::Disable))
            .await
            .unwrap();
    }
    (create, t.elapsed(), dns)
}

/// The bare ldap3 loop: the same entries and writes, without the safety searches.
async fn bare(
    cfg: &LdapConfig,
    admin: &mut ldap3::Ldap,
    tag: &str,
    n: usize,
) -> (Duration, Duration, Vec<String>) {
    let ad = cfg.dialect == Dialect::ActiveDirectory;
    let mut ldap = raw(cfg).await;
    let t = Instant::now();
    let mut dns = Vec::new();
    for i in 0..n {
        let name = format!("r{tag}x{i}");
        let number = format!("B{tag}r-{i}");
        let display = format!("Bench R{tag}x{i}");
        let (dn, attrs): (String, Vec<(&str, HashSet<&str>)>) = if ad {
            (
                format!("CN={display} ({name}),{}", cfg.users_container),
                vec![
                    (
                        "objectClass",
                        HashSet::from(["top", "person", "organizationalPerson", "user"]),
                    ),
                    ("sAMAccountName", HashSet::from([name.as_str()])),
                    ("employeeID", HashSet::from([number.as_str()])),
                    ("displayName", HashSet::from([display.as_str()])),
                    ("userAccountControl", HashSet::from(["514"])),
                ],
            )
        } else {
            (
                format!("uid={name},{}", cfg.users_container),
                vec![
                    (
                        "objectClass",
                        HashSet::from(["top", "person", "organizationalPerson", "inetOrgPerson"]),
                    ),
                    ("uid", HashSet::from([name.as_str()])),
                    ("cn", HashSet::from([display.as_str()])),
                    ("sn", HashSet::from(["R"])),
                    ("employeeNumber", HashSet::from([number.as_str()])),
                    ("employeeType", HashSet::from(["disabled"])),
                ],
            )
        };
        ldap.add(&dn, attrs).await.unwrap().success().unwrap();
        if ad {
            ldap.modify(
                &dn,
                vec![
                    ldap3::Mod::Replace(b"unicodePwd".to_vec(), HashSet::from([pwd()])),
                    ldap3::Mod::Replace(b"pwdLastSet".to_vec(), HashSet::from([b"0".to_vec()])),
                ],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        }
        dns.push(dn);
    }
    let create = t.elapsed();
    enable_all(admin, cfg, &dns).await;
    let t = Instant::now();
    for dn in &dns {
        let attr = if ad {
            "userAccountControl"
        } else {
            "employeeType"
        };
        let (rs, _) = ldap
            .search(dn, ldap3::Scope::Base, "(objectClass=*)", vec![attr])
            .await
            .unwrap()
            .success()
            .unwrap();
        let _ = ldap3::SearchEntry::construct(rs.into_iter().next().unwrap());
        let m = if ad {
            ldap3::Mod::Replace("userAccountControl", HashSet::from(["514"]))
        } else {
            ldap3::Mod::Add("employeeType", HashSet::from(["disabled"]))
        };
        ldap.modify(dn, vec![m]).await.unwrap().success().unwrap();
    }
    (create, t.elapsed(), dns)
}

/// Two rounds in alternating order (ours, bare, bare, ours) so neither side always runs
/// on a fresher or fuller directory; the sums are compared.
async fn run(dialect: Dialect, n: usize) {
    let p = peers();
    let cfg = config(&p, dialect);
    let run_id = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            % 1_000_000
    );
    let mut admin = raw(&cfg).await;
    let (mut o, mut b) = (
        (Duration::ZERO, Duration::ZERO),
        (Duration::ZERO, Duration::ZERO),
    );
    let mut created = Vec::new();
    for round in 0..2 {
        let tag = format!("{run_id}{round}");
        let order: [bool; 2] = if round == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_ours in order {
            let (c, d, dns) = if is_ours {
                ours(&cfg, &mut admin, &format!("{tag}t"), n).await
            } else {
                bare(&cfg, &mut admin, &tag, n).await
            };
            let acc = if is_ours { &mut o } else { &mut b };
            acc.0 += c;
            acc.1 += d;
            created.extend(dns);
        }
    }
    // Clean up, so the directory does not grow run after run.
    for dn in &created {
        admin.delete(dn).await.unwrap();
    }
    let total = 2 * n;
    let rate = |d: Duration| total as f64 / d.as_secs_f64();
    let name = if dialect == Dialect::ActiveDirectory {
        "Samba AD (LDAPS)"
    } else {
        "OpenLDAP (ldap://)"
    };
    println!(
        "{name}, 2x{n} accounts: create  turnstile {:.0}/s, bare ldap3 {:.0}/s, ratio {:.2}",
        rate(o.0),
        rate(b.0),
        rate(o.0) / rate(b.0)
    );
    println!(
        "{name}, 2x{n} accounts: disable turnstile {:.0}/s, bare ldap3 {:.0}/s, ratio {:.2}",
        rate(o.1),
        rate(b.1),
        rate(o.1) / rate(b.1)
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n = std::env::var("TURNSTILE_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    run(Dialect::OpenLdap, n).await;
    run(Dialect::ActiveDirectory, n).await;
}
