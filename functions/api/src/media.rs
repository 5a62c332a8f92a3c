//! A post's media, fetched the way Meta will fetch it (headers only) before the post is
//! scheduled: a missing file, a PNG where Instagram takes JPEG only, or a video too large
//! is refused when a person schedules the post, not hours later when it fires.

use std::collections::HashMap;
use std::time::Duration;

use relay::config::{ConfigError, Vars};
use relay::publishing::PostContent;
use relay::publishing::rules::{self, Probe, Refusal};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderMap, RANGE};

/// Reads what each media URL serves. One client per cold start, so connections and TLS
/// sessions are reused across a carousel's items and across requests.
#[derive(Debug, Clone)]
pub struct MediaProbe {
    http: reqwest::Client,
    timeout: Duration,
}

impl MediaProbe {
    /// How long one URL may take to answer, in milliseconds.
    pub const TIMEOUT: &'static str = "RELAY_API_MEDIA_PROBE_TIMEOUT_MS";
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

    /// A probe that gives each URL `timeout` to answer (a carousel's URLs are asked at
    /// once, so a post takes about one timeout at most).
    pub fn new(timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent("Relay media check")
            .build()
            .expect("the media probe's HTTP client builds");
        Self { http, timeout }
    }

    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let default = Self::DEFAULT_TIMEOUT.as_millis() as u64;
        let ms: u64 = vars.parsed(Self::TIMEOUT, default);
        if !(100..=10_000).contains(&ms) {
            vars.invalid(Self::TIMEOUT, "use 100 to 10000");
        }
        vars.finish()?;
        Ok(Self::new(Duration::from_millis(ms)))
    }

    /// What `url` serves: a HEAD, or a GET of its first byte when HEAD is refused (405 or
    /// 501: the server does not take HEAD; 403: a presigned URL signed for GET only).
    /// `Err` says why nothing came back at all.
    pub async fn probe(&self, url: &str) -> Result<Probe, String> {
        let head = self
            .http
            .head(url)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let refused = [
            StatusCode::METHOD_NOT_ALLOWED,
            StatusCode::NOT_IMPLEMENTED,
            StatusCode::FORBIDDEN,
        ];
        if !refused.contains(&head.status()) {
            return Ok(probe_of(head.status(), head.headers()));
        }
        // The body is never read: dropping the answer closes the connection.
        let ranged = self
            .http
            .get(url)
            .header(RANGE, "bytes=0-0")
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        Ok(probe_of(ranged.status(), ranged.headers()))
    }

    fn unreachable(&self, error: &reqwest::Error) -> String {
        if error.is_timeout() {
            format!("it did not answer within {} ms", self.timeout.as_millis())
        } else if error.is_redirect() {
            "it redirects too often".to_owned()
        } else if error.is_connect() {
            "its server could not be reached".to_owned()
        } else {
            "the request failed".to_owned()
        }
    }

    /// Every media URL of `content`, fetched at once, against what Meta takes for it.
    /// An upload's reference is fetched at the URL `uploads` gives for it (a presigned
    /// GET). The first refusal in the content's order is returned.
    pub async fn check(
        &self,
        content: &PostContent,
        on_page: bool,
        uploads: &HashMap<String, String>,
    ) -> Result<(), Refusal> {
        let media = content.media_fields();
        let fetch_at = |url: &str| uploads.get(url).map_or(url, String::as_str).to_owned();
        let probes = futures::future::join_all(
            media
                .iter()
                .map(|(_, _, url)| self.probe_owned(fetch_at(url))),
        )
        .await;
        let reel = matches!(content, PostContent::Reel { .. });
        for ((field, kind, url), probe) in media.iter().zip(probes) {
            match probe {
                Ok(probe) if probe.status == 404 && uploads.contains_key(*url) => {
                    return Err(Refusal {
                        field: field.clone(),
                        rule: "names an upload whose file has not arrived; PUT the file to \
                               its upload URL first"
                            .into(),
                    });
                }
                Ok(probe) => rules::check_media(field, *kind, !on_page, reel, &probe)?,
                Err(why) => {
                    return Err(Refusal {
                        field: field.clone(),
                        rule: format!(
                            "could not be fetched ({why}); Meta must be able to download it"
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    async fn probe_owned(&self, url: String) -> Result<Probe, String> {
        self.probe(&url).await
    }
}

/// What a probe's answer says: the status, the content type, and the size of the whole
/// file (a ranged answer gives it after the slash of `Content-Range: bytes 0-0/12345`).
fn probe_of(status: StatusCode, headers: &HeaderMap) -> Probe {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let length = if status == StatusCode::PARTIAL_CONTENT {
        header(CONTENT_RANGE)
            .and_then(|r| r.rsplit_once('/'))
            .and_then(|(_, total)| total.trim().parse().ok())
    } else {
        header(CONTENT_LENGTH).and_then(|l| l.trim().parse().ok())
    };
    Probe {
        status: status.as_u16(),
        content_type: header(CONTENT_TYPE).map(str::to_owned),
        length,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::http::{HeaderMap as Headers, Method};
    use axum::routing::any;

    /// A media server: `/a.jpg` answers HEAD; `/no-head.jpg` refuses HEAD and answers a
    /// ranged GET with 206; `/slow.jpg` answers after 2 s.
    async fn server() -> String {
        let app = Router::new()
            .route(
                "/a.jpg",
                any(|| async {
                    (
                        [("content-type", "image/jpeg"), ("content-length", "2048")],
                        "",
                    )
                }),
            )
            .route(
                "/no-head.jpg",
                any(|method: Method, headers: Headers| async move {
                    if method == Method::HEAD {
                        return (
                            axum::http::StatusCode::METHOD_NOT_ALLOWED,
                            Headers::new(),
                            "",
                        );
                    }
                    let mut out = Headers::new();
                    out.insert("content-type", "image/jpeg".parse().unwrap());
                    assert_eq!(headers["range"], "bytes=0-0");
                    out.insert("content-range", "bytes 0-0/9999999".parse().unwrap());
                    (axum::http::StatusCode::PARTIAL_CONTENT, out, "x")
                }),
            )
            .route(
                "/slow.jpg",
                any(|| async {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    ([("content-type", "image/jpeg")], "")
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    #[tokio::test]
    async fn a_head_gives_the_type_and_size_and_a_refused_head_falls_back_to_a_ranged_get() {
        let base = server().await;
        let probe = MediaProbe::new(Duration::from_secs(1));
        let head = probe.probe(&format!("{base}/a.jpg")).await.unwrap();
        assert_eq!(
            head,
            Probe {
                status: 200,
                content_type: Some("image/jpeg".into()),
                length: Some(2048),
            }
        );
        let ranged = probe.probe(&format!("{base}/no-head.jpg")).await.unwrap();
        assert_eq!(ranged.status, 206);
        assert_eq!(ranged.length, Some(9_999_999), "the whole file's size");
        let image = PostContent::Image {
            url: format!("{base}/no-head.jpg"),
            alt_text: None,
        };
        let refused = probe
            .check(&image, false, &HashMap::new())
            .await
            .unwrap_err();
        assert_eq!(refused.field, "content.url");
        assert!(refused.rule.contains("9999999 bytes"), "{refused}");
    }

    #[tokio::test]
    async fn a_url_that_does_not_answer_in_time_or_at_all_is_refused_with_why() {
        let base = server().await;
        let probe = MediaProbe::new(Duration::from_millis(300));
        let slow = probe.probe(&format!("{base}/slow.jpg")).await.unwrap_err();
        assert!(slow.contains("300 ms"), "{slow}");
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gone = format!("http://{}/a.jpg", closed.local_addr().unwrap());
        drop(closed);
        let carousel = PostContent::Carousel {
            items: vec![
                relay::publishing::MediaItem {
                    kind: relay::publishing::MediaKind::Image,
                    url: format!("{base}/a.jpg"),
                },
                relay::publishing::MediaItem {
                    kind: relay::publishing::MediaKind::Image,
                    url: gone,
                },
            ],
        };
        let refused = probe
            .check(&carousel, false, &HashMap::new())
            .await
            .unwrap_err();
        assert_eq!(refused.field, "content.items[1].url");
        assert!(refused.rule.contains("could not be reached"), "{refused}");
    }
}
