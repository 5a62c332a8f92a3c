//! Integration and end-to-end test support for Relay.
//!
//! [`TestAws`] gives each test its own copy of every table, queue, key and event bus
//! that template.yaml declares, created on the local moto server that
//! `infra/scripts/test.sh` starts for the whole run. Names carry a per-test prefix,
//! so tests never see each other's data and run in parallel.
//!
//! [`fake_llm`] is an OpenAI-compatible endpoint that records prompts and fails on cue;
//! [`sim_clock`] lets handlers read the Meta simulator's clock; [`sim`] points the
//! Graph client at a simulator.
//!
//! [`template`] is the pure reading of template.yaml into typed specs that the
//! harness (and the local stack) build from.

pub mod fake_llm;
pub mod local_aws;
pub mod pipeline;
pub mod sim;
pub mod sim_clock;
pub mod template;

pub use local_aws::{Queues, Tables, TestAws};
pub use template::Template;
