//! Lambda entry point: read config and secrets once per cold start, then serve requests.

use relay::lambda::{ColdStart, run_http};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let cold = ColdStart::load().await?;
    let oauth = oauth::Oauth::from_cold_start(&cold)?;
    let oauth = &oauth;
    run_http(Some(oauth.metrics()), |request| oauth.handle(request)).await
}
