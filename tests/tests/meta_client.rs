//! Contract tests of the Graph client (`relay::meta`) against the Meta simulator: every
//! client call, every error class, usage-driven back-off, paging, and the retry rules
//! (idempotent reads retried, sends never).

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meta_sim::{MetaSim, SimConfig};
use relay::ids::{AccountId, CommentId, CustomerId, MediaId, MessageId};
use relay::meta::{
    AccountMetric, AppCredentials, AttachmentKind, AuthorizationCode, CarouselItem, ContainerSpec,
    ContainerState, DEFAULT_BACK_OFF_THRESHOLD, DEFAULT_INSTAGRAM_WEBHOOK_FIELDS,
    DEFAULT_PAGE_WEBHOOK_FIELDS, FACEBOOK_LOGIN_SCOPES, FacebookLoginScope, FacebookPage,
    GraphClient, GraphError, HumanAgent, InsightsRange, InstagramAccount, MediaMetric, MessageBody,
    MessagingType, MetaConfig, MetaEndpoints, PageLimits, PagePost, PublishOutcome, PublishRetry,
    RetryPolicy, StoryMedia, TokenInvalidReason, TransientCause,
};
use relay::secret::{AccessToken, Secret};
use serde_json::{Value, json};

const REDIRECT: &str = "https://relay.example/oauth/callback";

/// One simulator and a client pointed at it. Each test owns its simulator, so tests
/// run in parallel without sharing accounts, faults or clocks.
struct Harness {
    sim: MetaSim,
    admin: reqwest::Client,
    client: GraphClient,
}

fn fast_retries(config: &mut MetaConfig) {
    config.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(2),
        max_delay: Duration::from_millis(10),
    };
    config.request_timeout = Duration::from_secs(10);
}

impl Harness {
    async fn start() -> Self {
        Self::with(SimConfig::default(), fast_retries).await
    }

