//! Lambda entry point: build the syncer once per cold start, then answer the hourly
//! schedule's events and the sync queue's batches.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use relay::config::{Config, Secrets};

#[tokio::main]
async fn main() -> Result<(), Error> {
    relay::telemetry::init();
    let config = Config::from_env()?;
    let sdk = aws_config::load_from_env().await;
    let secrets = Secrets::load(config.secrets_arn.as_deref(), &sdk).await?;
    let syncer = sync::from_config(&config, &secrets, &sdk)?;
    let syncer = &syncer;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, Error>(sync::handle(syncer, event.payload).await?.into_json())
        },
    ))
    .await
}
