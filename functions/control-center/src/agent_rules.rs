//! The rules for a company's agents that the agents page and the admin API share: which agents
//! a viewer sees, who changes them (admins; staff read), and what each field of a form or
//! request may be. Every refusal names the field and why.

use shared::booking::directory::CompanyDirectory;
use shared::retell::api::{RetellApiError, RetellClient, Voice};
use shared::retell::custom_function::ToolDefinition;

use crate::data::CompanyView;
use crate::ControlCenter;

/// Longest prompt and greeting accepted (Retell's own limits are higher; a prompt this long is a
/// mistake).
pub const MAX_PROMPT_CHARS: usize = 50_000;
pub const MAX_GREETING_CHARS: usize = 2_000;
/// Longest agent name (it is shown in lists and in Retell's dashboard).
pub const MAX_NAME_CHARS: usize = 64;
/// Retell's language codes an agent made here may speak (`multi`: it switches with the caller).
pub const LANGUAGES: [&str; 4] = ["de-DE", "en-US", "en-GB", "multi"];

/// The agent ids of a company: its settings' `agent_ids` as stored now (an agent created a moment
/// ago by another container of this function is listed; the cached settings if the table cannot
/// be read); an admin looking at a company without settings (the default company) sees every
/// agent of the account.
pub async fn agent_ids(
    app: &ControlCenter,
    company: &CompanyView,
    admin: bool,
    retell: &RetellClient,
) -> Result<Vec<String>, RetellApiError> {
    match &company.settings {
        Some(c) => Ok(match app.data.companies.stored(&company.id).await {
            Ok(Some(stored)) => stored.settings.agent_ids,
            Ok(None) => Vec::new(),
            Err(e) => {
                tracing::warn!(error = %e, "company settings unreadable; cached agent_ids shown");
                c.settings.agent_ids.clone()
            }
        }),
        None if admin => Ok(retell
            .list_agents()
            .await?
            .into_iter()
            .map(|a| a.agent_id)
            .collect()),
        None => Ok(Vec::new()),
    }
}

/// Whether the viewer may see `agent_id`: one of the company's agents (any agent of the account
/// for an admin looking at a company without settings).
pub fn may_see(company: &CompanyView, admin: bool, agent_id: &str) -> bool {
    match &company.settings {
        Some(c) => c.settings.agent_ids.iter().any(|a| a == agent_id),
        None => admin,
    }
}

/// [`may_see`], read again from the table when the cached settings do not list the agent: an
/// agent created a moment ago by another container of this function is already the company's.
pub async fn may_see_now(
    app: &ControlCenter,
    company: &CompanyView,
    admin: bool,
    agent_id: &str,
) -> bool {
    if may_see(company, admin, agent_id) {
        return true;
    }
    if company.settings.is_none() {
        return false;
    }
    listed_in_stored(&app.data.companies, &company.id, agent_id).await
}

async fn listed_in_stored(directory: &CompanyDirectory, company_id: &str, agent_id: &str) -> bool {
    match directory.stored(company_id).await {
        Ok(Some(stored)) => stored.settings.agent_ids.iter().any(|a| a == agent_id),
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(error = %e, "company settings unreadable; agent not shown");
            false
        }
    }
}

