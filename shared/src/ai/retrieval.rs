//! Which of a tenant's knowledge entries are relevant to a conversation.
//!
//! Ranking is Okapi BM25 (k1 = 1.2, b = 0.75) over the tenant's own entries, computed in
//! memory per job: the corpus is one tenant's entries, so term statistics never mix
//! tenants. Fields are weighted by repetition (a product's name and SKU and an FAQ's
//! question count more than descriptions and answers). The query is the customer's
//! unanswered messages at full weight plus earlier messages of the conversation at a
//! lower weight, so a follow-up ("and in black?") still finds the product discussed
//! before. A SKU written by the customer (in any spacing or case: "boot 42",
//! "BOOT-42") is an exact mention and ranks its product first.
//!
//! Text is folded before matching ([`crate::text::fold`]: case, accents, Turkish dotted
//! and dotless I), lightly stemmed for plurals, and stop words are dropped.

use std::collections::{HashMap, HashSet};

use super::knowledge::{KnowledgeEntry, KnowledgeKind};
use crate::text::fold;

const K1: f64 = 1.2;
const B: f64 = 0.75;
/// Weight of terms from earlier messages relative to the unanswered ones.
const CONTEXT_WEIGHT: f64 = 0.3;
/// Added to a product whose SKU the customer wrote.
const SKU_BONUS: f64 = 5.0;

const STOP_WORDS: &[&str] = &[
    // English
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "could", "do", "does", "for",
    "from", "have", "has", "hello", "hey", "hi", "how", "i", "if", "in", "is", "it", "its", "me",
    "my", "of", "on", "or", "please", "so", "that", "the", "there", "this", "to", "too", "was",
    "we", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your",
    "thanks", "thank", "ok", "okay", "any", "about", "im", "am", "get", "want", "need", "like",
    "also", "just", // German
    "der", "die", "das", "und", "ist", "ich", "sie", "ein", "eine", "mit", "fur", "wie",
    // French
    "le", "la", "les", "et", "est", "je", "vous", "un", "une", "pour", "des",
    // Spanish / Portuguese / Italian
    "el", "los", "las", "es", "y", "que", "para", "con", "por", "una", "um", "uma", "il", "di",
    "per", // Turkish
    "bir", "ve", "bu", "mi", "mu", "ne", "var", "ile", "icin",
];

fn stem(token: &str) -> &str {
    if token.len() > 3
        && token.ends_with('s')
        && !token.ends_with("ss")
        && !token.chars().all(|c| c.is_ascii_digit())
    {
        &token[..token.len() - 1]
    } else {
        token
    }
}

/// The folded alphanumeric runs of a text, in order, before stop words are dropped.
fn raw_tokens(text: &str) -> Vec<String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The terms of a text: folded, stemmed, without stop words and one-letter words (a lone
/// digit is kept: "size 9").
pub fn terms(text: &str) -> Vec<String> {
    raw_tokens(text)
        .into_iter()
        .filter(|t| !STOP_WORDS.contains(&t.as_str()))
        .filter(|t| t.chars().count() > 1 || t.chars().all(|c| c.is_ascii_digit()))
        .map(|t| stem(&t).to_owned())
        .collect()
}

/// A SKU reduced to its folded letters and digits ("BOOT-42" -> "boot42").
fn sku_key(sku: &str) -> String {
    fold(sku).chars().filter(|c| c.is_alphanumeric()).collect()
}

/// Whether the text writes this SKU, as one to four consecutive tokens.
fn mentions_sku(tokens: &[String], key: &str) -> bool {
    if key.chars().count() < 3 {
        return false; // too short to tell from ordinary words
    }
    (0..tokens.len()).any(|start| {
        let mut joined = String::new();
        tokens[start..].iter().take(4).any(|t| {
            joined.push_str(t);
            joined == key
        })
    })
}

/// The weighted terms of an entry, and the terms of its key fields.
fn document(entry: &KnowledgeEntry) -> (Vec<String>, HashSet<String>) {
    let mut doc = Vec::new();
    let mut key = HashSet::new();
    let mut add = |text: &str, repeat: usize, is_key: bool| {
        let t = terms(text);
        if is_key {
            key.extend(t.iter().cloned());
        }
        for _ in 0..repeat {
            doc.extend(t.iter().cloned());
        }
    };
    match &entry.entry {
        KnowledgeKind::Faq(faq) => {
            add(&faq.question, 2, true);
            add(&faq.answer, 1, false);
        }
        KnowledgeKind::Product(p) => {
            add(&p.name, 3, true);
            if let Some(sku) = &p.sku {
                add(sku, 2, true);
            }
            if let Some(d) = &p.description {
                add(d, 1, false);
            }
        }
    }
    for tag in &entry.tags {
        add(tag, 2, true);
    }
    (doc, key)
}

/// One relevant entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked<'a> {
    pub entry: &'a KnowledgeEntry,
    pub score: f64,
    /// Terms of the unanswered messages found in the entry's key fields (question, name,
    /// SKU, tags): how the built-in drafter knows the entry answers the customer.
    pub key_matches: Vec<String>,
    /// The customer wrote this product's SKU.
    pub sku_mentioned: bool,
}

