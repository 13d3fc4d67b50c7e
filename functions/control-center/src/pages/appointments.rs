//! The appointment desk: a day with one column per staff member (`?date=`), or a week
//! (`?view=week`); each appointment with its time, customer, service, person, where it came from
//! (a phone call, linked to its page; the desk; Cal.com) and its status. Staff add a walk-in,
//! move, cancel, and mark arrived or no-show; every write goes through [`crate::desk`], the same
//! calendar code and locks as the phone agent's tools.

use std::collections::HashMap;

use axum::extract::{Form, Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Datelike, Duration, NaiveDate};
use maud::{html, Markup};
use serde::Deserialize;
use shared::booking::company::Company;
use shared::calendar::{Appointment, AppointmentSource, AppointmentStatus, Attendance};

use super::{layout, Ctx, PageError};
use crate::absences::{self, Absence};
use crate::data;
use crate::desk::{read_date, read_time, DeskError, NewAppointment};
use crate::settings::SettingsError;

#[derive(Debug, Default, Deserialize)]
pub struct DeskQuery {
    date: Option<String>,
    view: Option<String>,
}

/// What the page shows besides the appointments: a refusal of the last write.
pub struct Notice {
    pub status: StatusCode,
    pub text: String,
    /// Appointments the notice is about (an absence's collisions), each linked to its day.
    pub appointments: Vec<Appointment>,
}

pub async fn page(ctx: Ctx, Query(q): Query<DeskQuery>) -> Result<Response, PageError> {
    let today = data::today(&ctx.company.time_zone);
    let date = match q.date.as_deref().filter(|d| !d.is_empty()) {
        None => today,
        Some(d) => read_date(d).map_err(|e| bad(&ctx, &e))?,
    };
    let week = q.view.as_deref() == Some("week");
    show(ctx, date, week, None).await
}

/// The day (or week) of `date`, with `notice` on top and its status.
async fn show(
    ctx: Ctx,
    date: NaiveDate,
    week: bool,
    notice: Option<Notice>,
) -> Result<Response, PageError> {
    let lang = ctx.lang;
    let company = settings(&ctx)?;
    let first = if week {
        date - Duration::days(i64::from(date.weekday().num_days_from_monday()))
    } else {
        date
    };
    let appointments = ctx
        .app
        .desk
        .appointments(&company, first, if week { 7 } else { 1 })
        .await
        .map_err(|e| desk_error(e, lang))?;
    let status = notice.as_ref().map_or(StatusCode::OK, |n| n.status);
    let markup = render(&ctx, &company, date, week, &appointments, notice.as_ref());
    let mut response = ctx.respond(markup);
    *response.status_mut() = status;
    Ok(response)
}

fn settings(ctx: &Ctx) -> Result<std::sync::Arc<Company>, PageError> {
    ctx.company
        .settings
        .clone()
        .ok_or_else(|| PageError::new(StatusCode::NOT_FOUND, ctx.t("not_found")))
}

fn bad(ctx: &Ctx, e: &DeskError) -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        format!("{} {e}", ctx.t("bad_request")),
    )
}

fn desk_error(e: DeskError, lang: crate::i18n::Lang) -> PageError {
    match e {
        DeskError::NotFound => PageError::new(StatusCode::NOT_FOUND, lang.t("not_found")),
        DeskError::Backend(reason) => {
            tracing::error!(reason = %reason, "desk calendar failed");
            PageError::new(StatusCode::SERVICE_UNAVAILABLE, lang.t("error"))
        }
        other => PageError::new(
            StatusCode::BAD_REQUEST,
            format!("{} {other}", lang.t("bad_request")),
        ),
    }
}

