//! The fault suite (issue 33): real peers disturbed the way a trust's network, disks and
//! operators disturb them, each test ending in the state an undisturbed run gives with
//! nothing lost: the audit chain verifies, every planned change applied or failed with a
//! reason, no change applied twice, no second account. Each run takes a seed, printed
//! (`TURNSTILE_FAULT_SEED` replays it).
//!
//! Kafka faults (broker down mid-stream, SIGKILL at random moments) are in `kafka.rs`.

use crate::ldap::{Dir, MODEL, run_id, turnstile_env, turnstile_in};
use crate::peers::{Chaos, Proxy, Rng, env, fault_seed};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use turnstile::connectors::Connector;
use turnstile::connectors::ldap::LdapConnector;

const HEADER: &str = "Employee Number,Assignment Number,Primary Assignment (Y/N),First Name,Last Name,Job Role,Assignment Status,Assignment Start Date,Assignment End Date\n";
const TODAY: &str = "2026-11-23";

/// A proxy in front of the tests' slapd.
async fn slapd_proxy() -> Proxy {
    let target = env("SLAPD_URL")
        .trim_start_matches("ldap://")
        .trim_end_matches('/')
        .to_string();
    Proxy::start(target).await
}

/// A trust of `n` joiners on slapd reached through `proxy`: the working folder, the
/// employee numbers and the direct (undisturbed) connector.
async fn trust(
    proxy_port: u16,
    n: u32,
    tag: &str,
) -> (tempfile::TempDir, Vec<String>, LdapConnector) {
    let dir = Dir::openldap().with_staff_groups().await;
    let work = tempfile::tempdir().unwrap();
    let p = work.path();
    std::fs::write(p.join("model.toml"), MODEL.replace("LEAVERS", &dir.leavers)).unwrap();
    let cfg = dir.config("dir");
    std::fs::write(
        p.join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"model.toml\"\n[guard]\nmin_creates = 100\n\
             [targets.dir]\ntype = \"ldap\"\ndialect = \"open_ldap\"\nurl = \"ldap://127.0.0.1:{proxy_port}/\"\nbind_dn = \"{}\"\nallow_plain_bind = true\n\
             base_dn = \"{}\"\nusers_container = \"{}\"\ngroups_container = \"{}\"\ntimeout_secs = 4\nretries = 2\n",
            cfg.bind_dn, cfg.base_dn, cfg.users_container, cfg.groups_container
        ),
    )
    .unwrap();
    std::fs::write(p.join("bind.pw"), cfg.bind_password.expose()).unwrap();
    std::fs::set_permissions(
        p.join("bind.pw"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let mut config = std::fs::read_to_string(p.join("turnstile.toml")).unwrap();
    config = config.replace(
        "allow_plain_bind = true\n",
        "allow_plain_bind = true\nbind_password_file = \"bind.pw\"\n",
    );
    std::fs::write(p.join("turnstile.toml"), config).unwrap();
    let people: Vec<String> = (1..=n).map(|i| format!("{}-F{tag}{i}", run_id())).collect();
    let mut esr = HEADER.to_string();
    for (i, e) in people.iter().enumerate() {
        let (first, role) = if i % 3 == 0 {
            ("Ade", "Administrator")
        } else {
            ("Rae", "Staff Nurse")
        };
        esr.push_str(&format!(
            "{e},{e}-1,Y,{first},Fault{tag}{i},{role},Active Assignment,01/01/2020,\n"
        ));
    }
    std::fs::write(p.join("esr.csv"), esr).unwrap();
    let (code, out) = turnstile_in(p, &["feed", "esr", "esr.csv", "--apply", "--today", TODAY]);
    assert_eq!(code, Some(0), "{out}");
    (work, people, LdapConnector::new(cfg, true))
}

/// What an undisturbed run gives: each person exactly one account, enabled, in their
/// role's groups; the trail verifies; each create applied once; nothing left to do.
/// `killed`: how many runs were stopped at once between a write and its entry.
async fn ends_as_undisturbed(p: &Path, people: &[String], direct: &dyn Connector, killed: usize) {
    let accounts = direct.read_accounts().await.unwrap();
    for (i, e) in people.iter().enumerate() {
        let mine: Vec<_> = accounts
            .iter()
            .filter(|a| a.employee_number.as_deref() == Some(e.as_str()))
            .collect();
        assert_eq!(mine.len(), 1, "{e}: {} accounts: {mine:?}", mine.len());
        let group = if i % 3 == 0 { "GG-Admin" } else { "GG-Nursing" };
        assert!(
            mine[0].enabled
                && mine[0].entitlements.contains("GG-AllStaff")
                && mine[0].entitlements.contains(group),
            "{e}: {:?}",
            mine[0]
        );
    }
    let (code, out) = turnstile_in(p, &["audit", "--verify"]);
    assert_eq!(code, Some(0), "the chain verifies: {out}");
    let (_, trail) = turnstile_in(p, &["audit", "--format", "json"]);
    let trail: Vec<serde_json::Value> =
        serde_json::from_str(&trail[trail.find('[').unwrap()..]).unwrap();
    let mut creates: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed_creates: BTreeMap<String, usize> = BTreeMap::new();
    for t in &trail {
        if t["action"] == "change.create" && t["outcome"] == "applied" {
            *creates
                .entry(t["employee_number"].as_str().unwrap_or("").to_string())
                .or_default() += 1;
        }
        if t["outcome"] == "failed" {
            let reason = t["reason"].as_str().unwrap_or("");
            assert!(!reason.is_empty(), "a failure with no reason: {t:#}");
            // A write its own lost attempt made is that attempt's success, not a failure.
            assert!(
                !reason.contains("LDAP result 68") && !reason.contains("LDAP result 20"),
                "recorded failed, though made by the attempt before: {t:#}"
            );
            if t["action"] == "change.create" {
                *failed_creates
                    .entry(t["employee_number"].as_str().unwrap_or("").to_string())
                    .or_default() += 1;
            }
        }
    }
    // A run killed between a write and its entry leaves the write in the trail as
    // intended (`apply.started` names each change before it is sent); the next pass finds
    // it made and plans nothing for it. So does a create whose answer was lost and whose
    // check afterwards failed too: recorded failed with the connection's reason. Any
    // other create is recorded applied, once.
    let intended: BTreeSet<String> = trail
        .iter()
        .filter(|t| {
            t["action"] == "apply.started"
                && t["reason"].as_str().is_some_and(|r| r.contains("create"))
        })
        .filter_map(|t| t["employee_number"].as_str().map(str::to_string))
        .collect();
    let mut intent_only = 0;
    for e in people {
        match creates.get(e) {
            Some(1) => {}
            None if failed_creates.contains_key(e) && intended.contains(e) => {}
            None if intent_only < killed && intended.contains(e) => intent_only += 1,
            other => panic!(
                "{e}: create applied {other:?} times; intended: {}",
                intended.contains(e)
            ),
        }
    }
    let (code, out) = turnstile_in(p, &["reconcile", "--dry-run", "--today", TODAY]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        !out.contains("create") && !out.contains(": add"),
        "nothing left to do: {out}"
    );
}

/// Runs `reconcile` until it exits 0 (at most `runs` times), each run given to `disturb`
/// first. Returns how many runs it took.
fn until_done(p: &Path, runs: u32, mut disturb: impl FnMut(u32, &mut std::process::Child)) -> u32 {
    for run in 1..=runs {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_turnstile"))
            .args(["reconcile", "--today", TODAY])
            .current_dir(p)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        disturb(run, &mut child);
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("run {run}: {:?}\n{text}", out.status.code());
        if out.status.code() == Some(0) {
            return run;
        }
        // A run that exits (rather than being killed) without finishing says why.
        assert!(
            out.status.code().is_none()
                || text.contains("failed")
                || text.contains("error")
                || text.contains("stopped"),
            "a run that did not finish says why: {text}"
        );
    }
    panic!("still not done after {runs} runs");
}

/// slapd reached through a network that delays every response and cuts some part-way
/// (the server may have made the write the client never hears of): the runs that follow
/// finish the work with no second account and no change applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slapd_slowed_and_cut_mid_response_ends_as_an_undisturbed_run() {
    let seed = fault_seed("slapd_slowed_and_cut");
    let proxy = slapd_proxy().await;
    let (work, people, direct) = trust(proxy.port, 16, "X").await;
    proxy.set_chaos(Some(Chaos {
        seed,
        delay_ms: 20,
        cut_per_mille: 100,
        ..Chaos::default()
    }));
    // Three runs through the bad network (each may end with changes failed), then the
    // network mends and the runs that follow finish the work.
    let p = work.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        for run in 1..=3 {
            let (code, out) = turnstile_in(&p, &["reconcile", "--today", TODAY]);
            eprintln!("disturbed run {run}: {code:?}\n{out}");
            assert!(
                code == Some(0) || out.contains("failed") || out.contains("error"),
                "a run that did not finish says why: {out}"
            );
        }
    })
    .await
    .unwrap();
    proxy.set_chaos(None);
    let p = work.path().to_path_buf();
    let runs = tokio::task::spawn_blocking(move || until_done(&p, 3, |_, _| {}))
        .await
        .unwrap();
    eprintln!("done in {runs} more run(s)");
    ends_as_undisturbed(work.path(), &people, &direct, 0).await;
}

