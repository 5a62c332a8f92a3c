//! OAuth with Instagram Login (primary) and Facebook Login for Business.
//!
//! The dialog URLs are pure; the exchanges call Meta. Meta requires the app secret and
//! tokens in the query or form of these endpoints, so their URLs never appear in logs or
//! errors (see the transport). Authorization codes are single-use, so code exchanges are
//! sent once; token-for-token exchanges and refreshes are reads and may be retried.

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;
use serde_json::Value;

use super::transport::{Auth, Call, Retry, join, with_query};
use super::{GraphClient, GraphError, Response, id_text};
use crate::secret::{AccessToken, Secret};

/// Every permission Relay needs from an Instagram Login account. The older `business_*`
/// names stopped working on 2025-01-27.
pub const INSTAGRAM_LOGIN_SCOPES: [&str; 5] = [
    "instagram_business_basic",
    "instagram_business_manage_messages",
    "instagram_business_manage_comments",
    "instagram_business_content_publish",
    "instagram_business_manage_insights",
];

/// Permissions for Pages and their linked Instagram accounts through Facebook Login.
pub const FACEBOOK_LOGIN_SCOPES: [&str; 11] = [
    "pages_show_list",
    "pages_manage_metadata",
    "pages_messaging",
    "pages_read_engagement",
    "pages_manage_posts",
    "business_management",
    "instagram_basic",
    "instagram_manage_messages",
    "instagram_manage_comments",
    "instagram_content_publish",
    "instagram_manage_insights",
];

/// What the Facebook Login dialog asks for: a scope list, or a Login for Business
/// configuration id that defines the permissions on Meta's side.
#[derive(Debug, Clone, Copy)]
pub enum FacebookLoginScope<'a> {
    Scopes(&'a [&'a str]),
    ConfigId(&'a str),
}

/// The `code` from an OAuth redirect: single use, valid one hour, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationCode(Secret);

impl AuthorizationCode {
    /// Takes the `code` query value of the redirect. Instagram appends `#_` to it, which
    /// is not part of the code and makes the exchange fail, so it is stripped.
    pub fn from_redirect(raw: &str) -> Result<Self, GraphError> {
        let trimmed = raw.trim();
        let code = trimmed.strip_suffix("#_").unwrap_or(trimmed);
        if code.is_empty() {
            return Err(GraphError::InvalidInput {
                reason: "the authorization code is empty".into(),
            });
        }
        Ok(Self(Secret::new(code)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthorizationCode([redacted])")
    }
}

/// The short-lived (one hour) token from the Instagram Login code exchange.
#[derive(Debug, Clone)]
pub struct InstagramShortToken {
    pub access_token: AccessToken,
    /// Meta's app-scoped id of the Instagram user. It is not the professional account id
    /// that webhooks carry: read that with [`GraphClient::instagram_profile_for_token`].
    pub user_id: String,
    /// The permissions actually granted (the user may untick some).
    pub permissions: Vec<String>,
}

/// A token from an exchange or refresh: Instagram long-lived (60 days), Facebook user
/// tokens (short or long-lived).
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub access_token: AccessToken,
    pub token_type: Option<String>,
    /// Lifetime from now; absent for tokens that do not expire.
    pub expires_in: Option<Duration>,
}

#[derive(Deserialize)]
struct RawIssuedToken {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<Value>,
}

impl From<RawIssuedToken> for IssuedToken {
    fn from(raw: RawIssuedToken) -> Self {
        let expires_in = raw.expires_in.and_then(|v| match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
        Self {
            access_token: AccessToken::new(raw.access_token),
            token_type: raw.token_type,
            expires_in: expires_in.map(Duration::from_secs),
        }
    }
}

impl GraphClient {
    /// The Instagram Login authorization dialog URL: every scope in
    /// [`INSTAGRAM_LOGIN_SCOPES`], `state` for CSRF protection, and the exact
    /// `redirect_uri` the code exchange will repeat.
    pub fn instagram_authorize_url(
        &self,
        redirect_uri: &str,
        state: &str,
        force_reauth: bool,
    ) -> Url {
        let url = join(&self.endpoints().instagram_dialog, &["oauth", "authorize"]);
        let scope = INSTAGRAM_LOGIN_SCOPES.join(",");
        let mut pairs = vec![
            ("client_id", self.credentials().instagram_app_id.as_str()),
            ("redirect_uri", redirect_uri),
            ("response_type", "code"),
            ("scope", scope.as_str()),
            ("state", state),
        ];
        if force_reauth {
            pairs.push(("force_reauth", "true"));
        }
        with_query(url, &pairs)
    }

