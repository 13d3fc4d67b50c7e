use shared::messaging::verification::CodeStore;
use verify_code::VerifyCode;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::tools::run_lambda_with(VerifyCode::tool_definition(), |config, aws| {
        VerifyCode::new(CodeStore::new(
            aws.dynamodb.clone(),
            config.appointments_table.clone(),
        ))
    })
    .await
}
