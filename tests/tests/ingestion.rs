//! Webhook ingestion end to end, on moto and the Meta simulator: the simulator signs and
//! POSTs a delivery, the webhook handler verifies, archives and queues it, the SQS event
//! source mapping (played by the Dispatcher) hands the entries to the ingest handler, and
//! the tests read what a user of the inbox would see: the conversation, its messages,
//! reactions, comments, raw events, the job queues, the audit trail and the event bus.

mod common;

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use common::{
    APP_SECRET, Options, Pipeline, VERIFY_TOKEN, customer, deliveries, events_dir,
    instagram_delivery, job_mids, page_delivery, statuses, tenant,
};
use relay::inbox::{Author, Direction, MessageKind, StoredAttachment};
use relay::secret::Secret;
use relay::store::accounts::Channel;
use serde_json::{Value, json};

/// Event times of the tests: fixed, so order assertions do not depend on the clock.
const T0: i64 = 1_790_000_000_000;

const IG: &str = "17841400000000011";
const CUSTOMER: &str = "5500000000000001";

fn dm(mid: &str, text: &str, at: i64) -> Value {
    json!({"kind": "dm", "account_id": IG, "customer_id": CUSTOMER, "mid": mid, "text": text, "timestamp": at})
}

fn echo(mid: &str, text: &str, at: i64) -> Value {
    json!({"kind": "echo", "account_id": IG, "customer_id": CUSTOMER, "mid": mid, "text": text, "timestamp": at})
}

fn mids(messages: &[relay::inbox::StoredMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.mid.as_str()).collect()
}

fn reaction_of(message: &relay::inbox::StoredMessage, who: &str) -> Option<String> {
    message.reactions.get(who).and_then(|r| r.reaction.clone())
}

// ------------------------------------------------------------------------------------
// Every kind of event

#[tokio::test]
async fn instagram_messages_land_in_the_conversation_as_the_customer_sent_them() {
    let p = Pipeline::start().await;
    p.connect("acme", IG, Channel::Instagram).await;
    let cdn =
        "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17900000000000001&signature=AbCd";

    p.deliver(dm("ig.m.1", "Habt ihr das in Größe M? 😊", T0 + 1))
        .await;
    p.deliver(echo("ig.m.2", "Ja, in Blau und Grün.", T0 + 2))
        .await;
    // Inside `batch`: a top-level `url` would be taken as the delivery URL by the simulator.
    p.deliver(
        json!({"batch": [{"kind": "attachment", "account_id": IG, "customer_id": CUSTOMER,
        "mid": "ig.m.3", "attachment_type": "image", "url": cdn, "timestamp": T0 + 3}]}),
    )
    .await;
    p.deliver(
        json!({"kind": "dm", "account_id": IG, "customer_id": CUSTOMER, "mid": "ig.m.4",
        "text": "Und in L?", "reply_to_mid": "ig.m.1", "quick_reply_payload": "SIZE_L",
        "timestamp": T0 + 4}),
    )
    .await;
    p.deliver(
        json!({"kind": "dm", "account_id": IG, "customer_id": CUSTOMER, "mid": "ig.m.5",
        "text": "Is this still available?", "ad_id": "120200000000000001", "ref": "spring-sale",
        "timestamp": T0 + 5}),
    )
    .await;
    let drained = p.drain().await;
    assert_eq!((drained.delivered, drained.failed), (5, 0));

    let messages = p.messages("acme", IG, CUSTOMER).await;
    assert_eq!(
        mids(&messages),
        ["ig.m.1", "ig.m.2", "ig.m.3", "ig.m.4", "ig.m.5"]
    );
    let [text, reply, attachment, quoted, from_ad] = &messages[..] else {
        unreachable!("five messages were checked above")
    };
    // Meta sent "Gr\u00f6\u00dfe M? \ud83d\ude0a"; the inbox holds what the customer typed.
    assert_eq!(text.text.as_deref(), Some("Habt ihr das in Größe M? 😊"));
    assert_eq!(
        (text.direction, text.author, text.kind),
        (Direction::Inbound, Author::Customer, MessageKind::Text)
    );
    assert_eq!(text.timestamp_ms, T0 + 1);
    assert_eq!(
        (reply.direction, reply.author),
        (Direction::Outbound, Author::Human),
        "an echo is the business's own message"
    );
    assert_eq!(reply.text.as_deref(), Some("Ja, in Blau und Grün."));
    assert_eq!(attachment.kind, MessageKind::Attachment);
    assert_eq!(
        attachment.attachments,
        vec![StoredAttachment {
            kind: "image".into(),
            url: Some(cdn.into())
        }],
        "the CDN URL is kept exactly"
    );
    assert_eq!(quoted.reply_to_mid.as_deref(), Some("ig.m.1"));
    assert_eq!(quoted.quick_reply.as_deref(), Some("SIZE_L"));
    assert_eq!(
        from_ad.referral_ad_id.as_deref(),
        Some("120200000000000001")
    );
    assert_eq!(from_ad.referral_ref.as_deref(), Some("spring-sale"));

    let conversation = p.conversation("acme", IG, CUSTOMER).await.unwrap();
    assert_eq!(
        conversation.unread_count, 4,
        "four customer messages, none read"
    );
    assert_eq!(conversation.message_count, 5);
    assert_eq!(conversation.last_inbound_at, Some(T0 + 5));
    assert_eq!(conversation.last_inbound_mid.as_deref(), Some("ig.m.5"));
    assert_eq!(conversation.last_activity_at, T0 + 5);
    assert!(!conversation.paused);
    let listed = p.conversations("acme", IG).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].customer_id, Some(customer(CUSTOMER)));

    let contact = p
        .store
        .get_contact(&tenant("acme"), &common::account(IG), &customer(CUSTOMER))
        .await
        .unwrap()
        .expect("the customer is a contact");
    assert_eq!(
        (contact.first_seen_at, contact.last_seen_at),
        (T0 + 1, T0 + 5)
    );

    let jobs = p.reply_jobs().await;
    assert_eq!(
        job_mids(&jobs),
        ["ig.m.1", "ig.m.3", "ig.m.4", "ig.m.5"],
        "one AI job per customer message, none for the echo"
    );
    assert!(
        jobs.iter()
            .all(|j| j["tenant_id"] == "acme" && j["account_id"] == IG)
    );
    assert!(p.moderation_jobs().await.is_empty());
}

