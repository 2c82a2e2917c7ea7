//! The recorder: a batch of HR records parsed and planned, then recorded in one durable commit with the changes it plans, dead letters sent first.

use super::*;

/// What became of a dead letter.
pub(super) enum Delivery {
    Sent,
    /// Sent and noted before a crash or restart: not sent again.
    SentBefore,
    /// Shutdown came first: the offset is not stored, so it is handled after the restart.
    Interrupted,
}
/// What the reading stage waits on next.
pub(super) enum Next {
    Stop,
    Settle(Recorded),
    Message(rdkafka::error::KafkaResult<OwnedMessage>),
}
/// A batch's records checked.
pub(super) struct Parsed {
    /// The batch's index of each record that is a good event.
    pub(super) good: Vec<usize>,
    pub(super) events: Vec<HrEvent>,
    /// The others, and why they cannot be used.
    pub(super) bad: Vec<(usize, DeadLetter)>,
}
pub(super) fn parse(batch: &[OwnedMessage]) -> Parsed {
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
pub(super) struct Prepared {
    pub(super) batch: Arc<Vec<OwnedMessage>>,
    /// The events that could be used, with the batch's index of each record.
    pub(super) good: Vec<usize>,
    pub(super) events: Arc<(Vec<HrEvent>, Vec<ingest::Planned>)>,
    pub(super) bad: Vec<(usize, DeadLetter)>,
    pub(super) started: Instant,
}
/// A batch the recorder is done with: durable (its offsets may be stored), or not
/// (shutdown came while it was retrying; read again after the restart).
pub(super) struct Recorded {
    pub(super) batch: Arc<Vec<OwnedMessage>>,
    pub(super) done: bool,
}
/// Drops `value` on a blocking thread, off the async thread that reads and records.
pub(super) fn drop_aside<T: Send + 'static>(value: T) {
    drop(tokio::task::spawn_blocking(move || drop(value)));
}
/// The store connection the reading stage plans on (it reads people's accounts): one of
/// its own, so planning the next batch never waits for the recorder's transaction. The
/// shared one if a second cannot be opened.
pub(super) fn planner_store(config: &Config, shared: &SharedStore) -> SharedStore {
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
pub(super) struct Worker<'a> {
    pub(super) model: Arc<RoleModel>,
    pub(super) store: SharedStore,
    /// The reading stage's own connection: see [`planner_store`].
    pub(super) planner: SharedStore,
    pub(super) producer: &'a FutureProducer,
    pub(super) dead_letter_topic: String,
    pub(super) shared: &'a Shared,
}
impl Worker<'_> {
    /// Parses a batch and plans its good events against their people's accounts (on the
    /// planner's connection). None when shutdown came while the store was failing.
    pub(super) async fn prepare(
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
                    // Judged as of the latest audit entry if the host's clock has stepped
                    // back behind it, as the applier and every reconciliation are.
                    let now = crate::engine::clock::steady(&*store, crate::now())?;
                    let today = crate::clock::today(now);
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
    pub(super) async fn record(
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
/// Where a batch starts, for the health checks.
pub(super) fn describe_batch(batch: &[OwnedMessage]) -> String {
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
pub(super) fn event_span(message: &OwnedMessage, event: Option<&HrEvent>) -> tracing::Span {
    tracing::info_span!(
        "event",
        topic = message.topic(),
        partition = message.partition(),
        offset = message.offset(),
        event_id = event.map(|e| e.event_id.as_str()),
        person = event.map(|e| e.person.employee_number.as_str()),
    )
}
