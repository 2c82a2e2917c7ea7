//! `turnstile run`: the daemon. It consumes HR events from Kafka, records each in the state
//! store with the changes it plans, and only then stores the event's offset.
//!
//! At-least-once delivery with an exactly-once effect: a crash at any point loses nothing
//! (the offset is stored only after the store's transaction commits) and applies nothing
//! twice (an event the store already holds is a `Duplicate`, and an older one is `Stale`;
//! see [`crate::store::judge`]). Events that cannot be used go to the dead-letter topic
//! with the reason in headers before their offset is stored, so none is dropped silently.

pub mod admin;
pub mod api;
pub mod applier;
pub mod progress;
pub mod serve;

use crate::audit::Draft;
use crate::config::Config;
use crate::engine::ingest;
use crate::hr::HrEvent;
use crate::kafka::{self, Origin};
use crate::policy::RoleModel;
use crate::retry::Retry;
use crate::store::{DeadLettered, Store, StoreError};
use admin::{PartitionLabel, Shared};
use progress::{Change, Observation, Progress};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::util::Timeout;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::Instrument;

/// The most records taken into one batch (one durable commit).
pub const MAX_BATCH: usize = 500;

/// Who the audit trail says recorded an event.
pub const ACTOR: &str = "turnstile run";

/// The state store, shared with blocking tasks.
pub type SharedStore = Arc<Mutex<Box<dyn Store + Send>>>;

/// Why an event cannot be used: it goes to the dead-letter topic with these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// `empty`, `shape`, `rules` or `key`.
    pub kind: &'static str,
    pub reason: String,
}

/// Turns a record into an HR event, or says why it cannot be one. Pure.
///
/// The key must be the person's employee number (CONTRACT §1): a record keyed otherwise
/// may sit in another partition than the person's other events and overtake them.
pub fn accept(key: Option<&[u8]>, payload: Option<&[u8]>) -> Result<HrEvent, DeadLetter> {
    let payload = match payload {
        Some(p) if !p.is_empty() => p,
        _ => {
            return Err(DeadLetter {
                kind: "empty",
                reason: "the record has no value: an HR event is a JSON object (a tombstone is not an HR event)".into(),
            });
        }
    };
    let event = HrEvent::from_json(payload).map_err(|e| DeadLetter {
        kind: match e {
            crate::hr::PayloadError::Shape(_) => "shape",
            crate::hr::PayloadError::Rules(_) => "rules",
        },
        reason: e.to_string(),
    })?;
    let number = event.person.employee_number.as_str();
    match key {
        Some(k) if k == number.as_bytes() => Ok(event),
        Some(k) => Err(DeadLetter {
            kind: "key",
            reason: format!(
                "the record's key \"{}\" is not the person's employee number \"{number}\": producers must key HR events by person.employee_number so one person's events stay in order",
                String::from_utf8_lossy(k)
            ),
        }),
        None => Err(DeadLetter {
            kind: "key",
            reason: format!(
                "the record has no key: producers must key HR events by person.employee_number (\"{number}\") so one person's events stay in order"
            ),
        }),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{}", .0.join("\n"))]
    Config(Vec<String>),
    #[error("cannot create the Kafka {what}: {detail}; check [kafka] in the config")]
    Client { what: &'static str, detail: String },
    #[error(
        "[daemon] listen = \"{addr}\": cannot listen there: {detail}; choose a free address, or listen = \"\" to run without the admin endpoint"
    )]
    Listen { addr: String, detail: String },
    #[error("cannot subscribe to topic {topic}: {detail}")]
    Subscribe { topic: String, detail: String },
}

/// What a run did, for the last log line.
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    pub events: u64,
    pub dead_lettered: u64,
}

/// Logs librdkafka's errors and rebalances through `tracing`: an outage is said once
/// when it starts (and once a minute while the same words repeat), not on every retry.
struct Context {
    shared: Shared,
    said: Mutex<std::collections::BTreeMap<String, Instant>>,
}

impl Context {
    fn new(shared: Shared) -> Context {
        Context {
            shared,
            said: Mutex::new(Default::default()),
        }
    }

    /// True the first time `text` comes up, and again a minute after it was last said.
    fn first_time(&self, text: &str) -> bool {
        let mut said = lock(&self.said);
        let now = Instant::now();
        said.retain(|_, at| now.duration_since(*at) < Duration::from_secs(60));
        if said.contains_key(text) {
            return false;
        }
        said.insert(text.to_string(), now);
        true
    }
}

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let loud = matches!(
            level,
            RDKafkaLogLevel::Emerg
                | RDKafkaLogLevel::Alert
                | RDKafkaLogLevel::Critical
                | RDKafkaLogLevel::Error
                | RDKafkaLogLevel::Warning
        );
        if !loud || !self.first_time(message) {
            tracing::debug!(facility = fac, "librdkafka: {message}");
        } else if matches!(level, RDKafkaLogLevel::Warning) {
            tracing::warn!(facility = fac, "librdkafka: {message}");
        } else {
            tracing::error!(facility = fac, "librdkafka: {message}");
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.shared.metrics.broker_up.set(0);
            if self.first_time("all brokers down") {
                tracing::warn!(
                    "no Kafka broker can be reached ({reason}); waiting and retrying: events wait on the broker, nothing is lost"
                );
            } else {
                tracing::debug!("still no Kafka broker: {reason}");
            }
        } else {
            let text = format!("Kafka: {error}: {reason}");
            if self.first_time(&text) {
                tracing::warn!("{text} (the client retries by itself)");
            } else {
                tracing::debug!("{text}");
            }
        }
    }
}

