use request_callback::RequestCallback;
use shared::callbacks::CallbackStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::tools::run_lambda_with(RequestCallback::tool_definition(), |config, aws| {
        RequestCallback::new(CallbackStore::new(
            aws.dynamodb.clone(),
            config.appointments_table.clone(),
        ))
        .with_outbox(config.messaging_queue_url.as_ref().and_then(|url| {
            shared::messaging::outbox::Outbox::new(&aws.sdk, url)
                .map_err(|e| tracing::error!(error = %e, "messaging queue client not built"))
                .ok()
        }))
    })
    .await
}
