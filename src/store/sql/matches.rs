//! [`Matches`] over the SQL layer: one implementation for SQLite and PostgreSQL.

use super::{Db, Row, SqlStore, Value, append, encode, one, time};
use crate::audit::Draft;
use crate::correlate::{Candidate, Situation};
use crate::store::StoreError;
use crate::store::matches::{
    AccountMatch, Adoption, Excess, MatchDecision, MatchStatus, Matches, reference,
};
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

const COLUMNS: &str = "id, system, employee_number, situation, candidates_json, status, account, found_at, decided_at, decided_by, note";

fn read_match(r: &Row) -> Result<AccountMatch, StoreError> {
    let id = r.int(0)? as u64;
    let json = r.text(4)?;
    let candidates: Vec<Candidate> =
        serde_json::from_str(&json).map_err(|e| StoreError::Corrupt {
            key: reference(id),
            detail: e.to_string(),
        })?;
    Ok(AccountMatch {
        id,
        system: r.text(1)?,
        employee_number: r.text(2)?,
        situation: r.text(3)?,
        candidates,
        status: MatchStatus::parse(&r.text(5)?).ok_or_else(|| StoreError::Corrupt {
            key: reference(id),
            detail: "unknown status".into(),
        })?,
        account: r.opt_text(6)?,
        found_at: time(r.opt_text(7)?).unwrap_or(Timestamp::UNIX_EPOCH),
        decided_at: time(r.opt_text(8)?),
        decided_by: r.opt_text(9)?,
        note: r.opt_text(10)?,
    })
}

fn by_id(db: &mut dyn Db, id: i64) -> Result<Option<AccountMatch>, StoreError> {
    one(
        db,
        &format!("SELECT {COLUMNS} FROM account_match WHERE id = ?1"),
        p![id],
    )?
    .as_ref()
    .map(read_match)
    .transpose()
}

fn read_adoption(r: &Row) -> Result<Adoption, StoreError> {
    Ok(Adoption {
        system: r.text(0)?,
        account: r.text(1)?,
        employee_number: r.text(2)?,
        linked_at: time(r.opt_text(3)?).unwrap_or(Timestamp::UNIX_EPOCH),
        evidence: r.text(4)?,
        linked_by: r.text(5)?,
        excess: Excess::parse(&r.text(6)?).unwrap_or(Excess::Undecided),
        kept: serde_json::from_str(&r.text(7)?).map_err(|e| StoreError::Corrupt {
            key: format!("adoption {}", r.text(1).unwrap_or_default()),
            detail: e.to_string(),
        })?,
    })
}

const ADOPTION_COLUMNS: &str =
    "system, account, employee_number, linked_at, evidence, linked_by, excess, kept_json";

