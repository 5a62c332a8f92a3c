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
//! Paths are matched below the path of `RELAY_PUBLIC_BASE_URL`, so the function works
//! behind an API Gateway stage or a custom domain mapping alike. Every page is
//! `no-store` and carries a nonce-based Content-Security-Policy; no token, code, state
//! or username reaches a log line.

mod flow;
mod meta_callbacks;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, Response};
use rand::RngCore;
use relay::accounts as env;
use relay::audit::AuditTrail;
use relay::clock::{Clock, SystemClock};
use relay::config::{Config, ConfigError, ConfigProblem, Secrets, Vars};
use relay::crypto::EnvelopeCipher;
use relay::meta::GraphClient;
use relay::onboarding::html::{self, content_security_policy};
use relay::onboarding::{DeletionCodes, OnboardingLinks, Provider, PublicBaseUrl, StateSigner};
use relay::secret::Secret;
use relay::store::Store;
use relay::telemetry::Metrics;

pub use meta_callbacks::DeletionRecord;

/// Route paths below the public base URL.
pub mod paths {
    pub const ONBOARD: &str = relay::onboarding::ONBOARDING_PATH;
    pub const START: &str = "/oauth/start";
    pub const CALLBACK: &str = "/oauth/callback/";
    pub const DEAUTHORIZE: &str = "/oauth/deauthorize/";
    pub const DATA_DELETION: &str = "/oauth/data-deletion/";
    pub const DELETION_STATUS: &str = "/oauth/data-deletion/status";
}

/// The function's own settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `RELAY_PUBLIC_BASE_URL`: where this function is reachable; links and redirect
    /// URIs (which must be registered with both Meta apps) are built from it.
    pub public_base: PublicBaseUrl,
    /// `RELAY_ALLOWED_ORIGIN`: the tenant app's origin. Popup results are posted only to
    /// it, and `return_to` links must point at it. Unset: popups and return links are
    /// refused.
    pub allowed_origin: Option<String>,
    /// `RELAY_FB_LOGIN_CONFIG_ID`: a Facebook Login for Business configuration to use
    /// instead of the scope list.
    pub facebook_config_id: Option<String>,
    /// `RELAY_ONBOARDING_LINK_DAYS` (default 7): validity of links the operator command
    /// issues.
    pub link_days: u32,
}

impl Settings {
    pub const ALLOWED_ORIGIN: &'static str = "RELAY_ALLOWED_ORIGIN";
    pub const FB_CONFIG_ID: &'static str = "RELAY_FB_LOGIN_CONFIG_ID";
    pub const LINK_DAYS: &'static str = "RELAY_ONBOARDING_LINK_DAYS";

    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let public_base = env::public_base_url(vars);
        if public_base.is_none() && vars.optional(env::PUBLIC_BASE_URL).is_none() {
            vars.required(env::PUBLIC_BASE_URL);
        }
        let allowed_origin = vars.optional(Self::ALLOWED_ORIGIN).and_then(|raw| {
            let origin = parse_origin(&raw);
            if origin.is_none() {
                vars.invalid(
                    Self::ALLOWED_ORIGIN,
                    "expected an origin like https://app.example.com (scheme, host, optional port; no path)",
                );
            }
            origin
        });
        let facebook_config_id = vars.optional(Self::FB_CONFIG_ID);
        if facebook_config_id
            .as_deref()
            .is_some_and(|id| !id.bytes().all(|b| b.is_ascii_digit()))
        {
            vars.invalid(Self::FB_CONFIG_ID, "expected the numeric configuration id");
        }
        let link_days: u32 = vars.parsed(Self::LINK_DAYS, 7);
        if link_days == 0 || link_days > 30 {
            vars.invalid(Self::LINK_DAYS, "must be 1 to 30 days");
        }
        vars.finish()?;
        Ok(Self {
            public_base: public_base.expect("a missing or invalid base URL was reported above"),
            allowed_origin,
            facebook_config_id,
            link_days,
        })
    }
}

