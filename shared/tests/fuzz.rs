//! Hostile input against everything that reads what the internet sends before it is
//! trusted: webhook deliveries and queue messages, the webhook signature, Meta's
//! `signed_request`, and the OAuth `state`.
//!
//! Runs are bounded, counted and reproducible (`relay_fuzz::fuzz`: `RELAY_FUZZ_CASES`,
//! `RELAY_FUZZ_SEED`); `cargo test -p relay --test fuzz -- --nocapture` prints the
//! executions per target. No regression files are written: a real failure is kept as an
//! explicit unit test instead.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use relay::ids::{AccountId, TenantId};
use relay::onboarding::{
    OAuthState, Provider, ReturnTarget, STATE_LIFETIME_SECONDS, SignedRequest, SignedRequestError,
    StateError, StateSigner, verify_signed_request,
};
use relay::secret::Secret;
use relay::webhook::queue::entry_messages;
use relay::webhook::{
    Delivery, EventSource, InboundEntry, QueueLimits, SignatureError, batches, parse_envelope,
    parse_queue_message, queue_messages, sign, verify_signature, verify_subscription,
};
use relay_fuzz::json::{Json, Mutation, Vocabulary};
use relay_fuzz::{Count, fuzz};
use serde_json::Value;
use sha2::Sha256;

// ---------------------------------------------------------------------------------------
// Meta's documented payloads (the same files as the webhook's sample events).

const FIXTURES: &[&str] = &[
    include_str!("../../events/meta/instagram-batch-with-malformed-event.json"),
    include_str!("../../events/meta/instagram-batch.json"),
    include_str!("../../events/meta/instagram-comment-facebook-login.json"),
    include_str!("../../events/meta/instagram-comment-flat.json"),
    include_str!("../../events/meta/instagram-comment.json"),
    include_str!("../../events/meta/instagram-live-comment.json"),
    include_str!("../../events/meta/instagram-mention.json"),
    include_str!("../../events/meta/instagram-message-ad-referral.json"),
    include_str!("../../events/meta/instagram-message-attachment.json"),
    include_str!("../../events/meta/instagram-message-deleted.json"),
    include_str!("../../events/meta/instagram-message-echo-ellipsis.json"),
    include_str!("../../events/meta/instagram-message-echo.json"),
    include_str!("../../events/meta/instagram-message-edit.json"),
    include_str!("../../events/meta/instagram-message-quick-reply.json"),
    include_str!("../../events/meta/instagram-message-story-mention.json"),
    include_str!("../../events/meta/instagram-message-story-reply.json"),
    include_str!("../../events/meta/instagram-message-text.json"),
    include_str!("../../events/meta/instagram-message-unicode.json"),
    include_str!("../../events/meta/instagram-message-unsupported.json"),
    include_str!("../../events/meta/instagram-postback.json"),
    include_str!("../../events/meta/instagram-reaction.json"),
    include_str!("../../events/meta/instagram-read.json"),
    include_str!("../../events/meta/instagram-referral.json"),
    include_str!("../../events/meta/instagram-unknown-event.json"),
    include_str!("../../events/meta/instagram-unreact.json"),
    include_str!("../../events/meta/messenger-echo.json"),
    include_str!("../../events/meta/messenger-message.json"),
    include_str!("../../events/meta/messenger-postback.json"),
    include_str!("../../events/meta/messenger-reaction.json"),
    include_str!("../../events/meta/messenger-read.json"),
];

/// Every key the webhook parsers look at, so mutations hit the fields that matter.
const KEYS: &[&str] = &[
    "object",
    "entry",
    "id",
    "time",
    "messaging",
    "changes",
    "standby",
    "field",
    "value",
    "sender",
    "recipient",
    "timestamp",
    "message",
    "mid",
    "text",
    "attachments",
    "type",
    "payload",
    "url",
    "quick_reply",
    "reply_to",
    "story",
    "referral",
    "ref",
    "ad_id",
    "source",
    "is_echo",
    "is_deleted",
    "is_unsupported",
    "is_self",
    "app_id",
    "metadata",
    "message_edit",
    "num_edit",
    "reaction",
    "action",
    "emoji",
    "read",
    "watermark",
    "postback",
    "title",
    "comment_id",
    "parent_id",
    "from",
    "username",
    "media",
    "media_product_type",
    "original_media_id",
    "media_id",
];

/// Values with a meaning somewhere in the parsers.
const WORDS: &[&str] = &[
    "instagram",
    "page",
    "user",
    "permissions",
    "comments",
    "live_comments",
    "mentions",
    "messages",
    "react",
    "unreact",
    "love",
    "image",
    "video",
    "audio",
    "share",
    "story_mention",
    "ig_reel",
    "FEED",
    "REELS",
    "17841400000000001",
    "1234567890123456",
    "",
    " ",
    "\u{0}",
    "\u{202e}evil",
    "\u{feff}",
    "e\u{301}",
    "👍🏽",
    "𝕏",
    "\u{fffd}",
    "\u{2028}",
    "ä",
    "\"",
    "\\",
];

