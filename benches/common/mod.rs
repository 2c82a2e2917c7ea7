//! What the benchmarks that drive real peers share: the peers' settings, a topic, a
//! producer, a bare LDAP connection and percentiles. Each bench uses some of it.

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::FutureProducer;
use std::collections::BTreeMap;

/// The running peers' settings (`tests/peers/peers.sh start` writes them).
pub fn peers() -> BTreeMap<String, String> {
    let dir = std::env::var("TURNSTILE_PEERS").unwrap_or_else(|_| "/tmp/turnstile-peers".into());
    std::fs::read_to_string(format!("{dir}/env"))
        .expect("start the peers first: tests/peers/peers.sh start")
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn env_or(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub async fn create_topic(brokers: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let t = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for r in admin
        .create_topics(&[t], &AdminOptions::new())
        .await
        .unwrap()
    {
        r.unwrap();
    }
}

/// Many records per batch, as a busy producer writes them: for a backlog that consumers
/// read from its start only (tansu stalls a consumer *resuming* inside a multi-record
/// batch, TESTBED.md; one reading from the start is not affected).
pub fn batching_producer(brokers: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("enable.idempotence", "false")
        .create()
        .unwrap()
}

/// One record per batch: tansu's memory storage stalls a consumer resuming inside a
/// multi-record batch (TESTBED.md).
pub fn producer(brokers: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "0")
        .set("batch.num.messages", "1")
        .set("enable.idempotence", "false")
        .create()
        .unwrap()
}

/// A bare ldap3 connection, bound; over LDAPS with `ca` (the host name not checked: the
/// test domain's certificate names the VM).
pub async fn raw_ldap(url: &str, bind: &str, password: &str, ca: Option<&str>) -> ldap3::Ldap {
    let mut settings = ldap3::LdapConnSettings::new();
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).unwrap();
        settings = settings.set_connector(
            native_tls::TlsConnector::builder()
                .add_root_certificate(native_tls::Certificate::from_pem(&pem).unwrap())
                .danger_accept_invalid_hostnames(true)
                .build()
                .unwrap(),
        );
    }
    let (conn, mut ldap) = ldap3::LdapConnAsync::with_settings(settings, url)
        .await
        .unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind(bind, password)
        .await
        .unwrap()
        .success()
        .unwrap();
    ldap
}

/// The value at `p` (0..=1) of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A joiner's HR event as a producer sends it: a staff nurse on Ward 7, numbered `number`.
pub fn hr_event(number: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schema": "turnstile.hr-event/v1",
        "event_id": format!("bench-{number}"),
        "source": "esr",
        "kind": "joiner",
        "occurred_at": "2026-11-23T09:00:00Z",
        "person": {
            "employee_number": number.to_string(),
            "given_name": "Amara",
            "family_name": format!("Okafor{number}"),
            "line_manager": "20001111",
            "assignments": [{
                "assignment_number": format!("{number}-1"),
                "primary": true,
                "status": "Active Assignment",
                "position_number": "P-0431",
                "position_title": "Staff Nurse",
                "staff_group": "Nursing and Midwifery Registered",
                "job_role": "Staff Nurse",
                "organisation": "Ward 7 Medicine",
                "location": "Main Hospital",
                "start_date": "2019-04-01"
            }]
        }
    }))
    .unwrap()
}

/// A bare paged ldap3 search of `base` for inetOrgPerson entries with `attrs`, each entry
/// taken apart as the connector would: the floor a reconcile or a correlation is put
/// beside. The number of entries read.
pub async fn bare_search(url: &str, bind: &str, pw: &str, base: &str, attrs: &[&str]) -> usize {
    use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
    let (conn, mut ldap) = ldap3::LdapConnAsync::new(url).await.unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind(bind, pw).await.unwrap().success().unwrap();
    let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(500)),
    ];
    let mut stream = ldap
        .streaming_search_with(
            adapters,
            base,
            ldap3::Scope::Subtree,
            "(objectClass=inetOrgPerson)",
            attrs.to_vec(),
        )
        .await
        .unwrap();
    let mut n = 0;
    while let Some(e) = stream.next().await.unwrap() {
        std::hint::black_box(ldap3::SearchEntry::construct(e));
        n += 1;
    }
    stream.finish().await.success().unwrap();
    n
}

