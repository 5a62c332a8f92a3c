//! Comment moderation with paging, and insights.

mod common;

use common::{Sim, err};
use serde_json::json;

async fn media_with_comments(sim: &Sim, account: &str, n: usize) -> (String, Vec<String>) {
    let media = sim
        .admin(
            "/_sim/media",
            json!({"account_id": account, "caption": "post"}),
        )
        .await["id"]
        .as_str()
        .expect("media")
        .to_owned();
    let mut ids = Vec::new();
    for i in 0..n {
        let c = sim
            .admin("/_sim/comments", json!({"media_id": media, "text": format!("comment {i}"), "from_username": format!("fan{i}")}))
            .await;
        ids.push(c["id"].as_str().expect("id").to_owned());
    }
    (media, ids)
}

#[tokio::test]
async fn comments_page_through_absolute_next_urls() {
    let (sim, account, token) = Sim::shop().await;
    let (media, ids) = media_with_comments(&sim, &account, 5).await;
    let url = sim.ig(&format!(
        "/{media}/comments?fields=id,text,from,hidden&limit=2"
    ));
    let pages = sim.pages(url, &token).await;
    let mut seen = Vec::new();
    for page in &pages {
        for c in page["data"].as_array().expect("data") {
            assert!(c["from"]["username"].as_str().is_some());
        }
        seen.extend(common::ids(page));
        assert!(page["paging"]["cursors"]["after"].as_str().is_some());
        if let Some(next) = page["paging"]["next"].as_str() {
            assert!(
                next.starts_with(sim.sim.base_url()),
                "next points back at the simulator: {next}"
            );
        }
    }
    assert_eq!(pages.len(), 3);
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(seen, expected, "newest first, each comment once");
}

#[tokio::test]
async fn reply_hide_delete_and_disable_comments() {
    let (sim, account, token) = Sim::shop().await;
    let (media, ids) = media_with_comments(&sim, &account, 2).await;
    let (status, reply) = sim
        .ig_post_form(
            &format!("/{}/replies", ids[0]),
            &token,
            &[("message", "Thank you!")],
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let (status, hidden) = sim
        .ig_post_form(&format!("/{}?hide=true", ids[1]), &token, &[])
        .await;
    assert_eq!((status, hidden["success"].as_bool()), (200, Some(true)));
    let res = sim
        .http
        .delete(sim.ig(&format!("/{}", ids[0])))
        .bearer_auth(&token)
        .send()
        .await
        .expect("answers");
    assert_eq!(res.status(), 200);
    let (_, gone) = sim.ig_get(&format!("/{}?fields=id", ids[0]), &token).await;
    assert_eq!(err(&gone), (100, Some(33)));

    let (_, listed) = sim
        .ig_get(&format!("/{media}/comments?fields=id,hidden"), &token)
        .await;
    assert_eq!(listed["data"], json!([{"id": ids[1], "hidden": true}]));

    let state = sim.admin_get("/_sim/comments").await;
    let first = state
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["id"] == ids[0].as_str())
        .expect("kept");
    assert_eq!(first["deleted"], true);
    assert_eq!(first["replies"][0]["text"], "Thank you!");

    let (status, _) = sim
        .ig_post_form(&format!("/{media}?comment_enabled=false"), &token, &[])
        .await;
    assert_eq!(status, 200);
    let (status, _) = sim
        .admin_try("/_sim/comments", json!({"media_id": media, "text": "late"}))
        .await;
    assert_eq!(status, 409, "no new comments once disabled");
}

#[tokio::test]
async fn other_accounts_cannot_moderate() {
    let (sim, account, _) = Sim::shop().await;
    let (_, other) = sim.ig_account("other").await;
    let (_, ids) = media_with_comments(&sim, &account, 1).await;
    let (status, body) = sim
        .ig_post_form(&format!("/{}?hide=true", ids[0]), &other, &[])
        .await;
    assert_eq!(status, 400);
    assert_eq!(err(&body), (100, Some(33)));
}

#[tokio::test]
async fn media_insights_are_deterministic_and_deprecated_metrics_fail() {
    let (sim, account, token) = Sim::shop().await;
    let (media, _) = media_with_comments(&sim, &account, 3).await;
    let url = sim.ig(&format!(
        "/{media}/insights?metric=views,reach,likes,comments,saved,shares,total_interactions"
    ));
    let (status, first) = sim.get(&url, &token).await;
    assert_eq!(status, 200, "{first}");
    let (_, second) = sim.get(&url, &token).await;
    assert_eq!(first, second);
    let value = |name: &str| -> u64 {
        first["data"]
            .as_array()
            .expect("data")
            .iter()
            .find(|m| m["name"] == name)
            .and_then(|m| m["values"][0]["value"].as_u64())
            .expect("metric value")
    };
    assert_eq!(value("comments"), 3, "comments count is the real one");
    assert!(value("reach") <= value("views"));
    assert_eq!(
        value("total_interactions"),
        value("likes") + value("comments") + value("saved") + value("shares")
    );
    for old in ["impressions", "plays", "video_views"] {
        let (status, body) = sim
            .ig_get(&format!("/{media}/insights?metric={old}"), &token)
            .await;
        assert_eq!(status, 400);
        assert_eq!(err(&body).0, 100, "{old} is deprecated");
    }
}

#[tokio::test]
async fn account_insights_need_total_value_for_totals() {
    let (sim, account, token) = Sim::shop().await;
    let base = format!("/{account}/insights");
    let (status, totals) = sim
        .ig_get(
            &format!(
                "{base}?metric=reach,views,accounts_engaged&period=day&metric_type=total_value"
            ),
            &token,
        )
        .await;
    assert_eq!(status, 200, "{totals}");
    assert!(
        totals["data"]
            .as_array()
            .expect("data")
            .iter()
            .all(|m| m["total_value"]["value"].as_u64().is_some())
    );
    let (_, missing_type) = sim
        .ig_get(&format!("{base}?metric=views&period=day"), &token)
        .await;
    assert_eq!(err(&missing_type).0, 100);
    let (status, series) = sim
        .ig_get(&format!("{base}?metric=reach&period=day"), &token)
        .await;
    assert_eq!(status, 200);
    assert!(
        series["data"][0]["values"]
            .as_array()
            .is_some_and(|v| !v.is_empty())
    );
    let (_, old) = sim
        .ig_get(&format!("{base}?metric=impressions&period=day"), &token)
        .await;
    assert_eq!(err(&old).0, 100);
}

#[tokio::test]
async fn listing_own_media() {
    let (sim, account, token) = Sim::shop().await;
    media_with_comments(&sim, &account, 0).await;
    let (status, list) = sim
        .ig_get("/me/media?fields=id,caption,comments_count", &token)
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"][0]["caption"], "post");
    assert_eq!(list["data"][0]["comments_count"], 0);
}
