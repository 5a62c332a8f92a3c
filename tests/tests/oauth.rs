//! The oauth function driven over HTTP as a person's browser and Meta would drive it:
//! the onboarding page, `/oauth/start`, the simulator's real dialogs (Allow / Cancel
//! forms) and the callback, for Instagram Login and Facebook Login, against moto and the
//! Meta simulator. Then everything that must be refused (forged, expired, replayed and
//! cross-provider states, a reused code, a redirect_uri mismatch, bad signed_requests),
//! and Meta's deauthorize and data-deletion callbacks.

mod onboarding_world;

use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth::{Oauth, OauthDeps, Settings};
use onboarding_world::*;
use relay::accounts::{Account, AccountStatus, Channel, LoginKind, Tenant};
use relay::clock::{Clock, SystemClock};
use relay::ids::AccountId;
use relay::meta::{FacebookPage, InstagramAccount};
use relay::onboarding::{Provider, PublicBaseUrl, security_audit_tenant};
use relay::secret::Secret;
use relay::store::keys;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn instagram_login_connects_the_account_over_http() {
    let world = World::start().await;
    let ig = world.instagram_user("acme.shop").await;
    let account_id = ig["user_id"].as_str().expect("user_id").to_owned();
    let link = world.onboarding_link("acme", "Acme Agency").await;

    let page = world.get(&link).await;
    assert!(page.body.contains("Connect your accounts to Acme Agency"));
    for words in [
        "Read and answer your direct messages",
        "Publish the posts you schedule",
        "Moderate comments",
        "Read insights",
        "Show your profile",
    ] {
        assert!(page.body.contains(words), "the page does not say: {words}");
    }
    assert_eq!(
        page.headers.get("cache-control").unwrap(),
        "no-store",
        "onboarding pages must not be cached"
    );
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'nonce-") && csp.contains("default-src 'none'"),
        "{csp}"
    );

    let dialog = world.dialog(&link, Provider::Instagram).await;
    let dialog_query = query_of(&dialog);
    assert_eq!(
        dialog_query["scope"],
        "instagram_business_basic,instagram_business_manage_messages,instagram_business_manage_comments,instagram_business_content_publish,instagram_business_manage_insights",
        "exactly Relay's scopes are requested"
    );
    assert_eq!(
        dialog_query["redirect_uri"],
        format!("{}/oauth/callback/instagram", world.server.url)
    );
    let callback = world.decide(&dialog, "allow").await;
    let done = world.get(&callback).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("Connected to Acme Agency"));
    assert!(
        done.body.contains("@acme.shop"),
        "the success page lists the account"
    );
    assert!(
        done.body
            .contains(&format!("data-account-id=\"{account_id}\""))
    );
    assert!(
        !done.body.contains("<script"),
        "a full-page result runs no script"
    );

    let accounts = world.accounts("acme").await;
    assert_eq!(accounts.len(), 1);
    let account = &accounts[0];
    assert_eq!(account.account_id.as_str(), account_id);
    assert_eq!(account.channel, Channel::Instagram);
    assert_eq!(account.login, LoginKind::InstagramLogin);
    assert_eq!(account.status, AccountStatus::Connected);
    assert_eq!(account.username.as_deref(), Some("acme.shop"));
    assert_eq!(
        account.meta_user_id.as_deref(),
        ig["app_scoped_id"].as_str(),
        "deauthorize callbacks name the app-scoped id"
    );
    let expires = account
        .token_expires_at
        .expect("a long-lived token expires");
    let lifetime = expires - world.clock.now_secs();
    assert!(
        (59 * 86_400..=60 * 86_400).contains(&lifetime),
        "not a 60-day token: {lifetime}"
    );
    let route = world
        .store
        .resolve_route(Channel::Instagram, &account.account_id)
        .await
        .unwrap()
        .expect("webhooks for the account are routed");
    assert_eq!(route.tenant_id, tenant("acme"));

    // The stored token is the long-lived one, and it works.
    let token = world.token_of(account).await;
    assert!(token.expose().starts_with("IGAA"));
    let profile = world
        .graph
        .instagram_profile(&InstagramAccount::instagram_login(
            account.account_id.clone(),
            token.clone(),
        ))
        .await
        .expect("the stored token is accepted by Meta");
    assert_eq!(profile.value.username, "acme.shop");

    // Webhooks were subscribed on Meta's side.
    let users = world.admin_get("/_sim/ig-users").await;
    let user = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["user_id"] == account_id)
        .expect("the account in the simulator");
    let fields = user["subscribed_fields"].as_array().expect("subscriptions");
    for field in ["messages", "comments", "message_reactions"] {
        assert!(
            fields.iter().any(|f| f == field),
            "{field} not subscribed: {fields:?}"
        );
    }

    let actions = world.actions(&tenant("acme")).await;
    assert!(
        actions.contains(&"account.connected".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"webhooks.subscribed".to_owned()),
        "{actions:?}"
    );
    assert!(
        world
            .audit
            .verify(&tenant("acme"))
            .await
            .unwrap()
            .is_intact()
    );
}

