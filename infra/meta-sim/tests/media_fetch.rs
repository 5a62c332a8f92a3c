//! Meta downloads a container's media when the container is created: media on this
//! machine is really fetched, media on the public example hosts is trusted, media
//! anywhere else could not be fetched. A failed download, a timeout and a wrong kind
//! of file are refused with Meta's codes, and no container is created.

mod common;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use common::{Sim, err};
use meta_sim::SimConfig;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The start and end markers of a JPEG file around a few bytes.
const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0xFF, 0xD9,
];

/// A media server on 127.0.0.1:0: `/cake.jpg` (image/jpeg), `/notes.txt`
/// (text/plain), `/reel.mp4` (video/mp4), `/slow.jpg` (a JPEG after one second),
/// 404 for anything else. It records every request's path and user agent.
struct MediaServer {
    base: String,
    requests: Arc<Mutex<Vec<(String, String)>>>,
}

impl MediaServer {
    async fn start() -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                let agent = headers
                    .get(header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                seen.lock()
                    .expect("lock")
                    .push((uri.path().to_owned(), agent));
                serve(uri.path()).await
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("media server binds");
        let addr = listener.local_addr().expect("media server address");
        tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("media server serves");
        });
        Self {
            base: format!("http://{addr}"),
            requests,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn requests(&self) -> Vec<(String, String)> {
        self.requests.lock().expect("lock").clone()
    }
}

async fn serve(path: &str) -> Response {
    let typed = |content_type: &'static str, body: &'static [u8]| {
        ([(header::CONTENT_TYPE, content_type)], body).into_response()
    };
    match path {
        "/cake.jpg" => typed("image/jpeg", JPEG),
        "/notes.txt" => typed("text/plain; charset=utf-8", b"not a picture"),
        "/reel.mp4" => typed("video/mp4", b"\0\0\0\x18ftypmp42"),
        "/slow.jpg" => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            typed("image/jpeg", JPEG)
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A URL on a port nothing listens on.
async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{addr}/cake.jpg")
}

async fn create(sim: &Sim, account: &str, token: &str, form: &[(&str, &str)]) -> (u16, Value) {
    sim.ig_post_form(&format!("/{account}/media"), token, form)
        .await
}

/// An image container for the picture at `url`.
async fn image(sim: &Sim, account: &str, token: &str, url: &str) -> (u16, Value) {
    create(sim, account, token, &[("image_url", url)]).await
}

async fn containers(sim: &Sim) -> usize {
    sim.count("/_sim/containers").await.expect("list")
}

const UNFETCHABLE: (i64, Option<i64>) = (9004, Some(2_207_052));
const IMAGE_FORMAT: (i64, Option<i64>) = (36_001, Some(2_207_005));
const VIDEO_FORMAT: (i64, Option<i64>) = (352, Some(2_207_026));
const DOWNLOAD_TIMEOUT: (i64, Option<i64>) = (-2, Some(2_207_003));

#[tokio::test]
async fn a_jpeg_meta_can_download_creates_a_container_that_publishes() {
    let media = MediaServer::start().await;
    let (sim, account, token) = Sim::shop_with(SimConfig {
        container_polls_until_finished: 0,
        ..SimConfig::default()
    })
    .await;
    let url = media.url("/cake.jpg");
    let (status, body) = image(&sim, &account, &token, &url).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        media.requests(),
        [("/cake.jpg".to_owned(), "facebookexternalhit/1.1".to_owned())],
        "Meta fetched the image once, as its crawler"
    );
    let id = body["id"].as_str().expect("container id");
    let (status, published) = sim
        .ig_post_form(
            &format!("/{account}/media_publish"),
            &token,
            &[("creation_id", id)],
        )
        .await;
    assert_eq!(status, 200, "{published}");
}

#[tokio::test]
async fn an_image_url_serving_text_is_refused_as_an_unsupported_format() {
    let media = MediaServer::start().await;
    let (sim, account, token) = Sim::shop().await;
    let url = media.url("/notes.txt");
    let (status, body) = image(&sim, &account, &token, &url).await;
    assert_eq!(status, 400);
    assert_eq!(err(&body), IMAGE_FORMAT, "{body}");
    assert_eq!(containers(&sim).await, 0, "no container for refused media");
}

#[tokio::test]
async fn a_missing_file_or_a_closed_port_is_media_that_could_not_be_fetched() {
    let media = MediaServer::start().await;
    let (sim, account, token) = Sim::shop().await;
    for url in [media.url("/gone.jpg"), closed_port_url().await] {
        let (status, body) = image(&sim, &account, &token, &url).await;
        assert_eq!(status, 400, "{url}");
        assert_eq!(err(&body), UNFETCHABLE, "{url}: {body}");
        assert_eq!(
            body["error"]["message"],
            "Only photo or video can be accepted as media type."
        );
        assert!(
            body["error"]["error_user_msg"]
                .as_str()
                .is_some_and(|m| m.contains(&url)),
            "the answer names the URL: {body}"
        );
    }
    assert_eq!(containers(&sim).await, 0);
}

