//! From an accepted envelope to SQS messages: one message per entry, split by event when an
//! entry is too big for one message, then grouped for `SendMessageBatch`.
//!
//! Message body: `{"object":"instagram"|"page","entry":<entry>}`, so the consumer knows the
//! platform and sees the entry exactly as Meta sent it (escapes included).
//!
//! Guarantees (property-tested): every event of an entry lands in exactly one message, in
//! the original order; every message body plus the attribute allowance fits the SQS message
//! limit; every batch holds at most 10 messages and fits the SQS batch payload limit.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::Platform;
use super::envelope::{Entry, Envelope};
use super::json::Text;
use crate::ids::AccountId;

/// The SQS quotas a message and a batch must fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Largest payload of one message, and of one `SendMessageBatch` call, counting bodies and
    /// message attributes (SQS: 256 KiB for both).
    pub max_payload_bytes: usize,
    /// Bytes reserved per message for the attributes the sender adds (names, types and
    /// values all count towards the SQS payload size).
    pub attribute_allowance: usize,
    /// Most messages in one `SendMessageBatch` call (SQS: 10).
    pub max_batch_entries: usize,
}

impl QueueLimits {
    /// SQS's limits, with 2 KiB per message left for attributes.
    pub const SQS: QueueLimits = QueueLimits {
        max_payload_bytes: 256 * 1024,
        attribute_allowance: 2 * 1024,
        max_batch_entries: 10,
    };

    /// The largest body one message may have.
    pub fn max_body_bytes(&self) -> usize {
        self.max_payload_bytes
            .saturating_sub(self.attribute_allowance)
    }

    fn cost(&self, message: &QueueMessage) -> usize {
        message.body.len() + self.attribute_allowance
    }
}

impl Default for QueueLimits {
    fn default() -> Self {
        Self::SQS
    }
}

/// One SQS message body for (part of) one entry.
#[derive(Clone, PartialEq, Eq)]
pub struct QueueMessage {
    platform: Platform,
    account_id: AccountId,
    entry_index: usize,
    part: usize,
    parts: usize,
    body: String,
    dedup_id: String,
}

impl QueueMessage {
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// The account the entry is for: the natural `MessageGroupId` on a FIFO queue.
    pub fn account_id(&self) -> &AccountId {
        &self.account_id
    }

    /// Position of the entry in the delivery.
    pub fn entry_index(&self) -> usize {
        self.entry_index
    }

    /// Which part of a split entry this is (0-based), and how many parts there are.
    pub fn part(&self) -> (usize, usize) {
        (self.part, self.parts)
    }

    /// The message body.
    pub fn body(&self) -> &str {
        &self.body
    }

    pub fn into_body(self) -> String {
        self.body
    }

    /// A stable id for this exact body (hex SHA-256, 64 characters): Meta redelivers the same
    /// entry bytes, so a redelivery yields the same id. Usable as a FIFO
    /// `MessageDeduplicationId`, or as a message attribute for consumers that dedupe.
    pub fn dedup_id(&self) -> &str {
        &self.dedup_id
    }
}

// The body is user content; Debug shows its size only.
impl fmt::Debug for QueueMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueMessage")
            .field("platform", &self.platform)
            .field("account_id", &self.account_id)
            .field("entry_index", &self.entry_index)
            .field("part", &(self.part, self.parts))
            .field("bytes", &self.body.len())
            .field("dedup_id", &self.dedup_id)
            .finish()
    }
}

/// Why (part of) an entry cannot be queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error(
        "entry {entry_index} for account {account_id}: event {field}[{index}] is {bytes} bytes, \
         more than fits one queue message ({limit} bytes)"
    )]
    EventTooLarge {
        account_id: AccountId,
        entry_index: usize,
        field: &'static str,
        index: usize,
        bytes: usize,
        limit: usize,
    },
    #[error(
        "entry {entry_index} for account {account_id} is {bytes} bytes, more than fits one \
         queue message ({limit} bytes), and has no event array to split it by"
    )]
    EntryTooLarge {
        account_id: AccountId,
        entry_index: usize,
        bytes: usize,
        limit: usize,
    },
}

