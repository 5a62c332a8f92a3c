//! Comment moderation end to end: a comment written at the Meta simulator arrives by
//! signed webhook, ingest stores it and queues the automatic pass, and the moderation
//! handler (real AWS SDK against moto, Graph calls to the simulator) labels it, hides
//! it by policy and audits what it did. People's actions (hide, unhide, delete, reply,
//! private reply) go through the same handler.

mod ai_support;
mod common;
mod moderation_support;

use ai_support::sim_post;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use moderation_support::*;
use relay::inbox::CommentStatus;
use relay::jobs::ModerationJob;
use relay::moderation::run::{ACTOR, Handled};
use relay::moderation::{ActionError, Label, ModerationAction, ModerationPolicy};
use serde_json::json;

#[tokio::test]
async fn spam_is_tagged_hidden_at_meta_and_audited_while_a_clean_comment_is_left_alone() {
    let w = World::start().await;
    let spam = w.comment(SPAM).await;
    let clean = w
        .comment("Those tulips are gorgeous! Do you deliver on Sundays?")
        .await;
    let drained = w.settle().await;
    assert_eq!((drained.delivered, drained.failed), (2, 0));

    let stored = w.stored(&spam).await;
    assert_eq!(stored.labels, vec![Label::Spam, Label::Link]);
    assert_eq!(stored.status, CommentStatus::Hidden);
    assert!(stored.hidden && stored.moderated_at.is_some());
    assert!(stored.signals.contains(&"phrase:free followers".to_owned()));
    assert_eq!(w.at_meta(&spam).await["hidden"], true, "hidden at Meta");

    let clean_stored = w.stored(&clean).await;
    assert!(clean_stored.labels.is_empty() && clean_stored.moderated_at.is_some());
    assert_eq!(clean_stored.status, CommentStatus::New);
    assert_eq!(w.at_meta(&clean).await["hidden"], false);

    assert_eq!(w.by_status(CommentStatus::Hidden).await, vec![spam.clone()]);
    assert_eq!(w.by_status(CommentStatus::New).await, vec![clean.clone()]);

    assert_eq!(
        w.audit_actions_for(&spam).await,
        vec!["comment.tagged", "comment.hidden"]
    );
    assert!(w.audit_actions_for(&clean).await.is_empty());
    let audit = w.audit().await;
    let tagged = &audit
        .iter()
        .find(|(a, _, _)| a == "comment.tagged")
        .unwrap()
        .2;
    assert_eq!(tagged["labels"], json!(["spam", "link"]));
    let text = serde_json::to_string(&audit).unwrap();
    assert!(!text.contains("grow-fast") && !text.contains(FAN), "{text}");
    assert_eq!(w.handler.moderator.metrics().get("CommentsHidden"), 1);
}

#[tokio::test]
async fn a_redelivered_job_counts_audits_and_hides_once() {
    let w = World::start().await;
    let spam = w.comment(SPAM).await;
    let drained = w.p.drain().await;
    assert_eq!(drained.failed, 0);
    let job = w.job(&spam, ModerationAction::Classify);
    // SQS delivers at least once: the same job three times, two of them at once.
    let (a, b) = tokio::join!(
        w.handler.moderator.handle(&job),
        w.handler.moderator.handle(&job)
    );
    let c = w.handler.moderator.handle(&job).await;
    let outcomes: Vec<_> = [a, b, c].into_iter().filter_map(Result::ok).collect();
    assert!(!outcomes.is_empty());
    for outcome in &outcomes {
        assert_eq!(*outcome, Handled::Tagged { hidden: true });
    }
    // The queued job too (ingest queued it).
    assert_eq!(w.moderate().await.failed, 0);
    assert_eq!(
        w.audit_actions_for(&spam).await,
        vec!["comment.tagged", "comment.hidden"]
    );
    assert!(!w.stored(&spam).await.labels.contains(&Label::Repeat));
}

