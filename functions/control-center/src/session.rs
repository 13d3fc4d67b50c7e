//! The login session and the request's identity.
//!
//! A browser session is three HttpOnly, Secure, SameSite=Lax cookies: the ID token (who), the
//! access token and the refresh token. Every cookie's name starts with `__Host-`, so the browser
//! takes it only from this very host over https, for the whole site (`Path=/`), and no other
//! host (a sibling subdomain) can set or shadow one. Every request's ID token is verified
//! ([`crate::auth`]); one about to expire is refreshed with the refresh token and the new cookies
//! go out with the answer. Scripts send `Authorization: Bearer <ID token>` instead.
//!
//! A state-changing request authenticated by cookie must also carry the session's CSRF token
//! (form field `csrf` or header `x-csrf-token`). It is bound to the session: an HMAC of the
//! session's refresh token, so a token from another session, or one an attacker planted,
//! does not pass. Before a login (the login form itself) it is a random value from the
//! `__Host-cc_csrf` cookie. A request with a Bearer token needs none (a browser never adds that
//! header by itself).

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use crate::auth::{AuthError, TokenVerifier, Viewer};
use crate::cognito::Tokens;
use crate::ControlCenter;

pub const ID_COOKIE: &str = "__Host-cc_id";
pub const ACCESS_COOKIE: &str = "__Host-cc_access";
pub const REFRESH_COOKIE: &str = "__Host-cc_refresh";
pub const CSRF_COOKIE: &str = "__Host-cc_csrf";
pub const LANG_COOKIE: &str = "__Host-cc_lang";
pub const COMPANY_COOKIE: &str = "__Host-cc_company";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session ends 30 days after its login at the latest (Cognito's refresh token validity).
const REFRESH_MAX_AGE: i64 = 30 * 24 * 3600;
/// Refresh an ID token this close to its expiry.
const REFRESH_BEFORE_SECS: i64 = 120;
/// Largest form body read for its CSRF field (prompts are long; nothing else is).
const MAX_FORM_BYTES: usize = 512 * 1024;

/// The request's identity and its CSRF token, for the handlers.
#[derive(Debug, Clone)]
pub struct Session {
    pub viewer: Viewer,
    pub csrf: String,
    /// The login's user name (for signing out), when the session is a browser's.
    pub username: Option<String>,
}

/// Cookies of a request, by name (the first of each name).
pub fn cookies(headers: &HeaderMap) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                out.entry(k.trim().to_owned())
                    .or_insert_with(|| v.trim().to_owned());
            }
        }
    }
    out
}

/// A `Set-Cookie` value: HttpOnly, Secure, SameSite=Lax, for the whole host (`Path=/`, as the
/// `__Host-` prefix requires).
pub fn set_cookie(name: &str, value: &str, max_age: i64) -> HeaderValue {
    let text = format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The cookies a login (or refresh) sets.
pub fn session_cookies(tokens: &Tokens) -> Vec<HeaderValue> {
    let mut out = vec![
        set_cookie(ID_COOKIE, &tokens.id_token, tokens.expires_in),
        set_cookie(ACCESS_COOKIE, &tokens.access_token, tokens.expires_in),
    ];
    if let Some(refresh) = &tokens.refresh_token {
        out.push(set_cookie(REFRESH_COOKIE, refresh, REFRESH_MAX_AGE));
    }
    out
}

/// The cookies a logout sets: every session cookie expired.
pub fn cleared_cookies() -> Vec<HeaderValue> {
    [ID_COOKIE, ACCESS_COOKIE, REFRESH_COOKIE]
        .iter()
        .map(|name| set_cookie(name, "", 0))
        .collect()
}

/// The CSRF token of a logged-in browser session: an HMAC of its refresh token (which lives as
/// long as the session and is never shown to a page), else of its ID token. `None` without a
/// session cookie.
pub fn session_csrf(jar: &std::collections::HashMap<String, String>) -> Option<String> {
    let secret = jar
        .get(REFRESH_COOKIE)
        .filter(|v| !v.is_empty())
        .or_else(|| jar.get(ID_COOKIE).filter(|v| !v.is_empty()))?;
    Some(csrf_of(secret))
}

fn csrf_of(session_secret: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, session_secret.as_bytes());
    hex::encode(ring::hmac::sign(&key, b"retell control center csrf v1").as_ref())
}

/// A fresh CSRF token (32 random bytes, hex).
pub fn new_csrf() -> String {
    let mut bytes = [0u8; 32];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        // The system RNG failing is not something to carry on with quietly.
        for b in bytes.iter_mut() {
            *b = fastrand::u8(..);
        }
        tracing::error!("system random number generator failed; CSRF token from fastrand");
    }
    hex::encode(bytes)
}