/// The messages for one delivery, plus what could not be queued.
#[derive(Debug, Default)]
pub struct Outbox {
    /// In delivery order: entry by entry, parts in order.
    pub messages: Vec<QueueMessage>,
    /// Entries (or single events) too large for SQS. A Meta event never comes close to
    /// 256 KiB, so these point at something odd; the function archives the raw delivery.
    pub rejected: Vec<QueueError>,
}

/// Turns every entry of an envelope into queue messages.
pub fn queue_messages(envelope: &Envelope, limits: &QueueLimits) -> Outbox {
    let mut outbox = Outbox {
        messages: Vec::with_capacity(envelope.entries.len()),
        rejected: Vec::new(),
    };
    for entry in &envelope.entries {
        match entry_messages(envelope.platform, entry, limits) {
            Ok(messages) => outbox.messages.extend(messages),
            Err(err) => outbox.rejected.push(err),
        }
    }
    outbox
}

/// The arrays of an entry that hold one event per item, and can be split between messages.
const EVENT_ARRAYS: [&str; 3] = ["messaging", "changes", "standby"];

const OBJECT_PREFIX: &str = "{\"object\":\"";
const ENTRY_INFIX: &str = "\",\"entry\":";

/// The queue messages for one entry: usually one, more when the entry must be split.
pub fn entry_messages(
    platform: Platform,
    entry: &Entry,
    limits: &QueueLimits,
) -> Result<Vec<QueueMessage>, QueueError> {
    let max_body = limits.max_body_bytes();
    let raw = entry.raw.get();
    let framed_len = OBJECT_PREFIX.len() + platform.object().len() + ENTRY_INFIX.len() + 1;
    let bodies = if framed_len + raw.len() <= max_body {
        let mut body = String::with_capacity(framed_len + raw.len());
        push_frame_start(&mut body, platform);
        body.push_str(raw);
        body.push('}');
        vec![body]
    } else {
        split(platform, entry, max_body)?
    };
    let parts = bodies.len();
    Ok(bodies
        .into_iter()
        .enumerate()
        .map(|(part, body)| QueueMessage {
            platform,
            account_id: entry.account_id.clone(),
            entry_index: entry.index,
            part,
            parts,
            dedup_id: hex::encode(Sha256::digest(body.as_bytes())),
            body,
        })
        .collect())
}

fn push_frame_start(body: &mut String, platform: Platform) {
    body.push_str(OBJECT_PREFIX);
    body.push_str(platform.object());
    body.push_str(ENTRY_INFIX);
}

/// An entry's members in their original order (serde_json's `Map` would sort them).
struct Members<'a>(Vec<(Text<'a>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an entry object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<Text<'de>, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(MembersVisitor)
    }
}

/// One event array of the entry being split, with its items.
struct Group<'a> {
    key: &'static str,
    items: Vec<&'a RawValue>,
}