impl ConsumerContext for Context {
    fn post_rebalance(
        &self,
        _consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &Rebalance<'_>,
    ) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!(partitions = %describe(tpl), "partitions assigned")
            }
            Rebalance::Revoke(tpl) => {
                tracing::info!(partitions = %describe(tpl), "partitions revoked")
            }
            Rebalance::Error(e) => tracing::warn!("consumer group rebalance failed: {e}"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result
            && e.rdkafka_error_code() != Some(RDKafkaErrorCode::NoOffset)
        {
            self.shared
                .metrics
                .count(&self.shared.metrics.retries, "commit");
            if self.first_time(&format!("commit {e}")) {
                tracing::warn!(
                    "committing offsets failed: {e}; they are committed again at the next interval (after a crash the uncommitted events are read again and change nothing)"
                );
            } else {
                tracing::debug!("committing offsets failed again: {e}");
            }
        }
    }
}

fn describe(tpl: &TopicPartitionList) -> String {
    tpl.elements()
        .iter()
        .map(|e| format!("{}[{}]", e.topic(), e.partition()))
        .collect::<Vec<_>>()
        .join(" ")
}

type Kafka = StreamConsumer<Context>;

/// How often the checkpoint thread copies SQLite's write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Copies the SQLite store's write-ahead log into the database on a thread of its own
/// (its own connection), so the recorder's commits never stop to do it: on a backlog that
/// was nearly half of a commit's time. Without the thread, the recorder does it itself.
fn spawn_checkpointer(config: &Config, store: &SharedStore, shutdown: watch::Receiver<bool>) {
    if config.store.kind != crate::config::StoreKind::Sqlite {
        return;
    }
    let mut own = match crate::store::open(&config.store, None, false) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("no checkpoint thread ({e}): the recorder copies the log itself");
            return;
        }
    };
    let started = std::thread::Builder::new()
        .name("checkpoint".into())
        .spawn(move || {
            let mut failing = false;
            while !*shutdown.borrow() {
                match own.checkpoint() {
                    Ok(_) => failing = false,
                    Err(e) if !failing => {
                        tracing::warn!(
                            "copying the state store's log into it: {e}; tried again shortly"
                        );
                        failing = true;
                    }
                    Err(_) => {}
                }
                std::thread::sleep(CHECKPOINT_EVERY);
            }
        });
    match started {
        Ok(_) => {
            if let Err(e) = lock(store).leave_checkpoints() {
                tracing::warn!("the recorder goes on copying the log itself: {e}");
            }
        }
        Err(e) => tracing::warn!("no checkpoint thread ({e}): the recorder copies the log itself"),
    }
}

