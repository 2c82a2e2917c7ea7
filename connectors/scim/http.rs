//! One SCIM call: the bearer token (fixed or OAuth2 client credentials), retries and `Retry-After`, answers read up to `max_response_bytes`, lists paged up to `max_resources`, failures classified.

use super::*;

/// A response body, read up to `cap` bytes: a larger one is refused, never held whole.
pub(super) async fn read_capped(mut r: reqwest::Response, cap: usize) -> Result<String, String> {
    if r.content_length().is_some_and(|n| n > cap as u64) {
        return Err(format!(
            "the answer is {} bytes, more than max_response_bytes ({cap}): refused",
            r.content_length().unwrap_or_default()
        ));
    }
    let mut body = Vec::new();
    loop {
        match r.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > cap {
                    return Err(format!(
                        "the answer runs past max_response_bytes ({cap}): refused"
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(String::from_utf8_lossy(&body).into_owned()),
            // Cut off mid-answer: read as no body at all, never as half of one.
            Err(_) => return Ok(String::new()),
        }
    }
}
/// A SCIM error body (RFC 7644 §3.12).
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct ScimError {
    #[serde(default, rename = "scimType")]
    pub(super) scim_type: Option<String>,
    #[serde(default)]
    pub(super) detail: Option<String>,
}
/// A list response (RFC 7644 §3.4.2).
#[derive(Debug, Deserialize)]
pub(super) struct ListResponse {
    #[serde(default, rename = "totalResults")]
    pub(super) total_results: u64,
    #[serde(default, rename = "Resources")]
    pub(super) resources: Vec<Value>,
}
/// A PATCH request (RFC 7644 §3.5.2).
#[derive(Debug, Serialize)]
pub(super) struct PatchOp {
    pub(super) schemas: [&'static str; 1],
    #[serde(rename = "Operations")]
    pub(super) operations: Vec<Value>,
}
impl PatchOp {
    pub(super) fn new(operations: Vec<Value>) -> PatchOp {
        PatchOp {
            schemas: [PATCH_OP],
            operations,
        }
    }
}
/// What went wrong in one call, before it is given an operator's meaning.
#[derive(Debug, Clone)]
pub(super) enum Failure {
    /// Worth retrying later: transport, 429, 5xx.
    Transient(String),
    /// The credentials or the URL are wrong: the target stops.
    Fatal(String),
    /// This request cannot succeed as it stands.
    Refused {
        status: u16,
        scim_type: Option<String>,
        detail: String,
    },
}
impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Transient(t) | Failure::Fatal(t) => f.write_str(t),
            Failure::Refused {
                status,
                scim_type,
                detail,
            } => match scim_type {
                Some(t) => write!(f, "the service refused it ({status} {t}): {detail}"),
                None => write!(f, "the service refused it ({status}): {detail}"),
            },
        }
    }
}
/// One answer.
pub(super) struct Answer {
    pub(super) etag: Option<String>,
    pub(super) body: Option<Value>,
}
/// A SCIM filter string literal.
pub(super) fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
pub(super) fn form_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
/// `Retry-After` as seconds or an HTTP date.
pub(super) fn retry_after(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(text).ok()?.timestamp();
    // An HTTP date is the server's wall clock.
    let now = crate::wall_clock();
    Some(Duration::from_secs(
        u64::try_from(at.as_second().saturating_sub(now.as_second())).unwrap_or(0),
    ))
}

