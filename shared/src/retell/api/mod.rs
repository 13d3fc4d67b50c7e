//! Retell's REST API, typed: the agents, Retell LLMs, phone numbers and calls the operator's CLI
//! (`retell-ops`) and the reconcile Lambda work with.
//!
//! - Every request carries `Authorization: Bearer <api key>` and has a timeout.
//! - 429 and 5xx answers (and requests that never got an answer) are retried with jittered
//!   exponential backoff, honouring `Retry-After`; a create (not idempotent) is retried only when
//!   Retell certainly did not act on it (429, or no connection made).
//! - Both error shapes Retell sends, `{"status":"error","message":…}` and
//!   `{"error_message":…}`, become one [`RetellApiError`].
//! - Responses are typed for the fields this project reads; everything else Retell sends is kept
//!   in each type's `other` map, so new fields neither break a read nor get lost on a write back.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

pub mod types;

pub use types::*;

/// One page of a list: Retell's `{items, has_more, pagination_key}`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
    #[serde(default)]
    pub pagination_key: Option<String>,
}

/// How hard the client tries before it reports a failure.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// The first backoff; it doubles per retry, with full jitter.
    pub base_delay: Duration,
    /// Cap of one backoff (and of a `Retry-After` Retell asks for).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
        }
    }
}

/// Everything that can go wrong talking to Retell, whatever shape Retell's error had.
#[derive(Debug, thiserror::Error)]
pub enum RetellApiError {
    #[error("Retell refused the API key (HTTP {status}): {message}")]
    Unauthorized { status: u16, message: String },
    #[error("Retell has no {what} (HTTP 404): {message}")]
    NotFound { what: String, message: String },
    #[error("Retell rejected the request to {path} (HTTP {status}): {message}")]
    Rejected {
        path: String,
        status: u16,
        message: String,
    },
    #[error("Retell kept answering HTTP {status} to {path} ({attempts} attempts): {message}")]
    Unavailable {
        path: String,
        status: u16,
        attempts: u32,
        message: String,
    },
    #[error("Retell could not be reached for {path} ({attempts} attempts): {reason}")]
    Transport {
        path: String,
        attempts: u32,
        reason: String,
    },
    #[error("Retell's answer to {path} could not be read: {reason}")]
    Decode { path: String, reason: String },
    #[error("the Retell client could not be built: {0}")]
    Setup(String),
}

impl RetellApiError {
    /// The HTTP status Retell answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unauthorized { status, .. }
            | Self::Rejected { status, .. }
            | Self::Unavailable { status, .. } => Some(*status),
            Self::NotFound { .. } => Some(404),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}

/// The message of an error body in either of Retell's shapes (or the body itself, shortened).
pub fn error_message(body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let field = |k: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    field("message")
        .or_else(|| field("error_message"))
        .unwrap_or_else(|| {
            let text: String = body.chars().take(200).collect();
            if text.trim().is_empty() {
                "(no message)".to_owned()
            } else {
                text
            }
        })
}

/// Whether a request may be sent again after an answer that may mean Retell acted on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Idempotent {
    Yes,
    No,
    /// Repeatable, and a 404 to a repeat means an earlier attempt succeeded.
    Delete,
}

