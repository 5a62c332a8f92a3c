//! What reaches the logs during a full webhook + ingest run: ids, counts and reasons, never
//! message or comment text, usernames, customer ids or secrets.
//!
//! Its own test binary: `tracing` caches per call site whether anyone listens, and another
//! test logging on another thread while this one installs its capture can make that cache
//! miss the capture. Alone in its process, every line is seen.

mod common;

use common::{APP_SECRET, Pipeline, VERIFY_TOKEN, instagram_delivery};
use relay::store::accounts::Channel;
use serde_json::{Value, json};

const T0: i64 = 1_790_000_000_000;
const IG: &str = "17841400000000011";
const CUSTOMER: &str = "5566778899001122";

fn dm(mid: &str, text: &str, at: i64) -> Value {
    json!({"kind": "dm", "account_id": IG, "customer_id": CUSTOMER, "mid": mid, "text": text, "timestamp": at})
}

fn echo(mid: &str, text: &str, at: i64) -> Value {
    json!({"kind": "echo", "account_id": IG, "customer_id": CUSTOMER, "mid": mid, "text": text, "timestamp": at})
}

/// A current-thread runtime: the handlers, the simulator and every task they spawn run on
/// this thread, so they all log to the subscriber captured here.
#[tokio::test(flavor = "current_thread")]
async fn the_logs_of_a_full_run_hold_no_message_text_customer_id_or_secret() {
    let (logs, _guard) = relay::telemetry::capture();
    let p = Pipeline::start().await;
    p.connect("acme", IG, Channel::Instagram).await;
    let secret_text = "Meine Adresse ist Hauptstraße 5, Telefon 0170 5550101";
    let comment_text = "call me maybe, secret comment words";
    let commenter = "private.person.name";

    p.deliver(dm("ig.l.1", secret_text, T0 + 1)).await;
    p.deliver(echo("ig.l.2", "...", T0 + 2)).await;
    p.deliver(
        json!({"kind": "comment", "account_id": IG, "customer_id": CUSTOMER,
        "comment_id": "17900000000000121", "media_id": "17900000000000201",
        "text": comment_text, "from_username": commenter}),
    )
    .await;
    p.deliver(
        json!({"kind": "reaction", "account_id": IG, "customer_id": CUSTOMER,
        "mid": "ig.l.unknown", "timestamp": T0 + 3}),
    )
    .await;
    // An event that does not parse (its sender is not an id) next to a good one.
    p.deliver(
        json!({"kind": "raw", "raw": instagram_delivery(IG, T0 + 100, vec![
            json!({"sender": {"id": "not-an-id"}, "recipient": {"id": IG}, "timestamp": T0 + 4,
                "message": {"mid": "ig.l.3", "text": secret_text}}),
            json!({"sender": {"id": CUSTOMER}, "recipient": {"id": IG}, "timestamp": T0 + 5,
                "message": {"mid": "ig.l.4", "text": secret_text}}),
        ])}),
    )
    .await;
    p.send(json!({"raw_body": "{\"object\":\"instagram\",\"entry\":[", "repeat": 1}))
        .await;
    p.send(
        json!({"kind": "dm", "account_id": IG, "customer_id": CUSTOMER, "text": secret_text,
        "secret": "wrong-secret"}),
    )
    .await;
    let drained = p.drain().await;
    assert!(drained.failed > 0, "the orphan reaction was retried");

    let text = logs.text();
    for expected in [
        "webhook accepted",
        "message will be redelivered",
        "webhook signature rejected",
        "signed webhook body is malformed",
        "event did not parse; kept raw",
        "conversation paused by human takeover",
    ] {
        assert!(text.contains(expected), "the run logged {expected:?}");
    }
    let needles = [
        ("message text", secret_text),
        ("message text", "Hauptstra"),
        ("comment text", comment_text),
        ("username", commenter),
        ("customer id", CUSTOMER),
        ("app secret", APP_SECRET),
        ("verify token", VERIFY_TOKEN),
    ];
    let mut sdk_trace_leaks = 0;
    for line in text.lines() {
        let Some((what, _)) = needles.iter().find(|(_, needle)| line.contains(needle)) else {
            continue;
        };
        let parsed: Value = serde_json::from_str(line).expect("log lines are JSON");
        // Known exposure, outside Relay's code: at TRACE the AWS SDK's orchestrator logs
        // whole operation inputs and outputs (DynamoDB items included). Production logs at
        // INFO unless RUST_LOG / AWS_LAMBDA_LOG_LEVEL say otherwise; the telemetry setup
        // should cap `aws_smithy_runtime` below TRACE so no setting can turn this on.
        let target = parsed["target"].as_str().unwrap_or_default();
        if parsed["level"] == "TRACE" && target.starts_with("aws_smithy_runtime") {
            sdk_trace_leaks += 1;
            continue;
        }
        panic!("{what} reached the logs: {line}");
    }
    eprintln!("AWS SDK TRACE lines holding content (not Relay's own logging): {sdk_trace_leaks}");
}
