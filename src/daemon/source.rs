//! The HR topic as the daemon reads it: the Kafka consumer's context (rebalances, client errors said once a minute), waiting for the broker, watching partitions' progress, and storing offsets once a batch is durable.

use super::*;

/// Logs librdkafka's errors and rebalances through `tracing`: an outage is said once
/// when it starts (and once a minute while the same words repeat), not on every retry.
pub(super) struct Context {
    pub(super) shared: Shared,
    pub(super) said: Mutex<std::collections::BTreeMap<String, Instant>>,
}
impl Context {
    pub(super) fn new(shared: Shared) -> Context {
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
pub(super) fn describe(tpl: &TopicPartitionList) -> String {
    tpl.elements()
        .iter()
        .map(|e| format!("{}[{}]", e.topic(), e.partition()))
        .collect::<Vec<_>>()
        .join(" ")
}
pub(super) type Kafka = StreamConsumer<Context>;
/// Waits (with backoff) until the broker answers; false if shutdown came first.
pub(super) async fn wait_for_broker(
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
pub(super) async fn watch_progress(
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
pub(super) fn observe(consumer: &Kafka, topic: &str) -> KafkaResult<Vec<Observation>> {
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
/// Stores the offsets of a batch made durable. False when it was not: nothing more is
/// read, as the daemon is stopping.
pub(super) fn settle(consumer: &Kafka, recorded: Recorded) -> bool {
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
