//! Lambda entry point: build the syncer once per cold start, then answer the hourly
//! schedule's events and the sync queue's batches.

use relay::lambda::{ColdStart, run_queue_and_schedule};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let cold = ColdStart::load().await?;
    let syncer = sync::syncer(&cold)?;
    run_queue_and_schedule(sync::Sync::new(&syncer)).await
}
