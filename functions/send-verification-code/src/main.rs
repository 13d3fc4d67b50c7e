use send_verification_code::SendVerificationCode;
use shared::messaging::sender::Providers;
use shared::messaging::verification::CodeStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::tools::run_lambda_with(SendVerificationCode::tool_definition(), |config, aws| {
        SendVerificationCode::new(
            CodeStore::new(aws.dynamodb.clone(), config.appointments_table.clone()),
            Providers::new(&aws.sdk),
        )
    })
    .await
}
