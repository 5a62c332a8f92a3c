//! Lambda entry point: build the publisher once per cold start, then answer the
//! schedule's events and the publish queue's batches.

use relay::lambda::{ColdStart, run_queue_and_schedule};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let cold = ColdStart::load().await?;
    let publisher = publish::publisher(&cold)?;
    run_queue_and_schedule(publish::Publish::new(&publisher)).await
}
