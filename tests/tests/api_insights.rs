//! Profile and insights through the management API, on moto and the Meta simulator,
//! through the real authorizer: a read of an empty cache says "no data yet" and queues a
//! refresh, which the sync function (driven over the real sync queue) carries out; the
//! figures then read as JSON and as CSV (parsed by Python's csv module) and agree; a
//! refresh asked again too soon is refused with Retry-After; bad metric names and ranges
//! are refused naming the field; another tenant's accounts and media are not found.

mod ai_support;
mod api_support;
mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use ai_support::sim_post;
use api_support::{Answer, World};
use aws_lambda_events::event::sqs::SqsEvent;
use relay::access::Role;
use relay::accounts::Tokens;
use relay::ids::{AccountId, TenantId};
use relay::insights::Syncer;
use relay::insights::sync::Settings;
use relay::meta::GraphClient;
use relay::publishing::{MediaItem, MediaKind, Post, PostContent, PostStatus};
use relay::store::accounts::{Account, AccountStatus, Channel, LoginKind, Tenant};
use relay_tests::pipeline::Dispatcher;
use serde_json::{Value, json};

const DAY_S: i64 = 86_400;

fn syncer(w: &World) -> Syncer {
    let p = &w.ai.p;
    let graph =
        GraphClient::new(relay_tests::sim::meta_config(&p.sim)).expect("the Graph client builds");
    let tokens = Tokens::new(
        p.store.clone(),
        relay::crypto::EnvelopeCipher::new(p.aws.kms(), p.aws.token_key_id.clone()),
        graph.clone(),
        p.audit.clone(),
        relay::events::EventBus::new(p.aws.eventbridge(), p.aws.event_bus.clone()),
        relay::insights::sync::ACTOR,
    )
    .with_clock(w.ai.clock.clone());
    Syncer {
        store: p.store.clone(),
        tokens,
        graph,
        clock: w.ai.clock.clone(),
        settings: Settings::default(),
    }
}

/// The tenant as an operator creates it (the sweep walks tenants).
async fn with_tenant(w: &World) {
    w.ai.p
        .store
        .put_tenant(&Tenant {
            tenant_id: w.tenant().clone(),
            name: "Acme".into(),
            created_at: 0,
        })
        .await
        .expect("the tenant is stored");
}

/// A media published `days_ago` days ago on the account, at the simulator.
async fn seed_media(w: &World, kind: &str, product: &str, days_ago: i64) -> String {
    let now = w.ai.clock.now_ms() / 1000;
    let media = sim_post(
        &w.ai.p,
        "/_sim/media",
        json!({"account_id": w.account(), "media_type": kind, "media_product_type": product,
               "published_at": now - days_ago * DAY_S}),
    )
    .await;
    media["id"].as_str().expect("a media id").to_owned()
}

/// Run the sync function over the sync queue until it is empty; the messages it took.
async fn work(w: &World, syncer: &Syncer) -> usize {
    let p = &w.ai.p;
    Dispatcher::new(p.aws.sqs(), p.aws.queues.sync.clone())
        .drain(20, |event: SqsEvent| async move {
            relay::lambda::sqs_batch(&sync::Sync::new(syncer), &event).await
        })
        .await
        .delivered
}

/// CSV text as Python's csv module reads it.
fn python_csv(text: &str) -> Vec<Vec<String>> {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import csv, io, json, sys\n\
             data = sys.stdin.buffer.read().decode('utf-8')\n\
             print(json.dumps(list(csv.reader(io.StringIO(data, newline='')))))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("python3 answers");
    assert!(out.status.success(), "Python's csv module read the file");
    serde_json::from_slice(&out.stdout).expect("rows as JSON")
}

fn csv_text(answer: &Answer) -> String {
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/csv")),
        "served as CSV"
    );
    answer.body.as_str().expect("a text body").to_owned()
}