/// `reconcile` stopped by SIGTERM in the moment that matters most (slapd has made an
/// account and the answer has not reached Turnstile): first once, and it finishes that
/// person, records them and stops; then twice, and it stops at once, the write named by
/// the trail's intent entry; then once at a random moment of a pass over a slowed link.
/// The runs that follow finish the work with no second account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_at_any_moment_of_a_pass_loses_nothing() {
    let seed = fault_seed("sigterm_during_a_pass");
    let proxy = slapd_proxy().await;
    let (work, people, direct) = trust(proxy.port, 9, "T").await;
    proxy.set_chaos(Some(Chaos {
        seed,
        delay_ms: 40,
        hold_add_response: true,
        ..Chaos::default()
    }));
    let p = work.path().to_path_buf();
    let mut rng = Rng::new(seed);
    let held = proxy.held.clone();
    let runs = tokio::task::spawn_blocking(move || {
        until_done(&p, 8, |run, child| {
            let kill = |why: String| {
                eprintln!("run {run}: SIGTERM {why}");
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status();
            };
            match run {
                1 | 2 => {
                    // Withhold the next AddResponse.
                    held.store(0, std::sync::atomic::Ordering::SeqCst);
                    let started = std::time::Instant::now();
                    while held.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                        assert!(started.elapsed().as_secs() < 30, "no account was added");
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    kill("with an AddResponse withheld".into());
                    if run == 2 {
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        kill("again, to stop at once".into());
                    }
                }
                3 => {
                    let after = 100 + rng.below(500);
                    std::thread::sleep(std::time::Duration::from_millis(after));
                    kill(format!("after {after} ms"));
                }
                _ => {}
            }
        })
    })
    .await
    .unwrap();
    assert!(runs > 1, "the first run was stopped");
    proxy.set_chaos(None);
    // Only the run stopped at once (run 2) can leave a write named by its intent alone.
    ends_as_undisturbed(work.path(), &people, &direct, 1).await;
}