#[tokio::test]
async fn reconnecting_replaces_the_token_clears_needs_reconnect_and_keeps_the_data() {
    let world = World::start().await;
    world.instagram_user("reconnect.me").await;
    let link = world.onboarding_link("acme", "Acme").await;
    let first = world.allowed_callback(&link, Provider::Instagram).await;
    assert_eq!(world.get(&first).await.status, StatusCode::OK);
    let before = world.accounts("acme").await.remove(0);

    // The token died; the account waits for a person. Some data exists under it.
    let mut broken = before.clone();
    broken.status = AccountStatus::NeedsReconnect;
    world.store.update_account(&broken).await.unwrap();
    let contact = keys::contact(
        &tenant("acme"),
        &before.account_id,
        &relay::ids::CustomerId::parse("5550001").unwrap(),
    );
    world
        .aws
        .dynamodb()
        .put_item()
        .table_name(&world.aws.tables.main)
        .item("pk", AttributeValue::S(contact.pk.clone()))
        .item("sk", AttributeValue::S(contact.sk.clone()))
        .send()
        .await
        .unwrap();

    world.clock.advance(3600);
    let second = world.allowed_callback(&link, Provider::Instagram).await;
    let done = world.get(&second).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("Reconnected"));

    let after = world.accounts("acme").await;
    assert_eq!(
        after.len(),
        1,
        "a reconnect must not create a second account"
    );
    let after = &after[0];
    assert_eq!(
        after.status,
        AccountStatus::Connected,
        "needs-reconnect not cleared"
    );
    assert_ne!(
        after.token_sealed, before.token_sealed,
        "token not replaced"
    );
    assert_ne!(
        world.token_of(after).await.expose(),
        world.token_of(&before).await.expose()
    );
    assert_eq!(after.connected_at, before.connected_at, "history lost");
    let kept = world
        .aws
        .dynamodb()
        .get_item()
        .table_name(&world.aws.tables.main)
        .item_key(contact)
        .send()
        .await
        .unwrap();
    assert!(
        kept.item.is_some(),
        "the account's data was lost on reconnect"
    );
    let due = world
        .store
        .accounts_expiring_before(world.clock.now_secs() + 61 * 86_400)
        .await
        .unwrap();
    assert!(
        due.iter().any(|a| a.account_id == after.account_id),
        "the reconnected account is back in the expiry index"
    );
    assert!(
        world
            .actions(&tenant("acme"))
            .await
            .contains(&"account.reconnected".to_owned())
    );
}

trait ItemKey {
    fn item_key(self, key: relay::store::Key) -> Self;
}

impl ItemKey for aws_sdk_dynamodb::operation::get_item::builders::GetItemFluentBuilder {
    fn item_key(self, key: relay::store::Key) -> Self {
        self.key("pk", AttributeValue::S(key.pk))
            .key("sk", AttributeValue::S(key.sk))
    }
}

