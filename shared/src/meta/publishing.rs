//! Content publishing: media containers, their status, `media_publish`, the publishing
//! quota and permalinks.
//!
//! Meta's flow is create container -> wait for `FINISHED` -> publish. Publishing twice
//! with the same container is not documented as safe (peers posted duplicates), so
//! [`GraphClient::media_publish`] sends once unless the caller chooses
//! [`PublishRetry::ReconcileWithStatus`], which reads the container's `status_code`
//! before publishing and before any repeat, and treats `PUBLISHED` as done.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::transport::{Auth, Call, Reconciled, Retry, with_query};
use super::{GraphClient, GraphError, InstagramAccount, Response};
use crate::ids::MediaId;

/// Meta's limit on items in one carousel.
pub const MAX_CAROUSEL_CHILDREN: usize = 10;

/// A story is one image or one video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoryMedia<'a> {
    Image(&'a str),
    Video(&'a str),
}

/// One item of a carousel, created before the carousel itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CarouselItem<'a> {
    Image(&'a str),
    Video(&'a str),
}

/// What a media container holds. Media URLs must be public: Meta downloads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerSpec<'a> {
    Image {
        image_url: &'a str,
        caption: Option<&'a str>,
        alt_text: Option<&'a str>,
    },
    Reel {
        video_url: &'a str,
        caption: Option<&'a str>,
        share_to_feed: Option<bool>,
        cover_url: Option<&'a str>,
        thumb_offset_ms: Option<u64>,
    },
    Story(StoryMedia<'a>),
    CarouselItem(CarouselItem<'a>),
    /// The carousel itself, from 1 to [`MAX_CAROUSEL_CHILDREN`] item containers.
    Carousel {
        children: &'a [MediaId],
        caption: Option<&'a str>,
    },
}

impl ContainerSpec<'_> {
    fn form(&self) -> Result<Vec<(&'static str, String)>, GraphError> {
        let mut form: Vec<(&'static str, String)> = Vec::new();
        let mut push = |name: &'static str, value: Option<&str>| {
            if let Some(value) = value {
                form.push((name, value.to_owned()));
            }
        };
        match *self {
            Self::Image {
                image_url,
                caption,
                alt_text,
            } => {
                push("image_url", Some(image_url));
                push("caption", caption);
                push("alt_text", alt_text);
            }
            Self::Reel {
                video_url,
                caption,
                share_to_feed,
                cover_url,
                thumb_offset_ms,
            } => {
                // `VIDEO` is deprecated for feed videos; Meta wants REELS.
                push("media_type", Some("REELS"));
                push("video_url", Some(video_url));
                push("caption", caption);
                push("share_to_feed", share_to_feed.map(bool_str));
                push("cover_url", cover_url);
                push(
                    "thumb_offset",
                    thumb_offset_ms.map(|ms| ms.to_string()).as_deref(),
                );
            }
            Self::Story(media) => {
                push("media_type", Some("STORIES"));
                match media {
                    StoryMedia::Image(url) => push("image_url", Some(url)),
                    StoryMedia::Video(url) => push("video_url", Some(url)),
                }
            }
            Self::CarouselItem(item) => {
                push("is_carousel_item", Some("true"));
                match item {
                    CarouselItem::Image(url) => push("image_url", Some(url)),
                    CarouselItem::Video(url) => {
                        push("media_type", Some("VIDEO"));
                        push("video_url", Some(url));
                    }
                }
            }
            Self::Carousel { children, caption } => {
                if children.is_empty() {
                    return Err(GraphError::InvalidInput {
                        reason: "a carousel needs at least one item".into(),
                    });
                }
                if children.len() > MAX_CAROUSEL_CHILDREN {
                    return Err(GraphError::InvalidInput {
                        reason: format!(
                            "a carousel holds at most {MAX_CAROUSEL_CHILDREN} items, not {}",
                            children.len()
                        ),
                    });
                }
                let ids: Vec<&str> = children.iter().map(MediaId::as_str).collect();
                push("media_type", Some("CAROUSEL"));
                push("children", Some(&ids.join(",")));
                push("caption", caption);
            }
        }
        Ok(form)
    }

    fn call_name(&self) -> &'static str {
        match self {
            Self::Image { .. } => "create_image_container",
            Self::Reel { .. } => "create_reel_container",
            Self::Story(_) => "create_story_container",
            Self::CarouselItem(_) => "create_carousel_item_container",
            Self::Carousel { .. } => "create_carousel_container",
        }
    }
}

fn bool_str(value: bool) -> &'static str {
    if value { "true" } else { "false" }
}

