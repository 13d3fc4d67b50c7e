//! Cognito's user-pool API, as the login form needs it: password login and refresh
//! (InitiateAuth), and signing a user out everywhere (AdminUserGlobalSignOut: refresh tokens
//! stop working; ID tokens die at their expiry, an hour at most).

use serde::Deserialize;
use serde_json::json;
use shared::platform::aws_json::{AwsJsonClient, AwsJsonError};

/// What a successful login gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    pub id_token: String,
    pub access_token: String,
    /// Only a password login gives one; a refresh keeps the old.
    pub refresh_token: Option<String>,
    pub expires_in: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Wrong user name or password (Cognito says which neither, and neither do we).
    #[error("wrong user name or password")]
    Credentials,
    /// Cognito's own lockout after repeated failures.
    #[error("too many failed attempts; try again later")]
    LockedOut,
    #[error("this account is disabled")]
    Disabled,
    /// The account must set a new password or reset it first (outside this form).
    #[error("this account must set a new password first")]
    NewPassword,
    #[error("the session has ended; please log in again")]
    SessionEnded,
    #[error("login is unavailable right now: {0}")]
    Unavailable(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InitiateAuthResponse {
    #[serde(default)]
    authentication_result: Option<AuthenticationResult>,
    #[serde(default)]
    challenge_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AuthenticationResult {
    id_token: String,
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    expires_in: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Cognito {
    api: AwsJsonClient,
    pool_id: String,
    client_id: String,
}

impl Cognito {
    pub fn new(
        config: &aws_config::SdkConfig,
        endpoint: &str,
        pool_id: &str,
        client_id: &str,
    ) -> Result<Self, AwsJsonError> {
        Ok(Self {
            api: AwsJsonClient::new(
                config,
                "cognito-idp",
                "AWSCognitoIdentityProviderService",
                Some(endpoint),
            )?,
            pool_id: pool_id.to_owned(),
            client_id: client_id.to_owned(),
        })
    }

    pub async fn password_login(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Tokens, LoginError> {
        let body = json!({
            "AuthFlow": "USER_PASSWORD_AUTH",
            "ClientId": self.client_id,
            "AuthParameters": {"USERNAME": username, "PASSWORD": password},
        });
        self.initiate(&body).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Result<Tokens, LoginError> {
        let body = json!({
            "AuthFlow": "REFRESH_TOKEN_AUTH",
            "ClientId": self.client_id,
            "AuthParameters": {"REFRESH_TOKEN": refresh_token},
        });
        self.initiate(&body).await.map_err(|e| match e {
            LoginError::Credentials => LoginError::SessionEnded,
            other => other,
        })
    }

    /// Revokes the user's refresh tokens (the function's role may call this; the user's own
    /// GlobalSignOut would need their access token to be sent to Cognito from here anyway).
    pub async fn sign_out(&self, username: &str) -> Result<(), LoginError> {
        let body = json!({"UserPoolId": self.pool_id, "Username": username});
        self.api
            .call::<serde_json::Value>("AdminUserGlobalSignOut", &body)
            .await
            .map(|_| ())
            .map_err(|e| LoginError::Unavailable(e.to_string()))
    }

    async fn initiate(&self, body: &serde_json::Value) -> Result<Tokens, LoginError> {
        let answer: InitiateAuthResponse = self
            .api
            .call_unsigned("InitiateAuth", body)
            .await
            .map_err(login_error)?;
        if let Some(result) = answer.authentication_result {
            return Ok(Tokens {
                id_token: result.id_token,
                access_token: result.access_token,
                refresh_token: result.refresh_token,
                expires_in: result.expires_in.unwrap_or(3600),
            });
        }
        match answer.challenge_name.as_deref() {
            Some("NEW_PASSWORD_REQUIRED") => Err(LoginError::NewPassword),
            Some(other) => Err(LoginError::Unavailable(format!(
                "Cognito asks for {other}, which this form does not offer"
            ))),
            None => Err(LoginError::Unavailable("Cognito gave no tokens".into())),
        }
    }
}

fn login_error(e: AwsJsonError) -> LoginError {
    let message = match &e {
        AwsJsonError::Refused { message, .. } => message.to_lowercase(),
        _ => String::new(),
    };
    match e.code() {
        Some("NotAuthorizedException") if message.contains("attempts exceeded") => {
            LoginError::LockedOut
        }
        Some("NotAuthorizedException") if message.contains("disabled") => LoginError::Disabled,
        Some("NotAuthorizedException") | Some("UserNotFoundException") => LoginError::Credentials,
        Some("PasswordResetRequiredException") | Some("UserNotConfirmedException") => {
            LoginError::NewPassword
        }
        Some("TooManyRequestsException") | Some("LimitExceededException") => LoginError::LockedOut,
        _ => LoginError::Unavailable(e.to_string()),
    }
}
