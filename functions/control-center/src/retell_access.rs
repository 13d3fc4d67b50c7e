//! Retell for one company: a client with the key the company's calls are signed with (its own,
//! else the default), for the agents pages, the agents API and test calls.

use shared::retell::api::RetellClient;

use crate::ControlCenter;

/// A Retell client with the key the company's calls are signed with.
pub async fn retell_for(app: &ControlCenter, company_id: &str) -> Result<RetellClient, String> {
    let ring = app.keys.current().await.map_err(|e| e.to_string())?;
    let key = ring.key_for(Some(company_id)).to_owned();
    RetellClient::new(
        &app.config.retell_base_url,
        key,
        std::time::Duration::from_secs(10),
    )
    .map_err(|e| e.to_string())
}
