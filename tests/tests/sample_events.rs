//! The sample Lambda events in `events/webhook` (API Gateway HTTP API v2 requests) and
//! `events/ingest` (SQS batches), for `cargo lambda invoke --data-file`.
//!
//! They are generated here from the Meta payloads in `events/meta`, with the webhook
//! function's own code: POST bodies are the exact bytes of the Meta samples, signed with the
//! local stack's app secret; SQS record bodies are what the webhook queues for those
//! payloads (`parse_envelope` + `queue_messages`). Regenerate after changing a Meta sample:
//!
//! ```text
//! RELAY_WRITE_SAMPLE_EVENTS=1 cargo test -p relay-tests --test sample_events -- sample_events_are_current
//! ```
//!
//! Without the variable the tests check that the files are current, that each parses as
//! its Lambda event type, and that the signed ones verify.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_http::RequestExt;
use relay::secret::Secret;
use relay::webhook::{
    Delivery, QueueLimits, SIGNATURE_HEADER, SignatureError, parse_envelope, parse_queue_message,
    queue_messages, sign, verify_signature, verify_subscription,
};
use serde_json::{Map, Value, json};

/// The app secret of the local stack's default `META_APP_SECRETS`; the signed samples
/// verify with it.
const APP_SECRET: &str = "relay-local-app-secret";
/// The local stack's default `META_VERIFY_TOKEN`, used by the handshake sample.
const VERIFY_TOKEN: &str = "relay-local-verify-token";
/// Signs `bad-signature.json`: a secret Relay does not have.
const FOREIGN_SECRET: &str = "not-the-app-secret";
const CHALLENGE: &str = "1158201444";
const WEBHOOK_PATH: &str = "/webhooks/meta";
const WRITE_VAR: &str = "RELAY_WRITE_SAMPLE_EVENTS";
/// A queue message that is no webhook entry at all.
const POISON: &str = r#"{"object":"instagram","entry":"not an entry"}"#;
/// When the samples pretend to have been sent and received (ms).
const SENT_AT_MS: i64 = 1_790_000_001_000;

/// Meta payloads that make up `ingest/batch.json`, in order (10 SQS messages at most).
const BATCH: [&str; 8] = [
    "instagram-message-text",
    "instagram-message-echo",
    "instagram-reaction",
    "instagram-message-attachment",
    "instagram-comment",
    "instagram-mention",
    "messenger-message",
    "messenger-echo",
];

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the repository root")
        .join("events")
}

/// Every Meta sample as (name without `.json`, exact body), sorted by name. A trailing
/// newline of the file is not part of the body: Meta sends none.
fn meta_samples() -> Vec<(String, String)> {
    let mut samples: Vec<(String, String)> = std::fs::read_dir(events_dir().join("meta"))
        .expect("events/meta is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let name = path
                .file_stem()
                .expect("a .json file has a stem")
                .to_string_lossy()
                .into_owned();
            let body = std::fs::read_to_string(&path).expect("Meta samples are UTF-8");
            (name, body.trim_end().to_owned())
        })
        .collect();
    samples.sort();
    samples
}

fn meta_sample(samples: &[(String, String)], name: &str) -> String {
    samples
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("events/meta/{name}.json exists"))
        .1
        .clone()
}

/// The SQS message bodies the webhook queues for a delivery.
fn queued_bodies(body: &str) -> Vec<String> {
    match parse_envelope(body.as_bytes()) {
        Ok(Delivery::Accepted(envelope)) => queue_messages(&envelope, &QueueLimits::SQS)
            .messages
            .into_iter()
            .map(|m| m.into_body())
            .collect(),
        other => panic!("every Meta sample is an Instagram or page delivery: {other:?}"),
    }
}

/// A stable hex digest, for ids that must not change between generations.
fn digest(input: &str) -> String {
    sign(input.as_bytes(), &Secret::new("relay-sample-event-ids"))
        .trim_start_matches("sha256=")
        .to_owned()
}

