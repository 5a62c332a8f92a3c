//! Comment moderation: the rules, as pure functions over plain values, and the command
//! that applies them.
//!
//! - [`label`]: the labels and statuses a comment's moderation state is told in;
//! - [`policy`]: a tenant's moderation policy for one account (what counts, what is
//!   hidden automatically), validated before it is stored;
//! - [`classify`]: labels a comment (spam, links, blocked words, repeats) and decides
//!   what the automatic pass does with it;
//! - [`actions`]: the moderation actions a person or the API asks for (reply, hide,
//!   unhide, delete, private reply) and Meta's rules that bound them;
//! - [`run`]: the moderation command, one job against the comment store, Meta and the
//!   audit trail, through small traits (the moderation function's queue handler calls it).
//!
//! Nothing here carries a comment's text into an error, a label or `Debug` output: labels and
//! signals are Relay's own vocabulary (and the tenant's blocked words), safe to log.

pub mod actions;
pub mod classify;
pub mod label;
pub mod policy;
pub mod run;

pub use actions::{ActionError, ModerationAction, private_reply_allowed};
pub use classify::{CommentFacts, Verdict, classify, normalized_fingerprint};
pub use label::{CommentStatus, Label, status_of};
pub use policy::{HideRules, ModerationPolicy, PolicyError, Sensitivity};
