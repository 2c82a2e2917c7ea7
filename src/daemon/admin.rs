//! The admin endpoint: `/metrics` (Prometheus text), `/healthz` and `/readyz`.
//!
//! Both health checks answer 503 while a partition is stalled or the broker cannot be
//! reached, with the reasons in the body: a stuck consumer must not look healthy.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    pub topic: String,
    pub partition: String,
}

/// Every metric the daemon keeps.
pub struct Metrics {
    registry: Registry,
    /// Events by outcome: recorded, unchanged, duplicate, stale, dead_lettered.
    pub events: Family<OutcomeLabel, Counter>,
    /// Dead letters by kind: empty, shape, rules, key.
    pub dead_letters: Family<KindLabel, Counter>,
    /// Time to record one event (or dead-letter it).
    pub event_seconds: Histogram,
    /// From the record's Kafka timestamp to its effect being durable.
    pub event_age_seconds: Histogram,
    /// Attempts that failed and were retried, by what: store, dead_letter, commit.
    pub retries: Family<KindLabel, Counter>,
    pub lag: Family<PartitionLabel, Gauge>,
    pub stalled: Family<PartitionLabel, Gauge>,
    pub broker_up: Gauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("turnstile");
        let m = Metrics {
            events: Family::default(),
            dead_letters: Family::default(),
            event_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            event_age_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 20)),
            retries: Family::default(),
            lag: Family::default(),
            stalled: Family::default(),
            broker_up: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("events", "HR events consumed, by outcome", m.events.clone());
        registry.register(
            "dead_letters",
            "HR events sent to the dead-letter topic, by kind of fault",
            m.dead_letters.clone(),
        );
        registry.register(
            "event_seconds",
            "Time to record an HR event and its planned changes (a batch's time shared among its events)",
            m.event_seconds.clone(),
        );
        registry.register(
            "event_age_seconds",
            "From an event's Kafka timestamp to its effect being durable",
            m.event_age_seconds.clone(),
        );
        registry.register(
            "retries",
            "Failed attempts that were retried, by what failed",
            m.retries.clone(),
        );
        registry.register(
            "partition_lag",
            "Events waiting per assigned partition",
            m.lag.clone(),
        );
        registry.register(
            "partition_stalled",
            "1 when a partition has events waiting but the consumer is not moving",
            m.stalled.clone(),
        );
        registry.register(
            "broker_up",
            "1 when the last check reached the Kafka broker",
            m.broker_up.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    pub fn count_event(&self, outcome: &str) {
        self.events
            .get_or_create(&OutcomeLabel {
                outcome: outcome.into(),
            })
            .inc();
    }

    pub fn count(&self, family: &Family<KindLabel, Counter>, kind: &str) {
        family.get_or_create(&KindLabel { kind: kind.into() }).inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// What the health checks report.
#[derive(Debug, Default)]
pub struct HealthState {
    /// The last broker check's failure, if it failed.
    pub broker_error: Option<String>,
    /// Stalled partitions, `topic[partition]`.
    pub stalled: Vec<String>,
    /// Set once the consumer has subscribed.
    pub consuming: bool,
    pub shutting_down: bool,
    /// The batch being worked on, and since when.
    pub in_hand: Option<(String, std::time::Instant)>,
    /// How long work in hand may take before it counts as stuck.
    pub stall_after: std::time::Duration,
    /// Targets in quarantine, with why: changes for them wait as pending.
    pub quarantined: Vec<(String, String)>,
    /// The applier could not start or keeps failing (its store, its targets' config).
    pub applier_error: Option<String>,
}

impl HealthState {
    /// Reasons the daemon is not healthy; empty when it is.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.consuming {
            out.push("not consuming yet: waiting for the broker".to_string());
        }
        if let Some(e) = &self.broker_error {
            out.push(format!("Kafka broker unreachable: {e}"));
        }
        for p in &self.stalled {
            out.push(format!(
                "partition {p} is stalled: the consumer is not moving and does not stand at the end of the partition"
            ));
        }
        if let Some((what, since)) = &self.in_hand
            && since.elapsed() >= self.stall_after
        {
            out.push(format!(
                "stuck for {}s on {what}: the state store or the dead-letter topic is failing (see the log); it is retried, nothing is skipped",
                since.elapsed().as_secs()
            ));
        }
        for (system, reason) in &self.quarantined {
            out.push(format!(
                "target {system} is quarantined: {reason}; its changes wait as pending and are applied once it answers"
            ));
        }
        if let Some(e) = &self.applier_error {
            out.push(format!("changes are not being applied: {e}"));
        }
        if self.shutting_down {
            out.push("shutting down".to_string());
        }
        out
    }
}

#[derive(Clone)]
pub struct Shared {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Mutex<HealthState>>,
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            metrics: Arc::new(Metrics::new()),
            health: Arc::new(Mutex::new(HealthState::default())),
        }
    }

    pub fn with_health<T>(&self, f: impl FnOnce(&mut HealthState) -> T) -> T {
        f(&mut super::lock(&self.health))
    }
}

impl Default for Shared {
    fn default() -> Self {
        Shared::new()
    }
}

pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(health))
        .route("/readyz", get(health))
        .with_state(shared)
}

async fn metrics(State(s): State<Shared>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

async fn health(State(s): State<Shared>) -> impl IntoResponse {
    let problems = s.with_health(|h| h.problems());
    if problems.is_empty() {
        (StatusCode::OK, "ok\n".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{}\n", problems.join("\n")),
        )
    }
}
