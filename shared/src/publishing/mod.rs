//! Scheduled publishing: the post, the rules it must meet when scheduled, and the
//! publish state machine. Pure; the publish function and the API do the I/O.

pub mod machine;
pub mod post;
pub mod rules;
pub mod run;
pub mod upload;

pub use machine::{Limits, OnError, Step, next_step, on_error};
pub use post::{Failure, FixBy, MediaItem, MediaKind, Post, PostContent, PostStatus, Progress};
pub use rules::{Probe, Refusal, When};
