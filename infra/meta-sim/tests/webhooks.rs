//! The webhook emitter: signatures over the raw escaped bytes, batches, repeats,
//! bounded retries, and the events that follow admin actions.

mod common;

use common::{Received, Receiver, Sim};
use hmac::{Hmac, Mac};
use meta_sim::SimConfig;
use serde_json::{Value, json};
use sha2::Sha256;

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A simulator that delivers its webhooks to `receiver`.
async fn sim_for(receiver: &Receiver) -> Sim {
    Sim::with(delivering_to(receiver, SimConfig::default())).await
}

/// [`Sim::shop_with`] `config`, delivering its webhooks to `receiver`.
async fn shop_for(receiver: &Receiver, config: SimConfig) -> (Sim, String, String) {
    Sim::shop_with(delivering_to(receiver, config)).await
}

fn delivering_to(receiver: &Receiver, config: SimConfig) -> SimConfig {
    SimConfig {
        webhook_url: Some(receiver.url.clone()),
        ..config
    }
}

/// Asks the simulator to emit `event` (or a batch of them); its delivery report.
async fn emit(sim: &Sim, event: Value) -> Value {
    sim.admin("/_sim/webhooks/send", event).await
}

#[tokio::test]
async fn signature_verifies_over_the_raw_bytes_with_escaped_unicode() {
    let receiver = Receiver::start().await;
    let sim = sim_for(&receiver).await;
    let (account, _) = sim.ig_account("café").await;
    let text = "Grüße aus Köln 👋 https://x.example/a";
    let sent = emit(
        &sim,
        json!({"kind": "dm", "account_id": account, "customer_id": "42", "text": text}),
    )
    .await;
    assert_eq!(sent["deliveries"][0]["ok"], true);
    let got = receiver.wait_for(1).await;
    let raw = &got[0].body;
    let header = got[0].headers["x-hub-signature-256"]
        .to_str()
        .expect("ascii");
    let secret = &sim.sim.config().webhook_secret;
    assert_eq!(
        secret,
        &sim.sim.config().ig_app_secret,
        "defaults to the IG app secret"
    );
    assert_eq!(header, format!("sha256={}", hmac_hex(secret, raw)));

    let raw_text = std::str::from_utf8(raw).expect("ascii body");
    assert!(raw_text.is_ascii(), "non-ASCII is escaped");
    assert!(raw_text.contains(r"Gr\u00fc\u00dfe"));
    assert!(
        raw_text.contains(r"\ud83d\udc4b"),
        "astral characters as surrogate pairs"
    );
    assert!(
        raw_text.contains(r"https:\/\/x.example\/a"),
        "slashes escaped like Meta"
    );

    let parsed: Value = serde_json::from_slice(raw).expect("valid JSON");
    assert_eq!(parsed["object"], "instagram");
    assert_eq!(parsed["entry"][0]["id"], account.as_str());
    assert_eq!(parsed["entry"][0]["messaging"][0]["message"]["text"], text);
    // Re-serialising before hashing gives a different signature: receivers must hash
    // the bytes as received.
    let reserialised = serde_json::to_vec(&parsed).expect("serialises");
    assert_ne!(hmac_hex(secret, &reserialised), hmac_hex(secret, raw));
}

#[tokio::test]
async fn batch_is_one_post_and_repeat_sends_identical_bodies() {
    let receiver = Receiver::start().await;
    let (sim, account, _) = shop_for(&receiver, SimConfig::default()).await;
    emit(
        &sim,
        json!({"batch": [
            {"kind": "dm", "account_id": account, "customer_id": "1", "text": "a"},
            {"kind": "reaction", "account_id": account, "customer_id": "1", "mid": "aWdfZmlyc3Q"},
            {"kind": "read", "account_id": account, "customer_id": "1", "mid": "aWdfZmlyc3Q"},
            {"kind": "comment", "account_id": account, "text": "nice"},
        ]}),
    )
    .await
    .to_string();
    let got = receiver.wait_for(1).await;
    let body = got[0].json();
    let entries = body["entry"].as_array().expect("entries");
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[1]["messaging"][0]["reaction"]["action"], "react");
    assert_eq!(entries[2]["messaging"][0]["read"]["mid"], "aWdfZmlyc3Q");
    assert_eq!(entries[3]["changes"][0]["field"], "comments");

    emit(
        &sim,
        json!({"kind": "dm", "account_id": account, "customer_id": "2", "repeat": 3}),
    )
    .await;
    let got = receiver.wait_for(4).await;
    assert_eq!(got.len(), 4);
    assert!(
        got[1].body == got[2].body && got[2].body == got[3].body,
        "duplicates are byte-identical"
    );
    let mid = got[1].json()["entry"][0]["messaging"][0]["message"]["mid"].clone();
    assert!(mid.as_str().is_some_and(|m| m.starts_with("aWdfZ")));
}

