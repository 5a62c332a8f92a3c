//! The AI reply job on the `events/ai-reply` samples, with in-memory doubles of its
//! ports: what the customer would see (what was sent), what a person would see (drafts,
//! the pause, the audit trail) and what operators see (outcomes, retries).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use futures::future::BoxFuture;
use tokio::time::Instant;

use super::*;
use crate::accounts::{Account, AccountStatus, Channel, LoginKind, TokenError};
use crate::ai::{Draft, DraftError, Drafter, KnowledgeEntry, Prompt, ReplyKind};
use crate::audit::AuditError;
use crate::events::EscalationCreated;
use crate::ids::{AccountId, CustomerId, MessageId, TenantId};
use crate::inbox::{AiMode, Author, Conversation, StoredMessage};
use crate::lambda::Delivery;
use crate::meta::GraphError;
use crate::replies::ports::*;
use crate::secret::AccessToken;

const SECOND: i64 = 1000;
const HOUR: i64 = 3600 * SECOND;
const ANSWER: &str = "We ship within 2 business days.";

/// The world one job sees: one conversation of one account.
#[derive(Default)]
struct World {
    settings: Option<AiSettings>,
    conversation: Option<Conversation>,
    messages: Vec<StoredMessage>,
    claims: BTreeSet<String>,
    /// Another delivery takes every claim between this one's read and its send.
    claims_race: bool,
    outcomes: BTreeMap<String, ReplyOutcome>,
    drafts: Vec<Draft>,
    /// The texts Meta received.
    sent: Vec<String>,
    audit: Vec<String>,
    events: Vec<EscalationCreated>,
    requeued: Vec<(String, Duration)>,
    account: Option<Account>,
}

#[derive(Default)]
struct Memory(Mutex<World>);

impl Memory {
    fn with<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self
            .0
            .lock()
            .expect("no test panics while holding the world"))
    }
}

fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl Conversations for Memory {
    fn ai_settings<'a>(
        &'a self,
        _: Thread<'a>,
    ) -> BoxFuture<'a, Result<Option<AiSettings>, StoreError>> {
        ready(Ok(self.with(|w| w.settings.clone())))
    }

    fn conversation<'a>(
        &'a self,
        _: Thread<'a>,
    ) -> BoxFuture<'a, Result<Option<Conversation>, StoreError>> {
        ready(Ok(self.with(|w| w.conversation.clone())))
    }

    fn recent_messages<'a>(
        &'a self,
        _: Thread<'a>,
        n: u32,
    ) -> BoxFuture<'a, Result<Vec<StoredMessage>, StoreError>> {
        let all = self.with(|w| w.messages.clone());
        let skip = all.len().saturating_sub(n as usize);
        ready(Ok(all[skip..].to_vec()))
    }

    fn knowledge<'a>(
        &'a self,
        _: &'a TenantId,
    ) -> BoxFuture<'a, Result<Vec<KnowledgeEntry>, StoreError>> {
        ready(Ok(Vec::new()))
    }
}

impl Inbox for Memory {
    fn pause<'a>(
        &'a self,
        _: Thread<'a>,
        reason: &'a str,
        at: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.with(|w| {
            let c = w.conversation.get_or_insert_with(Default::default);
            c.paused = true;
            c.paused_reason = Some(reason.into());
            c.paused_at = Some(at);
        });
        ready(Ok(()))
    }

    fn record_outbound<'a>(
        &'a self,
        message: &'a StoredMessage,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.with(|w| {
            if !w.messages.iter().any(|m| m.mid == message.mid) {
                w.messages.push(message.clone());
            }
        });
        ready(Ok(()))
    }

    fn link_product<'a>(&'a self, _: &'a ProductLink) -> BoxFuture<'a, Result<(), StoreError>> {
        ready(Ok(()))
    }
}

