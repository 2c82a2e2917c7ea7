//! The audit trail: who changed whose access, when and why.
//!
//! Append-only and tamper-evident: each entry carries the SHA-256 of its own content and of
//! the entry before it, so an edited, removed or reordered entry breaks the chain.
//! Verification is a pure function over the stored entries and the recorded head; the
//! store keeps them, this module never touches storage.
//!
//! A plain hash chain can be recomputed end to end by anyone who can write the store. Two
//! things stop that: the head (`SEQ:HASH`) shipped off the host and checked later with
//! [`expect_head`], and, where an [`AuditKey`] is configured, an HMAC over each entry's
//! hash that nobody without the key (which is never stored with the data) can forge.

use jiff::Timestamp;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an audit entry records. Stored (and hashed) as its text, e.g. `hr.record` or
/// `change.grant GG-Nursing`; every producer writes it from this enum, never by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// An HR record became a person's record.
    HrRecord,
    /// A full extract no longer listed the person: flagged for a person to check.
    HrReview,
    /// An HR event could not be used and went to the dead-letter topic.
    HrRejected,
    /// A change to an account (planned, applied, raised, failed or skipped).
    Change(crate::plan::Action),
    /// A run stopped before a mass removal, waiting for approval.
    ReconcileHeld,
    /// A work item the system's own export now shows done.
    WorkItemConfirmed,
    /// A work item no longer needed (the person's record changed first).
    WorkItemCancelled,
    /// A work item open past its due time, escalated.
    WorkItemOverdue,
    /// A line manager was told an account of their staff will be disabled for inactivity.
    InactivityNotice,
    /// A named manager approved re-enabling an account disabled for inactivity.
    InactivityApproved,
    /// A sponsor was told that the access of someone they sponsor ends soon.
    SponsorshipNotice,
    /// A TRAC starter's provisional record was linked to their ESR record.
    HrLinked,
    /// A TRAC starter will not start (withdrawn, or never listed by ESR): their prepared
    /// access goes and the hiring manager is told.
    StarterWithdrawn,
    /// Changes the daemon would apply took too much access away in one window: stored as
    /// a held plan, waiting for a person.
    PlanHeld,
    /// A named person approved a held plan; its changes follow, under their name.
    PlanApproved,
    /// A named person rejected a held plan, with their reason.
    PlanRejected,
    /// A line manager's completed access review was recorded: what they kept, what they
    /// removed, what they left undecided.
    ReviewAttested,
    /// A removal asked at an access review that the role model still grants: not made;
    /// the HR record or the role model has to change.
    ReviewConflict,
    /// Changes about to be made on one target for one person, written before the first
    /// is sent: a run cut short between a change and its own entry still leaves the
    /// change in the trail.
    ApplyStarted,
    /// Correlation found an existing account a person may own (a strong match proposed,
    /// or several candidates disputed): nothing was created for them.
    AccountMatched,
    /// A person accepted or rejected a proposed or disputed match.
    MatchDecided,
    /// An existing account was linked to a person: the anchor written onto it, with the
    /// rule that matched and who approved it.
    AccountLinked,
    /// A link was undone: the anchor taken off, the account refused for that person.
    AccountUnlinked,
    /// A person decided what happens to an adopted account's entitlements granted by
    /// hand: revoked, or kept for an access review.
    ExcessDecided,
    /// The trail's head was found without a valid seal under the audit key and sealed
    /// again: once after an upgrade or after the key was first configured; any other time,
    /// entries may have been cut off the end.
    AuditResealed,
    /// A token holder read a person's record through the admin API: who, whom, when (so
    /// an information governance lead can answer "who looked at this record").
    ApiRead,
}

