//! The call pipeline: a signed webhook is ingested (authenticated, routed, queued), a consumer
//! merges it into the call record and the daily statistics, and the raw payload is archived.
//! Calls whose webhooks never arrived are fetched from Retell and queued the same way
//! ([`reconcile`]).

pub mod archive;
pub mod budget;
pub mod consumer;
pub mod dead_letters;
pub mod disconnection;
pub mod event;
pub mod export;
pub mod funnel;
pub mod ingest;
pub mod queue;
pub mod reconcile;
pub mod record;
pub mod recordings;
pub mod retention;
pub mod stats;
pub mod store;
pub mod tool_calls;
pub mod transfer;
pub mod views;
