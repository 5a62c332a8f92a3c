//! Meta webhooks, from the HTTP request to typed events. Pure: no I/O, no clock.
//!
//! Two functions use this module:
//! - the webhook function checks `X-Hub-Signature-256` over the raw body
//!   ([`verify_signature`]), answers the subscription handshake ([`verify_subscription`]),
//!   takes a cheap first look at the body ([`parse_envelope`]: platform and entries, the
//!   events stay untouched bytes) and turns every entry into SQS message bodies that fit
//!   the SQS limits ([`queue_messages`], [`batches`]);
//! - the ingest function turns one SQS message body back into typed events
//!   ([`parse_queue_message`]), keeping the good events of an entry when one is malformed.
//!
//! Guarantees: bytes Meta signed are forwarded unchanged (entries are never re-serialised);
//! every event of an accepted entry reaches exactly one queue message; no error `Display`
//! carries message text, customer ids or secrets.

pub mod envelope;
pub mod event;
mod json;
pub mod parse;
pub mod queue;
pub mod signature;

pub use envelope::{Delivery, Entry, Envelope, EnvelopeError, InvalidEntry, parse_envelope};
pub use event::{
    Attachment, AttachmentKind, Comment, CommentMedia, Echo, Event, EventKind, EventSource,
    Mention, Message, MessageEdit, Postback, Reaction, ReactionAction, Read, ReadMarker, Referral,
    ReplyTo, Unknown, UserContent,
};
pub use parse::{InboundEntry, ParseError, RejectedEvent, parse_queue_message};
pub use queue::{Batch, Outbox, QueueError, QueueLimits, QueueMessage, batches, queue_messages};
pub use signature::{
    HandshakeError, SIGNATURE_HEADER, SignatureError, sign, verify_signature, verify_subscription,
};

/// Which Meta product an update comes from; fixed by the envelope's `object`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// `object: "instagram"`: Instagram DMs, comments, mentions.
    Instagram,
    /// `object: "page"`: Messenger conversations of a Facebook Page.
    Messenger,
}

impl Platform {
    /// The envelope `object` value Meta uses for this platform.
    pub fn object(self) -> &'static str {
        match self {
            Platform::Instagram => "instagram",
            Platform::Messenger => "page",
        }
    }

    /// The platform for an envelope `object`, or `None` for objects Relay does not handle
    /// (`user`, `permissions`, `whatsapp_business_account`, ...).
    pub fn from_object(object: &str) -> Option<Self> {
        match object {
            "instagram" => Some(Platform::Instagram),
            "page" => Some(Platform::Messenger),
            _ => None,
        }
    }
}

#[cfg(test)]
mod fixtures;