/// Whether `agent_id` can be an agent's id at all (Retell's are `agent_` and hex): anything else
/// is not found without asking Retell, and every id put in a link is plain.
pub fn plain_agent_id(agent_id: &str) -> bool {
    !agent_id.is_empty()
        && agent_id.len() <= 128
        && agent_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Whether the viewer may change an agent they see: admins only (staff read).
pub fn may_change(admin: bool) -> bool {
    admin
}

/// A prompt or greeting as Retell gets it, or why it is refused.
pub fn checked_text(text: &str, max: usize, what: &str, required: bool) -> Result<String, String> {
    let text = text.replace("\r\n", "\n");
    if required && text.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    if text.chars().count() > max {
        return Err(format!("{what} is longer than {max} characters"));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(format!("{what} contains control characters"));
    }
    Ok(text)
}

/// An agent's name: one line, 1 to [`MAX_NAME_CHARS`] characters, trimmed.
pub fn checked_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("agent_name is empty".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!(
            "agent_name is longer than {MAX_NAME_CHARS} characters"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("agent_name contains control characters".into());
    }
    Ok(name.to_owned())
}

/// A language of [`LANGUAGES`], or the one the agent already speaks (kept as it is).
pub fn checked_language(raw: &str, current: Option<&str>) -> Result<String, String> {
    let code = raw.trim();
    if LANGUAGES.contains(&code) || current.is_some_and(|c| c == code && !c.is_empty()) {
        Ok(code.to_owned())
    } else {
        Err(format!(
            "language must be one of {} (got {:?})",
            LANGUAGES.join(", "),
            shown(code)
        ))
    }
}

/// One of Retell's voices (`list-voices`), or the one the agent already has.
pub fn checked_voice(raw: &str, voices: &[Voice], current: Option<&str>) -> Result<String, String> {
    let id = raw.trim();
    if id.is_empty() {
        return Err("voice_id: choose a voice".into());
    }
    if voices.iter().any(|v| v.voice_id == id) || current == Some(id) {
        Ok(id.to_owned())
    } else {
        Err(format!(
            "voice_id {:?} is not one of Retell's voices",
            shown(id)
        ))
    }
}

/// Tool names of the catalog, each once, in the catalog's order.
pub fn checked_tools(raw: &[String], catalog: &[ToolDefinition]) -> Result<Vec<String>, String> {
    if let Some(unknown) = raw
        .iter()
        .find(|name| !catalog.iter().any(|d| d.name == name.as_str()))
    {
        return Err(format!(
            "tools: {:?} is not one of this project's tools ({})",
            shown(unknown),
            catalog
                .iter()
                .map(|d| d.name)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(catalog
        .iter()
        .filter(|d| raw.iter().any(|r| r == d.name))
        .map(|d| d.name.to_owned())
        .collect())
}

/// A version number as a form or path sends it.
pub fn checked_version(raw: &str) -> Result<u64, String> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 19 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("version {:?} is not a version number", shown(raw)));
    }
    raw.parse()
        .map_err(|_| format!("version {:?} is not a version number", shown(raw)))
}

/// A value echoed in a refusal: at most 40 characters.
fn shown(raw: &str) -> String {
    raw.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_checked_not_trimmed() {
        assert_eq!(
            checked_text("Hallo\r\nWelt", 100, "p", true).expect("ok"),
            "Hallo\nWelt"
        );
        assert!(checked_text("  ", 100, "p", true).is_err());
        assert!(checked_text("", 100, "g", false).is_ok());
        assert!(checked_text("x\u{0007}", 100, "p", true).is_err());
        assert!(checked_text(&"x".repeat(101), 100, "p", true).is_err());
    }

    #[test]
    fn names_are_one_short_line() {
        assert_eq!(checked_name("  Rezeption ").expect("ok"), "Rezeption");
        assert_eq!(checked_name(&"ä".repeat(64)).expect("64 chars").len(), 128);
        for bad in ["", "   ", "a\nb", "x\u{0000}", &"a".repeat(65)] {
            assert!(checked_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn languages_voices_tools_and_versions_are_what_retell_and_the_catalog_have() {
        assert_eq!(checked_language("de-DE", None).expect("ok"), "de-DE");
        assert_eq!(
            checked_language("multi", Some("de-DE")).expect("ok"),
            "multi"
        );
        assert_eq!(
            checked_language("fr-FR", Some("fr-FR")).expect("kept"),
            "fr-FR"
        );
        let refused = checked_language("<script>", None).expect_err("unknown");
        assert!(refused.contains("de-DE, en-US, en-GB, multi"), "{refused}");
        assert!(checked_language("", Some("")).is_err());

        let voices: Vec<Voice> = serde_json::from_value(serde_json::json!([
            {"voice_id": "11labs-Anna"}, {"voice_id": "openai-Nova"}
        ]))
        .expect("voices");
        assert_eq!(
            checked_voice("openai-Nova", &voices, None).expect("ok"),
            "openai-Nova"
        );
        assert!(checked_voice("custom-Old", &voices, Some("custom-Old")).is_ok());
        assert!(checked_voice("11labs-Nobody", &voices, Some("11labs-Anna")).is_err());
        assert!(checked_voice("", &voices, None).is_err());
        let long = checked_voice(&"x".repeat(10_000), &voices, None).expect_err("unknown");
        assert!(long.len() < 200, "a refusal does not echo the whole input");

        let catalog = tool_catalog::definitions();
        let chosen = checked_tools(
            &[
                "book_appointment".into(),
                "check_availability".into(),
                "book_appointment".into(),
            ],
            &catalog,
        )
        .expect("catalog tools");
        assert_eq!(chosen, ["check_availability", "book_appointment"]);
        assert!(checked_tools(&["end_call".into()], &catalog).is_err());
        assert!(checked_tools(&[], &catalog).expect("none").is_empty());

        assert_eq!(checked_version("12").expect("ok"), 12);
        for bad in ["", "-1", "1.0", "x", "99999999999999999999", "1 2", "+3"] {
            assert!(checked_version(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn staff_read_admins_change() {
        assert!(may_change(true));
        assert!(!may_change(false));
        assert!(plain_agent_id("agent_0123abcd"));
        for odd in [
            "",
            "../x",
            "agent_1?x=1",
            "a b",
            "agent%2F",
            &"a".repeat(129),
        ] {
            assert!(!plain_agent_id(odd), "{odd:?}");
        }
    }
}
