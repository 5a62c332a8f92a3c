//! The management API against moto and the Meta simulator, through the real authorizer:
//! who may call what, tenants kept apart, keys, the inbox, drafts, idempotency, the rate
//! limit and the shape of errors.

mod ai_support;
mod api_support;
mod common;

use api::access::{Need, ROUTES};
use api_support::World;
use relay::access::Role;
use relay::ids::TenantId;
use serde_json::{Value, json};

/// The ids of a post and of a media's insights the cross-tenant sweep stores for the
/// tenant under attack.
const TENANTS_POST: &str = "post-of-the-tenant";
const TENANTS_MEDIA: &str = "17900000000000077";

/// A concrete path for a route template, with the world's ids.
fn concrete(w: &World, template: &str, conversation: &str) -> String {
    template
        .replace("{account_id}", w.account())
        .replace("{conversation_id}", conversation)
        .replace("{draft_id}", "000000000000001_m.none")
        .replace("{entry_id}", "returns")
        .replace("{comment_id}", &format!("{}-1790000000000", w.account()))
        .replace("{action}", "hide")
        .replace("{key_id}", "key_0000000000000000")
        .replace("{post_id}", TENANTS_POST)
        .replace("{media_id}", TENANTS_MEDIA)
        .replace("{tenant_id}", w.tenant().as_str())
}

fn body_for(method: &str) -> Option<Value> {
    matches!(method, "POST" | "PUT" | "PATCH").then(|| json!({}))
}

