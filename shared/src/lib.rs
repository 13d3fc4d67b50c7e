//! Everything the Lambdas share, by subsystem (docs/architecture.md walks the folders and the
//! path of each request through them):
//!
//! - [`platform`]: AWS clients and their time budgets, configuration, secrets, telemetry, HTTP
//!   replies, DynamoDB value conversion.
//! - [`retell`]: Retell's wire format and signature (the `retell-wire` crate, built for speed),
//!   API keys, and the one request-authentication path every Retell request takes.
//! - [`calls`]: the call pipeline: webhook ingest, the queue between webhook and consumers, the
//!   raw-payload archive, the call record and its merge, storage with statistics, the consumer.
//! - [`booking`]: companies and their settings, phone numbers, free slots, dates and times as
//!   callers say them and as the agent speaks them.
//! - [`calendar`]: the calendar trait, the appointment ledger every backend keeps, the native
//!   calendar, Cal.com, and writes whose outcome the caller never heard.
//! - [`tools`]: the custom functions the agent calls: the trait, argument reading, replies, the
//!   HTTP service and its Lambda.

pub mod backups;
pub mod booking;
pub mod calendar;
pub mod callbacks;
pub mod calls;
pub mod messaging;
pub mod platform;
pub mod privacy;
pub mod retell;
pub mod tools;
