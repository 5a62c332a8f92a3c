//! Send API rules: the 24-hour window, HUMAN_AGENT's 7 days, the 1000-byte limit,
//! reactions, private replies, Messenger's window, and the message record.

mod common;

use common::{Sim, err};
use serde_json::{Value, json};

async fn inbound(sim: &Sim, account: &str, customer: &str) -> String {
    sim.admin(
        "/_sim/inbound",
        json!({"account_id": account, "customer_id": customer, "text": "Hi, are you open?"}),
    )
    .await["mid"]
        .as_str()
        .expect("mid")
        .to_owned()
}

async fn send(sim: &Sim, token: &str, body: Value) -> (u16, Value) {
    sim.ig_post_json("/me/messages", token, body).await
}

fn text(to: &str, t: &str) -> Value {
    json!({"recipient": {"id": to}, "message": {"text": t}})
}

#[tokio::test]
async fn no_message_to_someone_who_never_wrote() {
    let (sim, _, token) = Sim::shop().await;
    let (status, body) = send(&sim, &token, text("1234567890123456", "hello")).await;
    assert_eq!(status, 400);
    assert_eq!(err(&body), (100, Some(2_534_014)));
    assert_eq!(
        sim.admin_get("/_sim/messages").await,
        json!([]),
        "nothing recorded"
    );
}

#[tokio::test]
async fn window_closes_24_hours_after_the_customers_last_message() {
    let (sim, account, token) = Sim::shop().await;
    inbound(&sim, &account, "111").await;
    let (status, ok) = send(&sim, &token, text("111", "Yes, until 6pm")).await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["recipient_id"], "111");
    assert!(
        ok["message_id"]
            .as_str()
            .is_some_and(|m| m.starts_with("aWdf"))
    );

    sim.advance(23 * 3600).await;
    assert_eq!(send(&sim, &token, text("111", "still open")).await.0, 200);
    sim.advance(3600).await;
    let (status, closed) = send(&sim, &token, text("111", "too late")).await;
    assert_eq!(status, 400);
    assert_eq!(err(&closed), (10, Some(2_534_022)));

    // A new customer message reopens it.
    inbound(&sim, &account, "111").await;
    assert_eq!(send(&sim, &token, text("111", "back again")).await.0, 200);
}

#[tokio::test]
async fn human_agent_tag_allows_seven_days() {
    let (sim, account, token) = Sim::shop().await;
    inbound(&sim, &account, "222").await;
    sim.advance(3 * 86_400).await;
    let mut tagged = text("222", "A human here, sorry for the wait");
    tagged["tag"] = json!("HUMAN_AGENT");
    assert_eq!(send(&sim, &token, text("222", "untagged")).await.0, 400);
    let (status, body) = send(&sim, &token, tagged.clone()).await;
    assert_eq!(status, 200, "{body}");
    sim.advance(4 * 86_400).await;
    let (status, body) = send(&sim, &token, tagged).await;
    assert_eq!(status, 400);
    assert_eq!(err(&body), (10, Some(2_534_022)));
    let mut bad_tag = text("222", "x");
    bad_tag["tag"] = json!("ACCOUNT_UPDATE");
    assert_eq!(
        err(&send(&sim, &token, bad_tag).await.1).0,
        100,
        "Instagram knows only HUMAN_AGENT"
    );
}

#[tokio::test]
async fn text_limit_is_1000_bytes_of_utf8() {
    let (sim, account, token) = Sim::shop().await;
    inbound(&sim, &account, "333").await;
    assert_eq!(
        send(&sim, &token, text("333", &"a".repeat(1000))).await.0,
        200
    );
    let (status, body) = send(&sim, &token, text("333", &"a".repeat(1001))).await;
    assert_eq!(status, 400);
    assert_eq!(err(&body).0, 100);
    // 400 characters, 1200 bytes: over the limit although short in characters.
    assert_eq!(
        err(&send(&sim, &token, text("333", &"€".repeat(400))).await.1).0,
        100
    );
    assert_eq!(
        send(&sim, &token, text("333", &"€".repeat(333))).await.0,
        200
    );
}

