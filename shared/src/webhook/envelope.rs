//! The webhook function's first, cheap look at a delivery: which platform, and which entries
//! for which accounts. Events inside the entries are not parsed here; each entry is kept as
//! the exact bytes Meta sent so it can be queued unchanged.
//!
//! Guarantees: an unknown `object` is a distinct outcome ([`Delivery::Ignored`]), not an
//! error; one entry without a usable id does not sink the others (it lands in
//! [`Envelope::invalid_entries`]); errors describe where the body is wrong, never what it says.

use std::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::Platform;
use super::json::{self, FlexId, JsonFault};
use crate::ids::{AccountId, IdError};

/// The longest unknown `object` kept for the log line saying what was ignored.
const MAX_IGNORED_OBJECT_LEN: usize = 64;

/// What a signed delivery turned out to be.
#[derive(Debug)]
pub enum Delivery {
    /// An Instagram or Messenger delivery: queue its entries.
    Accepted(Envelope),
    /// An `object` Relay does not subscribe to (`user`, `permissions`, ...): answer 200 so Meta
    /// does not retry, and drop it. `object` is cut to 64 bytes.
    Ignored { object: String },
}

/// `{"object": ..., "entry": [...]}` with each entry still raw.
#[derive(Debug)]
pub struct Envelope {
    pub platform: Platform,
    /// Entries with a valid account id, in delivery order.
    pub entries: Vec<Entry>,
    /// Entries that cannot be routed (no id, not an object). Kept so the function can count
    /// and archive them; queueing them would only feed the dead-letter queue.
    pub invalid_entries: Vec<InvalidEntry>,
}

/// One `entry[]` item: the account it is for, and its bytes as Meta sent them.
pub struct Entry {
    /// Position in the delivery's `entry` array.
    pub index: usize,
    /// `entry.id`: the Instagram professional account id or the Facebook Page id.
    pub account_id: AccountId,
    pub raw: Box<RawValue>,
}

/// An `entry[]` item that cannot be routed to an account.
pub struct InvalidEntry {
    pub index: usize,
    pub reason: EntryError,
    pub raw: Box<RawValue>,
}

/// Why an entry cannot be routed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("entry is not a JSON object")]
    NotAnObject,
    #[error("entry has no id")]
    MissingId,
    #[error("entry.id is neither a string nor a number")]
    IdNotScalar,
    #[error("entry.id is not an account id: {0}")]
    InvalidId(#[from] IdError),
}

/// Why a delivery body is not a webhook envelope at all. The function answers 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("webhook body is not valid JSON (line {line}, column {column})")]
    InvalidJson { line: usize, column: usize },
    #[error("webhook body has the wrong JSON type at `{path}` (line {line}, column {column})")]
    WrongType {
        path: String,
        line: usize,
        column: usize,
    },
    #[error("webhook body has no `{0}` field")]
    MissingField(&'static str),
}

impl From<JsonFault> for EnvelopeError {
    fn from(fault: JsonFault) -> Self {
        match fault {
            JsonFault::Syntax { line, column } => EnvelopeError::InvalidJson { line, column },
            JsonFault::Shape { path, line, column } => {
                EnvelopeError::WrongType { path, line, column }
            }
        }
    }
}

#[derive(Deserialize)]
struct RawEnvelope {
    object: Option<String>,
    entry: Option<Vec<Box<RawValue>>>,
}

#[derive(Deserialize)]
struct EntryHead<'a> {
    #[serde(borrow)]
    id: Option<FlexId<'a>>,
}