/// An origin exactly as browsers serialise it, or None.
pub fn parse_origin(raw: &str) -> Option<String> {
    let url = reqwest::Url::parse(raw.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    (origin == raw.trim().trim_end_matches('/')).then_some(origin)
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

/// The handler and what it needs. Build once per cold start.
pub struct Oauth {
    store: Store,
    cipher: EnvelopeCipher,
    graph: GraphClient,
    audit: AuditTrail,
    links: OnboardingLinks,
    states: StateSigner,
    deletion_codes: DeletionCodes,
    instagram_app_secret: Secret,
    facebook_app_secret: Secret,
    /// For the one Facebook call the Graph client lacks (the user's own id).
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    settings: Settings,
    metrics: Metrics,
}

impl Oauth {
    pub fn from_config(
        config: &Config,
        secrets: &Secrets,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, ConfigError> {
        let vars = Vars::from_process();
        for required in [env::IG_APP_ID, env::FB_APP_ID] {
            vars.required(required);
        }
        let meta = env::meta_config(config, secrets, &vars)?;
        let settings = Settings::from_vars(&vars)?;
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
            state_key: secrets.oauth_state_key.clone(),
            instagram_app_secret: meta.credentials.instagram_app_secret.clone(),
            facebook_app_secret: meta.credentials.facebook_app_secret.clone(),
            clock: Arc::new(SystemClock),
            settings,
        }))
    }

    pub fn new(deps: OauthDeps) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
            .expect("a plain rustls HTTP client always builds");
        Self {
            links: OnboardingLinks::new(&deps.state_key, deps.settings.public_base.clone()),
            states: StateSigner::new(&deps.state_key),
            deletion_codes: DeletionCodes::new(&deps.state_key),
            store: deps.store,
            cipher: deps.cipher,
            graph: deps.graph,
            audit: deps.audit,
            instagram_app_secret: deps.instagram_app_secret,
            facebook_app_secret: deps.facebook_app_secret,
            http,
            clock: deps.clock,
            settings: deps.settings,
            metrics: Metrics::new("oauth"),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Issues onboarding links (the operator command and tests use it).
    pub fn links(&self) -> &OnboardingLinks {
        &self.links
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The redirect_uri registered with Meta for `provider`.
    pub fn redirect_uri(&self, provider: Provider) -> String {
        self.settings
            .public_base
            .join(&format!("{}{}", paths::CALLBACK, provider.as_str()))
    }

    /// Handle one HTTP request (API Gateway HTTP API v2 or a function URL).
    pub async fn handle(&self, request: Request) -> Response<Body> {
        let path = request.uri().path().to_owned();
        let prefix = self.settings.public_base.path_prefix();
        let path = path
            .strip_prefix(prefix)
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(&path)
            .trim_end_matches('/')
            .to_owned();
        let method = request.method().clone();
        // GET only: a HEAD from a link checker must not start a flow or use up a state.
        let is_get = method == Method::GET;
        let is_post = method == Method::POST;
        match path.as_str() {
            paths::ONBOARD if is_get => self.onboarding_page(&request).await,
            paths::START if is_get => self.start(&request).await,
            paths::DELETION_STATUS if is_get => self.deletion_status(&request).await,
            p => {
                let under = |prefix: &str| p.strip_prefix(prefix).and_then(Provider::parse);
                match (
                    under(paths::CALLBACK),
                    under(paths::DEAUTHORIZE),
                    under(paths::DATA_DELETION),
                ) {
                    (Some(provider), _, _) if is_get => self.callback(&request, provider).await,
                    (_, Some(provider), _) if is_post => self.deauthorize(&request, provider).await,
                    (_, _, Some(provider)) if is_post => {
                        self.data_deletion(&request, provider).await
                    }
                    (None, None, None)
                        if !matches!(p, paths::ONBOARD | paths::START | paths::DELETION_STATUS) =>
                    {
                        page(StatusCode::NOT_FOUND, html::not_found_page)
                    }
                    _ => plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
                }
            }
        }
    }
}

/// A fresh nonce for one page's Content-Security-Policy.
fn csp_nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn secure_headers(
    builder: lambda_http::http::response::Builder,
) -> lambda_http::http::response::Builder {
    builder
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
}

/// An HTML page rendered with a fresh CSP nonce.
pub(crate) fn page(status: StatusCode, render: impl FnOnce(&str) -> String) -> Response<Body> {
    let nonce = csp_nonce();
    let body = render(&nonce);
    secure_headers(Response::builder().status(status))
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(
            header::CONTENT_SECURITY_POLICY,
            content_security_policy(&nonce),
        )
        .header(header::X_FRAME_OPTIONS, "DENY")
        .body(Body::Text(body))
        .expect("static headers are valid")
}

pub(crate) fn redirect(location: &str) -> Response<Body> {
    let mut response = secure_headers(Response::builder().status(StatusCode::FOUND))
        .body(Body::Empty)
        .expect("static headers are valid");
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        // Every location is built from URL-encoded parts; this cannot happen.
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "invalid redirect"),
    }
}

pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    secure_headers(Response::builder().status(status))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::Text(value.to_string()))
        .expect("static headers are valid")
}

pub(crate) fn plain(status: StatusCode, text: &str) -> Response<Body> {
    secure_headers(Response::builder().status(status))
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::Text(text.to_owned()))
        .expect("static headers are valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::from_map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<HashMap<_, _>>(),
        )
    }

    #[test]
    fn settings_need_a_public_base_url() {
        let err = Settings::from_vars(&vars(&[])).unwrap_err().to_string();
        assert!(err.contains("RELAY_PUBLIC_BASE_URL is not set"), "{err}");
        let err = Settings::from_vars(&vars(&[("RELAY_PUBLIC_BASE_URL", "ftp://x")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("RELAY_PUBLIC_BASE_URL is invalid"), "{err}");
    }

    #[test]
    fn the_allowed_origin_must_be_an_origin() {
        let ok = Settings::from_vars(&vars(&[
            ("RELAY_PUBLIC_BASE_URL", "https://relay.example/prod"),
            ("RELAY_ALLOWED_ORIGIN", "https://app.example.com"),
        ]))
        .unwrap();
        assert_eq!(
            ok.allowed_origin.as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(ok.link_days, 7);
        for bad in ["https://app.example.com/path", "*", "app.example.com"] {
            let err = Settings::from_vars(&vars(&[
                ("RELAY_PUBLIC_BASE_URL", "https://relay.example"),
                ("RELAY_ALLOWED_ORIGIN", bad),
            ]))
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("RELAY_ALLOWED_ORIGIN is invalid"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn origins_are_normalised_like_browsers_do() {
        assert_eq!(
            parse_origin("http://127.0.0.1:4000").as_deref(),
            Some("http://127.0.0.1:4000")
        );
        assert_eq!(
            parse_origin("https://a.example:443").as_deref(),
            None,
            "a default port is not how the browser reports it"
        );
        assert_eq!(
            parse_origin("https://a.example/").as_deref(),
            Some("https://a.example")
        );
    }
}
