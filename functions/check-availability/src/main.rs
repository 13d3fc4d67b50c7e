#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::tool::run_lambda(check_availability::CheckAvailability).await
}
