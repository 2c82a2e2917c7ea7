//! Kafka at the edge: settings, client configurations, publishing HR events, and the
//! dead-letter record. The daemon's consumer loop is in `crate::daemon`.
//!
//! On the topic, key = `person.employee_number` and value = the HR event (CONTRACT §1), so
//! one person's events stay in one partition, in order.

use crate::config::Secret;
use crate::hr::HrEvent;
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use serde::Deserialize;
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;

/// `[kafka]` in the config.
#[derive(Debug, Clone, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]`.
    pub brokers: String,
    /// The topic of HR events.
    pub topic: String,
    /// The consumer group; replicas sharing it split the partitions between them.
    pub group_id: String,
    /// Where events that cannot be used go, with the reason in headers. Default
    /// `<topic>.dlq`.
    pub dead_letter_topic: Option<String>,
    pub security_protocol: SecurityProtocol,
    /// PEM file of CA certificates for `ssl` and `sasl_ssl`.
    pub ssl_ca_location: Option<PathBuf>,
    /// Client certificate and key, for brokers that want mutual TLS.
    pub ssl_certificate_location: Option<PathBuf>,
    pub ssl_key_location: Option<PathBuf>,
    pub ssl_key_password: Secret,
    /// A file holding `ssl_key_password` (mode 600), in its place.
    pub ssl_key_password_file: Option<PathBuf>,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`, with `sasl_*` protocols.
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Secret,
    /// A file holding `sasl_password` (mode 600), in its place.
    pub sasl_password_file: Option<PathBuf>,
    /// A consumer silent for this long is dropped from the group and its partitions
    /// handed to another replica.
    #[schemars(range(min = 1000, max = 3600000))]
    pub session_timeout_ms: u32,
    /// How often stored offsets (of events already recorded) are committed.
    #[schemars(range(min = 100, max = 3600000))]
    pub auto_commit_interval_ms: u32,
    /// How long `feed --publish` waits for the broker to take each event.
    #[schemars(range(min = 1000, max = 3600000))]
    pub message_timeout_ms: u32,
    /// Further librdkafka properties for the consumer (`"fetch.max.bytes" = "…"`).
    pub consumer: PassThrough,
    /// Further librdkafka properties for producers (`feed --publish`, dead letters).
    pub producer: PassThrough,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            topic: "hr-events".into(),
            group_id: "turnstile".into(),
            dead_letter_topic: None,
            security_protocol: SecurityProtocol::Plaintext,
            ssl_ca_location: None,
            ssl_certificate_location: None,
            ssl_key_location: None,
            ssl_key_password: Secret::default(),
            ssl_key_password_file: None,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: Secret::default(),
            sasl_password_file: None,
            session_timeout_ms: 45_000,
            auto_commit_interval_ms: 1_000,
            message_timeout_ms: 60_000,
            consumer: PassThrough::default(),
            producer: PassThrough::default(),
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// Properties Turnstile's guarantees rest on: refused in `[kafka.consumer]`.
const CONSUMER_OWNED: &[(&str, &str)] = &[
    (
        "enable.auto.offset.store",
        "offsets are stored only after an event is recorded, so a crash loses nothing",
    ),
    (
        "enable.auto.commit",
        "stored offsets are committed on a timer and at shutdown",
    ),
    ("group.id", "set [kafka] group_id instead"),
    ("bootstrap.servers", "set [kafka] brokers instead"),
];

/// librdkafka properties passed through as they are. Their values are never printed
/// (`Debug` shows the keys only): a pass-through key could carry a credential.
#[derive(Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct PassThrough(BTreeMap<String, String>);

/// Written out, a pass-through table shows its keys only: a value could be a credential.
impl serde::Serialize for PassThrough {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for k in self.0.keys() {
            m.serialize_entry(k, "(set)")?;
        }
        m.end()
    }
}

impl PassThrough {
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }

    pub fn insert(&mut self, key: &str, value: &str) {
        self.0.insert(key.to_string(), value.to_string());
    }
}

impl std::fmt::Debug for PassThrough {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, "***")))
            .finish()
    }
}

/// Properties that set how Turnstile authenticates and protects its connection: refused in
/// both pass-through tables, so nothing there can weaken what `[kafka]` set and `check()`
/// approved (a plaintext protocol, a skipped certificate check, a password in clear).
fn security_owned(key: &str) -> bool {
    key == "security.protocol"
        || key.starts_with("sasl.")
        || key.starts_with("ssl.")
        || key.starts_with("ssl_")
        || key == "enable.ssl.certificate.verification"
}

/// Producer properties the dead letters' durability rests on.
const PRODUCER_OWNED: &[(&str, &str)] = &[(
    "acks",
    "every in-sync replica must take a dead letter or a published event before it counts as sent",
)];

/// A mistake in `[kafka]`, named by its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KafkaConfigError {
    #[error("[kafka] {key}: {message}")]
    Field { key: String, message: String },
}

fn field(key: &str, message: impl Into<String>) -> KafkaConfigError {
    KafkaConfigError::Field {
        key: key.into(),
        message: message.into(),
    }
}

impl KafkaConfig {
    /// The dead-letter topic: as configured, or `<topic>.dlq`.
    pub fn dead_letter_topic(&self) -> String {
        self.dead_letter_topic
            .clone()
            .unwrap_or_else(|| format!("{}.dlq", self.topic))
    }

    /// Checks the settings; returns every problem.
    pub fn check(&self) -> Vec<KafkaConfigError> {
        let mut out = Vec::new();
        if self.brokers.trim().is_empty() {
            out.push(field(
                "brokers",
                "is empty: give host:port of at least one broker",
            ));
        }
        if self.topic.trim().is_empty() {
            out.push(field("topic", "is empty"));
        }
        if self.group_id.trim().is_empty() {
            out.push(field("group_id", "is empty"));
        }
        if self.dead_letter_topic() == self.topic {
            out.push(field(
                "dead_letter_topic",
                "is the events topic itself: dead letters would be read again forever",
            ));
        }
        let sasl = self.security_protocol.sasl();
        if sasl {
            if self.sasl_mechanism.as_deref().is_none_or(str::is_empty) {
                out.push(field(
                    "sasl_mechanism",
                    format!(
                        "required with security_protocol = {} (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)",
                        self.security_protocol.as_str()
                    ),
                ));
            }
            if self.sasl_username.as_deref().is_none_or(str::is_empty) {
                out.push(field(
                    "sasl_username",
                    format!(
                        "required with security_protocol = {}",
                        self.security_protocol.as_str()
                    ),
                ));
            }
        } else if self.sasl_username.is_some() || !self.sasl_password.is_empty() {
            out.push(field(
                "sasl_username",
                "is set but security_protocol is not sasl_ssl or sasl_plaintext: it would be ignored",
            ));
        }
        if self.security_protocol == SecurityProtocol::SaslPlaintext
            && self.sasl_mechanism.as_deref() == Some("PLAIN")
        {
            out.push(field(
                "security_protocol",
                "SASL PLAIN over plaintext sends the password in clear: use sasl_ssl",
            ));
        }
        let owned = |table: &str,
                     owned: &[(&str, &str)],
                     keys: &mut dyn Iterator<Item = &String>| {
            keys.filter_map(|key| {
                let why = if security_owned(key) {
                    Some("security settings are set by [kafka] security_protocol, ssl_* and sasl_* (checked there), never passed through")
                } else {
                    owned.iter().find(|(k, _)| k == key).map(|(_, why)| *why)
                };
                why.map(|why| field(&format!("{table}.\"{key}\""), format!("cannot be set: {why}")))
            })
            .collect::<Vec<_>>()
        };
        out.extend(owned("consumer", CONSUMER_OWNED, &mut self.consumer.keys()));
        out.extend(owned("producer", PRODUCER_OWNED, &mut self.producer.keys()));
        out
    }

    fn common(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", "turnstile")
            .set("security.protocol", self.security_protocol.as_str());
        let paths = [
            ("ssl.ca.location", &self.ssl_ca_location),
            ("ssl.certificate.location", &self.ssl_certificate_location),
            ("ssl.key.location", &self.ssl_key_location),
        ];
        for (key, path) in paths {
            if let Some(p) = path {
                c.set(key, p.display().to_string());
            }
        }
        if !self.ssl_key_password.is_empty() {
            c.set("ssl.key.password", self.ssl_key_password.expose());
        }
        if let Some(m) = &self.sasl_mechanism {
            c.set("sasl.mechanism", m);
        }
        if let Some(u) = &self.sasl_username {
            c.set("sasl.username", u);
        }
        if !self.sasl_password.is_empty() {
            c.set("sasl.password", self.sasl_password.expose());
        }
        c
    }

    /// The consumer: offsets stored by hand after each event is recorded, committed on a
    /// timer and at shutdown; a new group starts at the earliest event. A fetch waits at
    /// most [`FETCH_WAIT_MS`] unless `[kafka.consumer]` says otherwise.
    pub fn consumer_config(&self) -> ClientConfig {
        let mut c = self.common();
        c.set("group.id", &self.group_id)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set(
                "auto.commit.interval.ms",
                self.auto_commit_interval_ms.to_string(),
            )
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", FETCH_WAIT_MS);
        for (k, v) in self.consumer.iter() {
            c.set(k, v);
        }
        c
    }

    /// A producer that waits for every in-sync replica and never reorders one person's
    /// events on retry.
    pub fn producer_config(&self) -> ClientConfig {
        let mut c = self.common();
        c.set("acks", "all")
            .set("max.in.flight.requests.per.connection", "5")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", self.message_timeout_ms.to_string());
        for (k, v) in self.producer.iter() {
            c.set(k, v);
        }
        c
    }
}

/// How long a fetch may wait for records, in ms (librdkafka's default is 500). A Kafka
/// broker answers as soon as it has records, so this only sets how often an idle consumer
/// asks again; a broker that answers only when the wait runs out (tansu) holds every event
/// up to this long and paces a backlog by it: at 500 ms about 39,000 events/s reach a bare
/// consumer, at 20 ms ten times as many. 100 ms keeps a leaver's wait short at the cost of
/// ten small requests a second while the topic is quiet.
pub const FETCH_WAIT_MS: &str = "100";

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot create a Kafka producer: {0}; check [kafka] and [kafka.producer]")]
    Client(String),
    #[error("event {event_id} for {employee_number} is not JSON: {detail}")]
    Encode {
        event_id: String,
        employee_number: String,
        detail: String,
    },
}

/// What publishing did: events the broker took, and those it did not, with why.
#[derive(Debug, Default)]
pub struct Published {
    pub delivered: usize,
    pub failed: Vec<(String, String)>,
}

/// Publishes `events` keyed by employee number; waits until the broker has taken or
/// refused each. At most `window` events are in flight at once.
pub async fn publish(
    config: &KafkaConfig,
    events: &[HrEvent],
    window: usize,
) -> Result<Published, PublishError> {
    let producer: FutureProducer = config
        .producer_config()
        .create()
        .map_err(|e| PublishError::Client(e.to_string()))?;
    let mut out = Published::default();
    let mut pending: VecDeque<(String, DeliveryFuture)> = VecDeque::new();
    for event in events {
        let payload = serde_json::to_vec(event).map_err(|e| PublishError::Encode {
            event_id: event.event_id.as_str().into(),
            employee_number: event.person.employee_number.as_str().into(),
            detail: e.to_string(),
        })?;
        let key = event.person.employee_number.as_str();
        let mut record = FutureRecord::to(&config.topic).key(key).payload(&payload);
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push_back((event.event_id.as_str().to_string(), delivery));
                    break;
                }
                Err((e, back)) => {
                    record = back;
                    // The local queue is full: wait for the oldest delivery, then retry.
                    match pending.pop_front() {
                        Some(p) => settle(p, &mut out).await,
                        None => {
                            out.failed
                                .push((event.event_id.as_str().to_string(), e.to_string()));
                            break;
                        }
                    }
                }
            }
        }
        while pending.len() >= window.max(1) {
            if let Some(p) = pending.pop_front() {
                settle(p, &mut out).await;
            }
        }
    }
    while let Some(p) = pending.pop_front() {
        settle(p, &mut out).await;
    }
    Ok(out)
}

async fn settle((event_id, delivery): (String, DeliveryFuture), out: &mut Published) {
    match delivery.await {
        Ok(Ok(_)) => out.delivered += 1,
        Ok(Err((e, _))) => out.failed.push((event_id, e.to_string())),
        Err(_) => out
            .failed
            .push((event_id, "the producer was closed before delivery".into())),
    }
}

/// Headers on a dead letter, beside the original key and payload.
pub mod dead_letter {
    /// Why the event was refused, in words an operator can act on.
    pub const REASON: &str = "turnstile.reason";
    /// `empty`, `shape`, `rules` or `key`.
    pub const KIND: &str = "turnstile.kind";
    pub const TOPIC: &str = "turnstile.source.topic";
    pub const PARTITION: &str = "turnstile.source.partition";
    pub const OFFSET: &str = "turnstile.source.offset";
    /// When it was dead-lettered (RFC 3339).
    pub const AT: &str = "turnstile.dead_lettered_at";
}

/// Where a consumed record came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// The headers of a dead letter: the original headers first, then Turnstile's.
pub fn dead_letter_headers(
    original: &[(String, Vec<u8>)],
    origin: &Origin,
    kind: &str,
    reason: &str,
    at: jiff::Timestamp,
) -> OwnedHeaders {
    let mut h = OwnedHeaders::new_with_capacity(original.len() + 6);
    for (k, v) in original {
        h = h.insert(Header {
            key: k,
            value: Some(v.as_slice()),
        });
    }
    let partition = origin.partition.to_string();
    let offset = origin.offset.to_string();
    let at = at.to_string();
    let ours = [
        (dead_letter::REASON, reason),
        (dead_letter::KIND, kind),
        (dead_letter::TOPIC, origin.topic.as_str()),
        (dead_letter::PARTITION, partition.as_str()),
        (dead_letter::OFFSET, offset.as_str()),
        (dead_letter::AT, at.as_str()),
    ];
    for (k, v) in ours {
        h = h.insert(Header {
            key: k,
            value: Some(v),
        });
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_sound_and_mistakes_are_named() {
        let c = KafkaConfig::default();
        assert!(c.check().is_empty(), "{:?}", c.check());
        assert_eq!(c.dead_letter_topic(), "hr-events.dlq");
        let cc = c.consumer_config();
        assert_eq!(cc.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(cc.get("enable.auto.commit"), Some("true"));
        assert_eq!(cc.get("fetch.wait.max.ms"), Some("100"));
        assert_eq!(c.producer_config().get("acks"), Some("all"));
        let mut tuned = KafkaConfig::default();
        tuned.consumer.insert("fetch.wait.max.ms", "20");
        assert_eq!(
            tuned.consumer_config().get("fetch.wait.max.ms"),
            Some("20"),
            "[kafka.consumer] has the last word"
        );

        let mut bad = KafkaConfig {
            security_protocol: SecurityProtocol::SaslSsl,
            dead_letter_topic: Some("hr-events".into()),
            ..KafkaConfig::default()
        };
        bad.consumer.insert("enable.auto.offset.store", "true");
        bad.consumer.insert("security.protocol", "plaintext");
        bad.producer.insert("acks", "1");
        bad.producer
            .insert("enable.ssl.certificate.verification", "false");
        bad.producer.insert("sasl.password", "hunter2");
        let debug = format!("{bad:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("sasl.password"), "{debug}");
        let text: Vec<String> = bad.check().iter().map(|e| e.to_string()).collect();
        assert_eq!(text.len(), 8, "{text:?}");
        assert!(
            text[0].starts_with("[kafka] dead_letter_topic:"),
            "{text:?}"
        );
        assert!(text[1].starts_with("[kafka] sasl_mechanism: required"));
        assert!(text[2].starts_with("[kafka] sasl_username: required"));
        assert!(text[3].contains("enable.auto.offset.store"));
        assert!(text[4].contains("consumer.\"security.protocol\": cannot be set"));
        assert!(text[5].contains("producer.\"acks\": cannot be set"));
        assert!(text[6].contains("producer.\"enable.ssl.certificate.verification\""));
        assert!(text[7].contains("producer.\"sasl.password\""));
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let c = KafkaConfig {
            sasl_password: Secret::new("hunter2"),
            ..KafkaConfig::default()
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(c.producer_config().get("sasl.password"), Some("hunter2"));
    }

    #[test]
    fn dead_letters_keep_the_original_headers_and_say_why() {
        use rdkafka::message::Headers;
        let h = dead_letter_headers(
            &[("trace".into(), b"abc".to_vec())],
            &Origin {
                topic: "hr".into(),
                partition: 2,
                offset: 41,
            },
            "rules",
            "end before start",
            jiff::Timestamp::UNIX_EPOCH,
        );
        let pairs: Vec<(String, String)> = h
            .iter()
            .map(|x| {
                (
                    x.key.to_string(),
                    String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned(),
                )
            })
            .collect();
        assert_eq!(pairs[0], ("trace".into(), "abc".into()));
        assert!(pairs.contains(&(dead_letter::REASON.into(), "end before start".into())));
        assert!(pairs.contains(&(dead_letter::OFFSET.into(), "41".into())));
        assert!(pairs.contains(&(dead_letter::PARTITION.into(), "2".into())));
    }
}
