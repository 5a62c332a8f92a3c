//! Lambda entry point: read config and secrets once per cold start, then serve the API.

use std::sync::Arc;

use relay::lambda::ColdStart;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let cold = ColdStart::load().await?;
    let app = Arc::new(api::App::from_cold_start(&cold)?);
    lambda_http::run(api::router(app)).await
}
