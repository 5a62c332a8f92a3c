//! Persistence of the inbox: messages, conversations, contacts, comments, raw events.
//!
//! Every write here is idempotent, because Meta and SQS deliver at least once:
//! - a message is stored together with its mid pointer in one transaction whose pointer
//!   Put is conditional, so a redelivered message is detected and never stored twice;
//! - conversation times only move forward (conditional "newer than" updates), so
//!   out-of-order arrival cannot move `last_activity_at` or the 24-hour window back;
//! - reactions, edits and reads carry their event time and only a newer one applies;
//! - a change whose message is not stored yet is held on the message's mid pointer and
//!   applied by the write that stores the message (see [`Store::hold_change`]).

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::keys::{self, Key};
use super::{Index, IndexKeys, Listing, Page, SortRange, Store, StoreError, encoded, n, s};
use crate::clock::{Clock, SystemClock};
use crate::ids::{AccountId, CommentId, CustomerId, TenantId};
use crate::inbox::{
    AiOrigin, Author, Contact, Conversation, Direction, RawEvent, StoredComment, StoredMessage,
    StoredReaction,
};

/// Whether a write stored something new or met an earlier delivery of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New,
    Duplicate,
}

/// A change applied to an existing message, or why it could not be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Applied,
    /// A newer change of the same kind was applied already.
    Stale,
    /// The message is not (yet) stored.
    MessageUnknown,
}

impl Applied {
    /// The outcome of an "only if newer" write on a stored message.
    fn newer_applied(applied: bool) -> Self {
        if applied { Self::Applied } else { Self::Stale }
    }
}

/// The item under a message's mid, naming the message's key. Its fields must not be
/// called `pk`/`sk`: those are the pointer item's own key attributes, which
/// [`Store::item`] writes over the entity's fields. Before the message is stored it may
/// hold only changes that came first (`held`), and no message key.
#[derive(Serialize, Deserialize)]
struct Pointer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_sk: Option<String>,
}

/// A change that came before its message, kept (as JSON) on the message's mid pointer
/// under a name that makes a redelivered change one entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HeldChange {
    Delete,
    Reaction {
        who: String,
        reaction: StoredReaction,
    },
    Read {
        customer: CustomerId,
        read_at: i64,
    },
    Edit {
        text: Option<String>,
        num_edit: u32,
    },
}

impl HeldChange {
    /// Its entry on the pointer: one per kind and author, newest time or edit number.
    fn entry(&self) -> String {
        match self {
            Self::Delete => "delete".into(),
            Self::Reaction { who, reaction } => format!("reaction:{who}:{}", reaction.at),
            Self::Read { read_at, .. } => format!("read:{read_at}"),
            Self::Edit { num_edit, .. } => format!("edit:{num_edit}"),
        }
    }
}

/// How many times a message write is tried against a pointer whose held changes move.
const HELD_ATTEMPTS: usize = 5;

impl Store {
    /// Write an entity only if no item has its key: `Duplicate` when one does (an
    /// earlier delivery stored it).
    pub(crate) async fn record_once<T: Serialize>(
        &self,
        key: &Key,
        index: &IndexKeys,
        entity: &T,
        what: &'static str,
    ) -> Result<Recorded, StoreError> {
        match self.put_new(key, index, entity, what).await {
            Ok(()) => Ok(Recorded::New),
            Err(StoreError::Conflict { .. }) => Ok(Recorded::Duplicate),
            Err(e) => Err(e),
        }
    }

