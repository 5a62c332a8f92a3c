//! Hostile JSON bodies against the management API: every request body type, decoded the
//! way `routes::Body` decodes it (`serde_path_to_error` over
//! `serde_json::Deserializer::from_slice`), and through the extractor itself; what
//! decodes then goes through the pure rules the handlers apply (post time, shape and
//! caption rules, upload types and sizes, settings and knowledge validation, key,
//! tenant and comment-reply checks, reply splitting).
//!
//! Runs are bounded, counted and reproducible (`relay_fuzz::fuzz`: `RELAY_FUZZ_CASES`,
//! `RELAY_FUZZ_SEED`); no regression files are written.
//! `cargo test -p api --test fuzz_bodies -- --nocapture` prints the executions per target.

use std::sync::Arc;

use api::access::MAX_BODY;
use api::problem::Problem;
use api::routes::Body;
use api::routes::accounts::SettingsPatch;
use api::routes::comments::CommentReply;
use api::routes::inbox::{ApproveBody, AssignBody, ReplyBody};
use api::routes::keys::NewKey;
use api::routes::knowledge::EntryBody;
use api::routes::operator::{NewLink, NewTenant};
use api::routes::posts::{NewPost, PostChange};
use api::routes::tenant::EraseRequest;
use api::routes::uploads::NewUpload;
use axum::extract::{FromRequest, Request};
use axum::response::IntoResponse;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use relay::access::Role;
use relay::ai::{AiSettings, EntryId, KnowledgeEntry, KnowledgeKind, LongReplies, fit_reply};
use relay::ids::{AccountId, TenantId};
use relay::meta::MAX_TEXT_BYTES;
use relay::moderation::{ModerationAction, ModerationPolicy};
use relay::publishing::rules::{self, MAX_IMAGE_BYTES, MAX_REEL_BYTES};
use relay::publishing::upload::{self, UploadRequest};
use relay::publishing::{MediaKind, PostContent, When};
use relay_fuzz::json::{Json, Mutation, Vocabulary};
use relay_fuzz::{Count, fuzz};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Cases per body type unless `RELAY_FUZZ_CASES` says otherwise.
const CASES: u32 = 1200;

/// Every field name of the bodies, and of what they hold.
const KEYS: &[&str] = &[
    "account_id",
    "content",
    "type",
    "url",
    "alt_text",
    "video_url",
    "cover_url",
    "share_to_feed",
    "items",
    "kind",
    "media",
    "link",
    "caption",
    "first_comment",
    "scheduled_at",
    "local_time",
    "time_zone",
    "content_type",
    "size_bytes",
    "ai",
    "moderation",
    "mode",
    "business_name",
    "persona",
    "rules",
    "escalation_words",
    "default_escalation_words",
    "handoff_message",
    "history_messages",
    "knowledge_entries",
    "long_replies",
    "max_parts",
    "debounce_seconds",
    "updated_at",
    "enabled",
    "spam_sensitivity",
    "hide",
    "spam",
    "links",
    "blocked_words",
    "repeats",
    "allowed_domains",
    "repeat_threshold",
    "repeat_window_hours",
    "entry",
    "tags",
    "question",
    "answer",
    "name",
    "sku",
    "price",
    "amount",
    "currency",
    "availability",
    "description",
    "role",
    "accounts",
    "text",
    "assignee",
    "tenant_id",
    "days",
    "confirm",
];

