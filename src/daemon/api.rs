//! The admin API (`schemas/admin-api.openapi.yaml`), served by `turnstile run` beside
//! `/healthz` and `/readyz`: people, held plans (approve, reject), pending work (retry),
//! work items, quarantined targets and the audit trail's verification.
//!
//! Every route but the two health checks needs a bearer token. Tokens are listed in
//! `[daemon] tokens_file` by their SHA-256 only (the token itself is never stored), each
//! with a name and a role: `viewer` reads, `operator` also retries, `approver` also
//! approves and rejects held plans (recorded under the token's name). A client address
//! that fails authentication `max_failed_auth_per_minute` times is answered 429 until the
//! minute is over. A failure is logged with the client's address and never the token.

use super::admin::Shared;
use crate::config::Config;
use crate::policy::RoleModel;
pub use crate::tokens::{Role, Tokens, new_token};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path as FsPath;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failed authentications per client address in the current minute.
#[derive(Default)]
struct Limiter(HashMap<IpAddr, (u32, Instant)>);

const WINDOW: Duration = Duration::from_secs(60);

/// The most addresses the failed-authentication count keeps.
const LIMITER_CAP: usize = 10_000;

impl Limiter {
    /// Seconds to wait when `ip` is over the limit.
    fn blocked(&mut self, ip: IpAddr, max: u32) -> Option<u64> {
        let (n, since) = *self.0.get(&ip)?;
        let elapsed = since.elapsed();
        if elapsed >= WINDOW {
            self.0.remove(&ip);
            return None;
        }
        (n >= max).then(|| (WINDOW - elapsed).as_secs().max(1))
    }

    fn failed(&mut self, ip: IpAddr) {
        // Bounded whatever the traffic: old windows go first, then (a flood from more
        // addresses than that within one window) the oldest window still open.
        if self.0.len() >= LIMITER_CAP && !self.0.contains_key(&ip) {
            self.0.retain(|_, (_, since)| since.elapsed() < WINDOW);
            if self.0.len() >= LIMITER_CAP
                && let Some(oldest) = self
                    .0
                    .iter()
                    .min_by_key(|(_, (_, since))| *since)
                    .map(|(ip, _)| *ip)
            {
                self.0.remove(&oldest);
            }
        }
        let e = self.0.entry(ip).or_insert((0, Instant::now()));
        if e.1.elapsed() >= WINDOW {
            *e = (0, Instant::now());
        }
        e.0 += 1;
    }
}

/// What the API handlers share.
#[derive(Clone)]
pub struct Api {
    tokens: Option<Arc<Tokens>>,
    config: Arc<Config>,
    model: Arc<RoleModel>,
    shared: Shared,
    limiter: Arc<Mutex<Limiter>>,
    max_failed: u32,
    metrics_open: bool,
}

impl Api {
    /// The API of a daemon run with `config`; the tokens file is read (and checked) now.
    pub fn new(config: Arc<Config>, model: Arc<RoleModel>, shared: Shared) -> Result<Api, String> {
        let tokens = match &config.daemon.tokens_file {
            Some(f) => Some(Arc::new(Tokens::load(f)?)),
            None => None,
        };
        let metrics_open = config.daemon.metrics_open.unwrap_or(tokens.is_none());
        Ok(Api {
            tokens,
            max_failed: config.daemon.max_failed_auth_per_minute.max(1),
            metrics_open,
            config,
            model,
            shared,
            limiter: Arc::new(Mutex::new(Limiter::default())),
        })
    }