/// Runs `bin args` in `dir` under `/usr/bin/time -v`: wall seconds, peak RSS in KB and
/// what it printed. A failed run fails the bench, naming `label`.
pub fn timed(bin: &str, dir: &std::path::Path, label: &str, args: &[&str]) -> (f64, u64, String) {
    let out = std::process::Command::new("/usr/bin/time")
        .arg("-v")
        .arg(bin)
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{label}: {err}");
    let field = |name: &str| {
        err.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let rss_kb: u64 = field("Maximum resident set size (kbytes):")
        .parse()
        .unwrap_or(0);
    let wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss):");
    let secs = wall
        .rsplit(':')
        .enumerate()
        .map(|(i, v)| v.parse::<f64>().unwrap_or(0.0) * 60f64.powi(i as i32))
        .sum::<f64>();
    (
        secs,
        rss_kb,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The median of some timings.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A trust in slapd for the benches that compare with a bare search: the accounts of
/// `ldif` loaded with `ldapadd` (the OU and its Staff and Groups made first), and in `d`
/// the role model, the bind password (mode 600), a config whose `[targets.dir]` is that
/// Staff OU, and the HR records of `esr` recorded with `feed esr --apply`.
pub struct SlapdTrust<'a> {
    pub bin: &'a str,
    pub dir: &'a std::path::Path,
    pub peers: &'a BTreeMap<String, String>,
    /// `ou=<run>,<base>`; Staff and Groups live under it.
    pub ou: &'a str,
    pub model: &'a str,
}

impl SlapdTrust<'_> {
    pub fn staff(&self) -> String {
        format!("ou=Staff,{}", self.ou)
    }

    /// Loads `ldif` (the people) and records `esr`; says how long ldapadd took.
    pub fn load(&self, people: usize, ldif: &str, esr: &str) {
        let p = self.peers;
        let (url, bind, pw) = (&p["SLAPD_URL"], &p["SLAPD_BIND"], &p["SLAPD_PASSWORD"]);
        let (d, ou, staff) = (self.dir, self.ou, self.staff());
        let groups = format!("ou=Groups,{ou}");
        let run = ou
            .strip_prefix("ou=")
            .and_then(|r| r.split(',').next())
            .unwrap_or("bench");
        let head = format!(
            "dn: {ou}\nobjectClass: organizationalUnit\nou: {run}\n\n\
             dn: {staff}\nobjectClass: organizationalUnit\nou: Staff\n\n\
             dn: {groups}\nobjectClass: organizationalUnit\nou: Groups\n\n"
        );
        std::fs::write(d.join("people.ldif"), format!("{head}{ldif}")).unwrap();
        std::fs::write(d.join("esr.csv"), esr).unwrap();
        std::fs::write(d.join("model.toml"), self.model).unwrap();
        std::fs::write(d.join("pw"), pw).unwrap();
        std::fs::set_permissions(
            d.join("pw"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        std::fs::write(
            d.join("turnstile.toml"),
            format!(
                "[store]\npath = \"state.db\"\n[policy]\npath = \"model.toml\"\n\
                 [targets.dir]\ntype = \"ldap\"\ndialect = \"open_ldap\"\nurl = \"{url}\"\nbind_dn = \"{bind}\"\n\
                 bind_password_file = \"pw\"\nallow_plain_bind = true\nbase_dn = \"{staff}\"\n\
                 users_container = \"{staff}\"\ngroups_container = \"{groups}\"\npage_size = 500\n"
            ),
        )
        .unwrap();
        let t = std::time::Instant::now();
        sh(std::process::Command::new("ldapadd")
            .args(["-x", "-H", url, "-D", bind, "-w", pw, "-f"])
            .arg(d.join("people.ldif")));
        eprintln!(
            "ldapadd: {people} people in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        sh(std::process::Command::new(self.bin)
            .args(["feed", "esr", "esr.csv", "--apply", "--today", "2026-11-23"])
            .current_dir(d));
    }
}

/// Runs a command, failing loudly.
pub fn sh(cmd: &mut std::process::Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One row of the benchmark table (`scripts/bench.sh` → `BENCHMARKS.md`): a figure beside
/// the floor measured in the same run. Printed, and appended as a JSON line to
/// `$TURNSTILE_BENCH_RESULTS` when set. `lower_is_better` for times and memory.
pub fn result(
    name: &str,
    figure: f64,
    floor: f64,
    unit: &str,
    floor_name: &str,
    lower_is_better: bool,
) {
    let line = serde_json::json!({
        "name": name,
        "figure": (figure * 1000.0).round() / 1000.0,
        "floor": (floor * 1000.0).round() / 1000.0,
        "unit": unit,
        "floor_name": floor_name,
        "ratio": if floor == 0.0 { 0.0 } else { ((figure / floor) * 1000.0).round() / 1000.0 },
        "lower_is_better": lower_is_better,
    });
    println!("result: {line}");
    if let Ok(path) = std::env::var("TURNSTILE_BENCH_RESULTS") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("TURNSTILE_BENCH_RESULTS is writable");
        writeln!(f, "{line}").expect("result written");
    }
}
