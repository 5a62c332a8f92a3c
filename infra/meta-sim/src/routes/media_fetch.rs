//! Meta's download of the media a container names. Meta fetches `image_url`,
//! `video_url` and `cover_url` while it creates the container, and refuses the
//! container when the download fails or brings the wrong kind of file.
//!
//! The simulator downloads media on this machine (127.0.0.1, `::1`, `localhost`) for
//! real: one GET, body included, within `media_fetch_timeout_ms`, sent with Meta's
//! crawler user agent; a redirect counts as a failed download. Media on the
//! configured `public_media_hosts` stands for media on a public server and is taken
//! as downloadable without a network call. Any other host is one Meta could not
//! reach, since the simulator does not go to the internet.
//!
//! The downloads happen before the call takes the state lock.

use super::{App, Params, is_version};
use crate::state::publishing::MediaFetch;
use axum::http::{Method, header};
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// The container parameters that name media Meta downloads.
const MEDIA_PARAMS: [&str; 3] = ["image_url", "video_url", "cover_url"];

/// The user agent of Meta's media fetcher.
const FETCHER_USER_AGENT: &str = "facebookexternalhit/1.1";

/// Where a media URL points, for Meta's fetcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaHost {
    /// This machine: downloaded for real.
    Local,
    /// A host standing for a public server: taken as downloadable.
    Public,
    /// Anywhere else: out of Meta's (the simulator's) reach.
    Elsewhere,
}

/// What downloading each media URL of one call gave.
#[derive(Clone, Debug, Default)]
pub struct MediaFetches(HashMap<String, MediaFetch>);

impl MediaFetches {
    /// What downloading `url` gave. Every media parameter of a container call is
    /// fetched before the call runs, so a URL missing here was never reachable.
    pub fn of(&self, url: &str) -> MediaFetch {
        self.0.get(url).cloned().unwrap_or(MediaFetch::Unreachable)
    }
}

/// Whether a call creates a container: `POST [/vNN.N]/<id>/media`.
pub fn creates_container(method: &Method, segments: &[String]) -> bool {
    let rest = match segments.split_first() {
        Some((first, rest)) if is_version(first) => rest,
        _ => segments,
    };
    method == Method::POST && matches!(rest, [_, edge] if edge == "media")
}

/// Downloads the media a container call names, as Meta does. The state lock is held
/// only to read the settings, never across a download.
pub async fn fetch_for_call(app: &App, params: &Params) -> MediaFetches {
    let (public_hosts, timeout) = {
        let state = app.lock();
        (
            state.config.public_media_hosts.clone(),
            Duration::from_millis(state.config.media_fetch_timeout_ms),
        )
    };
    let mut fetches = HashMap::new();
    for url in MEDIA_PARAMS.iter().filter_map(|name| params.nonempty(name)) {
        let fetch = match media_host(&url, &public_hosts) {
            MediaHost::Local => download(&app.http, &url, timeout).await,
            MediaHost::Public => MediaFetch::Public,
            MediaHost::Elsewhere => MediaFetch::Unreachable,
        };
        fetches.insert(url, fetch);
    }
    MediaFetches(fetches)
}

/// Where `url` points. A public host matches itself and its subdomains.
pub fn media_host(url: &str, public_hosts: &[String]) -> MediaHost {
    let Some(host) = reqwest::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    else {
        return MediaHost::Elsewhere;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare == "localhost" || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
        return MediaHost::Local;
    }
    let is_public = public_hosts
        .iter()
        .map(|h| h.trim_start_matches('.').to_ascii_lowercase())
        .any(|h| !h.is_empty() && (host == h || host.ends_with(&format!(".{h}"))));
    if is_public {
        MediaHost::Public
    } else {
        MediaHost::Elsewhere
    }
}

/// One GET of `url`, body included, within `timeout`.
async fn download(http: &reqwest::Client, url: &str, timeout: Duration) -> MediaFetch {
    let sent = http
        .get(url)
        .header(header::USER_AGENT, FETCHER_USER_AGENT)
        .timeout(timeout)
        .send()
        .await;
    let res = match sent {
        Ok(res) => res,
        Err(e) => return failed(&e),
    };
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match res.bytes().await {
        Ok(_) => MediaFetch::Answered {
            status,
            content_type,
        },
        Err(e) => failed(&e),
    }
}

fn failed(e: &reqwest::Error) -> MediaFetch {
    if e.is_timeout() {
        MediaFetch::TimedOut
    } else {
        MediaFetch::Unreachable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Vec<String> {
        vec!["example".into(), ".media.test".into()]
    }

    #[test]
    fn loopback_is_local_listed_hosts_are_public_the_rest_elsewhere() {
        for url in [
            "http://127.0.0.1:8080/a.jpg",
            "http://localhost/a.jpg",
            "https://LOCALHOST:9/a.jpg",
            "http://[::1]:9/a.mp4",
            "http://127.1.2.3/a.jpg",
        ] {
            assert_eq!(media_host(url, &hosts()), MediaHost::Local, "{url}");
        }
        for url in [
            "https://cdn.example/a.jpg",
            "https://example/a.jpg",
            "https://img.media.test/a.jpg",
        ] {
            assert_eq!(media_host(url, &hosts()), MediaHost::Public, "{url}");
        }
        for url in [
            "https://images.unsplash.com/a.jpg",
            "https://notexample/a.jpg",
            "https://example.evil.com/a.jpg",
            "http://10.0.0.1/a.jpg",
            "ftp://127.0.0.1/a.jpg",
            "not a url",
        ] {
            assert_eq!(media_host(url, &hosts()), MediaHost::Elsewhere, "{url}");
        }
    }

    #[test]
    fn only_container_creation_fetches_media() {
        let segs = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert!(creates_container(
            &Method::POST,
            &segs(&["v26.0", "178", "media"])
        ));
        assert!(creates_container(&Method::POST, &segs(&["me", "media"])));
        assert!(!creates_container(&Method::GET, &segs(&["me", "media"])));
        assert!(!creates_container(
            &Method::POST,
            &segs(&["me", "media_publish"])
        ));
        assert!(!creates_container(&Method::POST, &segs(&["v26.0", "me"])));
    }
}