impl<D: Db + 'static> Matches for SqlStore<D> {
    fn note_matches(
        &mut self,
        system: &str,
        found: Vec<(String, Situation, Draft)>,
    ) -> Result<usize, StoreError> {
        if found.is_empty() {
            return Ok(0);
        }
        self.write(|db, key| {
            let mut written = 0;
            let mut drafts = Vec::new();
            for (employee_number, situation, mut draft) in found {
                let candidates: Vec<Candidate> =
                    situation.candidates().into_iter().cloned().collect();
                let json = encode(&employee_number, &candidates)?;
                let kind = situation.name();
                let open = one(
                    db,
                    &format!(
                        "SELECT {COLUMNS} FROM account_match WHERE system = ?1 AND employee_number = ?2 AND status = 'open'"
                    ),
                    p![system, employee_number.as_str()],
                )?
                .as_ref()
                .map(read_match)
                .transpose()?;
                if let Some(m) = open {
                    if m.situation == kind && m.candidates == candidates {
                        continue;
                    }
                    db.execute(
                        "UPDATE account_match SET situation = ?2, candidates_json = ?3 WHERE id = ?1",
                        p![m.id as i64, kind, json.as_str()],
                    )?;
                    draft.reason =
                        format!("{}: candidates changed: {}", m.reference(), draft.reason);
                } else {
                    let id = one(
                        db,
                        "INSERT INTO account_match (system, employee_number, situation, candidates_json, status, found_at) VALUES (?1, ?2, ?3, ?4, 'open', ?5) RETURNING id",
                        p![
                            system,
                            employee_number.as_str(),
                            kind,
                            json.as_str(),
                            draft.at.to_string()
                        ],
                    )?
                    .ok_or_else(|| StoreError::Database("a new match was given no id".into()))?
                    .int(0)?;
                    draft.reason = format!("{}: {}", reference(id as u64), draft.reason);
                }
                drafts.push(draft);
                written += 1;
            }
            append(db, key, drafts)?;
            Ok(written)
        })
    }

    fn account_matches(
        &self,
        system: Option<&str>,
        status: Option<MatchStatus>,
    ) -> Result<Vec<AccountMatch>, StoreError> {
        self.read(|db| {
            db.query(
                &format!(
                    "SELECT {COLUMNS} FROM account_match WHERE (CAST(?1 AS TEXT) IS NULL OR system = ?1) AND (CAST(?2 AS TEXT) IS NULL OR status = ?2) ORDER BY id"
                ),
                p![system, status.map(MatchStatus::as_str)],
            )?
            .iter()
            .map(read_match)
            .collect()
        })
    }

    fn account_match(&self, id: u64) -> Result<Option<AccountMatch>, StoreError> {
        self.read(|db| by_id(db, id as i64))
    }

    fn decide_match(
        &mut self,
        id: u64,
        decision: &MatchDecision,
        mut draft: Draft,
    ) -> Result<AccountMatch, StoreError> {
        self.write(|db, key| {
            let m = by_id(db, id as i64)?.ok_or(StoreError::Refused(crate::store::Refusal::NoSuchMatch(id)))?;
            if m.status != MatchStatus::Open {
                return Err(StoreError::Refused(crate::store::Refusal::MatchDecided {
                    id,
                    status: m.status.as_str(),
                    by: m.decided_by.clone().unwrap_or_default(),
                }));
            }
            let at = draft.at.to_string();
            match decision {
                MatchDecision::Accept { account } => {
                    db.execute(
                        "UPDATE account_match SET status = 'accepted', account = ?2, decided_at = ?3, decided_by = ?4 WHERE id = ?1",
                        p![id as i64, account.as_str(), at.as_str(), draft.actor.as_str()],
                    )?;
                }
                MatchDecision::Reject { accounts, reason } => {
                    db.execute(
                        "UPDATE account_match SET status = 'rejected', decided_at = ?2, decided_by = ?3, note = ?4 WHERE id = ?1",
                        p![id as i64, at.as_str(), draft.actor.as_str(), reason.as_str()],
                    )?;
                    for a in accounts {
                        db.execute(
                            "INSERT INTO match_refusal (system, employee_number, account) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                            p![m.system.as_str(), m.employee_number.as_str(), a.as_str()],
                        )?;
                    }
                }
            }
            draft.reason = format!("{}: {}", m.reference(), draft.reason);
            append(db, key, vec![draft])?;
            by_id(db, id as i64)?.ok_or(StoreError::Refused(crate::store::Refusal::NoSuchMatch(id)))
        })
    }

    fn close_matches(
        &mut self,
        system: &str,
        still: &BTreeSet<String>,
        at: Timestamp,
    ) -> Result<usize, StoreError> {
        // Only the live ones, and only their keys: a pass on day one has 100,000.
        let gone: Vec<u64> = self.read(|db| {
            db.query(
                "SELECT id, employee_number FROM account_match WHERE system = ?1 AND status IN ('open', 'accepted')",
                p![system],
            )?
            .iter()
            .filter_map(|r| match (r.int(0), r.text(1)) {
                (Ok(id), Ok(n)) if !still.contains(&n) => Some(Ok(id as u64)),
                (Err(e), _) | (_, Err(e)) => Some(Err(e)),
                _ => None,
            })
            .collect::<Result<_, StoreError>>()
        })?;
        if gone.is_empty() {
            return Ok(0);
        }
        self.write(|db, _| {
            for id in &gone {
                db.execute(
                    "UPDATE account_match SET status = 'closed', decided_at = ?2, note = 'no longer needed: linked another way, or no account wanted now' WHERE id = ?1",
                    p![*id as i64, at.to_string()],
                )?;
            }
            Ok(gone.len())
        })
    }

    fn open_match_counts(&self) -> Result<Vec<(String, String, usize)>, StoreError> {
        self.read(|db| {
            db.query(
                "SELECT system, situation, count(*) FROM account_match WHERE status = 'open' GROUP BY system, situation ORDER BY system, situation",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, r.text(1)?, r.int(2)? as usize)))
            .collect()
        })
    }

    fn refusals(&self, system: &str) -> Result<BTreeMap<String, BTreeSet<String>>, StoreError> {
        self.read(|db| {
            let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for r in db.query(
                "SELECT employee_number, account FROM match_refusal WHERE system = ?1",
                p![system],
            )? {
                out.entry(r.text(0)?).or_default().insert(r.text(1)?);
            }
            Ok(out)
        })
    }

    fn record_link(&mut self, a: &Adoption, draft: Draft) -> Result<(), StoreError> {
        self.write(|db, key| {
            db.execute(
                "INSERT INTO adoption (system, account, employee_number, linked_at, evidence, linked_by, excess, kept_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (system, account) DO UPDATE SET employee_number = excluded.employee_number, linked_at = excluded.linked_at,
                     evidence = excluded.evidence, linked_by = excluded.linked_by, excess = excluded.excess, kept_json = excluded.kept_json",
                p![
                    a.system.as_str(),
                    a.account.to_lowercase(),
                    a.employee_number.as_str(),
                    a.linked_at.to_string(),
                    a.evidence.as_str(),
                    a.linked_by.as_str(),
                    a.excess.as_str(),
                    encode(&a.account, &a.kept)?
                ],
            )?;
            db.execute(
                "UPDATE account_match SET status = 'linked', account = ?3, decided_at = COALESCE(decided_at, ?4), decided_by = COALESCE(decided_by, ?5)
                 WHERE system = ?1 AND employee_number = ?2 AND status IN ('open', 'accepted')",
                p![
                    a.system.as_str(),
                    a.employee_number.as_str(),
                    a.account.as_str(),
                    a.linked_at.to_string(),
                    a.linked_by.as_str()
                ],
            )?;
            append(db, key, vec![draft])?;
            Ok(())
        })
    }

    fn record_unlink(
        &mut self,
        system: &str,
        account: &str,
        employee_number: &str,
        draft: Draft,
    ) -> Result<(), StoreError> {
        self.write(|db, key| {
            db.execute(
                "DELETE FROM adoption WHERE system = ?1 AND account = ?2",
                p![system, account.to_lowercase()],
            )?;
            db.execute(
                "INSERT INTO match_refusal (system, employee_number, account) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                p![system, employee_number, account],
            )?;
            append(db, key, vec![draft])?;
            Ok(())
        })
    }

    fn adoptions(&self, system: &str) -> Result<BTreeMap<String, Adoption>, StoreError> {
        self.read(|db| {
            db.query(
                &format!("SELECT {ADOPTION_COLUMNS} FROM adoption WHERE system = ?1"),
                p![system],
            )?
            .iter()
            .map(|r| read_adoption(r).map(|a| (a.account.clone(), a)))
            .collect()
        })
    }

    fn decide_excess(
        &mut self,
        system: &str,
        account: &str,
        excess: Excess,
        draft: Draft,
    ) -> Result<Adoption, StoreError> {
        self.write(|db, key| {
            let n = db.execute(
                "UPDATE adoption SET excess = ?3 WHERE system = ?1 AND account = ?2",
                p![system, account.to_lowercase(), excess.as_str()],
            )?;
            if n == 0 {
                return Err(StoreError::Refused(crate::store::Refusal::NotAdopted {
                    system: system.to_string(),
                    account: account.to_string(),
                }));
            }
            append(db, key, vec![draft])?;
            let row = one(
                db,
                &format!(
                    "SELECT {ADOPTION_COLUMNS} FROM adoption WHERE system = ?1 AND account = ?2"
                ),
                p![system, account.to_lowercase()],
            )?
            .ok_or_else(|| {
                StoreError::Refused(crate::store::Refusal::NotAdopted {
                    system: system.to_string(),
                    account: account.to_string(),
                })
            })?;
            read_adoption(&row)
        })
    }
}
