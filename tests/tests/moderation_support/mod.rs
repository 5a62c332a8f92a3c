//! The moderation test harness: one test's product (the ingestion pipeline, an Instagram
//! account connected with a simulator token and a post of it) and the moderation
//! handler wired to moto, the Meta simulator and its clock. Shared by the moderation
//! tests and their log test.

#![allow(dead_code)] // each test binary uses its own subset of these helpers

use std::sync::Arc;

use crate::ai_support::{Ai, sim_post};
use crate::common::{self, Pipeline};
use aws_lambda_events::event::sqs::SqsEvent;
use moderation::{Moderation, Settings};
use relay::accounts::Tokens;
use relay::events::EventBus;
use relay::ids::{AccountId, CommentId, TenantId};
use relay::inbox::{CommentStatus, StoredComment};
use relay::jobs::ModerationJob;
use relay::meta::GraphClient;
use relay::moderation::run::{ACTOR, Handled, Moderator};
use relay::moderation::{ModerationAction, ModerationPolicy};
use relay::store::Listing;
use relay_tests::pipeline::{Dispatcher, Drained};
use relay_tests::sim_clock::SimClock;
use serde_json::{Value, json};

pub const SPAM: &str = "Want 10k FREE followers?? DM me or check my bio bit.ly/grow-fast";
pub const FAN: &str = "5500000000000301";

pub struct World {
    pub p: Pipeline,
    pub clock: Arc<SimClock>,
    pub handler: Moderation,
    pub tenant: TenantId,
    pub account: String,
    pub media: String,
}

impl World {
    pub async fn start() -> Self {
        let p = Pipeline::start().await;
        let clock = SimClock::connect(p.sim.base_url()).await;
        let tenant = common::tenant("bloom");
        let account = Ai::connect(&p, &tenant, "bloom_florist").await;
        let media = sim_post(
            &p,
            "/_sim/media",
            json!({"account_id": account, "caption": "Spring bouquets"}),
        )
        .await["id"]
            .as_str()
            .expect("media id")
            .to_owned();
        let handler = handler(&p, &clock);
        Self {
            p,
            clock,
            handler,
            tenant,
            account,
            media,
        }
    }

    pub fn account_id(&self) -> AccountId {
        AccountId::parse(&self.account).unwrap()
    }

    /// A customer comments on the account's media at the simulator, which sends the
    /// signed webhook; returns the comment id.
    pub async fn comment_from(&self, from: &str, text: &str) -> String {
        let made = sim_post(
            &self.p,
            "/_sim/comments",
            json!({"media_id": self.media, "text": text, "from_id": from, "from_username": "a_fan"}),
        )
        .await;
        assert_eq!(
            common::statuses(&made["delivery"]),
            vec![200],
            "the webhook was accepted at once: {made}"
        );
        made["id"].as_str().expect("comment id").to_owned()
    }

    pub async fn comment(&self, text: &str) -> String {
        self.comment_from(FAN, text).await
    }

    /// Ingest what arrived, then run moderation over its queue until it is empty.
    pub async fn settle(&self) -> Drained {
        let ingested = self.p.drain().await;
        assert_eq!(ingested.failed, 0, "ingest failed: {ingested:?}");
        self.moderate().await
    }

    pub async fn moderate(&self) -> Drained {
        let handler = &self.handler;
        Dispatcher::new(self.p.aws.sqs(), self.p.aws.queues.moderation.clone())
            .drain(20, |event: SqsEvent| async move {
                relay::lambda::sqs_batch(handler, &event).await
            })
            .await
    }

    pub fn job(&self, comment: &str, action: ModerationAction) -> ModerationJob {
        ModerationJob {
            tenant_id: self.tenant.clone(),
            account_id: self.account_id(),
            comment_id: CommentId::parse(comment).unwrap(),
            action,
        }
    }

    pub async fn act(&self, comment: &str, action: ModerationAction) -> Handled {
        self.handler
            .moderator
            .handle(&self.job(comment, action))
            .await
            .expect("the action is handled without a retry")
    }