    /// The caller's name when their token has at least `need`; else the answer to give.
    fn authorise(&self, headers: &HeaderMap, ip: IpAddr, need: Role) -> Result<String, Problem> {
        let Some(tokens) = &self.tokens else {
            return Err(problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "the admin API is off: set [daemon] tokens_file to a file of token hashes",
            ));
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        // The token first: a valid one is never refused for others' failures (behind an
        // ingress or NAT every client has the same address). Only failures are limited.
        let Some(token) = presented.and_then(|p| tokens.find(p)) else {
            let mut limiter = self
                .limiter
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(wait) = limiter.blocked(ip, self.max_failed) {
                return Err(Problem {
                    retry_after: Some(wait),
                    ..problem(
                        StatusCode::TOO_MANY_REQUESTS,
                        "too many failed authentications from this address; wait",
                    )
                });
            }
            limiter.failed(ip);
            tracing::warn!(
                client = %ip,
                presented = presented.is_some(),
                "admin API: authentication failed (token missing or unknown)"
            );
            return Err(Problem {
                bearer: true,
                ..problem(
                    StatusCode::UNAUTHORIZED,
                    "a bearer token is needed: Authorization: Bearer <token>",
                )
            });
        };
        if token.role < need {
            tracing::warn!(client = %ip, token = %token.name, role = token.role.as_str(), need = need.as_str(), "admin API: not allowed");
            return Err(problem(
                StatusCode::FORBIDDEN,
                &format!(
                    "token `{}` is a {}; this needs {}",
                    token.name,
                    token.role.as_str(),
                    need.as_str()
                ),
            ));
        }
        Ok(token.name.clone())
    }
}

/// An answer other than success: its status, what to do, and the headers it needs.
#[derive(Debug)]
struct Problem {
    status: StatusCode,
    detail: String,
    /// Seconds to wait (429).
    retry_after: Option<u64>,
    /// Ask for a bearer token (401).
    bearer: bool,
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "status": self.status.as_u16(), "detail": self.detail })
            .to_string();
        let mut r = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        if let Some(wait) = self.retry_after
            && let Ok(v) = wait.to_string().parse()
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if self.bearer {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

fn problem(status: StatusCode, detail: &str) -> Problem {
    Problem {
        status,
        detail: detail.to_string(),
        retry_after: None,
        bearer: false,
    }
}

fn json(value: &serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// The most a request body may hold: every body the API takes is a line or two of JSON.
const MAX_BODY: usize = 16 * 1024;

/// How long a client may take to send a request body.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// A request's body, read only once its token has been checked (a handler takes
/// `axum::body::Body` and calls this after `authorise`, never the `Bytes` extractor, which
/// reads before the handler runs): at most `MAX_BODY` bytes within `BODY_TIMEOUT`.
async fn read_body(body: axum::body::Body) -> Result<Bytes, Problem> {
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await {
        Ok(Ok(b)) => Ok(b),
        Ok(Err(_)) => Err(problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request body is over {MAX_BODY} bytes or was cut short"),
        )),
        Err(_) => Err(problem(
            StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive in time",
        )),
    }
}

mod matches;

/// Every route: method, path, the role it needs, and its handler. The router is built
/// from this table alone, the tests walk it (every route × no token, a wrong one and each
/// role) and compare it with `schemas/admin-api.openapi.yaml`.
fn table() -> Vec<(&'static str, &'static str, Role, MethodRouter<Api>)> {
    vec![
        ("GET", "/metrics", Role::Viewer, get(metrics)),
        ("GET", "/api/v1/status", Role::Viewer, get(status)),
        ("GET", "/api/v1/people/{n}", Role::Viewer, get(person)),
        ("GET", "/api/v1/held", Role::Viewer, get(held_list)),
        ("GET", "/api/v1/held/{id}", Role::Viewer, get(held_one)),
        (
            "POST",
            "/api/v1/held/{id}/approve",
            Role::Approver,
            post(approve),
        ),
        (
            "POST",
            "/api/v1/held/{id}/reject",
            Role::Approver,
            post(reject),
        ),
        ("GET", "/api/v1/pending", Role::Viewer, get(pending)),
        (
            "POST",
            "/api/v1/pending/{n}/retry",
            Role::Operator,
            post(retry),
        ),
        ("GET", "/api/v1/targets", Role::Viewer, get(targets)),
        (
            "POST",
            "/api/v1/targets/{system}/probe",
            Role::Operator,
            post(probe),
        ),
        ("GET", "/api/v1/work-items", Role::Viewer, get(work_items)),
        ("GET", "/api/v1/audit/verify", Role::Viewer, get(verify)),
        ("GET", "/api/v1/matches", Role::Viewer, get(matches::list)),
        (
            "GET",
            "/api/v1/matches/{id}",
            Role::Viewer,
            get(matches::one),
        ),
        (
            "POST",
            "/api/v1/matches/{id}/accept",
            Role::Operator,
            post(matches::accept),
        ),
        (
            "POST",
            "/api/v1/matches/{id}/reject",
            Role::Operator,
            post(matches::reject),
        ),
    ]
}

/// Every route with the role it needs: (method, path, role).
pub fn routes() -> Vec<(&'static str, &'static str, Role)> {
    table()
        .into_iter()
        .map(|(method, path, role, _)| (method, path, role))
        .collect()
}

pub fn router(api: Api) -> Router {
    table()
        .into_iter()
        .fold(Router::new(), |r, (_, path, _, handler)| {
            r.route(path, handler)
        })
        .with_state(api)
}

type Ctx = (State<Api>, ConnectInfo<Peer>, HeaderMap);

/// Runs `f` with a store connection of its own, off the async threads.
async fn with_store<T: Send + 'static>(
    api: &Api,
    f: impl FnOnce(&mut dyn crate::store::Store) -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    let config = api.config.clone();
    tokio::task::spawn_blocking(move || {
        let key = config
            .audit_key()
            .map_err(|e| problem(StatusCode::INTERNAL_SERVER_ERROR, &e))?;
        let mut store = crate::store::open(&config.store, key, true)
            .map_err(|e| problem(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()))?;
        f(store.as_mut())
    })
    .await
    .map_err(|e| problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))?
}