impl Action {
    /// Every kind of action as the README lists it (`change.<action>` for all changes).
    pub const KINDS: [&'static str; 26] = [
        "hr.record",
        "hr.review",
        "hr.rejected",
        "change.<action>",
        "reconcile.held",
        "work_item.confirmed",
        "work_item.cancelled",
        "work_item.overdue",
        "inactivity.notice",
        "inactivity.approved",
        "sponsorship.notice",
        "hr.linked",
        "starter.withdrawn",
        "plan.held",
        "plan.approved",
        "plan.rejected",
        "review.attested",
        "review.conflict",
        "apply.started",
        "account.matched",
        "match.decided",
        "account.linked",
        "account.unlinked",
        "excess.decided",
        "api.read",
        "audit.resealed",
    ];
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::HrRecord => f.write_str("hr.record"),
            Action::HrReview => f.write_str("hr.review"),
            Action::HrRejected => f.write_str("hr.rejected"),
            Action::Change(a) => write!(f, "change.{a}"),
            Action::ReconcileHeld => f.write_str("reconcile.held"),
            Action::WorkItemConfirmed => f.write_str("work_item.confirmed"),
            Action::WorkItemCancelled => f.write_str("work_item.cancelled"),
            Action::WorkItemOverdue => f.write_str("work_item.overdue"),
            Action::InactivityNotice => f.write_str("inactivity.notice"),
            Action::InactivityApproved => f.write_str("inactivity.approved"),
            Action::SponsorshipNotice => f.write_str("sponsorship.notice"),
            Action::HrLinked => f.write_str("hr.linked"),
            Action::StarterWithdrawn => f.write_str("starter.withdrawn"),
            Action::PlanHeld => f.write_str("plan.held"),
            Action::PlanApproved => f.write_str("plan.approved"),
            Action::PlanRejected => f.write_str("plan.rejected"),
            Action::ReviewAttested => f.write_str("review.attested"),
            Action::ReviewConflict => f.write_str("review.conflict"),
            Action::ApplyStarted => f.write_str("apply.started"),
            Action::AccountMatched => f.write_str("account.matched"),
            Action::MatchDecided => f.write_str("match.decided"),
            Action::AccountLinked => f.write_str("account.linked"),
            Action::AccountUnlinked => f.write_str("account.unlinked"),
            Action::ExcessDecided => f.write_str("excess.decided"),
            Action::ApiRead => f.write_str("api.read"),
            Action::AuditResealed => f.write_str("audit.resealed"),
        }
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An HR record or a review flag was stored.
    Recorded,
    /// A change was planned by an HR record (applied later, by reconciliation).
    Planned,
    /// The target now reflects the change.
    Applied,
    /// The change was raised as a work item for a person (a system with no API).
    WorkItem,
    /// The change failed; the reason says why and what to do.
    Failed,
    /// Not attempted: an earlier change it needs (the create) failed.
    Skipped,
    /// Stopped before acting, waiting for a person's approval.
    Held,
    /// The event went to the dead-letter topic.
    DeadLettered,
    /// A work item was closed.
    Closed,
    /// A held plan was approved.
    Approved,
    /// A held plan was rejected.
    Rejected,
    /// Changes are about to be made; each one's own entry follows with its outcome.
    Started,
}

impl Outcome {
    pub const ALL: [Outcome; 12] = [
        Outcome::Recorded,
        Outcome::Planned,
        Outcome::Applied,
        Outcome::WorkItem,
        Outcome::Failed,
        Outcome::Skipped,
        Outcome::Held,
        Outcome::DeadLettered,
        Outcome::Closed,
        Outcome::Approved,
        Outcome::Rejected,
        Outcome::Started,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Recorded => "recorded",
            Outcome::Planned => "planned",
            Outcome::Applied => "applied",
            Outcome::WorkItem => "work_item",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Held => "held",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Closed => "closed",
            Outcome::Approved => "approved",
            Outcome::Rejected => "rejected",
            Outcome::Started => "started",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened, before the store numbers and chains it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Draft {
    pub at: Timestamp,
    /// Who or what acted: `turnstile feed esr`, `turnstile run`, an operator's name.
    pub actor: String,
    pub employee_number: Option<String>,
    pub system: Option<String>,
    pub account: Option<String>,
    /// An [`Action`] as text (`hr.record`, `change.grant GG-Nursing`, …).
    pub action: String,
    /// An [`Outcome`] as text.
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
    /// HMAC-SHA256 of the entry's hash under the audit key, when one was configured as it
    /// was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
}

/// The secret of keyed integrity: read from a file, never stored with the trail, never
/// printed.
#[derive(Clone)]
pub struct AuditKey(Vec<u8>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(***)")
    }
}

impl AuditKey {
    /// The shortest key accepted, in bytes.
    pub const MIN_LEN: usize = 32;