impl ScimConnector {
    /// The bearer token: the configured one, or a fresh or cached OAuth2 token.
    pub(super) async fn bearer(&self) -> Result<Secret, Failure> {
        let Some(o) = &self.config.oauth2 else {
            return Ok(self.config.token.clone());
        };
        let mut cached = self.oauth_token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", o.client_id.clone()),
            ("client_secret", o.client_secret.expose().to_string()),
        ];
        if let Some(scope) = &o.scope {
            form.push(("scope", scope.clone()));
        }
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let r = self
            .http
            .post(&o.token_url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| {
                Failure::Transient(format!(
                    "the OAuth2 token endpoint could not be reached: {e}"
                ))
            })?;
        let status = r.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(Failure::Fatal(format!(
                "the OAuth2 token endpoint refused the client credentials ({status}): check client_id and client_secret_file"
            )));
        }
        #[derive(Deserialize)]
        struct TokenAnswer {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let t: TokenAnswer = r.json().await.map_err(|e| {
            Failure::Fatal(format!(
                "the OAuth2 token endpoint's answer is not a token: {e}"
            ))
        })?;
        // Renewed a minute before it expires (or after 5 minutes when it does not say).
        let life = t.expires_in.unwrap_or(360).saturating_sub(60).max(1);
        let token = Secret::new(t.access_token);
        *cached = Some((token.clone(), Instant::now() + Duration::from_secs(life)));
        Ok(token)
    }

    /// One call with retries: 429/503 wait for `Retry-After`, other transient failures
    /// back off.
    pub(super) async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Answer, Failure> {
        use backon::BackoffBuilder;
        let mut delays = crate::retry::policy(
            Duration::from_millis(200),
            Duration::from_secs(10),
            Some(self.config.retries),
        )
        .build();
        loop {
            let token = self.bearer().await?;
            let mut request = self
                .http
                .request(method.clone(), url)
                .bearer_auth(token.expose())
                .header("Accept", "application/scim+json, application/json");
            if let Some(b) = body {
                request = request
                    .header("Content-Type", "application/scim+json")
                    .body(b.to_string());
            }
            if let Some(tag) = if_match {
                request = request.header("If-Match", tag);
            }
            let (failure, wait) = match request.send().await {
                Err(e) => (
                    Failure::Transient(format!("{} could not be reached: {e}", self.base)),
                    None,
                ),
                Ok(r) => {
                    let status = r.status().as_u16();
                    let etag = r
                        .headers()
                        .get("etag")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    let retry_after = r
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(retry_after);
                    let text = read_capped(r, self.config.max_response_bytes)
                        .await
                        .map_err(|e| Failure::Fatal(format!("{url}: {e}")))?;
                    let json: Option<Value> = if text.trim().is_empty() {
                        None
                    } else {
                        serde_json::from_str(&text).ok()
                    };
                    if (200..300).contains(&status) {
                        return Ok(Answer { etag, body: json });
                    }
                    let error: ScimError = json
                        .as_ref()
                        .and_then(|j| serde_json::from_value(j.clone()).ok())
                        .unwrap_or_default();
                    // The service's own words, short: they reach the log and the API.
                    let detail: String = error
                        .detail
                        .as_deref()
                        .unwrap_or(&text)
                        .chars()
                        .take(200)
                        .collect();
                    match status {
                        401 | 403 => {
                            return Err(Failure::Fatal(format!(
                                "the service refused Turnstile's credentials ({status}: {detail}); renew the token in token_file or fix the OAuth2 client"
                            )));
                        }
                        429 | 503 => (
                            Failure::Transient(format!(
                                "the service is busy ({status}){}",
                                retry_after
                                    .map(|d| format!(", Retry-After {}s", d.as_secs()))
                                    .unwrap_or_default()
                            )),
                            retry_after,
                        ),
                        500..=599 => (
                            Failure::Transient(format!("the service failed ({status}): {detail}")),
                            None,
                        ),
                        _ => {
                            return Err(Failure::Refused {
                                status,
                                scim_type: error.scim_type,
                                detail,
                            });
                        }
                    }
                }
            };
            let Some(backoff) = delays.next() else {
                return Err(failure);
            };
            let pause = match wait {
                Some(w) if w > Duration::from_secs(self.config.max_retry_after_secs) => {
                    return Err(failure);
                }
                Some(w) => w,
                None => backoff,
            };
            tracing::debug!(system = %self.system, error = %failure, pause_ms = pause.as_millis() as u64, "retrying");
            tokio::time::sleep(pause).await;
        }
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Every resource of a list, page by page (`startIndex`/`count`), optionally filtered.
    pub(super) async fn list(
        &self,
        resource: &str,
        filter: Option<&str>,
    ) -> Result<Vec<Value>, Failure> {
        let mut out = Vec::new();
        let mut start: u64 = 1;
        // Bounded in pages and in resources held: a server that keeps answering pages
        // never makes this loop run for ever or hold more than the cap.
        let max = self.config.max_resources;
        for _ in 0..max.div_ceil(u64::from(self.config.page_size.max(1))) + 1 {
            let mut url = reqwest::Url::parse(&self.url(resource))
                .map_err(|e| Failure::Fatal(format!("url {}: {e}", self.base)))?;
            url.query_pairs_mut()
                .append_pair("startIndex", &start.to_string())
                .append_pair("count", &self.config.page_size.to_string());
            if let Some(f) = filter {
                url.query_pairs_mut().append_pair("filter", f);
            }
            let answer = self
                .call(reqwest::Method::GET, url.as_str(), None, None)
                .await?;
            let page: ListResponse = answer
                .body
                .and_then(|b| serde_json::from_value(b).ok())
                .ok_or_else(|| {
                    Failure::Transient(format!("{resource}: the answer is not a SCIM list"))
                })?;
            let got = page.resources.len() as u64;
            if out.len() as u64 + got > max {
                return Err(Failure::Fatal(format!(
                    "{resource}: the service lists more than {max} (max_resources): refused rather than held in memory; raise max_resources if it really holds that many"
                )));
            }
            out.extend(page.resources);
            start += got;
            if got == 0 || start > page.total_results {
                return Ok(out);
            }
        }
        Err(Failure::Fatal(format!(
            "{resource}: the service kept answering pages past {max} resources (max_resources): refused"
        )))
    }

    pub(super) fn error(&self, change: Option<&Change>, f: Failure) -> ConnectorError {
        match (f, change) {
            (Failure::Transient(detail), _) => ConnectorError::Transient {
                system: self.system.clone(),
                detail,
            },
            (Failure::Fatal(detail), _) => ConnectorError::Fatal {
                system: self.system.clone(),
                detail,
            },
            (f @ Failure::Refused { .. }, Some(c)) => ConnectorError::Permanent {
                system: self.system.clone(),
                change: format!(
                    "{} for employee {}{}",
                    c.action,
                    c.employee_number,
                    c.account
                        .as_deref()
                        .map(|a| format!(" ({a})"))
                        .unwrap_or_default()
                ),
                detail: f.to_string(),
            },
            (f @ Failure::Refused { .. }, None) => ConnectorError::Fatal {
                system: self.system.clone(),
                detail: format!("reading the users failed: {f}"),
            },
        }
    }
}
