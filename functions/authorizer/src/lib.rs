//! The authorizer: API Gateway's Lambda REQUEST authorizer for the management API
//! (payload 2.0, simple responses).
//!
//! It reads `Authorization: Bearer <key>`, looks the key up by its SHA-256 (one GetItem,
//! no scan) and answers `isAuthorized` with the caller in `context`: `kind` (`tenant` or
//! `operator`), `key_id`, and for tenant keys `tenant_id`, `role` and the comma-separated
//! `accounts` an agent is assigned to. A missing, malformed, unknown or revoked key is
//! refused. API Gateway caches the answer per Authorization header for the template's
//! `ReauthorizeEvery` (60 s), so a revoked key stops working within a minute.
//!
//! A key's plaintext is never logged or stored; logs carry the key id only.

use std::sync::Arc;

use aws_lambda_events::event::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use relay::access::{Grant, bearer_key, key_hash};
use relay::clock::{Clock, SystemClock};
use relay::config::Config;
use relay::store::Store;
use relay::telemetry::Metrics;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tracing::{info, warn};

/// API Gateway's simple response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub is_authorized: bool,
    #[serde(default)]
    pub context: Map<String, Value>,
}

impl Answer {
    fn refused() -> Answer {
        Answer {
            is_authorized: false,
            context: Map::new(),
        }
    }
}

/// The handler and what it needs.
pub struct Authorizer {
    store: Store,
    clock: Arc<dyn Clock>,
    metrics: Metrics,
}

impl Authorizer {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            metrics: Metrics::new("authorizer"),
        }
    }

    pub fn from_config(config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        let store = Store::new(aws_sdk_dynamodb::Client::new(sdk), &config.main_table);
        Self::new(store, Arc::new(SystemClock))
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Decide on one request. Never fails: a store error refuses (API Gateway answers
    /// 403, and the client retries), it does not let anyone in.
    pub async fn handle(&self, request: ApiGatewayV2CustomAuthorizerV2Request) -> Answer {
        let Some(key) = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_key)
        else {
            self.metrics.count("KeysRefused", 1);
            return Answer::refused();
        };
        let hash = key_hash(key);
        let found = match self.store.api_key_by_hash(&hash).await {
            Ok(found) => found,
            Err(e) => {
                warn!(error = %e, "key look-up failed; refused");
                self.metrics.count("LookupFailures", 1);
                return Answer::refused();
            }
        };
        let Some(record) = found.filter(|k| k.is_active()) else {
            self.metrics.count("KeysRefused", 1);
            return Answer::refused();
        };
        if let Err(e) = self.store.touch_api_key(&hash, self.clock.now_ms()).await {
            warn!(key_id = %record.key_id, error = %e, "last use not recorded");
        }
        let context = match &record.grant {
            Grant::Tenant {
                tenant_id,
                role,
                accounts,
            } => json!({
                "kind": "tenant",
                "key_id": record.key_id.as_str(),
                "tenant_id": tenant_id.as_str(),
                "role": role.as_str(),
                "accounts": accounts.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(","),
            }),
            Grant::Operator => json!({
                "kind": "operator",
                "key_id": record.key_id.as_str(),
            }),
        };
        info!(key_id = %record.key_id, "key accepted");
        self.metrics.count("KeysAccepted", 1);
        Answer {
            is_authorized: true,
            context: match context {
                Value::Object(map) => map,
                _ => unreachable!("the context is built as an object"),
            },
        }
    }
}