/// Every item of a listing: `page(key)` fetches the page after `key` (None: the first).
async fn all_pages<T, F, Fut>(what: &'static str, mut page: F) -> Result<Vec<T>, RetellApiError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, RetellApiError>>,
{
    let mut all = Vec::new();
    let mut pages = PageKeys::new(what);
    loop {
        let p = page(pages.current().map(str::to_owned)).await?;
        all.extend(p.items);
        if !pages.advance(p.has_more, p.pagination_key)? {
            return Ok(all);
        }
    }
}

/// The pagination keys of one listing: refuses a key Retell already gave (a loop, not a list).
struct PageKeys {
    what: &'static str,
    current: Option<String>,
    seen: std::collections::HashSet<String>,
}

impl PageKeys {
    fn new(what: &'static str) -> Self {
        Self {
            what,
            current: None,
            seen: Default::default(),
        }
    }

    fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// Moves to the next page; false when there is none.
    fn advance(&mut self, has_more: bool, next: Option<String>) -> Result<bool, RetellApiError> {
        match next {
            Some(next) if has_more => {
                if !self.seen.insert(next.clone()) {
                    return Err(RetellApiError::Decode {
                        path: self.what.to_owned(),
                        reason: format!("Retell repeated the pagination key {next:?}"),
                    });
                }
                self.current = Some(next);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// A client of Retell's API for one account (one API key).
#[derive(Clone)]
pub struct RetellClient {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
    retry: RetryPolicy,
}

impl std::fmt::Debug for RetellClient {
    // Never print the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetellClient")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl RetellClient {
    /// A client for `base_url` (Retell's is `platform::config::DEFAULT_RETELL_BASE_URL`); `timeout` bounds each
    /// attempt, connection included.
    pub fn new(
        base_url: &str,
        api_key: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, RetellApiError> {
        let http = crate::platform::http::client_builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| RetellApiError::Setup(e.to_string()))?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.into(),
            retry: RetryPolicy::default(),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    // ---- agents ----

    pub async fn create_agent(&self, agent: &AgentSettings) -> Result<Agent, RetellApiError> {
        self.send(Method::POST, "/create-agent", Some(agent), Idempotent::No)
            .await
    }

    /// The agent's latest version (the draft), or `version`.
    pub async fn get_agent(
        &self,
        agent_id: &str,
        version: Option<u64>,
    ) -> Result<Agent, RetellApiError> {
        let mut path = format!("/get-agent/{}", segment(agent_id));
        if let Some(v) = version {
            path.push_str(&format!("?version={v}"));
        }
        self.send::<(), _>(Method::GET, &path, None, Idempotent::Yes)
            .await
            .map_err(|e| e.named(|| format!("agent {agent_id}")))
    }

    pub async fn update_agent(
        &self,
        agent_id: &str,
        update: &AgentSettings,
    ) -> Result<Agent, RetellApiError> {
        let path = format!("/update-agent/{}", segment(agent_id));
        self.send(Method::PATCH, &path, Some(update), Idempotent::Yes)
            .await
            .map_err(|e| e.named(|| format!("agent {agent_id}")))
    }

    /// Deletes an agent. A retry answered 404 means an earlier attempt did it: success.
    pub async fn delete_agent(&self, agent_id: &str) -> Result<(), RetellApiError> {
        let path = format!("/delete-agent/{}", segment(agent_id));
        self.attempt_all(Method::DELETE, &path, None::<&()>, Idempotent::Delete)
            .await
            .map(|_| ())
            .map_err(|e| e.named(|| format!("agent {agent_id}")))
    }

    /// One page of the account's voice agents (chat agents share the list; they are filtered
    /// out by Retell and, should an item slip through, here).
    pub async fn list_agents_page(
        &self,
        pagination_key: Option<&str>,
        limit: u32,
    ) -> Result<Page<AgentSummary>, RetellApiError> {
        let path = format!("/v2/list-agents?{}", page_query(pagination_key, limit));
        let body = json!({"filter_criteria": {"channel": {"type": "string", "op": "eq", "value": "voice"}}});
        let mut page: Page<AgentSummary> = self
            .send(Method::POST, &path, Some(&body), Idempotent::Yes)
            .await?;
        page.items.retain(AgentSummary::is_voice);
        Ok(page)
    }

    /// Every voice agent of the account, page by page.
    pub async fn list_agents(&self) -> Result<Vec<AgentSummary>, RetellApiError> {
        all_pages("/v2/list-agents", |key| async move {
            self.list_agents_page(key.as_deref(), 100).await
        })
        .await
    }

    /// Every version of an agent, newest first.
    pub async fn list_agent_versions(
        &self,
        agent_id: &str,
    ) -> Result<Vec<AgentVersion>, RetellApiError> {
        let base = format!("/list-agent-versions/{}", segment(agent_id));
        all_pages("/list-agent-versions", |key| {
            let path = format!(
                "{base}?{}&sort_order=descending",
                page_query(key.as_deref(), 100)
            );
            async move {
                self.send::<(), _>(Method::GET, &path, None, Idempotent::Yes)
                    .await
                    .map_err(|e| e.named(|| format!("agent {agent_id}")))
            }
        })
        .await
    }

    /// Publishes the agent's draft `version` (the `version` of [`Self::get_agent`]) in place:
    /// calls can then use it, and later edits go to a new draft. A publish whose answer was
    /// lost and whose retry Retell refuses (already published) is a success: the version is
    /// asked for before an error is reported.
    pub async fn publish_agent(&self, agent_id: &str, version: u64) -> Result<(), RetellApiError> {
        let path = format!("/publish-agent-version/{}", segment(agent_id));
        let result = self
            .send_empty(Method::POST, &path, Some(&json!({"version": version})))
            .await
            .map_err(|e| e.named(|| format!("agent {agent_id}")));
        match result {
            Err(e) if !matches!(e, RetellApiError::Unauthorized { .. }) => {
                match self.get_agent(agent_id, Some(version)).await {
                    Ok(v) if v.is_published => Ok(()),
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    pub async fn list_voices(&self) -> Result<Vec<Voice>, RetellApiError> {
        self.send::<(), _>(Method::GET, "/list-voices", None, Idempotent::Yes)
            .await
    }

    // ---- knowledge bases ----

    /// Creates a knowledge base of `texts` (title, text). Not idempotent: a retry after no
    /// answer could create a second one, so only refusals Retell certainly did not act on are
    /// retried.
    pub async fn create_knowledge_base(
        &self,
        name: &str,
        texts: &[KnowledgeBaseText],
    ) -> Result<KnowledgeBase, RetellApiError> {
        let body = multipart_texts(Some(name), texts);
        let text = self
            .attempt_raw(
                Method::POST,
                "/create-knowledge-base",
                Some(body),
                Idempotent::No,
            )
            .await?;
        decode("/create-knowledge-base", &text)
    }

    pub async fn get_knowledge_base(&self, id: &str) -> Result<KnowledgeBase, RetellApiError> {
        let path = format!("/get-knowledge-base/{}", segment(id));
        self.send::<(), _>(Method::GET, &path, None, Idempotent::Yes)
            .await
            .map_err(|e| e.named(|| format!("knowledge base {id}")))
    }

    pub async fn list_knowledge_bases(&self) -> Result<Vec<KnowledgeBase>, RetellApiError> {
        self.send::<(), _>(Method::GET, "/list-knowledge-bases", None, Idempotent::Yes)
            .await
    }

    /// Deletes a knowledge base; one already gone after a retry counts as deleted.
    pub async fn delete_knowledge_base(&self, id: &str) -> Result<(), RetellApiError> {
        let path = format!("/delete-knowledge-base/{}", segment(id));
        self.attempt_all(Method::DELETE, &path, None::<&()>, Idempotent::Delete)
            .await
            .map(|_| ())
            .map_err(|e| e.named(|| format!("knowledge base {id}")))
    }

    /// Adds text sources (not idempotent, as create).
    pub async fn add_knowledge_base_texts(
        &self,
        id: &str,
        texts: &[KnowledgeBaseText],
    ) -> Result<KnowledgeBase, RetellApiError> {
        let path = format!("/add-knowledge-base-sources/{}", segment(id));
        let text = self
            .attempt_raw(
                Method::POST,
                &path,
                Some(multipart_texts(None, texts)),
                Idempotent::No,
            )
            .await
            .map_err(|e| e.named(|| format!("knowledge base {id}")))?;
        decode(&path, &text)
    }

    pub async fn delete_knowledge_base_source(
        &self,
        id: &str,
        source_id: &str,
    ) -> Result<(), RetellApiError> {
        let path = format!(
            "/delete-knowledge-base-source/{}/source/{}",
            segment(id),
            segment(source_id)
        );
        self.attempt_all(Method::DELETE, &path, None::<&()>, Idempotent::Delete)
            .await
            .map(|_| ())
            .map_err(|e| e.named(|| format!("knowledge base {id} source {source_id}")))
    }

    // ---- Retell LLMs ----

    pub async fn create_llm(&self, llm: &LlmSettings) -> Result<RetellLlm, RetellApiError> {
        self.send(
            Method::POST,
            "/create-retell-llm",
            Some(llm),
            Idempotent::No,
        )
        .await
    }

    /// The LLM's latest version.
    pub async fn get_llm(&self, llm_id: &str) -> Result<RetellLlm, RetellApiError> {
        self.get_llm_version(llm_id, None).await
    }

    /// The LLM's `version` (a published agent version answers with the LLM version it was
    /// published with), or its latest.
    pub async fn get_llm_version(
        &self,
        llm_id: &str,
        version: Option<u64>,
    ) -> Result<RetellLlm, RetellApiError> {
        let mut path = format!("/get-retell-llm/{}", segment(llm_id));
        if let Some(v) = version {
            path.push_str(&format!("?version={v}"));
        }
        self.send::<(), _>(Method::GET, &path, None, Idempotent::Yes)
            .await
            .map_err(|e| e.named(|| format!("Retell LLM {llm_id}")))
    }

    /// Deletes a Retell LLM (one an agent no longer uses).
    pub async fn delete_llm(&self, llm_id: &str) -> Result<(), RetellApiError> {
        let path = format!("/delete-retell-llm/{}", segment(llm_id));
        self.attempt_all(Method::DELETE, &path, None::<&()>, Idempotent::Delete)
            .await
            .map(|_| ())
            .map_err(|e| e.named(|| format!("Retell LLM {llm_id}")))
    }

    pub async fn update_llm(
        &self,
        llm_id: &str,
        update: &LlmSettings,
    ) -> Result<RetellLlm, RetellApiError> {
        let path = format!("/update-retell-llm/{}", segment(llm_id));
        self.send(Method::PATCH, &path, Some(update), Idempotent::Yes)
            .await
            .map_err(|e| e.named(|| format!("Retell LLM {llm_id}")))
    }

    /// Sets the knowledge bases an LLM consults (its draft), leaving everything else.
    pub async fn set_llm_knowledge_bases(
        &self,
        llm_id: &str,
        knowledge_base_ids: &[String],
    ) -> Result<RetellLlm, RetellApiError> {
        let path = format!("/update-retell-llm/{}", segment(llm_id));
        let body = json!({"knowledge_base_ids": knowledge_base_ids});
        self.send(Method::PATCH, &path, Some(&body), Idempotent::Yes)
            .await
            .map_err(|e| e.named(|| format!("Retell LLM {llm_id}")))
    }

    // ---- phone numbers ----

    pub async fn list_phone_numbers(&self) -> Result<Vec<PhoneNumber>, RetellApiError> {
        all_pages("/v2/list-phone-numbers", |key| {
            let path = format!("/v2/list-phone-numbers?{}", page_query(key.as_deref(), 100));
            async move {
                self.send::<(), _>(Method::GET, &path, None, Idempotent::Yes)
                    .await
            }
        })
        .await
    }

    pub async fn update_phone_number(
        &self,
        number: &str,
        update: &PhoneNumberUpdate,
    ) -> Result<PhoneNumber, RetellApiError> {
        let path = format!("/update-phone-number/{}", segment(number));
        self.send(Method::PATCH, &path, Some(update), Idempotent::Yes)
            .await
            .map_err(|e| e.named(|| format!("phone number {}", mask_number(number))))
    }

    // ---- calls ----

    /// One page of calls that started in `[from_ms, to_ms)`, oldest first. Items leave out the
    /// transcript; [`Self::get_call`] has it.
    pub async fn list_calls_page(
        &self,
        from_ms: i64,
        to_ms: i64,
        pagination_key: Option<&str>,
        limit: u32,
    ) -> Result<Page<Call>, RetellApiError> {
        let mut body = json!({
            "filter_criteria": {
                "start_timestamp": {"op": "bt", "type": "range", "value": [from_ms, to_ms - 1]}
            },
            "sort_order": "ascending",
            "limit": limit,
        });
        if let Some(key) = pagination_key {
            body["pagination_key"] = Value::String(key.to_owned());
        }
        self.send(Method::POST, "/v3/list-calls", Some(&body), Idempotent::Yes)
            .await
    }

    /// The whole call as Retell keeps it, transcript and analysis included.
    pub async fn get_call(&self, call_id: &str) -> Result<Call, RetellApiError> {
        let path = format!("/v2/get-call/{}", segment(call_id));
        self.send::<(), _>(Method::GET, &path, None, Idempotent::Yes)
            .await
            .map_err(|e| e.named(|| format!("call {call_id}")))
    }

    /// Deletes a call and what Retell keeps of it (transcript, recording, logs). A retry
    /// answered 404 means an earlier attempt did it: success.
    pub async fn delete_call(&self, call_id: &str) -> Result<(), RetellApiError> {
        let path = format!("/v2/delete-call/{}", segment(call_id));
        self.attempt_all(Method::DELETE, &path, None::<&()>, Idempotent::Delete)
            .await
            .map(|_| ())
            .map_err(|e| e.named(|| format!("call {call_id}")))
    }

    /// Starts an outbound call. The request carries an `idempotency_key` (one is made when
    /// the caller gave none), so a retry after a lost answer cannot start a second call.
    pub async fn create_phone_call(
        &self,
        request: &PhoneCallRequest,
    ) -> Result<Call, RetellApiError> {
        let mut request = request.clone();
        if request.idempotency_key.is_none() {
            request.idempotency_key = Some(format!(
                "retell-ops-{:016x}{:016x}",
                fastrand::u64(..),
                fastrand::u64(..)
            ));
        }
        self.send(
            Method::POST,
            "/v2/create-phone-call",
            Some(&request),
            Idempotent::Yes,
        )
        .await
    }

    pub async fn get_concurrency(&self) -> Result<Concurrency, RetellApiError> {
        self.send::<(), _>(Method::GET, "/get-concurrency", None, Idempotent::Yes)
            .await
    }

    // ---- transport ----

    async fn send_empty<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(), RetellApiError> {
        self.attempt_all(method, path, body, Idempotent::Yes)
            .await
            .map(|_| ())
    }

    async fn send<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        idempotent: Idempotent,
    ) -> Result<T, RetellApiError> {
        let text = self.attempt_all(method, path, body, idempotent).await?;
        serde_json::from_str(&text).map_err(|e| RetellApiError::Decode {
            path: strip_query(path).to_owned(),
            reason: e.to_string(),
        })
    }

    /// Sends until an answer that is final: success, a refusal, or retries used up.
    async fn attempt_all<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        idempotent: Idempotent,
    ) -> Result<String, RetellApiError> {
        let body = match body {
            Some(b) => Some((
                "application/json".to_owned(),
                serde_json::to_vec(b).map_err(|e| RetellApiError::Decode {
                    path: strip_query(path).to_owned(),
                    reason: format!("request body: {e}"),
                })?,
            )),
            None => None,
        };
        self.attempt_raw(method, path, body, idempotent).await
    }

    /// As [`Self::attempt_all`], with a body already encoded: `(content type, bytes)`.
    async fn attempt_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<(String, Vec<u8>)>,
        idempotent: Idempotent,
    ) -> Result<String, RetellApiError> {
        let url = format!("{}{}", self.base_url, path);
        let shown = strip_query(path).to_owned();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&self.api_key)
                .header("accept", "application/json");
            if let Some((content_type, b)) = &body {
                request = request
                    .header("content-type", content_type.as_str())
                    .body(b.clone());
            }
            let retries_left = attempt <= self.retry.max_retries;
            let answer = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| retry_after(v, chrono::Utc::now()));
                    // A body cut off on the way is no answer at all.
                    response
                        .text()
                        .await
                        .map(|text| (status, retry_after, text))
                }
                Err(e) => Err(e),
            };
            let (status, retry_after, text) = match answer {
                Ok(a) => a,
                Err(e) => {
                    // No answer: safe to repeat when Retell cannot have acted on it.
                    let repeatable = idempotent != Idempotent::No || e.is_connect();
                    if retries_left && repeatable {
                        tracing::warn!(path = %shown, attempt, reason = %e, "Retell request failed, retrying");
                        tokio::time::sleep(self.backoff(attempt, None)).await;
                        continue;
                    }
                    return Err(RetellApiError::Transport {
                        path: shown,
                        attempts: attempt,
                        reason: e.to_string(),
                    });
                }
            };
            if status.is_success() {
                return Ok(text);
            }
            if status == StatusCode::NOT_FOUND && idempotent == Idempotent::Delete && attempt > 1 {
                tracing::info!(path = %shown, attempt, "a repeated delete found nothing: an earlier attempt did it");
                return Ok(String::new());
            }
            let retryable = status == StatusCode::TOO_MANY_REQUESTS
                || (status.is_server_error() && idempotent != Idempotent::No);
            if retryable && retries_left {
                tracing::warn!(path = %shown, attempt, status = status.as_u16(), "Retell answered an error, retrying");
                tokio::time::sleep(self.backoff(attempt, retry_after)).await;
                continue;
            }
            let message = error_message(&text);
            let code = status.as_u16();
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => RetellApiError::Unauthorized {
                    status: code,
                    message,
                },
                StatusCode::NOT_FOUND => RetellApiError::NotFound {
                    what: shown,
                    message,
                },
                s if s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() => {
                    RetellApiError::Unavailable {
                        path: shown,
                        status: code,
                        attempts: attempt,
                        message,
                    }
                }
                _ => RetellApiError::Rejected {
                    path: shown,
                    status: code,
                    message,
                },
            });
        }
    }

    /// Full jitter over an exponential ceiling; a `Retry-After` is a floor.
    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self
            .retry
            .base_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(10))
            .min(self.retry.max_delay);
        let jittered = ceiling.mul_f64(fastrand::f64());
        match retry_after {
            Some(asked) => asked.min(self.retry.max_delay).max(jittered),
            None => jittered,
        }
    }
}

