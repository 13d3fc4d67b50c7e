//! AWS clients, built once per container. `AWS_ENDPOINT_URL` (set locally) points every client
//! at the emulator; in Lambda it is unset and the SDK uses the real endpoints: same code path.

use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

/// The SDK's loader with our HTTP client: rustls on ring, which keeps the bootstrap small.
pub fn config_loader() -> aws_config::ConfigLoader {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http)
}

impl AwsClients {
    pub async fn from_env() -> Self {
        Self::from_sdk_config(&config_loader().load().await)
    }

    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Self {
        // Emulators serve buckets by path, not by virtual host.
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
        }
    }
}
