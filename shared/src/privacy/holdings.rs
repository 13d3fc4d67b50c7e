//! Everything this stack holds about one caller of one company, found through the keys and
//! indexes that name their number (never by reading another caller's data): their calls (as
//! caller, and as the one called by a reminder), those calls' raw events and recordings in S3,
//! their appointments and the messages sent about them, their callbacks, their customer record,
//! the verification items of their number and calls. Export writes it out; erasure removes it.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{PrivacyError, PrivacyStores, Subject};

pub type Item = HashMap<String, AttributeValue>;

/// What was found, each with the keys that remove it.
#[derive(Debug, Default)]
pub struct Holdings {
    /// Full call items of the company whose `from_number` or `to_number` is the subject's.
    pub calls: Vec<Item>,
    /// S3 keys: the calls' raw events, transfer events and recordings.
    pub objects: BTreeSet<String>,
    /// Appointment items (`A#…`) booked for the number.
    pub appointments: Vec<Item>,
    /// Message items (`M#<appointment>#…`) about those appointments.
    pub messages: Vec<Item>,
    /// Callback items (`CB#…`) with the number.
    pub callbacks: Vec<Item>,
    /// The customer item (`U#<number>`).
    pub customer: Option<Item>,
    /// Verification items: the number's code (`VC#…`) and its calls' checks (`V#…`).
    pub checks: Vec<Item>,
}

impl Holdings {
    pub fn call_ids(&self) -> Vec<String> {
        self.calls
            .iter()
            .filter_map(|c| text(c, "call_id"))
            .collect()
    }

    pub fn appointment_ids(&self) -> Vec<String> {
        self.appointments
            .iter()
            .filter_map(|a| text(a, "appointment_id"))
            .collect()
    }

    /// Finds it all. Reads only: calls by the caller index and the company's call index
    /// (the numbers are in both projections), appointments by the customer index, the rest by
    /// key or in the company's own partition.
    pub async fn find(stores: &PrivacyStores, subject: &Subject) -> Result<Self, PrivacyError> {
        let mut found = Self::default();
        let phone = subject.phone.as_str();
        let company = subject.company_id.as_str();
        let mut call_ids = BTreeSet::new();
        let as_caller = stores
            .query(
                &stores.calls_table,
                Some("caller-calls"),
                "from_number = :p",
                Some("company_id = :c"),
                &[(":p", s(phone)), (":c", s(company))],
            )
            .await?;
        let as_called = stores
            .query(
                &stores.calls_table,
                Some("company-calls"),
                "company_id = :c",
                Some("to_number = :p"),
                &[(":p", s(phone)), (":c", s(company))],
            )
            .await?;
        call_ids.extend(
            as_caller
                .iter()
                .chain(as_called.iter())
                .filter_map(|i| text(i, "call_id")),
        );
        for call_id in &call_ids {
            let Some(item) = stores
                .get(&stores.calls_table, &[("call_id", s(call_id))])
                .await?
            else {
                continue;
            };
            // The index may lag the table: only what the item itself says counts.
            let own = text(&item, "company_id").as_deref() == Some(company)
                && (text(&item, "from_number").as_deref() == Some(phone)
                    || text(&item, "to_number").as_deref() == Some(phone));
            if !own {
                continue;
            }
            found.objects.extend(stores.call_objects(&item).await?);
            if let Some(check) = stores
                .get(
                    &stores.appointments_table,
                    &[("pk", s(format!("V#{company}#{call_id}"))), ("sk", s("V"))],
                )
                .await?
            {
                found.checks.push(check);
            }
            found.calls.push(item);
        }
        if let Some(code) = stores
            .get(
                &stores.appointments_table,
                &[("pk", s(format!("VC#{company}#{phone}"))), ("sk", s("VC"))],
            )
            .await?
        {
            found.checks.push(code);
        }
        found.appointments = stores
            .query(
                &stores.appointments_table,
                Some("customer-appointments"),
                "customer_key = :k",
                None,
                &[(":k", s(format!("{company}#{phone}")))],
            )
            .await?
            .into_iter()
            .filter(|a| text(a, "company_id").as_deref() == Some(company))
            .collect();
        for id in found.appointment_ids() {
            found.messages.extend(
                stores
                    .query(
                        &stores.appointments_table,
                        None,
                        "pk = :pk AND begins_with(sk, :m)",
                        None,
                        &[
                            (":pk", s(format!("C#{company}"))),
                            (":m", s(format!("M#{id}#"))),
                        ],
                    )
                    .await?,
            );
        }
        found.callbacks = stores
            .query(
                &stores.appointments_table,
                None,
                "pk = :pk AND begins_with(sk, :cb)",
                Some("phone = :p"),
                &[
                    (":pk", s(format!("C#{company}"))),
                    (":cb", s("CB#")),
                    (":p", s(phone)),
                ],
            )
            .await?;
        found.customer = stores
            .get(
                &stores.appointments_table,
                &[
                    ("pk", s(format!("C#{company}"))),
                    ("sk", s(format!("U#{phone}"))),
                ],
            )
            .await?;
        Ok(found)
    }
}

