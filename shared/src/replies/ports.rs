//! The little the replies need from outside, one small trait per concern, and today's
//! types behind them: the DynamoDB [`Store`] (conversations, inbox writes, the reply
//! ledger, drafts), the [`GraphClient`] (Meta's Send API), [`Tokens`] (an account's
//! token), the [`AuditTrail`], the [`EventBus`] and SQS ([`Requeue`]). Unit tests put
//! in-memory doubles behind the same traits.
//!
//! Guarantees: [`MetaSend`] has no way to set the `HUMAN_AGENT` tag (Meta allows it for
//! people only, never for automation); [`ReplyLedger::take_claim`] succeeds for one
//! caller per claim name until its TTL, which is what keeps a redelivered job from
//! sending twice; [`Inbox::record_outbound`] stores a message once per mid.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tracing::warn;

use crate::accounts::{Account, TokenError, Tokens};
use crate::ai::{AiSettings, Draft, Drafter, KnowledgeEntry, ProductLink, ReplyOutcome};
use crate::audit::{AuditEntry, AuditError, AuditTrail};
use crate::clock::Clock;
use crate::events::{DomainEvent, EscalationCreated, EventBus, EventError};
use crate::ids::{AccountId, CustomerId, MessageId, TenantId};
use crate::inbox::{Conversation, StoredMessage};
use crate::meta::{GraphClient, GraphError};
use crate::replies::outbound::{Thread, send_text};
use crate::secret::AccessToken;
use crate::store::ai::MAX_KNOWLEDGE_PER_TENANT;
use crate::store::inbox::Recorded;
use crate::store::{Listing, Store, StoreError};

/// What a reply reads: the account's AI settings, the conversation, its recent messages
/// and the tenant's knowledge.
pub trait Conversations: Send + Sync {
    /// The account's AI settings; None when never set (the AI is then off).
    fn ai_settings<'a>(
        &'a self,
        thread: Thread<'a>,
    ) -> BoxFuture<'a, Result<Option<AiSettings>, StoreError>>;

    fn conversation<'a>(
        &'a self,
        thread: Thread<'a>,
    ) -> BoxFuture<'a, Result<Option<Conversation>, StoreError>>;

    /// The conversation's last `n` messages (1 to 50), oldest first.
    fn recent_messages<'a>(
        &'a self,
        thread: Thread<'a>,
        n: u32,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>>;

    /// The tenant's knowledge entries (at most [`MAX_KNOWLEDGE_PER_TENANT`]).
    fn knowledge<'a>(
        &'a self,
        tenant: &'a TenantId,
    ) -> BoxFuture<'a, Result<Vec<KnowledgeEntry>, StoreError>>;
}

/// What a reply writes into the inbox.
pub trait Inbox: Send + Sync {
    /// Hand the conversation to a person: the AI does nothing for it until resumed.
    fn pause<'a>(
        &'a self,
        thread: Thread<'a>,
        reason: &'a str,
        at: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Store a message that went out. Meta's echo of it may have been stored first, as a
    /// person's message (the mid is the same): a message with an AI origin then becomes
    /// the AI's.
    fn record_outbound<'a>(
        &'a self,
        message: &'a StoredMessage,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Link a product the customer or the reply mentioned to the conversation.
    fn link_product<'a>(&'a self, link: &'a ProductLink) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// The at-most-once bookkeeping: one-time claims and the outcome of every job.
pub trait ReplyLedger: Send + Sync {
    /// Whether `name` is claimed (and its claim not expired).
    fn is_claimed<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Claim `name` until `ttl_epoch_seconds`; false when someone holds it already.
    fn take_claim<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
        ttl_epoch_seconds: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// The stored outcome of the job for the inbound message `mid` at `inbound_at`.
    fn outcome<'a>(
        &'a self,
        thread: Thread<'a>,
        inbound_at: i64,
        mid: &'a str,
    ) -> BoxFuture<'a, Result<Option<ReplyOutcome>, StoreError>>;