impl ReplyLedger for Memory {
    fn is_claimed<'a>(
        &'a self,
        _: &'a TenantId,
        name: &'a str,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        ready(Ok(self.with(|w| w.claims.contains(name))))
    }

    fn take_claim<'a>(
        &'a self,
        _: &'a TenantId,
        name: &'a str,
        _: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        ready(Ok(self.with(|w| {
            let mine = w.claims.insert(name.to_owned());
            mine && !w.claims_race
        })))
    }

    fn outcome<'a>(
        &'a self,
        _: Thread<'a>,
        _: i64,
        mid: &'a str,
    ) -> BoxFuture<'a, Result<Option<ReplyOutcome>, StoreError>> {
        ready(Ok(self.with(|w| w.outcomes.get(mid).cloned())))
    }

    fn keep_outcome<'a>(
        &'a self,
        outcome: &'a ReplyOutcome,
        _: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.with(|w| {
            w.outcomes
                .insert(outcome.inbound_mid.to_string(), outcome.clone())
        });
        ready(Ok(()))
    }
}

impl DraftStore for Memory {
    fn store_draft<'a>(&'a self, draft: &'a Draft) -> BoxFuture<'a, Result<(), StoreError>> {
        self.with(|w| {
            if !w.drafts.iter().any(|d| d.draft_id == draft.draft_id) {
                w.drafts.push(draft.clone());
            }
        });
        ready(Ok(()))
    }
}

impl MetaSend for Memory {
    fn send_response<'a>(
        &'a self,
        _: &'a Account,
        _: &'a AccessToken,
        _: &'a CustomerId,
        text: &'a str,
    ) -> BoxFuture<'a, Result<MessageId, GraphError>> {
        let n = self.with(|w| {
            w.sent.push(text.to_owned());
            w.sent.len()
        });
        ready(Ok(
            MessageId::parse(format!("sent-{n}")).expect("a valid mid")
        ))
    }
}

impl AccountTokens for Memory {
    fn token_for<'a>(
        &'a self,
        _: &'a TenantId,
        _: &'a AccountId,
    ) -> BoxFuture<'a, Result<(Account, AccessToken), TokenError>> {
        let account = self.with(|w| w.account.clone());
        ready(
            account
                .map(|a| (a, AccessToken::new("IGAA-test")))
                .ok_or(TokenError::NotFound),
        )
    }

    fn token_refused<'a>(&'a self, _: &'a Account, _: &'a str) -> BoxFuture<'a, ()> {
        ready(())
    }
}

impl AuditLog for Memory {
    fn record<'a>(
        &'a self,
        _: &'a TenantId,
        entry: AuditEntry,
    ) -> BoxFuture<'a, Result<(), AuditError>> {
        self.with(|w| w.audit.push(entry.action));
        ready(Ok(()))
    }
}

impl Publish<EscalationCreated> for Memory {
    fn publish_event<'a>(
        &'a self,
        event: &'a EscalationCreated,
    ) -> BoxFuture<'a, Result<(), EventError>> {
        self.with(|w| w.events.push(event.clone()));
        ready(Ok(()))
    }
}

impl JobRequeue for Memory {
    fn retry_in<'a>(&'a self, receipt: &'a str, delay: Duration) -> BoxFuture<'a, ()> {
        self.with(|w| w.requeued.push((receipt.to_owned(), delay)));
        ready(())
    }
}

/// Answers from a script, then [`ANSWER`]; counts how often it was asked.
#[derive(Default)]
struct ScriptedDrafter {
    script: Mutex<VecDeque<Result<ReplyKind, DraftError>>>,
    asked: Mutex<usize>,
    /// What happens in the world while it drafts.
    meanwhile: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl ScriptedDrafter {
    fn then(&self, answer: Result<ReplyKind, DraftError>) {
        self.script.lock().expect("unpoisoned").push_back(answer);
    }

    fn meanwhile(&self, f: impl FnOnce() + Send + 'static) {
        *self.meanwhile.lock().expect("unpoisoned") = Some(Box::new(f));
    }
}

impl Drafter for ScriptedDrafter {
    fn model(&self) -> &str {
        "scripted"
    }

    fn draft<'a>(
        &'a self,
        _: &'a Prompt,
        _: Option<Instant>,
    ) -> BoxFuture<'a, Result<DraftReply, DraftError>> {
        *self.asked.lock().expect("unpoisoned") += 1;
        if let Some(f) = self.meanwhile.lock().expect("unpoisoned").take() {
            f();
        }
        let next = self.script.lock().expect("unpoisoned").pop_front();
        let reply = next
            .unwrap_or(Ok(ReplyKind::Answer))
            .map(|kind| DraftReply {
                kind,
                text: if kind == ReplyKind::Answer {
                    ANSWER.into()
                } else {
                    String::new()
                },
                model: "scripted".into(),
                latency_ms: 5,
                tokens: None,
            });
        ready(reply)
    }
}