    async fn with(sim_config: SimConfig, tune: impl FnOnce(&mut MetaConfig)) -> Self {
        let sim = MetaSim::start(sim_config)
            .await
            .expect("the simulator starts on a free port");
        let client = client_for(&sim, tune);
        let admin = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("admin client builds");
        Self { sim, admin, client }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    async fn admin_post(&self, path: &str, body: Value) -> Value {
        let response = self
            .admin
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("admin call reaches the simulator");
        let status = response.status();
        let text = response.text().await.expect("admin body");
        assert!(status.is_success(), "POST {path} -> {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn admin_get(&self, path: &str) -> Value {
        let response = self
            .admin
            .get(self.url(path))
            .send()
            .await
            .expect("admin call reaches the simulator");
        assert!(response.status().is_success(), "GET {path}");
        response.json().await.expect("admin JSON")
    }

    async fn ig_user(&self, username: &str) -> AccountId {
        let created = self
            .admin_post(
                "/_sim/ig-users",
                json!({"username": username, "name": "Acme Shop", "followers_count": 1520}),
            )
            .await;
        AccountId::parse(created["user_id"].as_str().expect("user_id")).expect("numeric id")
    }

    async fn token(&self, body: Value) -> AccessToken {
        let minted = self.admin_post("/_sim/tokens", body).await;
        AccessToken::new(minted["access_token"].as_str().expect("access_token"))
    }

    /// An Instagram Login account with a long-lived token.
    async fn ig_account(&self, username: &str) -> InstagramAccount {
        let id = self.ig_user(username).await;
        let token = self
            .token(json!({"user_id": id.as_str(), "kind": "ig_long"}))
            .await;
        InstagramAccount::instagram_login(id, token)
    }

    /// A Facebook user with one Page linked to an Instagram account: (user token, page,
    /// linked Instagram account id).
    async fn facebook_page(&self) -> (AccessToken, FacebookPage, AccountId) {
        let created = self
            .admin_post(
                "/_sim/fb-users",
                json!({"name": "Ada Owner", "pages": [{"name": "Acme Page", "instagram": true}]}),
            )
            .await;
        let user_id = created["user_id"].as_str().expect("user_id").to_owned();
        let page = &created["pages"][0];
        let page_id = AccountId::parse(page["id"].as_str().expect("page id")).expect("numeric");
        let ig = AccountId::parse(
            page["instagram_business_account"]
                .as_str()
                .expect("linked instagram account"),
        )
        .expect("numeric");
        let user_token = self
            .token(json!({"user_id": user_id, "kind": "fb_long"}))
            .await;
        let page_token = self
            .token(json!({"user_id": user_id, "kind": "page", "page_id": page_id.as_str()}))
            .await;
        (
            user_token,
            FacebookPage {
                id: page_id,
                token: page_token,
            },
            ig,
        )
    }

    /// A customer messages the account: opens the 24-hour window.
    async fn inbound(&self, account: &AccountId, customer: &CustomerId, mid: &str) {
        self.admin_post(
            "/_sim/inbound",
            json!({"account_id": account.as_str(), "customer_id": customer.as_str(),
                   "text": "hello, is this in stock?", "mid": mid}),
        )
        .await;
    }

    async fn fault(&self, body: Value) {
        self.admin_post("/_sim/faults", body).await;
    }

    async fn advance(&self, seconds: u64) {
        self.admin_post("/_sim/clock/advance", json!({"seconds": seconds}))
            .await;
    }

    async fn messages(&self) -> Vec<Value> {
        self.admin_get("/_sim/messages")
            .await
            .as_array()
            .cloned()
            .expect("a list of messages")
    }

    async fn published_media(&self) -> Vec<Value> {
        self.admin_get("/_sim/media")
            .await
            .as_array()
            .cloned()
            .expect("a list of media")
    }

    async fn sim_comments(&self) -> Vec<Value> {
        self.admin_get("/_sim/comments")
            .await
            .as_array()
            .cloned()
            .expect("a list of comments")
    }

    async fn add_comment(&self, media: &MediaId, text: &str) -> CommentId {
        let created = self
            .admin_post(
                "/_sim/comments",
                json!({"media_id": media.as_str(), "text": text, "from_username": "jane"}),
            )
            .await;
        CommentId::parse(created["id"].as_str().expect("comment id")).expect("valid id")
    }

    /// Polls a container until it leaves IN_PROGRESS.
    async fn wait_finished(
        &self,
        account: &InstagramAccount,
        container: &MediaId,
    ) -> ContainerState {
        for _ in 0..10 {
            let status = self
                .client
                .container_status(account, container)
                .await
                .expect("status read")
                .value;
            if status.state != ContainerState::InProgress {
                return status.state;
            }
        }
        panic!("container never finished");
    }

    async fn finished_image(&self, account: &InstagramAccount) -> MediaId {
        let container = self
            .client
            .create_container(
                account,
                ContainerSpec::Image {
                    image_url: "https://cdn.example/new-collection.jpg",
                    caption: Some("New collection"),
                    alt_text: Some("Three jackets on a rail"),
                },
            )
            .await
            .expect("container created")
            .value;
        assert_eq!(
            self.wait_finished(account, &container).await,
            ContainerState::Finished
        );
        container
    }

    async fn published_image(&self, account: &InstagramAccount) -> MediaId {
        let container = self.finished_image(account).await;
        match self
            .client
            .media_publish(account, &container, PublishRetry::Never)
            .await
            .expect("published")
            .value
        {
            PublishOutcome::Published(id) => id,
            other => panic!("expected a new media, got {other:?}"),
        }
    }
}

fn client_for(sim: &MetaSim, tune: impl FnOnce(&mut MetaConfig)) -> GraphClient {
    let sc = sim.config();
    let credentials = AppCredentials {
        instagram_app_id: sc.ig_app_id.clone(),
        instagram_app_secret: Secret::new(sc.ig_app_secret.clone()),
        facebook_app_id: sc.fb_app_id.clone(),
        facebook_app_secret: Secret::new(sc.fb_app_secret.clone()),
    };
    let endpoints = MetaEndpoints::simulator(sim.base_url()).expect("simulator URL is valid");
    let mut config = MetaConfig::new(endpoints, credentials);
    tune(&mut config);
    GraphClient::new(config).expect("client builds")
}

fn customer(n: u32) -> CustomerId {
    CustomerId::parse(format!("90010000000{n:05}")).expect("numeric customer id")
}

/// Follows the dialog as a user who clicks "Allow", returning the redirect's query.
async fn allow_dialog(
    h: &Harness,
    dialog: reqwest::Url,
) -> std::collections::HashMap<String, String> {
    let response = h
        .admin
        .post(dialog)
        .form(&[("decision", "allow")])
        .send()
        .await
        .expect("dialog reachable");
    assert_eq!(response.status(), reqwest::StatusCode::FOUND);
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("redirect location")
        .to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    reqwest::Url::parse(&location)
        .expect("absolute redirect")
        .query_pairs()
        .into_owned()
        .collect()
}

// ------------------------------------------------------------------ OAuth

#[tokio::test]
async fn instagram_login_connects_an_account_end_to_end() {
    let h = Harness::start().await;
    let account_id = h.ig_user("acme.shop").await;

    let dialog = h
        .client
        .instagram_authorize_url(REDIRECT, "csrf-nonce-1", false);
    let query = allow_dialog(&h, dialog).await;
    assert_eq!(query["state"], "csrf-nonce-1");
    // The browser hands the code over with Instagram's `#_` still attached.
    let code = AuthorizationCode::from_redirect(&format!("{}#_", query["code"])).expect("code");

    let short = h
        .client
        .exchange_instagram_code(&code, REDIRECT)
        .await
        .expect("code exchange")
        .value;
    assert!(short.access_token.expose().starts_with("IGAA"));
    assert!(
        short
            .permissions
            .iter()
            .any(|p| p == "instagram_business_manage_messages"),
        "{:?}",
        short.permissions
    );

    let long = h
        .client
        .exchange_instagram_long_lived(&short.access_token)
        .await
        .expect("long-lived exchange")
        .value;
    let lifetime = long.expires_in.expect("long-lived tokens expire");
    assert!(
        lifetime > Duration::from_secs(59 * 24 * 3600),
        "{lifetime:?}"
    );

    let profile = h
        .client
        .instagram_profile_for_token(&long.access_token)
        .await
        .expect("profile")
        .value;
    assert_eq!(
        profile.user_id, account_id,
        "the webhook account id is user_id"
    );
    assert_eq!(profile.username, "acme.shop");

    // A code is single-use: the second exchange is refused, and says so without secrets.
    let reused = h
        .client
        .exchange_instagram_code(&code, REDIRECT)
        .await
        .expect_err("codes are single-use");
    assert!(
        matches!(reused, GraphError::InvalidRequest { code: 400, .. }),
        "{reused:?}"
    );
    let shown = format!("{reused} {reused:?}");
    assert!(!shown.contains(h.sim.config().ig_app_secret.as_str()));
    assert!(!shown.contains(code.expose()));
}

#[tokio::test]
async fn instagram_token_refresh_follows_the_24_hour_rule() {
    let h = Harness::start().await;
    let account = h.ig_account("refresh.me").await;

    let early = h
        .client
        .refresh_instagram_token(&account.token)
        .await
        .expect_err("a fresh token cannot be refreshed");
    assert_eq!(early, GraphError::RefreshTooEarly);
    assert!(!early.needs_reconnect());

    h.advance(25 * 3600).await;
    let refreshed = h
        .client
        .refresh_instagram_token(&account.token)
        .await
        .expect("refresh after 24 h")
        .value;
    assert!(refreshed.access_token.expose().starts_with("IGAA"));
    assert!(refreshed.expires_in.is_some());

    h.advance(61 * 24 * 3600).await;
    let expired = h
        .client
        .refresh_instagram_token(&refreshed.access_token)
        .await
        .expect_err("an expired token cannot be refreshed");
    assert_eq!(
        expired,
        GraphError::TokenInvalid {
            reason: TokenInvalidReason::Expired
        }
    );
    assert!(expired.needs_reconnect());
}

#[tokio::test]
async fn facebook_login_lists_pages_with_tokens_and_linked_instagram() {
    let h = Harness::start().await;
    let (_, _, _) = h.facebook_page().await;

    let dialog = h.client.facebook_dialog_url(
        REDIRECT,
        "csrf-nonce-2",
        FacebookLoginScope::Scopes(&FACEBOOK_LOGIN_SCOPES),
    );
    let query = allow_dialog(&h, dialog).await;
    assert_eq!(query["state"], "csrf-nonce-2");
    let code = AuthorizationCode::from_redirect(&query["code"]).expect("code");

    let short = h
        .client
        .exchange_facebook_code(&code, REDIRECT)
        .await
        .expect("code exchange")
        .value;
    assert!(short.access_token.expose().starts_with("EAA"));
    let long = h
        .client
        .exchange_facebook_long_lived(&short.access_token)
        .await
        .expect("long-lived exchange")
        .value;

    let pages = h
        .client
        .facebook_pages(&long.access_token, PageLimits::default())
        .await
        .expect("pages")
        .value;
    assert!(pages.complete);
    assert_eq!(pages.items.len(), 1);
    let page = &pages.items[0];
    assert_eq!(page.name, "Acme Page");
    assert!(page.access_token.expose().starts_with("EAA"));
    assert!(page.instagram_business_account.is_some());
    assert!(!format!("{page:?}").contains(page.access_token.expose()));

    let used = h
        .client
        .exchange_facebook_code(&code, REDIRECT)
        .await
        .expect_err("single-use code");
    assert!(
        matches!(used, GraphError::InvalidRequest { code: 100, .. }),
        "{used:?}"
    );
}

// ------------------------------------------------------------------ profile, subscriptions

#[tokio::test]
async fn profile_of_a_connected_account() {
    let h = Harness::start().await;
    let account = h.ig_account("profile.shop").await;
    let response = h.client.instagram_profile(&account).await.expect("profile");
    assert_eq!(response.value.user_id, account.id);
    assert_eq!(response.value.followers_count, Some(1520));
    assert!(response.usage.app.is_some(), "X-App-Usage is read");
    assert!(
        response
            .usage
            .business
            .iter()
            .any(|b| b.object_id == account.id.as_str()),
        "X-Business-Use-Case-Usage is read: {:?}",
        response.usage
    );
    assert_eq!(h.client.last_usage(&account.id), Some(response.usage));
}

#[tokio::test]
async fn instagram_webhook_subscription_lifecycle() {
    let h = Harness::start().await;
    let account = h.ig_account("hooks.shop").await;
    h.client
        .subscribe_instagram_account(&account, &DEFAULT_INSTAGRAM_WEBHOOK_FIELDS)
        .await
        .expect("subscribe");
    let subscriptions = h
        .client
        .instagram_subscriptions(&account)
        .await
        .expect("list")
        .value;
    assert_eq!(subscriptions.len(), 1);
    let mut fields = subscriptions[0].subscribed_fields.clone();
    fields.sort();
    let mut expected: Vec<String> = DEFAULT_INSTAGRAM_WEBHOOK_FIELDS
        .iter()
        .map(|f| (*f).to_owned())
        .collect();
    expected.sort();
    assert_eq!(fields, expected);

    h.client
        .unsubscribe_instagram_account(&account)
        .await
        .expect("remove");
    assert!(
        h.client
            .instagram_subscriptions(&account)
            .await
            .expect("list")
            .value
            .is_empty()
    );
}

#[tokio::test]
async fn page_webhook_subscription_lifecycle() {
    let h = Harness::start().await;
    let (_, page, _) = h.facebook_page().await;
    h.client
        .subscribe_page(&page, &DEFAULT_PAGE_WEBHOOK_FIELDS)
        .await
        .expect("subscribe");
    let subscriptions = h
        .client
        .page_subscriptions(&page)
        .await
        .expect("list")
        .value;
    assert_eq!(subscriptions.len(), 1);
    assert!(
        subscriptions[0]
            .subscribed_fields
            .iter()
            .any(|f| f == "message_echoes")
    );
    h.client.unsubscribe_page(&page).await.expect("remove");
    assert!(
        h.client
            .page_subscriptions(&page)
            .await
            .expect("list")
            .value
            .is_empty()
    );
}

// ------------------------------------------------------------------ Send API

#[tokio::test]
async fn text_and_attachment_reach_the_customer() {
    let h = Harness::start().await;
    let account = h.ig_account("send.shop").await;
    let who = customer(1);
    h.inbound(&account.id, &who, "aWdfinbound1").await;

    let sent = h
        .client
        .send_text(&account, &who, "Yes, size M is in stock.")
        .await
        .expect("send within the window")
        .value;
    assert_eq!(sent.recipient.as_ref(), Some(&who));
    h.client
        .send_attachment(
            &account,
            &who,
            AttachmentKind::Image,
            "https://cdn.example/jacket-m.jpg",
        )
        .await
        .expect("attachment");

    let messages = h.messages().await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["id"], sent.message_id.as_str());
    assert_eq!(messages[0]["text"], "Yes, size M is in stock.");
    assert_eq!(messages[0]["recipient"]["id"], who.as_str());
    assert!(
        messages[0]["tag"].is_null(),
        "automated replies carry no tag"
    );
    assert_eq!(
        messages[1]["attachment"]["payload"]["url"],
        "https://cdn.example/jacket-m.jpg"
    );
}

#[tokio::test]
async fn reactions_are_sent_and_removed() {
    let h = Harness::start().await;
    let account = h.ig_account("react.shop").await;
    let who = customer(2);
    h.inbound(&account.id, &who, "aWdfinbound2").await;
    let mid = MessageId::parse("aWdfinbound2").expect("valid mid");
    h.client
        .react_to_message(&account, &who, &mid, "love")
        .await
        .expect("react");
    h.client
        .remove_reaction(&account, &who, &mid)
        .await
        .expect("unreact");
    let actions: Vec<String> = h
        .messages()
        .await
        .iter()
        .filter_map(|m| m["sender_action"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(actions, ["react", "unreact"]);
}

#[tokio::test]
async fn human_agent_tag_extends_the_window_to_seven_days() {
    let h = Harness::start().await;
    let account = h.ig_account("human.shop").await;
    let who = customer(3);
    h.inbound(&account.id, &who, "aWdfinbound3").await;
    h.advance(2 * 24 * 3600).await;

    let closed = h
        .client
        .send_text(&account, &who, "Following up on your order")
        .await
        .expect_err("automated replies stop after 24 h");
    assert!(
        matches!(closed, GraphError::WindowClosed { .. }),
        "{closed:?}"
    );
    assert!(!closed.is_retryable());

    let agent = HumanAgent::new("member-42").expect("a person");
    h.client
        .send_human_agent_message(
            &account,
            &who,
            MessageBody::Text("Hi, Sam from the shop here."),
            &agent,
        )
        .await
        .expect("a human may reply for 7 days");
    let messages = h.messages().await;
    assert_eq!(messages.len(), 1, "the refused send was not recorded");
    assert_eq!(messages[0]["tag"], "HUMAN_AGENT");

    h.advance(6 * 24 * 3600).await;
    let late = h
        .client
        .send_human_agent_message(&account, &who, MessageBody::Text("Still there?"), &agent)
        .await
        .expect_err("not even a human after 7 days");
    assert!(matches!(late, GraphError::WindowClosed { .. }), "{late:?}");
}

#[tokio::test]
async fn private_reply_once_per_comment() {
    let h = Harness::start().await;
    let account = h.ig_account("private.shop").await;
    let media = h.published_image(&account).await;
    let comment = h.add_comment(&media, "How much is it?").await;

    let sent = h
        .client
        .private_reply(&account, &comment, "It's 49 EUR, sent you the link.")
        .await
        .expect("private reply")
        .value;
    let messages = h.messages().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["recipient"]["comment_id"], comment.as_str());
    assert_eq!(messages[0]["id"], sent.message_id.as_str());

    let again = h
        .client
        .private_reply(&account, &comment, "Did you see it?")
        .await
        .expect_err("one private reply per comment");
    assert!(
        matches!(
            again,
            GraphError::InvalidRequest {
                subcode: Some(2534023),
                ..
            }
        ),
        "{again:?}"
    );
}

#[tokio::test]
async fn messenger_send_with_messaging_type_and_human_agent() {
    let h = Harness::start().await;
    let (_, page, _) = h.facebook_page().await;
    let who = customer(4);
    h.inbound(&page.id, &who, "m_inbound4").await;

    h.client
        .send_messenger(
            &page,
            &who,
            MessageBody::Text("Thanks for your message!"),
            MessagingType::Response,
        )
        .await
        .expect("messenger send");
    h.advance(3 * 24 * 3600).await;
    let closed = h
        .client
        .send_messenger(
            &page,
            &who,
            MessageBody::Text("Update"),
            MessagingType::Update,
        )
        .await
        .expect_err("window closed");
    assert!(
        matches!(closed, GraphError::WindowClosed { .. }),
        "{closed:?}"
    );
    h.client
        .send_messenger_human_agent(
            &page,
            &who,
            MessageBody::Text("Sam here, sorry for the wait."),
            &HumanAgent::new("member-7").expect("a person"),
        )
        .await
        .expect("human agent within 7 days");

    let messages = h.messages().await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["messaging_type"], "RESPONSE");
    assert_eq!(messages[1]["messaging_type"], "MESSAGE_TAG");
    assert_eq!(messages[1]["tag"], "HUMAN_AGENT");
}

#[tokio::test]
async fn facebook_login_instagram_account_sends_through_its_page() {
    let h = Harness::start().await;
    let (_, page, ig) = h.facebook_page().await;
    let who = customer(5);
    h.inbound(&ig, &who, "aWdfinbound5").await;
    let account = InstagramAccount::facebook_login(ig.clone(), page.token.clone());
    h.client
        .send_text(&account, &who, "Hello from the page-linked account")
        .await
        .expect("send via graph.facebook.com/me/messages");
    let messages = h.messages().await;
    assert_eq!(messages[0]["account_id"], ig.as_str());
}

// ------------------------------------------------------------------ publishing

#[tokio::test]
async fn image_container_is_published_once_with_permalink_and_quota() {
    let h = Harness::start().await;
    let account = h.ig_account("publish.shop").await;
    let before = h
        .client
        .publishing_limit(&account)
        .await
        .expect("quota")
        .value;
    assert_eq!(before.quota_usage, 0);
    assert_eq!(before.quota_total, Some(100));

    let container = h
        .client
        .create_container(
            &account,
            ContainerSpec::Image {
                image_url: "https://cdn.example/a.jpg",
                caption: Some("Hello"),
                alt_text: None,
            },
        )
        .await
        .expect("container")
        .value;
    let not_ready = h
        .client
        .media_publish(&account, &container, PublishRetry::Never)
        .await
        .expect_err("publishing before FINISHED");
    assert_eq!(not_ready, GraphError::media(2207027));
    assert!(not_ready.is_retryable());

    assert_eq!(
        h.wait_finished(&account, &container).await,
        ContainerState::Finished
    );
    let media = match h
        .client
        .media_publish(&account, &container, PublishRetry::Never)
        .await
        .expect("publish")
        .value
    {
        PublishOutcome::Published(id) => id,
        other => panic!("{other:?}"),
    };
    let permalink = h
        .client
        .media_permalink(&account, &media)
        .await
        .expect("permalink")
        .value;
    assert!(permalink.starts_with("http"), "{permalink}");
    let after = h
        .client
        .publishing_limit(&account)
        .await
        .expect("quota")
        .value;
    assert_eq!(after.quota_usage, 1);
    let status = h
        .client
        .container_status(&account, &container)
        .await
        .expect("status")
        .value;
    assert_eq!(status.state, ContainerState::Published);
    let published = h.published_media().await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["id"], media.as_str());
}