#[tokio::test]
async fn failed_deliveries_are_retried_a_bounded_number_of_times() {
    let receiver = Receiver::answering(500).await;
    let (sim, account, _) = shop_for(&receiver, SimConfig::default()).await;
    let sent = emit(&sim, json!({"kind": "dm", "account_id": account})).await;
    let report = &sent["deliveries"][0];
    assert_eq!(report["ok"], false);
    assert_eq!(
        report["attempts"].as_array().map(Vec::len),
        Some(4),
        "1 + webhook_retry_attempts (3)"
    );
    assert_eq!(receiver.received().len(), 4);
    let log = sim.admin_get("/_sim/webhooks/deliveries").await;
    let log = log.as_array().expect("list");
    assert_eq!(log.len(), 4);
    assert!(
        log.iter()
            .all(|d| d["status"] == 500 && d["delivery_id"] == log[0]["delivery_id"])
    );

    // A receiver that recovers stops the retries.
    let flaky = Receiver::start().await;
    flaky.queue_statuses(&[503]);
    sim.admin("/_sim/webhooks/config", json!({"url": flaky.url}))
        .await;
    let sent = emit(&sim, json!({"kind": "dm", "account_id": account})).await;
    assert_eq!(sent["deliveries"][0]["ok"], true);
    assert_eq!(
        sent["deliveries"][0]["attempts"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(flaky.received().len(), 2);
}

#[tokio::test]
async fn unreachable_receiver_is_recorded_not_fatal() {
    let (sim, account, _) = Sim::shop_with(SimConfig {
        webhook_url: Some("http://127.0.0.1:9/webhook".into()),
        webhook_retry_attempts: 1,
        ..SimConfig::default()
    })
    .await;
    let sent = emit(&sim, json!({"kind": "dm", "account_id": account})).await;
    let attempts = sent["deliveries"][0]["attempts"]
        .as_array()
        .expect("attempts")
        .clone();
    assert_eq!(attempts.len(), 2);
    assert!(
        attempts
            .iter()
            .all(|a| a["status"].is_null() && a["error"].is_string())
    );
}

#[tokio::test]
async fn raw_payloads_and_wrong_signatures_are_sent_as_asked() {
    let receiver = Receiver::start().await;
    let sim = sim_for(&receiver).await;
    emit(
        &sim,
        json!({"raw": {"object": "instagram", "entry": [{"id": "1", "x": "ä"}]}}),
    )
    .await;
    emit(
        &sim,
        json!({"raw_body": "{\"object\":\"page\"}", "signature": "sha256=00"}),
    )
    .await;
    let got = receiver.wait_for(2).await;
    assert_eq!(
        &got[0].body[..],
        br#"{"entry":[{"id":"1","x":"\u00e4"}],"object":"instagram"}"#
    );
    assert_eq!(&got[1].body[..], br#"{"object":"page"}"#);
    assert_eq!(got[1].headers["x-hub-signature-256"], "sha256=00");
}

#[tokio::test]
async fn inbound_delivers_the_dm_and_opens_the_window() {
    let receiver = Receiver::start().await;
    let (sim, account, token) = shop_for(&receiver, SimConfig::default()).await;
    let inbound = sim
        .admin(
            "/_sim/inbound",
            json!({"account_id": account, "customer_id": "99", "text": "hello"}),
        )
        .await;
    let got = receiver.wait_for(1).await;
    let body = got[0].json();
    assert_eq!(
        body["entry"][0]["messaging"][0]["message"]["mid"],
        inbound["mid"]
    );
    assert_eq!(body["entry"][0]["messaging"][0]["sender"]["id"], "99");
    let ts = body["entry"][0]["messaging"][0]["timestamp"]
        .as_i64()
        .expect("ms timestamp");
    let now_ms = sim.admin_get("/_sim/clock").await["now_ms"]
        .as_i64()
        .expect("clock");
    assert!(
        ts <= now_ms && now_ms - ts < 60_000,
        "timestamps in ms from the simulated clock"
    );
    let (status, _) = sim
        .ig_post_json(
            "/me/messages",
            &token,
            json!({"recipient": {"id": "99"}, "message": {"text": "hi!"}}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn comment_webhooks_come_in_every_form_and_create_the_comment() {
    let receiver = Receiver::start().await;
    let (sim, account, token) = shop_for(&receiver, SimConfig::default()).await;
    let media = sim.seed_media(&account).await;
    let created = sim
        .admin(
            "/_sim/comments",
            json!({"media_id": media, "text": "how much?", "from_username": "ana"}),
        )
        .await;
    for kind in [
        "comment_fb_form",
        "comment_flat_form",
        "live_comment",
        "mention",
    ] {
        emit(
            &sim,
            json!({"kind": kind, "account_id": account, "media_id": media}),
        )
        .await;
    }
    let got = receiver.wait_for(5).await;
    let bodies: Vec<Value> = got.iter().map(Received::json).collect();
    let change = &bodies[0]["entry"][0]["changes"][0];
    assert_eq!(change["field"], "comments");
    assert_eq!(change["value"]["id"], created["id"]);
    assert_eq!(change["value"]["from"]["username"], "ana");
    assert_eq!(change["value"]["media"]["id"], media);
    assert!(bodies[1]["entry"][0]["changes"][0]["value"]["comment_id"].is_string());
    assert_eq!(bodies[2]["entry"][0]["field"], "comments");
    assert_eq!(
        bodies[3]["entry"][0]["changes"][0]["field"],
        "live_comments"
    );
    assert_eq!(bodies[4]["entry"][0]["changes"][0]["field"], "mentions");
    // The webhook's comment is real: a private reply to it works once.
    let comment = bodies[1]["entry"][0]["changes"][0]["value"]["comment_id"]
        .as_str()
        .expect("id");
    let (status, _) = sim
        .ig_post_json(
            "/me/messages",
            &token,
            json!({"recipient": {"comment_id": comment}, "message": {"text": "DM sent"}}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn messenger_events_use_the_page_object() {
    let receiver = Receiver::start().await;
    let sim = sim_for(&receiver).await;
    let (_, page, _) = sim.fb_page(json!({"name": "Shop"})).await;
    emit(
        &sim,
        json!({"kind": "messenger_dm", "account_id": page, "customer_id": "5", "text": "hi"}),
    )
    .await;
    emit(
        &sim,
        json!({"kind": "messenger_echo", "account_id": page, "customer_id": "5", "text": "hello"}),
    )
    .await;
    let got = receiver.wait_for(2).await;
    let dm = got[0].json();
    let echo = got[1].json();
    assert_eq!(dm["object"], "page");
    assert!(
        dm["entry"][0]["messaging"][0]["message"]["mid"]
            .as_str()
            .is_some_and(|m| m.starts_with("m_"))
    );
    assert_eq!(echo["entry"][0]["messaging"][0]["message"]["is_echo"], true);
    assert_eq!(echo["entry"][0]["messaging"][0]["sender"]["id"], page);
    let mixed = json!({"batch": [{"kind": "messenger_dm", "account_id": page}, {"kind": "dm", "account_id": page}]});
    let (status, _) = sim.admin_try("/_sim/webhooks/send", mixed).await;
    assert_eq!(status, 400, "one POST carries one object type");
}

#[tokio::test]
async fn sent_messages_are_echoed_when_asked() {
    let receiver = Receiver::start().await;
    let config = SimConfig {
        echo_sent_messages: true,
        ..SimConfig::default()
    };
    let (sim, account, token) = shop_for(&receiver, config).await;
    sim.admin(
        "/_sim/inbound",
        json!({"account_id": account, "customer_id": "8"}),
    )
    .await;
    let (_, sent) = sim
        .ig_post_json(
            "/me/messages",
            &token,
            json!({"recipient": {"id": "8"}, "message": {"text": "ok"}}),
        )
        .await;
    let got = receiver.wait_for(2).await;
    let echo = got[1].json();
    let message = &echo["entry"][0]["messaging"][0]["message"];
    assert_eq!(message["is_echo"], true);
    assert_eq!(message["mid"], sent["message_id"]);
}

#[tokio::test]
async fn subscription_rule_skips_unsubscribed_accounts() {
    let receiver = Receiver::start().await;
    let config = SimConfig {
        require_webhook_subscription: true,
        ..SimConfig::default()
    };
    let (sim, account, token) = shop_for(&receiver, config).await;
    let skipped = emit(&sim, json!({"kind": "dm", "account_id": account})).await;
    assert_eq!(skipped["skipped"], 1);
    assert!(receiver.received().is_empty());
    sim.ig_post_form(
        "/me/subscribed_apps",
        &token,
        &[("subscribed_fields", "messages")],
    )
    .await;
    emit(&sim, json!({"kind": "dm", "account_id": account})).await;
    assert_eq!(receiver.wait_for(1).await.len(), 1);
}

#[tokio::test]
async fn an_attachment_url_is_the_attachments_and_deliver_to_picks_the_receiver() {
    let configured = Receiver::start().await;
    let other = Receiver::start().await;
    let (sim, account, _) = shop_for(&configured, SimConfig::default()).await;
    let cdn = "https://cdn.example/photo.jpg";
    let sent = emit(&sim, json!({"kind": "attachment", "account_id": account, "attachment_type": "image", "url": cdn})).await;
    assert_eq!(sent["deliveries"][0]["ok"], true, "{sent}");
    assert_eq!(
        configured.received().len(),
        1,
        "delivered to the configured URL"
    );
    let body = &sent["deliveries"][0]["body"];
    assert_eq!(
        body["entry"][0]["messaging"][0]["message"]["attachments"][0]["payload"]["url"],
        cdn
    );

    let sent = emit(
        &sim,
        json!({"kind": "dm", "account_id": account, "deliver_to": other.url}),
    )
    .await;
    assert_eq!(sent["deliveries"][0]["ok"], true, "{sent}");
    assert_eq!(other.received().len(), 1);
    assert_eq!(configured.received().len(), 1);
}