/// An API Gateway HTTP API (payload format 2.0) request event.
fn apigw_event(
    method: &str,
    query: &[(&str, &str)],
    extra_headers: &[(&str, String)],
    body: Option<&str>,
) -> Value {
    let raw_query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = Map::new();
    headers.insert(
        "host".into(),
        json!("relaylocal.execute-api.us-east-1.amazonaws.com"),
    );
    headers.insert("user-agent".into(), json!("facebookexternalua"));
    headers.insert("x-forwarded-for".into(), json!("173.252.127.1"));
    headers.insert("x-forwarded-port".into(), json!("443"));
    headers.insert("x-forwarded-proto".into(), json!("https"));
    if let Some(body) = body {
        headers.insert("content-type".into(), json!("application/json"));
        headers.insert("content-length".into(), json!(body.len().to_string()));
    }
    for (name, value) in extra_headers {
        headers.insert((*name).into(), json!(value));
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {WEBHOOK_PATH}"),
        "rawPath": WEBHOOK_PATH,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "relaylocal",
            "domainName": "relaylocal.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "relaylocal",
            "http": {
                "method": method,
                "path": WEBHOOK_PATH,
                "protocol": "HTTP/1.1",
                "sourceIp": "173.252.127.1",
                "userAgent": "facebookexternalua"
            },
            "requestId": format!("sample-{}", &digest(&format!("{method}{raw_query}{}", body.unwrap_or_default()))[..16]),
            "routeKey": format!("{method} {WEBHOOK_PATH}"),
            "stage": "$default",
            "time": "21/Sep/2026:14:13:21 +0000",
            "timeEpoch": SENT_AT_MS
        },
        "isBase64Encoded": false
    });
    if !query.is_empty() {
        let params: Map<String, Value> =
            query.iter().map(|(k, v)| ((*k).into(), json!(v))).collect();
        event["queryStringParameters"] = Value::Object(params);
    }
    if let Some(body) = body {
        // A JSON body reaches Lambda as text; the string holds Meta's exact bytes.
        event["body"] = json!(body);
    }
    event
}

/// An SQS event with one record per body, as the event source mapping hands it over.
fn sqs_event(file: &str, bodies: &[String]) -> Value {
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let id = digest(&format!("{file}#{i}#{body}"));
            json!({
                "messageId": format!("{}-{}-{}-{}-{}", &id[0..8], &id[8..12], &id[12..16], &id[16..20], &id[20..32]),
                "receiptHandle": format!("AQEB{}", &id[32..64]),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": SENT_AT_MS.to_string(),
                    "SenderId": "AROAEXAMPLEWEBHOOKROLE:relay-webhook",
                    "ApproximateFirstReceiveTimestamp": (SENT_AT_MS + 40).to_string()
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:relay-local-InboundQueue",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    json!({ "Records": records })
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("a JSON value always serializes");
    text.push('\n');
    text
}

/// Every sample file, by path below `events/`.
fn generate() -> BTreeMap<String, String> {
    let samples = meta_samples();
    let mut files = BTreeMap::new();

    let post = meta_sample(&samples, "instagram-message-text");
    let signature = |body: &str, secret: &str| sign(body.as_bytes(), &Secret::new(secret));
    files.insert(
        "webhook/handshake.json".to_owned(),
        pretty(&apigw_event(
            "GET",
            &[
                ("hub.mode", "subscribe"),
                ("hub.challenge", CHALLENGE),
                ("hub.verify_token", VERIFY_TOKEN),
            ],
            &[],
            None,
        )),
    );
    files.insert(
        "webhook/signed-post.json".to_owned(),
        pretty(&apigw_event(
            "POST",
            &[],
            &[(SIGNATURE_HEADER, signature(&post, APP_SECRET))],
            Some(&post),
        )),
    );
    files.insert(
        "webhook/bad-signature.json".to_owned(),
        pretty(&apigw_event(
            "POST",
            &[],
            &[(SIGNATURE_HEADER, signature(&post, FOREIGN_SECRET))],
            Some(&post),
        )),
    );
    // Correctly signed, but the JSON stops in the middle of the entry.
    let malformed = &post[..post.len() / 2];
    files.insert(
        "webhook/malformed.json".to_owned(),
        pretty(&apigw_event(
            "POST",
            &[],
            &[(SIGNATURE_HEADER, signature(malformed, APP_SECRET))],
            Some(malformed),
        )),
    );

    for (name, body) in &samples {
        let file = format!("ingest/{name}.json");
        let event = sqs_event(&file, &queued_bodies(body));
        files.insert(file, pretty(&event));
    }
    let batch: Vec<String> = BATCH
        .iter()
        .flat_map(|name| queued_bodies(&meta_sample(&samples, name)))
        .collect();
    assert!(batch.len() <= 10, "an SQS batch holds at most 10 messages");
    files.insert(
        "ingest/batch.json".to_owned(),
        pretty(&sqs_event("ingest/batch.json", &batch)),
    );
    let mut poisoned = queued_bodies(&meta_sample(&samples, "instagram-message-text"));
    poisoned.push(POISON.to_owned());
    poisoned.extend(queued_bodies(&meta_sample(&samples, "instagram-comment")));
    files.insert(
        "ingest/poison.json".to_owned(),
        pretty(&sqs_event("ingest/poison.json", &poisoned)),
    );
    files
}

/// The `.json` files now in `events/<dir>`, by path below `events/`.
fn on_disk(dir: &str) -> BTreeMap<String, String> {
    let path = events_dir().join(dir);
    let Ok(entries) = std::fs::read_dir(&path) else {
        return BTreeMap::new();
    };
    entries
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_name().expect("a file name").to_string_lossy();
            (
                format!("{dir}/{name}"),
                std::fs::read_to_string(&p).expect("sample events are UTF-8"),
            )
        })
        .collect()
}