/// Runs until `shutdown` turns true, then finishes the event in hand, commits and returns.
pub async fn run(
    config: &Config,
    model: Arc<RoleModel>,
    store: SharedStore,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Summary, DaemonError> {
    let kc = &config.kafka;
    let problems: Vec<String> = kc.check().iter().map(|e| e.to_string()).collect();
    if !problems.is_empty() {
        return Err(DaemonError::Config(problems));
    }
    let shared = Shared::new();
    shared.with_health(|h| {
        h.stall_after = Duration::from_secs(config.daemon.stall_after_secs.max(1))
    });
    let consumer: Arc<Kafka> = Arc::new(
        kc.consumer_config()
            .create_with_context(Context::new(shared.clone()))
            .map_err(|e| DaemonError::Client {
                what: "consumer",
                detail: e.to_string(),
            })?,
    );
    let mut dlq_config = kc.producer_config();
    if !kc.producer.keys().any(|k| k == "message.timeout.ms") {
        // A dead letter that cannot be delivered holds consumption: say so within
        // seconds (then retry), rather than after the minute `feed --publish` allows.
        dlq_config.set("message.timeout.ms", "10000");
    }
    let producer: FutureProducer = dlq_config.create().map_err(|e| DaemonError::Client {
        what: "dead-letter producer",
        detail: e.to_string(),
    })?;

    let admin = if config.daemon.listen.is_empty() {
        None
    } else {
        if config.daemon.plaintext_tokens() && !config.daemon.allow_plaintext_tokens {
            return Err(DaemonError::Config(vec![format!(
                "[daemon] listen = \"{}\": bearer tokens over plain HTTP on a network address are refused; set tls_cert_file and tls_key_file, listen on 127.0.0.1, or set allow_plaintext_tokens = true if TLS ends in front of it on the same host",
                config.daemon.listen
            )]));
        }
        let listener = tokio::net::TcpListener::bind(&config.daemon.listen)
            .await
            .map_err(|e| DaemonError::Listen {
                addr: config.daemon.listen.clone(),
                detail: e.to_string(),
            })?;
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        tracing::info!(%addr, "admin endpoint: /healthz /readyz /metrics /api/v1");
        let api = api::Api::new(Arc::new(config.clone()), model.clone(), shared.clone())
            .map_err(|e| DaemonError::Config(vec![format!("[daemon] tokens_file: {e}")]))?;
        let app = admin::router(shared.clone()).merge(api::router(api));
        let tls = match (&config.daemon.tls_cert_file, &config.daemon.tls_key_file) {
            (Some(cert), Some(key)) => {
                let tls = api::tls_acceptor(cert, key)
                    .map_err(|e| DaemonError::Config(vec![format!("[daemon] TLS: {e}")]))?;
                tracing::info!("admin endpoint: TLS");
                Some(tls)
            }
            _ => {
                if config.daemon.plaintext_tokens() {
                    tracing::warn!(
                        listen = %config.daemon.listen,
                        "admin endpoint: bearer tokens over plain HTTP on a network address (allow_plaintext_tokens = true); anyone on the path can read them"
                    );
                }
                None
            }
        };
        Some(tokio::spawn(serve::serve(
            listener,
            tls,
            app,
            serve::Limits::from_config(&config.daemon),
            shutdown.clone(),
            Duration::from_secs(config.daemon.shutdown_timeout_secs.max(1)),
        )))
    };

    // Applying changes to the targets does not wait for the broker: pending work left by
    // a crash, or due while the daemon was down, is done at once.
    let applier = applier::spawn(config, model.clone(), shutdown.clone(), shared.clone());
    spawn_checkpointer(config, &store, shutdown.clone());

    if !wait_for_broker(&consumer, kc, &shared, &mut shutdown).await {
        stop_applier(applier).await;
        return finish(
            consumer,
            producer,
            shared,
            admin,
            Summary::default(),
            config,
        )
        .await;
    }
    consumer
        .subscribe(&[kc.topic.as_str()])
        .map_err(|e| DaemonError::Subscribe {
            topic: kc.topic.clone(),
            detail: e.to_string(),
        })?;
    shared.with_health(|h| h.consuming = true);
    tracing::info!(
        topic = %kc.topic,
        group = %kc.group_id,
        dead_letters = %kc.dead_letter_topic(),
        "consuming HR events"
    );

    let checker = tokio::spawn(watch_progress(
        consumer.clone(),
        kc.topic.clone(),
        shared.clone(),
        Duration::from_secs(config.daemon.check_every_secs.max(1)),
        Duration::from_secs(config.daemon.stall_after_secs.max(1)),
    ));

    let worker = Worker {
        model,
        planner: planner_store(config, &store),
        store,
        producer: &producer,
        dead_letter_topic: kc.dead_letter_topic(),
        shared: &shared,
    };
    // Two stages, so both cores work on a backlog: this loop reads and plans the next
    // batch while the recorder writes the one before. One batch is recorded at a time,
    // in the order read; a batch's offsets are stored once it is durable.
    let (to_record, mut recording) = tokio::sync::mpsc::channel::<Prepared>(1);
    let (to_settle, mut settled) = tokio::sync::mpsc::unbounded_channel::<Recorded>();
    let (worker, mut stop) = (&worker, shutdown.clone());
    let recorder = async move {
        let mut summary = Summary::default();
        while let Some(prepared) = recording.recv().await {
            if *stop.borrow() {
                break;
            }
            // In hand while it is recorded: the health checks report it if that lasts.
            worker.shared.with_health(|h| {
                h.in_hand = Some((describe_batch(&prepared.batch), Instant::now()))
            });
            let done = worker.record(&prepared, &mut stop, &mut summary).await;
            worker.shared.with_health(|h| h.in_hand = None);
            let Prepared { batch, events, .. } = prepared;
            // Freeing a batch's events took a third of the async thread on a backlog.
            drop_aside(events);
            let _ = to_settle.send(Recorded { batch, done });
            if !done {
                break;
            }
        }
        // Dropping `to_settle` here tells the reader every recorded batch is settled.
        drop(to_settle);
        summary
    };
    let reader = async {
        let mut last_error: Option<(String, Instant)> = None;
        loop {
            let next = tokio::select! {
                biased;
                _ = shutdown.wait_for(|s| *s) => Next::Stop,
                r = settled.recv() => match r {
                    Some(r) => Next::Settle(r),
                    None => Next::Stop,
                },
                m = consumer.recv() => Next::Message(m.map(|m| m.detach())),
            };
            let message = match next {
                Next::Stop => break,
                Next::Settle(r) => {
                    if !settle(&consumer, r) {
                        break;
                    }
                    continue;
                }
                Next::Message(Ok(m)) => {
                    last_error = None;
                    m
                }
                Next::Message(Err(e)) => {
                    // The same error repeats on every poll (a missing topic, say): say it
                    // when it changes, and once a minute while it lasts.
                    let text = e.to_string();
                    if last_error
                        .as_ref()
                        .is_none_or(|(t, at): &(String, Instant)| {
                            *t != text || at.elapsed() > Duration::from_secs(60)
                        })
                    {
                        tracing::warn!("reading from Kafka: {text}; retrying");
                        last_error = Some((text, Instant::now()));
                    }
                    tokio::select! {
                        _ = shutdown.wait_for(|s| *s) => break,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                    }
                }
            };
            // Take whatever else has already arrived, without waiting, so the batch is
            // recorded with one durable commit.
            let mut batch = vec![message];
            while batch.len() < MAX_BATCH {
                tokio::select! {
                    biased;
                    m = consumer.recv() => match m {
                        Ok(m) => batch.push(m.detach()),
                        Err(_) => break,
                    },
                    _ = std::future::ready(()) => break,
                }
            }
            let Some(prepared) = worker.prepare(batch, &mut shutdown.clone()).await else {
                break;
            };
            if to_record.send(prepared).await.is_err() {
                // The recorder stopped (shutdown, or a batch it could not finish).
                break;
            }
        }
        // No more batches: the recorder finishes the one in hand, and the offsets of
        // what it made durable are stored.
        drop(to_record);
        while let Some(r) = settled.recv().await {
            settle(&consumer, r);
        }
    };
    let (summary, ()) = tokio::join!(recorder, reader);
    checker.abort();
    let _ = checker.await;
    stop_applier(applier).await;
    finish(consumer, producer, shared, admin, summary, config).await
}

/// Waits for the applier to finish the change in hand and stop (it watches the same
/// shutdown signal).
async fn stop_applier(applier: Option<std::thread::JoinHandle<()>>) {
    if let Some(handle) = applier {
        let _ = tokio::task::spawn_blocking(move || handle.join()).await;
    }
}

/// Commits what was recorded, leaves the group and stops the admin endpoint.
async fn finish(
    consumer: Arc<Kafka>,
    producer: FutureProducer,
    shared: Shared,
    admin: Option<tokio::task::JoinHandle<()>>,
    summary: Summary,
    config: &Config,
) -> Result<Summary, DaemonError> {
    shared.with_health(|h| h.shutting_down = true);
    let limit = Duration::from_secs(config.daemon.shutdown_timeout_secs.max(1));
    let closing = tokio::task::spawn_blocking(move || {
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => tracing::info!("offsets committed"),
            Err(e) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::NoOffset) => {}
            Err(e) => tracing::warn!(
                "final commit failed: {e}; events since the last commit will be read again after restart and change nothing"
            ),
        }
        let _ = rdkafka::producer::Producer::flush(&producer, Timeout::After(limit / 2));
        // Dropping the consumer here, off the async runtime, closes it and leaves the group.
        drop(consumer);
        drop(producer);
    });
    if tokio::time::timeout(limit, closing).await.is_err() {
        tracing::warn!(
            "closing the Kafka client took over {}s; exiting anyway (anything uncommitted is read again after restart and changes nothing)",
            limit.as_secs()
        );
    }
    if let Some(a) = admin {
        let _ = tokio::time::timeout(Duration::from_secs(2), a).await;
    }
    tracing::info!(
        events = summary.events,
        dead_lettered = summary.dead_lettered,
        "stopped"
    );
    Ok(summary)
}

