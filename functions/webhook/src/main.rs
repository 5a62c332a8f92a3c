//! Lambda entry point: read config and secrets once per cold start, then serve requests.

use relay::lambda::{ColdStart, run_http};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let cold = ColdStart::load().await?;
    let webhook = webhook::Webhook::from_cold_start(&cold)?;
    let webhook = &webhook;
    run_http(Some(webhook.metrics()), |request| webhook.handle(request)).await
}
