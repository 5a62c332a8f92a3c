//! What every fuzz target of Relay shares: the run (`fuzz`) and hostile JSON (`json`).
//!
//! Each target runs a fixed number of generated cases (`RELAY_FUZZ_CASES` overrides it for
//! longer runs) from a fixed seed per target (`RELAY_FUZZ_SEED` picks another), so a
//! failure is reproduced by running the same command again; proptest then prints the
//! smallest input it found. No regression files are written: a real failure is kept as
//! an explicit unit test instead. Every execution is counted and the count is printed at
//! the end (run the target with `-- --nocapture`).
//!
//! Bounds, so nothing can hang CI: shrinking stops after `MAX_SHRINK_TIME_MS`, and a
//! watchdog ends the run, naming the input, when one execution takes longer than
//! `CASE_TIMEOUT`. (proptest's own `timeout` runs every test in a forked child process,
//! where the executions could not be counted.)

pub mod json;
mod run;

pub use run::{CASE_TIMEOUT, Count, fuzz};