#[tokio::test]
async fn the_accounts_policy_decides_blocked_words_links_and_repeats() {
    let w = World::start().await;
    let mut policy = ModerationPolicy {
        blocked_words: vec!["scam*".into()],
        allowed_domains: vec!["bloom.example".into()],
        ..ModerationPolicy::default()
    };
    policy.hide.repeats = true;
    w.set_policy(policy).await;

    let blocked = w.comment("This shop is a SCAMMER operation").await;
    let own_link = w
        .comment("Ordered via https://www.bloom.example/tulips, love it")
        .await;
    let other_link = w.comment("Cheaper at https://florist.example/tulips").await;
    let mut repeats = Vec::new();
    for _ in 0..3 {
        repeats.push(w.comment_from("5500000000000999", "first!!").await);
    }
    let other_author = w.comment_from("5500000000000777", "First").await;
    assert_eq!(w.settle().await.failed, 0);

    let blocked = w.stored(&blocked).await;
    assert_eq!(blocked.labels, vec![Label::BlockedWord]);
    assert_eq!(blocked.status, CommentStatus::Hidden);
    assert!(blocked.signals.contains(&"blocked:scam*".to_owned()));

    assert!(
        w.stored(&own_link).await.labels.is_empty(),
        "the tenant's own domain"
    );
    let other = w.stored(&other_link).await;
    assert_eq!(other.labels, vec![Label::Link]);
    assert!(
        !other.hidden,
        "links are not hidden unless the policy says so"
    );
    assert_eq!(w.at_meta(&other_link).await["hidden"], false);

    let mut repeat_labels = Vec::new();
    for id in &repeats {
        repeat_labels.push(w.stored(id).await.labels.contains(&Label::Repeat));
    }
    // Comments of one batch are classified concurrently, so which of the three reaches
    // the count is not fixed; exactly one does.
    assert_eq!(
        repeat_labels.iter().filter(|r| **r).count(),
        1,
        "{repeat_labels:?}"
    );
    let third = &repeats[repeat_labels.iter().position(|r| *r).unwrap()];
    assert_eq!(w.at_meta(third).await["hidden"], true);
    assert!(w.stored(&other_author).await.labels.is_empty());
}

#[tokio::test]
async fn a_persons_unhide_stands_and_actions_are_audited_with_who_asked() {
    let w = World::start().await;
    let spam = w.comment(SPAM).await;
    assert_eq!(w.settle().await.failed, 0);
    assert_eq!(w.at_meta(&spam).await["hidden"], true);

    let done = w
        .act(&spam, ModerationAction::Unhide { by: by("ana") })
        .await;
    assert_eq!(done, Handled::Done("unhide"));
    assert_eq!(w.at_meta(&spam).await["hidden"], false);
    let stored = w.stored(&spam).await;
    assert_eq!(stored.status, CommentStatus::Spam, "still labelled spam");
    assert!(!stored.hidden && !stored.auto_hide);

    // The automatic pass delivered again does not overrule the person.
    let again = w.act(&spam, ModerationAction::Classify).await;
    assert_eq!(again, Handled::Tagged { hidden: false });
    assert_eq!(w.at_meta(&spam).await["hidden"], false);

    assert_eq!(
        w.act(&spam, ModerationAction::Hide { by: by("ana") }).await,
        Handled::Done("hide")
    );
    assert_eq!(w.at_meta(&spam).await["hidden"], true);
    assert_eq!(w.stored(&spam).await.status, CommentStatus::Hidden);

    let records = w.audit().await;
    let who: Vec<(String, String)> =
        w.p.audit
            .records(&w.tenant)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.action, r.actor))
            .collect();
    assert_eq!(
        who,
        vec![
            ("comment.tagged".to_owned(), ACTOR.to_owned()),
            ("comment.hidden".to_owned(), ACTOR.to_owned()),
            ("comment.unhidden".to_owned(), by("ana")),
            ("comment.hidden".to_owned(), by("ana")),
        ],
        "{records:?}"
    );
}

