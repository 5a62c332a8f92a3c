//! Domain events on the EventBridge bus, for tenants' and operators' own routing.
//!
//! Each event is one PutEvents entry with `Source = "relay"`, `DetailType` = the event
//! name (`EscalationCreated`, `AccountNeedsReconnect`, `PostPublished`, ...) and a JSON
//! detail that always names the tenant. Details carry ids and reasons, never message text,
//! tokens or customer ids (customers appear as fingerprints).

use std::future::Future;

use serde::Serialize;

use crate::ids::TenantId;

pub const SOURCE: &str = "relay";

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("EventBridge PutEvents failed: {0}")]
    Put(String),
    #[error("EventBridge rejected the {detail_type} event: {code}")]
    Rejected { detail_type: String, code: String },
}

/// A domain event: its name and its detail.
pub trait DomainEvent: Serialize {
    const DETAIL_TYPE: &'static str;
}

/// A conversation was handed to a person (human takeover or escalation).
#[derive(Debug, Clone, Serialize)]
pub struct EscalationCreated {
    pub tenant_id: TenantId,
    pub account_id: String,
    /// The customer's fingerprint, not their id.
    pub customer: String,
    /// `human_takeover`, `customer_asked_for_human`, `ai_cannot_help`.
    pub reason: String,
    pub at: i64,
}

impl DomainEvent for EscalationCreated {
    const DETAIL_TYPE: &'static str = "EscalationCreated";
}

/// An account's token was rejected or expired: a person must reconnect it.
#[derive(Debug, Clone, Serialize)]
pub struct AccountNeedsReconnect {
    pub tenant_id: TenantId,
    pub account_id: String,
    pub reason: String,
    /// A fresh onboarding link to send to whoever can reconnect the account.
    pub reconnect_url: Option<String>,
    pub at: i64,
}

impl DomainEvent for AccountNeedsReconnect {
    const DETAIL_TYPE: &'static str = "AccountNeedsReconnect";
}

/// Token refresh failed for a reason other than the token being invalid.
#[derive(Debug, Clone, Serialize)]
pub struct TokenRefreshFailed {
    pub tenant_id: TenantId,
    pub account_id: String,
    pub reason: String,
    pub at: i64,
}

impl DomainEvent for TokenRefreshFailed {
    const DETAIL_TYPE: &'static str = "TokenRefreshFailed";
}

/// A scheduled post went out.
#[derive(Debug, Clone, Serialize)]
pub struct PostPublished {
    pub tenant_id: TenantId,
    pub account_id: String,
    pub post_id: String,
    /// Meta's media (or Page post) id; None when Meta's answer was lost.
    pub media_id: Option<String>,
    pub permalink: Option<String>,
    pub scheduled_at: i64,
    pub published_at: i64,
}

impl DomainEvent for PostPublished {
    const DETAIL_TYPE: &'static str = "PostPublished";
}

/// A scheduled post will not go out.
#[derive(Debug, Clone, Serialize)]
pub struct PostFailed {
    pub tenant_id: TenantId,
    pub account_id: String,
    pub post_id: String,
    pub reason: String,
    /// `change_the_media`, `reconnect_the_account` or `try_again_later`.
    pub fix: String,
    pub at: i64,
}

impl DomainEvent for PostFailed {
    const DETAIL_TYPE: &'static str = "PostFailed";
}

/// Publishes domain events to the bus. Cheap to clone.
#[derive(Clone, Debug)]
pub struct EventBus {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBus {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }

    pub async fn publish<E: DomainEvent>(&self, event: &E) -> Result<(), EventError> {
        let detail = serde_json::to_string(event).map_err(|e| EventError::Put(e.to_string()))?;
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(E::DETAIL_TYPE)
            .detail(detail)
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| {
                EventError::Put(aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string())
            })?;
        if out.failed_entry_count() > 0 {
            let code = out
                .entries()
                .iter()
                .find_map(|e| e.error_code().map(str::to_owned))
                .unwrap_or_else(|| "unknown".into());
            return Err(EventError::Rejected {
                detail_type: E::DETAIL_TYPE.into(),
                code,
            });
        }
        Ok(())
    }
}

/// Publishing domain events: what a workflow needs from the bus ([`EventBus`] in
/// production).
pub trait Publish: Send + Sync {
    fn publish<E: DomainEvent + Sync>(
        &self,
        event: &E,
    ) -> impl Future<Output = Result<(), EventError>> + Send;
}

impl Publish for EventBus {
    fn publish<E: DomainEvent + Sync>(
        &self,
        event: &E,
    ) -> impl Future<Output = Result<(), EventError>> + Send {
        EventBus::publish(self, event)
    }
}

/// An in-memory bus for tests: keeps every event as (detail type, detail).
#[cfg(any(test, feature = "doubles"))]
#[derive(Debug, Default)]
pub struct MemoryBus {
    published: std::sync::Mutex<Vec<(&'static str, serde_json::Value)>>,
}

#[cfg(any(test, feature = "doubles"))]
impl MemoryBus {
    /// The events published so far, in order.
    pub fn events(&self) -> Vec<(&'static str, serde_json::Value)> {
        self.published
            .lock()
            .expect("no panic while holding the bus")
            .clone()
    }
}

#[cfg(any(test, feature = "doubles"))]
impl Publish for MemoryBus {
    async fn publish<E: DomainEvent + Sync>(&self, event: &E) -> Result<(), EventError> {
        let detail = serde_json::to_value(event).map_err(|e| EventError::Put(e.to_string()))?;
        self.published
            .lock()
            .expect("no panic while holding the bus")
            .push((E::DETAIL_TYPE, detail));
        Ok(())
    }
}
