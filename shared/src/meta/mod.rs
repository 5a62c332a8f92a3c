//! Typed client for Meta's Graph API: Instagram Login and Facebook Login OAuth, the Send
//! API, content publishing, comment moderation, insights, webhook subscriptions and Page
//! posts.
//!
//! Guarantees:
//! - Every failure is a [`GraphError`] that says what to do (reconnect, wait, retry, fix
//!   the input); nothing else escapes.
//! - Tokens travel in the `Authorization: Bearer` header wherever Meta accepts it. The
//!   OAuth exchanges need them in the query or form; no URL, token, app secret or message
//!   text ever reaches a log line or an error's `Display`/`Debug`.
//! - Meta's usage headers are read on every response: each call returns a
//!   [`Response`] with its [`Usage`], and [`GraphClient::last_usage`] keeps the latest per
//!   account, so callers can back off before Meta throttles.
//! - Only idempotent calls (reads, status polls, hide/unhide, subscribe) are retried, on
//!   transient failures, a bounded number of times with jittered backoff. Sends, replies,
//!   container creation and publishing are sent once; repeating them is possible only
//!   through an explicit reconciliation ([`GraphClient::with_reconciliation`],
//!   [`PublishRetry::ReconcileWithStatus`]), which first proves the call did not already
//!   take effect.
//! - Redirects are not followed: a Graph call that redirects is an error, so a bearer
//!   token is never replayed to another host.

mod comments;
mod config;
mod error;
mod insights;
mod messaging;
mod oauth;
mod pages;
mod profile;
mod publishing;
mod subscriptions;
mod transport;
mod usage;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use reqwest::Url;

pub use comments::{Comment, CommentAuthor};
pub use config::{
    AppCredentials, DEFAULT_GRAPH_VERSION, GraphVersion, MetaConfig, MetaEndpoints, RetryPolicy,
    base_url,
};
pub use error::{GraphError, TokenInvalidReason, TransientCause, media_message};
pub use insights::{
    AccountMetric, Insight, InsightPoint, InsightsRange, MediaMetric, MediaSummary, refused_metric,
};
pub use messaging::{
    AttachmentKind, HumanAgent, MAX_TEXT_BYTES, MessageBody, MessagingType, SentMessage,
};
pub use oauth::{
    AuthorizationCode, FACEBOOK_LOGIN_SCOPES, FacebookLoginScope, INSTAGRAM_LOGIN_SCOPES,
    InstagramShortToken, IssuedToken,
};
pub use pages::{FacebookPageAccount, PagePost, PagePostRef};
pub use profile::{InstagramProfile, PageProfile};
pub use publishing::{
    CarouselItem, ContainerSpec, ContainerState, ContainerStatus, MAX_CAROUSEL_CHILDREN,
    PublishOutcome, PublishRetry, PublishingLimit, StoryMedia,
};
pub use subscriptions::{
    AppSubscription, DEFAULT_INSTAGRAM_WEBHOOK_FIELDS, DEFAULT_PAGE_WEBHOOK_FIELDS,
};
pub use transport::{PageLimits, Paged, Reconciled};
pub use usage::{AppUsage, BusinessUseCaseUsage, DEFAULT_BACK_OFF_THRESHOLD, Usage};

use crate::ids::AccountId;
use crate::secret::AccessToken;

/// A decoded answer plus what Meta's usage headers said on that response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response<T> {
    pub value: T,
    pub usage: Usage,
}

impl<T> Response<T> {
    pub fn into_value(self) -> T {
        self.value
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Response<U> {
        Response {
            value: f(self.value),
            usage: self.usage,
        }
    }
}

/// Which login connected an Instagram account, and so which Graph host serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginKind {
    /// Instagram API with Instagram Login: graph.instagram.com, `IGAA` tokens.
    Instagram,
    /// Instagram account linked to a Facebook Page, Facebook Login: graph.facebook.com,
    /// `EAA` tokens (the Page token for messaging).
    Facebook,
}

/// A connected Instagram professional account and the token to act as it.
#[derive(Debug, Clone)]
pub struct InstagramAccount {
    pub id: AccountId,
    pub token: AccessToken,
    pub login: LoginKind,
}

impl InstagramAccount {
    /// An account connected through Instagram Login.
    pub fn instagram_login(id: AccountId, token: AccessToken) -> Self {
        Self {
            id,
            token,
            login: LoginKind::Instagram,
        }
    }

    /// An account linked to a Page, connected through Facebook Login.
    pub fn facebook_login(id: AccountId, token: AccessToken) -> Self {
        Self {
            id,
            token,
            login: LoginKind::Facebook,
        }
    }
}

/// A connected Facebook Page and its Page access token.
#[derive(Debug, Clone)]
pub struct FacebookPage {
    pub id: AccountId,
    pub token: AccessToken,
}

#[derive(Default)]
struct UsageState {
    app: Option<AppUsage>,
    accounts: HashMap<AccountId, Usage>,
}

struct Inner {
    http: reqwest::Client,
    config: MetaConfig,
    usage: Mutex<UsageState>,
}

/// The Graph API client. Cheap to clone: clones share one connection pool and one usage
/// record. Build it once per process (Lambda cold start) and pass it to handlers.
#[derive(Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("graph_version", &self.inner.config.endpoints.graph_version)
            .finish_non_exhaustive()
    }
}

impl GraphClient {
    pub fn new(config: MetaConfig) -> Result<Self, GraphError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // A redirected Graph call would replay the bearer token to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("relay/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| GraphError::InvalidInput {
                reason: "the HTTP client could not be built".into(),
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                config,
                usage: Mutex::new(UsageState::default()),
            }),
        })
    }

    pub fn config(&self) -> &MetaConfig {
        &self.inner.config
    }

    /// The usage Meta reported on the latest response of a call made for this account
    /// (errors included), so a worker can back off before its next call.
    pub fn last_usage(&self, account: &AccountId) -> Option<Usage> {
        self.usage_state().accounts.get(account).cloned()
    }

    /// The latest app-wide usage (`X-App-Usage`) seen on any response.
    pub fn last_app_usage(&self) -> Option<AppUsage> {
        self.usage_state().app
    }

    fn usage_state(&self) -> std::sync::MutexGuard<'_, UsageState> {
        // The map holds plain values; a panic elsewhere cannot leave it half-written.
        self.inner
            .usage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn endpoints(&self) -> &MetaEndpoints {
        &self.inner.config.endpoints
    }

    fn version(&self) -> &str {
        self.inner.config.endpoints.graph_version.as_str()
    }

    /// `{host}/{version}/{segments...}` on the host serving this Instagram account.
    fn instagram_url(&self, login: LoginKind, segments: &[&str]) -> Url {
        let base = self.instagram_base(login);
        let mut all = Vec::with_capacity(segments.len() + 1);
        all.push(self.version());
        all.extend_from_slice(segments);
        transport::join(base, &all)
    }

    fn instagram_base(&self, login: LoginKind) -> &Url {
        match login {
            LoginKind::Instagram => &self.endpoints().instagram_graph,
            LoginKind::Facebook => &self.endpoints().facebook_graph,
        }
    }

    /// `https://graph.facebook.com/{version}/{segments...}`.
    fn facebook_url(&self, segments: &[&str]) -> Url {
        let mut all = Vec::with_capacity(segments.len() + 1);
        all.push(self.version());
        all.extend_from_slice(segments);
        transport::join(&self.endpoints().facebook_graph, &all)
    }
}

/// Meta returns ids as strings, but some endpoints (the Instagram code exchange) return
/// numbers; accept both.
pub(crate) fn id_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) if n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}
