//! What reaches the logs while comments are moderated: ids, labels, signals and
//! reasons, never a comment's text, a reply's text, usernames, commenter ids or tokens.
//!
//! Its own test binary, for the reason given in `ai_reply_logs.rs`: `tracing` caches per
//! call site whether anyone listens, so the capture must be alone in its process.

mod ai_support;
mod common;
mod moderation_support;

use ai_support::sim_post;
use moderation_support::*;
use relay::moderation::ModerationAction;
use relay::moderation::run::Handled;
use serde_json::json;

#[tokio::test(flavor = "current_thread")]
async fn logs_carry_ids_labels_and_reasons_but_no_text_names_or_commenter_ids() {
    let (logs, _guard) = relay::telemetry::capture();
    let w = World::start().await;
    let spam = w.comment(SPAM).await;
    let question = w
        .comment("I live at Hauptstraße 5, do you deliver there?")
        .await;
    assert_eq!(w.settle().await.failed, 0);
    let reply = "Yes, we deliver to Hauptstraße on Fridays!";
    assert_eq!(
        w.act(
            &question,
            ModerationAction::Reply {
                by: by("ana"),
                request_id: "r-1".into(),
                text: reply.into(),
            },
        )
        .await,
        Handled::Done("reply")
    );
    // A refusal and a failure are logged by reason.
    sim_post(
        &w.p,
        "/_sim/faults",
        json!({"kind": "error", "code": 10, "message": "(#10) Hauptstraße secret", "path_contains": "messages"}),
    )
    .await;
    w.act(&question, private_reply("p-1")).await;

    let ours: Vec<String> = logs
        .text()
        .lines()
        .filter(|l| l.contains("\"target\":\"moderation") || l.contains("\"target\":\"relay::"))
        .map(str::to_owned)
        .collect();
    assert!(
        ours.iter()
            .any(|l| l.contains("comment classified") && l.contains("Spam")),
        "labels are logged"
    );
    assert!(ours.iter().any(|l| l.contains("moderation job handled")));
    assert!(ours.iter().any(|l| l.contains("moderation action failed")));
    for line in &ours {
        for private in [
            "grow-fast",
            "FREE followers",
            "Hauptstraße",
            reply,
            FAN,
            "a_fan",
            "IGAA",
        ] {
            assert!(!line.contains(private), "{private} leaked into: {line}");
        }
    }
    assert!(
        ours.iter().any(|l| l.contains(&spam)),
        "comment ids are logged"
    );
}
