//! `call-analyzed` Lambda: consumes the call_analyzed queue into the calls table (see shared::consumer).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::consumer::run_lambda(shared::retell::EventKind::CallAnalyzed).await
}
