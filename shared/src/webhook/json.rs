//! JSON helpers shared by the webhook parsers: error locations that never quote the input,
//! and ids that Meta sends either as strings or as bare numbers.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde_json::error::Category;

/// What went wrong when a JSON document did not deserialize, described without any of its
/// content: serde_json's own messages quote the offending value ("invalid type: string
/// \"hello\""), which may be message text, so they are never shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonFault {
    /// Not JSON at all (or truncated).
    Syntax { line: usize, column: usize },
    /// Valid JSON whose value at `path` has the wrong type (`entry[0].messaging`, `.` for the
    /// top level).
    Shape {
        path: String,
        line: usize,
        column: usize,
    },
}

/// Deserializes `T` from `input`, describing a failure as a [`JsonFault`].
///
/// The fast path is plain serde_json; only on failure is the input parsed a second time
/// with path tracking, so the happy path pays nothing for precise errors.
pub(crate) fn from_str<'a, T: Deserialize<'a>>(input: &'a str) -> Result<T, JsonFault> {
    from_slice(input.as_bytes())
}

/// [`from_str`] for raw bytes (an HTTP body); invalid UTF-8 is a syntax fault.
pub(crate) fn from_slice<'a, T: Deserialize<'a>>(input: &'a [u8]) -> Result<T, JsonFault> {
    serde_json::from_slice(input).map_err(|err| describe::<T>(input, err))
}

fn describe<'a, T: Deserialize<'a>>(input: &'a [u8], err: serde_json::Error) -> JsonFault {
    let (line, column) = (err.line(), err.column());
    match err.classify() {
        Category::Data => {
            let mut de = serde_json::Deserializer::from_slice(input);
            let path = match serde_path_to_error::deserialize::<_, T>(&mut de) {
                Err(tracked) => tracked.path().to_string(),
                // Cannot happen (same input, same type), but a path-less answer is still true.
                Ok(_) => ".".to_owned(),
            };
            JsonFault::Shape { path, line, column }
        }
        Category::Syntax | Category::Eof | Category::Io => JsonFault::Syntax { line, column },
    }
}

/// An id as Meta sends it: usually a string (`"17841400000000001"`), sometimes a bare number
/// (Messenger's `app_id`, ids in older test payloads). Borrowed when no escapes are involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FlexId<'a>(pub Cow<'a, str>);

impl FlexId<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for FlexId<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IdVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for IdVisitor<'a> {
            type Value = FlexId<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id (string or unsigned integer)")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(FlexId(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(FlexId(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(FlexId(Cow::Owned(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(FlexId(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(IdVisitor(std::marker::PhantomData))
    }
}

/// A JSON string, borrowed from the input when it has no escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // read only through Debug in failing assertions
    struct Probe {
        items: Vec<Inner>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        text: Option<String>,
    }

    #[test]
    fn shape_errors_name_the_path_but_never_the_value() {
        let input = r#"{"items":[{"text":"ok"},{"text":{"secret":"private words"}}]}"#;
        let fault = from_str::<Probe>(input).unwrap_err();
        match &fault {
            JsonFault::Shape { path, .. } => assert_eq!(path, "items[1].text"),
            other => panic!("expected a shape fault, got {other:?}"),
        }
        assert!(!format!("{fault:?}").contains("private words"));
    }

    #[test]
    fn syntax_errors_give_a_location() {
        let fault = from_str::<Probe>("{\"items\": [").unwrap_err();
        assert!(matches!(fault, JsonFault::Syntax { line: 1, .. }));
    }

    #[test]
    fn ids_arrive_as_strings_or_numbers() {
        let s: FlexId = serde_json::from_str("\"123\"").unwrap();
        let n: FlexId = serde_json::from_str("123").unwrap();
        assert_eq!(s.as_str(), "123");
        assert_eq!(n.as_str(), "123");
        assert!(serde_json::from_str::<FlexId>("-1").is_err());
        assert!(serde_json::from_str::<FlexId>("{}").is_err());
    }
}