#[tokio::test]
async fn facebook_login_connects_pages_and_their_linked_instagram_accounts() {
    let world = World::start().await;
    let fb = world
        .admin(
            "/_sim/fb-users",
            json!({"name": "Ada Owner", "pages": [
                {"name": "Acme Page", "instagram": true},
                {"name": "Acme Support", "instagram": false}
            ]}),
        )
        .await;
    let pages = fb["pages"].as_array().unwrap().clone();
    let linked_page = pages.iter().find(|p| p["name"] == "Acme Page").unwrap();
    let plain_page = pages.iter().find(|p| p["name"] == "Acme Support").unwrap();
    let instagram_id = linked_page["instagram_business_account"]
        .as_str()
        .unwrap()
        .to_owned();
    let link = world.onboarding_link("globex", "Globex").await;

    let dialog = world.dialog(&link, Provider::Facebook).await;
    let scope = query_of(&dialog)["scope"].clone();
    assert_eq!(
        scope.split(',').collect::<Vec<_>>(),
        relay::meta::FACEBOOK_LOGIN_SCOPES.to_vec()
    );
    let callback = world.decide(&dialog, "allow").await;
    let done = world.get(&callback).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    for id in [
        linked_page["id"].as_str().unwrap(),
        plain_page["id"].as_str().unwrap(),
        instagram_id.as_str(),
    ] {
        assert!(
            done.body.contains(&format!("data-account-id=\"{id}\"")),
            "{id} not listed"
        );
    }
    assert!(
        done.body.contains("Messenger only"),
        "a page without Instagram is explained"
    );

    let accounts = world.accounts("globex").await;
    assert_eq!(accounts.len(), 3, "{accounts:?}");
    let by_id = |id: &str| {
        accounts
            .iter()
            .find(|a| a.account_id.as_str() == id)
            .unwrap()
    };
    let page = by_id(linked_page["id"].as_str().unwrap());
    assert_eq!(page.channel, Channel::Page);
    assert_eq!(page.login, LoginKind::FacebookLogin);
    assert_eq!(
        page.token_expires_at, None,
        "Page tokens from a long-lived user token do not expire"
    );
    assert_eq!(
        page.linked_instagram_id.as_ref().map(AccountId::as_str),
        Some(instagram_id.as_str())
    );
    assert_eq!(page.meta_user_id.as_deref(), fb["user_id"].as_str());
    let support = by_id(plain_page["id"].as_str().unwrap());
    assert_eq!(support.linked_instagram_id, None);
    assert_eq!(
        support.status,
        AccountStatus::Connected,
        "Messenger-only pages are usable"
    );
    let instagram = by_id(&instagram_id);
    assert_eq!(instagram.channel, Channel::Instagram);
    assert_eq!(instagram.login, LoginKind::FacebookLogin);

    // Each Page's token is a Page token and the Page is subscribed to webhooks.
    for account in [page, support] {
        let token = world.token_of(account).await;
        let subscriptions = world
            .graph
            .page_subscriptions(&FacebookPage {
                id: account.account_id.clone(),
                token,
            })
            .await
            .expect("the stored Page token works");
        assert!(
            subscriptions
                .value
                .iter()
                .any(|s| s.subscribed_fields.iter().any(|f| f == "messages")),
            "Page {} not subscribed",
            account.account_id
        );
    }
    for (channel, id) in [
        (Channel::Page, page.account_id.clone()),
        (Channel::Page, support.account_id.clone()),
        (Channel::Instagram, instagram.account_id.clone()),
    ] {
        assert!(
            world
                .store
                .resolve_route(channel, &id)
                .await
                .unwrap()
                .is_some(),
            "no route for {id}"
        );
    }
    assert!(
        world
            .store
            .accounts_expiring_before(world.clock.now_secs() + 365 * 86_400)
            .await
            .unwrap()
            .is_empty(),
        "non-expiring Page tokens must stay out of the refresh index"
    );
}

#[tokio::test]
async fn cancelling_shows_a_friendly_page_with_a_retry_and_stores_nothing() {
    let world = World::start().await;
    world.instagram_user("cancel.me").await;
    world
        .admin(
            "/_sim/fb-users",
            json!({"name": "Ada", "pages": [{"name": "P", "instagram": false}]}),
        )
        .await;
    let link = world.onboarding_link("acme", "Acme").await;
    for provider in [Provider::Instagram, Provider::Facebook] {
        let dialog = world.dialog(&link, provider).await;
        let back = world.decide(&dialog, "cancel").await;
        assert_eq!(query_of(&back)["error"], "access_denied");
        let page = world.get(&back).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("nothing was connected"), "{}", page.body);
        let retry = attribute(&page.body, "id=\"retry\"", "href").expect("a retry button");
        // The retry starts a new flow for the same tenant and provider.
        let again = world.dialog_from_start(&retry).await;
        assert!(again.contains(if provider == Provider::Instagram {
            "www.instagram.com"
        } else {
            "www.facebook.com"
        }));
    }
    assert!(world.accounts("acme").await.is_empty());
    let actions = world.actions(&tenant("acme")).await;
    assert_eq!(
        actions.iter().filter(|a| *a == "oauth.cancelled").count(),
        2,
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_forged_state_is_refused_audited_and_stores_nothing() {
    let world = World::start().await;
    world.instagram_user("forged").await;
    let link = world.onboarding_link("acme", "Acme").await;
    world.onboarding_link("victim", "Victim").await;
    let callback = world.allowed_callback(&link, Provider::Instagram).await;
    let state = query_of(&callback)["state"].clone();
    let (payload, signature) = state.split_once('.').unwrap();
    let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let forged_payload = URL_SAFE_NO_PAD.encode(json.replace("\"acme\"", "\"victim\""));
    let forged = with_query_param(&callback, "state", &format!("{forged_payload}.{signature}"));

    let page = world.get(&forged).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("could not be verified"));
    assert!(
        attribute(&page.body, "id=\"retry\"", "href").is_none(),
        "no retry for a forgery"
    );
    let missing = world.get(&with_query_param(&callback, "state", "")).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);

    assert!(world.accounts("acme").await.is_empty());
    assert!(world.accounts("victim").await.is_empty());
    assert_eq!(
        world.meta_calls("/oauth/access_token").await,
        0,
        "the code was exchanged"
    );
    let security = world.audit_records(&security_audit_tenant()).await;
    let reasons: Vec<String> = security
        .iter()
        .filter(|r| r.action == "oauth.rejected")
        .map(|r| {
            serde_json::from_str::<Value>(&r.details).unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(reasons, ["state_forged", "state_missing"]);
    assert!(
        world.actions(&tenant("victim")).await.is_empty(),
        "a forgery wrote to its claimed tenant"
    );
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    let world = World::start().await;
    world.instagram_user("slow").await;
    let link = world.onboarding_link("acme", "Acme").await;
    let callback = world.allowed_callback(&link, Provider::Instagram).await;
    world.clock.advance(11 * 60);
    let page = world.get(&callback).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("took too long"));
    assert!(
        attribute(&page.body, "id=\"retry\"", "href").is_some(),
        "a retry is offered"
    );
    assert!(world.accounts("acme").await.is_empty());
    assert_eq!(world.meta_calls("/oauth/access_token").await, 0);
    let records = world.audit_records(&tenant("acme")).await;
    assert!(
        records
            .iter()
            .any(|r| r.action == "oauth.rejected" && r.details.contains("state_expired"))
    );
}

