//! Messages from webhooks: a customer's message, a postback, an echo or self message of
//! the business, stored once per mid.
//!
//! A customer's message queues exactly one AI-reply job: for a new message, and again for
//! a duplicate whose job was never queued (a crash between store and queue; ai-reply
//! claims each message once, so a second job can never send twice). Usage counts a
//! message once, when it is new.

use super::{IngestError, Ingestion, Ports};
use crate::ids::{CustomerId, MessageId};
use crate::inbox::{Author, Direction, MessageKind, StoredAttachment, StoredMessage};
use crate::jobs::{AiReplyJob, Enqueue};
use crate::store::StoreError;
use crate::store::accounts::Route;
use crate::store::inbox::Recorded;
use crate::store::keys;
use crate::store::usage::Counter;
use crate::webhook::{AttachmentKind, Event, Message, Postback, ReplyTo};

use super::ports::{Messages, ReplyDebounce};

impl<P: Ports> Ingestion<P> {
    /// Store a message either way; a customer's is then answered.
    pub(super) async fn record_message(&self, message: StoredMessage) -> Result<(), IngestError> {
        let recorded = self.store.record_message(&message).await?;
        match recorded {
            Recorded::New => self.metrics.count("MessagesStored", 1),
            Recorded::Duplicate => self.metrics.count("EventsDeduplicated", 1),
        }
        match message.direction {
            Direction::Outbound => {
                if recorded == Recorded::New {
                    self.tally(&message.tenant_id, Counter::MessagesSent);
                }
                Ok(())
            }
            Direction::Inbound => {
                if recorded == Recorded::New {
                    self.tally(&message.tenant_id, Counter::MessagesReceived);
                }
                self.queue_reply(&message, recorded).await
            }
        }
    }

    /// Queue the AI-reply job for a customer's message, unless it was queued before.
    async fn queue_reply(
        &self,
        message: &StoredMessage,
        recorded: Recorded,
    ) -> Result<(), IngestError> {
        if message.deleted || message.kind == MessageKind::Unsupported && message.text.is_none() {
            return Ok(());
        }
        let (t, a) = (&message.tenant_id, &message.account_id);
        // A new message's key is known; a duplicate's comes from its mid pointer.
        let job_key = match recorded {
            Recorded::New => Some(keys::message(
                t,
                a,
                &message.customer_id,
                message.timestamp_ms,
                message.mid.as_str(),
            )),
            Recorded::Duplicate => self
                .store
                .find_message(t, a, message.mid.as_str())
                .await?
                .filter(|(_, m)| !m.jobs_enqueued)
                .map(|(key, _)| key),
        };
        let Some(key) = job_key else {
            return Ok(());
        };
        let job = AiReplyJob {
            tenant_id: t.clone(),
            account_id: a.clone(),
            customer_id: message.customer_id.clone(),
            mid: message.mid.clone(),
            timestamp_ms: message.timestamp_ms,
        };
        let delay = self.debounce_of(message).await?;
        self.replies.enqueue(&job, delay).await?;
        self.store.mark_jobs_enqueued(&key).await?;
        self.metrics.count("AiJobsQueued", 1);
        Ok(())
    }

    /// The account's own debounce when its AI settings name one, else the installation's.
    async fn debounce_of(&self, message: &StoredMessage) -> Result<u32, StoreError> {
        let own = self
            .store
            .debounce_seconds(&message.tenant_id, &message.account_id)
            .await?;
        Ok(own.unwrap_or(self.settings.debounce.as_secs() as u32))
    }
}

/// A message as Meta delivered it, by `author`, received at `now_ms`.
pub(super) fn received(
    route: &Route,
    customer: &CustomerId,
    event: &Event,
    m: &Message,
    author: Author,
    now_ms: i64,
) -> StoredMessage {
    let mut stored = blank(route, customer, event, m.mid.clone(), author, now_ms);
    stored.text = m.text.as_ref().map(|t| t.as_str().to_owned());
    stored.attachments = m
        .attachments
        .iter()
        .map(|a| StoredAttachment {
            kind: attachment_kind(&a.kind),
            url: a.url.as_ref().map(|u| u.as_str().to_owned()),
        })
        .collect();
    stored.kind = if m.is_unsupported {
        MessageKind::Unsupported
    } else if stored.text.is_none() && !stored.attachments.is_empty() {
        MessageKind::Attachment
    } else {
        MessageKind::Text
    };
    match &m.reply_to {
        Some(ReplyTo::Message(mid)) => stored.reply_to_mid = Some(mid.to_string()),
        Some(ReplyTo::Story { id, url }) => {
            stored.reply_to_story = id
                .as_ref()
                .map(ToString::to_string)
                .or_else(|| url.as_ref().map(|u| u.as_str().to_owned()))
        }
        None => {}
    }
    stored.quick_reply = m.quick_reply.clone();
    if let Some(r) = &m.referral {
        stored.referral_ref = r.ref_param.clone();
        stored.referral_ad_id = r.ad_id.clone();
    }
    stored
}

/// A customer's button tap, received at `now_ms`. Without a mid it is stored under its
/// dedupe key, so that a redelivery still meets the first delivery.
pub(super) fn postback(
    route: &Route,
    customer: &CustomerId,
    event: &Event,
    p: &Postback,
    now_ms: i64,
) -> StoredMessage {
    let mid = match &p.mid {
        Some(mid) => mid.clone(),
        None => MessageId::parse(event.dedupe_key()).unwrap_or_else(|_| {
            MessageId::parse(format!("postback.{}", event.timestamp_ms))
                .expect("digits are a valid message id")
        }),
    };
    let mut stored = blank(route, customer, event, mid, Author::Customer, now_ms);
    stored.kind = MessageKind::Postback;
    stored.text = p.title.clone();
    stored.postback_payload = p.payload.clone();
    stored
}

fn blank(
    route: &Route,
    customer: &CustomerId,
    event: &Event,
    mid: MessageId,
    author: Author,
    now_ms: i64,
) -> StoredMessage {
    StoredMessage {
        received_at: now_ms,
        ..StoredMessage::new(
            route.tenant_id.clone(),
            route.account_id.clone(),
            customer.clone(),
            mid,
            author,
            event.timestamp_ms,
        )
    }
}

fn attachment_kind(kind: &AttachmentKind) -> String {
    match kind {
        AttachmentKind::Audio => "audio".into(),
        AttachmentKind::File => "file".into(),
        AttachmentKind::Image => "image".into(),
        AttachmentKind::Share => "share".into(),
        AttachmentKind::StoryMention => "story_mention".into(),
        AttachmentKind::Video => "video".into(),
        AttachmentKind::IgReel => "ig_reel".into(),
        AttachmentKind::Reel => "reel".into(),
        AttachmentKind::Other(other) => other.clone(),
    }
}
