//! Relay's one time source.
//!
//! Meta's 24-hour window, token expiry, claims, schedules and caches are all measured
//! against one clock. Production reads the system clock; tests inject the Meta
//! simulator's clock, which they can move forward, so "a message 25 hours old" or "a
//! token 59 days old" is a real state rather than a faked timestamp.

/// A source of the current time. Implementors give epoch milliseconds; seconds are
/// derived from them, so the two can never disagree.
pub trait Clock: Send + Sync {
    /// Epoch milliseconds.
    fn now_ms(&self) -> i64;

    /// Epoch seconds (rounded down).
    fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
    }
}

impl<F> Clock for F
where
    F: Fn() -> i64 + Send + Sync,
{
    fn now_ms(&self) -> i64 {
        self()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_epoch_milliseconds() {
        let now = SystemClock.now_ms();
        // After 2024-01-01 and before 2100: milliseconds, not seconds or nanoseconds.
        assert!(now > 1_704_067_200_000 && now < 4_102_444_800_000, "{now}");
    }

    #[test]
    fn seconds_are_the_milliseconds_rounded_down() {
        assert_eq!(Clock::now_secs(&|| 1_999_i64), 1);
        assert_eq!(Clock::now_secs(&|| -1_i64), -1);
    }

    #[test]
    fn closures_are_clocks() {
        let fixed = || 42_i64;
        assert_eq!(Clock::now_ms(&fixed), 42);
    }
}
