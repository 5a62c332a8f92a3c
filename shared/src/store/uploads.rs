//! Uploaded media: which file a tenant uploaded, and which post uses it. Writes are
//! conditional on the upload's revision, so two posts never both take one file.

use super::{IndexKeys, Store, StoreError, keys};
use crate::ids::{TenantId, UploadId};
use crate::publishing::upload::Upload;

/// Uploads are forgotten after the longest a post may wait, and a margin (the bucket's
/// lifecycle removes their files well before).
const KEEP_SECONDS: i64 = 400 * 86_400;

fn index_of(upload: &Upload) -> IndexKeys {
    IndexKeys {
        ttl: Some(upload.created_at / 1000 + KEEP_SECONDS),
        ..IndexKeys::default()
    }
}

impl Store {
    /// Record a new upload; `Conflict` if its id is taken.
    pub async fn create_upload(&self, upload: &Upload) -> Result<(), StoreError> {
        let key = keys::upload(&upload.tenant_id, &upload.upload_id);
        self.put_new(&key, &index_of(upload), upload, "upload")
            .await
    }

    pub async fn get_upload(
        &self,
        tenant: &TenantId,
        upload: &UploadId,
    ) -> Result<Option<Upload>, StoreError> {
        self.get(&keys::upload(tenant, upload)).await
    }

    /// Write `upload` as its next revision if nobody wrote it since it was read;
    /// `Conflict` when another writer came first.
    pub async fn save_upload(&self, upload: &Upload) -> Result<Upload, StoreError> {
        let mut next = upload.clone();
        next.revision = upload.revision + 1;
        let key = keys::upload(&upload.tenant_id, &upload.upload_id);
        self.put_if_revision(&key, &index_of(&next), &next, upload.revision, "upload")
            .await?;
        Ok(next)
    }
}
