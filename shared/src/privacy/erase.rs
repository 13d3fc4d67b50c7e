//! Erasing one caller (DSGVO Art. 17): what [`Holdings`] finds is removed in an order that can
//! be resumed (what points at something is changed after what it points at: the call's objects
//! and Retell's copy before the call item that names them), then [`proof::scan`] searches the
//! company's data for the number, and the receipt goes to the audit trail. Appointments and
//! calls stay as anonymous records (time, service, staff, duration, outcome), so the statistics
//! and the staff's history still add up; customer record, verification items and raw events go.
//! Running it again finds nothing and changes nothing.

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use super::holdings::{s, text, Holdings, Item};
use super::proof::{self, Proof, Scope};
use super::{AuditEntry, AuditLog, PrivacyError, PrivacyStores, Subject};
use crate::calls::store::{item_to_record, record_to_item};
use crate::retell::api::RetellClient;

/// Appointment attributes that name the customer.
const APPOINTMENT_PERSONAL: &[&str] = &["customer_key", "customer_name", "customer_email", "notes"];
/// Conflicting writes (a consumer merging a late event) an item's erasure waits out.
const MAX_CONFLICTS: usize = 5;

/// What an erasure did, where and when, by whom: no number, no name.
#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    pub company_id: String,
    pub at_ms: i64,
    pub by: String,
    pub call_ids: Vec<String>,
    pub appointment_ids: Vec<String>,
    pub messages: usize,
    pub callbacks: usize,
    pub customer_record: bool,
    pub verification_items: usize,
    pub objects_deleted: usize,
    /// `deleted N` (and `, M not found`: deleted before, or kept in another Retell account
    /// than the company's key reaches), or `not asked` (no Retell access was given: the
    /// operator deletes them there).
    pub retell: String,
    pub proof: Proof,
}

impl Receipt {
    /// Nothing was held.
    pub fn nothing_held(&self) -> bool {
        self.call_ids.is_empty()
            && self.appointment_ids.is_empty()
            && self.messages == 0
            && self.callbacks == 0
            && !self.customer_record
            && self.verification_items == 0
            && self.objects_deleted == 0
    }
}

/// How an erasure is run.
pub struct Erasure<'a> {
    pub stores: &'a PrivacyStores,
    /// The company's Retell account, to delete its copies of the calls; None: not asked.
    pub retell: Option<&'a RetellClient>,
    pub audit: Option<&'a AuditLog>,
    pub by: String,
    /// How much of the company the proof searches ([`Scope`]).
    pub proof: Scope,
}