/// The job of one sample, its deliveries, and the world it acts on.
struct Case {
    memory: Arc<Memory>,
    drafter: Arc<ScriptedDrafter>,
    event: SqsEvent,
    jobs: Vec<AiReplyJob>,
    now: Arc<Mutex<i64>>,
    replies: AiReplies,
}

fn sample(name: &str) -> SqsEvent {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events/ai-reply")
        .join(name);
    let raw = std::fs::read_to_string(&path).expect("the sample is readable");
    serde_json::from_str(&raw).expect("the sample is an SQS event")
}

impl Case {
    /// The sample's jobs, `after_ms` after the latest one's message, each message stored
    /// as the customer's; the account in `mode`.
    fn new(name: &str, mode: AiMode, after_ms: i64) -> Self {
        let event = sample(name);
        let jobs: Vec<AiReplyJob> = event
            .records
            .iter()
            .map(|r| serde_json::from_str(r.body.as_deref().expect("a body")).expect("a job"))
            .collect();
        let latest = jobs
            .iter()
            .max_by_key(|j| j.timestamp_ms)
            .expect("a sample has jobs")
            .clone();
        let memory = Arc::new(Memory::default());
        memory.with(|w| {
            w.settings = Some(AiSettings {
                mode,
                handoff_message: Some("A person will answer you shortly.".into()),
                ..AiSettings::default()
            });
            w.conversation = Some(Conversation {
                last_inbound_at: Some(latest.timestamp_ms),
                last_inbound_mid: Some(latest.mid.to_string()),
                ..Conversation::default()
            });
            let mut seen = BTreeSet::new();
            for job in &jobs {
                if seen.insert(job.mid.clone()) {
                    w.messages
                        .push(customer_says(job, "How long does shipping take?"));
                }
            }
            w.account = Some(account(&latest));
        });
        let now = Arc::new(Mutex::new(latest.timestamp_ms + after_ms));
        let clock = {
            let now = now.clone();
            move || *now.lock().expect("unpoisoned")
        };
        let drafter = Arc::new(ScriptedDrafter::default());
        let ports = Ports {
            conversations: memory.clone(),
            inbox: memory.clone(),
            ledger: memory.clone(),
            drafts: memory.clone(),
            meta: memory.clone(),
            tokens: memory.clone(),
            audit: memory.clone(),
            events: memory.clone(),
            requeue: Some(memory.clone()),
            drafter: drafter.clone(),
            clock: Arc::new(clock),
        };
        let replies = AiReplies::new(ports, Settings::default(), Metrics::new("ai-reply"));
        Self {
            memory,
            drafter,
            event,
            jobs,
            now,
            replies,
        }
    }

    /// Deliver record `i` of the sample, as the queue hands it out.
    async fn deliver(&self, i: usize) -> Result<Handled, JobError> {
        let record = &self.event.records[i];
        let attempt = Attempt {
            receives: Delivery::of(record).receives,
            receipt: record.receipt_handle.as_deref(),
        };
        self.replies.reply(&self.jobs[i], attempt).await
    }

    fn world<T>(&self, f: impl FnOnce(&World) -> T) -> T {
        self.memory.with(|w| f(w))
    }

    fn outcome(&self, i: usize) -> Option<ReplyOutcome> {
        let mid = self.jobs[i].mid.to_string();
        self.world(|w| w.outcomes.get(&mid).cloned())
    }

    fn asked(&self) -> usize {
        *self.drafter.asked.lock().expect("unpoisoned")
    }
}

fn customer_says(job: &AiReplyJob, text: &str) -> StoredMessage {
    let mut m = thread(job)
        .outbound(
            &[text.to_owned()],
            std::slice::from_ref(&job.mid),
            job.timestamp_ms,
            Author::Customer,
            None,
        )
        .remove(0);
    m.direction = Direction::Inbound;
    m
}

fn account(job: &AiReplyJob) -> Account {
    Account {
        tenant_id: job.tenant_id.clone(),
        account_id: job.account_id.clone(),
        channel: Channel::Instagram,
        login: LoginKind::InstagramLogin,
        username: None,
        name: None,
        meta_user_id: None,
        linked_instagram_id: None,
        status: AccountStatus::Connected,
        token_sealed: None,
        token_issued_at: None,
        token_expires_at: None,
        connected_at: 0,
        updated_at: 0,
    }
}

