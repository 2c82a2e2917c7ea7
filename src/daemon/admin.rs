//! The admin endpoint's health checks, `/healthz` and `/readyz`, and the daemon's metrics
//! (served as `/metrics` by `api`).
//!
//! Both health checks answer 503 while a partition is stalled or the broker cannot be
//! reached (a stuck consumer must not look healthy), and `/readyz` also while the applier
//! cannot run. They are open, so they name the parts only; the reasons, and what needs a
//! person (held plans, quarantined targets, overdue work items), are at `/api/v1/status`
//! for token holders, redacted of URLs' secrets.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
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
pub struct SystemLabel {
    pub system: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SystemOutcomeLabel {
    pub system: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SystemStatusLabel {
    pub system: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    pub topic: String,
    pub partition: String,
}

/// Every metric the daemon keeps.
pub struct Metrics {
    registry: Registry,
    /// Each family's exposed name (`turnstile_…`), as registered.
    names: Vec<String>,
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
    /// Changes the daemon made on the targets, by system and outcome (applied, work_item,
    /// failed, skipped).
    pub changes: Family<SystemOutcomeLabel, Counter>,
    /// People with work waiting, by state: due, retrying, held, scheduled.
    pub pending: Family<StateLabel, Gauge>,
    /// Age of the oldest work that is due and not yet done.
    pub pending_oldest_seconds: Gauge,
    /// From the moment work fell due (an HR record arrived, a checkpoint day began) to its
    /// changes applied.
    pub effective_to_applied_seconds: Histogram,
    /// Plans held by the mass-change guard, waiting for a person.
    pub held_plans: Gauge,
    /// 1 while a target is quarantined.
    pub quarantined: Family<SystemLabel, Gauge>,
    /// 1 while a target takes changes (neither quarantined nor unreachable).
    pub target_up: Family<SystemLabel, Gauge>,
    /// Work items waiting for an administrator, by system and status (open, reopened,
    /// overdue).
    pub work_items: Family<SystemStatusLabel, Gauge>,
    /// Work items sent, by channel (webhook, email, escalation).
    pub work_items_sent: Family<KindLabel, Counter>,
    /// Open matches (proposed or disputed) waiting for a person, by system and situation
    /// (`strong`, `disputed`): people for whom nothing is created until someone decides.
    pub account_matches: Family<SystemStatusLabel, Gauge>,
    /// The newest audit entry this process wrote (read from the store as it encodes).
    pub audit_head_seq: Gauge,
}

/// Registers `metric` as `turnstile_<name>` and notes the name.
fn register(
    registry: &mut Registry,
    names: &mut Vec<String>,
    name: &str,
    help: &str,
    metric: impl prometheus_client::registry::Metric,
) {
    names.push(format!("turnstile_{name}"));
    registry.register(name, help, metric);
}

impl Metrics {
    /// Every metric family's name, as Prometheus sees it (before `_total`, `_bucket`…),
    /// whether or not it holds a series yet: what alert rules and dashboards may query.
    pub fn families(&self) -> &[String] {
        &self.names
    }

    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("turnstile");
        let mut names = Vec::new();
        let m = Metrics {
            events: Family::default(),
            dead_letters: Family::default(),
            event_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            event_age_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 20)),
            retries: Family::default(),
            lag: Family::default(),
            stalled: Family::default(),
            broker_up: Gauge::default(),
            changes: Family::default(),
            pending: Family::default(),
            pending_oldest_seconds: Gauge::default(),
            effective_to_applied_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 24)),
            held_plans: Gauge::default(),
            quarantined: Family::default(),
            target_up: Family::default(),
            work_items: Family::default(),
            work_items_sent: Family::default(),
            account_matches: Family::default(),
            audit_head_seq: Gauge::default(),
            registry: Registry::default(),
            names: Vec::new(),
        };
        register(
            &mut registry,
            &mut names,
            "events",
            "HR events consumed, by outcome",
            m.events.clone(),
        );
        register(
            &mut registry,
            &mut names,
            "dead_letters",
            "HR events sent to the dead-letter topic, by kind of fault",
            m.dead_letters.clone(),
        );
        register(
            &mut registry,
            &mut names,
            "event_seconds",
            "Time to record an HR event and its planned changes (a batch's time shared among its events)",
            m.event_seconds.clone(),
        );
        register(
            &mut registry,
            &mut names,
            "event_age_seconds",
            "From an event's Kafka timestamp to its effect being durable",
            m.event_age_seconds.clone(),
        );
        register(
            &mut registry,
            &mut names,
            "retries",
            "Failed attempts that were retried, by what failed",
            m.retries.clone(),
        );
        register(
            &mut registry,
            &mut names,
            "partition_lag",
            "Events waiting per assigned partition",
            m.lag.clone(),
        );
        register(
            &mut registry,
            &mut names,
            "partition_stalled",
            "1 when a partition has events waiting but the consumer is not moving",
            m.stalled.clone(),
        );
        register(
            &mut registry,
            &mut names,
            "broker_up",
            "1 when the last check reached the Kafka broker",
            m.broker_up.clone(),
        );
        register(
            &mut registry,
            &mut names,
            "changes",
            "Changes the daemon made on the targets, by system and outcome",
            m.changes.clone(),
        );
        register(
            &mut registry,
            &mut names,
            "pending",
            "People with work waiting, by state (due, retrying, held, scheduled)",
            m.pending.clone(),
        );
        register(
            &mut registry,
            &mut names,
            "pending_oldest_seconds",
            "Age of the oldest work that is due and not yet done",
            m.pending_oldest_seconds.clone(),
        );
        register(
            &mut registry,
            &mut names,
            "effective_to_applied_seconds",
            "From the moment work fell due (HR record arrived, checkpoint day began) to its changes applied",
            m.effective_to_applied_seconds.clone(),
        );
        register(
            &mut registry,
            &mut names,
            "held_plans",
            "Plans held by the mass-change guard, waiting for a person's decision",
            m.held_plans.clone(),
        );
        register(
            &mut registry,
            &mut names,
            "target_quarantined",
            "1 while a target is quarantined",
            m.quarantined.clone(),
        );
        register(
            &mut registry,
            &mut names,
            "target_up",
            "1 while a target takes changes (neither quarantined nor unreachable)",
            m.target_up.clone(),
        );
        register(
            &mut registry,
            &mut names,
            "work_items",
            "Work items waiting for an administrator, by system and status (open, reopened, overdue)",
            m.work_items.clone(),
        );
        register(
            &mut registry,
            &mut names,
            "work_items_sent",
            "Work items sent, by kind (webhook, email, escalation)",
            m.work_items_sent.clone(),
        );
        register(
            &mut registry,
            &mut names,
            "account_matches",
            "Open matches waiting for a person's decision (nothing is created for them meanwhile), by system and situation (strong, disputed)",
            m.account_matches.clone(),
        );
        register(
            &mut registry,
            &mut names,
            "audit_head_seq",
            "The newest audit trail entry this process wrote: it moves with every recorded change",
            m.audit_head_seq.clone(),
        );
        Metrics {
            registry,
            names,
            ..m
        }
    }

    /// Counts what one delivery run sent.
    pub fn count_sent(&self, sent: &crate::engine::work::Delivered) {
        for (kind, n) in [
            ("webhook", sent.posted),
            ("email", sent.emailed),
            ("escalation", sent.escalated),
        ] {
            if n > 0 {
                self.work_items_sent
                    .get_or_create(&KindLabel { kind: kind.into() })
                    .inc_by(n as u64);
            }
        }
    }

    /// The open matches as the store counts them now: (system, situation, count).
    pub fn set_account_matches(&self, open: &[(String, String, usize)]) {
        let mut counts: std::collections::BTreeMap<(String, String), i64> = Default::default();
        for (system, situation, n) in open {
            // Every system with any keeps a zero for the other situation, so a cleared
            // count shows.
            for s in ["strong", "disputed"] {
                counts.entry((system.clone(), s.into())).or_default();
            }
            *counts
                .entry((system.clone(), situation.clone()))
                .or_default() += *n as i64;
        }
        self.account_matches.clear();
        for ((system, status), n) in counts {
            self.account_matches
                .get_or_create(&SystemStatusLabel { system, status })
                .set(n);
        }
    }

    /// The active work items as the store holds them now.
    pub fn set_work_items(&self, active: &[crate::store::WorkItem]) {
        let mut counts: std::collections::BTreeMap<(String, &str), i64> = Default::default();
        for i in active {
            *counts
                .entry((i.system.clone(), i.status.as_str()))
                .or_default() += 1;
        }
        // Every system seen keeps a zero for each active status, so a cleared count shows.
        let systems: std::collections::BTreeSet<String> =
            active.iter().map(|i| i.system.clone()).collect();
        for system in systems {
            for status in ["open", "reopened", "overdue"] {
                counts.entry((system.clone(), status)).or_default();
            }
        }
        self.work_items.clear();
        for ((system, status), n) in counts {
            self.work_items
                .get_or_create(&SystemStatusLabel {
                    system,
                    status: status.into(),
                })
                .set(n);
        }
    }

    /// Counts what one pass of the applier did.
    pub fn count_pass(&self, r: &crate::engine::due::DueReport) {
        for (system, t) in &r.per_system {
            for (outcome, n) in [
                ("applied", t.applied),
                ("work_item", t.work_items),
                ("failed", t.failed),
                ("skipped", t.skipped),
            ] {
                if n > 0 {
                    self.changes
                        .get_or_create(&SystemOutcomeLabel {
                            system: system.clone(),
                            outcome: outcome.into(),
                        })
                        .inc_by(n as u64);
                }
            }
        }
        for seconds in &r.latencies {
            self.effective_to_applied_seconds.observe(*seconds);
        }
    }

    pub fn set_target_state(&self, system: &str, state: &crate::engine::targets::TargetState) {
        use crate::engine::targets::TargetState;
        let label = SystemLabel {
            system: system.into(),
        };
        self.quarantined
            .get_or_create(&label)
            .set(i64::from(matches!(state, TargetState::Quarantined { .. })));
        self.target_up
            .get_or_create(&label)
            .set(i64::from(matches!(state, TargetState::Online)));
    }

    /// The pending work as the store holds it now.
    pub fn set_pending(&self, pending: &[crate::store::Pending], now: jiff::Timestamp) {
        let mut counts = [
            ("due", 0i64),
            ("retrying", 0),
            ("held", 0),
            ("scheduled", 0),
        ];
        let mut oldest = 0i64;
        for p in pending {
            let state = if p.held_by.is_some() {
                2
            } else if p.due > now {
                3
            } else if p.attempts > 0 {
                1
            } else {
                0
            };
            counts[state].1 += 1;
            if state < 2 {
                let from = if p.due > jiff::Timestamp::UNIX_EPOCH {
                    p.due
                } else {
                    p.since.unwrap_or(now)
                };
                oldest = oldest.max(now.duration_since(from).as_secs());
            }
        }
        for (state, n) in counts {
            self.pending
                .get_or_create(&StateLabel {
                    state: state.into(),
                })
                .set(n);
        }
        self.pending_oldest_seconds.set(oldest);
    }

    pub fn encode(&self) -> String {
        let head = crate::store::sql::AUDIT_HEAD_SEQ.load(std::sync::atomic::Ordering::Relaxed);
        self.audit_head_seq
            .set(i64::try_from(head).unwrap_or(i64::MAX));
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
    /// The batch being recorded, and since when.
    pub in_hand: Option<(String, std::time::Instant)>,
    /// The batch being planned (read beside the one recorded), and since when.
    pub in_plan: Option<(String, std::time::Instant)>,
    /// How long work in hand may take before it counts as stuck.
    pub stall_after: std::time::Duration,
    /// Targets in quarantine, with why: changes for them wait as pending.
    pub quarantined: Vec<(String, String)>,
    /// Targets that do not answer (transient errors), with why and since when.
    pub unreachable: Vec<(String, String)>,
    /// The applier could not start or keeps failing (its store, its targets' config).
    pub applier_error: Option<String>,
    /// Plans held by the mass-change guard: (reference, system, reason).
    pub held: Vec<(String, String, String)>,
    /// Overdue work items per system: (system, how many, the oldest's reference).
    pub overdue: Vec<(String, usize, String)>,
    /// Why the last work-item delivery failed, if it did.
    pub work_item_errors: Vec<String>,
}