#[tokio::test]
async fn a_replayed_state_is_refused() {
    let world = World::start().await;
    world.instagram_user("replay").await;
    let link = world.onboarding_link("acme", "Acme").await;
    let callback = world.allowed_callback(&link, Provider::Instagram).await;
    assert_eq!(world.get(&callback).await.status, StatusCode::OK);
    let stored = world.accounts("acme").await;

    let replay = world.get(&callback).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(replay.body.contains("already used"));
    assert_eq!(
        world.accounts("acme").await,
        stored,
        "a replay changed the account"
    );
    assert_eq!(
        world
            .meta_calls("api.instagram.com/oauth/access_token")
            .await,
        1
    );
    let records = world.audit_records(&tenant("acme")).await;
    assert!(records.iter().any(|r| r.details.contains("state_replayed")));
}

#[tokio::test]
async fn a_state_for_the_other_provider_is_refused() {
    let world = World::start().await;
    world.instagram_user("cross").await;
    let link = world.onboarding_link("acme", "Acme").await;
    let callback = world.allowed_callback(&link, Provider::Instagram).await;
    let crossed = callback.replace("/oauth/callback/instagram", "/oauth/callback/facebook");
    let page = world.get(&crossed).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("another service"));
    assert!(world.accounts("acme").await.is_empty());
    assert_eq!(world.meta_calls("/oauth/access_token").await, 0);
    let records = world.audit_records(&tenant("acme")).await;
    assert!(
        records
            .iter()
            .any(|r| r.details.contains("state_wrong_provider"))
    );
}

#[tokio::test]
async fn a_reused_code_is_refused() {
    let world = World::start().await;
    world.instagram_user("reuse").await;
    let link = world.onboarding_link("acme", "Acme").await;
    let first = world.allowed_callback(&link, Provider::Instagram).await;
    assert_eq!(world.get(&first).await.status, StatusCode::OK);
    let stored = world.accounts("acme").await;

    // A fresh, valid state, but the code of the first sign-in.
    let second = world.allowed_callback(&link, Provider::Instagram).await;
    let reused = with_query_param(&second, "code", &query_of(&first)["code"]);
    let page = world.get(&reused).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("did not confirm this sign-in"));
    assert_eq!(
        world.accounts("acme").await,
        stored,
        "a reused code changed the account"
    );
    let records = world.audit_records(&tenant("acme")).await;
    assert!(
        records
            .iter()
            .any(|r| r.action == "oauth.failed" && r.details.contains("code_rejected"))
    );
}

#[tokio::test]
async fn a_redirect_uri_mismatch_is_refused() {
    let world = World::start().await;
    world.instagram_user("mismatch").await;
    let link = world.onboarding_link("acme", "Acme").await;
    let dialog = world.dialog(&link, Provider::Instagram).await;

    // A redirect_uri that is not registered never gets past Meta's dialog.
    let elsewhere = with_query_param(&dialog, "redirect_uri", "https://attacker.example/cb");
    let blocked = world.get(&elsewhere).await;
    assert_eq!(blocked.status, StatusCode::BAD_REQUEST);
    assert!(blocked.body.contains("URL Blocked"));

    assert!(world.accounts("acme").await.is_empty());

    // Where Meta does not check registration, a code issued for another redirect_uri is
    // still refused at the exchange, because Relay repeats its own registered one.
    let world = World::start_with(false).await;
    world.instagram_user("mismatch").await;
    let link = world.onboarding_link("acme", "Acme").await;
    let dialog = world.dialog(&link, Provider::Instagram).await;
    let other_uri = format!(
        "{}/oauth/callback/instagram?from=elsewhere",
        world.server.url
    );
    let diverted = world
        .decide(
            &with_query_param(&dialog, "redirect_uri", &other_uri),
            "allow",
        )
        .await;
    assert!(diverted.contains("from=elsewhere"), "{diverted}");
    let page = world.get(&diverted).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("did not confirm this sign-in"));
    assert_eq!(
        world
            .meta_calls("api.instagram.com/oauth/access_token")
            .await,
        1
    );
    assert!(world.accounts("acme").await.is_empty());
    let records = world.audit_records(&tenant("acme")).await;
    assert!(
        records
            .iter()
            .any(|r| r.action == "oauth.failed" && r.details.contains("code_rejected"))
    );
}

