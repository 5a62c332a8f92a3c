//! The Meta simulator's clock, as a clock the product's handlers can use.
//!
//! The simulator's time is the wall clock plus the whole seconds tests advanced it by.
//! [`SimClock`] learns that offset from `GET /_sim/clock` and adds it to the wall clock,
//! so a handler's "now" is the simulator's "now" without an HTTP call per reading.
//! Call [`SimClock::advance`] (or [`SimClock::sync`] after advancing it another way).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::{Value, json};

pub struct SimClock {
    base_url: String,
    http: reqwest::Client,
    offset_ms: AtomicI64,
}

fn wall_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl SimClock {
    /// A clock following the simulator at `base_url`.
    pub async fn connect(base_url: &str) -> Arc<Self> {
        let clock = Arc::new(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            offset_ms: AtomicI64::new(0),
        });
        clock.sync().await;
        clock
    }

    /// Read the simulator's offset again.
    pub async fn sync(&self) {
        let before = wall_ms();
        let reading: Value = self
            .http
            .get(format!("{}/_sim/clock", self.base_url))
            .send()
            .await
            .expect("the simulator answers /_sim/clock")
            .json()
            .await
            .expect("/_sim/clock answers JSON");
        let after = wall_ms();
        let sim_ms = reading["now_ms"]
            .as_i64()
            .expect("/_sim/clock reports now_ms");
        // Advances are whole seconds, so the offset is too: round away the time the
        // request took.
        let raw = sim_ms - (before + after) / 2;
        let offset = ((raw as f64) / 1000.0).round() as i64 * 1000;
        self.offset_ms.store(offset, Ordering::SeqCst);
    }

    /// Move the simulator's clock (and this one) forward.
    pub async fn advance(&self, seconds: u64) {
        let status = self
            .http
            .post(format!("{}/_sim/clock/advance", self.base_url))
            .json(&json!({"seconds": seconds}))
            .send()
            .await
            .expect("the simulator answers /_sim/clock/advance")
            .status();
        assert!(status.is_success(), "clock advance refused: {status}");
        self.sync().await;
    }

    pub fn now_ms(&self) -> i64 {
        wall_ms() + self.offset_ms.load(Ordering::SeqCst)
    }
}

impl relay::clock::Clock for SimClock {
    fn now_ms(&self) -> i64 {
        SimClock::now_ms(self)
    }
}
