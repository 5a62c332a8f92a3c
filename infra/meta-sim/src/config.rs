//! The simulator's configuration: app credentials and the knobs tests turn.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The settings `POST /_sim/config` may change while the simulator runs.
pub const RUNTIME_SETTINGS: &[&str] = &[
    "insights_lag_secs",
    "retired_metrics",
    "account_calls_per_hour",
    "app_calls_per_hour",
];

/// How a simulator instance behaves. Every field has a default, so tests write
/// `SimConfig { webhook_url: Some(url), ..SimConfig::default() }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    /// The Instagram app id (`client_id` of Instagram Login).
    pub ig_app_id: String,
    pub ig_app_secret: String,
    /// The Facebook app id (`client_id` of Facebook Login).
    pub fb_app_id: String,
    pub fb_app_secret: String,
    /// The app name shown on the OAuth dialogs and in `subscribed_apps`.
    pub app_name: String,
    /// Where webhooks are delivered (none: webhooks are built but not sent).
    pub webhook_url: Option<String>,
    /// The key of `X-Hub-Signature-256`. Empty means "the Instagram app secret";
    /// [`crate::MetaSim::config`] reports the resolved value.
    pub webhook_secret: String,
    /// How many status polls a container answers `IN_PROGRESS` before `FINISHED`.
    pub container_polls_until_finished: u32,
    /// Videos take longer to process: a video container stays `IN_PROGRESS` for this
    /// many times `container_polls_until_finished` polls.
    pub video_processing_factor: u32,
    /// Hosts that stand for public servers Meta downloads media from. A media URL on
    /// one of them, or on a subdomain (`cdn.example` for `example`), is taken as
    /// downloadable without a network call. Media on 127.0.0.1 or localhost is really
    /// downloaded; media on any other host is media Meta could not fetch, since the
    /// simulator does not reach the internet.
    pub public_media_hosts: Vec<String>,
    /// How long Meta's download of a container's media may take before it fails with
    /// a download timeout.
    pub media_fetch_timeout_ms: u64,
    /// Publishes allowed per account in 24 hours.
    pub publish_quota_total: u32,
    /// Immediate retries of a webhook delivery not answered with 2xx.
    pub webhook_retry_attempts: u32,
    /// How long one webhook delivery may take before it counts as failed.
    pub webhook_timeout_ms: u64,
    /// Calls per rolling hour that make `X-App-Usage` report 100 %.
    pub app_calls_per_hour: u32,
    /// Calls per rolling hour on one account that make its business use case 100 %.
    pub account_calls_per_hour: u32,
    /// Answer calls with Meta's throttling errors once usage reaches 100 %.
    pub enforce_usage_limits: bool,
    /// Redirect URIs registered for the apps (empty: any `redirect_uri` is accepted).
    pub allowed_redirect_uris: Vec<String>,
    /// Deliver webhooks only for accounts subscribed to the event's field, as Meta does.
    pub require_webhook_subscription: bool,
    /// Send an echo webhook for every message sent through the Send API, as Meta does.
    pub echo_sent_messages: bool,
    /// The Graph version used in the URLs the simulator builds (`paging.next`).
    pub graph_version: String,
    /// How long Meta takes to have insights: a media answers `{"data": []}` until it
    /// is this old, and a day of account insights has data only this long after it
    /// ended.
    pub insights_lag_secs: i64,
    /// Metric names Meta now refuses, on media and account insights alike (error 100,
    /// as for any metric outside the allowed list).
    pub retired_metrics: Vec<String>,
}

pub const DEFAULT_IG_APP_ID: &str = "1000000000000001";
pub const DEFAULT_IG_APP_SECRET: &str = "0123456789abcdef0123456789abcdef";
pub const DEFAULT_FB_APP_ID: &str = "2000000000000002";
pub const DEFAULT_FB_APP_SECRET: &str = "fedcba9876543210fedcba9876543210";
/// The names reserved for examples and tests (RFC 2606), which no real server uses.
pub const DEFAULT_PUBLIC_MEDIA_HOSTS: &[&str] = &[
    "example",
    "test",
    "example.com",
    "example.net",
    "example.org",
];

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            ig_app_id: DEFAULT_IG_APP_ID.into(),
            ig_app_secret: DEFAULT_IG_APP_SECRET.into(),
            fb_app_id: DEFAULT_FB_APP_ID.into(),
            fb_app_secret: DEFAULT_FB_APP_SECRET.into(),
            app_name: "Relay".into(),
            webhook_url: None,
            webhook_secret: String::new(),
            container_polls_until_finished: 2,
            video_processing_factor: 2,
            public_media_hosts: DEFAULT_PUBLIC_MEDIA_HOSTS
                .iter()
                .map(|h| (*h).to_owned())
                .collect(),
            media_fetch_timeout_ms: 3000,
            publish_quota_total: 100,
            webhook_retry_attempts: 3,
            webhook_timeout_ms: 5000,
            app_calls_per_hour: 5000,
            account_calls_per_hour: 5000,
            enforce_usage_limits: true,
            allowed_redirect_uris: Vec::new(),
            require_webhook_subscription: false,
            echo_sent_messages: false,
            graph_version: "v26.0".into(),
            insights_lag_secs: 0,
            retired_metrics: Vec::new(),
        }
    }
}