#[tokio::test]
async fn reel_story_and_carousel_containers() {
    let h = Harness::start().await;
    let account = h.ig_account("formats.shop").await;
    let reel = h
        .client
        .create_container(
            &account,
            ContainerSpec::Reel {
                video_url: "https://cdn.example/r.mp4",
                caption: Some("Behind the scenes"),
                share_to_feed: Some(true),
                cover_url: None,
                thumb_offset_ms: Some(1000),
            },
        )
        .await
        .expect("reel container")
        .value;
    let story = h
        .client
        .create_container(
            &account,
            ContainerSpec::Story(StoryMedia::Image("https://cdn.example/s.jpg")),
        )
        .await
        .expect("story container")
        .value;
    let mut children = Vec::new();
    for item in [
        CarouselItem::Image("https://cdn.example/1.jpg"),
        CarouselItem::Video("https://cdn.example/2.mp4"),
    ] {
        let child = h
            .client
            .create_container(&account, ContainerSpec::CarouselItem(item))
            .await
            .expect("carousel item")
            .value;
        h.wait_finished(&account, &child).await;
        children.push(child);
    }
    let carousel = h
        .client
        .create_container(
            &account,
            ContainerSpec::Carousel {
                children: &children,
                caption: Some("Two looks"),
            },
        )
        .await
        .expect("carousel")
        .value;
    for container in [&reel, &story, &carousel] {
        assert_eq!(
            h.wait_finished(&account, container).await,
            ContainerState::Finished
        );
        h.client
            .media_publish(&account, container, PublishRetry::Never)
            .await
            .expect("publish");
    }
    let media = h.published_media().await;
    let types: Vec<&str> = media
        .iter()
        .filter_map(|m| m["media_type"].as_str())
        .collect();
    assert_eq!(media.len(), 3, "{types:?}");
    assert_eq!(
        h.client
            .publishing_limit(&account)
            .await
            .expect("quota")
            .value
            .quota_usage,
        3,
        "a carousel counts once"
    );

    // An eleventh item is refused before anything is sent.
    let eleven: Vec<MediaId> = std::iter::repeat_n(children[0].clone(), 11).collect();
    let err = h
        .client
        .create_container(
            &account,
            ContainerSpec::Carousel {
                children: &eleven,
                caption: None,
            },
        )
        .await
        .expect_err("more than 10 items");
    assert!(matches!(err, GraphError::InvalidInput { .. }), "{err:?}");
}

