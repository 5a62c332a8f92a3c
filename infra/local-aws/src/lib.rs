//! The template reader, the local AWS provisioner and the one local emulator of the
//! Lambda event sources, shared by the tests and the local stack so that both read
//! template.yaml the same way and drive functions the way AWS does.
//!
//! - [`template`]: the pure reading of template.yaml into typed specs (tables, queues,
//!   keys, buses, functions and their events).
//! - [`schedule`]: EventBridge schedule expressions and their next run times.
//! - [`local_aws`]: creates the template's resources on a local moto server
//!   ([`LocalAws`]), and the per-test harness on top of it ([`TestAws`]).
//! - [`lambda`]: how an event source invokes a function ([`Invoke`], [`Invoked`]).
//! - [`http_api`]: API Gateway's HTTP API (routes, authorizers, payload format 2.0).
//! - [`sqs_source`]: the SQS event source mapping (batches, partial batch failures,
//!   retries; receive counts and redrive stay SQS's own).

pub mod http_api;
pub mod lambda;
pub mod local_aws;
pub mod schedule;
pub mod sqs_source;
pub mod template;

pub use lambda::{Invoke, Invoked};
pub use local_aws::{LocalAws, ProvisionError, Queues, Tables, TestAws};
pub use template::Template;
