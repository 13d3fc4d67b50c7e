//! Who is asking: a Cognito ID token (from the session cookie or `Authorization: Bearer`),
//! verified here on every request: RS256 against the pool's published keys, the pool as issuer,
//! our app client as audience, an ID token (not an access token), not expired. Group `admins`
//! sees every company; anyone else sees only the company of their `custom:company_id`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use serde::Deserialize;
use tokio::sync::RwLock;

/// The Cognito group whose members see every company.
pub const ADMIN_GROUP: &str = "admins";
/// Longest token accepted (Cognito's are ~1–2 KB).
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Clock skew allowed between Cognito and this function.
const LEEWAY_SECS: i64 = 30;
/// A kid we do not know refetches the keys at most this often (keys rotate rarely).
const REFETCH_AFTER: Duration = Duration::from_secs(60);
/// After a failed fetch the next request tries again, but not sooner than this: an outage at
/// Cognito costs each request at most one wait, and a flood of requests one fetch a second.
const RETRY_FAILED_AFTER: Duration = Duration::from_secs(1);

/// The person a request comes from, as their verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    Admin { user: String },
    Staff { user: String, company_id: String },
}

impl Viewer {
    pub fn user(&self) -> &str {
        match self {
            Self::Admin { user } | Self::Staff { user, .. } => user,
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Self::Admin { .. })
    }

    /// Whether this viewer may see `company_id`'s data.
    pub fn may_see(&self, company_id: &str) -> bool {
        match self {
            Self::Admin { .. } => true,
            Self::Staff {
                company_id: own, ..
            } => own == company_id,
        }
    }

    /// The company a request looks at: a staff member's own (asking for another is None), an
    /// admin's choice, else `default`.
    pub fn company<'a>(&'a self, requested: Option<&'a str>, default: &'a str) -> Option<&'a str> {
        match self {
            Self::Admin { .. } => Some(requested.filter(|c| !c.is_empty()).unwrap_or(default)),
            Self::Staff { company_id, .. } => match requested {
                Some(r) if !r.is_empty() && r != company_id => None,
                _ => Some(company_id),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no token")]
    Missing,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("token signed with an algorithm other than RS256")]
    Algorithm,
    #[error("token signed with an unknown key")]
    UnknownKey,
    #[error("token signature does not verify")]
    Signature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("token of another issuer")]
    Issuer,
    #[error("token for another client")]
    Audience,
    #[error("not an ID token")]
    TokenUse,
    #[error("user belongs to no company and is no admin")]
    NoCompany,
    #[error("signing keys unavailable: {0}")]
    Keys(String),
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

/// The claims of a Cognito ID token this service reads.
#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    #[serde(default)]
    aud: Option<String>,
    token_use: String,
    exp: i64,
    #[serde(default)]
    iat: Option<i64>,
    #[serde(default, rename = "cognito:username")]
    username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    sub: String,
    #[serde(default, rename = "cognito:groups")]
    groups: Vec<String>,
    #[serde(default, rename = "custom:company_id")]
    company_id: Option<String>,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: String,
    kty: String,
    n: String,
    e: String,
    #[serde(default)]
    alg: Option<String>,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, (Vec<u8>, Vec<u8>)>,
    /// When the keys were last fetched successfully.
    fetched: Option<Instant>,
    /// When a fetch last failed, and why.
    failed: Option<(Instant, String)>,
}

pub struct TokenVerifier {
    issuer: String,
    client_id: String,
    jwks_url: String,
    http: reqwest::Client,
    keys: RwLock<KeySet>,
}