/// Parses a webhook body (after its signature was verified).
pub fn parse_envelope(body: &[u8]) -> Result<Delivery, EnvelopeError> {
    let raw: RawEnvelope = json::from_slice(body)?;
    let object = raw.object.ok_or(EnvelopeError::MissingField("object"))?;
    let Some(platform) = Platform::from_object(&object) else {
        return Ok(Delivery::Ignored {
            object: truncate(object, MAX_IGNORED_OBJECT_LEN),
        });
    };
    let items = raw.entry.ok_or(EnvelopeError::MissingField("entry"))?;
    let mut entries = Vec::with_capacity(items.len());
    let mut invalid_entries = Vec::new();
    for (index, raw) in items.into_iter().enumerate() {
        match entry_account(&raw) {
            Ok(account_id) => entries.push(Entry {
                index,
                account_id,
                raw,
            }),
            Err(reason) => invalid_entries.push(InvalidEntry { index, reason, raw }),
        }
    }
    Ok(Delivery::Accepted(Envelope {
        platform,
        entries,
        invalid_entries,
    }))
}

fn entry_account(raw: &RawValue) -> Result<AccountId, EntryError> {
    // A RawValue starts at its first significant byte.
    if !raw.get().starts_with('{') {
        return Err(EntryError::NotAnObject);
    }
    let head: EntryHead = serde_json::from_str(raw.get()).map_err(|_| EntryError::IdNotScalar)?;
    let id = head.id.ok_or(EntryError::MissingId)?;
    Ok(AccountId::parse(id.as_str())?)
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

// Entries carry user content: their Debug shows where they are, not what they say.
impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("index", &self.index)
            .field("account_id", &self.account_id)
            .field("bytes", &self.raw.get().len())
            .finish()
    }
}

