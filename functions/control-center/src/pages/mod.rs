//! The pages: one module each, all built on [`Ctx`] (who asks, in which language, about which
//! company) and [`layout`]. maud escapes every value it interpolates, so a transcript or a
//! customer name containing `<script>` is shown as those characters.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::auth::Viewer;
use crate::data::{CompanyView, DataError};
use crate::i18n::Lang;
use crate::session::{self, Session};
use crate::ControlCenter;

pub mod agents;
pub mod analytics;
pub mod appointments;
pub mod call;
pub mod callbacks;
pub mod calls;
pub mod dead_letters;
pub mod login;
pub mod logs;
pub mod overview;
pub mod privacy;
pub mod settings;
pub mod test_call;

/// Who asks, in which language, about which company; and cookies to set with the answer.
pub struct Ctx {
    pub app: Arc<ControlCenter>,
    pub viewer: Viewer,
    pub csrf: String,
    pub lang: Lang,
    pub company: CompanyView,
    pub companies: Vec<String>,
    pub set_cookies: Vec<HeaderValue>,
}

impl axum::extract::FromRequestParts<Arc<ControlCenter>> for Ctx {
    type Rejection = PageError;

    /// The context of an authenticated page request (the session [`session::authenticate`]
    /// put there, the company and language asked for).
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &Arc<ControlCenter>,
    ) -> Result<Self, Self::Rejection> {
        let session = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| PageError::new(StatusCode::UNAUTHORIZED, Lang::De.t("forbidden")))?;
        let common: Common = parts
            .uri
            .query()
            .and_then(common_of_query)
            .unwrap_or_default();
        Ctx::new(app, &session, &parts.headers, &common).await
    }
}

/// `company` and `lang` of a query string (other parameters are the page's own).
fn common_of_query(query: &str) -> Option<Common> {
    axum::extract::Query::<Common>::try_from_uri(
        &format!("/?{query}").parse::<axum::http::Uri>().ok()?,
    )
    .ok()
    .map(|q| q.0)
}

/// The query parameters every page takes.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Common {
    pub company: Option<String>,
    pub lang: Option<String>,
}

impl Ctx {
    /// The context of a page request: the company asked for (`?company=`, else the one chosen
    /// before, kept in a cookie), if the viewer may see it; the language asked for, else the one
    /// chosen before, else the company's.
    pub async fn new(
        app: &Arc<ControlCenter>,
        session: &Session,
        headers: &HeaderMap,
        common: &Common,
    ) -> Result<Ctx, PageError> {
        let jar = session::cookies(headers);
        let mut set_cookies = Vec::new();
        let requested = match common.company.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => {
                set_cookies.push(session::set_cookie(
                    session::COMPANY_COOKIE,
                    &cookie_safe(c),
                    30 * 24 * 3600,
                ));
                Some(c.to_owned())
            }
            None => jar
                .get(session::COMPANY_COOKIE)
                .filter(|c| !c.is_empty())
                .cloned(),
        };
        let fallback_lang = Lang::De;
        let companies = app
            .data
            .companies(&session.viewer)
            .await
            .map_err(|e| PageError::from_data(e, fallback_lang))?;
        // An admin who has not chosen sees the first company with settings (the default
        // company of unlisted agents only when there is no other).
        let requested = requested.or_else(|| {
            session.viewer.is_admin().then(|| {
                companies
                    .iter()
                    .find(|c| **c != app.data.default_company_id)
                    .or(companies.first())
                    .cloned()
            })?
        });
        let company = match app
            .data
            .company(&session.viewer, requested.as_deref())
            .await
        {
            Ok(c) => c,
            // A remembered company this viewer may not see (another login on this browser):
            // their own instead.
            Err(DataError::NotFound) if common.company.is_none() => app
                .data
                .company(&session.viewer, None)
                .await
                .map_err(|e| PageError::from_data(e, fallback_lang))?,
            Err(e) => return Err(PageError::from_data(e, fallback_lang)),
        };
        let lang = match common.lang.as_deref().and_then(Lang::parse) {
            Some(l) => {
                set_cookies.push(session::set_cookie(
                    session::LANG_COOKIE,
                    l.code(),
                    365 * 24 * 3600,
                ));
                l
            }
            None => jar
                .get(session::LANG_COOKIE)
                .and_then(|l| Lang::parse(l))
                .unwrap_or_else(|| Lang::of_company(&company.language)),
        };
        Ok(Ctx {
            app: app.clone(),
            viewer: session.viewer.clone(),
            csrf: session.csrf.clone(),
            lang,
            company,
            companies,
            set_cookies,
        })
    }

    pub fn t(&self, key: &'static str) -> &'static str {
        self.lang.t(key)
    }

    pub fn link(&self, rest: &str) -> String {
        self.app.link(rest)
    }

    /// The page as an answer, with the context's cookies.
    pub fn respond(self, markup: Markup) -> Response {
        let mut response = markup.into_response();
        for c in self.set_cookies {
            response.headers_mut().append(header::SET_COOKIE, c);
        }
        response
    }
}

