//! The prompt: the tenant's persona and rules, the relevant knowledge, and the recent
//! messages of the conversation, within a token budget.
//!
//! Layout (OpenAI chat format): one system message with the persona, the house rules,
//! how to answer and the knowledge lines; then the conversation, oldest first, customer
//! messages as `user` and the business's (AI or team) as `assistant`. The customer's
//! unanswered messages (everything after the business last wrote) end the prompt, so a
//! burst of messages is answered in one reply.
//!
//! Budget: tokens are estimated at four characters each. The system core and the
//! unanswered messages are always kept; knowledge lines are added best first and earlier
//! messages newest first while they fit. Customer text only ever appears in `user`
//! messages, never in the system message, so it cannot pose as the tenant's rules.

use std::fmt;

use super::knowledge::{EntryId, KnowledgeEntry};
use super::retrieval::Ranked;
use super::settings::AiSettings;
use crate::inbox::{Direction, MessageKind, StoredMessage};

/// The model answers exactly this when it cannot help or the customer wants a person.
pub const HANDOFF_MARKER: &str = "[[HANDOFF]]";

/// Longest customer message kept whole in the prompt (characters).
const MAX_MESSAGE_CHARS: usize = 1500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// One chat message. `Debug` shows the role and size, never the content.
#[derive(Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl fmt::Debug for ChatMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ChatMessage({}, {} chars)",
            self.role.as_str(),
            self.content.chars().count()
        )
    }
}

/// A knowledge entry the prompt holds, with why it was chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct Grounding {
    pub entry: KnowledgeEntry,
    pub score: f64,
    pub key_matches: Vec<String>,
    pub sku_mentioned: bool,
}

/// What the drafter receives. `Debug` never prints message text.
#[derive(Clone, PartialEq)]
pub struct Prompt {
    pub messages: Vec<ChatMessage>,
    /// The customer's unanswered messages, oldest first.
    pub pending: Vec<String>,
    /// The knowledge entries in the prompt, best first.
    pub grounding: Vec<Grounding>,
    pub estimated_tokens: usize,
}

impl fmt::Debug for Prompt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prompt")
            .field("messages", &self.messages)
            .field("pending", &self.pending.len())
            .field(
                "grounding",
                &self
                    .grounding
                    .iter()
                    .map(|g| &g.entry.entry_id)
                    .collect::<Vec<_>>(),
            )
            .field("estimated_tokens", &self.estimated_tokens)
            .finish()
    }
}

impl Prompt {
    pub fn knowledge_ids(&self) -> Vec<EntryId> {
        self.grounding
            .iter()
            .map(|g| g.entry.entry_id.clone())
            .collect()
    }
}

/// What a prompt is built from: one tenant's settings, one conversation, and the
/// knowledge ranked for it.
pub struct PromptInput<'a> {
    pub settings: &'a AiSettings,
    /// Recent messages of the conversation, oldest first.
    pub history: &'a [StoredMessage],
    /// Ranked knowledge, best first.
    pub knowledge: &'a [Ranked<'a>],
    /// Prompt token budget (estimated).
    pub token_budget: usize,
    /// The reply should fit in this many characters.
    pub max_reply_chars: usize,
}

/// Estimated tokens of a text: about four characters per token, plus the per-message
/// overhead of the chat format.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4) + 4
}

/// How a stored message reads in the prompt; None for messages with nothing to say
/// (deleted, or neither text nor attachments).
pub fn readable_text(m: &StoredMessage) -> Option<String> {
    if m.deleted {
        return None;
    }
    let mut text = m
        .text
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if text.chars().count() > MAX_MESSAGE_CHARS {
        text = text.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + " […]";
    }
    let note = match m.kind {
        MessageKind::Attachment | MessageKind::Text if !m.attachments.is_empty() => {
            let kinds: Vec<&str> = m.attachments.iter().map(|a| a.kind.as_str()).collect();
            Some(format!("[sent: {}]", kinds.join(", ")))
        }
        MessageKind::Unsupported => Some("[sent something that cannot be shown]".to_owned()),
        MessageKind::Postback if text.is_empty() => Some("[tapped a button]".to_owned()),
        _ => None,
    };
    match (text.is_empty(), note) {
        (true, None) => None,
        (true, Some(n)) => Some(n),
        (false, None) => Some(text),
        (false, Some(n)) => Some(format!("{text} {n}")),
    }
}

/// Where the customer's unanswered messages begin: right after the business last wrote.
fn unanswered_start(history: &[StoredMessage]) -> usize {
    history
        .iter()
        .rposition(|m| m.direction == Direction::Outbound)
        .map_or(0, |i| i + 1)
}

/// The customer's messages after the business last wrote, oldest first.
pub fn pending_messages(history: &[StoredMessage]) -> &[StoredMessage] {
    &history[unanswered_start(history)..]
}

