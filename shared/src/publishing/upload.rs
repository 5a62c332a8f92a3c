//! Files people upload into Relay's media bucket instead of hosting them: what may be
//! uploaded, how a post refers to an upload, and which post an upload serves.
//!
//! A post names an upload by `relay://uploads/<upload id>` wherever it takes a media
//! URL. Meta never sees that reference: the publisher hands it a presigned GET URL of
//! the object, made when the container is created. An upload serves one post; once that
//! post is published, failed or cancelled (or no longer uses it), the bucket's
//! lifecycle removes the file.

use serde::{Deserialize, Serialize};

use super::MediaKind;
use super::rules::{MAX_IMAGE_BYTES, MAX_REEL_BYTES, Refusal};
use crate::ids::{PostId, TenantId, UploadId};

/// How a post's media field names an upload.
pub const SCHEME: &str = "relay://uploads/";

/// The reference a post uses for `upload`.
pub fn reference(upload: &UploadId) -> String {
    format!("{SCHEME}{upload}")
}

/// The upload a media URL names: `None` for an ordinary URL, `Some(Err)` for a
/// reference whose id is malformed.
pub fn referenced(url: &str) -> Option<Result<UploadId, String>> {
    let raw = url.strip_prefix(SCHEME)?;
    Some(UploadId::parse(raw).map_err(|e| e.to_string()))
}

/// Where the object lives in the bucket: under its tenant, so no key of one tenant can
/// name another's file.
pub fn object_key(tenant: &TenantId, upload: &UploadId) -> String {
    format!("uploads/{tenant}/{upload}")
}

/// The object tag the bucket's lifecycle rules read (template.yaml, `MediaBucket`).
pub const STATE_TAG: &str = "relay-state";

/// Where an uploaded file is in its life, as its object tag says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectState {
    /// Uploaded, not yet used by a post: removed 7 days after upload if never used.
    Pending,
    /// A post waiting for its time uses it: kept.
    Scheduled,
    /// Its post is published, failed or cancelled: removed a day later.
    Done,
}

impl ObjectState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Scheduled => "scheduled",
            Self::Done => "done",
        }
    }

    /// The `x-amz-tagging` form of the tag.
    pub fn tagging(self) -> String {
        format!("{STATE_TAG}={}", self.as_str())
    }
}

/// A file uploaded (or about to be) for a post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    pub tenant_id: TenantId,
    pub upload_id: UploadId,
    pub kind: MediaKind,
    pub content_type: String,
    pub size_bytes: u64,
    /// The post that uses it; another post cannot while that one is live.
    #[serde(default)]
    pub post_id: Option<PostId>,
    pub created_by: String,
    pub created_at: i64,
    /// Bumped by every write; writes are conditional on it.
    #[serde(default)]
    pub revision: u64,
}

/// What a person asks to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest<'a> {
    pub content_type: &'a str,
    pub size_bytes: u64,
}

/// The kinds of file Relay takes, with Meta's own size limits: JPEG for Instagram
/// images, PNG and GIF for Page photos, MP4 or MOV for videos (a reel takes up to
/// 300 MB, the largest Meta allows).
pub fn check_upload(request: &UploadRequest<'_>) -> Result<MediaKind, Refusal> {
    let (kind, max) = match request.content_type.to_ascii_lowercase().as_str() {
        "image/jpeg" | "image/png" | "image/gif" => (MediaKind::Image, MAX_IMAGE_BYTES),
        "video/mp4" | "video/quicktime" => (MediaKind::Video, MAX_REEL_BYTES),
        _ => {
            return Err(Refusal {
                field: "content_type".into(),
                rule: "must be image/jpeg, image/png, image/gif, video/mp4 or video/quicktime"
                    .into(),
            });
        }
    };
    if request.size_bytes == 0 || request.size_bytes > max {
        return Err(Refusal {
            field: "size_bytes".into(),
            rule: format!("must be 1 to {max} bytes for {}", request.content_type),
        });
    }
    Ok(kind)
}

