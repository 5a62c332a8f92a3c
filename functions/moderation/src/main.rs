//! Lambda entry point: build the moderator once per cold start, then handle the
//! moderation queue's batches.

use relay::lambda::{ColdStart, run_sqs};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let cold = ColdStart::load().await?;
    run_sqs(moderation::Moderation::from_cold_start(&cold)?).await
}
