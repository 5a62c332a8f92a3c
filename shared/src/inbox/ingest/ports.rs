//! What ingestion needs from outside, as small traits: the store's routes, messages,
//! comments, raw events, conversations, claims, AI settings and usage; the two job
//! queues; the event bus; the audit trail. [`Aws`] names today's implementations
//! (DynamoDB through [`Store`], SQS, EventBridge, the audit table); tests name in-memory
//! ones.
//!
//! Every store port is idempotent the way [`Store`] is: a mid, a comment id or a raw
//! event's dedupe key is stored once, and a change to a message applies only when it is
//! newer than what it would replace.

use std::collections::BTreeMap;
use std::future::Future;

use crate::audit::{Append, AuditTrail};
use crate::events::{EventBus, Publish};
use crate::ids::{AccountId, CommentId, CustomerId, TenantId};
use crate::inbox::{RawEvent, StoredComment, StoredMessage, StoredReaction};
use crate::jobs::{AiReplyJob, Enqueue, JobQueue, ModerationJob};
use crate::store::accounts::{Channel, Route};
use crate::store::inbox::{Applied, HeldChange, Recorded};
use crate::store::keys::Key;
use crate::store::usage::Counter;
use crate::store::{Store, StoreError};

/// Which tenant a webhook's account belongs to, and when its webhooks last arrived.
pub trait Routes: Send + Sync {
    fn resolve_route(
        &self,
        channel: Channel,
        account: &AccountId,
    ) -> impl Future<Output = Result<Option<Route>, StoreError>> + Send;