fn system_text(settings: &AiSettings, knowledge: &[String], max_reply_chars: usize) -> String {
    let mut s = String::new();
    match &settings.business_name {
        Some(name) => s.push_str(&format!(
            "You reply to customers in the direct messages of {name}.\n"
        )),
        None => s.push_str("You reply to customers in the business's direct messages.\n"),
    }
    s.push_str(&format!("Who you are: {}\n", settings.persona.trim()));
    if !settings.rules.is_empty() {
        s.push_str("House rules:\n");
        for rule in &settings.rules {
            s.push_str(&format!("- {}\n", rule.trim()));
        }
    }
    s.push_str(&format!(
        "How to answer:\n\
         - Reply in the customer's language, in plain text, in at most {max_reply_chars} characters.\n\
         - Answer all of the customer's unanswered messages in one reply.\n\
         - State prices, availability and links only as the knowledge below gives them; never invent them.\n\
         - If you cannot help, or the customer wants to talk to a person, reply with exactly {HANDOFF_MARKER} and nothing else.\n"
    ));
    if knowledge.is_empty() {
        s.push_str("Knowledge: nothing relevant was found.\n");
    } else {
        s.push_str("Knowledge:\n");
        for line in knowledge {
            s.push_str(&format!("- {line}\n"));
        }
    }
    s
}