#[tokio::test]
async fn replies_are_sent_once_per_request_and_private_replies_once_per_comment() {
    let w = World::start().await;
    let question = w.comment("Do you have white roses in stock?").await;
    assert_eq!(w.settle().await.failed, 0);

    let reply = ModerationAction::Reply {
        by: by("ana"),
        request_id: "req-1".into(),
        text: "Yes! Come by today.".into(),
    };
    assert_eq!(
        w.act(&question, reply.clone()).await,
        Handled::Done("reply")
    );
    assert_eq!(
        w.act(&question, reply).await,
        Handled::Skipped("request_already_handled")
    );
    let at_meta = w.at_meta(&question).await;
    let replies = at_meta["replies"].as_array().unwrap();
    assert_eq!(replies.len(), 1, "one reply at Meta: {at_meta}");
    assert_eq!(replies[0]["text"], "Yes! Come by today.");
    let stored = w.stored(&question).await;
    assert_eq!(stored.status, CommentStatus::Replied);
    assert_eq!(stored.reply_ids.len(), 1);
    assert_eq!(
        stored.reply_ids[0].as_str(),
        replies[0]["id"].as_str().unwrap()
    );

    let private = |id: &str| ModerationAction::PrivateReply {
        by: by("ana"),
        request_id: id.into(),
        text: "Sending you the price list privately.".into(),
    };
    assert_eq!(
        w.act(&question, private("p-1")).await,
        Handled::Done("private_reply")
    );
    assert_eq!(
        w.act(&question, private("p-2")).await,
        Handled::Refused(ActionError::PrivateReplyUsed)
    );
    let sent = w.private_messages().await;
    assert_eq!(sent.len(), 1, "one private reply at Meta: {sent:?}");
    assert!(w.at_meta(&question).await["private_replied"] == true);

    assert_eq!(
        w.act(&question, ModerationAction::Delete { by: by("ana") })
            .await,
        Handled::Done("delete")
    );
    assert_eq!(w.at_meta(&question).await["deleted"], true);
    assert_eq!(w.stored(&question).await.status, CommentStatus::Deleted);
    assert_eq!(
        w.act(&question, ModerationAction::Delete { by: by("ana") })
            .await,
        Handled::Skipped("already_deleted")
    );
    assert_eq!(
        w.act(&question, ModerationAction::Hide { by: by("ana") })
            .await,
        Handled::Refused(ActionError::CommentDeleted)
    );
    let actions = w.audit_actions_for(&question).await;
    assert_eq!(
        actions,
        vec![
            "comment.replied",
            "comment.private_replied",
            "comment.action_refused",
            "comment.deleted",
            "comment.action_refused"
        ]
    );
}

#[tokio::test]
async fn a_private_reply_after_seven_days_is_refused_before_meta_is_called() {
    let w = World::start().await;
    let old = w.comment("Is the shop open on holidays?").await;
    assert_eq!(w.settle().await.failed, 0);
    w.clock.advance(8 * 86_400).await;
    let outcome = w
        .act(
            &old,
            ModerationAction::PrivateReply {
                by: by("ana"),
                request_id: "late".into(),
                text: "Yes, 10 to 14.".into(),
            },
        )
        .await;
    assert_eq!(
        outcome,
        Handled::Refused(ActionError::PrivateReplyWindowClosed)
    );
    assert!(w.private_messages().await.is_empty());
    assert_eq!(w.at_meta(&old).await["private_replied"], false);
}

