//! One test's ingestion pipeline, wired the way it runs in AWS: the Meta simulator's
//! webhook emitter POSTs signed deliveries to the webhook handler (behind an API Gateway
//! v2 front on 127.0.0.1), which archives them and queues every entry on the inbound
//! queue (moto); the [`Dispatcher`] plays the SQS event source mapping and hands batches
//! to the ingest handler, which writes the inbox (moto DynamoDB).
//!
//! Every pipeline owns its tables, queues, bus and simulator, so tests run in parallel
//! without seeing each other. Queries here read what a user of the product would look
//! at: the conversation, its messages, comments, raw events and the job queues.

#![allow(dead_code)] // each test binary uses its own subset of these helpers

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_dynamodb::types::AttributeValue;
use meta_sim::{MetaSim, SimConfig};
use relay::audit::AuditTrail;
use relay::events::EventBus;
use relay::ids::{AccountId, CustomerId, TenantId};
use relay::inbox::ingest::Ingestion;
use relay::inbox::{Conversation, RawEvent, StoredComment, StoredMessage};
use relay::jobs::JobQueue;
use relay::secret::Secret;
use relay::store::accounts::{Account, AccountStatus, Channel, LoginKind};
use relay::store::{Listing, Store};
use relay_tests::TestAws;
use relay_tests::pipeline::{Dispatcher, Drained, HttpHandler, WebhookServer};
use serde_json::{Value, json};

/// The app secret every pipeline's webhook verifies with, and the simulator signs with.
pub const APP_SECRET: &str = "ingestion-test-app-secret";
/// The verify token of the subscription handshake.
pub const VERIFY_TOKEN: &str = "ingestion-test-verify-token";
/// Upper bound of Dispatcher rounds in one drain: far more than any test needs, so a
/// drain that does not finish points at a message that never stops failing.
pub const MAX_ROUNDS: usize = 30;

pub fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("test tenant ids are valid slugs")
}

pub fn account(id: &str) -> AccountId {
    AccountId::parse(id).expect("test account ids are digits")
}

pub fn customer(id: &str) -> CustomerId {
    CustomerId::parse(id).expect("test customer ids are digits")
}

/// What a pipeline is built with; the defaults are production's but for the debounce,
/// which is zero so AI-reply jobs are visible at once.
pub struct Options {
    pub webhook: webhook::Settings,
    pub ingest: ingest::Settings,
    /// Where the webhook's SQS client sends its calls (default: moto), without retries.
    pub webhook_sqs_endpoint: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            webhook: webhook::Settings::default(),
            ingest: ingest::Settings {
                debounce: Duration::ZERO,
                ..ingest::Settings::default()
            },
            webhook_sqs_endpoint: None,
        }
    }
}

pub struct Pipeline {
    pub aws: TestAws,
    pub store: Store,
    pub audit: AuditTrail,
    pub ingest: Arc<ingest::Ingest>,
    pub webhook: Arc<webhook::Webhook>,
    pub server: WebhookServer,
    pub sim: MetaSim,
    pub http: reqwest::Client,
}

impl Pipeline {
    pub async fn start() -> Self {
        Self::with(Options::default()).await
    }

    pub async fn with(options: Options) -> Self {
        let aws = TestAws::provision().await;
        let store = Store::new(aws.dynamodb(), aws.tables.main.clone());
        let audit = AuditTrail::new(aws.dynamodb(), aws.tables.audit.clone());
        let ingest = Arc::new(ingest::Ingest::new(Ingestion::new(
            store.clone(),
            audit.clone(),
            EventBus::new(aws.eventbridge(), aws.event_bus.clone()),
            JobQueue::new(aws.sqs(), aws.queues.replies.clone()),
            JobQueue::new(aws.sqs(), aws.queues.moderation.clone()),
            options.ingest,
        )));
        let sqs = match &options.webhook_sqs_endpoint {
            Some(endpoint) => aws_sdk_sqs::Client::new(
                &aws.sdk
                    .to_builder()
                    .endpoint_url(endpoint)
                    .retry_config(aws_config::retry::RetryConfig::disabled())
                    .build(),
            ),
            None => aws.sqs(),
        };
        let webhook = Arc::new(webhook::Webhook::new(
            sqs,
            aws.queues.inbound.clone(),
            aws.dynamodb(),
            aws.tables.archive.clone(),
            vec![Secret::new(APP_SECRET)],
            Secret::new(VERIFY_TOKEN),
            options.webhook,
        ));
        let server = WebhookServer::start(http_handler(webhook.clone())).await;
        let sim = MetaSim::start(SimConfig {
            webhook_url: Some(format!("{}/meta/webhook", server.url)),
            webhook_secret: APP_SECRET.into(),
            ..SimConfig::default()
        })
        .await
        .expect("the simulator binds a free loopback port");
        Self {
            aws,
            store,
            audit,
            ingest,
            webhook,
            server,
            sim,
            http: reqwest::Client::new(),
        }
    }

