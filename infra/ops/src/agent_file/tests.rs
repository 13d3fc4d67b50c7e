//! The agent file's checks, its round trip through Retell's objects, and the built-in template.

use super::*;

fn parse(text: &str) -> Result<AgentFile, FileError> {
    AgentFile::parse(text, "a.yaml", false)
}

const GOOD: &str = "agent:\n  agent_name: Rezeption\n  voice_id: 11labs-Anna\n  language: de-DE\nllm:\n  model: gpt-4.1\n  general_prompt: Hallo\ntools:\n  - function: check_availability\n  - type: end_call\n    name: end_call\n";

#[test]
fn the_default_template_is_a_valid_file() {
    let file = parse(DEFAULT_TEMPLATE).expect("default template");
    let names: Vec<_> = file
        .tools
        .iter()
        .filter_map(|t| t.function.clone())
        .collect();
    let all: Vec<String> = project_tools().iter().map(|d| d.name.to_owned()).collect();
    assert_eq!(names, all);
    let prompt = file.llm.general_prompt.as_deref().unwrap_or_default();
    for var in [
        "{{current_date}}",
        "{{current_date_spoken}}",
        "{{company_name}}",
        "{{tomorrow_date}}",
        "{{customer_name}}",
        "{{is_vip}}",
        "{{business_open}}",
        "{{next_opening}}",
        "{{transfer_available}}",
        "{{staff_names}}",
        "{{staff_today}}",
    ] {
        assert!(prompt.contains(var), "template prompt lacks {var}");
    }
    let transfer = file
        .tools
        .iter()
        .find(|t| t.kind.as_deref() == Some("transfer_call"))
        .expect("a transfer tool");
    assert_eq!(transfer.number.as_deref(), Some("{{transfer_number}}"));
    let events = file.agent.webhook_events.clone().unwrap_or_default();
    assert!(events.iter().any(|e| e == "transfer_bridged"), "{events:?}");
    // current_date_spoken names the weekday itself ("Montag, 31. März").
    assert!(!prompt.contains("{{current_weekday}}, der {{current_date_spoken}}"));
}

#[test]
fn the_reminder_template_is_a_valid_file_that_can_keep_cancel_or_move() {
    // The reminder caller a company names in `messaging.reminder_call` (an outbound agent).
    let file = parse(include_str!("../../agents/reminder-de.yaml")).expect("reminder template");
    let names: Vec<_> = file
        .tools
        .iter()
        .filter_map(|t| t.function.clone())
        .collect();
    for tool in [
        "cancel_appointment",
        "reschedule_appointment",
        "check_availability",
    ] {
        assert!(names.iter().any(|n| n == tool), "{tool} in {names:?}");
    }
    let prompt = file.llm.general_prompt.as_deref().unwrap_or_default();
    // The variables the messaging function gives the call (dispatch::reminder_call).
    for var in [
        "{{company_name}}",
        "{{service}}",
        "{{appointment_date}}",
        "{{appointment_time}}",
        "{{staff}}",
    ] {
        assert!(prompt.contains(var), "reminder prompt lacks {var}");
    }
    let greeting = file.llm.begin_message.as_deref().unwrap_or_default();
    assert!(greeting.contains("{{customer_name}}"));
    says_it_is_an_ai_first(&file, "KI-Assistenten");
}

/// The first message discloses the AI (AI Act Art. 50): `{{disclosure}}` before anything is
/// asked, and a default for calls that bring no variables.
fn says_it_is_an_ai_first(file: &AgentFile, words: &str) {
    let greeting = file.llm.begin_message.as_deref().unwrap_or_default();
    let at = greeting
        .find("{{disclosure}}")
        .expect("the greeting discloses");
    assert!(
        !greeting[..at].contains('?'),
        "disclosed before the first question: {greeting}"
    );
    let default = file
        .llm
        .default_dynamic_variables
        .as_ref()
        .and_then(|v| v.get("disclosure"))
        .expect("a default disclosure");
    assert!(default.contains(words), "{default}");
    assert!(file
        .agent
        .data_storage_retention_days
        .is_some_and(|d| (1..=730).contains(&d)));
}