/// A change to the rendered bytes, for almost-JSON.
#[derive(Clone, Debug)]
enum Splice {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

impl Splice {
    fn apply(&self, bytes: &mut Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        let len = bytes.len();
        match *self {
            Splice::Truncate(at) => bytes.truncate(at % len),
            Splice::Flip(at, mask) => bytes[at % len] ^= mask,
            Splice::Insert(at, byte) => bytes.insert(at % (len + 1), byte),
            Splice::Delete(at) => {
                bytes.remove(at % len);
            }
        }
    }
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        "-?[1-9][0-9]{18,400}",
        "-?[0-9]{1,3}\\.[0-9]{1,30}[eE][+-]?[0-9]{1,5}",
        prop::sample::select(vec![
            "1e400",
            "-1e400",
            "18446744073709551615",
            "18446744073709551616",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "-0",
            "0.0",
            "1E2",
            "99999999999",
            "100000000000",
            "92233720368547758",
            "-1",
            "0",
            "4294967296",
            "1790000000123",
        ])
        .prop_map(str::to_owned),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => ".{0,24}",
        2 => "[0-9]{0,40}",
        3 => prop::sample::select(WORDS).prop_map(str::to_owned),
        1 => ("[a-z\u{e4}\u{1f600}\\\\\"]", 500usize..20_000).prop_map(|(s, n)| s.repeat(n)),
    ]
}

fn raw_token() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "\"\\ud800\"",
        "\"\\udc00\\ud800\"",
        "\"\\ud83d\\ude00\"",
        "\"\\u00\"",
        "\"\\x\"",
        "\"a\nb\"",
        "\"\\u0000\"",
        "NaN",
        "Infinity",
        "01",
        "1.",
        ".5",
        "+1",
        "tru",
        "nul",
        "[",
        "}",
        "",
        "{\"id\":\"1\"}",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    ])
    .prop_map(str::to_owned)
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => ".{0,12}",
        1 => prop::sample::select(KEYS).prop_map(|k| {
            // The same key spelled with an escape.
            k.chars().map(|c| format!("\\u{:04x}", c as u32)).collect::<String>()
        }),
    ]
}

fn vocabulary() -> Vocabulary {
    Vocabulary {
        number: number().boxed(),
        text: text().boxed(),
        raw: raw_token().boxed(),
        key: key().boxed(),
        nest_key: "id",
    }
}

fn json() -> impl Strategy<Value = Json> {
    vocabulary().json()
}

fn mutation() -> impl Strategy<Value = Mutation> {
    vocabulary().mutation()
}

fn splice() -> impl Strategy<Value = Splice> {
    prop_oneof![
        any::<usize>().prop_map(Splice::Truncate),
        (any::<usize>(), 1u8..).prop_map(|(at, m)| Splice::Flip(at, m)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Splice::Insert(at, b)),
        any::<usize>().prop_map(Splice::Delete),
    ]
}

/// SQS-like limits, mostly small enough that entries are split.
fn limits() -> impl Strategy<Value = QueueLimits> {
    let payload = prop_oneof![256usize..1024, 1024usize..8192];
    (payload, 0usize..128, 0usize..12).prop_map(|(payload, attributes, batch)| QueueLimits {
        max_payload_bytes: payload,
        attribute_allowance: attributes,
        max_batch_entries: batch,
    })
}

/// How a generated document is made of the fixtures it picks.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// A delivery with every picked fixture's entries.
    Batch,
    /// A delivery with one entry holding the events of all of them.
    Merged,
    /// A queue message (`"entry"` is one object) holding the events of all of them.
    Queue,
}

fn shape() -> impl Strategy<Value = Shape> {
    prop::sample::select(vec![Shape::Batch, Shape::Merged, Shape::Queue])
}