/// Waits (with backoff) until the broker answers; false if shutdown came first.
async fn wait_for_broker(
    consumer: &Arc<Kafka>,
    kc: &kafka::KafkaConfig,
    shared: &Shared,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let mut retry = Retry::from(Duration::from_millis(250));
    loop {
        let c = consumer.clone();
        let topic = kc.topic.clone();
        let answer = tokio::task::spawn_blocking(move || {
            c.fetch_metadata(Some(&topic), Timeout::After(Duration::from_secs(5)))
                .map(|m| {
                    m.topics()
                        .iter()
                        .any(|t| t.name() == topic && t.error().is_none())
                })
        })
        .await;
        match answer {
            Ok(Ok(exists)) => {
                shared.metrics.broker_up.set(1);
                shared.with_health(|h| h.broker_error = None);
                if !exists {
                    tracing::warn!(
                        topic = %kc.topic,
                        "the topic does not exist yet; consuming starts when it is created"
                    );
                }
                return true;
            }
            Ok(Err(e)) => {
                shared.metrics.broker_up.set(0);
                shared.with_health(|h| h.broker_error = Some(e.to_string()));
                tracing::warn!(
                    brokers = %kc.brokers,
                    "cannot reach Kafka: {e}; trying again in {:.1}s",
                    retry.next().as_secs_f64()
                );
            }
            Err(e) => tracing::warn!("the broker check did not finish: {e}"),
        }
        if !retry.pause(shutdown).await {
            return false;
        }
    }
}