#[tokio::test]
async fn attachments_reactions_and_the_message_record() {
    let (sim, account, token) = Sim::shop().await;
    let mid = inbound(&sim, &account, "444").await;
    let (status, _) = send(
        &sim,
        &token,
        json!({"recipient": {"id": "444"}, "message": {"attachment": {"type": "image", "payload": {"url": "https://cdn.example/menu.jpg"}}}}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, bad) = send(
        &sim,
        &token,
        json!({"recipient": {"id": "444"}, "message": {"attachment": {"type": "sticker", "payload": {"url": "https://cdn.example/x"}}}}),
    )
    .await;
    assert_eq!(err(&bad).0, 100);
    let (status, react) = send(
        &sim,
        &token,
        json!({"recipient": {"id": "444"}, "sender_action": "react", "payload": {"message_id": mid, "reaction": "love"}}),
    )
    .await;
    assert_eq!(status, 200, "{react}");
    let (_, unknown) = send(
        &sim,
        &token,
        json!({"recipient": {"id": "444"}, "sender_action": "react", "payload": {"message_id": "aWdfnot-a-mid", "reaction": "love"}}),
    )
    .await;
    assert_eq!(err(&unknown).0, 100);

    // Form-encoded bodies with JSON-valued fields work like JSON bodies.
    let (status, _) = sim
        .ig_post_form(
            &format!("/{account}/messages"),
            &token,
            &[
                ("recipient", r#"{"id":"444"}"#),
                ("message", r#"{"text":"by form"}"#),
            ],
        )
        .await;
    assert_eq!(status, 200);

    let record = sim.admin_get("/_sim/messages").await;
    let record = record.as_array().expect("list");
    assert_eq!(record.len(), 3);
    assert_eq!(
        record[0]["attachment"]["payload"]["url"],
        "https://cdn.example/menu.jpg"
    );
    assert_eq!(record[1]["sender_action"], "react");
    assert_eq!(record[2]["text"], "by form");
    assert!(record.iter().all(|m| m["account_id"] == account.as_str()));
}

#[tokio::test]
async fn private_reply_once_per_comment_and_within_seven_days() {
    let (sim, account, token) = Sim::shop().await;
    let media = sim.seed_media(&account).await;
    let comment = sim
        .admin_str(
            "/_sim/comments",
            json!({"media_id": media, "text": "price?", "from_username": "fan1"}),
            "id",
        )
        .await;
    let reply =
        json!({"recipient": {"comment_id": comment}, "message": {"text": "Sent you the prices!"}});
    let (status, body) = send(&sim, &token, reply.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["recipient_id"].as_str().is_some());
    let (status, again) = send(&sim, &token, reply).await;
    assert_eq!(status, 400);
    assert_eq!(err(&again).0, 10);

    let old = sim
        .admin_str(
            "/_sim/comments",
            json!({"media_id": media, "text": "hello?"}),
            "id",
        )
        .await;
    sim.advance(7 * 86_400).await;
    let (status, late) = send(
        &sim,
        &token,
        json!({"recipient": {"comment_id": old}, "message": {"text": "late"}}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(err(&late), (10, Some(2_534_022)));

    let comments = sim.admin_get("/_sim/comments").await;
    let replied: Vec<bool> = comments
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["private_replied"].as_bool().expect("flag"))
        .collect();
    assert_eq!(replied, vec![true, false]);
}

#[tokio::test]
async fn messenger_needs_messaging_type_and_closes_its_window() {
    let sim = Sim::start().await;
    let (_, page, token) = sim
        .fb_page(json!({"name": "Ana Bakery", "instagram": false}))
        .await;
    inbound(&sim, &page, "777").await;
    let url = sim.fb(&format!("/{page}/messages"));
    let (_, missing) = sim.post_json(&url, &token, text("777", "hi")).await;
    assert_eq!(
        err(&missing).0,
        100,
        "messaging_type is required on Messenger"
    );
    let mut body = text("777", "hi");
    body["messaging_type"] = json!("RESPONSE");
    let (status, ok) = sim.post_json(&url, &token, body.clone()).await;
    assert_eq!(status, 200, "{ok}");
    assert!(
        ok["message_id"]
            .as_str()
            .is_some_and(|m| m.starts_with("m_"))
    );
    sim.advance(86_400).await;
    let (status, closed) = sim.post_json(&url, &token, body).await;
    assert_eq!(status, 400);
    assert_eq!(err(&closed), (10, Some(1_545_041)));
    let tagged = json!({"recipient": {"id": "777"}, "messaging_type": "MESSAGE_TAG", "tag": "ACCOUNT_UPDATE", "message": {"text": "Your order shipped"}});
    assert_eq!(sim.post_json(&url, &token, tagged).await.0, 200);
}

#[tokio::test]
async fn tokens_without_the_messaging_permission_cannot_send() {
    let sim = Sim::start().await;
    let user = sim
        .admin("/_sim/ig-users", json!({"username": "shop"}))
        .await;
    let token = sim
        .token(json!({"user_id": user["user_id"], "kind": "ig_long", "scopes": ["instagram_business_basic"]}))
        .await;
    inbound(&sim, user["user_id"].as_str().expect("id"), "1").await;
    let (status, body) = send(&sim, &token, text("1", "hi")).await;
    assert_eq!(status, 400);
    assert_eq!(err(&body).0, 200);
}

#[tokio::test]
async fn another_accounts_token_cannot_send_for_it() {
    let sim = Sim::start().await;
    let (a, _) = sim.ig_account("a").await;
    let (_, token_b) = sim.ig_account("b").await;
    inbound(&sim, &a, "1").await;
    let (status, body) = sim
        .ig_post_json(&format!("/{a}/messages"), &token_b, text("1", "hi"))
        .await;
    assert_eq!(status, 400);
    assert_eq!(err(&body), (100, Some(33)));
}

#[tokio::test]
async fn facebook_login_reaches_instagram_and_messenger_through_the_page() {
    let sim = Sim::start().await;
    let (user, page, token) = sim
        .fb_page(json!({"name": "Ana Bakery", "instagram": true}))
        .await;
    let ig = user["pages"][0]["instagram_business_account"]
        .as_str()
        .expect("ig")
        .to_owned();
    inbound(&sim, &ig, "igsid-1").await;
    inbound(&sim, &page, "psid-1").await;

    // An Instagram user reached through the page: Instagram rules and message ids.
    let (status, to_ig) = sim
        .fb_post_json(
            &format!("/{page}/messages"),
            &token,
            text("igsid-1", "hi from IG"),
        )
        .await;
    assert_eq!(status, 200, "{to_ig}");
    assert!(
        to_ig["message_id"]
            .as_str()
            .is_some_and(|m| m.starts_with("aWdf"))
    );
    let (status, via_node) = sim
        .fb_post_json(&format!("/{ig}/messages"), &token, text("igsid-1", "again"))
        .await;
    assert_eq!(status, 200, "{via_node}");

    // A Messenger user on /me/messages with the page token.
    let mut body = text("psid-1", "hi from Messenger");
    body["messaging_type"] = json!("RESPONSE");
    let (status, to_messenger) = sim.fb_post_json("/me/messages", &token, body).await;
    assert_eq!(status, 200, "{to_messenger}");
    assert!(
        to_messenger["message_id"]
            .as_str()
            .is_some_and(|m| m.starts_with("m_"))
    );

    let record = sim.admin_get("/_sim/messages").await;
    let accounts: Vec<&str> = record
        .as_array()
        .expect("list")
        .iter()
        .map(|m| m["account_id"].as_str().expect("account"))
        .collect();
    assert_eq!(accounts, vec![ig.as_str(), ig.as_str(), page.as_str()]);
}
