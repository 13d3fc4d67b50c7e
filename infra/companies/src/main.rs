//! `load-companies --table <CompaniesTable> companies/*.json`
//!
//! Validates each company file (format: docs/custom-functions.md) and writes it to the companies
//! table: one item for the company and one per agent id and phone number. Uses the standard AWS
//! configuration (and `AWS_ENDPOINT_URL` locally). `make dev` runs it with
//! `infra/local/companies/*.json`.

use std::process::ExitCode;

use shared::booking::company::{Company, CompanyDirectory, CompanySettings, COMPANY_CACHE_TTL};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(i) = args.iter().position(|a| a == "--table") else {
        eprintln!("usage: load-companies --table TABLE FILE.json...");
        return ExitCode::from(2);
    };
    let Some(table) = args.get(i + 1).cloned() else {
        eprintln!("--table needs a table name");
        return ExitCode::from(2);
    };
    let files: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i && *j != i + 1)
        .map(|(_, f)| f)
        .collect();
    let mut settings = Vec::new();
    for file in &files {
        let parsed = std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                serde_json::from_str::<CompanySettings>(&text).map_err(|e| e.to_string())
            })
            .and_then(|s| {
                Company::from_settings(s.clone())
                    .map(|_| s)
                    .map_err(|e| e.to_string())
            });
        match parsed {
            Ok(s) => settings.push(s),
            Err(e) => {
                eprintln!("{file}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let aws =
        shared::platform::aws::AwsClients::from_env(shared::platform::aws::AwsBudget::BACKGROUND)
            .await;
    let directory = CompanyDirectory::new(aws.dynamodb, table, COMPANY_CACHE_TTL);
    for s in &settings {
        if let Err(e) = directory.put(s).await {
            eprintln!("{}: {e}", s.company_id);
            return ExitCode::FAILURE;
        }
        println!(
            "loaded {} ({}): agents {:?}, numbers {:?}",
            s.company_id, s.name, s.agent_ids, s.phone_numbers
        );
    }
    ExitCode::SUCCESS
}
