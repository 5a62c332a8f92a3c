//! Content publishing rules: container processing (longer for videos), ERROR and
//! EXPIRED, publish only when FINISHED and only once (even when the answer of a
//! publish is lost), the quota, carousels, captions, page posts.

mod common;

use common::{Sim, err};
use meta_sim::SimConfig;
use serde_json::{Value, json};

async fn container(sim: &Sim, account: &str, token: &str, form: &[(&str, &str)]) -> (u16, Value) {
    sim.ig_post_form(&format!("/{account}/media"), token, form)
        .await
}

/// A container the simulator accepts: its id.
async fn created(sim: &Sim, account: &str, token: &str, form: &[(&str, &str)]) -> String {
    let (status, body) = container(sim, account, token, form).await;
    assert_eq!(status, 200, "{body}");
    body["id"].as_str().expect("container id").to_owned()
}

async fn image(sim: &Sim, account: &str, token: &str) -> String {
    let form = [
        ("image_url", "https://cdn.example/cake.jpg"),
        ("caption", "Fresh today"),
        ("alt_text", "A cake"),
    ];
    created(sim, account, token, &form).await
}

/// The account's `content_publishing_limit` entry with `fields`.
async fn limit(sim: &Sim, account: &str, token: &str, fields: &str) -> Value {
    let url = sim.ig(&format!(
        "/{account}/content_publishing_limit?fields={fields}"
    ));
    let (status, limit) = sim.get(&url, token).await;
    assert_eq!(status, 200, "{limit}");
    limit["data"][0].clone()
}