impl RetellApiError {
    /// Names the thing a 404 was about ("agent agent_x") instead of the path.
    fn named(self, what: impl FnOnce() -> String) -> Self {
        match self {
            Self::NotFound { message, .. } => Self::NotFound {
                what: what(),
                message,
            },
            other => other,
        }
    }
}

/// A `Retry-After` header: seconds, or an HTTP date. Anything beyond an hour is an hour (the
/// backoff caps it further); an unreadable value is none.
fn retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    const MAX_SECS: f64 = 3600.0;
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs.min(MAX_SECS)));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let secs = (at.with_timezone(&chrono::Utc) - now)
        .num_milliseconds()
        .max(0) as f64
        / 1000.0;
    Some(Duration::from_secs_f64(secs.min(MAX_SECS)))
}

fn decode<T: DeserializeOwned>(path: &str, text: &str) -> Result<T, RetellApiError> {
    serde_json::from_str(text).map_err(|e| RetellApiError::Decode {
        path: strip_query(path).to_owned(),
        reason: e.to_string(),
    })
}

/// A `multipart/form-data` body as Retell's knowledge-base endpoints take it (and the SDK sends
/// it): the name as a field, the texts as one field holding their JSON array.
fn multipart_texts(name: Option<&str>, texts: &[KnowledgeBaseText]) -> (String, Vec<u8>) {
    let boundary = format!("retell-backend-{:016x}", fastrand::u64(..));
    let mut body = String::new();
    let mut field = |key: &str, value: &str| {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{key}\"\r\n\r\n{value}\r\n"
        ));
    };
    if let Some(name) = name {
        field("knowledge_base_name", name);
    }
    field(
        "knowledge_base_texts",
        &serde_json::to_string(texts).unwrap_or_else(|_| "[]".into()),
    );
    body.push_str(&format!("--{boundary}--\r\n"));
    (
        format!("multipart/form-data; boundary={boundary}"),
        body.into_bytes(),
    )
}

