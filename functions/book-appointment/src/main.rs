#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::tool::run_lambda(book_appointment::BookAppointment).await
}
