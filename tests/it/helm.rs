//! The Helm chart rendered by real helm 3 (from the npm registry, cached by
//! `peers.sh install`): linted, rendered with its defaults and with the example trust's
//! values, the manifests checked for what a platform team expects
//! (tests/helm/check.py) — a StatefulSet on SQLite, a Deployment of replicas on
//! PostgreSQL — the rendered config accepted by `turnstile validate`, and a store or
//! replica count that cannot run refused at render time.

use crate::drift::text;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cache() -> PathBuf {
    std::env::var("TURNSTILE_CACHE").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/turnstile"),
        PathBuf::from,
    )
}

fn helm(args: &[&str]) -> Output {
    let bin = cache().join("bin/helm");
    assert!(
        bin.exists(),
        "helm is missing: run tests/peers/peers.sh install"
    );
    Command::new(bin)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn render(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let mut args = vec!["template", "t", "helm/turnstile"];
    args.extend_from_slice(extra);
    let o = helm(&args);
    assert!(o.status.success(), "helm template {extra:?}: {}", text(&o));
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, &o.stdout).unwrap();
    path
}

fn check(rendered: &Path, mode: &str, out: &Path) {
    std::fs::create_dir_all(out).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helm/check.py");
    let o = Command::new(cache().join("venv/bin/python"))
        .arg(script)
        .arg(rendered)
        .arg(mode)
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{mode}: {}", text(&o));
}

/// The config the chart rendered into `out` (by check.py), with each file the pod mounts
/// (`mounts`: where the pod has it, where it is here) and the role model moved here: the
/// trust's file as `out/trust.toml` and the chart's keys as `out/t.toml`, layered in that
/// order as the pod's arguments layer them; the example role model copied beside them.
fn local_config(out: &Path, mounts: &[(&str, PathBuf)]) {
    for (rendered, local) in [("turnstile.toml", "trust.toml"), ("chart.toml", "t.toml")] {
        let mut toml = std::fs::read_to_string(out.join(rendered))
            .unwrap()
            .replace(
                "/etc/turnstile/role-model.toml",
                &out.join("role-model.toml").display().to_string(),
            );
        for (in_pod, here) in mounts {
            toml = toml.replace(in_pod, &here.display().to_string());
        }
        std::fs::write(out.join(local), toml).unwrap();
        std::fs::set_permissions(
            out.join(local),
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
        )
        .unwrap();
    }
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/role-model.toml"),
        out.join("role-model.toml"),
    )
    .unwrap();
}

#[test]
fn the_chart_lints_renders_and_holds_what_a_platform_team_expects() {
    use std::os::unix::fs::PermissionsExt;
    for values in [&[][..], &["-f", "helm/turnstile/values-example.yaml"][..]] {
        let mut args = vec!["lint", "--strict", "helm/turnstile"];
        args.extend_from_slice(values);
        let o = helm(&args);
        assert!(o.status.success(), "helm lint {values:?}: {}", text(&o));
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let plain = render(p, "default", &[]);
    check(&plain, "default", &p.join("default"));
    let example = render(p, "example", &["-f", "helm/turnstile/values-example.yaml"]);
    let out = p.join("example");
    check(&example, "example", &out);
    // The config the chart writes is one turnstile accepts, with its files where the pod
    // mounts them.
    local_config(
        &out,
        &[
            ("/etc/turnstile/admin/tokens.toml", out.join("tokens.toml")),
            ("/etc/turnstile/kafka-ca/ca.pem", out.join("ca.pem")),
            ("/etc/turnstile/tls/tls.crt", out.join("tls.crt")),
            ("/etc/turnstile/tls/tls.key", out.join("tls.key")),
            ("/var/lib/turnstile/turnstile.db", out.join("state.db")),
            ("/etc/turnstile/audit/key", out.join("audit.key")),
            ("/etc/turnstile/ldap-ca/ca.pem", out.join("tls.crt")),
        ],
    );
    // The audit key as its Secret holds it: keyed integrity switched on in Kubernetes.
    std::fs::write(out.join("audit.key"), "0123456789abcdef".repeat(4)).unwrap();
    std::fs::write(out.join("ca.pem"), "").unwrap();
    // A certificate and PKCS#8 key, as a kubernetes.io/tls Secret would hold them.
    crate::peers::self_signed(&out.join("tls.crt"), &out.join("tls.key"), "/CN=t", None);
    std::fs::write(
        out.join("tokens.toml"),
        "[[tokens]]\nname = \"prometheus\"\nrole = \"viewer\"\nsha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"\n",
    )
    .unwrap();
    for f in [
        "t.toml",
        "trust.toml",
        "tokens.toml",
        "tls.key",
        "audit.key",
    ] {
        std::fs::set_permissions(out.join(f), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let o = Command::new(env!("CARGO_BIN_EXE_turnstile"))
        .args(["validate", "--config"])
        .arg(out.join("trust.toml"))
        .arg("--config")
        .arg(out.join("t.toml"))
        .env("TURNSTILE__KAFKA__SASL_PASSWORD", "from-a-secret")
        .env("TURNSTILE__TARGETS__AD__BIND_PASSWORD", "from-a-secret")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Several replicas on PostgreSQL: a Deployment, the URL from a Secret, and a config
    // turnstile accepts with the URL given as the Secret gives it (the environment).
    let pg = render(
        p,
        "postgres",
        &[
            "--set",
            "store.kind=postgres",
            "--set",
            "store.postgres.urlSecret=turnstile-db",
            "--set",
            "store.postgres.caSecret=turnstile-db-ca",
            "--set",
            "replicas=2",
        ],
    );
    let out = p.join("postgres");
    check(&pg, "postgres", &out);
    local_config(
        &out,
        &[("/etc/turnstile/db-ca/ca.pem", p.join("example/tls.crt"))],
    );
    let validate = |url: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_turnstile"));
        c.args(["validate", "--config"])
            .arg(out.join("trust.toml"))
            .arg("--config")
            .arg(out.join("t.toml"))
            .env("TURNSTILE__KAFKA__SASL_PASSWORD", "from-a-secret");
        if let Some(url) = url {
            c.env("TURNSTILE__STORE__URL", url);
        }
        c.output().unwrap()
    };
    let o = validate(Some(
        "postgres://turnstile:pw@db.trust.nhs.uk:5432/turnstile",
    ));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = validate(None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("TURNSTILE__STORE__URL"), "{}", text(&o));
    // What cannot run is refused when rendering, with the reason.
    for (set, says) in [
        ("store.kind=postgres", "store.postgres.urlSecret"),
        ("store.kind=mysql", "use sqlite"),
        ("replicas=2", "keep replicas: 1"),
        ("admin.tokensSecret=t", "admin.allowPlaintextTokens"),
    ] {
        let o = helm(&["template", "t", "helm/turnstile", "--set", set]);
        assert!(!o.status.success(), "{set} rendered");
        assert!(text(&o).contains(says), "{set}: {}", text(&o));
    }
}