impl Erasure<'_> {
    pub async fn run(&self, subject: &Subject, now_ms: i64) -> Result<Receipt, PrivacyError> {
        let found = Holdings::find(self.stores, subject).await?;
        let objects_deleted = self.delete_objects(&found).await?;
        let retell = self.delete_at_retell(&found).await?;
        for message in &found.messages {
            self.update(
                &self.stores.appointments_table,
                message,
                "SET erased_at_ms = :now REMOVE recipient",
                now_ms,
            )
            .await?;
        }
        for check in &found.checks {
            self.delete_item(&self.stores.appointments_table, check)
                .await?;
        }
        for callback in &found.callbacks {
            self.update(
                &self.stores.appointments_table,
                callback,
                "SET erased_at_ms = :now, phone = :empty, reason = :empty, notes = :none, \
                 version = version + :one REMOVE #name, preferred",
                now_ms,
            )
            .await?;
        }
        for call in &found.calls {
            self.erase_call(call, now_ms).await?;
        }
        for appointment in &found.appointments {
            self.update(
                &self.stores.appointments_table,
                appointment,
                &format!(
                    "SET erased_at_ms = :now, customer_phone = :empty REMOVE {}",
                    APPOINTMENT_PERSONAL.join(", ")
                ),
                now_ms,
            )
            .await?;
        }
        if let Some(customer) = &found.customer {
            self.delete_item(&self.stores.appointments_table, customer)
                .await?;
        }
        let proof = proof::scan(self.stores, subject, self.proof, &found.call_ids()).await?;
        let receipt = Receipt {
            company_id: subject.company_id.clone(),
            at_ms: now_ms,
            by: self.by.clone(),
            call_ids: found.call_ids(),
            appointment_ids: found.appointment_ids(),
            messages: found.messages.len(),
            callbacks: found.callbacks.len(),
            customer_record: found.customer.is_some(),
            verification_items: found.checks.len(),
            objects_deleted,
            retell,
            proof,
        };
        if let Some(audit) = self.audit {
            audit
                .record(&AuditEntry {
                    company_id: subject.company_id.clone(),
                    at_ms: now_ms,
                    by: self.by.clone(),
                    action: "erased".to_owned(),
                    subject: "caller".to_owned(),
                    detail: serde_json::to_value(&receipt).unwrap_or_default(),
                })
                .await?;
        }
        tracing::info!(
            company = %subject.company_id,
            phone = %subject.phone.masked(),
            calls = receipt.call_ids.len(),
            appointments = receipt.appointment_ids.len(),
            objects = objects_deleted,
            clean = receipt.proof.clean(),
            "caller erased"
        );
        Ok(receipt)
    }

    async fn delete_objects(&self, found: &Holdings) -> Result<usize, PrivacyError> {
        for key in &found.objects {
            self.stores
                .s3
                .delete_object()
                .bucket(&self.stores.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| {
                    PrivacyError::Storage(format!(
                        "S3 DeleteObject: {}",
                        aws_sdk_s3::error::DisplayErrorContext(e)
                    ))
                })?;
        }
        Ok(found.objects.len())
    }

    /// Retell's copy of each call; one already gone counts as deleted. A failure stops the
    /// erasure before the call items lose the ids a second run needs.
    async fn delete_at_retell(&self, found: &Holdings) -> Result<String, PrivacyError> {
        let Some(retell) = self.retell else {
            return Ok("not asked".to_owned());
        };
        let (mut deleted, mut not_found) = (0, 0);
        for call_id in found.call_ids() {
            match retell.delete_call(&call_id).await {
                Ok(()) => deleted += 1,
                Err(e) if e.is_not_found() => not_found += 1,
                Err(e) => return Err(PrivacyError::Retell(e.to_string())),
            }
        }
        Ok(if not_found == 0 {
            format!("deleted {deleted}")
        } else {
            format!("deleted {deleted}, {not_found} not found")
        })
    }

    /// The call item without the caller: read, stripped to what its statistics are made of,
    /// written back on the version read (a consumer's write in between: read again).
    async fn erase_call(&self, call: &Item, now_ms: i64) -> Result<(), PrivacyError> {
        let call_id = text(call, "call_id").unwrap_or_default();
        for _ in 0..MAX_CONFLICTS {
            let Some(item) = self
                .stores
                .get(&self.stores.calls_table, &[("call_id", s(&call_id))])
                .await?
            else {
                return Ok(());
            };
            let mut record =
                item_to_record(&item).map_err(|e| PrivacyError::Corrupt(e.to_string()))?;
            let read_version = record.version;
            record.strip_personal();
            record.erased_at_ms.get_or_insert(now_ms);
            record.version = read_version + 1;
            let written = self
                .stores
                .dynamodb
                .put_item()
                .table_name(&self.stores.calls_table)
                .set_item(Some(record_to_item(&record, now_ms)))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", AttributeValue::N(read_version.to_string()))
                .send()
                .await;
            match written {
                Ok(_) => return Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                {
                    continue
                }
                Err(e) => {
                    return Err(PrivacyError::Storage(format!(
                        "DynamoDB PutItem: {}",
                        DisplayErrorContext(e)
                    )))
                }
            }
        }
        Err(PrivacyError::Storage(format!(
            "call {call_id} kept changing; run the erasure again"
        )))
    }

    async fn update(
        &self,
        table: &str,
        item: &Item,
        expression: &str,
        now_ms: i64,
    ) -> Result<(), PrivacyError> {
        let mut request = self
            .stores
            .dynamodb
            .update_item()
            .table_name(table)
            .set_key(Some(key_of(item)))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", AttributeValue::N(now_ms.to_string()));
        if expression.contains(":empty") {
            request = request.expression_attribute_values(":empty", s(""));
        }
        if expression.contains(":none") {
            request = request.expression_attribute_values(":none", AttributeValue::L(Vec::new()));
        }
        if expression.contains(":one") {
            request = request.expression_attribute_values(":one", AttributeValue::N("1".into()));
        }
        if expression.contains("#name") {
            request = request.expression_attribute_names("#name", "name");
        }
        match request.send().await {
            Ok(_) => Ok(()),
            // Gone meanwhile (a callback moved between open and done, a message expired).
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(PrivacyError::Storage(format!(
                "DynamoDB UpdateItem: {}",
                DisplayErrorContext(e)
            ))),
        }
    }

    async fn delete_item(&self, table: &str, item: &Item) -> Result<(), PrivacyError> {
        self.stores
            .dynamodb
            .delete_item()
            .table_name(table)
            .set_key(Some(key_of(item)))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                PrivacyError::Storage(format!("DynamoDB DeleteItem: {}", DisplayErrorContext(e)))
            })
    }
}

fn key_of(item: &Item) -> std::collections::HashMap<String, AttributeValue> {
    ["pk", "sk"]
        .into_iter()
        .filter_map(|k| item.get(k).map(|v| (k.to_owned(), v.clone())))
        .collect()
}
