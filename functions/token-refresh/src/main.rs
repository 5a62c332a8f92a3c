//! Lambda entry point: read config and secrets once per cold start, then run on each
//! scheduled EventBridge event.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use relay::config::{Config, Secrets};

#[tokio::main]
async fn main() -> Result<(), Error> {
    relay::telemetry::init();
    let config = Config::from_env()?;
    let sdk = aws_config::load_from_env().await;
    let secrets = Secrets::load(config.secrets_arn.as_deref(), &sdk).await?;
    let refresh = token_refresh::TokenRefresh::from_config(&config, &secrets, &sdk)?;
    let refresh = &refresh;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| async move {
            let summary = refresh.handle(event.payload).await;
            refresh.metrics().flush();
            Ok::<_, Error>(summary?)
        },
    ))
    .await
}
