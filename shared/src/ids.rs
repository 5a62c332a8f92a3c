//! Identifier newtypes, parsed at the edge.
//!
//! Every id that reaches a DynamoDB key or a Graph API path is one of these types, so a
//! value from a webhook, an API body or an SQS message is checked once (charset and
//! length) and can never smuggle a key separator (`#`) or a path segment (`/`) inside.
//! Customer ids are personal data: their `Debug` and `Display` print a short fingerprint,
//! never the id itself, so they can appear in spans without leaking.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} is empty")]
    Empty { kind: &'static str },
    #[error("{kind} is longer than {max} characters")]
    TooLong { kind: &'static str, max: usize },
    #[error("{kind} contains a character outside {allowed}")]
    BadCharacter {
        kind: &'static str,
        allowed: &'static str,
    },
}

fn check(
    value: &str,
    kind: &'static str,
    max: usize,
    allowed: &'static str,
    ok: fn(char) -> bool,
) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > max {
        return Err(IdError::TooLong { kind, max });
    }
    if !value.chars().all(ok) {
        return Err(IdError::BadCharacter { kind, allowed });
    }
    Ok(())
}

fn digit(c: char) -> bool {
    c.is_ascii_digit()
}

fn slug(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '=' | ':' | '+')
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr, $allowed:literal, $ok:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                check(&value, $kind, $max, $allowed, $ok)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(raw).map_err(serde::de::Error::custom)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

macro_rules! plain_display {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

id_type!(
    /// A Relay tenant (a business, or an agency serving many brands).
    TenantId, "tenant id", 64, "a-z, 0-9 and -", slug
);
plain_display!(TenantId);

id_type!(
    /// A connected Meta account: the Instagram professional account id (the `entry.id` of
    /// Instagram webhooks) or the Facebook Page id.
    AccountId, "account id", 32, "0-9", digit
);
plain_display!(AccountId);

id_type!(
    /// The person on the other side of a conversation: an IGSID or a PSID. Personal data.
    CustomerId, "customer id", 32, "0-9", digit
);

id_type!(
    /// Meta's message id (`mid`).
    MessageId, "message id", 512, "A-Z, a-z, 0-9 and _-.=:+", token_char
);
plain_display!(MessageId);

id_type!(
    /// Meta's comment id.
    CommentId, "comment id", 64, "0-9 and _", |c: char| c.is_ascii_digit() || c == '_'
);
plain_display!(CommentId);

id_type!(
    /// Meta's media id (a published post, reel or story) or container id.
    MediaId, "media id", 64, "0-9 and _", |c: char| c.is_ascii_digit() || c == '_'
);
plain_display!(MediaId);

id_type!(
    /// A scheduled post in Relay.
    PostId, "post id", 64, "a-z, 0-9 and -", slug
);
plain_display!(PostId);

id_type!(
    /// A file uploaded into Relay's media bucket for a post.
    UploadId, "upload id", 64, "a-z, 0-9 and -", slug
);
plain_display!(UploadId);

impl UploadId {
    /// A new time-ordered upload id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

impl PostId {
    /// A new time-ordered post id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

impl CustomerId {
    /// A short, stable fingerprint for logs: correlates lines without revealing the id.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.0.as_bytes());
        format!("c-{}", hex::encode(&digest[..4]))
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fingerprint())
    }
}

impl fmt::Debug for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomerId({})", self.fingerprint())
    }
}

/// A conversation is one customer talking to one connected account.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct ConversationId {
    pub account: AccountId,
    pub customer: CustomerId,
}

impl ConversationId {
    pub fn new(account: AccountId, customer: CustomerId) -> Self {
        Self { account, customer }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tenant_ids_are_slugs() {
        assert!(TenantId::parse("acme-shop").is_ok());
        assert_eq!(
            TenantId::parse("").unwrap_err(),
            IdError::Empty { kind: "tenant id" }
        );
        assert!(matches!(
            TenantId::parse("Acme#1"),
            Err(IdError::BadCharacter { .. })
        ));
        assert!(matches!(
            TenantId::parse("a".repeat(65)),
            Err(IdError::TooLong { .. })
        ));
    }

    #[test]
    fn account_and_customer_ids_are_numeric() {
        assert!(AccountId::parse("17841400000000001").is_ok());
        assert!(AccountId::parse("1784/..").is_err());
        assert!(CustomerId::parse("abc").is_err());
    }

    #[test]
    fn customer_id_never_prints_itself() {
        let c = CustomerId::parse("998877665544").unwrap();
        assert!(!format!("{c}").contains("998877665544"));
        assert!(!format!("{c:?}").contains("998877665544"));
        assert_eq!(c.as_str(), "998877665544");
        assert_eq!(c.fingerprint(), c.fingerprint());
    }

    #[test]
    fn ids_deserialize_through_the_parser() {
        let ok: Result<AccountId, _> = serde_json::from_str("\"123\"");
        assert!(ok.is_ok());
        let bad: Result<AccountId, _> = serde_json::from_str("\"12#3\"");
        assert!(bad.is_err());
    }

    proptest! {
        #[test]
        fn no_id_can_hold_a_key_separator(s in ".*") {
            for parsed in [
                TenantId::parse(s.clone()).map(|v| v.as_str().to_owned()),
                AccountId::parse(s.clone()).map(|v| v.as_str().to_owned()),
                MessageId::parse(s.clone()).map(|v| v.as_str().to_owned()),
                CommentId::parse(s.clone()).map(|v| v.as_str().to_owned()),
            ].into_iter().flatten() {
                prop_assert!(!parsed.contains('#') && !parsed.contains('/'));
            }
        }
    }
}
