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

const HEAD: &str = "agent:\n  agent_name: R\n  voice_id: v\n  timezone: Europe/Berlin\n  webhook_timeout_ms: 8000\nllm:\n  general_prompt: p\ntools:\n";

const MORE_TOOLS: &str = "  - type: transfer_call\n    name: to_staff\n    number: '{{transfer_number}}'\n    transfer: warm\n    whisper: '{{customer_name}} fragt nach einem Termin'\n    hold_music: relaxing_sound\n  - type: agent_swap\n    name: to_english\n    description: Caller speaks English\n    agent_id: agent_en\n    agent_version: 3\n    keep_current_voice: false\n  - type: press_digit\n    name: press\n    delay_ms: 1500\n  - type: extract_dynamic_variable\n    name: remember\n    description: When the caller names their car\n    variables:\n      - {type: string, name: car_model, description: The car model}\n      - {type: enum, name: tyres, description: Which tyres, choices: [summer, winter]}\n";

#[test]
fn warm_transfers_swaps_digits_and_variables_are_files_too() {
    let file = parse(&format!("{HEAD}{MORE_TOOLS}")).expect("tools");
    assert_eq!(file.agent.timezone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(file.agent.webhook_timeout_ms, Some(8000));
    let tools = file.general_tools(&|t| format!("https://x/{t}"));
    assert_eq!(
        tools[0]["transfer_option"],
        json!({"type": "warm_transfer", "on_hold_music": "relaxing_sound",
               "private_handoff_option": {"type": "static_message", "message": "{{customer_name}} fragt nach einem Termin"}})
    );
    assert_eq!(tools[1]["agent_id"], "agent_en");
    assert_eq!(tools[1]["agent_version"], 3);
    assert_eq!(tools[1]["post_call_analysis_setting"], "both_agents");
    assert_eq!(
        tools[2],
        json!({"type": "press_digit", "name": "press", "delay_ms": 1500})
    );
    assert_eq!(
        tools[3]["variables"][1]["choices"],
        json!(["summer", "winter"])
    );
    // Back from Retell's shape: the same file.
    let agent: shared::retell::api::Agent = serde_json::from_value(json!({
        "agent_id": "agent_1", "response_engine": {"type": "retell-llm", "llm_id": "llm_1"},
        "agent_name": "R", "voice_id": "v", "timezone": "Europe/Berlin", "webhook_timeout_ms": 8000
    }))
    .expect("agent");
    let llm: shared::retell::api::RetellLlm = serde_json::from_value(
        json!({"llm_id": "llm_1", "general_prompt": "p", "general_tools": tools}),
    )
    .expect("llm");
    let exported = AgentFile::from_retell(&agent, &llm).expect("export");
    assert_eq!(exported.tools, file.tools);
    assert_eq!(exported.agent, file.agent);
}

#[test]
fn presets_pass_and_transfers_files_cannot_say_are_not_exported() {
    let text = "agent:\n  agent_name: R\n  voice_id: v\n  post_call_analysis_data:\n    - {type: system-presets, name: call_summary, description: In German}\n    - {type: boolean, name: wanted_appointment, description: d}\nllm:\n  general_prompt: p\n";
    parse(text).expect("presets");
    let agent: shared::retell::api::Agent = serde_json::from_value(json!({
        "agent_id": "agent_1", "response_engine": {"type": "retell-llm", "llm_id": "llm_1"}, "agent_name": "R"
    }))
    .expect("agent");
    for option in [
        json!({"type": "warm_transfer", "private_handoff_option": {"type": "prompt", "prompt": "Sag kurz, wer anruft"}}),
        json!({"type": "warm_transfer", "public_handoff_option": {"type": "static_message", "message": "Hallo"}}),
        json!({"type": "agentic_warm_transfer"}),
    ] {
        let llm: shared::retell::api::RetellLlm = serde_json::from_value(json!({
            "llm_id": "llm_1", "general_prompt": "p",
            "general_tools": [{"type": "transfer_call", "name": "t",
                               "transfer_destination": {"type": "predefined", "number": "+4930123456"},
                               "transfer_option": option}]
        }))
        .expect("llm");
        let refused = AgentFile::from_retell(&agent, &llm).expect_err("not describable");
        assert!(refused.contains("agent files do not describe"), "{refused}");
    }
}

#[test]
fn bad_new_tools_and_settings_are_refused_with_their_line() {
    let tool = |body: &str| format!("{HEAD}{body}");
    let agent = |line: &str| {
        format!("agent:\n  agent_name: R\n  voice_id: v\n  {line}\nllm:\n  general_prompt: p\n")
    };
    let cases: Vec<(&str, String, usize, &str)> = vec![
        ("timezone", agent("timezone: Mars/Olympus"), 4, "IANA"),
        ("timezone type", agent("timezone: {tz: 1}"), 4, "timezone"),
        ("webhook timeout", agent("webhook_timeout_ms: 999999"), 4, "1000 to 60000"),
        ("analysis type", agent("post_call_analysis_data: [{type: list, name: x, description: d}]"), 4, "type must be"),
        ("analysis name", agent("post_call_analysis_data: [{type: string, name: 'Bad Name', description: d}]"), 4, "variable name"),
        ("analysis enum", agent("post_call_analysis_data: [{type: enum, name: x, description: d}]"), 4, "choices"),
        ("analysis twice", agent("post_call_analysis_data: [{type: string, name: x, description: d}, {type: boolean, name: x, description: e}]"), 4, "twice"),
        ("analysis extra", agent("post_call_analysis_data: [{type: boolean, name: x, description: d, choices: [a]}]"), 4, "no field"),
        ("analysis shape", agent("post_call_analysis_data: [wanted]"), 4, "object"),
        ("preset name", agent("post_call_analysis_data: [{type: system-presets, name: call_mood}]"), 4, "system-presets"),
        ("preset extra", agent("post_call_analysis_data: [{type: system-presets, name: call_summary, choices: [a]}]"), 4, "no field"),
        ("warm field on cold", tool("  - type: transfer_call\n    name: t\n    number: '+4930123456'\n    whisper: hi\n"), 9, "transfer: warm"),
        ("transfer kind", tool("  - type: transfer_call\n    name: t\n    number: '+4930123456'\n    transfer: lukewarm\n"), 9, "cold or warm"),
        ("hold music", tool("  - type: transfer_call\n    name: t\n    number: '+4930123456'\n    transfer: warm\n    hold_music: jazz\n"), 9, "hold_music"),
        ("swap without agent", tool("  - type: agent_swap\n    name: s\n"), 9, "agent_id"),
        ("swap setting", tool("  - type: agent_swap\n    name: s\n    agent_id: a1\n    post_call_analysis: neither\n"), 9, "both_agents"),
        ("swap url", tool("  - type: agent_swap\n    name: s\n    agent_id: a1\n    url: https://x\n"), 9, "not url"),
        ("digit delay", tool("  - type: press_digit\n    name: p\n    delay_ms: 9000\n"), 9, "0 to 5000"),
        ("digit number", tool("  - type: press_digit\n    name: p\n    number: '+4930123456'\n"), 9, "not number"),
        ("extract without variables", tool("  - type: extract_dynamic_variable\n    name: e\n    description: d\n"), 9, "variables"),
        ("extract without description", tool("  - type: extract_dynamic_variable\n    name: e\n    variables: [{type: number, name: n, description: d}]\n"), 9, "description"),
        ("extract bad variable", tool("  - type: extract_dynamic_variable\n    name: e\n    description: d\n    variables: [{type: number, name: n}]\n"), 9, "description"),
        ("unknown type", tool("  - type: send_sms\n    name: e\n"), 9, "not supported"),
        ("function with extras", tool("  - function: get_service_info\n    delay_ms: 5\n"), 9, "from code"),
    ];
    for (what, text, line, needle) in &cases {
        let err = parse(text).expect_err(what);
        assert_eq!(err.line, *line, "{what}: {err}");
        assert!(err.message.contains(needle), "{what}: {err}");
    }
}
