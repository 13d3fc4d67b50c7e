//! The control center: what the business's staff and the operators look at (calls, bookings,
//! analytics, agents, logs, test calls) as server-rendered pages, and the JSON admin API under
//! `/api/retell/…` (docs/openapi.yaml), behind a Cognito login.
//!
//! - [`auth`]: every request's ID token verified (RS256, issuer, client, expiry, token use);
//!   admins see every company, staff only theirs. The rule is enforced in [`data`], where the
//!   data is read, not only in what a page links to.
//! - [`session`]: the login's tokens in HttpOnly, Secure, SameSite cookies, refreshed before
//!   they expire; a CSRF token on every state-changing request.
//! - [`pages`] (maud: markup is escaped unless a page says otherwise, so whatever a caller said
//!   shows as text), [`api`], [`charts`] (SVG drawn here, no chart script), [`i18n`].
//! - What pages and API share sits beside [`data`], never in [`pages`]: [`agent_rules`] (which
//!   agents a viewer sees, admins change, what each field may be), [`agent_template`],
//!   [`agent_creation`], [`agent_drafts`] (draft, publish, restore, the diff; [`line_diff`]),
//!   [`voices`], [`health`] (dead letters, reconcile),
//!   [`retell_access`], [`test_calls`], [`logbook`], [`desk`], [`callbacks`].
//! - Assets (htmx, the stylesheet, the logs page's live refresh) are embedded in the binary and
//!   served by it.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use shared::booking::directory::{CompanyDirectory, COMPANY_CACHE_TTL};
use shared::calendar::ledger::AppointmentLedger;
use shared::calls::dead_letters::{DeadLetterQueues, QueueKind, QueuePair};
use shared::calls::store::DynamoCallStore;
use shared::platform::config::ControlCenterConfig;
use shared::platform::logs::LogsClient;
use shared::retell::keys::{KeyProvider, SecretsManagerSource, DEFAULT_REFRESH_INTERVAL};
use shared::retell::wiring::Wiring;
use shared::retell::EventKind;

pub mod absences;
pub mod agent_creation;
pub mod agent_drafts;
pub mod agent_removal;
pub mod agent_rules;
pub mod agent_template;
pub mod api;
pub mod assets;
pub mod auth;
pub mod callbacks;
pub mod charts;
pub mod cognito;
pub mod data;
pub mod desk;
pub mod health;
pub mod i18n;
pub mod labels;
pub mod line_diff;
pub mod logbook;
pub mod pages;
pub mod privacy;
pub mod retell_access;
pub mod session;
pub mod settings;
pub mod settings_form;
pub mod test_calls;
pub mod voices;

use auth::TokenVerifier;
use cognito::Cognito;

/// Everything a request needs, built once per container.
pub struct ControlCenter {
    pub config: ControlCenterConfig,
    pub verifier: TokenVerifier,
    pub cognito: Cognito,
    pub data: data::Data,
    /// The appointment desk, over the same calendars as the tools.
    pub desk: desk::Desk,
    /// The callbacks the agent noted and calls opened for follow-up.
    pub callbacks: shared::callbacks::CallbackStore,
    pub keys: KeyProvider<SecretsManagerSource>,
    /// SQS over its JSON protocol (the dead-letter depths): a few calls do not need the SDK.
    pub sqs: shared::platform::aws_json::AwsJsonClient,
    pub logbook: logbook::Logbook,
    pub wiring: Wiring,
    /// Callers' data for admins and the audit trail (AUDIT_TABLE; none on an older stack).
    pub privacy: Option<privacy::Privacy>,
    /// The stack's default retention (`RETENTION_DAYS`): what a new agent has Retell keep for a
    /// company without its own.
    pub retention_days: u16,
    /// The Content-Security-Policy of every answer ([`content_security_policy`]).
    pub csp: HeaderValue,
    /// What `retell-ops pause` switches (PROCESSING_SWITCHES): the overview says what is paused.
    pub processing: Option<(
        shared::platform::processing::Switches,
        shared::platform::processing::ProcessingClient,
    )>,
}