/// Values with a meaning somewhere in the rules.
const WORDS: &[&str] = &[
    "image",
    "reel",
    "carousel",
    "story",
    "page_text",
    "page_photo",
    "page_link",
    "video",
    "faq",
    "product",
    "in_stock",
    "out_of_stock",
    "preorder",
    "discontinued",
    "split",
    "shorten",
    "off",
    "shadow",
    "auto",
    "low",
    "normal",
    "high",
    "viewer",
    "agent",
    "manager",
    "admin",
    "owner",
    "image/jpeg",
    "IMAGE/PNG",
    "image/gif",
    "video/mp4",
    "video/quicktime",
    "text/html",
    "2026-12-24T09:00:00+01:00",
    "2026-12-24T09:00:00Z",
    "2026-06-30T23:59:60Z",
    "9999-12-31T23:59:59Z",
    "-009999-01-01T00:00:00Z",
    "2026-12-24T09:00:00+25:00",
    "2026-12-24T09:00",
    "2026-03-29T02:30",
    "2026-10-25T02:30",
    "2026-13-40T25:61",
    "9999-12-31T23:59:59.999999999",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "UTC",
    "Etc/GMT+12",
    "../../etc/passwd",
    "Mars/Olympus_Mons",
    "https://cdn.example/a.jpg",
    "https://",
    "https:///x",
    "http://127.0.0.1:9000/a.jpg",
    "http://localhost:1/a",
    "relay://uploads/",
    "relay://uploads/0190b0c4-7b1e-7cc1-8f5e-1234567890ab",
    "relay://uploads/UPPER",
    "relay://uploads/../other-tenant",
    "javascript:alert(1)",
    "17841400000000001",
    "acme",
    "-reserved",
    "14.50",
    "1.",
    "EUR",
    "eur",
    "shop.example",
    "scam*",
    "*",
    "#tag",
    "@someone",
    "",
    " ",
    "\u{0}",
    "\u{202e}",
    "\u{feff}",
    "e\u{301}",
    "👍🏽",
    "\u{2028}",
    "\"",
    "\\",
];

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<u32>().prop_map(|n| n.to_string()),
        (0u8..40).prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:e}")),
        "-?[1-9][0-9]{18,400}",
        "-?[0-9]{1,3}\\.[0-9]{1,30}[eE][+-]?[0-9]{1,5}",
        prop::sample::select(vec![
            "1e400",
            "-1e400",
            "18446744073709551615",
            "18446744073709551616",
            "9223372036854775808",
            "-9223372036854775809",
            "4294967295",
            "4294967296",
            "-0",
            "0.0",
            "1E2",
            "8388608",
            "8388609",
            "314572800",
            "314572801",
            "-1",
            "0",
        ])
        .prop_map(str::to_owned),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => ".{0,24}",
        3 => prop::sample::select(WORDS).prop_map(str::to_owned),
        1 => "(#[a-z]{1,3} ){0,40}(@[a-z]{1,3} ){0,30}",
        1 => ("[a-z. !?\u{e4}\u{1f600}\n]", 500usize..8000).prop_map(|(s, n)| s.repeat(n)),
    ]
}

fn raw_token() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "\"\\ud800\"",
        "\"\\udc00\\ud800\"",
        "\"\\u00\"",
        "\"\\x\"",
        "\"a\nb\"",
        "NaN",
        "Infinity",
        "01",
        "1.",
        "+1",
        "tru",
        "[",
        "}",
        "",
    ])
    .prop_map(str::to_owned)
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => ".{0,12}",
    ]
}

fn vocabulary() -> Vocabulary {
    Vocabulary {
        number: number().boxed(),
        text: text().boxed(),
        raw: raw_token().boxed(),
        key: key().boxed(),
        nest_key: "ai",
    }
}

fn mutation() -> impl Strategy<Value = Mutation> {
    vocabulary().mutation()
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    " ",
    "null",
    "true",
    "1",
    "-1",
    "1e999",
    "\"text\"",
    "\"content\"",
    "\"type\"",
    "\"image\"",
    "\"url\"",
    "\"ai\"",
    "\"mode\"",
    "\"entry\"",
    "\"kind\"",
    "\"faq\"",
    "\"name\"",
    "\"x\"",
    "\"\\u00e4\"",
];