/// Every `every`, reads positions and watermarks; reports stalls and broker outages.
async fn watch_progress(
    consumer: Arc<Kafka>,
    topic: String,
    shared: Shared,
    every: Duration,
    stall_after: Duration,
) {
    let started = Instant::now();
    let mut progress = Progress::new(stall_after);
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let c = consumer.clone();
        let t = topic.clone();
        let read = tokio::task::spawn_blocking(move || observe(&c, &t)).await;
        let observations = match read {
            Ok(Ok(o)) => {
                shared.metrics.broker_up.set(1);
                if shared.with_health(|h| h.broker_error.take()).is_some() {
                    tracing::info!("the Kafka broker answers again: consuming where it stopped");
                }
                o
            }
            Ok(Err(e)) => {
                shared.metrics.broker_up.set(0);
                let was = shared.with_health(|h| h.broker_error.replace(e.to_string()));
                if was.is_none() {
                    tracing::warn!(
                        "cannot reach the Kafka broker: {e}; the consumer keeps retrying and resumes where it stopped"
                    );
                }
                continue;
            }
            Err(_) => continue,
        };
        for o in &observations {
            tracing::debug!(
                topic = %o.topic,
                partition = o.partition,
                position = ?o.position,
                committed = ?o.committed,
                low = o.low,
                high = o.high,
                "partition progress"
            );
        }
        for change in progress.observe(started.elapsed(), &observations) {
            match change {
                Change::Stalled {
                    topic,
                    partition,
                    position,
                    high,
                    idle,
                } => tracing::error!(
                    %topic,
                    partition,
                    position,
                    high,
                    "partition stalled: the consumer stands at offset {position}, the broker says the partition ends at {high}, and nothing has moved for {}s. Check the broker and its log; nothing is lost: the events stay on the topic and the offset is only stored after an event is recorded",
                    idle.as_secs()
                ),
                Change::Resumed {
                    topic,
                    partition,
                    position,
                } => tracing::info!(%topic, partition, position, "partition moving again"),
            }
        }
        for (t, p, lag, stalled) in progress.lags() {
            let label = PartitionLabel {
                topic: t.to_string(),
                partition: p.to_string(),
            };
            shared.metrics.lag.get_or_create(&label).set(lag);
            shared
                .metrics
                .stalled
                .get_or_create(&label)
                .set(i64::from(stalled));
        }
        let stalled = progress.stalled();
        shared.with_health(|h| h.stalled = stalled);
    }
}

fn observe(consumer: &Kafka, topic: &str) -> KafkaResult<Vec<Observation>> {
    let wait = Timeout::After(Duration::from_secs(5));
    // Also the broker check: this fails when no broker answers.
    consumer.fetch_metadata(Some(topic), wait)?;
    let assignment = consumer.assignment()?;
    if assignment.count() == 0 {
        return Ok(Vec::new());
    }
    let positions = consumer.position()?;
    let committed = consumer.committed_offsets(assignment.clone(), wait)?;
    let offset = |tpl: &TopicPartitionList, t: &str, p: i32| match tpl
        .find_partition(t, p)
        .map(|e| e.offset())
    {
        Some(Offset::Offset(o)) => Some(o),
        _ => None,
    };
    let mut out = Vec::new();
    for e in assignment.elements() {
        let (t, p) = (e.topic(), e.partition());
        let (low, high) = consumer.fetch_watermarks(t, p, wait)?;
        out.push(Observation {
            topic: t.to_string(),
            partition: p,
            position: offset(&positions, t, p),
            committed: offset(&committed, t, p),
            low,
            high,
        });
    }
    Ok(out)
}

/// What became of a dead letter.
enum Delivery {
    Sent,
    /// Sent and noted before a crash or restart: not sent again.
    SentBefore,
    /// Shutdown came first: the offset is not stored, so it is handled after the restart.
    Interrupted,
}

/// What the reading stage waits on next.
enum Next {
    Stop,
    Settle(Recorded),
    Message(rdkafka::error::KafkaResult<OwnedMessage>),
}

/// A batch's records checked.
struct Parsed {
    /// The batch's index of each record that is a good event.
    good: Vec<usize>,
    events: Vec<HrEvent>,
    /// The others, and why they cannot be used.
    bad: Vec<(usize, DeadLetter)>,
}

fn parse(batch: &[OwnedMessage]) -> Parsed {
    let mut out = Parsed {
        good: Vec::new(),
        events: Vec::new(),
        bad: Vec::new(),
    };
    for (i, m) in batch.iter().enumerate() {
        match accept(m.key(), m.payload()) {
            Ok(e) => {
                out.good.push(i);
                out.events.push(e);
            }
            Err(r) => out.bad.push((i, r)),
        }
    }
    out
}

/// A batch read, parsed and planned, for the recorder.
struct Prepared {
    batch: Arc<Vec<OwnedMessage>>,
    /// The events that could be used, with the batch's index of each record.
    good: Vec<usize>,
    events: Arc<(Vec<HrEvent>, Vec<ingest::Planned>)>,
    bad: Vec<(usize, DeadLetter)>,
    started: Instant,
}

