//! Scheduled publishing on moto and the Meta simulator: posts are stored, the dispatcher
//! claims them from the due index and queues them, the worker (driven over the real
//! publish queue) runs the container state machine against the simulator, and the tests
//! read what a content manager would check: the post's status and ids, and what is on
//! Instagram (the simulator's media), exactly once.

mod ai_support;
mod common;

use std::sync::Arc;
use std::time::Duration;

use ai_support::{Ai, sim_post};
use aws_lambda_events::event::sqs::SqsEvent;
use common::Pipeline;
use relay::accounts::Tokens;
use relay::events::EventBus;
use relay::ids::{TenantId, UploadId};
use relay::jobs::JobQueue;
use relay::meta::GraphClient;
use relay::publishing::run::{Advanced, Publisher, Settings, job_of};
use relay::publishing::upload::{self, ObjectState, Upload};
use relay::publishing::{FixBy, Limits, MediaItem, MediaKind, Post, PostContent, PostStatus};
use relay_tests::pipeline::{Dispatcher, Drained};
use relay_tests::sim_clock::SimClock;
use serde_json::{Value, json};

struct World {
    p: Pipeline,
    clock: Arc<SimClock>,
    publisher: Publisher,
    tenant: TenantId,
    account: String,
}

impl World {
    async fn start() -> Self {
        let p = Pipeline::start().await;
        let clock = SimClock::connect(p.sim.base_url()).await;
        let tenant = common::tenant("bloom");
        let account = Ai::connect(&p, &tenant, "bloom_florist").await;
        let graph = GraphClient::new(relay_tests::sim::meta_config(&p.sim))
            .expect("the Graph client builds");
        let bus = EventBus::new(p.aws.eventbridge(), p.aws.event_bus.clone());
        let tokens = Tokens::new(
            p.store.clone(),
            relay::crypto::EnvelopeCipher::new(p.aws.kms(), p.aws.token_key_id.clone()),
            graph.clone(),
            p.audit.clone(),
            bus.clone(),
            relay::publishing::run::ACTOR,
        )
        .with_clock(clock.clone());
        // Production's rules, but no waiting between status reads or retries, so the
        // simulator's IN_PROGRESS polls pass without sleeping.
        let settings = Settings {
            limits: Limits {
                poll_every: Duration::ZERO,
                backoff: Duration::ZERO,
                ..Limits::default()
            },
            ..Settings::default()
        };
        let publisher = Publisher {
            store: p.store.clone(),
            tokens,
            graph,
            queue: JobQueue::new(p.aws.sqs(), p.aws.queues.publish.clone()),
            bus,
            audit: p.audit.clone(),
            media: relay::media::MediaBucket::new(&p.aws.sdk, p.aws.media_bucket.clone()),
            clock: clock.clone(),
            settings,
        };
        Self {
            p,
            clock,
            publisher,
            tenant,
            account,
        }
    }

    fn post(&self, content: PostContent, caption: Option<&str>, at_ms: i64) -> Post {
        Post {
            caption: caption.map(str::to_owned),
            ..Post::scheduled(
                self.tenant.clone(),
                relay::ids::AccountId::parse(&self.account).unwrap(),
                content,
                at_ms,
                "user:key_test",
                at_ms,
            )
        }
    }

    async fn schedule(&self, post: &Post) {
        self.p
            .store
            .create_post(post)
            .await
            .expect("the post is stored");
    }

    async fn stored(&self, post: &Post) -> Post {
        self.p
            .store
            .get_post(&self.tenant, &post.post_id)
            .await
            .unwrap()
            .expect("the post is stored")
    }

    /// Run the worker over the publish queue until it is empty.
    async fn work(&self) -> Drained {
        let publisher = &self.publisher;
        Dispatcher::new(self.p.aws.sqs(), self.p.aws.queues.publish.clone())
            .drain(200, |event: SqsEvent| async move {
                relay::lambda::sqs_batch(&publish::Publish::new(publisher), &event).await
            })
            .await
    }