    /// A key from the bytes of a key file (surrounding whitespace ignored).
    pub fn new(bytes: &[u8]) -> Result<AuditKey, String> {
        let text = bytes.trim_ascii();
        if text.len() < Self::MIN_LEN {
            return Err(format!(
                "the audit key is {} bytes; use at least {} random bytes (e.g. `openssl rand -hex 32`)",
                text.len(),
                Self::MIN_LEN
            ));
        }
        Ok(AuditKey(text.to_vec()))
    }

    /// The MAC of entry `seq` with hash `hash`.
    pub fn mac(&self, seq: u64, hash: &str) -> String {
        self.mac_with(b"turnstile.audit.mac/v1\0", seq, hash)
    }

    /// The MAC of the trail's head (its newest entry `seq` with hash `hash`): an entry's
    /// own MAC cannot show that entries after it were cut off and the head moved back;
    /// this one can, since nobody without the key can seal the shorter head.
    pub fn head_mac(&self, seq: u64, hash: &str) -> String {
        self.mac_with(b"turnstile.audit.head/v1\0", seq, hash)
    }

    fn mac_with(&self, domain: &[u8], seq: u64, hash: &str) -> String {
        use hmac::{Hmac, Mac};
        // HMAC takes a key of any length, so this cannot fail.
        let Ok(mut m) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return String::new();
        };
        m.update(domain);
        m.update(seq.to_string().as_bytes());
        m.update(b"\0");
        m.update(hash.as_bytes());
        hex(&m.finalize().into_bytes())
    }

    /// Whether `mac` seals the head (`seq`, `hash`).
    pub fn seals_head(&self, seq: u64, hash: &str, mac: Option<&str>) -> bool {
        mac.is_some_and(|m| m == self.head_mac(seq, hash))
    }
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

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// Chains a draft after `prev` (the last entry's sequence and hash), with its MAC when a
/// key is given.
pub fn chain(prev: Option<(u64, &str)>, draft: Draft, key: Option<&AuditKey>) -> Entry {
    let (seq, prev_hash) = match prev {
        Some((seq, hash)) => (seq + 1, hash.to_string()),
        None => (1, GENESIS.to_string()),
    };
    let hash = entry_hash(seq, &draft, &prev_hash);
    let mac = key.map(|k| k.mac(seq, &hash));
    Entry {
        seq,
        draft,
        prev_hash,
        hash,
        mac,
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
    #[error(
        "the trail is empty: a store in use always holds entries, so it was emptied, reset or replaced; restore it from backup and check it against the last head you shipped"
    )]
    Empty,
    #[error(
        "entry {seq}: its MAC does not match: it was rewritten by someone without the audit key (or the key is not the one it was written with)"
    )]
    BadMac { seq: u64 },
    #[error(
        "entry {seq}: it carries no MAC although entries before it do: the trail was rewritten from there on by someone without the audit key"
    )]
    MissingMac { seq: u64 },
    #[error(
        "no entry carries a MAC although an audit key is configured: the trail was rewritten without the key, or the key was configured after every entry was written"
    )]
    NoMac,
    #[error(
        "the trail no longer holds entry {seq} (it ends at entry {last}): entries were removed, or this is not the store the head was taken from"
    )]
    HeadGone { seq: u64, last: u64 },
    #[error(
        "the recorded newest entry {head} is not sealed with the audit key: entries were cut off the end and the head moved back by someone without the key (or the store was last written before heads were sealed, or without the key: the next entry written seals it, noting `audit.resealed`); compare with the head you last shipped off the host"
    )]
    HeadUnsealed { head: u64 },
    #[error(
        "entry {seq} no longer has the hash of the head you gave: the trail was rewritten (re-chained) since that head was taken"
    )]
    HeadDiffers { seq: u64 },
}

