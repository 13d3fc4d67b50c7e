//! AWS clients, built once per container. `AWS_ENDPOINT_URL` (set locally) points every client
//! at the emulator; in Lambda it is unset and the SDK uses the real endpoints: same code path.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};

/// How long one AWS call may take, retries included. Without it a stalled connection (a network
/// brown-out, a frozen emulator) holds a request until Retell gives up on us at 10 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsBudget {
    pub connect: Duration,
    /// One attempt; the SDK retries throttling and 5xx within `operation`.
    pub attempt: Duration,
    /// The whole call, all attempts.
    pub operation: Duration,
}

impl AwsBudget {
    /// The paths Retell waits on (webhook, tools, inbound webhook): every AWS call is over well
    /// before Retell's 10 s, so the answer is a 503 (webhook) or the spoken fallback (tools).
    pub const CALLER_WAITING: AwsBudget = AwsBudget {
        connect: Duration::from_millis(1000),
        attempt: Duration::from_millis(1500),
        operation: Duration::from_millis(2500),
    };
    /// Queue consumers and tools run by operators: nobody waits, but a hung call must still
    /// fail (and be retried by SQS) rather than eat the function's timeout.
    pub const BACKGROUND: AwsBudget = AwsBudget {
        connect: Duration::from_secs(3),
        attempt: Duration::from_secs(10),
        operation: Duration::from_secs(30),
    };

    fn timeout_config(self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }
}

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
        .tls_context(super::tls::sdk_tls_context())
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http)
}

/// The loader with `budget` on every call.
pub fn budgeted_config_loader(budget: AwsBudget) -> aws_config::ConfigLoader {
    config_loader().timeout_config(budget.timeout_config())
}

impl AwsClients {
    pub async fn from_env(budget: AwsBudget) -> Self {
        Self::from_sdk_config(&budgeted_config_loader(budget).load().await)
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