    /// An earlier time never replaces a later one.
    fn note_webhook_seen(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        at_ms: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A change to a stored message, named by its mid.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<'a> {
    /// The customer unsent it: its content goes, the fact stays.
    Delete { mid: &'a str },
    /// A react or unreact by `who` (`customer` or `business`), kept unless a newer one is.
    Reaction {
        mid: &'a str,
        who: &'static str,
        reaction: StoredReaction,
    },
    /// The customer read up to the message `mid`, or up to `watermark_ms`.
    Read {
        customer: &'a CustomerId,
        mid: Option<&'a str>,
        watermark_ms: Option<i64>,
        read_at: i64,
    },
    /// An edit, unless a later one (higher `num_edit`) was applied.
    Edit {
        mid: &'a str,
        text: Option<&'a str>,
        num_edit: u32,
    },
}

impl<'a> Change<'a> {
    /// The mid it waits for and the change to hold there while its message is not
    /// stored; none for a read named only by its watermark.
    pub fn held(&self) -> Option<(&'a str, HeldChange)> {
        Some(match self {
            Self::Delete { mid } => (*mid, HeldChange::Delete),
            Self::Reaction { mid, who, reaction } => (
                *mid,
                HeldChange::Reaction {
                    who: (*who).to_owned(),
                    reaction: reaction.clone(),
                },
            ),
            Self::Read {
                customer,
                mid,
                read_at,
                ..
            } => (
                (*mid)?,
                HeldChange::Read {
                    customer: (*customer).clone(),
                    read_at: *read_at,
                },
            ),
            Self::Edit {
                mid,
                text,
                num_edit,
            } => (
                *mid,
                HeldChange::Edit {
                    text: text.map(str::to_owned),
                    num_edit: *num_edit,
                },
            ),
        })
    }

    /// A held change, as it applies to its message `mid`.
    pub fn of_held(mid: &'a str, held: &'a HeldChange) -> Self {
        match held {
            HeldChange::Delete => Self::Delete { mid },
            HeldChange::Reaction { who, reaction } => Self::Reaction {
                mid,
                who: if who == "business" {
                    "business"
                } else {
                    "customer"
                },
                reaction: reaction.clone(),
            },
            HeldChange::Read { customer, read_at } => Self::Read {
                customer,
                mid: Some(mid),
                watermark_ms: None,
                read_at: *read_at,
            },
            HeldChange::Edit { text, num_edit } => Self::Edit {
                mid,
                text: text.as_deref(),
                num_edit: *num_edit,
            },
        }
    }

    /// What it is, for logs and the kind of an orphan kept raw.
    pub fn what(&self) -> &'static str {
        match self {
            Self::Delete { .. } => "deletion",
            Self::Reaction { .. } => "reaction",
            Self::Read { .. } => "read",
            Self::Edit { .. } => "edit",
        }
    }
}

/// Messages, stored once per mid with their conversation and contact brought forward.
pub trait Messages: Send + Sync {
    fn record_message(
        &self,
        message: &StoredMessage,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// The stored message with this mid, and its key.
    fn find_message(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        mid: &str,
    ) -> impl Future<Output = Result<Option<(Key, StoredMessage)>, StoreError>> + Send;

    /// Note that the message's follow-up jobs were queued.
    fn mark_jobs_enqueued(&self, key: &Key) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn apply_change(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        change: &Change<'_>,
    ) -> impl Future<Output = Result<Applied, StoreError>> + Send;

    /// Keep a change whose message is not stored yet, until `ttl_epoch_seconds`, for the
    /// message's write to apply; `MessageUnknown` when it is kept, or what applying it
    /// did when the message was stored meanwhile.
    fn hold_change(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        mid: &str,
        change: &HeldChange,
        ttl_epoch_seconds: i64,
    ) -> impl Future<Output = Result<Applied, StoreError>> + Send;
}

/// Comments, stored once per comment id.
pub trait Comments: Send + Sync {
    fn record_comment(
        &self,
        comment: &StoredComment,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    fn get_comment(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        comment: &CommentId,
    ) -> impl Future<Output = Result<Option<StoredComment>, StoreError>> + Send;
}

/// Events kept without a model of their own, once per dedupe key, until their TTL.
pub trait RawEvents: Send + Sync {
    fn record_raw_event(
        &self,
        event: &RawEvent,
        ttl_epoch_seconds: i64,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;
}

/// Pausing a conversation's automated replies (a person took over).
pub trait Conversations: Send + Sync {
    /// False when it was paused already.
    fn pause_conversation(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
        reason: &str,
        at: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// A tenant's one-time rights to act (e.g. `escalation:<account>:<mid>`).
pub trait Claims: Send + Sync {
    /// Whether the right was taken already (and has not expired).
    fn has_claim(
        &self,
        tenant: &TenantId,
        action: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Take the right; false when it was taken already.
    fn claim_action(
        &self,
        tenant: &TenantId,
        action: &str,
        ttl_epoch_seconds: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The debounce an account's AI settings name, if they name one.
pub trait ReplyDebounce: Send + Sync {
    fn debounce_seconds(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> impl Future<Output = Result<Option<u32>, StoreError>> + Send;
}

/// The operators' usage counters.
pub trait Usage: Send + Sync {
    /// Add to the tenant's counters of the day `now_ms` falls in.
    fn count_usage(
        &self,
        tenant: &TenantId,
        now_ms: i64,
        counts: &BTreeMap<Counter, u64>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Everything ingestion reads and writes in the store.
pub trait IngestStore:
    Routes + Messages + Comments + RawEvents + Conversations + Claims + ReplyDebounce + Usage
{
}

impl<S> IngestStore for S where
    S: Routes + Messages + Comments + RawEvents + Conversations + Claims + ReplyDebounce + Usage
{
}

/// The implementations ingestion runs with.
pub trait Ports {
    type Store: IngestStore;
    /// The AI-reply and the moderation queue are two values of this type.
    type Queue: Enqueue<AiReplyJob> + Enqueue<ModerationJob>;
    type Bus: Publish;
    type Audit: Append;
}

/// Production: DynamoDB, SQS, EventBridge and the audit table.
#[derive(Debug)]
pub struct Aws;

impl Ports for Aws {
    type Store = Store;
    type Queue = JobQueue;
    type Bus = EventBus;
    type Audit = AuditTrail;
}

impl Routes for Store {
    fn resolve_route(
        &self,
        channel: Channel,
        account: &AccountId,
    ) -> impl Future<Output = Result<Option<Route>, StoreError>> + Send {
        Store::resolve_route(self, channel, account)
    }

    fn note_webhook_seen(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        at_ms: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        Store::note_webhook_seen(self, tenant, account, at_ms)
    }
}

impl Messages for Store {
    fn record_message(
        &self,
        message: &StoredMessage,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send {
        Store::record_message(self, message, None)
    }

    fn find_message(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        mid: &str,
    ) -> impl Future<Output = Result<Option<(Key, StoredMessage)>, StoreError>> + Send {
        Store::find_message(self, tenant, account, mid)
    }

    fn mark_jobs_enqueued(&self, key: &Key) -> impl Future<Output = Result<(), StoreError>> + Send {
        Store::mark_jobs_enqueued(self, key)
    }

    async fn apply_change(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        change: &Change<'_>,
    ) -> Result<Applied, StoreError> {
        match change {
            Change::Delete { mid } => self.apply_delete(tenant, account, mid).await,
            Change::Reaction { mid, who, reaction } => {
                self.apply_reaction(tenant, account, mid, who, reaction)
                    .await
            }
            Change::Read {
                customer,
                mid,
                watermark_ms,
                read_at,
            } => {
                self.apply_read(tenant, account, customer, *mid, *watermark_ms, *read_at)
                    .await
            }
            Change::Edit {
                mid,
                text,
                num_edit,
            } => {
                self.apply_edit(tenant, account, mid, *text, *num_edit)
                    .await
            }
        }
    }

    fn hold_change(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        mid: &str,
        change: &HeldChange,
        ttl_epoch_seconds: i64,
    ) -> impl Future<Output = Result<Applied, StoreError>> + Send {
        Store::hold_change(self, tenant, account, mid, change, ttl_epoch_seconds)
    }
}

impl Comments for Store {
    fn record_comment(
        &self,
        comment: &StoredComment,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send {
        Store::record_comment(self, comment)
    }

    fn get_comment(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        comment: &CommentId,
    ) -> impl Future<Output = Result<Option<StoredComment>, StoreError>> + Send {
        Store::get_comment(self, tenant, account, comment)
    }
}

impl RawEvents for Store {
    fn record_raw_event(
        &self,
        event: &RawEvent,
        ttl_epoch_seconds: i64,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send {
        Store::record_raw_event(self, event, ttl_epoch_seconds)
    }
}

impl Conversations for Store {
    fn pause_conversation(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
        reason: &str,
        at: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        Store::pause_conversation(self, tenant, account, customer, reason, at)
    }
}

impl Claims for Store {
    fn has_claim(
        &self,
        tenant: &TenantId,
        action: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        Store::has_claim(self, tenant, action)
    }

    fn claim_action(
        &self,
        tenant: &TenantId,
        action: &str,
        ttl_epoch_seconds: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        Store::claim_action(self, tenant, action, ttl_epoch_seconds)
    }
}

impl ReplyDebounce for Store {
    async fn debounce_seconds(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> Result<Option<u32>, StoreError> {
        let settings = self.get_ai_settings(tenant, account).await?;
        Ok(settings.and_then(|s| s.debounce_seconds))
    }
}

impl Usage for Store {
    fn count_usage(
        &self,
        tenant: &TenantId,
        now_ms: i64,
        counts: &BTreeMap<Counter, u64>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        Store::count_usage(self, tenant, now_ms, counts)
    }
}
