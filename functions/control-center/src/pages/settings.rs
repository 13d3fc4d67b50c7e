//! Settings: how the business runs, edited in forms — general (callback promise, notice,
//! horizon, slot step), opening hours, breaks, closures, services (names, duration, buffer,
//! price) and staff (hours, services, absences) — each section saved on its own with the
//! version it was shown with ([`crate::settings`]); and the change log (who, when, what). What
//! routes calls (agents, numbers, calendar backend) is shown, and changed by admins with
//! `companies load` or the API.

use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use shared::booking::company::CompanySettings;
use shared::booking::directory::StoredSettings;

use super::{layout, Ctx, PageError};
use crate::data;
use crate::settings::{read, save, SettingsError};
use crate::settings_form::{apply, breaks_text, closures_text, WEEKDAYS};

#[derive(Debug, Default, serde::Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

pub async fn page(
    ctx: Ctx,
    axum::extract::Query(q): axum::extract::Query<SavedQuery>,
) -> Result<Response, PageError> {
    let saved = q
        .saved
        .filter(|s| !s.is_empty())
        .map(|_| (StatusCode::OK, ctx.t("settings_saved").to_owned()));
    show(ctx, saved).await
}

async fn show(ctx: Ctx, notice: Option<(StatusCode, String)>) -> Result<Response, PageError> {
    let stored = read(&ctx.app.data.companies, &ctx.company.id)
        .await
        .map_err(|e| failed(&ctx, e))?;
    let status = notice.as_ref().map_or(StatusCode::OK, |(s, _)| *s);
    let markup = render(&ctx, &stored, notice.as_ref().map(|(_, t)| t.as_str()));
    let mut response = ctx.respond(markup);
    *response.status_mut() = status;
    Ok(response)
}

fn failed(ctx: &Ctx, e: SettingsError) -> PageError {
    match e {
        SettingsError::NotFound => PageError::new(StatusCode::NOT_FOUND, ctx.t("not_found")),
        SettingsError::Backend(reason) => {
            tracing::error!(reason = %reason, "settings unavailable");
            PageError::new(StatusCode::SERVICE_UNAVAILABLE, ctx.t("error"))
        }
        other => PageError::new(
            StatusCode::BAD_REQUEST,
            format!("{} {other}", ctx.t("bad_request")),
        ),
    }
}

/// One section's form: read, checked, saved with the version shown.
pub async fn save_section(
    ctx: Ctx,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let section = get("section");
    let version = get("version").parse::<u64>();
    let stored = read(&ctx.app.data.companies, &ctx.company.id)
        .await
        .map_err(|e| failed(&ctx, e))?;
    let outcome = match (version, apply(&section, &fields, &stored.settings)) {
        (Err(_), _) => Err(SettingsError::Invalid("version: missing".into())),
        (_, Err(reason)) => Err(SettingsError::Invalid(reason)),
        (Ok(version), Ok(next)) => {
            save(
                &ctx.app.data.companies,
                &ctx.viewer,
                &stored.settings,
                &next,
                version,
                &format!("desk:{}", ctx.viewer.user()),
                ctx.app.privacy.as_ref().map(|p| &p.audit),
            )
            .await
        }
    };
    match outcome {
        Ok(_) => Ok(Redirect::to(&format!(
            "{}?company={}&saved={section}",
            ctx.link("/settings"),
            ctx.company.id
        ))
        .into_response()),
        Err(e) => {
            let status = match &e {
                SettingsError::Stale | SettingsError::Conflict(_) => StatusCode::CONFLICT,
                SettingsError::Forbidden(_) => StatusCode::FORBIDDEN,
                SettingsError::Invalid(_) => StatusCode::BAD_REQUEST,
                _ => return Err(failed(&ctx, e)),
            };
            tracing::info!(status = status.as_u16(), reason = %e, "settings refused");
            let text = match e {
                SettingsError::Stale => ctx.t("settings_stale").to_owned(),
                other => format!("{} {other}", ctx.t("bad_request")),
            };
            show(ctx, Some((status, text))).await
        }
    }
}

fn section_form(ctx: &Ctx, version: u64, section: &str, title: &str, body: Markup) -> Markup {
    html! {
        section.settings data-section=(section) {
            h2 { (title) }
            form method="post" action=(format!("{}?company={}", ctx.link("/settings"), ctx.company.id)) {
                input type="hidden" name="csrf" value=(ctx.csrf);
                input type="hidden" name="section" value=(section);
                input type="hidden" name="version" value=(version);
                (body)
                button type="submit" { (ctx.t("save")) }
            }
        }
    }
}

