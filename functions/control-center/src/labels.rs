//! Retell's literals (call statuses, sentiments, directions, disconnection reasons) as a page
//! shows them, in its language. The literal stays what filters and links carry; only the text
//! changes. A literal nobody listed here (a value Retell adds later) shows as it is.

use crate::i18n::Lang;

/// (literal, German, English).
type Label = (&'static str, &'static str, &'static str);

const STATUSES: &[Label] = &[
    ("registered", "Angemeldet", "Registered"),
    ("ongoing", "Läuft", "Ongoing"),
    ("ended", "Beendet", "Ended"),
    ("not_connected", "Nicht verbunden", "Not connected"),
    ("error", "Fehler", "Error"),
];

const SENTIMENTS: &[Label] = &[
    ("Positive", "Positiv", "Positive"),
    ("Neutral", "Neutral", "Neutral"),
    ("Negative", "Negativ", "Negative"),
    ("Unknown", "Unbekannt", "Unknown"),
];

const DIRECTIONS: &[Label] = &[
    ("inbound", "Eingehend", "Inbound"),
    ("outbound", "Ausgehend", "Outbound"),
];

/// Every `disconnection_reason` of `shared/src/calls/disconnection_reasons.json` (a unit test
/// keeps them in step).
const REASONS: &[Label] = &[
    ("user_hangup", "Anrufer hat aufgelegt", "Caller hung up"),
    ("agent_hangup", "Agent hat aufgelegt", "Agent hung up"),
    ("call_transfer", "Weitergeleitet", "Transferred"),
    (
        "transfer_bridged",
        "Weitergeleitet und verbunden",
        "Transfer connected",
    ),
    ("voicemail_reached", "Mailbox erreicht", "Voicemail reached"),
    ("ivr_reached", "Sprachmenü erreicht", "Phone menu reached"),
    ("inactivity", "Keine Reaktion", "Inactivity"),
    (
        "max_duration_reached",
        "Höchstdauer erreicht",
        "Maximum duration reached",
    ),
    (
        "call_take_over",
        "Von einer Person übernommen",
        "Taken over by a person",
    ),
    (
        "user_requested_callback",
        "Rückruf gewünscht",
        "Caller asked for a callback",
    ),
    (
        "user_requested_dnc",
        "Keine Anrufe mehr gewünscht",
        "Caller asked not to be called",
    ),
    ("dial_busy", "Besetzt", "Busy"),
    ("dial_failed", "Anwahl fehlgeschlagen", "Dialling failed"),
    ("dial_no_answer", "Nicht angenommen", "No answer"),
    ("invalid_destination", "Ungültige Nummer", "Invalid number"),
    (
        "telephony_provider_permission_denied",
        "Vom Telefonanbieter abgelehnt",
        "Refused by the telephony provider",
    ),
    (
        "telephony_provider_unavailable",
        "Telefonanbieter nicht erreichbar",
        "Telephony provider unavailable",
    ),
    (
        "sip_routing_error",
        "SIP-Routingfehler",
        "SIP routing error",
    ),
    ("marked_as_spam", "Als Spam markiert", "Marked as spam"),
    (
        "network_blocked",
        "Vom Netz blockiert",
        "Blocked by the network",
    ),
    ("user_declined", "Abgelehnt", "Declined"),
    (
        "registered_call_timeout",
        "Angemeldeter Anruf nicht begonnen",
        "Registered call never started",
    ),
    (
        "error_user_not_joined",
        "Anrufer nicht beigetreten",
        "Caller never joined",
    ),
    (
        "concurrency_limit_reached",
        "Zu viele gleichzeitige Anrufe",
        "Concurrency limit reached",
    ),
    (
        "no_concurrency_fallback",
        "Kein Ausweichweg bei Auslastung",
        "No concurrency fallback",
    ),
    (
        "no_valid_payment",
        "Keine gültige Zahlung bei Retell",
        "No valid payment at Retell",
    ),
    (
        "credit_exhausted",
        "Guthaben aufgebraucht",
        "Credit exhausted",
    ),
    ("budget_reached", "Budget erreicht", "Budget reached"),
    ("scam_detected", "Betrug erkannt", "Scam detected"),
    (
        "error_llm_websocket_open",
        "Fehler: Sprachmodell nicht erreichbar",
        "Error: language model not reachable",
    ),
    (
        "error_llm_websocket_lost_connection",
        "Fehler: Verbindung zum Sprachmodell verloren",
        "Error: lost the language model",
    ),
    (
        "error_llm_websocket_runtime",
        "Fehler im Sprachmodell",
        "Error in the language model",
    ),
    (
        "error_llm_websocket_corrupt_payload",
        "Fehler: unlesbare Antwort des Sprachmodells",
        "Error: unreadable language model answer",
    ),
    (
        "error_no_audio_received",
        "Fehler: kein Ton empfangen",
        "Error: no audio received",
    ),
    (
        "error_asr",
        "Fehler in der Spracherkennung",
        "Speech recognition error",
    ),
    ("error_retell", "Fehler bei Retell", "Retell error"),
    ("error_unknown", "Unbekannter Fehler", "Unknown error"),
    (
        "transfer_cancelled",
        "Weiterleitung abgebrochen",
        "Transfer cancelled",
    ),
    ("manual_stopped", "Manuell beendet", "Stopped by hand"),
    ("unknown_to_retell", "Retell unbekannt", "Unknown to Retell"),
    (
        "machine_detected",
        "Anrufbeantworter erkannt",
        "Answering machine detected",
    ),
    (
        "error_inbound_webhook",
        "Fehler im Eingangs-Webhook",
        "Inbound webhook error",
    ),
    ("error_twilio", "Fehler bei Twilio", "Twilio error"),
    (
        "error_frontend_corrupted_payload",
        "Fehler: unlesbare Daten",
        "Error: corrupted data",
    ),
];

fn find(table: &[Label], literal: &str, lang: Lang) -> Option<&'static str> {
    table
        .iter()
        .find(|(l, _, _)| *l == literal)
        .map(|(_, de, en)| match lang {
            Lang::De => *de,
            Lang::En => *en,
        })
}

