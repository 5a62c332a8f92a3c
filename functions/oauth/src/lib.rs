//! The oauth function: where a tenant's client connects an Instagram account or a
//! Facebook Page, and where Meta tells Relay that a user removed the app or wants their
//! data deleted.
//!
//! | route | what |
//! |---|---|
//! | `GET /onboard?link=` | the hosted onboarding page of the tenant the signed link names |
//! | `GET /oauth/start?link=&provider=instagram\|facebook[&mode=popup][&return_to=]` | a signed, single-use state, then a redirect to Meta's dialog with exactly Relay's scopes |
//! | `GET /oauth/callback/instagram`, `/oauth/callback/facebook` | state checked (signature, expiry, provider, single use), code exchanged, long-lived token sealed and stored with the account and its webhook route, webhooks subscribed, audited; the result page (or a message to the opener of a popup) |
//! | `POST /oauth/deauthorize/{provider}` | Meta's signed_request: the user's accounts are disconnected and their tokens destroyed |
//! | `POST /oauth/data-deletion/{provider}` | Meta's signed_request: the user's accounts, tokens, contacts, conversations, messages and comments are deleted; answers `{url, confirmation_code}` |
//! | `GET /oauth/data-deletion/status?code=` | the deletion request's status page |
//!
//! The crate only translates: axum's Router picks the route, the handlers read the
//! request, run a command of `relay::accounts` (`connect` for the flow, `erase` for
//! Meta's callbacks) and turn its outcome into a page or an answer for Meta.
//!
//! Paths are matched below the path of `RELAY_PUBLIC_BASE_URL`, so the function works
//! behind an API Gateway stage or a custom domain mapping alike. Every page is
//! `no-store` and carries a nonce-based Content-Security-Policy; no token, code, state
//! or username reaches a log line.

mod callback;
mod meta_callbacks;
mod onboard;
mod responses;
#[cfg(test)]
mod routing_tests;
mod settings;

use std::sync::Arc;

use axum::Router;
use axum::routing::{MethodRouter, get, post};
use lambda_http::http::Uri;
use lambda_http::http::uri::PathAndQuery;
use lambda_http::tower::ServiceExt;
use lambda_http::{Body, Request, Response};
use relay::accounts::connect::{CALLBACK_PATH, Connect, GraphLogin};
use relay::accounts::erase::Erasure;
use relay::accounts::{self as env};
use relay::audit::AuditTrail;
use relay::clock::{Clock, SystemClock};
use relay::config::{ConfigError, ConfigProblem};
use relay::crypto::EnvelopeCipher;
use relay::lambda::ColdStart;
use relay::meta::GraphClient;
use relay::onboarding::{DeletionCodes, OnboardingLinks, Provider, StateSigner};
use relay::secret::Secret;
use relay::store::Store;
use relay::telemetry::Metrics;

pub use settings::{Settings, parse_origin};

/// Route paths below the public base URL.
pub mod paths {
    pub const ONBOARD: &str = relay::onboarding::ONBOARDING_PATH;
    pub const START: &str = "/oauth/start";
    pub const CALLBACK: &str = relay::accounts::connect::CALLBACK_PATH;
    pub const DEAUTHORIZE: &str = "/oauth/deauthorize/";
    pub const DATA_DELETION: &str = "/oauth/data-deletion/";
    pub const DELETION_STATUS: &str = "/oauth/data-deletion/status";
}

/// A request's query pairs, as the browser sent them.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(transparent)]
struct Params(Vec<(String, String)>);

impl Params {
    /// The first value of `name`.
    fn first(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find_map(|(key, value)| (key == name).then_some(value.as_str()))
    }
}

/// What the handler is built from.
pub struct OauthDeps {
    pub store: Store,
    pub cipher: EnvelopeCipher,
    pub graph: GraphClient,
    pub audit: AuditTrail,
    /// `OAUTH_STATE_KEY`: signs links, states and deletion codes.
    pub state_key: Secret,
    /// Verifies signed_request of the Instagram app (`META_APP_SECRETS[0]`).
    pub instagram_app_secret: Secret,
    /// Verifies signed_request of the Facebook app (`META_APP_SECRETS[1]`, else `[0]`).
    pub facebook_app_secret: Secret,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
}

/// The connect commands over today's clients.
type Connector = Connect<Store, GraphLogin, AuditTrail, EnvelopeCipher>;

/// What the routes share.
struct App {
    store: Store,
    links: OnboardingLinks,
    connect: Connector,
    erasure: Erasure,
    instagram_app_secret: Secret,
    facebook_app_secret: Secret,
    clock: Arc<dyn Clock>,
    settings: Settings,
    metrics: Metrics,
}

impl App {
    fn now(&self) -> i64 {
        self.clock.now_secs()
    }
}

/// The handler and what it needs. Build once per cold start.
pub struct Oauth {
    app: Arc<App>,
    router: Router,
}

