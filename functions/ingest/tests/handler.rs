//! The ingest handler on the `events/ingest` samples, with in-memory ports: what SQS sees
//! (which records fail) and what each record leaves in the inbox.

use std::path::PathBuf;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use ingest::{Ingest, Settings};
use relay::ids::{AccountId, CustomerId, TenantId};
use relay::inbox::ingest::Ingestion;
use relay::inbox::ingest::memory::Memory;
use relay::lambda::sqs_batch;
use relay::store::accounts::Channel;
use relay::store::usage::Counter;

const IG: &str = "17841400000000001";
const PAGE: &str = "104000000000001";

fn acme() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn account(id: &str) -> AccountId {
    AccountId::parse(id).unwrap()
}

fn handler() -> Ingest<Memory> {
    let ingestion = Ingestion::in_memory(Settings::default());
    ingestion
        .store
        .connect(&acme(), Channel::Instagram, &account(IG));
    ingestion
        .store
        .connect(&acme(), Channel::Page, &account(PAGE));
    Ingest::new(ingestion)
}

fn sample(name: &str) -> SqsEvent {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../events/ingest/{name}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is an SQS event: {e}"))
}

fn failed(response: &SqsBatchResponse) -> Vec<&str> {
    let failures = response.batch_item_failures.iter();
    failures.map(|f| f.item_identifier.as_str()).collect()
}

fn messages_of(handler: &Ingest<Memory>, customer: &str) -> usize {
    let customer = CustomerId::parse(customer).unwrap();
    let store = &handler.ingestion.store;
    store.messages(&acme(), &account(IG), &customer).len()
}

#[tokio::test]
async fn a_body_that_is_no_webhook_entry_fails_alone_and_the_rest_of_the_batch_is_stored() {
    let handler = handler();
    let poison = sample("poison.json");
    let response = sqs_batch(&handler, &poison).await;
    let middle = poison.records[1].message_id.as_deref().unwrap();
    assert_eq!(
        failed(&response),
        [middle],
        "only the poison record is redelivered"
    );
    assert_eq!(messages_of(&handler, "1234567890123456"), 1);
    let comments = handler.ingestion.store.comments(&acme(), &account(IG));
    assert_eq!(
        comments.len(),
        1,
        "the comment after the poison record is lost"
    );
    assert_eq!(handler.ingestion.metrics().get("IngestFailures"), 1);

    let entry = ingest::queued_entry(relay::lambda::Delivery::of(&poison.records[1]));
    let error = entry.expect_err("the poison body is refused").to_string();
    assert!(error.starts_with("entry is not a webhook entry"), "{error}");
}

#[tokio::test]
async fn a_record_without_a_body_is_redelivered() {
    let handler = handler();
    let mut event = sample("instagram-message-text.json");
    event.records[0].body = None;
    let response = sqs_batch(&handler, &event).await;
    assert_eq!(failed(&response).len(), 1);
    let error = ingest::queued_entry(relay::lambda::Delivery::of(&event.records[0]))
        .expect_err("no body, no entry");
    assert!(matches!(error, ingest::DeliveryError::NoBody));
}

#[tokio::test]
async fn a_batch_delivered_twice_is_stored_and_counted_once() {
    let handler = handler();
    let batch = sample("batch.json");
    for _ in 0..2 {
        let response = sqs_batch(&handler, &batch).await;
        assert_eq!(failed(&response), Vec::<&str>::new());
    }
    let store = &handler.ingestion.store;
    assert_eq!(
        messages_of(&handler, "1234567890123456"),
        3,
        "text, echo, attachment"
    );
    let usage = store.usage(&acme());
    assert_eq!(usage.get(&Counter::MessagesReceived), Some(&3));
    assert_eq!(usage.get(&Counter::MessagesSent), Some(&2));
    assert_eq!(usage.get(&Counter::CommentsReceived), Some(&1));
    let replies = handler.ingestion.replies.jobs::<relay::jobs::AiReplyJob>();
    assert_eq!(replies.len(), 3, "every customer message is answered once");
}

#[tokio::test]
async fn the_receive_count_decides_when_a_change_without_its_message_becomes_an_orphan() {
    let handler = handler();
    let mut read = sample("instagram-read.json");
    let first = sqs_batch(&handler, &read).await;
    assert_eq!(failed(&first).len(), 1, "the read waits for its message");
    let last = handler.ingestion.settings.orphan_receives.to_string();
    let attributes = &mut read.records[0].attributes;
    attributes.insert("ApproximateReceiveCount".into(), last);
    let response = sqs_batch(&handler, &read).await;
    assert_eq!(failed(&response), Vec::<&str>::new());
    let raw = handler.ingestion.store.raw_events(&acme(), &account(IG));
    let kinds: Vec<_> = raw.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["orphan:read"]);
}