#[test]
fn the_default_templates_disclose_the_ai_and_recording_in_their_first_message() {
    let de = parse(DEFAULT_TEMPLATE).expect("German template");
    says_it_is_an_ai_first(&de, "KI-Assistenten");
    let en = parse(include_str!("../../agents/default-en.yaml")).expect("English template");
    says_it_is_an_ai_first(&en, "AI assistant");
    assert!(en
        .llm
        .default_dynamic_variables
        .as_ref()
        .and_then(|v| v.get("disclosure"))
        .is_some_and(|d| d.contains("recorded")));
    // Same tools in both languages.
    let tools = |f: &AgentFile| {
        f.tools
            .iter()
            .map(|t| (t.function.clone(), t.kind.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(tools(&de), tools(&en));
}

#[test]
fn a_good_file_resolves_its_tools_to_this_stack() {
    let file = parse(GOOD).expect("good");
    let tools = file.general_tools(&|t| format!("https://x/{t}"));
    assert_eq!(tools[0]["url"], "https://x/check_availability");
    assert_eq!(tools[0]["type"], "custom");
    assert!(tools[0]["parameters"]["properties"].is_object());
    assert_eq!(tools[1], json!({"type": "end_call", "name": "end_call"}));
}

#[test]
fn bad_files_are_refused_with_their_line() {
    let cases: &[(&str, &str, usize, &str)] = &[
        ("unknown field", "agent:\n  agent_name: R\n  voice_id: v\n  voice_idd: x\nllm:\n  general_prompt: p\n", 4, "voice_idd"),
        ("unknown tool", "agent:\n  agent_name: R\n  voice_id: v\nllm:\n  general_prompt: p\ntools:\n  - function: check_availability\n  - function: order_pizza\n", 8, "unknown tool"),
        ("wrong type", "agent:\n  agent_name: R\n  voice_id: v\n  voice_speed: fast\nllm:\n  general_prompt: p\n", 4, "voice_speed"),
        ("out of range", "agent:\n  agent_name: R\n  voice_id: v\n  voice_speed: 3\nllm:\n  general_prompt: p\n", 4, "between 0.5 and 2"),
        ("unknown model", "agent:\n  agent_name: R\n  voice_id: v\nllm:\n  model: gpt-2\n  general_prompt: p\n", 5, "model"),
        ("no prompt", "agent:\n  agent_name: R\n  voice_id: v\nllm:\n  model: gpt-4.1\n", 4, "general_prompt is required"),
        ("webhook in file", "agent:\n  agent_name: R\n  voice_id: v\n  webhook_url: https://x\nllm:\n  general_prompt: p\n", 4, "sync"),
        ("twice", "agent:\n  agent_name: R\n  voice_id: v\nllm:\n  general_prompt: p\ntools:\n  - function: book_appointment\n  - function: book_appointment\n", 8, "twice"),
        ("bad transfer", "agent:\n  agent_name: R\n  voice_id: v\nllm:\n  general_prompt: p\ntools:\n  - type: transfer_call\n    name: to_staff\n    number: '030 123'\n", 7, "E.164"),
        ("transfer variable", "agent:\n  agent_name: R\n  voice_id: v\nllm:\n  general_prompt: p\ntools:\n  - type: transfer_call\n    name: to_staff\n    number: '{{Transfer Nummer}}'\n", 7, "dynamic variable"),
        ("unknown webhook event", "agent:\n  agent_name: R\n  voice_id: v\n  webhook_events: [call_started, call_ended, call_analyzed, call_exploded]\nllm:\n  general_prompt: p\n", 4, "call_exploded"),
        ("calls not stored", "agent:\n  agent_name: R\n  voice_id: v\n  webhook_events: [call_started, transfer_started]\nllm:\n  general_prompt: p\n", 4, "call_ended"),
        ("not yaml", "agent: [\n", 1, ""),
        ("language", "agent:\n  agent_name: R\n  voice_id: v\n  language: klingon\nllm:\n  general_prompt: p\n", 4, "language"),
        ("retention", "agent:\n  agent_name: R\n  voice_id: v\n  data_storage_retention_days: 731\nllm:\n  general_prompt: p\n", 4, "at most 730"),
        ("retention type", "agent:\n  agent_name: R\n  voice_id: v\n  data_storage_retention_days: '90'\nllm:\n  general_prompt: p\n", 4, "data_storage_retention_days"),
        ("pii mode", "agent:\n  agent_name: R\n  voice_id: v\n  pii_config: {mode: live, categories: [phone_number]}\nllm:\n  general_prompt: p\n", 4, "post_call"),
        ("pii category", "agent:\n  agent_name: R\n  voice_id: v\n  pii_config: {mode: post_call, categories: [phone_number, shoe_size]}\nllm:\n  general_prompt: p\n", 4, "shoe_size"),
        ("pii twice", "agent:\n  agent_name: R\n  voice_id: v\n  pii_config: {mode: post_call, categories: [email, email]}\nllm:\n  general_prompt: p\n", 4, "twice"),
        ("pii shape", "agent:\n  agent_name: R\n  voice_id: v\n  pii_config: [email]\nllm:\n  general_prompt: p\n", 4, "pii_config"),
    ];
    for (what, text, line, needle) in cases {
        let err = parse(text).expect_err(what);
        assert_eq!(err.line, *line, "{what}: {err}");
        assert!(err.message.contains(needle), "{what}: {err}");
    }
}

#[test]
fn json_files_are_read_too() {
    let file = AgentFile::parse(
        r#"{"agent": {"agent_name": "R", "voice_id": "v"},
 "llm": {"general_prompt": "p", "modell": "x"}}"#,
        "a.json",
        true,
    )
    .expect_err("unknown field");
    assert_eq!(file.line, 2);
}

#[test]
fn export_round_trips_through_the_file() {
    let file = parse(DEFAULT_TEMPLATE).expect("template");
    let url = |t: &str| format!("https://x/{t}");
    let agent: shared::retell::api::Agent = serde_json::from_value(json!({
        "agent_id": "agent_1", "version": 0, "response_engine": {"type": "retell-llm", "llm_id": "llm_1"},
        "webhook_url": "https://x/webhook", "agent_name": file.agent.agent_name,
        "voice_id": file.agent.voice_id, "language": file.agent.language, "unknown_new": 1
    }))
    .expect("agent");
    let mut llm_json = serde_json::to_value(&file.llm).expect("llm");
    llm_json["llm_id"] = json!("llm_1");
    llm_json["general_tools"] = json!(file.general_tools(&url));
    let llm: shared::retell::api::RetellLlm = serde_json::from_value(llm_json).expect("llm");
    let exported = AgentFile::from_retell(&agent, &llm).expect("export");
    assert_eq!(exported.tools, file.tools);
    assert_eq!(exported.llm, file.llm);
    let reread = parse(&exported.to_yaml()).expect("exported file parses");
    assert_eq!(reread.agent_id.as_deref(), Some("agent_1"));
}
