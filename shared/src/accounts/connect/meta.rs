//! What connecting asks of Meta ([`MetaLogin`]), and its implementation over the Graph
//! client ([`GraphLogin`]).

use std::future::Future;
use std::time::Duration;

use super::ConnectError;
use crate::accounts::record::{Channel, LoginKind, NewAccount};
use crate::accounts::refresh::LONG_LIVED_TOKEN_SECONDS;
use crate::ids::AccountId;
use crate::meta::{
    AuthorizationCode, DEFAULT_INSTAGRAM_WEBHOOK_FIELDS, DEFAULT_PAGE_WEBHOOK_FIELDS,
    FACEBOOK_LOGIN_SCOPES, FacebookLoginScope, FacebookPage, FacebookPageAccount, GraphClient,
    GraphError, InstagramAccount, InstagramProfile, PageLimits,
};
use crate::onboarding::Provider;
use crate::secret::AccessToken;

/// What Instagram Login granted: one professional account and its long-lived token.
#[derive(Debug, Clone)]
pub struct InstagramGrant {
    /// The account (its username is always known here).
    pub account: NewAccount,
    pub token: AccessToken,
    /// Seconds the token lives from now.
    pub lifetime: i64,
    /// What the person allowed; empty when Meta did not say.
    pub permissions: Vec<String>,
}

/// What Facebook Login for Business granted: the user, and every Page they shared (each
/// with its Page token, which does not expire when read with a long-lived user token).
#[derive(Debug, Clone)]
pub struct FacebookGrant {
    /// The app-scoped id of the Facebook user.
    pub user_id: String,
    pub pages: Vec<FacebookPageAccount>,
}

/// The Meta side of a login.
pub trait MetaLogin: Send + Sync {
    /// Meta's dialog for `provider`, which sends the person back to `redirect_uri` with
    /// `state`, asking for exactly Relay's scopes.
    fn dialog_url(&self, provider: Provider, redirect_uri: &str, state: &str) -> String;

    /// Instagram Login: the code for a short-lived token, that for a long-lived one, and
    /// the account it is for.
    fn instagram_login(
        &self,
        code: &AuthorizationCode,
        redirect_uri: &str,
    ) -> impl Future<Output = Result<InstagramGrant, ConnectError>> + Send;

    /// Facebook Login: the code for a user token, that for a long-lived one, the user's
    /// id and the Pages shared.
    fn facebook_login(
        &self,
        code: &AuthorizationCode,
        redirect_uri: &str,
    ) -> impl Future<Output = Result<FacebookGrant, ConnectError>> + Send;

    /// The profile of an Instagram account linked to a Page, read with the Page's token.
    fn linked_instagram_profile(
        &self,
        account: &AccountId,
        page_token: &AccessToken,
    ) -> impl Future<Output = Result<InstagramProfile, GraphError>> + Send;

    /// Subscribe the app to the account's webhooks ([`DEFAULT_INSTAGRAM_WEBHOOK_FIELDS`]).
    fn subscribe_instagram(
        &self,
        account: &InstagramAccount,
    ) -> impl Future<Output = Result<(), GraphError>> + Send;

    /// Subscribe the app to the Page's webhooks ([`DEFAULT_PAGE_WEBHOOK_FIELDS`]).
    fn subscribe_page(
        &self,
        page: &FacebookPage,
    ) -> impl Future<Output = Result<(), GraphError>> + Send;
}

/// [`MetaLogin`] over the Graph client.
#[derive(Clone)]
pub struct GraphLogin {
    graph: GraphClient,
    /// A Facebook Login for Business configuration used instead of the scope list.
    facebook_config_id: Option<String>,
    /// For the one Facebook call the Graph client lacks (the user's own id).
    http: reqwest::Client,
}

