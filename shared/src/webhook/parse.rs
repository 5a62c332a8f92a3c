//! One SQS message body (`{"object": ..., "entry": {...}}`, see [`super::queue`]) to typed
//! events, for the ingest function.
//!
//! Guarantees: a malformed event does not lose its neighbours: the good events come back in
//! [`InboundEntry::events`], the bad ones in [`InboundEntry::rejected`] with their raw bytes
//! so they can be stored for inspection; only an entry that cannot be attributed to an
//! account (no id, no time, not JSON) fails as a whole. Unknown event kinds are kept as
//! [`EventKind::Unknown`]. Error messages name fields, never their values.

use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::Platform;
use super::event::{
    Attachment, AttachmentKind, Comment, CommentMedia, Echo, Event, EventKind, EventSource,
    Mention, Message, MessageEdit, Postback, Reaction, ReactionAction, Read, ReadMarker, Referral,
    ReplyTo, Unknown, UserContent,
};
use super::json::{self, FlexId, JsonFault, Text};
use crate::ids::{AccountId, CommentId, CustomerId, IdError, MediaId, MessageId};

/// Why an entry, or one event in it, could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("queue message is not valid JSON (line {line}, column {column})")]
    InvalidJson { line: usize, column: usize },
    /// `path` is relative to the queue message for entry-level errors (`entry.messaging`),
    /// and to the event for rejected events (`message.text`); `.` is the item itself.
    #[error("unexpected JSON type at `{0}`")]
    WrongType(String),
    #[error("required field `{0}` is missing")]
    MissingField(&'static str),
    #[error("`{field}` is not a valid id: {source}")]
    InvalidId {
        field: &'static str,
        source: IdError,
    },
    #[error("`{0}` has a value outside the documented set")]
    UnexpectedValue(&'static str),
    #[error("object is neither \"instagram\" nor \"page\"")]
    UnsupportedObject,
}

impl ParseError {
    fn from_fault(fault: JsonFault, prefix: &str) -> Self {
        match fault {
            JsonFault::Syntax { line, column } => ParseError::InvalidJson { line, column },
            JsonFault::Shape { path, .. } if prefix.is_empty() => ParseError::WrongType(path),
            JsonFault::Shape { path, .. } if path == "." => {
                ParseError::WrongType(prefix.to_owned())
            }
            JsonFault::Shape { path, .. } => ParseError::WrongType(format!("{prefix}.{path}")),
        }
    }
}

/// One entry, typed.
#[derive(Debug)]
pub struct InboundEntry {
    pub platform: Platform,
    /// `entry.id`: the Instagram professional account or Facebook Page the events are for.
    pub account_id: AccountId,
    /// `entry.time` as sent (when Meta sent the notification; milliseconds for messaging,
    /// seconds for Instagram changes).
    pub time: i64,
    /// Parsed events in payload order (messaging, then changes, then standby). Meta does not
    /// guarantee order: sort by [`Event::timestamp_ms`] before applying them.
    pub events: Vec<Event>,
    /// Events that did not parse, with the reason and their raw JSON.
    pub rejected: Vec<RejectedEvent>,
}

/// An event that could not be parsed. `raw` is the item exactly as Meta sent it (for the
/// flat comment form, the whole entry): store it for inspection, do not log it.
pub struct RejectedEvent {
    pub source: EventSource,
    pub error: ParseError,
    pub raw: Box<RawValue>,
}

impl fmt::Debug for RejectedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RejectedEvent")
            .field("source", &self.source)
            .field("error", &self.error)
            .field("bytes", &self.raw.get().len())
            .finish()
    }
}

/// Parses one queue message body into the entry's events.
pub fn parse_queue_message(body: &str) -> Result<InboundEntry, ParseError> {
    let wire: WireBody = json::from_str(body).map_err(|f| ParseError::from_fault(f, ""))?;
    let object = wire.object.ok_or(ParseError::MissingField("object"))?;
    let platform = Platform::from_object(&object.0).ok_or(ParseError::UnsupportedObject)?;
    let entry_raw = wire.entry.ok_or(ParseError::MissingField("entry"))?;
    let entry: WireEntry =
        json::from_str(entry_raw.get()).map_err(|f| ParseError::from_fault(f, "entry"))?;
    let account_id = id(entry.id, "entry.id", AccountId::parse)?;
    let time = entry.time.ok_or(ParseError::MissingField("entry.time"))?;

    let mut parsed = InboundEntry {
        platform,
        account_id,
        time,
        events: Vec::with_capacity(
            entry.messaging.as_ref().map_or(0, Vec::len)
                + entry.changes.as_ref().map_or(0, Vec::len),
        ),
        rejected: Vec::new(),
    };
    let entry_ms = to_millis(time);
    let account = parsed.account_id.clone();

    for (i, item) in entry.messaging.iter().flatten().enumerate() {
        let source = EventSource::Messaging(i);
        parsed.push(source, item, messaging_event(item, &account, source));
    }
    for (i, item) in entry.changes.iter().flatten().enumerate() {
        let source = EventSource::Change(i);
        let event = json::from_str::<WireChange>(item.get())
            .map_err(|f| ParseError::from_fault(f, ""))
            .and_then(|change| {
                change_event(change.field, change.value, item, &account, entry_ms, source)
            });
        parsed.push(source, item, event);
    }
    if entry.field.is_some() || entry.value.is_some() {
        let source = EventSource::Entry;
        let event = change_event(
            entry.field,
            entry.value,
            entry_raw,
            &account,
            entry_ms,
            source,
        );
        parsed.push(source, entry_raw, event);
    }
    for (i, item) in entry.standby.iter().flatten().enumerate() {
        let source = EventSource::Standby(i);
        parsed.push(source, item, standby_event(item, &account, source));
    }
    Ok(parsed)
}

impl InboundEntry {
    fn push(&mut self, source: EventSource, raw: &RawValue, event: Result<Event, ParseError>) {
        match event {
            Ok(event) => self.events.push(event),
            Err(error) => self.rejected.push(RejectedEvent {
                source,
                error,
                raw: raw.to_owned(),
            }),
        }
    }
}