#[tokio::test]
async fn caption_too_long_is_a_media_error() {
    let h = Harness::start().await;
    let account = h.ig_account("caption.shop").await;
    let caption = "#".repeat(2300);
    let err = h
        .client
        .create_container(
            &account,
            ContainerSpec::Image {
                image_url: "https://cdn.example/a.jpg",
                caption: Some(&caption),
                alt_text: None,
            },
        )
        .await
        .expect_err("caption over 2200 characters");
    assert_eq!(err, GraphError::media(2207010));
    assert!(err.to_string().contains("caption is too long"));
}

#[tokio::test]
async fn reconciled_publish_never_posts_twice() {
    let h = Harness::start().await;
    let account = h.ig_account("reconcile.shop").await;

    // Already published: the status read first sees PUBLISHED and stops.
    let container = h.finished_image(&account).await;
    h.client
        .media_publish(&account, &container, PublishRetry::Never)
        .await
        .expect("first publish");
    let again = h
        .client
        .media_publish(&account, &container, PublishRetry::ReconcileWithStatus)
        .await
        .expect("reconciled")
        .value;
    assert_eq!(again, PublishOutcome::AlreadyPublished);
    assert_eq!(h.published_media().await.len(), 1);

    // A transient failure of the publish itself: the status proves nothing was posted,
    // so the publish is repeated, once.
    let container = h.finished_image(&account).await;
    h.fault(json!({"kind": "transient", "count": 1, "path_contains": "media_publish"}))
        .await;
    let outcome = h
        .client
        .media_publish(&account, &container, PublishRetry::ReconcileWithStatus)
        .await
        .expect("published after reconciliation")
        .value;
    assert!(
        matches!(outcome, PublishOutcome::Published(_)),
        "{outcome:?}"
    );
    assert_eq!(h.published_media().await.len(), 2);

    // Without reconciliation the same failure is returned as it is.
    let container = h.finished_image(&account).await;
    h.fault(json!({"kind": "transient", "count": 1, "path_contains": "media_publish"}))
        .await;
    let err = h
        .client
        .media_publish(&account, &container, PublishRetry::Never)
        .await
        .expect_err("no blind retry");
    assert!(matches!(err, GraphError::Transient { .. }), "{err:?}");
    assert_eq!(h.published_media().await.len(), 2);
}