#[tokio::test]
async fn reactions_reads_edits_and_deletions_change_the_stored_message() {
    let p = Pipeline::start().await;
    p.connect("acme", IG, Channel::Instagram).await;
    p.deliver(dm("ig.m.1", "Do you ship to Berlin?", T0 + 1))
        .await;
    p.deliver(dm("ig.m.2", "And to Vienna?", T0 + 2)).await;
    p.deliver(echo("ig.m.3", "Yes, across the EU.", T0 + 3))
        .await;
    p.drain().await;

    let reaction = |kind: &str, at: i64| {
        json!({"kind": kind, "account_id": IG, "customer_id": CUSTOMER, "mid": "ig.m.1",
            "reaction": "love", "emoji": "❤️", "timestamp": at})
    };
    p.deliver(reaction("reaction", T0 + 10)).await;
    p.drain().await;
    let m1 = p.message("acme", IG, "ig.m.1").await;
    assert_eq!(reaction_of(&m1, "customer").as_deref(), Some("love"));
    assert_eq!(m1.reactions["customer"].emoji.as_deref(), Some("❤️"));

    p.deliver(reaction("unreact", T0 + 11)).await;
    p.drain().await;
    let m1 = p.message("acme", IG, "ig.m.1").await;
    assert_eq!(reaction_of(&m1, "customer"), None, "unreact takes it back");
    assert_eq!(m1.reactions["customer"].at, T0 + 11);

    p.deliver(
        json!({"kind": "read", "account_id": IG, "customer_id": CUSTOMER,
        "mid": "ig.m.3", "timestamp": T0 + 12}),
    )
    .await;
    p.drain().await;
    assert_eq!(p.message("acme", IG, "ig.m.3").await.read_at, Some(T0 + 12));
    let conversation = p.conversation("acme", IG, CUSTOMER).await.unwrap();
    assert_eq!(conversation.customer_read_up_to, Some(T0 + 3));
    assert_eq!(
        conversation.unread_count, 0,
        "reading clears the unread count"
    );

    p.deliver(
        json!({"kind": "edit", "account_id": IG, "customer_id": CUSTOMER,
        "mid": "ig.m.1", "text": "Do you ship to Hamburg?", "num_edit": 1, "timestamp": T0 + 13}),
    )
    .await;
    p.drain().await;
    let m1 = p.message("acme", IG, "ig.m.1").await;
    assert_eq!(m1.text.as_deref(), Some("Do you ship to Hamburg?"));
    assert_eq!(m1.edit_count, 1);

    p.deliver(
        json!({"kind": "deleted", "account_id": IG, "customer_id": CUSTOMER,
        "mid": "ig.m.2", "timestamp": T0 + 14}),
    )
    .await;
    // A sticker Meta cannot hand over, then an ice-breaker tap.
    p.deliver(
        json!({"kind": "raw", "raw": instagram_delivery(IG, T0 + 100, vec![json!({
        "sender": {"id": CUSTOMER}, "recipient": {"id": IG}, "timestamp": T0 + 15,
        "message": {"mid": "ig.m.4", "is_unsupported": true}})])}),
    )
    .await;
    p.deliver(
        json!({"kind": "postback", "account_id": IG, "customer_id": CUSTOMER,
        "mid": "ig.m.5", "title": "Opening hours", "payload": "ICEBREAKER_HOURS",
        "timestamp": T0 + 16}),
    )
    .await;
    let drained = p.drain().await;
    assert_eq!((drained.delivered, drained.failed), (3, 0));

    let messages = p.messages("acme", IG, CUSTOMER).await;
    assert_eq!(
        mids(&messages),
        ["ig.m.1", "ig.m.2", "ig.m.3", "ig.m.4", "ig.m.5"],
        "a deleted message stays listed"
    );
    let deleted = &messages[1];
    assert!(deleted.deleted, "the deletion is kept as a fact");
    assert_eq!(deleted.text, None, "the deleted content is dropped");
    assert_eq!(messages[3].kind, MessageKind::Unsupported);
    assert_eq!(messages[3].text, None);
    let postback = &messages[4];
    assert_eq!(postback.kind, MessageKind::Postback);
    assert_eq!(postback.text.as_deref(), Some("Opening hours"));
    assert_eq!(
        postback.postback_payload.as_deref(),
        Some("ICEBREAKER_HOURS")
    );
    assert_eq!(postback.direction, Direction::Inbound);

    assert_eq!(
        job_mids(&p.reply_jobs().await),
        ["ig.m.1", "ig.m.2", "ig.m.5"],
        "no AI reply to content the AI cannot see"
    );
    assert!(
        p.raw_events("acme", IG).await.is_empty(),
        "every change found its message"
    );
}

#[tokio::test]
async fn comments_in_every_form_are_new_and_queued_for_moderation() {
    let p = Pipeline::start().await;
    p.connect("acme", IG, Channel::Instagram).await;
    let (fan, other) = ("5500000000000002", "5500000000000003");
    let comment = |kind: &str, id: &str, from: &str, text: &str, media: &str| {
        json!({"kind": kind, "account_id": IG, "customer_id": from, "comment_id": id,
            "media_id": media, "text": text, "from_username": format!("user{}", &from[12..])})
    };
    p.deliver(comment(
        "comment",
        "17900000000000101",
        fan,
        "How much is this?",
        "17900000000000201",
    ))
    .await;
    let mut fb_form = comment(
        "comment_fb_form",
        "17900000000000102",
        other,
        "Same question!",
        "17900000000000201",
    );
    fb_form["parent_id"] = json!("17900000000000101");
    fb_form["ad_id"] = json!("120200000000000001");
    p.deliver(fb_form).await;
    p.deliver(comment(
        "comment_flat_form",
        "17900000000000103",
        fan,
        "Do you have it in blue?",
        "17900000000000201",
    ))
    .await;
    p.deliver(comment(
        "live_comment",
        "17900000000000104",
        other,
        "Hello from Hamburg",
        "17900000000000203",
    ))
    .await;
    // The business answering under its own post: kept, never moderated.
    p.deliver(comment(
        "comment",
        "17900000000000105",
        IG,
        "Thanks, DM us!",
        "17900000000000201",
    ))
    .await;
    let drained = p.drain().await;
    assert_eq!((drained.delivered, drained.failed), (5, 0));

    let mut comments = p.new_comments("acme", IG).await;
    comments.sort_by(|a, b| a.comment_id.cmp(&b.comment_id));
    let ids: Vec<&str> = comments.iter().map(|c| c.comment_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "17900000000000101",
            "17900000000000102",
            "17900000000000103",
            "17900000000000104",
            "17900000000000105"
        ],
        "every comment is listed with status new"
    );
    let [ig_login, fb_login, flat, live, own] = &comments[..] else {
        unreachable!("five comments were checked above")
    };
    assert_eq!(ig_login.text.as_deref(), Some("How much is this?"));
    assert_eq!(ig_login.from_id, Some(customer(fan)));
    assert_eq!(ig_login.username.as_deref(), Some("user0002"));
    assert_eq!(
        ig_login.media_id.as_ref().map(|m| m.as_str()),
        Some("17900000000000201")
    );
    assert!(!ig_login.live);
    assert_eq!(fb_login.text.as_deref(), Some("Same question!"));
    assert_eq!(
        fb_login.parent_id.as_ref().map(|c| c.as_str()),
        Some("17900000000000101")
    );
    assert_eq!(flat.text.as_deref(), Some("Do you have it in blue?"));
    assert_eq!(flat.from_id, Some(customer(fan)));
    assert!(live.live, "a live comment is marked live");
    assert_eq!(live.media_product_type.as_deref(), Some("LIVE"));
    assert_eq!(own.from_id, None, "the business is not a customer");

    let mut moderated: Vec<String> = p
        .moderation_jobs()
        .await
        .iter()
        .map(|j| {
            assert_eq!(
                (&j["tenant_id"], &j["account_id"]),
                (&json!("acme"), &json!(IG))
            );
            j["comment_id"].as_str().unwrap().to_owned()
        })
        .collect();
    moderated.sort();
    assert_eq!(
        moderated,
        [
            "17900000000000101",
            "17900000000000102",
            "17900000000000103",
            "17900000000000104"
        ]
    );
    assert!(p.reply_jobs().await.is_empty(), "comments are not DMs");
}

