//! The SQS event source mappings of template.yaml, played against moto's SQS: each
//! mapping polls its queue, gathers records up to `BatchSize` within
//! `MaximumBatchingWindowInSeconds`, invokes the function with an SQS event through
//! cargo-lambda, deletes what succeeded and returns the rest to the queue.
//!
//! Batch results follow Lambda's rules for `ReportBatchItemFailures`: an empty or null
//! `batchItemFailures` (or an empty response) is complete success; the listed ids are
//! retried; an invalid response or an identifier that is empty or not in the batch fails
//! the whole batch. Without `ReportBatchItemFailures` any success deletes every record.
//! A function error or no answer (the function was killed) fails the whole batch.
//!
//! Failed records are received again after `retry_seconds` (Lambda leaves them hidden
//! for the queue's VisibilityTimeout, minutes here; the local stack shortens that wait
//! so retries are seen at once). The queue's RedrivePolicy, applied by SQS itself, moves
//! a record to its dead-letter queue once it was received `maxReceiveCount` times.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::invoke::{COLD_START_ALLOWANCE, Invoked, Lambda};
use crate::logs::Logs;

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
                                    "binaryValue": v.binary_value().map(|b| {
                                        use base64::Engine;
                                        base64::engine::general_purpose::STANDARD.encode(b.as_ref())
                                    }),
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

/// One event source mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub queue_logical_id: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub binary: String,
    pub batch_size: usize,
    pub batching_window: Duration,
    pub report_failures: bool,
    pub function_timeout: Duration,
    pub retry_after: Duration,
}

/// Polls `mapping` until `stop` turns true.
pub async fn run(
    mapping: Mapping,
    sqs: aws_sdk_sqs::Client,
    lambda: Lambda,
    logs: Logs,
    mut stop: watch::Receiver<bool>,
) {
    let label = format!("{} -> {}", mapping.queue_logical_id, mapping.binary);
    logs.line(
        "sqs",
        &format!(
            "polling {label} (batch {}, window {} s{})",
            mapping.batch_size,
            mapping.batching_window.as_secs(),
            if mapping.report_failures {
                ", ReportBatchItemFailures"
            } else {
                ""
            }
        ),
    );
    let mut backoff = Duration::from_millis(200);
    while !*stop.borrow() {
        let batch = tokio::select! {
            batch = gather(&mapping, &sqs) => batch,
            _ = stop.changed() => break,
        };
        let messages = match batch {
            Ok(messages) => {
                backoff = Duration::from_millis(200);
                messages
            }
            Err(error) => {
                logs.line("sqs", &format!("{label}: ReceiveMessage failed: {error}"));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        deliver(&mapping, &sqs, &lambda, &logs, &label, &messages).await;
    }
}

/// Receives up to `batch_size` records, waiting for more within the batching window
/// once the first arrived.
async fn gather(mapping: &Mapping, sqs: &aws_sdk_sqs::Client) -> Result<Vec<Message>, String> {
    let mut messages: Vec<Message> = Vec::new();
    let mut window_ends: Option<tokio::time::Instant> = None;
    loop {
        let wanted = (mapping.batch_size - messages.len()).min(10);
        let wait = match window_ends {
            // Long-poll for the first record (SQS answers as soon as one arrives);
            // short polls inside the window.
            None => 5,
            Some(_) => 0,
        };
        let out = sqs
            .receive_message()
            .queue_url(&mapping.queue_url)
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
        if messages.is_empty() {
            return Ok(messages);
        }
        if messages.len() >= mapping.batch_size || mapping.batching_window.is_zero() {
            return Ok(messages);
        }
        let ends = *window_ends
            .get_or_insert_with(|| tokio::time::Instant::now() + mapping.batching_window);
        if tokio::time::Instant::now() >= ends {
            return Ok(messages);
        }
        if got == 0 {
            tokio::time::sleep(Duration::from_millis(100).min(ends - tokio::time::Instant::now()))
                .await;
        }
    }
}

async fn deliver(
    mapping: &Mapping,
    sqs: &aws_sdk_sqs::Client,
    lambda: &Lambda,
    logs: &Logs,
    label: &str,
    messages: &[Message],
) {
    let ids: Vec<String> = messages
        .iter()
        .map(|m| m.message_id().unwrap_or_default().to_owned())
        .collect();
    logs.line(
        "sqs",
        &format!("{label}: invoking with a batch of {}", messages.len()),
    );
    let event = sqs_event(
        messages,
        &mapping.queue_arn,
        relay_local_aws::local_aws::REGION,
    );
    let body = serde_json::to_vec(&event).expect("a JSON value always serialises");
    let invoked = lambda
        .invoke(
            &mapping.binary,
            &body,
            mapping.function_timeout + COLD_START_ALLOWANCE,
        )
        .await;
    let outcome = outcome(&invoked, &ids, mapping.report_failures);
    let failed: BTreeSet<String> = match &outcome {
        Outcome::AllSucceeded => BTreeSet::new(),
        Outcome::SomeFailed(failed) => failed.clone(),
        Outcome::BatchFailed(_) => ids.iter().cloned().collect(),
    };
    let (done, retry): (Vec<&Message>, Vec<&Message>) = messages
        .iter()
        .partition(|m| !failed.contains(m.message_id().unwrap_or_default()));
    if let Err(error) = delete(sqs, &mapping.queue_url, &done).await {
        logs.line(
            "sqs",
            &format!("{label}: DeleteMessageBatch failed: {error}"),
        );
    }
    let retry_seconds = i32::try_from(mapping.retry_after.as_secs()).unwrap_or(i32::MAX);
    for m in &retry {
        let changed = sqs
            .change_message_visibility()
            .queue_url(&mapping.queue_url)
            .receipt_handle(m.receipt_handle().unwrap_or_default())
            .visibility_timeout(retry_seconds)
            .send()
            .await;
        if let Err(e) = changed {
            logs.line(
                "sqs",
                &format!(
                    "{label}: ChangeMessageVisibility failed (the record returns after the queue's visibility timeout): {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                ),
            );
        }
    }
    let summary = match &outcome {
        Outcome::AllSucceeded => format!("{label}: {} done", done.len()),
        Outcome::SomeFailed(_) => format!(
            "{label}: {} done, {} reported failed, retried in {} s",
            done.len(),
            retry.len(),
            mapping.retry_after.as_secs()
        ),
        Outcome::BatchFailed(reason) => format!(
            "{label}: batch of {} failed ({reason}), retried in {} s",
            retry.len(),
            mapping.retry_after.as_secs()
        ),
    };
    logs.line("sqs", &summary);
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
}