/// Runs `f` off the async threads with what a decision that acts on targets needs: the
/// role model, a store connection, the configured targets and a runtime of its own.
async fn with_targets<T: Send + 'static>(
    api: &Api,
    f: impl FnOnce(
        &RoleModel,
        &mut dyn crate::store::Store,
        &mut [crate::engine::targets::Target],
        &tokio::runtime::Runtime,
    ) -> Result<T, Problem>
    + Send
    + 'static,
) -> Result<T, Problem> {
    let config = api.config.clone();
    let model = api.model.clone();
    tokio::task::spawn_blocking(move || {
        let mut targets = crate::engine::targets::build(&config, &model)
            .map_err(|p| problem(StatusCode::CONFLICT, &p.join("; ")))?;
        let key = config
            .audit_key()
            .map_err(|e| problem(StatusCode::INTERNAL_SERVER_ERROR, &e))?;
        let mut store = crate::store::open(&config.store, key, true).map_err(store_error)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))?;
        f(&model, store.as_mut(), &mut targets, &runtime)
    })
    .await
    .map_err(|e| problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))?
}

/// A viewer's read: authorised, then `f` on a store connection of its own, as JSON.
async fn read(
    (State(api), ConnectInfo(addr), headers): Ctx,
    f: impl FnOnce(&mut dyn crate::store::Store) -> Result<serde_json::Value, Problem> + Send + 'static,
) -> Result<Response, Problem> {
    api.authorise(&headers, addr.0.ip(), Role::Viewer)?;
    with_store(&api, move |store| f(store).map(|v| json(&v))).await
}

