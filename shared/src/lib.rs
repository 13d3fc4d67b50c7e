//! Everything the Lambdas share: Retell's wire format and signature, the call-record domain
//! logic, storage and queue access, configuration and telemetry.

pub mod archive;
pub mod auth;
pub mod aws;
pub mod calendar;
pub mod call;
pub mod company;
pub mod config;
pub mod consumer;
pub mod dynamo;
pub mod http;
pub mod ingest;
pub mod keys;
pub mod phone;
pub mod queue;
pub mod retell;
pub mod signature;
pub mod slots;
pub mod spoken;
pub mod store;
pub mod telemetry;
pub mod tool;
pub mod unresolved;