/// A write's refusal shown on the day it was about, with its status: 409 and who is free for a
/// taken time, 400 and the field for a form that cannot be read, 409 for an appointment that
/// changed meanwhile.
fn notice_of(ctx: &Ctx, e: DeskError) -> Result<Notice, PageError> {
    Ok(match e {
        DeskError::Taken { free } => Notice {
            status: StatusCode::CONFLICT,
            text: if free.is_empty() {
                ctx.t("desk_taken_nobody").to_owned()
            } else {
                format!("{} {}", ctx.t("desk_taken_free"), free.join(", "))
            },
            appointments: Vec::new(),
        },
        DeskError::Invalid(reason) => Notice {
            status: StatusCode::BAD_REQUEST,
            text: format!("{} {reason}", ctx.t("bad_request")),
            appointments: Vec::new(),
        },
        DeskError::NotBooked => Notice {
            status: StatusCode::CONFLICT,
            text: ctx.t("desk_not_booked").to_owned(),
            appointments: Vec::new(),
        },
        other => return Err(desk_error(other, ctx.lang)),
    })
}

/// Back to the day after a write (303: the browser asks for it with GET).
fn back_to(ctx: &Ctx, date: NaiveDate) -> Response {
    Redirect::to(&format!(
        "{}?date={date}&company={}",
        ctx.link("/appointments"),
        ctx.company.id
    ))
    .into_response()
}

#[derive(Debug, Deserialize)]
pub struct NewForm {
    service_id: String,
    date: String,
    time: String,
    #[serde(default)]
    customer_name: String,
    customer_phone: String,
    #[serde(default)]
    staff: String,
}

