//! What every command works with: the stack the flags name, the output, AWS clients and the
//! Retell client (or why there is none), and the reads several commands share.

use std::collections::BTreeSet;

use aws_sdk_sqs::types::QueueAttributeName;
use shared::booking::directory::{CompanyDirectory, COMPANY_CACHE_TTL};
use shared::calls::store::DynamoCallStore;
use shared::calls::views::{CallFilter, CallSummary};
use shared::platform::aws::AwsClients;
use shared::retell::api::RetellClient;

use crate::error::{err, CliError};
use crate::output::Out;
use crate::target::Stack;

/// What a command runs with, built once the stack is chosen.
pub struct Context {
    pub stack: Stack,
    pub out: Out,
    pub aws: AwsClients,
    /// The client and where its key came from; a command that needs none still runs without.
    retell: Result<(RetellClient, &'static str), String>,
    retell_key: Option<String>,
}

/// `--local`: the stack `make dev` runs, with this process's AWS pointed at its emulator.
/// Sets environment variables, so it runs before any thread starts.
pub fn enter_local_stack() -> Result<Stack, CliError> {
    let path = Stack::local_state_file();
    let (stack, endpoint) = Stack::local(&path).map_err(err)?;
    std::env::set_var("AWS_ENDPOINT_URL", &endpoint);
    for (k, v) in [
        ("AWS_REGION", "eu-central-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ] {
        if std::env::var_os(k).is_none() {
            std::env::set_var(k, v);
        }
    }
    Ok(stack)
}

/// The stack to operate: the local one already entered, else the deployed `--stack NAME`.
pub async fn choose_stack(local: Option<Stack>, name: Option<&str>) -> Result<Stack, CliError> {
    match (local, name) {
        (Some(s), _) => Ok(s),
        (None, Some(name)) => Ok(Stack::deployed(name).await.map_err(err)?),
        (None, None) => Err(CliError::Usage(
            "say which system: --stack NAME (deployed) or --local (make dev)".into(),
        )),
    }
}

impl Context {
    pub async fn new(stack: Stack, out: Out) -> Self {
        let aws = stack.aws().await;
        let (retell, retell_key) = match stack.retell_key(&aws).await {
            Ok((key, source)) => (
                stack
                    .retell(&key)
                    .map(|c| (c, source))
                    .map_err(|e| e.to_string()),
                Some(key),
            ),
            Err(e) => (Err(e.to_string()), None),
        };
        Self {
            stack,
            out,
            aws,
            retell,
            retell_key,
        }
    }

    /// The Retell API key the commands use (never printed).
    pub fn retell_key(&self) -> Option<&str> {
        self.retell_key.as_deref()
    }

    pub fn retell(&self) -> Result<&RetellClient, String> {
        self.retell.as_ref().map(|(c, _)| c).map_err(Clone::clone)
    }

    /// A Retell client with the key the company's calls are signed with (`RETELL_API_KEY`
    /// wins, as for every command).
    pub async fn retell_for_company(&self, company: &str) -> Result<RetellClient, String> {
        if std::env::var("RETELL_API_KEY").is_ok_and(|k| !k.trim().is_empty()) {
            return self.retell().cloned();
        }
        let ring = self
            .stack
            .key_ring(&self.aws)
            .await
            .map_err(|e| e.to_string())?;
        self.stack
            .retell(ring.key_for(Some(company)))
            .map_err(|e| e.to_string())
    }

    /// The client and where its key came from (`test-connection` says which).
    pub fn retell_and_key_source(&self) -> Result<(&RetellClient, &'static str), &str> {
        self.retell
            .as_ref()
            .map(|(c, source)| (c, *source))
            .map_err(String::as_str)
    }

    /// The stack's calls and statistics tables.
    pub fn call_store(&self) -> DynamoCallStore {
        DynamoCallStore::new(
            self.aws.dynamodb.clone(),
            self.stack.calls_table.clone(),
            self.stack.stats_table.clone(),
        )
    }

    /// The ids of `companies`' calls that started in `[from_ms, to_ms)`, newest first, 200 a
    /// page through each company's index (never a scan).
    pub async fn call_ids(
        &self,
        companies: &[String],
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<String>, String> {
        let filter = CallFilter {
            from_ms,
            to_ms,
            ..Default::default()
        };
        let mut ids = Vec::new();
        each_call(&self.call_store(), companies, &filter, |_, call| {
            ids.push(call.call_id.clone());
            Ok(())
        })
        .await?;
        Ok(ids)
    }

    /// `company`, or every company in the companies table and the default company. A company
    /// the stack does not know is refused: reading nothing would look like a quiet day.
    pub async fn companies(&self, company: Option<&str>) -> Result<Vec<String>, String> {
        let directory = CompanyDirectory::new(
            self.aws.dynamodb.clone(),
            self.stack.companies_table.clone(),
            COMPANY_CACHE_TTL,
        );
        let mut known: BTreeSet<String> = directory
            .company_ids()
            .await
            .map_err(err)?
            .into_iter()
            .collect();
        known.insert(self.stack.default_company_id.clone());
        match company {
            Some(id) if !known.contains(id) => {
                let shown: String = id.chars().take(64).collect();
                Err(format!(
                    "--company: no company {shown:?} in {} (known: {})",
                    self.stack.companies_table,
                    known.into_iter().collect::<Vec<_>>().join(", ")
                ))
            }
            Some(id) => Ok(vec![id.to_owned()]),
            None => Ok(known.into_iter().collect()),
        }
    }

    /// (visible, in flight) messages of a queue.
    pub async fn queue_depth(&self, url: &str) -> Result<(u64, u64), String> {
        let out = self
            .aws
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        let attrs = out.attributes().cloned().unwrap_or_default();
        let get = |k: QueueAttributeName| attrs.get(&k).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok((
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }
}

/// Each call of `companies` that `filter` selects, newest first, 200 a page through each
/// company's index (never a scan), handed to `f` without holding more than a page.
pub async fn each_call(
    store: &DynamoCallStore,
    companies: &[String],
    filter: &CallFilter,
    mut f: impl FnMut(&str, &CallSummary) -> Result<(), String>,
) -> Result<(), String> {
    for company in companies {
        let mut cursor: Option<String> = None;
        loop {
            let page = store
                .company_calls(company, filter, 200, cursor.as_deref())
                .await
                .map_err(|e| format!("{company}: {e}"))?;
            for call in &page.calls {
                f(company, call)?;
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(())
}
