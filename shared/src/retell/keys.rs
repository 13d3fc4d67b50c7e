//! Retell API keys, per company, from one Secrets Manager secret.
//!
//! The secret is either a bare API key (every company signs with it) or JSON:
//! `{"default": {"company_id": "...", "api_key": "..."},
//!   "companies": [{"company_id": "...", "api_key": "..."}]}`.
//! The secret holds keys only: which company an agent or a number belongs to is the companies
//! directory's answer ([`crate::booking::company::CompanyDirectory`]), and a request is verified with the
//! key of that company, or the default key when the company has none of its own. (Older secrets
//! also listed `agent_ids` per company; they are read and ignored, with a warning.)
//! The key ring is cached for the life of the container and re-read at most once per
//! `refresh_interval` after a failed verification, so a rotated key works without a redeploy.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;

pub use crate::platform::secrets::{SecretError, SecretSource, SecretsManagerSource};

#[derive(Clone, PartialEq, Eq)]
pub struct Tenant {
    pub company_id: String,
    api_key: String,
}

impl Tenant {
    pub fn new(company_id: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            company_id: company_id.into(),
            api_key: api_key.into(),
        }
    }

    pub fn api_key(&self) -> &str {
        &self.api_key
    }
}

// Never print the key, not even in a debug dump.
impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("company_id", &self.company_id)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRing {
    default: Tenant,
    by_company: HashMap<String, Tenant>,
    /// The secret still lists agents per company (ignored: the directory owns agents).
    pub lists_agents: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("secret could not be read: {0}")]
    Unavailable(String),
    #[error("secret is not a key or a valid key document: {0}")]
    Invalid(String),
}

impl From<SecretError> for KeyError {
    fn from(e: SecretError) -> Self {
        match e {
            SecretError::Unavailable(reason) => Self::Unavailable(reason),
            SecretError::Empty => Self::Invalid("secret has no string value".into()),
        }
    }
}

#[derive(Deserialize)]
struct KeyDocument {
    default: TenantDoc,
    #[serde(default)]
    companies: Vec<CompanyDoc>,
}

#[derive(Deserialize)]
struct TenantDoc {
    company_id: String,
    api_key: String,
}

#[derive(Deserialize)]
struct CompanyDoc {
    company_id: String,
    api_key: String,
    #[serde(default)]
    agent_ids: Vec<String>,
}

impl KeyRing {
    pub fn single(company_id: &str, api_key: &str) -> Self {
        Self {
            default: Tenant::new(company_id, api_key),
            by_company: HashMap::new(),
            lists_agents: false,
        }
    }

    /// Parses the secret string; `default_company_id` names the company of a bare key.
    pub fn parse(secret: &str, default_company_id: &str) -> Result<Self, KeyError> {
        let trimmed = secret.trim();
        if trimmed.is_empty() {
            return Err(KeyError::Invalid("empty secret".into()));
        }
        if !trimmed.starts_with('{') {
            return Ok(Self::single(default_company_id, trimmed));
        }
        let doc: KeyDocument =
            serde_json::from_str(trimmed).map_err(|e| KeyError::Invalid(e.to_string()))?;
        if doc.default.api_key.is_empty() || doc.default.company_id.is_empty() {
            return Err(KeyError::Invalid(
                "default needs company_id and api_key".into(),
            ));
        }
        let mut by_company = HashMap::new();
        let lists_agents = doc.companies.iter().any(|c| !c.agent_ids.is_empty());
        for company in doc.companies {
            if company.api_key.is_empty() || company.company_id.is_empty() {
                return Err(KeyError::Invalid(
                    "every company needs company_id and api_key".into(),
                ));
            }
            let tenant = Tenant::new(company.company_id.clone(), company.api_key.clone());
            if by_company
                .insert(company.company_id.clone(), tenant)
                .is_some()
            {
                return Err(KeyError::Invalid(format!(
                    "company {} is listed twice",
                    company.company_id
                )));
            }
        }
        Ok(Self {
            default: Tenant::new(doc.default.company_id, doc.default.api_key),
            by_company,
            lists_agents,
        })
    }

    /// The company without a directory entry (agents and numbers nobody listed).
    /// One tenant per Retell account (distinct API key), the default first: what a job that
    /// reads from Retell (reconcile) goes through.
    pub fn tenants(&self) -> Vec<&Tenant> {
        let mut out = vec![&self.default];
        let mut rest: Vec<&Tenant> = self.by_company.values().collect();
        rest.sort_by(|a, b| a.company_id.cmp(&b.company_id));
        for t in rest {
            if out.iter().all(|seen| seen.api_key != t.api_key) {
                out.push(t);
            }
        }
        out
    }

    pub fn default_company_id(&self) -> &str {
        &self.default.company_id
    }

    /// The key `company_id` signs with: its own, else the default key.
    pub fn key_for(&self, company_id: Option<&str>) -> &str {
        company_id
            .and_then(|c| self.by_company.get(c))
            .unwrap_or(&self.default)
            .api_key()
    }
}

struct Cached {
    ring: Option<Arc<KeyRing>>,
    fetched_at: Option<Instant>,
}