/// The entries relevant to the customer's unanswered messages (`pending`) and the
/// earlier messages of the conversation (`context`), best first, at most `limit`.
/// Entries with no matching term are left out; ties keep the entries' id order.
pub fn rank<'a, P: AsRef<str>, C: AsRef<str>>(
    entries: &'a [KnowledgeEntry],
    pending: &[P],
    context: &[C],
    limit: usize,
) -> Vec<Ranked<'a>> {
    if entries.is_empty() || limit == 0 {
        return Vec::new();
    }
    let mut weights: HashMap<String, f64> = HashMap::new();
    let mut pending_terms: HashSet<String> = HashSet::new();
    let mut pending_tokens: Vec<Vec<String>> = Vec::new();
    for text in pending {
        for t in terms(text.as_ref()) {
            pending_terms.insert(t.clone());
            let w = weights.entry(t).or_default();
            *w = w.max(1.0);
        }
        pending_tokens.push(raw_tokens(text.as_ref()));
    }
    for text in context {
        for t in terms(text.as_ref()) {
            let w = weights.entry(t).or_default();
            *w = w.max(CONTEXT_WEIGHT);
        }
    }

    let docs: Vec<(Vec<String>, HashSet<String>)> = entries.iter().map(document).collect();
    let n = docs.len() as f64;
    let avgdl = (docs.iter().map(|(d, _)| d.len()).sum::<usize>() as f64 / n).max(1.0);
    let mut df: HashMap<&str, usize> = HashMap::new();
    for (doc, _) in &docs {
        let distinct: HashSet<&str> = doc.iter().map(String::as_str).collect();
        for t in distinct {
            *df.entry(t).or_default() += 1;
        }
    }

    let mut ranked: Vec<Ranked<'a>> = entries
        .iter()
        .zip(&docs)
        .filter_map(|(entry, (doc, key))| {
            let mut tf: HashMap<&str, usize> = HashMap::new();
            for t in doc {
                *tf.entry(t.as_str()).or_default() += 1;
            }
            let dl = doc.len() as f64;
            let mut score = 0.0;
            for (term, weight) in &weights {
                let Some(&f) = tf.get(term.as_str()) else {
                    continue;
                };
                let f = f as f64;
                let n_q = df.get(term.as_str()).copied().unwrap_or(0) as f64;
                let idf = (1.0 + (n - n_q + 0.5) / (n_q + 0.5)).ln();
                score += weight * idf * f * (K1 + 1.0) / (f + K1 * (1.0 - B + B * dl / avgdl));
            }
            let sku_mentioned = entry
                .product()
                .and_then(|p| p.sku.as_deref())
                .map(sku_key)
                .is_some_and(|key| pending_tokens.iter().any(|t| mentions_sku(t, &key)));
            if sku_mentioned {
                score += SKU_BONUS;
            }
            let mut key_matches: Vec<String> = pending_terms
                .iter()
                .filter(|t| key.contains(*t))
                .cloned()
                .collect();
            key_matches.sort();
            (score > 0.0).then_some(Ranked {
                entry,
                score,
                key_matches,
                sku_mentioned,
            })
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.entry.entry_id.cmp(&b.entry.entry_id))
    });
    ranked.truncate(limit);
    ranked
}

