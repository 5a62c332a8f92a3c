//! The api function: Relay's management REST API under `/v1`, behind the authorizer.
//!
//! Routes, and the lowest role each needs, are in [`access::ROUTES`]; the handlers in
//! [`routes`] translate HTTP into the shared core's commands and stored entities into
//! [`views`]. Conventions every route keeps:
//! - errors are `application/problem+json` with a stable `type` ([`problem`]);
//! - bodies are refused when they carry unknown fields;
//! - lists page with an opaque `cursor` and a `limit` (default 50, max 200);
//! - a POST with an `Idempotency-Key` runs once per key and body within 24 h;
//! - each tenant has a token bucket (`RELAY_API_RATE_PER_SECOND`, `RELAY_API_RATE_BURST`);
//! - ids in paths are checked against the caller's tenant before anything is read: every
//!   read builds its key from the caller's tenant, so another tenant's id is a 404.
//!
//! Logs carry route templates, key ids and statuses: never bodies, text or customer ids.

pub mod access;
pub mod media;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod views;

use std::sync::Arc;

use axum::Router;
use relay::access::RateLimit;
use relay::audit::AuditTrail;
use relay::clock::{Clock, SystemClock};
use relay::config::{ConfigError, ConfigProblem, Vars};
use relay::jobs::JobQueue;
use relay::lambda::ColdStart;
use relay::onboarding::OnboardingLinks;
use relay::replies::Replies;
use relay::store::Store;

use crate::media::MediaProbe;

/// Who the audit trail names when the API acts on its own (token refresh before use).
pub const ACTOR: &str = "system:api";

/// The function's own settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub rate: RateLimit,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            rate: RateLimit {
                per_second: 20.0,
                burst: 40.0,
            },
        }
    }
}

impl Settings {
    pub const RATE: &'static str = "RELAY_API_RATE_PER_SECOND";
    pub const BURST: &'static str = "RELAY_API_RATE_BURST";

    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let per_second: f64 = vars.parsed(Self::RATE, 20.0);
        let burst: f64 = vars.parsed(Self::BURST, 40.0);
        if !(per_second > 0.0 && per_second <= 10_000.0) {
            vars.invalid(Self::RATE, "use more than 0 and at most 10000");
        }
        if !(1.0..=100_000.0).contains(&burst) {
            vars.invalid(Self::BURST, "use 1 to 100000");
        }
        vars.finish()?;
        Ok(Self {
            rate: RateLimit { per_second, burst },
        })
    }
}

/// What the handlers work with; built once per cold start.
pub struct App {
    pub store: Store,
    pub audit: AuditTrail,
    pub replies: Replies,
    /// The moderation function's queue: comment actions go through its one code path.
    pub moderation: JobQueue,
    /// Signs onboarding links (operators mint them).
    pub links: OnboardingLinks,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    /// Fetches a post's media headers before it is scheduled.
    pub media: MediaProbe,
    /// The publish queue: a post scheduled inside the dispatcher's lead is claimed at
    /// once, so it goes out at its second even if the minute's sweep already ran.
    pub publish: JobQueue,
    pub publishing: relay::publishing::run::Settings,
    /// The bucket people upload post media into.
    pub uploads: relay::media::MediaBucket,
    /// The sync function's queue: on-demand profile and insights refreshes.
    pub sync: JobQueue,
    pub syncing: relay::insights::sync::Settings,
}

impl App {
    /// Build every client from the environment.
    pub fn from_cold_start(cold: &ColdStart) -> Result<Self, ConfigError> {
        let (config, vars, sdk) = (&cold.config, &cold.vars, &cold.sdk);
        let settings = Settings::from_vars(vars)?;
        let media = MediaProbe::from_vars(vars)?;
        let publishing = relay::publishing::run::Settings::from_vars(vars);
        let uploads = relay::media::MediaBucket::from_vars(vars, sdk);
        let syncing = relay::insights::sync::Settings::from_vars(vars);
        vars.finish()?;
        let clients = cold.clients(ACTOR)?;
        let missing = |var: &str| {
            ConfigError(vec![ConfigProblem::Missing {
                var: var.to_owned(),
            }])
        };
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let queue = |url: &Option<String>, var: &str| {
            url.clone()
                .map(|url| JobQueue::new(sqs.clone(), url))
                .ok_or_else(|| missing(var))
        };
        let moderation = queue(&config.queues.moderation, "RELAY_MODERATION_QUEUE_URL")?;
        let publish = queue(&config.queues.publish, "RELAY_PUBLISH_QUEUE_URL")?;
        let sync = queue(&config.queues.sync, "RELAY_SYNC_QUEUE_URL")?;
        let base = relay::accounts::env::public_base_url(vars)
            .ok_or_else(|| missing(relay::accounts::env::PUBLIC_BASE_URL))?;
        let links = OnboardingLinks::new(&cold.secrets.oauth_state_key, base);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Ok(Self {
            store: clients.store.clone(),
            audit: clients.audit.clone(),
            replies: Replies {
                store: clients.store,
                audit: clients.audit,
                graph: clients.graph,
                tokens: clients.tokens,
                clock: clock.clone(),
            },
            moderation,
            links,
            clock,
            settings,
            media,
            publish,
            publishing,
            uploads,
            sync,
            syncing,
        })
    }
}

/// The API's router, every route behind the access gate.
pub fn router(app: Arc<App>) -> Router {
    routes::router()
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            access::gate,
        ))
        .with_state(app)
}