impl PrivacyStores {
    /// A call's objects in the bucket: the keys its item names, everything under its event
    /// prefixes (the company's, and the one used before the company was part of the key), and
    /// its recording under its day.
    async fn call_objects(&self, call: &Item) -> Result<Vec<String>, PrivacyError> {
        let (Some(call_id), Some(company)) = (text(call, "call_id"), text(call, "company_id"))
        else {
            return Ok(Vec::new());
        };
        let mut keys: Vec<String> = match call.get("payload_refs") {
            Some(AttributeValue::Ss(refs)) => refs.clone(),
            _ => Vec::new(),
        };
        keys.extend(self.list(&format!("calls/{company}/{call_id}/")).await?);
        keys.extend(self.list(&format!("calls/{call_id}/")).await?);
        if let Some(day) = text(call, "stats_day") {
            keys.extend(
                self.list(&format!("recordings/{company}/{day}/{call_id}."))
                    .await?,
            );
        }
        // A key the item names but S3 no longer has is gone already: not a holding.
        let mut present = Vec::new();
        for key in keys {
            if self.exists(&key).await? {
                present.push(key);
            }
        }
        Ok(present)
    }

    pub(crate) async fn exists(&self, key: &str) -> Result<bool, PrivacyError> {
        match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(aws_sdk_s3::error::SdkError::ServiceError(e)) if e.err().is_not_found() => {
                Ok(false)
            }
            Err(e) => Err(PrivacyError::Storage(format!(
                "S3 HeadObject: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            ))),
        }
    }

    /// Every key under `prefix`, page by page.
    pub(crate) async fn list(&self, prefix: &str) -> Result<Vec<String>, PrivacyError> {
        crate::platform::s3_objects::keys_under(&self.s3, &self.bucket, prefix)
            .await
            .map_err(PrivacyError::Storage)
    }

    /// One strongly consistent GetItem.
    pub(crate) async fn get(
        &self,
        table: &str,
        key: &[(&str, AttributeValue)],
    ) -> Result<Option<Item>, PrivacyError> {
        self.dynamodb
            .get_item()
            .table_name(table)
            .set_key(Some(
                key.iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
            ))
            .consistent_read(true)
            .send()
            .await
            .map(|out| out.item)
            .map_err(|e| {
                PrivacyError::Storage(format!("DynamoDB GetItem: {}", DisplayErrorContext(e)))
            })
    }

    /// Every item a Query (optionally on an index, optionally filtered) returns, page by page.
    pub(crate) async fn query(
        &self,
        table: &str,
        index: Option<&str>,
        key_condition: &str,
        filter: Option<&str>,
        values: &[(&str, AttributeValue)],
    ) -> Result<Vec<Item>, PrivacyError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .dynamodb
                .query()
                .table_name(table)
                .set_index_name(index.map(str::to_owned))
                .key_condition_expression(key_condition)
                .set_filter_expression(filter.map(str::to_owned))
                .set_expression_attribute_values(Some(
                    values
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), v.clone()))
                        .collect(),
                ))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| {
                    PrivacyError::Storage(format!("DynamoDB Query: {}", DisplayErrorContext(e)))
                })?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn text(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}
