//! What the webhook and ingest functions spend on CPU per request and per event.
//!
//! - `webhook/<case>`: the webhook function's whole path without I/O: verify the
//!   signature, parse the envelope, build the SQS messages and batches.
//! - `floor/<case>`: what any handler must pay at least: HMAC-SHA256 over the body plus a
//!   plain `serde_json::Value` parse of it.
//! - `ingest/<case>`: parsing every queue message of the delivery into typed events
//!   (divide by the event count for the per-event cost; criterion reports it as throughput).
//!
//! Cases: a ~1 KB single DM, a ~10 KB entry with several DMs, and a batch of 100 entries.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use relay::secret::Secret;
use relay::webhook::{
    Delivery, QueueLimits, batches, parse_envelope, parse_queue_message, queue_messages, sign,
    verify_signature,
};
use sha2::Sha256;
use std::hint::black_box;

const IG: &str = "17841400000000001";
const MID: &str = "aWdfbWVzc2FnZV9pdGVtOjE6SUdNZXNzYWdlOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxODA5NjIzOTcwMDAwMQ";

/// One DM with `text_len` bytes of text (German, escaped the way Meta sends it).
fn dm(n: usize, text_len: usize) -> String {
    let unit = "Gr\\u00fc\\u00dfe, habt ihr das in Gr\\u00f6\\u00dfe M? ";
    let mut text = String::new();
    while text.len() < text_len {
        text.push_str(unit);
    }
    format!(
        r#"{{"sender":{{"id":"{}"}},"recipient":{{"id":"{IG}"}},"timestamp":{},"message":{{"mid":"{MID}{n:04}","text":"{text}"}}}}"#,
        1_234_567_890_123_456u64 + n as u64,
        1_790_000_000_000u64 + n as u64
    )
}

fn entry(account: &str, events: &[String]) -> String {
    format!(
        r#"{{"id":"{account}","time":1790000000500,"messaging":[{}]}}"#,
        events.join(",")
    )
}

fn delivery(entries: &[String]) -> String {
    format!(
        r#"{{"object":"instagram","entry":[{}]}}"#,
        entries.join(",")
    )
}

fn cases() -> Vec<(&'static str, String, usize)> {
    let one_kb = delivery(&[entry(IG, &[dm(0, 720)])]);
    let ten_kb = delivery(&[entry(IG, &(0..12).map(|n| dm(n, 520)).collect::<Vec<_>>())]);
    let batch = delivery(
        &(0..100)
            .map(|n| entry(&format!("1784140000000{n:04}"), &[dm(n, 80)]))
            .collect::<Vec<_>>(),
    );
    vec![
        ("1KB", one_kb, 1),
        ("10KB", ten_kb, 12),
        ("100-entries", batch, 100),
    ]
}

fn webhook_path(body: &[u8], header: &str, secrets: &[Secret]) -> usize {
    verify_signature(body, Some(header), secrets).expect("signed by the bench");
    let Delivery::Accepted(envelope) = parse_envelope(body).expect("valid envelope") else {
        unreachable!("the bench sends instagram deliveries")
    };
    let outbox = queue_messages(&envelope, &QueueLimits::SQS);
    batches(outbox.messages, &QueueLimits::SQS).len()
}

fn floor(body: &[u8], secret: &Secret) -> usize {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("any key");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let value: serde_json::Value = serde_json::from_slice(body).expect("valid JSON");
    digest[0] as usize + value.as_object().map_or(0, |o| o.len())
}

fn bench(c: &mut Criterion) {
    let secret = Secret::new("bench-app-secret");
    let secrets = [secret.clone()];
    for (name, body, events) in cases() {
        let body = body.into_bytes();
        let header = sign(&body, &secret);
        println!("case {name}: {} bytes, {events} events", body.len());

        let mut group = c.benchmark_group("webhook");
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| webhook_path(black_box(&body), black_box(&header), &secrets))
        });
        group.finish();

        let mut group = c.benchmark_group("floor");
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| floor(black_box(&body), &secret))
        });
        group.finish();

        let Delivery::Accepted(envelope) = parse_envelope(&body).expect("valid") else {
            unreachable!()
        };
        let messages = queue_messages(&envelope, &QueueLimits::SQS).messages;
        let mut group = c.benchmark_group("ingest");
        group.throughput(Throughput::Elements(events as u64));
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let mut parsed = 0;
                for message in &messages {
                    let entry = parse_queue_message(black_box(message.body())).expect("valid");
                    parsed += entry.events.len();
                }
                assert_eq!(parsed, events);
                parsed
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