fn week_inputs(
    prefix: &str,
    hours: Option<&std::collections::HashMap<String, Vec<String>>>,
    ctx: &Ctx,
) -> Markup {
    html! {
        div.week {
            @for day in WEEKDAYS {
                label { (ctx.t(day))
                    input type="text" name=(format!("{prefix}.{day}")) maxlength="200" placeholder="09:00-18:00"
                        value=(hours.and_then(|h| h.get(day)).map(|l| l.join(", ")).unwrap_or_default());
                }
            }
        }
    }
}

/// The page (no I/O).
pub fn render(ctx: &Ctx, stored: &StoredSettings, notice: Option<&str>) -> Markup {
    let s: &CompanySettings = &stored.settings;
    let v = stored.version;
    let tz = &ctx.company.time_zone;
    let body = html! {
        @if let Some(text) = notice {
            @if text == ctx.t("settings_saved") {
                p.notice role="status" { (text) }
            } @else {
                p.error role="alert" { (text) }
            }
        }
        p.note { (ctx.t("settings_note")) }
        (section_form(ctx, v, "general", ctx.t("settings_general"), html! {
            label { (ctx.t("settings_promise")) input type="number" name="callback_promise_minutes" min="1" max="10080" value=(s.callback_promise_minutes); }
            label { (ctx.t("settings_notice")) input type="number" name="min_notice_minutes" min="0" max="100000" value=(s.min_notice_minutes); }
            label { (ctx.t("settings_horizon")) input type="number" name="max_advance_days" min="1" max="730" value=(s.max_advance_days); }
            label { (ctx.t("settings_step")) input type="number" name="slot_step_minutes" min="1" max="1440" value=(s.slot_step_minutes); }
            @let currency = serde_json::to_value(s.currency.unwrap_or_default()).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            label { (ctx.t("settings_currency"))
                select name="currency" {
                    @for code in ["EUR", "CHF", "GBP", "USD"] {
                        option value=(code) selected[code == currency] { (code) }
                    }
                }
            }
        }))
        (section_form(ctx, v, "hours", ctx.t("settings_hours"), week_inputs("hours", Some(&s.hours), ctx)))
        (section_form(ctx, v, "breaks", ctx.t("settings_breaks"), html! {
            label.wide { (ctx.t("settings_breaks_help"))
                textarea name="breaks" rows="3" { (breaks_text(&s.breaks)) }
            }
        }))
        (section_form(ctx, v, "closures", ctx.t("settings_closures"), html! {
            label.wide { (ctx.t("settings_dates_help"))
                textarea name="closures" rows="4" { (closures_text(&s.closures)) }
            }
        }))
        (section_form(ctx, v, "services", ctx.t("settings_services"), html! {
            table.services {
                thead { tr {
                    th { "ID" } th { (ctx.t("settings_names")) } th { (ctx.t("settings_duration")) }
                    th { (ctx.t("settings_buffer")) } th { (ctx.t("settings_price")) } th { (ctx.t("settings_description")) } th { (ctx.t("settings_remove")) }
                } }
                tbody {
                    @for (i, svc) in s.services.iter().enumerate() {
                        tr data-service=(svc.id) {
                            td { input type="hidden" name=(format!("service.{i}.id")) value=(svc.id); code { (svc.id) } }
                            td { input type="text" name=(format!("service.{i}.names")) maxlength="300" value=(svc.names.join(", ")); }
                            td { input type="number" name=(format!("service.{i}.duration")) min="1" max="1440" value=(svc.duration_minutes); }
                            td { input type="number" name=(format!("service.{i}.buffer")) min="0" max="1440" value=(svc.buffer_minutes); }
                            td { input type="text" name=(format!("service.{i}.price")) maxlength="40" placeholder="45 / 45-60 / ab 45" value=(svc.price.map(|p| p.to_string()).unwrap_or_default()); }
                            td { textarea name=(format!("service.{i}.description")) rows="2" maxlength="500" { (svc.description.as_deref().unwrap_or_default()) } }
                            td { input type="checkbox" name=(format!("service.{i}.remove")); }
                        }
                    }
                    @let n = s.services.len();
                    tr.new {
                        td { input type="text" name=(format!("service.{n}.id")) maxlength="40" placeholder=(ctx.t("settings_new_id")); }
                        td { input type="text" name=(format!("service.{n}.names")) maxlength="300"; }
                        td { input type="number" name=(format!("service.{n}.duration")) min="1" max="1440"; }
                        td { input type="number" name=(format!("service.{n}.buffer")) min="0" max="1440"; }
                        td { input type="text" name=(format!("service.{n}.price")) maxlength="40"; }
                        td { textarea name=(format!("service.{n}.description")) rows="2" maxlength="500" {} }
                        td {}
                    }
                }
            }
        }))
        (section_form(ctx, v, "staff", ctx.t("settings_staff"), html! {
            @for (i, p) in s.staff.iter().enumerate() {
                fieldset.person data-staff=(p.id) {
                    legend { (p.name) " " code { (p.id) } }
                    input type="hidden" name=(format!("staff.{i}.id")) value=(p.id);
                    label { (ctx.t("settings_name")) input type="text" name=(format!("staff.{i}.name")) maxlength="60" value=(p.name); }
                    label { (ctx.t("settings_aliases")) input type="text" name=(format!("staff.{i}.aliases")) maxlength="300" value=(p.aliases.join(", ")); }
                    div.services {
                        label.check { input type="checkbox" name=(format!("staff.{i}.all_services")) checked[p.services.is_none()]; (ctx.t("settings_all_services")) }
                        @for svc in &s.services {
                            label.check {
                                input type="checkbox" name=(format!("staff.{i}.service")) value=(svc.id)
                                    checked[p.services.as_ref().is_some_and(|l| l.contains(&svc.id))];
                                (svc.names.first().unwrap_or(&svc.id))
                            }
                        }
                    }
                    p.note { (ctx.t("settings_staff_hours_help")) }
                    (week_inputs(&format!("staff.{i}.hours"), p.hours.as_ref(), ctx))
                    label.wide { (ctx.t("settings_absences"))
                        textarea name=(format!("staff.{i}.absences")) rows="2" { (closures_text(&p.absences)) }
                    }
                    label.check { input type="checkbox" name=(format!("staff.{i}.remove")); (ctx.t("settings_remove")) }
                }
            }
            @let n = s.staff.len();
            fieldset.person.new {
                legend { (ctx.t("settings_new_person")) }
                label { "ID" input type="text" name=(format!("staff.{n}.id")) maxlength="40" placeholder=(ctx.t("settings_new_id")); }
                label { (ctx.t("settings_name")) input type="text" name=(format!("staff.{n}.name")) maxlength="60"; }
                input type="hidden" name=(format!("staff.{n}.all_services")) value="on";
            }
        }))
        (section_form(ctx, v, "faq", ctx.t("settings_faq"), html! {
            p.note { (ctx.t("settings_faq_help")) }
            table.faq {
                thead { tr { th { (ctx.t("settings_question")) } th { (ctx.t("settings_answer")) } th { (ctx.t("settings_remove")) } } }
                tbody {
                    @for (i, e) in s.faq.iter().enumerate() {
                        tr {
                            td { input type="text" name=(format!("faq.{i}.question")) maxlength="300" value=(e.question); }
                            td { textarea name=(format!("faq.{i}.answer")) rows="2" maxlength="2000" { (e.answer) } }
                            td { input type="checkbox" name=(format!("faq.{i}.remove")); }
                        }
                    }
                    @let n = s.faq.len();
                    tr.new {
                        td { input type="text" name=(format!("faq.{n}.question")) maxlength="300" placeholder=(ctx.t("settings_new_question")); }
                        td { textarea name=(format!("faq.{n}.answer")) rows="2" maxlength="2000" {} }
                        td {}
                    }
                }
            }
        }))
        section.settings-log {
            h2 { (ctx.t("settings_log")) }
            @if stored.changes.is_empty() {
                p.empty { "–" }
            } @else {
                ol.changes {
                    @for c in stored.changes.iter().rev() {
                        li { (data::local_time(c.at_ms, tz, "%d.%m.%Y %H:%M")) " · " span.by { (c.by) } " · " (c.what) }
                    }
                }
            }
        }
    };
    layout(ctx, "settings", ctx.t("settings"), body)
}
