//! Lambda entry point: build the handler once per cold start, then answer the replies
//! queue's batches.

use relay::lambda::{ColdStart, run_sqs};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let cold = ColdStart::load().await?;
    run_sqs(ai_reply::AiReply::from_env(&cold)?).await
}
