//! Insights as Meta serves them (lag, empty data, retired metrics, UTC days), the Page
//! profile, media listings by time, seeded history, run-time configuration, and the
//! usage these calls add up to.

mod common;

use common::{Sim, err, header_json};
use serde_json::{Value, json};

const DAY: i64 = 86_400;

// Simulated time also follows the wall clock, so checks just before a boundary keep
// a margin of 30 s; the exact boundaries are unit-tested in the crate.

/// `POST /_sim/config` as sent, whatever it answers.
async fn post_config(sim: &Sim, body: Value) -> (u16, Value) {
    sim.admin_try("/_sim/config", body).await
}

async fn now(sim: &Sim) -> i64 {
    sim.admin_get("/_sim/clock").await["now"]
        .as_i64()
        .expect("now")
}

/// Moves the clock to `hours` past the next UTC midnight; answers the new day number.
async fn next_day_at(sim: &Sim, hours: i64) -> i64 {
    let day = now(sim).await.div_euclid(DAY) + 1;
    sim.admin("/_sim/clock/set", json!({"now": day * DAY + hours * 3600}))
        .await;
    day
}

async fn seed(sim: &Sim, body: Value) -> String {
    sim.admin_str("/_sim/media", body, "id").await
}

/// The `reach` insights of a feed post seeded `days` ago.
async fn reach_of_a_post_from(sim: &Sim, account: &str, token: &str, days: i64) -> Value {
    let published_at = now(sim).await - days * DAY;
    let post = seed(
        sim,
        json!({"account_id": account, "published_at": published_at}),
    )
    .await;
    sim.ig_get(&format!("/{post}/insights?metric=reach"), token)
        .await
        .1
}

fn message(v: &Value) -> &str {
    v["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {v}"))
}

/// The `total_value.value` of each metric of an account insights answer, by name.
fn totals(v: &Value) -> Vec<(String, u64)> {
    v["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {v}"))
        .iter()
        .map(|m| {
            (
                m["name"].as_str().expect("name").to_owned(),
                m["total_value"]["value"].as_u64().expect("total"),
            )
        })
        .collect()
}

// ----- 1. run-time configuration -----

