//! `control-center` Lambda: the pages and the admin API (see the library's docs).

use std::sync::Arc;

use control_center::ControlCenter;
use shared::platform::aws::{budgeted_config_loader, AwsBudget};
use shared::platform::config::{ControlCenterConfig, Env};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::platform::telemetry::init();
    let config = ControlCenterConfig::from_env(&Env::from_process())?;
    // People wait for these pages, but nothing is lost when one is slow: the background budget.
    let sdk = budgeted_config_loader(AwsBudget::BACKGROUND).load().await;
    let app = Arc::new(ControlCenter::build(&config, &sdk)?);
    lambda_http::run(app.router()).await
}