/// What a sound trail showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Entries checked.
    pub count: u64,
    /// The newest entry: the head to ship off the host.
    pub head: (u64, String),
    /// With a key: the first entry that carries a MAC (entries before it were written
    /// before a key was configured; their chain is bound by that entry's MAC).
    pub keyed_from: Option<u64>,
}

impl Verified {
    /// `head SEQ:HASH`, as `audit --verify` prints it.
    pub fn head_text(&self) -> String {
        format!("{}:{}", self.head.0, self.head.1)
    }
}

/// Parses `SEQ:HASH` as printed after `head`.
pub fn parse_head(text: &str) -> Result<(u64, String), String> {
    let (seq, hash) = text
        .trim()
        .split_once(':')
        .ok_or_else(|| format!("\"{text}\" is not SEQ:HASH (as `audit --verify` prints it)"))?;
    let seq: u64 = seq
        .parse()
        .map_err(|_| format!("\"{seq}\" is not an entry number"))?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "\"{hash}\" is not a SHA-256 in hex (64 characters)"
        ));
    }
    Ok((seq, hash.to_ascii_lowercase()))
}

/// Checks that the trail still holds entry `seq` with `hash`: a head shipped off the host
/// earlier, against truncation and re-chaining.
pub fn expect_head<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    (seq, hash): (u64, &str),
) -> Result<(), Break> {
    let mut last = 0;
    for e in entries {
        if e.seq == seq {
            return if e.hash == hash {
                Ok(())
            } else {
                Err(Break::HeadDiffers { seq })
            };
        }
        last = e.seq;
    }
    Err(Break::HeadGone { seq, last })
}

