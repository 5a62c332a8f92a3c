//! Webhook bodies as Meta builds, encodes and signs them.
//!
//! Guarantees:
//! - bodies are encoded like Meta's: every non-ASCII character as a `\uXXXX` escape
//!   (UTF-16, lowercase hex) and `/` as `\/`, so a receiver that re-serialises before
//!   hashing computes the wrong signature, exactly as in production;
//! - `X-Hub-Signature-256` is `sha256=` + lowercase hex HMAC-SHA256 of the exact bytes
//!   sent, keyed with the webhook secret;
//! - events that Meta records (a customer's message opens the messaging window, a
//!   comment exists afterwards and can be answered) are recorded in the state when
//!   they are built.

use crate::state::messaging::Channel;
use crate::state::{SimState, ids};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::Sha256;
use std::fmt::Write as _;

/// Encodes `value` the way Meta's webhook sender does.
pub fn encode_like_meta(value: &Value) -> String {
    let plain = serde_json::to_string(value).expect("a JSON value always serialises");
    escape_like_meta(&plain)
}

/// Escapes non-ASCII characters and `/` in serialised JSON. Both only occur inside
/// string literals, so escaping them anywhere in the text keeps it valid JSON.
pub fn escape_like_meta(json_text: &str) -> String {
    let mut out = String::with_capacity(json_text.len() + json_text.len() / 4);
    for c in json_text.chars() {
        if c == '/' {
            out.push_str("\\/");
        } else if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(out, "\\u{unit:04x}").expect("writing to a String cannot fail");
            }
        }
    }
    out
}

/// The `X-Hub-Signature-256` header value for `body`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("unknown webhook kind `{0}`")]
    UnknownKind(String),
    #[error("field `{0}` is required for this kind")]
    Missing(&'static str),
    #[error("one POST cannot mix Instagram and Page events")]
    MixedObjects,
    #[error("the request names no event (`kind`, `batch` or `raw`)")]
    Empty,
}

/// One event to build, as posted to `/_sim/webhooks/send` (or one item of `batch`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct EventSpec {
    pub kind: Option<String>,
    pub account_id: Option<String>,
    pub customer_id: Option<String>,
    pub text: Option<String>,
    pub mid: Option<String>,
    /// Event time in milliseconds (default: the simulated clock).
    pub timestamp: Option<i64>,
    pub reply_to_mid: Option<String>,
    pub quick_reply_payload: Option<String>,
    pub attachment_type: Option<String>,
    pub url: Option<String>,
    pub reaction: Option<String>,
    pub emoji: Option<String>,
    pub title: Option<String>,
    pub payload: Option<String>,
    #[serde(rename = "ref")]
    pub referral_ref: Option<String>,
    pub source: Option<String>,
    pub ad_id: Option<String>,
    pub num_edit: Option<u32>,
    pub media_id: Option<String>,
    pub comment_id: Option<String>,
    pub parent_id: Option<String>,
    pub from_username: Option<String>,
    pub media_product_type: Option<String>,
    pub app_id: Option<String>,
    pub metadata: Option<String>,
    pub raw: Option<Value>,
}

/// Which webhook object an event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    Instagram,
    Page,
}

impl Object {
    fn name(self) -> &'static str {
        match self {
            Self::Instagram => "instagram",
            Self::Page => "page",
        }
    }
}

/// The event part of one entry.
#[derive(Clone, Debug)]
pub enum EventBody {
    /// An item of `entry.messaging`.
    Messaging(Value),
    /// An item of `entry.changes`.
    Change { field: String, value: Value },
    /// `field`/`value` placed directly on the entry (a form seen in one Meta example).
    FlatChange { field: String, value: Value },
}

#[derive(Clone, Debug)]
pub struct BuiltEvent {
    pub object: Object,
    pub account_id: String,
    /// The subscription field Meta files this event under.
    pub field: String,
    pub body: EventBody,
}