fn document(picks: &[usize], shape: Shape) -> Json {
    let docs: Vec<Value> = picks
        .iter()
        .map(|&i| serde_json::from_str(FIXTURES[i % FIXTURES.len()]).expect("fixtures are JSON"))
        .collect();
    let object = docs[0]["object"].clone();
    let entries: Vec<Value> = docs
        .iter()
        .flat_map(|d| d["entry"].as_array().cloned().unwrap_or_default())
        .collect();
    if let Shape::Batch = shape {
        return Json::of(&serde_json::json!({ "object": object, "entry": entries }));
    }
    let mut entry = entries[0].clone();
    for other in &entries[1..] {
        for key in ["messaging", "changes", "standby"] {
            if let Some(items) = other[key].as_array() {
                let slot = entry
                    .as_object_mut()
                    .expect("fixture entries are objects")
                    .entry(key)
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Some(slot) = slot.as_array_mut() {
                    slot.extend(items.iter().cloned());
                }
            }
        }
    }
    match shape {
        Shape::Queue => Json::of(&serde_json::json!({ "object": object, "entry": entry })),
        _ => Json::of(&serde_json::json!({ "object": object, "entry": [entry] })),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || contains_at(haystack, needle).is_some()
}

fn contains_at(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Events and refused events of an entry that came from its event arrays
/// (`messaging`, `changes`, `standby`).
fn array_items(entry: &InboundEntry) -> [usize; 3] {
    let mut counts = [0; 3];
    let sources = entry
        .events
        .iter()
        .map(|e| e.source)
        .chain(entry.rejected.iter().map(|r| r.source));
    for source in sources {
        match source {
            EventSource::Messaging(_) => counts[0] += 1,
            EventSource::Change(_) => counts[1] += 1,
            EventSource::Standby(_) => counts[2] += 1,
            EventSource::Entry => {}
        }
    }
    counts
}

/// One queue message body through the ingest parser; errors and Debug output are built
/// too, as the function logs them.
fn ingest(body: &str) -> Option<InboundEntry> {
    match parse_queue_message(body) {
        Ok(entry) => {
            for rejected in &entry.rejected {
                let _ = rejected.error.to_string();
            }
            let _ = format!("{entry:?}");
            Some(entry)
        }
        Err(err) => {
            let _ = err.to_string();
            None
        }
    }
}

/// Room for any entry in one message.
const ROOMY: QueueLimits = QueueLimits {
    max_payload_bytes: 1 << 30,
    attribute_allowance: 0,
    max_batch_entries: 10,
};

#[derive(Default)]
struct Reached {
    accepted: Count,
    messages: Count,
    parsed: Count,
    split: Count,
}

/// The webhook function's whole path for one body: envelope, queue messages, batches, and
/// each message back through the ingest parser.
fn deliver(body: &[u8], limits: &QueueLimits, reached: &Reached) -> Result<(), TestCaseError> {
    let envelope = match parse_envelope(body) {
        Err(err) => {
            let _ = err.to_string();
            return Ok(());
        }
        Ok(Delivery::Ignored { object }) => {
            prop_assert!(object.len() <= 64);
            return Ok(());
        }
        Ok(Delivery::Accepted(envelope)) => envelope,
    };
    reached.accepted.bump();
    let _ = format!("{envelope:?}");
    let mut indexes: Vec<usize> = envelope.entries.iter().map(|e| e.index).collect();
    for entry in &envelope.entries {
        prop_assert!(
            contains(body, entry.raw.get().as_bytes()),
            "entry {} is forwarded exactly as sent",
            entry.index
        );
        prop_assert!(AccountId::parse(entry.account_id.as_str()).is_ok());
    }
    for invalid in &envelope.invalid_entries {
        prop_assert!(contains(body, invalid.raw.get().as_bytes()));
        let _ = invalid.reason.to_string();
        indexes.push(invalid.index);
    }
    indexes.sort_unstable();
    prop_assert!(
        indexes.iter().enumerate().all(|(i, &index)| i == index),
        "every entry is either routed or set aside, once"
    );

    for limits in [QueueLimits::SQS, *limits] {
        let outbox = queue_messages(&envelope, &limits);
        for message in &outbox.messages {
            reached.messages.bump();
            prop_assert!(message.body().len() <= limits.max_body_bytes());
            prop_assert_eq!(message.platform(), envelope.platform);
            prop_assert_eq!(message.dedup_id().len(), 64);
            if let Some(parsed) = ingest(message.body()) {
                reached.parsed.bump();
                prop_assert_eq!(&parsed.account_id, message.account_id());
                prop_assert_eq!(parsed.platform, envelope.platform);
            }
        }
        for rejected in &outbox.rejected {
            let _ = rejected.to_string();
        }
        let sent = outbox.messages.clone();
        let mut flattened = Vec::new();
        for batch in batches(outbox.messages, &limits) {
            prop_assert!(!batch.messages().is_empty());
            prop_assert!(batch.messages().len() <= limits.max_batch_entries.max(1));
            flattened.extend(batch.into_messages());
        }
        prop_assert_eq!(flattened, sent, "batching keeps order and drops nothing");
    }

    // A split entry carries the same events as the entry in one message.
    for entry in &envelope.entries {
        let Ok(whole) = entry_messages(envelope.platform, entry, &ROOMY) else {
            continue;
        };
        prop_assert_eq!(whole.len(), 1);
        let Some(whole) = ingest(whole[0].body()) else {
            continue;
        };
        let Ok(parts) = entry_messages(envelope.platform, entry, limits) else {
            continue;
        };
        if parts.len() > 1 {
            reached.split.bump();
        }
        let parsed: Option<Vec<InboundEntry>> = parts.iter().map(|m| ingest(m.body())).collect();
        if let Some(parsed) = parsed {
            let mut sum = [0; 3];
            for part in &parsed {
                prop_assert_eq!(part.time, whole.time);
                for (s, n) in sum.iter_mut().zip(array_items(part)) {
                    *s += n;
                }
            }
            prop_assert_eq!(
                sum,
                array_items(&whole),
                "every event once across the parts"
            );
        }
    }
    Ok(())
}

fn reached_detail(reached: &Reached) -> String {
    format!(
        "{} envelopes accepted, {} queue messages built, {} parsed back, {} entries split",
        reached.accepted.get(),
        reached.messages.get(),
        reached.parsed.get(),
        reached.split.get()
    )
}

// ---------------------------------------------------------------------------------------
// 1. Webhook envelope and queue message parsers.

/// JSON punctuation and the words of the envelope, so random sequences sometimes parse.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "\\",
    " ",
    "\n",
    "\"object\"",
    "\"instagram\"",
    "\"page\"",
    "\"entry\"",
    "\"id\"",
    "\"time\"",
    "\"messaging\"",
    "\"changes\"",
    "\"field\"",
    "\"value\"",
    "\"comments\"",
    "\"message\"",
    "\"mid\"",
    "\"sender\"",
    "\"timestamp\"",
    "\"17841400000000001\"",
    "17841400000000001",
    "1",
    "-1",
    "1e999",
    "null",
    "true",
    "\"\\u00e4\"",
    "\"\\ud800\"",
    "\u{e4}",
    "\u{ff}",
];

#[test]
fn fuzz_webhook_bytes() {
    let reached = Arc::new(Reached::default());
    let soup = prop::collection::vec(prop::sample::select(TOKENS), 0..80)
        .prop_map(|tokens| tokens.concat().into_bytes());
    // Junk in the members of a routable entry, and raw bytes inside a message's text,
    // reach the queue and ingest paths.
    let in_entry = prop::collection::vec(prop::sample::select(TOKENS), 0..40).prop_map(|t| {
        format!(
            r#"{{"object":"instagram","entry":[{{"id":"17841400000000001","time":1790000000,{}}}]}}"#,
            t.concat()
        )
        .into_bytes()
    });
    let junk = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..16),
        "[^\"\\\\\\x00-\\x1f]{0,30}".prop_map(String::into_bytes),
        "(\\\\u[0-9a-fA-F]{4}){1,4}".prop_map(String::into_bytes),
        "(\\\\[\"\\\\/bfnrtux]){1,4}".prop_map(String::into_bytes),
    ];
    let in_text = (0..FIXTURES.len(), junk).prop_map(|(i, junk)| {
        let fixture = FIXTURES[i].as_bytes();
        let at = contains_at(fixture, b"\"text\":\"").map_or(fixture.len() / 2, |p| p + 8);
        [&fixture[..at], &junk[..], &fixture[at..]].concat()
    });
    let input = (
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            soup,
            in_entry,
            in_text
        ],
        limits(),
    );
    fuzz(
        "webhook bytes",
        5000,
        input,
        |(bytes, limits)| {
            deliver(&bytes, &limits, &reached)?;
            if let Ok(text) = std::str::from_utf8(&bytes) {
                ingest(text);
            }
            ingest(&String::from_utf8_lossy(&bytes));
            Ok(())
        },
        || reached_detail(&reached),
    );
}

