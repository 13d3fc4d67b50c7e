#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::tool::run_lambda(reschedule_appointment::RescheduleAppointment).await
}