/// The audit trail, oldest first.
fn trail(p: &Path) -> Vec<serde_json::Value> {
    let (code, out) = turnstile_in(p, &["audit", "--format", "json"]);
    assert_eq!(code, Some(0), "{out}");
    serde_json::from_str(&out[out.find('[').unwrap()..]).unwrap()
}

/// Three passes through `proxy` while it refuses in the server's place (each saying what
/// it made, as the trail holds it), one while it is down (nothing applied, the target
/// named), then passes until one finishes once it is back.
async fn refused_then_stopped_then_done(p: &Path, proxy: &Proxy, seed: u64) {
    let q = p.to_path_buf();
    tokio::task::spawn_blocking(move || {
        for run in 1..=3 {
            let before = trail(&q).len();
            let (code, out) = turnstile_in(&q, &["reconcile", "--today", TODAY]);
            eprintln!("refusing run {run}: {code:?}\n{out}");
            assert!(
                code == Some(0) || out.contains("failed") || out.contains("error"),
                "a run that did not finish says why: {out}"
            );
            // What it says it made is what the trail holds.
            let applied = trail(&q)[before..]
                .iter()
                .filter(|t| t["outcome"] == "applied")
                .count();
            assert!(
                applied == 0 || !out.contains("nothing was changed"),
                "{applied} change(s) applied, yet the run says nothing was: {out}"
            );
        }
    })
    .await
    .unwrap();
    let refused = proxy.refused.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        refused > 0,
        "the server's place was never taken (seed {seed})"
    );
    proxy.set_chaos(None);

    // Stopped: connections refused, as a server that is down.
    proxy.take_down();
    let before = trail(p).len();
    let q = p.to_path_buf();
    let (code, out) =
        tokio::task::spawn_blocking(move || turnstile_in(&q, &["reconcile", "--today", TODAY]))
            .await
            .unwrap();
    assert_ne!(
        code,
        Some(0),
        "a run against a stopped target does not succeed: {out}"
    );
    assert!(
        out.contains("dir"),
        "the run names the target it could not reach: {out}"
    );
    let applied_while_down: Vec<serde_json::Value> = trail(p)
        .into_iter()
        .skip(before)
        .filter(|t| t["outcome"] == "applied")
        .collect();
    assert!(
        applied_while_down.is_empty(),
        "nothing is applied while the target is down: {applied_while_down:?}"
    );
    proxy.bring_up();
    let q = p.to_path_buf();
    let runs = tokio::task::spawn_blocking(move || until_done(&q, 3, |_, _| {}))
        .await
        .unwrap();
    eprintln!("{refused} request(s) refused; done in {runs} more run(s)");
}

