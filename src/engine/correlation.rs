//! Correlation in the engine's pass: before any create, find the accounts people already
//! have ([`crate::correlate`] decides; this module reads and writes what it needs).
//!
//! - A person whose plan on a system starts with a create is correlated against the
//!   system's unlinked accounts. No candidate: the create goes ahead. A strong candidate
//!   on a target with `adopt = "auto"`, or a match a person accepted: the account is
//!   linked (the anchor written onto it, then planned as theirs). Otherwise the match is
//!   stored (`turnstile matches`) and nothing is created or changed for that person on
//!   that system until someone decides.
//! - An adopted account keeps the entitlements it held when it was linked that no role
//!   grants, until a person decides (`turnstile matches excess`), or the target says
//!   `revoke_unmanaged_after_adoption = true`.
//!
//! It never creates, and never links an account to a second person.

use crate::account::Account;
use crate::audit::{Action as AuditAction, Draft, Outcome as AuditOutcome};
use crate::correlate::{self, Candidate, Decision, Index, Settings, Situation};
use crate::hr::Person;
use crate::naming::Naming;
use crate::plan::{self, Action, Change};
use crate::policy::RoleModel;
use crate::store::matches::{Adoption, Excess, MatchStatus};
use crate::store::{Store, StoreError};
use jiff::Timestamp;
use jiff::civil::Date;
use std::collections::{BTreeMap, BTreeSet};

mod decisions;

pub use decisions::*;

/// The rule name a link's anchor change carries in the trail.
pub const RULE: &str = "correlation";

/// What correlation did on one target in one pass.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Found {
    /// People correlated (no account linked, a create planned).
    pub looked: usize,
    /// People with no candidate: their create goes ahead.
    pub no_candidate: usize,
    /// Accounts linked in this pass (adopted automatically, or accepted earlier): their
    /// anchor change is planned.
    pub linked: usize,
    /// People with a strong match waiting for a person's acceptance.
    pub proposed: usize,
    /// People with several or only weak candidates.
    pub disputed: usize,
    /// Revokes of entitlements granted by hand on adopted accounts, kept for a decision.
    pub kept: usize,
}

/// A link about to be made: recorded (adoption and `account.linked`) once its anchor
/// change is applied.
#[derive(Debug, Clone)]
pub struct PendingLink {
    pub adoption: Adoption,
    pub reason: String,
}

/// What one pass brings to correlation on one target.
pub struct Ctx<'a> {
    pub model: &'a RoleModel,
    pub system: &'a str,
    pub settings: &'a Settings,
    pub naming: Option<&'a Naming>,
    pub abilities: &'a plan::Abilities,
    pub today: Date,
    pub now: Timestamp,
    pub actor: &'a str,
    /// Read and plan; write nothing.
    pub dry_run: bool,
    /// `accounts` is the target's whole read: matches of people not correlated in this
    /// pass are closed (they were linked another way, or need no account now).
    pub full: bool,
}

/// The change that writes a person's anchor onto an existing account.
pub fn link_change(system: &str, account: &str, employee_number: &str, why: &str) -> Change {
    Change {
        system: system.to_string(),
        employee_number: employee_number.to_string(),
        account: Some(account.to_string()),
        action: Action::Update {
            attribute: plan::ANCHOR.to_string(),
            value: employee_number.to_string(),
        },
        rule: RULE.into(),
        reason: format!("their existing account, linked: {why}"),
    }
}

/// What an account just linked to `person` needs, planned once: the changes, and the
/// entitlements it holds that no role grants there (the system manages them), which
/// adoption keeps until a person decides unless the target revokes them at once.
fn plan_adopted(ctx: &Ctx<'_>, person: &Person, account: &Account) -> (Vec<Change>, Vec<String>) {
    let mine = [account];
    let planned = plan::plan_for_target(
        ctx.model,
        person,
        &mine,
        ctx.today,
        ctx.system,
        ctx.abilities,
    );
    let kept: Vec<String> = planned
        .iter()
        .filter_map(|c| match &c.action {
            Action::Revoke { entitlement } => Some(entitlement.clone()),
            _ => None,
        })
        .collect();
    if ctx.settings.revoke_unmanaged_after_adoption {
        return (planned, Vec::new());
    }
    let changes = planned
        .into_iter()
        .filter(|c| !matches!(c.action, Action::Revoke { .. }))
        .collect();
    (changes, kept)
}

/// Correlation's part of a pass on one target, for the reconcile pass and the daemon's
/// per-event path alike: [`before_creates`], then the adopted accounts' entitlements
/// granted by hand kept out of the plan ([`keep_excess`]).
pub fn prepare(
    ctx: &Ctx<'_>,
    store: &mut dyn Store,
    accounts: &mut [Account],
    planned: &mut Vec<(&Person, Vec<Change>)>,
) -> Result<(Found, Vec<PendingLink>), StoreError> {
    let (mut found, links) = before_creates(ctx, store, accounts, planned)?;
    found.kept += keep_excess(store, ctx.system, ctx.settings, planned)?;
    planned.retain(|(_, c)| !c.is_empty());
    Ok((found, links))
}

