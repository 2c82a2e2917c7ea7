//! The quick starts run as written: every `turnstile …` line of a ```sh block in the
//! docs is run with the binary built from this tree, from a folder that holds the
//! repository's `examples/`, and must exit as the page says (0, or a trailing `# exits N`);
//! each `--out` file it names must then exist. The commands and the config are read from
//! the Markdown, not copied here, so the docs cannot drift from the code.

use std::path::Path;
use std::process::Command;
use turnstile::connectors::Connector;

fn read(doc: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(doc)).unwrap()
}

/// The `turnstile …` command lines of the ```sh blocks of `doc`, each with the exit code
/// it documents (a trailing `# exits N`; else 0).
fn commands(doc: &str) -> Vec<(Vec<String>, i32)> {
    let mut out = Vec::new();
    for line in blocks(doc, "sh").lines() {
        let (command, comment) = line.split_once(" #").unwrap_or((line, ""));
        if let Some(rest) = command.trim().strip_prefix("turnstile ") {
            assert!(
                !rest.contains(['"', '\'', '\\', '$', '|', ';']),
                "{doc}: keep quick-start commands to plain words: {line}"
            );
            let code = comment.split_once("exits ").map_or(0, |(_, n)| {
                let digits: String = n.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().unwrap()
            });
            out.push((rest.split_whitespace().map(str::to_string).collect(), code));
        }
    }
    out
}

/// The text of every ````lang` block of `doc`, in order.
fn blocks(doc: &str, lang: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in read(doc).lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            inside = !inside && trimmed == format!("```{lang}");
            continue;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn the_drift_quick_start_runs_as_written() {
    let steps = commands("docs/quickstart-drift.md");
    assert!(steps.len() >= 3, "{steps:?}");
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        dir.path().join("examples"),
    )
    .unwrap();
    for (args, expected) in steps {
        assert_eq!(expected, 0, "{args:?}");
        let o = Command::new(env!("CARGO_BIN_EXE_turnstile"))
            .args(&args)
            .current_dir(dir.path())
            .env_remove("TURNSTILE_NOW")
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "turnstile {}: {}",
            args.join(" "),
            crate::drift::text(&o)
        );
        if let Some(i) = args.iter().position(|a| a == "--out") {
            let out = dir.path().join(&args[i + 1]);
            let len = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
            assert!(len > 0, "{} was not written", out.display());
        }
    }
}

