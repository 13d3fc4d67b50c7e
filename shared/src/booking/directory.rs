//! The companies directory: which company an agent id, a phone number or a company id names.
//! One item per key in the companies table (`pk` = `company#<id>`, `agent#<agent_id>`,
//! `number#<E.164>`), each holding the company's whole settings document, so finding a company
//! is one GetItem. An agent or number belongs to one company only: loading a company that lists
//! another's is refused, and the entries a company no longer lists are removed.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, PutRequest, WriteRequest};
use tokio::sync::Mutex;

use crate::booking::company::{Company, CompanyError, CompanySettings};
use crate::booking::phone::PhoneNumber;

mod edit;

pub use edit::{changed_settings, SettingsChange, StoredSettings, MAX_SETTINGS_CHANGES};

/// How a tool call names its company.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CompanyKey {
    Id(String),
    Agent(String),
    Number(String),
}

impl CompanyKey {
    /// Whether the key could name anything: agent and company ids are short and plain (Retell's
    /// `agent_…`, our slugs), numbers are E.164. A request that claims anything else is treated
    /// as claiming nothing, so it costs no lookup (and a megabyte id never reaches DynamoDB).
    pub fn is_well_formed(&self) -> bool {
        match self {
            CompanyKey::Id(id) | CompanyKey::Agent(id) => {
                (1..=128).contains(&id.len())
                    && id.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':')
                    })
            }
            CompanyKey::Number(n) => PhoneNumber::parse(n).is_ok_and(|p| p.as_str() == n),
        }
    }

    fn pk(&self) -> String {
        match self {
            CompanyKey::Id(id) => format!("company#{id}"),
            CompanyKey::Agent(a) => format!("agent#{a}"),
            CompanyKey::Number(n) => format!("number#{n}"),
        }
    }
}

/// Companies in DynamoDB: one item per agent id and per phone number, each holding the whole
/// settings document, so finding a company is one GetItem. The one owner of "whose call is this":
/// the webhook, the consumers (through the webhook's envelope), the tools and the inbound webhook
/// all ask it. Cached per container with a TTL, misses included, so a warm container asks
/// DynamoDB at most once a TTL per key.
pub struct CompanyDirectory {
    client: aws_sdk_dynamodb::Client,
    table: String,
    ttl: Duration,
    cache: Mutex<HashMap<CompanyKey, CachedLookup>>,
    /// The company ids, as last scanned, for the same TTL (an admin's every page lists them).
    ids: Mutex<Option<(Instant, Vec<String>)>>,
}

/// When a key was looked up, and the company it names (`None`: nobody listed it).
type CachedLookup = (Instant, Option<Arc<Company>>);

pub const COMPANY_CACHE_TTL: Duration = Duration::from_secs(60);
const MAX_CACHED_KEYS: usize = 10_000;