#[tokio::test]
async fn no_table_holds_a_plaintext_token_after_onboarding() {
    let world = World::start().await;
    world
        .admin(
            "/_sim/fb-users",
            json!({"name": "Ada", "pages": [{"name": "Scan Page", "instagram": true}]}),
        )
        .await;
    // Created last, so the Instagram dialog logs in as this one.
    world.instagram_user("scan.me").await;
    let link = world.onboarding_link("acme", "Acme").await;
    for provider in [Provider::Instagram, Provider::Facebook] {
        let callback = world.allowed_callback(&link, provider).await;
        assert_eq!(world.get(&callback).await.status, StatusCode::OK);
    }
    let accounts = world.accounts("acme").await;
    assert_eq!(accounts.len(), 3);
    let mut plaintexts = Vec::new();
    for account in &accounts {
        plaintexts.push(world.token_of(account).await.expose().to_owned());
    }

    fn strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::String(s) => out.push(s),
            Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            Value::Object(map) => map.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let mut scanned = 0;
    for table in [
        world.aws.tables.main.clone(),
        world.aws.tables.audit.clone(),
        world.aws.tables.archive.clone(),
    ] {
        for item in world.scan(&table).await {
            scanned += 1;
            let mut values = Vec::new();
            strings(&item, &mut values);
            for value in values {
                for token in &plaintexts {
                    assert!(
                        !value.contains(token.as_str()),
                        "a plaintext token is stored in {table}"
                    );
                }
                assert!(
                    !value.starts_with("IGAA") && !value.starts_with("EAA"),
                    "something token-shaped is stored in {table}"
                );
            }
        }
    }
    assert!(scanned > 10, "the scan saw the stored items ({scanned})");
}

#[tokio::test]
async fn popup_mode_posts_the_result_only_to_the_allowed_origin() {
    let world = World::start().await;
    world.instagram_user("popup").await;
    let link = world.onboarding_link("acme", "Acme").await;
    let popup_link = format!("{link}&mode=popup");
    let callback = world
        .allowed_callback(&popup_link, Provider::Instagram)
        .await;
    let done = world.get(&callback).await;
    assert_eq!(done.status, StatusCode::OK);
    assert!(
        done.body
            .contains("window.opener.postMessage(message,origin)")
    );
    assert!(
        done.body
            .contains(&format!("var origin=\"{}\"", world.server.url)),
        "the message goes to the configured origin only"
    );
    assert!(done.body.contains("\"status\":\"connected\""));
    let nonce = attribute(&done.body, "<script", "nonce").expect("a script nonce");
    let csp = done.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains(&format!("script-src 'nonce-{nonce}'")),
        "{csp}"
    );

    // A cancelled popup tells its opener too.
    let dialog = world.dialog(&popup_link, Provider::Instagram).await;
    let back = world.decide(&dialog, "cancel").await;
    let cancelled = world.get(&back).await;
    assert!(cancelled.body.contains("\"status\":\"cancelled\""));

    // Return links must point at the allowed origin.
    let outside = world
        .get(&format!(
            "{link}&return_to=https%3A%2F%2Fattacker.example%2Fx"
        ))
        .await;
    assert_eq!(outside.status, StatusCode::BAD_REQUEST);
    let inside_target = format!("{}/app/accounts", world.server.url);
    let inside_link = format!(
        "{link}&return_to={}",
        serde_urlencoded::to_string([("x", inside_target.as_str())])
            .unwrap()
            .trim_start_matches("x=")
    );
    let callback = world
        .allowed_callback(&inside_link, Provider::Instagram)
        .await;
    let done = world.get(&callback).await;
    assert_eq!(
        attribute(&done.body, "id=\"return\"", "href"),
        Some(inside_target)
    );
}

