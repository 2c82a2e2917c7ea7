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

mod checkpoint;
mod dead_letters;
mod recorder;
mod source;

use checkpoint::*;
use dead_letters::*;
pub use dead_letters::{DeadLetter, accept};
use recorder::*;
use source::*;

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
        if let Some(refused) = config.daemon.plaintext_tokens_refused() {
            return Err(DaemonError::Config(vec![refused]));
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

/// Locks a mutex, taking over the data if a panicking holder poisoned it: the store and
/// the health state stay usable, and a panic is a bug reported on its own.
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests;
