//! The translation layer alone: which route answers, with which method, below the public
//! base path; and the sample events that are answered before any AWS call. The clients
//! point at a closed port, so nothing here reaches DynamoDB, KMS or Meta.

use std::sync::Arc;

use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request};
use relay::audit::AuditTrail;
use relay::clock::SystemClock;
use relay::crypto::EnvelopeCipher;
use relay::meta::{AppCredentials, GraphClient, MetaConfig, MetaEndpoints};
use relay::onboarding::PublicBaseUrl;
use relay::secret::Secret;
use relay::store::Store;

use crate::{Oauth, OauthDeps, Settings};

const NOWHERE: &str = "http://127.0.0.1:9";

fn oauth(public_base: &str) -> Oauth {
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(NOWHERE)
            .build(),
    );
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(NOWHERE)
            .build(),
    );
    let graph = GraphClient::new(MetaConfig::new(
        MetaEndpoints::simulator(NOWHERE).unwrap(),
        AppCredentials {
            instagram_app_id: "1".into(),
            instagram_app_secret: Secret::new("relay-local-app-secret"),
            facebook_app_id: "2".into(),
            facebook_app_secret: Secret::new("relay-local-app-secret"),
        },
    ))
    .unwrap();
    Oauth::new(OauthDeps {
        store: Store::new(dynamodb.clone(), "main"),
        cipher: EnvelopeCipher::new(kms, "key"),
        graph,
        audit: AuditTrail::new(dynamodb, "audit"),
        state_key: Secret::new("relay-local-oauth-state-key-0123456789abcdef"),
        instagram_app_secret: Secret::new("relay-local-app-secret"),
        facebook_app_secret: Secret::new("fedcba9876543210fedcba9876543210"),
        clock: Arc::new(SystemClock),
        settings: Settings {
            public_base: PublicBaseUrl::parse(public_base).unwrap(),
            allowed_origin: None,
            facebook_config_id: None,
            link_days: 7,
        },
    })
}

async fn answer(oauth: &Oauth, method: Method, uri: &str) -> (StatusCode, String) {
    let request: Request = lambda_http::http::Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::Empty)
        .unwrap();
    let response = oauth.handle(request).await;
    let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    (response.status(), body)
}

#[tokio::test]
async fn each_route_answers_its_method_only_and_unknown_pages_are_not_found() {
    let oauth = oauth("https://relay.example");
    let cases = [
        (Method::HEAD, "/onboard", StatusCode::METHOD_NOT_ALLOWED),
        (Method::POST, "/oauth/start", StatusCode::METHOD_NOT_ALLOWED),
        (
            Method::HEAD,
            "/oauth/callback/instagram",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            Method::POST,
            "/oauth/callback/facebook",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            Method::GET,
            "/oauth/deauthorize/instagram",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            Method::POST,
            "/oauth/data-deletion/status",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (Method::GET, "/nowhere", StatusCode::NOT_FOUND),
        (Method::GET, "/", StatusCode::NOT_FOUND),
        (
            Method::GET,
            "/oauth/callback/myspace",
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/oauth/callback/myspace",
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/oauth/deauthorize/myspace",
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/oauth/data-deletion/myspace",
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/oauth/callback/instagram/more",
            StatusCode::NOT_FOUND,
        ),
    ];
    for (method, path, expected) in cases {
        let (status, body) = answer(&oauth, method.clone(), path).await;
        assert_eq!(status, expected, "{method} {path}: {body}");
        if expected == StatusCode::NOT_FOUND {
            assert!(body.contains("Page not found"), "{method} {path}: {body}");
        }
    }
}

#[tokio::test]
async fn paths_are_read_below_the_public_base_path_without_trailing_slashes() {
    let oauth = oauth("https://relay.example/prod");
    for path in [
        "/prod/oauth/start?link=acme.1.x&provider=instagram",
        "/prod/oauth/start/?link=acme.1.x&provider=instagram",
        "/oauth/start?link=acme.1.x&provider=instagram",
    ] {
        let (status, body) = answer(&oauth, Method::GET, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            body.contains("This link is not valid"),
            "{path} reaches the start route: {body}"
        );
    }
    let (status, body) = answer(&oauth, Method::GET, "/production/oauth/start").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("Page not found"), "{body}");
}

#[tokio::test]
async fn sample_events_refused_at_the_edge_answer_as_documented() {
    let oauth = oauth("https://relay.example.com");
    for (file, expected, says) in [
        (
            "onboarding-page-tampered-link.json",
            404,
            "This link is not valid",
        ),
        ("deauthorize-bad-signature.json", 403, "signature"),
    ] {
        let path = format!("{}/../../events/oauth/{file}", env!("CARGO_MANIFEST_DIR"));
        let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let request = lambda_http::request::from_str(&raw).expect("an API Gateway v2 event");
        let response = oauth.handle(request).await;
        let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        assert_eq!(response.status().as_u16(), expected, "{file}: {body}");
        assert!(body.contains(says), "{file}: {body}");
    }
}