#[tokio::test]
async fn a_download_slower_than_the_timeout_is_a_download_timeout() {
    let media = MediaServer::start().await;
    let (sim, account, token) = Sim::shop_with(SimConfig {
        media_fetch_timeout_ms: 200,
        ..SimConfig::default()
    })
    .await;
    let url = media.url("/slow.jpg");
    let (status, body) = image(&sim, &account, &token, &url).await;
    assert_eq!(status, 400);
    assert_eq!(err(&body), DOWNLOAD_TIMEOUT, "{body}");
}

async fn reel(sim: &Sim, account: &str, token: &str, video: &str, cover: &str) -> (u16, Value) {
    create(
        sim,
        account,
        token,
        &[
            ("media_type", "REELS"),
            ("video_url", video),
            ("cover_url", cover),
        ],
    )
    .await
}

#[tokio::test]
async fn a_reel_needs_a_video_and_a_jpeg_cover() {
    let media = MediaServer::start().await;
    let (sim, account, token) = Sim::shop().await;
    let (video, jpeg, text) = (
        media.url("/reel.mp4"),
        media.url("/cake.jpg"),
        media.url("/notes.txt"),
    );
    let (status, ok) = reel(&sim, &account, &token, &video, &jpeg).await;
    assert_eq!(status, 200, "{ok}");
    let (_, not_video) = reel(&sim, &account, &token, &jpeg, &jpeg).await;
    assert_eq!(err(&not_video), VIDEO_FORMAT, "{not_video}");
    let (_, text_cover) = reel(&sim, &account, &token, &video, &text).await;
    assert_eq!(err(&text_cover), IMAGE_FORMAT, "{text_cover}");
    assert_eq!(containers(&sim).await, 1);
}

#[tokio::test]
async fn carousel_items_and_stories_are_downloaded_too() {
    let media = MediaServer::start().await;
    let (sim, account, token) = Sim::shop().await;
    let (video, text, gone) = (
        media.url("/reel.mp4"),
        media.url("/notes.txt"),
        media.url("/gone.jpg"),
    );
    let (status, item) = create(
        &sim,
        &account,
        &token,
        &[("is_carousel_item", "true"), ("video_url", video.as_str())],
    )
    .await;
    assert_eq!(status, 200, "{item}");
    let (_, text_item) = create(
        &sim,
        &account,
        &token,
        &[("is_carousel_item", "true"), ("image_url", text.as_str())],
    )
    .await;
    assert_eq!(err(&text_item), IMAGE_FORMAT, "{text_item}");
    let (_, gone_story) = create(
        &sim,
        &account,
        &token,
        &[("media_type", "STORIES"), ("image_url", gone.as_str())],
    )
    .await;
    assert_eq!(err(&gone_story), UNFETCHABLE, "{gone_story}");
}

#[tokio::test]
async fn public_example_hosts_are_trusted_and_other_hosts_are_out_of_reach() {
    let (sim, account, token) = Sim::shop().await;
    let (status, trusted) = image(&sim, &account, &token, "https://cdn.example/cake.jpg").await;
    assert_eq!(status, 200, "{trusted}");
    let (status, elsewhere) = image(
        &sim,
        &account,
        &token,
        "https://images.unsplash.com/cake.jpg",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(err(&elsewhere), UNFETCHABLE, "{elsewhere}");

    let custom = Sim::with(SimConfig {
        public_media_hosts: vec!["media.relay.test".into()],
        ..SimConfig::default()
    })
    .await;
    let (account, token) = custom.ig_account("shop").await;
    let (status, listed) = image(
        &custom,
        &account,
        &token,
        "https://eu.media.relay.test/cake.jpg",
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    let (_, unlisted) = image(&custom, &account, &token, "https://cdn.example/cake.jpg").await;
    assert_eq!(err(&unlisted), UNFETCHABLE, "{unlisted}");
}

#[tokio::test]
async fn the_simulators_own_stand_in_files_are_media_meta_can_download() {
    let (sim, account, token) = Sim::shop().await;
    let http = reqwest::Client::new();
    for (name, kind) in [
        ("a.jpg", "image/jpeg"),
        ("b.png", "image/png"),
        ("c.mp4", "video/mp4"),
    ] {
        let response = http
            .get(format!("{}/_sim/files/{name}", sim.sim.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()[header::CONTENT_TYPE], kind);
    }
    let missing = http
        .get(format!("{}/_sim/files/notes.txt", sim.sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let url = format!("{}/_sim/files/cake.jpg", sim.sim.base_url());
    let (status, body) = image(&sim, &account, &token, &url).await;
    assert_eq!(status, 200, "{body}");
    let url = format!("{}/_sim/files/cake.png", sim.sim.base_url());
    let (status, body) = image(&sim, &account, &token, &url).await;
    assert_eq!(status, 400, "Instagram takes JPEG only: {body}");
}