#[test]
fn fuzz_webhook_meta_payloads() {
    let reached = Arc::new(Reached::default());
    let input = (
        prop::collection::vec(0..FIXTURES.len(), 1..8),
        shape(),
        prop::collection::vec((any::<usize>(), mutation()), 0..6),
        any::<bool>(),
        prop::option::weighted(0.15, splice()),
        limits(),
    );
    fuzz(
        "webhook meta payloads",
        1500,
        input,
        |(picks, shape, mutations, ascii, splice, limits)| {
            let mut doc = document(&picks, shape);
            doc.mutate(&mutations);
            let mut bytes = doc.render(ascii).into_bytes();
            if let Some(splice) = &splice {
                splice.apply(&mut bytes);
            }
            deliver(&bytes, &limits, &reached)?;
            ingest(&String::from_utf8_lossy(&bytes));
            Ok(())
        },
        || reached_detail(&reached),
    );
}

#[test]
fn every_documented_payload_goes_through_untouched() {
    let reached = Reached::default();
    for fixture in FIXTURES {
        deliver(fixture.as_bytes(), &QueueLimits::SQS, &reached).unwrap();
        let small = QueueLimits {
            max_payload_bytes: 700,
            attribute_allowance: 100,
            max_batch_entries: 3,
        };
        deliver(fixture.as_bytes(), &small, &reached).unwrap();
    }
    assert_eq!(reached.accepted.get() as usize, 2 * FIXTURES.len());
    assert!(reached.parsed.get() > 0);
}

// ---------------------------------------------------------------------------------------
// 2. X-Hub-Signature-256 and the subscription handshake.

fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,80}",
        "sha256=[0-9a-fA-F]{0,70}",
        "[ \t]{0,2}sha256=[0-9a-f]{64}[ \t]{0,2}",
        "sha256=.{60,66}",
        "SHA256=[0-9a-f]{64}",
        "sha256=[0-9a-f]{64}.{1,4}",
    ]
}