fn need<'a>(v: &'a Option<String>, name: &'static str) -> Result<&'a str, WebhookError> {
    v.as_deref().ok_or(WebhookError::Missing(name))
}

/// Builds one event, recording in the state what Meta would record.
pub fn build_event(state: &mut SimState, spec: &EventSpec) -> Result<BuiltEvent, WebhookError> {
    let kind = need(&spec.kind, "kind")?;
    let account = state.canonical_account(need(&spec.account_id, "account_id")?);
    let now = state.now();
    let ts = spec.timestamp.unwrap_or(now.ms());
    let customer = spec
        .customer_id
        .clone()
        .unwrap_or_else(ids::scoped_customer_id);
    let ig_mid = || spec.mid.clone().unwrap_or_else(|| ids::ig_mid(&account));
    let from_customer = |inner: (&str, Value)| {
        let mut item = json!({
            "sender": {"id": customer},
            "recipient": {"id": account},
            "timestamp": ts,
        });
        item[inner.0] = inner.1;
        item
    };
    let ig_msg = |field: &str, body: Value| BuiltEvent {
        object: Object::Instagram,
        account_id: account.clone(),
        field: field.to_owned(),
        body: EventBody::Messaging(body),
    };

    let event = match kind {
        "dm" => {
            let mid = ig_mid();
            let mut message =
                json!({"mid": mid, "text": spec.text.clone().unwrap_or_else(|| "Hello".into())});
            if let Some(reply) = &spec.reply_to_mid {
                message["reply_to"] = json!({"mid": reply});
            }
            if let Some(qr) = &spec.quick_reply_payload {
                message["quick_reply"] = json!({"payload": qr});
            }
            if let Some(ad) = &spec.ad_id {
                message["referral"] = json!({
                    "ref": spec.referral_ref.clone().unwrap_or_default(),
                    "ad_id": ad,
                    "source": "ADS",
                    "type": "OPEN_THREAD",
                    "ads_context_data": {"ad_title": "Ad", "photo_url": "https://scontent.example/ad.jpg"},
                });
            }
            state.record_inbound(&account, &customer, &mid, ts);
            ig_msg("messages", from_customer(("message", message)))
        }
        "echo" => {
            let mid = ig_mid();
            state.record_outbound_mid(&account, &customer, &mid);
            let message = json!({"mid": mid, "text": spec.text.clone().unwrap_or_else(|| "Thanks!".into()), "is_echo": true});
            ig_msg(
                "messages",
                json!({
                    "sender": {"id": account},
                    "recipient": {"id": customer},
                    "timestamp": ts,
                    "message": message,
                }),
            )
        }
        "attachment" => {
            let mid = ig_mid();
            let kind = spec
                .attachment_type
                .clone()
                .unwrap_or_else(|| "image".into());
            let url = spec.url.clone().unwrap_or_else(|| {
                format!(
                    "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id={}",
                    ids::numeric("1", 17)
                )
            });
            state.record_inbound(&account, &customer, &mid, ts);
            let message =
                json!({"mid": mid, "attachments": [{"type": kind, "payload": {"url": url}}]});
            ig_msg("messages", from_customer(("message", message)))
        }
        "reaction" | "unreact" => {
            let target = need(&spec.mid, "mid")?;
            let mut reaction = json!({"mid": target, "action": if kind == "reaction" { "react" } else { "unreact" }});
            if kind == "reaction" {
                reaction["reaction"] =
                    json!(spec.reaction.clone().unwrap_or_else(|| "love".into()));
                reaction["emoji"] = json!(
                    spec.emoji
                        .clone()
                        .unwrap_or_else(|| "\u{2764}\u{fe0f}".into())
                );
            }
            ig_msg("message_reactions", from_customer(("reaction", reaction)))
        }
        "read" => {
            let target = need(&spec.mid, "mid")?;
            ig_msg(
                "messaging_seen",
                from_customer(("read", json!({"mid": target}))),
            )
        }
        "postback" => {
            let mid = ig_mid();
            state.record_inbound(&account, &customer, &mid, ts);
            let postback = json!({
                "mid": mid,
                "title": spec.title.clone().unwrap_or_else(|| "Get started".into()),
                "payload": spec.payload.clone().unwrap_or_else(|| "GET_STARTED".into()),
            });
            ig_msg("messaging_postbacks", from_customer(("postback", postback)))
        }
        "referral" => {
            let referral = json!({
                "ref": spec.referral_ref.clone().unwrap_or_else(|| "spring_sale".into()),
                "source": spec.source.clone().unwrap_or_else(|| "ig.me".into()),
                "type": "OPEN_THREAD",
            });
            ig_msg("messaging_referral", from_customer(("referral", referral)))
        }
        "edit" => {
            let target = need(&spec.mid, "mid")?;
            let edit = json!({
                "mid": target,
                "text": spec.text.clone().unwrap_or_else(|| "Edited".into()),
                "num_edit": spec.num_edit.unwrap_or(1),
            });
            ig_msg("message_edit", from_customer(("message_edit", edit)))
        }
        "deleted" => {
            let target = need(&spec.mid, "mid")?;
            ig_msg(
                "messages",
                from_customer(("message", json!({"mid": target, "is_deleted": true}))),
            )
        }
        "comment" | "comment_fb_form" | "comment_flat_form" | "live_comment" => {
            let (comment_id, media_id, from_id, username, text, product) =
                comment_for_event(state, &account, spec, kind == "live_comment");
            let value = if kind == "comment_fb_form" {
                let mut v = json!({
                    "from": {"id": from_id, "username": username},
                    "comment_id": comment_id,
                    "text": text,
                    "media": {"id": media_id, "original_media_id": media_id, "media_product_type": product},
                });
                if let Some(ad) = &spec.ad_id {
                    v["media"]["ad_id"] = json!(ad);
                    v["media"]["ad_title"] = json!("Ad");
                }
                if let Some(parent) = &spec.parent_id {
                    v["parent_id"] = json!(parent);
                }
                v
            } else {
                let mut v = json!({
                    "id": comment_id,
                    "from": {"id": from_id, "username": username},
                    "text": text,
                    "media": {"id": media_id, "media_product_type": product},
                });
                if let Some(parent) = &spec.parent_id {
                    v["parent_id"] = json!(parent);
                }
                v
            };
            let field = if kind == "live_comment" {
                "live_comments"
            } else {
                "comments"
            };
            BuiltEvent {
                object: Object::Instagram,
                account_id: account.clone(),
                field: field.into(),
                body: if kind == "comment_flat_form" {
                    EventBody::FlatChange {
                        field: field.into(),
                        value,
                    }
                } else {
                    EventBody::Change {
                        field: field.into(),
                        value,
                    }
                },
            }
        }
        "mention" => {
            let media_id = spec.media_id.clone().unwrap_or_else(ids::media_id);
            let mut value = json!({"media_id": media_id});
            if let Some(c) = &spec.comment_id {
                value["comment_id"] = json!(c);
            }
            BuiltEvent {
                object: Object::Instagram,
                account_id: account.clone(),
                field: "mentions".into(),
                body: EventBody::Change {
                    field: "mentions".into(),
                    value,
                },
            }
        }
        "messenger_dm" | "messenger_echo" => {
            let mid = spec.mid.clone().unwrap_or_else(ids::messenger_mid);
            let text = spec.text.clone().unwrap_or_else(|| "Hello".into());
            let item = if kind == "messenger_dm" {
                state.record_inbound(&account, &customer, &mid, ts);
                let mut message = json!({"mid": mid, "text": text});
                if let Some(qr) = &spec.quick_reply_payload {
                    message["quick_reply"] = json!({"payload": qr});
                }
                json!({"sender": {"id": customer}, "recipient": {"id": account}, "timestamp": ts, "message": message})
            } else {
                state.record_outbound_mid(&account, &customer, &mid);
                let app_id = spec
                    .app_id
                    .clone()
                    .unwrap_or_else(|| state.config.fb_app_id.clone());
                let mut message = json!({"mid": mid, "text": text, "is_echo": true, "app_id": app_id.parse::<u64>().map(Value::from).unwrap_or(Value::String(app_id))});
                if let Some(meta) = &spec.metadata {
                    message["metadata"] = json!(meta);
                }
                json!({"sender": {"id": account}, "recipient": {"id": customer}, "timestamp": ts, "message": message})
            };
            BuiltEvent {
                object: Object::Page,
                account_id: account.clone(),
                field: if kind == "messenger_dm" {
                    "messages"
                } else {
                    "message_echoes"
                }
                .into(),
                body: EventBody::Messaging(item),
            }
        }
        other => return Err(WebhookError::UnknownKind(other.to_owned())),
    };
    Ok(event)
}

