//! Bounded, counted, reproducible runs.

use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

/// One execution taking longer than this is a hang.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_SHRINK_TIME_MS: u32 = 10_000;
const MAX_SHRINK_ITERS: u32 = 4096;

fn cases(default: u32) -> u32 {
    match std::env::var("RELAY_FUZZ_CASES") {
        Ok(raw) => raw
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("RELAY_FUZZ_CASES must be a number of cases, not {raw:?}")),
        Err(_) => default,
    }
}

/// The target's own fixed seed (FNV-1a of its name), or `RELAY_FUZZ_SEED`.
fn seed(target: &str) -> u64 {
    match std::env::var("RELAY_FUZZ_SEED") {
        Ok(raw) => raw
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("RELAY_FUZZ_SEED must be a number, not {raw:?}")),
        Err(_) => target.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        }),
    }
}

/// The execution in progress, for the watchdog.
type Current = Mutex<Option<(Instant, Box<dyn Debug + Send>)>>;

struct Watch {
    executions: AtomicU64,
    finished: AtomicBool,
    current: Current,
}

/// Clears the execution in progress when it ends, also by a panic.
struct Running<'a>(&'a Current);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

fn watchdog(target: &'static str, watch: &Watch) {
    while !watch.finished.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(20));
        let current = watch.current.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((since, input)) = current.as_ref()
            && since.elapsed() > CASE_TIMEOUT
        {
            eprintln!(
                "fuzz {target}: one execution ran for more than {CASE_TIMEOUT:?} (a hang) on input {input:?}"
            );
            std::process::exit(3);
        }
    }
}

/// Runs `test` on `default_cases` inputs from `strategy` and prints how many executions
/// (shrinking included) ran; `detail` adds what the inputs reached (nothing when empty).
pub fn fuzz<S>(
    target: &'static str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
    detail: impl Fn() -> String,
) where
    S: Strategy,
    S::Value: Clone + Debug + Send + 'static,
{
    let seed = seed(target);
    let config = Config {
        cases: cases(default_cases),
        max_shrink_time: MAX_SHRINK_TIME_MS,
        max_shrink_iters: MAX_SHRINK_ITERS,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        ..Config::default()
    };
    let watch = Arc::new(Watch {
        executions: AtomicU64::new(0),
        finished: AtomicBool::new(false),
        current: Mutex::new(None),
    });
    let dog = {
        let watch = Arc::clone(&watch);
        std::thread::spawn(move || watchdog(target, &watch))
    };
    let started = Instant::now();
    let result = TestRunner::new(config).run(&strategy, |input| {
        watch.executions.fetch_add(1, Ordering::Relaxed);
        *watch.current.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), Box::new(input.clone())));
        let _running = Running(&watch.current);
        test(input)
    });
    let elapsed = started.elapsed();
    watch.finished.store(true, Ordering::Release);
    dog.join().expect("the watchdog never panics");
    let n = watch.executions.load(Ordering::Relaxed);
    if let Err(failure) = result {
        panic!("fuzz {target} (seed {seed}, {n} executions): {failure}");
    }
    let detail = detail();
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!("; {detail}")
    };
    eprintln!(
        "fuzz {target}: {n} executions, no panic ({:.2} s{detail})",
        elapsed.as_secs_f64()
    );
}

/// How many inputs reached some point of a target, for its `detail`.
#[derive(Debug, Default)]
pub struct Count(AtomicU64);

impl Count {
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
