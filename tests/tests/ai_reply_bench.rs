//! Latency of automated replies: time from a job's arrival at the ai-reply handler to the
//! send at the Meta simulator, for 1,000 jobs with the built-in drafter, against moto
//! and the simulator on loopback.
//!
//! Ignored by default (it takes a minute or two). Run it with:
//!
//! ```text
//! infra/scripts/test.sh -p relay-tests --release --test ai_reply_bench -- --ignored --nocapture
//! ```
//!
//! Shape: 10 tenants with one Instagram account each, 20 knowledge entries per tenant.
//! Each round, one customer per account sends a DM (one signed webhook with 10 entries),
//! webhook and ingest store them and queue the jobs, and the replies queue is drained
//! through the handler in batches of up to 10, as the SQS event source mapping does.
//! Arrival is taken (on the simulator's clock) when a batch is handed to the handler;
//! the send time is the simulator's own record of the accepted Send API call
//! (`/_sim/requests`, milliseconds). With one job per account per round, the n-th send of
//! an account answers its n-th job.
//!
//! The run is cut into 10 segments of 100 jobs, each on fresh tables and a fresh
//! simulator: moto deep-copies a whole table for every TransactWriteItems, so one table
//! growing through all 1,000 jobs would measure moto's copying (and exhaust memory)
//! rather than the handler.

mod ai_support;
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ai_reply::Settings;
use ai_support::*;
use aws_lambda_events::event::sqs::SqsEvent;
use common::{Pipeline, tenant};
use relay::ai::KnowledgeEntry;
use relay::ids::AccountId;
use relay::inbox::AiMode;
use relay::jobs::AiReplyJob;
use relay_tests::pipeline::Dispatcher;
use relay_tests::sim_clock::SimClock;
use serde_json::{Value, json};

const ACCOUNTS: usize = 10;
/// Rounds per segment, and segments: 10 x 10 rounds x 10 accounts = 1,000 jobs.
const ROUNDS: usize = 10;
const SEGMENTS: usize = 10;
const QUESTIONS: [&str; 4] = [
    "Hi! Is the Trail Boot BOOT-42 in stock?",
    "How long does shipping take to Hamburg?",
    "Can I return an order if it does not fit?",
    "What does the summer sandal cost?",
];

