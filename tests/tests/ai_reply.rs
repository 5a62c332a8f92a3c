//! Automated replies end to end, on moto, the Meta simulator and a fake OpenAI-compatible
//! endpoint: the simulator POSTs a signed DM webhook, the webhook and ingest handlers
//! store it and queue the AI-reply job, the Dispatcher plays the replies queue's event
//! source mapping for the ai-reply handler, and the tests look where a user would: the
//! messages the simulator received, the drafts, the conversation, the bus, the audit
//! trail, and the prompts the LLM was sent. The handler reads the simulator's clock, so
//! "25 hours later" is real simulated time.

mod ai_support;
mod common;

use std::time::Duration;

use ai_reply::Settings;
use ai_support::*;
use aws_lambda_events::event::sqs::SqsEvent;
use common::{customer, events_dir, tenant};
use relay::ai::{AiSettings, DraftStatus, LlmConfig, LongReplies, OpenAiCompatible, OutcomeStatus};
use relay::ids::AccountId;
use relay::inbox::{AiMode, Author, Direction};
use relay::jobs::AiReplyJob;
use relay::lambda::{SqsHandler, sqs_batch};
use relay::secret::Secret;
use relay_tests::fake_llm::Answer;
use serde_json::json;
use std::sync::Arc;

// ------------------------------------------------------------------------------------
// Debounce

#[tokio::test]
async fn three_quick_messages_get_one_reply_whose_prompt_holds_all_three() {
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    let first = ai.says("Hi! How long does shipping take to Munich?").await;
    let second = ai
        .says("Also, can I return the boots if they don't fit?")
        .await;
    let third = ai.says("And is the Trail Boot waterproof?").await;
    let drained = ai.settle().await;
    assert_eq!(
        (drained.delivered, drained.failed),
        (3, 0),
        "three jobs, all handled"
    );

    assert_eq!(
        ai.sent_texts().await,
        vec![REPLY],
        "one reply for the burst"
    );
    let prompts = ai.llm().prompts();
    assert_eq!(prompts.len(), 1, "the LLM is asked once");
    let prompt = prompts[0].text();
    for question in [
        "How long does shipping take to Munich?",
        "can I return the boots if they don't fit?",
        "is the Trail Boot waterproof?",
    ] {
        assert!(prompt.contains(question), "the prompt lacks {question:?}");
    }
    // The three questions are the last user turns, oldest first.
    let tail: Vec<&str> = prompts[0].messages[prompts[0].messages.len() - 3..]
        .iter()
        .map(|(role, _)| role.as_str())
        .collect();
    assert_eq!(tail, ["user", "user", "user"]);
    assert_eq!(prompts[0].model, MODEL);
    assert_eq!(
        prompts[0].authorization.as_deref(),
        Some(format!("Bearer {LLM_KEY}").as_str())
    );
    assert_eq!(
        prompts[0].max_tokens,
        Some(350),
        "the completion has a token budget"
    );

    assert_eq!(
        ai.outcome(&first).await.reason.as_deref(),
        Some("superseded")
    );
    assert_eq!(
        ai.outcome(&second).await.reason.as_deref(),
        Some("superseded")
    );
    let answered = ai.outcome(&third).await;
    assert_eq!(answered.status, OutcomeStatus::Sent);
    assert_eq!(answered.model.as_deref(), Some(MODEL));

    // The reply is in the inbox as the AI's, with model and latency.
    let messages = ai.messages().await;
    let reply = messages.last().expect("the reply is stored");
    assert_eq!(
        (reply.direction, reply.author),
        (Direction::Outbound, Author::Ai)
    );
    assert_eq!(reply.text.as_deref(), Some(REPLY));
    let origin = reply.ai.as_ref().expect("marked as AI");
    assert_eq!(origin.model, MODEL);
    assert_eq!(
        reply.mid.as_str(),
        ai.sent().await[0]["id"].as_str().unwrap()
    );
    assert!(
        ai.audit_actions()
            .await
            .contains(&"ai.reply_sent".to_owned())
    );
    assert!(ai.p.audit.verify(&ai.tenant).await.unwrap().is_intact());
}

// ------------------------------------------------------------------------------------
// Modes and pauses

