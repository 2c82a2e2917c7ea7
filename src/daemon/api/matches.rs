//! The admin API's matches: what correlation found before creating (proposals and
//! disputes), and an operator's decision on each, through the engine like the CLI's
//! `turnstile matches`.

use super::{Ctx, Peer, Problem, Role, json, problem, read, store_error, with_store, with_targets};
use crate::engine::correlation::DecisionError;
use crate::store::matches::{MatchStatus, parse_reference};
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

fn match_id(text: &str) -> Result<u64, Problem> {
    parse_reference(text).ok_or_else(|| {
        problem(
            StatusCode::BAD_REQUEST,
            &format!("`{text}` is not a match's id (12 or M-000012)"),
        )
    })
}

fn decision_error(e: DecisionError) -> Problem {
    match e {
        DecisionError::Refused(_) => problem(StatusCode::CONFLICT, &e.to_string()),
        DecisionError::Store(e) => store_error(e),
        DecisionError::Target { .. } => problem(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

/// `GET /api/v1/matches?system=ad&status=open` (status: open by default, or `all`).
pub async fn list(
    State(api): State<super::Api>,
    ConnectInfo(addr): ConnectInfo<Peer>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let (mut system, mut status) = (None, Some(MatchStatus::Open));
    for pair in query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=') {
            Some(("system", v)) if !v.is_empty() => system = Some(v.to_string()),
            Some(("status", "all")) => status = None,
            Some(("status", v)) => {
                status = Some(MatchStatus::parse(v).ok_or_else(|| {
                    problem(
                        StatusCode::BAD_REQUEST,
                        "status: open, accepted, rejected, linked, closed or all",
                    )
                })?)
            }
            _ => {
                return Err(problem(
                    StatusCode::BAD_REQUEST,
                    "query: system=<id> and status=<open|accepted|rejected|linked|closed|all> only",
                ));
            }
        }
    }
    read((State(api), ConnectInfo(addr), headers), move |store| {
        let all = store
            .account_matches(system.as_deref(), status)
            .map_err(store_error)?;
        Ok(serde_json::Value::Array(
            all.iter().map(|m| m.to_json()).collect(),
        ))
    })
    .await
}

pub async fn one(
    State(api): State<super::Api>,
    ConnectInfo(addr): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = match_id(&id)?;
    let ctx: Ctx = (State(api), ConnectInfo(addr), headers);
    read(ctx, move |store| {
        store
            .account_match(id)
            .map_err(store_error)?
            .map(|m| m.to_json())
            .ok_or_else(|| problem(StatusCode::NOT_FOUND, &format!("no match M-{id:06}")))
    })
    .await
}

/// `POST /api/v1/matches/{id}/accept` with `{}` or `{"account": "jsmith"}` (a dispute
/// needs the account named): the link is written now, as `matches accept` does.
pub async fn accept(
    State(api): State<super::Api>,
    ConnectInfo(addr): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Body,
) -> Result<Response, Problem> {
    let name = api.authorise(&headers, addr.0.ip(), Role::Operator)?;
    let body = super::read_body(body).await?;
    let id = match_id(&id)?;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        account: Option<String>,
    }
    let body: Body = if body.is_empty() {
        Body { account: None }
    } else {
        serde_json::from_slice(&body).map_err(|_| {
            problem(
                StatusCode::BAD_REQUEST,
                "send {} or {\"account\": \"name\"} (for a dispute, the candidate that is theirs)",
            )
        })?
    };
    let by = format!("{name} (admin API)");
    let a = with_targets(&api, move |model, store, targets, runtime| {
        runtime
            .block_on(crate::engine::correlation::accept(
                model,
                store,
                targets,
                id,
                body.account.as_deref(),
                &by,
                crate::now(),
            ))
            .map_err(decision_error)
    })
    .await?;
    tracing::info!(id, by = %name, account = %a.account, "admin API: match accepted");
    Ok(json(&serde_json::json!({
        "id": crate::store::matches::reference(id),
        "account": a.account,
        "linked": a.linked,
        "applied": a.tally.applied,
        "failed": a.tally.failed,
        "kept": a.kept,
    })))
}

/// `POST /api/v1/matches/{id}/reject` with `{"reason": "…"}` and optionally
/// `"accounts": [..]` (default: every candidate).
pub async fn reject(
    State(api): State<super::Api>,
    ConnectInfo(addr): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Body,
) -> Result<Response, Problem> {
    let name = api.authorise(&headers, addr.0.ip(), Role::Operator)?;
    let body = super::read_body(body).await?;
    let id = match_id(&id)?;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        reason: String,
        #[serde(default)]
        accounts: Vec<String>,
    }
    let body = match serde_json::from_slice::<Body>(&body) {
        Ok(b) if !b.reason.trim().is_empty() && !b.reason.chars().any(char::is_control) => b,
        _ => {
            return Err(problem(
                StatusCode::BAD_REQUEST,
                "send {\"reason\": \"why\"} (one line), with \"accounts\": [...] to reject only some candidates",
            ));
        }
    };
    let by = format!("{name} (admin API)");
    with_store(&api, move |store| {
        let m = crate::engine::correlation::reject(
            store,
            id,
            &body.accounts,
            &by,
            body.reason.trim(),
            crate::now(),
        )
        .map_err(decision_error)?;
        Ok(json(&m.to_json()))
    })
    .await
}