/// Raw bytes, token soup, or a valid body of the type with mutations (and sometimes a
/// broken byte or trailing text).
fn body(seeds: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let soup = prop::collection::vec(prop::sample::select(TOKENS), 0..60)
        .prop_map(|tokens| tokens.concat().into_bytes());
    let mutated = (
        prop::sample::select(seeds),
        prop::collection::vec((any::<usize>(), mutation()), 0..5),
        any::<bool>(),
        prop::option::weighted(0.1, (any::<usize>(), any::<u8>())),
        prop::option::weighted(
            0.05,
            prop::sample::select(vec![" ", "x", "{}", " \n", "\u{0}"]),
        ),
    )
        .prop_map(|(seed, mutations, ascii, flip, trailing)| {
            let mut doc = Json::of(&serde_json::from_str(seed).expect("seeds are JSON"));
            doc.mutate(&mutations);
            let mut bytes = doc.render(ascii).into_bytes();
            if let Some((at, byte)) = flip
                && !bytes.is_empty()
            {
                let len = bytes.len();
                bytes[at % len] = byte;
            }
            if let Some(trailing) = trailing {
                bytes.extend_from_slice(trailing.as_bytes());
            }
            bytes
        });
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..256),
        1 => soup,
        6 => mutated,
    ]
}

// ---------------------------------------------------------------------------------------
// Decoding as the API does.

/// `routes::Body`'s decoding: `Ok` or the path of the field at fault.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let _ = e.inner().to_string();
        e.path().to_string()
    })
}

/// The extractor itself, on a JSON request with this body.
fn extract<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let request = Request::builder()
        .method("POST")
        .uri("/")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(bytes.to_vec()))
        .expect("a request");
    futures::executor::block_on(<Body<T> as FromRequest<()>>::from_request(request, &()))
        .map(|Body(value)| value)
}

#[derive(Default)]
struct Tally {
    decoded: Count,
    refused: Count,
    passed: Count,
}

impl Tally {
    fn detail(&self) -> String {
        format!(
            "{} bodies decoded, {} refused with their field; {} passed the rules",
            self.decoded.get(),
            self.refused.get(),
            self.passed.get()
        )
    }

    fn passed(&self) {
        self.passed.bump();
    }
}

/// Decodes `bytes` both ways; they must agree, and a refusal names its field.
fn decoded<T: DeserializeOwned>(bytes: &[u8], tally: &Tally) -> Result<Option<T>, TestCaseError> {
    let direct = decode::<T>(bytes);
    let extracted = extract::<T>(bytes);
    match (direct, extracted) {
        (Ok(value), Ok(_)) => {
            tally.decoded.bump();
            Ok(Some(value))
        }
        (Err(path), Err(problem)) => {
            tally.refused.bump();
            prop_assert_eq!(problem.status, 422);
            let expected = if path == "." { "body".to_owned() } else { path };
            prop_assert_eq!(problem.errors.len(), 1);
            prop_assert_eq!(&problem.errors[0].field, &expected);
            let _ = problem.into_response();
            Ok(None)
        }
        (Ok(_), Err(problem)) => {
            prop_assert!(
                false,
                "decodes, but the extractor refuses it: {:?}",
                problem
            );
            unreachable!()
        }
        (Err(path), Ok(_)) => {
            prop_assert!(
                false,
                "the extractor takes what does not decode (at {})",
                path
            );
            unreachable!()
        }
    }
}

/// What the rules are judged against: a moment in 2027.
const NOW_MS: i64 = 1_800_000_000_000;

/// A post's time, both forms, as `posts::resolve` takes them.
fn check_time(
    scheduled_at: Option<&str>,
    local_time: Option<&str>,
    time_zone: Option<&str>,
) -> Result<(), TestCaseError> {
    let mut forms = Vec::new();
    if let Some(at) = scheduled_at {
        forms.push(When::Instant(at));
    }
    if let (Some(time), Some(zone)) = (local_time, time_zone) {
        forms.push(When::Local { time, zone });
    }
    for when in forms {
        match rules::resolve_time(&when) {
            Ok((at, zone)) => {
                prop_assert_eq!(zone.is_some(), matches!(when, When::Local { .. }));
                prop_assert_eq!(rules::check_time(at, at), Ok(()));
                let verdict = rules::check_time(at, NOW_MS);
                let ahead = (NOW_MS - 60_000..=NOW_MS + rules::MAX_AHEAD_MS).contains(&at);
                prop_assert_eq!(verdict.is_ok(), ahead);
            }
            Err(refusal) => {
                prop_assert!(matches!(
                    refusal.field.as_str(),
                    "scheduled_at" | "local_time" | "time_zone"
                ));
            }
        }
    }
    Ok(())
}