#[tokio::test]
async fn mentions_referrals_and_unknown_kinds_are_kept_as_raw_events() {
    let p = Pipeline::start().await;
    p.connect("acme", IG, Channel::Instagram).await;
    // Delivered twice: still one raw event each.
    p.deliver(
        json!({"kind": "mention", "account_id": IG, "media_id": "17900000000000204", "repeat": 2}),
    )
    .await;
    p.deliver(
        json!({"kind": "mention", "account_id": IG, "media_id": "17900000000000205",
        "comment_id": "17900000000000105"}),
    )
    .await;
    p.deliver(
        json!({"kind": "referral", "account_id": IG, "customer_id": CUSTOMER,
        "ref": "bio-link", "source": "SHORTLINK", "timestamp": T0 + 20}),
    )
    .await;
    p.deliver(json!({"kind": "raw", "raw": {"object": "instagram", "entry": [
        {"id": IG, "time": T0 + 100, "messaging": [{"sender": {"id": CUSTOMER}, "recipient": {"id": IG},
            "timestamp": T0 + 21, "pass_thread_control": {"new_owner_app_id": "1517776481860111"}}]},
        {"id": IG, "time": 1_790_000_008, "changes": [{"field": "story_insights",
            "value": {"media_id": "17900000000000206", "reach": 17}}]}]}}))
    .await;
    let drained = p.drain().await;
    assert_eq!(drained.failed, 0);

    let events = p.raw_events("acme", IG).await;
    let mut kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "mention",
            "mention",
            "referral",
            "unknown:pass_thread_control",
            "unknown:story_insights"
        ]
    );
    let detail = |kind: &str, key: &str| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| serde_json::from_str::<Value>(&e.raw).unwrap()["detail"][key].clone())
            .collect()
    };
    let mut media = detail("mention", "media_id");
    media.sort_by_key(|v| v.to_string());
    assert_eq!(
        media,
        [json!("17900000000000204"), json!("17900000000000205")]
    );
    assert_eq!(detail("referral", "ref"), [json!("bio-link")]);
    let story: Value = serde_json::from_str(
        &events
            .iter()
            .find(|e| e.kind == "unknown:story_insights")
            .unwrap()
            .raw,
    )
    .unwrap();
    assert_eq!(
        story["value"]["reach"], 17,
        "an unknown change is kept whole"
    );
    assert!(
        p.conversation("acme", IG, CUSTOMER).await.is_none(),
        "a referral alone opens no conversation"
    );
    assert!(p.reply_jobs().await.is_empty());
    assert!(p.moderation_jobs().await.is_empty());
}

#[tokio::test]
async fn messenger_events_are_routed_through_the_page_account() {
    let p = Pipeline::start().await;
    let (page, psid) = ("104000000000011", "7000000000000011");
    p.connect("acme", page, Channel::Page).await;
    let item = |at: i64, key: &str, value: Value| json!({"sender": {"id": psid}, "recipient": {"id": page}, "timestamp": at, key: value});

    p.deliver(
        json!({"kind": "messenger_dm", "account_id": page, "customer_id": psid,
        "mid": "m_dm1", "text": "Hello, are you open on Sunday?", "timestamp": T0 + 1}),
    )
    .await;
    p.deliver(
        json!({"kind": "messenger_echo", "account_id": page, "customer_id": psid,
        "mid": "m_echo2", "text": "We open at 10 on Sundays.", "timestamp": T0 + 2}),
    )
    .await;
    p.drain().await;
    let conversation = p.conversation("acme", page, psid).await.unwrap();
    assert_eq!(conversation.unread_count, 1);
    assert_eq!(conversation.last_inbound_at, Some(T0 + 1));

    p.deliver(json!({"kind": "raw", "raw": page_delivery(page, T0 + 100,
        vec![item(T0 + 3, "read", json!({"watermark": T0 + 2}))])}))
        .await;
    p.drain().await;
    let conversation = p.conversation("acme", page, psid).await.unwrap();
    assert_eq!(conversation.customer_read_up_to, Some(T0 + 2));
    assert_eq!(conversation.unread_count, 0);

    p.deliver(json!({"kind": "raw", "raw": page_delivery(page, T0 + 100, vec![
        item(T0 + 4, "reaction", json!({"mid": "m_echo2", "action": "react", "reaction": "like", "emoji": "👍"})),
        item(T0 + 5, "postback", json!({"mid": "m_pb5", "title": "Talk to a person", "payload": "HUMAN_AGENT"})),
    ])}))
    .await;
    let drained = p.drain().await;
    assert_eq!((drained.delivered, drained.failed), (1, 0));

    let messages = p.messages("acme", page, psid).await;
    assert_eq!(mids(&messages), ["m_dm1", "m_echo2", "m_pb5"]);
    assert_eq!(
        messages[0].text.as_deref(),
        Some("Hello, are you open on Sunday?")
    );
    assert_eq!(
        (messages[1].direction, messages[1].author),
        (Direction::Outbound, Author::Human)
    );
    assert_eq!(
        reaction_of(&messages[1], "customer").as_deref(),
        Some("like")
    );
    assert_eq!(messages[2].kind, MessageKind::Postback);
    assert_eq!(messages[2].postback_payload.as_deref(), Some("HUMAN_AGENT"));
    assert_eq!(job_mids(&p.reply_jobs().await), ["m_dm1", "m_pb5"]);

    // Page events only reach accounts connected as pages.
    let instagram_only = "104000000000099";
    p.connect("acme", instagram_only, Channel::Instagram).await;
    p.deliver(
        json!({"kind": "messenger_dm", "account_id": instagram_only, "customer_id": psid,
        "mid": "m_elsewhere", "text": "Hi", "timestamp": T0 + 6}),
    )
    .await;
    let drained = p.drain().await;
    assert_eq!((drained.delivered, drained.failed), (1, 0));
    assert!(p.conversation("acme", instagram_only, psid).await.is_none());
}