impl CompanyDirectory {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>, ttl: Duration) -> Self {
        Self {
            client,
            table: table.into(),
            ttl,
            cache: Mutex::new(HashMap::new()),
            ids: Mutex::new(None),
        }
    }

    pub async fn find(&self, key: &CompanyKey) -> Result<Arc<Company>, CompanyError> {
        self.lookup(key)
            .await?
            .ok_or_else(|| CompanyError::NotFound(key.pk()))
    }

    /// The company `key` names, `None` if nobody listed it.
    pub async fn lookup(&self, key: &CompanyKey) -> Result<Option<Arc<Company>>, CompanyError> {
        if let Some((at, company)) = self.cache.lock().await.get(key) {
            if at.elapsed() < self.ttl {
                return Ok(company.clone());
            }
        }
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.pk()))
            .send()
            .await
            .map_err(|e| CompanyError::Backend(DisplayErrorContext(e).to_string()))?;
        let company = match out.item.as_ref().and_then(|i| i.get("settings")) {
            Some(AttributeValue::S(json)) => {
                let settings = serde_json::from_str::<CompanySettings>(json)
                    .map_err(|e| CompanyError::Invalid(e.to_string()))?;
                Some(Arc::new(Company::from_settings(settings)?))
            }
            _ => None,
        };
        self.remember([key.clone()], company.clone()).await;
        Ok(company)
    }

    /// Records what `keys` name, as a lookup that read it would, for the TTL: what this process
    /// has just written ([`Self::put`]), or already knows (a warm container, in the benches).
    pub async fn remember(
        &self,
        keys: impl IntoIterator<Item = CompanyKey>,
        company: Option<Arc<Company>>,
    ) {
        let mut cache = self.cache.lock().await;
        for key in keys {
            // Signed-looking requests with made-up agent ids must not grow the cache without end.
            if cache.len() >= MAX_CACHED_KEYS {
                cache.clear();
            }
            cache.insert(key, (Instant::now(), company.clone()));
        }
    }

    /// Drops the cached answer for the key stored as `pk`: it is read again when asked.
    async fn forget(&self, pk: &str) {
        self.cache.lock().await.retain(|key, _| key.pk() != pk);
    }

    /// Every company id in the table: one Scan of the small companies table (for jobs that visit
    /// each company, and an admin's company list), reused for the TTL.
    pub async fn company_ids(&self) -> Result<Vec<String>, CompanyError> {
        let mut cached = self.ids.lock().await;
        if let Some((at, ids)) = cached.as_ref() {
            if at.elapsed() < self.ttl {
                return Ok(ids.clone());
            }
        }
        let ids = self.scan_company_ids().await?;
        *cached = Some((Instant::now(), ids.clone()));
        Ok(ids)
    }

    async fn scan_company_ids(&self) -> Result<Vec<String>, CompanyError> {
        let mut ids = BTreeSet::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(pk, :p)")
                .expression_attribute_values(":p", AttributeValue::S("company#".into()))
                .projection_expression("company_id")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| CompanyError::Backend(DisplayErrorContext(e).to_string()))?;
            for item in out.items() {
                if let Some(AttributeValue::S(id)) = item.get("company_id") {
                    ids.insert(id.clone());
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(ids.into_iter().collect()),
            }
        }
    }

    /// Writes a company's items (its own and one per agent id and number), after checking that
    /// no other company has any of its agents or numbers, and removes the entries of agents and
    /// numbers it listed before and no longer does.
    pub async fn put(&self, settings: &CompanySettings) -> Result<Loaded, CompanyError> {
        let company = Arc::new(Company::from_settings(settings.clone())?);
        let json =
            serde_json::to_string(settings).map_err(|e| CompanyError::Invalid(e.to_string()))?;
        let me = settings.company_id.as_str();
        let own = CompanyKey::Id(me.to_owned()).pk();
        let listed = listed_keys(settings)?;
        let wanted: Vec<String> = listed.iter().map(CompanyKey::pk).collect();
        let mut read = wanted.clone();
        read.push(own.clone());
        let found = self.batch_get(&read).await?;
        for pk in &wanted {
            if let Some(owner) = found
                .get(pk)
                .and_then(|item| item.get("company_id"))
                .and_then(|v| v.as_s().ok())
                .filter(|owner| owner.as_str() != me)
            {
                return Err(CompanyError::Conflict(format!(
                    "{} is company {owner}'s, not {me}'s (remove it from one of the two files)",
                    shown_key(pk)
                )));
            }
        }
        // What the company listed before: its entries that are no longer wanted go.
        let before: Vec<String> = found
            .get(&own)
            .and_then(|item| item.get("settings"))
            .and_then(|v| v.as_s().ok())
            .and_then(|text| serde_json::from_str::<CompanySettings>(text).ok())
            .and_then(|old| listed_keys(&old).ok())
            .unwrap_or_default()
            .iter()
            .map(CompanyKey::pk)
            .collect();
        // A load is a write like any other: it raises the version (an edit made on what was
        // there before is refused) and goes in the change log.
        let (version, log) = edit::version_and_log(found.get(&own));
        let version = AttributeValue::N((version + 1).to_string());
        let what = found
            .get(&own)
            .and_then(|item| item.get("settings"))
            .and_then(|v| v.as_s().ok())
            .and_then(|text| serde_json::from_str::<CompanySettings>(text).ok())
            .map_or_else(
                || vec!["created".to_owned()],
                |old| changed_settings(&old, settings),
            );
        let log = edit::log_with(
            log,
            SettingsChange {
                at_ms: chrono::Utc::now().timestamp_millis(),
                by: "companies load".into(),
                what: if what.is_empty() {
                    "loaded, unchanged".into()
                } else {
                    what.join(", ")
                },
            },
        );
        let mut all = vec![own.clone()];
        all.extend(wanted.iter().cloned());
        let writes = all
            .iter()
            .map(|pk| {
                let mut put = PutRequest::builder()
                    .item("pk", AttributeValue::S(pk.clone()))
                    .item("company_id", AttributeValue::S(me.to_owned()))
                    .item("settings", AttributeValue::S(json.clone()))
                    .item("version", version.clone());
                if *pk == own {
                    put = put.item("settings_changes", log.clone());
                }
                let put = put
                    .build()
                    .map_err(|e| CompanyError::Backend(e.to_string()))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, CompanyError>>()?;
        for chunk in writes.chunks(25) {
            self.batch_write(chunk.to_vec()).await?;
        }
        // This process sees what it wrote at once, not after the TTL.
        let mut own_keys = listed;
        own_keys.push(CompanyKey::Id(me.to_owned()));
        self.remember(own_keys, Some(company)).await;
        let mut removed = Vec::new();
        for pk in before.iter().filter(|pk| !wanted.contains(pk)) {
            self.forget(pk).await;
            // Only if it still names this company: another may have taken it since.
            let deleted = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("pk", AttributeValue::S(pk.clone()))
                .condition_expression("company_id = :me")
                .expression_attribute_values(":me", AttributeValue::S(me.to_owned()))
                .send()
                .await;
            match deleted {
                Ok(_) => removed.push(shown_key(pk)),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(e) => return Err(CompanyError::Backend(DisplayErrorContext(e).to_string())),
            }
        }
        Ok(Loaded { removed })
    }

    /// The items of `pks` that exist, by pk (BatchGetItem, unprocessed keys asked again).
    async fn batch_get(
        &self,
        pks: &[String],
    ) -> Result<HashMap<String, HashMap<String, AttributeValue>>, CompanyError> {
        let mut found = HashMap::new();
        for chunk in pks.chunks(100) {
            let keys = chunk
                .iter()
                .map(|pk| HashMap::from([("pk".to_owned(), AttributeValue::S(pk.clone()))]))
                .collect::<Vec<_>>();
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| CompanyError::Backend(e.to_string()))?,
            );
            let mut attempt = 0;
            while let Some(request) = pending.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| CompanyError::Backend(DisplayErrorContext(e).to_string()))?;
                for item in out
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    if let Some(AttributeValue::S(pk)) = item.get("pk") {
                        found.insert(pk.clone(), item);
                    }
                }
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys().is_empty());
                if pending.is_some() {
                    attempt += 1;
                    unprocessed_backoff(attempt).await?;
                }
            }
        }
        Ok(found)
    }

    /// One BatchWriteItem, its unprocessed items sent again with backoff until none are left.
    async fn batch_write(&self, writes: Vec<WriteRequest>) -> Result<(), CompanyError> {
        let mut pending = writes;
        let mut attempt = 0;
        while !pending.is_empty() {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(|e| CompanyError::Backend(DisplayErrorContext(e).to_string()))?;
            pending = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
                .unwrap_or_default();
            if !pending.is_empty() {
                attempt += 1;
                unprocessed_backoff(attempt).await?;
            }
        }
        Ok(())
    }
}