#[tokio::test]
async fn a_job_in_auto_mode_within_the_window_sends_one_reply_and_records_it() {
    let case = Case::new("single-job.json", AiMode::Auto, 5 * SECOND);
    assert_eq!(case.deliver(0).await.unwrap(), Handled::Sent { parts: 1 });
    assert_eq!(
        case.world(|w| w.sent.clone()),
        [ANSWER],
        "the customer got one reply"
    );
    let outcome = case.outcome(0).expect("an outcome is stored");
    assert_eq!(outcome.status, OutcomeStatus::Sent);
    assert!(!outcome.record_pending, "the bookkeeping is finished");
    assert_eq!(case.world(|w| w.audit.clone()), ["ai.reply_sent"]);
    let ours = case.world(|w| {
        w.messages
            .iter()
            .filter(|m| m.author == Author::Ai)
            .map(|m| (m.text.clone(), m.ai.clone().map(|o| o.model)))
            .collect::<Vec<_>>()
    });
    assert_eq!(
        ours,
        [(Some(ANSWER.to_owned()), Some("scripted".to_owned()))],
        "the inbox shows the reply as the AI's"
    );
    assert_eq!(case.replies.metrics().get("RepliesSent"), 1);
}

#[tokio::test]
async fn a_job_for_a_paused_conversation_sends_nothing() {
    let case = Case::new("single-job.json", AiMode::Auto, 5 * SECOND);
    case.memory.with(|w| {
        let c = w.conversation.as_mut().expect("the conversation exists");
        c.paused = true;
        c.paused_reason = Some("human_reply".into());
    });
    assert_eq!(case.deliver(0).await.unwrap(), Handled::Skipped("paused"));
    assert!(
        case.world(|w| w.sent.is_empty()),
        "a person took over: nothing sent"
    );
    assert_eq!(case.asked(), 0, "the LLM is not even asked");
    let outcome = case.outcome(0).expect("the skip is recorded");
    assert_eq!(
        (outcome.status, outcome.reason.as_deref()),
        (OutcomeStatus::Skipped, Some("paused"))
    );
    assert_eq!(case.replies.metrics().get("SkippedPaused"), 1);
}

#[tokio::test]
async fn outside_the_24_hour_window_auto_mode_sends_nothing() {
    let case = Case::new("single-job.json", AiMode::Auto, 25 * HOUR);
    assert_eq!(
        case.deliver(0).await.unwrap(),
        Handled::Skipped("window_closed")
    );
    assert!(case.world(|w| w.sent.is_empty() && w.drafts.is_empty()));
    assert_eq!(case.asked(), 0);
    assert_eq!(case.replies.metrics().get("SkippedWindowClosed"), 1);
}

#[tokio::test]
async fn outside_the_24_hour_window_shadow_mode_drafts_for_a_person_and_sends_nothing() {
    let case = Case::new("single-job.json", AiMode::Shadow, 25 * HOUR);
    assert_eq!(case.deliver(0).await.unwrap(), Handled::Drafted);
    assert!(
        case.world(|w| w.sent.is_empty()),
        "a draft is never sent by the AI"
    );
    let drafts = case.world(|w| w.drafts.clone());
    assert_eq!(drafts.len(), 1);
    assert_eq!(drafts[0].parts, [ANSWER]);
    assert_eq!(drafts[0].draft_id.inbound_mid, case.jobs[0].mid);
    assert_eq!(case.world(|w| w.audit.clone()), ["ai.draft_created"]);
    assert_eq!(case.outcome(0).unwrap().status, OutcomeStatus::Drafted);

    // Past Meta's HUMAN_AGENT window (7 days) a person could not send it either.
    let late = Case::new("single-job.json", AiMode::Shadow, 8 * 24 * HOUR);
    assert_eq!(
        late.deliver(0).await.unwrap(),
        Handled::Skipped("window_closed")
    );
    assert!(late.world(|w| w.drafts.is_empty()));
}

