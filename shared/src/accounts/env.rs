//! What a function's cold start reads to reach Meta and to make onboarding links: the
//! Graph client's configuration and the oauth function's public base URL.

use crate::config::{Config, ConfigError, Secrets, Vars};
use crate::meta::{AppCredentials, MetaConfig, MetaEndpoints};
use crate::onboarding::PublicBaseUrl;
use crate::secret::Secret;

/// Builds the Graph client every function uses, from the environment:
/// `RELAY_META_BASE_URL` (optional: one base URL standing in for every Meta host, the
/// simulator's host prefixes below it), the Graph version of [`Config`],
/// `RELAY_IG_APP_ID` and `RELAY_FB_APP_ID`, and the app secrets of [`Secrets`]:
/// `META_APP_SECRETS[0]` is the Instagram app's, `META_APP_SECRETS[1]` the Facebook
/// app's (the first one when there is no second, for a setup where both are the same).
pub fn meta_config(
    config: &Config,
    secrets: &Secrets,
    vars: &Vars,
) -> Result<MetaConfig, ConfigError> {
    let endpoints = match vars.optional(META_BASE_URL) {
        Some(base) => MetaEndpoints::simulator(&base).unwrap_or_else(|e| {
            vars.invalid(META_BASE_URL, e.to_string());
            MetaEndpoints::production()
        }),
        None => MetaEndpoints::production(),
    };
    let endpoints = endpoints
        .with_graph_version(&config.graph_version)
        .unwrap_or_else(|e| {
            vars.invalid(Config::GRAPH_VERSION, e.to_string());
            MetaEndpoints::production()
        });
    let instagram_app_secret = secrets
        .meta_app_secrets
        .first()
        .cloned()
        .unwrap_or_else(|| Secret::new(""));
    let facebook_app_secret = secrets
        .meta_app_secrets
        .get(1)
        .cloned()
        .unwrap_or_else(|| instagram_app_secret.clone());
    let credentials = AppCredentials {
        instagram_app_id: vars.optional(IG_APP_ID).unwrap_or_default(),
        instagram_app_secret,
        facebook_app_id: vars.optional(FB_APP_ID).unwrap_or_default(),
        facebook_app_secret,
    };
    vars.finish()?;
    Ok(MetaConfig::new(endpoints, credentials))
}

pub const META_BASE_URL: &str = "RELAY_META_BASE_URL";
pub const IG_APP_ID: &str = "RELAY_IG_APP_ID";
pub const FB_APP_ID: &str = "RELAY_FB_APP_ID";
/// The public base URL of the oauth function: onboarding links and redirect URIs.
pub const PUBLIC_BASE_URL: &str = "RELAY_PUBLIC_BASE_URL";

/// Reads `RELAY_PUBLIC_BASE_URL` when set.
pub fn public_base_url(vars: &Vars) -> Option<PublicBaseUrl> {
    let raw = vars.optional(PUBLIC_BASE_URL)?;
    match PublicBaseUrl::parse(&raw) {
        Ok(base) => Some(base),
        Err(e) => {
            vars.invalid(PUBLIC_BASE_URL, e.to_string());
            None
        }
    }
}