/// A refusal is the asker's (404 for what does not exist, 409 for what was decided
/// already); any other store error is the server's, and passes.
fn store_error(e: crate::store::StoreError) -> Problem {
    use crate::store::{Refusal, StoreError};
    match &e {
        StoreError::Refused(Refusal::NoSuchPlan(_) | Refusal::NoSuchMatch(_)) => {
            problem(StatusCode::NOT_FOUND, &e.to_string())
        }
        StoreError::Refused(_) => problem(StatusCode::CONFLICT, &e.to_string()),
        _ => problem(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

async fn metrics((State(api), ConnectInfo(addr), headers): Ctx) -> Result<Response, Problem> {
    if !api.metrics_open {
        api.authorise(&headers, addr.0.ip(), Role::Viewer)?;
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        api.shared.metrics.encode(),
    )
        .into_response())
}

/// Longest reason `/api/v1/status` shows; the log has the whole.
const REASON_CHARS: usize = 300;

/// `GET /api/v1/status`: what `/healthz` and `/readyz` name, with the reasons, and what
/// needs a person; every reason with URLs' credentials and query strings taken out.
async fn status((State(api), ConnectInfo(addr), headers): Ctx) -> Result<Response, Problem> {
    api.authorise(&headers, addr.0.ip(), Role::Viewer)?;
    let redact = |v: Vec<String>| -> Vec<String> {
        v.iter()
            .map(|t| crate::input::redacted(t, REASON_CHARS))
            .collect()
    };
    let (not_live, not_ready, problems, attention) = api.shared.with_health(|h| {
        (
            h.not_live(),
            h.not_ready(),
            h.liveness_problems(),
            h.attention(),
        )
    });
    Ok(json(&serde_json::json!({
        "live": not_live.is_empty(),
        "ready": not_ready.is_empty(),
        "not_ready": not_ready,
        "problems": redact(problems),
        "attention": redact(attention),
    })))
}

async fn person(
    State(api): State<Api>,
    ConnectInfo(addr): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(n): Path<String>,
) -> Result<Response, Problem> {
    let reader = api.authorise(&headers, addr.0.ip(), Role::Viewer)?;
    let model = api.model.clone();
    let ip = addr.0.ip();
    with_store(&api, move |store| {
        let Some(p) = store.person(&n).map_err(store_error)? else {
            return Err(problem(
                StatusCode::NOT_FOUND,
                &format!("no HR record is held for {n}"),
            ));
        };
        let accounts = store.accounts_of(&n).map_err(store_error)?;
        let read = crate::store::systems_read(store, &model).map_err(store_error)?;
        let mine: Vec<&crate::account::Account> = accounts.iter().collect();
        let today = crate::clock::today(crate::now());
        let explained =
            crate::explain::explain(&model, &p.event.person, &mine, &|s| read.contains(s), today);
        let audit = store
            .audit(&crate::store::AuditFilter {
                employee_number: Some(n.clone()),
                since: None,
            })
            .map_err(store_error)?;
        // Who read whose record, in the trail, before the answer leaves: a read that
        // cannot be recorded is not answered.
        store
            .append_audit(vec![crate::audit::Draft {
                at: crate::now(),
                actor: format!("{reader} (admin API)"),
                employee_number: Some(n.clone()),
                system: None,
                account: None,
                action: crate::audit::Action::ApiRead.to_string(),
                outcome: crate::audit::Outcome::Recorded.to_string(),
                rule: None,
                event_id: None,
                reason: format!("GET /api/v1/people/{n} from {ip}"),
            }])
            .map_err(store_error)?;
        Ok(json(&serde_json::json!({
            "hr_record": p.event,
            "explanation": explained,
            "accounts": accounts,
            "audit": audit,
        })))
    })
    .await
}

async fn held_list(ctx: Ctx) -> Result<Response, Problem> {
    read(ctx, |store| {
        Ok(serde_json::json!(
            store.held_plans(None).map_err(store_error)?
        ))
    })
    .await
}

fn plan_id(text: &str) -> Result<u64, Problem> {
    crate::store::HeldPlan::parse_reference(text).ok_or_else(|| {
        problem(
            StatusCode::BAD_REQUEST,
            &format!("`{text}` is not a held plan's id (7 or HP-000007)"),
        )
    })
}

async fn held_one(
    State(api): State<Api>,
    ConnectInfo(addr): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    api.authorise(&headers, addr.0.ip(), Role::Viewer)?;
    let id = plan_id(&id)?;
    with_store(&api, move |store| {
        match store.held_plan(id).map_err(store_error)? {
            Some((plan, changes)) => Ok(json(&serde_json::json!({
                "plan": plan,
                "changes": changes,
            }))),
            None => Err(problem(
                StatusCode::NOT_FOUND,
                &format!("no held plan HP-{id:06}"),
            )),
        }
    })
    .await
}

fn decide_error(e: crate::engine::held::DecideError) -> Problem {
    use crate::engine::held::DecideError;
    match e {
        DecideError::Store(e) => store_error(e),
        other => problem(StatusCode::CONFLICT, &other.to_string()),
    }
}

async fn approve(
    State(api): State<Api>,
    ConnectInfo(addr): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let name = api.authorise(&headers, addr.0.ip(), Role::Approver)?;
    let id = plan_id(&id)?;
    let by = format!("{name} (admin API)");
    // Approving applies the plan through the targets.
    let a = with_targets(&api, move |model, store, targets, runtime| {
        runtime
            .block_on(crate::engine::held::approve(
                model,
                store,
                targets,
                id,
                &by,
                crate::now(),
            ))
            .map_err(decide_error)
    })
    .await?;
    Ok(json(&serde_json::json!({
        "plan": a.plan,
        "applied": a.tally.applied,
        "work_items": a.tally.work_items,
        "failed": a.tally.failed,
        "no_longer_needed": a.no_longer_needed,
    })))
}

async fn reject(
    State(api): State<Api>,
    ConnectInfo(addr): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Body,
) -> Result<Response, Problem> {
    let name = api.authorise(&headers, addr.0.ip(), Role::Approver)?;
    let body = read_body(body).await?;
    let id = plan_id(&id)?;
    #[derive(Deserialize)]
    struct Body {
        reason: String,
    }
    let reason = match serde_json::from_slice::<Body>(&body) {
        Ok(b) if !b.reason.trim().is_empty() && !b.reason.chars().any(char::is_control) => {
            b.reason.trim().to_string()
        }
        _ => {
            return Err(problem(
                StatusCode::BAD_REQUEST,
                "send {\"reason\": \"why\"}: the reason is recorded with the decision (one line)",
            ));
        }
    };
    let model = api.model.clone();
    let by = format!("{name} (admin API)");
    with_store(&api, move |store| {
        let plan = crate::engine::held::reject(&model, store, id, &by, &reason, crate::now())
            .map_err(decide_error)?;
        Ok(json(&serde_json::json!({ "plan": plan })))
    })
    .await
}

async fn pending(ctx: Ctx) -> Result<Response, Problem> {
    read(ctx, |store| {
        Ok(serde_json::json!(store.pending().map_err(store_error)?))
    })
    .await
}

async fn retry(
    State(api): State<Api>,
    ConnectInfo(addr): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(n): Path<String>,
) -> Result<Response, Problem> {
    let name = api.authorise(&headers, addr.0.ip(), Role::Operator)?;
    with_store(&api, move |store| {
        let Some(work) = store
            .pending()
            .map_err(store_error)?
            .into_iter()
            .find(|p| p.employee_number == n)
        else {
            return Err(problem(
                StatusCode::NOT_FOUND,
                &format!("nothing is pending for {n}"),
            ));
        };
        if work.held_by.is_some() {
            return Err(problem(
                StatusCode::CONFLICT,
                &format!("{n} is held by a plan: approve or reject it"),
            ));
        }
        let why = format!(
            "retry asked through the admin API by {name}{}",
            work.last_error
                .as_deref()
                .map_or_else(String::new, |e| format!(" (last error: {e})"))
        );
        store
            .retry_pending(&work, crate::now(), &why, false)
            .map_err(store_error)?;
        tracing::info!(person = %n, by = %name, "admin API: retry now");
        Ok(json(
            &serde_json::json!({ "employee_number": n, "retry": "now" }),
        ))
    })
    .await
}

async fn targets((State(api), ConnectInfo(addr), headers): Ctx) -> Result<Response, Problem> {
    api.authorise(&headers, addr.0.ip(), Role::Viewer)?;
    let (quarantined, unreachable) = api
        .shared
        .with_health(|h| (h.quarantined.clone(), h.unreachable.clone()));
    let list = |v: Vec<(String, String)>| -> Vec<serde_json::Value> {
        v.into_iter()
            .map(|(system, reason)| serde_json::json!({"system": system, "reason": reason}))
            .collect()
    };
    Ok(json(&serde_json::json!({
        "configured": api.config.target_sections().iter().map(|(id, kind, _)| serde_json::json!({"system": id, "type": kind})).collect::<Vec<_>>(),
        "quarantined": list(quarantined),
        "unreachable": list(unreachable),
    })))
}

/// Asks the applier to probe a target now and waits (up to 15 s) for it to have done so;
/// answers with where the target stands then.
async fn probe(
    State(api): State<Api>,
    ConnectInfo(addr): ConnectInfo<Peer>,
    headers: HeaderMap,
    Path(system): Path<String>,
) -> Result<Response, Problem> {
    let name = api.authorise(&headers, addr.0.ip(), Role::Operator)?;
    if !api
        .config
        .target_sections()
        .iter()
        .any(|(id, _, _)| *id == system)
    {
        return Err(problem(
            StatusCode::NOT_FOUND,
            &format!("no [targets.{system}] is configured"),
        ));
    }
    tracing::info!(%system, by = %name, "admin API: probe now");
    super::lock(&api.shared.probe).insert(system.clone());
    api.shared.wake.notify_one();
    let deadline = Instant::now() + Duration::from_secs(15);
    let done = loop {
        if !super::lock(&api.shared.probe).contains(&system) {
            break true;
        }
        if Instant::now() >= deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The applier publishes states after its pass: a moment for that.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (quarantined, unreachable) = api
        .shared
        .with_health(|h| (h.quarantined.clone(), h.unreachable.clone()));
    let find =
        |v: &[(String, String)]| v.iter().find(|(s, _)| *s == system).map(|(_, r)| r.clone());
    let (state, reason) = match (find(&quarantined), find(&unreachable)) {
        (Some(r), _) => ("quarantined", Some(r)),
        (None, Some(r)) => ("unreachable", Some(r)),
        (None, None) => ("online", None),
    };
    Ok(json(&serde_json::json!({
        "system": system,
        "probed": done,
        "state": state,
        "reason": reason,
    })))
}

async fn work_items(ctx: Ctx) -> Result<Response, Problem> {
    read(ctx, |store| {
        Ok(serde_json::json!(
            store.work_items(None, None).map_err(store_error)?
        ))
    })
    .await
}

async fn verify(ctx: Ctx) -> Result<Response, Problem> {
    read(ctx, |store| {
        Ok(match store.verify_audit(None).map_err(store_error)? {
            Ok(v) => serde_json::json!({
                "intact": true,
                "entries": v.count,
                "head": v.head_text(),
            }),
            Err(b) => serde_json::json!({
                "intact": false,
                "problem": b.to_string(),
            }),
        })
    })
    .await
}

/// The client's address, for the failed-authentication limit and the log, over plain TCP
/// or TLS (put on each request by `serve`).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// The admin endpoint's TLS (`[daemon] tls_cert_file` and `tls_key_file`, PEM; the key in
/// PKCS#8, private to the daemon's user).
pub fn tls_acceptor(cert: &FsPath, key: &FsPath) -> Result<tokio_native_tls::TlsAcceptor, String> {
    let cert_pem = std::fs::read(cert)
        .map_err(|e| format!("{}: cannot read the certificate: {e}", cert.display()))?;
    let key_pem = crate::config::files::read_secret(key, "the admin endpoint's TLS key")?;
    let identity = native_tls::Identity::from_pkcs8(&cert_pem, &key_pem).map_err(|e| {
        format!(
            "{} and {}: not a PEM certificate and PKCS#8 key ({e}); convert the key with `openssl pkcs8 -topk8 -nocrypt`",
            cert.display(),
            key.display()
        )
    })?;
    let acceptor = native_tls::TlsAcceptor::new(identity)
        .map_err(|e| format!("the admin endpoint's TLS settings: {e}"))?;
    Ok(acceptor.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::tests::file;
    use sha2::{Digest, Sha256};

    /// The failed-authentication count stays bounded whatever addresses a flood comes
    /// from, and still limits the address failing now.
    #[test]
    fn the_failure_count_is_bounded() {
        let mut l = Limiter(HashMap::new());
        for i in 0..(LIMITER_CAP as u32 + 500) {
            l.failed(IpAddr::from(i.to_be_bytes()));
        }
        assert!(l.0.len() <= LIMITER_CAP, "{}", l.0.len());
        let ip = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..3 {
            l.failed(ip);
        }
        assert!(l.blocked(ip, 3).is_some());
        assert!(l.0.len() <= LIMITER_CAP);
    }

    #[test]
    fn roles_are_ordered_and_the_limiter_counts_per_address_within_a_minute() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Approver);
        let mut l = Limiter::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(l.blocked(a, 3), None);
            l.failed(a);
        }
        assert!(l.blocked(a, 3).is_some_and(|s| (1..=60).contains(&s)));
        assert_eq!(l.blocked(b, 3), None, "another address is not held to it");
        // A window over: counted afresh.
        l.0.insert(a, (3, Instant::now().checked_sub(WINDOW).unwrap()));
        assert_eq!(l.blocked(a, 3), None);
    }

    /// A held plan, a quarantined target and a failed delivery leave the open `/readyz` at
    /// 200 `ok` (before: 503 naming each, with the webhook URL and its signature);
    /// `/api/v1/status` gives the reasons to a token holder only, without the signature.
    #[tokio::test]
    async fn readiness_names_parts_only_and_the_reasons_need_a_token() {
        use tower_service::Service;
        let good = format!("{:x}", Sha256::digest(b"tst_viewer"));
        let (_d, tokens) = file(
            &format!("[[tokens]]\nname = \"dash\"\nrole = \"viewer\"\nsha256 = \"{good}\"\n"),
            0o600,
        );
        let mut config = Config::default();
        config.daemon.tokens_file = Some(tokens);
        let model = RoleModel::parse(
            "m.toml",
            &std::fs::read_to_string("examples/role-model.toml").unwrap(),
        )
        .unwrap()
        .0;
        let shared = Shared::new();
        shared.with_health(|h| {
            h.consuming = true;
            h.held = vec![("HP-000001".into(), "ad".into(), "12 removals".into())];
            h.quarantined = vec![("emis".into(), "credentials refused".into())];
            h.work_item_errors =
                vec!["WI-000001 to https://hook.example/x?sig=SIGNATURE: 500".into()];
        });
        let api = Api::new(Arc::new(config), Arc::new(model), shared.clone()).unwrap();
        let mut app = crate::daemon::admin::router(shared.clone()).merge(router(api));
        let peer = ConnectInfo(Peer("127.0.0.1:5000".parse().unwrap()));
        let mut get = async |path: &str, token: Option<&str>| {
            let mut req = axum::http::Request::get(path);
            if let Some(t) = token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            let mut req = req.body(axum::body::Body::empty()).unwrap();
            req.extensions_mut().insert(peer);
            let r = app.call(req).await.unwrap();
            let status = r.status().as_u16();
            let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
            (status, String::from_utf8(body.to_vec()).unwrap())
        };
        assert_eq!(get("/readyz", None).await, (200, "ok\n".to_string()));
        assert_eq!(get("/api/v1/status", None).await.0, 401);
        let (status, body) = get("/api/v1/status", Some("tst_viewer")).await;
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["ready"], true);
        let attention = v["attention"].to_string();
        assert!(
            attention.contains("HP-000001") && attention.contains("emis"),
            "{v}"
        );
        assert!(attention.contains("https://hook.example/x?…"), "{v}");
        assert!(!body.contains("SIGNATURE"), "{body}");
        // Unready: the part named, the reason not.
        shared.with_health(|h| h.broker_error = Some("kafka.internal:9092 refused".into()));
        let (status, body) = get("/readyz", None).await;
        assert_eq!(status, 503);
        assert!(
            body.contains("broker") && !body.contains("kafka.internal"),
            "{body}"
        );
    }

    /// The route table and `schemas/admin-api.openapi.yaml` name the same routes with
    /// the same methods and roles; the health checks are open in both.
    #[test]
    fn the_routes_are_the_ones_the_openapi_file_describes() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schemas/admin-api.openapi.yaml"
        ))
        .unwrap();
        let mut described = std::collections::BTreeSet::new();
        let mut open = Vec::new();
        let (mut path, mut method) = (String::new(), String::new());
        for line in text.lines() {
            if let Some(p) = line.strip_prefix("  /").and_then(|p| p.strip_suffix(':')) {
                path = format!("/{p}");
            } else if let Some(m) = line.strip_prefix("    ").and_then(|m| m.strip_suffix(':'))
                && ["get", "post", "put", "patch", "delete"].contains(&m)
            {
                method = m.to_uppercase();
                open.push((method.clone(), path.clone()));
            } else if let Some(role) = line.strip_prefix("      x-role: ") {
                open.retain(|o| *o != (method.clone(), path.clone()));
                described.insert((method.clone(), path.clone(), role.trim().to_string()));
            }
        }
        let served: std::collections::BTreeSet<(String, String, String)> = routes()
            .into_iter()
            .map(|(m, p, r)| (m.to_string(), p.to_string(), r.as_str().to_string()))
            .collect();
        assert_eq!(served, described);
        open.sort();
        assert_eq!(
            open,
            [
                ("GET".to_string(), "/healthz".to_string()),
                ("GET".to_string(), "/readyz".to_string())
            ],
            "only the health checks go without a role"
        );
    }
}
