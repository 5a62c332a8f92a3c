//! Ingestion: webhook entries from the inbound queue become the inbox.
//!
//! For each entry, [`Ingestion::ingest`] routes the entry's account to its tenant, applies
//! its events in event-time order (Meta does not guarantee order) and stores each at most
//! once: direct messages, echoes and postbacks as messages, reactions, reads, edits and
//! deletions as changes to them, comments as comments, and everything without a model of
//! its own (mentions, referrals, unknown kinds, events that did not parse) as raw events.
//! An entry that cannot be applied now is an error, so the queue delivers it again;
//! everything written is idempotent, so a redelivery is always safe and never stores or
//! counts anything twice.
//!
//! Fan-out: a customer's message queues an AI-reply job (delayed by the debounce); a new
//! comment queues a moderation job. A business echo of exactly "..." pauses the AI for the
//! conversation, raises EscalationCreated and is audited.

mod changes;
mod comments;
mod messages;
pub mod ports;
mod raw;
mod takeover;
mod usage;

#[cfg(any(test, feature = "doubles"))]
pub mod memory;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::{Instrument, info, info_span, warn};

use self::ports::Routes;
pub use self::ports::{Aws, Change, IngestStore, Ports};
use crate::clock::{Clock, SystemClock};
use crate::config::{ConfigError, Vars};
use crate::ids::{AccountId, TenantId};
use crate::inbox::Author;
use crate::store::StoreError;
use crate::store::accounts::{Channel, Route};
use crate::store::usage::Counter;
use crate::telemetry::Metrics;
use crate::webhook::{Event, EventKind, InboundEntry, Platform, ReadMarker};

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

/// One webhook entry off the inbound queue: what [`Ingestion::ingest`] applies.
#[derive(Debug)]
pub struct QueuedEntry {
    pub entry: InboundEntry,
    /// How often the queue handed the entry out, this time included: a change whose
    /// message is not stored yet waits until [`Settings::orphan_receives`].
    pub receives: u32,
    /// When the queue took the delivery (ms), if it says: the account's "last webhook
    /// seen" time.
    pub sent_at_ms: Option<i64>,
}

/// Why an entry could not be applied (it should be delivered again).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not queue a job: {0}")]
    Job(#[from] crate::jobs::JobError),
    #[error("could not publish an event: {0}")]
    Event(#[from] crate::events::EventError),
    #[error("could not audit: {0}")]
    Audit(#[from] crate::audit::AuditError),
    #[error("{0} waits for its message")]
    MessageNotYetStored(&'static str),
}

/// The ingestion workflow and what it needs. Cheap to share across invocations.
pub struct Ingestion<P: Ports = Aws> {
    pub store: P::Store,
    pub audit: P::Audit,
    pub bus: P::Bus,
    pub replies: P::Queue,
    pub moderation: P::Queue,
    pub settings: Settings,
    pub clock: Arc<dyn Clock>,
    metrics: Metrics,
    /// Usage counted since the last [`Ingestion::write_tally`], per tenant.
    tally: Mutex<BTreeMap<TenantId, BTreeMap<Counter, u64>>>,
    /// When this instance last noted each account's webhook, so that it writes at most
    /// once a minute per account.
    seen: Mutex<HashMap<AccountId, i64>>,
}

impl<P: Ports> Ingestion<P> {
    pub fn new(
        store: P::Store,
        audit: P::Audit,
        bus: P::Bus,
        replies: P::Queue,
        moderation: P::Queue,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            audit,
            bus,
            replies,
            moderation,
            settings,
            clock: Arc::new(SystemClock),
            metrics: Metrics::new("ingest"),
            tally: Mutex::default(),
            seen: Mutex::default(),
        }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Apply one entry. An error means nothing was lost: what was stored stays stored
    /// (once), and delivering the entry again completes the rest.
    pub async fn ingest(&self, queued: QueuedEntry) -> Result<(), IngestError> {
        let QueuedEntry {
            mut entry,
            receives,
            sent_at_ms,
        } = queued;
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
        let at = sent_at_ms.unwrap_or_else(|| self.clock.now_ms());
        self.note_seen(&route, at).await;
        let span =
            info_span!("entry", tenant_id = %route.tenant_id, account_id = %route.account_id);
        async {
            for rejected in &entry.rejected {
                warn!(error = %rejected.error, source = ?rejected.source, "event did not parse; kept raw");
                self.metrics.count("EventsRejected", 1);
                self.keep_rejected(&route, entry_time_ms(&entry), rejected)
                    .await?;
            }
            // Meta does not guarantee order: apply in event time.
            entry.events.sort_by_key(|e| e.timestamp_ms);
            for event in &entry.events {
                self.apply(&route, event, receives).await?;
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    async fn apply(&self, route: &Route, event: &Event, receives: u32) -> Result<(), IngestError> {
        let by = if event.by_business {
            Author::Human
        } else {
            Author::Customer
        };
        match (&event.kind, event.customer.as_ref()) {
            (EventKind::Message(m), Some(_)) if m.is_deleted => {
                let change = Change::Delete {
                    mid: m.mid.as_str(),
                };
                self.change(route, event, receives, change).await
            }
            // A message the business sent that came without is_echo (a self message) is a
            // person's, like an echo.
            (EventKind::Message(m), Some(c)) => {
                let message = messages::received(route, c, event, m, by, self.clock.now_ms());
                self.record_message(message).await
            }
            (EventKind::Echo(e), Some(_)) if e.message.is_deleted => {
                let change = Change::Delete {
                    mid: e.message.mid.as_str(),
                };
                self.change(route, event, receives, change).await
            }
            (EventKind::Echo(e), Some(c)) => self.record_echo(route, c, event, e).await,
            (EventKind::Reaction(r), Some(_)) => {
                let change = changes::reaction(event, r);
                self.change(route, event, receives, change).await
            }
            (EventKind::Read(r), Some(c)) => {
                let (mid, watermark_ms) = match &r.marker {
                    ReadMarker::Message(mid) => (Some(mid.as_str()), None),
                    ReadMarker::Watermark(w) => (None, Some(*w)),
                };
                let change = Change::Read {
                    customer: c,
                    mid,
                    watermark_ms,
                    read_at: event.timestamp_ms,
                };
                self.change(route, event, receives, change).await
            }
            (EventKind::MessageEdit(e), Some(_)) => {
                let change = Change::Edit {
                    mid: e.mid.as_str(),
                    text: e.text.as_ref().map(|t| t.as_str()),
                    num_edit: e.num_edit.unwrap_or(1),
                };
                self.change(route, event, receives, change).await
            }
            (EventKind::Postback(p), Some(c)) => {
                let message = messages::postback(route, c, event, p, self.clock.now_ms());
                self.record_message(message).await
            }
            (EventKind::Comment(comment), _) => self.record_comment(route, event, comment).await,
            (EventKind::Referral(_), _) => self.keep_event(route, "referral", event).await,
            (EventKind::Mention(_), _) => self.keep_event(route, "mention", event).await,
            (EventKind::Unknown(u), _) => self.keep_unknown(route, event, u).await,
            (_, None) => self.keep_event(route, "no_customer", event).await,
        }
    }
}

/// `entry.time` in ms (Instagram changes send seconds).
fn entry_time_ms(entry: &InboundEntry) -> i64 {
    if entry.time < 100_000_000_000 {
        entry.time * 1000
    } else {
        entry.time
    }
}