/// A batch the recorder is done with: durable (its offsets may be stored), or not
/// (shutdown came while it was retrying; read again after the restart).
struct Recorded {
    batch: Arc<Vec<OwnedMessage>>,
    done: bool,
}

/// Stores the offsets of a batch made durable. False when it was not: nothing more is
/// read, as the daemon is stopping.
fn settle(consumer: &Kafka, recorded: Recorded) -> bool {
    if !recorded.done {
        // Shutting down mid-batch: no offset of it is stored, so it is read again after
        // the restart (and changes nothing where it was in fact recorded).
        return false;
    }
    // One call per batch: the offset after the last record of each partition in it (a
    // partition's records come in order), as storing each record's offset in turn leaves.
    let mut last: Vec<(&str, i32, i64)> = Vec::new();
    for m in recorded.batch.iter() {
        match last
            .iter_mut()
            .find(|(t, p, _)| *t == m.topic() && *p == m.partition())
        {
            Some(l) => l.2 = l.2.max(m.offset()),
            None => last.push((m.topic(), m.partition(), m.offset())),
        }
    }
    let mut tpl = TopicPartitionList::with_capacity(last.len());
    for (topic, partition, offset) in &last {
        if let Err(e) = tpl.add_partition_offset(topic, *partition, Offset::Offset(offset + 1)) {
            tracing::warn!(%topic, partition, "cannot note the offset to store: {e}");
        }
    }
    if let Err(e) = consumer.store_offsets(&tpl) {
        // A partition was revoked meanwhile: its new owner reads the events again, which
        // changes nothing.
        tracing::warn!(
            "cannot store the offsets of {}: {e}; those events will be read again and change nothing",
            describe(&tpl)
        );
    }
    drop_aside(recorded.batch);
    true
}

/// Drops `value` on a blocking thread, off the async thread that reads and records.
fn drop_aside<T: Send + 'static>(value: T) {
    drop(tokio::task::spawn_blocking(move || drop(value)));
}

/// The store connection the reading stage plans on (it reads people's accounts): one of
/// its own, so planning the next batch never waits for the recorder's transaction. The
/// shared one if a second cannot be opened.
fn planner_store(config: &Config, shared: &SharedStore) -> SharedStore {
    // It writes nothing, so it needs no audit key.
    match crate::store::open(&config.store, None, false) {
        Ok(s) => Arc::new(Mutex::new(s)),
        Err(e) => {
            tracing::warn!(
                "planning on the recorder's store connection ({e}): reading and recording take turns"
            );
            shared.clone()
        }
    }
}

struct Worker<'a> {
    model: Arc<RoleModel>,
    store: SharedStore,
    /// The reading stage's own connection: see [`planner_store`].
    planner: SharedStore,
    producer: &'a FutureProducer,
    dead_letter_topic: String,
    shared: &'a Shared,
}

