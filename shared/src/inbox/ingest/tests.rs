//! Ingestion on the `events/ingest` samples, with in-memory ports.

use std::path::PathBuf;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};

use super::memory::Memory;
use super::*;
use crate::ids::CustomerId;
use crate::inbox::{CommentStatus, Direction, MessageKind, StoredMessage};
use crate::jobs::{AiReplyJob, ModerationJob};
use crate::webhook::parse_queue_message;

const IG: &str = "17841400000000001";
const IG_2: &str = "17841400000000002";
const PAGE: &str = "104000000000001";
const CUSTOMER: &str = "1234567890123456";
const TEXT_MID: &str = "aWdfbWVzc2FnZV9pdGVtOjE6SUdNZXNzYWdlOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxODA5NjIzOTcwMDAwMQ";
const ECHO_MID: &str = "aWdfbWVzc2FnZV9pdGVtOjE6SUdNZXNzYWdlOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxODA5NjIzOTcwMDAwMg";

fn acme() -> TenantId {
    TenantId::parse("acme").expect("a valid tenant id")
}

fn account(id: &str) -> AccountId {
    AccountId::parse(id).expect("sample account ids are digits")
}

fn customer() -> CustomerId {
    CustomerId::parse(CUSTOMER).expect("sample customer ids are digits")
}

/// Ingestion in memory, with the samples' three accounts connected to acme.
fn ingestion() -> Ingestion<Memory> {
    let ingestion = Ingestion::in_memory(Settings::default());
    for (channel, id) in [
        (Channel::Instagram, IG),
        (Channel::Instagram, IG_2),
        (Channel::Page, PAGE),
    ] {
        ingestion.store.connect(&acme(), channel, &account(id));
    }
    ingestion
}

fn samples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events/ingest")
}

fn sample(name: &str) -> SqsEvent {
    let path = samples_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is an SQS event: {e}"))
}

/// The record as a command, delivered for the `receives`th time.
fn entry(record: &SqsMessage, receives: u32) -> QueuedEntry {
    let body = record.body.as_deref().expect("sample records have bodies");
    QueuedEntry {
        entry: parse_queue_message(body).expect("sample bodies are webhook entries"),
        receives,
        sent_at_ms: record
            .attributes
            .get("SentTimestamp")
            .map(|t| t.parse().unwrap()),
    }
}

/// The sample's records as commands.
fn entries(event: &SqsEvent, receives: u32) -> Vec<QueuedEntry> {
    event.records.iter().map(|r| entry(r, receives)).collect()
}

/// Deliver every record of the sample, in order; the outcome of each.
async fn deliver(
    ingestion: &Ingestion<Memory>,
    name: &str,
    receives: u32,
) -> Vec<Result<(), IngestError>> {
    let mut outcomes = Vec::new();
    for entry in entries(&sample(name), receives) {
        outcomes.push(ingestion.ingest(entry).await);
    }
    outcomes
}

async fn deliver_ok(ingestion: &Ingestion<Memory>, name: &str) {
    for outcome in deliver(ingestion, name, 1).await {
        outcome.unwrap_or_else(|e| panic!("{name} was not ingested: {e}"));
    }
}

fn conversation_messages(ingestion: &Ingestion<Memory>) -> Vec<StoredMessage> {
    ingestion.store.messages(&acme(), &account(IG), &customer())
}

fn conversation(ingestion: &Ingestion<Memory>) -> crate::inbox::Conversation {
    let store = &ingestion.store;
    let found = store.conversation(&acme(), &account(IG), &customer());
    found.expect("the conversation exists")
}

fn reply_jobs(ingestion: &Ingestion<Memory>) -> Vec<(AiReplyJob, u32)> {
    ingestion.replies.jobs()
}

#[tokio::test]
async fn a_redelivered_message_is_stored_once_answered_once_and_counted_once() {
    let ingestion = ingestion();
    deliver_ok(&ingestion, "instagram-message-text").await;
    deliver_ok(&ingestion, "instagram-message-text").await;
    ingestion.write_tally().await;

    let messages = conversation_messages(&ingestion);
    assert_eq!(messages.len(), 1, "DM stored twice after redelivery");
    let message = &messages[0];
    assert_eq!(message.text.as_deref(), Some("Hi! Do you ship to Berlin?"));
    assert_eq!(
        (message.direction, message.author),
        (Direction::Inbound, Author::Customer)
    );
    assert!(message.jobs_enqueued);
    let jobs = reply_jobs(&ingestion);
    assert_eq!(jobs.len(), 1, "the customer would get two replies");
    assert_eq!(jobs[0].0.mid.as_str(), TEXT_MID);
    assert_eq!(jobs[0].1, 8, "the installation's debounce delays the job");
    let conversation = conversation(&ingestion);
    assert_eq!(
        (conversation.message_count, conversation.unread_count),
        (1, 1)
    );
    assert_eq!(
        ingestion
            .store
            .usage(&acme())
            .get(&Counter::MessagesReceived),
        Some(&1),
        "the redelivery was billed"
    );
    assert_eq!(ingestion.metrics().get("EventsDeduplicated"), 1);
}