impl HealthState {
    /// What needs a person's attention without making the daemon unready: quarantined or
    /// unreachable targets, held plans, an applier that cannot run, overdue work items and
    /// failed deliveries, with the reasons. Served to token holders only
    /// (`/api/v1/status`), since reasons can carry URLs and a service's error text.
    pub fn attention(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (system, reason) in &self.quarantined {
            out.push(format!(
                "target {system} is quarantined: {reason}; its changes wait as pending and are applied once it answers"
            ));
        }
        for (system, reason) in &self.unreachable {
            out.push(format!(
                "target {system} cannot be reached: {reason}; its changes wait as pending and flow once it answers"
            ));
        }
        for (reference, system, reason) in &self.held {
            out.push(format!(
                "plan {reference} for {system} is held: {reason}; `turnstile held {reference}`, then `turnstile approve` or `turnstile reject` it"
            ));
        }
        if let Some(e) = &self.applier_error {
            out.push(format!("changes are not being applied: {e}"));
        }
        for (system, n, oldest) in &self.overdue {
            out.push(format!(
                "{n} work item(s) on {system} overdue (oldest {oldest}): escalated; `turnstile work-items --system {system} --status overdue`"
            ));
        }
        for e in &self.work_item_errors {
            out.push(format!("a work item could not be sent (tried again): {e}"));
        }
        out
    }

