//! `call-ended` Lambda: consumes the call_ended queue into the calls table (see shared::calls::consumer).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::calls::consumer::run_lambda(shared::retell::EventKind::CallEnded).await
}