/// Build the prompt for one conversation.
pub fn build_prompt(input: &PromptInput<'_>) -> Prompt {
    let pending_start = unanswered_start(input.history);
    let pending: Vec<String> = input.history[pending_start..]
        .iter()
        .filter_map(readable_text)
        .collect();

    let core = system_text(input.settings, &[], input.max_reply_chars);
    let mut used =
        estimate_tokens(&core) + pending.iter().map(|p| estimate_tokens(p)).sum::<usize>();

    // Knowledge, best first, while it fits.
    let mut lines = Vec::new();
    let mut grounding = Vec::new();
    for ranked in input.knowledge {
        let line = ranked.entry.prompt_line();
        let cost = estimate_tokens(&line).saturating_sub(2);
        if used + cost > input.token_budget {
            break;
        }
        used += cost;
        lines.push(line);
        grounding.push(Grounding {
            entry: ranked.entry.clone(),
            score: ranked.score,
            key_matches: ranked.key_matches.clone(),
            sku_mentioned: ranked.sku_mentioned,
        });
    }

    // Earlier messages, newest first, while they fit.
    let mut earlier = Vec::new();
    for m in input.history[..pending_start].iter().rev() {
        let Some(text) = readable_text(m) else {
            continue;
        };
        let cost = estimate_tokens(&text);
        if used + cost > input.token_budget {
            break;
        }
        used += cost;
        let role = match m.direction {
            Direction::Inbound => Role::User,
            Direction::Outbound => Role::Assistant,
        };
        earlier.push(ChatMessage {
            role,
            content: text,
        });
    }
    earlier.reverse();

    let mut messages = Vec::with_capacity(earlier.len() + pending.len() + 1);
    messages.push(ChatMessage {
        role: Role::System,
        content: system_text(input.settings, &lines, input.max_reply_chars),
    });
    messages.extend(earlier);
    messages.extend(pending.iter().map(|p| ChatMessage {
        role: Role::User,
        content: p.clone(),
    }));
    Prompt {
        messages,
        pending,
        grounding,
        estimated_tokens: used,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::knowledge::{Faq, KnowledgeKind};
    use crate::ai::retrieval::rank;
    use crate::ids::{AccountId, CustomerId, MessageId, TenantId};
    use crate::inbox::{Author, StoredAttachment};

    fn msg(i: i64, direction: Direction, text: &str) -> StoredMessage {
        StoredMessage {
            tenant_id: TenantId::parse("acme").unwrap(),
            account_id: AccountId::parse("1").unwrap(),
            customer_id: CustomerId::parse("2").unwrap(),
            mid: MessageId::parse(format!("m{i}")).unwrap(),
            direction,
            author: match direction {
                Direction::Inbound => Author::Customer,
                Direction::Outbound => Author::Ai,
            },
            kind: MessageKind::Text,
            text: Some(text.into()),
            attachments: vec![],
            reply_to_mid: None,
            reply_to_story: None,
            quick_reply: None,
            postback_payload: None,
            referral_ref: None,
            referral_ad_id: None,
            timestamp_ms: i,
            received_at: i,
            reactions: Default::default(),
            read_at: None,
            edit_count: 0,
            deleted: false,
            ai: None,
            jobs_enqueued: false,
        }
    }

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

    fn settings() -> AiSettings {
        AiSettings {
            business_name: Some("Acme Shop".into()),
            persona: "Warm and brief.".into(),
            rules: vec!["Never promise delivery dates.".into()],
            ..AiSettings::default()
        }
    }

    #[test]
    fn holds_persona_rules_knowledge_and_every_unanswered_message() {
        let history = vec![
            msg(1, Direction::Inbound, "hello"),
            msg(2, Direction::Outbound, "Hi! How can I help?"),
            msg(3, Direction::Inbound, "do you ship to Berlin?"),
            msg(4, Direction::Inbound, "and how much is shipping"),
            msg(5, Direction::Inbound, "also can I return items"),
        ];
        let entries = vec![
            faq(
                "shipping",
                "Do you ship to Germany?",
                "Yes, 3-5 days, 4.90 EUR.",
            ),
            faq(
                "returns",
                "Can I return items?",
                "Free returns within 30 days.",
            ),
            faq("hours", "Opening hours", "Mon-Sat 10-19."),
        ];
        let pending: Vec<&str> = vec![
            "do you ship to Berlin?",
            "and how much is shipping",
            "also can I return items",
        ];
        let ranked = rank(&entries, &pending, &["hello"], 4);
        let p = build_prompt(&PromptInput {
            settings: &settings(),
            history: &history,
            knowledge: &ranked,
            token_budget: 3000,
            max_reply_chars: 900,
        });
        let system = &p.messages[0];
        assert_eq!(system.role, Role::System);
        for needle in [
            "Acme Shop",
            "Warm and brief.",
            "Never promise delivery dates.",
            "4.90 EUR",
            "Free returns",
            HANDOFF_MARKER,
        ] {
            assert!(system.content.contains(needle), "{needle} missing");
        }
        assert!(
            !system.content.contains("Mon-Sat"),
            "irrelevant entry included"
        );
        let tail: Vec<&str> = p.messages[p.messages.len() - 3..]
            .iter()
            .map(|m| m.content.as_str())
            .collect();
        assert_eq!(tail, pending);
        assert_eq!(p.pending, pending);
        assert_eq!(p.messages[1].content, "hello");
        assert_eq!(p.messages[2].role, Role::Assistant);
        for m in &p.messages[1..] {
            assert!(
                !system.content.contains(&m.content),
                "customer text in the system message"
            );
        }
    }

    #[test]
    fn the_budget_drops_old_messages_and_weak_knowledge_first() {
        let mut history: Vec<StoredMessage> = (0..40)
            .map(|i| {
                msg(
                    i,
                    if i % 2 == 0 {
                        Direction::Inbound
                    } else {
                        Direction::Outbound
                    },
                    &"older message text ".repeat(10),
                )
            })
            .collect();
        history.push(msg(
            100,
            Direction::Inbound,
            "latest question about shipping",
        ));
        let entries = vec![faq("shipping", "shipping", &"long answer ".repeat(50))];
        let ranked = rank(
            &entries,
            &["latest question about shipping"],
            &[] as &[&str],
            4,
        );
        let tight = build_prompt(&PromptInput {
            settings: &settings(),
            history: &history,
            knowledge: &ranked,
            token_budget: 400,
            max_reply_chars: 900,
        });
        assert!(tight.estimated_tokens <= 400, "{}", tight.estimated_tokens);
        assert_eq!(
            tight.messages.last().unwrap().content,
            "latest question about shipping"
        );
        let roomy = build_prompt(&PromptInput {
            settings: &settings(),
            history: &history,
            knowledge: &ranked,
            token_budget: 100_000,
            max_reply_chars: 900,
        });
        assert_eq!(roomy.messages.len(), 42);
        assert_eq!(roomy.grounding.len(), 1);
        assert!(tight.messages.len() < roomy.messages.len());
        // Whatever was kept is the most recent part of the conversation.
        let kept = &tight.messages[1..tight.messages.len() - 1];
        let expected: Vec<_> = roomy.messages
            [roomy.messages.len() - 1 - kept.len()..roomy.messages.len() - 1]
            .to_vec();
        assert_eq!(kept, expected.as_slice());
    }

    #[test]
    fn attachments_and_deleted_messages() {
        let mut image = msg(1, Direction::Inbound, "");
        image.text = None;
        image.kind = MessageKind::Attachment;
        image.attachments = vec![StoredAttachment {
            kind: "image".into(),
            url: Some("https://cdn/x".into()),
        }];
        let mut gone = msg(2, Direction::Inbound, "secret");
        gone.deleted = true;
        let history = vec![image, gone];
        let p = build_prompt(&PromptInput {
            settings: &settings(),
            history: &history,
            knowledge: &[],
            token_budget: 3000,
            max_reply_chars: 900,
        });
        assert_eq!(p.pending, vec!["[sent: image]"]);
        assert!(p.messages.iter().all(|m| !m.content.contains("secret")));
        assert!(p.messages[0].content.contains("nothing relevant"));
    }

    #[test]
    fn debug_never_prints_text() {
        let history = vec![msg(1, Direction::Inbound, "my card number is 4111")];
        let p = build_prompt(&PromptInput {
            settings: &settings(),
            history: &history,
            knowledge: &[],
            token_budget: 3000,
            max_reply_chars: 900,
        });
        assert!(!format!("{p:?}").contains("4111"));
    }
}