    /// Store (or replace) a job's outcome, kept until `ttl_epoch_seconds`.
    fn keep_outcome<'a>(
        &'a self,
        outcome: &'a ReplyOutcome,
        ttl_epoch_seconds: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// Drafts waiting for a person.
pub trait DraftStore: Send + Sync {
    /// Store a draft; at most one per inbound message (a second is ignored).
    fn store_draft<'a>(&'a self, draft: &'a Draft) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// Meta's Send API, for automated replies.
pub trait MetaSend: Send + Sync {
    /// One text message from the account to the customer, as a response inside Meta's
    /// 24-hour window; Meta's mid of it.
    fn send_response<'a>(
        &'a self,
        account: &'a Account,
        token: &'a AccessToken,
        customer: &'a CustomerId,
        text: &'a str,
    ) -> BoxFuture<'a, Result<MessageId, GraphError>>;
}

/// An account's token.
pub trait AccountTokens: Send + Sync {
    /// The account and a usable token for it (refreshed first when about to expire).
    fn token_for<'a>(
        &'a self,
        tenant: &'a TenantId,
        account: &'a AccountId,
    ) -> BoxFuture<'a, Result<(Account, AccessToken), TokenError>>;

    /// Meta refused the token: a person must reconnect the account.
    fn token_refused<'a>(&'a self, account: &'a Account, reason: &'a str) -> BoxFuture<'a, ()>;
}

/// The tenant's audit trail.
pub trait AuditLog: Send + Sync {
    fn record<'a>(
        &'a self,
        tenant: &'a TenantId,
        entry: AuditEntry,
    ) -> BoxFuture<'a, Result<(), AuditError>>;
}

/// Domain events of kind `E`, for tenants' and operators' own routing.
pub trait Publish<E>: Send + Sync {
    fn publish_event<'a>(&'a self, event: &'a E) -> BoxFuture<'a, Result<(), EventError>>;
}

/// The queue a job came from.
pub trait JobRequeue: Send + Sync {
    /// Deliver the job with `receipt` again after `delay` (sooner than the queue's
    /// visibility timeout would). A failure only makes the retry later: it is logged.
    fn retry_in<'a>(&'a self, receipt: &'a str, delay: Duration) -> BoxFuture<'a, ()>;
}

/// Everything the AI's replies work with. Production puts today's types behind these
/// ([`Adapters`]); unit tests put in-memory doubles.
#[derive(Clone)]
pub struct Ports {
    pub conversations: Arc<dyn Conversations>,
    pub inbox: Arc<dyn Inbox>,
    pub ledger: Arc<dyn ReplyLedger>,
    pub drafts: Arc<dyn DraftStore>,
    pub meta: Arc<dyn MetaSend>,
    pub tokens: Arc<dyn AccountTokens>,
    pub audit: Arc<dyn AuditLog>,
    pub events: Arc<dyn Publish<EscalationCreated>>,
    /// None: a failed job comes back after the queue's visibility timeout.
    pub requeue: Option<Arc<dyn JobRequeue>>,
    pub drafter: Arc<dyn Drafter>,
    pub clock: Arc<dyn Clock>,
}

/// Today's types: DynamoDB, the Graph API, the accounts' tokens, the audit trail,
/// EventBridge and SQS. Production builds them from the environment; integration tests
/// wire them to moto, the Meta simulator, its clock and a fake LLM.
pub struct Adapters {
    pub store: Store,
    pub audit: AuditTrail,
    pub bus: EventBus,
    pub graph: GraphClient,
    pub tokens: Tokens,
    pub drafter: Arc<dyn Drafter>,
    pub clock: Arc<dyn Clock>,
    pub requeue: Option<Requeue>,
}

impl From<Adapters> for Ports {
    fn from(a: Adapters) -> Self {
        let store = Arc::new(a.store);
        Self {
            conversations: store.clone(),
            inbox: store.clone(),
            ledger: store.clone(),
            drafts: store,
            meta: Arc::new(a.graph),
            tokens: Arc::new(a.tokens),
            audit: Arc::new(a.audit),
            events: Arc::new(a.bus),
            requeue: a.requeue.map(|r| Arc::new(r) as Arc<dyn JobRequeue>),
            drafter: a.drafter,
            clock: a.clock,
        }
    }
}

impl Conversations for Store {
    fn ai_settings<'a>(
        &'a self,
        thread: Thread<'a>,
    ) -> BoxFuture<'a, Result<Option<AiSettings>, StoreError>> {
        Box::pin(self.get_ai_settings(thread.tenant, thread.account))
    }

    fn conversation<'a>(
        &'a self,
        thread: Thread<'a>,
    ) -> BoxFuture<'a, Result<Option<Conversation>, StoreError>> {
        Box::pin(self.get_conversation(thread.tenant, thread.account, thread.customer))
    }

    fn recent_messages<'a>(
        &'a self,
        thread: Thread<'a>,
        n: u32,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>> {
        Box::pin(async move {
            let listing = Listing {
                limit: i32::try_from(n.clamp(1, 50)).unwrap_or(50),
                newest_first: true,
                cursor: None,
            };
            let page = self
                .list_messages(thread.tenant, thread.account, thread.customer, &listing)
                .await?;
            let mut messages = page.items;
            messages.reverse();
            Ok(messages)
        })
    }

    fn knowledge<'a>(
        &'a self,
        tenant: &'a TenantId,
    ) -> BoxFuture<'a, Result<Vec<KnowledgeEntry>, StoreError>> {
        Box::pin(self.all_knowledge(tenant, MAX_KNOWLEDGE_PER_TENANT))
    }
}

