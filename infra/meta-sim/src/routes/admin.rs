//! The admin API under `/_sim/`: the test's hand on the simulator. It creates accounts,
//! mints and revokes tokens, moves the clock, injects faults and usage, plays
//! customers (inbound DMs, comments), and shows what the product did (messages sent,
//! media published, comments moderated, webhooks delivered, calls made).

use super::App;
use super::webhooks::deliver_events;
use crate::state::accounts::{self, TokenKind};
use crate::state::faults::Fault;
use crate::state::usage::UsageOverride;
use crate::state::{Clock, ids};
use crate::webhook::{self, EventSpec};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// Revocation subcodes the simulator accepts (Meta's 190 subcodes).
const REVOCATION_SUBCODES: &[u32] = &[458, 459, 460, 464, 467, 492];

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
    }
}

type AdminResult = Result<Json<Value>, AdminError>;

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, AdminError> {
    serde_json::from_value(v).map_err(|e| AdminError::BadRequest(format!("invalid request: {e}")))
}

pub fn router() -> Router<App> {
    Router::new()
        .route("/_sim/config", get(config).post(set_config))
        .route("/_sim/clock", get(clock))
        .route("/_sim/clock/advance", post(clock_advance))
        .route("/_sim/clock/set", post(clock_set))
        .route("/_sim/ig-users", get(list_ig_users).post(create_ig_user))
        .route("/_sim/fb-users", get(list_fb_users).post(create_fb_user))
        .route("/_sim/tokens", post(mint_token))
        .route("/_sim/tokens/revoke", post(revoke))
        .route(
            "/_sim/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/_sim/usage", post(set_usage).delete(clear_usage))
        .route("/_sim/inbound", post(inbound))
        .route("/_sim/messages", get(messages))
        .route("/_sim/media", get(media).post(seed_media))
        .route("/_sim/containers", get(containers))
        .route("/_sim/comments", get(comments).post(create_comment))
        .route("/_sim/page-posts", get(page_posts))
        .route("/_sim/requests", get(requests))
        .route("/_sim/reset", post(reset))
        .route("/_sim/files/{name}", get(file))
}