#[test]
fn fuzz_signature_arbitrary() {
    let input = (
        prop::collection::vec(any::<u8>(), 0..1024),
        prop::option::of(header()),
        prop::collection::vec(prop_oneof![Just(String::new()), ".{1,24}"], 0..3),
        (
            prop::option::of(prop_oneof![Just("subscribe".to_owned()), ".{0,12}"]),
            ".{0,16}",
            prop::option::of(".{0,16}"),
            any::<bool>(),
            prop::option::of(prop_oneof!["[A-Za-z0-9._-]{0,70}", ".{0,80}"]),
        ),
    );
    fuzz(
        "signature arbitrary",
        2000,
        input,
        |(body, header, secrets, (mode, configured, token, same_token, challenge))| {
            let secrets: Vec<Secret> = secrets.into_iter().map(Secret::new).collect();
            let result = verify_signature(&body, header.as_deref(), &secrets);
            if secrets.iter().all(Secret::is_empty) {
                prop_assert_eq!(result, Err(SignatureError::NoSecret));
            } else if header.is_none() {
                prop_assert_eq!(result, Err(SignatureError::Missing));
            } else {
                prop_assert!(result.is_err(), "a made-up signature never verifies");
            }
            if let Err(err) = result {
                let _ = err.to_string();
            }

            let configured = Secret::new(configured);
            let token = if same_token {
                Some(configured.expose().to_owned())
            } else {
                token
            };
            match verify_subscription(
                mode.as_deref(),
                token.as_deref(),
                challenge.as_deref(),
                &configured,
            ) {
                Ok(echoed) => {
                    prop_assert_eq!(Some(echoed.as_str()), challenge.as_deref());
                    prop_assert_eq!(token.as_deref(), Some(configured.expose()));
                    prop_assert!(!echoed.is_empty() && echoed.len() <= 64);
                    prop_assert!(
                        echoed
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                    );
                }
                Err(err) => {
                    let _ = err.to_string();
                }
            }
            Ok(())
        },
        String::new,
    );
}

#[test]
fn fuzz_signature_round_trip() {
    let input = (
        prop::collection::vec(any::<u8>(), 0..2048),
        ".{1,40}",
        prop::collection::vec(".{1,20}", 0..3),
        prop::collection::vec((any::<usize>(), 1u8..), 1..8),
        any::<char>(),
    );
    fuzz(
        "signature round trip",
        1000,
        input,
        |(body, secret, decoys, flips, replacement)| {
            let secret = Secret::new(secret);
            let header = sign(&body, &secret);
            let only = std::slice::from_ref(&secret);
            prop_assert_eq!(verify_signature(&body, Some(&header), only), Ok(()));
            let mut all: Vec<Secret> = decoys.into_iter().map(Secret::new).collect();
            all.push(secret.clone());
            prop_assert_eq!(verify_signature(&body, Some(&header), &all), Ok(()));
            let padded = format!(" \t{header} ");
            prop_assert_eq!(verify_signature(&body, Some(&padded), only), Ok(()));

            let mismatch = Err(SignatureError::Mismatch);
            for &(at, mask) in &flips {
                if !body.is_empty() {
                    let mut flipped = body.clone();
                    let len = flipped.len();
                    flipped[at % len] ^= mask;
                    prop_assert_eq!(verify_signature(&flipped, Some(&header), only), mismatch);
                }
                let mut digest = hex::decode(&header["sha256=".len()..]).unwrap();
                digest[at % 32] ^= mask;
                let forged = format!("sha256={}", hex::encode(digest));
                prop_assert_eq!(verify_signature(&body, Some(&forged), only), mismatch);
            }
            let mut longer = body.clone();
            longer.push(flips[0].1);
            prop_assert_eq!(verify_signature(&longer, Some(&header), only), mismatch);
            if let Some((_, shorter)) = body.split_last() {
                prop_assert_eq!(verify_signature(shorter, Some(&header), only), mismatch);
            }
            // Every character of the header, changed.
            let chars: Vec<char> = header.chars().collect();
            for at in 0..chars.len() {
                let mut changed = chars.clone();
                changed[at] = if replacement != chars[at] {
                    replacement
                } else {
                    ((chars[at] as u8) ^ 1) as char
                };
                let changed: String = changed.into_iter().collect();
                prop_assert!(verify_signature(&body, Some(&changed), only).is_err());
            }
            let other = Secret::new(format!("{}x", secret.expose()));
            prop_assert_eq!(
                verify_signature(&body, Some(&header), std::slice::from_ref(&other)),
                mismatch
            );
            Ok(())
        },
        String::new,
    );
}

// ---------------------------------------------------------------------------------------
// 3. signed_request.

/// A signed_request as Meta builds one.
fn meta_signed(secret: &str, payload: &[u8]) -> String {
    let payload = URL_SAFE_NO_PAD.encode(payload);
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signature}.{payload}")
}

/// Characters an edit puts in: base64url, its padding and separator, whitespace, any.
fn edit_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.+/ \t\n"
                .chars()
                .collect::<Vec<_>>()
        ),
        any::<char>(),
    ]
}

