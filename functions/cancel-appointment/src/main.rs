#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::tools::run_lambda(cancel_appointment::CancelAppointment).await
}
