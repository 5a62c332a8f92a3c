//! Lambda entry point: read config and secrets once per cold start, then serve requests.

use lambda_http::{Error, Request, service_fn};
use relay::config::{Config, Secrets};

#[tokio::main]
async fn main() -> Result<(), Error> {
    relay::telemetry::init();
    let config = Config::from_env()?;
    let sdk = aws_config::load_from_env().await;
    let secrets = Secrets::load(config.secrets_arn.as_deref(), &sdk).await?;
    let oauth = oauth::Oauth::from_config(&config, &secrets, &sdk)?;
    let oauth = &oauth;
    lambda_http::run(service_fn(move |request: Request| async move {
        let response = oauth.handle(request).await;
        oauth.metrics().flush();
        Ok::<_, Error>(response)
    }))
    .await
}