// ------------------------------------------------------------------------------------
// Batches, redelivery and order

#[tokio::test]
async fn a_batch_of_entries_with_several_events_each_is_stored_whole() {
    let p = Pipeline::start().await;
    let (ig2, other) = ("17841400000000012", "5500000000000009");
    p.connect("acme", IG, Channel::Instagram).await;
    p.connect("globex", ig2, Channel::Instagram).await;
    let report = p
        .deliver(json!({"merge_entries": true, "batch": [
            dm("ig.b.1", "first", T0 + 1),
            dm("ig.b.2", "second", T0 + 2),
            {"kind": "comment", "account_id": IG, "customer_id": CUSTOMER,
                "comment_id": "17900000000000111", "media_id": "17900000000000201", "text": "nice"},
            echo("ig.b.3", "thanks", T0 + 3),
            {"kind": "dm", "account_id": ig2, "customer_id": other, "mid": "ig.b.4",
                "text": "hallo", "timestamp": T0 + 4},
            {"kind": "reaction", "account_id": ig2, "customer_id": other, "mid": "ig.b.4",
                "reaction": "love", "timestamp": T0 + 5},
            {"kind": "read", "account_id": ig2, "customer_id": other, "mid": "ig.b.4", "timestamp": T0 + 6},
        ]}))
        .await;
    let sent = &deliveries(&report)[0]["body"];
    assert_eq!(deliveries(&report).len(), 1, "one POST");
    assert_eq!(sent["entry"].as_array().unwrap().len(), 2);
    assert_eq!(sent["entry"][0]["messaging"].as_array().unwrap().len(), 3);
    assert_eq!(sent["entry"][0]["changes"].as_array().unwrap().len(), 1);
    assert_eq!(sent["entry"][1]["messaging"].as_array().unwrap().len(), 3);

    let drained = p.drain().await;
    assert_eq!(
        (drained.delivered, drained.failed),
        (2, 0),
        "one queue message per entry"
    );
    assert_eq!(
        mids(&p.messages("acme", IG, CUSTOMER).await),
        ["ig.b.1", "ig.b.2", "ig.b.3"]
    );
    assert_eq!(p.new_comments("acme", IG).await.len(), 1);
    let hallo = p.message("globex", ig2, "ig.b.4").await;
    assert_eq!(hallo.text.as_deref(), Some("hallo"));
    assert_eq!(
        reaction_of(&hallo, "customer").as_deref(),
        Some("love"),
        "a reaction in the same entry as its message applies"
    );
    assert_eq!(hallo.read_at, Some(T0 + 6));
    assert_eq!(
        job_mids(&p.reply_jobs().await),
        ["ig.b.1", "ig.b.2", "ig.b.4"]
    );
}

#[tokio::test]
async fn redelivered_events_store_one_message_and_queue_one_ai_job() {
    let p = Pipeline::start().await;
    p.connect("acme", IG, Channel::Instagram).await;
    let mut request = dm("ig.dup.1", "Is the blue one back?", T0 + 1);
    request["repeat"] = json!(3);
    let report = p.deliver(request).await;
    assert_eq!(deliveries(&report).len(), 3);
    let drained = p.drain().await;
    assert_eq!((drained.delivered, drained.failed), (3, 0));

    assert_eq!(mids(&p.messages("acme", IG, CUSTOMER).await), ["ig.dup.1"]);
    let conversation = p.conversation("acme", IG, CUSTOMER).await.unwrap();
    assert_eq!(
        (conversation.message_count, conversation.unread_count),
        (1, 1)
    );
    assert_eq!(job_mids(&p.reply_jobs().await), ["ig.dup.1"]);

    // The same mid again, inside a different payload (another entry time, another event).
    let item = |mid: &str, text: &str, at: i64| {
        json!({"sender": {"id": CUSTOMER}, "recipient": {"id": IG}, "timestamp": at,
            "message": {"mid": mid, "text": text}})
    };
    p.deliver(
        json!({"kind": "raw", "raw": instagram_delivery(IG, T0 + 9_999, vec![
            item("ig.dup.1", "Is the blue one back?", T0 + 1),
            item("ig.dup.2", "Size M please", T0 + 2),
        ])}),
    )
    .await;
    p.drain().await;

    let messages = p.messages("acme", IG, CUSTOMER).await;
    assert_eq!(mids(&messages), ["ig.dup.1", "ig.dup.2"]);
    assert_eq!(messages[0].text.as_deref(), Some("Is the blue one back?"));
    let conversation = p.conversation("acme", IG, CUSTOMER).await.unwrap();
    assert_eq!(
        (conversation.message_count, conversation.unread_count),
        (2, 2),
        "duplicates do not inflate the counters"
    );
    assert_eq!(
        job_mids(&p.reply_jobs().await),
        ["ig.dup.1", "ig.dup.2"],
        "one AI job per message, however often it arrived"
    );
}

#[tokio::test]
async fn an_accounts_own_debounce_delays_its_ai_jobs() {
    const QUICK: &str = "17841400000000012";
    let p = Pipeline::start().await;
    p.connect("acme", IG, Channel::Instagram).await;
    p.connect("acme", QUICK, Channel::Instagram).await;
    let patient = relay::ai::AiSettings {
        debounce_seconds: Some(60),
        ..relay::ai::AiSettings::default()
    };
    p.store
        .put_ai_settings(&tenant("acme"), &common::account(IG), &patient)
        .await
        .unwrap();
    p.deliver(dm("ig.slow.1", "Hello?", T0 + 1)).await;
    p.deliver(
        json!({"kind": "dm", "account_id": QUICK, "customer_id": CUSTOMER,
        "mid": "ig.quick.1", "text": "Hi", "timestamp": T0 + 2}),
    )
    .await;
    p.drain().await;

    assert_eq!(
        job_mids(&p.reply_jobs().await),
        ["ig.quick.1"],
        "the account without its own debounce uses the installation's (zero here)"
    );
    let attributes = p
        .aws
        .sqs()
        .get_queue_attributes()
        .queue_url(&p.aws.queues.replies)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    let delayed = attributes
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        })
        .cloned();
    assert_eq!(
        delayed.as_deref(),
        Some("1"),
        "the patient account's job waits out its 60 s"
    );
}

