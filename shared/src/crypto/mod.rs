//! Envelope encryption for tokens and other secrets at rest.
//!
//! Each seal asks KMS for a fresh AES-256 data key (GenerateDataKey) bound to an
//! encryption context {tenant, account, purpose}, encrypts locally with AES-256-GCM under
//! a random 96-bit nonce, and binds the same context as the AEAD associated data. Only the
//! KMS-wrapped data key is stored, next to the ciphertext, in a versioned record. Opening
//! checks the context twice: KMS refuses to unwrap the key under another context, and
//! AES-GCM refuses a ciphertext whose associated data differs.
//!
//! An optional [`DataKeyCache`] lets a busy function reuse a data key for the same context
//! for a bounded time and number of uses, so it does not call KMS for every token.

mod cache;
mod envelope;

pub use cache::{CacheLimits, DataKeyCache};
pub use envelope::{
    CryptoError, EncryptionContext, EnvelopeCipher, KmsCalls, Purpose, SealedRecord,
};
