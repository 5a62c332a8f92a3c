//! The SQS event source mappings of template.yaml, played against moto's SQS by
//! [`relay_local_aws::sqs_source`]: each mapping polls its queue and invokes its
//! function through cargo-lambda with every batch, logging what became of it.
//! Lambda's batch rules (partial failures, whole-batch failures, retries) are those of
//! that module; failed records return after `RELAY_STACK_RETRY_SECONDS` instead of the
//! queue's visibility timeout, and SQS's RedrivePolicy moves a record to its
//! dead-letter queue once it was received `maxReceiveCount` times.

use std::time::Duration;

use relay_local_aws::sqs_source::{EventSourceMapping, Outcome};
use tokio::sync::watch;

use crate::invoke::{COLD_START_ALLOWANCE, Lambda};
use crate::logs::Logs;

/// One event source mapping and the function it invokes.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub queue_logical_id: String,
    pub binary: String,
    pub function_timeout: Duration,
    pub source: EventSourceMapping,
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
    let source = &mapping.source;
    logs.line(
        "sqs",
        &format!(
            "polling {label} (batch {}, window {} s{})",
            source.batch_size,
            source.batching_window.as_secs(),
            if source.report_failures {
                ", ReportBatchItemFailures"
            } else {
                ""
            }
        ),
    );
    let mut backoff = Duration::from_millis(200);
    while !*stop.borrow() {
        let batch = tokio::select! {
            batch = source.receive(&sqs) => batch,
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
        logs.line(
            "sqs",
            &format!("{label}: invoking with a batch of {}", messages.len()),
        );
        let (lambda, binary) = (&lambda, &mapping.binary);
        let timeout = mapping.function_timeout + COLD_START_ALLOWANCE;
        let delivered = source
            .deliver(&sqs, &messages, |event| async move {
                lambda.invoke(binary, &event, timeout).await
            })
            .await;
        for error in &delivered.errors {
            logs.line("sqs", &format!("{label}: {error}"));
        }
        let retry = source.retry_after.as_secs();
        let summary = match &delivered.outcome {
            Outcome::AllSucceeded => format!("{label}: {} done", delivered.done),
            Outcome::SomeFailed(_) => format!(
                "{label}: {} done, {} reported failed, retried in {retry} s",
                delivered.done, delivered.retried
            ),
            Outcome::BatchFailed(reason) => format!(
                "{label}: batch of {} failed ({reason}), retried in {retry} s",
                delivered.retried
            ),
        };
        logs.line("sqs", &summary);
    }
}