#[tokio::test]
async fn usage_counts_what_was_stored_once_and_the_last_webhook_is_noted() {
    let p = Pipeline::start().await;
    p.connect("acme", IG, Channel::Instagram).await;
    let (t, a) = (tenant("acme"), common::account(IG));
    assert_eq!(p.store.webhook_seen(&t, &a).await.unwrap(), None);
    let before = now_ms();

    let mut first = dm("ig.use.1", "Hi", T0 + 1);
    first["repeat"] = json!(2);
    p.deliver(first).await;
    p.deliver(dm("ig.use.2", "Still there?", T0 + 2)).await;
    p.deliver(echo("ig.use.3", "Yes!", T0 + 3)).await;
    p.deliver(
        json!({"kind": "comment", "account_id": IG, "customer_id": CUSTOMER,
        "comment_id": "17900000000000901", "media_id": "17900000000000902",
        "text": "Nice", "from_username": "fan"}),
    )
    .await;
    p.drain().await;

    let usage = p.store.usage_since(&t, before, now_ms()).await.unwrap();
    assert_eq!(
        (
            usage.messages_received,
            usage.messages_sent,
            usage.comments_received
        ),
        (2, 1, 1),
        "a redelivered message is counted once"
    );
    let other = p
        .store
        .usage_since(&tenant("globex"), before, now_ms())
        .await
        .unwrap();
    assert_eq!(other, relay::store::usage::Usage::default());
    let seen = p.store.webhook_seen(&t, &a).await.unwrap().expect("noted");
    assert!(
        (before - 1_000..=now_ms()).contains(&seen),
        "seen at {seen}, when SQS took the delivery (after {before})"
    );
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn messages_arriving_out_of_order_are_listed_in_event_time_order() {
    let p = Pipeline::start().await;
    p.connect("acme", IG, Channel::Instagram).await;
    p.deliver(dm("ig.late", "second thought", T0 + 2_000)).await;
    p.drain().await;
    p.deliver(dm("ig.early", "first thought", T0 + 1_000)).await;
    p.drain().await;

    let messages = p.messages("acme", IG, CUSTOMER).await;
    assert_eq!(mids(&messages), ["ig.early", "ig.late"]);
    let conversation = p.conversation("acme", IG, CUSTOMER).await.unwrap();
    assert_eq!(
        conversation.last_inbound_at,
        Some(T0 + 2_000),
        "the older message does not move the window back"
    );
    assert_eq!(conversation.last_inbound_mid.as_deref(), Some("ig.late"));
    assert_eq!(conversation.last_activity_at, T0 + 2_000);
    assert_eq!(conversation.unread_count, 2);
    let contact = p
        .store
        .get_contact(&tenant("acme"), &common::account(IG), &customer(CUSTOMER))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (contact.first_seen_at, contact.last_seen_at),
        (T0 + 1_000, T0 + 2_000),
        "the contact spans the earliest and the latest message"
    );
}

#[tokio::test]
async fn a_reaction_before_its_message_is_retried_until_the_message_is_stored() {
    let p = Pipeline::start().await;
    p.connect("acme", IG, Channel::Instagram).await;
    p.deliver(
        json!({"kind": "reaction", "account_id": IG, "customer_id": CUSTOMER,
        "mid": "ig.r.1", "reaction": "love", "timestamp": T0 + 5}),
    )
    .await;
    let first = p.drain_rounds(1).await;
    assert_eq!(
        (first.delivered, first.failed),
        (0, 1),
        "the reaction waits for its message"
    );

    p.deliver(dm("ig.r.1", "Look at this!", T0 + 1)).await;
    let rest = p.drain().await;
    assert_eq!(rest.delivered, 2, "the message and then the reaction");

    let message = p.message("acme", IG, "ig.r.1").await;
    assert_eq!(reaction_of(&message, "customer").as_deref(), Some("love"));
    assert!(p.raw_events("acme", IG).await.is_empty(), "no orphan");
    assert!(p.queue_bodies(&p.aws.queues.inbound).await.is_empty());
    assert!(p.queue_bodies(&p.aws.queues.inbound_dlq).await.is_empty());
}

#[tokio::test]
async fn a_reaction_whose_message_never_comes_ends_as_an_orphan_raw_event() {
    let p = Pipeline::with(Options {
        ingest: ingest::Settings {
            debounce: Duration::ZERO,
            orphan_receives: 3,
            ..ingest::Settings::default()
        },
        ..Options::default()
    })
    .await;
    p.connect("acme", IG, Channel::Instagram).await;
    p.deliver(
        json!({"kind": "reaction", "account_id": IG, "customer_id": CUSTOMER,
        "mid": "ig.never", "reaction": "wow", "timestamp": T0 + 5}),
    )
    .await;
    let drained = p.drain().await;
    assert_eq!(
        (drained.batches, drained.failed, drained.delivered),
        (3, 2, 1),
        "two retries, then kept on the third receive"
    );

    let events = p.raw_events("acme", IG).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "orphan:reaction");
    let raw: Value = serde_json::from_str(&events[0].raw).unwrap();
    assert_eq!(raw["detail"]["mid"], "ig.never");
    assert_eq!(raw["detail"]["reaction"], "wow");
    assert!(p.queue_bodies(&p.aws.queues.inbound).await.is_empty());
    assert!(
        p.queue_bodies(&p.aws.queues.inbound_dlq).await.is_empty(),
        "an orphan is not a failure: nothing reaches the dead-letter queue"
    );
}