/// A post's content, as scheduling and publishing read it.
fn check_content(
    content: &PostContent,
    caption: Option<&str>,
    first_comment: Option<&str>,
) -> Result<bool, TestCaseError> {
    let mut passed = false;
    for on_page in [false, true] {
        match rules::check_shape(content, caption, first_comment, on_page) {
            Ok(()) => {
                passed = true;
                prop_assert_eq!(content.is_page_post(), on_page);
                for (_, _, url) in content.media_fields() {
                    prop_assert!(url.len() <= 2048 || url.starts_with(upload::SCHEME));
                }
            }
            Err(refusal) => {
                let _ = refusal.to_string();
            }
        }
    }
    let fields = content.media_fields();
    prop_assert_eq!(fields.len(), content.media().len());
    for (field, kind, url) in &fields {
        prop_assert!(field.starts_with("content."));
        let _ = (kind, upload::referenced(url));
    }
    let _ = content.uploads();
    let _ = content.name();
    prop_assert_eq!(&content.map_urls(str::to_owned), content);
    // What is stored is read back the same.
    let stored = serde_json::to_string(content).expect("content serialises");
    prop_assert_eq!(
        &serde_json::from_str::<PostContent>(&stored).expect("stored content reads back"),
        content
    );
    Ok(passed)
}

/// Any text as the messages sent for it: at most five of 1000 bytes.
fn check_reply_text(text: &str) -> Result<(), TestCaseError> {
    let parts = fit_reply(text, MAX_TEXT_BYTES, LongReplies::Split { max_parts: 5 });
    prop_assert!(parts.len() <= 5);
    for part in &parts {
        prop_assert!(!part.is_empty() && part.len() <= MAX_TEXT_BYTES);
    }
    prop_assert_eq!(parts.is_empty(), text.trim().is_empty());
    let short = fit_reply(text, MAX_TEXT_BYTES, LongReplies::Shorten);
    prop_assert!(short.len() <= 1 && short.iter().all(|p| p.len() <= MAX_TEXT_BYTES));
    Ok(())
}

/// A JSON merge patch of the stored settings, as `accounts::update_settings` applies it.
fn merge(target: &mut Value, patch: &Value) -> bool {
    let (Some(target), Some(patch)) = (target.as_object_mut(), patch.as_object()) else {
        return true;
    };
    for (key, value) in patch {
        let Some(slot) = target.get_mut(key) else {
            return false;
        };
        if value.is_object() && slot.is_object() {
            if !merge(slot, value) {
                return false;
            }
        } else {
            *slot = value.clone();
        }
    }
    true
}

fn patched<T: serde::Serialize + DeserializeOwned>(current: &T, patch: &Value) -> Option<T> {
    let mut value = serde_json::to_value(current).expect("settings serialise");
    if !patch.is_object() || !merge(&mut value, patch) {
        return None;
    }
    serde_json::from_value(value).ok()
}

// ---------------------------------------------------------------------------------------
// The bodies.

const NEW_POSTS: &[&str] = &[
    r##"{"account_id":"17841400000000001","content":{"type":"image","url":"https://cdn.example/a.jpg","alt_text":"A cup"},"caption":"New in #coffee @friend","first_comment":"#more","scheduled_at":"2026-12-24T09:00:00+01:00"}"##,
    r#"{"account_id":"17841400000000001","content":{"type":"reel","video_url":"relay://uploads/0190b0c4-7b1e-7cc1-8f5e-1234567890ab","cover_url":"https://cdn.example/c.jpg","share_to_feed":true},"local_time":"2027-03-28T02:30","time_zone":"Europe/Berlin"}"#,
    r#"{"account_id":"17841400000000001","content":{"type":"carousel","items":[{"kind":"image","url":"https://cdn.example/1.jpg"},{"kind":"video","url":"https://cdn.example/2.mp4"}]},"local_time":"2027-10-31T02:30","time_zone":"Europe/Berlin"}"#,
    r#"{"account_id":"17841400000000001","content":{"type":"story","media":{"kind":"image","url":"http://127.0.0.1:9000/s.jpg"}},"scheduled_at":"2027-01-15T10:00:00Z"}"#,
    r#"{"account_id":"100000000000001","content":{"type":"page_text"},"caption":"Open on Sunday","local_time":"2027-01-15T10:00","time_zone":"America/New_York"}"#,
    r#"{"account_id":"100000000000001","content":{"type":"page_photo","url":"https://cdn.example/p.png"},"scheduled_at":"2027-01-15T10:00:00+05:30"}"#,
    r#"{"account_id":"100000000000001","content":{"type":"page_link","link":"https://shop.example/new"},"caption":"New!","scheduled_at":"2027-01-15T10:00:00-08:00"}"#,
];

