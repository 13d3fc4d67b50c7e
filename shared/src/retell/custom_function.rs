//! A custom function as Retell offers it to the LLM ("tool" in Retell's dashboard): name,
//! description, JSON schema, URL and request shape. Generated from code, so the definition in
//! Retell and the implementation cannot drift apart (`<binary> --tool-definition`, `sync`).

use serde_json::{json, Value};

/// One tool: what Retell needs to offer it to the LLM.
#[derive(Debug, Clone)]
pub struct ToolDefinition {
    pub name: &'static str,
    pub description: &'static str,
    pub parameters: Value,
}

impl ToolDefinition {
    /// The HTTP route of the tool (template.yaml must have it).
    pub fn path(&self) -> String {
        format!("/api/retell/functions/{}", self.name)
    }

    /// Retell's custom-function definition, with `url` filled in from the deployed base URL.
    pub fn retell_json(&self, base_url: &str) -> Value {
        self.retell_tool(&format!(
            "{}{}",
            base_url.trim_end_matches('/'),
            self.path()
        ))
    }

    /// Retell's custom-function definition calling `url`: the schema and description from
    /// code, the request as the tools read it (`{name, args, call}`), and a timeout above the
    /// tool's own reply deadline.
    pub fn retell_tool(&self, url: &str) -> Value {
        json!({
            "type": "custom",
            "name": self.name,
            "description": self.description,
            "url": url,
            "speak_during_execution": false,
            "speak_after_execution": true,
            "args_at_root": false,
            "timeout_ms": TOOL_TIMEOUT_MS,
            "parameters": self.parameters,
        })
    }
}

/// What Retell waits for a tool: the tools reply within their own deadline
/// (`tools::REPLY_DEADLINE`, asserted shorter); a cold start and API Gateway on top stay well
/// inside this.
pub const TOOL_TIMEOUT_MS: u64 = 10_000;