/// A JSON figure as the CSV writes it: empty for "no data yet".
fn cell(value: &Value) -> String {
    value.as_i64().map(|v| v.to_string()).unwrap_or_default()
}

#[tokio::test]
async fn an_empty_cache_queues_a_refresh_and_then_serves_the_profile_and_insights() {
    let w = World::start().await;
    with_tenant(&w).await;
    let syncer = syncer(&w);
    let image = seed_media(&w, "IMAGE", "FEED", 3).await;
    let reel = seed_media(&w, "VIDEO", "REELS", 6).await;
    let viewer = w.key(Role::Viewer).await;
    let profile_path = format!("/v1/accounts/{}/profile", w.account());

    let first = w.get(&viewer, &profile_path).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["status"], "no_data_yet");
    assert_eq!(first.body["profile"], Value::Null, "nothing is made up");
    assert_eq!(first.body["refresh"], "queued");
    let again = w.get(&viewer, &profile_path).await;
    assert_eq!(
        again.body["refresh"], "already_requested",
        "one refresh per window"
    );
    assert_eq!(work(&w, &syncer).await, 1, "one refresh job was queued");

    let profile = w.get(&viewer, &profile_path).await;
    assert_eq!(profile.body["status"], "fresh");
    assert_eq!(profile.body["refresh"], "not_needed");
    assert_eq!(profile.body["channel"], "instagram");
    let user = &profile.body["profile"];
    assert_eq!(user["kind"], "instagram");
    assert_eq!(user["username"], "acme_shop");
    assert!(user["followers_count"].is_u64(), "{user}");
    assert!(profile.body["fetched_at"].as_i64().unwrap() <= w.ai.clock.now_ms());

    let insights = w
        .get(&viewer, &format!("/v1/accounts/{}/insights", w.account()))
        .await;
    assert_eq!(insights.status, 200, "{}", insights.body);
    assert_eq!(insights.body["status"], "fresh");
    let days = insights.body["days"].as_array().unwrap();
    assert_eq!(days.len(), 30, "the last thirty days");
    assert!(
        days.iter().all(|d| d["values"]["views"].is_i64()),
        "every finished day has its views: {}",
        insights.body
    );

    let week = w
        .get(
            &viewer,
            &format!(
                "/v1/accounts/{}/insights?metric=reach,views&since={}&until={}",
                w.account(),
                days[23]["date"].as_str().unwrap(),
                days[29]["date"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(week.status, 200, "{}", week.body);
    let week_days = week.body["days"].as_array().unwrap();
    assert_eq!(week_days.len(), 7);
    let keys: Vec<&String> = week_days[0]["values"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["reach", "views"]);
    assert_eq!(week_days[0]["values"]["views"], days[23]["values"]["views"]);

    // The CSV of days is the JSON, row for row.
    let csv = w
        .get(
            &viewer,
            &format!("/v1/accounts/{}/insights.csv", w.account()),
        )
        .await;
    let rows = python_csv(&csv_text(&csv));
    let metrics: Vec<String> = insights.body["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    let mut header = vec!["date".to_owned()];
    header.extend(metrics.iter().cloned());
    header.push("fetched_at".into());
    assert_eq!(rows[0], header, "a header row");
    assert_eq!(rows.len(), 31, "one row per day");
    for (row, day) in rows[1..].iter().zip(days) {
        assert_eq!(row[0], day["date"].as_str().unwrap());
        for (i, metric) in metrics.iter().enumerate() {
            assert_eq!(
                row[i + 1],
                cell(&day["values"][metric]),
                "{metric} on {}",
                row[0]
            );
        }
    }

    // Media: the JSON of one media, and its CSV row.
    let one = w.get(&viewer, &format!("/v1/media/{image}/insights")).await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["kind"], "image");
    assert_eq!(one.body["account_id"], w.account());
    assert!(one.body["values"]["views"].as_i64().unwrap() > 0);
    assert!(
        one.body["values"].get("ig_reels_avg_watch_time").is_none(),
        "an image has no reel metrics"
    );
    let reel_view = w.get(&viewer, &format!("/v1/media/{reel}/insights")).await;
    assert_eq!(reel_view.body["kind"], "reel");
    assert!(reel_view.body["values"]["ig_reels_avg_watch_time"].is_i64());
    let csv = w
        .get(
            &viewer,
            &format!("/v1/accounts/{}/insights.csv?rows=media", w.account()),
        )
        .await;
    let rows = python_csv(&csv_text(&csv));
    assert_eq!(rows[0][..3], ["media_id", "kind", "published_at"]);
    assert_eq!(rows.len(), 3, "a header and two media: {rows:?}");
    let views_at = rows[0].iter().position(|c| c == "views").unwrap();
    let image_row = rows
        .iter()
        .find(|r| r[0] == image)
        .expect("the image's row");
    assert_eq!(image_row[1], "image");
    assert_eq!(image_row[views_at], cell(&one.body["values"]["views"]));
    let watch_at = rows[0]
        .iter()
        .position(|c| c == "ig_reels_avg_watch_time")
        .unwrap();
    assert_eq!(
        image_row[watch_at], "",
        "no data is an empty cell, not a zero"
    );
}

#[tokio::test]
async fn a_refresh_is_queued_once_per_window_and_a_second_says_when_to_retry() {
    let w = World::start().await;
    let viewer = w.key(Role::Viewer).await;
    let path = format!("/v1/accounts/{}/insights/refresh", w.account());
    let queued = w.post(&viewer, &path, json!({})).await;
    assert_eq!(queued.status, 202, "{}", queued.body);
    assert_eq!(queued.body["status"], "queued");
    let again = w.post(&viewer, &path, json!({})).await;
    assert_eq!(again.status, 429, "{}", again.body);
    assert_eq!(again.problem_type(), "urn:relay:problem:refresh-too-soon");
    let retry: u64 = again
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    assert_eq!(work(&w, &syncer(&w)).await, 1, "exactly one job");
    let snapshot =
        w.ai.p
            .store
            .get_snapshot(w.tenant(), &w.account_id())
            .await
            .unwrap();
    assert!(snapshot.is_some(), "the refresh fetched the profile");
}

#[tokio::test]
async fn bad_metric_names_and_ranges_are_refused_naming_the_field() {
    let w = World::start().await;
    let viewer = w.key(Role::Viewer).await;
    let base = format!("/v1/accounts/{}", w.account());
    for (query, field, says) in [
        ("insights?metric=impressions", "metric", "views"),
        ("insights?metric=reach,likez", "metric", "likez"),
        (
            "insights?since=2026-03-05&until=2026-03-04",
            "since",
            "after",
        ),
        ("insights?since=2024-01-01&until=2026-03-04", "since", "366"),
        ("insights?until=tomorrow", "until", "YYYY-MM-DD"),
        ("insights.csv?rows=weeks", "rows", "media"),
    ] {
        let answer = w.get(&viewer, &format!("{base}/{query}")).await;
        assert_eq!(answer.status, 422, "{query}: {}", answer.body);
        let error = &answer.body["errors"][0];
        assert_eq!(error["field"], field, "{query}");
        assert!(
            error["reason"].as_str().unwrap().contains(says),
            "{query}: {error}"
        );
    }
    // A Page's insights are not read (its profile is).
    let page = AccountId::parse("1029384756").unwrap();
    w.ai.p
        .store
        .put_account(&Account {
            tenant_id: w.tenant().clone(),
            account_id: page.clone(),
            channel: Channel::Page,
            login: LoginKind::FacebookLogin,
            username: None,
            name: Some("Acme".into()),
            meta_user_id: None,
            linked_instagram_id: None,
            status: AccountStatus::Connected,
            token_sealed: None,
            token_issued_at: None,
            token_expires_at: None,
            connected_at: 0,
            updated_at: 0,
        })
        .await
        .unwrap();
    let answer = w
        .get(&viewer, &format!("/v1/accounts/{page}/insights"))
        .await;
    assert_eq!(answer.status, 409, "{}", answer.body);
    assert_eq!(
        answer.problem_type(),
        "urn:relay:problem:not-an-instagram-account"
    );
}

#[tokio::test]
async fn another_tenants_profile_insights_and_media_are_not_found() {
    let w = World::start().await;
    with_tenant(&w).await;
    let image = seed_media(&w, "IMAGE", "FEED", 2).await;
    let syncer = syncer(&w);
    syncer.sweep().await.expect("the sweep runs");
    let owner = w.key(Role::Owner).await;
    let mine = w.get(&owner, &format!("/v1/media/{image}/insights")).await;
    assert_eq!(mine.status, 200, "the media has insights: {}", mine.body);

    let rival = TenantId::parse(format!("rival-{}", w.tenant())).unwrap();
    let rival_key = w.key_for(&rival, Role::Owner, &[]).await;
    let account = w.account();
    for (method, path) in [
        ("GET", format!("/v1/accounts/{account}/profile")),
        ("GET", format!("/v1/accounts/{account}/insights")),
        ("GET", format!("/v1/accounts/{account}/insights.csv")),
        (
            "GET",
            format!("/v1/accounts/{account}/insights.csv?rows=media"),
        ),
        ("POST", format!("/v1/accounts/{account}/insights/refresh")),
        ("GET", format!("/v1/media/{image}/insights")),
        ("GET", "/v1/accounts/999/profile".to_owned()),
        ("GET", "/v1/media/not-a-media/insights".to_owned()),
    ] {
        let body = (method == "POST").then(|| json!({}));
        let answer = w.call(Some(&rival_key), method, &path, body, &[]).await;
        assert_eq!(answer.status, 404, "{method} {path}: {}", answer.body);
        assert_eq!(answer.problem_type(), "urn:relay:problem:not-found");
    }
    let p = &w.ai.p;
    let queued = Dispatcher::new(p.aws.sqs(), p.aws.queues.sync.clone())
        .peek_bodies()
        .await;
    assert!(queued.is_empty(), "the rival queued nothing: {queued:?}");
}

#[tokio::test]
async fn a_published_post_links_to_its_insights() {
    let w = World::start().await;
    let viewer = w.key(Role::Viewer).await;
    let account = w.account_id();
    let mut published = Post::scheduled(
        w.tenant().clone(),
        account.clone(),
        PostContent::Image {
            url: "https://cdn.example/photo.jpg".into(),
            alt_text: None,
        },
        w.ai.clock.now_ms() - 60_000,
        "user:key_test",
        w.ai.clock.now_ms() - 3_600_000,
    );
    published.status = PostStatus::Published;
    published.progress.media_id = Some("17900000000000042".into());
    published.published_at = Some(w.ai.clock.now_ms() - 60_000);
    let waiting = Post::scheduled(
        w.tenant().clone(),
        account,
        PostContent::Story {
            media: MediaItem {
                kind: MediaKind::Image,
                url: "https://cdn.example/story.jpg".into(),
            },
        },
        w.ai.clock.now_ms() + 3_600_000,
        "user:key_test",
        w.ai.clock.now_ms(),
    );
    for post in [&published, &waiting] {
        w.ai.p.store.create_post(post).await.unwrap();
    }
    let shown = w
        .get(&viewer, &format!("/v1/posts/{}", published.post_id))
        .await;
    assert_eq!(
        shown.body["insights"], "/v1/media/17900000000000042/insights",
        "{}",
        shown.body
    );
    let shown = w
        .get(&viewer, &format!("/v1/posts/{}", waiting.post_id))
        .await;
    assert_eq!(shown.body["insights"], Value::Null, "not published yet");
}
