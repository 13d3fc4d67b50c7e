#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::tool::run_lambda(cancel_appointment::CancelAppointment).await
}
