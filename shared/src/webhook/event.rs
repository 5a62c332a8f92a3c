//! The typed events the ingest function consumes: Instagram and Messenger messaging items
//! (`entry.messaging[]`) and Instagram changes (`entry.changes[]`, or `field`/`value` directly
//! on the entry), each with the customer it concerns, a time in milliseconds and a dedupe key.
//!
//! Guarantees: ids are validated newtypes; text a person wrote (messages, comments,
//! usernames, media links) is held in [`UserContent`], whose `Debug` prints only its length,
//! so an event can be logged with `{:?}` without leaking what was said.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::ids::{CommentId, CustomerId, MediaId, MessageId};

/// Content a person wrote or sent: message and comment text, usernames, media links.
/// `Debug` shows the length only; there is no `Display`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UserContent(String);

impl UserContent {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for UserContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserContent({} bytes)", self.0.len())
    }
}

impl PartialEq<&str> for UserContent {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Where in the entry an event came from, so a rejected item can be found again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventSource {
    /// `entry.messaging[i]`
    Messaging(usize),
    /// `entry.changes[i]`
    Change(usize),
    /// `entry.standby[i]` (Messenger handover: another app owns the thread)
    Standby(usize),
    /// `field`/`value` set directly on the entry (seen in one of Meta's comment examples).
    Entry,
}

/// One thing that happened, for one connected account.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub source: EventSource,
    /// The person on the other side: the sender of an inbound message, the recipient of an
    /// echo, the author of a comment. `None` where Meta does not say (mentions, some
    /// unknown events).
    pub customer: Option<CustomerId>,
    /// True when the business itself acted (echoes, and messaging events whose sender is the
    /// connected account).
    pub by_business: bool,
    /// Milliseconds since the epoch: the event's `timestamp` for messaging items, the entry's
    /// `time` for changes (Meta sends no per-change time). Seconds are normalised to ms.
    pub timestamp_ms: i64,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A message from the customer (`message` without `is_echo`).
    Message(Message),
    /// A message the business sent, from Relay or from the Instagram / Messenger app
    /// (`message.is_echo: true`).
    Echo(Echo),
    /// `reaction`: react or unreact to a message.
    Reaction(Reaction),
    /// `read`: the customer saw messages (Instagram: up to `mid`; Messenger: a watermark).
    Read(Read),
    /// `postback`: an ice breaker or template button was tapped.
    Postback(Postback),
    /// `referral`: an ig.me / m.me link or an ad opened an existing thread.
    Referral(Referral),
    /// `message_edit`: the customer edited a message.
    MessageEdit(MessageEdit),
    /// `comments` / `live_comments` change.
    Comment(Comment),
    /// `mentions` change: the account was @mentioned in a caption or a comment.
    Mention(Mention),
    /// Anything else: kept for inspection, never an error.
    Unknown(Unknown),
}

