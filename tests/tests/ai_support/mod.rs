//! The ai-reply test harness: one test's product (the ingestion pipeline, an Instagram
//! account connected with a simulator token, AI settings and knowledge) and the ai-reply
//! handler wired to moto, the Meta simulator, its clock and a fake LLM. Shared by the
//! ai-reply tests, their log test and the latency bench.

#![allow(dead_code)] // each test binary uses its own subset of these helpers

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::common::{Pipeline, customer, events_dir, tenant};
use ai_reply::{AiReply, Settings};
use aws_lambda_events::event::sqs::SqsEvent;
use relay::accounts::{Account, AccountStatus, Channel, LoginKind, Tokens};
use relay::ai::knowledge::Price;
use relay::ai::{
    AiSettings, Availability, Drafter, EntryId, Faq, KnowledgeEntry, KnowledgeKind, LlmConfig,
    OpenAiCompatible, Product, ReplyOutcome,
};
use relay::crypto::{EncryptionContext, EnvelopeCipher, Purpose};
use relay::events::EventBus;
use relay::ids::{AccountId, TenantId};
use relay::inbox::{AiMode, StoredMessage};
use relay::meta::GraphClient;
use relay::secret::{AccessToken, Secret};
use relay::store::Listing;
use relay_tests::fake_llm::FakeLlm;
use relay_tests::pipeline::{Dispatcher, Drained};
use relay_tests::sim_clock::SimClock;
use serde_json::{Value, json};

pub const CUSTOMER: &str = "5500000000000101";
pub const LLM_KEY: &str = "sk-relay-test-0123456789";
pub const MODEL: &str = "fake-gpt";
pub const REPLY: &str = "We ship within 2 business days, and returns are free for 30 days.";
pub const SHIPPING_ANSWER: &str = "Acme ships every order within 2 business days from Berlin.";

/// Which drafter the handler uses.
pub enum Brain {
    Builtin,
    Llm,
}

/// One test's product: the ingestion pipeline, an Instagram account connected with a
/// real (simulator) token, AI settings and knowledge, and the ai-reply handler.
pub struct Ai {
    pub p: Pipeline,
    pub clock: Arc<SimClock>,
    pub llm: Option<FakeLlm>,
    pub handler: Arc<AiReply>,
    pub account: String,
    pub tenant: TenantId,
    pub next_mid: AtomicU64,
}

pub fn acme() -> TenantId {
    tenant("acme")
}

pub fn entry(tenant: &TenantId, id: &str, kind: KnowledgeKind, tags: &[&str]) -> KnowledgeEntry {
    KnowledgeEntry {
        tenant_id: tenant.clone(),
        entry_id: EntryId::parse(id).expect("test entry ids are slugs"),
        entry: kind,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        updated_at: 0,
    }
}

pub fn faq(q: &str, a: &str) -> KnowledgeKind {
    KnowledgeKind::Faq(Faq {
        question: q.into(),
        answer: a.into(),
    })
}

pub fn acme_knowledge() -> Vec<KnowledgeEntry> {
    let t = acme();
    vec![
        entry(
            &t,
            "shipping",
            faq("How long does shipping take?", SHIPPING_ANSWER),
            &["delivery"],
        ),
        entry(
            &t,
            "returns",
            faq("Can I return an order?", "Returns are free within 30 days."),
            &[],
        ),
        entry(
            &t,
            "hours",
            faq(
                "When is the Berlin store open?",
                "Monday to Saturday, 10:00 to 19:00.",
            ),
            &["opening"],
        ),
        entry(
            &t,
            "trail-boot",
            KnowledgeKind::Product(Product {
                name: "Trail Boot".into(),
                sku: Some("BOOT-42".into()),
                price: Some(Price::parse("89.90", "EUR").expect("valid price")),
                availability: Availability::InStock,
                url: Some("https://acme.example/p/trail-boot".into()),
                description: Some("Waterproof leather hiking boot.".into()),
            }),
            &["shoes"],
        ),
        entry(
            &t,
            "summer-sandal",
            KnowledgeKind::Product(Product {
                name: "Summer Sandal".into(),
                sku: Some("SND-7".into()),
                price: Some(Price::parse("39", "EUR").expect("valid price")),
                availability: Availability::OutOfStock,
                url: None,
                description: None,
            }),
            &["shoes"],
        ),
    ]
}

pub fn ai_settings(mode: AiMode) -> AiSettings {
    AiSettings {
        mode,
        business_name: Some("Acme Shop".into()),
        persona: "Cheerful outdoor-gear expert who keeps answers short.".into(),
        rules: vec!["Never promise a delivery date.".into()],
        escalation_words: vec!["chef".into()],
        ..AiSettings::default()
    }
}

impl Ai {
    pub async fn start(mode: AiMode, brain: Brain) -> Self {
        Self::with(mode, brain, Settings::default(), |_| {}).await
    }