    /// Store a message once. The message and its mid pointer go in one transaction (the
    /// pointer's conditional Put is the dedupe), then the conversation and contact are
    /// brought forward. The follow-up updates are idempotent and also run for a duplicate,
    /// so a retry after a crash between the two steps completes the work.
    pub async fn record_message(
        &self,
        message: &StoredMessage,
        username: Option<&str>,
    ) -> Result<Recorded, StoreError> {
        let (t, a, c) = (
            &message.tenant_id,
            &message.account_id,
            &message.customer_id,
        );
        let msg_key = keys::message(t, a, c, message.timestamp_ms, message.mid.as_str());
        let ptr_key = keys::message_pointer(t, a, message.mid.as_str());
        let pointer = Self::item(
            &ptr_key,
            &IndexKeys::default(),
            &Pointer {
                message_pk: Some(msg_key.pk.clone()),
                message_sk: Some(msg_key.sk.clone()),
            },
        )?;
        let item = Self::item(&msg_key, &IndexKeys::default(), message)?;
        let conv_key = keys::conversation(t, a, c);
        let inbound = message.direction == crate::inbox::Direction::Inbound;
        let counters = Update::builder()
            .table_name(self.table())
            .set_key(Some(Self::key_attrs(&conv_key)))
            .update_expression(
                "ADD message_count :one, unread_count :unread \
                 SET created_at = if_not_exists(created_at, :now), tenant_id = :t, \
                 account_id = :a, customer_id = :c",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":unread", n(u8::from(inbound)))
            .expression_attribute_values(":now", n(SystemClock.now_ms()))
            .expression_attribute_values(":t", s(t.as_str()))
            .expression_attribute_values(":a", s(a.as_str()))
            .expression_attribute_values(":c", s(c.as_str()))
            .build()
            .expect("table, key and expression are set");
        let mut held: Option<AttributeValue> = None;
        let mut attempt = 0;
        let recorded = loop {
            attempt += 1;
            // The pointer's condition is the dedupe. A pointer that holds only changes
            // that came first is taken over, exactly as read, and its changes applied.
            let pointer_put = match &held {
                None => Put::builder().condition_expression("attribute_not_exists(pk)"),
                Some(changes) => Put::builder()
                    .condition_expression("attribute_not_exists(message_pk) AND held = :held")
                    .expression_attribute_values(":held", changes.clone()),
            };
            let result = self
                .client()
                .transact_write_items()
                .transact_items(
                    TransactWriteItem::builder()
                        .put(
                            pointer_put
                                .table_name(self.table())
                                .set_item(Some(pointer.clone()))
                                .build()
                                .expect("table and item are set"),
                        )
                        .build(),
                )
                .transact_items(
                    TransactWriteItem::builder()
                        .put(
                            Put::builder()
                                .table_name(self.table())
                                .set_item(Some(item.clone()))
                                .build()
                                .expect("table and item are set"),
                        )
                        .build(),
                )
                .transact_items(
                    TransactWriteItem::builder()
                        .update(counters.clone())
                        .build(),
                )
                .send()
                .await;
            match result {
                Ok(_) => break Recorded::New,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_transaction_canceled_exception()) =>
                {
                    // Only the pointer carries a condition: the mid is known (a
                    // duplicate), or changes wait on it for the message.
                    let current = self.raw_item(&ptr_key).await?;
                    match current.as_ref().and_then(|item| item.get("held")) {
                        Some(changes)
                            if !current
                                .as_ref()
                                .is_some_and(|i| i.contains_key("message_pk"))
                                && attempt < HELD_ATTEMPTS =>
                        {
                            held = Some(changes.clone());
                        }
                        _ if current
                            .as_ref()
                            .is_some_and(|i| i.contains_key("message_pk")) =>
                        {
                            break Recorded::Duplicate;
                        }
                        _ if attempt < HELD_ATTEMPTS => held = None,
                        _ => {
                            return Err(StoreError::Conflict {
                                what: "message pointer",
                            });
                        }
                    }
                }
                Err(e) => return Err(StoreError::dynamo("TransactWriteItems", e)),
            }
        };
        if recorded == Recorded::New
            && let Some(AttributeValue::M(changes)) = &held
        {
            for change in changes.values() {
                let AttributeValue::S(json) = change else {
                    continue;
                };
                let change: HeldChange =
                    serde_json::from_str(json).map_err(|e| StoreError::Decode {
                        what: "held change",
                        reason: e.to_string(),
                    })?;
                self.apply_held(t, a, message.mid.as_str(), &change).await?;
            }
        }
        self.bring_conversation_forward(message).await?;
        self.touch_contact(t, a, c, username, message.timestamp_ms)
            .await?;
        Ok(recorded)
    }

    /// Move the conversation's times forward to this message, never back.
    async fn bring_conversation_forward(&self, m: &StoredMessage) -> Result<(), StoreError> {
        let (t, a, c) = (&m.tenant_id, &m.account_id, &m.customer_id);
        let key = keys::conversation(t, a, c);
        self.update(
            &key,
            "SET last_activity_at = :t, gsi1pk = :gpk, gsi1sk = :gsk",
        )
        .condition("attribute_not_exists(last_activity_at) OR last_activity_at < :t")
        .value(":t", n(m.timestamp_ms))
        .value(":gpk", s(keys::conversations_by_activity(t, a)))
        .value(
            ":gsk",
            s(format!("{}#{}", keys::time_sk(m.timestamp_ms), c.as_str())),
        )
        .apply_if()
        .await?;
        if m.direction == crate::inbox::Direction::Inbound {
            self.update(&key, "SET last_inbound_at = :t, last_inbound_mid = :mid")
                .condition("attribute_not_exists(last_inbound_at) OR last_inbound_at < :t")
                .value(":t", n(m.timestamp_ms))
                .value(":mid", s(m.mid.as_str()))
                .apply_if()
                .await?;
        }
        Ok(())
    }

    /// Bring the contact up to this message: `first_seen_at` and `last_seen_at` span every
    /// message whatever order Meta delivers them in. The usual case (the newest message so
    /// far) is one conditional update; an older message falls back to moving
    /// `first_seen_at` back, and only if it is older still.
    async fn touch_contact(
        &self,
        t: &TenantId,
        a: &AccountId,
        c: &CustomerId,
        username: Option<&str>,
        at: i64,
    ) -> Result<(), StoreError> {
        let key = keys::contact(t, a, c);
        let mut expression = "SET tenant_id = :t, account_id = :a, customer_id = :c, \
                              first_seen_at = if_not_exists(first_seen_at, :at), \
                              last_seen_at = :at"
            .to_owned();
        if username.is_some() {
            // The newest event carries the current username.
            expression.push_str(", username = :u");
        }
        let mut latest = self
            .update(&key, expression)
            .condition("attribute_not_exists(last_seen_at) OR last_seen_at <= :at")
            .value(":t", s(t.as_str()))
            .value(":a", s(a.as_str()))
            .value(":c", s(c.as_str()))
            .value(":at", n(at));
        if let Some(name) = username {
            latest = latest.value(":u", s(name));
        }
        if latest.apply_if().await? {
            return Ok(());
        }
        self.update(&key, "SET first_seen_at = :at")
            .condition("first_seen_at > :at")
            .value(":at", n(at))
            .apply_if()
            .await?;
        Ok(())
    }

    /// The stored message with this mid, if any.
    pub async fn find_message(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        mid: &str,
    ) -> Result<Option<(Key, StoredMessage)>, StoreError> {
        let Some(pointer): Option<Pointer> = self
            .get(&keys::message_pointer(tenant, account, mid))
            .await?
        else {
            return Ok(None);
        };
        let (Some(pk), Some(sk)) = (pointer.message_pk, pointer.message_sk) else {
            // Only changes wait there: the message is not stored yet.
            return Ok(None);
        };
        let key = Key { pk, sk };
        // The pointer lives in the same tenant's partition space; check anyway so a
        // corrupted pointer can never lead across tenants.
        if !key.pk.starts_with(&format!("{}#", keys::tenant_pk(tenant))) {
            return Ok(None);
        }
        Ok(self.get(&key).await?.map(|m| (key, m)))
    }

    /// A message Relay's AI sent whose echo from Meta was stored first, as a person's:
    /// record it as the AI's. True when it changed; a message that is not an outbound
    /// message of a person (a customer's, or already the AI's) is left alone.
    pub async fn attribute_to_ai(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        mid: &str,
        origin: &AiOrigin,
    ) -> Result<bool, StoreError> {
        let Some((key, message)) = self.find_message(tenant, account, mid).await? else {
            return Ok(false);
        };
        if message.direction != Direction::Outbound || message.author != Author::Human {
            return Ok(false);
        }
        self.update(&key, "SET author = :ai, ai = :origin")
            .condition("attribute_exists(pk) AND author = :human")
            .value(":ai", encoded("author", &Author::Ai)?)
            .value(":human", encoded("author", &Author::Human)?)
            .value(":origin", encoded("ai origin", origin)?)
            .apply_if()
            .await
    }

    /// Apply a react / unreact by `who` at `reaction.at`, unless a newer one was applied.
    pub async fn apply_reaction(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        mid: &str,
        who: &str,
        reaction: &StoredReaction,
    ) -> Result<Applied, StoreError> {
        let Some((key, _)) = self.find_message(tenant, account, mid).await? else {
            return Ok(Applied::MessageUnknown);
        };
        let applied = self
            .update(&key, "SET reactions.#who = :r")
            .condition(
                "attribute_exists(pk) AND (attribute_not_exists(reactions.#who) OR reactions.#who.#at < :at)",
            )
            .name("#who", who)
            .name("#at", "at")
            .value(":r", encoded("reaction", reaction)?)
            .value(":at", n(reaction.at))
            .apply_if()
            .await?;
        Ok(Applied::newer_applied(applied))
    }

    /// Apply an edit, unless a later edit (higher `num_edit`) was applied already.
    pub async fn apply_edit(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        mid: &str,
        text: Option<&str>,
        num_edit: u32,
    ) -> Result<Applied, StoreError> {
        let Some((key, _)) = self.find_message(tenant, account, mid).await? else {
            return Ok(Applied::MessageUnknown);
        };
        let edit = match text {
            Some(text) => self
                .update(&key, "SET edit_count = :n, #text = :text")
                .name("#text", "text")
                .value(":text", s(text)),
            None => self.update(&key, "SET edit_count = :n"),
        };
        let applied = edit
            .condition("attribute_exists(pk) AND edit_count < :n AND deleted = :no")
            .value(":n", n(num_edit))
            .value(":no", AttributeValue::Bool(false))
            .apply_if()
            .await?;
        Ok(Applied::newer_applied(applied))
    }

    /// The customer unsent a message: drop its content, keep the fact.
    pub async fn apply_delete(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        mid: &str,
    ) -> Result<Applied, StoreError> {
        let Some((key, _)) = self.find_message(tenant, account, mid).await? else {
            return Ok(Applied::MessageUnknown);
        };
        self.update(&key, "SET deleted = :yes, attachments = :none REMOVE #text")
            .name("#text", "text")
            .value(":yes", AttributeValue::Bool(true))
            .value(":none", AttributeValue::L(vec![]))
            .apply()
            .await?;
        Ok(Applied::Applied)
    }

    /// The customer read up to `up_to_ms`; when the mid is known the message is marked too.
    pub async fn apply_read(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
        mid: Option<&str>,
        watermark_ms: Option<i64>,
        read_at: i64,
    ) -> Result<Applied, StoreError> {
        let mut up_to = watermark_ms;
        if let Some(mid) = mid {
            match self.find_message(tenant, account, mid).await? {
                None => return Ok(Applied::MessageUnknown),
                Some((key, message)) => {
                    up_to = Some(message.timestamp_ms);
                    // The first read is kept. A stored message holds `read_at` as NULL
                    // until then (serde writes `None` as NULL), so `if_not_exists` would
                    // never fire: test for the NULL type instead.
                    self.update(&key, "SET read_at = :at")
                        .condition(
                            "attribute_not_exists(read_at) OR attribute_type(read_at, :null)",
                        )
                        .value(":at", n(read_at))
                        .value(":null", s("NULL"))
                        .apply_if()
                        .await?;
                }
            }
        }
        let Some(up_to) = up_to else {
            return Ok(Applied::Stale);
        };
        let applied = self
            .update(
                &keys::conversation(tenant, account, customer),
                "SET customer_read_up_to = :t, unread_count = :zero",
            )
            .condition(
                "attribute_exists(pk) AND (attribute_not_exists(customer_read_up_to) OR customer_read_up_to < :t)",
            )
            .value(":t", n(up_to))
            .value(":zero", n(0))
            .apply_if()
            .await?;
        Ok(Applied::newer_applied(applied))
    }

    /// Keep a change whose message is not stored yet on the message's mid pointer, until
    /// `ttl_epoch_seconds`; the write that stores the message applies it. `Applied` when
    /// the message was stored meanwhile and the change was applied to it instead.
    pub async fn hold_change(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        mid: &str,
        change: &HeldChange,
        ttl_epoch_seconds: i64,
    ) -> Result<Applied, StoreError> {
        let key = keys::message_pointer(tenant, account, mid);
        let json = serde_json::to_string(change).map_err(|e| StoreError::Decode {
            what: "held change",
            reason: e.to_string(),
        })?;
        // A map to hold them first (a path into a missing map is an error), then the entry.
        let held = self
            .update(&key, "SET held = if_not_exists(held, :none), #ttl = :ttl")
            .condition("attribute_not_exists(message_pk)")
            .name("#ttl", "ttl")
            .value(":none", AttributeValue::M(Default::default()))
            .value(":ttl", n(ttl_epoch_seconds))
            .apply_if()
            .await?
            && self
                .update(&key, "SET held.#entry = :change")
                .condition("attribute_not_exists(message_pk)")
                .name("#entry", change.entry())
                .value(":change", s(json))
                .apply_if()
                .await?;
        if held {
            return Ok(Applied::MessageUnknown);
        }
        self.apply_held(tenant, account, mid, change).await
    }

    /// Apply a held change to the stored message `mid`.
    async fn apply_held(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        mid: &str,
        change: &HeldChange,
    ) -> Result<Applied, StoreError> {
        match change {
            HeldChange::Delete => self.apply_delete(tenant, account, mid).await,
            HeldChange::Reaction { who, reaction } => {
                self.apply_reaction(tenant, account, mid, who, reaction)
                    .await
            }
            HeldChange::Read { customer, read_at } => {
                self.apply_read(tenant, account, customer, Some(mid), None, *read_at)
                    .await
            }
            HeldChange::Edit { text, num_edit } => {
                self.apply_edit(tenant, account, mid, text.as_deref(), *num_edit)
                    .await
            }
        }
    }

    /// Note that the follow-up jobs for a message were queued.
    pub async fn mark_jobs_enqueued(&self, key: &Key) -> Result<(), StoreError> {
        self.update(key, "SET jobs_enqueued = :yes")
            .condition("attribute_exists(pk)")
            .value(":yes", AttributeValue::Bool(true))
            .apply()
            .await
    }

    pub async fn get_conversation(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Option<Conversation>, StoreError> {
        self.get(&keys::conversation(tenant, account, customer))
            .await
    }

    /// An account's conversations, most recently active first.
    pub async fn list_conversations(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        listing: &Listing,
    ) -> Result<Page<Conversation>, StoreError> {
        self.query(
            Some(Index::Gsi1),
            &keys::conversations_by_activity(tenant, account),
            &SortRange::All,
            &listing.descending(),
        )
        .await
    }

    /// An account's conversations last active before `before` (a `<ms>#<customer>`
    /// position, exclusive), most recent first: keyset pages that can be merged across
    /// accounts.
    pub async fn conversations_before(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        before: Option<&str>,
        limit: i32,
    ) -> Result<Vec<Conversation>, StoreError> {
        let range = match before {
            Some(position) => SortRange::Before(position.to_owned()),
            None => SortRange::All,
        };
        let page: Page<Conversation> = self
            .query(
                Some(Index::Gsi1),
                &keys::conversations_by_activity(tenant, account),
                &range,
                &Listing {
                    limit,
                    newest_first: true,
                    cursor: None,
                },
            )
            .await?;
        Ok(page.items)
    }

    /// Assign a conversation to a team member (None: unassign). False when there is no
    /// such conversation.
    pub async fn assign_conversation(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
        assignee: Option<&str>,
    ) -> Result<bool, StoreError> {
        let key = keys::conversation(tenant, account, customer);
        let update = match assignee {
            Some(who) => self
                .update(&key, "SET assigned_to = :who")
                .value(":who", s(who)),
            None => self.update(&key, "REMOVE assigned_to"),
        };
        update.condition("attribute_exists(pk)").apply_if().await
    }

    /// A person read the conversation: nothing is unread. False when there is no such
    /// conversation.
    pub async fn mark_conversation_read(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<bool, StoreError> {
        self.update(
            &keys::conversation(tenant, account, customer),
            "SET unread_count = :zero",
        )
        .condition("attribute_exists(pk)")
        .value(":zero", n(0))
        .apply_if()
        .await
    }

    /// A conversation's messages in event-time order.
    pub async fn list_messages(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
        listing: &Listing,
    ) -> Result<Page<StoredMessage>, StoreError> {
        self.query(
            None,
            &keys::conversation_messages_pk(tenant, account, customer),
            &SortRange::Prefix("MSG#".into()),
            listing,
        )
        .await
    }

    pub async fn get_contact(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<Option<Contact>, StoreError> {
        self.get(&keys::contact(tenant, account, customer)).await
    }

    /// Pause automated replies for a conversation (human takeover or escalation).
    /// Returns false when it was already paused.
    pub async fn pause_conversation(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
        reason: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        self.update(
            &keys::conversation(tenant, account, customer),
            "SET paused = :yes, paused_reason = :r, paused_at = :at, tenant_id = :t, \
             account_id = :a, customer_id = :c, created_at = if_not_exists(created_at, :at)",
        )
        .condition("attribute_not_exists(paused) OR paused = :no")
        .value(":yes", AttributeValue::Bool(true))
        .value(":no", AttributeValue::Bool(false))
        .value(":r", s(reason))
        .value(":at", n(at))
        .value(":t", s(tenant.as_str()))
        .value(":a", s(account.as_str()))
        .value(":c", s(customer.as_str()))
        .apply_if()
        .await
    }

    /// A person resumes automated replies.
    pub async fn resume_conversation(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
    ) -> Result<(), StoreError> {
        self.update(
            &keys::conversation(tenant, account, customer),
            "SET paused = :no REMOVE paused_reason, paused_at",
        )
        .condition("attribute_exists(pk)")
        .value(":no", AttributeValue::Bool(false))
        .apply()
        .await
    }

    /// Store a comment once (the comment id is the dedupe key).
    pub async fn record_comment(&self, comment: &StoredComment) -> Result<Recorded, StoreError> {
        let (t, a) = (&comment.tenant_id, &comment.account_id);
        self.record_once(
            &keys::comment(t, a, &comment.comment_id),
            &comment_index(comment),
            comment,
            "comment",
        )
        .await
    }

    pub async fn get_comment(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        comment: &CommentId,
    ) -> Result<Option<StoredComment>, StoreError> {
        self.get(&keys::comment(tenant, account, comment)).await
    }

    /// An account's comments with one status, newest first.
    pub async fn list_comments_by_status(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        status: crate::inbox::CommentStatus,
        listing: &Listing,
    ) -> Result<Page<StoredComment>, StoreError> {
        self.query(
            Some(Index::Gsi1),
            &keys::comments_by_status(tenant, account, status.as_str()),
            &SortRange::All,
            &listing.descending(),
        )
        .await
    }

    /// Comments on one of an account's media, newest first.
    pub async fn list_comments_by_media(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        media: &crate::ids::MediaId,
        listing: &Listing,
    ) -> Result<Page<StoredComment>, StoreError> {
        self.query(
            Some(Index::Gsi2),
            &keys::comments_by_media(tenant, account, media),
            &SortRange::All,
            &listing.descending(),
        )
        .await
    }

    /// Keep an event without a model of its own, once.
    pub async fn record_raw_event(
        &self,
        event: &RawEvent,
        ttl_epoch_seconds: i64,
    ) -> Result<Recorded, StoreError> {
        let key = keys::raw_event(
            &event.tenant_id,
            &event.account_id,
            event.timestamp_ms,
            &event.dedupe_key,
        );
        let index = IndexKeys {
            ttl: Some(ttl_epoch_seconds),
            ..IndexKeys::default()
        };
        self.record_once(&key, &index, event, "raw event").await
    }

    /// An account's raw events in time order.
    pub async fn list_raw_events(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        listing: &Listing,
    ) -> Result<Page<RawEvent>, StoreError> {
        let partition = keys::raw_event(tenant, account, 0, "").pk;
        self.query(
            None,
            &partition,
            &SortRange::Prefix("EVENT#".into()),
            listing,
        )
        .await
    }
}

/// The index keys a comment is listed under: by status (GSI1) and by media (GSI2),
/// both in time order.
pub(crate) fn comment_index(comment: &StoredComment) -> IndexKeys {
    let (t, a) = (&comment.tenant_id, &comment.account_id);
    let order = format!(
        "{}#{}",
        keys::time_sk(comment.created_at),
        comment.comment_id
    );
    IndexKeys {
        gsi1: Some((
            keys::comments_by_status(t, a, comment.status.as_str()),
            order.clone(),
        )),
        gsi2: comment
            .media_id
            .as_ref()
            .map(|m| (keys::comments_by_media(t, a, m), order)),
        ttl: None,
    }
}
