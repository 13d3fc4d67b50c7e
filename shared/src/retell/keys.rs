//! Retell API keys, per company, from one Secrets Manager secret.
//!
//! The secret is either a bare API key (every company signs with it) or JSON:
//! `{"default": {"company_id": "...", "api_key": "..."},
//!   "companies": [{"company_id": "...", "api_key": "..."}]}`.
//! During a key rotation an entry may also hold `previous_api_key`: requests signed with either
//! are accepted until it is removed (README, "Rotating a Retell key"); Retell is called with
//! `api_key` only.
//! The secret holds keys only: which company an agent or a number belongs to is the companies
//! directory's answer ([`crate::booking::directory::CompanyDirectory`]), and a request is verified with the
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
    /// The key being rotated out: still accepted on requests, never used to call Retell.
    previous_api_key: Option<String>,
}

impl Tenant {
    pub fn new(company_id: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            company_id: company_id.into(),
            api_key: api_key.into(),
            previous_api_key: None,
        }
    }

    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The keys a request of this tenant may be signed with: the current one first.
    pub fn signing_keys(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.api_key.as_str()).chain(self.previous_api_key.as_deref())
    }
}

// Never print the key, not even in a debug dump.
impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("company_id", &self.company_id)
            .field("api_key", &"<redacted>")
            .field(
                "previous_api_key",
                &self.previous_api_key.as_ref().map(|_| "<redacted>"),
            )
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
    #[serde(default)]
    previous_api_key: Option<String>,
}

#[derive(Deserialize)]
struct CompanyDoc {
    company_id: String,
    api_key: String,
    #[serde(default)]
    previous_api_key: Option<String>,
    #[serde(default)]
    agent_ids: Vec<String>,
}

/// A tenant from its entry; a blank previous key is no previous key.
fn tenant(company_id: String, api_key: String, previous: Option<String>) -> Tenant {
    Tenant {
        company_id,
        api_key,
        previous_api_key: previous.filter(|k| !k.trim().is_empty()),
    }
}

/// Why a key document did not parse, without serde's text: that quotes the values it could not
/// read, and a value here is a key.
fn document_error(e: &serde_json::Error) -> KeyError {
    let what = match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "not valid JSON",
        serde_json::error::Category::Data => {
            "not a key document (a field is missing or of the wrong type)"
        }
        serde_json::error::Category::Io => "unreadable",
    };
    KeyError::Invalid(format!(
        "{what} at line {}, column {}",
        e.line(),
        e.column()
    ))
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
        let doc: KeyDocument = serde_json::from_str(trimmed).map_err(|e| document_error(&e))?;
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
            let entry = tenant(
                company.company_id.clone(),
                company.api_key,
                company.previous_api_key,
            );
            if by_company
                .insert(company.company_id.clone(), entry)
                .is_some()
            {
                return Err(KeyError::Invalid(format!(
                    "company {} is listed twice",
                    company.company_id
                )));
            }
        }
        Ok(Self {
            default: tenant(
                doc.default.company_id,
                doc.default.api_key,
                doc.default.previous_api_key,
            ),
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
        self.tenant_for(company_id).api_key()
    }

    /// The tenant whose keys sign `company_id`'s requests: its own, else the default.
    pub fn tenant_for(&self, company_id: Option<&str>) -> &Tenant {
        company_id
            .and_then(|c| self.by_company.get(c))
            .unwrap_or(&self.default)
    }

    /// Whether `company_id` signs with a key of its own, which no other company shares: only
    /// then does a signature prove a request is that company's whatever it claims.
    pub fn has_own_key(&self, company_id: &str) -> bool {
        self.by_company.get(company_id).is_some_and(|own| {
            let shared = |k: &str| {
                self.default.signing_keys().any(|d| d == k)
                    || self
                        .by_company
                        .values()
                        .filter(|t| t.company_id != company_id)
                        .any(|t| t.signing_keys().any(|o| o == k))
            };
            !own.signing_keys().any(shared)
        })
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
    max_age: Duration,
    cache: Mutex<Cached>,
}

pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// A ring older than this is read again before use, so a key removed from the secret (the end
/// of a rotation) stops being accepted within this time in every warm container. If the
/// secret cannot be read then, the ring in hand is used (and the failure logged).
pub const KEY_MAX_AGE: Duration = Duration::from_secs(300);

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
            max_age: KEY_MAX_AGE,
            cache: Mutex::new(Cached {
                ring: None,
                fetched_at: None,
            }),
        }
    }

    /// Reads the ring again once it is older than `max_age` (default [`KEY_MAX_AGE`]).
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
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

    /// The cached ring, read from the source on first use and again once older than the max
    /// age (keeping the old one if that read fails).
    pub async fn current(&self) -> Result<Arc<KeyRing>, KeyError> {
        let mut cache = self.cache.lock().await;
        let stale = cache
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.max_age);
        match cache.ring.clone() {
            Some(ring) if !stale => Ok(ring),
            Some(ring) => match self.load(&mut cache).await {
                Ok(fresh) => Ok(fresh),
                Err(e) => {
                    tracing::warn!(error = %e, "the Retell keys could not be read again; using the ones in hand");
                    Ok(ring)
                }
            },
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
        use crate::retell::signature::SignatureError;
        let ring = self.current().await?;
        match verify_with(&ring, body, header, company_id, now_ms) {
            Ok(()) => Ok(()),
            Err(SignatureError::Mismatch) => match self.refresh_after_failure().await? {
                Some(fresh) => {
                    tracing::info!("signature mismatch: re-read the Retell keys");
                    verify_with(&fresh, body, header, company_id, now_ms)?;
                    Ok(())
                }
                None => Err(SignatureError::Mismatch.into()),
            },
            Err(e) => Err(e.into()),
        }
    }
}

