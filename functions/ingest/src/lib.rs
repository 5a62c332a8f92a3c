//! The ingest function: turns queued webhook entries into the inbox.
//!
//! Each SQS message is one webhook entry (or part of one). For each, the handler routes the
//! entry's account id to its tenant, parses the events, applies them in event-time order
//! and stores each at most once. A message that cannot be handled now is reported as a
//! batch item failure so SQS redelivers it (and, after the queue's maxReceiveCount, moves
//! it to the dead-letter queue); the rest of the batch is acknowledged. Everything it writes
//! is idempotent, so redelivery is always safe.
//!
//! Fan-out: a customer's message queues an AI-reply job (delayed by the debounce); a new
//! comment queues a moderation job. A business echo of exactly "..." pauses the AI for the
//! conversation, raises EscalationCreated and is audited.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use relay::audit::{AuditEntry, AuditTrail};
use relay::config::{Config, ConfigError, Vars};
use relay::events::{EscalationCreated, EventBus};
use relay::ids::{AccountId, CustomerId, MessageId, TenantId};
use relay::inbox::{
    Author, CommentStatus, Direction, MessageKind, RawEvent, StoredAttachment, StoredComment,
    StoredMessage, StoredReaction, is_takeover_marker,
};
use relay::jobs::{AiReplyJob, JobQueue, ModerationJob};
use relay::store::accounts::Channel;
use relay::store::inbox::{Applied, Recorded};
use relay::store::usage::Counter;
use relay::store::{Store, StoreError, keys};
use relay::telemetry::Metrics;
use relay::webhook::{
    AttachmentKind, Event, EventKind, EventSource, Message, Platform, ReactionAction, ReadMarker,
    parse_queue_message,
};
use tracing::{Instrument, info, info_span, warn};

/// Tunables, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Delay before an AI-reply job becomes visible, so quick messages are answered once;
    /// an account's AI settings may name their own (`debounce_seconds`).
    pub debounce: Duration,
    /// How many deliveries a reaction, read or edit may wait for its message before it is
    /// kept as an orphan event instead.
    pub orphan_receives: u32,
    /// How long raw events (mentions, referrals, unknown kinds, orphans) are kept.
    pub raw_event_ttl: Duration,
}

impl Settings {
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let debounce = vars.seconds("RELAY_DEBOUNCE_SECONDS", Duration::from_secs(8));
        if debounce > Duration::from_secs(900) {
            vars.invalid(
                "RELAY_DEBOUNCE_SECONDS",
                "SQS delays are at most 900 seconds",
            );
        }
        let settings = Self {
            debounce,
            orphan_receives: vars.parsed("RELAY_ORPHAN_RECEIVES", 3),
            raw_event_ttl: vars.seconds(
                "RELAY_RAW_EVENT_TTL_SECONDS",
                Duration::from_secs(90 * 86_400),
            ),
        };
        vars.finish()?;
        Ok(settings)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            debounce: Duration::from_secs(8),
            orphan_receives: 3,
            raw_event_ttl: Duration::from_secs(90 * 86_400),
        }
    }
}