#[tokio::test]
async fn publish_that_times_out_is_not_duplicated() {
    // The client gives up after 100 ms while the simulator answers after 300 ms; the
    // reconciliation waits longer than that before reading the container's status.
    let h = Harness::with(SimConfig::default(), |c| {
        c.request_timeout = Duration::from_millis(100);
        c.retry = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1200),
            max_delay: Duration::from_millis(1200),
        };
    })
    .await;
    let account = h.ig_account("timeout.shop").await;
    let container = h.finished_image(&account).await;
    h.fault(json!({"kind": "slow", "count": 1, "delay_ms": 300, "path_contains": "media_publish"}))
        .await;
    let outcome = h
        .client
        .media_publish(&account, &container, PublishRetry::ReconcileWithStatus)
        .await
        .expect("published exactly once")
        .value;
    assert_eq!(
        h.published_media().await.len(),
        1,
        "a timed-out publish was repeated blindly: {outcome:?}"
    );
}

#[tokio::test]
async fn publishing_quota_reached() {
    let h = Harness::with(
        SimConfig {
            publish_quota_total: 1,
            ..SimConfig::default()
        },
        fast_retries,
    )
    .await;
    let account = h.ig_account("quota.shop").await;
    h.published_image(&account).await;
    let container = h.finished_image(&account).await;
    let err = h
        .client
        .media_publish(&account, &container, PublishRetry::Never)
        .await
        .expect_err("over quota");
    assert_eq!(err, GraphError::PublishQuotaReached);
    let limit = h
        .client
        .publishing_limit(&account)
        .await
        .expect("quota")
        .value;
    assert_eq!(limit.remaining(), Some(0));
}

// ------------------------------------------------------------------ comments

#[tokio::test]
async fn comments_are_listed_across_pages_within_bounds() {
    let h = Harness::start().await;
    let account = h.ig_account("comments.shop").await;
    let media = h.published_image(&account).await;
    for i in 0..7 {
        h.add_comment(&media, &format!("comment number {i}")).await;
    }
    let all = h
        .client
        .list_comments(
            &account,
            &media,
            PageLimits {
                max_pages: 10,
                max_items: 100,
                page_size: Some(3),
            },
        )
        .await
        .expect("list")
        .value;
    assert!(all.complete);
    assert_eq!(all.pages_read, 3);
    assert_eq!(all.items.len(), 7);
    let mut ids: Vec<&str> = all.items.iter().map(|c| c.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 7, "no comment twice");
    assert!(all.items.iter().all(|c| c.from.is_some()));

    let bounded = h
        .client
        .list_comments(
            &account,
            &media,
            PageLimits {
                max_pages: 2,
                max_items: 100,
                page_size: Some(3),
            },
        )
        .await
        .expect("list")
        .value;
    assert!(!bounded.complete);
    assert_eq!((bounded.pages_read, bounded.items.len()), (2, 6));

    let capped = h
        .client
        .list_comments(
            &account,
            &media,
            PageLimits {
                max_pages: 10,
                max_items: 4,
                page_size: Some(3),
            },
        )
        .await
        .expect("list")
        .value;
    assert!(!capped.complete);
    assert_eq!(capped.items.len(), 4);
}