#[tokio::test]
async fn throttling_is_retried_and_hostile_jobs_lose_nothing() {
    let w = World::start().await;
    let spam = w.comment(SPAM).await;
    assert_eq!(w.p.drain().await.failed, 0);

    // Meta throttles the hide: the job is reported failed (SQS delivers it again),
    // with the labels already stored and audited once.
    sim_post(
        &w.p,
        "/_sim/faults",
        json!({"kind": "throttle", "count": 1, "path_contains": spam}),
    )
    .await;
    let first = w.moderate_rounds(1).await;
    assert_eq!((first.delivered, first.failed), (0, 1));
    assert_eq!(w.stored(&spam).await.labels, vec![Label::Spam, Label::Link]);
    assert!(!w.stored(&spam).await.hidden);
    let settled = w.moderate().await;
    assert_eq!(settled.failed, 0);
    assert_eq!(w.at_meta(&spam).await["hidden"], true);
    assert_eq!(
        w.audit_actions_for(&spam).await,
        vec!["comment.tagged", "comment.hidden"]
    );

    // Not JSON, not a job, no body: reported failed (so they reach the DLQ), not lost.
    let mut event = SqsEvent::default();
    for (i, body) in [Some("not json"), Some(r#"{"tenant_id":"x"}"#), None]
        .into_iter()
        .enumerate()
    {
        let mut record = SqsMessage::default();
        record.message_id = Some(format!("bad-{i}"));
        record.body = body.map(str::to_owned);
        event.records.push(record);
    }
    let response = relay::lambda::sqs_batch(&w.handler, &event).await;
    assert_eq!(response.batch_item_failures.len(), 3);

    // A comment id of this tenant asked for under another tenant finds nothing.
    let foreign = ModerationJob {
        tenant_id: common::tenant("mallory"),
        ..w.job(&spam, ModerationAction::Delete { by: by("m") })
    };
    assert_eq!(
        w.handler.moderator.handle(&foreign).await.unwrap(),
        Handled::Skipped("comment_not_stored")
    );
    assert_eq!(w.at_meta(&spam).await["deleted"], false);

    // A request that can never succeed is refused and audited, never sent.
    let empty = w
        .act(
            &spam,
            ModerationAction::Reply {
                by: by("ana"),
                request_id: "r".into(),
                text: "   ".into(),
            },
        )
        .await;
    assert_eq!(empty, Handled::Refused(ActionError::EmptyText));
    assert!(
        w.at_meta(&spam).await["replies"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_private_reply_meta_refused_is_sent_later_but_an_unknown_outcome_never_twice() {
    let w = World::start().await;
    let first = w.comment("Price for the big bouquet?").await;
    let second = w.comment("Do you deliver to Graz?").await;
    assert_eq!(w.settle().await.failed, 0);

    // Throttled: Meta refused, so nothing was sent; the job fails (SQS delivers it
    // again) and the redelivery sends it.
    sim_post(
        &w.p,
        "/_sim/faults",
        json!({"kind": "throttle", "count": 1, "path_contains": "messages"}),
    )
    .await;
    let job = w.job(&first, private_reply("p-1"));
    assert!(
        w.handler.moderator.handle(&job).await.is_err(),
        "retried through SQS"
    );
    assert_eq!(
        w.handler.moderator.handle(&job).await.unwrap(),
        Handled::Done("private_reply")
    );
    assert_eq!(w.private_messages().await.len(), 1);

    // A server error: Meta may have sent it, so it is never sent again.
    sim_post(
        &w.p,
        "/_sim/faults",
        json!({"kind": "server_error", "count": 1, "path_contains": "messages"}),
    )
    .await;
    assert_eq!(
        w.act(&second, private_reply("p-2")).await,
        Handled::Failed("meta_error")
    );
    assert_eq!(
        w.act(&second, private_reply("p-3")).await,
        Handled::Refused(ActionError::PrivateReplyUsed)
    );
    assert_eq!(w.private_messages().await.len(), 1);
    let actions = w.audit_actions_for(&second).await;
    assert_eq!(
        actions,
        vec!["comment.action_failed", "comment.action_refused"]
    );
}

#[tokio::test]
async fn labels_stored_by_a_run_that_crashed_before_auditing_are_audited_on_redelivery() {
    let w = World::start().await;
    let spam = w.comment(SPAM).await;
    assert_eq!(w.p.drain().await.failed, 0);
    // A run classified and stored the comment, then died before its audit record.
    let mut crashed = w.stored(&spam).await;
    crashed.labels = vec![Label::Spam, Label::Link];
    crashed.signals = vec!["link".into()];
    crashed.spam_score = 7;
    crashed.auto_hide = true;
    crashed.moderated_at = Some(1);
    w.p.store.update_comment(&crashed).await.unwrap();
    assert!(w.audit_actions_for(&spam).await.is_empty());

    // SQS delivers the job again (twice).
    assert_eq!(w.moderate().await.failed, 0);
    w.act(&spam, ModerationAction::Classify).await;
    assert_eq!(
        w.audit_actions_for(&spam).await,
        vec!["comment.tagged", "comment.hidden"]
    );
    let stored = w.stored(&spam).await;
    assert!(stored.tag_audited && stored.hidden);
    assert_eq!(stored.moderated_at, Some(1), "not classified a second time");
}