#[tokio::test]
async fn an_echo_that_arrives_before_the_customers_message_is_listed_after_it() {
    let ingestion = ingestion();
    deliver_ok(&ingestion, "instagram-message-echo").await;
    deliver_ok(&ingestion, "instagram-message-text").await;
    ingestion.write_tally().await;

    let messages = conversation_messages(&ingestion);
    let order: Vec<_> = messages
        .iter()
        .map(|m| (m.mid.as_str(), m.direction, m.author))
        .collect();
    assert_eq!(
        order,
        [
            (TEXT_MID, Direction::Inbound, Author::Customer),
            (ECHO_MID, Direction::Outbound, Author::Human),
        ],
        "the conversation reads in event time, not arrival order"
    );
    let conversation = conversation(&ingestion);
    assert_eq!(conversation.last_activity_at, 1_790_000_000_002);
    assert_eq!(conversation.last_inbound_at, Some(1_790_000_000_001));
    assert_eq!(
        reply_jobs(&ingestion).len(),
        1,
        "only the customer is answered"
    );
    let usage = ingestion.store.usage(&acme());
    assert_eq!(usage.get(&Counter::MessagesReceived), Some(&1));
    assert_eq!(usage.get(&Counter::MessagesSent), Some(&1));
}

#[tokio::test]
async fn a_reaction_before_its_message_waits_for_it_then_applies_in_event_order() {
    let ingestion = ingestion();
    let early = deliver(&ingestion, "instagram-reaction", 1).await;
    assert!(
        matches!(
            early[..],
            [Err(IngestError::MessageNotYetStored("reaction"))]
        ),
        "{early:?}"
    );
    assert!(conversation_messages(&ingestion).is_empty());
    assert!(
        ingestion.store.raw_events(&acme(), &account(IG)).is_empty(),
        "a reaction that may still find its message is not an orphan yet"
    );

    deliver_ok(&ingestion, "instagram-message-echo").await;
    let again = deliver(&ingestion, "instagram-reaction", 2).await;
    assert!(matches!(again[..], [Ok(())]), "{again:?}");
    let reacted = ingestion
        .store
        .message(&acme(), &account(IG), ECHO_MID)
        .expect("the echo is stored");
    let love = reacted
        .reactions
        .get("customer")
        .expect("the customer reacted");
    assert_eq!(love.reaction.as_deref(), Some("love"));
    assert_eq!(love.emoji.as_deref(), Some("\u{2764}\u{fe0f}"));

    // The unreact is newer; the reaction delivered once more after it is not.
    deliver_ok(&ingestion, "instagram-unreact").await;
    deliver_ok(&ingestion, "instagram-reaction").await;
    let message = ingestion
        .store
        .message(&acme(), &account(IG), ECHO_MID)
        .expect("the echo is stored");
    let reaction = message
        .reactions
        .get("customer")
        .expect("the unreact is kept");
    assert_eq!(
        (reaction.reaction.as_deref(), reaction.at),
        (None, 1_790_000_000_010),
        "a late redelivery brought the reaction back"
    );
    assert_eq!(ingestion.metrics().get("ChangesStale"), 1);
}

#[tokio::test]
async fn a_reaction_kept_as_an_orphan_still_lands_on_its_message_when_that_comes_late() {
    let ingestion = ingestion();
    let last = ingestion.settings.orphan_receives;
    let outcome = deliver(&ingestion, "instagram-reaction", last).await;
    assert!(matches!(outcome[..], [Ok(())]), "{outcome:?}");
    assert_eq!(ingestion.metrics().get("OrphanEvents"), 1);

    deliver_ok(&ingestion, "instagram-message-echo").await;
    let message = ingestion
        .store
        .message(&acme(), &account(IG), ECHO_MID)
        .expect("the echo is stored");
    let love = message
        .reactions
        .get("customer")
        .expect("the reaction that came first is on the message");
    assert_eq!(love.reaction.as_deref(), Some("love"));
}

#[tokio::test]
async fn a_change_whose_message_never_comes_is_kept_as_an_orphan_on_its_last_receive() {
    let ingestion = ingestion();
    let last = ingestion.settings.orphan_receives;
    let outcome = deliver(&ingestion, "instagram-read", last).await;
    assert!(matches!(outcome[..], [Ok(())]), "{outcome:?}");
    let raw = ingestion.store.raw_events(&acme(), &account(IG));
    let kinds: Vec<_> = raw.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["orphan:read"]);
    let detail: serde_json::Value = serde_json::from_str(&raw[0].raw).unwrap();
    assert_eq!(detail["detail"]["mid"], ECHO_MID);
    assert_eq!(ingestion.metrics().get("OrphanEvents"), 1);
}