/// The daemon quick start, as written: its config (the ```toml block) with the peers'
/// addresses given the way the page says any key can be (the environment), against the
/// test Samba AD and broker, and the example trust. Each command exits as the page says;
/// `run` serves `/readyz` and stops cleanly on SIGTERM; in the end every person the role
/// model gives AD has exactly one account, made by the approved plan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_quick_start_runs_as_written() {
    use crate::peers::env;
    let doc = "docs/quickstart-daemon.md";
    let steps = commands(doc);
    let verbs: Vec<&str> = steps.iter().map(|(a, _)| a[0].as_str()).collect();
    for v in ["validate", "feed", "reconcile", "held", "approve", "run"] {
        assert!(
            verbs.contains(&v),
            "{doc} has no `turnstile {v}`: {verbs:?}"
        );
    }
    let config = blocks(doc, "toml");
    for table in ["[store]", "[kafka]", "[daemon]", "[targets.ad]"] {
        assert!(config.contains(table), "{doc}: the config has no {table}");
    }
    let day1 = crate::correlation::Day1::new(crate::ldap::Dir::ad(), "quickstart").await;
    let model = read("examples/role-model.toml");
    let groups: std::collections::BTreeSet<&str> = model
        .split('"')
        .filter(|g| g.starts_with("GG-") && !g.contains('*'))
        .collect();
    day1.dir
        .ensure_groups(&groups.iter().copied().collect::<Vec<_>>())
        .await;

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::os::unix::fs::symlink(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"),
        p.join("examples"),
    )
    .unwrap();
    std::fs::write(p.join("turnstile.toml"), &config).unwrap();
    std::fs::write(p.join("ad-bind-password"), env("AD_PASSWORD")).unwrap();
    std::fs::set_permissions(
        p.join("ad-bind-password"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    std::fs::copy(env("AD_CA"), p.join("trust-ca.pem")).unwrap();
    let brokers = crate::kafka::brokers();
    let topic = crate::kafka::unique("quickstart");
    crate::kafka::create_topic(&brokers, &topic, 1).await;
    crate::kafka::create_topic(&brokers, &format!("{topic}.dlq"), 1).await;
    let admin = format!("127.0.0.1:{}", crate::kafka::free_port());
    let vars: Vec<(&str, String)> = vec![
        ("TURNSTILE__KAFKA__BROKERS", brokers.clone()),
        ("TURNSTILE__KAFKA__TOPIC", topic.clone()),
        (
            "TURNSTILE__KAFKA__GROUP_ID",
            crate::kafka::unique("quickstart"),
        ),
        ("TURNSTILE__DAEMON__LISTEN", admin.clone()),
        ("TURNSTILE__TARGETS__AD__URL", env("AD_LDAPS_URL")),
        ("TURNSTILE__TARGETS__AD__BIND_DN", env("AD_BIND")),
        ("TURNSTILE__TARGETS__AD__BASE_DN", day1.ou.clone()),
        ("TURNSTILE__TARGETS__AD__USERS_CONTAINER", day1.ou.clone()),
        // Account names are unique across the domain the other AD tests share: the example
        // trust's own names (`gadeyemi`) must not take theirs.
        ("TURNSTILE__TARGETS__AD__NAME_PATTERN", "qs{f}{last}".into()),
        // Samba's self-signed certificate names the VM, not 127.0.0.1.
        (
            "TURNSTILE__TARGETS__AD__TLS_VERIFY_HOSTNAME",
            "false".into(),
        ),
    ];
    let command = |args: &[String]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_turnstile"));
        c.args(args)
            .current_dir(p)
            .env_remove("TURNSTILE_NOW")
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())));
        c
    };
    for (args, expected) in &steps {
        if args[0] == "run" {
            let child = command(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(p.join("run.log")).unwrap())
                .spawn()
                .unwrap();
            let mut daemon = crate::kafka::Daemon {
                child,
                admin: admin.clone(),
            };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while daemon.get("/readyz").map(|(s, _)| s) != Some(200) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "`turnstile run` never became ready: {}",
                    std::fs::read_to_string(p.join("run.log")).unwrap()
                );
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            let status = daemon.terminate(std::time::Duration::from_secs(30));
            assert_eq!(
                status.and_then(|s| s.code()),
                Some(0),
                "`turnstile run` stops cleanly on SIGTERM: {}",
                std::fs::read_to_string(p.join("run.log")).unwrap()
            );
            continue;
        }
        let o = command(args).output().unwrap();
        assert_eq!(
            o.status.code(),
            Some(*expected),
            "turnstile {}: {}",
            args.join(" "),
            crate::drift::text(&o)
        );
    }
    // Every account made is one person's only account, and the approved first load made
    // them: well past the guard's 50, all anchored by the ESR number.
    let mut cfg = day1.dir.config("ad");
    cfg.base_dn = day1.ou.clone();
    cfg.users_container = day1.ou.clone();
    let accounts = turnstile::connectors::ldap::LdapConnector::new(cfg, true)
        .read_accounts()
        .await
        .unwrap();
    let mut numbers = std::collections::BTreeMap::new();
    for a in &accounts {
        let n = a
            .employee_number
            .clone()
            .expect("every account made is anchored");
        *numbers.entry(n).or_insert(0) += 1;
    }
    assert!(accounts.len() > 300, "{} accounts", accounts.len());
    assert!(
        numbers.values().all(|n| *n == 1),
        "a second account for someone: {numbers:?}"
    );
    assert!(
        accounts.iter().all(|a| a.id.starts_with("qs")),
        "named by the pattern given: {:?}",
        accounts.first()
    );
    day1.remove().await;
}