/// Caches the key ring; see the module docs for the refresh policy.
pub struct KeyProvider<S> {
    source: S,
    default_company_id: String,
    refresh_interval: Duration,
    cache: Mutex<Cached>,
}

pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

impl<S: SecretSource> KeyProvider<S> {
    pub fn new(
        source: S,
        default_company_id: impl Into<String>,
        refresh_interval: Duration,
    ) -> Self {
        Self {
            source,
            default_company_id: default_company_id.into(),
            refresh_interval,
            cache: Mutex::new(Cached {
                ring: None,
                fetched_at: None,
            }),
        }
    }

    async fn load(&self, cache: &mut Cached) -> Result<Arc<KeyRing>, KeyError> {
        cache.fetched_at = Some(Instant::now());
        let secret = self.source.fetch().await?;
        let ring = Arc::new(KeyRing::parse(&secret, &self.default_company_id)?);
        if ring.lists_agents {
            tracing::warn!(
                "the Retell key secret lists agent_ids: ignored, the companies table says which company an agent belongs to"
            );
        }
        cache.ring = Some(ring.clone());
        Ok(ring)
    }

    /// The cached ring, read from the source on first use.
    pub async fn current(&self) -> Result<Arc<KeyRing>, KeyError> {
        let mut cache = self.cache.lock().await;
        match &cache.ring {
            Some(ring) => Ok(ring.clone()),
            None => self.load(&mut cache).await,
        }
    }

    /// After a verification failure: a fresh ring if the last read is old enough, else `None`
    /// (a flood of bad signatures cannot turn into a flood of Secrets Manager calls).
    pub async fn refresh_after_failure(&self) -> Result<Option<Arc<KeyRing>>, KeyError> {
        let mut cache = self.cache.lock().await;
        if cache
            .fetched_at
            .is_some_and(|at| at.elapsed() < self.refresh_interval)
        {
            return Ok(None);
        }
        self.load(&mut cache).await.map(Some)
    }
}

/// Why a signed request was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("{0}")]
    Signature(#[from] crate::retell::signature::SignatureError),
    #[error("{0}")]
    Keys(#[from] KeyError),
}

impl<S: SecretSource> KeyProvider<S> {
    /// The company of requests the directory does not know (a bare key's company, or the key
    /// document's default).
    pub async fn default_company_id(&self) -> Result<String, KeyError> {
        Ok(self.current().await?.default_company_id().to_owned())
    }

    /// Verifies `body` with the key of `company_id` (or the default key), re-reading the keys
    /// once after a mismatch if the refresh interval allows.
    pub async fn verify(
        &self,
        body: &[u8],
        header: &crate::retell::signature::SignatureHeader<'_>,
        company_id: Option<&str>,
        now_ms: i64,
    ) -> Result<(), VerifyError> {
        use crate::retell::signature::{verify_signature, SignatureError};
        let ring = self.current().await?;
        match verify_signature(body, ring.key_for(company_id), header, now_ms) {
            Ok(()) => Ok(()),
            Err(SignatureError::Mismatch) => match self.refresh_after_failure().await? {
                Some(fresh) => {
                    tracing::info!("signature mismatch: re-read the Retell keys");
                    verify_signature(body, fresh.key_for(company_id), header, now_ms)?;
                    Ok(())
                }
                None => Err(SignatureError::Mismatch.into()),
            },
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_key_is_the_default_company() {
        let ring = KeyRing::parse("  key_abc\n", "default").expect("valid");
        assert_eq!(ring.default_company_id(), "default");
        assert_eq!(ring.key_for(Some("anyone")), "key_abc");
        assert_eq!(ring.key_for(None), "key_abc");
    }

    #[test]
    fn companies_sign_with_their_own_key_or_the_default() {
        let doc = r#"{"default": {"company_id": "ops", "api_key": "k0"},
                      "companies": [{"company_id": "acme", "api_key": "k1"},
                                    {"company_id": "salon", "api_key": "k2", "agent_ids": ["agent_s"]}]}"#;
        let ring = KeyRing::parse(doc, "ignored").expect("valid");
        assert_eq!(ring.default_company_id(), "ops");
        assert_eq!(ring.key_for(Some("acme")), "k1");
        assert_eq!(ring.key_for(Some("salon")), "k2");
        assert_eq!(ring.key_for(Some("nobody")), "k0");
        assert_eq!(ring.key_for(None), "k0");
        // Agents listed in an older secret do not decide anything any more.
        assert!(ring.lists_agents);
    }

    #[test]
    fn invalid_documents_are_rejected() {
        for bad in [
            "",
            "{",
            r#"{"companies": []}"#,
            r#"{"default": {"company_id": "", "api_key": "k"}}"#,
            r#"{"default": {"company_id": "a", "api_key": "k"}, "companies": [{"company_id": "b", "api_key": "k"}, {"company_id": "b", "api_key": "k2"}]}"#,
        ] {
            assert!(
                matches!(KeyRing::parse(bad, "d"), Err(KeyError::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_output_hides_keys() {
        let ring = KeyRing::single("acme", "key_super_secret");
        assert!(!format!("{ring:?}").contains("super_secret"));
    }
}