#[tokio::test]
async fn every_route_refuses_callers_below_its_role_and_lets_the_others_through() {
    let w = World::start().await;
    let conversation = w.customer_writes("Hello, is the shop open?").await;
    let mut callers: Vec<(String, String)> = Vec::new();
    for role in Role::ALL {
        callers.push((role.as_str().to_owned(), w.key(role).await));
    }
    callers.push(("operator".into(), w.operator_key().await));
    let mut wrong = Vec::new();
    for (method, template, need) in ROUTES {
        if *need == Need::Public {
            continue;
        }
        let path = concrete(&w, template, &conversation);
        for (who, key) in &callers {
            let allowed = match need {
                Need::Tenant(min) => Role::parse(who).is_some_and(|r| r >= *min),
                Need::Operator => who == "operator",
                Need::Public => true,
            };
            let answer = w
                .call(Some(key), method, &path, body_for(method), &[])
                .await;
            let refused = answer.status == 403
                && answer.problem_type() == "urn:relay:problem:forbidden"
                && !answer.body["detail"]
                    .as_str()
                    .unwrap_or("")
                    .contains("may not make");
            if allowed == refused || answer.status >= 500 {
                wrong.push(format!(
                    "{method} {template} as {who}: {} {}",
                    answer.status, answer.body
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "role checks that do not hold:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test]
async fn no_key_is_401_and_an_unknown_or_malformed_key_is_403() {
    let w = World::start().await;
    assert_eq!(
        w.call(None, "GET", "/v1/accounts", None, &[]).await.status,
        401
    );
    let unknown = format!("rly_{}", "A".repeat(43));
    assert_eq!(w.get(&unknown, "/v1/accounts").await.status, 403);
    assert_eq!(w.get("not-a-key", "/v1/accounts").await.status, 403);
    // The spec is public.
    let spec = w.call(None, "GET", "/v1/openapi.json", None, &[]).await;
    assert_eq!(spec.status, 200);
    assert_eq!(spec.body["openapi"], "3.1.0");
}

#[tokio::test]
async fn another_tenants_ids_find_nothing_and_change_nothing_on_any_route() {
    let w = World::start().await;
    let conversation = w.customer_writes("Do you ship to Vienna?").await;
    let rival = TenantId::parse(format!("rival-{}", w.tenant())).unwrap();
    let rival_key = w.key_for(&rival, Role::Owner, &[]).await;
    let before_audit = w.ai.p.audit.records(w.tenant()).await.unwrap().len();
    let before_conversation = w.ai.conversation().await;
    let now = w.ai.clock.now_ms();
    let post = relay::publishing::Post {
        post_id: relay::ids::PostId::parse(TENANTS_POST).unwrap(),
        caption: Some("Ours".into()),
        ..relay::publishing::Post::scheduled(
            w.tenant().clone(),
            w.account_id(),
            relay::publishing::PostContent::Image {
                url: "https://cdn.example/a.jpg".into(),
                alt_text: None,
            },
            now + 86_400_000,
            "user:key_owner",
            now,
        )
    };
    w.ai.p.store.create_post(&post).await.unwrap();
    let insights = relay::insights::MediaInsights {
        tenant_id: w.tenant().clone(),
        account_id: w.account_id(),
        media_id: relay::ids::MediaId::parse(TENANTS_MEDIA).unwrap(),
        kind: relay::insights::MediaKind::Image,
        published_at: Some(now - 86_400_000),
        permalink: None,
        post_id: Some(post.post_id.clone()),
        metrics: [("views".to_owned(), 1234)].into(),
        fetched_at: now,
    };
    w.ai.p.store.put_media_insights(&insights).await.unwrap();
    let mut leaks = Vec::new();
    for (method, template, need) in ROUTES {
        let takes_an_id = template.contains("{account_id}")
            || template.contains("{conversation_id}")
            || template.contains("{entry_id}")
            || template.contains("{comment_id}")
            || template.contains("{key_id}")
            || template.contains("{post_id}")
            || template.contains("{media_id}");
        if !matches!(need, Need::Tenant(_)) || !takes_an_id {
            continue;
        }
        let path = concrete(&w, template, &conversation);
        let answer = w
            .call(Some(&rival_key), method, &path, body_for(method), &[])
            .await;
        // A PATCH/POST with an empty body may be refused for the body first; either
        // way nothing of the other tenant is read or changed (checked below).
        if !(answer.status == 404 || answer.status == 422) {
            leaks.push(format!(
                "{method} {path}: {} {}",
                answer.status, answer.body
            ));
        }
    }
    for path in [
        format!("/v1/conversations?account={}", w.account()),
        format!("/v1/drafts?account={}", w.account()),
        format!("/v1/comments?account={}", w.account()),
    ] {
        let answer = w.get(&rival_key, &path).await;
        if answer.status != 404 {
            leaks.push(format!("GET {path}: {} {}", answer.status, answer.body));
        }
    }
    // Real writes with the other tenant's ids.
    for (path, body) in [
        (
            format!("/v1/conversations/{conversation}/messages"),
            json!({"text": "hi"}),
        ),
        (format!("/v1/conversations/{conversation}/pause"), json!({})),
        (
            format!("/v1/conversations/{conversation}/assign"),
            json!({"assignee": "mallory"}),
        ),
    ] {
        let answer = w.post(&rival_key, &path, body).await;
        if answer.status != 404 {
            leaks.push(format!("POST {path}: {} {}", answer.status, answer.body));
        }
    }
    let settings = w
        .patch(
            &rival_key,
            &format!("/v1/accounts/{}/settings", w.account()),
            json!({"ai": {"mode": "off"}}),
        )
        .await;
    if settings.status != 404 {
        leaks.push(format!("PATCH settings: {}", settings.status));
    }
    let rival_list = w.get(&rival_key, "/v1/conversations").await;
    assert_eq!(
        rival_list.body["items"],
        json!([]),
        "the rival sees no conversation"
    );
    assert!(
        leaks.is_empty(),
        "another tenant's ids reached data:\n{}",
        leaks.join("\n")
    );
    assert_eq!(
        w.ai.p.audit.records(w.tenant()).await.unwrap().len(),
        before_audit,
        "nothing was done to the tenant (its audit trail did not grow)"
    );
    assert_eq!(w.ai.conversation().await, before_conversation);
    assert!(
        w.ai.sent().await.is_empty(),
        "nothing was sent to the customer"
    );
    let account =
        w.ai.p
            .store
            .get_account(w.tenant(), &w.account_id())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(account.status.as_str(), "connected");
    let ai =
        w.ai.p
            .store
            .get_ai_settings(w.tenant(), &w.account_id())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(ai.mode, relay::inbox::AiMode::Shadow);
    let after =
        w.ai.p
            .store
            .get_post(w.tenant(), &post.post_id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        after, post,
        "the tenant's post was neither changed nor cancelled"
    );
}

#[tokio::test]
async fn a_created_key_is_shown_once_works_and_stops_working_when_revoked() {
    let w = World::start().await;
    let owner = w.key(Role::Owner).await;
    let (logs, made) = {
        let (logs, guard) = relay::telemetry::capture();
        let made = w
            .post(
                &owner,
                "/v1/keys",
                json!({"name": "Front desk", "role": "agent"}),
            )
            .await;
        let listed = w.get(&owner, "/v1/keys").await;
        drop(guard);
        assert!(
            !listed
                .body
                .to_string()
                .contains(made.body["key"].as_str().unwrap())
        );
        (logs, made)
    };
    assert_eq!(made.status, 201, "{}", made.body);
    let key = made.body["key"].as_str().unwrap().to_owned();
    let key_id = made.body["key_id"].as_str().unwrap().to_owned();
    assert_eq!(w.get(&key, "/v1/conversations").await.status, 200);
    let listed = w.get(&owner, "/v1/keys").await;
    let used = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["key_id"] == key_id.as_str())
        .expect("the new key is listed");
    assert!(
        used["last_used_at"].is_i64(),
        "its last use is shown: {used}"
    );
    // Its plaintext is in no table and no log line; its hash is how it is found.
    let table = w.table_text(&w.ai.p.aws.tables.main).await;
    assert!(!table.contains(&key), "the key's plaintext is stored");
    assert!(table.contains(&relay::access::key_hash(&key)));
    assert!(
        !logs.text().contains(&key),
        "the key's plaintext was logged"
    );
    // Admins may not make owner keys.
    let admin = w.key(Role::Admin).await;
    let refused = w
        .post(&admin, "/v1/keys", json!({"name": "Boss", "role": "owner"}))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    // A key does not revoke itself, and the last owner key stays.
    let (_, me) = {
        let listed = w.get(&owner, "/v1/keys").await;
        let mine = listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["role"] == "owner")
            .unwrap()["key_id"]
            .as_str()
            .unwrap()
            .to_owned();
        (listed, mine)
    };
    let itself = w
        .call(Some(&owner), "DELETE", &format!("/v1/keys/{me}"), None, &[])
        .await;
    assert_eq!(
        itself.problem_type(),
        "urn:relay:problem:key-revokes-itself"
    );
    let last = w
        .call(Some(&admin), "DELETE", &format!("/v1/keys/{me}"), None, &[])
        .await;
    assert_eq!(
        last.status, 403,
        "admins do not revoke owner keys: {}",
        last.body
    );
    // Revoked: refused from then on (the authorizer reads the key each time; API
    // Gateway's cache adds at most its 60 s).
    let revoked = w
        .call(
            Some(&owner),
            "DELETE",
            &format!("/v1/keys/{key_id}"),
            None,
            &[],
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert!(revoked.body["revoked_at"].is_i64(), "{}", revoked.body);
    assert_eq!(w.get(&key, "/v1/conversations").await.status, 403);
    let actions: Vec<String> =
        w.ai.p
            .audit
            .records(w.tenant())
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.action.starts_with("key."))
            .map(|r| format!("{} {}", r.actor, r.action))
            .collect();
    assert!(actions.iter().any(|a| a.ends_with("key.created")));
    assert!(
        actions
            .iter()
            .any(|a| a.ends_with("key.revoked") && a.starts_with("user:key_"))
    );
}

#[tokio::test]
async fn a_person_answers_a_dm_through_the_api_and_the_ai_stays_paused() {
    let w = World::start().await;
    let agent = w.key(Role::Agent).await;
    let before = w
        .get(&agent, &format!("/v1/accounts/{}", w.account()))
        .await;
    assert_eq!(
        before.body["last_webhook_at"],
        Value::Null,
        "{}",
        before.body
    );
    let conversation = w.customer_writes("Is the Trail Boot waterproof?").await;
    let account = w
        .get(&agent, &format!("/v1/accounts/{}", w.account()))
        .await;
    assert!(
        account.body["last_webhook_at"].as_i64().is_some()
            && account.body["last_message_at"].as_i64().is_some(),
        "the account shows its last webhook: {}",
        account.body
    );
    let inbox = w.get(&agent, "/v1/conversations?unread=true").await;
    assert_eq!(inbox.status, 200, "{}", inbox.body);
    assert_eq!(inbox.body["items"][0]["id"], conversation);
    assert_eq!(inbox.body["items"][0]["window"]["kind"], "standard");
    let thread = w
        .get(
            &agent,
            &format!("/v1/conversations/{conversation}/messages"),
        )
        .await;
    assert_eq!(
        thread.body["items"][0]["text"],
        "Is the Trail Boot waterproof?"
    );
    let sent = w
        .post(
            &agent,
            &format!("/v1/conversations/{conversation}/messages"),
            json!({"text": "Yes, fully waterproof leather."}),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    assert_eq!(sent.body["human_agent_tag"], false);
    assert_eq!(w.ai.sent_texts().await, ["Yes, fully waterproof leather."]);
    let after = w
        .get(&agent, &format!("/v1/conversations/{conversation}"))
        .await;
    assert_eq!(
        after.body["ai_paused"], true,
        "a person took the conversation over"
    );
    // The customer writes again: the AI stays out of it.
    w.customer_writes("Great, thanks!").await;
    w.ai.reply().await;
    assert_eq!(
        w.ai.sent().await.len(),
        1,
        "the AI did not answer after the person"
    );
    let thread = w
        .get(
            &agent,
            &format!("/v1/conversations/{conversation}/messages"),
        )
        .await;
    let authors: Vec<&str> = thread.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["author"].as_str().unwrap())
        .collect();
    assert_eq!(authors, ["customer", "human", "customer"]);
}

#[tokio::test]
async fn after_a_day_a_reply_carries_the_human_agent_tag_and_after_a_week_it_is_refused() {
    let w = World::start().await;
    let agent = w.key(Role::Agent).await;
    let conversation = w.customer_writes("Are you there?").await;
    w.ai.clock.advance(2 * 86_400).await;
    let sent = w
        .post(
            &agent,
            &format!("/v1/conversations/{conversation}/messages"),
            json!({"text": "Sorry for the wait!"}),
        )
        .await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    assert_eq!(sent.body["human_agent_tag"], true);
    assert_eq!(w.ai.sent().await[0]["tag"], "HUMAN_AGENT");
    w.ai.clock.advance(6 * 86_400).await;
    let late = w
        .post(
            &agent,
            &format!("/v1/conversations/{conversation}/messages"),
            json!({"text": "Hello?"}),
        )
        .await;
    assert_eq!(late.status, 422, "{}", late.body);
    assert_eq!(
        late.problem_type(),
        "urn:relay:problem:messaging-window-closed"
    );
    assert!(late.body["detail"].as_str().unwrap().contains("7 days"));
    assert_eq!(
        w.ai.sent().await.len(),
        1,
        "nothing was sent after the window"
    );
}

#[tokio::test]
async fn an_edited_draft_approved_twice_at_once_is_sent_once_with_the_edited_text() {
    let w = World::start().await;
    let agent = w.key(Role::Agent).await;
    let conversation = w.customer_writes("How long does shipping take?").await;
    w.ai.reply().await;
    let drafts = w
        .get(&agent, &format!("/v1/drafts?account={}", w.account()))
        .await;
    assert_eq!(drafts.status, 200, "{}", drafts.body);
    let draft = drafts.body["items"][0]["draft_id"]
        .as_str()
        .expect("a draft")
        .to_owned();
    assert!(
        w.ai.sent().await.is_empty(),
        "shadow mode sends nothing by itself"
    );
    let path = format!("/v1/conversations/{conversation}/drafts/{draft}/approve");
    let body = json!({"text": "We ship within 2 business days."});
    let (a, b) = tokio::join!(
        w.post(&agent, &path, body.clone()),
        w.post(&agent, &path, body.clone())
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [201, 409], "{} / {}", a.body, b.body);
    assert_eq!(w.ai.sent_texts().await, ["We ship within 2 business days."]);
    let again = w
        .get(&agent, &format!("/v1/drafts?account={}", w.account()))
        .await;
    assert_eq!(
        again.body["items"],
        json!([]),
        "no draft is pending any more"
    );
    let rejected = w
        .post(
            &agent,
            &format!("/v1/conversations/{conversation}/drafts/{draft}/reject"),
            json!({}),
        )
        .await;
    assert_eq!(rejected.status, 409);
}

#[tokio::test]
async fn a_draft_approved_after_the_window_closed_is_refused_with_the_reason() {
    let w = World::start().await;
    let agent = w.key(Role::Agent).await;
    let conversation = w.customer_writes("Can I return an order?").await;
    w.ai.reply().await;
    let drafts = w
        .get(&agent, &format!("/v1/drafts?account={}", w.account()))
        .await;
    let draft = drafts.body["items"][0]["draft_id"]
        .as_str()
        .expect("a draft")
        .to_owned();
    w.ai.clock.advance(8 * 86_400).await;
    let late = w
        .post(
            &agent,
            &format!("/v1/conversations/{conversation}/drafts/{draft}/approve"),
            json!({}),
        )
        .await;
    assert_eq!(late.status, 422, "{}", late.body);
    assert_eq!(
        late.problem_type(),
        "urn:relay:problem:messaging-window-closed"
    );
    assert!(w.ai.sent().await.is_empty());
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let w = World::start().await;
    let manager = w.key(Role::Manager).await;
    let entry = json!({"entry": {"kind": "faq", "question": "Gift wrap?", "answer": "Yes, free."}});
    let first = w
        .post_once(&manager, "/v1/knowledge", entry.clone(), "k-1")
        .await;
    let second = w
        .post_once(&manager, "/v1/knowledge", entry.clone(), "k-1")
        .await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(second.status, 201);
    assert_eq!(second.body, first.body, "the replay is the first answer");
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    let list = w.get(&manager, "/v1/knowledge?limit=200").await;
    let gift = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["entry"]["question"] == "Gift wrap?")
        .count();
    assert_eq!(gift, 1, "the entry was created once");
    let other = w
        .post_once(
            &manager,
            "/v1/knowledge",
            json!({"entry": {"kind": "faq", "question": "Other?", "answer": "No."}}),
            "k-1",
        )
        .await;
    assert_eq!(other.status, 422);
    assert_eq!(
        other.problem_type(),
        "urn:relay:problem:idempotency-key-reused"
    );
    // A refusal is replayed as the problem it was.
    let bad = json!({"entry": {"kind": "faq", "question": "", "answer": "No."}});
    let first = w
        .post_once(&manager, "/v1/knowledge", bad.clone(), "k-2")
        .await;
    let replay = w.post_once(&manager, "/v1/knowledge", bad, "k-2").await;
    assert_eq!((first.status, replay.status), (422, 422));
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        replay.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(replay.body, first.body);
}

#[tokio::test]
async fn a_tenant_over_its_rate_gets_429_with_retry_after() {
    let w = World::with(api::Settings {
        rate: relay::access::RateLimit {
            per_second: 0.01,
            burst: 3.0,
        },
    })
    .await;
    let viewer = w.key(Role::Viewer).await;
    for _ in 0..3 {
        assert_eq!(w.get(&viewer, "/v1/accounts").await.status, 200);
    }
    let limited = w.get(&viewer, "/v1/accounts").await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.problem_type(), "urn:relay:problem:rate-limited");
    let wait: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=100).contains(&wait), "{wait}");
    // Another tenant's bucket is its own.
    let rival = TenantId::parse(format!("rival-{}", w.tenant())).unwrap();
    let rival_key = w.key_for(&rival, Role::Viewer, &[]).await;
    assert_eq!(w.get(&rival_key, "/v1/accounts").await.status, 200);
}