    /// The parts that keep this replica from doing its job (`/readyz`): those of
    /// [`HealthState::not_live`] and an applier that cannot run. Names only, no reasons:
    /// the route is open. A held plan, a quarantined target or an overdue work item is an
    /// alert (metrics, `/api/v1/status`), not unreadiness: taking the pod out of its
    /// Service would only hide the admin API from the people who must act.
    pub fn not_ready(&self) -> Vec<String> {
        let mut out = self.not_live();
        if self.applier_error.is_some() {
            out.push("applier".into());
        }
        out
    }

    /// The parts of the process that are unwell (`/healthz`), by name, each once.
    pub fn not_live(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (part, _) in self.liveness() {
            if !out.contains(&part) {
                out.push(part);
            }
        }
        out
    }

    /// Why the process is unwell, in full (`/api/v1/status`): a stuck consumer or store.
    /// A target that is down or a plan that waits for a person is not cured by a restart,
    /// so those are in [`HealthState::attention`].
    pub fn liveness_problems(&self) -> Vec<String> {
        self.liveness().into_iter().map(|(_, why)| why).collect()
    }

    /// Each thing that makes the process unwell: the part it is in, and why. The open
    /// health checks show the parts; `/api/v1/status` the reasons.
    fn liveness(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !self.consuming {
            out.push((
                "consumer".to_string(),
                "not consuming yet: waiting for the broker".to_string(),
            ));
        }
        if let Some(e) = &self.broker_error {
            out.push((
                "broker".to_string(),
                format!("Kafka broker unreachable: {e}"),
            ));
        }
        for p in &self.stalled {
            out.push((
                format!("partition {p}"),
                format!(
                    "partition {p} is stalled: the consumer is not moving and does not stand at the end of the partition"
                ),
            ));
        }
        for (what, since) in [&self.in_hand, &self.in_plan].into_iter().flatten() {
            if since.elapsed() >= self.stall_after {
                out.push((
                    "recorder".to_string(),
                    format!(
                        "stuck for {}s on {what}: the state store or the dead-letter topic is failing (see the log); it is retried, nothing is skipped",
                        since.elapsed().as_secs()
                    ),
                ));
            }
        }
        if self.shutting_down {
            out.push(("shutting down".to_string(), "shutting down".to_string()));
        }
        out
    }
}

