#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::tools::run_lambda(reschedule_appointment::RescheduleAppointment).await
}