/// The stack's processing switches and a client to read them (None: a stack without them, or
/// unreadable ones, which the overview then does not show).
fn processing_switches(
    sdk: &aws_config::SdkConfig,
) -> Option<(
    shared::platform::processing::Switches,
    shared::platform::processing::ProcessingClient,
)> {
    use shared::platform::processing::{ProcessingClient, Switches};
    let text = std::env::var("PROCESSING_SWITCHES")
        .ok()
        .filter(|t| !t.is_empty())?;
    match (
        Switches::parse(&text),
        ProcessingClient::from_sdk_config(sdk),
    ) {
        (Ok(switches), Ok(client)) => Some((switches, client)),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(reason = %e, "PROCESSING_SWITCHES unusable: the overview shows no pause state");
            None
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Auth(#[from] auth::AuthError),
    #[error("{0}")]
    Aws(#[from] shared::platform::aws_json::AwsJsonError),
    #[error("{0}")]
    Config(#[from] shared::platform::config::ConfigError),
}

impl ControlCenter {
    /// Everything from `sdk` (region, credentials, time budget; `AWS_ENDPOINT_URL` locally).
    pub fn build(
        config: &ControlCenterConfig,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, BuildError> {
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        let logs = match LogsClient::from_sdk_config(sdk) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(reason = %e, "logs page without CloudWatch Logs");
                None
            }
        };
        let sqs = shared::platform::aws_json::AwsJsonClient::new(sdk, "sqs", "AmazonSQS", None)?
            .json_1_0();
        let outbox_url = std::env::var(shared::messaging::outbox::QUEUE_URL_VAR)
            .ok()
            .filter(|url| !url.is_empty());
        let outbox = outbox_url
            .clone()
            .map(|url| shared::messaging::outbox::Outbox::over_json(sqs.clone(), url));
        let queue_pairs = EventKind::ALL
            .into_iter()
            .filter_map(|kind| {
                let function = kind.as_str().replace('_', "-");
                Some(QueuePair {
                    kind: QueueKind::Event(kind),
                    url: config.queue_urls.get(&kind)?.clone(),
                    dlq_url: config.dead_letter_urls.get(&kind)?.clone(),
                    log_group: config
                        .log_groups
                        .iter()
                        .find(|(f, _)| *f == function)
                        .map(|(_, g)| g.clone()),
                })
            })
            .chain(
                // The messaging notices' queue, if this stack has one.
                outbox_url
                    .zip(
                        std::env::var("MESSAGING_DLQ_URL")
                            .ok()
                            .filter(|u| !u.is_empty()),
                    )
                    .map(|(url, dlq_url)| QueuePair {
                        kind: QueueKind::Messaging,
                        url,
                        dlq_url,
                        log_group: config
                            .log_groups
                            .iter()
                            .find(|(f, _)| f == "messaging")
                            .map(|(_, g)| g.clone()),
                    }),
            )
            .collect();
        Ok(Self {
            verifier: TokenVerifier::new(
                &config.issuer,
                &config.user_pool_client_id,
                &config.jwks_url,
            )?,
            cognito: Cognito::new(
                sdk,
                &config.cognito_endpoint,
                &config.user_pool_id,
                &config.user_pool_client_id,
            )?,
            data: data::Data {
                calls: DynamoCallStore::new(
                    dynamodb.clone(),
                    &config.calls_table,
                    &config.stats_table,
                ),
                companies: CompanyDirectory::new(
                    dynamodb.clone(),
                    &config.auth.companies_table,
                    COMPANY_CACHE_TTL,
                ),
                ledger: AppointmentLedger::new(dynamodb.clone(), &config.appointments_table),
                default_company_id: config.auth.default_company_id.clone(),
                default_time_zone: config.time_zone,
                dead_letters: DeadLetterQueues::new(sqs.clone(), logs.clone()),
                queue_pairs,
            },
            desk: desk::Desk {
                calendars: shared::calendar::Calendars::new(
                    shared::calendar::NativeCalendar::new(
                        dynamodb.clone(),
                        &config.appointments_table,
                    ),
                    aws_sdk_secretsmanager::Client::new(sdk),
                )
                .allowing_loopback(config.loopback_calendars)
                .watched_by(outbox.clone().map(|o| {
                    std::sync::Arc::new(o)
                        as std::sync::Arc<dyn shared::calendar::AppointmentWatcher>
                })),
                ledger: AppointmentLedger::new(dynamodb.clone(), &config.appointments_table),
                outbox: outbox.clone(),
            },
            callbacks: shared::callbacks::CallbackStore::new(
                dynamodb.clone(),
                &config.appointments_table,
            ),
            keys: KeyProvider::new(
                SecretsManagerSource::new(
                    aws_sdk_secretsmanager::Client::new(sdk),
                    &config.auth.secret_id,
                ),
                &config.auth.default_company_id,
                DEFAULT_REFRESH_INTERVAL,
            ),
            sqs,
            processing: processing_switches(sdk),
            logbook: logbook::Logbook::new(logs, config.log_groups.clone()),
            wiring: Wiring {
                webhook_url: config.webhook_url.clone(),
                inbound_url: config.inbound_url.clone(),
                tool_url_template: config.tool_url_template.clone(),
                tools: tool_catalog::definitions(),
            },
            retention_days: shared::calls::retention::default_days(
                &shared::platform::config::Env::from_process(),
            )?,
            privacy: std::env::var("AUDIT_TABLE")
                .ok()
                .filter(|t| !t.is_empty())
                .map(|table| privacy::Privacy {
                    stores: shared::privacy::PrivacyStores {
                        dynamodb: dynamodb.clone(),
                        s3: aws_sdk_s3::Client::new(sdk),
                        calls_table: config.calls_table.clone(),
                        appointments_table: config.appointments_table.clone(),
                        bucket: std::env::var("EVENTS_BUCKET").unwrap_or_default(),
                    },
                    audit: shared::privacy::AuditLog::new(dynamodb.clone(), table),
                }),
            csp: content_security_policy(config),
            config: config.clone(),
        })
    }

    /// A path as links and cookies name it (`URL_PREFIX` + `BASE_PATH` + `rest`).
    pub fn link(&self, rest: &str) -> String {
        format!(
            "{}{}{}",
            self.config.url_prefix, self.config.base_path, rest
        )
    }

    pub fn router(self: Arc<Self>) -> Router {
        let base = self.config.base_path.clone();
        let pages = Router::new()
            .route("/", get(pages::overview::page))
            .route("/login", get(pages::login::form).post(pages::login::submit))
            .route("/logout", post(pages::login::logout))
            .route("/calls", get(pages::calls::list))
            .route("/calls/{call_id}", get(pages::call::page))
            .route("/customers/vip", post(pages::call::set_vip))
            .route("/analytics", get(pages::analytics::page))
            .route(
                "/appointments",
                get(pages::appointments::page).post(pages::appointments::create),
            )
            .route("/appointments/absence", post(pages::appointments::absence))
            .route(
                "/appointments/{id}/move",
                post(pages::appointments::reschedule),
            )
            .route(
                "/appointments/{id}/cancel",
                post(pages::appointments::cancel),
            )
            .route(
                "/appointments/{id}/attendance",
                post(pages::appointments::attendance),
            )
            .route(
                "/settings",
                get(pages::settings::page).post(pages::settings::save_section),
            )
            .route("/callbacks", get(pages::callbacks::page))
            .route("/callbacks/{id}", post(pages::callbacks::change))
            .route("/agents", get(pages::agents::list))
            .route(
                "/agents/new",
                get(pages::agents::new_form).post(pages::agents::create),
            )
            .route(
                "/agents/{agent_id}",
                get(pages::agents::page).post(pages::agents::save),
            )
            .route("/agents/{agent_id}/publish", post(pages::agents::publish))
            .route("/agents/{agent_id}/restore", post(pages::agents::restore))
            .route("/logs", get(pages::logs::page))
            .route("/logs/lines", get(pages::logs::lines))
            .route("/privacy", get(pages::privacy::page))
            .route("/privacy/export", post(pages::privacy::export))
            .route("/privacy/erase", post(pages::privacy::erase))
            .route("/dead-letters", get(pages::dead_letters::page))
            .route("/dead-letters/redrive", post(pages::dead_letters::redrive))
            .route(
                "/test-call",
                get(pages::test_call::form).post(pages::test_call::start),
            )
            .route("/test-call/{call_id}", get(pages::test_call::watch))
            .route(
                "/fragments/active-calls",
                get(pages::overview::active_calls),
            )
            .route(
                "/fragments/call-status/{call_id}",
                get(pages::test_call::status),
            )
            .route("/assets/{file}", get(assets::serve));
        let api = Router::new()
            .route("/status", get(api::status))
            .route("/test-call", post(api::test_call))
            .route("/dead-letters", get(api::dead_letters))
            .route(
                "/appointments",
                get(api::appointments::list).post(api::appointments::create),
            )
            .route(
                "/appointments/{id}",
                axum::routing::patch(api::appointments::change).delete(api::appointments::cancel),
            )
            .route(
                "/companies/{id}/settings",
                get(api::settings::get).put(api::settings::put),
            )
            .route("/companies/{id}/audit", get(api::privacy::audit))
            .route("/companies/{id}/privacy/export", post(api::privacy::export))
            .route("/companies/{id}/privacy/erase", post(api::privacy::erase))
            .route("/callbacks", get(api::callbacks::list))
            .route(
                "/callbacks/{id}",
                axum::routing::patch(api::callbacks::change),
            )
            .route("/dead-letters/redrive", post(api::redrive_dead_letters))
            .route("/agents", get(api::agents::list).post(api::agents::create))
            .route(
                "/agents/{agent_id}",
                get(api::agents::get)
                    .put(api::agents::update)
                    .delete(api::agents::delete),
            );
        Router::new()
            // The overview is at the base path itself; with a trailing slash it is a redirect.
            .route(
                &format!("{base}/"),
                get(|State(app): State<Arc<ControlCenter>>| async move {
                    axum::response::Redirect::permanent(&app.link(""))
                }),
            )
            .nest(&base, pages)
            .nest("/api/retell", api)
            .fallback(not_found)
            .layer(middleware::map_response_with_state(
                self.clone(),
                pages::error_page,
            ))
            .layer(middleware::from_fn_with_state(
                self.clone(),
                session::authenticate,
            ))
            .layer(middleware::from_fn_with_state(self.clone(), strip_prefix))
            .layer(middleware::from_fn_with_state(
                self.clone(),
                security_headers,
            ))
            .with_state(self)
    }
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found").into_response()
}

/// Locally cargo lambda serves the function under `/lambda-url/control-center`; the routes are
/// the same as behind API Gateway once that prefix is gone.
async fn strip_prefix(
    State(app): State<Arc<ControlCenter>>,
    mut request: Request,
    next: Next,
) -> Response {
    let prefix = &app.config.url_prefix;
    if !prefix.is_empty() {
        let path = request.uri().path();
        if let Some(rest) = path.strip_prefix(prefix.as_str()) {
            if rest.is_empty() || rest.starts_with('/') {
                let query = request
                    .uri()
                    .query()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default();
                let new = format!("{}{query}", if rest.is_empty() { "/" } else { rest });
                if let Ok(uri) = new.parse() {
                    *request.uri_mut() = uri;
                }
            }
        }
    }
    next.run(request).await
}

/// Scripts and styles only from here, no inline script, no framing; recordings only from where
/// the stack fetches them (`RECORDING_HOSTS`: Retell's storage, locally the simulator's origin)
/// and voice previews from Retell's preview storage (`voices::PREVIEW_HOSTS`).
pub fn content_security_policy(config: &ControlCenterConfig) -> HeaderValue {
    let media: String = std::iter::once("'self'".to_owned())
        .chain(config.recording_hosts.csp_sources())
        .chain(voices::preview_policy().csp_sources())
        .collect::<Vec<_>>()
        .join(" ");
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         media-src {media}; connect-src 'self'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    HeaderValue::from_str(&policy).unwrap_or_else(|_| {
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             media-src 'self'; connect-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        )
    })
}

/// The usual headers on every answer: the Content-Security-Policy, no sniffing, no referrer,
/// HSTS, no caching of pages with personal data.
async fn security_headers(
    State(app): State<Arc<ControlCenter>>,
    request: Request,
    next: Next,
) -> Response {
    use tracing::Instrument;
    let is_asset = request.uri().path().contains("/assets/");
    let head = request.method() == Method::HEAD;
    // Every line of a request carries call_id / event / company; event is the route.
    let span = shared::event_span!("control_center");
    span.record("event", request.uri().path());
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_millis() as u64,
            "{}",
            shared::platform::telemetry::ANSWERED
        )
    });
    let h = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: &'static str, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    h.insert("content-security-policy", app.csp.clone());
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "no-referrer");
    set(
        h,
        "strict-transport-security",
        "max-age=31536000; includeSubDomains",
    );
    set(h, "cross-origin-opener-policy", "same-origin");
    set(
        h,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    );
    if !is_asset && !head {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
