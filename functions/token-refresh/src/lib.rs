//! The token-refresh function, run by an EventBridge schedule.
//!
//! Each run is [`Tokens::refresh_due`]: the accounts whose tokens expire within the
//! horizon (default 10 days), from the sparse expiry index, refreshed a bounded number at
//! a time. One account's failure, throttling included, never stops the others: a
//! throttled or transiently failing account stays in the index and is tried on the next
//! run. The run fails only when the index itself cannot be read, so EventBridge's retry
//! covers that case.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use relay::accounts::Tokens;
use relay::config::{ConfigError, Vars};
use relay::lambda::ColdStart;
use relay::store::StoreError;
use relay::telemetry::Metrics;

/// What one run did.
pub use relay::accounts::RefreshSummary as RunSummary;

/// Tunables, from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `RELAY_TOKEN_REFRESH_CONCURRENCY` (default 8): refreshes in flight at once. Meta
    /// rate-limits per app, so a few at a time finish a large run without a burst.
    pub concurrency: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self { concurrency: 8 }
    }
}

impl Settings {
    pub const CONCURRENCY: &'static str = "RELAY_TOKEN_REFRESH_CONCURRENCY";

    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let concurrency: usize = vars.parsed(Self::CONCURRENCY, 8);
        if concurrency == 0 || concurrency > 64 {
            vars.invalid(Self::CONCURRENCY, "must be 1 to 64");
        }
        vars.finish()?;
        Ok(Self { concurrency })
    }
}

/// Why a run could not happen at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the token expiry index could not be read: {0}")]
    Index(#[from] StoreError),
}

/// The handler and what it needs.
pub struct TokenRefresh {
    tokens: Tokens,
    settings: Settings,
    metrics: Metrics,
}

impl TokenRefresh {
    pub fn from_cold_start(cold: &ColdStart) -> Result<Self, ConfigError> {
        let tokens = cold.clients("system:token-refresh")?.tokens;
        let settings = Settings::from_vars(&cold.vars)?;
        Ok(Self::new(tokens, settings))
    }

    pub fn new(tokens: Tokens, settings: Settings) -> Self {
        Self {
            tokens,
            settings,
            metrics: Metrics::new("token-refresh"),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// One scheduled run. The event's content is not needed: the clock and the index
    /// say what is due.
    pub async fn handle(
        &self,
        _event: EventBridgeEvent<serde_json::Value>,
    ) -> Result<RunSummary, RunError> {
        Ok(self
            .tokens
            .refresh_due(self.settings.concurrency, &self.metrics)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn concurrency_is_bounded() {
        let vars = |v: &str| {
            Vars::from_map(HashMap::from([(
                Settings::CONCURRENCY.to_owned(),
                v.to_owned(),
            )]))
        };
        assert_eq!(Settings::from_vars(&vars("4")).unwrap().concurrency, 4);
        assert!(Settings::from_vars(&vars("0")).is_err());
        assert!(Settings::from_vars(&vars("1000")).is_err());
        assert_eq!(
            Settings::from_vars(&Vars::from_map(HashMap::new())).unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn the_sample_scheduled_event_parses() {
        let raw = include_str!("../../../events/token-refresh/scheduled.json");
        let event: EventBridgeEvent<serde_json::Value> =
            serde_json::from_str(raw).expect("a scheduled EventBridge event");
        assert_eq!(event.detail_type, "Scheduled Event");
    }
}
