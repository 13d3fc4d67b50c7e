//! `request_callback(reason, [customer_name], [phone], [preferred_time])`: notes that the
//! business calls the caller back (the callbacks page), due within the company's promise of
//! business hours. The number is the caller's own unless they name another; premium-rate and
//! short numbers are refused. One callback per call: asking again answers with the first.

use chrono::{DateTime, Utc};
use serde_json::json;
use shared::booking::phone::Destination;
use shared::booking::spoken::{german_date, hhmm};
use shared::callbacks::{
    CallbackSource, CallbackStore, NewCallback, Opened, MAX_PREFERRED_CHARS, MAX_REASON_CHARS,
};
use shared::messaging::outbox::{notify, Outbox};
use shared::messaging::Notice;
use shared::tools::{parameters, Args, Reply, Tool, ToolContext, ToolDefinition};

pub struct RequestCallback {
    callbacks: CallbackStore,
    /// The messaging queue: the staff's notice of the callback.
    outbox: Option<Outbox>,
}

impl RequestCallback {
    pub fn new(callbacks: CallbackStore) -> Self {
        Self {
            callbacks,
            outbox: None,
        }
    }

    pub fn with_outbox(mut self, outbox: Option<Outbox>) -> Self {
        self.outbox = outbox;
        self
    }

    pub fn tool_definition() -> ToolDefinition {
        ToolDefinition {
            name: <Self as Tool>::NAME,
            description: "Einen Rückruf notieren, wenn der Anrufer zurückgerufen werden möchte oder etwas nicht am Telefon geklärt werden kann. Note a callback the business owes the caller (instead of only promising one).",
            parameters: parameters::object(
                [
                    (
                        "reason",
                        parameters::text("What the callback is about, in the caller's words, short"),
                    ),
                    (
                        "customer_name",
                        parameters::person_name("The caller's name, if they said it"),
                    ),
                    (
                        "phone",
                        parameters::text("Number to call back; omit for the number the caller rings from"),
                    ),
                    (
                        "preferred_time",
                        parameters::text("When the caller would like the call, as they said it ('morgen ab 14 Uhr')"),
                    ),
                ],
                &["reason"],
            ),
        }
    }
}

/// When the callback is due, as the agent says it: today's time, or the day and time.
fn spoken_due(ctx: &ToolContext<'_>, due: DateTime<Utc>) -> (String, String) {
    let local = due.with_timezone(&ctx.company.time_zone);
    let (date, time) = (local.date_naive(), hhmm(local.time()));
    if date == ctx.today() {
        (format!("heute bis {time} Uhr"), format!("today by {time}"))
    } else {
        (
            format!("bis {} um {time} Uhr", german_date(date)),
            format!("by {date} at {time}"),
        )
    }
}

impl Tool for RequestCallback {
    const NAME: &'static str = "request_callback";

    fn definition(&self) -> ToolDefinition {
        Self::tool_definition()
    }

    async fn run(&self, ctx: &ToolContext<'_>, args: &Args) -> Result<Reply, Reply> {
        let Some(reason) = ctx.stored_text(args, "reason", MAX_REASON_CHARS, false)? else {
            return Err(ctx.refuse_argument(
                "reason",
                "Worum geht es bei dem Rückruf, kurz gesagt?",
                "What is the callback about, in short?",
            ));
        };
        let name = ctx.person_name(args, "customer_name")?;
        let preferred = ctx.stored_text(args, "preferred_time", MAX_PREFERRED_CHARS, false)?;
        let (phone, _) = ctx.contact_number(args, "phone")?;
        if phone.destination() != Destination::Ordinary {
            tracing::info!(customer = %phone.masked(), "callback to a special number refused");
            return Err(ctx.refuse_argument(
                "phone",
                "An diese Nummer können wir nicht zurückrufen. Unter welcher Festnetz- oder Handynummer sind Sie erreichbar?",
                "We cannot call that number back. Which landline or mobile number can we reach you at?",
            ));
        }
        let new = NewCallback {
            source: CallbackSource::Phone,
            reason: reason.to_owned(),
            name: name.map(|n| n.as_str().to_owned()),
            phone,
            preferred: preferred.map(str::to_owned),
            call_id: ctx.call.call_id.clone(),
        };
        let opened = match self.callbacks.open(ctx.company.id(), new, ctx.now).await {
            Ok(opened) => opened,
            Err(e) => {
                tracing::error!(error = %e, "callback not recorded");
                return Err(ctx.refuse(
                    "Ich kann den Rückruf gerade nicht eintragen. Bitte rufen Sie uns später noch einmal an.",
                    "I cannot note the callback right now. Please call us again later.",
                ));
            }
        };
        let callback = opened.callback();
        let again = matches!(opened, Opened::Existing(_));
        // Asked again, told again: the notice's own key keeps it to one e-mail.
        notify(
            self.outbox.as_ref(),
            Notice::Callback {
                company_id: ctx.company.id().to_owned(),
                callback_id: callback.callback_id.clone(),
            },
        )
        .await;
        tracing::info!(callback_id = %callback.callback_id, again, "callback requested");
        let (due_de, due_en) = spoken_due(ctx, callback.due(ctx.company));
        let digits = &callback.phone[callback.phone.len().saturating_sub(3)..];
        Ok(json!({
            "success": true,
            "callback_id": callback.callback_id,
            "message": ctx.say(
                format!("Ich habe den Rückruf notiert: Wir rufen Sie unter der Nummer mit den Endziffern {digits} zurück, {due_de}."),
                format!("I have noted the callback: we will call you back on the number ending in {digits}, {due_en}."),
            ),
        }))
    }
}
