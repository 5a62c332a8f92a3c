//! Jobs one function leaves for another on SQS: the message formats and the sender.
//!
//! Jobs carry ids only; the consumer reads the current state from the store, so a job
//! that arrives late or twice acts on the truth, not on a stale copy.

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, CommentId, CustomerId, MessageId, TenantId};

/// Consider an automated reply to a customer's message (queued with the account's
/// debounce as delay; acts only if the message is still the latest inbound).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiReplyJob {
    pub tenant_id: TenantId,
    pub account_id: AccountId,
    pub customer_id: CustomerId,
    pub mid: MessageId,
    /// Event time of the message (ms).
    pub timestamp_ms: i64,
}

/// Moderate a comment: the automatic pass for a new comment (ingest), or an action a
/// person asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModerationJob {
    pub tenant_id: TenantId,
    pub account_id: AccountId,
    pub comment_id: CommentId,
    #[serde(default)]
    pub action: crate::moderation::ModerationAction,
}

/// Take a scheduled post one step further (the dispatcher queues it to fire at its
/// second; the worker re-queues it to wait for Meta or for quota).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishJob {
    pub tenant_id: TenantId,
    pub post_id: crate::ids::PostId,
}

/// Refresh one account's profile and insights now (a person asked, or a read found the
/// cache past its TTL). Rate limited per account before it is queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncJob {
    pub tenant_id: TenantId,
    pub account_id: AccountId,
}

/// Why a job could not be queued.
#[derive(Debug, thiserror::Error)]
#[error("SQS SendMessage failed: {0}")]
pub struct JobError(String);

/// Sends jobs to one queue. Cheap to clone.
#[derive(Clone, Debug)]
pub struct JobQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl JobQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    /// Queue a job, invisible to consumers for `delay_seconds` (SQS allows 0..=900).
    pub async fn send<J: Serialize>(&self, job: &J, delay_seconds: u32) -> Result<(), JobError> {
        let body = serde_json::to_string(job).map_err(|e| JobError(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .delay_seconds(delay_seconds.min(900) as i32)
            .send()
            .await
            .map_err(|e| JobError(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

/// Queueing a job: what a workflow needs from a queue ([`JobQueue`] in production).
pub trait Enqueue<J>: Send + Sync {
    /// Queue `job`, invisible to consumers for `delay_seconds` (SQS allows 0..=900).
    fn enqueue(
        &self,
        job: &J,
        delay_seconds: u32,
    ) -> impl Future<Output = Result<(), JobError>> + Send;
}

impl<J: Serialize + Sync> Enqueue<J> for JobQueue {
    fn enqueue(
        &self,
        job: &J,
        delay_seconds: u32,
    ) -> impl Future<Output = Result<(), JobError>> + Send {
        self.send(job, delay_seconds)
    }
}

/// An in-memory queue for tests: keeps every job it is given, as JSON with its delay,
/// and refuses the next sends when told to (an SQS outage).
#[cfg(any(test, feature = "doubles"))]
#[derive(Debug, Default)]
pub struct MemoryQueue {
    sent: std::sync::Mutex<Vec<(serde_json::Value, u32)>>,
    refusals: std::sync::atomic::AtomicUsize,
}

#[cfg(any(test, feature = "doubles"))]
impl MemoryQueue {
    /// The jobs queued so far, in order, with their delays.
    pub fn jobs<J: serde::de::DeserializeOwned>(&self) -> Vec<(J, u32)> {
        self.sent
            .lock()
            .expect("no panic while holding the queue")
            .iter()
            .map(|(job, delay)| {
                let job =
                    serde_json::from_value(job.clone()).expect("queued jobs are of this type");
                (job, *delay)
            })
            .collect()
    }

    /// The next `n` sends fail.
    pub fn refuse_next(&self, n: usize) {
        self.refusals.store(n, std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(any(test, feature = "doubles"))]
impl<J: Serialize + Sync> Enqueue<J> for MemoryQueue {
    async fn enqueue(&self, job: &J, delay_seconds: u32) -> Result<(), JobError> {
        use std::sync::atomic::Ordering;
        let refused = self
            .refusals
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refused {
            return Err(JobError("the queue is unavailable".into()));
        }
        let job = serde_json::to_value(job).map_err(|e| JobError(e.to_string()))?;
        self.sent
            .lock()
            .expect("no panic while holding the queue")
            .push((job, delay_seconds.min(900)));
        Ok(())
    }
}