#[test]
fn fuzz_body_new_post() {
    let tally = Arc::new(Tally::default());
    fuzz(
        "body posts.create (NewPost)",
        CASES,
        body(NEW_POSTS),
        |bytes| {
            let Some(post) = decoded::<NewPost>(&bytes, &tally)? else {
                return Ok(());
            };
            let _ = AccountId::parse(post.account_id.as_str());
            check_time(
                post.scheduled_at.as_deref(),
                post.local_time.as_deref(),
                post.time_zone.as_deref(),
            )?;
            if let Some(caption) = &post.caption {
                let _ = rules::check_caption("caption", caption);
            }
            if check_content(
                &post.content,
                post.caption.as_deref(),
                post.first_comment.as_deref(),
            )? {
                tally.passed();
            }
            Ok(())
        },
        || tally.detail(),
    );
}

const POST_CHANGES: &[&str] = &[
    r#"{"caption":null}"#,
    r#"{"first_comment":"More at #shop"}"#,
    r#"{"content":{"type":"image","url":"relay://uploads/0190b0c4-7b1e-7cc1-8f5e-1234567890ab"},"scheduled_at":"2027-02-01T08:00:00+01:00"}"#,
    r#"{"local_time":"2027-10-31T02:30","time_zone":"Europe/Berlin","caption":"Twice"}"#,
    r#"{"content":{"type":"carousel","items":[{"kind":"image","url":"https://a.example/1.jpg"},{"kind":"image","url":"https://a.example/2.jpg"},{"kind":"video","url":"https://a.example/3.mp4"}]}}"#,
    r#"{}"#,
];

#[test]
fn fuzz_body_post_change() {
    let tally = Arc::new(Tally::default());
    fuzz(
        "body posts.change (PostChange)",
        CASES,
        body(POST_CHANGES),
        |bytes| {
            let Some(change) = decoded::<PostChange>(&bytes, &tally)? else {
                return Ok(());
            };
            check_time(
                change.scheduled_at.as_deref(),
                change.local_time.as_deref(),
                change.time_zone.as_deref(),
            )?;
            let caption = change.caption.clone().flatten();
            let comment = change.first_comment.clone().flatten();
            if let Some(content) = &change.content {
                if check_content(content, caption.as_deref(), comment.as_deref())? {
                    tally.passed();
                }
            }
            Ok(())
        },
        || tally.detail(),
    );
}

const NEW_UPLOADS: &[&str] = &[
    r#"{"content_type":"image/jpeg","size_bytes":1024}"#,
    r#"{"content_type":"VIDEO/MP4","size_bytes":314572800}"#,
    r#"{"content_type":"image/png","size_bytes":8388609}"#,
    r#"{"content_type":"video/quicktime","size_bytes":0}"#,
];

