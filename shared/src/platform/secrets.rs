//! Secret strings from AWS Secrets Manager (the emulator locally): Retell's API keys and each
//! Cal.com company's API key. Callers cache what they read; this only fetches.

/// Why a secret could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secret could not be read: {0}")]
    Unavailable(String),
    #[error("secret has no string value")]
    Empty,
}

/// Where a secret string comes from (Secrets Manager in Lambda; a fixed document in tests).
pub trait SecretSource {
    fn fetch(&self) -> impl std::future::Future<Output = Result<String, SecretError>> + Send;
}

/// A secret known when the process starts (benches and tests; never a deployed function).
#[derive(Clone, Debug)]
pub struct StaticSecret(pub String);

impl SecretSource for StaticSecret {
    async fn fetch(&self) -> Result<String, SecretError> {
        Ok(self.0.clone())
    }
}

/// One secret in AWS Secrets Manager.
#[derive(Clone, Debug)]
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretsManagerSource {
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self {
            client,
            secret_id: secret_id.into(),
        }
    }
}

impl SecretSource for SecretsManagerSource {
    async fn fetch(&self) -> Result<String, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| {
                SecretError::Unavailable(
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        out.secret_string.ok_or(SecretError::Empty)
    }
}