/// Correlates the people in `planned` whose changes on this system start from a create,
/// against the unlinked accounts in `accounts`; rewrites or removes their changes as
/// [`Decision`] says, and stores matches. Returns what it found and the links to record
/// once their anchor changes are applied.
pub fn before_creates<'p>(
    ctx: &Ctx<'_>,
    store: &mut dyn Store,
    accounts: &mut [Account],
    planned: &mut Vec<(&'p Person, Vec<Change>)>,
) -> Result<(Found, Vec<PendingLink>), StoreError> {
    let mut found = Found::default();
    let mut links = Vec::new();
    if !ctx.settings.enabled() {
        return Ok((found, links));
    }
    let creating: Vec<&'p Person> = planned
        .iter()
        .filter(|(_, c)| c.iter().any(|c| c.action == Action::Create))
        .map(|(p, _)| *p)
        .collect();
    // People waiting for a decision (proposed or disputed) in this pass.
    let mut waiting: BTreeSet<String> = BTreeSet::new();
    if !creating.is_empty() {
        let accepted: BTreeMap<String, String> = store
            .account_matches(Some(ctx.system), Some(MatchStatus::Accepted))?
            .into_iter()
            .filter_map(|m| Some((m.employee_number, m.account?)))
            .collect();
        let refused = store.refusals(ctx.system)?;
        let mut situations = correlate::correlate(
            &Index::new(accounts, ctx.settings, ctx.naming),
            &creating,
            &refused,
            crate::workers(),
        );
        // One account is never linked twice in a pass, even by an acceptance.
        let mut taken: BTreeSet<String> = BTreeSet::new();
        let mut notes = Vec::new();
        // Where each person's changes are, and who waits for a decision: looked up and
        // taken out once, not by a scan per person (100,000 people on day one).
        let at: BTreeMap<String, usize> = planned
            .iter()
            .enumerate()
            .map(|(i, (p, _))| (p.employee_number.to_string(), i))
            .collect();
        let mut replaced: Vec<(usize, Vec<Change>)> = Vec::new();
        // Accounts by name (lower case), for the links: made only when there is one.
        let wants_links = ctx.settings.adopt == correlate::Adopt::Auto || !accepted.is_empty();
        let by_id: BTreeMap<String, usize> = if wants_links {
            accounts
                .iter()
                .enumerate()
                .map(|(i, a)| (a.id.to_ascii_lowercase(), i))
                .collect()
        } else {
            BTreeMap::new()
        };
        for person in creating {
            let number = person.employee_number.as_str();
            let Some(situation) = situations.remove(number) else {
                continue;
            };
            found.looked += 1;
            let decision = match accepted.get(number) {
                Some(account) => match by_id
                    .get(&account.to_ascii_lowercase())
                    .and_then(|i| accounts.get(*i))
                    .filter(|a| correlate::unlinked(a))
                {
                    Some(a) => {
                        let evidence = situation
                            .candidates()
                            .into_iter()
                            .find(|c| c.account.eq_ignore_ascii_case(&a.id))
                            .cloned()
                            .unwrap_or(Candidate {
                                account: a.id.clone(),
                                rules: Vec::new(),
                                narrowed_by: Vec::new(),
                                strong: false,
                            });
                        Decision::Link(evidence)
                    }
                    // The accepted account is gone or someone else's now: ask again.
                    None => correlate::decide(situation, ctx.settings.adopt),
                },
                None => correlate::decide(situation, ctx.settings.adopt),
            };
            let decision = match decision {
                Decision::Link(c) if !taken.insert(c.account.to_ascii_lowercase()) => {
                    Decision::Dispute(vec![c])
                }
                d => d,
            };
            match decision {
                Decision::Create => found.no_candidate += 1,
                Decision::Link(candidate) => {
                    let by = match accepted.get(number) {
                        Some(_) => "accepted by a person (turnstile matches accept)".to_string(),
                        None => format!(
                            "adopted by itself ([targets.{}.correlation] adopt = \"auto\")",
                            ctx.system
                        ),
                    };
                    let evidence = candidate.evidence();
                    let Some(account) = by_id
                        .get(&candidate.account.to_ascii_lowercase())
                        .and_then(|i| accounts.get_mut(*i))
                    else {
                        continue;
                    };
                    account.employee_number = Some(number.to_string());
                    let (planned_here, kept) = plan_adopted(ctx, person, account);
                    let why = format!("matched by {evidence}; {by}");
                    let mut changes = vec![link_change(ctx.system, &account.id, number, &why)];
                    changes.extend(planned_here);
                    found.kept += kept.len();
                    found.linked += 1;
                    links.push(PendingLink {
                        adoption: Adoption {
                            system: ctx.system.to_string(),
                            account: account.id.clone(),
                            employee_number: number.to_string(),
                            linked_at: ctx.now,
                            evidence,
                            linked_by: ctx.actor.to_string(),
                            excess: if ctx.settings.revoke_unmanaged_after_adoption {
                                Excess::Revoke
                            } else {
                                Excess::Undecided
                            },
                            kept,
                        },
                        reason: why,
                    });
                    if let Some(i) = at.get(number) {
                        replaced.push((*i, changes));
                    }
                }
                Decision::Propose(candidate, others) => {
                    found.proposed += 1;
                    let s = Situation::Strong { candidate, others };
                    notes.push(note(ctx, number, s));
                    waiting.insert(number.to_string());
                }
                Decision::Dispute(candidates) => {
                    found.disputed += 1;
                    let s = Situation::Disputed { candidates };
                    notes.push(note(ctx, number, s));
                    waiting.insert(number.to_string());
                }
            }
        }
        for (i, changes) in replaced {
            if let Some((_, c)) = planned.get_mut(i) {
                *c = changes;
            }
        }
        if !waiting.is_empty() {
            planned.retain(|(p, _)| !waiting.contains(p.employee_number.as_str()));
        }
        if !ctx.dry_run {
            store.note_matches(ctx.system, notes)?;
        }
    }
    if ctx.full && !ctx.dry_run {
        // Those waiting and those linked now keep their matches; the rest that no pass
        // asked about are done.
        let mut still = waiting;
        still.extend(links.iter().map(|l| l.adoption.employee_number.clone()));
        store.close_matches(ctx.system, &still, ctx.now)?;
    }
    Ok((found, links))
}

