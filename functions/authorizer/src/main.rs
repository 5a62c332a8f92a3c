//! Lambda entry point: build the store once per cold start, then answer API Gateway.
//! The authorizer holds no secrets, so it reads none.

use relay::lambda::{ColdStart, run};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let (config, sdk) = ColdStart::load_without_secrets().await?;
    let authorizer = authorizer::Authorizer::from_config(&config, &sdk);
    let authorizer = &authorizer;
    run(Some(authorizer.metrics()), |event| async move {
        Ok::<_, lambda_runtime::Error>(authorizer.handle(event).await)
    })
    .await
}