/// Why one queue message could not be handled (it will be redelivered).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("message has no body")]
    NoBody,
    #[error("entry is not a webhook entry: {0}")]
    Unparseable(#[from] relay::webhook::ParseError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not queue a job: {0}")]
    Job(#[from] relay::jobs::JobError),
    #[error("could not publish an event: {0}")]
    Event(#[from] relay::events::EventError),
    #[error("could not audit: {0}")]
    Audit(#[from] relay::audit::AuditError),
    #[error("{0} waits for its message")]
    MessageNotYetStored(&'static str),
}

/// The handler and what it needs. Cheap to share across invocations.
pub struct Ingest {
    pub store: Store,
    pub audit: AuditTrail,
    pub bus: EventBus,
    pub replies: JobQueue,
    pub moderation: JobQueue,
    pub settings: Settings,
    metrics: Metrics,
    /// Usage counted during the current batch, per tenant; written once at its end.
    tally: Mutex<BTreeMap<TenantId, BTreeMap<Counter, u64>>>,
    /// When this instance last noted each account's webhook, so that it writes at most
    /// once a minute per account.
    seen: Mutex<HashMap<AccountId, i64>>,
}

/// How stale an account's "last webhook seen" may get.
const SEEN_EVERY_MS: i64 = 60_000;

impl Ingest {
    pub fn from_config(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let vars = Vars::from_process();
        let missing = |var: &str| {
            vars.invalid(var, "ingest sends jobs to this queue; set its URL");
            String::new()
        };
        let replies = config
            .queues
            .replies
            .clone()
            .unwrap_or_else(|| missing("RELAY_REPLIES_QUEUE_URL"));
        let moderation = config
            .queues
            .moderation
            .clone()
            .unwrap_or_else(|| missing("RELAY_MODERATION_QUEUE_URL"));
        vars.finish()?;
        let settings = Settings::from_vars(&vars)?;
        let sqs = aws_sdk_sqs::Client::new(sdk);
        Ok(Self::new(
            Store::new(aws_sdk_dynamodb::Client::new(sdk), &config.main_table),
            AuditTrail::new(aws_sdk_dynamodb::Client::new(sdk), &config.audit_table),
            EventBus::new(aws_sdk_eventbridge::Client::new(sdk), &config.event_bus),
            JobQueue::new(sqs.clone(), replies),
            JobQueue::new(sqs, moderation),
            settings,
        ))
    }

    pub fn new(
        store: Store,
        audit: AuditTrail,
        bus: EventBus,
        replies: JobQueue,
        moderation: JobQueue,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            audit,
            bus,
            replies,
            moderation,
            settings,
            metrics: Metrics::new("ingest"),
            tally: Mutex::default(),
            seen: Mutex::default(),
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Handle a batch; the response names the messages to redeliver.
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for record in &event.records {
            let id = record.message_id.clone().unwrap_or_default();
            let span = info_span!("sqs_message", message_id = %id);
            if let Err(error) = self.handle_message(record).instrument(span.clone()).await {
                span.in_scope(|| warn!(%error, "message will be redelivered"));
                self.metrics.count("IngestFailures", 1);
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
        self.write_tally().await;
        response
    }

    fn tally(&self, tenant: &TenantId, counter: Counter) {
        let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        *tally
            .entry(tenant.clone())
            .or_default()
            .entry(counter)
            .or_default() += 1;
    }

    /// Usage is for the operators' overview: a failed write is logged, and the batch's
    /// messages (stored already) are not redelivered for it.
    async fn write_tally(&self) {
        let tally = std::mem::take(&mut *self.tally.lock().unwrap_or_else(|p| p.into_inner()));
        for (tenant, counts) in tally {
            if let Err(error) = self.store.count_usage(&tenant, now_ms(), &counts).await {
                warn!(%error, tenant_id = %tenant, "usage not counted");
            }
        }
    }

    /// Note when the account's webhooks were last seen (the time SQS took the delivery).
    async fn note_seen(&self, tenant: &TenantId, account: &AccountId, record: &SqsMessage) {
        let at = record
            .attributes
            .get("SentTimestamp")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or_else(now_ms);
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            if seen
                .get(account)
                .is_some_and(|last| at - last < SEEN_EVERY_MS)
            {
                return;
            }
            seen.insert(account.clone(), at);
        }
        if let Err(error) = self.store.note_webhook_seen(tenant, account, at).await {
            warn!(%error, "last webhook time not noted");
            self.seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(account);
        }
    }

    async fn handle_message(&self, record: &SqsMessage) -> Result<(), IngestError> {
        let body = record.body.as_deref().ok_or(IngestError::NoBody)?;
        let receives: u32 = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let mut entry = parse_queue_message(body)?;
        let channel = match entry.platform {
            Platform::Instagram => Channel::Instagram,
            Platform::Messenger => Channel::Page,
        };
        let Some(route) = self.store.resolve_route(channel, &entry.account_id).await? else {
            // Not ours (an account that disconnected, or a test delivery): nothing to
            // store, and retrying cannot help.
            info!(account_id = %entry.account_id, "no tenant for this account; dropped");
            self.metrics
                .count("EventsForUnknownAccount", entry.events.len() as u64);
            return Ok(());
        };
        let tenant = route.tenant_id;
        let account = route.account_id;
        self.note_seen(&tenant, &account, record).await;
        let span = info_span!("entry", tenant_id = %tenant, account_id = %account);
        async {
            for rejected in &entry.rejected {
                warn!(error = %rejected.error, source = ?rejected.source, "event did not parse; kept raw");
                self.metrics.count("EventsRejected", 1);
                let raw = rejected.raw.get().to_owned();
                let key = format!("rejected:{}", hash(&raw));
                self.keep_raw(&tenant, &account, "rejected", key, entry.time_ms(), raw)
                    .await?;
            }
            // Meta does not guarantee order: apply in event time.
            entry.events.sort_by_key(|e| e.timestamp_ms);
            for event in &entry.events {
                self.apply(&tenant, &account, event, receives).await?;
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    async fn apply(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        event: &Event,
        receives: u32,
    ) -> Result<(), IngestError> {
        let customer = event.customer.as_ref();
        match (&event.kind, customer) {
            (EventKind::Message(m), Some(_)) if m.is_deleted => {
                self.orphan_or(tenant, account, event, receives, "deletion", async {
                    self.store
                        .apply_delete(tenant, account, m.mid.as_str())
                        .await
                })
                .await?;
            }
            (EventKind::Message(m), Some(c)) if !event.by_business => {
                let stored = stored_message(
                    tenant,
                    account,
                    c,
                    event,
                    m,
                    Direction::Inbound,
                    Author::Customer,
                );
                self.record_inbound(stored).await?;
            }
            (EventKind::Message(m), Some(c)) => {
                // A message the business sent that came without is_echo (a self message).
                let stored = stored_message(
                    tenant,
                    account,
                    c,
                    event,
                    m,
                    Direction::Outbound,
                    Author::Human,
                );
                self.record_outbound(stored).await?;
            }
            (EventKind::Echo(e), Some(_)) if e.message.is_deleted => {
                self.orphan_or(tenant, account, event, receives, "deletion", async {
                    self.store
                        .apply_delete(tenant, account, e.message.mid.as_str())
                        .await
                })
                .await?;
            }
            (EventKind::Echo(e), Some(c)) => {
                let stored = stored_message(
                    tenant,
                    account,
                    c,
                    event,
                    &e.message,
                    Direction::Outbound,
                    Author::Human,
                );
                let takeover = e
                    .message
                    .text
                    .as_ref()
                    .is_some_and(|t| is_takeover_marker(t.as_str()));
                self.record_outbound(stored).await?;
                if takeover {
                    self.take_over(tenant, account, c, &e.message.mid, event.timestamp_ms)
                        .await?;
                }
            }
            (EventKind::Reaction(r), Some(_)) => {
                let who = if event.by_business {
                    "business"
                } else {
                    "customer"
                };
                let reaction = StoredReaction {
                    reaction: match r.action {
                        ReactionAction::React => {
                            r.reaction.clone().or_else(|| Some("other".into()))
                        }
                        ReactionAction::Unreact => None,
                    },
                    emoji: match r.action {
                        ReactionAction::React => r.emoji.clone(),
                        ReactionAction::Unreact => None,
                    },
                    at: event.timestamp_ms,
                };
                self.orphan_or(tenant, account, event, receives, "reaction", async {
                    self.store
                        .apply_reaction(tenant, account, r.mid.as_str(), who, &reaction)
                        .await
                })
                .await?;
            }
            (EventKind::Read(r), Some(c)) => {
                let (mid, watermark) = match &r.marker {
                    ReadMarker::Message(mid) => (Some(mid.as_str()), None),
                    ReadMarker::Watermark(w) => (None, Some(*w)),
                };
                self.orphan_or(tenant, account, event, receives, "read", async {
                    self.store
                        .apply_read(tenant, account, c, mid, watermark, event.timestamp_ms)
                        .await
                })
                .await?;
            }
            (EventKind::MessageEdit(e), Some(_)) => {
                self.orphan_or(tenant, account, event, receives, "edit", async {
                    self.store
                        .apply_edit(
                            tenant,
                            account,
                            e.mid.as_str(),
                            e.text.as_ref().map(|t| t.as_str()),
                            e.num_edit.unwrap_or(1),
                        )
                        .await
                })
                .await?;
            }
            (EventKind::Postback(p), Some(c)) => {
                let mid = match &p.mid {
                    Some(mid) => mid.clone(),
                    None => MessageId::parse(event.dedupe_key()).unwrap_or_else(|_| {
                        MessageId::parse(format!("postback.{}", event.timestamp_ms))
                            .expect("digits are a valid message id")
                    }),
                };
                let mut stored = blank_message(
                    tenant,
                    account,
                    c,
                    event,
                    mid,
                    Direction::Inbound,
                    Author::Customer,
                );
                stored.kind = MessageKind::Postback;
                stored.text = p.title.clone();
                stored.postback_payload = p.payload.clone();
                self.record_inbound(stored).await?;
            }
            (EventKind::Comment(comment), _) => {
                let stored = StoredComment {
                    tenant_id: tenant.clone(),
                    account_id: account.clone(),
                    comment_id: comment.id.clone(),
                    parent_id: comment.parent_id.clone(),
                    media_id: comment.media.as_ref().map(|m| m.id.clone()),
                    media_product_type: comment.media.as_ref().and_then(|m| m.product_type.clone()),
                    from_id: customer.cloned(),
                    username: comment.username.as_ref().map(|u| u.as_str().to_owned()),
                    text: comment.text.as_ref().map(|t| t.as_str().to_owned()),
                    live: comment.live,
                    status: CommentStatus::New,
                    created_at: event.timestamp_ms,
                    received_at: now_ms(),
                    labels: Vec::new(),
                    signals: Vec::new(),
                    spam_score: 0,
                    tag_audited: false,
                    moderated_at: None,
                    auto_hide: false,
                    hidden: false,
                    replied_at: None,
                    reply_ids: Vec::new(),
                    private_replied_at: None,
                    deleted_at: None,
                    revision: 0,
                };
                let recorded = self.store.record_comment(&stored).await?;
                let still_new = match recorded {
                    Recorded::New => {
                        self.metrics.count("CommentsStored", 1);
                        self.tally(tenant, Counter::CommentsReceived);
                        true
                    }
                    Recorded::Duplicate => {
                        self.metrics.count("EventsDeduplicated", 1);
                        // Queue again only while nobody has moderated it: moderation is
                        // idempotent, and this covers a crash between store and queue.
                        self.store
                            .get_comment(tenant, account, &comment.id)
                            .await?
                            .is_some_and(|c| c.moderated_at.is_none())
                    }
                };
                // Comments the business itself wrote are not moderated.
                if still_new && !event.by_business {
                    let job = ModerationJob {
                        tenant_id: tenant.clone(),
                        account_id: account.clone(),
                        comment_id: comment.id.clone(),
                        action: Default::default(),
                    };
                    self.moderation.send(&job, 0).await?;
                }
            }
            (EventKind::Referral(_), _) => {
                self.keep_event(tenant, account, "referral", event).await?;
            }
            (EventKind::Mention(_), _) => {
                self.keep_event(tenant, account, "mention", event).await?;
            }
            (EventKind::Unknown(u), _) => {
                let kind = format!("unknown:{}", u.kind);
                self.keep_raw(
                    tenant,
                    account,
                    &kind,
                    event.dedupe_key(),
                    event.timestamp_ms,
                    u.raw.to_string(),
                )
                .await?;
            }
            (_, None) => {
                self.keep_event(tenant, account, "no_customer", event)
                    .await?;
            }
        }
        Ok(())
    }

    async fn record_inbound(&self, message: StoredMessage) -> Result<(), IngestError> {
        let recorded = self.store.record_message(&message, None).await?;
        self.count_recorded(recorded);
        if recorded == Recorded::New {
            self.tally(&message.tenant_id, Counter::MessagesReceived);
        }
        if message.deleted || message.kind == MessageKind::Unsupported && message.text.is_none() {
            return Ok(());
        }
        // Queue the AI job for a new message, and again for a duplicate whose job was
        // never queued (a crash between store and queue): ai-reply claims each message
        // once, so a second job can never send twice.
        // A new message's key is known; a duplicate's comes from its mid pointer.
        let job_key = match recorded {
            Recorded::New => Some(keys::message(
                &message.tenant_id,
                &message.account_id,
                &message.customer_id,
                message.timestamp_ms,
                message.mid.as_str(),
            )),
            Recorded::Duplicate => self
                .store
                .find_message(
                    &message.tenant_id,
                    &message.account_id,
                    message.mid.as_str(),
                )
                .await?
                .filter(|(_, m)| !m.jobs_enqueued)
                .map(|(key, _)| key),
        };
        if let Some(key) = job_key {
            let job = AiReplyJob {
                tenant_id: message.tenant_id.clone(),
                account_id: message.account_id.clone(),
                customer_id: message.customer_id.clone(),
                mid: message.mid.clone(),
                timestamp_ms: message.timestamp_ms,
            };
            let delay = self
                .debounce_of(&message.tenant_id, &message.account_id)
                .await?;
            self.replies.send(&job, delay).await?;
            self.store.mark_jobs_enqueued(&key).await?;
            self.metrics.count("AiJobsQueued", 1);
        }
        Ok(())
    }

    /// The account's own debounce when its AI settings name one, else the installation's.
    async fn debounce_of(&self, tenant: &TenantId, account: &AccountId) -> Result<u32, StoreError> {
        let own = self
            .store
            .get_ai_settings(tenant, account)
            .await?
            .and_then(|s| s.debounce_seconds);
        Ok(own.unwrap_or(self.settings.debounce.as_secs() as u32))
    }

    async fn record_outbound(&self, message: StoredMessage) -> Result<(), IngestError> {
        let recorded = self.store.record_message(&message, None).await?;
        self.count_recorded(recorded);
        if recorded == Recorded::New {
            self.tally(&message.tenant_id, Counter::MessagesSent);
        }
        Ok(())
    }

    fn count_recorded(&self, recorded: Recorded) {
        match recorded {
            Recorded::New => self.metrics.count("MessagesStored", 1),
            Recorded::Duplicate => self.metrics.count("EventsDeduplicated", 1),
        }
    }

    /// A person typed "..." in the Instagram app: the AI stops for this conversation.
    async fn take_over(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        customer: &CustomerId,
        mid: &MessageId,
        at: i64,
    ) -> Result<(), IngestError> {
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
        self.audit
            .append(
                tenant,
                AuditEntry::new("system:ingest", "conversation.paused")
                    .target(format!(
                        "conversation:{}:{}",
                        account,
                        customer.fingerprint()
                    ))
                    .details(serde_json::json!({"reason": "human_takeover", "mid": mid.as_str()})),
            )
            .await?;
        // Marked last: a crash before this point repeats the (idempotent) pause and, at
        // worst, the event; it never loses it.
        let ttl = now_ms() / 1000 + 30 * 86_400;
        self.store.claim_action(tenant, &marker, ttl).await?;
        info!("conversation paused by human takeover");
        self.metrics.count("HumanTakeovers", 1);
        Ok(())
    }

    /// Apply a change to a stored message; when the message is not there yet, let SQS
    /// redeliver a few times (it is usually just behind), then keep the event raw.
    async fn orphan_or(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        event: &Event,
        receives: u32,
        what: &'static str,
        apply: impl std::future::Future<Output = Result<Applied, StoreError>>,
    ) -> Result<(), IngestError> {
        match apply.await? {
            Applied::Applied => self.metrics.count("ChangesApplied", 1),
            Applied::Stale => self.metrics.count("ChangesStale", 1),
            Applied::MessageUnknown if receives < self.settings.orphan_receives => {
                return Err(IngestError::MessageNotYetStored(what));
            }
            Applied::MessageUnknown => {
                self.metrics.count("OrphanEvents", 1);
                self.keep_event(tenant, account, &format!("orphan:{what}"), event)
                    .await?;
            }
        }
        Ok(())
    }

    async fn keep_event(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        kind: &str,
        event: &Event,
    ) -> Result<(), IngestError> {
        let raw = describe(event);
        self.keep_raw(
            tenant,
            account,
            kind,
            event.dedupe_key(),
            event.timestamp_ms,
            raw,
        )
        .await
    }

    async fn keep_raw(
        &self,
        tenant: &TenantId,
        account: &AccountId,
        kind: &str,
        dedupe_key: String,
        timestamp_ms: i64,
        raw: String,
    ) -> Result<(), IngestError> {
        let event = RawEvent {
            tenant_id: tenant.clone(),
            account_id: account.clone(),
            kind: kind.to_owned(),
            dedupe_key,
            timestamp_ms,
            raw,
        };
        let ttl = now_ms() / 1000 + self.settings.raw_event_ttl.as_secs() as i64;
        let recorded = self.store.record_raw_event(&event, ttl).await?;
        if recorded == Recorded::New {
            self.metrics.count("RawEventsStored", 1);
        }
        Ok(())
    }
}

trait EntryTime {
    fn time_ms(&self) -> i64;
}

impl EntryTime for relay::webhook::InboundEntry {
    /// `entry.time` in ms (Instagram changes send seconds).
    fn time_ms(&self) -> i64 {
        if self.time < 100_000_000_000 {
            self.time * 1000
        } else {
            self.time
        }
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A stable short digest: the dedupe key of a rejected item must be the same in every
/// process and every release, or a redelivery would be kept twice.
fn hash(raw: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(raw.as_bytes())[..8])
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

fn blank_message(
    tenant: &TenantId,
    account: &AccountId,
    customer: &CustomerId,
    event: &Event,
    mid: MessageId,
    direction: Direction,
    author: Author,
) -> StoredMessage {
    StoredMessage {
        tenant_id: tenant.clone(),
        account_id: account.clone(),
        customer_id: customer.clone(),
        mid,
        direction,
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
        timestamp_ms: event.timestamp_ms,
        received_at: now_ms(),
        reactions: Default::default(),
        read_at: None,
        edit_count: 0,
        deleted: false,
        ai: None,
        jobs_enqueued: false,
    }
}

fn stored_message(
    tenant: &TenantId,
    account: &AccountId,
    customer: &CustomerId,
    event: &Event,
    m: &Message,
    direction: Direction,
    author: Author,
) -> StoredMessage {
    let mut stored = blank_message(
        tenant,
        account,
        customer,
        event,
        m.mid.clone(),
        direction,
        author,
    );
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
        Some(relay::webhook::ReplyTo::Message(mid)) => stored.reply_to_mid = Some(mid.to_string()),
        Some(relay::webhook::ReplyTo::Story { id, url }) => {
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

/// A JSON description of an event kept raw (no model of its own).
fn describe(event: &Event) -> String {
    let source = match event.source {
        EventSource::Messaging(i) => format!("messaging[{i}]"),
        EventSource::Change(i) => format!("changes[{i}]"),
        EventSource::Standby(i) => format!("standby[{i}]"),
        EventSource::Entry => "entry".into(),
    };
    let detail = match &event.kind {
        EventKind::Referral(r) => serde_json::json!({
            "ref": r.ref_param, "ad_id": r.ad_id, "source": r.source, "type": r.kind,
        }),
        EventKind::Mention(m) => serde_json::json!({
            "media_id": m.media_id.as_str(),
            "comment_id": m.comment_id.as_ref().map(|c| c.as_str()),
        }),
        EventKind::Reaction(r) => serde_json::json!({
            "mid": r.mid.as_str(), "action": r.action.as_str(), "reaction": r.reaction, "emoji": r.emoji,
        }),
        EventKind::Read(r) => match &r.marker {
            ReadMarker::Message(mid) => serde_json::json!({"mid": mid.as_str()}),
            ReadMarker::Watermark(w) => serde_json::json!({"watermark": w}),
        },
        EventKind::MessageEdit(e) => serde_json::json!({
            "mid": e.mid.as_str(), "num_edit": e.num_edit, "text": e.text.as_ref().map(|t| t.as_str()),
        }),
        EventKind::Message(m) | EventKind::Echo(relay::webhook::Echo { message: m, .. }) => {
            serde_json::json!({"mid": m.mid.as_str(), "deleted": m.is_deleted})
        }
        _ => serde_json::Value::Null,
    };
    serde_json::json!({
        "source": source,
        "customer_id": event.customer.as_ref().map(|c| c.as_str()),
        "by_business": event.by_business,
        "timestamp_ms": event.timestamp_ms,
        "detail": detail,
    })
    .to_string()
}
