#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::tools::run_lambda(get_service_info::GetServiceInfo).await
}