#[tokio::test]
async fn comment_moderation_reply_hide_unhide_delete_disable() {
    let h = Harness::start().await;
    let account = h.ig_account("moderate.shop").await;
    let media = h.published_image(&account).await;
    let comment = h.add_comment(&media, "buy followers at spam.example").await;

    let reply = h
        .client
        .reply_to_comment(&account, &comment, "Thanks for stopping by!")
        .await
        .expect("reply")
        .value;
    h.client
        .hide_comment(&account, &comment)
        .await
        .expect("hide");
    let state = h.sim_comments().await;
    let stored = state
        .iter()
        .find(|c| c["id"] == comment.as_str())
        .expect("comment exists");
    assert_eq!(stored["hidden"], true);
    assert!(
        stored["replies"].as_array().is_some_and(|r| r
            .iter()
            .any(|x| x["id"] == reply.as_str() || x == reply.as_str())),
        "{stored}"
    );

    h.client
        .unhide_comment(&account, &comment)
        .await
        .expect("unhide");
    let stored = h.sim_comments().await;
    assert_eq!(
        stored
            .iter()
            .find(|c| c["id"] == comment.as_str())
            .expect("comment")["hidden"],
        false
    );

    h.client
        .delete_comment(&account, &comment)
        .await
        .expect("delete");
    let stored = h.sim_comments().await;
    assert_eq!(
        stored
            .iter()
            .find(|c| c["id"] == comment.as_str())
            .expect("comment")["deleted"],
        true
    );

    h.client
        .set_comments_enabled(&account, &media, false)
        .await
        .expect("disable comments");
    h.client
        .set_comments_enabled(&account, &media, true)
        .await
        .expect("enable comments");
}

// ------------------------------------------------------------------ insights, pages

#[tokio::test]
async fn media_and_account_insights() {
    let h = Harness::start().await;
    let account = h.ig_account("insights.shop").await;
    let media = h.published_image(&account).await;
    let insights = h
        .client
        .media_insights(&account, &media, &MediaMetric::FEED)
        .await
        .expect("media insights")
        .value;
    let names: Vec<&str> = insights.iter().map(|i| i.name.as_str()).collect();
    assert!(
        names.contains(&"reach") && names.contains(&"views"),
        "{names:?}"
    );

    let now = time::OffsetDateTime::now_utc();
    let account_insights = h
        .client
        .account_insights(
            &account,
            &[AccountMetric::Reach, AccountMetric::Views],
            InsightsRange {
                since: now - time::Duration::days(7),
                until: now,
            },
        )
        .await
        .expect("account insights")
        .value;
    assert!(
        account_insights
            .iter()
            .all(|i| i.name == "reach" || i.name == "views"),
        "{account_insights:?}"
    );
}

#[tokio::test]
async fn page_posts_text_link_and_photo() {
    let h = Harness::start().await;
    let (_, page, _) = h.facebook_page().await;
    let text = h
        .client
        .publish_page_post(
            &page,
            PagePost::Text {
                message: "We're open on Sunday",
            },
        )
        .await
        .expect("text post")
        .value;
    assert!(text.id.starts_with(page.id.as_str()), "{text:?}");
    h.client
        .publish_page_post(
            &page,
            PagePost::Link {
                link: "https://acme.example/sale",
                message: Some("Sale!"),
            },
        )
        .await
        .expect("link post");
    let photo = h
        .client
        .publish_page_post(
            &page,
            PagePost::Photo {
                url: "https://cdn.example/p.jpg",
                caption: Some("New in"),
            },
        )
        .await
        .expect("photo post")
        .value;
    assert!(photo.post_id.is_some(), "{photo:?}");
}

// ------------------------------------------------------------------ error classes

#[tokio::test]
async fn revoked_tokens_need_reconnecting_with_the_reason() {
    for (subcode, reason) in [
        (460, TokenInvalidReason::PasswordChanged),
        (458, TokenInvalidReason::AppRemoved),
        (467, TokenInvalidReason::Invalid),
    ] {
        let h = Harness::start().await;
        let account = h.ig_account("revoked.shop").await;
        h.admin_post(
            "/_sim/tokens/revoke",
            json!({"user_id": account.id.as_str(), "subcode": subcode}),
        )
        .await;
        let err = h
            .client
            .instagram_profile(&account)
            .await
            .expect_err("revoked token");
        assert_eq!(
            err,
            GraphError::TokenInvalid { reason },
            "subcode {subcode}"
        );
        assert!(err.needs_reconnect());
    }
}

#[tokio::test]
async fn expired_short_lived_token() {
    let h = Harness::start().await;
    let id = h.ig_user("short.shop").await;
    let token = h
        .token(json!({"user_id": id.as_str(), "kind": "ig_short"}))
        .await;
    let account = InstagramAccount::instagram_login(id, token);
    h.advance(2 * 3600).await;
    let err = h
        .client
        .instagram_profile(&account)
        .await
        .expect_err("expired");
    assert_eq!(
        err,
        GraphError::TokenInvalid {
            reason: TokenInvalidReason::Expired
        }
    );
}

#[tokio::test]
async fn throttling_is_mapped_with_retry_after() {
    let h = Harness::start().await;
    let account = h.ig_account("throttle.shop").await;
    for code in [4, 17, 613, 80002] {
        h.fault(json!({"kind": "throttle", "count": 1, "code": code}))
            .await;
        let err = h
            .client
            .instagram_profile(&account)
            .await
            .expect_err("throttled");
        assert!(
            matches!(err, GraphError::Throttled { code: Some(c), .. } if c == code),
            "{code}: {err:?}"
        );
        assert!(err.retry_after().is_some());
    }
    // Throttling is never retried automatically: only one call was consumed each time.
    h.client
        .instagram_profile(&account)
        .await
        .expect("recovered");
}

