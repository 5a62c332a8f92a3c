//! The main table's repository API against DynamoDB (moto): tenant isolation, dedupe
//! markers and claims, routing, pagination and the token-expiry index.

use std::collections::HashSet;

use futures::StreamExt;
use relay::ids::{AccountId, CustomerId, MessageId, TenantId};
use relay::inbox::{AiOrigin, Author, StoredMessage};
use relay::store::accounts::{Account, AccountStatus, Channel, LoginKind, Tenant};
use relay::store::inbox::Recorded;
use relay::store::{Cursor, Listing, Store, StoreError};
use relay_tests::TestAws;

fn tenant(s: &str) -> TenantId {
    TenantId::parse(s).unwrap()
}

fn account(t: &TenantId, id: &str, expires: Option<i64>) -> Account {
    Account {
        tenant_id: t.clone(),
        account_id: AccountId::parse(id).unwrap(),
        channel: Channel::Instagram,
        login: LoginKind::InstagramLogin,
        username: Some(format!("shop_{id}")),
        name: None,
        meta_user_id: Some(format!("9{id}")),
        linked_instagram_id: None,
        status: AccountStatus::Connected,
        token_sealed: None,
        token_issued_at: Some(1_700_000_000),
        token_expires_at: expires,
        connected_at: 1_700_000_000,
        updated_at: 1_700_000_000,
    }
}

async fn store(aws: &TestAws) -> Store {
    Store::new(aws.dynamodb(), aws.tables.main.clone())
}

