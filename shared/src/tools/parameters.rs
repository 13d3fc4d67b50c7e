//! The tools' argument schemas, as the LLM sees them in each tool's definition. An argument
//! several tools read the same way (through the same [`super::ToolContext`] reader) is described
//! once here, so a tool's schema lists what it takes, not pasted descriptions.

use serde_json::{json, Map, Value};

use super::args::{MAX_EMAIL_CHARS, MAX_NAME_CHARS, MAX_NOTES_CHARS};

/// A tool's parameters: an object with these properties, of which `required` must be given.
pub fn object(
    properties: impl IntoIterator<Item = (&'static str, Value)>,
    required: &[&str],
) -> Value {
    let properties: Map<String, Value> = properties
        .into_iter()
        .map(|(name, schema)| (name.to_owned(), schema))
        .collect();
    let mut schema = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

/// A string argument the tool reads its own way.
pub fn text(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

/// A day as the caller says it (`ToolContext::date`); `description` says which day.
pub fn day(description: &str) -> Value {
    text(description)
}

/// A clock time as the caller says it (`ToolContext::time`).
pub fn time(description: &str) -> Value {
    text(description)
}

/// A service by id or by its name in any of its languages (`ToolContext::service`).
pub fn service_id() -> Value {
    text("Service id or name, e.g. 'haircut' or 'Haarschnitt'")
}

/// A name stored for a customer (`ToolContext::person_name`).
pub fn person_name(description: &str) -> Value {
    json!({"type": "string", "maxLength": MAX_NAME_CHARS, "description": description})
}

/// An e-mail address stored for a customer (`ToolContext::email`).
pub fn staff() -> Value {
    text("The staff member the caller asks for, as they said it ('Anna', 'Frau Berg', 'bei Ben') or an id; omit when anyone will do")
}

pub fn email() -> Value {
    json!({"type": "string", "maxLength": MAX_EMAIL_CHARS})
}

/// Free text stored with a booking (`ToolContext::stored_text`).
pub fn notes() -> Value {
    json!({"type": "string", "maxLength": MAX_NOTES_CHARS})
}

/// A number of minutes (`ToolContext::duration`).
pub fn minutes(description: &str) -> Value {
    json!({"type": "integer", "description": description})
}

/// What `ToolContext::proven_customer` reads: a number other than the caller's own, and the
/// name and the day of one of its appointments that prove the caller knows it; `date` says
/// what else the day is for in this tool.
pub fn another_customer(date: &str) -> [(&'static str, Value); 3] {
    [
        (
            "phone",
            text("Only if the caller means a number other than the one they call from"),
        ),
        (
            "customer_name",
            text("For another number: the name its bookings are under"),
        ),
        ("date", day(date)),
    ]
}

/// What `ToolContext::own_appointment` reads: [`another_customer`] and the appointment's id.
pub fn own_appointment(date: &str) -> [(&'static str, Value); 4] {
    let [phone, name, day] = another_customer(date);
    [
        phone,
        name,
        day,
        ("appointment_id", json!({"type": "string"})),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_lists_its_properties_and_only_a_real_required_list() {
        let schema = object([("date", day("Day")), ("notes", notes())], &["date"]);
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["properties"]["date"]["type"], "string");
        assert_eq!(schema["properties"]["notes"]["maxLength"], MAX_NOTES_CHARS);
        assert_eq!(schema["required"], json!(["date"]));
        assert!(object(own_appointment("Day"), &[])
            .get("required")
            .is_none());
    }
}
