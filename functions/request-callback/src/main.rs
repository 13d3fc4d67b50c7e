use request_callback::RequestCallback;
use shared::callbacks::CallbackStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::tools::run_lambda_with(RequestCallback::tool_definition(), |config, aws| {
        RequestCallback::new(CallbackStore::new(
            aws.dynamodb.clone(),
            config.appointments_table.clone(),
        ))
    })
    .await
}