    pub async fn with(
        mode: AiMode,
        brain: Brain,
        settings: Settings,
        tune_llm: impl FnOnce(&mut LlmConfig),
    ) -> Self {
        let p = Pipeline::start().await;
        let clock = SimClock::connect(p.sim.base_url()).await;
        let t = acme();
        let account = Self::connect(&p, &t, "acme_shop").await;
        p.store
            .put_ai_settings(&t, &AccountId::parse(&account).unwrap(), &ai_settings(mode))
            .await
            .expect("valid settings are stored");
        for e in acme_knowledge() {
            p.store
                .put_knowledge(&t, &e)
                .await
                .expect("valid entry is stored");
        }
        let llm = match brain {
            Brain::Builtin => None,
            Brain::Llm => Some(FakeLlm::start(REPLY).await),
        };
        let drafter: Arc<dyn Drafter> = match &llm {
            None => Arc::new(relay::ai::BuiltinDrafter),
            Some(fake) => {
                let mut config = LlmConfig::new(
                    reqwest::Url::parse(fake.base_url()).unwrap(),
                    MODEL,
                    Some(Secret::new(LLM_KEY)),
                );
                config.timeout = Duration::from_millis(500);
                config.backoff = Duration::from_millis(10);
                tune_llm(&mut config);
                Arc::new(OpenAiCompatible::new(config).expect("the client builds"))
            }
        };
        let handler = Arc::new(build_handler(&p, &clock, drafter, settings, None));
        Self {
            p,
            clock,
            llm,
            handler,
            account,
            tenant: t,
            next_mid: AtomicU64::new(1),
        }
    }

    /// An Instagram account in the simulator, connected to `tenant` with its sealed
    /// long-lived token (as onboarding stores it).
    pub async fn connect(p: &Pipeline, tenant: &TenantId, username: &str) -> String {
        let user = sim_post(p, "/_sim/ig-users", json!({"username": username})).await;
        let id = user["user_id"].as_str().expect("user_id").to_owned();
        let minted = sim_post(p, "/_sim/tokens", json!({"user_id": id, "kind": "ig_long"})).await;
        let token = AccessToken::new(minted["access_token"].as_str().expect("access_token"));
        let account_id = AccountId::parse(&id).expect("numeric account id");
        let sealed = EnvelopeCipher::new(p.aws.kms(), p.aws.token_key_id.clone())
            .seal_token(
                &token,
                &EncryptionContext::new(tenant.clone(), account_id.clone(), Purpose::AccessToken),
            )
            .await
            .expect("the token is sealed");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        p.store
            .put_account(&Account {
                tenant_id: tenant.clone(),
                account_id,
                channel: Channel::Instagram,
                login: LoginKind::InstagramLogin,
                username: Some(username.into()),
                name: None,
                meta_user_id: None,
                linked_instagram_id: None,
                status: AccountStatus::Connected,
                token_sealed: Some(sealed),
                token_issued_at: Some(now),
                token_expires_at: Some(now + 60 * 86_400),
                connected_at: now,
                updated_at: now,
            })
            .await
            .expect("the account is stored");
        id
    }

    pub fn account_id(&self) -> AccountId {
        AccountId::parse(&self.account).unwrap()
    }

    pub fn llm(&self) -> &FakeLlm {
        self.llm.as_ref().expect("this test runs with the fake LLM")
    }

    /// The customer sends a DM (the simulator delivers the signed webhook); its mid.
    pub async fn says(&self, text: &str) -> String {
        self.says_as(CUSTOMER, text).await
    }

    pub async fn says_as(&self, from: &str, text: &str) -> String {
        let mid = format!(
            "aireply.{}.{}",
            self.account,
            self.next_mid.fetch_add(1, Ordering::SeqCst)
        );
        self.p
            .deliver(
                json!({"kind": "dm", "account_id": self.account, "customer_id": from,
                            "mid": mid, "text": text}),
            )
            .await;
        mid
    }

    /// A person at the business writes from the Instagram app (an echo webhook).
    pub async fn business_writes(&self, text: &str) {
        let mid = format!(
            "aireply.echo.{}",
            self.next_mid.fetch_add(1, Ordering::SeqCst)
        );
        self.p
            .deliver(
                json!({"kind": "echo", "account_id": self.account, "customer_id": CUSTOMER,
                            "mid": mid, "text": text}),
            )
            .await;
    }

    /// Ingest everything delivered (which queues the reply jobs).
    pub async fn ingest(&self) {
        let drained = self.p.drain().await;
        assert_eq!(drained.failed, 0, "ingest failed: {drained:?}");
    }

    /// Run the ai-reply handler over the replies queue until it is empty.
    pub async fn reply(&self) -> Drained {
        let handler = &self.handler;
        self.replies()
            .drain(30, |event: SqsEvent| async move {
                relay::lambda::sqs_batch(&**handler, &event).await
            })
            .await
    }

    /// Ingest, then reply.
    pub async fn settle(&self) -> Drained {
        self.ingest().await;
        self.reply().await
    }

