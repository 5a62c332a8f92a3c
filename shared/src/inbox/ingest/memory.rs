//! In-memory ports for ingestion, for unit tests of the workflow and of the ingest
//! function's handler.
//!
//! [`MemoryInbox`] keeps the store's guarantees that ingestion relies on: a mid, a comment
//! id and a raw event's dedupe key are stored once; messages list in event-time order; a
//! change applies only when newer than what it replaces and reports an unknown message;
//! conversation times only move forward. It does not keep contacts, and claims never
//! expire. Integration tests run against DynamoDB (moto) instead.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use super::ports::{
    Change, Claims, Comments, Conversations, Messages, RawEvents, ReplyDebounce, Routes, Usage,
};
use super::{Ingestion, Ports, Settings};
use crate::audit::MemoryAudit;
use crate::events::MemoryBus;
use crate::ids::{AccountId, CommentId, CustomerId, TenantId};
use crate::inbox::{Conversation, Direction, RawEvent, StoredComment, StoredMessage};
use crate::jobs::MemoryQueue;
use crate::store::StoreError;
use crate::store::accounts::{Channel, Route};
use crate::store::inbox::{Applied, HeldChange, Recorded};
use crate::store::keys::{self, Key};
use crate::store::usage::Counter;

/// Ingestion in memory.
#[derive(Debug)]
pub struct Memory;

impl Ports for Memory {
    type Store = MemoryInbox;
    type Queue = MemoryQueue;
    type Bus = MemoryBus;
    type Audit = MemoryAudit;
}

impl Ingestion<Memory> {
    /// Ingestion over empty in-memory ports.
    pub fn in_memory(settings: Settings) -> Self {
        Self::new(
            MemoryInbox::default(),
            MemoryAudit::default(),
            MemoryBus::default(),
            MemoryQueue::default(),
            MemoryQueue::default(),
            settings,
        )
    }
}

type Account = (TenantId, AccountId);
type Thread = (TenantId, AccountId, CustomerId);

/// The inbox's part of the main table, in memory.
#[derive(Debug, Default)]
pub struct MemoryInbox {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    routes: Vec<Route>,
    /// Messages by their key, so that they list in key (event-time) order.
    messages: BTreeMap<(String, String), StoredMessage>,
    /// Each stored message's key, by its mid.
    pointers: HashMap<(TenantId, AccountId, String), Key>,
    conversations: BTreeMap<Thread, Conversation>,
    comments: BTreeMap<(TenantId, AccountId, CommentId), StoredComment>,
    raw_events: BTreeMap<(String, String), RawEvent>,
    claims: BTreeSet<(TenantId, String)>,
    debounce: HashMap<Account, u32>,
    usage: BTreeMap<TenantId, BTreeMap<Counter, u64>>,
    seen: HashMap<Account, i64>,
    /// Changes that came before their message, by the message's mid.
    held: HashMap<(TenantId, AccountId, String), Vec<HeldChange>>,
}