impl Worker<'_> {
    /// Parses a batch and plans its good events against their people's accounts (on the
    /// planner's connection). None when shutdown came while the store was failing.
    async fn prepare(
        &self,
        batch: Vec<OwnedMessage>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Prepared> {
        let started = Instant::now();
        let batch = Arc::new(batch);
        self.shared
            .with_health(|h| h.in_plan = Some((describe_batch(&batch), Instant::now())));
        // Parsed and planned on a blocking thread: the async thread meanwhile reads from
        // the broker and sees the recorder's batches through (parsing on it made it the
        // bottleneck of a backlog).
        let (model, records) = (self.model.clone(), batch.clone());
        let prepared = self
            .with_store_on(&self.planner, shutdown, "plan HR events", move |store| {
                let parsed = parse(&records);
                let planned = if parsed.events.is_empty() {
                    Vec::new()
                } else {
                    let today = crate::clock::today(crate::now());
                    let refs: Vec<&HrEvent> = parsed.events.iter().collect();
                    ingest::plan_events(store, &model, &refs, today, ACTOR)?
                };
                Ok((parsed, planned))
            })
            .await;
        self.shared.with_health(|h| h.in_plan = None);
        let (parsed, planned) = prepared?;
        Some(Prepared {
            batch,
            good: parsed.good,
            events: Arc::new((parsed.events, planned)),
            bad: parsed.bad,
            started,
        })
    }

    /// Records the good events of a prepared batch (one transaction) and dead-letters the
    /// others. True when every effect is durable (so the offsets may be stored); false
    /// when shutdown came while something was still being retried.
    async fn record(
        &self,
        prepared: &Prepared,
        shutdown: &mut watch::Receiver<bool>,
        summary: &mut Summary,
    ) -> bool {
        let batch: &[OwnedMessage] = &prepared.batch;
        let metrics = &self.shared.metrics;
        let events = &prepared.events.0;
        if !events.is_empty() {
            // Shared with the store task (retried as a whole), not copied.
            let shared_events = prepared.events.clone();
            let Some(labels) = self
                .with_store(shutdown, "record HR events", move |store| {
                    let (events, planned) = &*shared_events;
                    let refs: Vec<&HrEvent> = events.iter().collect();
                    let labels = ingest::record_planned(store, &refs, planned, ACTOR)
                        .map(|o| o.iter().map(ingest::outcome_label).collect::<Vec<_>>())?;
                    // A starter TRAC announced, now on ESR: linked before anything is
                    // applied for them, so their prepared accounts are not made twice.
                    let esr: Vec<&crate::hr::Person> = refs
                        .iter()
                        .filter(|e| e.source == crate::hr::Source::Esr)
                        .map(|e| &e.person)
                        .collect();
                    ingest::link_starters(store, &esr, ACTOR)?;
                    Ok(labels)
                })
                .await
            else {
                return false;
            };
            if labels.contains(&"recorded") {
                self.shared.wake.notify_one();
            }
            for ((&i, e), label) in prepared.good.iter().zip(events.iter()).zip(labels) {
                metrics.count_event(label);
                let _span = event_span(&batch[i], Some(e)).entered();
                tracing::debug!(outcome = label, kind = e.kind.as_str(), "HR event");
            }
        }
        for (i, dead_letter) in &prepared.bad {
            let m = &batch[*i];
            let span = event_span(m, None);
            match self
                .dead_letter(m, dead_letter, shutdown)
                .instrument(span.clone())
                .await
            {
                Delivery::Sent => {
                    metrics.count_event("dead_lettered");
                    metrics.count(&metrics.dead_letters, dead_letter.kind);
                    summary.dead_lettered += 1;
                    let _span = span.entered();
                    tracing::warn!(
                        kind = dead_letter.kind,
                        "event sent to {}: {}",
                        self.dead_letter_topic,
                        dead_letter.reason
                    );
                }
                Delivery::SentBefore => {}
                Delivery::Interrupted => return false,
            }
        }
        summary.events += batch.len() as u64;
        let each = prepared.started.elapsed().as_secs_f64() / batch.len() as f64;
        // Against the broker's own timestamps: the wall clock, not business time.
        let now = crate::wall_clock().as_millisecond();
        for m in batch {
            metrics.event_seconds.observe(each);
            if let Some(ms) = m.timestamp().to_millis() {
                metrics
                    .event_age_seconds
                    .observe(((now - ms).max(0) as f64) / 1000.0);
            }
        }
        true
    }

    /// Runs `f` on the store off the async threads, retrying failures with backoff until it
    /// succeeds or shutdown comes (None). Nothing is skipped while the store is failing.
    async fn with_store<T, F>(
        &self,
        shutdown: &mut watch::Receiver<bool>,
        what: &str,
        f: F,
    ) -> Option<T>
    where
        T: Send + 'static,
        F: Fn(&mut dyn Store) -> Result<T, StoreError> + Send + Sync + 'static,
    {
        self.with_store_on(&self.store, shutdown, what, f).await
    }

    /// [`Worker::with_store`] on the given connection.
    async fn with_store_on<T, F>(
        &self,
        store: &SharedStore,
        shutdown: &mut watch::Receiver<bool>,
        what: &str,
        f: F,
    ) -> Option<T>
    where
        T: Send + 'static,
        F: Fn(&mut dyn Store) -> Result<T, StoreError> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let mut retry = Retry::from(Duration::from_millis(100));
        loop {
            let (store, f) = (store.clone(), f.clone());
            let result = tokio::task::spawn_blocking(move || f(&mut **lock(&store)))
                .await
                .unwrap_or_else(|e| {
                    Err(StoreError::Corrupt {
                        key: "state store task".into(),
                        detail: e.to_string(),
                    })
                });
            match result {
                Ok(v) => return Some(v),
                Err(e) => {
                    self.shared
                        .metrics
                        .count(&self.shared.metrics.retries, "store");
                    tracing::error!(
                        "cannot {what}: {e}; consumption waits and retries in {:.1}s (nothing is skipped)",
                        retry.next().as_secs_f64()
                    );
                }
            }
            if !retry.pause(shutdown).await {
                return None;
            }
        }
    }

    /// Sends the original record to the dead-letter topic with the reason in headers
    /// (retrying until the broker takes it or shutdown comes), then notes it in the store
    /// with an `hr.rejected` audit entry. A record noted before a crash is not sent again.
    async fn dead_letter(
        &self,
        message: &OwnedMessage,
        dead_letter: &DeadLetter,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Delivery {
        let noted = Arc::new(dead_lettered(message));
        let r = noted.clone();
        match self
            .with_store(shutdown, "look up dead letters", move |s| {
                s.was_dead_lettered(&r)
            })
            .await
        {
            None => return Delivery::Interrupted,
            Some(true) => {
                tracing::debug!("already dead-lettered before a restart: not sent again");
                return Delivery::SentBefore;
            }
            Some(false) => {}
        }
        if !self.send_dead_letter(message, dead_letter, shutdown).await {
            return Delivery::Interrupted;
        }
        let draft = dead_letter_draft(message, dead_letter, &self.dead_letter_topic);
        match self
            .with_store(shutdown, "note the dead letter", move |s| {
                s.note_dead_letter(&noted, draft.clone())
            })
            .await
        {
            Some(()) => Delivery::Sent,
            None => Delivery::Interrupted,
        }
    }

    async fn send_dead_letter(
        &self,
        message: &OwnedMessage,
        dead_letter: &DeadLetter,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let original: Vec<(String, Vec<u8>)> = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|x| (x.key.to_string(), x.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        let origin = Origin {
            topic: message.topic().to_string(),
            partition: message.partition(),
            offset: message.offset(),
        };
        let mut retry = Retry::from(Duration::from_millis(250));
        loop {
            let headers = kafka::dead_letter_headers(
                &original,
                &origin,
                dead_letter.kind,
                &dead_letter.reason,
                crate::wall_clock(),
            );
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&self.dead_letter_topic).headers(headers);
            if let Some(k) = message.key() {
                record = record.key(k);
            }
            if let Some(p) = message.payload() {
                record = record.payload(p);
            }
            let sent = tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return false,
                r = self.producer.send(record, Timeout::After(Duration::from_secs(10))) => r,
            };
            match sent {
                Ok(_) => return true,
                Err((e, _)) => {
                    self.shared
                        .metrics
                        .count(&self.shared.metrics.retries, "dead_letter");
                    let hint = match e.rdkafka_error_code() {
                        Some(
                            RDKafkaErrorCode::UnknownTopicOrPartition
                            | RDKafkaErrorCode::UnknownTopic
                            | RDKafkaErrorCode::MessageTimedOut,
                        ) => {
                            ": check that the topic exists (or set [kafka] dead_letter_topic) and the broker is reachable"
                        }
                        _ => "",
                    };
                    tracing::error!(
                        "cannot write to the dead-letter topic {}: {e}{hint}; retrying in {:.1}s (consumption waits: the event is not skipped)",
                        self.dead_letter_topic,
                        retry.next().as_secs_f64()
                    );
                }
            }
            if !retry.pause(shutdown).await {
                return false;
            }
        }
    }
}