#[tokio::test]
async fn errors_are_problem_json_naming_the_field_and_unknown_fields_are_refused() {
    let w = World::start().await;
    let manager = w.key(Role::Manager).await;
    let unknown = w
        .post(
            &manager,
            "/v1/knowledge",
            json!({"entry": {"kind": "faq", "question": "q", "answer": "a"}, "colour": "red"}),
        )
        .await;
    assert_eq!(unknown.status, 422);
    assert_eq!(
        unknown.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(unknown.problem_type(), "urn:relay:problem:invalid-request");
    assert!(
        unknown.body["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("colour")
    );
    let limit = w.get(&manager, "/v1/knowledge?limit=500").await;
    assert_eq!(limit.status, 422);
    assert_eq!(limit.body["errors"][0]["field"], "limit");
    let cursor = w.get(&manager, "/v1/knowledge?cursor=bm9wZQ").await;
    assert_eq!(cursor.status, 422);
    assert_eq!(cursor.body["errors"][0]["field"], "cursor");
    // Cursors that are empty, or not a whole key of the listing, are the client's error.
    let admin = w.key(Role::Admin).await;
    for path in [
        "/v1/conversations?cursor=",
        "/v1/knowledge?cursor=",
        "/v1/audit?cursor=",
    ] {
        let answer = w.get(&admin, path).await;
        assert_eq!(answer.status, 422, "{path}: {}", answer.body);
    }
    let partial = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        format!("{{\"pk\":\"T#{}\"}}", w.tenant()),
    );
    let answer = w
        .get(&manager, &format!("/v1/knowledge?cursor={partial}"))
        .await;
    assert_eq!(
        answer.status, 422,
        "a partial key as cursor: {}",
        answer.body
    );
    let missing = w.get(&manager, "/v1/conversations/1-2").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.problem_type(), "urn:relay:problem:not-found");
    let settings = w
        .patch(
            &manager,
            &format!("/v1/accounts/{}/settings", w.account()),
            json!({"ai": {"mode": "auto"}}),
        )
        .await;
    assert_eq!(settings.status, 403, "settings need an admin");
}