    /// Connects `account_id` to `tenant_id`: the account item and its webhook route.
    pub async fn connect(&self, tenant_id: &str, account_id: &str, channel: Channel) {
        let login = match channel {
            Channel::Instagram => LoginKind::InstagramLogin,
            Channel::Page => LoginKind::FacebookLogin,
        };
        self.store
            .put_account(&Account {
                tenant_id: tenant(tenant_id),
                account_id: account(account_id),
                channel,
                login,
                username: Some(format!("shop_{account_id}")),
                name: None,
                meta_user_id: None,
                linked_instagram_id: None,
                status: AccountStatus::Connected,
                token_sealed: None,
                token_issued_at: None,
                token_expires_at: None,
                connected_at: 1_700_000_000,
                updated_at: 1_700_000_000,
            })
            .await
            .expect("the account and its route are stored");
    }

    /// `POST /_sim/webhooks/send`; the simulator's report.
    pub async fn send(&self, request: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/_sim/webhooks/send", self.sim.base_url()))
            .json(&request)
            .send()
            .await
            .expect("the simulator answers");
        let status = response.status();
        let report: Value = response.json().await.expect("the simulator answers JSON");
        assert!(
            status.is_success(),
            "the simulator refused {request}: {report}"
        );
        report
    }

    /// Sends and requires every delivery to be answered 200 on its first attempt.
    pub async fn deliver(&self, request: Value) -> Value {
        let report = self.send(request).await;
        for delivery in deliveries(&report) {
            assert_eq!(
                statuses(delivery),
                vec![200],
                "delivery not accepted at once: {delivery}"
            );
        }
        report
    }

    /// Runs the ingest handler over the inbound queue until it is empty.
    pub async fn drain(&self) -> Drained {
        self.drain_rounds(MAX_ROUNDS).await
    }

    pub async fn drain_rounds(&self, rounds: usize) -> Drained {
        let ingest = &self.ingest;
        self.inbound()
            .drain(rounds, |event: SqsEvent| async move {
                relay::lambda::sqs_batch(&**ingest, &event).await
            })
            .await
    }

    /// Like [`Pipeline::drain`], also returning every batch response.
    pub async fn drain_recording(
        &self,
        rounds: usize,
    ) -> (Drained, Vec<(SqsEvent, SqsBatchResponse)>) {
        let seen = std::sync::Mutex::new(Vec::new());
        let ingest = &self.ingest;
        let seen_ref = &seen;
        let drained = self
            .inbound()
            .drain(rounds, |event: SqsEvent| async move {
                let response = relay::lambda::sqs_batch(&**ingest, &event).await;
                seen_ref
                    .lock()
                    .expect("no panic while holding the lock")
                    .push((event, response.clone()));
                response
            })
            .await;
        (
            drained,
            seen.into_inner().expect("no panic while holding the lock"),
        )
    }

    pub fn inbound(&self) -> Dispatcher {
        Dispatcher::new(self.aws.sqs(), self.aws.queues.inbound.clone())
    }

    /// Bodies now visible on a queue (they stay there).
    pub async fn queue_bodies(&self, url: &str) -> Vec<String> {
        Dispatcher::new(self.aws.sqs(), url).peek_bodies().await
    }

    /// The AI-reply jobs on the replies queue, as JSON.
    pub async fn reply_jobs(&self) -> Vec<Value> {
        json_bodies(self.queue_bodies(&self.aws.queues.replies).await)
    }