#[test]
fn sample_events_are_current() {
    let generated = generate();
    if std::env::var_os(WRITE_VAR).is_some() {
        for dir in ["webhook", "ingest"] {
            std::fs::create_dir_all(events_dir().join(dir)).expect("events/<dir> can be made");
            for stale in on_disk(dir).keys().filter(|k| !generated.contains_key(*k)) {
                std::fs::remove_file(events_dir().join(stale)).expect("a stale sample is removed");
            }
        }
        for (path, text) in &generated {
            std::fs::write(events_dir().join(path), text).expect("a sample is written");
        }
    }
    let mut existing = on_disk("webhook");
    existing.extend(on_disk("ingest"));
    let missing: Vec<&String> = generated
        .keys()
        .filter(|k| !existing.contains_key(*k))
        .collect();
    let stale: Vec<&String> = existing
        .keys()
        .filter(|k| !generated.contains_key(*k))
        .collect();
    let outdated: Vec<&String> = generated
        .iter()
        .filter(|(k, v)| existing.get(*k).is_some_and(|e| e != *v))
        .map(|(k, _)| k)
        .collect();
    assert!(
        missing.is_empty() && stale.is_empty() && outdated.is_empty(),
        "sample events are out of date (missing {missing:?}, stale {stale:?}, outdated \
         {outdated:?}); regenerate with {WRITE_VAR}=1 cargo test -p relay-tests --test sample_events -- sample_events_are_current"
    );
}

#[test]
fn every_webhook_sample_is_an_api_gateway_request_and_the_signed_ones_verify() {
    let secrets = [Secret::new(APP_SECRET)];
    let files = on_disk("webhook");
    assert_eq!(
        files.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "webhook/bad-signature.json",
            "webhook/handshake.json",
            "webhook/malformed.json",
            "webhook/signed-post.json"
        ]
    );
    for (path, text) in &files {
        let request = lambda_http::request::from_str(text)
            .unwrap_or_else(|e| panic!("{path} is not an API Gateway event: {e}"));
        assert_eq!(request.uri().path(), WEBHOOK_PATH, "{path}");
        let body: &[u8] = request.body().as_ref();
        let header = request
            .headers()
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok());
        match path.as_str() {
            "webhook/handshake.json" => {
                assert_eq!(request.method(), "GET");
                let query = request.query_string_parameters();
                assert_eq!(
                    verify_subscription(
                        query.first("hub.mode"),
                        query.first("hub.verify_token"),
                        query.first("hub.challenge"),
                        &Secret::new(VERIFY_TOKEN),
                    ),
                    Ok(CHALLENGE.to_owned())
                );
            }
            "webhook/signed-post.json" => {
                assert_eq!(verify_signature(body, header, &secrets), Ok(()));
                assert!(matches!(
                    parse_envelope(body),
                    Ok(Delivery::Accepted(e)) if e.entries.len() == 1
                ));
                assert_eq!(
                    body,
                    meta_sample(&meta_samples(), "instagram-message-text").as_bytes(),
                    "the body is the Meta sample, byte for byte"
                );
            }
            "webhook/bad-signature.json" => {
                assert_eq!(
                    verify_signature(body, header, &secrets),
                    Err(SignatureError::Mismatch)
                );
            }
            "webhook/malformed.json" => {
                assert_eq!(verify_signature(body, header, &secrets), Ok(()));
                assert!(parse_envelope(body).is_err(), "{path} must not parse");
            }
            other => unreachable!("{other} was listed above"),
        }
    }
}

#[test]
fn every_ingest_sample_is_an_sqs_event_of_webhook_entries() {
    let files = on_disk("ingest");
    let meta = meta_samples();
    assert_eq!(
        files.len(),
        meta.len() + 2,
        "one per Meta sample, plus batch.json and poison.json"
    );
    for (path, text) in &files {
        let event: SqsEvent = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("{path} is not an SQS event: {e}"));
        assert!(!event.records.is_empty(), "{path} has records");
        assert!(
            event.records.len() <= 10,
            "{path}: SQS batches hold 10 at most"
        );
        for record in &event.records {
            assert!(record.message_id.is_some() && record.receipt_handle.is_some());
            assert_eq!(record.event_source.as_deref(), Some("aws:sqs"));
            assert_eq!(record.attributes["ApproximateReceiveCount"], "1");
            let body = record.body.as_deref().expect("every record has a body");
            match parse_queue_message(body) {
                Ok(entry) => assert!(
                    !entry.events.is_empty() || !entry.rejected.is_empty(),
                    "{path}: an entry without events"
                ),
                Err(_) if path == "ingest/poison.json" && body == POISON => {}
                Err(e) => panic!("{path}: a record does not parse: {e}"),
            }
        }
    }
    let poison: SqsEvent = serde_json::from_str(&files["ingest/poison.json"]).unwrap();
    assert_eq!(
        poison
            .records
            .iter()
            .filter(|r| r.body.as_deref() == Some(POISON))
            .count(),
        1
    );
}