#[tokio::test]
async fn shadow_mode_drafts_a_suggestion_and_sends_nothing() {
    let ai = Ai::start(AiMode::Shadow, Brain::Llm).await;
    let mid = ai.says("How long does shipping take?").await;
    let drained = ai.settle().await;
    assert_eq!(drained.failed, 0);

    assert!(ai.sent().await.is_empty(), "shadow mode never sends");
    let drafts =
        ai.p.store
            .list_drafts(
                &ai.tenant,
                &ai.account_id(),
                &customer(CUSTOMER),
                &listing(),
            )
            .await
            .unwrap()
            .items;
    assert_eq!(drafts.len(), 1);
    let draft = &drafts[0];
    assert_eq!(draft.text, REPLY);
    assert_eq!(draft.parts, vec![REPLY]);
    assert_eq!(draft.status, DraftStatus::Pending);
    assert_eq!(draft.draft_id.inbound_mid.as_str(), mid);
    assert_eq!(draft.ai.model, MODEL);
    let pending =
        ai.p.store
            .list_pending_drafts(&ai.tenant, &ai.account_id(), &listing())
            .await
            .unwrap()
            .items;
    assert_eq!(pending.len(), 1, "the account's review list shows it");
    assert_eq!(ai.outcome(&mid).await.status, OutcomeStatus::Drafted);
    assert!(
        ai.audit_actions()
            .await
            .contains(&"ai.draft_created".to_owned())
    );
    // Nothing outbound was stored: a draft is not a message.
    assert!(
        ai.messages()
            .await
            .iter()
            .all(|m| m.direction == Direction::Inbound)
    );

    // A person discards it: it leaves the review list; nobody can resolve it twice.
    let resolved =
        ai.p.store
            .resolve_draft(
                &ai.tenant,
                &ai.account_id(),
                &customer(CUSTOMER),
                &draft.draft_id,
                DraftStatus::Discarded,
                "member-1",
                1,
            )
            .await
            .unwrap();
    assert!(resolved);
    let again =
        ai.p.store
            .resolve_draft(
                &ai.tenant,
                &ai.account_id(),
                &customer(CUSTOMER),
                &draft.draft_id,
                DraftStatus::Approved,
                "member-2",
                2,
            )
            .await
            .unwrap();
    assert!(!again, "a resolved draft stays resolved");
    assert!(
        ai.p.store
            .list_pending_drafts(&ai.tenant, &ai.account_id(), &listing())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn off_mode_does_nothing_at_all() {
    let ai = Ai::start(AiMode::Off, Brain::Llm).await;
    ai.says("How long does shipping take?").await;
    let drained = ai.settle().await;
    assert_eq!(
        (drained.delivered, drained.failed),
        (1, 0),
        "the job is consumed"
    );
    assert!(ai.sent().await.is_empty());
    assert!(ai.llm().prompts().is_empty(), "the LLM is never asked");
    assert!(ai.outcomes().await.is_empty(), "off leaves no trace");
    assert_eq!(ai.handler.metrics().get("SkippedAiOff"), 1);
}

#[tokio::test]
async fn a_conversation_can_override_the_account_mode() {
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    ai.says("hello").await;
    ai.ingest().await;
    ai.p.store
        .set_conversation_ai_mode(
            &ai.tenant,
            &ai.account_id(),
            &customer(CUSTOMER),
            Some(AiMode::Shadow),
        )
        .await
        .unwrap();
    ai.reply().await;
    assert!(
        ai.sent().await.is_empty(),
        "this conversation is in shadow mode"
    );
    let drafts =
        ai.p.store
            .list_drafts(
                &ai.tenant,
                &ai.account_id(),
                &customer(CUSTOMER),
                &listing(),
            )
            .await
            .unwrap()
            .items;
    assert_eq!(drafts.len(), 1);

    ai.p.store
        .set_conversation_ai_mode(&ai.tenant, &ai.account_id(), &customer(CUSTOMER), None)
        .await
        .unwrap();
    ai.says("how long does shipping take?").await;
    ai.settle().await;
    assert_eq!(
        ai.sent_texts().await,
        vec![REPLY],
        "back to the account's auto mode"
    );
}

#[tokio::test]
async fn a_paused_conversation_gets_nothing_until_a_person_resumes_it() {
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    ai.says("hello").await;
    ai.ingest().await;
    ai.p.store
        .pause_conversation(
            &ai.tenant,
            &ai.account_id(),
            &customer(CUSTOMER),
            "escalated_by_team",
            1,
        )
        .await
        .unwrap();
    let paused_mid = ai.says("anyone there?").await;
    ai.settle().await;
    assert!(ai.sent().await.is_empty(), "paused: no reply");
    assert!(
        ai.llm().prompts().is_empty(),
        "paused: the LLM is not even asked"
    );
    assert_eq!(
        ai.outcome(&paused_mid).await.reason.as_deref(),
        Some("paused")
    );

    ai.p.store
        .resume_conversation(&ai.tenant, &ai.account_id(), &customer(CUSTOMER))
        .await
        .unwrap();
    ai.says("how long does shipping take?").await;
    ai.settle().await;
    assert_eq!(ai.sent_texts().await, vec![REPLY], "resumed: replies again");
}

#[tokio::test]
async fn a_human_typing_three_dots_after_an_ai_reply_stops_further_replies() {
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    ai.says("how long does shipping take?").await;
    ai.settle().await;
    assert_eq!(ai.sent().await.len(), 1, "the AI answered");

    ai.business_writes("...").await;
    ai.ingest().await;
    assert!(
        ai.conversation().await.paused,
        "the echo paused the conversation"
    );

    let later = ai.says("and do you ship to Vienna?").await;
    ai.settle().await;
    assert_eq!(ai.sent().await.len(), 1, "no further automated reply");
    assert_eq!(ai.llm().prompts().len(), 1);
    assert_eq!(ai.outcome(&later).await.reason.as_deref(), Some("paused"));
}

// ------------------------------------------------------------------------------------
// Meta's rules

#[tokio::test]
async fn a_message_25_hours_old_gets_no_automated_reply() {
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    let mid = ai.says("how long does shipping take?").await;
    ai.ingest().await;
    ai.clock.advance(25 * 3600).await;
    let drained = ai.reply().await;
    assert_eq!((drained.delivered, drained.failed), (1, 0));
    assert!(
        ai.sent().await.is_empty(),
        "outside the 24-hour window nothing is sent"
    );
    assert!(ai.llm().prompts().is_empty());
    let outcome = ai.outcome(&mid).await;
    assert_eq!(
        (outcome.status, outcome.reason.as_deref()),
        (OutcomeStatus::Skipped, Some("window_closed"))
    );
    assert_eq!(ai.handler.metrics().get("SkippedWindowClosed"), 1);
}

#[tokio::test]
async fn a_reply_that_would_come_later_than_meta_expects_of_bots_is_not_sent() {
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    let mid = ai.says("how long does shipping take?").await;
    ai.ingest().await;
    ai.clock.advance(31).await;
    ai.reply().await;
    assert!(ai.sent().await.is_empty());
    assert_eq!(
        ai.outcome(&mid).await.reason.as_deref(),
        Some("deadline_passed")
    );
}

#[tokio::test]
async fn long_replies_are_split_at_sentences_within_1000_bytes_and_never_tagged() {
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    // 14 sentences of ~150 bytes (with multi-byte characters): more than two messages.
    let sentence = "Unsere Wanderschuhe sind wasserdicht, atmungsaktiv und über Jahre haltbar — perfekt für nasse Herbsttage in den Bergen und für lange Touren.";
    let long = vec![sentence; 14].join(" ");
    ai.llm().set_reply(&long);
    ai.says("tell me everything about your boots").await;
    ai.settle().await;
    let sent = ai.sent().await;
    assert_eq!(sent.len(), 2, "split into the two parts the default allows");
    for m in &sent {
        let text = m["text"].as_str().unwrap();
        assert!(text.len() <= 1000, "{} bytes", text.len());
        assert!(text.ends_with('.'), "each part ends a sentence");
        assert!(
            m.get("tag").is_none(),
            "never HUMAN_AGENT on an automated reply: {m}"
        );
    }
    assert!(long.starts_with(&format!(
        "{} {}",
        sent[0]["text"].as_str().unwrap(),
        sent[1]["text"].as_str().unwrap()
    )));
    let stored: Vec<_> = ai
        .messages()
        .await
        .into_iter()
        .filter(|m| m.author == Author::Ai)
        .collect();
    assert_eq!(stored.len(), 2, "both parts are in the inbox");
}

#[tokio::test]
async fn shorten_setting_sends_one_message_cut_at_a_sentence() {
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    let settings = AiSettings {
        long_replies: LongReplies::Shorten,
        ..ai_settings(AiMode::Auto)
    };
    ai.p.store
        .put_ai_settings(&ai.tenant, &ai.account_id(), &settings)
        .await
        .unwrap();
    ai.llm()
        .set_reply(&vec!["This sentence is exactly fifty bytes long, really."; 30].join(" "));
    ai.says("tell me a story").await;
    ai.settle().await;
    let texts = ai.sent_texts().await;
    assert_eq!(texts.len(), 1);
    assert!(
        texts[0].len() <= 1000 && texts[0].ends_with("really."),
        "{} bytes",
        texts[0].len()
    );
}

// ------------------------------------------------------------------------------------
// At most once

#[tokio::test]
async fn a_duplicate_delivery_of_the_same_job_sends_one_message() {
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    let mid = ai.says("how long does shipping take?").await;
    ai.ingest().await;
    let body = ai.job_body(&mid).await;

    // The same job twice in one batch (the sample's shape), then once more later, then
    // the queue's own copy: four deliveries.
    let twice = sample_event("duplicate-delivery.json", &[&body, &body]);
    let response = sqs_batch(&*ai.handler, &twice).await;
    assert!(response.batch_item_failures.is_empty());
    let again = sample_event("single-job.json", &[&body]);
    assert!(
        sqs_batch(&*ai.handler, &again)
            .await
            .batch_item_failures
            .is_empty()
    );
    ai.reply().await;

    assert_eq!(ai.sent().await.len(), 1, "one message at the simulator");
    assert_eq!(ai.outcome(&mid).await.status, OutcomeStatus::Sent);
    let ai_messages = ai
        .messages()
        .await
        .into_iter()
        .filter(|m| m.author == Author::Ai)
        .count();
    assert_eq!(ai_messages, 1);
}

#[tokio::test]
async fn a_retry_after_a_crash_past_the_claim_never_sends() {
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    let mid = ai.says("how long does shipping take?").await;
    ai.ingest().await;
    let job: AiReplyJob = serde_json::from_str(&ai.job_body(&mid).await).unwrap();
    // An earlier delivery took the claim and stopped (the process died) before it
    // recorded anything.
    let ttl = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    assert!(
        ai.p.store
            .claim_action(&ai.tenant, &relay::replies::ai::claim_name(&job), ttl)
            .await
            .unwrap()
    );

    let drained = ai.reply().await;
    assert_eq!(drained.failed, 0, "nothing to retry");
    assert!(
        ai.sent().await.is_empty(),
        "the message may have gone out: never resend"
    );
    let outcome = ai.outcome(&mid).await;
    assert_eq!(outcome.status, OutcomeStatus::SendUnknown);
    assert_eq!(ai.handler.metrics().get("SendUnknown"), 1);
}

#[tokio::test]
async fn a_redelivery_after_a_crash_past_the_send_finishes_the_inbox_and_audit_only() {
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    let mid = ai.says("how long does shipping take?").await;
    ai.ingest().await;
    let job: AiReplyJob = serde_json::from_str(&ai.job_body(&mid).await).unwrap();
    // An earlier delivery sent the reply, recorded that, and died before storing the
    // message and auditing it.
    let ttl = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    assert!(
        ai.p.store
            .claim_action(&ai.tenant, &relay::replies::ai::claim_name(&job), ttl)
            .await
            .unwrap()
    );
    let mut sent = relay::ai::ReplyOutcome::new(
        job.tenant_id.clone(),
        job.account_id.clone(),
        job.customer_id.clone(),
        job.mid.clone(),
        job.timestamp_ms,
        OutcomeStatus::Sent,
        1,
    );
    sent.model = Some(MODEL.into());
    sent.latency_ms = Some(42);
    sent.sent_mids = vec!["aWdfZAG1faXRlbToxOkNyYXNoZWQ".into()];
    sent.pending_texts = vec![REPLY.into()];
    sent.record_pending = true;
    ai.p.store.put_reply_outcome(&sent, ttl).await.unwrap();

    let drained = ai.reply().await;
    assert_eq!(drained.failed, 0);
    assert!(ai.sent().await.is_empty(), "nothing is sent again");
    assert!(ai.llm().prompts().is_empty(), "nothing is drafted again");
    let stored: Vec<_> = ai
        .messages()
        .await
        .into_iter()
        .filter(|m| m.author == Author::Ai)
        .collect();
    assert_eq!(stored.len(), 1, "the sent reply is now in the inbox");
    assert_eq!(stored[0].mid.as_str(), "aWdfZAG1faXRlbToxOkNyYXNoZWQ");
    assert_eq!(stored[0].text.as_deref(), Some(REPLY));
    assert_eq!(stored[0].ai.as_ref().unwrap().latency_ms, 42);
    assert_eq!(ai.audit_actions().await, vec!["ai.reply_sent"]);
    let outcome = ai.outcome(&mid).await;
    assert!(!outcome.record_pending && outcome.pending_texts.is_empty());
    // A further redelivery changes nothing.
    let again = sample_event("single-job.json", &[&serde_json::to_string(&job).unwrap()]);
    sqs_batch(&*ai.handler, &again).await;
    assert_eq!(ai.audit_actions().await.len(), 1);
}

#[tokio::test]
async fn settings_and_knowledge_are_validated_and_kept_per_tenant() {
    let ai = Ai::start(AiMode::Auto, Brain::Builtin).await;
    let bad = AiSettings {
        history_messages: 0,
        ..AiSettings::default()
    };
    assert!(matches!(
        ai.p.store
            .put_ai_settings(&ai.tenant, &ai.account_id(), &bad)
            .await,
        Err(relay::store::ai::AiStoreError::InvalidSettings(_))
    ));
    let globex = tenant("globex");
    let foreign = acme_knowledge().remove(0);
    assert!(matches!(
        ai.p.store.put_knowledge(&globex, &foreign).await,
        Err(relay::store::ai::AiStoreError::WrongTenant { .. })
    ));
    let id = relay::ai::EntryId::parse("shipping").unwrap();
    assert!(
        ai.p.store
            .get_knowledge(&globex, &id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        ai.p.store
            .get_knowledge(&ai.tenant, &id)
            .await
            .unwrap()
            .is_some()
    );
    ai.p.store.delete_knowledge(&ai.tenant, &id).await.unwrap();
    assert!(
        ai.p.store
            .get_knowledge(&ai.tenant, &id)
            .await
            .unwrap()
            .is_none()
    );
    let left = ai.p.store.all_knowledge(&ai.tenant, 100).await.unwrap();
    assert_eq!(left.len(), acme_knowledge().len() - 1);
    assert!(
        ai.p.store
            .all_knowledge(&globex, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_send_that_fails_after_the_claim_is_recorded_and_not_repeated() {
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    let mid = ai.says("how long does shipping take?").await;
    ai.ingest().await;
    let body = ai.job_body(&mid).await;
    sim_post(
        &ai.p,
        "/_sim/faults",
        json!({"kind": "server_error", "count": 1, "path_contains": "/messages", "method": "POST"}),
    )
    .await;
    let drained = ai.reply().await;
    assert_eq!(
        drained.failed, 0,
        "not retried: the send may have reached Meta"
    );
    let outcome = ai.outcome(&mid).await;
    assert_eq!(outcome.status, OutcomeStatus::SendFailed);
    assert_eq!(outcome.reason.as_deref(), Some("send_transient_failure"));

    // Even a redelivery does not send.
    sqs_batch(&*ai.handler, &sample_event("single-job.json", &[&body])).await;
    assert!(ai.sent().await.is_empty());
    assert!(
        ai.audit_actions()
            .await
            .contains(&"ai.reply_failed".to_owned())
    );
}

// ------------------------------------------------------------------------------------
// LLM failures

#[tokio::test]
async fn llm_server_errors_send_nothing_record_the_failure_and_retry_the_job() {
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    // Both attempts of the first delivery fail; the retried job succeeds.
    ai.llm().then(2, Answer::Status(503));
    let mid = ai.says("how long does shipping take?").await;
    ai.ingest().await;
    let drained = ai.reply().await;
    assert_eq!(drained.failed, 1, "the first delivery is reported failed");
    assert_eq!(drained.delivered, 1, "the redelivery succeeds");
    assert_eq!(
        ai.llm().prompts().len(),
        3,
        "two attempts, then one on redelivery"
    );
    assert_eq!(
        ai.sent_texts().await,
        vec![REPLY],
        "exactly one reply in the end"
    );
    let outcome = ai.outcome(&mid).await;
    assert_eq!(outcome.status, OutcomeStatus::Sent);
    assert_eq!(outcome.failures.len(), 1);
    assert_eq!(outcome.failures[0].reason, "llm_server_error");
}

#[tokio::test]
async fn llm_timeouts_send_nothing_and_the_job_gives_up_after_its_attempts() {
    let settings = Settings {
        replies: relay::replies::ai::Settings {
            max_job_attempts: 2,
            ..Default::default()
        },
        ..Settings::default()
    };
    let ai = Ai::with(AiMode::Auto, Brain::Llm, settings, |c| {
        c.timeout = Duration::from_millis(300);
        c.max_attempts = 1;
    })
    .await;
    ai.llm().then(10, Answer::Hang(Duration::from_secs(3)));
    let mid = ai.says("how long does shipping take?").await;
    ai.ingest().await;
    let drained = ai.reply().await;
    assert_eq!(
        (drained.failed, drained.delivered),
        (1, 1),
        "retried once, then done"
    );
    assert!(ai.sent().await.is_empty(), "no reply without a draft");
    let outcome = ai.outcome(&mid).await;
    assert_eq!(outcome.status, OutcomeStatus::Failed);
    assert_eq!(
        outcome
            .failures
            .iter()
            .map(|f| f.reason.as_str())
            .collect::<Vec<_>>(),
        ["llm_timeout", "llm_timeout"]
    );
}

#[tokio::test]
async fn a_failed_job_is_made_visible_again_for_a_retry_within_the_deadline() {
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    ai.llm().then(2, Answer::Status(500));
    let mid = ai.says("how long does shipping take?").await;
    ai.ingest().await;
    let drafter = Arc::new(
        OpenAiCompatible::new(LlmConfig::new(
            reqwest::Url::parse(ai.llm().base_url()).unwrap(),
            MODEL,
            Some(Secret::new(LLM_KEY)),
        ))
        .unwrap(),
    );
    let requeue = relay::replies::Requeue {
        sqs: ai.p.aws.sqs(),
        queue_url: ai.p.aws.queues.replies.clone(),
    };
    let settings = Settings {
        replies: relay::replies::ai::Settings {
            retry_delay: Duration::ZERO,
            ..Default::default()
        },
        ..Settings::default()
    };
    let handler = build_handler(&ai.p, &ai.clock, drafter, settings, Some(requeue));
    // Receive as Lambda does, with a long visibility timeout.
    let sqs = ai.p.aws.sqs();
    let received = sqs
        .receive_message()
        .queue_url(&ai.p.aws.queues.replies)
        .visibility_timeout(120)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1);
    let mut event: SqsEvent = serde_json::from_str(
        &std::fs::read_to_string(events_dir().join("ai-reply/single-job.json")).unwrap(),
    )
    .unwrap();
    event.records[0].body = received[0].body.clone();
    event.records[0].receipt_handle = received[0].receipt_handle.clone();
    event.records[0].message_id = received[0].message_id.clone();
    let response = sqs_batch(&handler, &event).await;
    assert_eq!(response.batch_item_failures.len(), 1);
    // Without the handler's help the job would stay hidden for 120 s.
    let again = sqs
        .receive_message()
        .queue_url(&ai.p.aws.queues.replies)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(again.len(), 1, "the failed job is visible again at once");
    assert!(again[0].body.as_deref().unwrap().contains(&mid));
}

// ------------------------------------------------------------------------------------
// Grounding

#[tokio::test]
async fn the_prompt_holds_the_relevant_knowledge_and_nothing_irrelevant_or_of_another_tenant() {
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    // Another tenant, with its own account, knowledge and customers on the same table.
    let globex = tenant("globex");
    let globex_account = Ai::connect(&ai.p, &globex, "globex_store").await;
    let globex_id = AccountId::parse(&globex_account).unwrap();
    let globex_settings = AiSettings {
        business_name: Some("Globex Store".into()),
        persona: "Globex's formal assistant.".into(),
        rules: vec![],
        ..ai_settings(AiMode::Auto)
    };
    ai.p.store
        .put_ai_settings(&globex, &globex_id, &globex_settings)
        .await
        .unwrap();
    ai.p.store
        .put_knowledge(
            &globex,
            &entry(
                &globex,
                "shipping",
                faq(
                    "How long does shipping take?",
                    "Globex ships by drone overnight, code GLX-SECRET.",
                ),
                &["delivery"],
            ),
        )
        .await
        .unwrap();
    ai.p.store
        .put_knowledge(
            &globex,
            &entry(
                &globex,
                "persona-note",
                faq("shipping to Munich", "GLX-ONLY shipping fact"),
                &[],
            ),
        )
        .await
        .unwrap();
    // Globex's customer talks to Globex first (their data is in the table).
    ai.p
        .deliver(json!({"kind": "dm", "account_id": globex_account, "customer_id": "5500000000000999",
                        "mid": "aireply.globex.1", "text": "globex customer secret question about shipping"}))
        .await;

    ai.says("How long does shipping take to Munich?").await;
    ai.settle().await;

    let prompts = ai.llm().prompts();
    let acme_prompt = prompts
        .iter()
        .find(|p| p.text().contains("to Munich?"))
        .expect("Acme's customer was answered");
    let system = acme_prompt.system();
    assert!(
        system.contains(SHIPPING_ANSWER),
        "the relevant entry is in the prompt"
    );
    assert!(system.contains("Acme Shop") && system.contains("Cheerful outdoor-gear expert"));
    assert!(system.contains("Never promise a delivery date."));
    assert!(
        !system.contains("Monday to Saturday"),
        "the opening hours are irrelevant here"
    );
    assert!(!system.contains("Trail Boot"), "no product was asked about");
    let whole = acme_prompt.text();
    for other in ["GLX-SECRET", "GLX-ONLY", "Globex", "globex customer secret"] {
        assert!(
            !whole.contains(other),
            "another tenant's data ({other}) reached the prompt"
        );
    }
    let outcomes = ai.outcomes().await;
    assert_eq!(
        outcomes[0]
            .knowledge_ids
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()[0],
        "shipping"
    );
    // And Globex's own prompt holds nothing of Acme's.
    let globex_prompt = prompts
        .iter()
        .find(|p| p.text().contains("globex customer secret"))
        .expect("Globex's customer was answered too");
    assert!(!globex_prompt.text().contains(SHIPPING_ANSWER));
    assert!(!globex_prompt.text().contains("Acme"));
}

#[tokio::test]
async fn the_builtin_drafter_answers_from_knowledge_and_links_the_product() {
    let ai = Ai::start(AiMode::Auto, Brain::Builtin).await;
    ai.says("Is the BOOT-42 in stock?").await;
    ai.settle().await;
    assert_eq!(
        ai.sent_texts().await,
        vec![
            "Trail Boot (SKU BOOT-42) costs 89.90 EUR and is in stock. https://acme.example/p/trail-boot"
        ]
    );
    let linked =
        ai.p.store
            .list_conversation_products(&ai.tenant, &ai.account_id(), &customer(CUSTOMER))
            .await
            .unwrap();
    assert_eq!(linked.len(), 1);
    assert_eq!(linked[0].entry_id.as_str(), "trail-boot");
    let reply = ai
        .messages()
        .await
        .into_iter()
        .find(|m| m.author == Author::Ai)
        .unwrap();
    assert_eq!(reply.ai.unwrap().model, relay::ai::BUILTIN_MODEL);
}

#[tokio::test]
async fn the_builtin_drafter_hands_over_what_it_cannot_answer() {
    let ai = Ai::start(AiMode::Auto, Brain::Builtin).await;
    let bus = bus_to_queue(&ai.p, "EscalationCreated").await;
    let mid = ai.says("Can you engrave my initials on a gift card?").await;
    ai.settle().await;
    assert_eq!(
        ai.sent_texts().await,
        vec![relay::ai::settings::DEFAULT_HANDOFF_MESSAGE],
        "a person will follow up"
    );
    let conversation = ai.conversation().await;
    assert!(conversation.paused);
    assert_eq!(
        conversation.paused_reason.as_deref(),
        Some("ai_cannot_help")
    );
    let events = bus_events(&ai.p, &bus).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["detail"]["reason"], "ai_cannot_help");
    assert_eq!(ai.outcome(&mid).await.status, OutcomeStatus::Escalated);
}

// ------------------------------------------------------------------------------------
// Escalation

#[tokio::test]
async fn asking_for_a_person_pauses_raises_the_event_and_sends_the_handoff_once() {
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    let bus = bus_to_queue(&ai.p, "EscalationCreated").await;
    let mid = ai.says("this is useless, I want to talk to a HUMAN").await;
    ai.ingest().await;
    let body = ai.job_body(&mid).await;
    ai.reply().await;

    let conversation = ai.conversation().await;
    assert!(conversation.paused, "the conversation is paused");
    assert_eq!(
        conversation.paused_reason.as_deref(),
        Some("customer_asked_for_human")
    );
    let events = bus_events(&ai.p, &bus).await;
    assert_eq!(events.len(), 1, "one EscalationCreated");
    let detail = &events[0]["detail"];
    assert_eq!(detail["tenant_id"], "acme");
    assert_eq!(detail["account_id"], ai.account.as_str());
    assert_eq!(detail["reason"], "customer_asked_for_human");
    assert_eq!(detail["customer"], customer(CUSTOMER).fingerprint());
    assert!(
        !events[0].to_string().contains(CUSTOMER),
        "the event carries no customer id"
    );
    assert!(
        ai.llm().prompts().is_empty(),
        "no LLM call for an escalation"
    );
    assert_eq!(
        ai.sent_texts().await,
        vec![relay::ai::settings::DEFAULT_HANDOFF_MESSAGE]
    );
    let handoff = ai
        .messages()
        .await
        .into_iter()
        .find(|m| m.author == Author::Ai)
        .unwrap();
    assert_eq!(handoff.ai.unwrap().model, relay::replies::ai::HANDOFF_MODEL);
    assert!(
        ai.audit_actions()
            .await
            .contains(&"conversation.paused".to_owned())
    );

    // Redelivered: no second event, no second hand-off.
    sqs_batch(&*ai.handler, &sample_event("single-job.json", &[&body])).await;
    ai.says("hello??").await;
    ai.settle().await;
    assert_eq!(
        ai.sent().await.len(),
        1,
        "the hand-off is sent once; then silence"
    );
    assert_eq!(bus_events(&ai.p, &bus).await.len(), 1);
}

#[tokio::test]
async fn a_late_request_for_a_person_still_reaches_the_team_without_a_handoff() {
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    let bus = bus_to_queue(&ai.p, "EscalationCreated").await;
    let mid = ai.says("please let me talk to a real person").await;
    ai.ingest().await;
    ai.clock.advance(40).await;
    ai.reply().await;
    assert!(ai.conversation().await.paused, "the team takes over");
    assert_eq!(bus_events(&ai.p, &bus).await.len(), 1);
    assert!(ai.sent().await.is_empty(), "a late hand-off is not sent");
    assert_eq!(ai.outcome(&mid).await.status, OutcomeStatus::Escalated);
}

#[tokio::test]
async fn escalation_words_work_in_several_languages_and_the_tenants_own() {
    for (text, via) in [
        ("İnsanla konuşmak istiyorum lütfen", "turkish"),
        ("Kann ich bitte mit einem Menschen sprechen?", "german"),
        ("Quiero hablar con un agente", "spanish"),
        ("Can I speak to the chef?", "tenant word"),
    ] {
        let ai = Ai::start(AiMode::Shadow, Brain::Llm).await;
        ai.says(text).await;
        ai.settle().await;
        let conversation = ai.conversation().await;
        assert!(conversation.paused, "{via}: {text:?} should hand over");
        assert!(
            ai.sent().await.is_empty(),
            "{via}: shadow mode sends no hand-off"
        );
        assert!(ai.llm().prompts().is_empty(), "{via}");
    }
}

#[tokio::test]
async fn the_model_saying_it_cannot_help_hands_the_conversation_over() {
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    let bus = bus_to_queue(&ai.p, "EscalationCreated").await;
    ai.llm().set_reply("[[HANDOFF]]");
    let mid = ai
        .says("my package arrived damaged and I need a refund")
        .await;
    ai.settle().await;
    assert!(ai.conversation().await.paused);
    assert_eq!(
        bus_events(&ai.p, &bus).await[0]["detail"]["reason"],
        "ai_cannot_help"
    );
    assert_eq!(
        ai.sent_texts().await,
        vec![relay::ai::settings::DEFAULT_HANDOFF_MESSAGE]
    );
    let outcome = ai.outcome(&mid).await;
    assert_eq!(
        (outcome.status, outcome.model.as_deref()),
        (OutcomeStatus::Escalated, Some(MODEL))
    );
}

#[tokio::test]
async fn metas_echo_of_an_ai_reply_stays_the_ais_message() {
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    // Meta echoes every message the account sends back through the webhook.
    sim_post(
        &ai.p,
        "/_sim/webhooks/config",
        json!({"echo_sent_messages": true}),
    )
    .await;
    ai.says("How long does shipping take?").await;
    assert_eq!(ai.settle().await.failed, 0);
    assert_eq!(ai.sent_texts().await, vec![REPLY]);
    // The echo reaches ingest after the reply was stored.
    ai.ingest().await;
    let outbound: Vec<_> = ai
        .messages()
        .await
        .into_iter()
        .filter(|m| m.direction == Direction::Outbound)
        .collect();
    assert_eq!(outbound.len(), 1, "one message per mid: {outbound:?}");
    assert_eq!(outbound[0].author, Author::Ai);
    assert!(outbound[0].ai.is_some());
    assert!(
        !ai.conversation().await.paused,
        "an echo is not a person taking over"
    );
}
