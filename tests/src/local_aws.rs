//! The local AWS harness now lives in the `relay-local-aws` crate, shared with the local
//! stack; this module re-exports it so tests keep their paths.

pub use relay_local_aws::local_aws::*;
