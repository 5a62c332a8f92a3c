//! Simulated time.
//!
//! Every expiry, window and quota in the simulator is measured against a [`Clock`]
//! reading, never against the wall clock directly, so tests can move time forward
//! (`POST /_sim/clock/advance`) and pure rules can be tested at exact instants.
//! Simulated time follows the wall clock plus an offset that only ever grows, so it
//! never runs backwards and timestamps of successive events keep increasing.

use std::time::{SystemTime, UNIX_EPOCH};

/// One reading of simulated time, in milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Clock {
    ms: i64,
}

impl Clock {
    /// A reading at an exact instant (used by tests and by [`SimClock::now`]).
    pub const fn at_ms(ms: i64) -> Self {
        Self { ms }
    }

    /// A reading at a whole second.
    pub const fn at_secs(secs: i64) -> Self {
        Self { ms: secs * 1000 }
    }

    pub const fn ms(self) -> i64 {
        self.ms
    }

    pub const fn secs(self) -> i64 {
        self.ms.div_euclid(1000)
    }

    /// The same clock moved `secs` seconds later.
    pub const fn plus_secs(self, secs: i64) -> Self {
        Self {
            ms: self.ms + secs * 1000,
        }
    }

    /// Whole seconds elapsed since `earlier_ms` (negative if it lies in the future).
    pub const fn secs_since(self, earlier_ms: i64) -> i64 {
        (self.ms - earlier_ms).div_euclid(1000)
    }

    /// Meta's timestamp format for Graph objects: `2026-01-31T12:00:00+0000`.
    pub fn graph_timestamp(self) -> String {
        graph_timestamp_of(self.ms)
    }
}

/// Meta's Graph timestamp format (`%Y-%m-%dT%H:%M:%S+0000`) for a millisecond instant.
pub fn graph_timestamp_of(ms: i64) -> String {
    let dt = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+0000",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// The simulator's source of time: the wall clock shifted by the total of all advances.
#[derive(Debug, Default)]
pub struct SimClock {
    offset_ms: i64,
}

impl SimClock {
    pub fn now(&self) -> Clock {
        Clock::at_ms(wall_ms() + self.offset_ms)
    }

    /// Moves simulated time forward. Negative amounts are ignored: Meta's clock, like
    /// every expiry the product computes from it, only runs forward.
    pub fn advance_secs(&mut self, secs: i64) {
        if secs > 0 {
            self.offset_ms += secs * 1000;
        }
    }

    /// Jumps to `target` if it lies in the future; returns the reading afterwards.
    pub fn set_at_least(&mut self, target: Clock) -> Clock {
        let now = self.now();
        if target > now {
            self.offset_ms += target.ms() - now.ms();
        }
        self.now()
    }
}

fn wall_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("system clock is set after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds since 1970 fit in i64")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_convert_between_seconds_and_milliseconds() {
        let c = Clock::at_secs(1_700_000_000);
        assert_eq!(c.ms(), 1_700_000_000_000);
        assert_eq!(c.plus_secs(60).secs(), 1_700_000_060);
        assert_eq!(c.plus_secs(90).secs_since(c.ms()), 90);
    }

    #[test]
    fn graph_timestamp_uses_metas_offset_format() {
        assert_eq!(
            Clock::at_secs(1_700_000_000).graph_timestamp(),
            "2023-11-14T22:13:20+0000"
        );
    }

    #[test]
    fn advancing_moves_time_forward_and_never_back() {
        let mut clock = SimClock::default();
        let before = clock.now();
        clock.advance_secs(3600);
        let after = clock.now();
        assert!(after.ms() - before.ms() >= 3_600_000);
        clock.advance_secs(-7200);
        assert!(
            clock.now() >= after,
            "a negative advance must not rewind time"
        );
    }

    #[test]
    fn set_only_moves_forward() {
        let mut clock = SimClock::default();
        let now = clock.now();
        let later = clock.set_at_least(now.plus_secs(86_400));
        assert!(later >= now.plus_secs(86_400));
        let again = clock.set_at_least(now);
        assert!(again >= later);
    }
}