/// Finds or creates the comment a comment webhook talks about, so the product can act
/// on it afterwards (reply, hide, private reply). Returns
/// (comment id, media id, commenter id, commenter username, text, media product type).
fn comment_for_event(
    state: &mut SimState,
    account: &str,
    spec: &EventSpec,
    live: bool,
) -> (String, String, String, String, String, String) {
    let text = spec.text.clone().unwrap_or_else(|| "Nice post!".into());
    let from_id = spec
        .customer_id
        .clone()
        .unwrap_or_else(ids::scoped_customer_id);
    let username = spec
        .from_username
        .clone()
        .unwrap_or_else(|| format!("fan_{}", &from_id[from_id.len().saturating_sub(4)..]));
    let known_account = state.ig_user(account).is_some();
    let media_id = match &spec.media_id {
        Some(m) => m.clone(),
        None if known_account => state
            .media
            .iter()
            .rev()
            .find(|m| m.account_id == account && m.parent.is_none())
            .map(|m| m.id.clone())
            .unwrap_or_else(|| state.seed_media(account, Some("A post"), "IMAGE")),
        None => ids::media_id(),
    };
    let product = spec.media_product_type.clone().unwrap_or_else(|| {
        if live {
            "LIVE".into()
        } else {
            state
                .media_item(&media_id)
                .map(|m| m.media_product_type.clone())
                .unwrap_or_else(|| "FEED".into())
        }
    });
    let comment_id = match &spec.comment_id {
        Some(id) => id.clone(),
        None => state
            .add_comment(
                &media_id,
                &text,
                &from_id,
                &username,
                spec.parent_id.as_deref(),
            )
            .unwrap_or_else(ids::comment_id),
    };
    (comment_id, media_id, from_id, username, text, product)
}

