//! The inbox: contacts, conversations, messages and comments, and the rules that apply to
//! them without any I/O. [`ingest`] is the workflow that fills it from webhooks, through
//! the small ports it names.
//!
//! A conversation is one customer talking to one connected account. Messages are kept in
//! event-time order whatever order Meta delivered them in. A human can always take over:
//! an echo (a message the business sent from the Instagram or Messenger app) whose text is
//! exactly "..." or "…" pauses automated replies for that conversation.

pub mod ingest;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, CommentId, CustomerId, MediaId, MessageId, TenantId};
pub use crate::moderation::label::CommentStatus;
use crate::moderation::label::{Label, status_of};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Author {
    /// The customer (an inbound message).
    Customer,
    /// A person at the business, from the Instagram / Messenger app or Relay's inbox.
    Human,
    /// Relay's AI.
    Ai,
}

impl Author {
    /// A customer's message comes in; everyone else's goes out.
    pub fn direction(self) -> Direction {
        match self {
            Self::Customer => Direction::Inbound,
            Self::Human | Self::Ai => Direction::Outbound,
        }
    }
}

/// Whether a message came in or went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// What kind of message it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Text,
    /// Attachments only (text may still be present on some kinds).
    Attachment,
    /// A button tap (ice breaker, template button).
    Postback,
    /// Content Meta cannot deliver through the API (stickers, some GIFs).
    Unsupported,
}

/// An attachment, kept as Meta's CDN URL (never downloaded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAttachment {
    pub kind: String,
    pub url: Option<String>,
}

/// One reaction on a message, by one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReaction {
    /// None once the person took the reaction back (unreact).
    pub reaction: Option<String>,
    pub emoji: Option<String>,
    /// Event time (ms) of the latest react/unreact applied: older ones are ignored.
    pub at: i64,
}

/// How an AI reply was produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiOrigin {
    pub model: String,
    pub latency_ms: u64,
}

/// A message as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub tenant_id: TenantId,
    pub account_id: AccountId,
    pub customer_id: CustomerId,
    pub mid: MessageId,
    pub direction: Direction,
    pub author: Author,
    pub kind: MessageKind,
    pub text: Option<String>,
    #[serde(default)]
    pub attachments: Vec<StoredAttachment>,
    pub reply_to_mid: Option<String>,
    pub reply_to_story: Option<String>,
    pub quick_reply: Option<String>,
    pub postback_payload: Option<String>,
    pub referral_ref: Option<String>,
    pub referral_ad_id: Option<String>,
    /// Event time in milliseconds (Meta's `timestamp`).
    pub timestamp_ms: i64,
    /// When Relay stored it (ms).
    pub received_at: i64,
    /// Reactions by who reacted (`customer` or `business`).
    #[serde(default)]
    pub reactions: BTreeMap<String, StoredReaction>,
    pub read_at: Option<i64>,
    #[serde(default)]
    pub edit_count: u32,
    #[serde(default)]
    pub deleted: bool,
    pub ai: Option<AiOrigin>,
    /// Set once the follow-up jobs (AI reply) for this message were queued.
    #[serde(default)]
    pub jobs_enqueued: bool,
}

impl StoredMessage {
    /// A text message of `author` at `timestamp_ms`, with no content yet: inbound when the
    /// customer wrote it, outbound otherwise; received when it was written (set
    /// `received_at` for one that arrived later), and nothing has happened to it since (no
    /// reaction, read, edit or follow-up job). Callers add the content.
    pub fn new(
        tenant_id: TenantId,
        account_id: AccountId,
        customer_id: CustomerId,
        mid: MessageId,
        author: Author,
        timestamp_ms: i64,
    ) -> Self {
        Self {
            tenant_id,
            account_id,
            customer_id,
            mid,
            direction: author.direction(),
            author,
            kind: MessageKind::Text,
            text: None,
            attachments: Vec::new(),
            reply_to_mid: None,
            reply_to_story: None,
            quick_reply: None,
            postback_payload: None,
            referral_ref: None,
            referral_ad_id: None,
            timestamp_ms,
            received_at: timestamp_ms,
            reactions: BTreeMap::new(),
            read_at: None,
            edit_count: 0,
            deleted: false,
            ai: None,
            jobs_enqueued: false,
        }
    }
}

/// Automated replies for an account or a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AiMode {
    /// No AI at all.
    #[default]
    Off,
    /// Draft a suggestion a person approves, edits or discards; nothing is sent.
    Shadow,
    /// Send replies.
    Auto,
}