impl fmt::Debug for InvalidEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvalidEntry")
            .field("index", &self.index)
            .field("reason", &self.reason)
            .field("bytes", &self.raw.get().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::fixtures;

    fn accepted(body: &str) -> Envelope {
        match parse_envelope(body.as_bytes()) {
            Ok(Delivery::Accepted(envelope)) => envelope,
            other => panic!("expected an accepted envelope, got {other:?}"),
        }
    }

    #[test]
    fn every_fixture_is_an_accepted_envelope_with_routable_entries() {
        for (name, body) in fixtures::ALL {
            let envelope = accepted(body);
            assert!(!envelope.entries.is_empty(), "{name}: no entries");
            assert!(
                envelope.invalid_entries.is_empty(),
                "{name}: invalid entries {:?}",
                envelope.invalid_entries
            );
            let expected = if name.starts_with("messenger") {
                Platform::Messenger
            } else {
                Platform::Instagram
            };
            assert_eq!(envelope.platform, expected, "{name}");
        }
    }

    #[test]
    fn entries_keep_their_exact_bytes_and_order() {
        let envelope = accepted(fixtures::IG_BATCH);
        assert_eq!(envelope.entries.len(), 3);
        let value: serde_json::Value = serde_json::from_str(fixtures::IG_BATCH).unwrap();
        for (i, entry) in envelope.entries.iter().enumerate() {
            assert_eq!(entry.index, i);
            assert_eq!(
                Some(entry.account_id.as_str()),
                value["entry"][i]["id"].as_str()
            );
            // The raw slice is a substring of the body: nothing was re-serialised.
            assert!(fixtures::IG_BATCH.contains(entry.raw.get()));
        }
    }

    #[test]
    fn unicode_escapes_survive_untouched() {
        let envelope = accepted(fixtures::IG_MESSAGE_UNICODE);
        assert!(envelope.entries[0].raw.get().contains("\\u00e4"));
    }

    #[test]
    fn unknown_objects_are_ignored_not_rejected() {
        let delivery =
            parse_envelope(br#"{"object":"user","entry":[{"id":"1","time":1}]}"#).unwrap();
        assert!(matches!(delivery, Delivery::Ignored { ref object } if object == "user"));
        // Even without entries: Meta must get its 200 either way.
        let delivery = parse_envelope(br#"{"object":"whatsapp_business_account"}"#).unwrap();
        assert!(matches!(delivery, Delivery::Ignored { .. }));
        let long = format!(r#"{{"object":"{}","entry":[]}}"#, "x".repeat(500));
        match parse_envelope(long.as_bytes()).unwrap() {
            Delivery::Ignored { object } => assert_eq!(object.len(), MAX_IGNORED_OBJECT_LEN),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_empty_entry_list_is_accepted() {
        let envelope = accepted(r#"{"object":"page","entry":[]}"#);
        assert_eq!(envelope.platform, Platform::Messenger);
        assert!(envelope.entries.is_empty());
    }

    #[test]
    fn malformed_bodies_get_a_precise_reason() {
        let cases: [(&[u8], EnvelopeError); 7] = [
            (
                b"not json",
                EnvelopeError::InvalidJson { line: 1, column: 2 },
            ),
            (
                br#"{"object":"instagram","entry":["#,
                EnvelopeError::InvalidJson {
                    line: 1,
                    column: 31,
                },
            ),
            (
                b"{\"object\":\"instagram\",\"entry\":[]} trailing",
                EnvelopeError::InvalidJson {
                    line: 1,
                    column: 35,
                },
            ),
            (br#"{"entry":[]}"#, EnvelopeError::MissingField("object")),
            (
                br#"{"object":"instagram"}"#,
                EnvelopeError::MissingField("entry"),
            ),
            (
                br#"{"object":"instagram","entry":{"id":"1"}}"#,
                EnvelopeError::WrongType {
                    path: "entry".into(),
                    line: 1,
                    column: 30,
                },
            ),
            (
                br#"{"object":7,"entry":[]}"#,
                EnvelopeError::WrongType {
                    path: "object".into(),
                    line: 1,
                    column: 11,
                },
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                parse_envelope(body).unwrap_err(),
                expected,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(matches!(
            parse_envelope(b"[1,2]").unwrap_err(),
            EnvelopeError::WrongType { .. }
        ));
        assert!(matches!(
            parse_envelope(b"{\"object\":\"page\",\"entry\":[],\"entry\":[]}").unwrap_err(),
            EnvelopeError::WrongType { .. }
        ));
        assert!(matches!(
            parse_envelope(b"\xff\xfe").unwrap_err(),
            EnvelopeError::InvalidJson { .. }
        ));
    }

    #[test]
    fn error_messages_never_quote_the_body() {
        let body = br#"{"object":"instagram","entry":"my secret message text"}"#;
        let err = parse_envelope(body).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert!(!format!("{err:?}").contains("secret"));
    }

    #[test]
    fn one_unroutable_entry_does_not_sink_the_others() {
        let body = r#"{"object":"instagram","entry":[
            {"id":"17841400000000001","time":1,"messaging":[]},
            {"time":2,"messaging":[]},
            {"id":"17841400000000001#x","time":3},
            "text",
            {"id":{"nested":true}},
            {"id":17841400000000002,"time":4}
        ]}"#;
        let envelope = accepted(body);
        let routed: Vec<_> = envelope
            .entries
            .iter()
            .map(|e| (e.index, e.account_id.as_str().to_owned()))
            .collect();
        assert_eq!(
            routed,
            vec![
                (0, "17841400000000001".to_owned()),
                (5, "17841400000000002".to_owned())
            ]
        );
        let reasons: Vec<_> = envelope
            .invalid_entries
            .iter()
            .map(|e| (e.index, e.reason.clone()))
            .collect();
        assert_eq!(reasons[0], (1, EntryError::MissingId));
        assert!(matches!(reasons[1], (2, EntryError::InvalidId(_))));
        assert_eq!(reasons[2], (3, EntryError::NotAnObject));
        assert_eq!(reasons[3], (4, EntryError::IdNotScalar));
    }

    #[test]
    fn debug_output_hides_entry_content() {
        let envelope = accepted(fixtures::IG_MESSAGE_TEXT);
        let debug = format!("{envelope:?}");
        assert!(!debug.contains("mid"), "{debug}");
        assert!(debug.contains("17841400000000001"));
    }
}
