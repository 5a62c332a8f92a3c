//! `relay-stack demo`: walks the main journeys against the running stack and says what
//! happened at each step. Every check reads the real outcome (the tables in moto, what
//! the simulator received), with bounded polling.
//!
//! 1. A customer DM arrives through a signed webhook and is stored.
//! 2. The AI answers it at the simulator.
//! 3. A "..." echo (a person typing in the Instagram app) pauses the AI for the
//!    conversation, and the next DM gets no automated answer.
//! 4. Comments arrive and are tagged: a spam comment is labelled and hidden at the
//!    simulator by the default policy, a customer's question is left visible.
//! 5. A person answers the question through the management API: a reply job on the
//!    moderation queue, carried out by the moderation function, appears under the
//!    comment at the simulator.
//! 6. The team's inbox through the API: the paused conversation is listed, a person
//!    replies, the reply reaches the simulator and the AI stays paused.
//! 7. Shadow mode through the API: the AI's draft of an answer is listed, edited and
//!    approved, and exactly the edited text reaches the simulator.
//! 8. A post scheduled through the API 20 seconds ahead is published at the simulator,
//!    once, within seconds of its time.
//! 9. The account's profile and a week of insights through the API: a refresh asked
//!    for, carried out by the sync function over its queue, and read back.

use std::future::Future;
use std::time::{Duration, Instant};

use rand::Rng;
use relay::ids::{AccountId, CommentId, CustomerId, TenantId};
use relay::store::{Listing, Store};
use serde_json::{Value, json};

use crate::state::StackInfo;

/// A journey that did not do what it should.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DemoError(String);