impl MemoryInbox {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("no panic while holding the inbox")
    }

    /// Route the platform account to the tenant (what connecting an account does).
    pub fn connect(&self, tenant: &TenantId, channel: Channel, account: &AccountId) {
        self.state().routes.push(Route {
            channel,
            account_id: account.clone(),
            tenant_id: tenant.clone(),
        });
    }

    /// The account's AI settings name their own debounce.
    pub fn set_debounce(&self, tenant: &TenantId, account: &AccountId, seconds: u32) {
        let account = (tenant.clone(), account.clone());
        self.state().debounce.insert(account, seconds);
    }

    /// A conversation's messages in event-time order.
    pub fn messages(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Vec<StoredMessage> {
        let pk = keys::conversation_messages_pk(tenant, account, customer);
        let state = self.state();
        let found = state.messages.iter().filter(|((p, _), _)| *p == pk);
        found.map(|(_, m)| m.clone()).collect()
    }

    /// The stored message with this mid.
    pub fn message(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        mid: &str,
    ) -> Option<StoredMessage> {
        let state = self.state();
        let key = state
            .pointers
            .get(&(tenant.clone(), account.clone(), mid.to_owned()))?;
        state
            .messages
            .get(&(key.pk.clone(), key.sk.clone()))
            .cloned()
    }

    pub fn conversation(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Option<Conversation> {
        let thread = (tenant.clone(), account.clone(), customer.clone());
        self.state().conversations.get(&thread).cloned()
    }

    /// An account's comments, by comment id.
    pub fn comments(&self, tenant: &TenantId, account: &AccountId) -> Vec<StoredComment> {
        let state = self.state();
        let found = state.comments.values();
        let found = found.filter(|c| c.tenant_id == *tenant && c.account_id == *account);
        found.cloned().collect()
    }

    /// Change a stored comment as another function would (moderation, a person).
    pub fn edit_comment(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        comment: &CommentId,
        edit: impl FnOnce(&mut StoredComment),
    ) {
        let id = (tenant.clone(), account.clone(), comment.clone());
        if let Some(stored) = self.state().comments.get_mut(&id) {
            edit(stored);
        }
    }

    /// An account's raw events in time order.
    pub fn raw_events(&self, tenant: &TenantId, account: &AccountId) -> Vec<RawEvent> {
        let state = self.state();
        let found = state.raw_events.values();
        let found = found.filter(|e| e.tenant_id == *tenant && e.account_id == *account);
        found.cloned().collect()
    }

    /// The tenant's usage counters (all days together).
    pub fn usage(&self, tenant: &TenantId) -> BTreeMap<Counter, u64> {
        self.state().usage.get(tenant).cloned().unwrap_or_default()
    }

    /// When the account's last webhook was noted.
    pub fn webhook_seen(&self, tenant: &TenantId, account: &AccountId) -> Option<i64> {
        let account = (tenant.clone(), account.clone());
        self.state().seen.get(&account).copied()
    }
}

impl State {
    fn find(
        &mut self,
        tenant: &TenantId,
        account: &AccountId,
        mid: &str,
    ) -> Option<&mut StoredMessage> {
        let key = self
            .pointers
            .get(&(tenant.clone(), account.clone(), mid.to_owned()))?;
        self.messages.get_mut(&(key.pk.clone(), key.sk.clone()))
    }

    fn record_message(&mut self, m: &StoredMessage) -> Recorded {
        let (t, a, c) = (&m.tenant_id, &m.account_id, &m.customer_id);
        let pointer = (t.clone(), a.clone(), m.mid.as_str().to_owned());
        let thread = (t.clone(), a.clone(), c.clone());
        let inbound = m.direction == Direction::Inbound;
        let recorded = if self.pointers.contains_key(&pointer) {
            Recorded::Duplicate
        } else {
            let key = keys::message(t, a, c, m.timestamp_ms, m.mid.as_str());
            self.messages
                .insert((key.pk.clone(), key.sk.clone()), m.clone());
            let held = self.held.remove(&pointer).unwrap_or_default();
            self.pointers.insert(pointer, key);
            let conversation = self.conversations.entry(thread.clone()).or_default();
            conversation.message_count += 1;
            conversation.unread_count += u64::from(inbound);
            // The changes that came first apply with the message, as on the store.
            for change in &held {
                self.apply(t, a, &Change::of_held(m.mid.as_str(), change));
            }
            Recorded::New
        };
        // Brought forward for a duplicate too, as the store does.
        let conversation = self.conversations.entry(thread).or_default();
        conversation.tenant_id = Some(t.clone());
        conversation.account_id = Some(a.clone());
        conversation.customer_id = Some(c.clone());
        conversation.last_activity_at = conversation.last_activity_at.max(m.timestamp_ms);
        if inbound
            && conversation
                .last_inbound_at
                .is_none_or(|at| at < m.timestamp_ms)
        {
            conversation.last_inbound_at = Some(m.timestamp_ms);
            conversation.last_inbound_mid = Some(m.mid.as_str().to_owned());
        }
        recorded
    }

    fn apply(&mut self, t: &TenantId, a: &AccountId, change: &Change<'_>) -> Applied {
        match change {
            Change::Delete { mid } => {
                let Some(message) = self.find(t, a, mid) else {
                    return Applied::MessageUnknown;
                };
                message.deleted = true;
                message.attachments.clear();
                message.text = None;
                Applied::Applied
            }
            Change::Reaction { mid, who, reaction } => {
                let Some(message) = self.find(t, a, mid) else {
                    return Applied::MessageUnknown;
                };
                if message
                    .reactions
                    .get(*who)
                    .is_some_and(|r| r.at >= reaction.at)
                {
                    return Applied::Stale;
                }
                message
                    .reactions
                    .insert((*who).to_owned(), reaction.clone());
                Applied::Applied
            }
            Change::Edit {
                mid,
                text,
                num_edit,
            } => {
                let Some(message) = self.find(t, a, mid) else {
                    return Applied::MessageUnknown;
                };
                if message.edit_count >= *num_edit || message.deleted {
                    return Applied::Stale;
                }
                message.edit_count = *num_edit;
                if let Some(text) = text {
                    message.text = Some((*text).to_owned());
                }
                Applied::Applied
            }
            Change::Read {
                customer,
                mid,
                watermark_ms,
                read_at,
            } => {
                let mut up_to = *watermark_ms;
                if let Some(mid) = mid {
                    let Some(message) = self.find(t, a, mid) else {
                        return Applied::MessageUnknown;
                    };
                    message.read_at.get_or_insert(*read_at);
                    up_to = Some(message.timestamp_ms);
                }
                let thread = (t.clone(), a.clone(), (*customer).clone());
                let (Some(up_to), Some(conversation)) =
                    (up_to, self.conversations.get_mut(&thread))
                else {
                    return Applied::Stale;
                };
                if conversation.customer_read_up_to.is_some_and(|r| r >= up_to) {
                    return Applied::Stale;
                }
                conversation.customer_read_up_to = Some(up_to);
                conversation.unread_count = 0;
                Applied::Applied
            }
        }
    }
}

impl Routes for MemoryInbox {
    async fn resolve_route(
        &self,
        channel: Channel,
        account: &AccountId,
    ) -> Result<Option<Route>, StoreError> {
        let state = self.state();
        let mut routes = state.routes.iter();
        let found = routes.find(|r| r.channel == channel && r.account_id == *account);
        Ok(found.cloned())
    }

    async fn note_webhook_seen(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        let seen = state
            .seen
            .entry((tenant.clone(), account.clone()))
            .or_default();
        *seen = (*seen).max(at_ms);
        Ok(())
    }
}

impl Messages for MemoryInbox {
    async fn record_message(&self, message: &StoredMessage) -> Result<Recorded, StoreError> {
        Ok(self.state().record_message(message))
    }

    async fn find_message(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        mid: &str,
    ) -> Result<Option<(Key, StoredMessage)>, StoreError> {
        let state = self.state();
        let key = state
            .pointers
            .get(&(tenant.clone(), account.clone(), mid.to_owned()));
        let found = key.and_then(|k| {
            let message = state.messages.get(&(k.pk.clone(), k.sk.clone()))?;
            Some((k.clone(), message.clone()))
        });
        Ok(found)
    }

    async fn mark_jobs_enqueued(&self, key: &Key) -> Result<(), StoreError> {
        let mut state = self.state();
        let message = state.messages.get_mut(&(key.pk.clone(), key.sk.clone()));
        let message = message.ok_or(StoreError::Conflict { what: "message" })?;
        message.jobs_enqueued = true;
        Ok(())
    }

    async fn apply_change(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        change: &Change<'_>,
    ) -> Result<Applied, StoreError> {
        Ok(self.state().apply(tenant, account, change))
    }

    async fn hold_change(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        mid: &str,
        change: &HeldChange,
        _ttl_epoch_seconds: i64,
    ) -> Result<Applied, StoreError> {
        let mut state = self.state();
        let pointer = (tenant.clone(), account.clone(), mid.to_owned());
        if state.pointers.contains_key(&pointer) {
            return Ok(state.apply(tenant, account, &Change::of_held(mid, change)));
        }
        state.held.entry(pointer).or_default().push(change.clone());
        Ok(Applied::MessageUnknown)
    }
}

impl Comments for MemoryInbox {
    async fn record_comment(&self, comment: &StoredComment) -> Result<Recorded, StoreError> {
        let mut state = self.state();
        let id = (
            comment.tenant_id.clone(),
            comment.account_id.clone(),
            comment.comment_id.clone(),
        );
        if state.comments.contains_key(&id) {
            return Ok(Recorded::Duplicate);
        }
        state.comments.insert(id, comment.clone());
        Ok(Recorded::New)
    }

    async fn get_comment(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        comment: &CommentId,
    ) -> Result<Option<StoredComment>, StoreError> {
        let id = (tenant.clone(), account.clone(), comment.clone());
        Ok(self.state().comments.get(&id).cloned())
    }
}

impl RawEvents for MemoryInbox {
    async fn record_raw_event(
        &self,
        event: &RawEvent,
        _ttl_epoch_seconds: i64,
    ) -> Result<Recorded, StoreError> {
        let (t, a) = (&event.tenant_id, &event.account_id);
        let key = keys::raw_event(t, a, event.timestamp_ms, &event.dedupe_key);
        let mut state = self.state();
        if state
            .raw_events
            .contains_key(&(key.pk.clone(), key.sk.clone()))
        {
            return Ok(Recorded::Duplicate);
        }
        state.raw_events.insert((key.pk, key.sk), event.clone());
        Ok(Recorded::New)
    }
}

impl Conversations for MemoryInbox {
    async fn pause_conversation(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
        reason: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let thread = (tenant.clone(), account.clone(), customer.clone());
        let conversation = state.conversations.entry(thread).or_default();
        if conversation.paused {
            return Ok(false);
        }
        conversation.paused = true;
        conversation.paused_reason = Some(reason.to_owned());
        conversation.paused_at = Some(at);
        Ok(true)
    }
}

impl Claims for MemoryInbox {
    async fn has_claim(&self, tenant: &TenantId, action: &str) -> Result<bool, StoreError> {
        let claim = (tenant.clone(), action.to_owned());
        Ok(self.state().claims.contains(&claim))
    }

    async fn claim_action(
        &self,
        tenant: &TenantId,
        action: &str,
        _ttl_epoch_seconds: i64,
    ) -> Result<bool, StoreError> {
        let claim = (tenant.clone(), action.to_owned());
        Ok(self.state().claims.insert(claim))
    }
}

impl ReplyDebounce for MemoryInbox {
    async fn debounce_seconds(
        &self,
        tenant: &TenantId,
        account: &AccountId,
    ) -> Result<Option<u32>, StoreError> {
        let account = (tenant.clone(), account.clone());
        Ok(self.state().debounce.get(&account).copied())
    }
}

impl Usage for MemoryInbox {
    async fn count_usage(
        &self,
        tenant: &TenantId,
        _now_ms: i64,
        counts: &BTreeMap<Counter, u64>,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        let usage = state.usage.entry(tenant.clone()).or_default();
        for (counter, n) in counts {
            *usage.entry(*counter).or_default() += n;
        }
        Ok(())
    }
}
