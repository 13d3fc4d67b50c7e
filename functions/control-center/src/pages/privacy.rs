//! Privacy (admins only): a caller's data of the company shown in the page, exported as one JSON
//! file or erased (`crate::privacy`, the same as `retell-ops privacy`), and the company's audit
//! trail (who viewed calls, exported, erased, changed settings).

use axum::extract::Form;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use serde::Deserialize;

use crate::pages::{layout, Ctx, PageError};
use crate::privacy::PrivacyFailure;

#[derive(Debug, Deserialize)]
pub struct CallerForm {
    phone: String,
    /// Erasure only: the company id typed again.
    confirm: Option<String>,
}

fn failure(ctx: &Ctx, e: PrivacyFailure) -> PageError {
    match e {
        PrivacyFailure::Forbidden => PageError::new(StatusCode::FORBIDDEN, ctx.t("forbidden")),
        PrivacyFailure::NotFound => PageError::new(StatusCode::NOT_FOUND, ctx.t("not_found")),
        PrivacyFailure::Invalid(reason) => PageError::new(
            StatusCode::BAD_REQUEST,
            format!("{} {reason}", ctx.t("bad_request")),
        ),
        PrivacyFailure::NotConfigured => PageError::new(StatusCode::NOT_IMPLEMENTED, e.to_string()),
        PrivacyFailure::Backend(reason) => {
            tracing::error!(reason = %reason, "privacy page failed");
            PageError::new(StatusCode::SERVICE_UNAVAILABLE, ctx.t("error"))
        }
    }
}

fn admins_only(ctx: &Ctx) -> Result<(), PageError> {
    if ctx.viewer.is_admin() {
        Ok(())
    } else {
        Err(PageError::new(StatusCode::FORBIDDEN, ctx.t("forbidden")))
    }
}

pub async fn page(ctx: Ctx) -> Result<Response, PageError> {
    admins_only(&ctx)?;
    let markup = render(&ctx, None).await?;
    Ok(ctx.respond(markup))
}

async fn render(ctx: &Ctx, result: Option<Markup>) -> Result<Markup, PageError> {
    let app = ctx.app.clone();
    let entries = app
        .audit_entries(&ctx.viewer, &ctx.company.id, 30, 200)
        .await
        .map_err(|e| failure(ctx, e))?;
    let tz = ctx.company.time_zone;
    let body = html! {
        @if let Some(result) = result { (result) }
        p { (ctx.t("privacy_about")) }
        section.caller {
            h2 { (ctx.t("caller_data")) }
            form.export method="post" action=(ctx.link("/privacy/export")) {
                input type="hidden" name="csrf" value=(ctx.csrf);
                label { (ctx.t("phone")) " " input type="tel" name="phone" required autocomplete="off" maxlength="32"; }
                button type="submit" { (ctx.t("export_caller")) }
            }
            form.erase method="post" action=(ctx.link("/privacy/erase")) {
                input type="hidden" name="csrf" value=(ctx.csrf);
                label { (ctx.t("phone")) " " input type="tel" name="phone" required autocomplete="off" maxlength="32"; }
                label { (ctx.t("erase_confirm")) " (" code { (ctx.company.id) } ") "
                    input type="text" name="confirm" required autocomplete="off" maxlength="128"; }
                button.danger type="submit" { (ctx.t("erase_caller")) }
            }
        }
        section.audit {
            h2 { (ctx.t("audit_trail")) }
            @if entries.is_empty() { p.empty { "–" } }
            @else {
                table.audit {
                    thead { tr { th { (ctx.t("when")) } th { (ctx.t("by")) } th { (ctx.t("action")) } th { (ctx.t("subject")) } } }
                    tbody { @for e in &entries { tr {
                        td { (crate::data::local_time(e.at_ms, &tz, "%Y-%m-%d %H:%M:%S")) }
                        td { (e.by) }
                        td { code { (e.action) } }
                        td { (e.subject) }
                    } } }
                }
            }
        }
    };
    Ok(layout(ctx, "privacy", ctx.t("privacy"), body))
}

/// The document as a download (`Content-Disposition: attachment`), never cached.
pub async fn export(ctx: Ctx, Form(form): Form<CallerForm>) -> Result<Response, PageError> {
    admins_only(&ctx)?;
    let app = ctx.app.clone();
    let document = app
        .export_caller(&ctx.viewer, &ctx.company.id, &form.phone)
        .await
        .map_err(|e| failure(&ctx, e))?;
    let text = serde_json::to_string_pretty(&document).unwrap_or_else(|_| "{}".into());
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/json; charset=utf-8".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"export-{}.json\"", ctx.company.id),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        text,
    )
        .into_response())
}

pub async fn erase(ctx: Ctx, Form(form): Form<CallerForm>) -> Result<Response, PageError> {
    admins_only(&ctx)?;
    if form.confirm.as_deref().map(str::trim) != Some(ctx.company.id.as_str()) {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            format!("{} {}", ctx.t("bad_request"), ctx.t("erase_confirm")),
        ));
    }
    let app = ctx.app.clone();
    let receipt = app
        .erase_caller(&ctx.viewer, &ctx.company.id, &form.phone)
        .await
        .map_err(|e| failure(&ctx, e))?;
    let result = html! {
        @if receipt.nothing_held() {
            p.notice role="status" { (ctx.t("nothing_held")) }
        } @else {
            p.notice role="status" {
                (ctx.t("erased")) ": " (receipt.call_ids.len()) " " (ctx.t("calls")) " · "
                (receipt.appointment_ids.len()) " " (ctx.t("appointments")) " · "
                (receipt.messages) " " (ctx.t("messages")) " · "
                (receipt.callbacks) " " (ctx.t("callbacks")) " · Retell: " (receipt.retell)
            }
        }
        @if receipt.proof.clean() {
            p.ok { (ctx.t("proof_clean")) " (" (receipt.proof.items_scanned) ")" }
        } @else {
            p.warning { (ctx.t("proof_found")) ": " (receipt.proof.found.join(", ")) }
        }
    };
    let markup = render(&ctx, Some(result)).await?;
    Ok(ctx.respond(markup))
}