/// Puts events into one envelope: one entry per event, or (with `merge_entries`) one
/// entry per account holding all of its events.
pub fn envelope(
    events: &[BuiltEvent],
    merge_entries: bool,
    now_ms: i64,
) -> Result<Value, WebhookError> {
    let object = events.first().ok_or(WebhookError::Empty)?.object;
    if events.iter().any(|e| e.object != object) {
        return Err(WebhookError::MixedObjects);
    }
    let mut entries: Vec<Map<String, Value>> = Vec::new();
    for event in events {
        let slot = if merge_entries {
            entries.iter().position(|e| {
                e.get("id").and_then(Value::as_str) == Some(event.account_id.as_str())
            })
        } else {
            None
        };
        let idx = slot.unwrap_or_else(|| {
            let mut entry = Map::new();
            entry.insert("id".into(), json!(event.account_id));
            // Messaging entries carry milliseconds; change entries carry seconds.
            let time = match event.body {
                EventBody::Messaging(_) => now_ms,
                _ => now_ms.div_euclid(1000),
            };
            entry.insert("time".into(), json!(time));
            entries.push(entry);
            entries.len() - 1
        });
        let entry = &mut entries[idx];
        match &event.body {
            EventBody::Messaging(item) => push(entry, "messaging", item.clone()),
            EventBody::Change { field, value } => {
                push(entry, "changes", json!({"field": field, "value": value}));
            }
            EventBody::FlatChange { field, value } => {
                entry.insert("field".into(), json!(field));
                entry.insert("value".into(), value.clone());
            }
        }
    }
    Ok(json!({
        "object": object.name(),
        "entry": entries.into_iter().map(Value::Object).collect::<Vec<_>>(),
    }))
}