/// Meta sends milliseconds for messaging and seconds for some `entry.time` values. Any
/// millisecond time after March 1973 is at least 1e11, and 1e11 seconds is 5138 AD.
fn to_millis(t: i64) -> i64 {
    if (0..100_000_000_000).contains(&t) {
        t * 1000
    } else {
        t
    }
}

fn id<T>(
    value: Option<FlexId<'_>>,
    field: &'static str,
    parse: fn(String) -> Result<T, IdError>,
) -> Result<T, ParseError> {
    let value = value.ok_or(ParseError::MissingField(field))?;
    parse(value.0.into_owned()).map_err(|source| ParseError::InvalidId { field, source })
}

fn optional_id<T>(
    value: Option<FlexId<'_>>,
    field: &'static str,
    parse: fn(String) -> Result<T, IdError>,
) -> Result<Option<T>, ParseError> {
    value.map(|v| id(Some(v), field, parse)).transpose()
}

fn message_id(value: Option<String>, field: &'static str) -> Result<MessageId, ParseError> {
    let value = value.ok_or(ParseError::MissingField(field))?;
    MessageId::parse(value).map_err(|source| ParseError::InvalidId { field, source })
}

// ---------------------------------------------------------------------------------------
// Wire shapes: everything optional, so presence is checked here with precise errors and a
// type mismatch names its path.

#[derive(Deserialize)]
struct WireBody<'a> {
    #[serde(borrow)]
    object: Option<Text<'a>>,
    #[serde(borrow)]
    entry: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireEntry<'a> {
    #[serde(borrow)]
    id: Option<FlexId<'a>>,
    time: Option<i64>,
    #[serde(borrow)]
    messaging: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    changes: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    standby: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    field: Option<Text<'a>>,
    #[serde(borrow)]
    value: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireParty<'a> {
    #[serde(borrow)]
    id: Option<FlexId<'a>>,
}

#[derive(Deserialize)]
struct WireMessaging<'a> {
    #[serde(borrow)]
    sender: Option<WireParty<'a>>,
    #[serde(borrow)]
    recipient: Option<WireParty<'a>>,
    timestamp: Option<i64>,
    #[serde(borrow)]
    message: Option<WireMessage<'a>>,
    message_edit: Option<WireEdit>,
    reaction: Option<WireReaction>,
    read: Option<WireRead>,
    postback: Option<WirePostback>,
    #[serde(borrow)]
    referral: Option<WireReferral<'a>>,
}

#[derive(Deserialize)]
struct WireMessage<'a> {
    mid: Option<String>,
    text: Option<String>,
    attachments: Option<Vec<WireAttachment>>,
    quick_reply: Option<WireQuickReply>,
    #[serde(borrow)]
    reply_to: Option<WireReplyTo<'a>>,
    #[serde(borrow)]
    referral: Option<WireReferral<'a>>,
    is_echo: Option<bool>,
    is_deleted: Option<bool>,
    is_unsupported: Option<bool>,
    is_self: Option<bool>,
    #[serde(borrow)]
    app_id: Option<FlexId<'a>>,
    metadata: Option<String>,
}

#[derive(Deserialize)]
struct WireAttachment {
    #[serde(rename = "type")]
    kind: Option<String>,
    payload: Option<WireAttachmentPayload>,
}

#[derive(Deserialize)]
struct WireAttachmentPayload {
    url: Option<String>,
}

#[derive(Deserialize)]
struct WireQuickReply {
    payload: Option<String>,
}

#[derive(Deserialize)]
struct WireReplyTo<'a> {
    mid: Option<String>,
    #[serde(borrow)]
    story: Option<WireStory<'a>>,
}

#[derive(Deserialize)]
struct WireStory<'a> {
    url: Option<String>,
    #[serde(borrow)]
    id: Option<FlexId<'a>>,
}

#[derive(Deserialize)]
struct WireReferral<'a> {
    #[serde(rename = "ref")]
    ref_param: Option<String>,
    #[serde(borrow)]
    ad_id: Option<FlexId<'a>>,
    source: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct WireEdit {
    mid: Option<String>,
    text: Option<String>,
    num_edit: Option<u32>,
}

#[derive(Deserialize)]
struct WireReaction {
    mid: Option<String>,
    action: Option<String>,
    reaction: Option<String>,
    emoji: Option<String>,
}

#[derive(Deserialize)]
struct WireRead {
    mid: Option<String>,
    watermark: Option<i64>,
}

#[derive(Deserialize)]
struct WirePostback {
    mid: Option<String>,
    title: Option<String>,
    payload: Option<String>,
}

#[derive(Deserialize)]
struct WireChange<'a> {
    #[serde(borrow)]
    field: Option<Text<'a>>,
    #[serde(borrow)]
    value: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireComment<'a> {
    /// Instagram Login.
    #[serde(borrow)]
    id: Option<FlexId<'a>>,
    /// Facebook Login.
    #[serde(borrow)]
    comment_id: Option<FlexId<'a>>,
    #[serde(borrow)]
    parent_id: Option<FlexId<'a>>,
    #[serde(borrow)]
    from: Option<WireFrom<'a>>,
    text: Option<String>,
    #[serde(borrow)]
    media: Option<WireMedia<'a>>,
}

#[derive(Deserialize)]
struct WireFrom<'a> {
    #[serde(borrow)]
    id: Option<FlexId<'a>>,
    username: Option<String>,
}

#[derive(Deserialize)]
struct WireMedia<'a> {
    #[serde(borrow)]
    id: Option<FlexId<'a>>,
    media_product_type: Option<String>,
    #[serde(borrow)]
    ad_id: Option<FlexId<'a>>,
    #[serde(borrow)]
    original_media_id: Option<FlexId<'a>>,
}

#[derive(Deserialize)]
struct WireMention<'a> {
    #[serde(borrow)]
    media_id: Option<FlexId<'a>>,
    #[serde(borrow)]
    comment_id: Option<FlexId<'a>>,
}

