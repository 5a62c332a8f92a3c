//! The SQS event source mapping, played against a real (moto) queue: records are
//! received in batches of up to `BatchSize`, gathered for at most
//! `MaximumBatchingWindowInSeconds` once the first arrived, handed to the function as
//! Lambda's SQS event, then deleted when they succeeded and returned to the queue when
//! they failed. The local stack runs one per mapping of template.yaml; the tests drain a
//! queue through one with a handler called in process.
//!
//! Batch results follow Lambda's rules for `ReportBatchItemFailures`: an empty or null
//! `batchItemFailures` (or an empty response) is complete success; the listed ids are
//! retried; an invalid response or an identifier that is empty or not in the batch fails
//! the whole batch. Without `ReportBatchItemFailures` any success deletes every record.
//! A function error or no answer (the function was killed) fails the whole batch.
//!
//! Failed records are received again after `retry_after` (Lambda leaves them hidden for
//! the queue's VisibilityTimeout, minutes; locally the wait is shortened so retries are
//! seen at once). Receive counts and redrive are SQS's own: every receive raises the
//! record's `ApproximateReceiveCount`, which the event carries, and the queue's
//! RedrivePolicy moves a record to its dead-letter queue once it was received
//! `maxReceiveCount` times.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::lambda::Invoked;
use crate::local_aws::{ACCOUNT_ID, REGION};
use crate::template::SqsMapping;

/// What one batch's result means for its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delete every record.
    AllSucceeded,
    /// Delete all but these message ids, which go back to the queue.
    SomeFailed(BTreeSet<String>),
    /// Every record goes back to the queue.
    BatchFailed(String),
}

/// Interprets an invocation's result for a batch of `ids` (Lambda's rules, see the
/// module documentation).
pub fn outcome(invoked: &Invoked, ids: &[String], report_failures: bool) -> Outcome {
    let result = match invoked {
        Invoked::Result(result) => result,
        Invoked::FunctionError(error) => {
            return Outcome::BatchFailed(format!("function error: {error}"));
        }
        Invoked::NoAnswer(reason) => return Outcome::BatchFailed(reason.clone()),
    };
    if !report_failures {
        return Outcome::AllSucceeded;
    }
    let text = String::from_utf8_lossy(result);
    if text.trim().is_empty() {
        return Outcome::AllSucceeded;
    }
    let Ok(value) = serde_json::from_str::<Value>(&text) else {
        return Outcome::BatchFailed("the response is not JSON".into());
    };
    let failures = match &value {
        Value::Null => return Outcome::AllSucceeded,
        Value::Object(object) => match object.get("batchItemFailures") {
            None | Some(Value::Null) => return Outcome::AllSucceeded,
            Some(Value::Array(items)) => items,
            Some(_) => return Outcome::BatchFailed("batchItemFailures is not a list".into()),
        },
        _ => return Outcome::BatchFailed("the response is not a JSON object".into()),
    };
    let mut failed = BTreeSet::new();
    for item in failures {
        match item.get("itemIdentifier").and_then(Value::as_str) {
            Some(id) if !id.is_empty() && ids.iter().any(|known| known == id) => {
                failed.insert(id.to_owned());
            }
            Some(id) if !id.is_empty() => {
                return Outcome::BatchFailed(format!("itemIdentifier {id} is not in the batch"));
            }
            _ => return Outcome::BatchFailed("an itemIdentifier is missing or empty".into()),
        }
    }
    if failed.is_empty() {
        Outcome::AllSucceeded
    } else {
        Outcome::SomeFailed(failed)
    }
}