#[tokio::test]
async fn a_reaction_and_an_edit_kept_as_orphans_land_on_their_message_when_it_comes_late() {
    let p = Pipeline::with(Options {
        ingest: ingest::Settings {
            debounce: Duration::ZERO,
            orphan_receives: 1,
            ..ingest::Settings::default()
        },
        ..Options::default()
    })
    .await;
    p.connect("acme", IG, Channel::Instagram).await;
    p.deliver(
        json!({"kind": "reaction", "account_id": IG, "customer_id": CUSTOMER,
        "mid": "ig.late", "reaction": "wow", "timestamp": T0 + 5}),
    )
    .await;
    p.deliver(
        json!({"kind": "edit", "account_id": IG, "customer_id": CUSTOMER,
        "mid": "ig.late", "text": "Is the blue one back?", "num_edit": 1, "timestamp": T0 + 6}),
    )
    .await;
    let early = p.drain().await;
    assert_eq!(early.failed, 0, "kept at once: orphan_receives is 1");
    assert_eq!(p.raw_events("acme", IG).await.len(), 2, "both kept raw");

    p.deliver(dm("ig.late", "Is the red one back?", T0 + 1))
        .await;
    p.drain().await;
    let message = p.message("acme", IG, "ig.late").await;
    assert_eq!(reaction_of(&message, "customer").as_deref(), Some("wow"));
    assert_eq!(message.text.as_deref(), Some("Is the blue one back?"));
    assert_eq!(message.edit_count, 1);

    // Delivered again, the message is a duplicate and changes nothing twice.
    p.deliver(dm("ig.late", "Is the red one back?", T0 + 1))
        .await;
    p.drain().await;
    let again = p.message("acme", IG, "ig.late").await;
    assert_eq!(again, message);
    assert_eq!(p.messages("acme", IG, CUSTOMER).await.len(), 1);
}

// ------------------------------------------------------------------------------------
// Human takeover

#[tokio::test]
async fn an_ellipsis_echo_pauses_the_conversation_and_escalates_once() {
    let p = Pipeline::start().await;
    p.connect("acme", IG, Channel::Instagram).await;
    let escalations = p.aws.capture_bus_events(Some("EscalationCreated")).await;

    p.deliver(dm("ig.e.1", "Can I talk to a person?", T0 + 1))
        .await;
    let mut takeover = echo("ig.e.2", "...", T0 + 2);
    takeover["repeat"] = json!(2);
    p.deliver(takeover).await;
    let drained = p.drain().await;
    assert_eq!((drained.delivered, drained.failed), (3, 0));

    let conversation = p.conversation("acme", IG, CUSTOMER).await.unwrap();
    assert!(conversation.paused, "the AI stops for this conversation");
    assert_eq!(
        conversation.paused_reason.as_deref(),
        Some("human_takeover")
    );
    assert_eq!(conversation.paused_at, Some(T0 + 2));
    assert_eq!(
        mids(&p.messages("acme", IG, CUSTOMER).await),
        ["ig.e.1", "ig.e.2"]
    );

    let events = p.queue_bodies(&escalations).await;
    assert_eq!(
        events.len(),
        1,
        "one EscalationCreated for two deliveries: {events:?}"
    );
    assert!(
        !events[0].contains(CUSTOMER),
        "the bus sees a fingerprint, not the customer id"
    );
    let event: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(event["source"], "relay");
    assert_eq!(event["detail-type"], "EscalationCreated");
    assert_eq!(event["detail"]["tenant_id"], "acme");
    assert_eq!(event["detail"]["account_id"], IG);
    assert_eq!(event["detail"]["reason"], "human_takeover");
    assert_eq!(
        event["detail"]["customer"],
        customer(CUSTOMER).fingerprint()
    );

    let records = p.audit.records(&tenant("acme")).await.unwrap();
    assert_eq!(records.len(), 1, "the second delivery is not audited again");
    assert_eq!(records[0].action, "conversation.paused");
    assert_eq!(records[0].actor, "system:ingest");
    assert!(records[0].details.contains("human_takeover"));
    assert!(!format!("{records:?}").contains(CUSTOMER));
    assert!(p.audit.verify(&tenant("acme")).await.unwrap().is_intact());
}

// ------------------------------------------------------------------------------------
// The HTTP edge: signatures, handshake, bad bodies, SQS outage

/// The sample delivery with escaped unicode, exactly as Meta sends it.
fn unicode_sample() -> String {
    std::fs::read_to_string(events_dir().join("meta/instagram-message-unicode.json"))
        .expect("the sample is readable")
        .trim_end()
        .to_owned()
}

#[tokio::test]
async fn deliveries_without_a_valid_signature_are_refused_and_nothing_is_kept() {
    let p = Pipeline::start().await;
    let (account, from) = ("17841400000000001", "1234567890123456");
    p.connect("acme", account, Channel::Instagram).await;
    let body = unicode_sample();
    assert!(body.contains(r"h\u00e4ttet"), "Meta escapes non-ASCII text");
    let signature = relay::webhook::sign(body.as_bytes(), &Secret::new(APP_SECRET));

    let altered = body.replacen(r"M\u00fcnchen", r"M\u00fcnchem", 1);
    assert_eq!(altered.len(), body.len(), "one byte differs");
    let reserialised =
        serde_json::to_string(&serde_json::from_str::<Value>(&body).unwrap()).unwrap();
    assert!(reserialised.contains("hättet"), "re-serialising unescapes");
    let refused = [
        (
            "wrong secret",
            json!({"raw_body": body, "secret": "not-the-app-secret"}),
        ),
        (
            "altered body",
            json!({"raw_body": altered, "signature": signature}),
        ),
        (
            "re-serialised body",
            json!({"raw_body": reserialised, "signature": signature}),
        ),
        (
            "malformed header",
            json!({"raw_body": body, "signature": "sha256=xyz"}),
        ),
    ];
    for (case, request) in refused {
        let report = p.send(request).await;
        let statuses = statuses(&deliveries(&report)[0]);
        assert!(
            statuses.iter().all(|s| *s == 403),
            "{case}: expected 403 on every attempt, got {statuses:?}"
        );
    }
    let missing = p
        .http
        .post(format!("{}/meta/webhook", p.server.url))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401, "missing header");

    assert!(
        p.queue_bodies(&p.aws.queues.inbound).await.is_empty(),
        "nothing refused reaches the queue"
    );
    assert!(p.archive().await.is_empty(), "nothing refused is archived");

    // The genuine bytes verify, reach the queue unchanged and are stored decoded.
    p.deliver(json!({"raw_body": body})).await;
    let queued = p.queue_bodies(&p.aws.queues.inbound).await;
    assert_eq!(queued.len(), 1);
    assert!(
        queued[0].contains(r"h\u00e4ttet"),
        "the entry is queued as Meta sent it"
    );
    p.drain().await;
    let messages = p.messages("acme", account, from).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].text.as_deref(),
        Some("Schöne Grüße aus München, hättet ihr das in Größe M? 😊")
    );
}