#[test]
fn fuzz_body_new_upload() {
    let tally = Arc::new(Tally::default());
    fuzz(
        "body uploads.create (NewUpload)",
        CASES,
        body(NEW_UPLOADS),
        |bytes| {
            let Some(new) = decoded::<NewUpload>(&bytes, &tally)? else {
                return Ok(());
            };
            let request = UploadRequest {
                content_type: &new.content_type,
                size_bytes: new.size_bytes,
            };
            match upload::check_upload(&request) {
                Ok(kind) => {
                    tally.passed();
                    let lower = new.content_type.to_ascii_lowercase();
                    let max = match kind {
                        MediaKind::Image => {
                            prop_assert!(lower.starts_with("image/"));
                            MAX_IMAGE_BYTES
                        }
                        MediaKind::Video => {
                            prop_assert!(lower.starts_with("video/"));
                            MAX_REEL_BYTES
                        }
                    };
                    prop_assert!((1..=max).contains(&new.size_bytes));
                }
                Err(refusal) => {
                    prop_assert!(matches!(
                        refusal.field.as_str(),
                        "content_type" | "size_bytes"
                    ));
                }
            }
            Ok(())
        },
        || tally.detail(),
    );
}

const SETTINGS_PATCHES: &[&str] = &[
    r#"{"ai":{"mode":"shadow","handoff_message":null,"rules":["Never promise delivery dates"],"long_replies":{"kind":"split","max_parts":3},"debounce_seconds":30}}"#,
    r#"{"moderation":{"hide":{"links":true},"blocked_words":["scam*"],"allowed_domains":["shop.example"],"repeat_threshold":3,"repeat_window_hours":24,"spam_sensitivity":"high"}}"#,
    r#"{"ai":{"mode":"auto","persona":"Brief.","escalation_words":["mensch*"],"long_replies":{"kind":"shorten"},"history_messages":20},"moderation":{"enabled":false}}"#,
    r#"{}"#,
];

#[test]
fn fuzz_body_settings_patch() {
    let tally = Arc::new(Tally::default());
    fuzz(
        "body accounts.update_settings (SettingsPatch)",
        CASES,
        body(SETTINGS_PATCHES),
        |bytes| {
            let Some(patch) = decoded::<SettingsPatch>(&bytes, &tally)? else {
                return Ok(());
            };
            let mut passed = true;
            if let Some(ai) = &patch.ai {
                match patched(&AiSettings::default(), ai) {
                    Some(settings) => passed &= settings.validate().is_ok(),
                    None => passed = false,
                }
            }
            if let Some(moderation) = &patch.moderation {
                match patched(&ModerationPolicy::default(), moderation) {
                    Some(policy) => passed &= policy.validate().map_err(|e| e.to_string()).is_ok(),
                    None => passed = false,
                }
            }
            if passed {
                tally.passed();
            }
            Ok(())
        },
        || tally.detail(),
    );
}

const KNOWLEDGE: &[&str] = &[
    r#"{"entry":{"kind":"faq","question":"Do you ship to Berlin?","answer":"Yes, in 2 days."},"tags":["shipping"]}"#,
    r#"{"entry":{"kind":"product","name":"Flat white beans","sku":"FW-1","price":{"amount":"14.50","currency":"EUR"},"availability":"in_stock","url":"https://shop.example/fw","description":"Chocolate notes."}}"#,
    r#"{"entry":{"kind":"product","name":"Mug","price":{"amount":"1.","currency":"eu"},"url":"ftp://x"},"tags":[" "]}"#,
];

#[test]
fn fuzz_body_knowledge_entry() {
    let tally = Arc::new(Tally::default());
    let tenant = TenantId::parse("acme").unwrap();
    fuzz(
        "body knowledge.create/replace (EntryBody)",
        CASES,
        body(KNOWLEDGE),
        |bytes| {
            let Some(body) = decoded::<EntryBody>(&bytes, &tally)? else {
                return Ok(());
            };
            let Ok(kind) = serde_json::from_value::<KnowledgeKind>(body.entry) else {
                return Ok(());
            };
            let entry = KnowledgeEntry {
                tenant_id: tenant.clone(),
                entry_id: EntryId::parse("entry-1").unwrap(),
                entry: kind,
                tags: body.tags,
                updated_at: NOW_MS,
            };
            if entry.validate().map_err(|e| e.to_string()).is_ok() {
                tally.passed();
            }
            let _ = (entry.prompt_line(), entry.product());
            Ok(())
        },
        || tally.detail(),
    );
}