/// A container's `status_code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    InProgress,
    Finished,
    /// Processing failed; `status` names the subcode.
    Error,
    /// Not published within 24 hours.
    Expired,
    Published,
    Unknown(String),
}

impl ContainerState {
    fn parse(code: &str) -> Self {
        match code {
            "IN_PROGRESS" => Self::InProgress,
            "FINISHED" => Self::Finished,
            "ERROR" => Self::Error,
            "EXPIRED" => Self::Expired,
            "PUBLISHED" => Self::Published,
            other => Self::Unknown(other.to_owned()),
        }
    }
}

/// A container's `status_code` and `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerStatus {
    pub state: ContainerState,
    /// Meta's `status` text; on `ERROR` it carries the 2207xxx subcode.
    pub status: Option<String>,
}

impl ContainerStatus {
    /// The failure a container in `ERROR` or `EXPIRED` stands for.
    pub fn error(&self) -> Option<GraphError> {
        match self.state {
            ContainerState::Error => Some(GraphError::media(
                self.status
                    .as_deref()
                    .and_then(media_subcode_in)
                    .unwrap_or(0),
            )),
            ContainerState::Expired => Some(GraphError::media(2207020)),
            _ => None,
        }
    }
}

/// The first 2207xxx number in a status text such as "Error: 2207026" or
/// "ERROR: Media upload has failed with error code 2207003".
fn media_subcode_in(status: &str) -> Option<i64> {
    status
        .split(|c: char| !c.is_ascii_digit())
        .filter(|digits| digits.len() == 7)
        .filter_map(|digits| digits.parse::<i64>().ok())
        .find(|code| (2207000..=2207999).contains(code))
}

/// How `media_publish` may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishRetry {
    /// Publish exactly once; any failure is returned as it is.
    Never,
    /// Read the container's `status_code` first (`PUBLISHED` means done), publish, and
    /// after a transient failure read it again before each repeat (bounded by the retry
    /// policy). Costs one extra status read per publish; use it whenever the outcome of
    /// an earlier attempt is unknown (a crash or timeout after publishing).
    ReconcileWithStatus,
}

/// What `media_publish` achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Published now; persist this media id at once.
    Published(MediaId),
    /// The container was already `PUBLISHED` by an earlier attempt. Meta does not tell
    /// the media id from the container; the caller finds it among the account's media.
    AlreadyPublished,
}

/// The publishing quota of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishingLimit {
    pub quota_usage: u32,
    pub quota_total: Option<u32>,
    pub quota_duration: Option<Duration>,
}

impl PublishingLimit {
    /// Posts still allowed in the current window, when Meta said the total.
    pub fn remaining(&self) -> Option<u32> {
        self.quota_total
            .map(|total| total.saturating_sub(self.quota_usage))
    }
}

#[derive(Deserialize)]
struct IdOnly {
    id: String,
}

#[derive(Deserialize)]
struct RawStatus {
    #[serde(default)]
    status_code: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Deserialize)]
struct RawPermalink {
    #[serde(default)]
    permalink: Option<String>,
}

fn media_id(raw: String, context: &'static str) -> Result<MediaId, GraphError> {
    MediaId::parse(raw).map_err(|e| GraphError::Decode {
        context,
        detail: e.to_string(),
    })
}

impl GraphClient {
    /// Creates a media container. Sent once: a repeat would create a second container
    /// (harmless for the feed, but it counts towards Meta's 400 containers per 24 h).
    pub async fn create_container(
        &self,
        account: &InstagramAccount,
        spec: ContainerSpec<'_>,
    ) -> Result<Response<MediaId>, GraphError> {
        let name = spec.call_name();
        let call = Call::post(
            name,
            self.instagram_url(account.login, &[account.id.as_str(), "media"]),
            Auth::Bearer(&account.token),
            Retry::Once,
        )
        .for_account(&account.id)
        .form(spec.form()?);
        let response = self.execute::<IdOnly>(&call).await?;
        let usage = response.usage;
        Ok(Response {
            value: media_id(response.value.id, name)?,
            usage,
        })
    }

    /// Reads a container's `status_code` and `status` (poll about once a minute).
    pub async fn container_status(
        &self,
        account: &InstagramAccount,
        container: &MediaId,
    ) -> Result<Response<ContainerStatus>, GraphError> {
        let url = with_query(
            self.instagram_url(account.login, &[container.as_str()]),
            &[("fields", "status_code,status")],
        );
        let call = Call::get("container_status", url, Auth::Bearer(&account.token))
            .for_account(&account.id);
        let response = self.execute::<RawStatus>(&call).await?;
        response
            .value
            .status_code
            .as_deref()
            .map(ContainerState::parse)
            .ok_or_else(|| GraphError::Decode {
                context: "container_status",
                detail: "missing `status_code`".into(),
            })
            .map(|state| Response {
                value: ContainerStatus {
                    state,
                    status: response.value.status.clone(),
                },
                usage: response.usage.clone(),
            })
    }