    /// The account's media at Meta (top level: a carousel counts once).
    async fn media_at_meta(&self) -> Vec<Value> {
        let all: Value = self
            .p
            .http
            .get(format!("{}/_sim/media", self.p.sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        all.as_array()
            .unwrap()
            .iter()
            .filter(|m| m["account_id"] == self.account.as_str())
            .cloned()
            .collect()
    }

    async fn fault(&self, fault: Value) {
        sim_post(&self.p, "/_sim/faults", fault).await;
    }
}

fn image(name: &str) -> PostContent {
    PostContent::Image {
        url: format!("https://cdn.example/{name}.jpg"),
        alt_text: Some("A bouquet of tulips".into()),
    }
}

#[tokio::test]
async fn posts_of_every_kind_go_out_once_with_ids_permalink_and_first_comment() {
    let w = World::start().await;
    let now = w.clock.now_ms();
    let mut with_comment = w.post(image("tulips"), Some("Spring is here #tulips"), now);
    with_comment.first_comment = Some("Order by DM!".into());
    let item = |kind, url: &str| MediaItem {
        kind,
        url: url.into(),
    };
    let posts = vec![
        with_comment,
        w.post(
            PostContent::Reel {
                video_url: "https://cdn.example/r.mp4".into(),
                cover_url: None,
                share_to_feed: Some(true),
            },
            Some("Behind the scenes"),
            now,
        ),
        w.post(
            PostContent::Carousel {
                items: vec![
                    item(MediaKind::Image, "https://cdn.example/1.jpg"),
                    item(MediaKind::Video, "https://cdn.example/2.mp4"),
                    item(MediaKind::Image, "https://cdn.example/3.jpg"),
                ],
            },
            Some("Three looks"),
            now,
        ),
        w.post(
            PostContent::Story {
                media: item(MediaKind::Image, "https://cdn.example/s.jpg"),
            },
            None,
            now,
        ),
    ];
    for post in &posts {
        w.schedule(post).await;
    }
    let dispatched = w.publisher.dispatch().await.unwrap();
    assert_eq!(dispatched.queued, 4);
    assert_eq!(
        w.publisher.dispatch().await.unwrap().queued,
        0,
        "a claimed post is not claimed again"
    );
    let drained = w.work().await;
    assert_eq!(drained.failed, 0);

    for post in &posts {
        let stored = w.stored(post).await;
        assert_eq!(
            stored.status,
            PostStatus::Published,
            "{}: {:?}",
            post.content.name(),
            stored.failure
        );
        assert!(stored.progress.media_id.is_some());
        assert!(
            stored
                .progress
                .permalink
                .as_deref()
                .is_some_and(|l| l.starts_with("https://www.instagram.com/")),
        );
    }
    let media = w.media_at_meta().await;
    assert_eq!(media.len(), 4, "one media per post: {media:?}");
    let kinds: Vec<&str> = media
        .iter()
        .map(|m| m["media_type"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"CAROUSEL_ALBUM"), "{kinds:?}");
    let carousel = media
        .iter()
        .find(|m| m["media_type"] == "CAROUSEL_ALBUM")
        .unwrap();
    assert_eq!(carousel["children"].as_array().unwrap().len(), 3);

    let first = w.stored(&posts[0]).await;
    let comment_id = first
        .progress
        .first_comment_id
        .expect("first comment posted");
    let comments: Value =
        w.p.http
            .get(format!("{}/_sim/comments", w.p.sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let posted: Vec<&Value> = comments
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["text"] == "Order by DM!")
        .collect();
    assert_eq!(posted.len(), 1, "{comments}");
    assert_eq!(posted[0]["id"], comment_id.as_str());
    let audit = w.p.audit.records(&w.tenant).await.unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|r| r.action == "post.published")
            .count(),
        4
    );
}

#[tokio::test]
async fn posts_due_within_the_lead_are_prepared_ahead_and_published_at_their_second() {
    let w = World::start().await;
    let now = w.clock.now_ms();
    let soon = w.post(image("soon"), None, now + 60_000);
    let later = w.post(image("later"), None, now + 10 * 60_000);
    w.schedule(&soon).await;
    w.schedule(&later).await;
    let dispatched = w.publisher.dispatch().await.unwrap();
    assert_eq!(dispatched.queued, 1);
    assert_eq!(w.stored(&later).await.status, PostStatus::Scheduled);
    // The worker builds the container and waits for Meta's processing now, a minute
    // ahead, and then gives the post back to the queue until just before its second.
    w.work().await;
    let prepared = w.stored(&soon).await;
    assert_eq!(prepared.status, PostStatus::Publishing);
    assert!(prepared.progress.container_ready, "prepared ahead");
    assert!(w.media_at_meta().await.is_empty(), "not before its time");
    let attributes = w
        .p
        .aws
        .sqs()
        .get_queue_attributes()
        .queue_url(&w.p.aws.queues.publish)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    assert_eq!(
        attributes
            .attributes()
            .and_then(|a| a
                .get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed))
            .map(String::as_str),
        Some("1"),
        "the post waits on the queue for its second"
    );
    // Its second comes (the delayed message, delivered). The test's own steps above
    // took wall time, so "on time" is judged against the moment the worker ran, not
    // against a fixed budget a loaded machine can exceed.
    w.clock.advance(60).await;
    let delivered = w.clock.now_ms();
    assert!(
        delivered >= prepared.scheduled_at,
        "the clock is past its second"
    );
    assert_eq!(
        w.publisher
            .advance(&job_of(&soon), "worker-b")
            .await
            .unwrap(),
        Advanced::Published
    );
    let handled = w.clock.now_ms();
    let published_at = w.stored(&soon).await.published_at.unwrap();
    assert!(
        (delivered..=handled).contains(&published_at),
        "published at {published_at}, not while the delivered message was handled ({delivered}..={handled})"
    );
    assert_eq!(w.media_at_meta().await.len(), 1);
}

