//! What correlation found and what people decided about it: proposed and disputed
//! matches between people and existing accounts, the accounts a person said are not
//! theirs, and the accounts adopted (linked after the fact), whose entitlements granted
//! by hand wait for a decision.

use super::StoreError;
use crate::audit::Draft;
use crate::correlate::{Candidate, Situation};
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// Where a match stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatchStatus {
    /// Waiting for a person (a proposal or a dispute).
    Open,
    /// A person accepted it; the link is written next.
    Accepted,
    /// A person said the candidates are not the person's.
    Rejected,
    /// The account is linked (the anchor written).
    Linked,
    /// No longer needed: the person was linked another way, or needs no account now.
    Closed,
}

impl MatchStatus {
    pub const ALL: [MatchStatus; 5] = [
        MatchStatus::Open,
        MatchStatus::Accepted,
        MatchStatus::Rejected,
        MatchStatus::Linked,
        MatchStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MatchStatus::Open => "open",
            MatchStatus::Accepted => "accepted",
            MatchStatus::Rejected => "rejected",
            MatchStatus::Linked => "linked",
            MatchStatus::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<MatchStatus> {
        MatchStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One person's match on one system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountMatch {
    pub id: u64,
    pub system: String,
    pub employee_number: String,
    /// `strong` (a proposal) or `disputed`.
    pub situation: String,
    pub candidates: Vec<Candidate>,
    pub status: MatchStatus,
    /// The account accepted (or linked).
    pub account: Option<String>,
    pub found_at: Timestamp,
    pub decided_at: Option<Timestamp>,
    pub decided_by: Option<String>,
    pub note: Option<String>,
}

impl AccountMatch {
    /// `M-000012`, as people and the trail name it.
    pub fn reference(&self) -> String {
        reference(self.id)
    }

    /// As the CLI's `--format json` and the admin API show it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.reference(),
            "system": self.system,
            "employee_number": self.employee_number,
            "situation": self.situation,
            "status": self.status.as_str(),
            "candidates": self.candidates,
            "account": self.account,
            "found_at": self.found_at,
            "decided_at": self.decided_at,
            "decided_by": self.decided_by,
            "note": self.note,
        })
    }

    /// The candidate a proposal proposes: the strong one.
    pub fn proposed(&self) -> Option<&Candidate> {
        (self.situation == "strong")
            .then(|| self.candidates.iter().find(|c| c.strong))
            .flatten()
    }
}

pub fn reference(id: u64) -> String {
    format!("M-{id:06}")
}

/// `M-000012` or `12` as an id.
pub fn parse_reference(text: &str) -> Option<u64> {
    let t = text.trim();
    let digits = t
        .strip_prefix("M-")
        .or_else(|| t.strip_prefix("m-"))
        .unwrap_or(t);
    digits.parse().ok()
}

/// A person's decision on a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchDecision {
    /// This account is theirs.
    Accept { account: String },
    /// These accounts are not theirs (every candidate, unless narrowed).
    Reject {
        accounts: Vec<String>,
        reason: String,
    },
}

/// An account linked to a person after the fact (adopted): its entitlements granted by
/// hand are not revoked until `excess` says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adoption {
    pub system: String,
    pub account: String,
    pub employee_number: String,
    pub linked_at: Timestamp,
    /// The rules that matched, in words (`email, name + department`), or `anchor`.
    pub evidence: String,
    pub linked_by: String,
    pub excess: Excess,
    /// The entitlements it held when linked that no role granted: what `excess` is about.
    pub kept: Vec<String>,
}

/// What happens to an adopted account's entitlements the role model does not grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Excess {
    /// Kept and reported until a person decides.
    Undecided,
    /// A person approved revoking them: the next pass does.
    Revoke,
    /// A person chose to keep them (an access review decides later).
    Keep,
}

impl Excess {
    pub fn as_str(self) -> &'static str {
        match self {
            Excess::Undecided => "undecided",
            Excess::Revoke => "revoke",
            Excess::Keep => "keep",
        }
    }

    pub fn parse(text: &str) -> Option<Excess> {
        [Excess::Undecided, Excess::Revoke, Excess::Keep]
            .into_iter()
            .find(|e| e.as_str() == text)
    }
}

/// Correlation's state in the store.
pub trait Matches {
    /// Stores what correlation found for people with no account linked on `system`, in
    /// one transaction: for each, an open match is updated in place when its candidates
    /// changed, or a new one made, with its `account.matched` entry (the draft); one whose
    /// candidates are unchanged writes nothing. Returns how many were written.
    fn note_matches(
        &mut self,
        system: &str,
        found: Vec<(String, Situation, Draft)>,
    ) -> Result<usize, StoreError>;

    /// [`Matches::note_matches`] for one person: the match as it stands and whether
    /// anything was written.
    fn note_match(
        &mut self,
        system: &str,
        employee_number: &str,
        situation: &Situation,
        draft: Draft,
    ) -> Result<(AccountMatch, bool), StoreError> {
        let written = self.note_matches(
            system,
            vec![(employee_number.to_string(), situation.clone(), draft)],
        )?;
        let m = self
            .account_matches(Some(system), Some(MatchStatus::Open))?
            .into_iter()
            .find(|m| m.employee_number == employee_number)
            .ok_or_else(|| StoreError::Corrupt {
                key: format!("{system}/{employee_number}"),
                detail: "the match just written is not open".into(),
            })?;
        Ok((m, written > 0))
    }

    /// Matches, oldest first, optionally of one system and status.
    fn account_matches(
        &self,
        system: Option<&str>,
        status: Option<MatchStatus>,
    ) -> Result<Vec<AccountMatch>, StoreError>;

    fn account_match(&self, id: u64) -> Result<Option<AccountMatch>, StoreError>;

    /// A person's decision on an open match, with its `match.decided` entry, in one
    /// transaction. A rejection refuses the accounts for that person from now on.
    fn decide_match(
        &mut self,
        id: u64,
        decision: &MatchDecision,
        draft: Draft,
    ) -> Result<AccountMatch, StoreError>;

    /// Closes the open and accepted matches of `system` for people not in `still`
    /// (linked another way, or needing no account any more).
    fn close_matches(
        &mut self,
        system: &str,
        still: &BTreeSet<String>,
        at: Timestamp,
    ) -> Result<usize, StoreError>;

    /// Open matches counted by (system, situation), for the metrics: counted by the
    /// store, not read and decoded.
    fn open_match_counts(&self) -> Result<Vec<(String, String, usize)>, StoreError>;

    /// For each person, the accounts of `system` they were said not to own.
    fn refusals(&self, system: &str) -> Result<BTreeMap<String, BTreeSet<String>>, StoreError>;

    /// Records an account linked (its anchor written): the adoption, the person's match
    /// marked linked, and the `account.linked` entry, in one transaction.
    fn record_link(&mut self, adoption: &Adoption, draft: Draft) -> Result<(), StoreError>;

    /// Records a link undone: the adoption gone, the account refused for that person, and
    /// the `account.unlinked` entry.
    fn record_unlink(
        &mut self,
        system: &str,
        account: &str,
        employee_number: &str,
        draft: Draft,
    ) -> Result<(), StoreError>;

    /// The adopted accounts of `system`, by account name in lower case.
    fn adoptions(&self, system: &str) -> Result<BTreeMap<String, Adoption>, StoreError>;

    /// A person's decision on an adopted account's entitlements granted by hand.
    fn decide_excess(
        &mut self,
        system: &str,
        account: &str,
        excess: Excess,
        draft: Draft,
    ) -> Result<Adoption, StoreError>;
}