impl SimConfig {
    /// Fills derived defaults: an empty webhook secret becomes the Instagram app secret.
    pub fn resolved(mut self) -> Self {
        if self.webhook_secret.is_empty() {
            self.webhook_secret = self.ig_app_secret.clone();
        }
        self
    }

    /// This configuration with the run-time settings of `update` (a JSON object of any
    /// of [`RUNTIME_SETTINGS`]) applied. Nothing changes unless every setting is valid.
    pub fn updated(&self, update: &Value) -> Result<Self, String> {
        let Value::Object(settings) = update else {
            return Err(format!(
                "the body must be a JSON object of settings ({})",
                RUNTIME_SETTINGS.join(", ")
            ));
        };
        let mut next = self.clone();
        for (key, value) in settings {
            match key.as_str() {
                "insights_lag_secs" => {
                    next.insights_lag_secs = value.as_i64().filter(|v| *v >= 0).ok_or_else(|| {
                        format!("insights_lag_secs must be a whole number of seconds >= 0, got {value}")
                    })?;
                }
                "retired_metrics" => {
                    let names = value
                        .as_array()
                        .and_then(|items| {
                            items.iter().map(Value::as_str).collect::<Option<Vec<_>>>()
                        })
                        .ok_or_else(|| {
                            format!("retired_metrics must be an array of metric names, got {value}")
                        })?;
                    next.retired_metrics = metric_list(names)?;
                }
                "account_calls_per_hour" => {
                    next.account_calls_per_hour = calls_per_hour(key, value)?
                }
                "app_calls_per_hour" => next.app_calls_per_hour = calls_per_hour(key, value)?,
                other => {
                    return Err(format!(
                        "unknown setting `{other}` (settable: {})",
                        RUNTIME_SETTINGS.join(", ")
                    ));
                }
            }
        }
        Ok(next)
    }
}

fn calls_per_hour(key: &str, value: &Value) -> Result<u32, String> {
    value
        .as_u64()
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| *v >= 1)
        .ok_or_else(|| format!("{key} must be a whole number of calls >= 1, got {value}"))
}

/// Metric names for `retired_metrics`: each one a metric the simulator knows, each
/// once, in the given order.
pub fn metric_list<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for raw in names {
        let name = raw.trim();
        if !crate::routes::insights::is_known_metric(name) {
            return Err(format!("retired_metrics: unknown metric `{raw}`"));
        }
        if !out.iter().any(|m| m == name) {
            out.push(name.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_secret_defaults_to_the_instagram_app_secret() {
        let c = SimConfig {
            ig_app_secret: "s3cret".into(),
            ..SimConfig::default()
        }
        .resolved();
        assert_eq!(c.webhook_secret, "s3cret");
        let explicit = SimConfig {
            webhook_secret: "other".into(),
            ..SimConfig::default()
        }
        .resolved();
        assert_eq!(explicit.webhook_secret, "other");
    }

    #[test]
    fn run_time_updates_apply_only_valid_known_settings() {
        let base = SimConfig::default();
        let next = base
            .updated(&serde_json::json!({
                "insights_lag_secs": 3600,
                "retired_metrics": ["reach", " views", "reach"],
                "account_calls_per_hour": 10,
            }))
            .expect("valid");
        assert_eq!(next.insights_lag_secs, 3600);
        assert_eq!(next.retired_metrics, ["reach", "views"]);
        assert_eq!(next.account_calls_per_hour, 10);
        assert_eq!(next.app_calls_per_hour, base.app_calls_per_hour);
        for bad in [
            serde_json::json!({"insights_lag_secs": -1}),
            serde_json::json!({"insights_lag_secs": 1.5}),
            serde_json::json!({"retired_metrics": "reach"}),
            serde_json::json!({"retired_metrics": ["reachh"]}),
            serde_json::json!({"account_calls_per_hour": 0}),
            serde_json::json!({"app_calls_per_hour": 5_000_000_000_u64}),
            serde_json::json!({"publish_quota_total": 5}),
            serde_json::json!([1]),
        ] {
            assert!(base.updated(&bad).is_err(), "{bad} is refused");
        }
    }
}
