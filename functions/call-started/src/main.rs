//! `call-started` Lambda: consumes the call_started queue (call_started and the live call's
//! transfer events) into the calls table (see shared::calls::consumer).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::calls::consumer::run_lambda(shared::retell::EventKind::CallStarted).await
}