/// slapd answering busy (51) or unavailable (52) at random in place of searches and
/// writes, then stopped outright for a run: the disturbed runs say what failed, the stopped
/// run changes nothing and says the target cannot be reached, and once slapd is back the
/// runs that follow finish the work, each change applied once, no second account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slapd_refusing_at_random_then_stopped_ends_as_an_undisturbed_run() {
    let seed = fault_seed("slapd_refusing_then_stopped");
    let proxy = slapd_proxy().await;
    let (work, people, direct) = trust(proxy.port, 12, "B").await;
    proxy.set_chaos(Some(Chaos {
        seed,
        busy_per_mille: 150,
        ..Chaos::default()
    }));
    refused_then_stopped_then_done(work.path(), &proxy, seed).await;
    ends_as_undisturbed(work.path(), &people, &direct, 0).await;
}

/// scim2-server behind a proxy that answers 429 (`Retry-After: 1`) or 503 in its place at
/// random, then stopped outright for a run: the disturbed runs wait out or record what
/// failed, the stopped run applies nothing, and once it is back the runs that follow
/// finish the work, each user created once, in their groups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_refusing_at_random_then_stopped_ends_as_an_undisturbed_run() {
    let seed = fault_seed("scim_refusing_then_stopped");
    crate::scim::ensure_groups(&["GG-AllStaff", "GG-Nursing", "GG-Admin"]).await;
    let upstream = env("SCIM_URL");
    let proxy = Proxy::start(
        upstream
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string(),
    )
    .await;
    let work = tempfile::tempdir().unwrap();
    let p = work.path();
    std::fs::write(p.join("model.toml"), MODEL.replace("LEAVERS", "")).unwrap();
    std::fs::write(p.join("scim.token"), env("SCIM_TOKEN")).unwrap();
    std::fs::set_permissions(
        p.join("scim.token"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let target = |url: &str| {
        format!(
            "type = \"scim\"\nurl = \"{url}\"\ntoken_file = \"scim.token\"\nallow_plain_http = true\n\
             timeout_secs = 5\nretries = 2\nmax_retry_after_secs = 2\n"
        )
    };
    std::fs::write(
        p.join("turnstile.toml"),
        format!(
            "[store]\npath = \"state.db\"\n[policy]\npath = \"model.toml\"\n[guard]\nmin_creates = 100\n\
             [targets.dir]\n{}",
            target(&format!("http://127.0.0.1:{}/v2", proxy.port))
        ),
    )
    .unwrap();
    let people: Vec<String> = (1..=10).map(|i| format!("{}-FS{i}", run_id())).collect();
    let mut esr = HEADER.to_string();
    for (i, e) in people.iter().enumerate() {
        let (first, role) = if i % 3 == 0 {
            ("Ade", "Administrator")
        } else {
            ("Rae", "Staff Nurse")
        };
        esr.push_str(&format!(
            "{e},{e}-1,Y,{first},Scimfault{i},{role},Active Assignment,01/01/2020,\n"
        ));
    }
    std::fs::write(p.join("esr.csv"), esr).unwrap();
    let (code, out) = turnstile_in(p, &["feed", "esr", "esr.csv", "--apply", "--today", TODAY]);
    assert_eq!(code, Some(0), "{out}");
    proxy.set_chaos(Some(Chaos {
        seed,
        refuse_http_per_mille: 250,
        ..Chaos::default()
    }));
    refused_then_stopped_then_done(p, &proxy, seed).await;
    let direct: turnstile::connectors::scim::ScimConfig = toml::from_str(&format!(
        "{}token = \"{}\"\n",
        target(&upstream)
            .replace("type = \"scim\"\n", "")
            .replace("token_file = \"scim.token\"\n", ""),
        env("SCIM_TOKEN")
    ))
    .unwrap();
    let direct = turnstile::connectors::scim::ScimConnector::new("dir", direct, false).unwrap();
    ends_as_undisturbed(p, &people, &direct, 0).await;
}

/// A small file system mounted for one test, unmounted when dropped.
struct Mounted(std::path::PathBuf);
impl Mounted {
    fn tmpfs(at: &Path, size: &str) -> Mounted {
        std::fs::create_dir_all(at).unwrap();
        let o = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "the disk-full test mounts a small tmpfs (as root): {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Mounted(at.to_path_buf())
    }
    fn resize(&self, size: &str) {
        let o = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}
impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn entries(p: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = trail(p)
        .iter()
        .map(|t| {
            (
                t["employee_number"].as_str().unwrap_or("").to_string(),
                t["action"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The disk under the SQLite store fills while an extract is recorded: the run stops
/// with an error that says so, the trail still verifies, and once there is room the same
/// extract records the rest, each person once, as an undisturbed run does.
#[test]
fn the_disk_filling_under_the_store_loses_nothing() {
    let work = tempfile::tempdir().unwrap();
    let people = 3000;
    let mut esr = HEADER.to_string();
    for i in 0..people {
        let e = 31_000_000 + i;
        esr.push_str(&format!(
            "{e},{e}-1,Y,Ann{i},Disk{i},Staff Nurse,Active Assignment,01/01/2020,\n"
        ));
    }
    std::fs::write(work.path().join("esr.csv"), esr).unwrap();
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/role-model.toml");
    let config = format!("[store]\npath = \"state.db\"\n[policy]\npath = \"{model}\"\n");
    let feed = ["feed", "esr", "../esr.csv", "--apply", "--today", TODAY];

    // Undisturbed, on the ordinary disk.
    let calm = work.path().join("calm");
    std::fs::create_dir_all(&calm).unwrap();
    std::fs::write(calm.join("turnstile.toml"), &config).unwrap();
    let (code, out) = turnstile_in(&calm, &feed);
    assert_eq!(code, Some(0), "{out}");

    // The same on 2 MB: about a third of what the store needs.
    let small = work.path().join("small");
    let disk = Mounted::tmpfs(&small, "2m");
    std::fs::write(small.join("turnstile.toml"), &config).unwrap();
    let (code, out) = turnstile_in(&small, &feed);
    assert_ne!(code, Some(0), "{out}");
    assert!(out.contains("disk is full"), "says why: {out}");
    let (code, out) = turnstile_in(&small, &["audit", "--verify"]);
    assert_eq!(
        code,
        Some(0),
        "the trail verifies after the disk filled: {out}"
    );
    let before = entries(&small).len();
    assert!(
        before < people as usize,
        "the disk filled part-way: {before}"
    );

    disk.resize("64m");
    let (code, out) = turnstile_in(&small, &feed);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "{before} duplicate, {} recorded",
            people as usize - before
        )),
        "the rest recorded, none twice: {out}"
    );
    let (code, out) = turnstile_in(&small, &["audit", "--verify"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(entries(&small), entries(&calm), "as the undisturbed run");
}

fn turnstile_at(p: &Path, now: &str, args: &[&str]) -> (Option<i32>, String) {
    turnstile_env(p, args, &[(turnstile::NOW_VAR, now)])
}

/// A leaver whose last day is the day the clocks go forward (28 March 2027): at 23:59 BST
/// (22:59 UTC) it is still their last day and the account stays; at 00:30 BST on the 29th
/// (23:30 UTC the 28th) it is disabled. Then the host's clock steps back an hour: the
/// account is not enabled again, and a clock put right changes nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_stepping_across_midnight_on_a_last_day_disables_once() {
    let proxy = slapd_proxy().await;
    let (work, people, direct) = trust(proxy.port, 1, "C").await;
    let p = work.path();
    let e = &people[0];
    let (code, out) = turnstile_in(p, &["reconcile", "--today", TODAY]);
    assert_eq!(code, Some(0), "{out}");
    std::fs::write(
        p.join("esr2.csv"),
        format!("{HEADER}{e},{e}-1,Y,Ade,FaultC0,Administrator,Terminate Assignment,01/01/2020,28/03/2027\n"),
    )
    .unwrap();
    let (code, out) = turnstile_at(
        p,
        "2027-03-20T09:00:00Z",
        &["feed", "esr", "esr2.csv", "--apply"],
    );
    assert_eq!(code, Some(0), "{out}");
    let enabled = || async {
        direct
            .read_accounts()
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.employee_number.as_deref() == Some(e.as_str()))
            .unwrap()
            .enabled
    };
    let reconcile_at = |now: &str| {
        let (code, out) = turnstile_at(
            p,
            now,
            &["reconcile", "--allow-share", "--as", "Fault Test"],
        );
        assert_eq!(code, Some(0), "at {now}: {out}");
        out
    };
    reconcile_at("2027-03-28T22:59:00Z");
    assert!(enabled().await, "23:59 BST on the last day: still theirs");
    reconcile_at("2027-03-28T23:30:00Z");
    assert!(!enabled().await, "00:30 BST the day after: disabled");
    // The clock steps back across midnight, then is put right.
    let out = reconcile_at("2027-03-28T22:45:00Z");
    assert!(
        !enabled().await,
        "a clock gone back does not give the account back: {out}"
    );
    // A corrected record arrives while the clock is still behind: it is planned as of the
    // latest entry (the leaver's day is over), never as the evening before, when the
    // account would be theirs again.
    std::fs::write(
        p.join("esr3.csv"),
        format!("{HEADER}{e},{e}-1,Y,Ade,FaultC0,Staff Nurse,Terminate Assignment,01/01/2020,28/03/2027\n"),
    )
    .unwrap();
    let (code, out) = turnstile_at(
        p,
        "2027-03-28T22:50:00Z",
        &["feed", "esr", "esr3.csv", "--apply"],
    );
    assert_eq!(code, Some(0), "{out}");
    let (_, trail) = turnstile_in(p, &["audit", "--person", e, "--format", "json"]);
    let trail: Vec<serde_json::Value> =
        serde_json::from_str(&trail[trail.find('[').unwrap()..]).unwrap();
    let recorded = trail
        .iter()
        .rev()
        .find(|t| t["action"] == "hr.record")
        .unwrap();
    assert!(
        !recorded["reason"].as_str().unwrap().contains("enable"),
        "planned as of the evening before: {recorded:#}"
    );
    reconcile_at("2027-03-29T08:00:00Z");
    assert!(!enabled().await);
    let (_, trail) = turnstile_in(p, &["audit", "--person", e, "--format", "json"]);
    let trail: Vec<serde_json::Value> =
        serde_json::from_str(&trail[trail.find('[').unwrap()..]).unwrap();
    let applied = |action: &str| {
        trail
            .iter()
            .filter(|t| t["action"] == action && t["outcome"] == "applied")
            .count()
    };
    assert_eq!(applied("change.disable"), 1, "{trail:#?}");
    assert_eq!(
        applied("change.enable"),
        1,
        "only the joiner's enable: {trail:#?}"
    );
    let (code, out) = turnstile_in(p, &["audit", "--verify"]);
    assert_eq!(code, Some(0), "{out}");
}
