//! Lambda entry point: read config and secrets once per cold start, then run on each
//! scheduled EventBridge event.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use relay::lambda::{ColdStart, run};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let cold = ColdStart::load().await?;
    let refresh = token_refresh::TokenRefresh::from_cold_start(&cold)?;
    let refresh = &refresh;
    run(
        Some(refresh.metrics()),
        |event: EventBridgeEvent<serde_json::Value>| async move {
            Ok::<_, lambda_runtime::Error>(refresh.handle(event).await?)
        },
    )
    .await
}
