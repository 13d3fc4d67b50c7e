//! Retell custom functions ("tools" the agent calls mid-conversation). A function crate
//! implements [`Tool`] and nothing else (docs/custom-functions.md); the rest is here, one job a
//! file:
//!
//! - [`service`]: the HTTP side: request format, signature and company (through
//!   [`crate::retell::auth`]), the reply deadline, the reply cap;
//! - [`lambda`]: the Lambda built from [`crate::platform::config::ToolConfig`];
//! - [`parameters`]: the arguments' schemas, each described once;
//! - [`args`]: reading arguments strictly (wrong types and unreadable text are refusals);
//! - [`caller`]: whose appointments a call may read or change (the caller's own line, or a
//!   number proven by a knowledge check);
//! - [`context`]: what a tool runs with, its argument readers that answer with a spoken
//!   refusal, and the replies;
//! - [`offline`]: a tool run with no calendar behind it (tools that read only the settings,
//!   and tests);
//! - [`staff`]: the `staff` argument (a person asked for by name) and people named in replies.
//!
//! Replies are always HTTP 200 JSON with a short `message` the agent can speak, in the company's
//! language: bad or impossible arguments are `success: false` with a message that helps the
//! agent ask again. Only a missing or wrong signature (401) and a body that is not JSON (400)
//! are HTTP errors.

use std::future::Future;

use serde_json::Value;

pub mod args;
pub mod caller;
pub mod context;
pub mod lambda;
pub mod offline;
pub mod parameters;
pub mod service;
pub mod staff;

pub use crate::retell::custom_function::{ToolDefinition, TOOL_TIMEOUT_MS};
pub use args::{ArgError, Args};
pub use context::ToolContext;
pub use lambda::{run_lambda, run_lambda_with};
pub use service::ToolService;

/// A tool's answer: JSON whose `message` the agent speaks.
pub type Reply = Value;

/// Retell's cap on a function result.
pub const MAX_REPLY_CHARS: usize = 15_000;

/// A tool answers within this, whatever its calendar does: the caller hears the spoken
/// fallback instead of silence (API Gateway and Lambda add well under the remaining 0.5 s).
pub const REPLY_DEADLINE: std::time::Duration = std::time::Duration::from_millis(2500);

// Retell must wait longer for a tool than the tool takes to answer.
const _: () = assert!(TOOL_TIMEOUT_MS > REPLY_DEADLINE.as_millis() as u64);

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