/// What the demo found.
#[derive(Debug, Default)]
pub struct Report {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

struct Ctx {
    http: reqwest::Client,
    store: Store,
    sim: String,
    tenant: TenantId,
    account: AccountId,
    /// The management API (`<api_url>/v1`) and the demo tenant's owner key.
    api: String,
    key: String,
}

/// Runs the journeys and prints each step. Returns how many passed and failed.
pub async fn run(info: &StackInfo) -> Report {
    let mut report = Report::default();
    let say = |text: &str| println!("{text}");
    let Some(demo) = &info.demo else {
        say("The stack was started without the demo tenant (--no-demo); nothing to walk.");
        report.skipped = 8;
        return report;
    };
    let Some(account) = demo.instagram_account_id.as_deref() else {
        say("The demo tenant has no connected Instagram account:");
        for gap in &info.gaps {
            say(&format!("  - {gap}"));
        }
        report.skipped = 8;
        return report;
    };
    let sdk = relay_local_aws::local_aws::sdk_config_for(&info.aws_endpoint_url).await;
    let Some(main) = info.tables.get("main") else {
        say("stack.json names no main table");
        report.failed = 1;
        return report;
    };
    let ctx = Ctx {
        http: reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a plain HTTP client always builds"),
        store: Store::new(aws_sdk_dynamodb::Client::new(&sdk), main.clone()),
        sim: info.meta_simulator_url.clone(),
        tenant: TenantId::parse(&demo.tenant_id).expect("stack.json holds a valid tenant id"),
        account: AccountId::parse(account).expect("stack.json holds a valid account id"),
        api: format!("{}/v1", info.api_url.trim_end_matches('/')),
        key: demo.api_key.clone(),
    };
    let customer = format!("9{:015}", rand::thread_rng().gen_range(0..10u64.pow(15)));
    let customer_id = CustomerId::parse(&customer).expect("digits are a valid customer id");
    let ai_wired = info.functions.iter().any(|f| f.binary == "ai-reply");

    say(&format!(
        "Demo against {} (tenant {}, Instagram account {account}, customer {customer})\n",
        info.api_url, demo.tenant_id
    ));

    // 1 ------------------------------------------------------------------------
    say("[1/9] A customer DM arrives through a signed webhook and is stored");
    let question = "Hi! What are your opening hours?";
    let first = match step(&mut report, ctx.dm(&customer, question, info)).await {
        Some((mid, status)) => {
            say(&format!(
                "      ok  the simulator signed the webhook (X-Hub-Signature-256) and {} answered {status}",
                info.webhook_url
            ));
            match step(&mut report, ctx.stored(&customer_id, &mid)).await {
                Some(took) => say(&format!(
                    "      ok  ingest stored message {mid} in conversation {customer} ({:.1} s after delivery)",
                    took.as_secs_f64()
                )),
                None => return finish(report),
            }
            Some(mid)
        }
        None => None,
    };
    if first.is_none() {
        return finish(report);
    }

    // 2 ------------------------------------------------------------------------
    say("[2/9] The AI answers it at the simulator");
    if ai_wired {
        if let Some((text, took)) = step(
            &mut report,
            ctx.reply_after(&customer, 0, Duration::from_secs(60)),
        )
        .await
        {
            say(&format!(
                "      ok  the simulator received a reply {:.1} s later (replies wait out the debounce window): {text:?}",
                took.as_secs_f64()
            ));
        }
    } else {
        say("      skipped: template.yaml wires no ai-reply function yet");
        report.skipped += 1;
    }

    // 3 ------------------------------------------------------------------------
    say("[3/9] A \"...\" echo pauses the AI");
    let sent_before = ctx.replies_to(&customer).await.len();
    if step(&mut report, ctx.echo(&customer, info)).await.is_some() {
        match step(&mut report, ctx.paused(&customer_id)).await {
            Some(reason) => say(&format!(
                "      ok  the business typed \"...\" in the Instagram app: the conversation is paused ({reason})"
            )),
            None => return finish(report),
        }
        if ai_wired {
            if let Some((mid, _)) = step(
                &mut report,
                ctx.dm(&customer, "And do you ship to Austria?", info),
            )
            .await
            {
                if let Some(outcome) = step(&mut report, ctx.outcome_of(&customer_id, &mid)).await {
                    let sent_after = ctx.replies_to(&customer).await.len();
                    if sent_after == sent_before {
                        say(&format!(
                            "      ok  the next DM got no automated answer: ai-reply recorded {outcome}"
                        ));
                    } else {
                        say("      FAILED  the AI answered although the conversation is paused");
                        report.failed += 1;
                    }
                }
            }
        }
    }

    // 4 ------------------------------------------------------------------------
    say("[4/9] Comments arrive and are tagged");
    if !info.functions.iter().any(|f| f.binary == "moderation") {
        say("      skipped  template.yaml wires no moderation function");
        report.skipped += 1;
        return finish(report);
    }
    let Some(media) = step(&mut report, ctx.media()).await else {
        return finish(report);
    };
    let mut question = None;
    for (text, expect_hidden) in [(SPAM_COMMENT, true), (CLEAN_COMMENT, false)] {
        let Some(comment) = step(&mut report, ctx.comment(&media, text, info)).await else {
            continue;
        };
        if !expect_hidden {
            question = Some(comment.clone());
        }
        let Some(tagged) = step(&mut report, ctx.moderated(&comment)).await else {
            continue;
        };
        let hidden_at_meta = ctx.hidden_at_meta(&comment).await;
        let labels = if tagged.labels.is_empty() {
            "classified clean".to_owned()
        } else {
            format!("tagged [{}]", tagged.labels.join(", "))
        };
        if hidden_at_meta == Some(expect_hidden) {
            say(&format!(
                "      ok  comment {comment} {labels}, status \"{}\"{}",
                tagged.status,
                if expect_hidden {
                    ", hidden at Meta by the default policy"
                } else {
                    ", left visible"
                }
            ));
        } else {
            say(&format!(
                "      FAILED  comment {comment} {labels} but hidden at Meta is {hidden_at_meta:?}, expected {expect_hidden}"
            ));
            report.failed += 1;
        }
    }

    // 5 ------------------------------------------------------------------------
    say("[5/9] A person answers the customer's comment");
    let Some(question) = question else {
        say("      skipped  no comment to answer");
        report.skipped += 1;
        return finish(report);
    };
    if let Some(reply_id) = step(&mut report, ctx.answer(&question)).await {
        say(&format!(
            "      ok  POST /v1/comments/{{id}}/reply went through the moderation queue and is reply {reply_id} under comment {question} at Meta; the comment is now \"replied\""
        ));
    }

    // 6 ------------------------------------------------------------------------
    say("[6/9] The team's inbox through the management API");
    if let Some(line) = step(&mut report, ctx.inbox_reply(&customer)).await {
        say(&format!("      ok  {line}"));
    }

    // 7 ------------------------------------------------------------------------
    say("[7/9] A person approves an AI draft (shadow mode)");
    if ai_wired {
        let shopper = format!("8{:015}", rand::thread_rng().gen_range(0..10u64.pow(15)));
        if let Some(line) = step(&mut report, ctx.approve_draft(&shopper, info)).await {
            say(&format!("      ok  {line}"));
        }
    } else {
        say("      skipped: template.yaml wires no ai-reply function yet");
        report.skipped += 1;
    }

    // 8 ------------------------------------------------------------------------
    say("[8/9] A post scheduled 20 seconds ahead goes out at its time");
    if info.functions.iter().any(|f| f.binary == "publish") {
        if let Some(line) = step(&mut report, ctx.scheduled_post()).await {
            say(&format!("      ok  {line}"));
        }
    } else {
        say("      skipped: template.yaml wires no publish function yet");
        report.skipped += 1;
    }

    // 9 ------------------------------------------------------------------------
    say("[9/9] The account's profile and a week of insights");
    if info.functions.iter().any(|f| f.binary == "sync") {
        if let Some(lines) = step(&mut report, ctx.insights()).await {
            for line in lines {
                say(&format!("      ok  {line}"));
            }
        }
    } else {
        say("      skipped: template.yaml wires no sync function yet");
        report.skipped += 1;
    }
    finish(report)
}

/// What a person writes from Relay's inbox, and the draft they edit.
const PERSON_REPLY: &str = "Hi, this is Mia from the shop: we are open 9:00 to 18:00 today.";
const EDITED_DRAFT: &str = "Yes! Our mugs ship to Austria for 4.90 EUR. (edited by Mia)";

/// What the person answers.
const ANSWER: &str = "Yes, we ship to Austria: 4.90 EUR, free from 50 EUR.";

/// The comments the demo writes: one a spam bot would, one a customer would.
const SPAM_COMMENT: &str = "Want 10k FREE followers?? DM me or check my bio bit.ly/grow-fast";
const CLEAN_COMMENT: &str = "Love the new mugs! Do you ship to Austria?";

/// A comment as moderation left it.
struct Tagged {
    labels: Vec<String>,
    status: String,
}

fn finish(report: Report) -> Report {
    println!(
        "\n{} passed, {} failed{}",
        report.passed,
        report.failed,
        if report.skipped > 0 {
            format!(", {} skipped", report.skipped)
        } else {
            String::new()
        }
    );
    report
}

/// Runs one check, printing its failure.
async fn step<T>(
    report: &mut Report,
    check: impl Future<Output = Result<T, DemoError>>,
) -> Option<T> {
    match check.await {
        Ok(value) => {
            report.passed += 1;
            Some(value)
        }
        Err(DemoError(why)) => {
            println!("      FAILED  {why}");
            report.failed += 1;
            None
        }
    }
}

/// Polls `check` every 250 ms until it gives a value or `limit` passes.
async fn poll<T, F, Fut>(
    limit: Duration,
    what: &str,
    mut check: F,
) -> Result<(T, Duration), DemoError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return Ok((value, started.elapsed()));
        }
        if started.elapsed() > limit {
            return Err(DemoError(format!("{what} (waited {} s)", limit.as_secs())));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

impl Ctx {
    async fn admin(&self, path: &str, body: Value) -> Result<Value, DemoError> {
        let response = self
            .http
            .post(format!("{}{path}", self.sim))
            .json(&body)
            .send()
            .await
            .map_err(|e| DemoError(format!("the simulator is not reachable: {e}")))?;
        let status = response.status();
        let value: Value = response
            .json()
            .await
            .map_err(|e| DemoError(format!("{path}: {e}")))?;
        if !status.is_success() {
            return Err(DemoError(format!("{path} answered {status}: {value}")));
        }
        Ok(value)
    }

    /// Has the simulator send one webhook; the delivery's body and final status.
    async fn send(&self, event: Value, info: &StackInfo) -> Result<(Value, u16), DemoError> {
        let out = self.admin("/_sim/webhooks/send", event).await?;
        let delivery = &out["deliveries"][0];
        let status = delivery["attempts"]
            .as_array()
            .and_then(|a| a.last())
            .and_then(|a| a["status"].as_u64())
            .unwrap_or(0);
        if delivery["ok"] != json!(true) {
            return Err(DemoError(format!(
                "{} did not accept the webhook (last status {status})",
                info.webhook_url
            )));
        }
        let body = match &delivery["body"] {
            Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
            other => other.clone(),
        };
        Ok((body, u16::try_from(status).unwrap_or(0)))
    }

    async fn dm(
        &self,
        customer: &str,
        text: &str,
        info: &StackInfo,
    ) -> Result<(String, u16), DemoError> {
        let (body, status) = self
            .send(
                json!({"kind": "dm", "account_id": self.account.as_str(), "customer_id": customer, "text": text}),
                info,
            )
            .await?;
        let mid = body["entry"][0]["messaging"][0]["message"]["mid"]
            .as_str()
            .ok_or_else(|| DemoError("the simulator's webhook carried no message id".into()))?;
        Ok((mid.to_owned(), status))
    }

    async fn echo(&self, customer: &str, info: &StackInfo) -> Result<(), DemoError> {
        self.send(
            json!({"kind": "echo", "account_id": self.account.as_str(), "customer_id": customer, "text": "..."}),
            info,
        )
        .await
        .map(|_| ())
    }

    /// A post of the demo account at the simulator, to comment on.
    async fn media(&self) -> Result<String, DemoError> {
        let made = self
            .admin(
                "/_sim/media",
                json!({"account_id": self.account.as_str(), "caption": "New hand-glazed mugs are in!"}),
            )
            .await?;
        made["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| DemoError("the simulator created no media".into()))
    }

    /// Someone comments on the post; the simulator sends the signed webhook.
    async fn comment(
        &self,
        media: &str,
        text: &str,
        info: &StackInfo,
    ) -> Result<String, DemoError> {
        let made = self
            .admin(
                "/_sim/comments",
                json!({"media_id": media, "text": text, "from_username": "someone.commenting"}),
            )
            .await?;
        if made["delivery"]["ok"] != json!(true) {
            return Err(DemoError(format!(
                "{} did not accept the comment webhook",
                info.webhook_url
            )));
        }
        made["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| DemoError("the simulator created no comment".into()))
    }

    async fn stored(&self, customer: &CustomerId, mid: &str) -> Result<Duration, DemoError> {
        poll(
            Duration::from_secs(30),
            "the message was not stored",
            || async {
                let page = self
                    .store
                    .list_messages(&self.tenant, &self.account, customer, &Listing::default())
                    .await
                    .ok()?;
                page.items
                    .iter()
                    .any(|m| m.mid.as_str() == mid)
                    .then_some(())
            },
        )
        .await
        .map(|(_, took)| took)
    }

    /// Texts the simulator's Send API received for `customer`.
    async fn replies_to(&self, customer: &str) -> Vec<String> {
        let Ok(response) = self
            .http
            .get(format!(
                "{}/_sim/messages?account_id={}",
                self.sim,
                self.account.as_str()
            ))
            .send()
            .await
        else {
            return Vec::new();
        };
        let messages: Value = response.json().await.unwrap_or(Value::Null);
        messages
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["recipient"]["id"] == json!(customer))
            .filter_map(|m| m["text"].as_str().map(str::to_owned))
            .collect()
    }

    async fn reply_after(
        &self,
        customer: &str,
        before: usize,
        limit: Duration,
    ) -> Result<(String, Duration), DemoError> {
        poll(limit, "no reply reached the simulator", || async {
            self.replies_to(customer).await.get(before).cloned()
        })
        .await
    }

    async fn paused(&self, customer: &CustomerId) -> Result<String, DemoError> {
        poll(
            Duration::from_secs(30),
            "the conversation was not paused",
            || async {
                let conversation = self
                    .store
                    .get_conversation(&self.tenant, &self.account, customer)
                    .await
                    .ok()??;
                conversation.paused.then(|| {
                    conversation
                        .paused_reason
                        .unwrap_or_else(|| "paused".into())
                })
            },
        )
        .await
        .map(|(reason, _)| reason)
    }

    async fn outcome_of(&self, customer: &CustomerId, mid: &str) -> Result<String, DemoError> {
        poll(
            Duration::from_secs(60),
            "ai-reply recorded no outcome for the DM",
            || async {
                let page = self
                    .store
                    .list_reply_outcomes(&self.tenant, &self.account, customer, &Listing::default())
                    .await
                    .ok()?;
                page.items
                    .iter()
                    .find(|o| o.inbound_mid.as_str() == mid)
                    .map(|o| {
                        format!(
                            "{:?}{}",
                            o.status,
                            o.reason
                                .as_deref()
                                .map(|r| format!(" ({r})"))
                                .unwrap_or_default()
                        )
                    })
            },
        )
        .await
        .map(|(outcome, _)| outcome)
    }

    /// Waits for moderation to classify the comment.
    async fn moderated(&self, comment: &str) -> Result<Tagged, DemoError> {
        let id = CommentId::parse(comment)
            .map_err(|e| DemoError(format!("comment id {comment}: {e}")))?;
        poll(
            Duration::from_secs(30),
            "the comment was not stored and classified",
            || async {
                let stored = self
                    .store
                    .get_comment(&self.tenant, &self.account, &id)
                    .await
                    .ok()??;
                // Classified, and (when the policy hides it) hidden.
                let settled = stored.moderated_at.is_some() && stored.hidden == stored.auto_hide;
                settled.then(|| Tagged {
                    labels: stored
                        .labels
                        .iter()
                        .map(|l| l.as_str().to_owned())
                        .collect(),
                    status: stored.status.as_str().to_owned(),
                })
            },
        )
        .await
        .map(|(tagged, _)| tagged)
    }

    /// A person answers a comment: a reply job on the moderation queue (as the API
    /// will send it), then the reply at the simulator and the comment marked replied.
    /// One call of the management API with the demo owner key: status and JSON body.
    async fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), DemoError> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a valid method");
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.api))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request
                .header(
                    "idempotency-key",
                    format!("demo-{}", rand::thread_rng().gen_range(0..u64::MAX)),
                )
                .json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| DemoError(format!("the API is not reachable: {e}")))?;
        let status = response.status().as_u16();
        let value = response.json().await.unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// Like [`Ctx::api`], but anything other than `want` is a failure.
    async fn api_expect(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        want: u16,
    ) -> Result<Value, DemoError> {
        let (status, value) = self.api(method, path, body).await?;
        if status != want {
            return Err(DemoError(format!(
                "{method} /v1{path} answered {status}: {value}"
            )));
        }
        Ok(value)
    }

    async fn answer(&self, comment: &str) -> Result<String, DemoError> {
        let id = CommentId::parse(comment)
            .map_err(|e| DemoError(format!("comment id {comment}: {e}")))?;
        self.api_expect(
            "POST",
            &format!("/comments/{}-{comment}/reply", self.account),
            Some(json!({ "text": ANSWER })),
            202,
        )
        .await?;
        poll(
            Duration::from_secs(30),
            "the reply did not appear under the comment at the simulator",
            || async {
                let stored = self
                    .store
                    .get_comment(&self.tenant, &self.account, &id)
                    .await
                    .ok()??;
                let reply_id = stored.reply_ids.first()?.as_str().to_owned();
                let all: Value = self
                    .http
                    .get(format!("{}/_sim/comments", self.sim))
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                let at_meta = all.as_array()?.iter().find(|c| c["id"] == comment)?;
                let replied = at_meta["replies"]
                    .as_array()?
                    .iter()
                    .any(|r| r["id"] == reply_id.as_str() && r["text"] == ANSWER);
                (replied && stored.status.as_str() == "replied").then_some(reply_id)
            },
        )
        .await
        .map(|(reply_id, _)| reply_id)
    }

    /// A person answers `customer` from the inbox; the reply reaches Meta and the AI
    /// stays paused.
    async fn inbox_reply(&self, customer: &str) -> Result<String, DemoError> {
        let conversation = format!("{}-{customer}", self.account);
        let inbox = self
            .api_expect(
                "GET",
                &format!("/conversations?account={}&ai_paused=true", self.account),
                None,
                200,
            )
            .await?;
        let listed = inbox["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|c| c["id"] == conversation.as_str()));
        if !listed {
            return Err(DemoError(format!(
                "GET /v1/conversations does not list {conversation} as paused: {inbox}"
            )));
        }
        let before = self.replies_to(customer).await.len();
        let sent = self
            .api_expect(
                "POST",
                &format!("/conversations/{conversation}/messages"),
                Some(json!({ "text": PERSON_REPLY })),
                201,
            )
            .await?;
        poll(
            Duration::from_secs(20),
            "the person's reply did not reach the simulator",
            || async {
                let replies = self.replies_to(customer).await;
                (replies.len() > before && replies.last().is_some_and(|r| r == PERSON_REPLY))
                    .then_some(())
            },
        )
        .await?;
        let after = self
            .api_expect("GET", &format!("/conversations/{conversation}"), None, 200)
            .await?;
        if after["ai_paused"] != json!(true) {
            return Err(DemoError(format!("the AI is no longer paused: {after}")));
        }
        Ok(format!(
            "GET /v1/conversations listed {conversation} (AI paused); POST .../messages sent {} to the simulator; the AI stays paused",
            sent["sent_mids"]
        ))
    }

    /// Shadow mode: the AI drafts, a person edits and approves, Meta gets the edit once.
    async fn approve_draft(&self, shopper: &str, info: &StackInfo) -> Result<String, DemoError> {
        let settings = format!("/accounts/{}/settings", self.account);
        self.api_expect(
            "PATCH",
            &settings,
            Some(json!({"ai": {"mode": "shadow"}})),
            200,
        )
        .await?;
        let result = async {
            self.dm(shopper, "Do your mugs ship to Austria?", info).await?;
            let conversation = format!("{}-{shopper}", self.account);
            let (draft, took) = poll(Duration::from_secs(60), "no draft was listed by GET /v1/drafts", || async {
                let (_, drafts) = self
                    .api("GET", &format!("/drafts?account={}", self.account), None)
                    .await
                    .ok()?;
                drafts["items"]
                    .as_array()?
                    .iter()
                    .find(|d| d["conversation_id"] == conversation.as_str())
                    .and_then(|d| d["draft_id"].as_str().map(str::to_owned))
            })
            .await?;
            let path = format!("/conversations/{conversation}/drafts/{draft}/approve");
            self.api_expect("POST", &path, Some(json!({ "text": EDITED_DRAFT })), 201)
                .await?;
            let (again, _) = self.api("POST", &path, Some(json!({}))).await?;
            if again != 409 {
                return Err(DemoError(format!("a second approval answered {again}, not 409")));
            }
            poll(Duration::from_secs(20), "the approved draft did not reach the simulator", || async {
                let replies = self.replies_to(shopper).await;
                (replies == [EDITED_DRAFT]).then_some(())
            })
            .await?;
            Ok(format!(
                "the AI drafted an answer ({:.1} s); a person edited and approved it; the simulator received exactly the edited text, and a second approval was refused (409)",
                took.as_secs_f64()
            ))
        }
        .await;
        // The demo tenant answers automatically again, whatever happened above.
        self.api_expect(
            "PATCH",
            &settings,
            Some(json!({"ai": {"mode": "auto"}})),
            200,
        )
        .await?;
        result
    }

    /// Schedules an image 20 s ahead through the API and waits for it at the simulator.
    async fn scheduled_post(&self) -> Result<String, DemoError> {
        let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(20);
        let caption = format!(
            "Fresh mugs, glazed this morning #{}",
            rand::thread_rng().gen_range(1000..9999)
        );
        let created = self
            .api_expect(
                "POST",
                "/posts",
                Some(json!({
                    "account_id": self.account.as_str(),
                    "content": {"type": "image", "url": format!("{}/_sim/files/mugs.jpg", self.sim),
                        "alt_text": "Three blue mugs on a shelf"},
                    "caption": caption,
                    "scheduled_at": at
                        .format(&time::format_description::well_known::Rfc3339)
                        .expect("RFC 3339 formats"),
                })),
                201,
            )
            .await?;
        let id = created["id"]
            .as_str()
            .or_else(|| created["post_id"].as_str())
            .ok_or_else(|| DemoError(format!("POST /v1/posts answered no id: {created}")))?
            .to_owned();
        let (post, _) = poll(
            Duration::from_secs(90),
            "the post was not published within 90 s",
            || async {
                let (_, post) = self.api("GET", &format!("/posts/{id}"), None).await.ok()?;
                match post["status"].as_str()? {
                    "published" => Some(Ok(post)),
                    "failed" | "cancelled" => Some(Err(post)),
                    _ => None,
                }
            },
        )
        .await?;
        let post =
            post.map_err(|p| DemoError(format!("the post did not go out: {}", p["failure"])))?;
        let late =
            post["published_at"].as_i64().unwrap_or(0) - post["scheduled_at"].as_i64().unwrap_or(0);
        let media: Value = self
            .http
            .get(format!("{}/_sim/media", self.sim))
            .send()
            .await
            .map_err(|e| DemoError(format!("the simulator: {e}")))?
            .json()
            .await
            .map_err(|e| DemoError(format!("the simulator: {e}")))?;
        let copies = media
            .as_array()
            .map(|all| {
                all.iter()
                    .filter(|m| m["caption"] == caption.as_str())
                    .count()
            })
            .unwrap_or(0);
        if copies != 1 {
            return Err(DemoError(format!(
                "the simulator holds {copies} media with the post's caption, not 1"
            )));
        }
        Ok(format!(
            "POST /v1/posts scheduled post {id}; it was published {:.1} s after its time as {} ({})",
            late as f64 / 1000.0,
            post["progress"]["media_id"].as_str().unwrap_or("?"),
            post["progress"]["permalink"]
                .as_str()
                .unwrap_or("no permalink")
        ))
    }

    /// Asks for a refresh of the demo account's profile and insights, waits for the sync
    /// function to carry it out, and reads the profile and the last seven days back.
    async fn insights(&self) -> Result<Vec<String>, DemoError> {
        let account = self.account.as_str();
        let (status, answer) = self
            .api(
                "POST",
                &format!("/accounts/{account}/insights/refresh"),
                None,
            )
            .await?;
        // 429: a refresh was queued in the last minutes (a demo run a moment ago).
        if status != 202 && status != 429 {
            return Err(DemoError(format!(
                "POST /v1/accounts/{account}/insights/refresh answered {status}: {answer}"
            )));
        }
        let ((profile, insights), waited) = poll(
            Duration::from_secs(60),
            "the sync function did not refresh the account within 60 s",
            || async {
                let (_, profile) = self
                    .api("GET", &format!("/accounts/{account}/profile"), None)
                    .await
                    .ok()?;
                let (_, insights) = self
                    .api(
                        "GET",
                        &format!(
                            "/accounts/{account}/insights?metric=views,reach,accounts_engaged"
                        ),
                        None,
                    )
                    .await
                    .ok()?;
                (profile["status"] == "fresh" && insights["status"] == "fresh")
                    .then_some((profile, insights))
            },
        )
        .await?;
        let p = &profile["profile"];
        let figure = |v: &Value| {
            v.as_i64()
                .map_or("no data yet".to_owned(), |n| n.to_string())
        };
        let mut lines = vec![format!(
            "GET /v1/accounts/{account}/profile: @{} ({}), {} followers, {} following, {} posts (refreshed in {:.1} s)",
            p["username"].as_str().unwrap_or("?"),
            p["name"].as_str().unwrap_or("no name"),
            figure(&p["followers_count"]),
            figure(&p["follows_count"]),
            figure(&p["media_count"]),
            waited.as_secs_f64()
        )];
        let days = insights["days"].as_array().cloned().unwrap_or_default();
        let week = &days[days.len().saturating_sub(7)..];
        if week.len() != 7 {
            return Err(DemoError(format!(
                "GET /v1/accounts/{account}/insights answered {} days, not 30: {insights}",
                days.len()
            )));
        }
        lines.push(format!(
            "GET /v1/accounts/{account}/insights: the last 7 days (views / reach / accounts engaged):"
        ));
        for day in week {
            let v = &day["values"];
            lines.push(format!(
                "    {}  {:>6} / {:>6} / {:>6}",
                day["date"].as_str().unwrap_or("?"),
                figure(&v["views"]),
                figure(&v["reach"]),
                figure(&v["accounts_engaged"])
            ));
        }
        Ok(lines)
    }

    /// Whether the simulator (Meta) shows the comment as hidden.
    async fn hidden_at_meta(&self, comment: &str) -> Option<bool> {
        let all: Value = self
            .http
            .get(format!("{}/_sim/comments", self.sim))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        all.as_array()?
            .iter()
            .find(|c| c["id"] == comment)
            .and_then(|c| c["hidden"].as_bool())
    }
}