impl TokenVerifier {
    pub fn new(issuer: &str, client_id: &str, jwks_url: &str) -> Result<Self, AuthError> {
        let http = shared::platform::http::client_builder()
            .timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| AuthError::Keys(e.to_string()))?;
        Ok(Self {
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            jwks_url: jwks_url.to_owned(),
            http,
            keys: RwLock::new(KeySet::default()),
        })
    }

    /// The viewer a token names, if it is a valid ID token of our pool and client at `now`
    /// (seconds since the epoch).
    pub async fn verify(&self, token: &str, now: i64) -> Result<Viewer, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed("too long"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed("not three parts"));
        };
        let header: Header = decode_json(h)?;
        if header.alg != "RS256" {
            return Err(AuthError::Algorithm);
        }
        let kid = header.kid.ok_or(AuthError::Malformed("no kid"))?;
        let signature = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| AuthError::Malformed("signature encoding"))?;
        let (n, e) = self.key(&kid).await?;
        let signed = &token[..h.len() + 1 + p.len()];
        RsaPublicKeyComponents { n: &n, e: &e }
            .verify(&RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &signature)
            .map_err(|_| AuthError::Signature)?;
        // Only a verified payload is read.
        let claims: Claims = decode_json(p)?;
        self.check(claims, now)
    }

    fn check(&self, claims: Claims, now: i64) -> Result<Viewer, AuthError> {
        if claims.iss != self.issuer {
            return Err(AuthError::Issuer);
        }
        if claims.token_use != "id" {
            return Err(AuthError::TokenUse);
        }
        if claims.aud.as_deref() != Some(self.client_id.as_str()) {
            return Err(AuthError::Audience);
        }
        if claims.exp + LEEWAY_SECS <= now {
            return Err(AuthError::Expired);
        }
        if claims.iat.is_some_and(|iat| iat - LEEWAY_SECS > now) {
            return Err(AuthError::NotYetValid);
        }
        let user = claims.email.or(claims.username).unwrap_or(claims.sub);
        if claims.groups.iter().any(|g| g == ADMIN_GROUP) {
            return Ok(Viewer::Admin { user });
        }
        match claims.company_id.filter(|c| !c.trim().is_empty()) {
            Some(company_id) => Ok(Viewer::Staff { user, company_id }),
            None => Err(AuthError::NoCompany),
        }
    }

    /// The key `kid`: from the cached set, else the pool's JWKS fetched anew (at most once a
    /// minute, so tokens naming random kids cannot make us hammer Cognito).
    async fn key(&self, kid: &str) -> Result<(Vec<u8>, Vec<u8>), AuthError> {
        if let Some(k) = self.keys.read().await.keys.get(kid) {
            return Ok(k.clone());
        }
        let mut set = self.keys.write().await;
        if let Some(k) = set.keys.get(kid) {
            return Ok(k.clone());
        }
        if set.fetched.is_some_and(|at| at.elapsed() < REFETCH_AFTER) {
            return Err(AuthError::UnknownKey);
        }
        // A failed fetch is no answer about the key: it says nothing about the session, and
        // the next request soon tries again (not a minute later).
        if let Some((at, why)) = &set.failed {
            if at.elapsed() < RETRY_FAILED_AFTER {
                return Err(AuthError::Keys(why.clone()));
            }
        }
        let fetched = async {
            self.http
                .get(&self.jwks_url)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|e| e.to_string())?
                .json::<Jwks>()
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        let jwks = match fetched {
            Ok(jwks) => jwks,
            Err(why) => {
                tracing::warn!(reason = %why, "the pool's signing keys could not be fetched");
                set.failed = Some((Instant::now(), why.clone()));
                return Err(AuthError::Keys(why));
            }
        };
        set.fetched = Some(Instant::now());
        set.failed = None;
        set.keys = jwks
            .keys
            .into_iter()
            .filter(|k| k.kty == "RSA" && k.alg.as_deref().is_none_or(|a| a == "RS256"))
            .filter_map(|k| {
                let n = URL_SAFE_NO_PAD.decode(&k.n).ok()?;
                let e = URL_SAFE_NO_PAD.decode(&k.e).ok()?;
                Some((k.kid, (n, e)))
            })
            .collect();
        set.keys.get(kid).cloned().ok_or(AuthError::UnknownKey)
    }

    /// Seconds until the token expires, read without verifying (only to decide when to
    /// refresh a session whose token was verified by [`Self::verify`]).
    pub fn seconds_left(token: &str, now: i64) -> Option<i64> {
        #[derive(Deserialize)]
        struct Exp {
            exp: i64,
        }
        let payload = token.split('.').nth(1)?;
        let exp: Exp = decode_json(payload).ok()?;
        Some(exp.exp - now)
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, AuthError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthError::Malformed("base64"))?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed("json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier() -> TokenVerifier {
        TokenVerifier::new(
            "https://cognito-idp.eu-central-1.amazonaws.com/pool",
            "client",
            "http://127.0.0.1:1/jwks",
        )
        .expect("verifier")
    }

    fn claims(json: serde_json::Value) -> Claims {
        serde_json::from_value(json).expect("claims")
    }

    fn base() -> serde_json::Value {
        serde_json::json!({"iss": "https://cognito-idp.eu-central-1.amazonaws.com/pool", "aud": "client",
                           "token_use": "id", "exp": 2_000, "iat": 1_000, "sub": "s",
                           "email": "anna@salon.example", "custom:company_id": "demo"})
    }

    #[test]
    fn claims_decide_who_sees_what() {
        let v = verifier();
        let staff = v.check(claims(base()), 1_500).expect("staff");
        assert_eq!(
            staff,
            Viewer::Staff {
                user: "anna@salon.example".into(),
                company_id: "demo".into()
            }
        );
        let mut admin = base();
        admin["cognito:groups"] = serde_json::json!(["admins"]);
        assert!(v.check(claims(admin), 1_500).expect("admin").is_admin());
        let refused = |patch: serde_json::Value, now: i64| {
            let mut c = base();
            for (k, val) in patch.as_object().expect("object") {
                c[k] = val.clone();
            }
            v.check(claims(c), now).expect_err("refused")
        };
        assert_eq!(refused(serde_json::json!({}), 2_030), AuthError::Expired);
        assert_eq!(
            refused(serde_json::json!({"iat": 9_000}), 1_500),
            AuthError::NotYetValid
        );
        assert_eq!(
            refused(serde_json::json!({"iss": "https://evil"}), 1_500),
            AuthError::Issuer
        );
        assert_eq!(
            refused(serde_json::json!({"aud": "other"}), 1_500),
            AuthError::Audience
        );
        assert_eq!(
            refused(serde_json::json!({"token_use": "access"}), 1_500),
            AuthError::TokenUse
        );
        assert_eq!(
            refused(serde_json::json!({"custom:company_id": " "}), 1_500),
            AuthError::NoCompany
        );
    }

    #[test]
    fn staff_cannot_choose_another_company() {
        let staff = Viewer::Staff {
            user: "u".into(),
            company_id: "demo".into(),
        };
        assert_eq!(staff.company(None, "default"), Some("demo"));
        assert_eq!(staff.company(Some("demo"), "default"), Some("demo"));
        assert_eq!(staff.company(Some("other"), "default"), None);
        assert!(!staff.may_see("other"));
        let admin = Viewer::Admin { user: "a".into() };
        assert_eq!(admin.company(Some("other"), "default"), Some("other"));
        assert_eq!(admin.company(None, "default"), Some("default"));
    }

    #[tokio::test]
    async fn malformed_tokens_are_refused_before_any_key_is_fetched() {
        let v = verifier();
        let enc = |s: &str| URL_SAFE_NO_PAD.encode(s);
        for (token, expected) in [
            (String::new(), AuthError::Missing),
            ("a.b".to_owned(), AuthError::Malformed("not three parts")),
            (
                "a.b.c.d".to_owned(),
                AuthError::Malformed("not three parts"),
            ),
            ("!!.b.c".to_owned(), AuthError::Malformed("base64")),
            (
                format!("{}.e30.c", enc(r#"{"alg":"none","kid":"k"}"#)),
                AuthError::Algorithm,
            ),
            (
                format!("{}.e30.c", enc(r#"{"alg":"HS256","kid":"k"}"#)),
                AuthError::Algorithm,
            ),
            (
                format!("{}.e30.c", enc(r#"{"alg":"RS256"}"#)),
                AuthError::Malformed("no kid"),
            ),
            ("x".repeat(9_000), AuthError::Malformed("too long")),
        ] {
            assert_eq!(
                v.verify(&token, 0).await.expect_err("refused"),
                expected,
                "{token:.40}"
            );
        }
    }
}