    pub fn replies(&self) -> Dispatcher {
        Dispatcher::new(self.p.aws.sqs(), self.p.aws.queues.replies.clone())
    }

    /// What the account sent through the simulator's Send API.
    pub async fn sent(&self) -> Vec<Value> {
        let list = self
            .p
            .http
            .get(format!(
                "{}/_sim/messages?account_id={}",
                self.p.sim.base_url(),
                self.account
            ))
            .send()
            .await
            .expect("the simulator answers")
            .json::<Value>()
            .await
            .expect("a JSON list");
        list.as_array().cloned().expect("a list of messages")
    }

    pub async fn sent_texts(&self) -> Vec<String> {
        self.sent()
            .await
            .iter()
            .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    pub async fn outcomes(&self) -> Vec<ReplyOutcome> {
        self.p
            .store
            .list_reply_outcomes(
                &self.tenant,
                &self.account_id(),
                &customer(CUSTOMER),
                &listing(),
            )
            .await
            .expect("outcomes list")
            .items
    }

    pub async fn outcome(&self, mid: &str) -> ReplyOutcome {
        self.outcomes()
            .await
            .into_iter()
            .find(|o| o.inbound_mid.as_str() == mid)
            .unwrap_or_else(|| panic!("an outcome is recorded for {mid}"))
    }

    pub async fn conversation(&self) -> relay::inbox::Conversation {
        self.p
            .conversation("acme", &self.account, CUSTOMER)
            .await
            .expect("the conversation exists")
    }

    pub async fn messages(&self) -> Vec<StoredMessage> {
        self.p.messages("acme", &self.account, CUSTOMER).await
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        self.p
            .audit
            .records(&self.tenant)
            .await
            .expect("audit records")
            .into_iter()
            .map(|r| r.action)
            .collect()
    }

    /// The reply job queued for `mid`, as the replies queue holds it.
    pub async fn job_body(&self, mid: &str) -> String {
        self.p
            .queue_bodies(&self.p.aws.queues.replies)
            .await
            .into_iter()
            .find(|b| b.contains(mid))
            .unwrap_or_else(|| panic!("a reply job for {mid} is queued"))
    }
}

/// The ai-reply handler wired to this pipeline's moto resources and simulator, reading
/// the simulator's clock.
pub fn build_handler(
    p: &Pipeline,
    clock: &Arc<SimClock>,
    drafter: Arc<dyn Drafter>,
    settings: Settings,
    requeue: Option<relay::replies::Requeue>,
) -> AiReply {
    let graph =
        GraphClient::new(relay_tests::sim::meta_config(&p.sim)).expect("the Graph client builds");
    let bus = EventBus::new(p.aws.eventbridge(), p.aws.event_bus.clone());
    // As in production: opened data keys are cached, so replies do not each call KMS.
    let tokens = Tokens::new(
        p.store.clone(),
        EnvelopeCipher::new(p.aws.kms(), p.aws.token_key_id.clone())
            .with_cache(relay::crypto::CacheLimits::default()),
        graph.clone(),
        p.audit.clone(),
        bus.clone(),
        relay::replies::ai::ACTOR,
    )
    .with_clock(clock.clone());
    AiReply::new(
        relay::replies::Adapters {
            store: p.store.clone(),
            audit: p.audit.clone(),
            bus,
            graph,
            tokens,
            drafter,
            clock: clock.clone(),
            requeue,
        },
        settings,
    )
}

pub async fn sim_post(p: &Pipeline, path: &str, body: Value) -> Value {
    let response = p
        .http
        .post(format!("{}{path}", p.sim.base_url()))
        .json(&body)
        .send()
        .await
        .expect("the simulator answers");
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {path} -> {status}: {value}");
    value
}

pub fn listing() -> Listing {
    Listing {
        limit: 500,
        ..Listing::default()
    }
}

/// A queue receiving this test's `detail_type` domain events.
pub async fn bus_to_queue(p: &Pipeline, detail_type: &str) -> String {
    p.aws.capture_bus_events(Some(detail_type)).await
}

pub async fn bus_events(p: &Pipeline, url: &str) -> Vec<Value> {
    Dispatcher::new(p.aws.sqs(), url)
        .peek_bodies()
        .await
        .iter()
        .map(|b| serde_json::from_str(b).expect("events are JSON"))
        .collect()
}

/// An SQS event in the shape of a sample from events/ai-reply, its bodies replaced.
pub fn sample_event(sample: &str, bodies: &[&str]) -> SqsEvent {
    let raw = std::fs::read_to_string(events_dir().join("ai-reply").join(sample))
        .expect("the sample event is readable");
    let mut event: SqsEvent = serde_json::from_str(&raw).expect("the sample is an SQS event");
    assert_eq!(
        event.records.len(),
        bodies.len(),
        "{sample} has one record per body"
    );
    for (record, body) in event.records.iter_mut().zip(bodies) {
        record.body = Some(body.to_string());
    }
    event
}