/// The text for a literal of `table` (the literal itself when unlisted).
fn text(table: &[Label], literal: &str, lang: Lang) -> String {
    find(table, literal, lang)
        .map(str::to_owned)
        .unwrap_or_else(|| literal.to_owned())
}

pub fn status(literal: &str, lang: Lang) -> String {
    text(STATUSES, literal, lang)
}

pub fn sentiment(literal: &str, lang: Lang) -> String {
    text(SENTIMENTS, literal, lang)
}

pub fn direction(literal: &str, lang: Lang) -> String {
    text(DIRECTIONS, literal, lang)
}

pub fn reason(literal: &str, lang: Lang) -> String {
    text(REASONS, literal, lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_disconnection_reason_the_statistics_know_has_a_label() {
        let table: serde_json::Value = serde_json::from_str(include_str!(
            "../../../shared/src/calls/disconnection_reasons.json"
        ))
        .expect("parses");
        let mut listed: Vec<String> = Vec::new();
        for class in ["completed", "not_connected", "failed"] {
            for v in table[class].as_array().into_iter().flatten() {
                listed.extend(v.as_str().map(str::to_owned));
            }
        }
        if let Some(old) = table["not_in_sdk"].as_object() {
            listed.extend(old.keys().cloned());
        }
        assert!(listed.len() > 40, "{listed:?}");
        for reason in &listed {
            assert!(
                find(REASONS, reason, Lang::De).is_some(),
                "{reason} has no label"
            );
        }
        assert_eq!(
            REASONS.len(),
            listed.len(),
            "no label for a reason Retell does not have"
        );
    }

    #[test]
    fn literals_read_in_the_pages_language_and_unknown_ones_stay() {
        assert_eq!(status("not_connected", Lang::De), "Nicht verbunden");
        assert_eq!(status("not_connected", Lang::En), "Not connected");
        assert_eq!(sentiment("Unknown", Lang::De), "Unbekannt");
        assert_eq!(direction("outbound", Lang::De), "Ausgehend");
        assert_eq!(reason("dial_no_answer", Lang::De), "Nicht angenommen");
        assert_eq!(status("new_in_2027", Lang::De), "new_in_2027");
    }
}