/// A match to store, with its `account.matched` entry.
fn note(ctx: &Ctx<'_>, number: &str, s: Situation) -> (String, Situation, Draft) {
    let words: Vec<String> = s
        .candidates()
        .iter()
        .map(|c| format!("{} ({})", c.account, c.evidence()))
        .collect();
    let reason = match s {
        Situation::Strong { .. } => format!(
            "a strong match was found and nothing was created: {}; accept with `turnstile matches accept`",
            words.join(", ")
        ),
        _ => format!(
            "several or only weak candidates were found and nothing was created: {}; a person decides with `turnstile matches`",
            words.join(", ")
        ),
    };
    let draft = Draft {
        at: ctx.now,
        actor: ctx.actor.to_string(),
        employee_number: Some(number.to_string()),
        system: Some(ctx.system.to_string()),
        account: None,
        action: AuditAction::AccountMatched.to_string(),
        outcome: AuditOutcome::Held.to_string(),
        rule: Some(RULE.into()),
        event_id: None,
        reason,
    };
    (number.to_string(), s, draft)
}

/// Records each link whose anchor change was applied: the adoption and `account.linked`
/// (with the rule that matched and who approved it).
pub fn record_links(
    store: &mut dyn Store,
    links: Vec<PendingLink>,
    applied: &dyn Fn(&str) -> bool,
    at: Timestamp,
    actor: &str,
) -> Result<usize, StoreError> {
    let mut n = 0;
    for link in links {
        if !applied(&link.adoption.employee_number) {
            continue;
        }
        let kept = &link.adoption.kept;
        let reason = if kept.is_empty() {
            link.reason.clone()
        } else {
            format!(
                "{}; entitlements it held that no role grants are kept until a person decides: {}",
                link.reason,
                kept.join(", ")
            )
        };
        store.record_link(
            &link.adoption,
            Draft {
                at,
                actor: actor.to_string(),
                employee_number: Some(link.adoption.employee_number.clone()),
                system: Some(link.adoption.system.clone()),
                account: Some(link.adoption.account.clone()),
                action: AuditAction::AccountLinked.to_string(),
                outcome: AuditOutcome::Applied.to_string(),
                rule: Some(RULE.into()),
                event_id: None,
                reason,
            },
        )?;
        n += 1;
    }
    Ok(n)
}

/// Takes out of `planned` the revokes of entitlements an adopted account held by hand
/// when it was linked, unless a person approved revoking them or the target revokes
/// unmanaged entitlements after adoption. Returns how many were kept.
fn keep_excess(
    store: &dyn Store,
    system: &str,
    settings: &Settings,
    planned: &mut [(&Person, Vec<Change>)],
) -> Result<usize, StoreError> {
    let revokes = planned
        .iter()
        .any(|(_, c)| c.iter().any(|c| matches!(c.action, Action::Revoke { .. })));
    if settings.revoke_unmanaged_after_adoption || !revokes {
        return Ok(0);
    }
    let adopted = store.adoptions(system)?;
    if adopted.is_empty() {
        return Ok(0);
    }
    let mut kept = 0;
    for (_, changes) in planned.iter_mut() {
        changes.retain(|c| {
            let keep = match (&c.action, c.account.as_deref()) {
                (Action::Revoke { entitlement }, Some(account)) => adopted
                    .get(&account.to_lowercase())
                    .is_some_and(|a| a.excess != Excess::Revoke && a.kept.contains(entitlement)),
                _ => false,
            };
            kept += usize::from(keep);
            !keep
        });
    }
    Ok(kept)
}