#[tokio::test]
async fn account_throttle_takes_its_wait_from_the_usage_header() {
    let h = Harness::with(
        SimConfig {
            account_calls_per_hour: 4,
            ..SimConfig::default()
        },
        fast_retries,
    )
    .await;
    let account = h.ig_account("busy.shop").await;
    let mut last = None;
    for _ in 0..8 {
        match h.client.instagram_profile(&account).await {
            Ok(_) => continue,
            Err(err) => {
                last = Some(err);
                break;
            }
        }
    }
    let err = last.expect("the account hits its limit");
    let GraphError::Throttled { code, retry_after } = err else {
        panic!("expected throttling, got {err:?}");
    };
    assert_eq!(code, Some(80002));
    assert!(
        retry_after >= Duration::from_secs(60) && retry_after <= Duration::from_secs(3600),
        "estimated_time_to_regain_access in minutes: {retry_after:?}"
    );
    let usage = h
        .client
        .last_usage(&account.id)
        .expect("usage recorded on errors too");
    assert!(usage.should_back_off(DEFAULT_BACK_OFF_THRESHOLD));
}

#[tokio::test]
async fn transient_and_server_errors() {
    let h = Harness::start().await;
    let account = h.ig_account("flaky.shop").await;
    h.fault(json!({"kind": "transient", "count": 3, "path_contains": "/me"}))
        .await;
    let err = h
        .client
        .instagram_profile(&account)
        .await
        .expect_err("three transient failures exhaust three attempts");
    assert_eq!(
        err,
        GraphError::Transient {
            cause: TransientCause::Graph {
                code: 2,
                subcode: None
            }
        }
    );
    assert!(err.is_retryable());

    h.fault(json!({"kind": "server_error", "count": 3, "status": 502, "code": 1}))
        .await;
    let err = h
        .client
        .instagram_profile(&account)
        .await
        .expect_err("server errors");
    assert!(err.is_retryable(), "{err:?}");
    h.client
        .instagram_profile(&account)
        .await
        .expect("recovered");
}

#[tokio::test]
async fn transient_get_is_retried_until_it_succeeds() {
    let h = Harness::start().await;
    let account = h.ig_account("retry.shop").await;
    h.fault(json!({"kind": "transient", "count": 2, "path_contains": "/me"}))
        .await;
    let profile = h
        .client
        .instagram_profile(&account)
        .await
        .expect("the third attempt succeeds")
        .value;
    assert_eq!(profile.user_id, account.id);
    // Both faults were used up by the retries: the next call is clean on the first try.
    h.fault(json!({"kind": "transient", "count": 2, "path_contains": "/subscribed_apps"}))
        .await;
    h.client
        .subscribe_instagram_account(&account, &DEFAULT_INSTAGRAM_WEBHOOK_FIELDS)
        .await
        .expect("subscribe is idempotent and retried");
    h.client
        .hide_comment(
            &account,
            &h.add_comment(&h.published_image(&account).await, "x").await,
        )
        .await
        .expect("hide works");
}

#[tokio::test]
async fn send_is_never_retried_after_a_transient_failure() {
    let h = Harness::start().await;
    let account = h.ig_account("once.shop").await;
    let who = customer(6);
    h.inbound(&account.id, &who, "aWdfinbound6").await;
    h.fault(json!({"kind": "transient", "count": 1, "path_contains": "/messages"}))
        .await;
    let err = h
        .client
        .send_text(&account, &who, "Your order has shipped")
        .await
        .expect_err("the transient failure is returned");
    assert!(err.is_retryable());
    assert!(h.messages().await.is_empty(), "nothing was sent");

    // Had the client retried, this call would have been the retry's fault-free twin and
    // the fault would still be pending; it succeeds on its own, exactly once.
    h.client
        .send_text(&account, &who, "Your order has shipped")
        .await
        .expect("sent");
    assert_eq!(h.messages().await.len(), 1);
}

#[tokio::test]
async fn send_that_times_out_is_not_repeated() {
    let h = Harness::with(SimConfig::default(), |c| {
        fast_retries(c);
        c.request_timeout = Duration::from_millis(100);
    })
    .await;
    let account = h.ig_account("slow.shop").await;
    let who = customer(7);
    h.inbound(&account.id, &who, "aWdfinbound7").await;
    h.fault(json!({"kind": "slow", "count": 3, "delay_ms": 400, "path_contains": "/messages"}))
        .await;
    let err = h
        .client
        .send_text(&account, &who, "On its way")
        .await
        .expect_err("timed out");
    assert_eq!(
        err,
        GraphError::Transient {
            cause: TransientCause::Timeout
        }
    );
    // Each request that reaches the simulator takes one of the three slow faults on
    // arrival: exactly one was taken, so the timed-out send was not sent again.
    let pending = h.admin_get("/_sim/faults").await;
    let left: u64 = pending
        .as_array()
        .expect("a list of faults")
        .iter()
        .filter_map(|f| f["count"].as_u64())
        .sum();
    assert_eq!(left, 2, "a timed-out send was repeated: {pending}");
}

#[tokio::test]
async fn permission_and_invalid_request_errors() {
    let h = Harness::start().await;
    let account = h.ig_account("perm.shop").await;
    h.fault(json!({"kind": "error", "count": 1, "code": 200,
                   "message": "(#200) Requires instagram_business_manage_insights permission"}))
        .await;
    let err = h
        .client
        .instagram_profile(&account)
        .await
        .expect_err("permission");
    assert_eq!(
        err,
        GraphError::PermissionMissing {
            code: 200,
            permission: Some("instagram_business_manage_insights".into())
        }
    );

    // A Page token cannot act on Instagram Login's host: Meta cannot parse it.
    let missing = MediaId::parse("17999999999999999").expect("valid id");
    let err = h
        .client
        .list_comments(&account, &missing, PageLimits::default())
        .await
        .expect_err("no such media");
    assert!(
        matches!(
            err,
            GraphError::InvalidRequest {
                code: 100,
                subcode: Some(33),
                ..
            }
        ),
        "{err:?}"
    );

    h.fault(
        json!({"kind": "error", "count": 1, "code": 9004, "subcode": 2207003,
                   "path_contains": "/media"}),
    )
    .await;
    let err = h
        .client
        .create_container(
            &account,
            ContainerSpec::Image {
                image_url: "https://cdn.example/slow.jpg",
                caption: None,
                alt_text: None,
            },
        )
        .await
        .expect_err("download timeout");
    assert_eq!(err, GraphError::media(2207003));
    assert!(err.is_retryable());
}

// ------------------------------------------------------------------ usage back-off