#[tokio::test]
async fn lists_page_with_a_cursor_until_every_item_was_seen_once() {
    let w = World::start().await;
    let viewer = w.key(Role::Viewer).await;
    for i in 0..5 {
        w.ai.says_as(&format!("55000000001{i:05}"), "hi").await;
    }
    w.ai.ingest().await;
    let mut seen = Vec::new();
    let mut path = "/v1/conversations?limit=2".to_owned();
    for _ in 0..10 {
        let page = w.get(&viewer, &path).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        match page.body["next_cursor"].as_str() {
            Some(next) => path = format!("/v1/conversations?limit=2&cursor={next}"),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 5, "{seen:?}");
    assert_eq!(seen.len(), 5, "no conversation came twice: {seen:?}");
}

#[tokio::test]
async fn an_agent_sees_only_the_accounts_assigned_to_their_key() {
    let w = World::start().await;
    let conversation = w.customer_writes("Hi!").await;
    let other = relay::ids::AccountId::parse("17841499999999999").unwrap();
    w.ai.p
        .connect(
            w.tenant().as_str(),
            other.as_str(),
            relay::store::accounts::Channel::Instagram,
        )
        .await;
    let elsewhere = w.key_for(w.tenant(), Role::Agent, &[other]).await;
    assert_eq!(
        w.get(&elsewhere, &format!("/v1/conversations/{conversation}"))
            .await
            .status,
        404
    );
    assert_eq!(
        w.get(&elsewhere, "/v1/conversations").await.body["items"],
        json!([])
    );
    let here = w.key_for(w.tenant(), Role::Agent, &[w.account_id()]).await;
    assert_eq!(
        w.get(&here, &format!("/v1/conversations/{conversation}"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_comment_action_goes_to_the_moderation_queue_once_per_request() {
    let w = World::start().await;
    let agent = w.key(Role::Agent).await;
    let media = crate::ai_support::sim_post(
        &w.ai.p,
        "/_sim/media",
        json!({"account_id": w.account(), "caption": "New boots"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let made = crate::ai_support::sim_post(
        &w.ai.p,
        "/_sim/comments",
        json!({"media_id": media, "text": "Price?", "from_id": "5500000000000999", "from_username": "fan"}),
    )
    .await;
    w.ai.ingest().await;
    let comment = format!("{}-{}", w.account(), made["id"].as_str().unwrap());
    let listed = w
        .get(
            &agent,
            &format!("/v1/comments?account={}&media={media}", w.account()),
        )
        .await;
    assert_eq!(listed.body["items"][0]["id"], comment, "{}", listed.body);
    let before = w.ai.p.moderation_jobs().await.len();
    let reply = w
        .post_once(
            &agent,
            &format!("/v1/comments/{comment}/reply"),
            json!({"text": "It is 89.90 EUR."}),
            "reply-1",
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let again = w
        .post_once(
            &agent,
            &format!("/v1/comments/{comment}/reply"),
            json!({"text": "It is 89.90 EUR."}),
            "reply-1",
        )
        .await;
    assert_eq!(again.body, reply.body);
    let jobs = w.ai.p.moderation_jobs().await;
    let replies: Vec<&Value> = jobs[before..]
        .iter()
        .filter(|j| j["action"]["kind"] == "reply")
        .collect();
    assert_eq!(replies.len(), 1, "one job for the one request: {jobs:?}");
    assert_eq!(
        replies[0]["action"]["by"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("user")
    );
    let bad = w
        .post(&agent, &format!("/v1/comments/{comment}/shout"), json!({}))
        .await;
    assert_eq!(bad.status, 404);
}

#[tokio::test]
async fn operators_make_tenants_and_their_owner_keys_and_read_no_tenant_data() {
    let w = World::start().await;
    let ops = w.operator_key().await;
    let tenant = format!("new-{}", w.tenant());
    let made = w
        .post(
            &ops,
            "/v1/tenants",
            json!({"tenant_id": tenant, "name": "New Shop"}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let twice = w
        .post(
            &ops,
            "/v1/tenants",
            json!({"tenant_id": tenant, "name": "New Shop"}),
        )
        .await;
    assert_eq!(twice.status, 409);
    let owner = w
        .post(
            &ops,
            &format!("/v1/tenants/{tenant}/keys"),
            json!({"name": "Owner", "role": "owner"}),
        )
        .await;
    assert_eq!(owner.status, 201, "{}", owner.body);
    let owner = owner.body["key"].as_str().unwrap().to_owned();
    assert_eq!(w.get(&owner, "/v1/accounts").await.status, 200);
    let link = w
        .post(
            &ops,
            &format!("/v1/tenants/{tenant}/onboarding-links"),
            json!({"days": 3}),
        )
        .await;
    assert_eq!(link.status, 201, "{}", link.body);
    assert!(
        link.body["url"]
            .as_str()
            .unwrap()
            .starts_with(api_support::PUBLIC_BASE)
    );
    let health = w.get(&ops, "/v1/health?limit=50").await;
    assert_eq!(health.status, 200, "{}", health.body);
    let new_one = health.body["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tenant_id"] == tenant.as_str())
        .expect("the new tenant is listed");
    assert_eq!(
        new_one["usage_30d"]["api_calls"], 1,
        "the owner's one call is counted: {new_one}"
    );
    let listed = health.body.to_string();
    assert!(!listed.contains("token_sealed") && !listed.contains("text"));
    for path in ["/v1/conversations", "/v1/knowledge", "/v1/audit"] {
        assert_eq!(w.get(&ops, path).await.status, 403, "{path}");
    }
}

#[tokio::test]
async fn the_audit_trail_lists_writes_by_key_and_verifies() {
    let w = World::start().await;
    let admin = w.key(Role::Admin).await;
    let conversation = w.customer_writes("Hello").await;
    w.post(
        &admin,
        &format!("/v1/conversations/{conversation}/pause"),
        json!({}),
    )
    .await;
    w.post(
        &admin,
        &format!("/v1/conversations/{conversation}/resume"),
        json!({}),
    )
    .await;
    let page = w.get(&admin, "/v1/audit?limit=200").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let actions: Vec<String> = page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        actions.contains(&"conversation.paused".to_owned()),
        "{actions:?}"
    );
    assert!(page.body["items"].as_array().unwrap().iter().all(|r| {
        !r["action"].as_str().unwrap().starts_with("conversation.")
            || r["actor"].as_str().unwrap().starts_with("user:key_")
    }));
    let first = w.get(&admin, "/v1/audit?limit=1").await;
    let next = first.body["next_cursor"]
        .as_str()
        .expect("more than one record");
    let second = w
        .get(&admin, &format!("/v1/audit?limit=1&cursor={next}"))
        .await;
    assert!(second.body["items"][0]["seq"].as_u64() > first.body["items"][0]["seq"].as_u64());
    let verified = w.get(&admin, "/v1/audit/verify").await;
    assert_eq!(verified.body["intact"], true, "{}", verified.body);
}

#[tokio::test]
async fn the_sample_events_answer_as_their_readme_says() {
    use tower::ServiceExt;
    let w = World::start().await;
    let dir = common::events_dir();
    // The samples name tenant `acme`, which is also this world's tenant name.
    for (file, status) in [
        ("api/openapi.json", 200),
        ("api/list-conversations.json", 200),
        ("api/viewer-cannot-reply.json", 403),
        ("api/unknown-field.json", 422),
        ("api/operator-reads-no-inbox.json", 403),
        ("api/erase-unconfirmed.json", 422),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let text = text.replace(
            "\"tenant_id\": \"acme\"",
            &format!("\"tenant_id\": \"{}\"", w.tenant()),
        );
        let request = lambda_http::request::from_str(&text).expect("a v2 event");
        let response = w.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{file}");
    }
    for file in [
        "authorizer/unknown-key.json",
        "authorizer/not-a-bearer-key.json",
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let answer = w
            .authorizer
            .handle(serde_json::from_str(&text).unwrap())
            .await;
        assert!(!answer.is_authorized, "{file}");
    }
}

#[tokio::test]
async fn an_owner_erases_the_tenants_data_and_nothing_of_another_tenant() {
    let w = World::start().await;
    let conversation = w.customer_writes("Please forget me").await;
    let owner = w.key(Role::Owner).await;
    let manager = w.key(Role::Manager).await;
    let entry = json!({"entry": {"kind": "faq", "question": "Gift wrap?", "answer": "Yes."}});
    assert_eq!(
        w.post(&manager, "/v1/knowledge", entry.clone())
            .await
            .status,
        201
    );
    let rival = TenantId::parse(format!("rival-{}", w.tenant())).unwrap();
    let rival_key = w.key_for(&rival, Role::Owner, &[]).await;
    assert_eq!(w.post(&rival_key, "/v1/knowledge", entry).await.status, 201);

    let unconfirmed = w
        .post(
            &owner,
            "/v1/tenant/erase",
            json!({"confirm": "someone-else"}),
        )
        .await;
    assert_eq!(unconfirmed.status, 422, "{}", unconfirmed.body);
    assert_eq!(unconfirmed.body["errors"][0]["field"], "confirm");
    assert_eq!(
        w.get(&owner, &format!("/v1/conversations/{conversation}"))
            .await
            .status,
        200,
        "an unconfirmed request erases nothing"
    );

    let listed = w
        .get(
            &owner,
            &format!("/v1/conversations/{conversation}/messages?limit=200"),
        )
        .await;
    let messages = listed.body["items"].as_array().unwrap().len();
    assert!(messages >= 1);
    let knowledge = w.get(&owner, "/v1/knowledge?limit=200").await.body["items"]
        .as_array()
        .unwrap()
        .len();
    let erased = w
        .post(
            &owner,
            "/v1/tenant/erase",
            json!({"confirm": w.tenant().as_str()}),
        )
        .await;
    assert_eq!(erased.status, 200, "{}", erased.body);
    assert_eq!(erased.body["accounts"], 1);
    assert_eq!(erased.body["conversations"], 1);
    assert_eq!(erased.body["messages"], messages);
    assert_eq!(erased.body["knowledge_entries"], knowledge);
    assert_eq!(erased.body["api_keys"], 2, "the owner's and the manager's");

    // What is left of the tenant in the main table expires by itself within a day.
    let mine = format!("\"T#{}", w.tenant());
    let table = w.table_text(&w.ai.p.aws.tables.main).await;
    let left: Vec<&str> = table
        .lines()
        .filter(|item| item.contains(&mine) && !item.contains("\"ttl\""))
        .map(|item| &item[..item.len().min(200)])
        .collect();
    assert!(
        left.is_empty(),
        "items of the tenant left:\n{}",
        left.join("\n")
    );
    assert_eq!(
        w.get(&owner, "/v1/accounts").await.status,
        403,
        "its keys are gone"
    );

    let rival_knowledge = w.get(&rival_key, "/v1/knowledge").await;
    assert_eq!(rival_knowledge.status, 200);
    assert_eq!(rival_knowledge.body["items"].as_array().unwrap().len(), 1);
    let records = w.ai.p.audit.records(w.tenant()).await.unwrap();
    let last = records.last().unwrap();
    assert_eq!(last.action, "tenant.erased");
    assert!(last.actor.starts_with("user:key_"), "{}", last.actor);
    assert!(w.ai.p.audit.verify(w.tenant()).await.unwrap().is_intact());
}
