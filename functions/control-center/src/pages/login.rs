//! Login (Cognito InitiateAuth with the user's password) and logout.

use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use maud::{html, DOCTYPE};
use serde::Deserialize;

use crate::cognito::LoginError;
use crate::i18n::Lang;
use crate::session::{self, PublicSession, Session};
use crate::ControlCenter;

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    lang: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    lang: Option<String>,
}

fn lang_of(headers: &HeaderMap, asked: Option<&str>) -> Lang {
    asked
        .and_then(Lang::parse)
        .or_else(|| {
            session::cookies(headers)
                .get(session::LANG_COOKIE)
                .and_then(|l| Lang::parse(l))
        })
        .unwrap_or(Lang::De)
}

fn page(app: &ControlCenter, csrf: &str, lang: Lang, error: Option<&str>) -> maud::Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (lang.t("login")) " · " (lang.t("title")) }
                link rel="stylesheet" href=(app.link("/assets/app.css"));
            }
            body.login {
                main {
                    h1 { (lang.t("title")) }
                    @if let Some(e) = error { p.error role="alert" { (e) } }
                    form method="post" action=(app.link("/login")) {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="lang" value=(lang.code());
                        label { (lang.t("username"))
                            input type="text" name="username" autocomplete="username" required maxlength="128" autofocus; }
                        label { (lang.t("password"))
                            input type="password" name="password" autocomplete="current-password" required maxlength="256"; }
                        button type="submit" { (lang.t("login")) }
                    }
                    p.lang { a href="?lang=de" { "Deutsch" } " | " a href="?lang=en" { "English" } }
                }
            }
        }
    }
}

pub async fn form(
    State(app): State<Arc<ControlCenter>>,
    Extension(public): Extension<PublicSession>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    page(
        &app,
        &public.csrf,
        lang_of(&headers, q.lang.as_deref()),
        None,
    )
    .into_response()
}

pub async fn submit(
    State(app): State<Arc<ControlCenter>>,
    Extension(public): Extension<PublicSession>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = lang_of(&headers, form.lang.as_deref());
    let username = form.username.trim();
    if username.is_empty() || username.len() > 128 || form.password.len() > 256 {
        let message = login_message(&LoginError::Credentials, lang);
        return (
            StatusCode::UNAUTHORIZED,
            page(&app, &public.csrf, lang, Some(message)),
        )
            .into_response();
    }
    match app.cognito.password_login(username, &form.password).await {
        Ok(tokens) => match app
            .verifier
            .verify(&tokens.id_token, chrono::Utc::now().timestamp())
            .await
        {
            Ok(viewer) => {
                tracing::info!(admin = viewer.is_admin(), "login");
                let mut response = Redirect::to(&app.link("")).into_response();
                for c in session::session_cookies(&tokens) {
                    response.headers_mut().append(header::SET_COOKIE, c);
                }
                response
            }
            Err(e) => {
                tracing::warn!(reason = %e, "login refused: token not usable here");
                let text = match e {
                    crate::auth::AuthError::NoCompany => lang.t("forbidden"),
                    _ => lang.t("error"),
                };
                (
                    StatusCode::FORBIDDEN,
                    page(&app, &public.csrf, lang, Some(text)),
                )
                    .into_response()
            }
        },
        Err(e) => {
            tracing::info!(reason = %e, "login refused");
            let status = match e {
                LoginError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNAUTHORIZED,
            };
            (
                status,
                page(&app, &public.csrf, lang, Some(login_message(&e, lang))),
            )
                .into_response()
        }
    }
}

fn login_message(e: &LoginError, lang: Lang) -> &'static str {
    match (e, lang) {
        (LoginError::Credentials, Lang::De) => "Benutzername oder Passwort ist falsch.",
        (LoginError::Credentials, Lang::En) => "Wrong user name or password.",
        (LoginError::LockedOut, Lang::De) => {
            "Zu viele Fehlversuche. Bitte später erneut versuchen."
        }
        (LoginError::LockedOut, Lang::En) => "Too many failed attempts. Please try again later.",
        (LoginError::Disabled, Lang::De) => "Dieses Konto ist gesperrt.",
        (LoginError::Disabled, Lang::En) => "This account is disabled.",
        (LoginError::NewPassword, Lang::De) => {
            "Für dieses Konto muss zuerst ein neues Passwort gesetzt werden."
        }
        (LoginError::NewPassword, Lang::En) => "This account must set a new password first.",
        (LoginError::SessionEnded, Lang::De) => "Die Sitzung ist abgelaufen.",
        (LoginError::SessionEnded, Lang::En) => "The session has ended.",
        (LoginError::Unavailable(_), _) => lang.t("error"),
    }
}

pub async fn logout(
    State(app): State<Arc<ControlCenter>>,
    Extension(session): Extension<Session>,
) -> Response {
    if let Some(user) = &session.username {
        if let Err(e) = app.cognito.sign_out(user).await {
            tracing::warn!(reason = %e, "sign-out at Cognito failed; the session cookies are cleared anyway");
        }
    }
    tracing::info!("logout");
    let mut response = Redirect::to(&app.link("/login")).into_response();
    for c in session::cleared_cookies() {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}