#[tokio::test]
async fn a_redelivered_job_sends_at_most_once() {
    let case = Case::new("duplicate-delivery.json", AiMode::Auto, 5 * SECOND);
    assert_eq!(case.deliver(0).await.unwrap(), Handled::Sent { parts: 1 });
    assert_eq!(
        case.deliver(1).await.unwrap(),
        Handled::Skipped("already_handled")
    );
    assert_eq!(
        case.world(|w| w.sent.len()),
        1,
        "one message reached the customer"
    );
    assert_eq!(case.asked(), 1, "the redelivery does not draft again");
    assert_eq!(case.world(|w| w.audit.clone()), ["ai.reply_sent"]);
    assert_eq!(case.replies.metrics().get("JobsAlreadyFinished"), 1);
}

#[tokio::test]
async fn a_delivery_that_loses_the_claim_to_a_concurrent_one_sends_nothing() {
    let case = Case::new("duplicate-delivery.json", AiMode::Auto, 5 * SECOND);
    case.memory.with(|w| w.claims_race = true);
    assert_eq!(
        case.deliver(1).await.unwrap(),
        Handled::Skipped("already_handled")
    );
    assert!(
        case.world(|w| w.sent.is_empty()),
        "the claim's holder sends, not us"
    );
}

#[tokio::test]
async fn a_retry_after_a_crash_past_the_claim_never_sends() {
    let case = Case::new("duplicate-delivery.json", AiMode::Auto, 5 * SECOND);
    // The first delivery claimed and died before recording anything.
    case.memory
        .with(|w| w.claims.insert(claim_name(&case.jobs[0])));
    assert_eq!(
        case.deliver(1).await.unwrap(),
        Handled::Skipped("send_unknown")
    );
    assert!(
        case.world(|w| w.sent.is_empty()),
        "it may have gone out: never resend"
    );
    assert_eq!(case.outcome(1).unwrap().status, OutcomeStatus::SendUnknown);
}

#[tokio::test]
async fn a_burst_of_three_messages_gets_one_reply_to_the_latest() {
    let case = Case::new("burst-of-three.json", AiMode::Auto, 5 * SECOND);
    let mut handled = Vec::new();
    for i in 0..3 {
        handled.push(case.deliver(i).await.unwrap());
    }
    assert_eq!(
        handled,
        [
            Handled::Skipped("superseded"),
            Handled::Skipped("superseded"),
            Handled::Sent { parts: 1 },
        ]
    );
    assert_eq!(case.world(|w| w.sent.len()), 1);
    assert_eq!(case.asked(), 1);
}

#[tokio::test]
async fn with_the_ai_off_nothing_happens_and_nothing_is_recorded() {
    let case = Case::new("messenger-job.json", AiMode::Off, 5 * SECOND);
    assert_eq!(case.deliver(0).await.unwrap(), Handled::Skipped("ai_off"));
    assert!(case.outcome(0).is_none());
    assert!(case.world(|w| w.sent.is_empty() && w.audit.is_empty()));
}

#[tokio::test]
async fn a_transient_drafting_failure_is_delivered_again_soon_and_then_gives_up() {
    let case = Case::new("single-job.json", AiMode::Shadow, 5 * SECOND);
    case.drafter.then(Err(DraftError::Timeout));
    case.drafter.then(Err(DraftError::Timeout));
    let error = case.deliver(0).await.unwrap_err();
    assert!(matches!(error, JobError::Draft("llm_timeout")), "{error}");
    let receipt = case.event.records[0].receipt_handle.clone().unwrap();
    assert_eq!(
        case.world(|w| w.requeued.clone()),
        [(receipt, Settings::default().retry_delay)],
        "the queue delivers it again after retry_delay"
    );
    assert_eq!(case.outcome(0).unwrap().status, OutcomeStatus::Failed);

    // The last attempt: the outcome says why, and the job is done.
    let mut last = case.event.records[0].clone();
    last.attributes.insert(
        "ApproximateReceiveCount".into(),
        Settings::default().max_job_attempts.to_string(),
    );
    let attempt = Attempt {
        receives: Delivery::of(&last).receives,
        receipt: last.receipt_handle.as_deref(),
    };
    assert_eq!(
        case.replies.reply(&case.jobs[0], attempt).await.unwrap(),
        Handled::Failed("llm_timeout")
    );
    assert_eq!(case.world(|w| w.requeued.len()), 1, "no further retry");
    let failures = case.outcome(0).unwrap().failures;
    assert_eq!(failures.len(), 2);
    assert!(case.world(|w| w.sent.is_empty() && w.drafts.is_empty()));
}

