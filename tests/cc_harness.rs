//! The control center's router against the emulator, for the test binaries that drive it
//! (`control_center.rs`, `desk.rs`): its config from template.yaml, three real Cognito logins,
//! and requests sent through the router.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use control_center::cognito::Cognito;
use control_center::ControlCenter;
use serde_json::{json, Value};
use shared::platform::aws_json::AwsJsonClient;
use shared::platform::config::{ControlCenterConfig, Env};
use tower::ServiceExt;

use crate::{endpoint, sdk_config, stack};

pub const ADMIN: (&str, &str) = ("admin@cc.example", "AdminPass-2026");
pub const STAFF: (&str, &str) = ("staff@cc.example", "StaffPass-2026");
pub const OTHER: (&str, &str) = ("other@cc.example", "OtherPass-2026");

pub fn config() -> ControlCenterConfig {
    let s = stack();
    let mut env: std::collections::HashMap<String, String> = s.description["functions"]
        ["control-center"]["env"]
        .as_object()
        .expect("control-center in template.yaml")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let pool = s.resource("ControlCenterUserPool", "Ref");
    env.insert("AWS_REGION".into(), s.region());
    env.insert("COGNITO_ENDPOINT".into(), endpoint());
    env.insert(
        "COGNITO_JWKS_URL".into(),
        format!("{}/{pool}/.well-known/jwks.json", endpoint()),
    );
    ControlCenterConfig::from_env(&Env::from_map(env)).expect("config")
}

async fn idp_client() -> AwsJsonClient {
    let sdk = sdk_config().await;
    AwsJsonClient::new(
        &sdk,
        "cognito-idp",
        "AWSCognitoIdentityProviderService",
        None,
    )
    .expect("client")
}

pub async fn idp(action: &str, body: Value) -> Value {
    idp_client().await.call(action, &body).await.expect(action)
}

/// The three logins (once per test binary).
pub async fn users(config: &ControlCenterConfig) {
    let pool = &config.user_pool_id;
    for ((name, password), company) in [
        (ADMIN, None),
        (STAFF, Some("ccdemo")),
        (OTHER, Some("ccother")),
    ] {
        let mut attrs = vec![json!({"Name": "email", "Value": name})];
        if let Some(c) = company {
            attrs.push(json!({"Name": "custom:company_id", "Value": c}));
        }
        // Already there from an earlier test of this binary: fine.
        let _ = idp_client()
            .await
            .call::<Value>(
                "AdminCreateUser",
                &json!({"UserPoolId": pool, "Username": name, "UserAttributes": attrs, "MessageAction": "SUPPRESS"}),
            )
            .await;
        idp(
            "AdminSetUserPassword",
            json!({"UserPoolId": pool, "Username": name, "Password": password, "Permanent": true}),
        )
        .await;
    }
    idp(
        "AdminAddUserToGroup",
        json!({"UserPoolId": pool, "Username": ADMIN.0, "GroupName": "admins"}),
    )
    .await;
}

pub async fn app() -> (Arc<ControlCenter>, ControlCenterConfig) {
    let config = config();
    users(&config).await;
    let sdk = sdk_config().await;
    (
        Arc::new(ControlCenter::build(&config, &sdk).expect("build")),
        config,
    )
}

pub async fn id_token(config: &ControlCenterConfig, (user, password): (&str, &str)) -> String {
    let sdk = sdk_config().await;
    Cognito::new(
        &sdk,
        &config.cognito_endpoint,
        &config.user_pool_id,
        &config.user_pool_client_id,
    )
    .expect("cognito")
    .password_login(user, password)
    .await
    .expect("login")
    .id_token
}

pub async fn send(
    app: &Arc<ControlCenter>,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app.clone().router().oneshot(request).await.expect("answer");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 10 << 20)
        .await
        .expect("body");
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

pub fn get(path: &str, token: Option<&str>) -> Request<Body> {
    let mut r = Request::get(path);
    if let Some(t) = token {
        r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    r.body(Body::empty()).expect("request")
}

/// A form post as a script may send it (Bearer: no CSRF token needed).
pub fn post_form(path: &str, token: &str, form: &str) -> Request<Body> {
    Request::post(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .expect("request")
}

pub fn post_json(path: &str, token: &str, body: Value) -> Request<Body> {
    Request::post(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

/// Stores the demo salon (staff Anna, Ben and Clara, one colour station) as company `id` with
/// agent `agent_<id>` and no numbers: a company the logins can be staff of.
pub async fn put_salon(
    config: &ControlCenterConfig,
    id: &str,
) -> shared::booking::company::CompanySettings {
    let mut settings: shared::booking::company::CompanySettings =
        serde_json::from_str(include_str!("../infra/local/companies/demo.json")).expect("demo");
    settings.company_id = id.into();
    settings.agent_ids = vec![format!("agent_{id}")];
    settings.phone_numbers = vec![];
    settings.inbound_agent_id = None;
    settings.vip_agent_id = None;
    shared::booking::directory::CompanyDirectory::new(
        crate::clients().await.dynamodb.clone(),
        config.auth.companies_table.clone(),
        std::time::Duration::from_secs(60),
    )
    .put(&settings)
    .await
    .expect("put company");
    settings
}

pub fn patch_json(path: &str, token: &str, body: Value) -> Request<Body> {
    Request::patch(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request")
}

pub fn delete(path: &str, token: &str) -> Request<Body> {
    Request::delete(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request")
}
