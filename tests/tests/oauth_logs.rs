//! What reaches the logs while people onboard and Meta calls back: ids, counts and
//! reasons, never access tokens, authorization codes, states, usernames or Page names.
//!
//! Its own test binary: `tracing` caches per call site whether anyone listens, and another
//! test logging on another thread while this one installs its capture can make that cache
//! miss the capture. Alone in its process, every line is seen.

mod onboarding_world;

use onboarding_world::{World, query_of};
use relay::onboarding::Provider;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A current-thread runtime: the handler, the simulator and every task they spawn run on
/// this thread, so they all log to the subscriber captured here.
#[tokio::test(flavor = "current_thread")]
async fn onboarding_logs_hold_no_token_code_state_or_name() {
    let (logs, _guard) = relay::telemetry::capture();
    let world = World::start().await;
    world
        .admin(
            "/_sim/fb-users",
            json!({"name": "Ada Private", "pages": [{"name": "Secret Bakery Page", "instagram": true}]}),
        )
        .await;
    world.instagram_user("very.private.handle").await;
    let link = world.onboarding_link("acme", "Acme").await;

    let mut secrets = Vec::new();
    for provider in [Provider::Instagram, Provider::Facebook] {
        let callback = world.allowed_callback(&link, provider).await;
        let query = query_of(&callback);
        secrets.push(query["code"].clone());
        secrets.push(query["state"].clone());
        assert_eq!(world.get(&callback).await.status, StatusCode::OK);
        // A replay is refused and logged, still without the state.
        assert_eq!(world.get(&callback).await.status, StatusCode::BAD_REQUEST);
    }
    for account in world.accounts("acme").await {
        secrets.push(world.token_of(&account).await.expose().to_owned());
    }
    secrets.extend(["very.private.handle", "Secret Bakery Page", "Ada Private"].map(String::from));

    let logged = logs.text();
    assert!(
        logged.contains("account stored"),
        "the flow's logs were not captured"
    );
    assert!(logged.contains("OAuth callback refused"));
    let mut sdk_trace_lines = 0;
    for line in logged.lines() {
        if !secrets.iter().any(|secret| line.contains(secret.as_str())) {
            continue;
        }
        let parsed: Value = serde_json::from_str(line).expect("log lines are JSON");
        // Outside Relay's code: at TRACE the AWS SDK logs whole DynamoDB items (here the
        // Page's name, read back by the test). Production logs at INFO.
        let target = parsed["target"].as_str().unwrap_or_default();
        if parsed["level"] == "TRACE" && target.starts_with("aws_smithy_runtime") {
            sdk_trace_lines += 1;
            continue;
        }
        panic!("a token, code, state or name reached the logs: {line}");
    }
    eprintln!("AWS SDK TRACE lines holding stored values (not Relay's logging): {sdk_trace_lines}");
}