/// A walk-in (or a call the staff took): booked like a phone booking.
pub async fn create(ctx: Ctx, Form(form): Form<NewForm>) -> Result<Response, PageError> {
    let company = settings(&ctx)?;
    let new = NewAppointment::read(
        &form.service_id,
        &form.date,
        &form.time,
        &form.customer_name,
        &form.customer_phone,
        &form.staff,
    );
    let date = read_date(&form.date).unwrap_or_else(|_| data::today(&company.time_zone));
    let outcome = match new {
        Ok(new) => ctx.app.desk.book(&company, &new, &by(&ctx)).await.map(|a| {
            tracing::info!(appointment_id = %a.appointment_id, staff = a.staff_id.as_deref().unwrap_or(""), "desk booked");
        }),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => Ok(back_to(&ctx, date)),
        Err(e) => {
            let notice = notice_of(&ctx, e)?;
            show(ctx, date, false, Some(notice)).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct AbsenceForm {
    staff: String,
    from: String,
    #[serde(default)]
    to: String,
}

/// Marks a staff member absent; the day is shown again with the person's appointments on the
/// absent days listed, to be moved or called (none is cancelled).
pub async fn absence(mut ctx: Ctx, Form(form): Form<AbsenceForm>) -> Result<Response, PageError> {
    let company = settings(&ctx)?;
    let shown = read_date(&form.from).unwrap_or_else(|_| data::today(&company.time_zone));
    let marked = match Absence::read(&form.staff, &form.from, &form.to) {
        Ok(absence) => absences::mark(
            &ctx.app.data.companies,
            &ctx.app.desk,
            &ctx.viewer,
            company.id(),
            &absence,
            &by(&ctx),
            ctx.app.privacy.as_ref().map(|p| &p.audit),
        )
        .await
        .map(|collisions| (absence, collisions)),
        Err(e) => Err(e),
    };
    let notice = match marked {
        Ok((absence, collisions)) => {
            let name = company
                .team
                .member(&absence.staff_id)
                .map_or(absence.staff_id.clone(), |m| m.name.clone());
            tracing::info!(staff = %absence.staff_id, collisions = collisions.len(), "absence marked");
            Notice {
                status: StatusCode::OK,
                text: format!(
                    "{name}: {} {} – {}. {}",
                    ctx.t("desk_absent"),
                    absence.from.format("%d.%m.%Y"),
                    absence.to.format("%d.%m.%Y"),
                    if collisions.is_empty() {
                        ctx.t("desk_no_collisions")
                    } else {
                        ctx.t("desk_collisions")
                    }
                ),
                appointments: collisions,
            }
        }
        Err(e) => settings_notice(&ctx, e)?,
    };
    // The day as it is now: with the absence (the directory remembers what it just wrote).
    if let Ok(Some(now)) = ctx
        .app
        .data
        .companies
        .lookup(&shared::booking::directory::CompanyKey::Id(
            ctx.company.id.clone(),
        ))
        .await
    {
        ctx.company.settings = Some(now);
    }
    show(ctx, shown, false, Some(notice)).await
}

/// A settings write's refusal as a notice (409 stale, 400 invalid, 403 admin-only).
fn settings_notice(ctx: &Ctx, e: SettingsError) -> Result<Notice, PageError> {
    let status = match &e {
        SettingsError::Stale | SettingsError::Conflict(_) => StatusCode::CONFLICT,
        SettingsError::Invalid(_) => StatusCode::BAD_REQUEST,
        SettingsError::Forbidden(_) => StatusCode::FORBIDDEN,
        SettingsError::NotFound => {
            return Err(PageError::new(StatusCode::NOT_FOUND, ctx.t("not_found")))
        }
        SettingsError::Backend(reason) => {
            tracing::error!(reason = %reason, "settings unavailable");
            return Err(PageError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ctx.t("error"),
            ));
        }
    };
    Ok(Notice {
        status,
        text: format!("{} {e}", ctx.t("bad_request")),
        appointments: Vec::new(),
    })
}

#[derive(Debug, Deserialize)]
pub struct MoveForm {
    date: String,
    time: String,
    #[serde(default)]
    staff: String,
}

pub async fn reschedule(
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<MoveForm>,
) -> Result<Response, PageError> {
    let company = settings(&ctx)?;
    let date = read_date(&form.date);
    let time = read_time(&form.time);
    let shown = date
        .as_ref()
        .copied()
        .unwrap_or_else(|_| data::today(&company.time_zone));
    let outcome = match (date, time) {
        (Ok(date), Ok(time)) => {
            let staff = Some(form.staff.trim()).filter(|s| !s.is_empty());
            ctx.app
                .desk
                .reschedule(&company, &id, (date, time), staff, &by(&ctx))
                .await
                .map(|a| tracing::info!(appointment_id = %a.appointment_id, "desk moved"))
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match outcome {
        Ok(()) => Ok(back_to(&ctx, shown)),
        Err(e) => {
            let notice = notice_of(&ctx, e)?;
            show(ctx, shown, false, Some(notice)).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct DayForm {
    date: String,
}

pub async fn cancel(
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<DayForm>,
) -> Result<Response, PageError> {
    let company = settings(&ctx)?;
    let date = read_date(&form.date).unwrap_or_else(|_| data::today(&company.time_zone));
    match ctx.app.desk.cancel(&company, &id, &by(&ctx)).await {
        Ok(()) => {
            tracing::info!(appointment_id = %id, "desk cancelled");
            Ok(back_to(&ctx, date))
        }
        Err(e) => {
            let notice = notice_of(&ctx, e)?;
            show(ctx, date, false, Some(notice)).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct AttendanceForm {
    date: String,
    attendance: String,
}

pub async fn attendance(
    ctx: Ctx,
    Path(id): Path<String>,
    Form(form): Form<AttendanceForm>,
) -> Result<Response, PageError> {
    let company = settings(&ctx)?;
    let date = read_date(&form.date).unwrap_or_else(|_| data::today(&company.time_zone));
    let outcome = match Attendance::parse(&form.attendance) {
        Some(a) => ctx.app.desk.attendance(&company, &id, a, &by(&ctx)).await,
        None => Err(DeskError::Invalid("attendance: arrived or no_show".into())),
    };
    match outcome {
        Ok(()) => Ok(back_to(&ctx, date)),
        Err(e) => {
            let notice = notice_of(&ctx, e)?;
            show(ctx, date, false, Some(notice)).await
        }
    }
}

/// Who writes, as the appointment records it.
fn by(ctx: &Ctx) -> String {
    format!("desk:{}", ctx.viewer.user())
}

/// The desk page (no I/O: what the benchmark renders).
pub fn render(
    ctx: &Ctx,
    company: &Company,
    date: NaiveDate,
    week: bool,
    appointments: &[Appointment],
    notice: Option<&Notice>,
) -> Markup {
    let here = ctx.link("/appointments");
    let q = |d: NaiveDate, week: bool| {
        format!(
            "{here}?date={d}&company={}{}",
            ctx.company.id,
            if week { "&view=week" } else { "" }
        )
    };
    let step = if week { 7 } else { 1 };
    let services: HashMap<&str, &str> = company
        .settings
        .services
        .iter()
        .map(|s| {
            (
                s.id.as_str(),
                s.names.first().map_or(s.id.as_str(), String::as_str),
            )
        })
        .collect();
    let staffed = company.team.is_staffed();
    let body = html! {
        nav.desk-nav {
            a.prev href=(q(date - Duration::days(step), week)) { "← " (ctx.t(if week { "desk_prev_week" } else { "desk_prev_day" })) }
            form.filters method="get" action=(here) {
                input type="hidden" name="company" value=(ctx.company.id);
                @if week { input type="hidden" name="view" value="week"; }
                label { (ctx.t("day")) input type="date" name="date" value=(date.to_string()); }
                button type="submit" { (ctx.t("show")) }
            }
            a.next href=(q(date + Duration::days(step), week)) { (ctx.t(if week { "desk_next_week" } else { "desk_next_day" })) " →" }
            @if week {
                a.view href=(q(date, false)) { (ctx.t("desk_day_view")) }
            } @else {
                a.view href=(q(date, true)) { (ctx.t("desk_week_view")) }
            }
        }
        @if let Some(n) = notice {
            @if n.status.is_success() {
                div.notice.absence role="status" {
                    p { (n.text) }
                    @if !n.appointments.is_empty() {
                        ul.collisions {
                            @for a in &n.appointments {
                                li data-id=(a.appointment_id) {
                                    a href=(format!("{}?date={}&company={}", ctx.link("/appointments"), a.date, ctx.company.id)) {
                                        (a.date.format("%d.%m.%Y").to_string()) " " (a.time.format("%H:%M").to_string())
                                    }
                                    " · " (services.get(a.service_id.as_str()).copied().unwrap_or(&a.service_id))
                                    " · " (a.customer_name.as_deref().unwrap_or("–")) " · " a href=(format!("tel:{}", a.customer_phone)) { (a.customer_phone) }
                                }
                            }
                        }
                    }
                }
            } @else {
                p.error role="alert" { (n.text) }
            }
        }
        @if week {
            (week_grid(ctx, company, date, appointments, &services))
        } @else {
            div.day-grid {
                @for member in &company.team.members {
                    section.staff-column data-staff=(member.id) {
                        h2 { (if staffed { member.name.as_str() } else { ctx.t("appointments") }) }
                        @let mine: Vec<&Appointment> = appointments.iter()
                            .filter(|a| !staffed || company.team.member_or_default(a.staff_id.as_deref()).id == member.id)
                            .collect();
                        @if mine.is_empty() {
                            p.empty { (ctx.t("desk_free_day")) }
                        }
                        @for a in mine {
                            (card(ctx, company, a, &services, date))
                        }
                    }
                }
            }
            (new_form(ctx, company, date))
        }
    };
    let title = if week {
        format!(
            "{} · {} {}",
            ctx.t("appointments"),
            ctx.t("desk_week_of"),
            date
        )
    } else {
        format!("{} · {}", ctx.t("appointments"), date)
    };
    layout(ctx, "appointments", &title, body)
}

fn week_grid(
    ctx: &Ctx,
    company: &Company,
    date: NaiveDate,
    appointments: &[Appointment],
    services: &HashMap<&str, &str>,
) -> Markup {
    let monday = date - Duration::days(i64::from(date.weekday().num_days_from_monday()));
    html! {
        div.week-grid {
            @for day in monday.iter_days().take(7) {
                section.week-day {
                    h2 { a href=(format!("{}?date={day}&company={}", ctx.link("/appointments"), ctx.company.id)) {
                        (weekday(ctx, day)) " " (day.format("%d.%m.").to_string()) } }
                    @for a in appointments.iter().filter(|a| a.date == day) {
                        div.appointment.compact class=[(a.status == AppointmentStatus::Cancelled).then_some("cancelled")] {
                            span.time { (a.time.format("%H:%M").to_string()) }
                            " " span.service { (services.get(a.service_id.as_str()).copied().unwrap_or(&a.service_id)) }
                            @if let Some(name) = staff_name(company, a) { " · " span.staff { (name) } }
                            " · " span.customer { (a.customer_name.as_deref().unwrap_or(&a.customer_phone)) }
                        }
                    }
                }
            }
        }
    }
}

/// A day's short weekday name in the page's language.
fn weekday(ctx: &Ctx, day: NaiveDate) -> &'static str {
    let i = day.weekday().num_days_from_monday() as usize;
    match ctx.lang {
        crate::i18n::Lang::De => ["Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"][i],
        crate::i18n::Lang::En => ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][i],
    }
}

fn staff_name<'a>(company: &'a Company, a: &Appointment) -> Option<&'a str> {
    company.team.is_staffed().then(|| {
        company
            .team
            .member_or_default(a.staff_id.as_deref())
            .name
            .as_str()
    })
}

/// One appointment with what it is and what the desk can do with it.
fn card(
    ctx: &Ctx,
    company: &Company,
    a: &Appointment,
    services: &HashMap<&str, &str>,
    date: NaiveDate,
) -> Markup {
    let tz = &company.time_zone;
    let end = a.end.with_timezone(tz).format("%H:%M").to_string();
    let booked = a.status == AppointmentStatus::Booked;
    // The person is off that day (an absence marked after the booking) or the business closed.
    let collides = booked
        && company
            .team
            .member_or_default(a.staff_id.as_deref())
            .schedule
            .closures
            .contains(&a.date);
    let action = |what: &str| {
        ctx.link(&format!(
            "/appointments/{}/{what}?company={}",
            a.appointment_id, ctx.company.id
        ))
    };
    html! {
        article.appointment data-id=(a.appointment_id) class=[(!booked).then_some("cancelled")] data-collides=[collides.then_some("true")] {
            header {
                span.time { (a.time.format("%H:%M").to_string()) "–" (end) }
                " " span.service { (services.get(a.service_id.as_str()).copied().unwrap_or(&a.service_id)) }
            }
            @if collides {
                p.collides { (ctx.t("desk_collides")) }
            }
            p.customer {
                (a.customer_name.as_deref().unwrap_or("–")) " · " (a.customer_phone)
            }
            p.meta {
                span.source { (match a.source() {
                    AppointmentSource::Phone => html! {
                        @if let Some(call) = &a.call_id {
                            a href=(ctx.link(&format!("/calls/{call}"))) { (ctx.t("desk_source_phone")) }
                        } @else { (ctx.t("desk_source_phone")) }
                    },
                    AppointmentSource::Desk => html! { (ctx.t("desk_source_desk")) },
                    AppointmentSource::CalCom => html! { "Cal.com" },
                }) }
                " · " span.status { (status_text(ctx, a)) }
            }
            @if !a.changes.is_empty() {
                details.log {
                    summary { (ctx.t("desk_log")) " (" (a.changes.len()) ")" }
                    ol {
                        @for c in &a.changes {
                            li {
                                (data::local_time(c.at_ms, tz, "%d.%m. %H:%M")) " · "
                                (change_text(ctx, &c.what)) " · " (c.detail) " · " span.by { (c.by) }
                            }
                        }
                    }
                }
            }
            @if booked {
                details.actions {
                    summary { (ctx.t("desk_change")) }
                    form.move method="post" action=(action("move")) {
                        input type="hidden" name="csrf" value=(ctx.csrf);
                        label { (ctx.t("day")) input type="date" name="date" value=(a.date.to_string()) required; }
                        label { (ctx.t("time")) input type="time" name="time" step="300" value=(a.time.format("%H:%M").to_string()) required; }
                        @if company.team.is_staffed() {
                            label { (ctx.t("staff")) (staff_select(ctx, company, a.staff_id.as_deref(), false)) }
                        }
                        button type="submit" { (ctx.t("desk_move")) }
                    }
                    form.inline method="post" action=(action("attendance")) {
                        input type="hidden" name="csrf" value=(ctx.csrf);
                        input type="hidden" name="date" value=(date.to_string());
                        button name="attendance" value="arrived" type="submit" { (ctx.t("desk_arrived")) }
                        button name="attendance" value="no_show" type="submit" { (ctx.t("desk_no_show")) }
                    }
                    form.inline.cancel method="post" action=(action("cancel")) {
                        input type="hidden" name="csrf" value=(ctx.csrf);
                        input type="hidden" name="date" value=(date.to_string());
                        button type="submit" { (ctx.t("desk_cancel")) }
                    }
                }
            }
        }
    }
}

fn change_text(ctx: &Ctx, what: &str) -> &'static str {
    match what {
        "booked" => ctx.t("desk_booked"),
        "moved" => ctx.t("desk_moved"),
        "cancelled" => ctx.t("desk_cancelled"),
        "arrived" => ctx.t("desk_arrived"),
        "no_show" => ctx.t("desk_no_show"),
        _ => ctx.t("desk_changed"),
    }
}

fn status_text(ctx: &Ctx, a: &Appointment) -> String {
    match (a.status, a.attendance) {
        (AppointmentStatus::Cancelled, _) => ctx.t("desk_cancelled").to_owned(),
        (_, Some(Attendance::Arrived)) => ctx.t("desk_arrived").to_owned(),
        (_, Some(Attendance::NoShow)) => ctx.t("desk_no_show").to_owned(),
        _ => ctx.t("desk_booked").to_owned(),
    }
}

/// A choice of the company's staff (`any`: with "whoever is free" first).
fn staff_select(ctx: &Ctx, company: &Company, selected: Option<&str>, any: bool) -> Markup {
    html! {
        select name="staff" {
            @if any { option value="" { (ctx.t("desk_anyone")) } }
            @for m in company.team.members.iter().filter(|m| !m.is_implicit()) {
                option value=(m.id) selected[selected == Some(m.id.as_str())] { (m.name) }
            }
        }
    }
}

fn new_form(ctx: &Ctx, company: &Company, date: NaiveDate) -> Markup {
    html! {
        section.new-appointment {
            h2 { (ctx.t("desk_new")) }
            form.new method="post" action=(ctx.link(&format!("/appointments?company={}", ctx.company.id))) {
                input type="hidden" name="csrf" value=(ctx.csrf);
                label { (ctx.t("service"))
                    select name="service_id" required {
                        @for s in &company.settings.services {
                            option value=(s.id) { (s.names.first().map_or(s.id.as_str(), String::as_str)) }
                        }
                    }
                }
                @if company.team.is_staffed() {
                    label { (ctx.t("staff")) (staff_select(ctx, company, None, true)) }
                }
                label { (ctx.t("day")) input type="date" name="date" value=(date.to_string()) required; }
                label { (ctx.t("time")) input type="time" name="time" step="300" required; }
                label { (ctx.t("customer")) input type="text" name="customer_name" maxlength="100"; }
                label { (ctx.t("phone")) input type="tel" name="customer_phone" placeholder="+49…" required maxlength="32"; }
                button type="submit" { (ctx.t("desk_book")) }
            }
        }
        @if company.team.is_staffed() {
            section.absence {
                h2 { (ctx.t("desk_absence")) }
                form.absence method="post" action=(ctx.link(&format!("/appointments/absence?company={}", ctx.company.id))) {
                    input type="hidden" name="csrf" value=(ctx.csrf);
                    label { (ctx.t("staff")) (staff_select(ctx, company, None, false)) }
                    label { (ctx.t("desk_absent_from")) input type="date" name="from" value=(date.to_string()) required; }
                    label { (ctx.t("desk_absent_to")) input type="date" name="to"; }
                    button type="submit" { (ctx.t("desk_absence_save")) }
                }
            }
        }
    }
}
