//! Media uploads: a person who has no public URL for a post's file asks for an upload
//! URL, PUTs the file straight into Relay's media bucket, and names it in the post as
//! `relay://uploads/<upload id>`. The bytes never pass through the API.
//!
//! An upload serves the first post stored with it. The checks a post's media meets when
//! it is scheduled (the file arrived, its type and size) read the file through a
//! presigned GET, as Meta will.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use relay::audit::AuditEntry;
use relay::ids::{PostId, UploadId};
use relay::media::UPLOAD_URL_LIFETIME;
use relay::publishing::upload::{self, ObjectState, Upload, UploadRequest};
use relay::publishing::{MediaKind, PostContent, Refusal};
use relay::store::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::Body;
use crate::App;
use crate::access::Member;
use crate::problem::{ApiResult, Problem};

/// A file to upload.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUpload {
    /// `image/jpeg` (Instagram images), `image/png` or `image/gif` (Page photos),
    /// `video/mp4` or `video/quicktime`.
    pub content_type: String,
    /// The file's exact size: S3 takes only a file of this size.
    pub size_bytes: u64,
}

/// The request that uploads the file: send it as given, headers included (they are
/// part of the signature).
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadRequestView {
    pub method: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    /// Epoch ms after which the URL no longer works.
    pub expires_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadView {
    pub upload_id: String,
    /// What a post's media field takes to use this file.
    pub url: String,
    /// `image` or `video`.
    #[schema(value_type = String)]
    pub kind: MediaKind,
    pub content_type: String,
    pub size_bytes: u64,
    pub upload: UploadRequestView,
}

#[utoipa::path(post, path = "/v1/media", tag = "media",
    params(("Idempotency-Key" = Option<String>, Header, description = "Hands out one upload per key and body within 24 h")),
    request_body = NewUpload,
    responses((status = 201, body = UploadView),
        (status = 422, description = "A type Meta does not take, or a size over its limit", body = crate::problem::Problem)))]
pub async fn create(
    State(app): State<Arc<App>>,
    member: Member,
    Body(body): Body<NewUpload>,
) -> ApiResult<(StatusCode, Json<UploadView>)> {
    let request = UploadRequest {
        content_type: &body.content_type,
        size_bytes: body.size_bytes,
    };
    let kind =
        upload::check_upload(&request).map_err(|r| Problem::invalid_field(&r.field, r.rule))?;
    let now = app.clock.now_ms();
    let upload = Upload {
        tenant_id: member.tenant.clone(),
        upload_id: UploadId::generate(),
        kind,
        content_type: body.content_type.to_ascii_lowercase(),
        size_bytes: body.size_bytes,
        post_id: None,
        created_by: member.actor(),
        created_at: now,
        revision: 0,
    };
    app.store.create_upload(&upload).await?;
    let signed = app
        .uploads
        .upload_url(&upload)
        .await
        .map_err(|e| Problem::internal("media", &e))?;
    app.audit
        .append(
            &member.tenant,
            AuditEntry::new(member.actor(), "media.upload_created")
                .target(format!("upload:{}", upload.upload_id))
                .details(json!({
                    "content_type": upload.content_type,
                    "size_bytes": upload.size_bytes,
                })),
        )
        .await
        .map_err(|e| Problem::internal("audit", &e))?;
    let lifetime = i64::try_from(UPLOAD_URL_LIFETIME.as_millis()).unwrap_or(i64::MAX);
    Ok((
        StatusCode::CREATED,
        Json(UploadView {
            url: upload::reference(&upload.upload_id),
            upload_id: upload.upload_id.to_string(),
            kind,
            content_type: upload.content_type,
            size_bytes: upload.size_bytes,
            upload: UploadRequestView {
                method: signed.method,
                url: signed.url,
                headers: signed.headers,
                expires_at: now + lifetime,
            },
        }),
    ))
}

fn refused(field: &str, rule: impl Into<String>) -> Problem {
    Problem::invalid_field(field, rule)
}

/// The uploads a post's content names, checked against the tenant's records: each
/// exists in this tenant, is of the field's kind, and may serve `post`. Returns where
/// the media check fetches each one (a presigned GET of its file).
pub async fn for_post(
    app: &App,
    member: &Member,
    content: &PostContent,
    post: &PostId,
) -> ApiResult<(Vec<Upload>, HashMap<String, String>)> {
    let mut uploads: Vec<Upload> = Vec::new();
    let mut fetch_at = HashMap::new();
    for (field, kind, url) in content.media_fields() {
        let Some(id) = upload::referenced(url) else {
            continue;
        };
        let id = id.map_err(|why| refused(&field, format!("names no upload ({why})")))?;
        if uploads.iter().any(|u| u.upload_id == id) {
            continue;
        }
        let found = app
            .store
            .get_upload(&member.tenant, &id)
            .await?
            .ok_or_else(|| {
                refused(
                    &field,
                    format!("names upload {id}, which this tenant does not have"),
                )
            })?;
        if found.kind != kind {
            let (is, wanted) = match kind {
                MediaKind::Image => ("a video", "an image"),
                MediaKind::Video => ("an image", "a video"),
            };
            return Err(refused(
                &field,
                format!("names upload {id}, which is {is}; this field takes {wanted}"),
            ));
        }
        let holder = match &found.post_id {
            Some(held) if held != post => app.store.get_post(&member.tenant, held).await?,
            _ => None,
        };
        upload::may_serve(&found, post, holder.as_ref())
            .map_err(|Refusal { rule, .. }| refused(&field, rule))?;
        let url_now = app
            .uploads
            .download_url(&member.tenant, &id, UPLOAD_URL_LIFETIME)
            .await
            .map_err(|e| Problem::internal("media", &e))?;
        fetch_at.insert(url.to_owned(), url_now);
        uploads.push(found);
    }
    Ok((uploads, fetch_at))
}

/// Give each upload to `post` (before the post is stored, so a failed request leaves a
/// claim that [`upload::may_serve`] sees through) and tag its file as in use.
pub async fn claim(app: &App, uploads: Vec<Upload>, post: &PostId) -> ApiResult<()> {
    for mut upload in uploads {
        if upload.post_id.as_ref() != Some(post) {
            upload.post_id = Some(post.clone());
            match app.store.save_upload(&upload).await {
                Ok(_) => {}
                Err(StoreError::Conflict { .. }) => {
                    return Err(Problem::conflict(
                        "upload-taken",
                        format!("upload {} was just given to another post", upload.upload_id),
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        app.uploads
            .mark(&upload.tenant_id, &upload.upload_id, ObjectState::Scheduled)
            .await
            .map_err(|e| Problem::internal("media", &e))?;
    }
    Ok(())
}

/// The post no longer uses these uploads (cancelled, or its media replaced): their files
/// are tagged for the bucket's lifecycle to remove. The post's change is stored already,
/// so a file that cannot be tagged is left to the lifecycle's catch-all rule.
pub async fn release(app: &App, member: &Member, uploads: &[UploadId]) {
    for id in uploads {
        if let Err(e) = app
            .uploads
            .mark(&member.tenant, id, ObjectState::Done)
            .await
        {
            tracing::warn!(error = %e, upload_id = %id, "upload not marked done");
        }
    }
}
