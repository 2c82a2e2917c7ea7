//! A person's decisions on what correlation found: accept a match (the link written now), reject it (never proposed again), undo a link, and what becomes of an adopted account's entitlements granted by hand.

use super::*;

/// Why a person's decision on a match could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The decision names something it cannot: exit 2, nothing changed.
    #[error("{0}")]
    Refused(String),
    #[error(
        "{system} cannot be changed now ({reason}); the decision is recorded and the next pass carries it out"
    )]
    Target { system: String, reason: String },
}
/// What accepting a match did.
#[derive(Debug)]
pub struct Accepted {
    pub account: String,
    /// The link was written now (else the next pass writes it).
    pub linked: bool,
    pub tally: crate::engine::apply::Tally,
    /// Entitlements it holds by hand that no role grants, kept until a person decides.
    pub kept: Vec<String>,
}
/// The `match.decided` entry of a person's decision on `m`.
pub(super) fn decision_draft(
    m: &crate::store::matches::AccountMatch,
    outcome: AuditOutcome,
    by: &str,
    at: Timestamp,
    account: Option<&str>,
    reason: String,
) -> Draft {
    Draft {
        at,
        actor: by.to_string(),
        employee_number: Some(m.employee_number.clone()),
        system: Some(m.system.clone()),
        account: account.map(str::to_string),
        action: AuditAction::MatchDecided.to_string(),
        outcome: outcome.to_string(),
        rule: Some(RULE.into()),
        event_id: None,
        reason,
    }
}
/// A person accepts an open match: `account` (one of its candidates; for a proposal the
/// strong one when not given) is theirs. The acceptance is recorded under `by`; then the
/// link is written at once, through the target's connector (the anchor, then what their
/// role grants, entitlements granted by hand kept), unless the target cannot take
/// changes now, when the next pass writes it. Nothing that takes access away is applied
/// here: that is the pass's, under the guard.
pub async fn accept(
    model: &RoleModel,
    store: &mut dyn Store,
    targets: &mut [crate::engine::targets::Target],
    id: u64,
    account: Option<&str>,
    by: &str,
    now: Timestamp,
) -> Result<Accepted, DecisionError> {
    use crate::store::matches::MatchDecision;
    let m = store
        .account_match(id)?
        .ok_or(StoreError::Refused(crate::store::Refusal::NoSuchMatch(id)))?;
    if m.status != MatchStatus::Open {
        return Err(StoreError::Refused(crate::store::Refusal::MatchDecided {
            id,
            status: m.status.as_str(),
            by: m.decided_by.clone().unwrap_or_default(),
        })
        .into());
    }
    let chosen = match account {
        Some(a) => m
            .candidates
            .iter()
            .find(|c| c.account.eq_ignore_ascii_case(a))
            .ok_or_else(|| {
                DecisionError::Refused(format!(
                    "{} has no candidate `{a}` (candidates: {}): a match is accepted only for an account it put forward",
                    m.reference(),
                    m.candidates.iter().map(|c| c.account.as_str()).collect::<Vec<_>>().join(", ")
                ))
            })?,
        None => m.proposed().ok_or_else(|| {
            DecisionError::Refused(format!(
                "{} is disputed ({} candidates): say which account is theirs with --account",
                m.reference(),
                m.candidates.len()
            ))
        })?,
    }
    .clone();
    let target = targets
        .iter_mut()
        .find(|t| t.system() == m.system)
        .ok_or_else(|| {
            DecisionError::Refused(format!(
                "{} is for `{}`, and no [targets.{}] is configured here: decide it where that target is configured",
                m.reference(),
                m.system,
                m.system
            ))
        })?;
    let stored = store.person(&m.employee_number)?.ok_or_else(|| {
        DecisionError::Refused(format!(
            "{}: employee {} has no HR record here any more; nothing to link",
            m.reference(),
            m.employee_number
        ))
    })?;
    store.decide_match(
        id,
        &MatchDecision::Accept {
            account: chosen.account.clone(),
        },
        decision_draft(
            &m,
            AuditOutcome::Approved,
            by,
            now,
            Some(&chosen.account),
            format!(
                "accepted by {by}: {} is theirs (matched by {})",
                chosen.account,
                chosen.evidence()
            ),
        ),
    )?;
    let mut outcome = Accepted {
        account: chosen.account.clone(),
        linked: false,
        tally: Default::default(),
        kept: Vec::new(),
    };
    let away = |target: &crate::engine::targets::Target, reason: String| DecisionError::Target {
        system: target.system().to_string(),
        reason,
    };
    if let Err(reason) = target.ready(now).await {
        return Err(away(target, reason));
    }
    let person = stored.event.person;
    let mut accounts = match target.connector.find_candidates(&person).await {
        Ok(a) => a,
        Err(e) => {
            target.failed(&e, now);
            return Err(away(target, e.to_string()));
        }
    };
    if !accounts
        .iter()
        .any(|a| a.id.eq_ignore_ascii_case(&chosen.account) && correlate::unlinked(a))
    {
        return Err(DecisionError::Refused(format!(
            "{}: {} is no longer an unlinked account on {} (deleted, renamed or linked to someone since); the acceptance is recorded, and the next pass asks again",
            m.reference(),
            chosen.account,
            m.system
        )));
    }
    let settings = target.correlation.clone();
    let naming = target.connector.naming();
    let abilities = target.connector.capabilities().abilities();
    let system = m.system.clone();
    let ctx = Ctx {
        model,
        system: &system,
        settings: &settings,
        naming: naming.as_ref(),
        abilities: &abilities,
        today: crate::clock::today(now),
        now,
        actor: by,
        dry_run: false,
        full: false,
    };
    // Planned as if a create were due: the acceptance turns it into the link.
    let mut planned = vec![(
        &person,
        vec![Change {
            system: system.clone(),
            employee_number: m.employee_number.clone(),
            account: None,
            action: Action::Create,
            rule: RULE.into(),
            reason: String::new(),
        }],
    )];
    let (_, links) = before_creates(&ctx, store, &mut accounts, &mut planned)?;
    let Some((_, changes)) = planned.pop() else {
        return Ok(outcome);
    };
    let changes: Vec<Change> = changes
        .into_iter()
        .filter(|c| !c.action.takes_access())
        .collect();
    let event_id = stored.event.event_id.as_str().to_string();
    let result = crate::engine::apply::apply_person(
        target.connector.as_ref(),
        store,
        &person,
        &changes,
        crate::engine::apply::By {
            at: now,
            actor: by,
            event_id: Some(&event_id),
            due_days: target.due_days,
        },
    )
    .await;
    match result {
        Ok(t) => {
            outcome.tally = t;
            let anchored = t.failed == 0 && t.skipped == 0;
            outcome.kept = links
                .first()
                .map(|l| l.adoption.kept.clone())
                .unwrap_or_default();
            outcome.linked = record_links(store, links, &|_| anchored, now, by)? > 0;
            Ok(outcome)
        }
        Err(crate::engine::apply::ApplyError::Target(e)) => {
            target.failed(&e, now);
            Err(away(target, e.to_string()))
        }
        Err(crate::engine::apply::ApplyError::Store(e)) => Err(e.into()),
    }
}
/// A person rejects an open match: `accounts` (default: every candidate) are not theirs,
/// and are never put forward for them again. With no candidate left, the next pass may
/// create an account for them (under the guard on creates).
pub fn reject(
    store: &mut dyn Store,
    id: u64,
    accounts: &[String],
    by: &str,
    reason: &str,
    now: Timestamp,
) -> Result<crate::store::matches::AccountMatch, DecisionError> {
    use crate::store::matches::MatchDecision;
    let m = store
        .account_match(id)?
        .ok_or(StoreError::Refused(crate::store::Refusal::NoSuchMatch(id)))?;
    let refused: Vec<String> = if accounts.is_empty() {
        m.candidates.iter().map(|c| c.account.clone()).collect()
    } else {
        for a in accounts {
            if !m
                .candidates
                .iter()
                .any(|c| c.account.eq_ignore_ascii_case(a))
            {
                return Err(DecisionError::Refused(format!(
                    "{} has no candidate `{a}`: only the accounts it put forward can be rejected",
                    m.reference()
                )));
            }
        }
        accounts.to_vec()
    };
    let draft = decision_draft(
        &m,
        AuditOutcome::Rejected,
        by,
        now,
        None,
        format!(
            "rejected by {by}: {} not theirs: {reason}",
            refused.join(", ")
        ),
    );
    Ok(store.decide_match(
        id,
        &MatchDecision::Reject {
            accounts: refused,
            reason: reason.to_string(),
        },
        draft,
    )?)
}
/// Undoes a link: the anchor taken off `account` on its target, the adoption forgotten,
/// the account refused for that person (so it is not proposed again), `account.unlinked`
/// recorded. The person may then get an account of their own (under the guard).
pub async fn unlink(
    store: &mut dyn Store,
    targets: &mut [crate::engine::targets::Target],
    system: &str,
    account: &str,
    by: &str,
    reason: &str,
    now: Timestamp,
) -> Result<String, DecisionError> {
    let target = targets
        .iter_mut()
        .find(|t| t.system() == system)
        .ok_or_else(|| {
            DecisionError::Refused(format!("no [targets.{system}] is configured here"))
        })?;
    if let Err(reason) = target.ready(now).await {
        return Err(DecisionError::Target {
            system: system.to_string(),
            reason,
        });
    }
    let accounts = match target.connector.read_accounts().await {
        Ok(a) => a,
        Err(e) => {
            target.failed(&e, now);
            return Err(DecisionError::Target {
                system: system.to_string(),
                reason: e.to_string(),
            });
        }
    };
    let Some(found) = accounts.iter().find(|a| a.id.eq_ignore_ascii_case(account)) else {
        return Err(DecisionError::Refused(format!(
            "{system} has no account `{account}`"
        )));
    };
    let Some(number) = found
        .employee_number
        .clone()
        .filter(|n| !n.trim().is_empty())
    else {
        return Err(DecisionError::Refused(format!(
            "{system} account {account} is not linked to anyone: nothing to undo"
        )));
    };
    let person = match store.person(&number)? {
        Some(p) => p.event.person,
        None => {
            return Err(DecisionError::Refused(format!(
                "{system} account {account} is linked to {number}, who has no HR record here; clear the anchor on the target itself"
            )));
        }
    };
    let change = Change {
        system: system.to_string(),
        employee_number: number.clone(),
        account: Some(found.id.clone()),
        action: Action::Update {
            attribute: plan::ANCHOR.to_string(),
            value: String::new(),
        },
        rule: RULE.into(),
        reason: format!("link undone by {by}: {reason}"),
    };
    let t = crate::engine::apply::apply_person(
        target.connector.as_ref(),
        store,
        &person,
        std::slice::from_ref(&change),
        crate::engine::apply::By {
            at: now,
            actor: by,
            event_id: None,
            due_days: target.due_days,
        },
    )
    .await
    .map_err(|e| match e {
        crate::engine::apply::ApplyError::Target(e) => DecisionError::Target {
            system: system.to_string(),
            reason: e.to_string(),
        },
        crate::engine::apply::ApplyError::Store(e) => e.into(),
    })?;
    if t.failed > 0 {
        return Err(DecisionError::Target {
            system: system.to_string(),
            reason: "the anchor could not be taken off (see `turnstile audit`)".into(),
        });
    }
    store.record_unlink(
        system,
        &found.id,
        &number,
        Draft {
            at: now,
            actor: by.to_string(),
            employee_number: Some(number.clone()),
            system: Some(system.to_string()),
            account: Some(found.id.clone()),
            action: AuditAction::AccountUnlinked.to_string(),
            outcome: AuditOutcome::Applied.to_string(),
            rule: Some(RULE.into()),
            event_id: None,
            reason: format!("unlinked by {by}: {reason}; not proposed for them again"),
        },
    )?;
    Ok(number)
}
/// A person's decision on an adopted account's entitlements granted by hand: `revoke`
/// lets the next pass revoke them; keep leaves them for an access review.
pub fn decide_excess(
    store: &mut dyn Store,
    system: &str,
    account: &str,
    revoke: bool,
    by: &str,
    reason: &str,
    now: Timestamp,
) -> Result<Adoption, DecisionError> {
    let adopted = store.adoptions(system)?;
    let a = adopted.get(&account.to_lowercase()).ok_or_else(|| {
        DecisionError::Refused(
            StoreError::Refused(crate::store::Refusal::NotAdopted {
                system: system.to_string(),
                account: account.to_string(),
            })
            .to_string(),
        )
    })?;
    let (excess, words) = if revoke {
        (Excess::Revoke, "approved revoking")
    } else {
        (Excess::Keep, "kept")
    };
    Ok(store.decide_excess(
        system,
        account,
        excess,
        Draft {
            at: now,
            actor: by.to_string(),
            employee_number: Some(a.employee_number.clone()),
            system: Some(system.to_string()),
            account: Some(a.account.clone()),
            action: AuditAction::ExcessDecided.to_string(),
            outcome: if revoke {
                AuditOutcome::Approved
            } else {
                AuditOutcome::Rejected
            }
            .to_string(),
            rule: Some(RULE.into()),
            event_id: None,
            reason: format!(
                "{by} {words} the entitlements it held by hand when linked ({}): {reason}",
                if a.kept.is_empty() {
                    "none".to_string()
                } else {
                    a.kept.join(", ")
                }
            ),
        },
    )?)
}
