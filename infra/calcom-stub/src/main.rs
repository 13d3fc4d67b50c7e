//! `calcom-stub [--port 9411] [--api-key cal_test_local]`: the Cal.com stand-in for `make dev`,
//! with the demo salon's staff as hosts (`StubConfig::salon_team`): round-robin types 1001
//! haircut, 1002 coloring, 1003 beard, and each person's own types.

use std::net::SocketAddr;

use calcom_stub::{CalComStub, StubConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut port = 9411u16;
    let mut api_key = "cal_test_local".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--port", Some(v)) => port = v.parse()?,
            ("--api-key", Some(v)) => api_key = v,
            _ => {
                return Err(
                    format!("usage: calcom-stub [--port N] [--api-key KEY] (got {arg})").into(),
                )
            }
        }
    }
    let stub = CalComStub::start(
        StubConfig::salon_team(&api_key),
        SocketAddr::from(([127, 0, 0, 1], port)),
    )
    .await?;
    println!("Cal.com stub on {}", stub.url());
    // Serves until the process is stopped (Ctrl-C / SIGTERM end it).
    std::future::pending::<()>().await;
    Ok(())
}
