//! Lambda entry point: read config and secrets once per cold start, then serve the API.

use std::sync::Arc;

use lambda_http::Error;
use relay::config::{Config, Secrets};

#[tokio::main]
async fn main() -> Result<(), Error> {
    relay::telemetry::init();
    let config = Config::from_env()?;
    let sdk = aws_config::load_from_env().await;
    let secrets = Secrets::load(config.secrets_arn.as_deref(), &sdk).await?;
    let app = Arc::new(api::App::from_config(&config, &secrets, &sdk)?);
    lambda_http::run(api::router(app)).await
}