/// One character of `s` changed, removed, or added.
#[derive(Clone, Debug)]
enum Edit {
    Replace(usize, char),
    Delete(usize),
    Insert(usize, char),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), edit_char()).prop_map(|(at, c)| Edit::Replace(at, c)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), edit_char()).prop_map(|(at, c)| Edit::Insert(at, c)),
    ]
}

impl Edit {
    /// The edited text, or None when the edit changes nothing. `at` positions fall on
    /// the boundaries of the text's parts (start, separator, end) as often as elsewhere.
    fn apply(&self, s: &str, dot: usize) -> Option<(String, usize, Option<char>)> {
        let mut chars: Vec<char> = s.chars().collect();
        let len = chars.len();
        let pick = |at: usize, room: usize| {
            let hot = [
                0,
                dot.saturating_sub(1),
                dot,
                dot + 1,
                room.saturating_sub(1),
                room,
            ];
            if at % 2 == 0 {
                hot[(at / 2) % hot.len()].min(room)
            } else {
                (at / 2) % (room + 1)
            }
        };
        match *self {
            Edit::Replace(at, c) => {
                let at = pick(at, len - 1);
                if chars[at] == c {
                    return None;
                }
                chars[at] = c;
                Some((chars.into_iter().collect(), at, None))
            }
            Edit::Delete(at) => {
                let at = pick(at, len - 1);
                chars.remove(at);
                Some((chars.into_iter().collect(), at, None))
            }
            Edit::Insert(at, c) => {
                let at = pick(at, len);
                chars.insert(at, c);
                Some((chars.into_iter().collect(), at, Some(c)))
            }
        }
    }
}

#[test]
fn fuzz_signed_request_arbitrary() {
    let payload = prop_oneof![
        json().prop_map(|j| j.render(false).into_bytes()),
        prop::collection::vec(any::<u8>(), 0..200),
        (
            prop::option::of(prop_oneof![
                Just(Value::from("HMAC-SHA256")),
                json().prop_map(|j| Value::String(j.render(false)))
            ]),
            prop::option::of(prop_oneof![
                "[0-9]{0,40}".prop_map(Value::String),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                ".{0,10}".prop_map(Value::String),
                Just(Value::Null),
            ]),
            prop::option::of(prop_oneof![
                any::<i64>().prop_map(Value::from),
                ".{0,20}".prop_map(Value::String)
            ]),
        )
            .prop_map(|(algorithm, user_id, issued_at)| {
                let mut map = serde_json::Map::new();
                for (k, v) in [
                    ("algorithm", algorithm),
                    ("user_id", user_id),
                    ("issued_at", issued_at),
                ] {
                    if let Some(v) = v {
                        map.insert(k.to_owned(), v);
                    }
                }
                serde_json::to_vec(&map).unwrap()
            }),
    ];
    let raw = prop_oneof![
        ".{0,100}",
        "[A-Za-z0-9_=-]{0,50}\\.[A-Za-z0-9_=.-]{0,120}",
        "[ \t]{0,2}[A-Za-z0-9_-]{43}\\.[A-Za-z0-9_-]{1,300}[ \t]{0,2}",
        (8100usize..8300).prop_map(|n| format!("{}.{}", "A".repeat(43), "B".repeat(n))),
    ];
    let input = (
        prop::option::of(raw),
        prop::option::of(prop_oneof![Just(String::new()), ".{1,40}"]),
        payload,
        ".{1,40}",
    );
    let verified = Count::default();
    fuzz(
        "signed_request arbitrary",
        2000,
        input,
        |(raw, secret, payload, key)| {
            let secret = secret.map(Secret::new);
            let result = verify_signed_request(raw.as_deref(), secret.as_ref());
            prop_assert!(result.is_err(), "a made-up signed_request never verifies");
            let _ = result.unwrap_err().to_string();

            // Properly signed, whatever it says: the payload is read only now.
            let signed = meta_signed(&key, &payload);
            match verify_signed_request(Some(&signed), Some(&Secret::new(key))) {
                Ok(request) => {
                    verified.bump();
                    prop_assert!(!request.user_id.is_empty() && request.user_id.len() <= 32);
                    prop_assert!(request.user_id.bytes().all(|b| b.is_ascii_digit()));
                }
                Err(err) => {
                    prop_assert!(
                        !matches!(
                            err,
                            SignedRequestError::BadSignature | SignedRequestError::NoSecret
                        ),
                        "a correctly signed request is never refused for its signature: {err:?}"
                    );
                }
            }
            Ok(())
        },
        || format!("{} signed payloads accepted", verified.get()),
    );
}