// ---------------------------------------------------------------------------------------
// Messaging items

fn messaging_event(
    item: &RawValue,
    account: &AccountId,
    source: EventSource,
) -> Result<Event, ParseError> {
    let wire: WireMessaging =
        json::from_str(item.get()).map_err(|f| ParseError::from_fault(f, ""))?;
    let known = wire.message.is_some()
        || wire.message_edit.is_some()
        || wire.reaction.is_some()
        || wire.read.is_some()
        || wire.postback.is_some()
        || wire.referral.is_some();
    if !known {
        return unknown_messaging(item, wire, account, source, "messaging");
    }
    let timestamp_ms = to_millis(
        wire.timestamp
            .ok_or(ParseError::MissingField("timestamp"))?,
    );
    let is_echo = wire
        .message
        .as_ref()
        .is_some_and(|m| m.is_echo == Some(true));
    let (customer, by_business) = counterpart(wire.sender, wire.recipient, account, is_echo)?;
    let kind = if let Some(message) = wire.message {
        let (app_id, metadata) = (message.app_id.clone(), message.metadata.clone());
        let message = parse_message(message)?;
        if is_echo {
            EventKind::Echo(Echo {
                message,
                app_id: app_id.map(|a| a.0.into_owned()),
                metadata,
            })
        } else {
            EventKind::Message(message)
        }
    } else if let Some(edit) = wire.message_edit {
        EventKind::MessageEdit(MessageEdit {
            mid: message_id(edit.mid, "message_edit.mid")?,
            text: edit.text.map(UserContent::new),
            num_edit: edit.num_edit,
        })
    } else if let Some(reaction) = wire.reaction {
        EventKind::Reaction(parse_reaction(reaction)?)
    } else if let Some(read) = wire.read {
        let marker = match (read.mid, read.watermark) {
            (Some(mid), _) => ReadMarker::Message(message_id(Some(mid), "read.mid")?),
            (None, Some(watermark)) => ReadMarker::Watermark(watermark),
            (None, None) => return Err(ParseError::MissingField("read.mid")),
        };
        EventKind::Read(Read { marker })
    } else if let Some(postback) = wire.postback {
        EventKind::Postback(Postback {
            mid: postback
                .mid
                .map(|m| message_id(Some(m), "postback.mid"))
                .transpose()?,
            title: postback.title,
            payload: postback.payload,
        })
    } else if let Some(referral) = wire.referral {
        EventKind::Referral(parse_referral(referral))
    } else {
        unreachable!("`known` checked that one of the handled keys is present")
    };
    Ok(Event {
        source,
        customer: Some(customer),
        by_business,
        timestamp_ms,
        kind,
    })
}

/// The customer of a messaging item, and whether the business acted. Echoes are sent by the
/// business (sender = account, recipient = customer). Other events normally come from the
/// customer, but if the sender is the connected account itself the counterpart is the
/// recipient, so the event still lands in the right conversation.
fn counterpart(
    sender: Option<WireParty<'_>>,
    recipient: Option<WireParty<'_>>,
    account: &AccountId,
    is_echo: bool,
) -> Result<(CustomerId, bool), ParseError> {
    let sender = sender
        .and_then(|p| p.id)
        .ok_or(ParseError::MissingField("sender.id"))?;
    let by_business = is_echo || sender.as_str() == account.as_str();
    if by_business {
        let recipient = recipient.and_then(|p| p.id);
        Ok((id(recipient, "recipient.id", CustomerId::parse)?, true))
    } else {
        Ok((id(Some(sender), "sender.id", CustomerId::parse)?, false))
    }
}

fn parse_message(wire: WireMessage<'_>) -> Result<Message, ParseError> {
    let reply_to = match wire.reply_to {
        Some(WireReplyTo { mid: Some(mid), .. }) => Some(ReplyTo::Message(message_id(
            Some(mid),
            "message.reply_to.mid",
        )?)),
        Some(WireReplyTo {
            story: Some(story), ..
        }) => Some(ReplyTo::Story {
            id: optional_id(story.id, "message.reply_to.story.id", MediaId::parse)?,
            url: story.url.map(UserContent::new),
        }),
        _ => None,
    };
    Ok(Message {
        mid: message_id(wire.mid, "message.mid")?,
        text: wire.text.map(UserContent::new),
        attachments: wire
            .attachments
            .unwrap_or_default()
            .into_iter()
            .map(|a| Attachment {
                kind: AttachmentKind::from_type(a.kind.as_deref().unwrap_or("")),
                url: a.payload.and_then(|p| p.url).map(UserContent::new),
            })
            .collect(),
        quick_reply: wire.quick_reply.and_then(|q| q.payload),
        reply_to,
        referral: wire.referral.map(parse_referral),
        is_deleted: wire.is_deleted.unwrap_or(false),
        is_unsupported: wire.is_unsupported.unwrap_or(false),
        is_self: wire.is_self.unwrap_or(false),
    })
}

fn parse_reaction(wire: WireReaction) -> Result<Reaction, ParseError> {
    let action = match wire.action.as_deref() {
        Some("react") => ReactionAction::React,
        Some("unreact") => ReactionAction::Unreact,
        Some(_) => return Err(ParseError::UnexpectedValue("reaction.action")),
        None => return Err(ParseError::MissingField("reaction.action")),
    };
    Ok(Reaction {
        mid: message_id(wire.mid, "reaction.mid")?,
        action,
        reaction: wire.reaction,
        emoji: wire.emoji,
    })
}

fn parse_referral(wire: WireReferral<'_>) -> Referral {
    Referral {
        ref_param: wire.ref_param,
        ad_id: wire.ad_id.map(|a| a.0.into_owned()),
        source: wire.source,
        kind: wire.kind,
    }
}