/// The content of a `message` (inbound or echo).
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub mid: MessageId,
    pub text: Option<UserContent>,
    pub attachments: Vec<Attachment>,
    /// `quick_reply.payload`: set by the business when it offered the quick reply.
    pub quick_reply: Option<String>,
    pub reply_to: Option<ReplyTo>,
    /// Ad or link that opened the conversation (`ads_context_data` is not kept).
    pub referral: Option<Referral>,
    /// The customer unsent this message: `mid` names the message to remove.
    pub is_deleted: bool,
    /// Content Meta cannot deliver through the API (stickers, some GIFs).
    pub is_unsupported: bool,
    /// The account messaged itself.
    pub is_self: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Echo {
    pub message: Message,
    /// Messenger: the app that sent it (absent when sent from the Page inbox).
    pub app_id: Option<String>,
    /// Messenger: the `metadata` the sending app attached.
    pub metadata: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub kind: AttachmentKind,
    pub url: Option<UserContent>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachmentKind {
    Audio,
    File,
    Image,
    Share,
    StoryMention,
    Video,
    IgReel,
    Reel,
    /// Any other `type` (Messenger `template`, `fallback`, `location`, ...), or empty when
    /// Meta sent none.
    Other(String),
}

impl AttachmentKind {
    pub(crate) fn from_type(kind: &str) -> Self {
        match kind {
            "audio" => Self::Audio,
            "file" => Self::File,
            "image" => Self::Image,
            "share" => Self::Share,
            "story_mention" => Self::StoryMention,
            "video" => Self::Video,
            "ig_reel" => Self::IgReel,
            "reel" => Self::Reel,
            other => Self::Other(other.to_owned()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReplyTo {
    /// A reply to an earlier message.
    Message(MessageId),
    /// A reply to one of the account's stories.
    Story {
        id: Option<MediaId>,
        url: Option<UserContent>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReactionAction {
    React,
    Unreact,
}

impl ReactionAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::React => "react",
            Self::Unreact => "unreact",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reaction {
    /// The message reacted to.
    pub mid: MessageId,
    pub action: ReactionAction,
    /// `love`, `like`, `smile`, ..., `other`; usually absent on unreact.
    pub reaction: Option<String>,
    pub emoji: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub marker: ReadMarker,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReadMarker {
    /// Instagram: the last message seen.
    Message(MessageId),
    /// Messenger: every message sent before this time (ms) was read.
    Watermark(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Postback {
    /// Present from Graph API v11 on.
    pub mid: Option<MessageId>,
    pub title: Option<String>,
    pub payload: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referral {
    /// The `ref` parameter of the link or ad.
    pub ref_param: Option<String>,
    pub ad_id: Option<String>,
    /// `ADS`, `SHORTLINK`, ...
    pub source: Option<String>,
    /// `OPEN_THREAD`, ...
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MessageEdit {
    pub mid: MessageId,
    pub text: Option<UserContent>,
    /// How many times the message has been edited, this edit included.
    pub num_edit: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub id: CommentId,
    /// Set when this comment replies to another comment.
    pub parent_id: Option<CommentId>,
    pub username: Option<UserContent>,
    pub text: Option<UserContent>,
    pub media: Option<CommentMedia>,
    /// From `live_comments`: made during a live broadcast.
    pub live: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentMedia {
    pub id: MediaId,
    /// `FEED`, `REELS`, `STORY`, `AD`, ...
    pub product_type: Option<String>,
    /// Facebook Login: set when the comment was made on an ad.
    pub ad_id: Option<String>,
    pub original_media_id: Option<MediaId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    pub media_id: MediaId,
    /// Set when the mention is in a comment rather than in a caption.
    pub comment_id: Option<CommentId>,
}

/// An event Relay has no model for (`story_insights`, `optin`, `standby`, a new field...).
#[derive(Clone, PartialEq)]
pub struct Unknown {
    /// The messaging item's key (`optin`, `delivery`), the change's `field`, or `standby`.
    pub kind: String,
    /// The whole item as Meta sent it.
    pub raw: serde_json::Value,
}

// The raw item may hold user content.
impl fmt::Debug for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unknown")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Event {
    /// The key under which this event is stored at most once. Meta delivers at least once,
    /// so a redelivered event yields the same key. Keys hold customer ids: store them, do not
    /// log them. They are unique per connected account, not globally.
    ///
    /// - message, echo: the `mid`; a deletion `delete:<mid>` (it reuses the deleted `mid`)
    /// - edit: `edit:<mid>:<num_edit>` (`edit:<mid>:t<timestamp>` if Meta left out the count)
    /// - comment: the comment id
    /// - reaction: `react:<mid>:<customer>:<action>:<reaction>:<timestamp>`
    /// - read: `read:<mid or watermark>:<customer>`
    /// - postback: the `mid`, else `postback:<customer>:<timestamp>`
    /// - referral: `referral:<customer>:<timestamp>:<source>:<type>:<ref>`
    /// - mention: `mention:<media id>:<comment id>` (no time: `entry.time` is when Meta
    ///   sent the notification, which may change on redelivery)
    /// - unknown: `unknown:<kind>:<hash of the raw item>`
    pub fn dedupe_key(&self) -> String {
        let customer = self.customer.as_ref().map_or("", |c| c.as_str());
        let ts = self.timestamp_ms;
        match &self.kind {
            EventKind::Message(m) if m.is_deleted => format!("delete:{}", m.mid),
            EventKind::Message(m) => m.mid.as_str().to_owned(),
            EventKind::Echo(e) if e.message.is_deleted => format!("delete:{}", e.message.mid),
            EventKind::Echo(e) => e.message.mid.as_str().to_owned(),
            EventKind::MessageEdit(e) => match e.num_edit {
                Some(n) => format!("edit:{}:{n}", e.mid),
                // Without a count, the edit's time still tells edits apart.
                None => format!("edit:{}:t{ts}", e.mid),
            },
            EventKind::Comment(c) => c.id.as_str().to_owned(),
            EventKind::Reaction(r) => format!(
                "react:{}:{customer}:{}:{}:{ts}",
                r.mid,
                r.action.as_str(),
                r.reaction.as_deref().unwrap_or("")
            ),
            EventKind::Read(r) => match &r.marker {
                ReadMarker::Message(mid) => format!("read:{mid}:{customer}"),
                ReadMarker::Watermark(w) => format!("read:{w}:{customer}"),
            },
            EventKind::Postback(p) => match &p.mid {
                Some(mid) => mid.as_str().to_owned(),
                None => format!("postback:{customer}:{ts}"),
            },
            EventKind::Referral(r) => format!(
                "referral:{customer}:{ts}:{}:{}:{}",
                r.source.as_deref().unwrap_or(""),
                r.kind.as_deref().unwrap_or(""),
                r.ref_param.as_deref().unwrap_or("")
            ),
            EventKind::Mention(m) => format!(
                "mention:{}:{}",
                m.media_id,
                m.comment_id.as_ref().map_or("", |c| c.as_str())
            ),
            EventKind::Unknown(u) => {
                // serde_json's Value keeps object keys sorted, so equal items hash equally.
                let canonical = serde_json::to_vec(&u.raw).expect("a JSON value always serializes");
                let digest = Sha256::digest(&canonical);
                format!("unknown:{}:{}", u.kind, hex::encode(&digest[..16]))
            }
        }
    }
}