#[tokio::test]
async fn usage_headers_drive_the_back_off_decision() {
    let h = Harness::start().await;
    let account = h.ig_account("usage.shop").await;
    let calm = h.client.instagram_profile(&account).await.expect("profile");
    assert!(!calm.usage.should_back_off(DEFAULT_BACK_OFF_THRESHOLD));

    h.admin_post(
        "/_sim/usage",
        json!({"call_count": 95, "total_time": 20, "total_cputime": 10}),
    )
    .await;
    let busy = h
        .client
        .instagram_profile(&account)
        .await
        .expect("still answered");
    assert_eq!(busy.usage.max_percent(), Some(95.0));
    assert!(busy.usage.should_back_off(DEFAULT_BACK_OFF_THRESHOLD));
    assert!(!busy.usage.should_back_off(96.0));
    assert!(
        h.client
            .last_usage(&account.id)
            .expect("recorded")
            .should_back_off(DEFAULT_BACK_OFF_THRESHOLD)
    );
    assert_eq!(h.client.last_app_usage().map(|a| a.call_count), Some(95.0));

    h.admin_post(
        "/_sim/usage",
        json!({"call_count": 40, "total_time": 20, "total_cputime": 10}),
    )
    .await;
    let eased = h.client.instagram_profile(&account).await.expect("profile");
    assert!(!eased.usage.should_back_off(DEFAULT_BACK_OFF_THRESHOLD));
}

// ------------------------------------------------------------------ logs stay clean

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The process-wide log buffer. A global subscriber (rather than a thread-local one)
/// sees every event of every thread, and avoids tracing's per-callsite interest cache
/// wrongly disabling callsites first hit by a test running without a subscriber.
fn captured_logs() -> &'static Buffer {
    static LOGS: std::sync::OnceLock<Buffer> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        use tracing_subscriber::Layer as _;
        use tracing_subscriber::layer::SubscriberExt;

        let buffer = Buffer::default();
        // Everything the client side emits, at every level (reqwest and hyper included);
        // only the simulator's own server logs are left out.
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(buffer.clone())
                .with_ansi(false)
                .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                    !meta.target().starts_with("meta_sim") && !meta.target().starts_with("axum")
                })),
        );
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other test in this binary installs a subscriber");
        buffer
    })
}

#[tokio::test]
async fn no_secret_token_or_message_text_in_logs_or_errors() {
    let buffer = captured_logs();

    let h = Harness::start().await;
    let sim_config = h.sim.config().clone();
    let account = h.ig_account("quiet.shop").await;
    let who = customer(8);
    let text = "my order 7731 for Jane Roe";
    let mut errors: Vec<GraphError> = Vec::new();
    let mut secrets: Vec<String> = vec![
        account.token.expose().to_owned(),
        sim_config.ig_app_secret.clone(),
        sim_config.fb_app_secret.clone(),
        text.to_owned(),
        who.as_str().to_owned(),
    ];

    // OAuth: the exchanges carry the app secret and tokens in query and form.
    h.ig_user("quiet.oauth").await;
    let query = allow_dialog(&h, h.client.instagram_authorize_url(REDIRECT, "s", false)).await;
    let code = AuthorizationCode::from_redirect(&query["code"]).expect("code");
    secrets.push(code.expose().to_owned());
    let short = h
        .client
        .exchange_instagram_code(&code, REDIRECT)
        .await
        .expect("exchange")
        .value;
    secrets.push(short.access_token.expose().to_owned());
    errors.push(
        h.client
            .exchange_instagram_code(&code, REDIRECT)
            .await
            .expect_err("reused code"),
    );
    let long = h
        .client
        .exchange_instagram_long_lived(&short.access_token)
        .await
        .expect("long-lived")
        .value;
    secrets.push(long.access_token.expose().to_owned());
    errors.push(
        h.client
            .refresh_instagram_token(&long.access_token)
            .await
            .expect_err("too early"),
    );
    h.fault(json!({"kind": "transient", "count": 3, "path_contains": "access_token"}))
        .await;
    errors.push(
        h.client
            .exchange_instagram_long_lived(&short.access_token)
            .await
            .expect_err("transient, retried, then returned"),
    );

    // Sends: window closed, then success, then a timeout-free transient failure.
    errors.push(
        h.client
            .send_text(&account, &who, text)
            .await
            .expect_err("no conversation yet"),
    );
    h.inbound(&account.id, &who, "aWdfinbound8").await;
    h.client
        .send_text(&account, &who, text)
        .await
        .expect("sent");
    h.fault(json!({"kind": "server_error", "count": 1, "path_contains": "/messages"}))
        .await;
    errors.push(
        h.client
            .send_text(&account, &who, text)
            .await
            .expect_err("server error"),
    );
    h.admin_post(
        "/_sim/tokens/revoke",
        json!({"user_id": account.id.as_str(), "subcode": 460}),
    )
    .await;
    errors.push(
        h.client
            .send_text(&account, &who, text)
            .await
            .expect_err("revoked"),
    );

    let logs = String::from_utf8(
        buffer
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone(),
    )
    .expect("utf-8 logs");
    assert!(logs.contains("meta_call"), "the client did log: {logs}");
    assert!(
        logs.contains(account.id.as_str()),
        "spans carry the account id"
    );
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret reached the logs: {logs}"
        );
        for err in &errors {
            let shown = format!("{err} | {err:?}");
            assert!(!shown.contains(secret.as_str()), "{shown}");
        }
    }
    assert!(
        !logs.contains("client_secret"),
        "no URL with credentials was logged"
    );
    assert!(
        !logs.contains("access_token="),
        "no URL with a token was logged"
    );
}

#[tokio::test]
async fn an_agency_with_more_pages_than_one_answer_gets_them_all() {
    let h = Harness::start().await;
    let pages: Vec<Value> = (0..30)
        .map(|i| json!({"name": format!("Client brand {i}"), "instagram": i % 2 == 0}))
        .collect();
    let user = h
        .admin_post("/_sim/fb-users", json!({"name": "Agency", "pages": pages}))
        .await;
    let token = h
        .token(json!({"user_id": user["user_id"], "kind": "fb_long"}))
        .await;
    let listed = h
        .client
        .facebook_pages(&token, PageLimits::default())
        .await
        .expect("pages")
        .value;
    assert!(listed.complete);
    assert_eq!(listed.pages_read, 2, "Meta answers 25 Pages at a time");
    let ids: Vec<&str> = listed.items.iter().map(|p| p.id.as_str()).collect();
    let expected: Vec<&str> = user["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(
        listed
            .items
            .iter()
            .filter(|p| p.instagram_business_account.is_some())
            .count(),
        15
    );
}