    pub async fn stored(&self, comment: &str) -> StoredComment {
        self.p
            .store
            .get_comment(
                &self.tenant,
                &self.account_id(),
                &CommentId::parse(comment).unwrap(),
            )
            .await
            .expect("GetItem")
            .expect("the comment is stored")
    }

    pub async fn by_status(&self, status: CommentStatus) -> Vec<String> {
        self.p
            .store
            .list_comments_by_status(
                &self.tenant,
                &self.account_id(),
                status,
                &Listing::default(),
            )
            .await
            .expect("Query")
            .items
            .into_iter()
            .map(|c| c.comment_id.as_str().to_owned())
            .collect()
    }

    /// The comment as the simulator (Meta) has it, replies included.
    pub async fn at_meta(&self, comment: &str) -> Value {
        let all: Value = self
            .p
            .http
            .get(format!("{}/_sim/comments", self.p.sim.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        all.as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == comment)
            .cloned()
            .unwrap_or_else(|| panic!("the simulator has no comment {comment}: {all}"))
    }

    pub async fn private_messages(&self) -> Vec<Value> {
        let all: Value = self
            .p
            .http
            .get(format!(
                "{}/_sim/messages?account_id={}",
                self.p.sim.base_url(),
                self.account
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        all.as_array().cloned().unwrap_or_default()
    }

    /// (action, target, details) of every audit record of the tenant, in order.
    pub async fn audit(&self) -> Vec<(String, String, Value)> {
        let verification = self.p.audit.verify(&self.tenant).await.expect("verify");
        assert!(verification.is_intact(), "{verification:?}");
        self.p
            .audit
            .records(&self.tenant)
            .await
            .expect("records")
            .into_iter()
            .map(|r| {
                (
                    r.action,
                    r.target.unwrap_or_default(),
                    serde_json::from_str(&r.details).unwrap_or(Value::Null),
                )
            })
            .collect()
    }

    pub async fn audit_actions_for(&self, comment: &str) -> Vec<String> {
        let target = format!("comment:{comment}");
        self.audit()
            .await
            .into_iter()
            .filter(|(_, t, _)| *t == target)
            .map(|(a, _, _)| a)
            .collect()
    }

    pub async fn set_policy(&self, policy: ModerationPolicy) {
        self.p
            .store
            .put_moderation_policy(&self.tenant, &self.account_id(), &policy)
            .await
            .expect("a valid policy is stored");
    }
}

pub fn handler(p: &Pipeline, clock: &Arc<SimClock>) -> Moderation {
    let graph =
        GraphClient::new(relay_tests::sim::meta_config(&p.sim)).expect("the Graph client builds");
    let tokens = Tokens::new(
        p.store.clone(),
        relay::crypto::EnvelopeCipher::new(p.aws.kms(), p.aws.token_key_id.clone()),
        graph.clone(),
        p.audit.clone(),
        EventBus::new(p.aws.eventbridge(), p.aws.event_bus.clone()),
        ACTOR,
    )
    .with_clock(clock.clone());
    let moderator = Moderator::new(
        p.store.clone(),
        graph,
        p.audit.clone(),
        tokens,
        clock.clone(),
    );
    Moderation::new(moderator, Settings::default())
}

pub fn by(who: &str) -> String {
    format!("user:{who}")
}

impl World {
    pub async fn moderate_rounds(&self, rounds: usize) -> Drained {
        let handler = &self.handler;
        Dispatcher::new(self.p.aws.sqs(), self.p.aws.queues.moderation.clone())
            .drain(rounds, |event: SqsEvent| async move {
                relay::lambda::sqs_batch(handler, &event).await
            })
            .await
    }
}

pub fn private_reply(request_id: &str) -> ModerationAction {
    ModerationAction::PrivateReply {
        by: by("ana"),
        request_id: request_id.into(),
        text: "Sending you the details privately.".into(),
    }
}
