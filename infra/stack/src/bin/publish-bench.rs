//! Measures scheduled publishing on the running local stack (`relay-stack up`): schedules
//! `--posts` posts of every Instagram kind through the management API, spread over the
//! next `--minutes` minutes, waits until each is final, and reports how far each went out
//! from its scheduled second (|published_at - scheduled_at|: p50 / p99 / max), and how
//! many media the simulator holds per post (exactly one is the rule).
//!
//! ```text
//! cargo run --release -p relay-stack --bin publish-bench -- [--posts 30] [--minutes 3]
//! ```
//!
//! The stack's dispatcher runs on the template's `rate(1 minute)`; the worker on the
//! publish queue's poller.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bench::{Stack, percentile};
use clap::Parser;
use serde_json::{Value, json};

mod bench;

/// What to measure.
#[derive(Debug, Parser)]
struct Args {
    /// Posts to schedule.
    #[arg(long, default_value_t = 30)]
    posts: usize,
    /// Minutes ahead the posts are spread over.
    #[arg(long, default_value_t = 3)]
    minutes: usize,
}

fn rfc3339(epoch_ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(epoch_ms) * 1_000_000)
        .expect("a valid time")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339 formats")
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// The content of post number `i`: image, reel, carousel and story in turn.
fn content(i: usize, files: &str) -> (&'static str, Value) {
    let file = |name: &str| format!("{files}/{name}");
    match i % 4 {
        0 => (
            "image",
            json!({"type": "image", "url": file(&format!("p{i}.jpg"))}),
        ),
        1 => (
            "reel",
            json!({"type": "reel", "video_url": file(&format!("r{i}.mp4")), "share_to_feed": true}),
        ),
        2 => (
            "carousel",
            json!({"type": "carousel", "items": [
                {"kind": "image", "url": file(&format!("c{i}a.jpg"))},
                {"kind": "video", "url": file(&format!("c{i}b.mp4"))},
                {"kind": "image", "url": file(&format!("c{i}c.jpg"))},
            ]}),
        ),
        _ => (
            "story",
            json!({"type": "story", "media": {"kind": "image", "url": file(&format!("s{i}.jpg"))}}),
        ),
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let posts = args.posts.max(1);
    let minutes = args.minutes.max(1);
    let stack = Stack::running();
    let (info, api, key, http) = (&stack.info, &stack.api, &stack.key, &stack.http);
    let sim = info["meta_simulator_url"]
        .as_str()
        .expect("meta_simulator_url")
        .trim_end_matches('/')
        .to_owned();
    let account = info["demo"]["instagram_account_id"]
        .as_str()
        .expect("the demo Instagram account")
        .to_owned();
    let files = format!("{sim}/_sim/files");

    // Spread over the window, the first a little ahead so it can still be scheduled.
    let start = now_ms() + 15_000;
    let step = (minutes as i64 * 60_000) / posts as i64;
    let mut scheduled = Vec::with_capacity(posts);
    println!("scheduling {posts} posts over the next {minutes} minutes");
    for i in 0..posts {
        let at = start + step * i as i64;
        let (kind, content) = content(i, &files);
        let caption = format!("Bench post {i} ({kind}) {}", uuid::Uuid::new_v4().simple());
        let response = http
            .post(format!("{api}/posts"))
            .bearer_auth(key)
            .json(&json!({
                "account_id": account,
                "content": content,
                "caption": if kind == "story" { Value::Null } else { json!(caption) },
                "scheduled_at": rfc3339(at),
            }))
            .send()
            .await
            .expect("the router answers");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 201, "POST /v1/posts ({kind}): {body}");
        let id = body["id"]
            .as_str()
            .or_else(|| body["post_id"].as_str())
            .expect("the post's id")
            .to_owned();
        scheduled.push((id, kind, at));
    }

    let deadline = Instant::now() + Duration::from_secs(minutes as u64 * 60 + 240);
    let mut late_ms = Vec::with_capacity(posts);
    let mut failed = Vec::new();
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    let mut media_ids = Vec::new();
    let mut pending: Vec<_> = scheduled.iter().collect();
    while !pending.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut still = Vec::new();
        for entry in pending {
            let (id, kind, at) = entry;
            let post: Value = http
                .get(format!("{api}/posts/{id}"))
                .bearer_auth(key)
                .send()
                .await
                .expect("the router answers")
                .json()
                .await
                .unwrap_or(Value::Null);
            match post["status"].as_str() {
                Some("published") => {
                    let published = post["published_at"].as_i64().expect("published_at");
                    late_ms.push((published - at).abs() as f64);
                    *by_kind.entry(kind).or_default() += 1;
                    if let Some(media) = post["progress"]["media_id"].as_str() {
                        media_ids.push(media.to_owned());
                    }
                }
                Some("failed" | "cancelled") => failed.push((id.clone(), post["failure"].clone())),
                _ => still.push(entry),
            }
        }
        pending = still;
    }

    let media: Value = http
        .get(format!("{sim}/_sim/media"))
        .send()
        .await
        .expect("the simulator answers")
        .json()
        .await
        .expect("JSON");
    let at_meta = media
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|m| m["account_id"] == account.as_str())
                .filter(|m| media_ids.iter().any(|id| m["id"] == id.as_str()))
                .count()
        })
        .unwrap_or(0);
    late_ms.sort_by(f64::total_cmp);
    println!(
        "published {} of {posts} ({by_kind:?}); failed {}; still pending {}",
        late_ms.len(),
        failed.len(),
        pending.len()
    );
    for (id, failure) in &failed {
        println!("  failed {id}: {failure}");
    }
    if !late_ms.is_empty() {
        println!(
            "|published - scheduled|  p50 {:>7.0} ms   p99 {:>7.0} ms   max {:>7.0} ms",
            percentile(&late_ms, 0.5),
            percentile(&late_ms, 0.99),
            late_ms[late_ms.len() - 1]
        );
    }
    println!(
        "media at the simulator for the published posts: {at_meta} (one per post: {})",
        late_ms.len()
    );
    if !failed.is_empty() || !pending.is_empty() || at_meta != late_ms.len() {
        std::process::exit(1);
    }
}