/// A messaging item of a kind Relay has no model for (or a standby item): kept whole.
fn unknown_messaging(
    item: &RawValue,
    wire: WireMessaging<'_>,
    account: &AccountId,
    source: EventSource,
    fallback_kind: &str,
) -> Result<Event, ParseError> {
    let raw: serde_json::Value =
        serde_json::from_str(item.get()).map_err(|_| ParseError::WrongType(".".to_owned()))?;
    let kind = match (&raw, source) {
        (_, EventSource::Standby(_)) => fallback_kind.to_owned(),
        (serde_json::Value::Object(map), _) => map
            .keys()
            .find(|k| !matches!(k.as_str(), "sender" | "recipient" | "timestamp"))
            .cloned()
            .unwrap_or_else(|| fallback_kind.to_owned()),
        _ => fallback_kind.to_owned(),
    };
    // Best effort: an unknown event still says whose conversation it belongs to when it can.
    let (customer, by_business) = counterpart(wire.sender, wire.recipient, account, false)
        .map_or((None, false), |(c, b)| (Some(c), b));
    Ok(Event {
        source,
        customer,
        by_business,
        timestamp_ms: wire.timestamp.map_or(0, to_millis),
        kind: EventKind::Unknown(Unknown { kind, raw }),
    })
}

fn standby_event(
    item: &RawValue,
    account: &AccountId,
    source: EventSource,
) -> Result<Event, ParseError> {
    let wire: WireMessaging =
        json::from_str(item.get()).map_err(|f| ParseError::from_fault(f, ""))?;
    unknown_messaging(item, wire, account, source, "standby")
}

// ---------------------------------------------------------------------------------------
// Changes

fn change_event(
    field: Option<Text<'_>>,
    value: Option<&RawValue>,
    item: &RawValue,
    account: &AccountId,
    entry_ms: i64,
    source: EventSource,
) -> Result<Event, ParseError> {
    let field = field.ok_or(ParseError::MissingField("field"))?;
    let (customer, by_business, kind) = match field.0.as_ref() {
        "comments" | "live_comments" => {
            let value = value.ok_or(ParseError::MissingField("value"))?;
            let wire: WireComment =
                json::from_str(value.get()).map_err(|f| ParseError::from_fault(f, "value"))?;
            let live = field.0 == "live_comments";
            parse_comment(wire, account, live)?
        }
        "mentions" => {
            let value = value.ok_or(ParseError::MissingField("value"))?;
            let wire: WireMention =
                json::from_str(value.get()).map_err(|f| ParseError::from_fault(f, "value"))?;
            let mention = Mention {
                media_id: id(wire.media_id, "value.media_id", MediaId::parse)?,
                comment_id: optional_id(wire.comment_id, "value.comment_id", CommentId::parse)?,
            };
            (None, false, EventKind::Mention(mention))
        }
        other => {
            let raw = match source {
                // The flat form: keep just the change, not the entry's id and time.
                EventSource::Entry => serde_json::json!({
                    "field": other,
                    "value": value
                        .map(|v| serde_json::from_str::<serde_json::Value>(v.get()))
                        .transpose()
                        .map_err(|_| ParseError::WrongType("value".to_owned()))?,
                }),
                _ => serde_json::from_str(item.get())
                    .map_err(|_| ParseError::WrongType(".".to_owned()))?,
            };
            let unknown = Unknown {
                kind: other.to_owned(),
                raw,
            };
            (None, false, EventKind::Unknown(unknown))
        }
    };
    Ok(Event {
        source,
        customer,
        by_business,
        timestamp_ms: entry_ms,
        kind,
    })
}