    /// Publishes a `FINISHED` container. See [`PublishRetry`] for when it is repeated.
    pub async fn media_publish(
        &self,
        account: &InstagramAccount,
        container: &MediaId,
        retry: PublishRetry,
    ) -> Result<Response<PublishOutcome>, GraphError> {
        match retry {
            PublishRetry::Never => self.publish_once(account, container).await,
            PublishRetry::ReconcileWithStatus => {
                if let Reconciled::AlreadyDone(done) =
                    self.reconcile_publish(account, container).await?
                {
                    return Ok(done);
                }
                self.with_reconciliation(
                    || self.publish_once(account, container),
                    || async {
                        match self.reconcile_publish(account, container).await {
                            Ok(found) => Ok(found),
                            // A definite container failure ends the attempt with its cause.
                            Err(
                                err @ (GraphError::Media { .. } | GraphError::PublishQuotaReached),
                            ) => Ok(Reconciled::Failed(err)),
                            Err(err) => Err(err),
                        }
                    },
                )
                .await
            }
        }
    }

    async fn publish_once(
        &self,
        account: &InstagramAccount,
        container: &MediaId,
    ) -> Result<Response<PublishOutcome>, GraphError> {
        let call = Call::post(
            "media_publish",
            self.instagram_url(account.login, &[account.id.as_str(), "media_publish"]),
            Auth::Bearer(&account.token),
            Retry::Once,
        )
        .for_account(&account.id)
        .form(vec![("creation_id", container.as_str().to_owned())]);
        let response = self.execute::<IdOnly>(&call).await?;
        let usage = response.usage;
        Ok(Response {
            value: PublishOutcome::Published(media_id(response.value.id, "media_publish")?),
            usage,
        })
    }

    /// `PUBLISHED` -> done; `ERROR`/`EXPIRED` -> its error; otherwise publishing is
    /// still to be done.
    async fn reconcile_publish(
        &self,
        account: &InstagramAccount,
        container: &MediaId,
    ) -> Result<Reconciled<Response<PublishOutcome>>, GraphError> {
        let status = self.container_status(account, container).await?;
        if let Some(err) = status.value.error() {
            return Err(err);
        }
        Ok(match status.value.state {
            ContainerState::Published => Reconciled::AlreadyDone(Response {
                value: PublishOutcome::AlreadyPublished,
                usage: status.usage,
            }),
            _ => Reconciled::NotDone,
        })
    }

    /// Reads how much of the publishing quota (documented 100, examples 50: read it live)
    /// the account used in the last 24 hours.
    pub async fn publishing_limit(
        &self,
        account: &InstagramAccount,
    ) -> Result<Response<PublishingLimit>, GraphError> {
        let url = with_query(
            self.instagram_url(
                account.login,
                &[account.id.as_str(), "content_publishing_limit"],
            ),
            &[("fields", "quota_usage,config")],
        );
        let call = Call::get("publishing_limit", url, Auth::Bearer(&account.token))
            .for_account(&account.id);
        let response = self.execute::<Value>(&call).await?;
        let usage = response.usage;
        Ok(Response {
            value: parse_publishing_limit(&response.value)?,
            usage,
        })
    }

    /// The public link of a published media.
    pub async fn media_permalink(
        &self,
        account: &InstagramAccount,
        media: &MediaId,
    ) -> Result<Response<String>, GraphError> {
        let url = with_query(
            self.instagram_url(account.login, &[media.as_str()]),
            &[("fields", "permalink")],
        );
        let call = Call::get("media_permalink", url, Auth::Bearer(&account.token))
            .for_account(&account.id);
        let response = self.execute::<RawPermalink>(&call).await?;
        let usage = response.usage;
        let permalink = response.value.permalink.ok_or_else(|| GraphError::Decode {
            context: "media_permalink",
            detail: "missing `permalink`".into(),
        })?;
        Ok(Response {
            value: permalink,
            usage,
        })
    }
}

