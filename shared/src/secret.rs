//! Values that must never be printed: app secrets, verify tokens, access tokens, keys.
//!
//! `Secret` holds the bytes in memory only, zeroes them on drop, and its `Debug` and
//! `Display` print a fixed placeholder, so a secret that slips into a log line or an error
//! message shows as `[redacted]` instead of its value.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A secret string (app secret, verify token, access token, API key).
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Call it only where the value is handed to its one consumer
    /// (an HMAC key, an Authorization header, an encryption call).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// A Meta access token (Instagram Login tokens start with `IGAA`, Facebook ones with `EAA`).
/// Plaintext tokens live only in memory, in this type.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(Secret);

impl AccessToken {
    pub fn new(value: impl Into<String>) -> Self {
        Self(Secret::new(value))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

impl fmt::Display for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_its_value() {
        let s = Secret::new("hunter2-app-secret");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(s.expose(), "hunter2-app-secret");
    }

    #[test]
    fn token_never_prints_its_value() {
        let t = AccessToken::new("IGAAsecretvalue");
        assert!(!format!("{t}").contains("IGAA"));
        assert!(!format!("{t:?}").contains("IGAA"));
        assert!(!format!("{:?}", Some(&t)).contains("IGAA"));
    }
}