/// Both documented comment shapes: Instagram Login (`id`) and Facebook Login (`comment_id`).
/// A comment whose author is the connected account is the business's own (a reply it
/// posted): it has no customer.
fn parse_comment(
    wire: WireComment<'_>,
    account: &AccountId,
    live: bool,
) -> Result<(Option<CustomerId>, bool, EventKind), ParseError> {
    let comment_id = wire.comment_id.or(wire.id);
    let (author, username) = match wire.from {
        Some(from) => (from.id, from.username),
        None => (None, None),
    };
    let by_business = author
        .as_ref()
        .is_some_and(|a| a.as_str() == account.as_str());
    let customer = if by_business {
        None
    } else {
        optional_id(author, "value.from.id", CustomerId::parse)?
    };
    let media = wire
        .media
        .map(|m| -> Result<CommentMedia, ParseError> {
            Ok(CommentMedia {
                id: id(m.id, "value.media.id", MediaId::parse)?,
                product_type: m.media_product_type,
                ad_id: m.ad_id.map(|a| a.0.into_owned()),
                original_media_id: optional_id(
                    m.original_media_id,
                    "value.media.original_media_id",
                    MediaId::parse,
                )?,
            })
        })
        .transpose()?;
    let comment = Comment {
        id: id(comment_id, "value.id", CommentId::parse)?,
        parent_id: optional_id(wire.parent_id, "value.parent_id", CommentId::parse)?,
        username: username.map(UserContent::new),
        text: wire.text.map(UserContent::new),
        media,
        live,
    };
    Ok((customer, by_business, EventKind::Comment(comment)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::envelope::{Delivery, parse_envelope};
    use crate::webhook::fixtures;
    use crate::webhook::queue::{QueueLimits, queue_messages};
    use proptest::prelude::*;

    const IG: &str = "17841400000000001";
    const CUSTOMER: &str = "1234567890123456";
    const PAGE: &str = "104000000000001";
    const PSID: &str = "7000000000000001";
    const T: i64 = 1_790_000_000_000;

    /// The whole path a delivery takes: envelope, queue messages, ingest parse.
    fn ingest(body: &str) -> Vec<InboundEntry> {
        let Delivery::Accepted(envelope) = parse_envelope(body.as_bytes()).expect("envelope")
        else {
            panic!("fixture ignored");
        };
        let outbox = queue_messages(&envelope, &QueueLimits::SQS);
        assert!(outbox.rejected.is_empty());
        outbox
            .messages
            .iter()
            .map(|m| parse_queue_message(m.body()).expect("queue message parses"))
            .collect()
    }

    fn single(body: &str) -> (InboundEntry, Event) {
        let mut entries = ingest(body);
        assert_eq!(entries.len(), 1);
        let mut entry = entries.remove(0);
        assert!(entry.rejected.is_empty(), "{:?}", entry.rejected);
        assert_eq!(entry.events.len(), 1);
        let event = entry.events.remove(0);
        (entry, event)
    }

    fn mid(body: &str, pointer: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        v.pointer(pointer).unwrap().as_str().unwrap().to_owned()
    }

    const FIRST_ITEM: &str = "/entry/0/messaging/0";

    #[test]
    fn instagram_dm_from_a_customer() {
        let (entry, event) = single(fixtures::IG_MESSAGE_TEXT);
        assert_eq!(entry.platform, Platform::Instagram);
        assert_eq!(entry.account_id.as_str(), IG);
        assert_eq!(entry.time, T + 500);
        assert_eq!(event.source, EventSource::Messaging(0));
        assert_eq!(event.customer.as_ref().unwrap().as_str(), CUSTOMER);
        assert!(!event.by_business);
        assert_eq!(event.timestamp_ms, T + 1);
        let EventKind::Message(m) = &event.kind else {
            panic!("{event:?}")
        };
        assert_eq!(m.text.as_ref().unwrap(), &"Hi! Do you ship to Berlin?");
        let expected_mid = mid(
            fixtures::IG_MESSAGE_TEXT,
            &format!("{FIRST_ITEM}/message/mid"),
        );
        assert_eq!(m.mid.as_str(), expected_mid);
        assert_eq!(event.dedupe_key(), expected_mid);
        assert!(!m.is_deleted && !m.is_unsupported && !m.is_self);
    }

    #[test]
    fn echoes_belong_to_the_recipients_conversation() {
        for body in [
            fixtures::IG_MESSAGE_ECHO,
            fixtures::IG_MESSAGE_ECHO_ELLIPSIS,
        ] {
            let (_, event) = single(body);
            assert!(event.by_business);
            assert_eq!(event.customer.as_ref().unwrap().as_str(), CUSTOMER);
            let EventKind::Echo(echo) = &event.kind else {
                panic!("{event:?}")
            };
            assert_eq!(
                event.dedupe_key(),
                mid(body, &format!("{FIRST_ITEM}/message/mid")),
                "an echo dedupes on the mid Relay stored when it sent the message"
            );
            assert!(echo.app_id.is_none());
        }
        let (_, event) = single(fixtures::IG_MESSAGE_ECHO_ELLIPSIS);
        let EventKind::Echo(echo) = &event.kind else {
            panic!()
        };
        assert_eq!(echo.message.text.as_ref().unwrap(), &"...");
    }

    #[test]
    fn attachments_keep_their_kind_and_url() {
        let (_, event) = single(fixtures::IG_MESSAGE_ATTACHMENT);
        let EventKind::Message(m) = &event.kind else {
            panic!()
        };
        assert!(m.text.is_none());
        let kinds: Vec<_> = m.attachments.iter().map(|a| a.kind.clone()).collect();
        assert_eq!(kinds, vec![AttachmentKind::Image, AttachmentKind::IgReel]);
        let url = m.attachments[0].url.as_ref().unwrap().as_str();
        assert!(
            url.starts_with("https://lookaside.fbsbx.com/"),
            "escaped slashes decode"
        );

        let (_, event) = single(fixtures::IG_MESSAGE_STORY_MENTION);
        let EventKind::Message(m) = &event.kind else {
            panic!()
        };
        assert_eq!(m.attachments[0].kind, AttachmentKind::StoryMention);
        assert_eq!(AttachmentKind::from_type("reel"), AttachmentKind::Reel);
        assert_eq!(
            AttachmentKind::from_type("template"),
            AttachmentKind::Other("template".into())
        );
    }

    #[test]
    fn replies_quick_replies_and_ad_referrals() {
        let (_, event) = single(fixtures::IG_MESSAGE_STORY_REPLY);
        let EventKind::Message(m) = &event.kind else {
            panic!()
        };
        match &m.reply_to {
            Some(ReplyTo::Story { id, url }) => {
                assert_eq!(id.as_ref().unwrap().as_str(), "17900000000000003");
                assert!(url.as_ref().unwrap().as_str().starts_with("https://"));
            }
            other => panic!("{other:?}"),
        }

        let (_, event) = single(fixtures::IG_MESSAGE_QUICK_REPLY);
        let EventKind::Message(m) = &event.kind else {
            panic!()
        };
        assert_eq!(m.quick_reply.as_deref(), Some("ORDER_STATUS"));
        let replied = mid(
            fixtures::IG_MESSAGE_ECHO,
            &format!("{FIRST_ITEM}/message/mid"),
        );
        assert!(matches!(&m.reply_to, Some(ReplyTo::Message(mid)) if mid.as_str() == replied));

        let (_, event) = single(fixtures::IG_MESSAGE_AD_REFERRAL);
        let EventKind::Message(m) = &event.kind else {
            panic!()
        };
        assert_eq!(
            m.referral,
            Some(Referral {
                ref_param: Some("spring-sale".into()),
                ad_id: Some("120200000000000001".into()),
                source: Some("ADS".into()),
                kind: Some("OPEN_THREAD".into()),
            })
        );
    }

    #[test]
    fn reactions_and_unreactions() {
        let reacted_to = mid(
            fixtures::IG_MESSAGE_ECHO,
            &format!("{FIRST_ITEM}/message/mid"),
        );
        let (_, event) = single(fixtures::IG_REACTION);
        let EventKind::Reaction(r) = &event.kind else {
            panic!()
        };
        assert_eq!(r.action, ReactionAction::React);
        assert_eq!(r.reaction.as_deref(), Some("love"));
        assert_eq!(r.emoji.as_deref(), Some("\u{2764}\u{fe0f}"));
        assert_eq!(
            event.dedupe_key(),
            format!("react:{reacted_to}:{CUSTOMER}:react:love:{}", T + 9)
        );

        let (_, event) = single(fixtures::IG_UNREACT);
        let EventKind::Reaction(r) = &event.kind else {
            panic!()
        };
        assert_eq!(r.action, ReactionAction::Unreact);
        assert!(r.reaction.is_none());
        assert_eq!(
            event.dedupe_key(),
            format!("react:{reacted_to}:{CUSTOMER}:unreact::{}", T + 10)
        );
    }

    #[test]
    fn reads_postbacks_referrals() {
        let seen = mid(
            fixtures::IG_MESSAGE_ECHO,
            &format!("{FIRST_ITEM}/message/mid"),
        );
        let (_, event) = single(fixtures::IG_READ);
        assert!(
            matches!(&event.kind, EventKind::Read(Read { marker: ReadMarker::Message(m) }) if m.as_str() == seen)
        );
        assert_eq!(event.dedupe_key(), format!("read:{seen}:{CUSTOMER}"));

        let (_, event) = single(fixtures::IG_POSTBACK);
        let EventKind::Postback(p) = &event.kind else {
            panic!()
        };
        assert_eq!(p.title.as_deref(), Some("Opening hours"));
        assert_eq!(p.payload.as_deref(), Some("ICEBREAKER_HOURS"));
        assert_eq!(
            event.dedupe_key(),
            mid(fixtures::IG_POSTBACK, &format!("{FIRST_ITEM}/postback/mid"))
        );

        let (_, event) = single(fixtures::IG_REFERRAL);
        assert!(
            matches!(&event.kind, EventKind::Referral(r) if r.ref_param.as_deref() == Some("bio-link"))
        );
        assert_eq!(
            event.dedupe_key(),
            format!(
                "referral:{CUSTOMER}:{}:SHORTLINK:OPEN_THREAD:bio-link",
                T + 13
            )
        );
    }

    #[test]
    fn edits_deletions_and_unsupported_messages() {
        let original = mid(
            fixtures::IG_MESSAGE_TEXT,
            &format!("{FIRST_ITEM}/message/mid"),
        );
        let (_, event) = single(fixtures::IG_MESSAGE_EDIT);
        let EventKind::MessageEdit(e) = &event.kind else {
            panic!()
        };
        assert_eq!(e.mid.as_str(), original);
        assert_eq!(e.text.as_ref().unwrap(), &"Hi! Do you ship to Hamburg?");
        assert_eq!(event.dedupe_key(), format!("edit:{original}:1"));

        let (_, event) = single(fixtures::IG_MESSAGE_DELETED);
        assert!(matches!(&event.kind, EventKind::Message(m) if m.is_deleted && m.text.is_none()));
        assert_eq!(
            event.dedupe_key(),
            format!("delete:{original}"),
            "a deletion reuses the mid of the message it removes and must not be deduped away"
        );

        let (_, event) = single(fixtures::IG_MESSAGE_UNSUPPORTED);
        assert!(matches!(&event.kind, EventKind::Message(m) if m.is_unsupported));
    }

    #[test]
    fn escaped_unicode_decodes_into_the_text() {
        let (_, event) = single(fixtures::IG_MESSAGE_UNICODE);
        let EventKind::Message(m) = &event.kind else {
            panic!()
        };
        assert_eq!(
            m.text.as_ref().unwrap().as_str(),
            "Schöne Grüße aus München, hättet ihr das in Größe M? 😊"
        );
    }

    #[test]
    fn comments_in_all_three_forms() {
        let (_, event) = single(fixtures::IG_COMMENT);
        assert_eq!(event.source, EventSource::Change(0));
        assert_eq!(event.customer.as_ref().unwrap().as_str(), CUSTOMER);
        assert_eq!(
            event.timestamp_ms, 1_790_000_001_000,
            "entry.time in seconds becomes ms"
        );
        let EventKind::Comment(c) = &event.kind else {
            panic!()
        };
        assert_eq!(c.id.as_str(), "17900000000000101");
        assert_eq!(c.username.as_ref().unwrap(), &"berlin.shopper");
        assert_eq!(c.text.as_ref().unwrap(), &"How much is this?");
        let media = c.media.as_ref().unwrap();
        assert_eq!(media.id.as_str(), "17900000000000201");
        assert_eq!(media.product_type.as_deref(), Some("FEED"));
        assert!(c.parent_id.is_none() && !c.live);
        assert_eq!(event.dedupe_key(), "17900000000000101");

        let (_, event) = single(fixtures::IG_COMMENT_FACEBOOK_LOGIN);
        let EventKind::Comment(c) = &event.kind else {
            panic!()
        };
        assert_eq!(c.id.as_str(), "17900000000000102");
        assert_eq!(c.parent_id.as_ref().unwrap().as_str(), "17900000000000101");
        let media = c.media.as_ref().unwrap();
        assert_eq!(media.ad_id.as_deref(), Some("120200000000000001"));
        assert_eq!(
            media.original_media_id.as_ref().unwrap().as_str(),
            "17900000000000201"
        );
        assert_eq!(media.product_type.as_deref(), Some("AD"));
        assert_eq!(event.dedupe_key(), "17900000000000102");

        let (_, event) = single(fixtures::IG_COMMENT_FLAT);
        assert_eq!(event.source, EventSource::Entry);
        let EventKind::Comment(c) = &event.kind else {
            panic!()
        };
        assert_eq!(c.id.as_str(), "17900000000000103");
        assert_eq!(c.parent_id.as_ref().unwrap().as_str(), "17900000000000101");
        assert_eq!(c.text.as_ref().unwrap(), &"Do you have it in blue?");

        let (_, event) = single(fixtures::IG_LIVE_COMMENT);
        assert!(
            matches!(&event.kind, EventKind::Comment(c) if c.live && c.id.as_str() == "17900000000000104")
        );
    }

    #[test]
    fn the_business_commenting_on_its_own_media_has_no_customer() {
        let body = format!(
            r#"{{"object":"instagram","entry":{{"id":"{IG}","time":1790000001,"changes":[{{"field":"comments","value":{{"id":"1790","from":{{"id":"{IG}","username":"shop"}},"text":"Thanks!","media":{{"id":"1791"}}}}}}]}}}}"#
        );
        let entry = parse_queue_message(&body).unwrap();
        let event = &entry.events[0];
        assert!(event.by_business);
        assert!(event.customer.is_none());
    }

    #[test]
    fn mentions_in_captions_and_comments() {
        let entries = ingest(fixtures::IG_MENTION);
        let events = &entries[0].events;
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0].kind,
            EventKind::Mention(Mention {
                media_id: MediaId::parse("17900000000000204").unwrap(),
                comment_id: None
            })
        );
        assert!(events[0].customer.is_none());
        assert_eq!(events[0].dedupe_key(), "mention:17900000000000204:");
        assert_eq!(
            events[1].dedupe_key(),
            "mention:17900000000000205:17900000000000105"
        );
    }

    #[test]
    fn messenger_conversations() {
        let (entry, event) = single(fixtures::MESSENGER_MESSAGE);
        assert_eq!(entry.platform, Platform::Messenger);
        assert_eq!(entry.account_id.as_str(), PAGE);
        assert_eq!(event.customer.as_ref().unwrap().as_str(), PSID);
        assert!(
            matches!(&event.kind, EventKind::Message(m) if m.text.as_ref().unwrap() == &"Hello, are you open on Sunday?")
        );

        let (_, event) = single(fixtures::MESSENGER_ECHO);
        assert!(event.by_business);
        assert_eq!(event.customer.as_ref().unwrap().as_str(), PSID);
        let EventKind::Echo(echo) = &event.kind else {
            panic!()
        };
        assert_eq!(
            echo.app_id.as_deref(),
            Some("1517776481860111"),
            "numeric app_id"
        );
        assert_eq!(echo.metadata.as_deref(), Some("relay:draft:42"));

        let (_, event) = single(fixtures::MESSENGER_READ);
        assert_eq!(
            event.kind,
            EventKind::Read(Read {
                marker: ReadMarker::Watermark(T + 21)
            })
        );
        assert_eq!(event.dedupe_key(), format!("read:{}:{PSID}", T + 21));

        let (_, event) = single(fixtures::MESSENGER_REACTION);
        assert!(
            matches!(&event.kind, EventKind::Reaction(r) if r.reaction.as_deref() == Some("like"))
        );

        let (_, event) = single(fixtures::MESSENGER_POSTBACK);
        assert!(
            matches!(&event.kind, EventKind::Postback(p) if p.payload.as_deref() == Some("HUMAN_AGENT"))
        );
    }

    #[test]
    fn a_batched_delivery_yields_every_event_of_every_entry() {
        let entries = ingest(fixtures::IG_BATCH);
        assert_eq!(entries.len(), 3);
        let summary: Vec<(String, usize)> = entries
            .iter()
            .map(|e| (e.account_id.to_string(), e.events.len()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (IG.to_owned(), 2),
                ("17841400000000002".to_owned(), 3),
                (IG.to_owned(), 1)
            ]
        );
        let second = &entries[1].events;
        assert!(matches!(second[0].kind, EventKind::Message(_)));
        assert!(matches!(second[1].kind, EventKind::Read(_)));
        assert!(matches!(second[2].kind, EventKind::Echo(_)));
        assert!(second[2].by_business);
        assert_eq!(
            second[2].customer, second[0].customer,
            "the echo lands in the same conversation"
        );
        let keys: std::collections::HashSet<String> = entries
            .iter()
            .flat_map(|e| e.events.iter().map(Event::dedupe_key))
            .collect();
        assert_eq!(keys.len(), 6, "no two events share a dedupe key");
    }

    #[test]
    fn unknown_events_are_kept_not_rejected() {
        let entries = ingest(fixtures::IG_UNKNOWN_EVENT);
        let handover = &entries[0].events[0];
        let EventKind::Unknown(u) = &handover.kind else {
            panic!()
        };
        assert_eq!(u.kind, "pass_thread_control");
        assert_eq!(u.raw["pass_thread_control"]["metadata"], "handover");
        assert_eq!(handover.customer.as_ref().unwrap().as_str(), CUSTOMER);

        let insights = &entries[1].events[0];
        let EventKind::Unknown(u) = &insights.kind else {
            panic!()
        };
        assert_eq!(u.kind, "story_insights");
        assert_eq!(u.raw["value"]["reach"], 17);
        assert!(insights.dedupe_key().starts_with("unknown:story_insights:"));
        assert_eq!(
            insights.dedupe_key(),
            ingest(fixtures::IG_UNKNOWN_EVENT)[1].events[0].dedupe_key()
        );
        assert!(!format!("{insights:?}").contains("reach"));
    }

    #[test]
    fn one_malformed_event_does_not_lose_the_others() {
        let entries = ingest(fixtures::IG_BATCH_WITH_MALFORMED_EVENT);
        let entry = &entries[0];
        let texts: Vec<&str> = entry
            .events
            .iter()
            .map(|e| match &e.kind {
                EventKind::Message(m) => m.text.as_ref().unwrap().as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(texts, vec!["Good one before", "Good one after"]);
        assert_eq!(
            entry.events[1].source,
            EventSource::Messaging(5),
            "indexes stay those of the payload"
        );

        let rejected: Vec<(EventSource, ParseError)> = entry
            .rejected
            .iter()
            .map(|r| (r.source, r.error.clone()))
            .collect();
        assert_eq!(rejected.len(), 4);
        assert!(matches!(
            &rejected[0],
            (
                EventSource::Messaging(1),
                ParseError::InvalidId {
                    field: "sender.id",
                    ..
                }
            )
        ));
        assert_eq!(
            rejected[1],
            (
                EventSource::Messaging(2),
                ParseError::MissingField("message.mid")
            )
        );
        assert_eq!(
            rejected[2],
            (
                EventSource::Messaging(3),
                ParseError::WrongType("timestamp".into())
            )
        );
        assert_eq!(
            rejected[3],
            (
                EventSource::Messaging(4),
                ParseError::UnexpectedValue("reaction.action")
            )
        );

        // The raw item is kept for inspection, but no message or Debug line shows its text.
        assert!(entry.rejected[0].raw.get().contains("private words"));
        for r in &entry.rejected {
            assert!(!r.error.to_string().contains("private"), "{}", r.error);
            assert!(!r.error.to_string().contains("bad time"));
            assert!(!format!("{r:?}").contains("private"));
        }
    }

    #[test]
    fn entry_level_failures_are_errors() {
        let entry = format!(r#"{{"id":"{IG}","time":1,"messaging":[]}}"#);
        let ok = format!(r#"{{"object":"instagram","entry":{entry}}}"#);
        assert!(parse_queue_message(&ok).unwrap().events.is_empty());

        let cases: Vec<(String, ParseError)> = vec![
            (
                "nope".into(),
                ParseError::InvalidJson { line: 1, column: 2 },
            ),
            (
                format!(r#"{{"entry":{entry}}}"#),
                ParseError::MissingField("object"),
            ),
            (
                format!(r#"{{"object":"user","entry":{entry}}}"#),
                ParseError::UnsupportedObject,
            ),
            (
                r#"{"object":"page"}"#.into(),
                ParseError::MissingField("entry"),
            ),
            (
                r#"{"object":"page","entry":{"time":1}}"#.into(),
                ParseError::MissingField("entry.id"),
            ),
            (
                format!(r#"{{"object":"page","entry":{{"id":"{IG}"}}}}"#),
                ParseError::MissingField("entry.time"),
            ),
            (
                format!(
                    r#"{{"object":"page","entry":{{"id":"{IG}","time":1,"messaging":{{"a":1}}}}}}"#
                ),
                ParseError::WrongType("entry.messaging".into()),
            ),
            (
                r#"{"object":"page","entry":[]}"#.into(),
                ParseError::WrongType("entry".into()),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(parse_queue_message(&body).unwrap_err(), expected, "{body}");
        }
        assert!(matches!(
            parse_queue_message(r#"{"object":"page","entry":{"id":"x/y","time":1}}"#),
            Err(ParseError::InvalidId {
                field: "entry.id",
                ..
            })
        ));
    }

    #[test]
    fn a_business_sent_reaction_is_filed_under_the_customer() {
        let body = format!(
            r#"{{"object":"instagram","entry":{{"id":"{IG}","time":{T},"messaging":[{{"sender":{{"id":"{IG}"}},"recipient":{{"id":"{CUSTOMER}"}},"timestamp":{T},"reaction":{{"mid":"abc","action":"react","reaction":"love"}}}}]}}}}"#
        );
        let entry = parse_queue_message(&body).unwrap();
        let event = &entry.events[0];
        assert!(event.by_business);
        assert_eq!(event.customer.as_ref().unwrap().as_str(), CUSTOMER);
    }

    #[test]
    fn debug_output_never_shows_text_or_customer_ids() {
        let (entry, event) = single(fixtures::IG_MESSAGE_TEXT);
        let debug = format!("{entry:?} {event:?}");
        assert!(!debug.contains("Berlin"), "{debug}");
        assert!(!debug.contains(CUSTOMER), "{debug}");
    }

    #[test]
    fn second_timestamps_are_normalised() {
        assert_eq!(to_millis(1_790_000_001), 1_790_000_001_000);
        assert_eq!(to_millis(1_790_000_001_000), 1_790_000_001_000);
        assert_eq!(to_millis(-5), -5);
    }

    proptest! {
        #[test]
        fn any_text_survives_the_whole_path(text in any::<String>(), ts in 1_000_000_000_000i64..4_000_000_000_000) {
            let item = serde_json::json!({
                "sender": {"id": CUSTOMER}, "recipient": {"id": IG}, "timestamp": ts,
                "message": {"mid": "m_1", "text": text},
            });
            let body = serde_json::json!({"object": "instagram", "entry": [{"id": IG, "time": ts, "messaging": [item]}]});
            // Meta's ASCII-escaped form, as a webhook body.
            let mut escaped = String::new();
            for c in body.to_string().chars() {
                if c.is_ascii() {
                    escaped.push(c);
                } else {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        escaped.push_str(&format!("\\u{u:04x}"));
                    }
                }
            }
            let entries = ingest(&escaped);
            let event = &entries[0].events[0];
            prop_assert_eq!(event.timestamp_ms, ts);
            match &event.kind {
                EventKind::Message(m) => prop_assert_eq!(m.text.as_ref().unwrap().as_str(), text.as_str()),
                other => prop_assert!(false, "{:?}", other),
            }
        }

        #[test]
        fn garbage_never_panics(body in ".{0,200}") {
            let _ = parse_queue_message(&body);
        }

        #[test]
        fn every_item_is_either_an_event_or_rejected(
            items in proptest::collection::vec(
                prop_oneof![
                    Just(r#"{"sender":{"id":"1"},"recipient":{"id":"2"},"timestamp":1,"message":{"mid":"m"}}"#.to_owned()),
                    Just(r#"{"sender":{"id":"1"},"timestamp":1,"read":{}}"#.to_owned()),
                    Just(r#"{"sender":{"id":"x"},"timestamp":1,"message":{"mid":"m"}}"#.to_owned()),
                    Just(r#"{"timestamp":1,"optin":{"ref":"r"}}"#.to_owned()),
                    Just("42".to_owned()),
                    Just("[]".to_owned()),
                    "\\{\"message\":\\{\"mid\":\"[a-z]{0,3}\"\\}\\}",
                ],
                0..20,
            )
        ) {
            let body = format!(
                r#"{{"object":"page","entry":{{"id":"9","time":1,"messaging":[{}]}}}}"#,
                items.join(",")
            );
            let entry = parse_queue_message(&body).unwrap();
            prop_assert_eq!(entry.events.len() + entry.rejected.len(), items.len());
            let mut sources: Vec<EventSource> = entry.events.iter().map(|e| e.source)
                .chain(entry.rejected.iter().map(|r| r.source)).collect();
            sources.sort_by_key(|s| match s { EventSource::Messaging(i) => *i, _ => usize::MAX });
            let expected: Vec<EventSource> = (0..items.len()).map(EventSource::Messaging).collect();
            prop_assert_eq!(sources, expected);
        }
    }
}