fn knowledge_for(t: &relay::ids::TenantId) -> Vec<KnowledgeEntry> {
    let mut entries: Vec<KnowledgeEntry> = acme_knowledge()
        .into_iter()
        .map(|mut e| {
            e.tenant_id = t.clone();
            e
        })
        .collect();
    for i in 0..15 {
        entries.push(entry(
            t,
            &format!("faq-{i}"),
            faq(
                &format!("Question {i} about care instructions for product line {i}"),
                &format!("Answer {i}: clean with a damp cloth and let it dry at room temperature."),
            ),
            &["care"],
        ));
    }
    entries
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Latencies (ms) of one segment's jobs.
async fn segment(segment: usize) -> (Vec<i64>, usize) {
    let p = Pipeline::start().await;
    let clock = SimClock::connect(p.sim.base_url()).await;
    // Thousands of calls in minutes: keep the simulated rate limits out of the way.
    sim_post(
        &p,
        "/_sim/usage",
        json!({"call_count": 1, "total_time": 1, "total_cputime": 1}),
    )
    .await;

    let mut accounts = Vec::new();
    for i in 0..ACCOUNTS {
        let t = tenant(&format!("bench-{i}"));
        let account = Ai::connect(&p, &t, &format!("bench_shop_{segment}_{i}")).await;
        let id = AccountId::parse(&account).unwrap();
        p.store
            .put_ai_settings(&t, &id, &ai_settings(AiMode::Auto))
            .await
            .unwrap();
        for e in knowledge_for(&t) {
            p.store.put_knowledge(&t, &e).await.unwrap();
        }
        accounts.push(account);
    }
    let handler = Arc::new(build_handler(
        &p,
        &clock,
        Arc::new(relay::ai::BuiltinDrafter),
        Settings::default(),
        None,
    ));
    let replies = Dispatcher::new(p.aws.sqs(), p.aws.queues.replies.clone());
    // First arrival (simulator clock, ms) of each job, by mid.
    let arrivals: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
    let mut redelivered = 0;

    for round in 0..ROUNDS {
        let batch: Vec<Value> = accounts
            .iter()
            .enumerate()
            .map(|(i, account)| {
                json!({"kind": "dm", "account_id": account,
                       "customer_id": format!("77{:02}{:02}{:08}", segment, i, round),
                       "mid": format!("bench.{segment}.{round}.{i}"),
                       "text": QUESTIONS[(round + i) % QUESTIONS.len()]})
            })
            .collect();
        p.deliver(json!({"batch": batch})).await;
        let ingested = p.drain().await;
        assert_eq!(ingested.failed, 0);
        let drained = replies
            .drain(20, |event: SqsEvent| {
                let handler = handler.clone();
                let arrivals = arrivals.clone();
                let clock = clock.clone();
                async move {
                    let now = clock.now_ms();
                    {
                        let mut arrived = arrivals.lock().unwrap();
                        for record in &event.records {
                            let job: AiReplyJob =
                                serde_json::from_str(record.body.as_deref().unwrap()).unwrap();
                            arrived.entry(job.mid.to_string()).or_insert(now);
                        }
                    }
                    relay::lambda::sqs_batch(&*handler, &event).await
                }
            })
            .await;
        assert_eq!(
            drained.delivered, ACCOUNTS,
            "segment {segment} round {round}"
        );
        // A failed delivery is retried (and, having sent already, does nothing more).
        redelivered += drained.failed;
    }

    let requests: Value = p
        .http
        .get(format!("{}/_sim/requests", p.sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut sends: HashMap<String, Vec<i64>> = HashMap::new();
    for r in requests.as_array().unwrap() {
        let path = r["path"].as_str().unwrap_or_default();
        if r["method"] == "POST" && path.ends_with("/messages") && r["status"] == 200 {
            let account = path.rsplit('/').nth(1).unwrap_or_default().to_owned();
            sends
                .entry(account)
                .or_default()
                .push(r["at_ms"].as_i64().unwrap());
        }
    }
    let arrivals = arrivals.lock().unwrap().clone();
    let mut latencies = Vec::new();
    for (i, account) in accounts.iter().enumerate() {
        let s = sends.get(account).cloned().unwrap_or_default();
        assert_eq!(
            s.len(),
            ROUNDS,
            "every job of {account} was answered exactly once"
        );
        for (round, sent) in s.iter().enumerate() {
            let arrived = arrivals[&format!("bench.{segment}.{round}.{i}")];
            latencies.push(sent - arrived);
        }
    }
    (latencies, redelivered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "latency bench: run with --ignored --nocapture"]
async fn reply_latency_of_1000_jobs_with_the_builtin_drafter() {
    // Warnings (a failed job, a slow send) show up in the bench output.
    let _ = tracing_subscriber::fmt().with_env_filter("warn").try_init();
    let started = std::time::Instant::now();
    let mut latencies = Vec::new();
    let mut redelivered = 0;
    for s in 0..SEGMENTS {
        let (mut segment_latencies, retried) = segment(s).await;
        latencies.append(&mut segment_latencies);
        redelivered += retried;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let n = latencies.len();
    let mean = latencies.iter().sum::<i64>() as f64 / n as f64;
    println!(
        "ai-reply latency, job arrival -> send at the simulator, built-in drafter, {n} jobs: \
         median {} ms, p99 {} ms, mean {:.1} ms, min {} ms, max {} ms; {} deliveries retried \
         (whole run {:.1} s incl. setup, webhook and ingest)",
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        mean,
        latencies[0],
        latencies[n - 1],
        redelivered,
        elapsed.as_secs_f64()
    );
    assert_eq!(n, SEGMENTS * ROUNDS * ACCOUNTS);
    assert!(latencies[0] >= 0, "a send cannot precede its job");
}