fn push(entry: &mut Map<String, Value>, key: &str, item: Value) {
    match entry.get_mut(key) {
        Some(Value::Array(items)) => items.push(item),
        _ => {
            entry.insert(key.into(), json!([item]));
        }
    }
}

/// Whether Meta would deliver this event: the account must be subscribed to its field
/// (on the Instagram account itself or on its linked page).
pub fn is_subscribed(state: &SimState, event: &BuiltEvent) -> bool {
    if let Some(user) = state.ig_user(&event.account_id) {
        let on_page = user
            .linked_page
            .as_deref()
            .and_then(|p| state.page(p))
            .is_some_and(|p| p.subscribed_fields.iter().any(|f| f == &event.field));
        return on_page || user.subscribed_fields.iter().any(|f| f == &event.field);
    }
    state
        .page(&event.account_id)
        .is_some_and(|p| p.subscribed_fields.iter().any(|f| f == &event.field))
}

/// The echo Meta sends after the business sent a message through the Send API.
/// `message` holds `mid` and the content (`text` or `attachments`, and `app_id` on
/// Messenger).
pub fn echo_event(
    channel: Channel,
    account_id: &str,
    customer_id: &str,
    mut message: Value,
    now_ms: i64,
) -> BuiltEvent {
    message["is_echo"] = json!(true);
    let (object, field) = match channel {
        Channel::Messenger => (Object::Page, "message_echoes"),
        Channel::Instagram => (Object::Instagram, "messages"),
    };
    BuiltEvent {
        object,
        account_id: account_id.to_owned(),
        field: field.into(),
        body: EventBody::Messaging(json!({
            "sender": {"id": account_id},
            "recipient": {"id": customer_id},
            "timestamp": now_ms,
            "message": message,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;

    fn state() -> SimState {
        SimState::new(SimConfig::default().resolved(), "http://127.0.0.1:1".into())
    }

    /// An event of `kind` for `account`, nothing else set.
    fn spec(kind: &str, account: &str) -> EventSpec {
        EventSpec {
            kind: Some(kind.into()),
            account_id: Some(account.into()),
            ..EventSpec::default()
        }
    }

    /// Whether customer 555 has messaged `account` (its messaging window is open).
    fn window_opened(s: &SimState, account: &str) -> bool {
        s.thread(account, "555")
            .and_then(|t| t.last_inbound_ms)
            .is_some()
    }

    #[test]
    fn non_ascii_and_slashes_are_escaped_and_the_text_still_parses() {
        let v = json!({"text": "Grüße 👋 a/b", "n": 1});
        let encoded = encode_like_meta(&v);
        assert_eq!(
            encoded,
            r#"{"n":1,"text":"Gr\u00fc\u00dfe \ud83d\udc4b a\/b"}"#
        );
        assert!(encoded.is_ascii());
        let back: Value = serde_json::from_str(&encoded).expect("valid JSON");
        assert_eq!(back, v);
    }

    #[test]
    fn signature_is_hmac_sha256_hex_of_the_bytes() {
        // RFC 4231 test case 2.
        let sig = signature("Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn dm_event_opens_the_window_and_lands_in_entry_messaging() {
        let mut s = state();
        let account = s.create_ig_user("shop", None, None, None);
        let dm = EventSpec {
            customer_id: Some("555".into()),
            text: Some("hi".into()),
            ..spec("dm", &account)
        };
        let event = build_event(&mut s, &dm).expect("dm builds");
        assert!(window_opened(&s, &account));
        let env = envelope(&[event], false, 1_750_000_000_123).expect("one object");
        assert_eq!(env["object"], "instagram");
        assert_eq!(env["entry"][0]["id"], account.as_str());
        assert_eq!(env["entry"][0]["time"], 1_750_000_000_123_i64);
        let item = &env["entry"][0]["messaging"][0];
        assert_eq!(item["sender"]["id"], "555");
        assert_eq!(item["message"]["text"], "hi");
        assert!(
            item["message"]["mid"]
                .as_str()
                .is_some_and(|m| m.starts_with("aWdf"))
        );
    }

    #[test]
    fn echo_does_not_open_the_window() {
        let mut s = state();
        let account = s.create_ig_user("shop", None, None, None);
        let echo = EventSpec {
            customer_id: Some("555".into()),
            ..spec("echo", &account)
        };
        let event = build_event(&mut s, &echo).expect("echo builds");
        assert!(!window_opened(&s, &account));
        let EventBody::Messaging(item) = event.body else {
            panic!("echo is messaging")
        };
        assert_eq!(item["sender"]["id"], account.as_str());
        assert_eq!(item["message"]["is_echo"], true);
    }

    #[test]
    fn comment_event_creates_the_comment_on_the_latest_media() {
        let mut s = state();
        let account = s.create_ig_user("shop", None, None, None);
        let comment = EventSpec {
            text: Some("love it".into()),
            ..spec("comment", &account)
        };
        let event = build_event(&mut s, &comment).expect("comment builds");
        let EventBody::Change { field, value } = &event.body else {
            panic!("change")
        };
        assert_eq!(field, "comments");
        let id = value["id"].as_str().expect("comment id");
        assert_eq!(s.comment(id).map(|c| c.text.as_str()), Some("love it"));
        let flat = EventSpec {
            kind: Some("comment_flat_form".into()),
            ..comment
        };
        let env = envelope(&[build_event(&mut s, &flat).expect("builds")], false, 0).expect("env");
        assert_eq!(env["entry"][0]["field"], "comments");
        assert!(env["entry"][0].get("changes").is_none());
    }

    #[test]
    fn batches_are_one_envelope_and_refuse_mixed_objects() {
        let mut s = state();
        let a = s.create_ig_user("a", None, None, None);
        let from_1 = |kind: &str| EventSpec {
            customer_id: Some("1".into()),
            ..spec(kind, &a)
        };
        let e1 = build_event(&mut s, &from_1("dm")).expect("dm");
        let e2 = build_event(&mut s, &from_1("dm")).expect("dm");
        let separate = envelope(&[e1.clone(), e2.clone()], false, 0).expect("env");
        assert_eq!(separate["entry"].as_array().map(Vec::len), Some(2));
        let merged = envelope(&[e1.clone(), e2], true, 0).expect("env");
        assert_eq!(merged["entry"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            merged["entry"][0]["messaging"].as_array().map(Vec::len),
            Some(2)
        );
        let page = build_event(&mut s, &from_1("messenger_dm")).expect("page dm");
        assert_eq!(
            envelope(&[e1, page], false, 0),
            Err(WebhookError::MixedObjects)
        );
    }

    #[test]
    fn unknown_kind_and_missing_fields_are_precise_errors() {
        let mut s = state();
        assert_eq!(
            build_event(&mut s, &spec("nope", "1")).err(),
            Some(WebhookError::UnknownKind("nope".into()))
        );
        assert_eq!(
            build_event(&mut s, &spec("read", "1")).err(),
            Some(WebhookError::Missing("mid"))
        );
    }
}
