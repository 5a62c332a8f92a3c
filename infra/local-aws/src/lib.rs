//! The template reader and the local AWS provisioner, shared by the tests and the local
//! stack so that both read template.yaml the same way instead of repeating its wiring.
//!
//! - [`template`]: the pure reading of template.yaml into typed specs (tables, queues,
//!   keys, buses, functions and their events).
//! - [`schedule`]: EventBridge schedule expressions and their next run times.
//! - [`local_aws`]: creates the template's resources on a local moto server
//!   ([`LocalAws`]), and the per-test harness on top of it ([`TestAws`]).

pub mod local_aws;
pub mod schedule;
pub mod template;

pub use local_aws::{LocalAws, ProvisionError, Queues, Tables, TestAws};
pub use template::Template;