/// The SQS event Lambda delivers for `messages` of the queue `queue_arn`.
pub fn sqs_event(messages: &[Message], queue_arn: &str, region: &str) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: HashMap<String, String> = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                        .collect()
                })
                .unwrap_or_default();
            let message_attributes: serde_json::Map<String, Value> = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                json!({
                                    "stringValue": v.string_value(),
                                    "binaryValue": v.binary_value().map(|b| B64.encode(b.as_ref())),
                                    "stringListValues": v.string_list_values(),
                                    "binaryListValues": [],
                                    "dataType": v.data_type(),
                                }),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.md5_of_body(),
                "md5OfMessageAttributes": m.md5_of_message_attributes(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The ARN of the queue at `url` (`.../<account>/<name>`, as SQS and moto write them).
pub fn queue_arn_of(url: &str) -> String {
    let mut parts = url.trim_end_matches('/').rsplit('/');
    let name = parts.next().unwrap_or_default();
    let account = parts
        .next()
        .filter(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or(ACCOUNT_ID);
    format!("arn:aws:sqs:{REGION}:{account}:{name}")
}

/// One event source mapping: a queue and how its records are batched and settled.
#[derive(Debug, Clone)]
pub struct EventSourceMapping {
    pub queue_url: String,
    pub queue_arn: String,
    /// Most records per batch (`BatchSize`).
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds`.
    pub batching_window: Duration,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub report_failures: bool,
    /// How long a failed record stays hidden before it is received again.
    pub retry_after: Duration,
    /// How long the first receive of a batch waits for a record (SQS long polling, at
    /// most 20 s); zero answers at once, so a drain ends when the queue is empty.
    pub wait_for_first: Duration,
}

/// What handing one batch to the function did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub outcome: Outcome,
    /// Records deleted.
    pub done: usize,
    /// Records returned to the queue.
    pub retried: usize,
    /// SQS calls that failed while settling the batch (a record whose deletion failed
    /// is received again; one whose visibility was not changed returns after the
    /// queue's visibility timeout).
    pub errors: Vec<String>,
}

/// What a drain did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    pub batches: usize,
    pub delivered: usize,
    pub failed: usize,
}

impl EventSourceMapping {
    /// The mapping template.yaml declares for the queue at `queue_url`, polled with long
    /// polling; failed records come back after `retry_after`.
    pub fn of(
        spec: &SqsMapping,
        queue_url: impl Into<String>,
        queue_arn: impl Into<String>,
        retry_after: Duration,
    ) -> EventSourceMapping {
        EventSourceMapping {
            queue_url: queue_url.into(),
            queue_arn: queue_arn.into(),
            batch_size: usize::try_from(spec.batch_size).unwrap_or(10),
            batching_window: Duration::from_secs(u64::from(spec.batching_window_seconds)),
            report_failures: spec.report_batch_item_failures,
            retry_after,
            wait_for_first: Duration::from_secs(5),
        }
    }

    /// A mapping that drains the queue at `queue_url` as fast as it can: batches of up
    /// to 10 without a batching window, reported item failures, and failed records
    /// visible again at once, so redelivery is observable without waiting.
    pub fn draining(queue_url: impl Into<String>) -> EventSourceMapping {
        let queue_url = queue_url.into();
        EventSourceMapping {
            queue_arn: queue_arn_of(&queue_url),
            queue_url,
            batch_size: 10,
            batching_window: Duration::ZERO,
            report_failures: true,
            retry_after: Duration::ZERO,
            wait_for_first: Duration::ZERO,
        }
    }

    /// Receives up to `batch_size` records, waiting for more within the batching window
    /// once the first arrived. Empty when no record came within `wait_for_first`.
    pub async fn receive(&self, sqs: &aws_sdk_sqs::Client) -> Result<Vec<Message>, String> {
        let mut messages: Vec<Message> = Vec::new();
        let mut window_ends: Option<tokio::time::Instant> = None;
        let first_wait = i32::try_from(self.wait_for_first.as_secs().min(20)).unwrap_or(20);
        loop {
            let wanted = (self.batch_size - messages.len()).min(10);
            // Long-poll for the first record (SQS answers as soon as one arrives);
            // short polls inside the window.
            let wait = if window_ends.is_none() { first_wait } else { 0 };
            let out = sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(i32::try_from(wanted).expect("at most 10"))
                .wait_time_seconds(wait)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
            let received = out.messages.unwrap_or_default();
            let got = received.len();
            messages.extend(received);
            if messages.is_empty()
                || messages.len() >= self.batch_size
                || self.batching_window.is_zero()
            {
                return Ok(messages);
            }
            let ends = *window_ends
                .get_or_insert_with(|| tokio::time::Instant::now() + self.batching_window);
            if tokio::time::Instant::now() >= ends {
                return Ok(messages);
            }
            if got == 0 {
                tokio::time::sleep(
                    Duration::from_millis(100).min(ends - tokio::time::Instant::now()),
                )
                .await;
            }
        }
    }

    /// Hands `messages` to the function as one SQS event (`invoke` gets the event as
    /// JSON), then settles them as the result says.
    pub async fn deliver<F, Fut>(
        &self,
        sqs: &aws_sdk_sqs::Client,
        messages: &[Message],
        invoke: F,
    ) -> Delivered
    where
        F: FnOnce(Vec<u8>) -> Fut,
        Fut: Future<Output = Invoked>,
    {
        let ids: Vec<String> = messages
            .iter()
            .map(|m| m.message_id().unwrap_or_default().to_owned())
            .collect();
        let event = sqs_event(messages, &self.queue_arn, REGION);
        let invoked =
            invoke(serde_json::to_vec(&event).expect("a JSON value always serialises")).await;
        let outcome = outcome(&invoked, &ids, self.report_failures);
        let failed: BTreeSet<String> = match &outcome {
            Outcome::AllSucceeded => BTreeSet::new(),
            Outcome::SomeFailed(failed) => failed.clone(),
            Outcome::BatchFailed(_) => ids.iter().cloned().collect(),
        };
        let (done, retry): (Vec<&Message>, Vec<&Message>) = messages
            .iter()
            .partition(|m| !failed.contains(m.message_id().unwrap_or_default()));
        let mut errors = Vec::new();
        if let Err(error) = delete(sqs, &self.queue_url, &done).await {
            errors.push(format!("DeleteMessageBatch failed: {error}"));
        }
        let retry_seconds = i32::try_from(self.retry_after.as_secs()).unwrap_or(i32::MAX);
        for m in &retry {
            let changed = sqs
                .change_message_visibility()
                .queue_url(&self.queue_url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .visibility_timeout(retry_seconds)
                .send()
                .await;
            if let Err(e) = changed {
                errors.push(format!(
                    "ChangeMessageVisibility failed (the record returns after the queue's visibility timeout): {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                ));
            }
        }
        Delivered {
            outcome,
            done: done.len(),
            retried: retry.len(),
            errors,
        }
    }

    /// Receives and delivers batches until the queue is empty or `max_batches` were
    /// delivered.
    pub async fn drain<F, Fut>(
        &self,
        sqs: &aws_sdk_sqs::Client,
        max_batches: usize,
        invoke: F,
    ) -> Result<Drained, String>
    where
        F: Fn(Vec<u8>) -> Fut,
        Fut: Future<Output = Invoked>,
    {
        let mut drained = Drained::default();
        for _ in 0..max_batches {
            let messages = self.receive(sqs).await?;
            if messages.is_empty() {
                break;
            }
            let delivered = self.deliver(sqs, &messages, &invoke).await;
            if let Some(error) = delivered.errors.first() {
                return Err(error.clone());
            }
            drained.batches += 1;
            drained.delivered += delivered.done;
            drained.failed += delivered.retried;
        }
        Ok(drained)
    }
}

async fn delete(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    messages: &[&Message],
) -> Result<(), String> {
    for chunk in messages.chunks(10) {
        let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                    .expect("id and receipt handle are set")
            })
            .collect();
        let out = sqs
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        if !out.failed().is_empty() {
            return Err(format!("{} deletions refused", out.failed().len()));
        }
    }
    Ok(())
}

/// Every message body now visible on the queue at `queue_url`. The messages stay on
/// the queue: they are hidden while being read and made visible again at the end (each
/// read counts as a receive, as it does in SQS).
pub async fn peek_bodies(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> Result<Vec<String>, String> {
    let mut bodies = Vec::new();
    let mut handles = Vec::new();
    let failed = |e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string();
    for _ in 0..100 {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .send()
            .await
            .map_err(failed)?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            bodies.push(m.body.unwrap_or_default());
            handles.push(m.receipt_handle.unwrap_or_default());
        }
    }
    for handle in handles {
        sqs.change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(handle)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
    }
    Ok(bodies)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Vec<String> {
        vec!["a".into(), "b".into(), "c".into()]
    }

    fn result(text: &str) -> Invoked {
        Invoked::Result(text.as_bytes().to_vec())
    }

    #[test]
    fn lambda_counts_these_as_complete_success() {
        for text in [
            "",
            "null",
            "{}",
            r#"{"batchItemFailures":[]}"#,
            r#"{"batchItemFailures":null}"#,
        ] {
            assert_eq!(
                outcome(&result(text), &ids(), true),
                Outcome::AllSucceeded,
                "{text:?}"
            );
        }
    }

    #[test]
    fn reported_failures_are_retried_alone() {
        let out = outcome(
            &result(r#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#),
            &ids(),
            true,
        );
        assert_eq!(out, Outcome::SomeFailed(["b".to_owned()].into()));
    }

    #[test]
    fn lambda_counts_these_as_complete_failure() {
        for text in [
            "not json",
            "[1]",
            r#"{"batchItemFailures":[{"itemIdentifier":""}]}"#,
            r#"{"batchItemFailures":[{"itemIdentifier":null}]}"#,
            r#"{"batchItemFailures":[{"id":"a"}]}"#,
            r#"{"batchItemFailures":[{"itemIdentifier":"zzz"}]}"#,
            r#"{"batchItemFailures":"a"}"#,
        ] {
            assert!(
                matches!(
                    outcome(&result(text), &ids(), true),
                    Outcome::BatchFailed(_)
                ),
                "{text:?}"
            );
        }
        assert!(matches!(
            outcome(&Invoked::FunctionError("boom".into()), &ids(), true),
            Outcome::BatchFailed(_)
        ));
        assert!(matches!(
            outcome(&Invoked::NoAnswer("connection reset".into()), &ids(), false),
            Outcome::BatchFailed(_)
        ));
    }

    #[test]
    fn without_report_batch_item_failures_any_result_is_success() {
        assert_eq!(
            outcome(
                &result(r#"{"batchItemFailures":[{"itemIdentifier":"b"}]}"#),
                &ids(),
                false
            ),
            Outcome::AllSucceeded
        );
    }

    #[test]
    fn events_have_the_shape_aws_lambda_events_reads() {
        let message = Message::builder()
            .message_id("m-1")
            .receipt_handle("rh-1")
            .body(r#"{"x":1}"#)
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "2")
            .build();
        let event = sqs_event(
            &[message],
            "arn:aws:sqs:us-east-1:123456789012:q",
            "us-east-1",
        );
        let parsed: aws_lambda_events::event::sqs::SqsEvent =
            serde_json::from_value(event).unwrap();
        let record = &parsed.records[0];
        assert_eq!(record.message_id.as_deref(), Some("m-1"));
        assert_eq!(record.receipt_handle.as_deref(), Some("rh-1"));
        assert_eq!(record.body.as_deref(), Some(r#"{"x":1}"#));
        assert_eq!(record.attributes["ApproximateReceiveCount"], "2");
        assert_eq!(
            record.event_source_arn.as_deref(),
            Some("arn:aws:sqs:us-east-1:123456789012:q")
        );
    }

    #[test]
    fn queue_arns_follow_from_their_urls() {
        assert_eq!(
            queue_arn_of("http://127.0.0.1:5000/123456789012/t-abc-InboundQueue"),
            "arn:aws:sqs:us-east-1:123456789012:t-abc-InboundQueue"
        );
        assert_eq!(
            queue_arn_of("https://sqs.us-east-1.amazonaws.com/000000000042/q/"),
            "arn:aws:sqs:us-east-1:000000000042:q"
        );
    }
}
