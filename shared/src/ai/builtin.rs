//! The built-in drafter: deterministic answers from the tenant's knowledge entries, so
//! the product works offline and in tests without any LLM.
//!
//! It answers only what an entry answers: an entry qualifies when a word of the
//! customer's unanswered messages appears in its key fields (an FAQ's question, a
//! product's name or SKU, its tags) or the customer wrote the product's SKU. Up to three
//! qualifying entries are answered, best ranked first: an FAQ with its answer, a product
//! with its price, availability and link. With none, it cannot help, and the
//! conversation goes to a person (who is announced by the hand-off message).

use std::time::Instant as StdInstant;

use futures::future::BoxFuture;
use tokio::time::Instant;

use super::drafter::{DraftError, DraftReply, Drafter, ReplyKind};
use super::knowledge::KnowledgeKind;
use super::prompt::{Grounding, Prompt};

/// The model name recorded for built-in replies.
pub const BUILTIN_MODEL: &str = "relay-builtin-1";

const MAX_ANSWERS: usize = 3;

/// Deterministic drafter grounded in the knowledge entries of the prompt.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinDrafter;

fn qualifies(g: &Grounding) -> bool {
    g.sku_mentioned || !g.key_matches.is_empty()
}

fn sentence(g: &Grounding) -> String {
    match &g.entry.entry {
        KnowledgeKind::Faq(faq) => {
            let answer = faq.answer.trim();
            if answer.ends_with(['.', '!', '?']) {
                answer.to_owned()
            } else {
                format!("{answer}.")
            }
        }
        KnowledgeKind::Product(p) => {
            let mut s = p.name.trim().to_owned();
            if let Some(sku) = &p.sku {
                s.push_str(&format!(" (SKU {sku})"));
            }
            let mut facts = Vec::new();
            if let Some(price) = &p.price {
                facts.push(format!("costs {price}"));
            }
            if let Some(phrase) = p.availability.phrase() {
                facts.push(format!("is {phrase}"));
            }
            if facts.is_empty() {
                s.push('.');
            } else {
                s.push_str(&format!(" {}.", facts.join(" and ")));
            }
            if let Some(url) = &p.url {
                s.push_str(&format!(" {url}"));
            }
            s
        }
    }
}

impl BuiltinDrafter {
    /// The reply for a prompt (pure).
    pub fn compose(prompt: &Prompt) -> (ReplyKind, String) {
        let answers: Vec<String> = prompt
            .grounding
            .iter()
            .filter(|g| qualifies(g))
            .take(MAX_ANSWERS)
            .map(sentence)
            .collect();
        if answers.is_empty() {
            (ReplyKind::CannotHelp, String::new())
        } else {
            (ReplyKind::Answer, answers.join(" "))
        }
    }
}

impl Drafter for BuiltinDrafter {
    fn model(&self) -> &str {
        BUILTIN_MODEL
    }

    fn draft<'a>(
        &'a self,
        prompt: &'a Prompt,
        _deadline: Option<Instant>,
    ) -> BoxFuture<'a, Result<DraftReply, DraftError>> {
        Box::pin(async move {
            let started = StdInstant::now();
            let (kind, text) = Self::compose(prompt);
            Ok(DraftReply {
                kind,
                text,
                model: BUILTIN_MODEL.to_owned(),
                latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                tokens: None,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::knowledge::{Availability, EntryId, Faq, KnowledgeEntry, Price, Product};
    use crate::ai::prompt::{PromptInput, build_prompt};
    use crate::ai::retrieval::rank;
    use crate::ai::settings::AiSettings;
    use crate::ids::TenantId;

    fn entries() -> Vec<KnowledgeEntry> {
        let t = TenantId::parse("acme").unwrap();
        vec![
            KnowledgeEntry {
                tenant_id: t.clone(),
                entry_id: EntryId::parse("shipping").unwrap(),
                entry: KnowledgeKind::Faq(Faq {
                    question: "How long does shipping take?".into(),
                    answer: "Orders ship within 2 business days".into(),
                }),
                tags: vec!["delivery".into()],
                updated_at: 0,
            },
            KnowledgeEntry {
                tenant_id: t,
                entry_id: EntryId::parse("boot").unwrap(),
                entry: KnowledgeKind::Product(Product {
                    name: "Trail Boot".into(),
                    sku: Some("BOOT-42".into()),
                    price: Some(Price::parse("89.90", "EUR").unwrap()),
                    availability: Availability::InStock,
                    url: Some("https://acme.example/boot".into()),
                    description: Some("Waterproof leather".into()),
                }),
                tags: vec![],
                updated_at: 0,
            },
        ]
    }

    fn prompt_for(texts: &[&str]) -> Prompt {
        let e = entries();
        let ranked = rank(&e, texts, &[] as &[&str], 4);
        // The prompt's history is not needed by the built-in drafter: grounding is.
        build_prompt(&PromptInput {
            settings: &AiSettings::default(),
            history: &[],
            knowledge: &ranked,
            token_budget: 3000,
            max_reply_chars: 900,
        })
    }

    #[test]
    fn answers_faq_and_product_questions_from_the_entries() {
        let (kind, text) = BuiltinDrafter::compose(&prompt_for(&["how long is shipping?"]));
        assert_eq!(kind, ReplyKind::Answer);
        assert_eq!(text, "Orders ship within 2 business days.");
        let (_, text) = BuiltinDrafter::compose(&prompt_for(&["is BOOT-42 available?"]));
        assert_eq!(
            text,
            "Trail Boot (SKU BOOT-42) costs 89.90 EUR and is in stock. https://acme.example/boot"
        );
    }

    #[test]
    fn answers_every_question_of_a_burst() {
        let (_, text) =
            BuiltinDrafter::compose(&prompt_for(&["trail boot price?", "and delivery time?"]));
        assert!(
            text.contains("89.90 EUR") && text.contains("2 business days"),
            "{text}"
        );
    }

    #[test]
    fn cannot_help_without_a_matching_entry() {
        let (kind, text) = BuiltinDrafter::compose(&prompt_for(&["what is the meaning of life"]));
        assert_eq!(kind, ReplyKind::CannotHelp);
        assert!(text.is_empty());
        // A description-only match is not an answer.
        let (kind, _) = BuiltinDrafter::compose(&prompt_for(&["is it waterproof"]));
        assert_eq!(kind, ReplyKind::CannotHelp);
    }

    #[tokio::test]
    async fn drafts_deterministically() {
        let p = prompt_for(&["shipping?"]);
        let a = BuiltinDrafter.draft(&p, None).await.unwrap();
        let b = BuiltinDrafter.draft(&p, None).await.unwrap();
        assert_eq!(a.text, b.text);
        assert_eq!(a.model, BUILTIN_MODEL);
    }
}