#[tokio::test]
async fn the_subscription_handshake_echoes_the_challenge_only_for_the_right_token() {
    let p = Pipeline::start().await;
    let get = |token: &str| {
        let url = format!(
            "{}/meta/webhook?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={token}",
            p.server.url
        );
        let http = p.http.clone();
        async move {
            let response = http.get(url).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    assert_eq!(get(VERIFY_TOKEN).await, (200, "1158201444".to_owned()));
    let (status, body) = get("guessed-token").await;
    assert_eq!(status, 403);
    assert!(
        !body.contains("1158201444"),
        "no challenge for a wrong token"
    );
    assert!(p.queue_bodies(&p.aws.queues.inbound).await.is_empty());
}

#[tokio::test]
async fn malformed_foreign_and_oversized_deliveries_are_answered_without_queueing() {
    let p = Pipeline::with(Options {
        webhook: webhook::Settings {
            max_body_bytes: 64 * 1024,
            ..webhook::Settings::default()
        },
        ..Options::default()
    })
    .await;
    p.connect("acme", IG, Channel::Instagram).await;

    let malformed = p
        .send(json!({"raw_body": format!(r#"{{"object":"instagram","entry":[{{"id":"{IG}","time":1,"messaging":["#)}))
        .await;
    assert!(
        statuses(&deliveries(&malformed)[0])
            .iter()
            .all(|s| *s == 400)
    );

    let foreign = p
        .send(
            json!({"raw": {"object": "user", "entry": [{"id": "1", "time": 1,
            "changes": [{"field": "name", "value": "x"}]}]}}),
        )
        .await;
    assert_eq!(
        statuses(&deliveries(&foreign)[0]),
        [200],
        "an object Relay does not handle is acknowledged so Meta stops"
    );

    let huge = instagram_delivery(
        IG,
        T0,
        vec![json!({"sender": {"id": CUSTOMER},
        "recipient": {"id": IG}, "timestamp": T0,
        "message": {"mid": "ig.huge", "text": "a".repeat(70 * 1024)}})],
    );
    let oversized = p.send(json!({"raw": huge})).await;
    assert!(
        statuses(&deliveries(&oversized)[0])
            .iter()
            .all(|s| *s == 413)
    );

    assert!(p.queue_bodies(&p.aws.queues.inbound).await.is_empty());
    assert!(p.conversation("acme", IG, CUSTOMER).await.is_none());
}

#[tokio::test]
async fn an_unreachable_queue_answers_5xx_so_meta_retries() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }; // dropped: nothing listens there any more
    let p = Pipeline::with(Options {
        webhook_sqs_endpoint: Some(format!("http://127.0.0.1:{closed}")),
        ..Options::default()
    })
    .await;
    p.connect("acme", IG, Channel::Instagram).await;
    let report = p.send(dm("ig.lost", "hello?", T0)).await;
    let delivery = &deliveries(&report)[0];
    let statuses = statuses(delivery);
    assert_eq!(statuses.len(), 4, "Meta retried");
    assert!(
        statuses.iter().all(|s| *s == 503),
        "every attempt is a 5xx: {statuses:?}"
    );
    assert_eq!(delivery["ok"], false);
}

// ------------------------------------------------------------------------------------
// The queue side: poison messages, tenants, archive

#[tokio::test]
async fn a_poison_message_fails_alone_in_its_batch() {
    let p = Pipeline::start().await;
    p.connect("acme", IG, Channel::Instagram).await;
    p.deliver(dm("ig.p.1", "one", T0 + 1)).await;
    p.deliver(dm("ig.p.2", "two", T0 + 2)).await;
    let poison = r#"{"object":"instagram","entry":"not an entry"}"#;
    let poison_id = p
        .aws
        .sqs()
        .send_message()
        .queue_url(&p.aws.queues.inbound)
        .message_body(poison)
        .send()
        .await
        .unwrap()
        .message_id
        .unwrap();

    let (drained, batches) = p.drain_recording(1).await;
    assert_eq!(batches.len(), 1);
    let (event, response) = &batches[0];
    assert_eq!(event.records.len(), 3, "all three came in one batch");
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(
        failed,
        [poison_id.as_str()],
        "only the poison message fails"
    );
    assert_eq!((drained.delivered, drained.failed), (2, 1));
    assert_eq!(
        mids(&p.messages("acme", IG, CUSTOMER).await),
        ["ig.p.1", "ig.p.2"]
    );

    // Redelivered until the queue's maxReceiveCount (5), then dead-lettered.
    let rest = p.drain().await;
    assert_eq!(rest.delivered, 0);
    assert_eq!(rest.failed, 4);
    assert_eq!(
        p.queue_bodies(&p.aws.queues.inbound_dlq).await,
        [poison.to_owned()]
    );
}

#[tokio::test]
async fn tenants_never_see_each_others_conversations() {
    let p = Pipeline::start().await;
    let (acme_ig, globex_ig) = ("17841400000000031", "17841400000000032");
    p.connect("acme", acme_ig, Channel::Instagram).await;
    p.connect("globex", globex_ig, Channel::Instagram).await;
    // One person writes to both businesses.
    p.deliver(
        json!({"kind": "dm", "account_id": acme_ig, "customer_id": CUSTOMER,
        "mid": "ig.t.acme", "text": "for acme only", "timestamp": T0 + 1}),
    )
    .await;
    p.deliver(
        json!({"kind": "dm", "account_id": globex_ig, "customer_id": CUSTOMER,
        "mid": "ig.t.globex", "text": "for globex only", "timestamp": T0 + 2}),
    )
    .await;
    p.drain().await;

    let acme = p.messages("acme", acme_ig, CUSTOMER).await;
    assert_eq!(acme.len(), 1);
    assert_eq!(acme[0].text.as_deref(), Some("for acme only"));
    let globex = p.messages("globex", globex_ig, CUSTOMER).await;
    assert_eq!(globex.len(), 1);
    assert_eq!(globex[0].text.as_deref(), Some("for globex only"));
    assert_eq!(p.conversations("acme", acme_ig).await.len(), 1);
    assert_eq!(p.conversations("globex", globex_ig).await.len(), 1);

    // Each tenant asking about the other's account finds nothing.
    for (me, theirs, mid) in [
        ("globex", acme_ig, "ig.t.acme"),
        ("acme", globex_ig, "ig.t.globex"),
    ] {
        assert!(p.conversations(me, theirs).await.is_empty());
        assert!(p.conversation(me, theirs, CUSTOMER).await.is_none());
        assert!(p.messages(me, theirs, CUSTOMER).await.is_empty());
        assert!(
            p.store
                .find_message(&tenant(me), &common::account(theirs), mid)
                .await
                .unwrap()
                .is_none()
        );
    }
    for job in p.reply_jobs().await {
        let expected = if job["mid"] == "ig.t.acme" {
            "acme"
        } else {
            "globex"
        };
        assert_eq!(job["tenant_id"], expected);
    }
}

#[tokio::test]
async fn the_raw_delivery_is_archived_with_a_ttl() {
    let p = Pipeline::start().await;
    p.connect("acme", IG, Channel::Instagram).await;
    let report = p.deliver(dm("ig.a.1", "Grüße", T0)).await;
    let sent = &deliveries(&report)[0];
    let now = time::OffsetDateTime::now_utc().unix_timestamp();

    let items = p.archive().await;
    assert_eq!(items.len(), 1);
    let item = &items[0];
    let body = item["body"].as_b().unwrap().as_ref();
    assert_eq!(
        body,
        sent["raw_body"].as_str().unwrap().as_bytes(),
        "the archive holds the exact bytes Meta signed"
    );
    assert_eq!(
        item["signature"],
        AttributeValue::S(sent["signature"].as_str().unwrap().to_owned()),
        "kept so a replay verifies like the original"
    );
    assert!(item["pk"].as_s().unwrap().starts_with("RAW#"));
    let ttl: i64 = item["ttl"].as_n().unwrap().parse().unwrap();
    let week = 7 * 86_400;
    assert!(
        (now + week - 120..=now + week + 120).contains(&ttl),
        "ttl {ttl} is a week from now ({now})"
    );
}

// ------------------------------------------------------------------------------------
// The sample Lambda events

/// The secret and verify token the sample events in events/webhook are made with.
const SAMPLE_APP_SECRET: &str = "relay-local-app-secret";
const SAMPLE_VERIFY_TOKEN: &str = "relay-local-verify-token";

fn sample_files(dir: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(events_dir().join(dir))
        .unwrap_or_else(|e| panic!("events/{dir} is readable: {e}"))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&path).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn the_sample_lambda_events_drive_the_real_handlers() {
    let p = Pipeline::start().await;
    p.connect("acme", "17841400000000001", Channel::Instagram)
        .await;
    p.connect("acme", "17841400000000002", Channel::Instagram)
        .await;
    p.connect("acme", "104000000000001", Channel::Page).await;

    // events/webhook, through a webhook configured like the local stack.
    let webhook = webhook::Webhook::new(
        p.aws.sqs(),
        p.aws.queues.inbound.clone(),
        p.aws.dynamodb(),
        p.aws.tables.archive.clone(),
        vec![Secret::new(SAMPLE_APP_SECRET)],
        Secret::new(SAMPLE_VERIFY_TOKEN),
        webhook::Settings::default(),
    );
    let expected = [
        ("bad-signature.json", 403),
        ("handshake.json", 200),
        ("malformed.json", 400),
        ("signed-post.json", 200),
    ];
    let files = sample_files("webhook");
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, expected.map(|(n, _)| n));
    for ((name, text), (_, status)) in files.iter().zip(expected) {
        let request = lambda_http::request::from_str(text)
            .unwrap_or_else(|e| panic!("{name} is an API Gateway event: {e}"));
        let response = webhook.handle(request).await;
        assert_eq!(response.status().as_u16(), status, "{name}");
    }
    let queued = p.queue_bodies(&p.aws.queues.inbound).await;
    let text_sample: Value = serde_json::from_str(
        &std::fs::read_to_string(events_dir().join("ingest/instagram-message-text.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        queued,
        [text_sample["Records"][0]["body"].as_str().unwrap()],
        "the signed post queues exactly the body of the matching ingest sample"
    );
    p.drain().await;

    // events/ingest, through ingest, with SQS's redelivery: a failed record comes back
    // with its receive count raised. Records waiting for a message that a later file
    // stores succeed on their second receive; a read whose message never comes is kept as
    // an orphan on its last allowed receive; only the poison record keeps failing.
    let mut pending: Vec<(String, SqsEvent)> = sample_files("ingest")
        .into_iter()
        .map(|(name, text)| {
            let event = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{name} is an SQS event: {e}"));
            (name, event)
        })
        .collect();
    for receive in 1..=p.ingest.ingestion.settings.orphan_receives {
        let mut redelivered = Vec::new();
        for (name, mut event) in pending {
            for record in &mut event.records {
                record
                    .attributes
                    .insert("ApproximateReceiveCount".into(), receive.to_string());
            }
            let response = relay::lambda::sqs_batch(&*p.ingest, &event).await;
            let failed: Vec<&str> = response
                .batch_item_failures
                .iter()
                .map(|f| f.item_identifier.as_str())
                .collect();
            event
                .records
                .retain(|r| failed.contains(&r.message_id.as_deref().unwrap_or_default()));
            if !event.records.is_empty() {
                redelivered.push((name, event));
            }
        }
        pending = redelivered;
        if receive == 1 {
            assert!(
                pending.len() > 1,
                "some records wait for messages of later files"
            );
        }
    }
    let left: Vec<(&str, Vec<&str>)> = pending
        .iter()
        .map(|(name, event)| {
            let bodies = event
                .records
                .iter()
                .map(|r| r.body.as_deref().unwrap())
                .collect();
            (name.as_str(), bodies)
        })
        .collect();
    assert_eq!(
        left,
        [(
            "poison.json",
            vec![r#"{"object":"instagram","entry":"not an entry"}"#]
        )],
        "only the poison record fails for good"
    );

    let text = p
        .message("acme", "17841400000000001", "aWdfbWVzc2FnZV9pdGVtOjE6SUdNZXNzYWdlOjE3ODQxNDAwMDAwMDAwMDAxOjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxODA5NjIzOTcwMDAxNw")
        .await;
    assert_eq!(
        text.text.as_deref(),
        Some("Schöne Grüße aus München, hättet ihr das in Größe M? 😊")
    );
    let echo = p
        .message(
            "acme",
            "104000000000001",
            "m_Qk9YT2ZmaWNlLW1lc3NhZ2UtaWQt0021_AbCdEfGhIjKlMnOpQrStUvWxYz01234",
        )
        .await;
    assert_eq!(reaction_of(&echo, "customer").as_deref(), Some("like"));
    assert!(
        p.conversation("acme", "17841400000000001", "1234567890123456")
            .await
            .unwrap()
            .paused,
        "the ellipsis sample pauses the conversation"
    );
    assert_eq!(p.new_comments("acme", "17841400000000001").await.len(), 5);
    let second_account = p.raw_events("acme", "17841400000000002").await;
    assert!(
        second_account.iter().any(|e| e.kind == "orphan:read"),
        "the batch sample's read of a message Relay never saw ends as an orphan"
    );
    assert_eq!(
        p.messages("acme", "17841400000000002", "2345678901234567")
            .await
            .len(),
        2,
        "the rest of that entry is stored once the read is set aside"
    );
}
