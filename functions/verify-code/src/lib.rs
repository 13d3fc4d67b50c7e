//! `verify_code(phone, code)`: checks the code `send_verification_code` sent to `phone` in this
//! call. Right: that number counts as the caller's for the rest of the call (the same proof a
//! passed knowledge check gives, so `get_customer_info`, `cancel_appointment` and
//! `reschedule_appointment` act on it). Wrong: the tries left; after three, or ten minutes, the
//! code is spent.

use send_verification_code::{call_of, phone_of};
use serde_json::json;
use shared::calendar::Calendar;
use shared::messaging::verification::{Checked, CodeStore};
use shared::tools::caller::CheckStore;
use shared::tools::{parameters, Args, Reply, Tool, ToolContext, ToolDefinition};

pub struct VerifyCode {
    codes: CodeStore,
}

impl VerifyCode {
    pub fn new(codes: CodeStore) -> Self {
        Self { codes }
    }

    pub fn tool_definition() -> ToolDefinition {
        ToolDefinition {
            name: <Self as Tool>::NAME,
            description: "Den sechsstelligen Code prüfen, den der Anrufer per SMS bekommen hat. Check the six-digit code the caller received by SMS.",
            parameters: parameters::object(
                [
                    ("phone", parameters::text("The number the code was sent to")),
                    ("code", parameters::text("The six digits the caller read out")),
                ],
                &["phone", "code"],
            ),
        }
    }
}

/// Six digits, as said: spaces, dots and dashes between them are fine, anything else is not.
pub fn six_digits(raw: &str) -> Option<String> {
    let digits: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.'))
        .collect();
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

impl Tool for VerifyCode {
    const NAME: &'static str = "verify_code";

    fn definition(&self) -> ToolDefinition {
        Self::tool_definition()
    }

    async fn run(&self, ctx: &ToolContext<'_>, args: &Args) -> Result<Reply, Reply> {
        let phone = phone_of(ctx, args)?;
        let Some(code) = ctx.text(args, "code")?.and_then(six_digits) else {
            return Err(ctx.refuse_argument(
                "code",
                "Der Code hat sechs Ziffern. Können Sie ihn bitte noch einmal vorlesen?",
                "The code has six digits. Could you read it again, please?",
            ));
        };
        let call_id = call_of(ctx)?;
        let checked = self
            .codes
            .check(ctx.company.id(), &phone, call_id.as_str(), &code, ctx.now)
            .await
            .map_err(|e| ctx.unavailable(&e))?;
        match checked {
            Checked::Verified => {
                CheckStore::new(ctx.calendar.ledger())
                    .passed(ctx.company.id(), &call_id, &phone, ctx.now.timestamp())
                    .await
                    .map_err(|e| ctx.unavailable(&e))?;
                tracing::info!(customer = %phone.masked(), "number verified by code");
                Ok(json!({
                    "success": true, "verified": true,
                    "message": ctx.say(
                        "Danke, die Nummer ist bestätigt.",
                        "Thank you, the number is confirmed.",
                    ),
                }))
            }
            Checked::Wrong { tries_left } => {
                tracing::warn!(customer = %phone.masked(), tries_left, "wrong verification code");
                Err(if tries_left > 0 {
                    ctx.refuse(
                        format!("Der Code stimmt leider nicht. Sie können es noch {tries_left} Mal versuchen."),
                        format!("That code is not right. You can try {tries_left} more time(s)."),
                    )
                } else {
                    ctx.refuse(
                        "Der Code stimmt leider nicht, und die Versuche sind aufgebraucht. Ich kann einen neuen Code schicken.",
                        "That code is not right and the tries are used up. I can send a new code.",
                    )
                })
            }
            Checked::NoValidCode => {
                tracing::info!(customer = %phone.masked(), "no valid verification code");
                Err(ctx.refuse(
                    "Für diese Nummer gibt es gerade keinen gültigen Code. Soll ich einen neuen schicken?",
                    "There is no valid code for that number right now. Shall I send a new one?",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::six_digits;

    #[test]
    fn codes_are_six_digits_as_said() {
        assert_eq!(six_digits("123 456").as_deref(), Some("123456"));
        assert_eq!(six_digits("12-34-56").as_deref(), Some("123456"));
        for bad in ["12345", "1234567", "12345a", "١٢٣٤٥٦", "", "123\u{0}456"] {
            assert_eq!(six_digits(bad), None, "{bad:?}");
        }
    }
}
