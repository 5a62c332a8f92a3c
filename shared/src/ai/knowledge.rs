//! A tenant's knowledge: FAQ entries and products the AI may quote.
//!
//! Entries belong to one tenant (their key begins with it) and are validated before they
//! are stored: bounded text, an http(s) link, a price with an ISO currency, a SKU without
//! spaces. The AI states only what these entries say about prices, stock and links.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::TenantId;

/// Why an entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KnowledgeError {
    #[error("entry id must be 1-64 characters of a-z, 0-9, - and _")]
    BadId,
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("link must be an http(s) URL")]
    BadUrl,
    #[error("price must be a decimal amount and a 3-letter currency code")]
    BadPrice,
    #[error("SKU must be 1-64 characters without spaces")]
    BadSku,
    #[error("an entry has at most {max} tags")]
    TooManyTags { max: usize },
}

/// An entry's id, unique within its tenant.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(String);

impl EntryId {
    pub fn parse(value: impl Into<String>) -> Result<Self, KnowledgeError> {
        let value = value.into();
        let ok = !value.is_empty()
            && value.len() <= 64
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok {
            Ok(Self(value))
        } else {
            Err(KnowledgeError::BadId)
        }
    }

    /// A new random id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryId({})", self.0)
    }
}

impl Serialize for EntryId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EntryId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A question customers ask and the business's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faq {
    pub question: String,
    pub answer: String,
}

/// Whether a product can be bought now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    InStock,
    OutOfStock,
    Preorder,
    Discontinued,
    #[default]
    Unknown,
}

impl Availability {
    /// How the prompt and the built-in drafter say it.
    pub fn phrase(self) -> Option<&'static str> {
        match self {
            Self::InStock => Some("in stock"),
            Self::OutOfStock => Some("currently out of stock"),
            Self::Preorder => Some("available for pre-order"),
            Self::Discontinued => Some("no longer available"),
            Self::Unknown => None,
        }
    }
}

/// A price: a decimal amount and an ISO 4217 currency code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    pub amount: String,
    pub currency: String,
}

impl Price {
    pub fn parse(amount: &str, currency: &str) -> Result<Self, KnowledgeError> {
        let amount = amount.trim();
        let (whole, frac) = amount.split_once('.').unwrap_or((amount, ""));
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        let valid_amount = !whole.is_empty()
            && whole.len() <= 12
            && digits(whole)
            && frac.len() <= 4
            && digits(frac)
            && !(amount.contains('.') && frac.is_empty());
        let currency = currency.trim().to_ascii_uppercase();
        let valid_currency =
            currency.len() == 3 && currency.chars().all(|c| c.is_ascii_uppercase());
        if valid_amount && valid_currency {
            Ok(Self {
                amount: amount.to_owned(),
                currency,
            })
        } else {
            Err(KnowledgeError::BadPrice)
        }
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// A product the business sells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub name: String,
    pub sku: Option<String>,
    pub price: Option<Price>,
    #[serde(default)]
    pub availability: Availability,
    pub url: Option<String>,
    pub description: Option<String>,
}

/// What an entry holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum KnowledgeKind {
    Faq(Faq),
    Product(Product),
}

/// One knowledge entry of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnowledgeEntry {
    pub tenant_id: TenantId,
    pub entry_id: EntryId,
    pub entry: KnowledgeKind,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub updated_at: i64,
}

const MAX_SHORT: usize = 300;
const MAX_LONG: usize = 4000;
const MAX_TAGS: usize = 20;

fn check_text(value: &str, field: &'static str, max: usize) -> Result<(), KnowledgeError> {
    if value.trim().is_empty() {
        return Err(KnowledgeError::Empty { field });
    }
    if value.chars().count() > max {
        return Err(KnowledgeError::TooLong { field, max });
    }
    Ok(())
}

impl KnowledgeEntry {
    /// Check every bound; the API calls this before storing.
    pub fn validate(&self) -> Result<(), KnowledgeError> {
        match &self.entry {
            KnowledgeKind::Faq(faq) => {
                check_text(&faq.question, "question", MAX_SHORT)?;
                check_text(&faq.answer, "answer", MAX_LONG)?;
            }
            KnowledgeKind::Product(p) => {
                check_text(&p.name, "name", MAX_SHORT)?;
                if let Some(sku) = &p.sku {
                    if sku.is_empty() || sku.len() > 64 || sku.chars().any(char::is_whitespace) {
                        return Err(KnowledgeError::BadSku);
                    }
                }
                if let Some(price) = &p.price {
                    Price::parse(&price.amount, &price.currency)?;
                }
                if let Some(url) = &p.url {
                    let parsed = reqwest::Url::parse(url).map_err(|_| KnowledgeError::BadUrl)?;
                    if !matches!(parsed.scheme(), "http" | "https") || url.len() > 2000 {
                        return Err(KnowledgeError::BadUrl);
                    }
                }
                if let Some(d) = &p.description {
                    check_text(d, "description", MAX_LONG)?;
                }
            }
        }
        if self.tags.len() > MAX_TAGS {
            return Err(KnowledgeError::TooManyTags { max: MAX_TAGS });
        }
        for tag in &self.tags {
            check_text(tag, "tag", 60)?;
        }
        Ok(())
    }

