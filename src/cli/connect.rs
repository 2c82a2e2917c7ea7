//! `turnstile validate --connect`: before a rollout, tries every peer the config names —
//! the state store, the Kafka broker and topic, each target's health check, the mail
//! relay — and names every one that does not answer, all at once. It changes nothing on
//! the peers: a PostgreSQL store is only looked at (not created or upgraded here); an
//! existing SQLite file is opened as the daemon opens it.

use crate::config::Config;
use crate::policy::{Problem, RoleModel};
use std::time::Duration;

fn problem(message: String, warning: bool) -> Problem {
    Problem {
        file: "config".into(),
        line: None,
        message,
        warning,
    }
}

/// What each peer answered; a peer that does not answer is an error.
pub(super) fn try_peers(config: &Config, model: Option<&RoleModel>) -> Vec<Problem> {
    let mut out = Vec::new();
    match crate::store::look(&config.store) {
        Ok(state) => println!("[store]: {state}"),
        Err(e) => out.push(problem(format!("[store]: {e}"), false)),
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            out.push(problem(format!("cannot try the peers: {e}"), false));
            return out;
        }
    };
    if !config.kafka.brokers.trim().is_empty() {
        match kafka_answers(config) {
            Ok(true) => println!("[kafka]: {} answers; topic {} exists", config.kafka.brokers, config.kafka.topic),
            Ok(false) => out.push(problem(
                format!(
                    "[kafka]: {} answers but topic {} does not exist: create it before starting the daemon",
                    config.kafka.brokers, config.kafka.topic
                ),
                true,
            )),
            Err(e) => out.push(problem(
                format!("[kafka]: {} does not answer: {e}", config.kafka.brokers),
                false,
            )),
        }
    }
    if let Some(model) = model
        && let Ok(mut targets) = crate::engine::targets::build(config, model)
    {
        for t in &mut targets {
            // One health check, now, as a quarantined target's probe asks it (and without
            // the daemon's "cannot be reached … back online" log lines, which would say
            // something happened to a target that was never in use).
            match runtime.block_on(t.connector.health()) {
                Ok(()) => println!("[targets.{}]: answers", t.system()),
                Err(e) => out.push(problem(
                    format!("[targets.{}]: does not answer: {e}", t.system()),
                    false,
                )),
            }
        }
    }
    let smtp = &config.smtp;
    if !smtp.host.trim().is_empty() {
        let address = format!("{}:{}", smtp.host, smtp.port);
        let connected = runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(10),
                tokio::net::TcpStream::connect(&address),
            )
            .await
        });
        match connected {
            Ok(Ok(_)) => println!("[smtp]: {address} accepts connections"),
            Ok(Err(e)) => out.push(problem(format!("[smtp]: {address}: {e}"), false)),
            Err(_) => out.push(problem(
                format!("[smtp]: {address}: no answer within 10 s"),
                false,
            )),
        }
    }
    out
}

/// True when the broker answers and the topic exists.
fn kafka_answers(config: &Config) -> Result<bool, String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = config
        .kafka
        .consumer_config()
        .create()
        .map_err(|e| e.to_string())?;
    let topic = config.kafka.topic.as_str();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    Ok(metadata
        .topics()
        .iter()
        .any(|t| t.name() == topic && t.error().is_none()))
}
