//! Answers to customers' DMs, from the AI and from people.
//!
//! - [`ai`]: the AI reply job, the command the ai-reply function runs for every customer
//!   message (debounce, Meta's 24-hour window and 30-second bot deadline, human takeover,
//!   grounding in the tenant's knowledge, drafts or sends, at most once);
//! - [`person`]: a person's own replies and the drafts they approve, with the
//!   `HUMAN_AGENT` tag where Meta requires it;
//! - [`outbound`]: what both share (the conversation, the Send API call per channel, the
//!   stored form of what went out);
//! - [`ports`]: the small traits the AI reply job needs, and today's types behind them.
//!
//! Guarantees: no reply is ever sent twice for one customer message or one draft (a
//! conditional write comes before the first byte goes to Meta); automated replies never
//! carry the `HUMAN_AGENT` tag; logs carry ids, fingerprints and reasons, never text.

pub mod ai;
pub mod outbound;
pub mod person;
pub mod ports;

pub use outbound::Thread;
pub use person::{
    MAX_REPLY_PARTS, Replies, ReplyError, STANDARD_WINDOW_MS, Sent, Window, person_window,
};
pub use ports::{Adapters, Ports, Requeue};