impl Oauth {
    pub fn from_cold_start(cold: &ColdStart) -> Result<Self, ConfigError> {
        let (config, vars, sdk) = (&cold.config, &cold.vars, &cold.sdk);
        for required in [env::IG_APP_ID, env::FB_APP_ID] {
            vars.required(required);
        }
        let meta = env::meta_config(config, &cold.secrets, vars)?;
        let settings = Settings::from_vars(vars)?;
        let graph = GraphClient::new(meta.clone()).map_err(|e| {
            ConfigError(vec![ConfigProblem::Invalid {
                var: env::META_BASE_URL.into(),
                reason: e.to_string(),
            }])
        })?;
        Ok(Self::new(OauthDeps {
            store: Store::new(
                aws_sdk_dynamodb::Client::new(sdk),
                config.main_table.clone(),
            ),
            cipher: EnvelopeCipher::new(aws_sdk_kms::Client::new(sdk), config.token_key_id.clone()),
            graph,
            audit: AuditTrail::new(
                aws_sdk_dynamodb::Client::new(sdk),
                config.audit_table.clone(),
            ),
            state_key: cold.secrets.oauth_state_key.clone(),
            instagram_app_secret: meta.credentials.instagram_app_secret.clone(),
            facebook_app_secret: meta.credentials.facebook_app_secret.clone(),
            clock: Arc::new(SystemClock),
            settings,
        }))
    }

    pub fn new(deps: OauthDeps) -> Self {
        let metrics = Metrics::new("oauth");
        let settings = deps.settings;
        let app = Arc::new(App {
            links: OnboardingLinks::new(&deps.state_key, settings.public_base.clone()),
            connect: Connect {
                store: deps.store.clone(),
                meta: GraphLogin::new(deps.graph, settings.facebook_config_id.clone()),
                audit: deps.audit.clone(),
                sealer: deps.cipher,
                states: StateSigner::new(&deps.state_key),
                public_base: settings.public_base.clone(),
                clock: deps.clock.clone(),
                metrics: metrics.clone(),
            },
            erasure: Erasure {
                store: deps.store.clone(),
                audit: deps.audit,
                codes: DeletionCodes::new(&deps.state_key),
                clock: deps.clock.clone(),
                metrics: metrics.clone(),
            },
            store: deps.store,
            instagram_app_secret: deps.instagram_app_secret,
            facebook_app_secret: deps.facebook_app_secret,
            clock: deps.clock,
            settings,
            metrics,
        });
        Self {
            router: router(app.clone()),
            app,
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.app.metrics
    }

    /// Issues onboarding links (the operator command and tests use it).
    pub fn links(&self) -> &OnboardingLinks {
        &self.app.links
    }

    pub fn settings(&self) -> &Settings {
        &self.app.settings
    }

    /// The redirect_uri registered with Meta for `provider`.
    pub fn redirect_uri(&self, provider: Provider) -> String {
        self.app.connect.redirect_uri(provider)
    }

    /// Handle one HTTP request (API Gateway HTTP API v2 or a function URL). Paths are
    /// matched below the path of the public base URL (an API Gateway stage, a custom
    /// domain's mapping), without trailing slashes.
    pub async fn handle(&self, mut request: Request) -> Response<Body> {
        let uri = request.uri();
        let path = uri.path();
        let path = path
            .strip_prefix(self.app.settings.public_base.path_prefix())
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(path)
            .trim_end_matches('/');
        let path_and_query = match uri.query() {
            Some(query) => format!("{path}?{query}"),
            None if path.is_empty() => "/".to_owned(),
            None => path.to_owned(),
        };
        let mut parts = uri.clone().into_parts();
        parts.path_and_query = PathAndQuery::try_from(path_and_query).ok();
        match Uri::from_parts(parts) {
            Ok(routed) => *request.uri_mut() = routed,
            // Built from the parts of a valid URI; this cannot happen.
            Err(_) => return responses::not_found(),
        }
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let body = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) if bytes.is_empty() => Body::Empty,
            Ok(bytes) => match String::from_utf8(bytes.to_vec()) {
                Ok(text) => Body::Text(text),
                Err(binary) => Body::Binary(binary.into_bytes()),
            },
            Err(_) => return responses::try_again(),
        };
        Response::from_parts(parts, body)
    }
}

/// GET only: a HEAD from a link checker must not start a flow or use up a state.
fn get_only<H, T>(handler: H) -> MethodRouter<Arc<App>>
where
    H: axum::handler::Handler<T, Arc<App>>,
    T: 'static,
{
    get(handler).head(|| async { responses::method_not_allowed() })
}

/// Routes named by provider: an unknown provider is an unknown page, whatever the method.
async fn provider_or_not_found(
    axum::extract::Path(provider): axum::extract::Path<String>,
) -> Response<Body> {
    match Provider::parse(&provider) {
        Some(_) => responses::method_not_allowed(),
        None => responses::not_found(),
    }
}

fn router(app: Arc<App>) -> Router {
    let by_provider = |path: &str| format!("{path}{{provider}}");
    Router::new()
        .route(paths::ONBOARD, get_only(onboard::onboarding_page))
        .route(paths::START, get_only(onboard::start))
        .route(
            paths::DELETION_STATUS,
            get_only(meta_callbacks::deletion_status),
        )
        .route(
            &by_provider(CALLBACK_PATH),
            get(callback::callback)
                .head(provider_or_not_found)
                .fallback(provider_or_not_found),
        )
        .route(
            &by_provider(paths::DEAUTHORIZE),
            post(meta_callbacks::deauthorize).fallback(provider_or_not_found),
        )
        .route(
            &by_provider(paths::DATA_DELETION),
            post(meta_callbacks::data_deletion).fallback(provider_or_not_found),
        )
        .fallback(|| async { responses::not_found() })
        .method_not_allowed_fallback(|| async { responses::method_not_allowed() })
        .with_state(app)
}
