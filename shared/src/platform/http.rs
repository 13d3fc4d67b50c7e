//! HTTP replies shared by the HTTP Lambdas (webhook, tools, inbound call webhook).

use lambda_http::{Body, Response};
use serde_json::Value;

/// A JSON response with `status`.
pub fn json_response(status: u16, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = lambda_http::http::StatusCode::from_u16(status)
        .unwrap_or(lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        "content-type",
        lambda_http::http::HeaderValue::from_static("application/json"),
    );
    response
}

/// An outgoing HTTP client builder whose TLS runs on rustls with the ring provider, like the
/// AWS SDK's client (aws-lc would add about 2 MB to every bootstrap), over the process's one
/// reading of the system's trust roots ([`super::tls`]) on Linux, where that is exactly what
/// reqwest's platform verifier would read. The TLS settings of the builder (extra roots, minimum
/// version) are not applied over a configuration given this way: none is used.
pub fn client_builder() -> reqwest::ClientBuilder {
    // Fails only if a provider is installed already, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let shared = if cfg!(target_os = "linux") {
        super::tls::client_config()
    } else {
        // Elsewhere (retell-ops on an operator's Mac) the platform's own verifier.
        None
    };
    match shared {
        Some(tls) => reqwest::Client::builder().tls_backend_preconfigured(tls.clone()),
        // No roots on this system: reqwest reads them itself and reports what is wrong.
        None => reqwest::Client::builder(),
    }
}