#[tokio::test]
async fn malformed_events_are_kept_raw_and_the_rest_of_their_entry_is_stored() {
    let ingestion = ingestion();
    let rejected = entries(&sample("instagram-batch-with-malformed-event"), 1)[0]
        .entry
        .rejected
        .len();
    assert!(rejected > 0, "the sample holds events that do not parse");
    deliver_ok(&ingestion, "instagram-batch-with-malformed-event").await;
    deliver_ok(&ingestion, "instagram-batch-with-malformed-event").await;

    let texts: Vec<_> = conversation_messages(&ingestion)
        .into_iter()
        .map(|m| m.text.unwrap_or_default())
        .collect();
    assert_eq!(texts, ["Good one before", "Good one after"]);
    let raw = ingestion.store.raw_events(&acme(), &account(IG));
    assert_eq!(raw.len(), rejected, "each bad event is kept once: {raw:?}");
    assert!(raw.iter().all(|e| e.kind == "rejected"));
    assert!(
        raw.iter()
            .any(|e| e.raw.contains("private words of a bad event")),
        "the bad event is kept as Meta sent it"
    );
    assert_eq!(
        ingestion.metrics().get("EventsRejected"),
        2 * rejected as u64
    );
}

#[tokio::test]
async fn an_ellipsis_echo_pauses_the_conversation_escalates_and_audits_once() {
    let ingestion = ingestion();
    deliver_ok(&ingestion, "instagram-message-text").await;
    deliver_ok(&ingestion, "instagram-message-echo-ellipsis").await;
    deliver_ok(&ingestion, "instagram-message-echo-ellipsis").await;

    let conversation = conversation(&ingestion);
    assert!(
        conversation.paused,
        "the AI keeps answering after a takeover"
    );
    assert_eq!(
        conversation.paused_reason.as_deref(),
        Some("human_takeover")
    );
    let events = ingestion.bus.events();
    assert_eq!(events.len(), 1, "one escalation per takeover: {events:?}");
    let (kind, detail) = &events[0];
    assert_eq!(*kind, "EscalationCreated");
    assert_eq!(detail["customer"], customer().fingerprint());
    assert!(
        !detail.to_string().contains(CUSTOMER),
        "the event names the customer"
    );
    let audit = ingestion.audit.records(&acme());
    let actions: Vec<_> = audit.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, ["conversation.paused"]);
    assert_eq!(ingestion.metrics().get("HumanTakeovers"), 1);
}

#[tokio::test]
async fn a_queue_outage_loses_no_message_and_its_redelivery_queues_the_job_once() {
    let ingestion = ingestion();
    ingestion.replies.refuse_next(1);
    let outcome = deliver(&ingestion, "instagram-message-text", 1).await;
    assert!(
        matches!(outcome[..], [Err(IngestError::Job(_))]),
        "{outcome:?}"
    );
    let stored = conversation_messages(&ingestion);
    assert_eq!(stored.len(), 1, "the message is kept while its job waits");
    assert!(!stored[0].jobs_enqueued);
    assert!(reply_jobs(&ingestion).is_empty());

    deliver_ok(&ingestion, "instagram-message-text").await;
    deliver_ok(&ingestion, "instagram-message-text").await;
    assert_eq!(
        reply_jobs(&ingestion).len(),
        1,
        "the message is answered once"
    );
    assert_eq!(conversation_messages(&ingestion).len(), 1);
}

#[tokio::test]
async fn a_comment_is_queued_for_moderation_until_it_was_moderated() {
    let ingestion = ingestion();
    deliver_ok(&ingestion, "instagram-comment").await;
    let comments = ingestion.store.comments(&acme(), &account(IG));
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].status, CommentStatus::New);
    assert_eq!(comments[0].from_id, Some(customer()));
    let jobs: Vec<(ModerationJob, u32)> = ingestion.moderation.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].0.comment_id, comments[0].comment_id);

    // Redelivered before moderation got to it (a crash after the store): queued again.
    deliver_ok(&ingestion, "instagram-comment").await;
    assert_eq!(ingestion.moderation.jobs::<ModerationJob>().len(), 2);
    ingestion
        .store
        .edit_comment(&acme(), &account(IG), &comments[0].comment_id, |c| {
            c.moderated_at = Some(1)
        });
    deliver_ok(&ingestion, "instagram-comment").await;
    assert_eq!(
        ingestion.moderation.jobs::<ModerationJob>().len(),
        2,
        "a moderated comment is moderated again"
    );
    assert_eq!(ingestion.store.comments(&acme(), &account(IG)).len(), 1);
}