/// Checks a whole trail (in stored order) against its recorded head and, with a key,
/// each entry's MAC. An empty trail is a break: a store in use is never empty.
pub fn verify<'a>(
    entries: impl IntoIterator<Item = &'a Entry>,
    head: Option<(u64, &str)>,
    key: Option<&AuditKey>,
) -> Result<Verified, Break> {
    let mut prev: Option<&Entry> = None;
    let mut count = 0;
    let mut keyed_from = None;
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
        if let Some(key) = key {
            match &e.mac {
                Some(mac) if *mac == key.mac(e.seq, &e.hash) => {
                    keyed_from.get_or_insert(e.seq);
                }
                Some(_) => return Err(Break::BadMac { seq: e.seq }),
                None if keyed_from.is_some() => return Err(Break::MissingMac { seq: e.seq }),
                None => {}
            }
        }
        prev = Some(e);
        count += 1;
    }
    let Some(last) = prev else {
        return Err(Break::Empty);
    };
    if key.is_some() && keyed_from.is_none() {
        return Err(Break::NoMac);
    }
    match head {
        None => Err(Break::HeadMismatch { head: 0 }),
        Some((seq, _)) if seq > last.seq => Err(Break::Truncated {
            last: last.seq,
            head: seq,
        }),
        Some((seq, hash)) if seq != last.seq || last.hash != hash => {
            Err(Break::HeadMismatch { head: seq })
        }
        Some(_) => Ok(Verified {
            count,
            head: (last.seq, last.hash.clone()),
            keyed_from,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head's seal is the key's own, for that head only: another sequence number,
    /// hash or key, an entry's MAC in its place, or none at all, does not seal it.
    #[test]
    fn only_the_key_seals_its_head() {
        let key = AuditKey::new(&[7u8; 32]).unwrap();
        let other = AuditKey::new(&[8u8; 32]).unwrap();
        let seal = key.head_mac(5, "abc");
        assert_eq!(seal.len(), 64);
        assert!(seal.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(seal, key.head_mac(5, "abc"));
        assert!(key.seals_head(5, "abc", Some(&seal)));
        assert!(!key.seals_head(4, "abc", Some(&seal)));
        assert!(!key.seals_head(5, "abd", Some(&seal)));
        assert!(!key.seals_head(5, "abc", None));
        assert!(!other.seals_head(5, "abc", Some(&seal)));
        assert!(!key.seals_head(5, "abc", Some(&key.mac(5, "abc"))));
        assert_ne!(seal, other.head_mac(5, "abc"));
    }

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
            let e = chain(prev, draft(i), None);
            out.push(e);
        }
        out
    }

    fn head(t: &[Entry]) -> Option<(u64, &str)> {
        t.last().map(|e| (e.seq, e.hash.as_str()))
    }

    fn count(r: Result<Verified, Break>) -> Result<u64, Break> {
        r.map(|v| v.count)
    }

    #[test]
    fn an_intact_trail_verifies_and_an_empty_one_does_not() {
        let t = trail(5);
        let v = verify(&t, head(&t), None).unwrap();
        assert_eq!(v.count, 5);
        assert_eq!(v.head_text(), format!("5:{}", t[4].hash));
        assert_eq!(parse_head(&v.head_text()), Ok((5, t[4].hash.clone())));
        assert_eq!(verify(&[], None, None), Err(Break::Empty));
        assert_eq!(expect_head(&t, (3, &t[2].hash)), Ok(()));
        assert_eq!(
            expect_head(&t, (3, &t[3].hash)),
            Err(Break::HeadDiffers { seq: 3 })
        );
        assert_eq!(
            expect_head(&t[..2], (3, &t[2].hash)),
            Err(Break::HeadGone { seq: 3, last: 2 })
        );
        assert!(parse_head("5").is_err());
        assert!(parse_head("x:abc").is_err());
        // 64 characters that are not hex, and hex of the wrong length, are both refused.
        assert!(parse_head(&format!("5:{}", "z".repeat(64))).is_err());
        assert!(parse_head(&format!("5:{}", "a".repeat(63))).is_err());
    }

    fn keyed_trail(n: u64, key: &AuditKey, unkeyed: u64) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for i in 0..n {
            let prev = out.last().map(|e| (e.seq, e.hash.as_str()));
            out.push(chain(prev, draft(i), (i >= unkeyed).then_some(key)));
        }
        out
    }

    #[test]
    fn a_keyed_trail_cannot_be_rechained_without_the_key() {
        let key = AuditKey::new(&[7u8; 32]).unwrap();
        let other = AuditKey::new(&[8u8; 32]).unwrap();
        assert!(AuditKey::new(b"short").is_err());
        assert_eq!(
            format!("{key:?}"),
            "AuditKey(***)",
            "the key is never printed"
        );
        let t = keyed_trail(5, &key, 2);
        let v = verify(&t, head(&t), Some(&key)).unwrap();
        assert_eq!((v.count, v.keyed_from), (5, Some(3)));
        // Without the key, the chain alone still verifies.
        assert_eq!(count(verify(&t, head(&t), None)), Ok(5));
        assert_eq!(
            count(verify(&t, head(&t), Some(&other))),
            Err(Break::BadMac { seq: 3 })
        );
        // Re-chained from entry 2 on by a writer without the key: the hashes are all
        // consistent again, but the MACs are not.
        let mut forged = t.clone();
        forged[1].draft.reason = "forged".into();
        for i in 1..forged.len() {
            let prev = forged[i - 1].hash.clone();
            forged[i].prev_hash = prev;
            forged[i].hash = entry_hash(forged[i].seq, &forged[i].draft, &forged[i].prev_hash);
        }
        let h = head(&forged);
        assert_eq!(
            count(verify(&forged, h, None)),
            Ok(5),
            "a plain chain is fooled"
        );
        assert_eq!(
            count(verify(&forged, h, Some(&key))),
            Err(Break::BadMac { seq: 3 })
        );
        // Dropping the MACs from there on does not help, nor does dropping them all.
        let mut stripped = forged.clone();
        stripped[3].mac = None;
        stripped[4].mac = None;
        stripped[2].mac = Some(key.mac(3, &t[2].hash));
        assert!(verify(&stripped, h, Some(&key)).is_err());
        for e in &mut stripped {
            e.mac = None;
        }
        assert_eq!(count(verify(&stripped, h, Some(&key))), Err(Break::NoMac));
        // Entries after a keyed one must carry a MAC.
        let mut gap = t.clone();
        gap[4].mac = None;
        assert_eq!(
            count(verify(&gap, head(&gap), Some(&key))),
            Err(Break::MissingMac { seq: 5 })
        );
    }

    #[test]
    fn every_kind_of_tampering_is_found() {
        let t = trail(5);
        let h = head(&t).map(|(s, h)| (s, h.to_string()));
        let h = h.as_ref().map(|(s, h)| (*s, h.as_str()));

        let mut edited = t.clone();
        edited[2].draft.reason = "nothing to see".into();
        assert_eq!(
            count(verify(&edited, h, None)),
            Err(Break::Edited { seq: 3 })
        );

        let mut removed = t.clone();
        removed.remove(1);
        assert_eq!(
            count(verify(&removed, h, None)),
            Err(Break::Gap {
                seq: 3,
                expected: 2
            })
        );

        let mut swapped = t.clone();
        swapped.swap(1, 2);
        assert!(matches!(verify(&swapped, h, None), Err(Break::Gap { .. })));

        // Renumbered after a swap: the links no longer hold.
        let mut renumbered = t.clone();
        renumbered.swap(1, 2);
        renumbered[1].seq = 2;
        renumbered[2].seq = 3;
        assert_eq!(
            count(verify(&renumbered, h, None)),
            Err(Break::Unlinked { seq: 2 })
        );

        let truncated = &t[..4];
        assert_eq!(
            count(verify(truncated, h, None)),
            Err(Break::Truncated { last: 4, head: 5 })
        );

        // The newest entry rewritten and re-hashed: nothing follows it, but the stored
        // head still names the old hash.
        let mut newest = t.clone();
        newest[4].draft.reason = "forged".into();
        newest[4].hash = entry_hash(5, &newest[4].draft, &newest[4].prev_hash);
        assert_eq!(
            count(verify(&newest, h, None)),
            Err(Break::HeadMismatch { head: 5 })
        );

        // Rewriting an entry and re-hashing it breaks the link of the next one.
        let mut rehashed = t.clone();
        rehashed[2].draft.reason = "forged".into();
        rehashed[2].hash = entry_hash(3, &rehashed[2].draft, &rehashed[2].prev_hash);
        assert_eq!(
            count(verify(&rehashed, h, None)),
            Err(Break::Unlinked { seq: 4 })
        );
    }

    #[test]
    fn every_action_prints_as_one_of_its_listed_kinds() {
        let every = [
            Action::HrRecord,
            Action::HrReview,
            Action::HrRejected,
            Action::Change(crate::plan::Action::Grant {
                entitlement: "GG-Nursing".into(),
            }),
            Action::ReconcileHeld,
            Action::WorkItemConfirmed,
            Action::WorkItemCancelled,
            Action::WorkItemOverdue,
            Action::InactivityNotice,
            Action::InactivityApproved,
            Action::SponsorshipNotice,
            Action::HrLinked,
            Action::StarterWithdrawn,
            Action::PlanHeld,
            Action::PlanApproved,
            Action::PlanRejected,
            Action::ReviewAttested,
            Action::ReviewConflict,
            Action::ApplyStarted,
            Action::AccountMatched,
            Action::MatchDecided,
            Action::AccountLinked,
            Action::AccountUnlinked,
            Action::ExcessDecided,
            Action::ApiRead,
            Action::AuditResealed,
        ];
        let printed: Vec<String> = every
            .iter()
            .map(|a| {
                let text = a.to_string();
                match text.strip_prefix("change.") {
                    Some(_) => "change.<action>".to_string(),
                    None => text,
                }
            })
            .collect();
        assert_eq!(printed, Action::KINDS);
        assert_eq!(every[3].to_string(), "change.grant GG-Nursing");
        assert_eq!(Outcome::Applied.to_string(), "applied");
        assert_eq!(Outcome::DeadLettered.to_string(), "dead_lettered");
        let outcomes: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        let mut unique = outcomes.clone();
        unique.dedup();
        assert_eq!(unique.len(), Outcome::ALL.len());
    }
}
