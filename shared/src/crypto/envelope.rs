//! KMS envelope encryption with AES-256-GCM.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::cache::{CacheLimits, DataKeyCache};
use crate::ids::{AccountId, TenantId};
use crate::secret::AccessToken;

/// The record format version; a new version may change cipher or layout, old records
/// stay readable by matching on it.
const RECORD_VERSION: u8 = 1;

/// What a sealed value is for; part of the encryption context, so a value sealed for one
/// purpose cannot be opened as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// The account's Meta access token (Instagram user token or Page token).
    AccessToken,
    /// A Facebook Login user token kept to re-list pages.
    UserToken,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "meta-access-token",
            Self::UserToken => "meta-user-token",
        }
    }
}

/// Binds a ciphertext to its owner: KMS encryption context and AEAD associated data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionContext {
    pub tenant: TenantId,
    pub account: AccountId,
    pub purpose: Purpose,
}

impl EncryptionContext {
    pub fn new(tenant: TenantId, account: AccountId, purpose: Purpose) -> Self {
        Self {
            tenant,
            account,
            purpose,
        }
    }

    /// Canonical bytes for the AEAD. Ids cannot contain `;` or `=` (see `ids`), so the
    /// encoding is unambiguous.
    fn associated_data(&self) -> String {
        format!(
            "relay:v{RECORD_VERSION};tenant={};account={};purpose={}",
            self.tenant,
            self.account,
            self.purpose.as_str()
        )
    }
}

/// Why sealing or opening failed. Never carries key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("KMS {operation} failed: {reason}")]
    Kms {
        operation: &'static str,
        reason: String,
    },
    #[error("sealed record is malformed: {0}")]
    Malformed(&'static str),
    #[error("sealed record version {0} is not supported")]
    UnsupportedVersion(u8),
    #[error("sealed record does not open under this context (wrong owner or tampered)")]
    Rejected,
}

/// The stored form: the wrapped data key, the nonce and the ciphertext (with its tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedRecord {
    #[serde(rename = "v")]
    pub version: u8,
    /// KMS key that wrapped the data key (informational; KMS finds it in the blob).
    #[serde(rename = "k")]
    pub key_id: String,
    #[serde(rename = "w", with = "b64")]
    pub wrapped_key: Vec<u8>,
    #[serde(rename = "n", with = "b64")]
    pub nonce: Vec<u8>,
    #[serde(rename = "c", with = "b64")]
    pub ciphertext: Vec<u8>,
}

impl SealedRecord {
    /// The compact JSON kept in DynamoDB.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).expect("a sealed record always serialises")
    }

    pub fn from_stored(stored: &str) -> Result<Self, CryptoError> {
        let record: Self =
            serde_json::from_str(stored).map_err(|_| CryptoError::Malformed("not a record"))?;
        if record.version != RECORD_VERSION {
            return Err(CryptoError::UnsupportedVersion(record.version));
        }
        if record.nonce.len() != 12 {
            return Err(CryptoError::Malformed("nonce is not 96 bits"));
        }
        Ok(record)
    }
}

mod b64 {
    use super::B64;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let raw = String::deserialize(d)?;
        B64.decode(raw).map_err(serde::de::Error::custom)
    }
}

/// How many times this cipher called KMS.
#[derive(Debug, Default)]
pub struct KmsCalls {
    pub generate_data_key: AtomicU64,
    pub decrypt: AtomicU64,
}

impl KmsCalls {
    pub fn total(&self) -> u64 {
        self.generate_data_key.load(Ordering::Relaxed) + self.decrypt.load(Ordering::Relaxed)
    }
}

/// Seals and opens values under KMS envelope encryption. Cheap to clone.
#[derive(Clone)]
pub struct EnvelopeCipher {
    kms: aws_sdk_kms::Client,
    key_id: String,
    cache: Option<Arc<DataKeyCache>>,
    calls: Arc<KmsCalls>,
}

impl EnvelopeCipher {
    pub fn new(kms: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self {
            kms,
            key_id: key_id.into(),
            cache: None,
            calls: Arc::default(),
        }
    }

    /// Reuse data keys within `limits` instead of calling KMS for every seal and open.
    pub fn with_cache(mut self, limits: CacheLimits) -> Self {
        self.cache = Some(Arc::new(DataKeyCache::new(limits)));
        self
    }

    pub fn kms_calls(&self) -> &KmsCalls {
        &self.calls
    }

