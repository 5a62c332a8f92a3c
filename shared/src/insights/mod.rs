//! Profile and insights: the metric table, what the sync stores and when it is fresh,
//! the sync commands, and the CSV export.
//!
//! Meta's insights lag (up to 48 hours), are rate limited and change names; Relay keeps
//! them in a cache with their fetch time, reads every metric by its current name, and
//! never turns missing data into a zero.

pub mod csv;
pub mod metrics;
pub mod records;
pub mod sync;

pub use metrics::MediaKind;
pub use records::{AccountDay, MediaInsights, Profile, Snapshot, SyncState};
pub use sync::{RefreshRequest, Syncer};