    /// The Facebook Login dialog URL.
    pub fn facebook_dialog_url(
        &self,
        redirect_uri: &str,
        state: &str,
        scope: FacebookLoginScope<'_>,
    ) -> Url {
        let url = join(
            &self.endpoints().facebook_dialog,
            &[self.version(), "dialog", "oauth"],
        );
        let (scope_name, scope_value) = match scope {
            FacebookLoginScope::Scopes(scopes) => ("scope", scopes.join(",")),
            FacebookLoginScope::ConfigId(id) => ("config_id", id.to_owned()),
        };
        with_query(
            url,
            &[
                ("client_id", self.credentials().facebook_app_id.as_str()),
                ("redirect_uri", redirect_uri),
                ("state", state),
                ("response_type", "code"),
                (scope_name, scope_value.as_str()),
            ],
        )
    }

    /// Instagram Login step 3: code -> short-lived token. Sent once (codes are single-use).
    pub async fn exchange_instagram_code(
        &self,
        code: &AuthorizationCode,
        redirect_uri: &str,
    ) -> Result<Response<InstagramShortToken>, GraphError> {
        let credentials = self.credentials();
        let url = join(&self.endpoints().instagram_api, &["oauth", "access_token"]);
        let call =
            Call::post("exchange_instagram_code", url, Auth::InRequest, Retry::Once).form(vec![
                ("client_id", credentials.instagram_app_id.clone()),
                (
                    "client_secret",
                    credentials.instagram_app_secret.expose().to_owned(),
                ),
                ("grant_type", "authorization_code".into()),
                ("redirect_uri", redirect_uri.to_owned()),
                ("code", code.expose().to_owned()),
            ]);
        let response = self.execute::<Value>(&call).await?;
        let usage = response.usage;
        let token = parse_short_token(response.value)?;
        Ok(Response {
            value: token,
            usage,
        })
    }

    /// Instagram Login step 4: short-lived -> long-lived (60 days). Server side only.
    pub async fn exchange_instagram_long_lived(
        &self,
        short_lived: &AccessToken,
    ) -> Result<Response<IssuedToken>, GraphError> {
        let url = join(&self.endpoints().instagram_graph, &["access_token"]);
        let url = with_query(
            url,
            &[
                ("grant_type", "ig_exchange_token"),
                (
                    "client_secret",
                    self.credentials().instagram_app_secret.expose(),
                ),
                ("access_token", short_lived.expose()),
            ],
        );
        self.issued_token(Call::get(
            "exchange_instagram_long_lived",
            url,
            Auth::InRequest,
        ))
        .await
    }

    /// Refreshes a long-lived Instagram token for another 60 days. Meta refuses tokens
    /// younger than 24 hours ([`GraphError::RefreshTooEarly`]) and expired ones
    /// ([`GraphError::TokenInvalid`]: the user must reconnect).
    pub async fn refresh_instagram_token(
        &self,
        long_lived: &AccessToken,
    ) -> Result<Response<IssuedToken>, GraphError> {
        let url = join(&self.endpoints().instagram_graph, &["refresh_access_token"]);
        let url = with_query(
            url,
            &[
                ("grant_type", "ig_refresh_token"),
                ("access_token", long_lived.expose()),
            ],
        );
        self.issued_token(Call::get("refresh_instagram_token", url, Auth::InRequest))
            .await
    }

    /// Facebook Login: code -> user token. Sent once (codes are single-use).
    pub async fn exchange_facebook_code(
        &self,
        code: &AuthorizationCode,
        redirect_uri: &str,
    ) -> Result<Response<IssuedToken>, GraphError> {
        let credentials = self.credentials();
        let url = with_query(
            self.facebook_url(&["oauth", "access_token"]),
            &[
                ("client_id", credentials.facebook_app_id.as_str()),
                ("redirect_uri", redirect_uri),
                ("client_secret", credentials.facebook_app_secret.expose()),
                ("code", code.expose()),
            ],
        );
        let mut call = Call::get("exchange_facebook_code", url, Auth::InRequest);
        call.retry = Retry::Once;
        self.issued_token(call).await
    }

