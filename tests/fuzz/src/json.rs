//! JSON documents that can say what `serde_json::Value` cannot (duplicate keys, numbers
//! of any size, invalid text), the changes a fuzz target makes to them, and the
//! strategies that build both from a target's own vocabulary.

use proptest::prelude::*;
use serde_json::Value;

/// A JSON document, as written rather than as parsed.
#[derive(Clone, Debug)]
pub enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
    /// Put into the document verbatim.
    Raw(String),
}

impl Json {
    pub fn of(value: &Value) -> Json {
        match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Num(n.to_string()),
            Value::String(s) => Json::Str(s.clone()),
            Value::Array(items) => Json::Arr(items.iter().map(Json::of).collect()),
            Value::Object(map) => {
                Json::Obj(map.iter().map(|(k, v)| (k.clone(), Json::of(v))).collect())
            }
        }
    }

    /// The document's text; with `ascii`, every non-ASCII character of its strings as
    /// `\uXXXX`, as Meta sends them.
    pub fn render(&self, ascii: bool) -> String {
        let mut out = String::new();
        self.write(&mut out, ascii);
        out
    }

    fn write(&self, out: &mut String, ascii: bool) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n) | Json::Raw(n) => out.push_str(n),
            Json::Str(s) => write_str(out, s, ascii),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out, ascii);
                }
                out.push(']');
            }
            Json::Obj(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, key, ascii);
                    out.push(':');
                    value.write(out, ascii);
                }
                out.push('}');
            }
        }
    }

    fn count(&self) -> usize {
        1 + match self {
            Json::Arr(items) => items.iter().map(Json::count).sum(),
            Json::Obj(members) => members.iter().map(|(_, v)| v.count()).sum(),
            _ => 0,
        }
    }

    /// The `n`th node in document order (0 is the root).
    fn node(&mut self, n: &mut usize) -> Option<&mut Json> {
        if *n == 0 {
            return Some(self);
        }
        *n -= 1;
        match self {
            Json::Arr(items) => {
                for item in items.iter_mut() {
                    if let Some(found) = item.node(n) {
                        return Some(found);
                    }
                }
                None
            }
            Json::Obj(members) => {
                for (_, value) in members.iter_mut() {
                    if let Some(found) = value.node(n) {
                        return Some(found);
                    }
                }
                None
            }
            _ => None,
        }
    }

    /// Applies each mutation at its node (an index taken modulo the document's size).
    pub fn mutate(&mut self, mutations: &[(usize, Mutation)]) {
        for (at, mutation) in mutations {
            mutation.apply(self, *at);
        }
    }
}

/// A JSON string; with `ascii`, every non-ASCII character as `\uXXXX`.
fn write_str(out: &mut String, s: &str, ascii: bool) {
    let quoted = serde_json::to_string(s).expect("a string always serialises");
    if !ascii {
        out.push_str(&quoted);
        return;
    }
    for c in quoted.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
}

/// A change to one node of a document.
#[derive(Clone, Debug)]
pub enum Mutation {
    /// The node becomes another value, maybe of another type.
    Replace(Json),
    /// A member or element goes.
    Remove(usize),
    /// A member appears twice with the same key (same value, or another), or an element
    /// twice.
    DuplicateKey(usize, Option<Json>),
    /// A member gets another key.
    Rename(usize, String),
    /// A member or element is added.
    Insert(String, Json),
    /// The node is buried this deep (as text).
    Nest(usize, Nesting),
}

/// What `Mutation::Nest` buries a node under.
#[derive(Clone, Copy, Debug)]
pub enum Nesting {
    Arrays,
    /// Objects, each with this one key.
    Objects(&'static str),
}

impl Mutation {
    fn apply(&self, root: &mut Json, at: usize) {
        let mut n = at % root.count();
        let node = root.node(&mut n).expect("the index is within the document");
        match (self, node) {
            (Mutation::Replace(value), node) => *node = value.clone(),
            (Mutation::Remove(k), Json::Obj(members)) if !members.is_empty() => {
                members.remove(k % members.len());
            }
            (Mutation::Remove(k), Json::Arr(items)) if !items.is_empty() => {
                items.remove(k % items.len());
            }
            (Mutation::DuplicateKey(k, value), Json::Obj(members)) if !members.is_empty() => {
                let (key, old) = members[k % members.len()].clone();
                members.push((key, value.clone().unwrap_or(old)));
            }
            (Mutation::DuplicateKey(k, _), Json::Arr(items)) if !items.is_empty() => {
                items.push(items[k % items.len()].clone());
            }
            (Mutation::Rename(k, key), Json::Obj(members)) if !members.is_empty() => {
                let len = members.len();
                members[k % len].0 = key.clone();
            }
            (Mutation::Insert(key, value), Json::Obj(members)) => {
                members.push((key.clone(), value.clone()))
            }
            (Mutation::Insert(_, value), Json::Arr(items)) => items.push(value.clone()),
            (Mutation::Nest(depth, nesting), node) => {
                // As text: a tree this deep would overflow the stack of whoever walks it.
                let (open, close) = match nesting {
                    Nesting::Arrays => ("[".to_owned(), "]"),
                    Nesting::Objects(key) => (format!("{{\"{key}\":"), "}"),
                };
                let inner = node.render(false);
                *node = Json::Raw(format!(
                    "{}{inner}{}",
                    open.repeat(*depth),
                    close.repeat(*depth)
                ));
            }
            _ => {}
        }
    }
}

/// What a target's documents are made of: the numbers, text and raw tokens that mean
/// something to the code under test, and the keys it reads.
pub struct Vocabulary {
    pub number: BoxedStrategy<String>,
    pub text: BoxedStrategy<String>,
    /// Put into documents verbatim: almost-JSON.
    pub raw: BoxedStrategy<String>,
    pub key: BoxedStrategy<String>,
    /// The key of the objects `Mutation::Nest` buries a node under.
    pub nest_key: &'static str,
}

impl Vocabulary {
    /// Documents up to four levels deep of the vocabulary's leaves and keys.
    pub fn json(&self) -> BoxedStrategy<Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            self.number.clone().prop_map(Json::Num),
            self.text.clone().prop_map(Json::Str),
            self.raw.clone().prop_map(Json::Raw),
        ];
        let key = self.key.clone();
        leaf.prop_recursive(4, 24, 5, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Json::Arr),
                prop::collection::vec((key.clone(), inner), 0..5).prop_map(Json::Obj),
            ]
        })
        .boxed()
    }

    pub fn mutation(&self) -> BoxedStrategy<Mutation> {
        let nest_key = self.nest_key;
        let nesting = move |arrays| {
            if arrays {
                Nesting::Arrays
            } else {
                Nesting::Objects(nest_key)
            }
        };
        prop_oneof![
            4 => self.json().prop_map(Mutation::Replace),
            3 => any::<usize>().prop_map(Mutation::Remove),
            2 => (any::<usize>(), prop::option::of(self.json()))
                .prop_map(|(k, v)| Mutation::DuplicateKey(k, v)),
            2 => (any::<usize>(), self.key.clone()).prop_map(|(k, key)| Mutation::Rename(k, key)),
            3 => (self.key.clone(), self.json()).prop_map(|(k, v)| Mutation::Insert(k, v)),
            1 => (prop_oneof![1usize..8, 120usize..140, 1000usize..3000], any::<bool>())
                .prop_map(move |(depth, arrays)| Mutation::Nest(depth, nesting(arrays))),
        ]
        .boxed()
    }
}
