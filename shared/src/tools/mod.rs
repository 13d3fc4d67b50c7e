//! Retell custom functions ("tools" the agent calls mid-conversation). A function crate
//! implements [`Tool`] and nothing else (docs/custom-functions.md); the rest is here, one job a
//! file:
//!
//! - [`service`]: the HTTP side: request format, signature and company (through
//!   [`crate::retell::auth`]), the reply deadline, the reply cap;
//! - [`lambda`]: the Lambda built from [`crate::platform::config::ToolConfig`];
//! - [`args`]: reading arguments strictly (wrong types and unreadable text are refusals);
//! - [`caller`]: whose appointments a call may read or change (the caller's own line, or a
//!   number proven by a knowledge check);
//! - [`context`]: what a tool runs with, its argument readers that answer with a spoken
//!   refusal, and the replies.
//!
//! Replies are always HTTP 200 JSON with a short `message` the agent can speak, in the company's
//! language: bad or impossible arguments are `success: false` with a message that helps the
//! agent ask again. Only a missing or wrong signature (401) and a body that is not JSON (400)
//! are HTTP errors.

use std::future::Future;

use serde_json::{json, Value};

pub mod args;
pub mod caller;
pub mod context;
pub mod lambda;
pub mod service;

pub use args::{ArgError, Args};
pub use context::ToolContext;
pub use lambda::run_lambda;
pub use service::ToolService;

/// A tool's answer: JSON whose `message` the agent speaks.
pub type Reply = Value;

/// Retell's cap on a function result.
pub const MAX_REPLY_CHARS: usize = 15_000;

/// A tool answers within this, whatever its calendar does: the caller hears the spoken
/// fallback instead of silence (API Gateway and Lambda add well under the remaining 0.5 s).
pub const REPLY_DEADLINE: std::time::Duration = std::time::Duration::from_millis(2500);

/// What Retell needs to offer a tool to the LLM: generated from code, so the definition in the
/// Retell dashboard and the implementation cannot drift apart (`<binary> --tool-definition`).
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

/// What Retell waits for a tool: the tool replies within [`REPLY_DEADLINE`], a cold start and
/// API Gateway on top stay well inside this.
pub const TOOL_TIMEOUT_MS: u64 = 10_000;

/// The call the tool runs in, as Retell sends it (absent for "args only" requests).
#[derive(Debug, Clone, Default)]
pub struct CallInfo {
    pub call_id: Option<String>,
    pub agent_id: Option<String>,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
}

pub trait Tool: Send + Sync + 'static {
    /// The function name the agent calls (snake_case), also the last segment of its route.
    const NAME: &'static str;

    fn definition(&self) -> ToolDefinition;

    /// The reply; `message` is what the agent says. `Err` is a refusal, also spoken: the
    /// context's readers return theirs as `Err`, so `?` ends the tool with it.
    fn run(
        &self,
        ctx: &ToolContext<'_>,
        args: &Args,
    ) -> impl Future<Output = Result<Reply, Reply>> + Send;
}

#[cfg(test)]
mod tests;