/// Whether a text mentions a product: its SKU, or every term of its name.
pub fn mentions_product(text: &str, entry: &KnowledgeEntry) -> bool {
    let Some(product) = entry.product() else {
        return false;
    };
    let tokens = raw_tokens(text);
    if let Some(sku) = &product.sku {
        if mentions_sku(&tokens, &sku_key(sku)) {
            return true;
        }
    }
    let name_terms = terms(&product.name);
    if name_terms.is_empty() {
        return false;
    }
    let text_terms: HashSet<String> = terms(text).into_iter().collect();
    name_terms.iter().all(|t| text_terms.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::knowledge::{Availability, EntryId, Faq, Price, Product};
    use crate::ids::TenantId;

    fn faq(id: &str, q: &str, a: &str) -> KnowledgeEntry {
        KnowledgeEntry {
            tenant_id: TenantId::parse("acme").unwrap(),
            entry_id: EntryId::parse(id).unwrap(),
            entry: KnowledgeKind::Faq(Faq {
                question: q.into(),
                answer: a.into(),
            }),
            tags: vec![],
            updated_at: 0,
        }
    }

    fn product(id: &str, name: &str, sku: &str) -> KnowledgeEntry {
        KnowledgeEntry {
            tenant_id: TenantId::parse("acme").unwrap(),
            entry_id: EntryId::parse(id).unwrap(),
            entry: KnowledgeKind::Product(Product {
                name: name.into(),
                sku: Some(sku.into()),
                price: Some(Price::parse("10", "EUR").unwrap()),
                availability: Availability::InStock,
                url: None,
                description: Some("Waterproof leather, sizes 36 to 46".into()),
            }),
            tags: vec![],
            updated_at: 0,
        }
    }

    fn corpus() -> Vec<KnowledgeEntry> {
        vec![
            faq(
                "shipping",
                "How long does shipping take?",
                "Orders ship within 2 business days.",
            ),
            faq(
                "returns",
                "Can I return an item?",
                "Returns are free within 30 days.",
            ),
            faq("hours", "When is the store open?", "Mon-Sat 10:00-19:00."),
            product("boot", "Trail Boot", "BOOT-42"),
            product("sandal", "Summer Sandal", "SND-7"),
        ]
    }

    fn ids(r: &[Ranked<'_>]) -> Vec<String> {
        r.iter().map(|x| x.entry.entry_id.to_string()).collect()
    }

    #[test]
    fn folding_handles_case_turkish_i_and_accents() {
        assert_eq!(fold("İNSAN Işık"), "insan isik");
        assert_eq!(fold("Café Müşteri Ñandú"), "cafe musteri nandu");
        assert_eq!(
            terms("Do you have BOOTS in size 9?"),
            vec!["boot", "size", "9"]
        );
    }

    #[test]
    fn the_relevant_entry_ranks_first_and_irrelevant_ones_are_left_out() {
        let c = corpus();
        let r = rank(&c, &["how long is shipping to Berlin?"], &[] as &[&str], 3);
        assert_eq!(ids(&r)[0], "shipping");
        assert!(!ids(&r).contains(&"returns".to_owned()));
        assert!(!ids(&r).contains(&"boot".to_owned()));
        assert_eq!(r[0].key_matches, vec!["long", "shipping"]);
    }

    #[test]
    fn a_written_sku_is_an_exact_mention() {
        let c = corpus();
        for text in [
            "is boot-42 available?",
            "BOOT 42 stock?",
            "do you have boot42",
        ] {
            let r = rank(&c, &[text], &[] as &[&str], 2);
            assert_eq!(ids(&r)[0], "boot", "{text}");
            assert!(r[0].sku_mentioned, "{text}");
        }
        let r = rank(&c, &["do you have summer sandals?"], &[] as &[&str], 2);
        assert_eq!(ids(&r)[0], "sandal");
        assert!(!r[0].sku_mentioned);
    }

    #[test]
    fn earlier_messages_give_context_at_lower_weight() {
        let c = corpus();
        // "and in size 40?" alone names no product; the earlier message does.
        let r = rank(&c, &["and in size 40?"], &["I love the trail boot"], 2);
        assert_eq!(ids(&r)[0], "boot");
        // ...but it matched no key field in the unanswered message.
        assert!(r[0].key_matches.is_empty());
        // The unanswered message outweighs the context.
        let r = rank(&c, &["can I return it?"], &["I love the trail boot"], 2);
        assert_eq!(ids(&r)[0], "returns");
    }

    #[test]
    fn nothing_matches_nothing() {
        let c = corpus();
        assert!(rank(&c, &["hi!"], &[] as &[&str], 3).is_empty());
        assert!(rank(&[], &["shipping"], &[] as &[&str], 3).is_empty());
        assert!(rank(&c, &["shipping"], &[] as &[&str], 0).is_empty());
    }

    #[test]
    fn ranking_is_deterministic() {
        let c = corpus();
        let a = ids(&rank(
            &c,
            &["boot sandal shipping return"],
            &[] as &[&str],
            5,
        ));
        for _ in 0..10 {
            assert_eq!(
                ids(&rank(
                    &c,
                    &["boot sandal shipping return"],
                    &[] as &[&str],
                    5
                )),
                a
            );
        }
        assert_eq!(a.len(), 4);
    }

    #[test]
    fn product_mentions_by_name_or_sku() {
        let boot = product("boot", "Trail Boot", "BOOT-42");
        assert!(mentions_product("The Trail Boots are great", &boot));
        assert!(mentions_product("what about boot-42", &boot));
        assert!(!mentions_product("summer sandal", &boot));
        assert!(!mentions_product("shipping", &faq("x", "boot", "boot")));
    }
}