/// A conversation as stored. Counters and times are maintained by idempotent updates,
/// so every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Conversation {
    pub tenant_id: Option<TenantId>,
    pub account_id: Option<AccountId>,
    pub customer_id: Option<CustomerId>,
    /// Latest event time (ms) of any message, either way.
    pub last_activity_at: i64,
    /// Latest customer message time (ms): Meta's 24-hour window runs from it.
    pub last_inbound_at: Option<i64>,
    pub last_inbound_mid: Option<String>,
    pub unread_count: u64,
    pub message_count: u64,
    /// Per-conversation AI mode; None follows the account's.
    pub ai_mode: Option<AiMode>,
    /// Automated replies are paused until a person resumes them.
    pub paused: bool,
    pub paused_reason: Option<String>,
    pub paused_at: Option<i64>,
    /// The customer has read everything up to this time (ms).
    pub customer_read_up_to: Option<i64>,
    pub created_at: i64,
    /// The team member the conversation is assigned to (free text: a name, an e-mail,
    /// a key id); None is unassigned.
    pub assigned_to: Option<String>,
}

/// A contact: a customer of one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub tenant_id: TenantId,
    pub account_id: AccountId,
    pub customer_id: CustomerId,
    pub username: Option<String>,
    pub first_seen_at: i64,
    pub last_seen_at: i64,
}

/// A comment on one of the account's media.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredComment {
    pub tenant_id: TenantId,
    pub account_id: AccountId,
    pub comment_id: CommentId,
    pub parent_id: Option<CommentId>,
    pub media_id: Option<MediaId>,
    pub media_product_type: Option<String>,
    /// The commenter's id (a customer id in Meta's terms).
    pub from_id: Option<CustomerId>,
    pub username: Option<String>,
    pub text: Option<String>,
    pub live: bool,
    pub status: CommentStatus,
    pub created_at: i64,
    pub received_at: i64,
    /// What moderation found (empty until classified, and for clean comments).
    #[serde(default)]
    pub labels: Vec<Label>,
    /// Why, in Relay's vocabulary (never the text).
    #[serde(default)]
    pub signals: Vec<String>,
    #[serde(default)]
    pub spam_score: u32,
    /// The labels are on the audit trail (kept so a retry audits what a crash skipped).
    #[serde(default)]
    pub tag_audited: bool,
    /// When the automatic pass classified it; None while it has not.
    #[serde(default)]
    pub moderated_at: Option<i64>,
    /// The automatic pass decided to hide it (kept so a retry finishes the job).
    #[serde(default)]
    pub auto_hide: bool,
    /// Hidden at Meta right now.
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub replied_at: Option<i64>,
    /// The business's public replies under it.
    #[serde(default)]
    pub reply_ids: Vec<CommentId>,
    #[serde(default)]
    pub private_replied_at: Option<i64>,
    #[serde(default)]
    pub deleted_at: Option<i64>,
    /// Bumped by every change after it was first stored (optimistic concurrency).
    #[serde(default)]
    pub revision: u64,
}

impl StoredComment {
    /// The status its labels and state give it.
    pub fn derived_status(&self) -> CommentStatus {
        status_of(
            &self.labels,
            self.hidden,
            self.replied_at.is_some() || self.private_replied_at.is_some(),
            self.deleted_at.is_some(),
        )
    }
}

/// An event Relay keeps without a model of its own (mentions, referrals without a
/// message, unknown kinds, and reactions or reads whose message never arrived).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawEvent {
    pub tenant_id: TenantId,
    pub account_id: AccountId,
    pub kind: String,
    pub dedupe_key: String,
    pub timestamp_ms: i64,
    /// The item as Meta sent it (JSON text).
    pub raw: String,
}

/// True when a message the business sent is the human-takeover marker: exactly "..." or
/// "…" (surrounding white space ignored).
pub fn is_takeover_marker(text: &str) -> bool {
    matches!(text.trim(), "..." | "\u{2026}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takeover_marker_is_exactly_three_dots_or_an_ellipsis() {
        for yes in ["...", "…", " ... ", "…\n"] {
            assert!(is_takeover_marker(yes), "{yes:?} should pause the AI");
        }
        for no in ["..", "....", "ok...", "… ok", "", ". . ."] {
            assert!(!is_takeover_marker(no), "{no:?} should not pause the AI");
        }
    }
}