async fn status_of(sim: &Sim, token: &str, id: &str) -> Value {
    let (status, body) = sim
        .ig_get(&format!("/{id}?fields=status_code,status"), token)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Polls until the container leaves IN_PROGRESS; returns how many polls answered
/// IN_PROGRESS and the final status.
async fn settle(sim: &Sim, token: &str, id: &str) -> (usize, Value) {
    for in_progress in 0..20 {
        let status = status_of(sim, token, id).await;
        if status["status_code"] != "IN_PROGRESS" {
            return (in_progress, status);
        }
    }
    panic!("container {id} never left IN_PROGRESS");
}

async fn finish(sim: &Sim, token: &str, id: &str) {
    for _ in 0..10 {
        if status_of(sim, token, id).await["status_code"] == "FINISHED" {
            return;
        }
    }
    panic!("container {id} never finished");
}

async fn publish(sim: &Sim, account: &str, token: &str, creation_id: &str) -> (u16, Value) {
    sim.ig_post_form(
        &format!("/{account}/media_publish"),
        token,
        &[("creation_id", creation_id)],
    )
    .await
}

#[tokio::test]
async fn container_is_in_progress_for_the_configured_polls_then_finished() {
    let (sim, account, token) = Sim::shop().await;
    let id = image(&sim, &account, &token).await;
    assert_eq!(
        status_of(&sim, &token, &id).await["status_code"],
        "IN_PROGRESS"
    );
    assert_eq!(
        status_of(&sim, &token, &id).await["status_code"],
        "IN_PROGRESS"
    );
    let third = status_of(&sim, &token, &id).await;
    assert_eq!(third["status_code"], "FINISHED");
    assert!(third["status"].as_str().is_some());
}

#[tokio::test]
async fn video_container_stays_in_progress_longer_than_an_image() {
    let (sim, account, token) = Sim::shop_with(SimConfig {
        container_polls_until_finished: 2,
        video_processing_factor: 3,
        ..SimConfig::default()
    })
    .await;
    let image = image(&sim, &account, &token).await;
    let reel = [
        ("media_type", "REELS"),
        ("video_url", "https://cdn.example/reel.mp4"),
    ];
    let reel = created(&sim, &account, &token, &reel).await;
    let (image_polls, image_status) = settle(&sim, &token, &image).await;
    let (reel_polls, reel_status) = settle(&sim, &token, &reel).await;
    assert_eq!(image_status["status_code"], "FINISHED");
    assert_eq!(reel_status["status_code"], "FINISHED");
    assert_eq!((image_polls, reel_polls), (2, 6));
}

#[tokio::test]
async fn a_lost_publish_answer_still_publishes_once_and_the_container_says_so() {
    let (sim, account, token) = Sim::shop_with(SimConfig {
        container_polls_until_finished: 0,
        ..SimConfig::default()
    })
    .await;
    let id = image(&sim, &account, &token).await;
    sim.admin(
        "/_sim/faults",
        json!({"kind": "lost_answer", "path_contains": "/media_publish", "method": "POST"}),
    )
    .await;

    let (status, lost) = publish(&sim, &account, &token, &id).await;
    assert_eq!(status, 502, "{lost}");
    assert_eq!(err(&lost), (2, None));
    assert_eq!(lost["error"]["type"], "OAuthException");
    assert_eq!(lost["error"]["is_transient"], true);
    assert!(
        lost.get("id").is_none(),
        "the media id never reaches the client"
    );

    // What a careful client does before retrying: read the container.
    assert_eq!(
        status_of(&sim, &token, &id).await["status_code"],
        "PUBLISHED"
    );
    let media = sim.admin_get("/_sim/media").await;
    let for_container: Vec<&Value> = media
        .as_array()
        .expect("list")
        .iter()
        .filter(|m| m["container_id"] == id.as_str())
        .collect();
    assert_eq!(for_container.len(), 1, "{media}");

    // A blind retry is refused as for any published container, and posts nothing.
    let (status, again) = publish(&sim, &account, &token, &id).await;
    assert_eq!(status, 400);
    assert_eq!(err(&again), (24, Some(2_207_008)));
    assert_eq!(sim.count("/_sim/media").await, Some(1));
    assert_eq!(
        limit(&sim, &account, &token, "quota_usage").await["quota_usage"],
        1,
        "the lost publish counts"
    );
}

#[tokio::test]
async fn publish_before_finished_is_9007_2207027_then_works_once() {
    let (sim, account, token) = Sim::shop().await;
    let id = image(&sim, &account, &token).await;
    let (status, early) = publish(&sim, &account, &token, &id).await;
    assert_eq!(status, 400);
    assert_eq!(err(&early), (9007, Some(2_207_027)));

    finish(&sim, &token, &id).await;
    let (status, published) = publish(&sim, &account, &token, &id).await;
    assert_eq!(status, 200, "{published}");
    let media_id = published["id"].as_str().expect("media id").to_owned();
    assert_eq!(
        status_of(&sim, &token, &id).await["status_code"],
        "PUBLISHED"
    );

    // A blind retry of the same container is refused and makes no second post.
    let (status, again) = publish(&sim, &account, &token, &id).await;
    assert_eq!(status, 400);
    assert_eq!(err(&again).0, 24);
    let media = sim.admin_get("/_sim/media").await;
    let media = media.as_array().expect("list");
    assert_eq!(
        media.len(),
        1,
        "double publish must not create a second media"
    );
    assert_eq!(media[0]["container_id"], id.as_str());
    assert_eq!(media[0]["id"], media_id.as_str());

    let (status, fields) = sim
        .ig_get(
            &format!("/{media_id}?fields=id,permalink,media_type,caption,timestamp"),
            &token,
        )
        .await;
    assert_eq!(status, 200, "{fields}");
    assert_eq!(fields["media_type"], "IMAGE");
    assert_eq!(fields["caption"], "Fresh today");
    assert!(
        fields["permalink"]
            .as_str()
            .is_some_and(|p| p.starts_with("https://www.instagram.com/p/"))
    );
    assert!(
        fields["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with("+0000"))
    );
}

#[tokio::test]
async fn bad_media_ends_in_error_with_a_subcode() {
    let (sim, account, token) = Sim::shop().await;
    let reel = [
        ("media_type", "REELS"),
        ("video_url", "https://cdn.example/bad-video.mov"),
        ("caption", "reel"),
    ];
    let id = &created(&sim, &account, &token, &reel).await;
    let (_, last) = settle(&sim, &token, id).await;
    assert_eq!(last["status_code"], "ERROR");
    assert!(
        last["status"]
            .as_str()
            .is_some_and(|s| s.contains("2207026")),
        "{last}"
    );
    let (status, body) = publish(&sim, &account, &token, id).await;
    assert_eq!(status, 400);
    assert_eq!(err(&body).1, Some(2_207_026));
}

#[tokio::test]
async fn unpublished_container_expires_after_24_hours() {
    let (sim, account, token) = Sim::shop().await;
    let id = image(&sim, &account, &token).await;
    finish(&sim, &token, &id).await;
    sim.advance(86_400).await;
    assert_eq!(status_of(&sim, &token, &id).await["status_code"], "EXPIRED");
    let (status, body) = publish(&sim, &account, &token, &id).await;
    assert_eq!(status, 400);
    assert_eq!(err(&body).1, Some(2_207_020));
    assert_eq!(sim.admin_get("/_sim/media").await, json!([]));
}

#[tokio::test]
async fn quota_counts_publishes_of_the_last_24_hours() {
    let (sim, account, token) = Sim::shop_with(SimConfig {
        publish_quota_total: 2,
        container_polls_until_finished: 0,
        ..SimConfig::default()
    })
    .await;
    for _ in 0..2 {
        let id = image(&sim, &account, &token).await;
        assert_eq!(publish(&sim, &account, &token, &id).await.0, 200);
    }
    let usage = limit(&sim, &account, &token, "quota_usage,config").await;
    assert_eq!(usage["quota_usage"], 2);
    assert_eq!(
        usage["config"],
        json!({"quota_total": 2, "quota_duration": 86400})
    );
    let third = image(&sim, &account, &token).await;
    let (status, over) = publish(&sim, &account, &token, &third).await;
    assert_eq!(status, 400);
    assert_eq!(err(&over), (9, Some(2_207_042)));

    sim.advance(86_400).await;
    let fresh = image(&sim, &account, &token).await;
    assert_eq!(
        publish(&sim, &account, &token, &fresh).await.0,
        200,
        "quota frees up after 24 h"
    );
    assert_eq!(
        limit(&sim, &account, &token, "quota_usage").await["quota_usage"],
        1
    );
}

#[tokio::test]
async fn carousel_of_finished_children_counts_once() {
    let (sim, account, token) = Sim::shop_with(SimConfig {
        container_polls_until_finished: 1,
        ..SimConfig::default()
    })
    .await;
    let mut children = Vec::new();
    for i in 0..3 {
        let url = format!("https://cdn.example/{i}.jpg");
        let child = [("image_url", url.as_str()), ("is_carousel_item", "true")];
        children.push(created(&sim, &account, &token, &child).await);
    }
    let list = children.join(",");
    let carousel = [
        ("media_type", "CAROUSEL"),
        ("children", list.as_str()),
        ("caption", "three"),
    ];
    let (status, unfinished) = container(&sim, &account, &token, &carousel).await;
    assert_eq!(status, 400, "children must be FINISHED first");
    assert_eq!(err(&unfinished).1, Some(2_207_028));
    for c in &children {
        finish(&sim, &token, c).await;
    }
    let parent = created(&sim, &account, &token, &carousel).await;
    finish(&sim, &token, &parent).await;
    let (status, published) = publish(&sim, &account, &token, &parent).await;
    assert_eq!(status, 200, "{published}");
    let media = sim.admin_get("/_sim/media").await;
    assert_eq!(media[0]["media_type"], "CAROUSEL_ALBUM");
    assert_eq!(media[0]["children"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        limit(&sim, &account, &token, "quota_usage").await["quota_usage"],
        1
    );

    let eleven: Vec<String> = (0..11).map(|_| children[0].clone()).collect();
    let (_, too_many) = container(
        &sim,
        &account,
        &token,
        &[
            ("media_type", "CAROUSEL"),
            ("children", eleven.join(",").as_str()),
        ],
    )
    .await;
    assert_eq!(err(&too_many).1, Some(2_207_028));
}

#[tokio::test]
async fn caption_over_2200_characters_is_refused() {
    let (sim, account, token) = Sim::shop().await;
    let long = "x".repeat(2201);
    let (status, body) = container(
        &sim,
        &account,
        &token,
        &[
            ("image_url", "https://cdn.example/a.jpg"),
            ("caption", long.as_str()),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(err(&body).1, Some(2_207_010));
    let (_, deprecated) = container(
        &sim,
        &account,
        &token,
        &[
            ("media_type", "VIDEO"),
            ("video_url", "https://cdn.example/a.mp4"),
        ],
    )
    .await;
    assert_eq!(err(&deprecated).0, 100);
}

#[tokio::test]
async fn facebook_page_posts_and_photos() {
    let sim = Sim::start().await;
    let (user, page, token) = sim.fb_page(json!({"name": "Ana Bakery"})).await;
    let (status, post) = sim
        .fb_post_form(
            &format!("/{page}/feed"),
            &token,
            &[
                ("message", "Open Sunday"),
                ("link", "https://bakery.example"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{post}");
    assert!(
        post["id"]
            .as_str()
            .is_some_and(|id| id.starts_with(&format!("{page}_")))
    );
    let (status, photo) = sim
        .fb_post_form(
            &format!("/{page}/photos"),
            &token,
            &[("url", "https://cdn.example/p.jpg"), ("caption", "cake")],
        )
        .await;
    assert_eq!(status, 200, "{photo}");
    assert!(photo["post_id"].as_str().is_some());
    let (_, bad) = sim
        .fb_post_form(
            &format!("/{page}/photos"),
            &token,
            &[("url", "https://cdn.example/bad.jpg")],
        )
        .await;
    assert_eq!(err(&bad).0, 324);
    let user_token = sim
        .token(json!({"kind": "fb_long", "user_id": user["user_id"]}))
        .await;
    let (_, needs_page) = sim
        .fb_post_form(&format!("/{page}/feed"), &user_token, &[("message", "x")])
        .await;
    assert_eq!(err(&needs_page).0, 210);
    assert_eq!(sim.count("/_sim/page-posts").await, Some(2));
}

#[tokio::test]
async fn concurrent_publishes_of_one_container_create_one_media() {
    let (sim, account, token) = Sim::shop_with(SimConfig {
        container_polls_until_finished: 0,
        ..SimConfig::default()
    })
    .await;
    let id = image(&sim, &account, &token).await;
    let attempts = (0..8).map(|_| publish(&sim, &account, &token, &id));
    let results = futures::future::join_all(attempts).await;
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(ok, 1, "exactly one publish succeeds: {results:?}");
    assert_eq!(sim.count("/_sim/media").await, Some(1));
}
