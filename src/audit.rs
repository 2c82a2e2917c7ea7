//! The audit trail: who changed whose access, when and why.
//!
//! Append-only and tamper-evident: each entry carries the SHA-256 of its own content and of
//! the entry before it, so an edited, removed or reordered entry breaks the chain.
//! Verification is a pure function over the stored entries and the recorded head; the
//! store keeps them, this module never touches storage.

use jiff::Timestamp;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, before the store numbers and chains it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Draft {
    pub at: Timestamp,
    /// Who or what acted: `turnstile feed esr`, `turnstile run`, an operator's name.
    pub actor: String,
    pub employee_number: Option<String>,
    pub system: Option<String>,
    pub account: Option<String>,
    /// `hr.record`, `hr.review`, `change.create`, `change.grant`, ...
    pub action: String,
    /// `recorded`, `planned`, `applied`, `failed`.
    pub outcome: String,
    /// The rule behind it (a role rule id or a lifecycle rule such as `leaver`).
    pub rule: Option<String>,
    /// The HR event that caused it.
    pub event_id: Option<String>,
    pub reason: String,
}

/// A stored, chained entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub seq: u64,
    #[serde(flatten)]
    pub draft: Draft,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of an entry: SHA-256 over its sequence number, every field (length-prefixed,
/// so no two different entries share an encoding) and the previous hash.
pub fn entry_hash(seq: u64, draft: &Draft, prev_hash: &str) -> String {
    let mut h = Sha256::new();
    let mut field = |value: Option<&str>| match value {
        None => h.update(b"-"),
        Some(v) => {
            h.update((v.len() as u64).to_be_bytes());
            h.update(v.as_bytes());
        }
    };
    field(Some("turnstile.audit/v1"));
    field(Some(&seq.to_string()));
    field(Some(&draft.at.to_string()));
    field(Some(&draft.actor));
    field(draft.employee_number.as_deref());
    field(draft.system.as_deref());
    field(draft.account.as_deref());
    field(Some(&draft.action));
    field(Some(&draft.outcome));
    field(draft.rule.as_deref());
    field(draft.event_id.as_deref());
    field(Some(&draft.reason));
    field(Some(prev_hash));
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// Chains a draft after `prev` (the last entry's sequence and hash).
pub fn chain(prev: Option<(u64, &str)>, draft: Draft) -> Entry {
    let (seq, prev_hash) = match prev {
        Some((seq, hash)) => (seq + 1, hash.to_string()),
        None => (1, GENESIS.to_string()),
    };
    let hash = entry_hash(seq, &draft, &prev_hash);
    Entry {
        seq,
        draft,
        prev_hash,
        hash,
    }
}

/// The first break found in a trail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Break {
    #[error(
        "entry {seq}: its content no longer matches its hash: it was edited after it was written"
    )]
    Edited { seq: u64 },
    #[error(
        "entry {seq}: expected entry number {expected} here: entries were removed or reordered"
    )]
    Gap { seq: u64, expected: u64 },
    #[error(
        "entry {seq}: it does not follow the entry before it: entries were removed, inserted or reordered"
    )]
    Unlinked { seq: u64 },
    #[error(
        "the trail ends at entry {last} but the store recorded entry {head} as the newest: entries were removed from the end"
    )]
    Truncated { last: u64, head: u64 },
    #[error(
        "the recorded newest entry {head} does not match the trail: the trail or its head was altered"
    )]
    HeadMismatch { head: u64 },
}

/// Checks a whole trail (in stored order) against its recorded head. Returns the number of
/// entries checked, or the first break.
pub fn verify<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    head: Option<(u64, &str)>,
) -> Result<u64, Break> {
    let mut prev: Option<&Entry> = None;
    let mut count = 0;
    for e in entries {
        let expected = prev.map_or(1, |p| p.seq + 1);
        if e.seq != expected {
            return Err(Break::Gap {
                seq: e.seq,
                expected,
            });
        }
        let expected_prev = prev.map_or(GENESIS, |p| p.hash.as_str());
        if e.prev_hash != expected_prev {
            return Err(Break::Unlinked { seq: e.seq });
        }
        if entry_hash(e.seq, &e.draft, &e.prev_hash) != e.hash {
            return Err(Break::Edited { seq: e.seq });
        }
        prev = Some(e);
        count += 1;
    }
    let last = prev.map_or(0, |p| p.seq);
    match head {
        None if last == 0 => Ok(count),
        None => Err(Break::HeadMismatch { head: 0 }),
        Some((seq, _)) if seq > last => Err(Break::Truncated { last, head: seq }),
        Some((seq, hash)) if seq != last || prev.is_some_and(|p| p.hash != hash) => {
            Err(Break::HeadMismatch { head: seq })
        }
        Some(_) => Ok(count),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(i: u64) -> Draft {
        Draft {
            at: Timestamp::from_second(1_700_000_000 + i as i64).unwrap(),
            actor: "test".into(),
            employee_number: Some(format!("2000{i:04}")),
            system: Some("ad".into()),
            account: None,
            action: "change.disable".into(),
            outcome: "planned".into(),
            rule: Some("leaver".into()),
            event_id: Some(format!("e{i}")),
            reason: "leaver".into(),
        }
    }

    fn trail(n: u64) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for i in 0..n {
            let prev = out.last().map(|e| (e.seq, e.hash.as_str()));
            let e = chain(prev, draft(i));
            out.push(e);
        }
        out
    }

    fn head(t: &[Entry]) -> Option<(u64, &str)> {
        t.last().map(|e| (e.seq, e.hash.as_str()))
    }

    #[test]
    fn an_intact_trail_verifies() {
        let t = trail(5);
        assert_eq!(verify(&t, head(&t)), Ok(5));
        assert_eq!(verify(&[], None), Ok(0));
    }

    #[test]
    fn every_kind_of_tampering_is_found() {
        let t = trail(5);
        let h = head(&t).map(|(s, h)| (s, h.to_string()));
        let h = h.as_ref().map(|(s, h)| (*s, h.as_str()));

        let mut edited = t.clone();
        edited[2].draft.reason = "nothing to see".into();
        assert_eq!(verify(&edited, h), Err(Break::Edited { seq: 3 }));

        let mut removed = t.clone();
        removed.remove(1);
        assert_eq!(
            verify(&removed, h),
            Err(Break::Gap {
                seq: 3,
                expected: 2
            })
        );

        let mut swapped = t.clone();
        swapped.swap(1, 2);
        assert!(matches!(verify(&swapped, h), Err(Break::Gap { .. })));

        // Renumbered after a swap: the links no longer hold.
        let mut renumbered = t.clone();
        renumbered.swap(1, 2);
        renumbered[1].seq = 2;
        renumbered[2].seq = 3;
        assert_eq!(verify(&renumbered, h), Err(Break::Unlinked { seq: 2 }));

        let truncated = &t[..4];
        assert_eq!(
            verify(truncated, h),
            Err(Break::Truncated { last: 4, head: 5 })
        );

        // Rewriting an entry and re-hashing it breaks the link of the next one.
        let mut rehashed = t.clone();
        rehashed[2].draft.reason = "forged".into();
        rehashed[2].hash = entry_hash(3, &rehashed[2].draft, &rehashed[2].prev_hash);
        assert_eq!(verify(&rehashed, h), Err(Break::Unlinked { seq: 4 }));
    }
}
