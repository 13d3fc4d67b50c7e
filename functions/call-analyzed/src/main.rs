//! `call-analyzed` Lambda: consumes the call_analyzed queue into the calls table (see shared::calls::consumer).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::calls::consumer::run_lambda(shared::retell::EventKind::CallAnalyzed).await
}
