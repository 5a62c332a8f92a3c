//! The time source of the reply rules.
//!
//! Meta's 24-hour window and the 30-second reply expectation are measured against
//! Meta's clock (the timestamps it puts on messages). Production reads the system clock;
//! tests inject the Meta simulator's clock, which they can move forward, so "a message
//! 25 hours old" is a real state rather than a faked timestamp.

/// A source of the current time in epoch milliseconds.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
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
    fn closures_are_clocks() {
        let fixed = || 42_i64;
        assert_eq!(Clock::now_ms(&fixed), 42);
    }
}