fn is_public(app: &ControlCenter, path: &str) -> bool {
    let base = &app.config.base_path;
    path == format!("{base}/login") || path.starts_with(&format!("{base}/assets/"))
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/")
}

fn refused(app: &ControlCenter, path: &str, error: &AuthError) -> Response {
    if let AuthError::Keys(why) = error {
        // Cognito's keys could not be read: nothing is known about the session, so it is kept
        // (no redirect, no cleared cookie) and the answer says to try again.
        tracing::warn!(reason = %why, status = 503, "request not checked: signing keys unavailable");
        if is_api(path) {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "5")],
                axum::Json(serde_json::json!({"error": "unavailable", "reason": "signing keys unavailable; retry"})),
            )
                .into_response();
        }
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            crate::pages::retry_page(&app.link("")),
        )
            .into_response();
    }
    tracing::info!(reason = %error, "request refused: not authenticated");
    if is_api(path) {
        let status = match error {
            AuthError::NoCompany => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        };
        return (
            status,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(serde_json::json!({"error": "unauthorized", "reason": error.to_string()})),
        )
            .into_response();
    }
    let mut response = Redirect::to(&app.link("/login")).into_response();
    if matches!(
        error,
        AuthError::Expired | AuthError::Signature | AuthError::UnknownKey
    ) {
        for c in cleared_cookies() {
            response.headers_mut().append(header::SET_COOKIE, c);
        }
    }
    response
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Authenticates every request but the login form and the assets, and checks CSRF tokens.
pub async fn authenticate(
    State(app): State<Arc<ControlCenter>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let jar = cookies(request.headers());
    let state_changing = !matches!(*request.method(), Method::GET | Method::HEAD);
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned());

    // Every browser gets a CSRF token before it can post anything, the login form included:
    // before a login a random one (its cookie), after it the session's own.
    let (login_csrf, new_csrf_cookie) = match jar.get(CSRF_COOKIE).filter(|c| c.len() == 64) {
        Some(c) => (Some(c.clone()), None),
        None => {
            let token = new_csrf();
            let cookie = set_cookie(CSRF_COOKIE, &token, REFRESH_MAX_AGE);
            (None, Some((token, cookie)))
        }
    };
    let expected = if is_public(&app, &path) {
        login_csrf.clone()
    } else {
        session_csrf(&jar).or_else(|| login_csrf.clone())
    };
    let (request, csrf_ok) = if state_changing && bearer.is_none() {
        match csrf_presented(request).await {
            Ok((request, presented)) => {
                let ok = match (presented, &expected) {
                    (Some(p), Some(e)) => bool::from(p.as_bytes().ct_eq(e.as_bytes())),
                    _ => false,
                };
                (request, ok)
            }
            Err(response) => return response,
        }
    } else {
        (request, true)
    };
    let (public_csrf, new_csrf_cookie) = match new_csrf_cookie {
        Some((token, cookie)) => (token, Some(cookie)),
        None => (login_csrf.unwrap_or_default(), None),
    };
    if !csrf_ok {
        tracing::warn!(path = %path, "request refused: missing or wrong CSRF token");
        return (
            StatusCode::FORBIDDEN,
            "CSRF token missing or wrong; reload the page",
        )
            .into_response();
    }

    let mut set_cookies: Vec<HeaderValue> = new_csrf_cookie.into_iter().collect();
    let mut request = request;
    if !is_public(&app, &path) {
        let (viewer, username, csrf) = match &bearer {
            Some(token) => match app.verifier.verify(token, now()).await {
                Ok(v) => (v, None, public_csrf.clone()),
                Err(e) => return refused(&app, &path, &e),
            },
            None => match cookie_session(&app, &jar).await {
                Ok((viewer, username, refreshed, csrf)) => {
                    set_cookies.extend(refreshed);
                    (viewer, username, csrf)
                }
                Err(e) => {
                    let mut response = refused(&app, &path, &e);
                    for c in set_cookies {
                        response.headers_mut().append(header::SET_COOKIE, c);
                    }
                    return response;
                }
            },
        };
        tracing::Span::current().record(
            "company",
            match &viewer {
                Viewer::Admin { .. } => "admin",
                Viewer::Staff { company_id, .. } => company_id.as_str(),
            },
        );
        request.extensions_mut().insert(Session {
            viewer,
            csrf,
            username,
        });
    } else {
        request
            .extensions_mut()
            .insert(PublicSession { csrf: public_csrf });
    }
    let mut response = next.run(request).await;
    for c in set_cookies {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// What the login form needs before anyone is logged in.
#[derive(Debug, Clone)]
pub struct PublicSession {
    pub csrf: String,
}

/// The cookie session's viewer, user name, refreshed cookies and CSRF token, refreshing its
/// tokens when the ID token is about to expire.
async fn cookie_session(
    app: &ControlCenter,
    jar: &std::collections::HashMap<String, String>,
) -> Result<(Viewer, Option<String>, Vec<HeaderValue>, String), AuthError> {
    let id = jar.get(ID_COOKIE).cloned().unwrap_or_default();
    let refresh = jar.get(REFRESH_COOKIE).filter(|r| !r.is_empty());
    let csrf = session_csrf(jar).unwrap_or_default();
    let fresh_enough =
        TokenVerifier::seconds_left(&id, now()).is_some_and(|s| s > REFRESH_BEFORE_SECS);
    if fresh_enough || refresh.is_none() {
        let viewer = app.verifier.verify(&id, now()).await?;
        return Ok((viewer, username_of(&id), Vec::new(), csrf));
    }
    let refresh = refresh.map(String::as_str).unwrap_or_default();
    match app.cognito.refresh(refresh).await {
        Ok(tokens) => {
            let viewer = app.verifier.verify(&tokens.id_token, now()).await?;
            tracing::info!("session refreshed");
            // A rotated refresh token is a new session secret, and so a new CSRF token.
            let csrf = tokens.refresh_token.as_deref().map_or(csrf, csrf_of);
            Ok((
                viewer,
                username_of(&tokens.id_token),
                session_cookies(&tokens),
                csrf,
            ))
        }
        Err(e) => {
            tracing::info!(reason = %e, "session refresh refused");
            // A token that still verifies keeps the session until it expires.
            let viewer = app.verifier.verify(&id, now()).await?;
            Ok((viewer, username_of(&id), Vec::new(), csrf))
        }
    }
}

/// The token's `cognito:username` (read after the token was verified).
fn username_of(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims
        .get("cognito:username")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// The CSRF token a request presents: the header, else a form body's `csrf` field (the body is
/// read and put back for the handler).
async fn csrf_presented(request: Request) -> Result<(Request, Option<String>), Response> {
    if let Some(h) = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        let h = h.to_owned();
        return Ok((request, Some(h)));
    }
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok((request, None));
    }
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, MAX_FORM_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return Err((StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response());
        }
    };
    let presented = form_field(&bytes, "csrf");
    Ok((Request::from_parts(parts, Body::from(bytes)), presented))
}