const NEW_KEYS: &[&str] = &[
    r#"{"name":"Front desk","role":"agent","accounts":["17841400000000001"]}"#,
    r#"{"name":"  ","role":"owner"}"#,
    r#"{"name":"Reporting","role":"viewer","accounts":[]}"#,
];

#[test]
fn fuzz_body_new_key() {
    let tally = Arc::new(Tally::default());
    fuzz(
        "body keys.create (NewKey)",
        CASES,
        body(NEW_KEYS),
        |bytes| {
            let Some(new) = decoded::<NewKey>(&bytes, &tally)? else {
                return Ok(());
            };
            let name = new.name.trim();
            let role = Role::parse(&new.role);
            let accounts: Result<Vec<AccountId>, _> = new
                .accounts
                .iter()
                .map(|a| AccountId::parse(a.as_str()))
                .collect();
            if !name.is_empty() && name.chars().count() <= 100 && role.is_some() && accounts.is_ok()
            {
                tally.passed();
            }
            Ok(())
        },
        || tally.detail(),
    );
}

const REPLIES: &[&str] = &[
    r#"{"text":"Thanks! Your order ships tomorrow."}"#,
    r#"{"text":"   "}"#,
];

#[test]
fn fuzz_body_inbox_reply() {
    let tally = Arc::new(Tally::default());
    fuzz(
        "body inbox.reply (ReplyBody)",
        CASES,
        body(REPLIES),
        |bytes| {
            let Some(reply) = decoded::<ReplyBody>(&bytes, &tally)? else {
                return Ok(());
            };
            check_reply_text(&reply.text)?;
            tally.passed();
            Ok(())
        },
        || tally.detail(),
    );
}

const APPROVALS: &[&str] = &[
    r#"{}"#,
    r#"{"text":"Edited: see you at 9."}"#,
    r#"{"text":null}"#,
];

#[test]
fn fuzz_body_inbox_approve() {
    let tally = Arc::new(Tally::default());
    fuzz(
        "body inbox.approve (ApproveBody)",
        CASES,
        body(APPROVALS),
        |bytes| {
            let Some(approve) = decoded::<ApproveBody>(&bytes, &tally)? else {
                return Ok(());
            };
            if let Some(text) = &approve.text {
                check_reply_text(text)?;
            }
            tally.passed();
            Ok(())
        },
        || tally.detail(),
    );
}

