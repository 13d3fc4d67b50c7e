//! AWS clients, built once per container. `AWS_ENDPOINT_URL` (set locally) points every client
//! at the emulator; in Lambda it is unset and the SDK uses the real endpoints: same code path.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;

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
    pub sqs: Lazy<aws_sdk_sqs::Client>,
    pub s3: Lazy<aws_sdk_s3::Client>,
    pub secrets: aws_sdk_secretsmanager::Client,
    /// The configuration they were built from, for the clients only some functions need (SNS
    /// and SES for messaging).
    pub sdk: aws_config::SdkConfig,
}

/// The SDK's loader with our HTTP client: rustls on ring, which keeps the bootstrap small.
pub fn config_loader() -> aws_config::ConfigLoader {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .tls_context(super::tls::sdk_tls_context())
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(SharedHttpClient::new(CheckedOnce::new(http)))
}

/// The SDK's HTTP client, checked once per process. Every service client's construction asks
/// its HTTP client to check itself, and the SDK's client answers by building a whole TLS
/// connector (decoding and parsing every trust root) that it then throws away: four times in
/// the webhook's init, more in the control center's. One check proves the same thing.
#[derive(Debug)]
struct CheckedOnce {
    inner: SharedHttpClient,
    checked: AtomicBool,
}

impl CheckedOnce {
    fn new(inner: SharedHttpClient) -> Self {
        CheckedOnce {
            inner,
            checked: AtomicBool::new(false),
        }
    }
}

impl HttpClient for CheckedOnce {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.inner.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        if self.checked.load(Ordering::Acquire) {
            return Ok(());
        }
        self.inner.validate_base_client_config(components, cfg)?;
        self.checked.store(true, Ordering::Release);
        Ok(())
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

/// The loader with `budget` on every call.
pub fn budgeted_config_loader(budget: AwsBudget) -> aws_config::ConfigLoader {
    config_loader().timeout_config(budget.timeout_config())
}

/// A service client made from the configuration when first used: a function that never uses it
/// (the tools never touch S3 or the SQS SDK) never links its construction, whose endpoint rules
/// alone are tens of kilobytes of every bootstrap. Derefs to the client; `client()` clones it.
#[derive(Clone)]
pub struct Lazy<C> {
    sdk: aws_config::SdkConfig,
    cell: std::sync::Arc<std::sync::OnceLock<C>>,
}

/// How a service client is made from the shared configuration.
pub trait FromSdkConfig {
    fn from_sdk_config(config: &aws_config::SdkConfig) -> Self;
}

impl FromSdkConfig for aws_sdk_sqs::Client {
    fn from_sdk_config(config: &aws_config::SdkConfig) -> Self {
        aws_sdk_sqs::Client::new(config)
    }
}

impl FromSdkConfig for aws_sdk_s3::Client {
    fn from_sdk_config(config: &aws_config::SdkConfig) -> Self {
        // Emulators serve buckets by path, not by virtual host.
        let s3_config = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        aws_sdk_s3::Client::from_conf(s3_config)
    }
}

impl<C: FromSdkConfig + Clone> Lazy<C> {
    fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            sdk: sdk.clone(),
            cell: Default::default(),
        }
    }

    /// A client made already (the tests' clients with an interceptor).
    pub fn ready(sdk: &aws_config::SdkConfig, client: C) -> Self {
        let cell = std::sync::OnceLock::new();
        let _ = cell.set(client);
        Self {
            sdk: sdk.clone(),
            cell: std::sync::Arc::new(cell),
        }
    }

    /// The client (cheap: a client is a handle).
    pub fn client(&self) -> C {
        (**self).clone()
    }
}

impl<C: FromSdkConfig> std::ops::Deref for Lazy<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.cell.get_or_init(|| C::from_sdk_config(&self.sdk))
    }
}

impl<C> std::fmt::Debug for Lazy<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.cell.get().is_some() {
            "Lazy(made)"
        } else {
            "Lazy(not made yet)"
        })
    }
}

impl AwsClients {
    pub async fn from_env(budget: AwsBudget) -> Self {
        Self::from_sdk_config(&budgeted_config_loader(budget).load().await)
    }

    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sqs: Lazy::new(config),
            s3: Lazy::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            sdk: config.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorFuture};
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;

    use super::*;

    #[derive(Debug)]
    struct Unreachable;

    impl HttpConnector for Unreachable {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            HttpConnectorFuture::ready(Err(
                aws_smithy_runtime_api::client::result::ConnectorError::other(
                    "no network in this test".into(),
                    None,
                ),
            ))
        }
    }

    /// Counts how often the SDK asks it to check itself.
    #[derive(Debug, Default)]
    struct CountingClient {
        checks: Arc<AtomicUsize>,
    }

    impl HttpClient for CountingClient {
        fn http_connector(
            &self,
            _settings: &HttpConnectorSettings,
            _components: &RuntimeComponents,
        ) -> SharedHttpConnector {
            SharedHttpConnector::new(Unreachable)
        }

        fn validate_base_client_config(
            &self,
            _components: &RuntimeComponentsBuilder,
            _cfg: &ConfigBag,
        ) -> Result<(), BoxError> {
            self.checks.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    fn sdk_config(http: SharedHttpClient) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-central-1"))
            .http_client(http)
            .build()
    }

    #[test]
    fn every_service_client_checks_the_http_client_without_the_wrapper() {
        let checks = Arc::new(AtomicUsize::new(0));
        let http = SharedHttpClient::new(CountingClient {
            checks: checks.clone(),
        });
        let aws = AwsClients::from_sdk_config(&sdk_config(http));
        // S3 and SQS are made on first use.
        assert_eq!(checks.load(Ordering::SeqCst), 2);
        let _made = (&*aws.s3, &*aws.sqs);
        // What the wrapper saves: one check (one TLS connector built) per client.
        assert_eq!(checks.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn the_http_client_is_checked_once_for_all_service_clients() {
        let checks = Arc::new(AtomicUsize::new(0));
        let http = SharedHttpClient::new(CheckedOnce::new(SharedHttpClient::new(CountingClient {
            checks: checks.clone(),
        })));
        let config = sdk_config(http);
        for aws in [
            AwsClients::from_sdk_config(&config),
            AwsClients::from_sdk_config(&config),
        ] {
            let _made = (&*aws.s3, &*aws.sqs);
        }
        assert_eq!(checks.load(Ordering::SeqCst), 1);
    }
}
