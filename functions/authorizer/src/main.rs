//! Lambda entry point: build the store once per cold start, then answer API Gateway.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    relay::telemetry::init();
    let config = relay::config::Config::from_env()?;
    let sdk = aws_config::load_from_env().await;
    let authorizer = authorizer::Authorizer::from_config(&config, &sdk);
    let authorizer = &authorizer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        let answer = authorizer.handle(event.payload).await;
        authorizer.metrics().flush();
        Ok::<_, Error>(answer)
    }))
    .await
}