/// Splits an entry into bodies that each hold the entry's other members (`id`, `time`, ...)
/// and a consecutive run of its events, filled greedily so the number of parts is minimal
/// for the order-preserving split.
fn split(platform: Platform, entry: &Entry, max_body: usize) -> Result<Vec<String>, QueueError> {
    let raw = entry.raw.get();
    let too_large = || QueueError::EntryTooLarge {
        account_id: entry.account_id.clone(),
        entry_index: entry.index,
        bytes: raw.len(),
        limit: max_body,
    };
    // Entries reaching this point were parsed by the envelope, so they are JSON objects.
    let Members(members) = serde_json::from_str(raw).map_err(|_| too_large())?;

    let mut head = String::new();
    let mut groups: Vec<Group> = Vec::new();
    for (key, value) in members {
        let array_key = EVENT_ARRAYS.iter().find(|k| **k == key.0).copied();
        let items = match array_key {
            Some(_) if value.get().starts_with('[') => {
                serde_json::from_str::<Vec<&RawValue>>(value.get()).ok()
            }
            _ => None,
        };
        match (array_key, items) {
            (Some(key), Some(items)) if groups.iter().all(|g| g.key != key) => {
                groups.push(Group { key, items });
            }
            _ => {
                if !head.is_empty() {
                    head.push(',');
                }
                head.push_str(
                    &serde_json::to_string(key.0.as_ref()).expect("a string always serializes"),
                );
                head.push(':');
                head.push_str(value.get());
            }
        }
    }
    if groups.iter().all(|g| g.items.is_empty()) {
        return Err(too_large());
    }

    let mut prefix = String::new();
    push_frame_start(&mut prefix, platform);
    prefix.push('{');
    prefix.push_str(&head);
    // `prefix` + groups + "}}"
    let base = prefix.len() + 2;

    // A chunk is a list of (group, range of items); its size is tracked exactly.
    let mut chunks: Vec<Vec<(usize, usize, usize)>> = Vec::new();
    let mut current: Vec<(usize, usize, usize)> = Vec::new();
    let mut size = base;
    for (g, group) in groups.iter().enumerate() {
        for (i, item) in group.items.iter().enumerate() {
            let mut cost = added_cost(&current, g, group.key, item, head.is_empty());
            if size + cost > max_body && !current.is_empty() {
                chunks.push(std::mem::take(&mut current));
                size = base;
                cost = added_cost(&current, g, group.key, item, head.is_empty());
            }
            if size + cost > max_body {
                return Err(QueueError::EventTooLarge {
                    account_id: entry.account_id.clone(),
                    entry_index: entry.index,
                    field: group.key,
                    index: i,
                    bytes: item.get().len(),
                    limit: max_body,
                });
            }
            size += cost;
            match current.last_mut() {
                Some((last_g, _, end)) if *last_g == g => *end = i + 1,
                _ => current.push((g, i, i + 1)),
            }
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }

    Ok(chunks
        .iter()
        .map(|chunk| {
            let mut body = prefix.clone();
            for (n, &(g, start, end)) in chunk.iter().enumerate() {
                if n > 0 || !head.is_empty() {
                    body.push(',');
                }
                body.push('"');
                body.push_str(groups[g].key);
                body.push_str("\":[");
                for (k, item) in groups[g].items[start..end].iter().enumerate() {
                    if k > 0 {
                        body.push(',');
                    }
                    body.push_str(item.get());
                }
                body.push(']');
            }
            body.push_str("}}");
            debug_assert!(body.len() <= max_body, "split sizes are computed exactly");
            body
        })
        .collect())
}

/// Bytes that adding `item` of group `g` to `current` adds to the body.
fn added_cost(
    current: &[(usize, usize, usize)],
    g: usize,
    key: &str,
    item: &RawValue,
    head_is_empty: bool,
) -> usize {
    match current.last() {
        // `,<item>`
        Some((last_g, _, _)) if *last_g == g => 1 + item.get().len(),
        // `,"key":[<item>]` (no comma when it is the object's first member)
        _ => {
            let comma = usize::from(!(current.is_empty() && head_is_empty));
            comma + key.len() + 5 + item.get().len()
        }
    }
}

/// Messages for one `SendMessageBatch` call. SQS wants batch-unique entry ids: use the
/// position in [`Batch::messages`] (the dedup id is not unique if Meta repeats an entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    messages: Vec<QueueMessage>,
    payload_bytes: usize,
}

impl Batch {
    pub fn messages(&self) -> &[QueueMessage] {
        &self.messages
    }

    pub fn into_messages(self) -> Vec<QueueMessage> {
        self.messages
    }

    /// Bodies plus the attribute allowance of every message.
    pub fn payload_bytes(&self) -> usize {
        self.payload_bytes
    }
}