/// Meta answers `{"data":[{"quota_usage", "config":{...}}]}`; the reference shows the
/// entry alone. Accept both.
fn parse_publishing_limit(body: &Value) -> Result<PublishingLimit, GraphError> {
    let entry = match body.get("data") {
        Some(Value::Array(items)) => items.first().unwrap_or(&Value::Null),
        _ => body,
    };
    let number = |v: Option<&Value>| v.and_then(Value::as_u64);
    let quota_usage = number(entry.get("quota_usage")).ok_or_else(|| GraphError::Decode {
        context: "publishing_limit",
        detail: "missing `quota_usage`".into(),
    })?;
    let config = entry.get("config");
    let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    Ok(PublishingLimit {
        quota_usage: clamp(quota_usage),
        quota_total: number(config.and_then(|c| c.get("quota_total"))).map(clamp),
        quota_duration: number(config.and_then(|c| c.get("quota_duration")))
            .map(Duration::from_secs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn form(spec: ContainerSpec<'_>) -> HashMap<&'static str, String> {
        spec.form().expect("valid spec").into_iter().collect()
    }

    #[test]
    fn container_forms_follow_meta() {
        let image = form(ContainerSpec::Image {
            image_url: "https://cdn.example/a.jpg",
            caption: Some("New in store"),
            alt_text: None,
        });
        assert_eq!(image["image_url"], "https://cdn.example/a.jpg");
        assert_eq!(image["caption"], "New in store");
        assert!(!image.contains_key("media_type") && !image.contains_key("alt_text"));

        let reel = form(ContainerSpec::Reel {
            video_url: "https://cdn.example/r.mp4",
            caption: None,
            share_to_feed: Some(true),
            cover_url: None,
            thumb_offset_ms: Some(1500),
        });
        assert_eq!(reel["media_type"], "REELS");
        assert_eq!(reel["share_to_feed"], "true");
        assert_eq!(reel["thumb_offset"], "1500");

        let story = form(ContainerSpec::Story(StoryMedia::Video(
            "https://cdn.example/s.mp4",
        )));
        assert_eq!(story["media_type"], "STORIES");
        assert_eq!(story["video_url"], "https://cdn.example/s.mp4");

        let item = form(ContainerSpec::CarouselItem(CarouselItem::Video(
            "https://cdn.example/v.mp4",
        )));
        assert_eq!(item["is_carousel_item"], "true");
        assert_eq!(item["media_type"], "VIDEO");
    }

    #[test]
    fn carousel_holds_one_to_ten_items() {
        let ids: Vec<MediaId> = (1..=11)
            .map(|i| MediaId::parse(format!("1790000000000{i:02}")).expect("valid id"))
            .collect();
        let ok = form(ContainerSpec::Carousel {
            children: &ids[..10],
            caption: Some("Ten"),
        });
        assert_eq!(ok["media_type"], "CAROUSEL");
        assert_eq!(ok["children"].split(',').count(), 10);
        for children in [&ids[..], &ids[..0]] {
            let err = ContainerSpec::Carousel {
                children,
                caption: None,
            }
            .form()
            .expect_err("outside 1..=10");
            assert!(matches!(err, GraphError::InvalidInput { .. }));
        }
    }

    #[test]
    fn container_status_errors() {
        let failed = ContainerStatus {
            state: ContainerState::Error,
            status: Some("Error: Media upload has failed with error code 2207026".into()),
        };
        assert_eq!(failed.error(), Some(GraphError::media(2207026)));
        let expired = ContainerStatus {
            state: ContainerState::Expired,
            status: None,
        };
        assert_eq!(expired.error(), Some(GraphError::media(2207020)));
        let unexplained = ContainerStatus {
            state: ContainerState::Error,
            status: Some("Error".into()),
        };
        assert!(matches!(
            unexplained.error(),
            Some(GraphError::Media { subcode: 0, .. })
        ));
        assert_eq!(
            ContainerState::parse("PUBLISHED"),
            ContainerState::Published
        );
        assert_eq!(
            ContainerState::parse("NEW_STATE"),
            ContainerState::Unknown("NEW_STATE".into())
        );
    }

    #[test]
    fn publishing_limit_in_both_shapes() {
        let wrapped = serde_json::json!({"data":[{"quota_usage":2,"config":{"quota_total":50,"quota_duration":86400}}]});
        let limit = parse_publishing_limit(&wrapped).expect("documented shape");
        assert_eq!(limit.quota_usage, 2);
        assert_eq!(limit.remaining(), Some(48));
        assert_eq!(limit.quota_duration, Some(Duration::from_secs(86400)));
        let flat = serde_json::json!({"quota_usage":100,"config":{"quota_total":100}});
        assert_eq!(
            parse_publishing_limit(&flat)
                .expect("flat shape")
                .remaining(),
            Some(0)
        );
        assert!(parse_publishing_limit(&serde_json::json!({"data":[]})).is_err());
    }
}