    pub async fn seal(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<SealedRecord, CryptoError> {
        let aad = context.associated_data();
        let cache_id = format!("seal|{aad}");
        let (key, wrapped) = match self.cache.as_ref().and_then(|c| c.take(&cache_id)) {
            Some(hit) => hit,
            None => {
                let (key, wrapped) = self.generate_data_key(context).await?;
                if let Some(cache) = &self.cache {
                    cache.put(cache_id, key.clone(), wrapped.clone());
                }
                (key, wrapped)
            }
        };
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let cipher =
            Aes256Gcm::new_from_slice(key.as_slice()).expect("a KMS AES_256 data key is 32 bytes");
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Malformed("plaintext too long for AES-GCM"))?;
        Ok(SealedRecord {
            version: RECORD_VERSION,
            key_id: self.key_id.clone(),
            wrapped_key: wrapped,
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    pub async fn open(
        &self,
        record: &SealedRecord,
        context: &EncryptionContext,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if record.version != RECORD_VERSION {
            return Err(CryptoError::UnsupportedVersion(record.version));
        }
        if record.nonce.len() != 12 {
            return Err(CryptoError::Malformed("nonce is not 96 bits"));
        }
        let aad = context.associated_data();
        let cache_id = format!(
            "open|{aad}|{}",
            hex::encode(Sha256::digest(&record.wrapped_key))
        );
        let key = match self.cache.as_ref().and_then(|c| c.take(&cache_id)) {
            Some((key, _)) => key,
            None => {
                let key = self.decrypt_data_key(&record.wrapped_key, context).await?;
                if let Some(cache) = &self.cache {
                    cache.put(cache_id, key.clone(), record.wrapped_key.clone());
                }
                key
            }
        };
        let cipher =
            Aes256Gcm::new_from_slice(key.as_slice()).expect("a KMS AES_256 data key is 32 bytes");
        cipher
            .decrypt(
                Nonce::from_slice(&record.nonce),
                Payload {
                    msg: &record.ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Rejected)
    }

    /// Seal an access token into the string stored in DynamoDB.
    pub async fn seal_token(
        &self,
        token: &AccessToken,
        context: &EncryptionContext,
    ) -> Result<String, CryptoError> {
        Ok(self
            .seal(token.expose().as_bytes(), context)
            .await?
            .to_stored())
    }

    pub async fn open_token(
        &self,
        stored: &str,
        context: &EncryptionContext,
    ) -> Result<AccessToken, CryptoError> {
        let record = SealedRecord::from_stored(stored)?;
        let plain = self.open(&record, context).await?;
        let text = std::str::from_utf8(&plain).map_err(|_| CryptoError::Rejected)?;
        Ok(AccessToken::new(text))
    }

    async fn generate_data_key(
        &self,
        context: &EncryptionContext,
    ) -> Result<(Zeroizing<[u8; 32]>, Vec<u8>), CryptoError> {
        self.calls.generate_data_key.fetch_add(1, Ordering::Relaxed);
        let out = self
            .kms
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(kms_context(context)))
            .send()
            .await
            .map_err(|e| CryptoError::Kms {
                operation: "GenerateDataKey",
                reason: aws_sdk_kms::error::DisplayErrorContext(e).to_string(),
            })?;
        let plain = out.plaintext().ok_or(CryptoError::Kms {
            operation: "GenerateDataKey",
            reason: "no plaintext key returned".into(),
        })?;
        let wrapped = out.ciphertext_blob().ok_or(CryptoError::Kms {
            operation: "GenerateDataKey",
            reason: "no wrapped key returned".into(),
        })?;
        Ok((to_key(plain.as_ref())?, wrapped.as_ref().to_vec()))
    }

    async fn decrypt_data_key(
        &self,
        wrapped: &[u8],
        context: &EncryptionContext,
    ) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        self.calls.decrypt.fetch_add(1, Ordering::Relaxed);
        let out = self
            .kms
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped.to_vec()))
            .set_encryption_context(Some(kms_context(context)))
            .send()
            .await
            .map_err(|e| {
                // KMS answers InvalidCiphertextException for a wrong context or a
                // tampered blob: to the caller both mean "not yours".
                if e.as_service_error()
                    .is_some_and(|s| s.is_invalid_ciphertext_exception())
                {
                    CryptoError::Rejected
                } else {
                    CryptoError::Kms {
                        operation: "Decrypt",
                        reason: aws_sdk_kms::error::DisplayErrorContext(e).to_string(),
                    }
                }
            })?;
        let plain = out.plaintext().ok_or(CryptoError::Kms {
            operation: "Decrypt",
            reason: "no plaintext key returned".into(),
        })?;
        to_key(plain.as_ref())
    }
}

fn to_key(bytes: &[u8]) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| CryptoError::Malformed("data key is not 256 bits"))?;
    Ok(Zeroizing::new(array))
}

fn kms_context(context: &EncryptionContext) -> std::collections::HashMap<String, String> {
    std::collections::HashMap::from([
        ("tenant".to_owned(), context.tenant.to_string()),
        ("account".to_owned(), context.account.to_string()),
        ("purpose".to_owned(), context.purpose.as_str().to_owned()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_record_round_trips_and_checks_version() {
        let r = SealedRecord {
            version: 1,
            key_id: "k".into(),
            wrapped_key: vec![1, 2, 3],
            nonce: vec![0; 12],
            ciphertext: vec![4, 5],
        };
        assert_eq!(SealedRecord::from_stored(&r.to_stored()).unwrap(), r);
        let v2 = r.to_stored().replace("\"v\":1", "\"v\":2");
        assert!(matches!(
            SealedRecord::from_stored(&v2),
            Err(CryptoError::UnsupportedVersion(2))
        ));
        assert!(matches!(
            SealedRecord::from_stored("not json"),
            Err(CryptoError::Malformed(_))
        ));
    }

    #[test]
    fn contexts_differ_in_associated_data() {
        let t = TenantId::parse("t1").unwrap();
        let a = AccountId::parse("1").unwrap();
        let b = AccountId::parse("2").unwrap();
        let x = EncryptionContext::new(t.clone(), a.clone(), Purpose::AccessToken);
        let y = EncryptionContext::new(t.clone(), b, Purpose::AccessToken);
        let z = EncryptionContext::new(t, a, Purpose::UserToken);
        assert_ne!(x.associated_data(), y.associated_data());
        assert_ne!(x.associated_data(), z.associated_data());
    }
}
