//! Events kept raw: mentions, referrals, unknown kinds, events without a customer, items
//! that did not parse and orphaned changes.
//!
//! Each is stored once (its dedupe key is stable across deliveries, processes and
//! releases) and expires after [`Settings::raw_event_ttl`](super::Settings::raw_event_ttl).
//! Nothing Meta sent is dropped without a trace: what Relay has no model for is kept for
//! inspection, never logged.

use super::ports::RawEvents;
use super::{IngestError, Ingestion, Ports};
use crate::inbox::RawEvent;
use crate::store::accounts::Route;
use crate::store::inbox::Recorded;
use crate::store::keys;
use crate::webhook::{Echo, Event, EventKind, EventSource, ReadMarker, RejectedEvent, Unknown};

impl<P: Ports> Ingestion<P> {
    /// An event without a model of its own, described as JSON.
    pub(super) async fn keep_event(
        &self,
        route: &Route,
        kind: &str,
        event: &Event,
    ) -> Result<(), IngestError> {
        let raw = describe(event);
        self.keep_raw(route, kind, event.dedupe_key(), event.timestamp_ms, raw)
            .await
    }

    /// An event of a kind Relay does not know, as Meta sent it.
    pub(super) async fn keep_unknown(
        &self,
        route: &Route,
        event: &Event,
        unknown: &Unknown,
    ) -> Result<(), IngestError> {
        let kind = format!("unknown:{}", unknown.kind);
        let raw = unknown.raw.to_string();
        self.keep_raw(route, &kind, event.dedupe_key(), event.timestamp_ms, raw)
            .await
    }

    /// An item that did not parse, as Meta sent it, at the entry's time.
    pub(super) async fn keep_rejected(
        &self,
        route: &Route,
        entry_time_ms: i64,
        rejected: &RejectedEvent,
    ) -> Result<(), IngestError> {
        let raw = rejected.raw.get().to_owned();
        let key = keys::rejected_item(&raw);
        self.keep_raw(route, "rejected", key, entry_time_ms, raw)
            .await
    }

    async fn keep_raw(
        &self,
        route: &Route,
        kind: &str,
        dedupe_key: String,
        timestamp_ms: i64,
        raw: String,
    ) -> Result<(), IngestError> {
        let event = RawEvent {
            tenant_id: route.tenant_id.clone(),
            account_id: route.account_id.clone(),
            kind: kind.to_owned(),
            dedupe_key,
            timestamp_ms,
            raw,
        };
        let ttl = self.clock.now_secs() + self.settings.raw_event_ttl.as_secs() as i64;
        if self.store.record_raw_event(&event, ttl).await? == Recorded::New {
            self.metrics.count("RawEventsStored", 1);
        }
        Ok(())
    }
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
        EventKind::Message(m) | EventKind::Echo(Echo { message: m, .. }) => {
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
