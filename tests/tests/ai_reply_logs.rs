//! What reaches the logs while the AI replies: ids, reasons and fingerprints, never the
//! customer's text, the reply, customer ids, the LLM key or tokens.
//!
//! Its own test binary: `tracing` caches per call site whether anyone listens, and a test
//! logging on another thread while this one installs its capture can make that cache miss
//! the capture. Alone in its process, every line is seen.

mod ai_support;
mod common;

use ai_support::*;
use common::customer;
use relay::inbox::AiMode;
use relay_tests::fake_llm::Answer;

/// A current-thread runtime: the handlers, the simulator and the fake LLM run on this
/// thread, so they all log to the subscriber captured here.
#[tokio::test(flavor = "current_thread")]
async fn logs_carry_ids_and_reasons_but_no_text_customer_ids_or_keys() {
    let (logs, _guard) = relay::telemetry::capture();
    let ai = Ai::start(AiMode::Auto, Brain::Llm).await;
    ai.llm().then(1, Answer::Status(502));
    ai.says("My address is Hauptstraße 5, how long does shipping take?")
        .await;
    ai.settle().await;
    assert_eq!(ai.sent().await.len(), 1);
    let ours: Vec<String> = logs
        .text()
        .lines()
        .filter(|l| {
            ["ai_reply", "relay::ai", "relay::replies"]
                .iter()
                .any(|t| l.contains(&format!("\"target\":\"{t}")))
        })
        .map(str::to_owned)
        .collect();
    assert!(
        ours.iter().any(|l| l.contains("job done")),
        "the handler logs its outcome: {:?}",
        logs.text()
            .lines()
            .filter(|l| l.contains("job done"))
            .take(2)
            .collect::<Vec<_>>()
    );
    assert!(
        ours.iter().any(|l| l.contains("llm_server_error")),
        "failures are logged by reason"
    );
    for line in &ours {
        for secret in [CUSTOMER, "Hauptstraße", REPLY, LLM_KEY, "IGAA"] {
            assert!(!line.contains(secret), "{secret} leaked into: {line}");
        }
    }
    assert!(
        ours.iter()
            .any(|l| l.contains(&customer(CUSTOMER).fingerprint()))
    );
}