/// Whether `upload` may serve `post`: an upload serves the first post stored with it,
/// and only that one, even once the post is over (its file is then removed). `holder`
/// is the post the upload names, if that post was ever stored: a claim left by a
/// request that failed before storing its post does not count.
pub fn may_serve(
    upload: &Upload,
    post: &PostId,
    holder: Option<&super::Post>,
) -> Result<(), Refusal> {
    match (&upload.post_id, holder) {
        (None, _) | (_, None) => Ok(()),
        (Some(held), Some(_)) if held == post => Ok(()),
        (Some(held), Some(_)) => Err(Refusal {
            field: String::new(),
            rule: format!(
                "names upload {}, which belongs to post {held}; upload the file again for another post",
                upload.upload_id
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publishing::{Post, PostContent, PostStatus};

    fn upload(post: Option<&PostId>) -> Upload {
        Upload {
            tenant_id: TenantId::parse("acme").unwrap(),
            upload_id: UploadId::generate(),
            kind: MediaKind::Image,
            content_type: "image/jpeg".into(),
            size_bytes: 10,
            post_id: post.cloned(),
            created_by: "key:k".into(),
            created_at: 0,
            revision: 0,
        }
    }

    #[test]
    fn a_reference_round_trips_and_a_malformed_one_is_told_from_a_url() {
        let id = UploadId::generate();
        assert_eq!(referenced(&reference(&id)), Some(Ok(id)));
        assert_eq!(referenced("https://cdn.example/a.jpg"), None);
        assert!(matches!(referenced("relay://uploads/../x"), Some(Err(_))));
        assert!(matches!(referenced("relay://uploads/"), Some(Err(_))));
    }

    #[test]
    fn objects_are_kept_under_their_tenant() {
        let id = UploadId::parse("0190-ab").unwrap();
        let key = object_key(&TenantId::parse("acme").unwrap(), &id);
        assert_eq!(key, "uploads/acme/0190-ab");
        assert_eq!(ObjectState::Done.tagging(), "relay-state=done");
    }

    #[test]
    fn only_media_meta_takes_is_uploaded_within_its_size() {
        let ok = |t, n| {
            check_upload(&UploadRequest {
                content_type: t,
                size_bytes: n,
            })
        };
        assert_eq!(ok("image/jpeg", 1), Ok(MediaKind::Image));
        assert_eq!(ok("Video/MP4", MAX_REEL_BYTES), Ok(MediaKind::Video));
        assert_eq!(ok("application/pdf", 1).unwrap_err().field, "content_type");
        assert_eq!(ok("image/png", 0).unwrap_err().field, "size_bytes");
        let big = ok("image/jpeg", MAX_IMAGE_BYTES + 1).unwrap_err();
        assert!(big.rule.contains(&MAX_IMAGE_BYTES.to_string()), "{big}");
    }

    #[test]
    fn an_upload_serves_the_first_post_stored_with_it_and_no_other() {
        let tenant = TenantId::parse("acme").unwrap();
        let account = crate::ids::AccountId::parse("1784").unwrap();
        let mut first = Post::scheduled(tenant, account, PostContent::PageText, 1, "key:k", 0);
        let second = PostId::generate();
        assert!(may_serve(&upload(None), &second, None).is_ok());
        let held = upload(Some(&first.post_id));
        assert!(may_serve(&held, &first.post_id, Some(&first)).is_ok());
        let refused = may_serve(&held, &second, Some(&first)).unwrap_err();
        assert!(refused.rule.contains(first.post_id.as_str()), "{refused}");
        first.status = PostStatus::Cancelled;
        assert!(
            may_serve(&held, &second, Some(&first)).is_err(),
            "its file is being removed"
        );
        assert!(
            may_serve(&held, &second, None).is_ok(),
            "a post never stored"
        );
    }
}
