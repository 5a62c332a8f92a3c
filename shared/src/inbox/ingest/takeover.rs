//! Human takeover: a person at the business typed exactly "..." (or "…") in the Instagram
//! or Messenger app.
//!
//! The echo is stored like any other; then the conversation's automated replies pause,
//! EscalationCreated is published and the pause is audited, once per echo: a claim on the
//! echo's mid is taken last, so a crash before it repeats the (idempotent) pause and, at
//! worst, the event, and never loses it.

use super::ports::{Claims, Conversations};
use super::{IngestError, Ingestion, Ports};
use crate::audit::{Append, AuditEntry};
use crate::events::{EscalationCreated, Publish};
use crate::ids::{CustomerId, MessageId};
use crate::inbox::{Author, is_takeover_marker};
use crate::store::accounts::Route;
use crate::webhook::{Echo, Event};

/// How long the claim on a handled echo is kept: far longer than SQS keeps a message.
const CLAIM_TTL_SECONDS: i64 = 30 * 86_400;

impl<P: Ports> Ingestion<P> {
    pub(super) async fn record_echo(
        &self,
        route: &Route,
        customer: &CustomerId,
        event: &Event,
        echo: &Echo,
    ) -> Result<(), IngestError> {
        let message = &echo.message;
        let now = self.clock.now_ms();
        let stored = super::messages::received(route, customer, event, message, Author::Human, now);
        let takeover = message
            .text
            .as_ref()
            .is_some_and(|t| is_takeover_marker(t.as_str()));
        self.record_message(stored).await?;
        if takeover {
            self.take_over(route, customer, &message.mid, event.timestamp_ms)
                .await?;
        }
        Ok(())
    }

    /// The AI stops for this conversation.
    async fn take_over(
        &self,
        route: &Route,
        customer: &CustomerId,
        mid: &MessageId,
        at: i64,
    ) -> Result<(), IngestError> {
        let (tenant, account) = (&route.tenant_id, &route.account_id);
        let marker = format!("escalation:{}:{}", account, mid);
        if self.store.has_claim(tenant, &marker).await? {
            return Ok(()); // this echo was handled in an earlier delivery
        }
        self.store
            .pause_conversation(tenant, account, customer, "human_takeover", at)
            .await?;
        self.bus
            .publish(&EscalationCreated {
                tenant_id: tenant.clone(),
                account_id: account.to_string(),
                customer: customer.fingerprint(),
                reason: "human_takeover".into(),
                at,
            })
            .await?;
        let conversation = format!("conversation:{}:{}", account, customer.fingerprint());
        self.audit
            .append(
                tenant,
                AuditEntry::new("system:ingest", "conversation.paused")
                    .target(conversation)
                    .details(serde_json::json!({"reason": "human_takeover", "mid": mid.as_str()})),
            )
            .await?;
        let ttl = self.clock.now_secs() + CLAIM_TTL_SECONDS;
        self.store.claim_action(tenant, &marker, ttl).await?;
        tracing::info!("conversation paused by human takeover");
        self.metrics.count("HumanTakeovers", 1);
        Ok(())
    }
}