const ASSIGNMENTS: &[&str] = &[r#"{"assignee":"ana@example.com"}"#, r#"{"assignee":null}"#];

#[test]
fn fuzz_body_inbox_assign() {
    let tally = Arc::new(Tally::default());
    fuzz(
        "body inbox.assign (AssignBody)",
        CASES,
        body(ASSIGNMENTS),
        |bytes| {
            if let Some(assign) = decoded::<AssignBody>(&bytes, &tally)?
                && assign
                    .assignee
                    .as_ref()
                    .is_none_or(|a| a.chars().count() <= 200)
            {
                tally.passed();
            }
            Ok(())
        },
        || tally.detail(),
    );
}

const COMMENT_REPLIES: &[&str] = &[r#"{"text":"Thank you! DM us for the price."}"#];

#[test]
fn fuzz_body_comment_reply() {
    let tally = Arc::new(Tally::default());
    fuzz(
        "body comments.act (CommentReply)",
        CASES,
        body(COMMENT_REPLIES),
        |bytes| {
            let Some(reply) = decoded::<CommentReply>(&bytes, &tally)? else {
                return Ok(());
            };
            let by = "key:front-desk".to_owned();
            let request_id = format!("idem-{}", &relay::access::key_hash(&reply.text)[..32]);
            let public = ModerationAction::Reply {
                by: by.clone(),
                request_id: request_id.clone(),
                text: reply.text.clone(),
            };
            let private = ModerationAction::PrivateReply {
                by,
                request_id,
                text: reply.text,
            };
            let (a, b) = (public.validate(), private.validate());
            if a.is_ok() || b.is_ok() {
                tally.passed();
            }
            for result in [a, b] {
                if let Err(err) = result {
                    let _ = err.to_string();
                }
            }
            Ok(())
        },
        || tally.detail(),
    );
}

const NEW_TENANTS: &[&str] = &[
    r#"{"tenant_id":"acme","name":"Acme Coffee"}"#,
    r#"{"tenant_id":"-ops","name":"x"}"#,
];

#[test]
fn fuzz_body_operator_tenant() {
    let tally = Arc::new(Tally::default());
    fuzz(
        "body operator.create_tenant (NewTenant)",
        CASES,
        body(NEW_TENANTS),
        |bytes| {
            let Some(new) = decoded::<NewTenant>(&bytes, &tally)? else {
                return Ok(());
            };
            if let Ok(tenant) = TenantId::parse(new.tenant_id.as_str()) {
                let reserved = relay::onboarding::is_reserved_tenant(&tenant);
                let name = new.name.trim();
                if !reserved && !name.is_empty() && name.chars().count() <= 200 {
                    tally.passed();
                }
            }
            Ok(())
        },
        || tally.detail(),
    );
}

const NEW_LINKS: &[&str] = &[r#"{"days":7}"#, r#"{}"#, r#"{"days":31}"#];

#[test]
fn fuzz_body_operator_link() {
    let tally = Arc::new(Tally::default());
    fuzz(
        "body operator.onboarding_link (NewLink)",
        CASES,
        body(NEW_LINKS),
        |bytes| {
            if let Some(new) = decoded::<NewLink>(&bytes, &tally)?
                && (1..=30).contains(&new.days.unwrap_or(7))
            {
                tally.passed();
            }
            Ok(())
        },
        || tally.detail(),
    );
}

const ERASURES: &[&str] = &[r#"{"confirm":"acme"}"#];

#[test]
fn fuzz_body_tenant_erase() {
    let tally = Arc::new(Tally::default());
    fuzz(
        "body tenant.erase (EraseRequest)",
        CASES,
        body(ERASURES),
        |bytes| {
            if let Some(request) = decoded::<EraseRequest>(&bytes, &tally)?
                && request.confirm == "acme"
            {
                tally.passed();
            }
            Ok(())
        },
        || tally.detail(),
    );
}

#[test]
fn every_seed_body_decodes() {
    fn all<T: DeserializeOwned>(seeds: &[&str]) {
        for seed in seeds {
            decode::<T>(seed.as_bytes()).unwrap_or_else(|path| panic!("{seed}: at {path}"));
            assert!(seed.len() <= MAX_BODY);
        }
    }
    all::<NewPost>(NEW_POSTS);
    all::<PostChange>(POST_CHANGES);
    all::<NewUpload>(NEW_UPLOADS);
    all::<SettingsPatch>(SETTINGS_PATCHES);
    all::<EntryBody>(KNOWLEDGE);
    all::<NewKey>(NEW_KEYS);
    all::<ReplyBody>(REPLIES);
    all::<ApproveBody>(APPROVALS);
    all::<AssignBody>(ASSIGNMENTS);
    all::<CommentReply>(COMMENT_REPLIES);
    all::<NewTenant>(NEW_TENANTS);
    all::<NewLink>(NEW_LINKS);
    all::<EraseRequest>(ERASURES);
}

/// Found while fuzzing the bodies with trailing text: `routes::Body` never checks that
/// the JSON value ends the body (`serde_path_to_error::deserialize` leaves the
/// `Deserializer::end` check to the caller), so a body that is not JSON is taken.
#[test]
#[ignore = "finding: a body with text after its JSON value is accepted instead of refused as malformed"]
fn a_body_with_text_after_its_json_is_refused() {
    for body in [
        &b"{\"confirm\":\"acme\"} trailing text"[..],
        b"{\"confirm\":\"acme\"}{\"confirm\":\"other\"}",
        b"{\"confirm\":\"acme\"}]",
    ] {
        let refused = extract::<EraseRequest>(body).map(|r| r.confirm);
        assert!(
            refused.is_err(),
            "{} was taken as {refused:?}",
            String::from_utf8_lossy(body)
        );
    }
}
