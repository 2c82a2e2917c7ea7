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