/// Locks a mutex, taking over the data if a panicking holder poisoned it: the store and
/// the health state stay usable, and a panic is a bug reported on its own.
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Where a batch starts, for the health checks.
fn describe_batch(batch: &[OwnedMessage]) -> String {
    match batch.first() {
        Some(m) => format!(
            "{} record(s) from {}[{}] offset {}",
            batch.len(),
            m.topic(),
            m.partition(),
            m.offset()
        ),
        None => "no records".into(),
    }
}

/// The span of one record: where it was read, and whose event it is when it is one.
fn event_span(message: &OwnedMessage, event: Option<&HrEvent>) -> tracing::Span {
    tracing::info_span!(
        "event",
        topic = message.topic(),
        partition = message.partition(),
        offset = message.offset(),
        event_id = event.map(|e| e.event_id.as_str()),
        person = event.map(|e| e.person.employee_number.as_str()),
    )
}

/// Where a record was read, with a digest of its key and value.
fn dead_lettered(message: &OwnedMessage) -> DeadLettered {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [message.key(), message.payload()] {
        let bytes = part.unwrap_or_default();
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    }
    let digest = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    DeadLettered {
        topic: message.topic().to_string(),
        partition: message.partition(),
        offset: message.offset(),
        digest,
    }
}

/// The audit entry of a dead letter: who and which event, as far as can be read.
fn dead_letter_draft(message: &OwnedMessage, dead_letter: &DeadLetter, dlq: &str) -> Draft {
    let value: Option<serde_json::Value> = message
        .payload()
        .and_then(|p| serde_json::from_slice(p).ok());
    // The payload failed its checks: what it says of itself goes into the trail only
    // printable (no control character) and at most 64 characters long.
    let text = |v: Option<&serde_json::Value>| {
        v.and_then(|x| x.as_str()).map(|s| {
            crate::input::printable(s)
                .chars()
                .take(64)
                .collect::<String>()
        })
    };
    Draft {
        at: crate::now(),
        actor: ACTOR.into(),
        employee_number: text(
            value
                .as_ref()
                .and_then(|v| v.get("person"))
                .and_then(|p| p.get("employee_number")),
        ),
        system: None,
        account: None,
        action: crate::audit::Action::HrRejected.to_string(),
        outcome: crate::audit::Outcome::DeadLettered.to_string(),
        rule: None,
        event_id: text(value.as_ref().and_then(|v| v.get("event_id"))),
        reason: format!(
            "{}: {} (read from {}[{}] at offset {}; sent to {dlq})",
            dead_letter.kind,
            crate::input::printable(&dead_letter.reason),
            message.topic(),
            message.partition(),
            message.offset()
        ),
    }
}

#[cfg(test)]
mod tests;
