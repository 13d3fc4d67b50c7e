//! AWS services over their JSON protocol (`X-Amz-Target: <Prefix>.<Operation>`, awsJson1.1 or
//! 1.0),
//! SigV4-signed like the SDK signs.
//!
//! Why not the SDK: this SDK generation speaks the newer CBOR protocol where a service offers it
//! (CloudWatch Logs does), which the local AWS emulator does not; the JSON protocol is the one
//! every other AWS SDK uses and AWS serves it too, so one client works in Lambda and locally. The
//! control center reaches Cognito this way as well: two calls do not justify another SDK crate.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum AwsJsonError {
    #[error("AWS client not configured: {0}")]
    Setup(String),
    #[error("AWS request failed: {0}")]
    Transport(String),
    #[error("AWS refused the request ({code}): {message}")]
    Refused { code: String, message: String },
}

impl AwsJsonError {
    /// The service's error code (`NotAuthorizedException`, …), when it answered one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// One service's JSON API: where it is, what it signs as, its target prefix.
#[derive(Clone)]
pub struct AwsJsonClient {
    http: reqwest::Client,
    endpoint: String,
    host: String,
    region: String,
    signing_name: &'static str,
    target_prefix: &'static str,
    content_type: &'static str,
    credentials: Option<SharedCredentialsProvider>,
}

impl std::fmt::Debug for AwsJsonClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsJsonClient")
            .field("endpoint", &self.endpoint)
            .field("target_prefix", &self.target_prefix)
            .finish_non_exhaustive()
    }
}

impl AwsJsonClient {
    /// The service `signing_name` (e.g. `logs`, `cognito-idp`) in the region of `config`, at
    /// `endpoint` if given, else `AWS_ENDPOINT_URL`, else `https://<signing_name>.<region>.amazonaws.com`.
    pub fn new(
        config: &aws_config::SdkConfig,
        signing_name: &'static str,
        target_prefix: &'static str,
        endpoint: Option<&str>,
    ) -> Result<Self, AwsJsonError> {
        let region = config
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| AwsJsonError::Setup("no AWS region".into()))?;
        let endpoint = endpoint
            .or(config.endpoint_url())
            .map(|u| u.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("https://{signing_name}.{region}.amazonaws.com"));
        let host = endpoint
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .ok_or_else(|| AwsJsonError::Setup(format!("endpoint {endpoint} has no host")))?
            .to_owned();
        let http = crate::platform::http::client_builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| AwsJsonError::Setup(e.to_string()))?;
        Ok(Self {
            http,
            endpoint,
            host,
            region,
            signing_name,
            target_prefix,
            content_type: "application/x-amz-json-1.1",
            credentials: config.credentials_provider(),
        })
    }

    /// For services on awsJson1.0 (SQS, CloudWatch) rather than 1.1.
    pub fn json_1_0(mut self) -> Self {
        self.content_type = "application/x-amz-json-1.0";
        self
    }

    /// A signed call of `operation`.
    pub async fn call<T: serde::de::DeserializeOwned>(
        &self,
        operation: &str,
        body: &Value,
    ) -> Result<T, AwsJsonError> {
        self.send(operation, body, true).await
    }

    /// An unsigned call (Cognito's user-facing operations: InitiateAuth, GlobalSignOut).
    pub async fn call_unsigned<T: serde::de::DeserializeOwned>(
        &self,
        operation: &str,
        body: &Value,
    ) -> Result<T, AwsJsonError> {
        self.send(operation, body, false).await
    }

    /// A signed call of a REST-JSON service (Lambda's `GET /2015-03-31/event-source-mappings/`):
    /// `path` with its query already encoded, a JSON body or none.
    pub async fn call_rest<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, AwsJsonError> {
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| AwsJsonError::Setup(e.to_string()))?,
            None => Vec::new(),
        };
        let url = format!("{}{path}", self.endpoint);
        let mut headers = vec![("host", self.host.as_str())];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let mut request = self.http.request(method.clone(), &url);
        for (name, value) in self
            .signature(method.as_str(), &url, &headers, &bytes)
            .await?
        {
            request = request.header(name, value);
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let response = request
            .body(bytes)
            .send()
            .await
            .map_err(|e| AwsJsonError::Transport(e.to_string()))?;
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(|t| t.split(':').next().unwrap_or(t).to_owned());
        Self::answer(response.status(), error_type, response).await
    }

    /// The SigV4 headers of a request.
    async fn signature(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, AwsJsonError> {
        let provider = self
            .credentials
            .as_ref()
            .ok_or_else(|| AwsJsonError::Setup("no AWS credentials provider".into()))?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| AwsJsonError::Setup(format!("credentials: {e}")))?;
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.signing_name)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| AwsJsonError::Setup(e.to_string()))?
            .into();
        let signable = SignableRequest::new(
            method,
            url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| AwsJsonError::Setup(e.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| AwsJsonError::Setup(e.to_string()))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect())
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        operation: &str,
        body: &Value,
        signed: bool,
    ) -> Result<T, AwsJsonError> {
        let body = serde_json::to_vec(body).map_err(|e| AwsJsonError::Setup(e.to_string()))?;
        let url = format!("{}/", self.endpoint);
        let target = format!("{}.{operation}", self.target_prefix);
        let mut request = self
            .http
            .post(&url)
            .header("content-type", self.content_type)
            .header("x-amz-target", &target);
        if signed {
            let headers = [
                ("host", self.host.as_str()),
                ("content-type", self.content_type),
                ("x-amz-target", target.as_str()),
            ];
            for (name, value) in self.signature("POST", &url, &headers, &body).await? {
                request = request.header(name, value);
            }
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| AwsJsonError::Transport(e.to_string()))?;
        Self::answer(response.status(), None, response).await
    }

    /// The answer's JSON, or the service's refusal with its code (the `x-amzn-errortype`
    /// header of REST services, else the body's `__type` or `Type`).
    async fn answer<T: serde::de::DeserializeOwned>(
        status: reqwest::StatusCode,
        error_type: Option<String>,
        response: reqwest::Response,
    ) -> Result<T, AwsJsonError> {
        let text = response
            .text()
            .await
            .map_err(|e| AwsJsonError::Transport(e.to_string()))?;
        if !status.is_success() {
            let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let code = error_type
                .filter(|t| !t.is_empty())
                .or_else(|| {
                    parsed
                        .get("__type")
                        .and_then(Value::as_str)
                        .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned())
                })
                .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
            let message = parsed
                .get("message")
                .or_else(|| parsed.get("Message"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .chars()
                .take(300)
                .collect();
            return Err(AwsJsonError::Refused { code, message });
        }
        if text.trim().is_empty() {
            return serde_json::from_str("{}").map_err(|e| AwsJsonError::Transport(e.to_string()));
        }
        serde_json::from_str(&text).map_err(|e| AwsJsonError::Transport(format!("answer: {e}")))
    }
}