impl Inbox for Store {
    fn pause<'a>(
        &'a self,
        thread: Thread<'a>,
        reason: &'a str,
        at: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let (t, a, c) = (thread.tenant, thread.account, thread.customer);
            // Already paused is as good: the AI keeps out either way.
            self.pause_conversation(t, a, c, reason, at).await.map(drop)
        })
    }

    fn record_outbound<'a>(
        &'a self,
        message: &'a StoredMessage,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            if self.record_message(message, None).await? == Recorded::Duplicate {
                if let Some(origin) = &message.ai {
                    self.attribute_to_ai(
                        &message.tenant_id,
                        &message.account_id,
                        message.mid.as_str(),
                        origin,
                    )
                    .await?;
                }
            }
            Ok(())
        })
    }

    fn link_product<'a>(&'a self, link: &'a ProductLink) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(Store::link_product(self, link))
    }
}

impl ReplyLedger for Store {
    fn is_claimed<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.has_claim(tenant, name))
    }

    fn take_claim<'a>(
        &'a self,
        tenant: &'a TenantId,
        name: &'a str,
        ttl_epoch_seconds: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(self.claim_action(tenant, name, ttl_epoch_seconds))
    }

    fn outcome<'a>(
        &'a self,
        thread: Thread<'a>,
        inbound_at: i64,
        mid: &'a str,
    ) -> BoxFuture<'a, Result<Option<ReplyOutcome>, StoreError>> {
        Box::pin(self.get_reply_outcome(
            thread.tenant,
            thread.account,
            thread.customer,
            inbound_at,
            mid,
        ))
    }

    fn keep_outcome<'a>(
        &'a self,
        outcome: &'a ReplyOutcome,
        ttl_epoch_seconds: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.put_reply_outcome(outcome, ttl_epoch_seconds))
    }
}

impl DraftStore for Store {
    fn store_draft<'a>(&'a self, draft: &'a Draft) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { self.put_draft(draft).await.map(drop) })
    }
}

impl MetaSend for GraphClient {
    fn send_response<'a>(
        &'a self,
        account: &'a Account,
        token: &'a AccessToken,
        customer: &'a CustomerId,
        text: &'a str,
    ) -> BoxFuture<'a, Result<MessageId, GraphError>> {
        Box::pin(send_text(self, account, token, customer, text, None))
    }
}

impl AccountTokens for Tokens {
    fn token_for<'a>(
        &'a self,
        tenant: &'a TenantId,
        account: &'a AccountId,
    ) -> BoxFuture<'a, Result<(Account, AccessToken), TokenError>> {
        Box::pin(self.access_token_for(tenant, account))
    }

    fn token_refused<'a>(&'a self, account: &'a Account, reason: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.mark_needs_reconnect(account, reason).await;
        })
    }
}

impl AuditLog for AuditTrail {
    fn record<'a>(
        &'a self,
        tenant: &'a TenantId,
        entry: AuditEntry,
    ) -> BoxFuture<'a, Result<(), AuditError>> {
        Box::pin(async move { self.append(tenant, entry).await.map(drop) })
    }
}

impl<E: DomainEvent + Sync> Publish<E> for EventBus {
    fn publish_event<'a>(&'a self, event: &'a E) -> BoxFuture<'a, Result<(), EventError>> {
        Box::pin(self.publish(event))
    }
}

/// Makes a failed job visible again sooner than the queue's visibility timeout, so a
/// retry can still meet the reply deadline.
#[derive(Debug, Clone)]
pub struct Requeue {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

impl JobRequeue for Requeue {
    fn retry_in<'a>(&'a self, receipt: &'a str, delay: Duration) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let seconds = i32::try_from(delay.as_secs()).unwrap_or(i32::MAX);
            if let Err(e) = self
                .sqs
                .change_message_visibility()
                .queue_url(&self.queue_url)
                .receipt_handle(receipt)
                .visibility_timeout(seconds)
                .send()
                .await
            {
                // The queue's visibility timeout still brings the job back, only later.
                warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "could not shorten the retry delay");
            }
        })
    }
}
