//! What the emulated event sources know of a function: they send it an event as JSON
//! and get back what Lambda's Invoke API would report. The local stack invokes its
//! functions through cargo-lambda; the tests call handlers in process. Both are an
//! [`Invoke`], so API Gateway and the SQS event source mappings are played the same way
//! for either.

use std::future::Future;
use std::time::Duration;

/// What an invocation produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Invoked {
    /// The handler's result (JSON text).
    Result(Vec<u8>),
    /// The handler returned an error or the function could not start; the Lambda
    /// error document (`errorType`, `errorMessage`).
    FunctionError(String),
    /// No answer: the function is not reachable, the connection broke (the function
    /// process was killed), or the timeout passed.
    NoAnswer(String),
}

/// Runs functions by name.
pub trait Invoke: Send + Sync {
    /// Invokes `function` with `event` (JSON), letting it run for `timeout` (its own
    /// `Timeout`, or the integration's). An implementation may add what starting the
    /// function costs on top, as Lambda does not count a cold start against it either.
    fn invoke(
        &self,
        function: &str,
        event: &[u8],
        timeout: Duration,
    ) -> impl Future<Output = Invoked> + Send;
}