#[tokio::test]
async fn an_entry_for_an_account_nobody_connected_is_dropped() {
    let ingestion = Ingestion::in_memory(Settings::default());
    deliver_ok(&ingestion, "instagram-message-text").await;
    assert!(conversation_messages(&ingestion).is_empty());
    assert!(reply_jobs(&ingestion).is_empty());
    assert_eq!(ingestion.metrics().get("EventsForUnknownAccount"), 1);
}

#[tokio::test]
async fn an_accounts_own_debounce_delays_its_ai_jobs_and_the_last_webhook_is_noted() {
    let ingestion = ingestion();
    ingestion.store.set_debounce(&acme(), &account(IG), 30);
    deliver_ok(&ingestion, "instagram-message-text").await;
    assert_eq!(reply_jobs(&ingestion)[0].1, 30);
    assert_eq!(
        ingestion.store.webhook_seen(&acme(), &account(IG)),
        Some(1_790_000_001_000),
        "the last webhook is when the queue took it"
    );
}

#[tokio::test]
async fn every_sample_ends_in_the_inbox_as_the_samples_readme_says() {
    let ingestion = ingestion();
    let mut names: Vec<String> = std::fs::read_dir(samples_dir())
        .expect("events/ingest is readable")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|name| name != "poison")
        .collect();
    names.sort();
    // SQS's redelivery: what waits for a message of a later file comes back with its
    // receive count raised.
    let mut pending: Vec<SqsMessage> = Vec::new();
    for name in &names {
        pending.extend(sample(name).records);
    }
    for receive in 1..=ingestion.settings.orphan_receives {
        let mut failed = Vec::new();
        for record in pending {
            if let Err(error) = ingestion.ingest(entry(&record, receive)).await {
                assert!(
                    matches!(error, IngestError::MessageNotYetStored(_)),
                    "only changes wait: {error}"
                );
                failed.push(record);
            }
        }
        pending = failed;
    }
    let bodies: Vec<_> = pending.iter().map(|r| r.body.as_deref()).collect();
    assert!(bodies.is_empty(), "entries never applied: {bodies:?}");

    let unicode = ingestion
        .store
        .message(&acme(), &account(IG), "aWdfbWVzc2FnZV9pdGVtOjE6SUdNZXNzYWdlOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxODA5NjIzOTcwMDAxNw")
        .expect("the unicode sample is stored");
    assert_eq!(
        unicode.text.as_deref(),
        Some("Schöne Grüße aus München, hättet ihr das in Größe M? 😊")
    );
    let deleted = ingestion
        .store
        .message(&acme(), &account(IG), TEXT_MID)
        .expect("a deleted message stays");
    assert!(deleted.deleted && deleted.text.is_none(), "{deleted:?}");
    let unsupported = ingestion
        .store
        .message(&acme(), &account(IG), "aWdfbWVzc2FnZV9pdGVtOjE6SUdNZXNzYWdlOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxODA5NjIzOTcwMDAxNg")
        .expect("the unsupported sample is stored");
    assert_eq!(unsupported.kind, MessageKind::Unsupported);
    let echo = ingestion
        .store
        .message(
            &acme(),
            &account(PAGE),
            "m_Qk9YT2ZmaWNlLW1lc3NhZ2UtaWQt0021_AbCdEfGhIjKlMnOpQrStUvWxYz01234",
        )
        .expect("the Messenger echo is stored");
    let like = echo
        .reactions
        .get("customer")
        .and_then(|r| r.reaction.as_deref());
    assert_eq!(like, Some("like"));
    let conversation = conversation(&ingestion);
    assert!(
        conversation.paused,
        "the ellipsis sample pauses the conversation"
    );
    assert_eq!(ingestion.store.comments(&acme(), &account(IG)).len(), 5);
    let raw_kinds: Vec<String> = ingestion
        .store
        .raw_events(&acme(), &account(IG))
        .into_iter()
        .map(|e| e.kind)
        .collect();
    for kind in [
        "mention",
        "referral",
        "unknown:pass_thread_control",
        "rejected",
    ] {
        assert!(
            raw_kinds.iter().any(|k| k == kind),
            "no {kind} in {raw_kinds:?}"
        );
    }
    let second: Vec<String> = ingestion
        .store
        .raw_events(&acme(), &account(IG_2))
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(second, ["orphan:read"]);
    let second_customer = CustomerId::parse("2345678901234567").unwrap();
    assert_eq!(
        ingestion
            .store
            .messages(&acme(), &account(IG_2), &second_customer)
            .len(),
        2,
        "the rest of that entry is stored once the read is set aside"
    );
}
