//! The one authentication path of every request Retell sends us (webhook, tools, inbound call
//! webhook). A request claims whose it is (its agent, the number called, or, for tool calls
//! without a call envelope, a company id); the companies directory says which company that is;
//! that company's Retell key, or the default key, must have signed the raw body. Nothing from an
//! unverified body is acted on or stored.

use std::sync::Arc;

use crate::booking::company::{Company, CompanyError};
use crate::booking::directory::{CompanyDirectory, CompanyKey, COMPANY_CACHE_TTL};
use crate::platform::aws::AwsClients;
use crate::platform::config::RetellAuthConfig;
use crate::retell::keys::{
    KeyError, KeyProvider, SecretSource, SecretsManagerSource, VerifyError,
    DEFAULT_REFRESH_INTERVAL,
};
use crate::retell::signature::{SignatureError, SignatureHeader};

/// The header Retell signs every request with.
pub const SIGNATURE_HEADER: &str = "x-retell-signature";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Signature(#[from] SignatureError),
    #[error("webhook keys unavailable: {0}")]
    Keys(#[from] KeyError),
    #[error("companies directory unavailable: {0}")]
    Directory(CompanyError),
    /// The company was named outside the signed body (a header, the query string, or not at
    /// all) and shares its key with other companies: the signature cannot tell whose it is.
    #[error("the company claim is not covered by the signature")]
    UnsignedClaim,
}

impl From<VerifyError> for AuthError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Signature(s) => AuthError::Signature(s),
            VerifyError::Keys(k) => AuthError::Keys(k),
        }
    }
}

impl AuthError {
    /// 401 for the caller's fault; 503 (Retell retries) when we cannot tell.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Signature(_) | AuthError::UnsignedClaim => 401,
            AuthError::Keys(_) | AuthError::Directory(_) => 503,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::Signature(e) => e.reason(),
            AuthError::Keys(_) => "keys_unavailable",
            AuthError::Directory(_) => "companies_unavailable",
            AuthError::UnsignedClaim => "company_claim_unsigned",
        }
    }
}

/// The verified sender of a request.
#[derive(Debug, Clone)]
pub struct Sender {
    /// The directory's company, or the key ring's default company when nobody listed the claim.
    pub company_id: String,
    /// The company's settings, when the directory knows it.
    pub company: Option<Arc<Company>>,
}

/// Keys and companies: everything authentication reads, cached per container, so a warm
/// container authenticates without an AWS round trip.
pub struct RequestAuth<S> {
    pub keys: KeyProvider<S>,
    pub companies: CompanyDirectory,
}

impl RequestAuth<SecretsManagerSource> {
    /// As the Lambdas build it: the key secret and the companies table, cached per container.
    pub fn build(config: &RetellAuthConfig, aws: &AwsClients) -> Self {
        Self::new(
            KeyProvider::new(
                SecretsManagerSource::new(aws.secrets.clone(), &config.secret_id),
                &config.default_company_id,
                DEFAULT_REFRESH_INTERVAL,
            ),
            CompanyDirectory::new(
                aws.dynamodb.clone(),
                &config.companies_table,
                COMPANY_CACHE_TTL,
            ),
        )
    }
}

impl<S: SecretSource> RequestAuth<S> {
    pub fn new(keys: KeyProvider<S>, companies: CompanyDirectory) -> Self {
        Self { keys, companies }
    }

    /// Proves `body` was signed by the company `claim` names (or with the default key, for a
    /// claim nobody listed). The claim is read from the signed body itself (its agent or the
    /// number called).
    pub async fn authenticate(
        &self,
        body: &[u8],
        header: &SignatureHeader<'_>,
        claim: Option<&CompanyKey>,
        now_ms: i64,
    ) -> Result<Sender, AuthError> {
        self.verify(body, header, claim, now_ms).await
    }

    /// As [`Self::authenticate`] for a claim the signature does not cover (a header or the
    /// query string of an args-only tool call, or none): accepted only for a company that signs
    /// with a key of its own. A request signed with a shared key could otherwise be replayed
    /// within the signature's five minutes under another company's name, or under none (the
    /// default company), and act there.
    pub async fn authenticate_unsigned_claim(
        &self,
        body: &[u8],
        header: &SignatureHeader<'_>,
        claim: Option<&CompanyKey>,
        now_ms: i64,
    ) -> Result<Sender, AuthError> {
        let sender = self.verify(body, header, claim, now_ms).await?;
        if !self.keys.current().await?.has_own_key(&sender.company_id) {
            return Err(AuthError::UnsignedClaim);
        }
        Ok(sender)
    }

    async fn verify(
        &self,
        body: &[u8],
        header: &SignatureHeader<'_>,
        claim: Option<&CompanyKey>,
        now_ms: i64,
    ) -> Result<Sender, AuthError> {
        // The signed time first: a stale or replayed request costs no lookup.
        header.check_fresh(now_ms)?;
        let company = match claim.filter(|key| key.is_well_formed()) {
            Some(key) => self
                .companies
                .lookup(key)
                .await
                .map_err(AuthError::Directory)?,
            None => None,
        };
        let company_id = company.as_ref().map(|c| c.id());
        self.keys.verify(body, header, company_id, now_ms).await?;
        let company_id = match company_id {
            Some(id) => id.to_owned(),
            None => self.keys.default_company_id().await?,
        };
        Ok(Sender {
            company_id,
            company,
        })
    }
}
