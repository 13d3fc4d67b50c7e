//! `send_verification_code(phone)`: six digits by SMS to the number the caller names, so that
//! `verify_code` can prove it is theirs (a caller on another line, or with a withheld number).
//! Valid ten minutes, three tries; at most three codes per number an hour; only to numbers that
//! can receive an SMS and have not opted out. The code is never in the reply or the log.

use serde_json::json;
use shared::booking::phone::PhoneNumber;
use shared::messaging::sender::Providers;
use shared::messaging::texts::{render, Values};
use shared::messaging::verification::{CodeStore, Issued};
use shared::messaging::Channel;
use shared::retell::CallId;
use shared::tools::{parameters, Args, Reply, Tool, ToolContext, ToolDefinition};

pub struct SendVerificationCode {
    codes: CodeStore,
    providers: Providers,
}

impl SendVerificationCode {
    pub fn new(codes: CodeStore, providers: Providers) -> Self {
        Self { codes, providers }
    }

    pub fn tool_definition() -> ToolDefinition {
        ToolDefinition {
            name: <Self as Tool>::NAME,
            description: "Einen Bestätigungscode per SMS an die Nummer schicken, unter der der Anrufer gebucht hat, wenn er von einer anderen Nummer anruft. Send a six-digit code by SMS to prove a number is the caller's.",
            parameters: parameters::object(
                [(
                    "phone",
                    parameters::text("The number the caller says is theirs, digit by digit"),
                )],
                &["phone"],
            ),
        }
    }
}

/// The call a code belongs to: codes are per call.
pub fn call_of(ctx: &ToolContext<'_>) -> Result<CallId, Reply> {
    ctx.call
        .call_id
        .as_deref()
        .and_then(|id| CallId::parse(id).ok())
        .ok_or_else(|| {
            tracing::info!(reason = "no_call", "verification refused");
            ctx.refuse(
                "Eine Nummer kann ich nur während eines Anrufs bestätigen.",
                "I can only confirm a number during a call.",
            )
        })
}

/// The number argument, which is required.
pub fn phone_of(ctx: &ToolContext<'_>, args: &Args) -> Result<PhoneNumber, Reply> {
    ctx.phone_argument(args, "phone")?.ok_or_else(|| {
        ctx.refuse_argument(
            "phone",
            "Welche Nummer soll ich bestätigen?",
            "Which number should I confirm?",
        )
    })
}

impl Tool for SendVerificationCode {
    const NAME: &'static str = "send_verification_code";

    fn definition(&self) -> ToolDefinition {
        Self::tool_definition()
    }

    async fn run(&self, ctx: &ToolContext<'_>, args: &Args) -> Result<Reply, Reply> {
        let phone = phone_of(ctx, args)?;
        let call_id = call_of(ctx)?;
        if ctx.own_number().as_ref() == Some(&phone) {
            return Ok(json!({
                "success": true, "verified": true,
                "message": ctx.say(
                    "Sie rufen von dieser Nummer an, ein Code ist nicht nötig.",
                    "You are calling from this number; no code is needed.",
                ),
            }));
        }
        let Some(messaging) = ctx.company.settings.messaging.as_ref().filter(|m| m.sms) else {
            return Err(ctx.refuse(
                "Per SMS kann ich leider keinen Code schicken. Nennen Sie mir stattdessen den Namen, auf den gebucht wurde, und das Datum eines Termins?",
                "I cannot send a code by SMS. Could you tell me the name the booking is under and the date of one of its appointments instead?",
            ));
        };
        let digits = &phone.as_str()[phone.as_str().len().saturating_sub(3)..];
        if !phone.can_receive_sms() {
            tracing::info!(customer = %phone.masked(), reason = "not_mobile", "code not sent");
            return Err(ctx.refuse(
                "An diese Nummer kann ich keine SMS schicken, sie ist keine Handynummer.",
                "I cannot text that number; it is not a mobile number.",
            ));
        }
        let opted_out = self
            .providers
            .opted_out(phone.as_str())
            .await
            .map_err(|e| ctx.unavailable(&e))?;
        if opted_out {
            tracing::info!(customer = %phone.masked(), reason = "opted_out", "code not sent");
            return Err(ctx.refuse(
                "An diese Nummer dürfen wir keine SMS schicken, sie hat sich abgemeldet.",
                "We may not text that number; it has opted out.",
            ));
        }
        let code = match self
            .codes
            .issue(ctx.company.id(), &phone, call_id.as_str(), ctx.now)
            .await
            .map_err(|e| ctx.unavailable(&e))?
        {
            Issued::Code(code) => code,
            Issued::CallLimited => {
                tracing::warn!(customer = %phone.masked(), reason = "call_limited", "code not sent");
                return Err(ctx.refuse(
                    "In diesem Gespräch habe ich schon genug Codes verschickt. Nennen Sie mir stattdessen den Namen, auf den gebucht wurde, und das Datum eines Termins?",
                    "I have sent enough codes in this call. Could you tell me the name the booking is under and the date of one of its appointments instead?",
                ));
            }
            Issued::RateLimited => {
                tracing::warn!(customer = %phone.masked(), reason = "rate_limited", "code not sent");
                return Err(ctx.refuse(
                    "An diese Nummer gingen in der letzten Stunde schon drei Codes. Bitte versuchen Sie es später noch einmal.",
                    "Three codes went to that number in the last hour already. Please try again later.",
                ));
            }
        };
        let language = messaging.language(&ctx.company.settings.language);
        let text = render(
            "code_sms",
            language,
            &messaging.texts,
            &Values {
                company: ctx.company.settings.name.clone(),
                code,
                ..Values::default()
            },
        );
        let sent = self
            .providers
            .sms(phone.as_str(), &text, messaging.sms_sender_id.as_deref())
            .await;
        match sent {
            Ok(_) => {
                shared::messaging::count(Channel::Sms, "MessagesSent");
                tracing::info!(customer = %phone.masked(), "verification code sent");
                Ok(json!({
                    "success": true,
                    "message": ctx.say(
                        format!("Ich habe einen sechsstelligen Code per SMS an die Nummer mit den Endziffern {digits} geschickt. Bitte lesen Sie ihn mir vor."),
                        format!("I have sent a six-digit code by SMS to the number ending in {digits}. Please read it to me."),
                    ),
                }))
            }
            Err(e) => {
                shared::messaging::count(Channel::Sms, "MessagesFailed");
                tracing::error!(customer = %phone.masked(), error = %e, "verification code not sent");
                Err(ctx.refuse(
                    "Die SMS konnte ich gerade nicht schicken. Nennen Sie mir stattdessen den Namen, auf den gebucht wurde, und das Datum eines Termins?",
                    "I could not send the text just now. Could you tell me the name the booking is under and the date of one of its appointments instead?",
                ))
            }
        }
    }
}