/// Verifies with each key the company may sign with (during a rotation, two).
fn verify_with(
    ring: &KeyRing,
    body: &[u8],
    header: &crate::retell::signature::SignatureHeader<'_>,
    company_id: Option<&str>,
    now_ms: i64,
) -> Result<(), crate::retell::signature::SignatureError> {
    use crate::retell::signature::{verify_signature, SignatureError};
    let mut result = Err(SignatureError::Mismatch);
    for key in ring.tenant_for(company_id).signing_keys() {
        result = verify_signature(body, key, header, now_ms);
        if !matches!(result, Err(SignatureError::Mismatch)) {
            break;
        }
    }
    result
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
    fn a_rotation_accepts_the_previous_key_until_it_is_removed() {
        use crate::retell::signature::{sign, SignatureHeader};
        let doc = r#"{"default": {"company_id": "ops", "api_key": "k_new", "previous_api_key": "k_old"},
                      "companies": [{"company_id": "acme", "api_key": "a_new", "previous_api_key": "a_old"},
                                    {"company_id": "plain", "api_key": "p1", "previous_api_key": " "}]}"#;
        let ring = KeyRing::parse(doc, "ignored").expect("valid");
        let now = 1_700_000_000_000;
        let body = br#"{"event":"call_started"}"#;
        let check = |key: &str, company: Option<&str>| {
            let header = sign(body, key, now);
            let parsed = SignatureHeader::parse(&header).expect("well formed");
            verify_with(&ring, body, &parsed, company, now)
        };
        for (key, company) in [
            ("k_new", None),
            ("k_old", None),
            ("k_old", Some("nobody")),
            ("a_new", Some("acme")),
            ("a_old", Some("acme")),
            ("p1", Some("plain")),
        ] {
            assert_eq!(check(key, company), Ok(()), "{key} for {company:?}");
        }
        for (key, company) in [
            ("k_old", Some("acme")),
            ("a_old", None),
            (" ", Some("plain")),
        ] {
            assert!(check(key, company).is_err(), "{key:?} for {company:?}");
        }
        // Retell is called with the current key only.
        assert_eq!(ring.tenants()[0].api_key(), "k_new");
        assert_eq!(ring.key_for(Some("acme")), "a_new");
    }

    #[test]
    fn only_a_key_nobody_else_has_is_a_companys_own() {
        let doc = r#"{"default": {"company_id": "ops", "api_key": "k0"},
                      "companies": [{"company_id": "acme", "api_key": "k1"},
                                    {"company_id": "twin", "api_key": "k0"},
                                    {"company_id": "old", "api_key": "k3", "previous_api_key": "k1"}]}"#;
        let ring = KeyRing::parse(doc, "ignored").expect("valid");
        assert!(!ring.has_own_key("ops"), "the default key is everyone's");
        assert!(
            !ring.has_own_key("twin"),
            "listed, but with the default key"
        );
        assert!(
            !ring.has_own_key("acme"),
            "its key is another's previous key"
        );
        assert!(!ring.has_own_key("old"));
        assert!(!ring.has_own_key("nobody"));
        let ring = KeyRing::parse(
            r#"{"default": {"company_id": "ops", "api_key": "k0"}, "companies": [{"company_id": "acme", "api_key": "k1"}]}"#,
            "x",
        )
        .expect("valid");
        assert!(ring.has_own_key("acme"));
    }

    #[test]
    fn a_mistyped_key_document_never_quotes_a_key() {
        for bad in [
            r#"{"default": {"company_id": "a", "api_key": 12345678901234}}"#,
            r#"{"default": {"company_id": "a", "api_key": "key_secret_123", "companies": 1}"#,
            r#"{"default": {"company_id": "a", "api_key": ["key_secret_123"]}}"#,
            r#"{"default": {"company_id": "a", "api_key": "key_secret_123"}, "companies": [{"company_id": "b", "api_key": {"v": "key_secret_456"}}]}"#,
            r#"{"default": "key_secret_123"}"#,
        ] {
            let Err(KeyError::Invalid(text)) = KeyRing::parse(bad, "d") else {
                panic!("accepted: {bad}");
            };
            for secret in ["key_secret", "12345678901234"] {
                assert!(!text.contains(secret), "{text}");
            }
            assert!(text.contains("line"), "{text}");
        }
    }

    #[test]
    fn debug_output_hides_keys() {
        let ring = KeyRing::single("acme", "key_super_secret");
        assert!(!format!("{ring:?}").contains("super_secret"));
    }
}