#[test]
fn fuzz_signed_request_round_trip() {
    let time = prop_oneof![
        any::<i64>().prop_map(|n| (Value::from(n), n)),
        any::<i64>().prop_map(|n| (Value::String(n.to_string()), n)),
    ];
    let input = (
        ".{1,40}",
        prop_oneof![
            "[0-9]{1,32}".prop_map(|s| (Value::String(s.clone()), s)),
            any::<u64>().prop_map(|n| (Value::from(n), n.to_string())),
        ],
        "[hH][mM][aA][cC]-[sS][hH][aA]256",
        prop::option::of(time.clone()),
        prop::option::of(time),
        prop::collection::vec((".{1,10}", json()), 0..4),
        prop::collection::vec(edit(), 1..12),
    );
    fuzz(
        "signed_request round trip",
        1000,
        input,
        |(secret, (user_value, user_id), algorithm, issued_at, expires, extras, edits)| {
            let mut map = serde_json::Map::new();
            // Extra fields, as long as the request stays within a real one's size.
            for (k, v) in extras {
                let v = v.render(false);
                if v.len() <= 1000
                    && let Ok(v) = serde_json::from_str::<Value>(&v)
                {
                    map.insert(k, v);
                }
            }
            map.insert("algorithm".into(), Value::String(algorithm));
            map.insert("user_id".into(), user_value);
            map.remove("issued_at");
            map.remove("expires");
            if let Some((v, _)) = &issued_at {
                map.insert("issued_at".into(), v.clone());
            }
            if let Some((v, _)) = &expires {
                map.insert("expires".into(), v.clone());
            }
            let payload = serde_json::to_vec(&map).unwrap();
            let raw = meta_signed(&secret, &payload);
            prop_assert!(raw.len() <= 8 * 1024);
            let key = Secret::new(secret);
            prop_assert_eq!(
                verify_signed_request(Some(&raw), Some(&key)),
                Ok(SignedRequest {
                    user_id,
                    issued_at: issued_at.map(|(_, n)| n),
                    expires: expires.map(|(_, n)| n),
                })
            );
            let dot = raw.find('.').unwrap();
            for edit in &edits {
                let Some((changed, at, inserted)) = edit.apply(&raw, dot) else {
                    continue;
                };
                // What the text allows on purpose: whitespace around the field value
                // (trimmed), and the `=` padding Meta leaves off the signature.
                let equivalent = match inserted {
                    Some(c) if c.is_whitespace() => at == 0 || at == raw.chars().count(),
                    Some('=') => at == dot,
                    _ => false,
                };
                let result = verify_signed_request(Some(&changed), Some(&key));
                if equivalent {
                    prop_assert!(result.is_ok(), "{:?} is the same request", changed);
                } else {
                    prop_assert!(
                        result.is_err(),
                        "{:?} ({:?}) must not verify",
                        changed,
                        edit
                    );
                }
            }
            Ok(())
        },
        String::new,
    );
}

// ---------------------------------------------------------------------------------------
// 4. The OAuth state. Single use is the callback's part (it consumes the nonce in the
// store); what is fuzzed here is the pure part: signature, expiry, provider.

fn provider() -> impl Strategy<Value = Provider> {
    prop::sample::select(Provider::ALL.to_vec())
}

fn tenant() -> impl Strategy<Value = TenantId> {
    "[a-z0-9-]{1,64}".prop_map(|t| TenantId::parse(t).expect("a slug is a tenant id"))
}

fn return_target() -> impl Strategy<Value = ReturnTarget> {
    prop_oneof![
        Just(ReturnTarget::Page),
        Just(ReturnTarget::Popup),
        ".{0,200}".prop_map(ReturnTarget::Url),
    ]
}

/// Up to 9999-12-31, in seconds.
const LAST_SECOND: i64 = 253_402_300_799;

#[test]
fn fuzz_oauth_state_arbitrary() {
    let forged = (
        tenant(),
        provider(),
        return_target(),
        any::<i64>(),
        ".{0,30}",
        any::<i64>(),
    )
        .prop_map(
            |(tenant, provider, return_to, link_expires_at, nonce, expires_at)| OAuthState {
                version: 1,
                tenant,
                provider,
                return_to,
                link_expires_at,
                nonce,
                expires_at,
            },
        );
    let encoded = prop_oneof![
        ".{0,120}",
        "[A-Za-z0-9_-]{0,300}\\.[A-Za-z0-9_-]{0,50}",
        "[A-Za-z0-9_=.-]{0,80}",
        (2000usize..2100).prop_map(|n| format!("{}.{}", "A".repeat(n), "B".repeat(43))),
        json().prop_map(|j| format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(j.render(false)),
            URL_SAFE_NO_PAD.encode([7u8; 32])
        )),
    ];
    let input = (
        prop::option::of(encoded),
        provider(),
        any::<i64>(),
        ".{0,40}",
        forged,
        "[a-z]{1,8}",
        0..=LAST_SECOND,
    );
    fuzz(
        "oauth state arbitrary",
        2000,
        input,
        |(encoded, provider, now, key, forged, other_key, issued_now)| {
            let signer = StateSigner::new(&Secret::new(key.clone()));
            let result = signer.verify(encoded.as_deref(), provider, now);
            prop_assert!(result.is_err(), "a made-up state never verifies");
            let err = result.unwrap_err();
            prop_assert!(err.authentic_state().is_none());
            let _ = (err.reason(), err.to_string());

            // A state of the right form, with a signature from an issued state or from
            // another key, is not authentic.
            let (_, issued) = signer
                .issue(
                    forged.tenant.clone(),
                    forged.provider,
                    forged.return_to.clone(),
                    forged.link_expires_at,
                    issued_now,
                )
                .expect("a return link of at most 200 characters is carried");
            let signature = issued.split_once('.').unwrap().1;
            let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
            let swapped = format!("{payload}.{signature}");
            prop_assert_eq!(
                signer.verify(Some(&swapped), forged.provider, issued_now),
                Err(StateError::BadSignature)
            );
            let other = StateSigner::new(&Secret::new(format!("{key}{other_key}")));
            prop_assert!(
                other
                    .verify(Some(&issued), forged.provider, issued_now)
                    .is_err()
            );
            Ok(())
        },
        String::new,
    );
}