fn strip_query(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

fn page_query(pagination_key: Option<&str>, limit: u32) -> String {
    match pagination_key {
        Some(key) => format!("limit={limit}&pagination_key={}", segment(key)),
        None => format!("limit={limit}"),
    }
}

/// A path segment or query value, percent-encoded (phone numbers start with `+`).
pub fn segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A phone number as logs and tables may show it: the last three digits only.
pub fn mask_number(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    if digits.len() <= 3 {
        return "***".to_owned();
    }
    let tail: String = digits[digits.len() - 3..].iter().collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_error_shapes_give_the_message() {
        assert_eq!(
            error_message(r#"{"status":"error","message":"Invalid API key"}"#),
            "Invalid API key"
        );
        assert_eq!(
            error_message(r#"{"error_message":"agent not found"}"#),
            "agent not found"
        );
        assert_eq!(error_message("Bad Gateway"), "Bad Gateway");
        assert_eq!(error_message(""), "(no message)");
        assert_eq!(error_message(&"x".repeat(10_000)).len(), 200);
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("+4930123"), "%2B4930123");
        assert_eq!(segment("agent_abc-1"), "agent_abc-1");
        assert_eq!(segment("a/b?c"), "a%2Fb%3Fc");
    }

    #[test]
    fn numbers_are_masked() {
        assert_eq!(mask_number("+4930123456"), "…456");
        assert_eq!(mask_number("12"), "***");
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_and_survives_absurd_values() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
            .expect("now")
            .with_timezone(&chrono::Utc);
        assert_eq!(retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(" 0.5 ", now), Some(Duration::from_millis(500)));
        assert_eq!(retry_after("1e20", now), Some(Duration::from_secs(3600)));
        assert_eq!(retry_after("-1", now), None);
        assert_eq!(retry_after("NaN", now), None);
        assert_eq!(retry_after("inf", now), None);
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(
            retry_after("Sun, 29 Nov 2026 12:00:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after("Sun, 29 Nov 2026 11:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_after("Mon, 29 Nov 2027 12:00:00 GMT", now),
            Some(Duration::from_secs(3600))
        );
    }

    #[test]
    fn page_keys_end_and_refuse_a_loop() {
        let mut pages = PageKeys::new("/x");
        assert!(pages.advance(true, Some("a".into())).expect("a"));
        assert_eq!(pages.current(), Some("a"));
        assert!(pages.advance(true, Some("b".into())).expect("b"));
        assert!(pages.advance(true, Some("a".into())).is_err());
        assert!(!pages.advance(false, Some("c".into())).expect("done"));
        assert!(!pages.advance(true, None).expect("done"));
    }

    #[test]
    fn backoff_stays_under_its_cap_and_honours_retry_after() {
        let client =
            RetellClient::new("http://127.0.0.1:1", "k", Duration::from_secs(1)).expect("client");
        for attempt in 1..20 {
            assert!(client.backoff(attempt, None) <= client.retry.max_delay);
        }
        let asked = client.backoff(1, Some(Duration::from_secs(3)));
        assert!(asked >= Duration::from_secs(3) && asked <= client.retry.max_delay);
        let capped = client.backoff(1, Some(Duration::from_secs(3600)));
        assert!(capped <= client.retry.max_delay);
    }
}