/// Stand-in media for local posts, by extension: `.jpg` a tiny JPEG, `.png` a PNG,
/// `.mp4` an MP4 header, anything else 404. The local stack schedules posts with these
/// URLs, so the API's media probe and the simulator's download both find real files.
async fn file(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    const JPEG: &[u8] = &[
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00, 0xFF, 0xD9,
    ];
    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    const MP4: &[u8] = &[
        0x00, 0x00, 0x00, 0x18, b'f', b't', b'y', b'p', b'm', b'p', b'4', b'2', 0x00, 0x00, 0x00,
        0x00, b'm', b'p', b'4', b'2', b'i', b's', b'o', b'm',
    ];
    let (content_type, body) = match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("jpg" | "jpeg") => ("image/jpeg", JPEG),
        Some("png") => ("image/png", PNG),
        Some("mp4") => ("video/mp4", MP4),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    ([(axum::http::header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn config(State(app): State<App>) -> Json<Value> {
    let state = app.lock();
    Json(json!({"config": state.config, "base_url": state.base_url}))
}

/// `POST /_sim/config`: changes run-time settings (see
/// [`crate::config::RUNTIME_SETTINGS`]); answers like `GET /_sim/config`.
async fn set_config(State(app): State<App>, Json(body): Json<Value>) -> AdminResult {
    let mut state = app.lock();
    state.config = state
        .config
        .updated(&body)
        .map_err(AdminError::BadRequest)?;
    Ok(Json(
        json!({"config": state.config, "base_url": state.base_url}),
    ))
}

async fn clock(State(app): State<App>) -> Json<Value> {
    let now = app.lock().now();
    Json(json!({"now": now.secs(), "now_ms": now.ms()}))
}

#[derive(Deserialize)]
struct Advance {
    seconds: i64,
}

async fn clock_advance(State(app): State<App>, Json(body): Json<Value>) -> AdminResult {
    let req: Advance = parse(body)?;
    if req.seconds < 0 {
        return Err(AdminError::BadRequest(
            "the clock only moves forward".into(),
        ));
    }
    let mut state = app.lock();
    state.clock.advance_secs(req.seconds);
    let now = state.now();
    Ok(Json(json!({"now": now.secs(), "now_ms": now.ms()})))
}

#[derive(Deserialize)]
struct SetClock {
    now: i64,
}

async fn clock_set(State(app): State<App>, Json(body): Json<Value>) -> AdminResult {
    let req: SetClock = parse(body)?;
    let mut state = app.lock();
    if Clock::at_secs(req.now) < state.now().plus_secs(-1) {
        return Err(AdminError::BadRequest(
            "the clock only moves forward".into(),
        ));
    }
    let now = state.clock.set_at_least(Clock::at_secs(req.now));
    Ok(Json(json!({"now": now.secs(), "now_ms": now.ms()})))
}

#[derive(Deserialize)]
struct NewIgUser {
    username: String,
    name: Option<String>,
    followers_count: Option<u64>,
}

async fn create_ig_user(State(app): State<App>, Json(body): Json<Value>) -> AdminResult {
    let req: NewIgUser = parse(body)?;
    if req.username.trim().is_empty() {
        return Err(AdminError::BadRequest("username must not be empty".into()));
    }
    let mut state = app.lock();
    let id = state.create_ig_user(
        &req.username,
        req.name.as_deref(),
        req.followers_count,
        None,
    );
    let user = state.ig_user(&id).expect("the account was just created");
    Ok(Json(json!({
        "user_id": user.user_id,
        "username": user.username,
        "app_scoped_id": user.app_scoped_id,
    })))
}

async fn list_ig_users(State(app): State<App>) -> Json<Value> {
    Json(json!(app.lock().ig_users))
}

#[derive(Deserialize)]
struct NewPage {
    name: String,
    #[serde(default)]
    instagram: bool,
}

#[derive(Deserialize)]
struct NewFbUser {
    name: String,
    #[serde(default)]
    pages: Vec<NewPage>,
}

async fn create_fb_user(State(app): State<App>, Json(body): Json<Value>) -> AdminResult {
    let req: NewFbUser = parse(body)?;
    let pages: Vec<(String, bool)> = req
        .pages
        .into_iter()
        .map(|p| (p.name, p.instagram))
        .collect();
    let mut state = app.lock();
    let user_id = state.create_fb_user(&req.name, &pages);
    let pages: Vec<Value> = state
        .pages
        .iter()
        .filter(|p| p.owner == user_id)
        .map(|p| {
            let mut v = json!({"id": p.id, "name": p.name});
            if let Some(ig) = &p.instagram_business_account {
                v["instagram_business_account"] = json!(ig);
            }
            v
        })
        .collect();
    Ok(Json(json!({"user_id": user_id, "pages": pages})))
}

async fn list_fb_users(State(app): State<App>) -> Json<Value> {
    let state = app.lock();
    Json(json!({"users": state.fb_users, "pages": state.pages}))
}

#[derive(Deserialize)]
struct MintToken {
    user_id: Option<String>,
    kind: String,
    page_id: Option<String>,
    scopes: Option<Vec<String>>,
}

/// `POST /_sim/tokens`: a token as if the user had logged in, with every permission
/// unless `scopes` narrows them.
async fn mint_token(State(app): State<App>, Json(body): Json<Value>) -> AdminResult {
    let req: MintToken = parse(body)?;
    let kind = TokenKind::parse(&req.kind)
        .ok_or_else(|| AdminError::BadRequest(format!("unknown token kind `{}`", req.kind)))?;
    let mut state = app.lock();
    let (subject, page_id) = match kind {
        TokenKind::IgShort | TokenKind::IgLong => {
            let id = req.user_id.as_deref().unwrap_or_default();
            let user = state
                .ig_user(id)
                .ok_or_else(|| AdminError::NotFound(format!("no Instagram account {id}")))?;
            (user.user_id.clone(), None)
        }
        TokenKind::FbShort | TokenKind::FbLong => {
            let id = req.user_id.clone().unwrap_or_default();
            if state.fb_user(&id).is_none() {
                return Err(AdminError::NotFound(format!("no Facebook user {id}")));
            }
            (id, None)
        }
        TokenKind::Page => {
            let page_id = req
                .page_id
                .clone()
                .ok_or_else(|| AdminError::BadRequest("kind page needs page_id".into()))?;
            let page = state
                .page(&page_id)
                .ok_or_else(|| AdminError::NotFound(format!("no page {page_id}")))?;
            if req.user_id.as_deref().is_some_and(|u| u != page.owner) {
                return Err(AdminError::BadRequest(
                    "that user does not manage this page".into(),
                ));
            }
            (page.owner.clone(), Some(page_id))
        }
    };
    let scopes = req
        .scopes
        .unwrap_or_else(|| accounts::all_scopes(kind.platform()));
    let now = state.now();
    let expires = kind.ttl_secs().map(|t| now.plus_secs(t).ms());
    let (token, record) = state.mint_token(kind, &subject, page_id.as_deref(), scopes, expires);
    let mut answer = json!({"access_token": token});
    if let Some(e) = record.expires_in_secs(now) {
        answer["expires_in"] = json!(e);
    }
    Ok(Json(answer))
}

#[derive(Deserialize)]
struct Revoke {
    user_id: String,
    subcode: u32,
}

async fn revoke(State(app): State<App>, Json(body): Json<Value>) -> AdminResult {
    let req: Revoke = parse(body)?;
    if !REVOCATION_SUBCODES.contains(&req.subcode) {
        return Err(AdminError::BadRequest(format!(
            "subcode must be one of {REVOCATION_SUBCODES:?}"
        )));
    }
    let mut state = app.lock();
    if !state.subject_exists(&req.user_id) {
        return Err(AdminError::NotFound(format!("no user {}", req.user_id)));
    }
    state.revoke(&req.user_id, req.subcode);
    Ok(Json(
        json!({"revoked": true, "user_id": req.user_id, "subcode": req.subcode}),
    ))
}

async fn add_fault(State(app): State<App>, Json(body): Json<Value>) -> AdminResult {
    let fault: Fault = parse(body)?;
    if fault.count == 0 {
        return Err(AdminError::BadRequest("count must be at least 1".into()));
    }
    let mut state = app.lock();
    state.faults.push(fault);
    Ok(Json(json!({"queued": state.faults.len()})))
}

async fn list_faults(State(app): State<App>) -> Json<Value> {
    Json(json!(app.lock().faults))
}

async fn clear_faults(State(app): State<App>) -> Json<Value> {
    app.lock().faults.clear();
    Json(json!({"success": true}))
}

#[derive(Deserialize)]
struct SetUsage {
    #[serde(flatten)]
    usage: UsageOverride,
    account_id: Option<String>,
}

/// `POST /_sim/usage`: the percentages reported from now on (for one account's
/// business use case when `account_id` is given), until `DELETE /_sim/usage`.
async fn set_usage(State(app): State<App>, Json(body): Json<Value>) -> AdminResult {
    let req: SetUsage = parse(body)?;
    let mut state = app.lock();
    match req.account_id {
        Some(account) => {
            let account = state.canonical_account(&account);
            state.account_usage_override.insert(account, req.usage);
        }
        None => state.usage_override = Some(req.usage),
    }
    Ok(Json(json!({"success": true})))
}

async fn clear_usage(State(app): State<App>) -> Json<Value> {
    let mut state = app.lock();
    state.usage_override = None;
    state.account_usage_override.clear();
    Json(json!({"success": true}))
}

#[derive(Deserialize)]
struct Inbound {
    account_id: String,
    customer_id: String,
    text: Option<String>,
    mid: Option<String>,
    timestamp: Option<i64>,
}

/// `POST /_sim/inbound`: a customer writes to an account. Opens the messaging window
/// and, when a webhook URL is set, delivers the signed webhook.
async fn inbound(State(app): State<App>, Json(body): Json<Value>) -> AdminResult {
    let req: Inbound = parse(body)?;
    let event = {
        let mut state = app.lock();
        let kind = match state.channel_of(&req.account_id) {
            Some(crate::state::messaging::Channel::Messenger) => "messenger_dm",
            Some(crate::state::messaging::Channel::Instagram) => "dm",
            None => {
                return Err(AdminError::NotFound(format!(
                    "no account {}",
                    req.account_id
                )));
            }
        };
        let spec = EventSpec {
            kind: Some(kind.into()),
            account_id: Some(req.account_id.clone()),
            customer_id: Some(req.customer_id.clone()),
            text: req.text.clone(),
            mid: req.mid.clone(),
            timestamp: req.timestamp,
            ..EventSpec::default()
        };
        webhook::build_event(&mut state, &spec)
            .map_err(|e| AdminError::BadRequest(e.to_string()))?
    };
    let (mid, timestamp) = match &event.body {
        webhook::EventBody::Messaging(item) => {
            (item["message"]["mid"].clone(), item["timestamp"].clone())
        }
        _ => (Value::Null, Value::Null),
    };
    let delivery = deliver_events(&app, vec![event]).await;
    Ok(Json(
        json!({"mid": mid, "timestamp": timestamp, "delivery": delivery}),
    ))
}

async fn messages(State(app): State<App>, Query(q): Query<HashMap<String, String>>) -> Json<Value> {
    let state = app.lock();
    let list: Vec<_> = state
        .messages
        .iter()
        .filter(|m| q.get("account_id").is_none_or(|a| &m.account_id == a))
        .collect();
    Json(json!(list))
}

async fn media(State(app): State<App>) -> Json<Value> {
    let state = app.lock();
    let list: Vec<Value> = state
        .media
        .iter()
        .filter(|m| m.parent.is_none())
        .map(|m| {
            let mut v = json!({
                "id": m.id,
                "account_id": m.account_id,
                "media_type": m.media_type,
                "media_product_type": m.media_product_type,
                "caption": m.caption,
                "permalink": m.permalink,
                "container_id": m.container_id,
                "published_at": m.published_at_ms.div_euclid(1000),
                "comment_enabled": m.comment_enabled,
            });
            if !m.children.is_empty() {
                v["children"] = json!(m.children);
            }
            v
        })
        .collect();
    Json(json!(list))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedMedia {
    account_id: String,
    caption: Option<String>,
    media_type: Option<String>,
    media_product_type: Option<String>,
    /// Unix seconds; default now; never in the future.
    published_at: Option<i64>,
}

/// Media types of a seeded post.
const SEED_MEDIA_TYPES: &[&str] = &["IMAGE", "VIDEO", "CAROUSEL_ALBUM"];
/// Product types of a seeded post.
const SEED_PRODUCT_TYPES: &[&str] = &["FEED", "REELS", "STORY"];

/// `POST /_sim/media`: a post that already existed (not counted against the quota),
/// published now or at `published_at`, on the feed, as a reel or as a story.
async fn seed_media(State(app): State<App>, Json(body): Json<Value>) -> AdminResult {
    let req: SeedMedia = parse(body)?;
    let product = req
        .media_product_type
        .as_deref()
        .unwrap_or("FEED")
        .to_ascii_uppercase();
    if !SEED_PRODUCT_TYPES.contains(&product.as_str()) {
        return Err(AdminError::BadRequest(format!(
            "media_product_type must be one of {}",
            SEED_PRODUCT_TYPES.join(", ")
        )));
    }
    let default_type = if product == "REELS" { "VIDEO" } else { "IMAGE" };
    let media_type = req
        .media_type
        .as_deref()
        .unwrap_or(default_type)
        .to_ascii_uppercase();
    if !SEED_MEDIA_TYPES.contains(&media_type.as_str()) {
        return Err(AdminError::BadRequest(format!(
            "media_type must be one of {}",
            SEED_MEDIA_TYPES.join(", ")
        )));
    }
    match (product.as_str(), media_type.as_str()) {
        ("REELS", "VIDEO") | ("FEED", _) | ("STORY", "IMAGE" | "VIDEO") => {}
        ("REELS", _) => {
            return Err(AdminError::BadRequest("a reel has media_type VIDEO".into()));
        }
        _ => {
            return Err(AdminError::BadRequest(
                "a story has media_type IMAGE or VIDEO".into(),
            ));
        }
    }
    let mut state = app.lock();
    let account = state
        .ig_user(&req.account_id)
        .map(|u| u.user_id.clone())
        .ok_or_else(|| AdminError::NotFound(format!("no Instagram account {}", req.account_id)))?;
    let now = state.now();
    let published_at_ms = match req.published_at {
        Some(secs) if secs > now.secs() => {
            return Err(AdminError::BadRequest(format!(
                "published_at must not be in the future (now is {})",
                now.secs()
            )));
        }
        Some(secs) => secs.saturating_mul(1000),
        None => now.ms(),
    };
    let id = state.seed_media_at(
        &account,
        req.caption.as_deref(),
        &media_type,
        &product,
        published_at_ms,
    );
    Ok(Json(json!({"id": id})))
}

async fn containers(State(app): State<App>) -> Json<Value> {
    let state = app.lock();
    let now = state.now();
    let mut list: Vec<Value> = state
        .containers
        .values()
        .map(|c| {
            let mut v = json!(c);
            v["status_code"] = json!(crate::state::publishing::status_at(c, now).code());
            v
        })
        .collect();
    list.sort_by_key(|v| v["created_at_ms"].as_i64());
    Json(json!(list))
}

async fn comments(State(app): State<App>) -> Json<Value> {
    let state = app.lock();
    let view = |c: &crate::state::comments::Comment| {
        json!({
            "id": c.id,
            "media_id": c.media_id,
            "text": c.text,
            "from": {"id": c.from_id, "username": c.from_username},
            "hidden": c.hidden,
            "deleted": c.deleted,
            "private_replied": c.private_replied,
            "created_at": c.created_at_ms.div_euclid(1000),
        })
    };
    let list: Vec<Value> = state
        .comments
        .iter()
        .filter(|c| c.parent_id.is_none())
        .map(|c| {
            let mut v = view(c);
            v["replies"] = json!(
                state
                    .comments
                    .iter()
                    .filter(|r| r.parent_id.as_deref() == Some(c.id.as_str()))
                    .map(view)
                    .collect::<Vec<_>>()
            );
            v
        })
        .collect();
    Json(json!(list))
}

#[derive(Deserialize)]
struct NewComment {
    media_id: String,
    text: String,
    from_username: Option<String>,
    from_id: Option<String>,
    parent_id: Option<String>,
}

/// `POST /_sim/comments`: someone comments on a media; the comment webhook follows
/// when a URL is configured.
async fn create_comment(State(app): State<App>, Json(body): Json<Value>) -> AdminResult {
    let req: NewComment = parse(body)?;
    let (id, event) = {
        let mut state = app.lock();
        let media = state
            .media_item(&req.media_id)
            .cloned()
            .ok_or_else(|| AdminError::NotFound(format!("no media {}", req.media_id)))?;
        if !media.comment_enabled {
            return Err(AdminError::Conflict(
                "comments are disabled on this media".into(),
            ));
        }
        if let Some(parent) = &req.parent_id
            && state.comment(parent).is_none_or(|c| c.media_id != media.id)
        {
            return Err(AdminError::NotFound(format!(
                "no comment {parent} on this media"
            )));
        }
        let from_id = req.from_id.clone().unwrap_or_else(ids::scoped_customer_id);
        let username = req
            .from_username
            .clone()
            .unwrap_or_else(|| format!("fan_{}", &from_id[from_id.len().saturating_sub(4)..]));
        let id = state
            .add_comment(
                &media.id,
                &req.text,
                &from_id,
                &username,
                req.parent_id.as_deref(),
            )
            .expect("the media exists under the same lock");
        let spec = EventSpec {
            kind: Some("comment".into()),
            account_id: Some(media.account_id.clone()),
            customer_id: Some(from_id),
            text: Some(req.text.clone()),
            media_id: Some(media.id.clone()),
            comment_id: Some(id.clone()),
            parent_id: req.parent_id.clone(),
            from_username: Some(username),
            ..EventSpec::default()
        };
        let event = webhook::build_event(&mut state, &spec)
            .map_err(|e| AdminError::BadRequest(e.to_string()))?;
        (id, event)
    };
    let delivery = deliver_events(&app, vec![event]).await;
    Ok(Json(json!({"id": id, "delivery": delivery})))
}

async fn page_posts(State(app): State<App>) -> Json<Value> {
    Json(json!(app.lock().page_posts))
}

async fn requests(State(app): State<App>) -> Json<Value> {
    Json(json!(app.lock().requests))
}

async fn reset(State(app): State<App>) -> Json<Value> {
    app.lock().reset();
    Json(json!({"success": true}))
}