/// Groups messages, in order, into as few `SendMessageBatch` calls as the greedy order-keeping
/// packing gives: at most `max_batch_entries` messages and `max_payload_bytes` per batch.
pub fn batches(messages: Vec<QueueMessage>, limits: &QueueLimits) -> Vec<Batch> {
    let per_batch = limits.max_batch_entries.max(1);
    let mut out: Vec<Batch> = Vec::with_capacity(messages.len().div_ceil(per_batch));
    for message in messages {
        let cost = limits.cost(&message);
        match out.last_mut() {
            Some(batch)
                if batch.messages.len() < per_batch
                    && batch.payload_bytes + cost <= limits.max_payload_bytes =>
            {
                batch.payload_bytes += cost;
                batch.messages.push(message);
            }
            // A message that alone exceeds the payload limit (built under other limits) still
            // gets its own batch: SQS will name it, and nothing is dropped silently.
            _ => out.push(Batch {
                payload_bytes: cost,
                messages: vec![message],
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::envelope::{Delivery, parse_envelope};
    use crate::webhook::fixtures;
    use proptest::prelude::*;
    use serde_json::Value;

    fn envelope(body: &str) -> Envelope {
        match parse_envelope(body.as_bytes()).expect("fixture parses") {
            Delivery::Accepted(e) => e,
            Delivery::Ignored { .. } => panic!("fixture ignored"),
        }
    }

    #[test]
    fn one_message_per_entry_framed_with_the_platform() {
        let env = envelope(fixtures::IG_BATCH);
        let outbox = queue_messages(&env, &QueueLimits::SQS);
        assert!(outbox.rejected.is_empty());
        assert_eq!(outbox.messages.len(), env.entries.len());
        for (message, entry) in outbox.messages.iter().zip(&env.entries) {
            assert_eq!(
                message.body(),
                format!(r#"{{"object":"instagram","entry":{}}}"#, entry.raw.get())
            );
            assert_eq!(message.account_id(), &entry.account_id);
            assert_eq!(message.part(), (0, 1));
            assert_eq!(message.dedup_id().len(), 64);
        }
        let messenger = envelope(fixtures::MESSENGER_MESSAGE);
        let outbox = queue_messages(&messenger, &QueueLimits::SQS);
        assert!(
            outbox.messages[0]
                .body()
                .starts_with(r#"{"object":"page","entry":{"#)
        );
    }

    #[test]
    fn redelivery_gives_the_same_dedup_id() {
        let first = queue_messages(&envelope(fixtures::IG_BATCH), &QueueLimits::SQS);
        let again = queue_messages(&envelope(fixtures::IG_BATCH), &QueueLimits::SQS);
        let ids = |o: &Outbox| {
            o.messages
                .iter()
                .map(|m| m.dedup_id().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&first), ids(&again));
        let distinct: std::collections::HashSet<_> = ids(&first).into_iter().collect();
        assert_eq!(distinct.len(), first.messages.len());
    }

    #[test]
    fn every_fixture_fits_one_message() {
        for (name, body) in fixtures::ALL {
            let env = envelope(body);
            let outbox = queue_messages(&env, &QueueLimits::SQS);
            assert!(outbox.rejected.is_empty(), "{name}");
            assert_eq!(outbox.messages.len(), env.entries.len(), "{name}");
        }
    }

    fn big_entry(events: usize, text_len: usize) -> String {
        let items: Vec<String> = (0..events)
            .map(|i| {
                format!(
                    r#"{{"sender":{{"id":"1234567890123456"}},"recipient":{{"id":"17841400000000001"}},"timestamp":{},"message":{{"mid":"m{i}","text":"{}"}}}}"#,
                    1_790_000_000_000u64 + i as u64,
                    "x".repeat(text_len)
                )
            })
            .collect();
        format!(
            r#"{{"object":"instagram","entry":[{{"id":"17841400000000001","time":1790000000123,"messaging":[{}]}}]}}"#,
            items.join(",")
        )
    }

    #[test]
    fn an_oversized_entry_is_split_by_event_and_keeps_id_and_time() {
        let body = big_entry(40, 10_000); // ~400 KB in one entry
        let env = envelope(&body);
        let outbox = queue_messages(&env, &QueueLimits::SQS);
        assert!(outbox.rejected.is_empty());
        assert_eq!(outbox.messages.len(), 2);
        let mut mids = Vec::new();
        for (n, message) in outbox.messages.iter().enumerate() {
            assert!(message.body().len() <= QueueLimits::SQS.max_body_bytes());
            assert_eq!(message.part(), (n, 2));
            let v: Value = serde_json::from_str(message.body()).unwrap();
            assert_eq!(v["object"], "instagram");
            assert_eq!(v["entry"]["id"], "17841400000000001");
            assert_eq!(v["entry"]["time"], 1_790_000_000_123u64);
            for item in v["entry"]["messaging"].as_array().unwrap() {
                mids.push(item["message"]["mid"].as_str().unwrap().to_owned());
            }
        }
        let expected: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
        assert_eq!(mids, expected, "every DM once, in order");
    }

    #[test]
    fn a_single_event_over_the_limit_is_named() {
        let body = big_entry(3, 300_000);
        let env = envelope(&body);
        let outbox = queue_messages(&env, &QueueLimits::SQS);
        assert!(outbox.messages.is_empty());
        match &outbox.rejected[..] {
            [
                QueueError::EventTooLarge {
                    field: "messaging",
                    index: 0,
                    entry_index: 0,
                    ..
                },
            ] => {}
            other => panic!("unexpected {other:?}"),
        }
        let shown = outbox.rejected[0].to_string();
        assert!(shown.contains("messaging[0]"), "{shown}");
        assert!(!shown.contains("xxxx"));
    }

    #[test]
    fn an_oversized_entry_without_events_is_rejected_whole() {
        let body = format!(
            r#"{{"object":"instagram","entry":[{{"id":"1","time":1,"field":"comments","value":{{"text":"{}"}}}},{{"id":"2","time":1,"messaging":[]}}]}}"#,
            "y".repeat(300_000)
        );
        let outbox = queue_messages(&envelope(&body), &QueueLimits::SQS);
        assert!(matches!(
            outbox.rejected[..],
            [QueueError::EntryTooLarge { entry_index: 0, .. }]
        ));
        assert_eq!(outbox.messages.len(), 1, "the small entry still goes out");
        assert_eq!(outbox.messages[0].entry_index(), 1);
    }

    #[test]
    fn batches_respect_count_and_size() {
        let env = envelope(&big_entry(1, 10));
        let one = &queue_messages(&env, &QueueLimits::SQS).messages[0];
        let messages = vec![one.clone(); 25];
        let out = batches(messages, &QueueLimits::SQS);
        assert_eq!(
            out.iter().map(|b| b.messages().len()).collect::<Vec<_>>(),
            vec![10, 10, 5]
        );

        // 100 KB messages: only two fit under 256 KiB.
        let env = envelope(&big_entry(1, 100_000));
        let big = &queue_messages(&env, &QueueLimits::SQS).messages[0];
        let out = batches(vec![big.clone(); 5], &QueueLimits::SQS);
        assert_eq!(
            out.iter().map(|b| b.messages().len()).collect::<Vec<_>>(),
            vec![2, 2, 1]
        );
        for b in &out {
            assert!(b.payload_bytes() <= QueueLimits::SQS.max_payload_bytes);
        }
        assert!(batches(Vec::new(), &QueueLimits::SQS).is_empty());
    }

    #[test]
    fn queue_message_debug_hides_the_body() {
        let env = envelope(fixtures::IG_MESSAGE_TEXT);
        let message = &queue_messages(&env, &QueueLimits::SQS).messages[0];
        assert!(!format!("{message:?}").contains("mid"));
    }

    /// Builds an entry with the given events; returns the body and the raw items per array.
    fn entry_with(
        head_extra: &str,
        messaging: &[String],
        changes: &[String],
    ) -> (String, Vec<String>) {
        let mut members = vec![
            r#""id":"17841400000000001""#.to_owned(),
            r#""time":1790000000"#.to_owned(),
        ];
        if !head_extra.is_empty() {
            members.push(head_extra.to_owned());
        }
        if !messaging.is_empty() {
            members.push(format!(r#""messaging":[{}]"#, messaging.join(",")));
        }
        if !changes.is_empty() {
            members.push(format!(r#""changes":[{}]"#, changes.join(",")));
        }
        let body = format!(
            r#"{{"object":"instagram","entry":[{{{}}}]}}"#,
            members.join(",")
        );
        let all = messaging.iter().chain(changes).cloned().collect();
        (body, all)
    }

    fn event_strategy() -> impl Strategy<Value = (usize, String)> {
        // Sizes from tiny to a good share of the (small) test limit, text with escapes.
        (0usize..1500, "[a-z \\\\\"\u{e4}]{0,4}")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn split_keeps_every_event_once_in_order_and_within_limits(
            messaging in proptest::collection::vec(event_strategy(), 0..30),
            changes in proptest::collection::vec(event_strategy(), 0..30),
            head_pad in 0usize..300,
            max_payload in 2048usize..6000,
            max_batch_entries in 1usize..12,
        ) {
            let limits = QueueLimits {
                max_payload_bytes: max_payload,
                attribute_allowance: 128,
                max_batch_entries,
            };
            let make = |prefix: &str, events: &[(usize, String)]| -> Vec<String> {
                events.iter().enumerate().map(|(i, (len, extra))| {
                    let text = serde_json::to_string(&format!("{}{}", "t".repeat(*len), extra)).unwrap();
                    format!(r#"{{"id":"{prefix}{i}","timestamp":{i},"text":{text}}}"#)
                }).collect()
            };
            let messaging = make("m", &messaging);
            let changes = make("c", &changes);
            let head_extra = format!(r#""pad":"{}""#, "p".repeat(head_pad));
            let (body, all_events) = entry_with(&head_extra, &messaging, &changes);
            let env = envelope(&body);
            let outbox = queue_messages(&env, &limits);

            // The smallest body that can carry an event: the entry's other members plus
            // `,"<key>":[<event>]`.
            let head = format!(r#""id":"17841400000000001","time":1790000000,{head_extra}"#);
            let base = r#"{"object":"instagram","entry":{"#.len() + head.len() + 2;
            let first_unfit = messaging.iter().enumerate().map(|(i, e)| ("messaging", i, e))
                .chain(changes.iter().enumerate().map(|(i, e)| ("changes", i, e)))
                .find(|(key, _, e)| base + 1 + key.len() + 5 + e.len() > limits.max_body_bytes());
            let whole_fits = body.len() - r#"{"object":"instagram","entry":[]}"#.len()
                + r#"{"object":"instagram","entry":}"#.len() <= limits.max_body_bytes();
            match (first_unfit, &outbox.rejected[..]) {
                (Some((key, index, _)), [QueueError::EventTooLarge { field, index: i, .. }]) if !whole_fits => {
                    prop_assert_eq!((key, index), (*field, *i), "the first event that cannot fit is named");
                    prop_assert!(outbox.messages.is_empty());
                    return Ok(());
                }
                (_, []) => {}
                (unfit, rejected) => {
                    prop_assert!(false, "rejected {:?}, first unfit {:?}", rejected, unfit.map(|u| (u.0, u.1)));
                }
            }

            let mut seen = Vec::new();
            for message in &outbox.messages {
                prop_assert!(message.body().len() + limits.attribute_allowance <= limits.max_payload_bytes);
                let v: Value = serde_json::from_str(message.body()).unwrap();
                prop_assert_eq!(&v["object"], "instagram");
                prop_assert_eq!(&v["entry"]["id"], "17841400000000001");
                prop_assert_eq!(&v["entry"]["time"], 1_790_000_000u64);
                prop_assert_eq!(v["entry"]["pad"].as_str().map(str::len), Some(head_pad));
                for key in ["messaging", "changes"] {
                    if let Some(items) = v["entry"][key].as_array() {
                        prop_assert!(!items.is_empty(), "no empty arrays are emitted");
                        for item in items {
                            seen.push(serde_json::to_string(item).unwrap());
                        }
                    }
                }
            }
            let expected: Vec<String> = all_events
                .iter()
                .map(|e| serde_json::to_string(&serde_json::from_str::<Value>(e).unwrap()).unwrap())
                .collect();
            prop_assert_eq!(seen, expected, "each event exactly once, in order");

            let sent: Vec<QueueMessage> = outbox.messages.clone();
            let grouped = batches(outbox.messages, &limits);
            let mut flattened = Vec::new();
            for batch in grouped {
                prop_assert!(!batch.messages().is_empty());
                prop_assert!(batch.messages().len() <= max_batch_entries);
                let payload: usize = batch.messages().iter().map(|m| m.body().len() + 128).sum();
                prop_assert_eq!(payload, batch.payload_bytes());
                prop_assert!(payload <= limits.max_payload_bytes);
                flattened.extend(batch.into_messages());
            }
            prop_assert_eq!(flattened, sent, "batching keeps order and drops nothing");
        }
    }
}
