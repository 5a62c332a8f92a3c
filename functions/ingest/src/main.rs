//! Lambda entry point: build clients once per cold start, then handle SQS batches.

use relay::lambda::{ColdStart, run_sqs};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, sdk) = ColdStart::load_without_secrets().await?;
    run_sqs(ingest::Ingest::from_config(&config, &sdk)?).await
}