#[tokio::test]
async fn a_publish_whose_answer_was_lost_is_found_published_and_not_posted_again() {
    let w = World::start().await;
    let post = w.post(image("lost"), Some("Lost answer"), w.clock.now_ms());
    w.schedule(&post).await;
    w.fault(json!({"kind": "lost_answer", "count": 1, "path_contains": "/media_publish", "method": "POST"}))
        .await;
    w.publisher.dispatch().await.unwrap();
    let drained = w.work().await;
    assert_eq!(drained.failed, 0);
    let stored = w.stored(&post).await;
    assert_eq!(stored.status, PostStatus::Published, "{:?}", stored.failure);
    assert_eq!(w.media_at_meta().await.len(), 1, "exactly one media");
}

#[tokio::test]
async fn two_workers_at_once_and_a_redelivery_publish_one_media() {
    let w = World::start().await;
    let post = w.post(image("twice"), Some("Twice"), w.clock.now_ms());
    w.schedule(&post).await;
    w.publisher.dispatch().await.unwrap();
    let job = job_of(&post);
    let (a, b) = tokio::join!(
        w.publisher.advance(&job, "worker-a"),
        w.publisher.advance(&job, "worker-b"),
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    assert!(
        outcomes.contains(&Advanced::Busy),
        "one of them found the post taken: {outcomes:?}"
    );
    w.work().await;
    assert_eq!(w.stored(&post).await.status, PostStatus::Published);
    // The same message delivered again after the post went out.
    assert_eq!(
        w.publisher.advance(&job, "worker-c").await.unwrap(),
        Advanced::Nothing
    );
    assert_eq!(w.media_at_meta().await.len(), 1, "exactly one media");
}

#[tokio::test]
async fn a_post_whose_worker_died_is_picked_up_by_the_sweep_without_a_second_container() {
    let w = World::start().await;
    let post = w.post(image("crash"), Some("Crash"), w.clock.now_ms());
    w.schedule(&post).await;
    w.publisher.dispatch().await.unwrap();
    // The worker creates the container, reads IN_PROGRESS and re-queues itself; that
    // message is then lost (as if the worker died before queueing it).
    let job = job_of(&post);
    assert!(matches!(
        w.publisher.advance(&job, "worker-a").await.unwrap(),
        Advanced::Waiting(_)
    ));
    w.p.aws
        .sqs()
        .purge_queue()
        .queue_url(&w.p.aws.queues.publish)
        .send()
        .await
        .unwrap();
    let container = w.stored(&post).await.progress.container.expect("stored");
    assert_eq!(
        w.publisher.dispatch().await.unwrap().requeued,
        0,
        "its watchdog has not run out yet"
    );
    w.clock.advance(11 * 60).await;
    assert_eq!(w.publisher.dispatch().await.unwrap().requeued, 1);
    w.work().await;
    let stored = w.stored(&post).await;
    assert_eq!(stored.status, PostStatus::Published, "{:?}", stored.failure);
    assert_eq!(
        stored.progress.container,
        Some(container),
        "the same container"
    );
    assert_eq!(w.media_at_meta().await.len(), 1);
}

#[tokio::test]
async fn meta_refusing_the_media_fails_the_post_with_the_reason_and_what_to_do() {
    let w = World::start().await;
    let post = w.post(image("bad"), Some("Bad"), w.clock.now_ms());
    w.schedule(&post).await;
    w.fault(
        json!({"kind": "error", "count": 1, "path_contains": "/media", "method": "POST",
        "code": 9004, "subcode": 2207026, "status": 400, "message": "Unsupported format"}),
    )
    .await;
    w.publisher.dispatch().await.unwrap();
    w.work().await;
    let stored = w.stored(&post).await;
    assert_eq!(stored.status, PostStatus::Failed);
    let failure = stored.failure.expect("a reason");
    assert_eq!(failure.fix, FixBy::ChangeTheMedia);
    assert!(failure.reason.contains("2207026"), "{}", failure.reason);
    assert!(w.media_at_meta().await.is_empty());
}

#[tokio::test]
async fn a_transient_failure_is_retried_and_the_post_goes_out_once() {
    let w = World::start().await;
    let post = w.post(image("flaky"), Some("Flaky"), w.clock.now_ms());
    w.schedule(&post).await;
    // Creating a container is sent once by the Graph client, so the machine retries it.
    w.fault(
        json!({"kind": "server_error", "count": 2, "path_contains": "/media", "method": "POST"}),
    )
    .await;
    w.publisher.dispatch().await.unwrap();
    w.work().await;
    let stored = w.stored(&post).await;
    assert_eq!(stored.status, PostStatus::Published, "{:?}", stored.failure);
    assert_eq!(stored.progress.retries, 2);
    assert_eq!(w.media_at_meta().await.len(), 1);
}

#[tokio::test]
async fn a_revoked_token_fails_the_post_asking_for_a_reconnect() {
    let w = World::start().await;
    let post = w.post(image("revoked"), Some("Revoked"), w.clock.now_ms());
    w.schedule(&post).await;
    sim_post(
        &w.p,
        "/_sim/tokens/revoke",
        json!({"user_id": w.account, "subcode": 460}),
    )
    .await;
    w.publisher.dispatch().await.unwrap();
    w.work().await;
    let stored = w.stored(&post).await;
    assert_eq!(stored.status, PostStatus::Failed);
    assert_eq!(stored.failure.unwrap().fix, FixBy::ReconnectTheAccount);
}

#[tokio::test]
async fn over_quota_the_post_waits_and_says_so_then_goes_out() {
    let w = World::start().await;
    let post = w.post(image("quota"), Some("Quota"), w.clock.now_ms());
    w.schedule(&post).await;
    w.fault(
        json!({"kind": "error", "count": 1, "path_contains": "/media_publish", "method": "POST",
        "code": 9, "subcode": 2207042, "status": 400,
        "message": "The account has reached its publishing limit."}),
    )
    .await;
    w.publisher.dispatch().await.unwrap();
    w.work().await;
    let waiting = w.stored(&post).await;
    assert_eq!(waiting.status, PostStatus::WaitingForQuota);
    assert!(
        waiting
            .progress
            .waiting
            .as_deref()
            .is_some_and(|note| note.contains("publishing quota")),
        "{:?}",
        waiting.progress.waiting
    );
    assert!(w.media_at_meta().await.is_empty());
    // The quota's wait is over (its delayed message, delivered).
    w.clock.advance(15 * 60).await;
    assert_eq!(
        w.publisher
            .advance(&job_of(&post), "worker-b")
            .await
            .unwrap(),
        Advanced::Published
    );
    assert_eq!(w.stored(&post).await.progress.waiting, None);
    assert_eq!(w.media_at_meta().await.len(), 1);
}

/// Connects a Facebook Page (with its Page token) to the world's tenant; its id.
async fn connect_page(w: &World) -> String {
    let created = sim_post(
        &w.p,
        "/_sim/fb-users",
        json!({"name": "Bloom Owner", "pages": [{"name": "Bloom Florist"}]}),
    )
    .await;
    let user = created["user_id"].as_str().unwrap().to_owned();
    let page = created["pages"][0]["id"].as_str().unwrap().to_owned();
    let minted = sim_post(
        &w.p,
        "/_sim/tokens",
        json!({"user_id": user, "kind": "page", "page_id": page}),
    )
    .await;
    let token = relay::secret::AccessToken::new(minted["access_token"].as_str().unwrap());
    let id = relay::ids::AccountId::parse(&page).unwrap();
    let sealed = relay::crypto::EnvelopeCipher::new(w.p.aws.kms(), w.p.aws.token_key_id.clone())
        .seal_token(
            &token,
            &relay::crypto::EncryptionContext::new(
                w.tenant.clone(),
                id.clone(),
                relay::crypto::Purpose::AccessToken,
            ),
        )
        .await
        .unwrap();
    let now = w.clock.now_ms() / 1000;
    w.p.store
        .put_account(&relay::store::accounts::Account {
            tenant_id: w.tenant.clone(),
            account_id: id,
            channel: relay::store::accounts::Channel::Page,
            login: relay::store::accounts::LoginKind::FacebookLogin,
            username: None,
            name: Some("Bloom Florist".into()),
            meta_user_id: None,
            linked_instagram_id: None,
            status: relay::store::accounts::AccountStatus::Connected,
            token_sealed: Some(sealed),
            token_issued_at: Some(now),
            token_expires_at: None,
            connected_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    page
}

async fn page_posts(w: &World) -> Vec<Value> {
    let all: Value =
        w.p.http
            .get(format!("{}/_sim/page-posts", w.p.sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    all.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn page_posts_go_out_once_and_a_lost_answer_is_never_sent_again() {
    let w = World::start().await;
    let page = connect_page(&w).await;
    let on_page = |content, caption: &str| {
        let mut post = w.post(content, Some(caption), w.clock.now_ms());
        post.account_id = relay::ids::AccountId::parse(&page).unwrap();
        post
    };
    let text = on_page(PostContent::PageText, "Open on Sunday!");
    let photo = on_page(
        PostContent::PagePhoto {
            url: "https://cdn.example/bouquet.jpg".into(),
        },
        "Today's bouquet",
    );
    w.schedule(&text).await;
    w.schedule(&photo).await;
    w.publisher.dispatch().await.unwrap();
    w.work().await;
    for post in [&text, &photo] {
        let stored = w.stored(post).await;
        assert_eq!(stored.status, PostStatus::Published, "{:?}", stored.failure);
        assert!(stored.progress.media_id.is_some());
    }
    assert_eq!(page_posts(&w).await.len(), 2);

    // Meta posts it, but its answer is lost: a Page post has no container to ask, so
    // Relay does not send it again and asks a person to look.
    let lost = on_page(PostContent::PageText, "Closed on Monday");
    w.schedule(&lost).await;
    w.fault(json!({"kind": "lost_answer", "count": 1, "path_contains": "/feed", "method": "POST"}))
        .await;
    w.publisher.dispatch().await.unwrap();
    w.work().await;
    let stored = w.stored(&lost).await;
    assert_eq!(stored.status, PostStatus::Failed);
    assert!(
        stored.failure.unwrap().reason.contains("Check the Page"),
        "the person is told to look"
    );
    assert_eq!(page_posts(&w).await.len(), 3, "posted once, never twice");
}

/// A file as a person uploads it: the record the API keeps and the object in the
/// bucket, tagged pending as the presigned PUT tags it.
async fn uploaded(w: &World, kind: MediaKind, content_type: &str, bytes: Vec<u8>) -> UploadId {
    let upload = Upload {
        tenant_id: w.tenant.clone(),
        upload_id: UploadId::generate(),
        kind,
        content_type: content_type.into(),
        size_bytes: bytes.len() as u64,
        post_id: None,
        created_by: "user:key_test".into(),
        created_at: w.clock.now_ms(),
        revision: 0,
    };
    w.p.store.create_upload(&upload).await.unwrap();
    w.p.aws
        .s3()
        .put_object()
        .bucket(&w.p.aws.media_bucket)
        .key(upload::object_key(&w.tenant, &upload.upload_id))
        .content_type(content_type)
        .tagging(ObjectState::Pending.tagging())
        .body(bytes.into())
        .send()
        .await
        .expect("moto takes the file");
    upload.upload_id
}

/// The first bytes of a JPEG and of an MP4, as Meta's fetcher sniffs them.
fn jpeg() -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0];
    bytes.resize(4096, 0);
    bytes
}

fn mp4() -> Vec<u8> {
    let mut bytes = vec![
        0, 0, 0, 0x18, b'f', b't', b'y', b'p', b'm', b'p', b'4', b'2',
    ];
    bytes.resize(4096, 0);
    bytes
}

#[tokio::test]
async fn uploaded_media_reach_meta_through_presigned_urls_and_are_marked_done_after() {
    let w = World::start().await;
    let photo = uploaded(&w, MediaKind::Image, "image/jpeg", jpeg()).await;
    let clip = uploaded(&w, MediaKind::Video, "video/mp4", mp4()).await;
    let now = w.clock.now_ms();
    let image_post = w.post(
        PostContent::Image {
            url: upload::reference(&photo),
            alt_text: None,
        },
        Some("Fresh from the shop"),
        now,
    );
    let reel = w.post(
        PostContent::Reel {
            video_url: upload::reference(&clip),
            cover_url: None,
            share_to_feed: None,
        },
        Some("Arranging tulips"),
        now,
    );
    for post in [&image_post, &reel] {
        w.schedule(post).await;
    }
    w.publisher.dispatch().await.unwrap();
    w.work().await;
    for post in [&image_post, &reel] {
        let stored = w.stored(post).await;
        assert_eq!(stored.status, PostStatus::Published, "{:?}", stored.failure);
    }
    assert_eq!(w.media_at_meta().await.len(), 2);
    let containers: Value =
        w.p.http
            .get(format!("{}/_sim/containers", w.p.sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let ours: Vec<&Value> = containers
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["account_id"] == w.account.as_str())
        .collect();
    assert_eq!(ours.len(), 2, "{ours:?}");
    let bucket_path = format!("/{}/uploads/{}/", w.p.aws.media_bucket, w.tenant);
    for container in ours {
        let url = container["media_url"].as_str().unwrap_or("");
        assert!(url.contains(&bucket_path), "Meta fetched {url}");
        assert!(url.contains("X-Amz-Signature="), "a presigned URL: {url}");
        assert!(!url.contains("relay://"), "Meta never sees the reference");
    }
    let bucket = relay::media::MediaBucket::new(&w.p.aws.sdk, w.p.aws.media_bucket.clone());
    for id in [&photo, &clip] {
        assert_eq!(
            bucket.state(&w.tenant, id).await.unwrap().as_deref(),
            Some("done"),
            "the lifecycle removes the file of a post that is out"
        );
    }
}

#[tokio::test]
async fn an_upload_that_is_gone_fails_the_post_saying_to_change_the_media() {
    let w = World::start().await;
    let photo = uploaded(&w, MediaKind::Image, "image/jpeg", jpeg()).await;
    w.p.aws
        .s3()
        .delete_object()
        .bucket(&w.p.aws.media_bucket)
        .key(upload::object_key(&w.tenant, &photo))
        .send()
        .await
        .unwrap();
    let post = w.post(
        PostContent::Image {
            url: upload::reference(&photo),
            alt_text: None,
        },
        None,
        w.clock.now_ms(),
    );
    w.schedule(&post).await;
    w.publisher.dispatch().await.unwrap();
    w.work().await;
    let stored = w.stored(&post).await;
    assert_eq!(stored.status, PostStatus::Failed);
    assert_eq!(stored.failure.expect("a reason").fix, FixBy::ChangeTheMedia);
    assert!(w.media_at_meta().await.is_empty());
}