#[tokio::test]
async fn run_time_config_changes_settings_refuses_bad_ones_and_reset_restores_the_start() {
    let sim = Sim::start().await;
    let before = sim.admin_get("/_sim/config").await;
    assert_eq!(before["config"]["insights_lag_secs"], 0);
    assert_eq!(before["config"]["retired_metrics"], json!([]));

    let (status, answer) = post_config(
        &sim,
        json!({
            "insights_lag_secs": 7200,
            "retired_metrics": ["reach", "shares"],
            "account_calls_per_hour": 10,
            "app_calls_per_hour": 20,
        }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["config"]["insights_lag_secs"], 7200);
    assert_eq!(
        answer["config"]["retired_metrics"],
        json!(["reach", "shares"])
    );
    assert_eq!(answer["config"]["account_calls_per_hour"], 10);
    assert_eq!(answer["config"]["app_calls_per_hour"], 20);
    assert_eq!(answer["base_url"], sim.sim.base_url());
    assert_eq!(
        sim.admin_get("/_sim/config").await,
        answer,
        "GET shows the same"
    );

    for (body, names) in [
        (json!({"insights_lag_secs": -1}), "insights_lag_secs"),
        (json!({"insights_lag_secs": "60"}), "insights_lag_secs"),
        (json!({"retired_metrics": "reach"}), "retired_metrics"),
        (json!({"retired_metrics": ["not_a_metric"]}), "not_a_metric"),
        (
            json!({"account_calls_per_hour": 0}),
            "account_calls_per_hour",
        ),
        (json!({"app_calls_per_hour": -5}), "app_calls_per_hour"),
        (
            json!({"insights_lag_secs": 5, "publish_quota_total": 1}),
            "publish_quota_total",
        ),
        (json!(["insights_lag_secs"]), "JSON object"),
    ] {
        let (status, refused) = post_config(&sim, body.clone()).await;
        assert_eq!(status, 400, "{body}: {refused}");
        let text = refused["error"].as_str().expect("admin error text");
        assert!(text.contains(names), "{body}: the error names it: {text}");
    }
    assert_eq!(
        sim.admin_get("/_sim/config").await,
        answer,
        "a refused update changes nothing, not even its valid settings"
    );

    sim.admin("/_sim/reset", json!({})).await;
    assert_eq!(
        sim.admin_get("/_sim/config").await,
        before,
        "a reset restores the configuration the simulator started with"
    );
}

// ----- 4. retired and deprecated metrics -----

#[tokio::test]
async fn retired_metrics_fail_like_an_unsupported_metric_at_the_first_refused_index() {
    let (sim, account, token) = Sim::shop().await;
    let media = seed(&sim, json!({"account_id": account})).await;
    let ok = sim
        .ig_get(
            &format!("/{media}/insights?metric=views,reach,shares"),
            &token,
        )
        .await;
    assert_eq!(ok.0, 200, "served before Meta retires them: {}", ok.1);

    sim.admin(
        "/_sim/config",
        json!({"retired_metrics": ["reach", "shares"]}),
    )
    .await;
    let (status, body) = sim
        .ig_get(
            &format!("/{media}/insights?metric=views,shares,reach"),
            &token,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(err(&body), (100, None));
    assert_eq!(body["error"]["type"], "OAuthException");
    assert_eq!(
        message(&body),
        "(#100) metric[1] must be one of the following values: views, likes, comments, \
         saved, total_interactions, follows, profile_visits, profile_activity"
    );

    let (status, body) = sim.ig_get(&format!(
                "/{account}/insights?metric=views,accounts_engaged,reach&period=day&metric_type=total_value"
            ), &token)
        .await;
    assert_eq!((status, err(&body)), (400, (100, None)), "{body}");
    let text = message(&body);
    assert!(
        text.starts_with("(#100) metric[2] must be one of the following values: views, "),
        "{text}"
    );
    let listed: Vec<&str> = text
        .rsplit_once(": ")
        .map(|(_, list)| list.split(", ").collect())
        .unwrap_or_default();
    assert!(
        listed.contains(&"views") && listed.contains(&"saves"),
        "{text}"
    );
    assert!(
        !listed.contains(&"reach") && !listed.contains(&"shares"),
        "the allowed list leaves the retired metrics out: {text}"
    );

    sim.admin("/_sim/config", json!({"retired_metrics": []}))
        .await;
    let (status, _) = sim
        .ig_get(&format!("/{media}/insights?metric=reach"), &token)
        .await;
    assert_eq!(status, 200, "served again once no longer retired");
}

#[tokio::test]
async fn deprecated_metrics_keep_their_message_naming_the_metric() {
    let (sim, account, token) = Sim::shop().await;
    let media = seed(&sim, json!({"account_id": account})).await;
    for (url, old) in [
        (
            sim.ig(&format!("/{media}/insights?metric=views,impressions")),
            "impressions",
        ),
        (sim.ig(&format!("/{media}/insights?metric=plays")), "plays"),
        (
            sim.ig(&format!(
                "/{account}/insights?metric=video_views&period=day&metric_type=total_value"
            )),
            "video_views",
        ),
    ] {
        let (status, body) = sim.get(&url, &token).await;
        assert_eq!((status, err(&body)), (400, (100, None)), "{body}");
        assert_eq!(
            message(&body),
            format!(
                "(#100) Starting from v22.0, the metric {old} is no longer supported. Use views instead."
            )
        );
    }
}

// ----- 2. media insights: lag and expired stories -----

#[tokio::test]
async fn media_insights_are_an_empty_set_until_the_lag_has_passed() {
    let (sim, account, token) = Sim::shop().await;
    sim.admin("/_sim/config", json!({"insights_lag_secs": 3600}))
        .await;
    let media = seed(&sim, json!({"account_id": account})).await;
    let url = sim.ig(&format!("/{media}/insights?metric=views,likes,comments"));
    let (status, young) = sim.get(&url, &token).await;
    assert_eq!(
        (status, young),
        (200, json!({"data": []})),
        "no data, not zeros"
    );

    sim.advance(3600 - 30).await;
    assert_eq!(sim.get(&url, &token).await.1, json!({"data": []}));
    sim.advance(30).await;
    let (status, ready) = sim.get(&url, &token).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = ready["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(names, ["views", "likes", "comments"]);
    assert!(
        ready["data"][0]["values"][0]["value"]
            .as_u64()
            .is_some_and(|v| v > 0)
    );

    // An old post seeded in the past has its data at once.
    let old_data = reach_of_a_post_from(&sim, &account, &token, 2).await;
    assert_eq!(old_data["data"][0]["name"], "reach", "{old_data}");
}

#[tokio::test]
async fn story_insights_expire_after_24_hours() {
    let (sim, account, token) = Sim::shop().await;
    let story = seed(
        &sim,
        json!({"account_id": account, "media_product_type": "STORY"}),
    )
    .await;
    let url = sim.ig(&format!(
        "/{story}/insights?metric=reach,replies,navigation"
    ));
    let (status, live) = sim.get(&url, &token).await;
    assert_eq!(status, 200, "{live}");
    assert_eq!(live["data"].as_array().map(Vec::len), Some(3));

    sim.advance(DAY - 30).await;
    assert_eq!(
        sim.get(&url, &token).await.1["data"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    sim.advance(30).await;
    assert_eq!(sim.get(&url, &token).await, (200, json!({"data": []})));

    // A feed post of the same age keeps its insights.
    let kept = reach_of_a_post_from(&sim, &account, &token, 3).await;
    assert_eq!(kept["data"].as_array().map(Vec::len), Some(1), "{kept}");
}

// ----- 3. account insights: UTC days, lag, totals -----

#[tokio::test]
async fn account_days_have_data_only_once_over_and_the_lag_has_passed() {
    let (sim, account, token) = Sim::shop().await;
    let today = next_day_at(&sim, 1).await;
    let url = |since: i64, until: i64| {
        sim.ig(&format!(
            "/{account}/insights?metric=views,reach&period=day&metric_type=total_value&since={since}&until={until}"
        ))
    };
    let yesterday = url((today - 1) * DAY, today * DAY);
    let today_only = url(today * DAY, (today + 1) * DAY);

    let (status, body) = sim.get(&today_only, &token).await;
    assert_eq!(
        (status, body),
        (200, json!({"data": []})),
        "today is not over: no data, even with until in the future"
    );
    let (status, body) = sim.get(&yesterday, &token).await;
    assert_eq!(status, 200);
    assert_eq!(totals(&body).len(), 2, "lag 0: a finished day has data");

    sim.admin("/_sim/config", json!({"insights_lag_secs": 2 * 3600}))
        .await;
    assert_eq!(
        sim.get(&yesterday, &token).await.1,
        json!({"data": []}),
        "an hour after midnight, a two-hour lag hides yesterday"
    );
    sim.advance(3600 - 30).await;
    assert_eq!(sim.get(&yesterday, &token).await.1, json!({"data": []}));
    sim.advance(30).await;
    let (_, ready) = sim.get(&yesterday, &token).await;
    assert_eq!(totals(&ready).len(), 2, "{ready}");

    // Time series list only the days with data, each ending at its UTC midnight.
    let series = sim
        .ig_get(
            &format!(
                "/{account}/insights?metric=reach&period=day&since={}&until={}",
                (today - 3) * DAY,
                (today + 1) * DAY
            ),
            &token,
        )
        .await
        .1;
    let ends: Vec<&str> = series["data"][0]["values"]
        .as_array()
        .unwrap_or_else(|| panic!("values: {series}"))
        .iter()
        .filter_map(|v| v["end_time"].as_str())
        .collect();
    assert_eq!(ends.len(), 3, "three finished days, not today: {series}");
    assert!(
        ends.iter().all(|e| e.ends_with("T00:00:00+0000")),
        "{ends:?}"
    );
}

#[tokio::test]
async fn a_range_total_is_the_sum_of_its_days_and_reads_agree() {
    let (sim, account, token) = Sim::shop().await;
    let today = next_day_at(&sim, 6).await;
    let metrics = "views,reach,accounts_engaged";
    let total = |since: i64, until: i64| {
        sim.ig(&format!(
            "/{account}/insights?metric={metrics}&period=day&metric_type=total_value&since={since}&until={until}"
        ))
    };
    // Seven days ending at midnight: the range does not reach into today.
    let week = total((today - 7) * DAY, today * DAY);
    let (status, first) = sim.get(&week, &token).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(sim.get(&week, &token).await.1, first, "two reads agree");
    let mut sums = [0_u64; 3];
    for d in today - 7..today {
        let (_, day) = sim.get(&total(d * DAY, (d + 1) * DAY), &token).await;
        for (i, (_, v)) in totals(&day).into_iter().enumerate() {
            sums[i] += v;
        }
    }
    let week_totals: Vec<u64> = totals(&first).into_iter().map(|(_, v)| v).collect();
    assert_eq!(week_totals, sums, "the week's total is the sum of its days");

    // A time series of the same week lists seven days adding up to the total.
    let (_, series) = sim
        .ig_get(
            &format!(
                "/{account}/insights?metric=reach&period=day&since={}&until={}",
                (today - 7) * DAY,
                today * DAY
            ),
            &token,
        )
        .await;
    let values: Vec<u64> = series["data"][0]["values"]
        .as_array()
        .expect("values")
        .iter()
        .filter_map(|v| v["value"].as_u64())
        .collect();
    assert_eq!(values.len(), 7);
    assert_eq!(values.iter().sum::<u64>(), week_totals[1]);

    // Until in the future is accepted; those days have no data yet.
    let ahead = total((today - 7) * DAY, (today + 5) * DAY);
    let (status, ahead) = sim.get(&ahead, &token).await;
    assert_eq!(status, 200, "{ahead}");
    assert_eq!(totals(&ahead), totals(&first));
    // More than 30 days apart is still refused.
    let (status, too_long) = sim
        .get(&total((today - 31) * DAY, today * DAY), &token)
        .await;
    assert_eq!((status, err(&too_long).0), (400, 100));
}

// ----- 5. Page profile -----

/// A Facebook user with one Page linked to Instagram: (page id, page token, user token).
async fn page_with_tokens(sim: &Sim) -> (String, String, String) {
    let (user, page, page_token) = sim
        .fb_page(json!({"name": "Ana's Bakery", "instagram": true}))
        .await;
    let user_token = sim
        .token(json!({"kind": "fb_long", "user_id": user["user_id"]}))
        .await;
    (page, page_token, user_token)
}

#[tokio::test]
async fn page_profile_serves_counts_link_about_and_picture() {
    let sim = Sim::start().await;
    let (page, page_token, user_token) = page_with_tokens(&sim).await;
    let url = sim.fb(&format!(
        "/{page}?fields=id,name,fan_count,followers_count,link,about,picture"
    ));
    let (status, profile) = sim.get(&url, &page_token).await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(profile["id"], page.as_str());
    assert_eq!(profile["name"], "Ana's Bakery");
    let fans = profile["fan_count"].as_u64().expect("fan_count");
    let followers = profile["followers_count"]
        .as_u64()
        .expect("followers_count");
    assert!((100..20_000).contains(&fans), "{fans}");
    assert!(
        (fans..20_000).contains(&followers),
        "followers >= fans: {profile}"
    );
    assert_eq!(profile["link"], format!("https://www.facebook.com/{page}"));
    assert!(profile["about"].as_str().is_some_and(|a| !a.is_empty()));
    assert_eq!(
        profile["picture"]["data"]["url"],
        format!("https://example.test/pages/{page}.jpg")
    );
    assert_eq!(
        sim.get(&url, &user_token).await,
        (200, profile.clone()),
        "the owner's user token reads the same, stable figures"
    );
    let (status, unknown) = sim
        .fb_get(
            &format!("/{page}?fields=fan_count,likes_total"),
            &page_token,
        )
        .await;
    assert_eq!((status, err(&unknown).0), (400, 100));
}

// ----- 6. media listing by time -----

#[tokio::test]
async fn media_listing_filters_by_since_and_until_newest_first() {
    let (sim, account, token) = Sim::shop().await;
    let t = now(&sim).await;
    let mid = seed(
        &sim,
        json!({"account_id": account, "caption": "mid", "published_at": t - 10 * DAY}),
    )
    .await;
    let old = seed(
        &sim,
        json!({"account_id": account, "caption": "old", "published_at": t - 20 * DAY}),
    )
    .await;
    let reel = seed(
        &sim,
        json!({"account_id": account, "media_product_type": "REELS", "published_at": t - DAY}),
    )
    .await;
    let list = |query: String| {
        let url = sim.ig(&format!(
            "/{account}/media?fields=id,timestamp,media_type,media_product_type,permalink{query}"
        ));
        let (sim, token) = (&sim, token.clone());
        async move { sim.get(&url, &token).await }
    };
    let ids = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap_or_else(|| panic!("data: {v}"))
            .iter()
            .filter_map(|m| m["id"].as_str().map(str::to_owned))
            .collect()
    };
    let (status, all) = list(String::new()).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        ids(&all),
        [reel.as_str(), mid.as_str(), old.as_str()],
        "newest first by timestamp"
    );
    let first = &all["data"][0];
    assert_eq!(first["media_type"], "VIDEO");
    assert_eq!(first["media_product_type"], "REELS");
    assert!(
        first["permalink"]
            .as_str()
            .is_some_and(|p| p.starts_with("https://www.instagram.com/reel/")),
        "{first}"
    );
    assert!(
        first["timestamp"]
            .as_str()
            .is_some_and(|ts| ts.ends_with("+0000") && ts.len() == 24),
        "{first}"
    );
    assert_eq!(all["data"][1]["media_product_type"], "FEED");

    let since = format!("&since={}", t - 15 * DAY);
    let until = format!("&until={}", t - 5 * DAY);
    assert_eq!(
        ids(&list(since.clone()).await.1),
        [reel.as_str(), mid.as_str()]
    );
    assert_eq!(
        ids(&list(until.clone()).await.1),
        [mid.as_str(), old.as_str()]
    );
    assert_eq!(
        ids(&list(format!("{since}{until}")).await.1),
        [mid.as_str()]
    );
    assert_eq!(
        ids(&list(format!("&until={}", t - 10 * DAY)).await.1),
        [old.as_str()],
        "until is exclusive"
    );

    // Paging keeps the filter.
    let (_, page1) = list(format!("{since}&limit=1")).await;
    assert_eq!(ids(&page1), [reel.as_str()]);
    let next = page1["paging"]["next"].as_str().expect("next").to_owned();
    assert!(next.contains("since="), "{next}");
    let (_, page2) = sim.get(&next, &token).await;
    assert_eq!(ids(&page2), [mid.as_str()]);
    assert!(page2["paging"]["next"].is_null(), "{page2}");

    for bad in ["&since=yesterday", "&until=1.5"] {
        let (status, body) = list(bad.to_owned()).await;
        assert_eq!((status, err(&body).0), (400, 100), "{bad}: {body}");
    }
}

// ----- 7. seeding history -----

#[tokio::test]
async fn seeded_media_take_a_past_date_and_a_product_type_but_never_the_future() {
    let (sim, account, token) = Sim::shop().await;
    let t = now(&sim).await;
    let story = seed(
        &sim,
        json!({"account_id": account, "media_product_type": "story", "published_at": t - 3600}),
    )
    .await;
    let listed = sim.admin_get("/_sim/media").await;
    let item = listed
        .as_array()
        .expect("list")
        .iter()
        .find(|m| m["id"] == story.as_str())
        .expect("listed")
        .clone();
    assert_eq!(item["published_at"], t - 3600);
    assert_eq!(item["media_product_type"], "STORY");
    assert_eq!(item["media_type"], "IMAGE");
    let (_, fields) = sim
        .ig_get(
            &format!("/{story}?fields=media_product_type,is_shared_to_feed"),
            &token,
        )
        .await;
    assert_eq!(
        fields,
        json!({"media_product_type": "STORY", "is_shared_to_feed": false})
    );
    let reel = seed(
        &sim,
        json!({"account_id": account, "media_product_type": "REELS"}),
    )
    .await;
    let (status, reel_metrics) = sim
        .ig_get(
            &format!("/{reel}/insights?metric=ig_reels_avg_watch_time"),
            &token,
        )
        .await;
    assert_eq!(
        status, 200,
        "a seeded reel has the reel metrics: {reel_metrics}"
    );

    for (body, says) in [
        (
            json!({"account_id": account, "published_at": t + 60}),
            "future",
        ),
        (
            json!({"account_id": account, "media_product_type": "REELS", "media_type": "IMAGE"}),
            "VIDEO",
        ),
        (
            json!({"account_id": account, "media_product_type": "LIVE"}),
            "media_product_type",
        ),
        (json!({"account_id": account, "timestamp": t}), "timestamp"),
    ] {
        let (status, answer) = sim.admin_try("/_sim/media", body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            answer["error"].as_str().is_some_and(|e| e.contains(says)),
            "{body}: {answer}"
        );
    }
    assert_eq!(
        sim.count("/_sim/media").await,
        Some(2),
        "refused seeds create nothing"
    );
}

// ----- 8. usage under load -----

#[tokio::test]
async fn insights_and_profile_calls_raise_the_accounts_usage_until_it_throttles() {
    let (sim, account, token) = Sim::shop().await;
    let media = seed(&sim, json!({"account_id": account})).await;
    sim.admin(
        "/_sim/config",
        json!({"account_calls_per_hour": 10, "app_calls_per_hour": 50}),
    )
    .await;
    let urls = [
        sim.ig("/me?fields=user_id,username,followers_count,media_count"),
        sim.ig(&format!("/{media}/insights?metric=views,reach")),
        sim.ig(&format!(
            "/{account}/insights?metric=views&period=day&metric_type=total_value"
        )),
    ];
    let mut app_before = 0;
    for call in 1..=9_u64 {
        let url = &urls[(call as usize - 1) % urls.len()];
        let res = sim
            .http
            .get(url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("answers");
        assert_eq!(res.status(), 200, "{url}");
        let buc = header_json(&res, "x-business-use-case-usage");
        let entry = &buc[account.as_str()][0];
        assert_eq!(entry["type"], "instagram", "{buc}");
        assert_eq!(
            entry["call_count"].as_u64(),
            Some(call * 10),
            "call {call} of a 10/h budget ({url}): {buc}"
        );
        assert_eq!(entry["estimated_time_to_regain_access"], 0);
        let app = header_json(&res, "x-app-usage")["call_count"]
            .as_u64()
            .expect("app pct");
        assert!(
            app > app_before,
            "the app's usage rises too: {app_before} -> {app}"
        );
        app_before = app;
    }
    assert!(
        app_before >= 18,
        "9 calls of a 50/h app budget: {app_before}"
    );

    // The tenth call still goes through and reports the full budget.
    let res = sim
        .http
        .get(&urls[0])
        .bearer_auth(&token)
        .send()
        .await
        .expect("answers");
    assert_eq!(res.status(), 200);
    let entry = header_json(&res, "x-business-use-case-usage")[account.as_str()][0].clone();
    assert_eq!(entry["call_count"], 100);
    assert!(
        entry["estimated_time_to_regain_access"]
            .as_i64()
            .is_some_and(|m| m > 0)
    );

    // At 100 %, every call on the account is refused with 80002 until the hour passes.
    for url in &urls {
        let res = sim
            .http
            .get(url)
            .bearer_auth(&token)
            .send()
            .await
            .expect("answers");
        assert_eq!(res.status(), 400, "{url}");
        let entry = header_json(&res, "x-business-use-case-usage")[account.as_str()][0].clone();
        assert!(entry["call_count"].as_u64().is_some_and(|c| c >= 100));
        let regain = entry["estimated_time_to_regain_access"]
            .as_i64()
            .expect("regain");
        assert!((1..=60).contains(&regain), "{entry}");
        let body: Value = res.json().await.expect("JSON");
        assert_eq!(err(&body), (80_002, None), "{url}: {body}");
        assert_eq!(body["error"]["is_transient"], true);
    }
    sim.advance(3600).await;
    assert_eq!(sim.get(&urls[1], &token).await.0, 200, "back after an hour");
}

#[tokio::test]
async fn page_profile_calls_are_accounted_to_the_page() {
    let sim = Sim::start().await;
    let (page, page_token, _) = page_with_tokens(&sim).await;
    sim.admin("/_sim/config", json!({"account_calls_per_hour": 10}))
        .await;
    let url = sim.fb(&format!("/{page}?fields=fan_count,followers_count"));
    for call in 1..=10_u64 {
        let res = sim
            .http
            .get(&url)
            .bearer_auth(&page_token)
            .send()
            .await
            .expect("answers");
        assert_eq!(res.status(), 200);
        let buc = header_json(&res, "x-business-use-case-usage");
        let entry = &buc[page.as_str()][0];
        assert_eq!(entry["type"], "pages", "{buc}");
        assert_eq!(entry["call_count"].as_u64(), Some(call * 10), "{buc}");
    }
    let (status, body) = sim.get(&url, &page_token).await;
    assert_eq!(status, 400);
    assert_eq!(
        err(&body),
        (80_001, None),
        "a Page's use case limit: {body}"
    );
}