impl GraphLogin {
    pub fn new(graph: GraphClient, facebook_config_id: Option<String>) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
            .expect("a plain rustls HTTP client always builds");
        Self {
            graph,
            facebook_config_id,
            http,
        }
    }

    /// The app-scoped id of the Facebook user (`GET /me?fields=id`), which Meta's
    /// deauthorize and deletion callbacks name. The Graph client has no call for it, so
    /// it is made here, the same way: bearer token, no redirects, nothing logged.
    async fn facebook_user_id(&self, token: &AccessToken) -> Result<String, ConnectError> {
        let endpoints = &self.graph.config().endpoints;
        let url = format!(
            "{}/{}/me?fields=id",
            endpoints.facebook_graph.as_str().trim_end_matches('/'),
            endpoints.graph_version
        );
        let response = self
            .http
            .get(url)
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(|_| ConnectError::UserLookup("Meta could not be reached".into()))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|_| ConnectError::UserLookup(format!("HTTP {status} without JSON")))?;
        if !status.is_success() {
            let code = body["error"]["code"].as_i64().unwrap_or_default();
            return Err(ConnectError::UserLookup(format!(
                "HTTP {status}, Meta error {code}"
            )));
        }
        body["id"]
            .as_str()
            .filter(|id| !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_owned)
            .ok_or_else(|| ConnectError::UserLookup("no numeric id in the answer".into()))
    }
}

impl MetaLogin for GraphLogin {
    fn dialog_url(&self, provider: Provider, redirect_uri: &str, state: &str) -> String {
        match provider {
            Provider::Instagram => self
                .graph
                .instagram_authorize_url(redirect_uri, state, false),
            Provider::Facebook => {
                let scope = match &self.facebook_config_id {
                    Some(id) => FacebookLoginScope::ConfigId(id),
                    None => FacebookLoginScope::Scopes(&FACEBOOK_LOGIN_SCOPES),
                };
                self.graph.facebook_dialog_url(redirect_uri, state, scope)
            }
        }
        .to_string()
    }

    async fn instagram_login(
        &self,
        code: &AuthorizationCode,
        redirect_uri: &str,
    ) -> Result<InstagramGrant, ConnectError> {
        let short = self
            .graph
            .exchange_instagram_code(code, redirect_uri)
            .await
            .map_err(ConnectError::CodeRejected)?
            .into_value();
        let long = self
            .graph
            .exchange_instagram_long_lived(&short.access_token)
            .await
            .map_err(ConnectError::Meta)?
            .into_value();
        let profile = self
            .graph
            .instagram_profile_for_token(&long.access_token)
            .await
            .map_err(ConnectError::Meta)?
            .into_value();
        Ok(InstagramGrant {
            account: NewAccount {
                account_id: profile.user_id,
                channel: Channel::Instagram,
                login: LoginKind::InstagramLogin,
                username: Some(profile.username),
                name: profile.name,
                // The deauthorize and deletion callbacks of the Instagram app name this id.
                meta_user_id: short.user_id,
                linked_instagram_id: None,
            },
            token: long.access_token,
            lifetime: long
                .expires_in
                .and_then(|d| i64::try_from(d.as_secs()).ok())
                .unwrap_or(LONG_LIVED_TOKEN_SECONDS),
            permissions: short.permissions,
        })
    }

    async fn facebook_login(
        &self,
        code: &AuthorizationCode,
        redirect_uri: &str,
    ) -> Result<FacebookGrant, ConnectError> {
        let short = self
            .graph
            .exchange_facebook_code(code, redirect_uri)
            .await
            .map_err(ConnectError::CodeRejected)?
            .into_value();
        let long = self
            .graph
            .exchange_facebook_long_lived(&short.access_token)
            .await
            .map_err(ConnectError::Meta)?
            .into_value();
        let user_id = self.facebook_user_id(&long.access_token).await?;
        let pages = self
            .graph
            .facebook_pages(&long.access_token, PageLimits::default())
            .await
            .map_err(ConnectError::Meta)?
            .into_value()
            .items;
        Ok(FacebookGrant { user_id, pages })
    }

    async fn linked_instagram_profile(
        &self,
        account: &AccountId,
        page_token: &AccessToken,
    ) -> Result<InstagramProfile, GraphError> {
        let handle = InstagramAccount::facebook_login(account.clone(), page_token.clone());
        Ok(self.graph.instagram_profile(&handle).await?.into_value())
    }

    async fn subscribe_instagram(&self, account: &InstagramAccount) -> Result<(), GraphError> {
        self.graph
            .subscribe_instagram_account(account, &DEFAULT_INSTAGRAM_WEBHOOK_FIELDS)
            .await?;
        Ok(())
    }

    async fn subscribe_page(&self, page: &FacebookPage) -> Result<(), GraphError> {
        self.graph
            .subscribe_page(page, &DEFAULT_PAGE_WEBHOOK_FIELDS)
            .await?;
        Ok(())
    }
}
