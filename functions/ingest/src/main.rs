//! Lambda entry point: build clients once per cold start, then handle SQS batches.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use relay::config::Config;

#[tokio::main]
async fn main() -> Result<(), Error> {
    relay::telemetry::init();
    let config = Config::from_env()?;
    let sdk = aws_config::load_from_env().await;
    let ingest = ingest::Ingest::from_config(&config, &sdk)?;
    let ingest = &ingest;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let response = ingest.handle_batch(event.payload).await;
        ingest.metrics().flush();
        Ok::<_, Error>(response)
    }))
    .await
}