#[tokio::test]
async fn a_tenant_cannot_see_or_change_another_tenants_accounts() {
    let aws = TestAws::provision().await;
    let store = store(&aws).await;
    let (a, b) = (tenant("acme"), tenant("globex"));
    store.put_account(&account(&a, "111", None)).await.unwrap();

    let id = AccountId::parse("111").unwrap();
    assert!(
        store.get_account(&b, &id).await.unwrap().is_none(),
        "tenant globex read acme's account"
    );
    assert!(
        store
            .list_accounts(&b, &Listing::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "tenant globex listed acme's accounts"
    );

    // globex "updating" account 111 writes globex's own item; acme's is untouched.
    let mut hijack = account(&b, "111", None);
    hijack.username = Some("hijacked".into());
    store.update_account(&hijack).await.unwrap();
    let acme_view = store.get_account(&a, &id).await.unwrap().unwrap();
    assert_eq!(acme_view.username.as_deref(), Some("shop_111"));
    assert_eq!(acme_view.tenant_id, a);
}

#[tokio::test]
async fn a_cursor_from_another_tenant_is_refused() {
    let aws = TestAws::provision().await;
    let store = store(&aws).await;
    let (a, b) = (tenant("acme"), tenant("globex"));
    for i in 0..3 {
        store
            .put_account(&account(&a, &format!("50{i}"), None))
            .await
            .unwrap();
        store
            .put_account(&account(&b, &format!("60{i}"), None))
            .await
            .unwrap();
    }
    let page = store
        .list_accounts(
            &a,
            &Listing {
                limit: 1,
                ..Listing::default()
            },
        )
        .await
        .unwrap();
    let acme_cursor = page.next.expect("more acme accounts to list");
    let result = store
        .list_accounts(
            &b,
            &Listing {
                limit: 10,
                cursor: Some(acme_cursor),
                ..Listing::default()
            },
        )
        .await;
    assert!(
        matches!(result, Err(StoreError::InvalidCursor)),
        "{result:?}"
    );
    let forged = Cursor::parse("eyJwayI6IlQjYWNtZSJ9").unwrap();
    let result = store
        .list_accounts(
            &b,
            &Listing {
                cursor: Some(forged),
                ..Listing::default()
            },
        )
        .await;
    assert!(
        matches!(result, Err(StoreError::InvalidCursor)),
        "{result:?}"
    );
}

#[tokio::test]
async fn listing_pages_through_every_account_once() {
    let aws = TestAws::provision().await;
    let store = store(&aws).await;
    let t = tenant("acme");
    for i in 0..25 {
        store
            .put_account(&account(&t, &format!("7{i:03}"), None))
            .await
            .unwrap();
    }
    let mut seen = HashSet::new();
    let mut listing = Listing {
        limit: 10,
        ..Listing::default()
    };
    let mut pages = 0;
    loop {
        let page = store.list_accounts(&t, &listing).await.unwrap();
        pages += 1;
        for acc in page.items {
            assert!(seen.insert(acc.account_id), "an account came back twice");
        }
        match page.next {
            Some(next) => listing.cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25, "accounts lost across pages");
    assert!(pages >= 3);
}

#[tokio::test]
async fn second_claim_of_an_event_loses() {
    let aws = TestAws::provision().await;
    let store = store(&aws).await;
    let t = tenant("acme");
    let ttl = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    assert!(store.claim_event(&t, "mid.abc", ttl).await.unwrap());
    assert!(
        !store.claim_event(&t, "mid.abc", ttl).await.unwrap(),
        "the same event was claimed twice"
    );
    // Another tenant's identical event id is its own.
    assert!(
        store
            .claim_event(&tenant("globex"), "mid.abc", ttl)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn an_expired_marker_does_not_block_a_new_claim() {
    let aws = TestAws::provision().await;
    let store = store(&aws).await;
    let t = tenant("acme");
    let past = time::OffsetDateTime::now_utc().unix_timestamp() - 10;
    assert!(store.claim_action(&t, "reply:m1", past).await.unwrap());
    assert!(
        store
            .claim_action(&t, "reply:m1", past + 3600)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_action(&t, "reply:m1", past + 3600)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn concurrent_claims_have_exactly_one_winner() {
    let aws = TestAws::provision().await;
    let store = store(&aws).await;
    let t = tenant("acme");
    let ttl = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    let winners = futures::stream::iter(0..64)
        .map(|_| {
            let (store, t) = (store.clone(), t.clone());
            async move { store.claim_action(&t, "publish:post-1", ttl).await.unwrap() }
        })
        .buffer_unordered(16)
        .filter(|won| futures::future::ready(*won))
        .count()
        .await;
    assert_eq!(winners, 1, "{winners} tasks won the same claim");
}

#[tokio::test]
async fn webhook_route_is_written_with_the_account() {
    let aws = TestAws::provision().await;
    let store = store(&aws).await;
    let t = tenant("acme");
    store
        .put_tenant(&Tenant {
            tenant_id: t.clone(),
            name: "Acme".into(),
            created_at: 1,
        })
        .await
        .unwrap();
    store
        .put_account(&account(&t, "17841400000001", None))
        .await
        .unwrap();
    let route = store
        .resolve_route(
            Channel::Instagram,
            &AccountId::parse("17841400000001").unwrap(),
        )
        .await
        .unwrap()
        .expect("route written with the account");
    assert_eq!(route.tenant_id, t);
    assert!(
        store
            .resolve_route(Channel::Page, &AccountId::parse("17841400000001").unwrap())
            .await
            .unwrap()
            .is_none(),
        "an Instagram account must not route Messenger events"
    );
    assert_eq!(store.get_tenant(&t).await.unwrap().unwrap().name, "Acme");
}

#[tokio::test]
async fn expiring_tokens_are_found_through_the_index() {
    let aws = TestAws::provision().await;
    let store = store(&aws).await;
    let (a, b) = (tenant("acme"), tenant("globex"));
    let now = 1_800_000_000;
    store
        .put_account(&account(&a, "801", Some(now + 3 * 86_400)))
        .await
        .unwrap();
    store
        .put_account(&account(&b, "802", Some(now + 5 * 86_400)))
        .await
        .unwrap();
    store
        .put_account(&account(&a, "803", Some(now + 40 * 86_400)))
        .await
        .unwrap();
    store.put_account(&account(&a, "804", None)).await.unwrap(); // page token: never expires
    let mut reconnect = account(&b, "805", Some(now + 86_400));
    reconnect.status = AccountStatus::NeedsReconnect;
    store.put_account(&reconnect).await.unwrap();

    let due = store
        .accounts_expiring_before(now + 10 * 86_400)
        .await
        .unwrap();
    let mut ids: Vec<_> = due
        .iter()
        .map(|a| a.account_id.as_str().to_owned())
        .collect();
    ids.sort();
    assert_eq!(ids, ["801", "802"], "wrong accounts due for refresh");
}

#[tokio::test]
async fn accounts_are_found_by_the_meta_user_who_connected_them() {
    let aws = TestAws::provision().await;
    let store = store(&aws).await;
    store
        .put_account(&account(&tenant("acme"), "901", None))
        .await
        .unwrap();
    let found = store.accounts_of_meta_user("9901").await.unwrap();
    assert_eq!(found.len(), 1);
    assert!(
        store
            .accounts_of_meta_user("9999")
            .await
            .unwrap()
            .is_empty()
    );
}

/// A message of `author` in the test conversation (outbound unless the customer wrote it).
fn message(t: &TenantId, mid: &str, author: relay::inbox::Author, at: i64) -> StoredMessage {
    StoredMessage {
        text: Some("We open at 9.".into()),
        ..StoredMessage::new(
            t.clone(),
            AccountId::parse("111").unwrap(),
            CustomerId::parse("5500000000000001").unwrap(),
            MessageId::parse(mid).unwrap(),
            author,
            at,
        )
    }
}

#[tokio::test]
async fn an_ai_reply_whose_echo_was_stored_first_becomes_the_ais_once() {
    let aws = TestAws::provision().await;
    let store = store(&aws).await;
    let t = tenant("acme");
    let a = AccountId::parse("111").unwrap();
    let origin = AiOrigin {
        model: "builtin".into(),
        latency_ms: 42,
    };
    // Ingest stored Meta's echo (event time 1000) before ai-reply stored what it sent.
    let echo = message(&t, "m.echo.1", Author::Human, 1_000);
    assert_eq!(
        store.record_message(&echo, None).await.unwrap(),
        Recorded::New
    );
    let mut sent = message(&t, "m.echo.1", Author::Ai, 1_250);
    sent.ai = Some(origin.clone());
    assert_eq!(
        store.record_message(&sent, None).await.unwrap(),
        Recorded::Duplicate,
        "one message per mid"
    );
    assert!(
        store
            .attribute_to_ai(&t, &a, "m.echo.1", &origin)
            .await
            .unwrap()
    );
    let (_, stored) = store
        .find_message(&t, &a, "m.echo.1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.author, Author::Ai);
    assert_eq!(stored.ai, Some(origin.clone()));
    assert_eq!(stored.text.as_deref(), Some("We open at 9."));
    assert!(
        !store
            .attribute_to_ai(&t, &a, "m.echo.1", &origin)
            .await
            .unwrap()
    );

    // A person's own message, a customer's message, an unknown mid and another
    // tenant's message are never attributed by mistake.
    let inbound = message(&t, "m.in.1", Author::Customer, 2_000);
    store.record_message(&inbound, None).await.unwrap();
    assert!(
        !store
            .attribute_to_ai(&t, &a, "m.in.1", &origin)
            .await
            .unwrap()
    );
    assert!(
        !store
            .attribute_to_ai(&t, &a, "m.nowhere", &origin)
            .await
            .unwrap()
    );
    let other = message(&tenant("globex"), "m.human.9", Author::Human, 3_000);
    store.record_message(&other, None).await.unwrap();
    assert!(
        !store
            .attribute_to_ai(&t, &a, "m.human.9", &origin)
            .await
            .unwrap()
    );
    let (_, theirs) = store
        .find_message(&tenant("globex"), &a, "m.human.9")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(theirs.author, Author::Human);
}
