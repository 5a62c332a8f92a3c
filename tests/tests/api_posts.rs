//! Scheduled posts through the management API, on moto and the Meta simulator, through
//! the real authorizer: a content manager schedules, reads the calendar, changes and
//! cancels posts; what breaks Meta's rules (time, shape, media as a local media server
//! serves it) is refused naming the field; a post the dispatcher claimed is no longer
//! theirs to change; another tenant's posts are not found.

mod ai_support;
mod api_support;
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use api_support::{Answer, World};
use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::{any, get};
use relay::access::Role;
use relay::ids::{PostId, TenantId};
use relay::publishing::{Post, PostStatus};
use serde_json::{Value, json};

/// A media server on this machine, standing in for the business's CDN.
struct Media {
    base: String,
    /// Ranged GETs `/no-head.jpg` answered.
    ranged: Arc<AtomicUsize>,
}

impl Media {
    /// `/photo.jpg` (JPEG), `/photo.png` (PNG), `/no-head.jpg` (refuses HEAD, answers a
    /// ranged GET) and 404 for anything else.
    async fn start() -> Self {
        let ranged = Arc::new(AtomicUsize::new(0));
        let counter = ranged.clone();
        let app = Router::new()
            .route(
                "/photo.jpg",
                get(|| async { ([("content-type", "image/jpeg")], vec![0xFF_u8; 2048]) }),
            )
            .route(
                "/photo.png",
                get(|| async { ([("content-type", "image/png")], vec![0x89_u8; 2048]) }),
            )
            .route(
                "/no-head.jpg",
                any(move |method: Method, headers: HeaderMap| {
                    let counter = counter.clone();
                    async move {
                        if method == Method::HEAD {
                            return (StatusCode::METHOD_NOT_ALLOWED, HeaderMap::new(), "");
                        }
                        let mut out = HeaderMap::new();
                        out.insert("content-type", "image/jpeg".parse().unwrap());
                        if headers.get("range").is_some_and(|r| r == "bytes=0-0") {
                            counter.fetch_add(1, Ordering::SeqCst);
                            out.insert("content-range", "bytes 0-0/4096".parse().unwrap());
                            return (StatusCode::PARTIAL_CONTENT, out, "x");
                        }
                        (StatusCode::OK, out, "the whole file")
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a local port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, ranged }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

const HOUR_MS: i64 = 3_600_000;

/// `ms` as RFC 3339 in UTC, to the second.
fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Whole seconds from now, as the API will store a time given to the second.
fn ahead(w: &World, ms: i64) -> i64 {
    (w.ai.clock.now_ms() + ms).div_euclid(1000) * 1000
}

fn image_post(w: &World, url: &str, at_ms: i64) -> Value {
    json!({
        "account_id": w.account(),
        "content": {"type": "image", "url": url, "alt_text": "A bouquet of tulips"},
        "caption": "Spring is here #tulips",
        "first_comment": "Order by Friday for Saturday delivery",
        "scheduled_at": rfc3339(at_ms),
    })
}

/// The one refused field of a 422.
fn refused_field(answer: &Answer) -> (String, String) {
    assert_eq!(answer.status, 422, "{}", answer.body);
    assert_eq!(
        answer.header("content-type"),
        Some("application/problem+json")
    );
    let error = &answer.body["errors"][0];
    (
        error["field"].as_str().unwrap_or("").to_owned(),
        error["reason"].as_str().unwrap_or("").to_owned(),
    )
}

async fn stored(w: &World, id: &str) -> Post {
    w.ai.p
        .store
        .get_post(w.tenant(), &PostId::parse(id).unwrap())
        .await
        .unwrap()
        .expect("the post is stored")
}

async fn calendar(w: &World, key: &str, query: &str) -> Vec<Value> {
    let page = w.get(key, &format!("/v1/posts{query}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.body["items"].as_array().unwrap().clone()
}

async fn actions(w: &World) -> Vec<(String, String, String)> {
    w.ai.p
        .audit
        .records(w.tenant())
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.action.starts_with("post."))
        .map(|r| (r.action, r.actor, r.target.unwrap_or_default()))
        .collect()
}

/// A manager schedules `body`; the new post's id.
async fn schedule(w: &World, key: &str, body: Value) -> String {
    let made = w.post(key, "/v1/posts", body).await;
    assert_eq!(made.status, 201, "{}", made.body);
    made.body["post_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_manager_schedules_an_image_post_and_finds_it_in_the_calendar_in_time_order() {
    let w = World::start().await;
    let media = Media::start().await;
    let manager = w.key(Role::Manager).await;
    let at = ahead(&w, 48 * HOUR_MS);
    let made = w
        .post(
            &manager,
            "/v1/posts",
            image_post(&w, &media.url("/photo.jpg"), at),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let post = &made.body;
    assert_eq!(post["status"], "scheduled");
    assert_eq!(post["scheduled_at"], at);
    assert_eq!(post["time_zone"], Value::Null);
    assert_eq!(post["account_id"], w.account());
    assert_eq!(
        post["content"],
        json!({"type": "image", "url": media.url("/photo.jpg"), "alt_text": "A bouquet of tulips"})
    );
    assert_eq!(post["caption"], "Spring is here #tulips");
    assert_eq!(
        post["first_comment"],
        "Order by Friday for Saturday delivery"
    );
    assert_eq!(
        post["progress"],
        json!({"media_id": null, "permalink": null, "first_comment_id": null, "waiting": null})
    );
    assert_eq!(post["failure"], Value::Null);
    assert_eq!(post["insights"], Value::Null);
    for private in ["lease_by", "lease_until", "revision", "tenant_id"] {
        assert!(post.get(private).is_none(), "{private} is shown: {post}");
    }
    let id = post["post_id"].as_str().unwrap().to_owned();
    // A second post, a day earlier, given as a wall-clock time in its zone (Tokyo keeps
    // +09:00 all year).
    let earlier_at = at - 24 * HOUR_MS;
    let tokyo = rfc3339(earlier_at + 9 * HOUR_MS);
    let earlier = schedule(
        &w,
        &manager,
        json!({
            "account_id": w.account(),
            "content": {"type": "image", "url": media.url("/photo.jpg")},
            "local_time": tokyo.trim_end_matches('Z'),
            "time_zone": "Asia/Tokyo",
        }),
    )
    .await;
    let viewer = w.key(Role::Viewer).await;
    let listed = calendar(&w, &viewer, "").await;
    let ids: Vec<&str> = listed
        .iter()
        .map(|p| p["post_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [earlier.as_str(), id.as_str()], "in time order");
    assert_eq!(listed[0]["time_zone"], "Asia/Tokyo");
    assert_eq!(listed[0]["scheduled_at"], earlier_at);
    let shown = w.get(&viewer, &format!("/v1/posts/{id}")).await;
    assert_eq!(shown.status, 200);
    assert_eq!(&shown.body, post, "read back as it was made");
    // Filters, the window and paging.
    let account = format!("?account={}", w.account());
    assert_eq!(calendar(&w, &viewer, &account).await.len(), 2);
    assert!(calendar(&w, &viewer, "?status=published").await.is_empty());
    let window = format!("?from={}&to={}", at - HOUR_MS, at + HOUR_MS);
    assert_eq!(calendar(&w, &viewer, &window).await.len(), 1);
    let first = w.get(&viewer, "/v1/posts?limit=1").await;
    assert_eq!(first.body["items"][0]["post_id"], earlier.as_str());
    let next = first.body["next_cursor"].as_str().expect("a second page");
    let second = w
        .get(&viewer, &format!("/v1/posts?limit=1&cursor={next}"))
        .await;
    assert_eq!(second.body["items"][0]["post_id"], id.as_str());
    let bad = w.get(&viewer, "/v1/posts?status=lost").await;
    assert_eq!(refused_field(&bad).0, "status");
    // Stored for the publisher, scheduled by the manager's key.
    let post = stored(&w, &id).await;
    assert_eq!(post.status, PostStatus::Scheduled);
    assert!(
        post.created_by.starts_with("user:key_"),
        "{}",
        post.created_by
    );
    let audit = actions(&w).await;
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert_eq!(audit[0].0, "post.scheduled");
    assert_eq!(audit[0].1, post.created_by);
    assert_eq!(audit[0].2, format!("post:{id}"));
}

#[tokio::test]
async fn a_local_time_the_clocks_skip_at_a_dst_change_is_refused_naming_local_time() {
    let w = World::start().await;
    let media = Media::start().await;
    let manager = w.key(Role::Manager).await;
    // Europe/Berlin goes from 02:00 to 03:00 on 2030-03-31.
    let gap = w
        .post(
            &manager,
            "/v1/posts",
            json!({
                "account_id": w.account(),
                "content": {"type": "image", "url": media.url("/photo.jpg")},
                "local_time": "2030-03-31T02:30",
                "time_zone": "Europe/Berlin",
            }),
        )
        .await;
    let (field, reason) = refused_field(&gap);
    assert_eq!(field, "local_time");
    assert!(reason.contains("does not exist"), "{reason}");
    let zoneless = w
        .post(
            &manager,
            "/v1/posts",
            json!({
                "account_id": w.account(),
                "content": {"type": "image", "url": media.url("/photo.jpg")},
                "local_time": "2030-03-31T09:30",
            }),
        )
        .await;
    assert_eq!(refused_field(&zoneless).0, "time_zone");
    assert!(calendar(&w, &manager, "").await.is_empty());
}

#[tokio::test]
async fn a_png_for_an_instagram_image_is_refused_naming_content_url() {
    let w = World::start().await;
    let media = Media::start().await;
    let manager = w.key(Role::Manager).await;
    let at = ahead(&w, 24 * HOUR_MS);
    let png = w
        .post(
            &manager,
            "/v1/posts",
            image_post(&w, &media.url("/photo.png"), at),
        )
        .await;
    let (field, reason) = refused_field(&png);
    assert_eq!(field, "content.url");
    assert!(
        reason.contains("JPEG") && reason.contains("image/png"),
        "{reason}"
    );
    let missing = w
        .post(
            &manager,
            "/v1/posts",
            image_post(&w, &media.url("/gone.jpg"), at),
        )
        .await;
    let (field, reason) = refused_field(&missing);
    assert_eq!(field, "content.url");
    assert!(reason.contains("404"), "{reason}");
    assert!(
        calendar(&w, &manager, "").await.is_empty(),
        "nothing was scheduled"
    );
    assert!(actions(&w).await.is_empty());
}

#[tokio::test]
async fn media_whose_server_refuses_head_is_checked_with_a_ranged_get() {
    let w = World::start().await;
    let media = Media::start().await;
    let manager = w.key(Role::Manager).await;
    let at = ahead(&w, 24 * HOUR_MS);
    schedule(&w, &manager, image_post(&w, &media.url("/no-head.jpg"), at)).await;
    assert_eq!(media.ranged.load(Ordering::SeqCst), 1, "one ranged GET");
}

#[tokio::test]
async fn a_carousel_of_one_is_refused_naming_its_items() {
    let w = World::start().await;
    let media = Media::start().await;
    let manager = w.key(Role::Manager).await;
    let one = w
        .post(
            &manager,
            "/v1/posts",
            json!({
                "account_id": w.account(),
                "content": {"type": "carousel", "items": [{"kind": "image", "url": media.url("/photo.jpg")}]},
                "scheduled_at": rfc3339(ahead(&w, 24 * HOUR_MS)),
            }),
        )
        .await;
    let (field, reason) = refused_field(&one);
    assert_eq!(field, "content.items");
    assert!(reason.contains("not 1"), "{reason}");
    assert!(calendar(&w, &manager, "").await.is_empty());
}

#[tokio::test]
async fn a_post_in_the_past_is_refused_naming_scheduled_at() {
    let w = World::start().await;
    let media = Media::start().await;
    let manager = w.key(Role::Manager).await;
    let past = w
        .post(
            &manager,
            "/v1/posts",
            image_post(&w, &media.url("/photo.jpg"), ahead(&w, -HOUR_MS)),
        )
        .await;
    assert_eq!(
        refused_field(&past),
        ("scheduled_at".to_owned(), "is in the past".to_owned())
    );
    let unknown = w
        .post(
            &manager,
            "/v1/posts",
            json!({"account_id": w.account(), "content": {"type": "page_text"}, "status": "published"}),
        )
        .await;
    assert!(
        refused_field(&unknown).1.contains("status"),
        "unknown fields are refused"
    );
    assert!(calendar(&w, &manager, "").await.is_empty());
}

#[tokio::test]
async fn a_viewer_or_an_agent_reads_the_calendar_but_cannot_schedule() {
    let w = World::start().await;
    let media = Media::start().await;
    let body = image_post(&w, &media.url("/photo.jpg"), ahead(&w, 24 * HOUR_MS));
    for role in [Role::Viewer, Role::Agent] {
        let key = w.key(role).await;
        let refused = w.post(&key, "/v1/posts", body.clone()).await;
        assert_eq!(refused.status, 403, "{role}: {}", refused.body);
        assert_eq!(refused.problem_type(), "urn:relay:problem:forbidden");
        assert!(calendar(&w, &key, "").await.is_empty());
    }
    assert!(actions(&w).await.is_empty());
}

#[tokio::test]
async fn a_waiting_post_is_changed_but_once_claimed_it_is_refused_with_the_reason() {
    let w = World::start().await;
    let media = Media::start().await;
    let manager = w.key(Role::Manager).await;
    let at = ahead(&w, 24 * HOUR_MS);
    let id = schedule(&w, &manager, image_post(&w, &media.url("/photo.jpg"), at)).await;
    let path = format!("/v1/posts/{id}");
    let changed = w
        .patch(
            &manager,
            &path,
            json!({"caption": "Tulips are back #spring", "first_comment": null}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body["caption"], "Tulips are back #spring");
    assert_eq!(changed.body["first_comment"], Value::Null);
    assert_eq!(changed.body["scheduled_at"], at, "the time stays");
    let png = w
        .patch(
            &manager,
            &path,
            json!({"content": {"type": "image", "url": media.url("/photo.png")}}),
        )
        .await;
    assert_eq!(
        refused_field(&png).0,
        "content.url",
        "new media is fetched again"
    );
    let gap = w
        .patch(
            &manager,
            &path,
            json!({"local_time": "2030-03-31T02:30", "time_zone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(refused_field(&gap).0, "local_time");
    let post = stored(&w, &id).await;
    assert_eq!(post.caption.as_deref(), Some("Tulips are back #spring"));
    assert_eq!(post.first_comment, None);
    assert!(post.content.media()[0].1.ends_with("/photo.jpg"));
    // The dispatcher claims it.
    let mut claimed = post.clone();
    claimed.status = PostStatus::Queued;
    w.ai.p.store.save_post(&claimed).await.unwrap();
    let late = w
        .patch(&manager, &path, json!({"caption": "Too late"}))
        .await;
    assert_eq!(late.status, 409, "{}", late.body);
    assert_eq!(late.problem_type(), "urn:relay:problem:post-not-editable");
    assert_eq!(late.body["detail"], "the post is being published");
    let cancel = w.call(Some(&manager), "DELETE", &path, None, &[]).await;
    assert_eq!(cancel.status, 409, "{}", cancel.body);
    assert_eq!(cancel.body["detail"], "the post is being published");
    let after = stored(&w, &id).await;
    assert_eq!(after.status, PostStatus::Queued);
    assert_eq!(after.caption.as_deref(), Some("Tulips are back #spring"));
    let audit: Vec<String> = actions(&w).await.into_iter().map(|a| a.0).collect();
    assert_eq!(audit, ["post.scheduled", "post.changed"]);
}

#[tokio::test]
async fn deleting_a_waiting_post_cancels_it_and_it_stays_in_the_calendar() {
    let w = World::start().await;
    let media = Media::start().await;
    let manager = w.key(Role::Manager).await;
    let id = schedule(
        &w,
        &manager,
        image_post(&w, &media.url("/photo.jpg"), ahead(&w, 24 * HOUR_MS)),
    )
    .await;
    let path = format!("/v1/posts/{id}");
    let cancelled = w.call(Some(&manager), "DELETE", &path, None, &[]).await;
    assert_eq!(cancelled.status, 204, "{}", cancelled.body);
    assert_eq!(stored(&w, &id).await.status, PostStatus::Cancelled);
    assert_eq!(w.get(&manager, &path).await.body["status"], "cancelled");
    let listed = calendar(&w, &manager, "?status=cancelled").await;
    assert_eq!(listed.len(), 1);
    assert!(calendar(&w, &manager, "?status=scheduled").await.is_empty());
    let again = w.call(Some(&manager), "DELETE", &path, None, &[]).await;
    assert_eq!(again.status, 409);
    assert_eq!(again.body["detail"], "the post was cancelled");
    let changed = w
        .patch(&manager, &path, json!({"caption": "Back on"}))
        .await;
    assert_eq!(changed.status, 409);
    let audit = actions(&w).await;
    assert_eq!(audit.last().unwrap().0, "post.cancelled");
    assert!(audit.last().unwrap().1.starts_with("user:key_"));
}

#[tokio::test]
async fn another_tenants_post_is_not_found_and_its_accounts_take_no_posts() {
    let w = World::start().await;
    let media = Media::start().await;
    let manager = w.key(Role::Manager).await;
    let body = image_post(&w, &media.url("/photo.jpg"), ahead(&w, 24 * HOUR_MS));
    let id = schedule(&w, &manager, body.clone()).await;
    let before = stored(&w, &id).await;
    let before_audit = w.ai.p.audit.records(w.tenant()).await.unwrap().len();
    let rival = TenantId::parse(format!("rival-{}", w.tenant())).unwrap();
    let rival_key = w.key_for(&rival, Role::Owner, &[]).await;
    let path = format!("/v1/posts/{id}");
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"caption": "Hijacked"}))),
        ("DELETE", None),
    ] {
        let answer = w.call(Some(&rival_key), method, &path, body, &[]).await;
        assert_eq!(answer.status, 404, "{method}: {}", answer.body);
        assert_eq!(answer.problem_type(), "urn:relay:problem:not-found");
    }
    assert!(calendar(&w, &rival_key, "").await.is_empty());
    let other_account = w
        .get(&rival_key, &format!("/v1/posts?account={}", w.account()))
        .await;
    assert_eq!(other_account.status, 404);
    let theirs = w.post(&rival_key, "/v1/posts", body).await;
    assert_eq!(refused_field(&theirs).0, "account_id");
    assert_eq!(stored(&w, &id).await, before, "the post is as it was");
    assert_eq!(
        w.ai.p.audit.records(w.tenant()).await.unwrap().len(),
        before_audit
    );
}

#[tokio::test]
async fn an_idempotency_key_schedules_once_and_replays_the_first_answer() {
    let w = World::start().await;
    let media = Media::start().await;
    let manager = w.key(Role::Manager).await;
    let body = image_post(&w, &media.url("/photo.jpg"), ahead(&w, 24 * HOUR_MS));
    let first = w
        .post_once(&manager, "/v1/posts", body.clone(), "spring-launch")
        .await;
    let second = w
        .post_once(&manager, "/v1/posts", body, "spring-launch")
        .await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(second.status, 201);
    assert_eq!(second.body, first.body, "the replay is the first answer");
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    let listed = calendar(&w, &manager, "").await;
    assert_eq!(listed.len(), 1, "one post was scheduled");
    assert_eq!(listed[0]["post_id"], first.body["post_id"]);
    assert_eq!(actions(&w).await.len(), 1);
}

#[tokio::test]
async fn a_post_scheduled_inside_the_lead_is_claimed_at_once_for_the_publish_queue() {
    let w = World::start().await;
    let media = Media::start().await;
    let manager = w.key(Role::Manager).await;
    let soon = schedule(
        &w,
        &manager,
        image_post(&w, &media.url("/photo.jpg"), ahead(&w, 30_000)),
    )
    .await;
    let later = schedule(
        &w,
        &manager,
        image_post(&w, &media.url("/photo.jpg"), ahead(&w, HOUR_MS)),
    )
    .await;
    assert_eq!(
        stored(&w, &soon).await.status,
        PostStatus::Queued,
        "the sweep may have run already"
    );
    assert_eq!(stored(&w, &later).await.status, PostStatus::Scheduled);
    let jobs: Vec<Value> =
        w.ai.p
            .queue_bodies(&w.ai.p.aws.queues.publish)
            .await
            .iter()
            .map(|b| serde_json::from_str(b).unwrap())
            .collect();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["post_id"], soon.as_str());
    let change = w
        .patch(
            &manager,
            &format!("/v1/posts/{soon}"),
            json!({"caption": "Too late"}),
        )
        .await;
    assert_eq!(change.status, 409, "{}", change.body);
}

/// A file uploaded as a person's browser uploads it: ask for an upload URL, then PUT the
/// bytes with the headers given. The upload as the API described it.
async fn upload(w: &World, key: &str, content_type: &str, bytes: Vec<u8>) -> Value {
    let made = w
        .post(
            key,
            "/v1/media",
            json!({"content_type": content_type, "size_bytes": bytes.len()}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let request = &made.body["upload"];
    assert_eq!(request["method"], "PUT");
    let mut put = w.ai.p.http.put(request["url"].as_str().unwrap());
    for (name, value) in request["headers"].as_object().unwrap() {
        put = put.header(name, value.as_str().unwrap());
    }
    let sent = put.body(bytes).send().await.expect("the bucket answers");
    assert!(sent.status().is_success(), "PUT: {}", sent.status());
    made.body
}

/// Only the reference is asked for: nothing is PUT.
async fn upload_url_only(w: &World, key: &str, content_type: &str, size: usize) -> Value {
    let made = w
        .post(
            key,
            "/v1/media",
            json!({"content_type": content_type, "size_bytes": size}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    made.body
}

fn jpeg() -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.resize(2048, 0);
    bytes
}

fn bucket(w: &World) -> relay::media::MediaBucket {
    relay::media::MediaBucket::new(&w.ai.p.aws.sdk, w.ai.p.aws.media_bucket.clone())
}

async fn file_state(w: &World, made: &Value) -> Option<String> {
    let id = relay::ids::UploadId::parse(made["upload_id"].as_str().unwrap()).unwrap();
    bucket(w).state(w.tenant(), &id).await.unwrap()
}

#[tokio::test]
async fn a_manager_uploads_a_photo_schedules_it_and_the_file_serves_that_post_only() {
    let w = World::start().await;
    let manager = w.key(Role::Manager).await;
    let made = upload(&w, &manager, "image/jpeg", jpeg()).await;
    let reference = made["url"].as_str().unwrap().to_owned();
    assert!(reference.starts_with("relay://uploads/"), "{reference}");
    assert_eq!(made["kind"], "image");
    assert_eq!(file_state(&w, &made).await.as_deref(), Some("pending"));

    let id = schedule(
        &w,
        &manager,
        image_post(&w, &reference, ahead(&w, 24 * HOUR_MS)),
    )
    .await;
    let post = stored(&w, &id).await;
    assert_eq!(
        post.content.media()[0].1,
        reference,
        "the post keeps the reference"
    );
    assert_eq!(
        file_state(&w, &made).await.as_deref(),
        Some("scheduled"),
        "kept while its post waits"
    );

    let again = w
        .post(
            &manager,
            "/v1/posts",
            image_post(&w, &reference, ahead(&w, 48 * HOUR_MS)),
        )
        .await;
    let (field, reason) = refused_field(&again);
    assert_eq!(field, "content.url");
    assert!(reason.contains(&id), "{reason}");

    let cancelled = w
        .call(
            Some(&manager),
            "DELETE",
            &format!("/v1/posts/{id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(cancelled.status, 204);
    assert_eq!(
        file_state(&w, &made).await.as_deref(),
        Some("done"),
        "the lifecycle removes the file of a cancelled post"
    );
    let audited = w.ai.p.audit.records(w.tenant()).await.unwrap();
    assert!(audited.iter().any(|r| r.action == "media.upload_created"));
}

#[tokio::test]
async fn uploads_meta_would_refuse_are_refused_naming_the_field_and_the_rule() {
    let w = World::start().await;
    let manager = w.key(Role::Manager).await;
    let ask = |body: Value| {
        let (w, manager) = (&w, &manager);
        async move { w.post(manager, "/v1/media", body).await }
    };
    let pdf = ask(json!({"content_type": "application/pdf", "size_bytes": 10})).await;
    assert_eq!(refused_field(&pdf).0, "content_type");
    let empty = ask(json!({"content_type": "image/jpeg", "size_bytes": 0})).await;
    assert_eq!(refused_field(&empty).0, "size_bytes");
    let huge = ask(json!({"content_type": "image/jpeg", "size_bytes": 9_000_000})).await;
    let (field, reason) = refused_field(&huge);
    assert_eq!(field, "size_bytes");
    assert!(reason.contains("8388608"), "{reason}");
    let viewer = w.key(Role::Viewer).await;
    let looked = w
        .post(
            &viewer,
            "/v1/media",
            json!({"content_type": "image/jpeg", "size_bytes": 10}),
        )
        .await;
    assert_eq!(looked.status, 403, "viewers do not upload");

    let at = ahead(&w, 24 * HOUR_MS);
    let never_sent = upload_url_only(&w, &manager, "image/jpeg", 2048).await;
    let early = w
        .post(
            &manager,
            "/v1/posts",
            image_post(&w, never_sent["url"].as_str().unwrap(), at),
        )
        .await;
    let (field, reason) = refused_field(&early);
    assert_eq!(field, "content.url");
    assert!(reason.contains("has not arrived"), "{reason}");

    let png = upload(&w, &manager, "image/png", vec![0x89; 2048]).await;
    let on_instagram = w
        .post(
            &manager,
            "/v1/posts",
            image_post(&w, png["url"].as_str().unwrap(), at),
        )
        .await;
    let (field, reason) = refused_field(&on_instagram);
    assert_eq!(field, "content.url");
    assert!(reason.contains("JPEG"), "{reason}");

    let clip = upload(&w, &manager, "video/mp4", vec![0; 2048]).await;
    let as_image = w
        .post(
            &manager,
            "/v1/posts",
            image_post(&w, clip["url"].as_str().unwrap(), at),
        )
        .await;
    assert!(refused_field(&as_image).1.contains("is a video"));

    let malformed = w
        .post(
            &manager,
            "/v1/posts",
            image_post(&w, "relay://uploads/../../etc", at),
        )
        .await;
    assert_eq!(refused_field(&malformed).0, "content.url");
    assert!(
        calendar(&w, &manager, "").await.is_empty(),
        "nothing was scheduled"
    );
}

#[tokio::test]
async fn another_tenants_upload_cannot_be_named_in_a_post() {
    let w = World::start().await;
    let manager = w.key(Role::Manager).await;
    let rival = TenantId::parse(format!("rival-{}", w.tenant())).unwrap();
    let rival_key = w.key_for(&rival, Role::Owner, &[]).await;
    let theirs = upload(&w, &rival_key, "image/jpeg", jpeg()).await;
    let reference = theirs["url"].as_str().unwrap();
    let answer = w
        .post(
            &manager,
            "/v1/posts",
            image_post(&w, reference, ahead(&w, 24 * HOUR_MS)),
        )
        .await;
    let (field, reason) = refused_field(&answer);
    assert_eq!(field, "content.url");
    assert!(reason.contains("this tenant does not have"), "{reason}");
    assert!(calendar(&w, &manager, "").await.is_empty());
}