/// What loading a company changed besides writing it: the directory entries removed because it
/// no longer lists them (`agent agent_x`, `number +49…`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loaded {
    pub removed: Vec<String>,
}

/// The agent and number keys a company's settings list, each once.
fn listed_keys(settings: &CompanySettings) -> Result<Vec<CompanyKey>, CompanyError> {
    let mut keys: Vec<CompanyKey> = settings
        .agent_ids
        .iter()
        .map(|a| CompanyKey::Agent(a.clone()))
        .collect();
    for n in &settings.phone_numbers {
        let e164 = PhoneNumber::parse(n).map_err(|e| CompanyError::Invalid(e.to_string()))?;
        keys.push(CompanyKey::Number(e164.as_str().to_owned()));
    }
    keys.sort_by_key(CompanyKey::pk);
    keys.dedup();
    Ok(keys)
}

/// A directory key as an operator reads it: `agent agent_x`, `number +49…`.
fn shown_key(pk: &str) -> String {
    match pk.split_once('#') {
        Some((kind, id)) => format!("{kind} {}", id.chars().take(64).collect::<String>()),
        None => pk.to_owned(),
    }
}

/// Waits before asking again for what DynamoDB left unprocessed (it is throttling): 50 ms
/// doubling, at most 8 tries.
async fn unprocessed_backoff(attempt: u32) -> Result<(), CompanyError> {
    if attempt > 8 {
        return Err(CompanyError::Backend(
            "DynamoDB left items unprocessed 8 times in a row (throttled); try again".into(),
        ));
    }
    tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plausible_keys_are_looked_up() {
        for ok in [
            CompanyKey::Agent("agent_0123abcd".into()),
            CompanyKey::Id("salon-mitte".into()),
            CompanyKey::Number("+493012345678".into()),
        ] {
            assert!(ok.is_well_formed(), "{ok:?}");
        }
        for bad in [
            CompanyKey::Agent(String::new()),
            CompanyKey::Agent("x".repeat(1_000_000)),
            CompanyKey::Agent("agent#evil".into()),
            CompanyKey::Id("a b".into()),
            CompanyKey::Id("Zürich".into()),
            CompanyKey::Number("030 12345678".into()),
        ] {
            assert!(!bad.is_well_formed(), "{bad:?}");
        }
    }

    #[test]
    fn keys_are_shown_as_what_they_name() {
        assert_eq!(shown_key("agent#agent_x"), "agent agent_x");
        assert_eq!(shown_key("number#+493012345678"), "number +493012345678");
    }
}
