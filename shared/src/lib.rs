//! Relay's shared core: the domain rules every function uses, the ports (traits) they
//! need from the outside world, and the adapters for AWS, Meta and the LLM.

pub mod access;
pub mod accounts;
pub mod ai;
pub mod audit;
pub mod clients;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod events;
pub mod ids;
pub mod inbox;
pub mod insights;
pub mod jobs;
pub mod lambda;
pub mod media;
pub mod meta;
pub mod moderation;
pub mod onboarding;
pub mod publishing;
pub mod replies;
pub mod retry;
pub mod secret;
pub mod store;
pub mod telemetry;
pub mod text;
pub mod webhook;
