//! A caller's data on request (DSGVO Art. 15 and 17) and who looked at it: everything held about
//! one caller of one company ([`holdings`]), written out ([`export`]), removed and proven gone
//! ([`erase`], [`proof`]), and the append-only trail of views, exports, erasures and settings
//! changes ([`audit`]). `retell-ops privacy` and the control center's admin actions both run
//! these; the retention that expires the rest is `crate::calls::retention`.

pub mod audit;
pub mod erase;
pub mod export;
pub mod holdings;
pub mod proof;
pub mod subject;

pub use audit::{AuditEntry, AuditLog};
pub use subject::Subject;

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error("storage: {0}")]
    Storage(String),
    #[error("Retell: {0}")]
    Retell(String),
    #[error("a stored item cannot be read: {0}")]
    Corrupt(String),
    #[error("the audit trail: {0}")]
    Audit(String),
}

/// Where a company's data lives: the clients and names of the tables and the bucket.
#[derive(Clone, Debug)]
pub struct PrivacyStores {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub calls_table: String,
    pub appointments_table: String,
    pub bucket: String,
}