#[test]
fn fuzz_oauth_state_round_trip() {
    let input = (
        ".{1,40}",
        (tenant(), provider(), return_target(), any::<i64>()),
        0..=LAST_SECOND,
        0..STATE_LIFETIME_SECONDS,
        0..=1_000_000i64,
        prop::collection::vec(edit(), 1..12),
    );
    fuzz(
        "oauth state round trip",
        1000,
        input,
        |(key, (tenant, provider, return_to, link_expires_at), now, within, after, edits)| {
            let signer = StateSigner::new(&Secret::new(key.clone()));
            let (state, encoded) = signer
                .issue(
                    tenant.clone(),
                    provider,
                    return_to.clone(),
                    link_expires_at,
                    now,
                )
                .expect("a return link of at most 200 characters is carried");
            prop_assert_eq!(state.expires_at, now + STATE_LIFETIME_SECONDS);
            prop_assert_eq!(
                URL_SAFE_NO_PAD.decode(&state.nonce).map(|n| n.len()),
                Ok(16)
            );
            let at = now + within;
            prop_assert_eq!(
                signer.verify(Some(&encoded), provider, at),
                Ok(state.clone())
            );
            // Verifying is pure: the same answer again (the store makes it single-use).
            prop_assert_eq!(
                signer.verify(Some(&encoded), provider, at),
                Ok(state.clone())
            );
            prop_assert_eq!(
                signer.verify(Some(&encoded), provider, state.expires_at + after),
                Err(StateError::Expired(Box::new(state.clone())))
            );
            let other_provider = Provider::ALL.into_iter().find(|p| *p != provider).unwrap();
            prop_assert_eq!(
                signer.verify(Some(&encoded), other_provider, at),
                Err(StateError::WrongProvider(Box::new(state.clone())))
            );
            let other = StateSigner::new(&Secret::new(format!("{key}x")));
            prop_assert_eq!(
                other.verify(Some(&encoded), provider, at),
                Err(StateError::BadSignature)
            );
            let (again, encoded_again) = signer
                .issue(tenant, provider, return_to, link_expires_at, now)
                .expect("the same return link is carried again");
            prop_assert_ne!(&again.nonce, &state.nonce, "every state has its own nonce");
            prop_assert_ne!(&encoded_again, &encoded);

            let dot = encoded.find('.').unwrap();
            for edit in &edits {
                let Some((changed, at_char, inserted)) = edit.apply(&encoded, dot) else {
                    continue;
                };
                // Whitespace around the parameter is trimmed; nothing else is the same state.
                let equivalent = matches!(inserted, Some(c) if c.is_whitespace())
                    && (at_char == 0 || at_char == encoded.chars().count());
                let result = signer.verify(Some(&changed), provider, at);
                if equivalent {
                    prop_assert_eq!(result, Ok(state.clone()));
                } else {
                    prop_assert!(
                        result.is_err(),
                        "{:?} ({:?}) must not verify",
                        changed,
                        edit
                    );
                }
            }
            Ok(())
        },
        String::new,
    );
}

/// Found by `fuzz_oauth_state_round_trip` with return links of any length: `issue` signed
/// a state of any size, but `verify` refused one over 2048 characters as malformed, so a
/// flow started with a return link of about 1400 characters or more (on the allowed
/// origin, which the OAuth function accepted at any length) could never complete. Now
/// `issue` refuses a return link longer than a state carries, and every state it does
/// issue verifies.
#[test]
fn a_state_issued_for_a_long_return_link_verifies() {
    let signer = StateSigner::new(&Secret::new("0123456789abcdef0123456789abcdef"));
    let return_to = ReturnTarget::Url(format!("https://app.example/{}", "a".repeat(1500)));
    let now = 1_800_000_000;
    let (state, encoded) = signer
        .issue(
            TenantId::parse("acme").unwrap(),
            Provider::Instagram,
            return_to,
            now + 86_400,
            now,
        )
        .expect("a 1,500-character return link is within what a state carries");
    assert_eq!(
        signer.verify(Some(&encoded), Provider::Instagram, now + 1),
        Ok(state),
        "an issued state of {} characters",
        encoded.len()
    );
}