/// One field of a urlencoded form body.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_and_written_safely() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; cc_id=tok; a=2"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("b=3"));
        let jar = cookies(&headers);
        assert_eq!(jar["a"], "1");
        assert_eq!(jar["cc_id"], "tok");
        assert_eq!(jar["b"], "3");
        let c = set_cookie(ID_COOKIE, "v", 60);
        let text = c.to_str().expect("ascii");
        for part in [
            "__Host-cc_id=v;",
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/;",
            "Max-Age=60",
        ] {
            assert!(text.contains(part), "{text}");
        }
        assert!(!text.contains("Domain"), "{text}");
        assert_eq!(
            form_field(b"x=1&csrf=abc&y=2", "csrf").as_deref(),
            Some("abc")
        );
        assert_eq!(form_field(b"csrfx=1", "csrf"), None);
        assert_eq!(new_csrf().len(), 64);
        assert_ne!(new_csrf(), new_csrf());
    }

    #[test]
    fn the_csrf_token_is_the_sessions_own() {
        let jar = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<std::collections::HashMap<_, _>>()
        };
        let anna = session_csrf(&jar(&[
            (ID_COOKIE, "id1"),
            (REFRESH_COOKIE, "refresh-anna"),
        ]));
        let same = session_csrf(&jar(&[
            (ID_COOKIE, "id2"),
            (REFRESH_COOKIE, "refresh-anna"),
        ]));
        let ben = session_csrf(&jar(&[(ID_COOKIE, "id1"), (REFRESH_COOKIE, "refresh-ben")]));
        assert_eq!(anna, same, "an ID token refresh keeps the session's token");
        assert_ne!(anna, ben, "another session, another token");
        assert_eq!(anna.as_deref().map(str::len), Some(64));
        assert_eq!(session_csrf(&jar(&[(CSRF_COOKIE, "x")])), None);
        assert!(session_csrf(&jar(&[(ID_COOKIE, "only-id")])).is_some());
    }
}
