//! Relay's media bucket (S3): presigned URLs for people to upload a post's files and for
//! Meta to fetch them, and the object tag the bucket's lifecycle rules read.
//!
//! Nothing here reads or writes a file's bytes: people PUT them straight into S3 and
//! Meta GETs them from S3, each with a URL signed for that one object and method.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{Tag, Tagging};

use crate::config::Vars;
use crate::ids::{TenantId, UploadId};
use crate::publishing::upload::{ObjectState, STATE_TAG, Upload, object_key};

/// How long an upload URL may be used.
pub const UPLOAD_URL_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// How long the URL Meta fetches a file from stays valid. It is made when the container
/// is created (Meta downloads the file then), and made again if the container is rebuilt.
/// Signed with the function's role, a URL also ends when that role's session does.
pub const DOWNLOAD_URL_LIFETIME: Duration = Duration::from_secs(6 * 3600);

/// A presigned request: the method, the URL and the headers the caller must send as they
/// are (they are part of the signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub method: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("S3 {operation} failed: {message}")]
    S3 {
        operation: &'static str,
        message: String,
    },
}

fn s3_error(operation: &'static str, e: impl std::error::Error) -> MediaError {
    // The SDK's error chain names the bucket and key, never a signature or credential.
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        message = format!("{message}: {inner}");
        source = inner.source();
    }
    MediaError::S3 { operation, message }
}

/// The bucket of uploaded media. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MediaBucket {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl MediaBucket {
    /// The bucket's name (template.yaml passes `!Ref MediaBucket`).
    pub const VAR: &'static str = "RELAY_MEDIA_BUCKET";

    /// The bucket at `bucket`. Against a local endpoint (moto) objects are addressed by
    /// path, since `<bucket>.127.0.0.1` does not resolve; on AWS by virtual host.
    pub fn new(sdk: &aws_config::SdkConfig, bucket: impl Into<String>) -> Self {
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        Self {
            s3: aws_sdk_s3::Client::from_conf(config),
            bucket: bucket.into(),
        }
    }

    /// The bucket `RELAY_MEDIA_BUCKET` names; a missing name is reported by `vars`.
    pub fn from_vars(vars: &Vars, sdk: &aws_config::SdkConfig) -> Self {
        Self::new(sdk, vars.required(Self::VAR))
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// A URL to PUT `upload`'s bytes to. Its type, size and pending tag are signed, so S3
    /// takes exactly the file that was declared.
    pub async fn upload_url(&self, upload: &Upload) -> Result<Presigned, MediaError> {
        let presigning = PresigningConfig::expires_in(UPLOAD_URL_LIFETIME)
            .map_err(|e| s3_error("presign PutObject", e))?;
        let request = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(object_key(&upload.tenant_id, &upload.upload_id))
            .content_type(&upload.content_type)
            .content_length(i64::try_from(upload.size_bytes).unwrap_or(i64::MAX))
            .tagging(ObjectState::Pending.tagging())
            .presigned(presigning)
            .await
            .map_err(|e| s3_error("presign PutObject", e))?;
        Ok(Presigned {
            method: request.method().to_owned(),
            url: request.uri().to_owned(),
            headers: request
                .headers()
                .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        })
    }

    /// A URL anyone holding it can GET the file from, for `lifetime`.
    pub async fn download_url(
        &self,
        tenant: &TenantId,
        upload: &UploadId,
        lifetime: Duration,
    ) -> Result<String, MediaError> {
        let presigning =
            PresigningConfig::expires_in(lifetime).map_err(|e| s3_error("presign GetObject", e))?;
        let request = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(object_key(tenant, upload))
            .presigned(presigning)
            .await
            .map_err(|e| s3_error("presign GetObject", e))?;
        Ok(request.uri().to_owned())
    }

    /// Tag the file with where it is in its life; the lifecycle rules act on the tag.
    pub async fn mark(
        &self,
        tenant: &TenantId,
        upload: &UploadId,
        state: ObjectState,
    ) -> Result<(), MediaError> {
        let tag = Tag::builder()
            .key(STATE_TAG)
            .value(state.as_str())
            .build()
            .map_err(|e| s3_error("PutObjectTagging", e))?;
        let tagging = Tagging::builder()
            .tag_set(tag)
            .build()
            .map_err(|e| s3_error("PutObjectTagging", e))?;
        self.s3
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(object_key(tenant, upload))
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| s3_error("PutObjectTagging", e))?;
        Ok(())
    }

    /// The file's tag, if it was uploaded (tests and operators read it).
    pub async fn state(
        &self,
        tenant: &TenantId,
        upload: &UploadId,
    ) -> Result<Option<String>, MediaError> {
        let out = self
            .s3
            .get_object_tagging()
            .bucket(&self.bucket)
            .key(object_key(tenant, upload))
            .send()
            .await;
        match out {
            Ok(out) => Ok(out
                .tag_set()
                .iter()
                .find(|t| t.key() == STATE_TAG)
                .map(|t| t.value().to_owned())),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(None),
            Err(e) => Err(s3_error("GetObjectTagging", e)),
        }
    }
}
