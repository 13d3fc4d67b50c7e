#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::tools::run_lambda(get_opening_hours::GetOpeningHours).await
}