fn cookie_safe(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        .take(128)
        .collect()
}

/// The navigation entries: (path, text key).
const NAV: [(&str, &str); 9] = [
    ("", "overview"),
    ("/appointments", "appointments"),
    ("/callbacks", "callbacks"),
    ("/calls", "calls"),
    ("/analytics", "analytics"),
    ("/agents", "agents"),
    ("/logs", "logs"),
    ("/test-call", "test_call"),
    ("/settings", "settings"),
];

/// The frame of every page: head (assets, CSRF header for htmx), navigation, company and
/// language choice, logout.
pub fn layout(ctx: &Ctx, active: &str, title: &str, body: Markup) -> Markup {
    let htmx_headers = serde_json::json!({ session::CSRF_HEADER: ctx.csrf }).to_string();
    html! {
        (DOCTYPE)
        html lang=(ctx.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // A poll that never returns would hold every later poll behind it (htmx queues them):
                // give up on it after 15 s so a live list keeps updating.
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true,"timeout":15000}"#;
                title { (title) " · " (ctx.t("title")) }
                link rel="stylesheet" href=(ctx.link("/assets/app.css"));
                script src=(ctx.link("/assets/htmx.min.js")) defer {}
            }
            body hx-headers=(htmx_headers) {
                header.top {
                    a.brand href=(ctx.link("")) { (ctx.t("title")) }
                    nav {
                        @for (path, key) in NAV {
                            a href=(ctx.link(path)) class=[(active == key).then_some("active")] { (ctx.t(key)) }
                        }
                    }
                    div.session {
                        @if ctx.viewer.is_admin() {
                            form.company method="get" action="" {
                                label { (ctx.t("company")) " "
                                    select name="company" {
                                        @for c in &ctx.companies {
                                            option value=(c) selected[*c == ctx.company.id] { (c) }
                                        }
                                    }
                                }
                                button type="submit" { (ctx.t("show")) }
                            }
                        } @else {
                            span.company-name { (ctx.company.name) }
                        }
                        span.lang {
                            a href="?lang=de" { "DE" } " | " a href="?lang=en" { "EN" }
                        }
                        span.user title=(ctx.t("signed_in_as")) { (ctx.viewer.user()) }
                        form method="post" action=(ctx.link("/logout")) {
                            input type="hidden" name="csrf" value=(ctx.csrf);
                            button type="submit" { (ctx.t("logout")) }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// An error page, with the status it stands for. The response carries the error; [`error_page`]
/// renders it with the app's links.
#[derive(Debug, Clone)]
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub fn from_data(e: DataError, lang: Lang) -> Self {
        match e {
            DataError::NotFound => Self::new(StatusCode::NOT_FOUND, lang.t("not_found")),
            DataError::Invalid(what) => Self::new(
                StatusCode::BAD_REQUEST,
                format!("{} {what}", lang.t("bad_request")),
            ),
            DataError::Backend(reason) => {
                tracing::error!(reason = %reason, "control center read failed");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, lang.t("error"))
            }
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Renders a [`PageError`] a handler or extractor answered with as the error page, linking to
/// the control center's own path (`URL_PREFIX` + `BASE_PATH`).
pub async fn error_page(State(app): State<Arc<ControlCenter>>, response: Response) -> Response {
    let Some(error) = response.extensions().get::<PageError>().cloned() else {
        return response;
    };
    let home = app.link("");
    let page = html! {
        (DOCTYPE)
        html {
            head {
                meta charset="utf-8";
                title { (error.status.as_u16()) }
                link rel="stylesheet" href=(format!("{home}/assets/app.css"));
            }
            body { main {
                h1 { (error.status.as_u16()) }
                p.error role="alert" { (error.message) }
                p { a href=(if home.is_empty() { "/".to_owned() } else { home.clone() }) { "← " (Lang::De.t("overview")) " / " (Lang::En.t("overview")) } }
            } }
        }
    };
    let (mut parts, _) = response.into_parts();
    parts.extensions.remove::<PageError>();
    let mut page = page.into_response();
    *page.status_mut() = error.status;
    page.headers_mut().extend(
        parts
            .headers
            .into_iter()
            .filter_map(|(name, value)| Some((name?, value)))
            .filter(|(name, _)| *name != header::CONTENT_TYPE && *name != header::CONTENT_LENGTH),
    );
    page
}

/// The page when a request could not be checked (Cognito's signing keys unreadable): the
/// session is kept, the page reloads itself after a few seconds.
pub fn retry_page(home: &str) -> Markup {
    html! {
        (DOCTYPE)
        html {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content="5";
                title { "503" }
                link rel="stylesheet" href=(format!("{home}/assets/app.css"));
            }
            body { main {
                h1 { "503" }
                p.error role="alert" {
                    "Die Anmeldung kann gerade nicht geprüft werden; die Seite lädt in ein paar Sekunden neu. "
                    "/ Your login cannot be checked right now; the page reloads in a few seconds."
                }
            } }
        }
    }
}

/// A number with a thousands separator as the language writes it.
pub fn number(n: i64, lang: Lang) -> String {
    let digits = n.unsigned_abs().to_string();
    let sep = if lang == Lang::De { '.' } else { ',' };
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A share as a percentage with one decimal, or "–" when there is nothing to divide.
pub fn percent(part: i64, whole: i64, lang: Lang) -> String {
    if whole <= 0 {
        return "–".into();
    }
    let p = part as f64 * 100.0 / whole as f64;
    let text = format!("{p:.1} %");
    if lang == Lang::De {
        text.replace('.', ",")
    } else {
        text
    }
}

/// A duration in ms as "m:ss".
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!("{}:{:02}", s / 60, s % 60)
}

/// Retell's cost (cents) as dollars.
pub fn cost(cents: f64, lang: Lang) -> String {
    let text = format!("{:.2} $", cents / 100.0);
    if lang == Lang::De {
        text.replace('.', ",")
    } else {
        text
    }
}

/// JSON pretty-printed for a `<pre>` (escaped by maud like any text).
pub fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// The empty markup (for optional blocks).
pub fn nothing() -> Markup {
    PreEscaped(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_each_language_writes_them() {
        assert_eq!(number(1234567, Lang::De), "1.234.567");
        assert_eq!(number(1234567, Lang::En), "1,234,567");
        assert_eq!(number(-12, Lang::En), "-12");
        assert_eq!(percent(1, 3, Lang::De), "33,3 %");
        assert_eq!(percent(1, 0, Lang::En), "–");
        assert_eq!(duration(185_000), "3:05");
        assert_eq!(cost(1234.0, Lang::En), "12.34 $");
    }

    /// Every text key a page asks for is in i18n::TEXTS.
    #[test]
    fn every_key_the_pages_use_is_translated() {
        let sources = [
            include_str!("mod.rs"),
            include_str!("overview.rs"),
            include_str!("calls.rs"),
            include_str!("call.rs"),
            include_str!("analytics.rs"),
            include_str!("agents.rs"),
            include_str!("logs.rs"),
            include_str!("test_call.rs"),
            include_str!("login.rs"),
        ];
        for source in sources {
            for (i, _) in source.match_indices(".t(\"") {
                let rest = &source[i + 4..];
                let key = &rest[..rest.find('"').unwrap_or(0)];
                assert!(
                    crate::i18n::TEXTS.iter().any(|(k, _, _)| *k == key),
                    "missing text {key:?}"
                );
            }
        }
        for (_, key) in NAV {
            assert!(
                crate::i18n::TEXTS.iter().any(|(k, _, _)| *k == key),
                "{key}"
            );
        }
    }
}
