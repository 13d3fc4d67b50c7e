//! Retell: its wire format and signature (the `retell-wire` crate, compiled for speed because
//! the webhook runs it on every body), the API keys that sign requests, and the one
//! authentication path of every request Retell sends us ([`auth::RequestAuth`]); and the client of
//! Retell's REST API ([`api::RetellClient`]) for the requests we send Retell; and what it means
//! for Retell's agents, LLMs and numbers to point at this stack ([`wiring`]).

pub mod api;
pub mod auth;
pub mod custom_function;
pub mod keys;
pub mod wiring;

pub use wire::signature;
pub use wire::{
    exceeds_json_depth, is_utf8, CallId, CallIdError, CallPeek, EventKind, TransferEvent,
    WebhookPeek, MAX_JSON_DEPTH,
};
