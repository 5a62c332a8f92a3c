//! The Lambda adapter for SQS batches: one span per message with its receive count,
//! bounded concurrency within the batch, and partial batch failures, so a message that
//! fails is redelivered alone and the rest of the batch is acknowledged.

use std::fmt::Display;
use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use tracing::{Instrument, info_span, warn};

/// One message of a batch, as a handler sees it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub message: &'a SqsMessage,
    /// How often SQS handed this message out, this time included.
    pub receives: u32,
}

impl<'a> Delivery<'a> {
    pub fn of(message: &'a SqsMessage) -> Self {
        let receives = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        Self { message, receives }
    }

    pub fn body(&self) -> Option<&'a str> {
        self.message.body.as_deref()
    }
}

/// Run `handle` over every message of `event`, at most `concurrency` at once; the
/// response names the messages that failed.
pub async fn sqs_batch<'a, F, Fut, E>(
    event: &'a SqsEvent,
    concurrency: usize,
    handle: F,
) -> SqsBatchResponse
where
    F: Fn(Delivery<'a>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let failures: Vec<BatchItemFailure> = futures::stream::iter(&event.records)
        .map(|message| {
            let delivery = Delivery::of(message);
            let id = message.message_id.clone().unwrap_or_default();
            let span = info_span!("sqs_message", message_id = %id, receives = delivery.receives);
            let run = handle(delivery);
            async move {
                match run.instrument(span.clone()).await {
                    Ok(()) => None,
                    Err(error) => {
                        span.in_scope(|| warn!(%error, "message will be redelivered"));
                        let mut failure = BatchItemFailure::default();
                        failure.item_identifier = id;
                        Some(failure)
                    }
                }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|f| async move { f })
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m.attributes
            .insert("ApproximateReceiveCount".into(), "3".into());
        m
    }

    #[tokio::test]
    async fn only_the_failed_messages_are_reported() {
        let mut event = SqsEvent::default();
        event.records = vec![message("a", "ok"), message("b", "bad"), message("c", "ok")];
        let response = sqs_batch(&event, 2, |d| async move {
            assert_eq!(d.receives, 3);
            if d.body() == Some("bad") {
                Err("refused")
            } else {
                Ok(())
            }
        })
        .await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["b"]);
    }
}
