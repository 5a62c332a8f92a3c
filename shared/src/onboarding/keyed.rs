//! HMAC-SHA256 under a key derived for one purpose from the onboarding secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Signs and checks messages for one purpose. The key is derived with HKDF-SHA256
/// (RFC 5869: salt "relay", info the purpose), so the same secret yields unrelated keys
/// for links, states and deletion codes.
#[derive(Clone)]
pub(crate) struct Keyed {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Keyed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyed([redacted])")
    }
}

impl Keyed {
    pub(crate) fn derive(secret: &Secret, purpose: &str) -> Self {
        let kdf = Hkdf::<Sha256>::new(Some(b"relay"), secret.expose().as_bytes());
        let mut key = Zeroizing::new([0u8; 32]);
        kdf.expand(purpose.as_bytes(), key.as_mut_slice())
            .expect("32 bytes is within HKDF-SHA256's output limit");
        Self { key }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(self.key.as_slice()).expect("HMAC accepts 32-byte keys")
    }

    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 32] {
        let mut mac = self.mac();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    /// The signature of `message`, base64url without padding.
    pub(crate) fn sign_b64(&self, message: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.sign(message))
    }

    /// Constant-time check of a base64url signature (`hmac`'s `verify_slice`).
    pub(crate) fn verify_b64(&self, message: &[u8], signature_b64: &str) -> bool {
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature_b64) else {
            return false;
        };
        let mut mac = self.mac();
        mac.update(message);
        mac.verify_slice(&signature).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purposes_get_unrelated_keys() {
        let secret = Secret::new("0123456789abcdef0123456789abcdef");
        let a = Keyed::derive(&secret, "link");
        let b = Keyed::derive(&secret, "state");
        assert_ne!(a.sign(b"x"), b.sign(b"x"));
        let sig = a.sign_b64(b"hello");
        assert!(a.verify_b64(b"hello", &sig));
        assert!(!b.verify_b64(b"hello", &sig));
        assert!(!a.verify_b64(b"hellO", &sig));
        assert!(!a.verify_b64(b"hello", "not base64!"));
        assert!(!format!("{a:?}").contains(&sig));
    }
}