    /// The moderation jobs on the moderation queue, as JSON.
    pub async fn moderation_jobs(&self) -> Vec<Value> {
        json_bodies(self.queue_bodies(&self.aws.queues.moderation).await)
    }

    pub async fn messages(&self, t: &str, a: &str, c: &str) -> Vec<StoredMessage> {
        self.store
            .list_messages(&tenant(t), &account(a), &customer(c), &listing())
            .await
            .expect("messages list")
            .items
    }

    pub async fn message(&self, t: &str, a: &str, mid: &str) -> StoredMessage {
        self.store
            .find_message(&tenant(t), &account(a), mid)
            .await
            .expect("message lookup")
            .unwrap_or_else(|| panic!("message {mid} is stored"))
            .1
    }

    pub async fn conversation(&self, t: &str, a: &str, c: &str) -> Option<Conversation> {
        self.store
            .get_conversation(&tenant(t), &account(a), &customer(c))
            .await
            .expect("conversation read")
    }

    pub async fn conversations(&self, t: &str, a: &str) -> Vec<Conversation> {
        self.store
            .list_conversations(&tenant(t), &account(a), &listing())
            .await
            .expect("conversations list")
            .items
    }

    pub async fn raw_events(&self, t: &str, a: &str) -> Vec<RawEvent> {
        self.store
            .list_raw_events(&tenant(t), &account(a), &listing())
            .await
            .expect("raw events list")
            .items
    }

    pub async fn new_comments(&self, t: &str, a: &str) -> Vec<StoredComment> {
        self.store
            .list_comments_by_status(
                &tenant(t),
                &account(a),
                relay::inbox::CommentStatus::New,
                &listing(),
            )
            .await
            .expect("comments list")
            .items
    }

    /// Every item of the archive table.
    pub async fn archive(&self) -> Vec<std::collections::HashMap<String, AttributeValue>> {
        self.aws
            .dynamodb()
            .scan()
            .table_name(&self.aws.tables.archive)
            .consistent_read(true)
            .send()
            .await
            .expect("archive scan")
            .items
            .unwrap_or_default()
    }
}

fn http_handler(webhook: Arc<webhook::Webhook>) -> HttpHandler {
    Arc::new(move |request| {
        let webhook = webhook.clone();
        Box::pin(async move { webhook.handle(request).await })
    })
}

fn listing() -> Listing {
    Listing {
        limit: 500,
        ..Listing::default()
    }
}

fn json_bodies(bodies: Vec<String>) -> Vec<Value> {
    bodies
        .iter()
        .map(|b| serde_json::from_str(b).expect("jobs are JSON"))
        .collect()
}

/// The deliveries of a `/_sim/webhooks/send` report.
pub fn deliveries(report: &Value) -> &Vec<Value> {
    report["deliveries"]
        .as_array()
        .expect("the report lists its deliveries")
}

/// The HTTP status of every attempt of one delivery (0 when no answer came).
pub fn statuses(delivery: &Value) -> Vec<u64> {
    delivery["attempts"]
        .as_array()
        .expect("a delivery lists its attempts")
        .iter()
        .map(|a| a["status"].as_u64().unwrap_or(0))
        .collect()
}

/// The `mid` values of jobs, sorted.
pub fn job_mids(jobs: &[Value]) -> Vec<String> {
    let mut mids: Vec<String> = jobs
        .iter()
        .map(|j| {
            j["mid"]
                .as_str()
                .expect("reply jobs name the mid")
                .to_owned()
        })
        .collect();
    mids.sort();
    mids
}

/// A Messenger (`object: "page"`) envelope with one entry holding `items`.
pub fn page_delivery(page: &str, time_ms: i64, items: Vec<Value>) -> Value {
    json!({
        "object": "page",
        "entry": [{"id": page, "time": time_ms, "messaging": items}],
    })
}

/// An Instagram envelope with one messaging entry.
pub fn instagram_delivery(account: &str, time_ms: i64, items: Vec<Value>) -> Value {
    json!({
        "object": "instagram",
        "entry": [{"id": account, "time": time_ms, "messaging": items}],
    })
}

/// Where the repository's sample events live.
pub fn events_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the repository root")
        .join("events")
}