#[tokio::test]
async fn a_drafting_failure_past_the_bot_deadline_is_not_retried() {
    let case = Case::new("single-job.json", AiMode::Auto, 5 * SECOND);
    // The LLM timed out and took the rest of Meta's 30 seconds with it.
    case.drafter.then(Err(DraftError::Timeout));
    let now = case.now.clone();
    case.drafter
        .meanwhile(move || *now.lock().unwrap() += 24 * SECOND);
    assert_eq!(
        case.deliver(0).await.unwrap(),
        Handled::Skipped("deadline_passed")
    );
    assert!(case.world(|w| w.requeued.is_empty() && w.sent.is_empty()));
}

#[tokio::test]
async fn a_conversation_taken_over_while_drafting_gets_no_reply() {
    let case = Case::new("single-job.json", AiMode::Auto, 5 * SECOND);
    // A person answered from the Instagram app while the LLM was drafting.
    let memory = case.memory.clone();
    case.drafter.meanwhile(move || {
        memory.with(|w| w.conversation.as_mut().unwrap().paused = true);
    });
    assert_eq!(case.deliver(0).await.unwrap(), Handled::Skipped("paused"));
    assert!(case.world(|w| w.sent.is_empty() && w.claims.is_empty()));
    assert_eq!(case.outcome(0).unwrap().reason.as_deref(), Some("paused"));
}

#[tokio::test]
async fn a_customer_asking_for_a_person_is_handed_over_once_with_the_handoff_message() {
    let case = Case::new("duplicate-delivery.json", AiMode::Auto, 5 * SECOND);
    case.memory.with(|w| {
        w.messages = vec![customer_says(
            &case.jobs[0],
            "Can I talk to a human please?",
        )];
    });
    assert_eq!(
        case.deliver(0).await.unwrap(),
        Handled::Escalated { handoff_sent: true }
    );
    assert_eq!(
        case.deliver(1).await.unwrap(),
        Handled::Skipped("already_handled")
    );
    assert_eq!(
        case.world(|w| w.sent.clone()),
        ["A person will answer you shortly."],
        "the hand-off message went out once"
    );
    assert_eq!(
        case.asked(),
        0,
        "the AI does not answer a request for a person"
    );
    let conversation = case.world(|w| w.conversation.clone()).unwrap();
    assert!(conversation.paused);
    assert_eq!(
        conversation.paused_reason.as_deref(),
        Some("customer_asked_for_human")
    );
    let events = case.world(|w| w.events.clone());
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].customer, case.jobs[0].customer_id.fingerprint());
    assert_eq!(
        case.world(|w| w.audit.clone()),
        ["conversation.paused", "ai.handoff_sent"]
    );
    let handoff = case.world(|w| w.messages.last().cloned()).unwrap();
    assert_eq!(handoff.ai.map(|o| o.model).as_deref(), Some(HANDOFF_MODEL));
}

#[tokio::test]
async fn an_ai_that_cannot_help_hands_the_conversation_to_a_person() {
    let case = Case::new("single-job.json", AiMode::Shadow, 5 * SECOND);
    case.drafter.then(Ok(ReplyKind::CannotHelp));
    assert_eq!(
        case.deliver(0).await.unwrap(),
        Handled::Escalated {
            handoff_sent: false
        },
        "shadow mode sends no hand-off message"
    );
    assert!(case.world(|w| w.sent.is_empty() && w.drafts.is_empty()));
    assert_eq!(case.world(|w| w.events[0].reason.clone()), "ai_cannot_help");
}

#[tokio::test]
async fn an_account_that_cannot_send_leaves_the_claim_untaken() {
    let case = Case::new("single-job.json", AiMode::Auto, 5 * SECOND);
    case.memory.with(|w| w.account = None);
    assert_eq!(
        case.deliver(0).await.unwrap(),
        Handled::Failed("account_missing")
    );
    assert!(case.world(|w| w.claims.is_empty() && w.sent.is_empty()));
    assert_eq!(case.outcome(0).unwrap().status, OutcomeStatus::Failed);
}