    /// Facebook Login: short-lived user token -> long-lived (60 days). Page tokens read
    /// with a long-lived user token do not expire.
    pub async fn exchange_facebook_long_lived(
        &self,
        short_lived: &AccessToken,
    ) -> Result<Response<IssuedToken>, GraphError> {
        let credentials = self.credentials();
        let url = with_query(
            self.facebook_url(&["oauth", "access_token"]),
            &[
                ("grant_type", "fb_exchange_token"),
                ("client_id", credentials.facebook_app_id.as_str()),
                ("client_secret", credentials.facebook_app_secret.expose()),
                ("fb_exchange_token", short_lived.expose()),
            ],
        );
        self.issued_token(Call::get(
            "exchange_facebook_long_lived",
            url,
            Auth::InRequest,
        ))
        .await
    }

    async fn issued_token(&self, call: Call<'_>) -> Result<Response<IssuedToken>, GraphError> {
        Ok(self
            .execute::<RawIssuedToken>(&call)
            .await?
            .map(IssuedToken::from))
    }

    fn credentials(&self) -> &super::AppCredentials {
        &self.inner.config.credentials
    }
}

/// Meta documents `{"data":[{"access_token","user_id","permissions"}]}`; the endpoint has
/// also been seen answering the flat object. `user_id` is a JSON number there, and
/// `permissions` a list or a comma-separated string.
fn parse_short_token(body: Value) -> Result<InstagramShortToken, GraphError> {
    let decode = |detail: &str| GraphError::Decode {
        context: "exchange_instagram_code",
        detail: detail.to_owned(),
    };
    let entry = match body.get("data") {
        Some(Value::Array(items)) => items
            .first()
            .cloned()
            .ok_or_else(|| decode("`data` is empty"))?,
        _ => body,
    };
    let access_token = entry
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| decode("missing `access_token`"))?;
    let user_id = entry
        .get("user_id")
        .and_then(id_text)
        .ok_or_else(|| decode("missing `user_id`"))?;
    if !user_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(decode("`user_id` is not numeric"));
    }
    let permissions = match entry.get("permissions") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(list)) => list
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    Ok(InstagramShortToken {
        access_token: AccessToken::new(access_token),
        user_id,
        permissions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::{AppCredentials, MetaConfig, MetaEndpoints};
    use std::collections::HashMap;

    fn client() -> GraphClient {
        GraphClient::new(MetaConfig::new(
            MetaEndpoints::production(),
            AppCredentials {
                instagram_app_id: "990011".into(),
                instagram_app_secret: Secret::new("ig-secret"),
                facebook_app_id: "770022".into(),
                facebook_app_secret: Secret::new("fb-secret"),
            },
        ))
        .expect("client builds")
    }

    fn query(url: &Url) -> HashMap<String, String> {
        url.query_pairs().into_owned().collect()
    }

    #[test]
    fn instagram_authorize_url_asks_for_every_scope() {
        let url = client().instagram_authorize_url(
            "https://relay.example/oauth/instagram/callback",
            "nonce-123",
            false,
        );
        assert_eq!(
            url.as_str().split('?').next(),
            Some("https://www.instagram.com/oauth/authorize")
        );
        let q = query(&url);
        assert_eq!(q["client_id"], "990011");
        assert_eq!(
            q["redirect_uri"],
            "https://relay.example/oauth/instagram/callback"
        );
        assert_eq!(q["response_type"], "code");
        assert_eq!(
            q["scope"],
            "instagram_business_basic,instagram_business_manage_messages,instagram_business_manage_comments,instagram_business_content_publish,instagram_business_manage_insights"
        );
        assert_eq!(q["state"], "nonce-123");
        assert!(!q.contains_key("force_reauth"));
        assert!(!url.as_str().contains("ig-secret"));

        let forced = client().instagram_authorize_url("https://r.example/cb", "s", true);
        assert_eq!(query(&forced)["force_reauth"], "true");
    }

    #[test]
    fn state_and_redirect_are_encoded_not_injected() {
        let url =
            client().instagram_authorize_url("https://r.example/cb?x=1&y=2", "a&scope=evil", false);
        let q = query(&url);
        assert_eq!(q["state"], "a&scope=evil");
        assert_eq!(q["redirect_uri"], "https://r.example/cb?x=1&y=2");
        assert!(q["scope"].starts_with("instagram_business_basic"));
    }

    #[test]
    fn facebook_dialog_url_uses_the_version_and_scopes() {
        let c = client();
        let url = c.facebook_dialog_url(
            "https://relay.example/oauth/facebook/callback",
            "st",
            FacebookLoginScope::Scopes(&FACEBOOK_LOGIN_SCOPES),
        );
        assert_eq!(
            url.as_str().split('?').next(),
            Some("https://www.facebook.com/v26.0/dialog/oauth")
        );
        let q = query(&url);
        assert_eq!(q["client_id"], "770022");
        assert_eq!(q["state"], "st");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["scope"], FACEBOOK_LOGIN_SCOPES.join(","));

        let url = c.facebook_dialog_url(
            "https://r.example/cb",
            "st",
            FacebookLoginScope::ConfigId("123"),
        );
        let q = query(&url);
        assert_eq!(q["config_id"], "123");
        assert!(!q.contains_key("scope"));
    }

    #[test]
    fn authorization_code_strips_the_fragment_marker() {
        let code = AuthorizationCode::from_redirect("AQBx9kd83#_").expect("valid code");
        assert_eq!(code.expose(), "AQBx9kd83");
        let code = AuthorizationCode::from_redirect("AQBx9kd83").expect("valid code");
        assert_eq!(code.expose(), "AQBx9kd83");
        // Only a trailing marker is Instagram's; anything else belongs to the code.
        let code = AuthorizationCode::from_redirect("AQ#_B").expect("valid code");
        assert_eq!(code.expose(), "AQ#_B");
        assert!(AuthorizationCode::from_redirect("#_").is_err());
        assert!(AuthorizationCode::from_redirect("  ").is_err());
        assert!(!format!("{code:?}").contains("AQ"));
    }

    #[test]
    fn short_token_in_both_shapes() {
        let documented: Value = serde_json::json!({"data": [{
            "access_token": "IGAAshort", "user_id": 17841400000000001u64,
            "permissions": ["instagram_business_basic", "instagram_business_manage_messages"]
        }]});
        let token = parse_short_token(documented).expect("documented shape");
        assert_eq!(token.access_token.expose(), "IGAAshort");
        assert_eq!(token.user_id, "17841400000000001");
        assert_eq!(token.permissions.len(), 2);

        let flat: Value = serde_json::json!({
            "access_token": "IGAAshort", "user_id": "17841400000000002",
            "permissions": "instagram_business_basic,instagram_business_content_publish"
        });
        let token = parse_short_token(flat).expect("flat shape");
        assert_eq!(token.user_id, "17841400000000002");
        assert_eq!(
            token.permissions,
            [
                "instagram_business_basic",
                "instagram_business_content_publish"
            ]
        );

        let err = parse_short_token(serde_json::json!({"data": []})).expect_err("empty data");
        assert!(matches!(err, GraphError::Decode { .. }));
        let err =
            parse_short_token(serde_json::json!({"access_token": "IGAAx", "user_id": "12/3"}))
                .expect_err("bad id");
        assert!(!err.to_string().contains("IGAAx"));
    }

    #[test]
    fn issued_token_reads_lifetime() {
        let raw: RawIssuedToken = serde_json::from_str(
            r#"{"access_token":"IGAAlong","token_type":"bearer","expires_in":5183944}"#,
        )
        .expect("documented shape");
        let token = IssuedToken::from(raw);
        assert_eq!(token.expires_in, Some(Duration::from_secs(5_183_944)));
        assert_eq!(token.token_type.as_deref(), Some("bearer"));
        assert!(!format!("{token:?}").contains("IGAAlong"));
    }
}