    pub fn product(&self) -> Option<&Product> {
        match &self.entry {
            KnowledgeKind::Product(p) => Some(p),
            KnowledgeKind::Faq(_) => None,
        }
    }

    /// The entry as one line of the prompt's knowledge section.
    pub fn prompt_line(&self) -> String {
        match &self.entry {
            KnowledgeKind::Faq(faq) => format!("[FAQ] Q: {} A: {}", faq.question, faq.answer),
            KnowledgeKind::Product(p) => {
                let mut line = format!("[PRODUCT] {}", p.name);
                if let Some(sku) = &p.sku {
                    line.push_str(&format!(" | SKU {sku}"));
                }
                if let Some(price) = &p.price {
                    line.push_str(&format!(" | price {price}"));
                }
                if let Some(phrase) = p.availability.phrase() {
                    line.push_str(&format!(" | {phrase}"));
                }
                if let Some(url) = &p.url {
                    line.push_str(&format!(" | {url}"));
                }
                if let Some(d) = &p.description {
                    line.push_str(&format!(" | {d}"));
                }
                line
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(name: &str) -> KnowledgeEntry {
        KnowledgeEntry {
            tenant_id: TenantId::parse("acme").unwrap(),
            entry_id: EntryId::parse("p-1").unwrap(),
            entry: KnowledgeKind::Product(Product {
                name: name.into(),
                sku: Some("BOOT-42".into()),
                price: Some(Price::parse("89.90", "eur").unwrap()),
                availability: Availability::InStock,
                url: Some("https://acme.example/boots".into()),
                description: None,
            }),
            tags: vec!["shoes".into()],
            updated_at: 0,
        }
    }

    #[test]
    fn entry_ids_are_slugs() {
        assert!(EntryId::parse("faq-shipping_1").is_ok());
        for bad in ["", "Has Space", "a#b", "a/b", &"x".repeat(65)] {
            assert_eq!(EntryId::parse(bad), Err(KnowledgeError::BadId), "{bad}");
        }
        assert!(EntryId::parse(EntryId::generate().as_str()).is_ok());
    }

    #[test]
    fn prices_are_decimal_with_a_currency() {
        assert_eq!(
            Price::parse("89.90", "eur").unwrap().to_string(),
            "89.90 EUR"
        );
        assert!(Price::parse("12", "TRY").is_ok());
        for (a, c) in [
            ("", "EUR"),
            ("1.", "EUR"),
            ("1,5", "EUR"),
            ("-3", "EUR"),
            ("5", "EURO"),
            ("5", "€"),
        ] {
            assert!(Price::parse(a, c).is_err(), "{a} {c}");
        }
    }

    #[test]
    fn products_validate_links_and_skus() {
        assert_eq!(product("Trail Boot").validate(), Ok(()));
        let mut bad = product("Trail Boot");
        if let KnowledgeKind::Product(p) = &mut bad.entry {
            p.url = Some("javascript:alert(1)".into());
        }
        assert_eq!(bad.validate(), Err(KnowledgeError::BadUrl));
        let mut bad = product("Trail Boot");
        if let KnowledgeKind::Product(p) = &mut bad.entry {
            p.sku = Some("BOOT 42".into());
        }
        assert_eq!(bad.validate(), Err(KnowledgeError::BadSku));
        assert!(matches!(
            product(" ").validate(),
            Err(KnowledgeError::Empty { .. })
        ));
    }

    #[test]
    fn prompt_line_holds_the_facts() {
        let line = product("Trail Boot").prompt_line();
        for fact in [
            "Trail Boot",
            "SKU BOOT-42",
            "89.90 EUR",
            "in stock",
            "https://acme.example/boots",
        ] {
            assert!(line.contains(fact), "{fact} missing from {line}");
        }
    }

    #[test]
    fn entries_round_trip_through_json() {
        let e = product("Trail Boot");
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(r#""kind":"product""#), "{json}");
        let back: KnowledgeEntry = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }
}
