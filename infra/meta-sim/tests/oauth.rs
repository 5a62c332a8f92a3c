//! OAuth and token rules the product relies on: single-use one-hour codes, exact
//! redirect URIs, the 24-hour refresh rule, expiry and revocation.

mod common;

use common::{Sim, V, answer, err, ids};
use serde_json::{Value, json};

const REDIRECT: &str = "https://relay.example/oauth/instagram/callback";
const SCOPES: &str = "instagram_business_basic,instagram_business_manage_messages,instagram_business_manage_comments,instagram_business_content_publish,instagram_business_manage_insights";

fn query_param(location: &str, name: &str) -> Option<String> {
    let without_fragment = location.split('#').next()?;
    let query = without_fragment.split_once('?')?.1;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

async fn ig_dialog_params(sim: &Sim) -> Vec<(&'static str, String)> {
    vec![
        ("client_id", sim.sim.config().ig_app_id.clone()),
        ("redirect_uri", REDIRECT.to_owned()),
        ("response_type", "code".to_owned()),
        ("scope", SCOPES.to_owned()),
        ("state", "csrf-123".to_owned()),
    ]
}

/// Runs the Instagram dialog and presses a button; returns the redirect Location.
async fn ig_decide(sim: &Sim, decision: &str) -> String {
    let mut form = ig_dialog_params(sim).await;
    form.push(("decision", decision.to_owned()));
    let res = sim
        .http
        .post(sim.url("/www.instagram.com/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .expect("dialog answers");
    assert_eq!(res.status(), 302, "the decision redirects back");
    res.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

async fn exchange(sim: &Sim, code: &str, redirect: &str) -> (u16, Value) {
    exchange_as(sim, &sim.sim.config().ig_app_secret, code, redirect).await
}

/// The code exchange as an app holding `secret`.
async fn exchange_as(sim: &Sim, secret: &str, code: &str, redirect: &str) -> (u16, Value) {
    let request = sim
        .http
        .post(sim.url("/api.instagram.com/oauth/access_token"))
        .form(&[
            ("client_id", sim.sim.config().ig_app_id.as_str()),
            ("client_secret", secret),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect),
            ("code", code),
        ]);
    answer(request).await
}

/// A refused exchange: a 400 whose `error_message` names `reason`.
fn assert_refused(status: u16, body: &Value, reason: &str) {
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error_message"]
            .as_str()
            .is_some_and(|m| m.contains(reason)),
        "refusal should name {reason}: {body}"
    );
}

/// A simulator with the Instagram user `bakery`.
async fn with_bakery() -> (Sim, Value) {
    let sim = Sim::start().await;
    let user = sim
        .admin("/_sim/ig-users", json!({"username": "bakery"}))
        .await;
    (sim, user)
}

#[tokio::test]
async fn instagram_dialog_is_a_real_form_naming_app_and_scopes() {
    let (sim, _) = with_bakery().await;
    let params = ig_dialog_params(&sim).await;
    let res = sim
        .http
        .get(sim.url("/www.instagram.com/oauth/authorize"))
        .query(&params)
        .send()
        .await
        .expect("dialog answers");
    assert_eq!(res.status(), 200);
    let html = res.text().await.expect("html");
    assert!(html.contains(&sim.sim.config().app_name));
    assert!(html.contains("@bakery"));
    for scope in SCOPES.split(',') {
        assert!(html.contains(scope), "scope {scope} listed");
    }
    assert!(html.contains("<form method=\"post\""));
    assert!(html.contains("value=\"allow\"") && html.contains("value=\"cancel\""));
    assert!(html.contains("name=\"state\" value=\"csrf-123\""));
}

#[tokio::test]
async fn full_instagram_login_and_single_use_code() {
    let (sim, user) = with_bakery().await;
    let location = ig_decide(&sim, "allow").await;
    assert!(location.starts_with(REDIRECT));
    assert!(location.ends_with("#_"), "Instagram appends #_: {location}");
    assert_eq!(query_param(&location, "state").as_deref(), Some("csrf-123"));
    let code = query_param(&location, "code").expect("code in redirect");

    let (status, body) = exchange(&sim, &code, REDIRECT).await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"][0];
    let token = data["access_token"].as_str().expect("token");
    assert!(token.starts_with("IGAA"));
    assert!(
        data["permissions"]
            .as_str()
            .is_some_and(|p| p.contains("instagram_business_manage_messages"))
    );

    // The token works and /me names the professional account the webhooks carry.
    let (status, me) = sim
        .ig_get("/me?fields=user_id,username,followers_count", token)
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user_id"], user["user_id"]);
    assert_eq!(me["username"], "bakery");
    assert!(
        me.get("biography").is_none(),
        "only requested fields are answered"
    );

    let (status, again) = exchange(&sim, &code, REDIRECT).await;
    assert_refused(status, &again, "used");
    assert_eq!(again["error_type"], "OAuthException");
}

#[tokio::test]
async fn code_exchange_needs_the_exact_redirect_uri_and_secret() {
    let (sim, _) = with_bakery().await;
    let code = query_param(&ig_decide(&sim, "allow").await, "code").expect("code");
    for wrong in [
        "https://relay.example/oauth/instagram/callback/",
        "https://relay.example/oauth/instagram/callback?x=1",
    ] {
        let (status, body) = exchange(&sim, &code, wrong).await;
        assert_refused(status, &body, "redirect_uri");
    }
    let (status, _) = exchange_as(&sim, "wrong", &code, REDIRECT).await;
    assert_eq!(status, 400);
    // The failed attempts did not burn the code.
    let (status, _) = exchange(&sim, &code, REDIRECT).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn code_expires_after_one_hour() {
    let (sim, _) = with_bakery().await;
    let code = query_param(&ig_decide(&sim, "allow").await, "code").expect("code");
    sim.advance(3600).await;
    let (status, body) = exchange(&sim, &code, REDIRECT).await;
    assert_refused(status, &body, "expired");
}

#[tokio::test]
async fn cancel_redirects_with_access_denied() {
    let (sim, _) = with_bakery().await;
    let location = ig_decide(&sim, "cancel").await;
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(
        query_param(&location, "error_reason").as_deref(),
        Some("user_denied")
    );
    assert!(query_param(&location, "error_description").is_some());
    assert_eq!(query_param(&location, "state").as_deref(), Some("csrf-123"));
    assert_eq!(query_param(&location, "code"), None);
}

#[tokio::test]
async fn dialog_rejects_bad_app_missing_redirect_and_old_scopes() {
    let (sim, _) = with_bakery().await;
    let url = sim.url("/www.instagram.com/oauth/authorize");
    let app = sim.sim.config().ig_app_id.clone();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![
                ("client_id", "999"),
                ("redirect_uri", REDIRECT),
                ("scope", SCOPES),
            ],
            "Invalid app ID",
        ),
        (
            vec![("client_id", app.as_str()), ("scope", SCOPES)],
            "redirect_uri",
        ),
        (
            vec![
                ("client_id", app.as_str()),
                ("redirect_uri", REDIRECT),
                ("scope", "business_basic,business_manage_messages"),
            ],
            "business_basic",
        ),
        (
            vec![
                ("client_id", app.as_str()),
                ("redirect_uri", REDIRECT),
                ("scope", "instagram_business_basic,nope"),
            ],
            "nope",
        ),
    ];
    for (params, needle) in cases {
        let res = sim
            .http
            .get(&url)
            .query(&params)
            .send()
            .await
            .expect("answers");
        assert_eq!(res.status(), 400, "{params:?}");
        let html = res.text().await.expect("html");
        assert!(html.contains(needle), "{needle} in {html}");
    }
}

async fn long_lived(sim: &Sim, short: &str) -> (u16, Value) {
    let url = format!(
        "{}?grant_type=ig_exchange_token&client_secret={}&access_token={short}",
        sim.url("/graph.instagram.com/access_token"),
        sim.sim.config().ig_app_secret
    );
    let res = sim.http.get(url).send().await.expect("answers");
    (res.status().as_u16(), res.json().await.expect("JSON"))
}

async fn refresh(sim: &Sim, token: &str) -> (u16, Value) {
    let url = format!(
        "{}?grant_type=ig_refresh_token&access_token={token}",
        sim.url("/graph.instagram.com/refresh_access_token")
    );
    let res = sim.http.get(url).send().await.expect("answers");
    (res.status().as_u16(), res.json().await.expect("JSON"))
}

#[tokio::test]
async fn refresh_only_when_a_day_old_and_not_expired() {
    let (sim, user) = with_bakery().await;
    let short = sim
        .token(json!({"user_id": user["user_id"], "kind": "ig_short"}))
        .await;
    let (status, long) = long_lived(&sim, &short).await;
    assert_eq!(status, 200, "{long}");
    assert_eq!(long["token_type"], "bearer");
    assert_eq!(long["expires_in"], 5_184_000);
    let long = long["access_token"].as_str().expect("token").to_owned();

    let (status, early) = refresh(&sim, &long).await;
    assert_eq!(status, 400);
    assert_eq!(err(&early).0, 10);
    assert!(
        early["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("at least 24 hours old"))
    );

    sim.advance(23 * 3600).await;
    assert_eq!(
        err(&refresh(&sim, &long).await.1).0,
        10,
        "still too early at 23 h"
    );

    sim.advance(3600).await;
    let (status, refreshed) = refresh(&sim, &long).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["expires_in"], 5_184_000);
    let newer = refreshed["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_ne!(newer, long);

    // The original long-lived token expires 60 days after it was issued.
    sim.advance(59 * 86_400).await;
    let (status, expired) = refresh(&sim, &long).await;
    assert_eq!(status, 400);
    assert_eq!(err(&expired), (190, Some(463)));
    let (status, _) = sim.ig_get("/me?fields=username", &long).await;
    assert_eq!(status, 400);
    // The refreshed one lives 60 days from the refresh.
    let (status, me) = sim.ig_get("/me?fields=username", &newer).await;
    assert_eq!(status, 200, "{me}");
}

#[tokio::test]
async fn short_lived_token_expires_after_an_hour() {
    let (sim, user) = with_bakery().await;
    let short = sim
        .admin(
            "/_sim/tokens",
            json!({"user_id": user["user_id"], "kind": "ig_short"}),
        )
        .await;
    assert_eq!(short["expires_in"], 3600);
    let token = short["access_token"].as_str().expect("token");
    sim.advance(3600).await;
    let (status, body) = sim.ig_get("/me", token).await;
    assert_eq!(status, 400);
    assert_eq!(err(&body), (190, Some(463)));
}

#[tokio::test]
async fn unknown_revoked_and_wrong_host_tokens_fail_with_190() {
    let sim = Sim::start().await;
    let (id, token) = sim.ig_account("bakery").await;
    assert_eq!(
        err(&sim.ig_get("/me", "IGAAnope").await.1),
        (190, Some(467))
    );
    let (_, wrong_host) = sim.fb_get("/me", &token).await;
    assert_eq!(err(&wrong_host).0, 190);
    let (status, _) = sim
        .http
        .get(sim.ig("/me"))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .expect("answers");
    assert_eq!(status, 400, "no token at all is refused");

    sim.admin(
        "/_sim/tokens/revoke",
        json!({"user_id": id, "subcode": 460}),
    )
    .await;
    let (status, body) = sim.ig_get("/me", &token).await;
    assert_eq!(status, 400);
    assert_eq!(err(&body), (190, Some(460)));
    // A new login after the revocation works again.
    let fresh = sim.token(json!({"user_id": id, "kind": "ig_long"})).await;
    assert_eq!(sim.ig_get("/me", &fresh).await.0, 200);
}

#[tokio::test]
async fn access_token_parameter_is_accepted_like_the_header() {
    let sim = Sim::start().await;
    let (_, token) = sim.ig_account("bakery").await;
    let res = sim
        .http
        .get(sim.ig(&format!("/me?fields=username&access_token={token}")))
        .send()
        .await
        .expect("answers");
    assert_eq!(res.status(), 200);
    let (_, body) = sim.ig_get("/me?fields=username,not_a_field", &token).await;
    assert_eq!(err(&body).0, 100);
}

#[tokio::test]
async fn facebook_login_pages_and_linked_instagram_accounts() {
    let sim = Sim::start().await;
    let user = sim
        .admin(
            "/_sim/fb-users",
            json!({"name": "Ana", "pages": [{"name": "Ana Bakery", "instagram": true}, {"name": "Ana Blog", "instagram": false}]}),
        )
        .await;
    let page_id = user["pages"][0]["id"].as_str().expect("page").to_owned();
    let ig_id = user["pages"][0]["instagram_business_account"]
        .as_str()
        .expect("linked ig")
        .to_owned();
    let c = sim.sim.config().clone();
    let redirect = "https://relay.example/oauth/facebook/callback";

    let res = sim
        .http
        .post(sim.url(&format!("/www.facebook.com/{V}/dialog/oauth")))
        .form(&[
            ("client_id", c.fb_app_id.as_str()),
            ("redirect_uri", redirect),
            ("state", "s1"),
            ("scope", "pages_show_list,pages_messaging,pages_manage_metadata,instagram_basic,instagram_manage_messages"),
            ("decision", "allow"),
        ])
        .send()
        .await
        .expect("dialog answers");
    assert_eq!(res.status(), 302);
    let location = res.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let code = query_param(&location, "code").expect("code");
    assert!(!location.contains('#'));

    // Facebook's token endpoint takes its parameters in the query string.
    let exchange = |query: String| {
        let url = format!("{}?{query}", sim.fb("/oauth/access_token"));
        answer(sim.http.get(url))
    };
    let app = format!(
        "client_id={}&client_secret={}",
        c.fb_app_id, c.fb_app_secret
    );
    let (status, wrong) = exchange(format!(
        "{app}&redirect_uri=https://relay.example/other&code={code}"
    ))
    .await;
    assert_eq!(status, 400);
    assert_eq!(err(&wrong).0, 100);

    let (_, short) = exchange(format!("{app}&redirect_uri={redirect}&code={code}")).await;
    let short = short["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{short}"))
        .to_owned();
    assert!(short.starts_with("EAA"));

    let (_, long) = exchange(format!(
        "grant_type=fb_exchange_token&{app}&fb_exchange_token={short}"
    ))
    .await;
    assert_eq!(long["expires_in"], 5_184_000);
    let long = long["access_token"].as_str().expect("token").to_owned();

    let (status, accounts) = sim
        .fb_get(
            "/me/accounts?fields=id,name,access_token,tasks,instagram_business_account",
            &long,
        )
        .await;
    assert_eq!(status, 200, "{accounts}");
    let pages = accounts["data"].as_array().expect("pages");
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0]["id"], page_id.as_str());
    assert_eq!(pages[0]["instagram_business_account"]["id"], ig_id.as_str());
    assert!(pages[1].get("instagram_business_account").is_none());
    assert!(
        pages[0]["tasks"]
            .as_array()
            .is_some_and(|t| t.iter().any(|x| x == "MESSAGING"))
    );
    let page_token = pages[0]["access_token"]
        .as_str()
        .expect("page token")
        .to_owned();

    // A page token from a long-lived user token does not expire.
    sim.advance(61 * 86_400).await;
    let (status, me) = sim.fb_get("/me", &page_token).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], page_id.as_str());
    assert_eq!(err(&sim.fb_get("/me", &long).await.1), (190, Some(463)));

    // The page token reaches the linked Instagram account on graph.facebook.com.
    let (status, ig) = sim
        .fb_get(&format!("/{ig_id}?fields=id,username"), &page_token)
        .await;
    assert_eq!(status, 200, "{ig}");
    assert_eq!(ig["id"], ig_id.as_str());

    // Page subscriptions need the page token and known fields.
    let sub = sim.fb(&format!("/{page_id}/subscribed_apps"));
    let (status, ok) = sim
        .post_form(
            &sub,
            &page_token,
            &[("subscribed_fields", "messages,message_echoes")],
        )
        .await;
    assert_eq!((status, ok["success"].as_bool()), (200, Some(true)));
    let (_, listed) = sim.get(&sub, &page_token).await;
    assert_eq!(
        listed["data"][0]["subscribed_fields"],
        json!(["messages", "message_echoes"])
    );
    let (_, bad) = sim
        .post_form(&sub, &page_token, &[("subscribed_fields", "nope")])
        .await;
    assert_eq!(err(&bad).0, 100);
}