#[derive(Clone)]
pub struct Shared {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Mutex<HealthState>>,
    /// Rung when an HR record that changes someone is durable, so the applier starts at
    /// once instead of at its next look.
    pub wake: Arc<tokio::sync::Notify>,
    /// Targets an operator asked to probe now (`POST /api/v1/targets/{system}/probe`):
    /// the applier probes each on its next turn and takes it off the list.
    pub probe: Arc<Mutex<std::collections::BTreeSet<String>>>,
}

impl Shared {
    pub fn new() -> Shared {
        Shared {
            metrics: Arc::new(Metrics::new()),
            health: Arc::new(Mutex::new(HealthState::default())),
            wake: Arc::new(tokio::sync::Notify::new()),
            probe: Arc::new(Mutex::new(std::collections::BTreeSet::new())),
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
        .route("/healthz", get(live))
        .route("/readyz", get(ready))
        .with_state(shared)
}

async fn live(State(s): State<Shared>) -> impl IntoResponse {
    answer(s.with_health(|h| h.not_live()))
}

async fn ready(State(s): State<Shared>) -> impl IntoResponse {
    answer(s.with_health(|h| h.not_ready()))
}

/// `ok`, or 503 naming the parts that are not, one per line, and where the reasons are.
fn answer(parts: Vec<String>) -> impl IntoResponse {
    if parts.is_empty() {
        (StatusCode::OK, "ok\n".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ok: {}\nreasons: GET /api/v1/status with a token, or the log\n",
                parts.join(", ")
            ),
        )
    }
}