#[tokio::test]
async fn onboarding_links_must_be_genuine_and_current() {
    let world = World::start().await;
    let link = world.onboarding_link("acme", "Acme").await;
    let token = query_of(&link)["link"].clone();

    let tampered = world
        .get(&with_query_param(
            &link,
            "link",
            &token.replacen("acme", "acmf", 1),
        ))
        .await;
    assert_eq!(tampered.status, StatusCode::NOT_FOUND);
    assert!(tampered.body.contains("This link is not valid"));
    let start = world
        .get(&format!(
            "{}/oauth/start?link={}&provider=instagram",
            world.server.url,
            token.replacen("acme", "acmf", 1)
        ))
        .await;
    assert_eq!(
        start.status,
        StatusCode::NOT_FOUND,
        "a tampered link started a flow"
    );

    let unknown_provider = world
        .get(&format!(
            "{}/oauth/start?link={token}&provider=tiktok",
            world.server.url
        ))
        .await;
    assert_eq!(unknown_provider.status, StatusCode::BAD_REQUEST);

    let no_tenant = world
        .oauth
        .links()
        .issue(&tenant("ghost"), world.clock.now_secs() + 3600)
        .url;
    assert_eq!(world.get(&no_tenant).await.status, StatusCode::NOT_FOUND);

    world.clock.advance(8 * 86_400);
    let expired = world.get(&link).await;
    assert_eq!(expired.status, StatusCode::GONE);
    assert!(expired.body.contains("This link has expired"));
    assert_eq!(
        world
            .get(&format!("{}/nowhere", world.server.url))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

fn signed_request(secret: &str, payload: &str) -> String {
    use hmac::{Hmac, Mac};
    let payload = URL_SAFE_NO_PAD.encode(payload);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    format!(
        "{}.{payload}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

fn pad(segment: &str) -> String {
    format!("{segment}{}", "=".repeat((4 - segment.len() % 4) % 4))
}

#[tokio::test]
async fn deauthorize_needs_a_valid_signed_request_and_then_disconnects() {
    let world = World::start().await;
    world.instagram_user("leaving").await;
    let link = world.onboarding_link("acme", "Acme").await;
    let callback = world.allowed_callback(&link, Provider::Instagram).await;
    assert_eq!(world.get(&callback).await.status, StatusCode::OK);
    let account = world.accounts("acme").await.remove(0);
    let user = account.meta_user_id.clone().unwrap();
    let ig_secret = world.sim.config().ig_app_secret.clone();
    let fb_secret = world.sim.config().fb_app_secret.clone();
    let url = format!("{}/oauth/deauthorize/instagram", world.server.url);
    let post = |value: String| {
        let world = &world;
        let url = url.clone();
        async move {
            world
                .post_form(&url, &[("signed_request".to_owned(), value)])
                .await
        }
    };
    let payload =
        format!(r#"{{"algorithm":"HMAC-SHA256","issued_at":1795255200,"user_id":"{user}"}}"#);
    let valid = signed_request(&ig_secret, &payload);
    let (signature, body) = valid.split_once('.').unwrap();

    let other_user = URL_SAFE_NO_PAD.encode(payload.replace(&user, "1"));
    assert_eq!(
        post(format!("{signature}.{other_user}")).await.status,
        StatusCode::FORBIDDEN,
        "tampered payload"
    );
    let mut sig_bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    sig_bytes[5] ^= 0x40;
    assert_eq!(
        post(format!("{}.{body}", URL_SAFE_NO_PAD.encode(sig_bytes)))
            .await
            .status,
        StatusCode::FORBIDDEN,
        "tampered signature"
    );
    let sha1 = signed_request(&ig_secret, &payload.replace("HMAC-SHA256", "HMAC-SHA1"));
    assert_eq!(
        post(sha1).await.status,
        StatusCode::FORBIDDEN,
        "wrong algorithm"
    );
    assert_eq!(
        post(signed_request(&fb_secret, &payload)).await.status,
        StatusCode::FORBIDDEN,
        "signed by the other app"
    );
    let missing = world.post_form(&url, &[]).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    let still = world.accounts("acme").await.remove(0);
    assert_eq!(
        still.status,
        AccountStatus::Connected,
        "a refused request changed the account"
    );
    assert!(still.token_sealed.is_some());

    // Meta strips base64 padding; it is restored before decoding, and a signature that
    // arrives padded is accepted too. (The payload is signed as sent, so it is not
    // re-padded: a padded payload is a different text.)
    assert!(
        !signature.ends_with('=') && signature.len() % 4 != 0,
        "an unpadded signature"
    );
    let padded = post(format!("{}.{body}", pad(signature))).await;
    assert_eq!(padded.status, StatusCode::OK);
    let answer = post(valid.clone()).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&answer.body).unwrap(),
        json!({"success": true})
    );

    let gone = world.accounts("acme").await.remove(0);
    assert_eq!(gone.status, AccountStatus::Disconnected);
    assert_eq!(gone.token_sealed, None, "the token was not destroyed");
    assert!(
        world
            .store
            .accounts_expiring_before(world.clock.now_secs() + 365 * 86_400)
            .await
            .unwrap()
            .is_empty(),
        "a disconnected account stays in the refresh index"
    );
    let records = world.audit_records(&tenant("acme")).await;
    assert!(records.iter().any(|r| r.action == "account.deauthorized"));
}

async fn put_raw(world: &World, key: relay::store::Key) {
    world
        .aws
        .dynamodb()
        .put_item()
        .table_name(&world.aws.tables.main)
        .item("pk", AttributeValue::S(key.pk))
        .item("sk", AttributeValue::S(key.sk))
        .item("note", AttributeValue::S("seeded".into()))
        .send()
        .await
        .expect("seed item");
}

#[tokio::test]
async fn data_deletion_erases_the_users_data_and_reports_its_status() {
    let world = World::start().await;
    world.instagram_user("forget.me").await;
    let link = world.onboarding_link("acme", "Acme").await;
    let callback = world.allowed_callback(&link, Provider::Instagram).await;
    assert_eq!(world.get(&callback).await.status, StatusCode::OK);
    let account = world.accounts("acme").await.remove(0);
    let user = account.meta_user_id.clone().unwrap();
    let (t, a) = (tenant("acme"), account.account_id.clone());

    // The user's inbox, and another account's that must survive.
    let customer = relay::ids::CustomerId::parse("5550001").unwrap();
    for key in [
        keys::contact(&t, &a, &customer),
        keys::conversation(&t, &a, &customer),
        keys::message(&t, &a, &customer, 1_700_000_000_000, "mid.one"),
        keys::message(&t, &a, &customer, 1_700_000_001_000, "mid.two"),
        keys::message_pointer(&t, &a, "mid.one"),
        keys::message_pointer(&t, &a, "mid.two"),
        keys::comment(&t, &a, &relay::ids::CommentId::parse("1799").unwrap()),
        keys::raw_event(&t, &a, 1_700_000_000_000, "mention-1"),
        keys::profile(&t, &a),
    ] {
        put_raw(&world, key).await;
    }
    let other = Account {
        account_id: AccountId::parse("17841499999999999").unwrap(),
        meta_user_id: Some("424242".into()),
        ..account.clone()
    };
    world.store.put_account(&other).await.unwrap();
    let other_contact = keys::contact(&t, &other.account_id, &customer);
    put_raw(&world, other_contact.clone()).await;

    let request = signed_request(
        &world.sim.config().ig_app_secret,
        &format!(r#"{{"algorithm":"HMAC-SHA256","issued_at":1795255200,"user_id":"{user}"}}"#),
    );
    let url = format!("{}/oauth/data-deletion/instagram", world.server.url);
    let answer = world
        .post_form(&url, &[("signed_request".to_owned(), request.clone())])
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let answer: Value = serde_json::from_str(&answer.body).unwrap();
    let code = answer["confirmation_code"].as_str().unwrap().to_owned();
    assert!(
        code.len() == 20 && code.chars().all(|c| c.is_ascii_alphanumeric()),
        "{code}"
    );
    let status_url = answer["url"].as_str().unwrap().to_owned();
    assert!(status_url.starts_with(&format!(
        "{}/oauth/data-deletion/status?code=",
        world.server.url
    )));

    let status = world.get(&status_url).await;
    assert_eq!(status.status, StatusCode::OK);
    assert!(status.body.contains("Completed"), "{}", status.body);
    assert!(
        status.body.contains("<li>2 messages</li>"),
        "{}",
        status.body
    );
    assert!(status.body.contains("<li>1 contacts</li>"));
    assert!(status.body.contains("<li>1 comments</li>"));
    assert!(status.body.contains(&code));

    let remaining = world.scan(&world.aws.tables.main).await;
    let account_prefix = format!("T#acme#A#{a}");
    for item in &remaining {
        let pk = item["pk"].as_str().unwrap();
        assert!(
            !pk.starts_with(&account_prefix),
            "left behind: {pk} {}",
            item["sk"]
        );
    }
    assert!(
        world.store.get_account(&t, &a).await.unwrap().is_none(),
        "the account (and its token) remain"
    );
    assert!(
        world
            .store
            .resolve_route(Channel::Instagram, &a)
            .await
            .unwrap()
            .is_none(),
        "the route remains"
    );
    assert!(
        world
            .store
            .get_account(&t, &other.account_id)
            .await
            .unwrap()
            .is_some(),
        "another user's account was deleted"
    );
    assert!(
        remaining
            .iter()
            .any(|i| i["pk"] == other_contact.pk.as_str()),
        "another user's contact was deleted"
    );

    let records = world.audit_records(&t).await;
    assert!(
        records.iter().any(|r| r.action == "account.connected"),
        "audit records must stay"
    );
    assert!(
        records
            .iter()
            .any(|r| r.action == "account.data_deleted" && r.details.contains(&code))
    );
    assert!(world.audit.verify(&t).await.unwrap().is_intact());

    // Meta may send the same request again: same code, nothing more to do.
    let again = world
        .post_form(&url, &[("signed_request".to_owned(), request)])
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&again.body).unwrap()["confirmation_code"],
        code.as_str()
    );

    let unknown = world
        .get(&format!(
            "{}/oauth/data-deletion/status?code=0000000000aaaaaaaaaa",
            world.server.url
        ))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let junk = world
        .get(&format!(
            "{}/oauth/data-deletion/status?code=%27%3B--",
            world.server.url
        ))
        .await;
    assert_eq!(junk.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_sample_events_answer_as_documented() {
    let world = World::start().await;
    // The keys events/oauth/README.md documents.
    let oauth = Oauth::new(OauthDeps {
        store: world.store.clone(),
        cipher: world.cipher.clone(),
        graph: world.graph.clone(),
        audit: world.audit.clone(),
        state_key: Secret::new("relay-local-oauth-state-key-0123456789abcdef"),
        instagram_app_secret: Secret::new("relay-local-app-secret"),
        facebook_app_secret: Secret::new("fedcba9876543210fedcba9876543210"),
        clock: Arc::new(SystemClock),
        settings: Settings {
            public_base: PublicBaseUrl::parse("https://relay.example.com").unwrap(),
            allowed_origin: Some("https://app.example.com".into()),
            facebook_config_id: None,
            link_days: 7,
        },
    });
    world
        .store
        .put_tenant(&Tenant {
            tenant_id: tenant("acme-shop"),
            name: "Acme Shop".into(),
            created_at: 0,
        })
        .await
        .unwrap();
    let cases = [
        ("onboarding-page.json", 200),
        ("onboarding-page-tampered-link.json", 404),
        ("start-instagram.json", 302),
        ("start-facebook-popup.json", 302),
        ("callback-forged-state.json", 400),
        ("deauthorize-instagram.json", 200),
        ("deauthorize-bad-signature.json", 403),
        ("data-deletion-instagram.json", 200),
        ("deletion-status-unknown.json", 404),
    ];
    for (file, expected) in cases {
        let path = format!("{}/../events/oauth/{file}", env!("CARGO_MANIFEST_DIR"));
        let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let request = lambda_http::request::from_str(&raw)
            .unwrap_or_else(|e| panic!("{file} is not an API Gateway v2 event: {e}"));
        let response = oauth.handle(request).await;
        assert_eq!(response.status().as_u16(), expected, "{file}");
        if file.starts_with("start-") {
            let location = response.headers()["location"].to_str().unwrap();
            assert!(
                location.contains("/oauth") && location.contains("state="),
                "{location}"
            );
        }
    }
}

#[tokio::test]
async fn a_flood_of_forged_states_costs_one_audit_record_a_minute() {
    let world = World::start().await;
    world.instagram_user("flood").await;
    let link = world.onboarding_link("acme", "Acme").await;
    let callback = world.allowed_callback(&link, Provider::Instagram).await;
    let forged = with_query_param(&callback, "state", "bm90LWEtc3RhdGU.c2lnbmF0dXJl");
    for _ in 0..20 {
        assert_eq!(world.get(&forged).await.status, StatusCode::BAD_REQUEST);
    }
    world.clock.advance(60);
    for _ in 0..5 {
        assert_eq!(world.get(&forged).await.status, StatusCode::BAD_REQUEST);
    }
    let security = world.audit_records(&security_audit_tenant()).await;
    let windows: Vec<i64> = security
        .iter()
        .filter(|r| r.action == "oauth.rejected")
        .map(|r| {
            serde_json::from_str::<Value>(&r.details).unwrap()["window_start"]
                .as_i64()
                .unwrap()
        })
        .collect();
    // 25 refusals in two batches a simulated minute apart: one record per minute
    // window (a batch may straddle a minute boundary of the wall clock, so 2 to 4).
    assert!(
        (2..=4).contains(&windows.len()),
        "one record per minute: {windows:?}"
    );
    assert!(windows.iter().all(|w| w % 60 == 0));
    assert!(
        windows.windows(2).all(|p| p[0] < p[1]),
        "never two records for one minute: {windows:?}"
    );
    // The real callback still works: the flood cost nothing but refusals.
    let page = world.get(&callback).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
}