#[tokio::test]
async fn instagram_subscribed_apps_are_kept_listed_and_removed() {
    let sim = Sim::start().await;
    let (_, token) = sim.ig_account("bakery").await;
    let url = sim.ig("/me/subscribed_apps");
    let (status, _) = sim
        .post_form(
            &url,
            &token,
            &[("subscribed_fields", "messages,comments,message_reactions")],
        )
        .await;
    assert_eq!(status, 200);
    let (_, listed) = sim.get(&url, &token).await;
    assert_eq!(
        listed["data"][0]["subscribed_fields"],
        json!(["messages", "comments", "message_reactions"])
    );
    let res = sim
        .http
        .delete(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("answers");
    assert_eq!(res.status(), 200);
    let (_, listed) = sim.get(&url, &token).await;
    assert_eq!(listed["data"], json!([]));
}

#[tokio::test]
async fn me_accounts_pages_through_many_pages_with_next_links() {
    let sim = Sim::start().await;
    let pages: Vec<Value> = (0..5)
        .map(|i| json!({"name": format!("Branch {i}"), "instagram": false}))
        .collect();
    let user = sim
        .admin("/_sim/fb-users", json!({"name": "Chain", "pages": pages}))
        .await;
    let user_id = user["user_id"].as_str().expect("user id").to_owned();
    let token = sim
        .token(json!({"user_id": user_id, "kind": "fb_long"}))
        .await;
    let answers = sim
        .pages(sim.fb("/me/accounts?fields=id,name&limit=2"), &token)
        .await;
    let seen: Vec<String> = answers.iter().flat_map(ids).collect();
    let expected: Vec<String> = user["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .map(|p| p["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(seen, expected, "every Page once, in order");
    assert_eq!(answers.len(), 3, "2 + 2 + 1");
}
