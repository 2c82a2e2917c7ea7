//! What cannot be used: an HR record judged unusable (and why), and what the trail and the dead-letter topic say of it, in its own words made printable.

use super::*;

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
/// Where a record was read, with a digest of its key and value.
pub(super) fn dead_lettered(message: &OwnedMessage) -> DeadLettered {
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
pub(super) fn dead_letter_draft(
    message: &OwnedMessage,
    dead_letter: &DeadLetter,
    dlq: &str,
) -> Draft {
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
