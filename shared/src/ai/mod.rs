//! Automated replies: the rules that decide whether the AI may answer a customer, and the
//! pieces that produce the answer.
//!
//! Everything here is pure except the LLM adapter ([`OpenAiCompatible`]):
//! - [`policy`]: `decide` turns a conversation's state into Reply, Draft or Skip(reason),
//!   enforcing the AI mode, human takeover, the debounce, Meta's 24-hour window and the
//!   30-second expectation for bots;
//! - [`escalation`]: the customer asking for a person, in the tenant's words and in several
//!   languages;
//! - [`text`]: fitting a reply into Meta's 1000-byte limit at sentence boundaries;
//! - [`knowledge`] and [`retrieval`]: the tenant's FAQ and products, ranked against the
//!   conversation with BM25;
//! - [`prompt`]: persona, rules, knowledge and recent messages within a token budget;
//! - [`records`]: drafts, reply outcomes and product links, as stored;
//! - [`drafter`]: the [`Drafter`] port, the deterministic [`BuiltinDrafter`] (works
//!   offline) and the OpenAI-compatible chat-completions client.
//!
//! Guarantees: a prompt is built only from values passed in (one tenant's settings,
//! knowledge and conversation), so nothing of another tenant can reach it; no error or
//! `Debug` output of this module carries message text, prompts or the LLM key.

pub mod drafter;
pub mod escalation;
pub mod knowledge;
pub mod policy;
pub mod prompt;
pub mod records;
pub mod retrieval;
pub mod settings;
pub mod text;

mod builtin;
mod openai;

pub use builtin::{BUILTIN_MODEL, BuiltinDrafter};
pub use drafter::{DraftError, DraftReply, Drafter, ReplyKind};
pub use escalation::{Escalation, EscalationWords, detect_escalation};
pub use knowledge::{
    Availability, EntryId, Faq, KnowledgeEntry, KnowledgeError, KnowledgeKind, Product,
};
pub use openai::{LlmConfig, OpenAiCompatible};
pub use policy::{Decision, Limits, Situation, SkipReason, decide};
pub use prompt::{ChatMessage, HANDOFF_MARKER, Prompt, PromptInput, Role, build_prompt};
pub use records::{
    Draft, DraftKey, DraftKind, DraftStatus, OutcomeStatus, ProductLink, ReplyOutcome,
};
pub use retrieval::{Ranked, rank};
pub use settings::{AiSettings, LongReplies, SettingsError};
pub use text::{fit_reply, shorten, split};
