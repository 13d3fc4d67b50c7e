//! Codes that prove a number: six digits by SMS to the number a caller names, valid ten
//! minutes, three tries, at most three codes per number an hour. One item per company and number
//! (`pk = VC#<company>#<number>`, `sk = VC`): the code's salted hash (never the code), the call
//! it was sent in, its expiry, the tries left, and when the last codes went out (the hourly
//! limit). Every write is conditional on the version read, so two requests at once cannot both
//! send a fourth code or both spend the last try. Kept a day (TTL).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{backend, n, s, MessagingError};
use crate::booking::phone::PhoneNumber;

pub const CODE_VALID_MS: i64 = 10 * 60 * 1000;
pub const MAX_TRIES: i64 = 3;
pub const MAX_CODES_PER_HOUR: usize = 3;
/// Code requests one call may make, to any numbers (a refused one counts too): a caller cannot
/// make the business text a list of numbers (SMS pumping), whatever the per-number limit.
pub const MAX_CODES_PER_CALL: i64 = 5;
const KEPT_SECS: i64 = 24 * 3600;

/// What sending a code came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Issued {
    /// A new code for the caller to be sent: the code itself (for the SMS only).
    Code(String),
    /// Three codes went to this number within the hour already.
    RateLimited,
    /// This call had its codes already (`MAX_CODES_PER_CALL`).
    CallLimited,
}

/// What checking a code came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Checked {
    Verified,
    Wrong {
        tries_left: i64,
    },
    /// No code for this number in this call, or it expired, or its tries are spent.
    NoValidCode,
}

#[derive(Clone, Debug)]
pub struct CodeStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn num(item: &HashMap<String, AttributeValue>, field: &str) -> i64 {
    match item.get(field) {
        Some(AttributeValue::N(v)) => v.parse().unwrap_or(0),
        _ => 0,
    }
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, field: &str) -> &'a str {
    match item.get(field) {
        Some(AttributeValue::S(v)) => v,
        _ => "",
    }
}

fn hash(salt: &str, call_id: &str, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{salt}|{call_id}|{code}")))
}

/// Equal bytes, compared in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Six random digits from the OS's generator (uniform: rejection of the top of the range).
fn six_digits() -> Result<(String, String), MessagingError> {
    use ring::rand::{SecureRandom, SystemRandom};
    let rng = SystemRandom::new();
    let mut bytes = [0u8; 4];
    let value = loop {
        rng.fill(&mut bytes)
            .map_err(|_| backend("no random source"))?;
        let v = u32::from_le_bytes(bytes);
        if v < u32::MAX - (u32::MAX % 1_000_000) {
            break v % 1_000_000;
        }
    };
    let mut salt = [0u8; 16];
    rng.fill(&mut salt)
        .map_err(|_| backend("no random source"))?;
    Ok((format!("{value:06}"), hex::encode(salt)))
}

impl CodeStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn key(company_id: &str, phone: &PhoneNumber) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (
                "pk".to_owned(),
                s(format!("VC#{company_id}#{}", phone.as_str())),
            ),
            ("sk".to_owned(), s("VC")),
        ])
    }

    async fn read(
        &self,
        company_id: &str,
        phone: &PhoneNumber,
    ) -> Result<HashMap<String, AttributeValue>, MessagingError> {
        Ok(self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(company_id, phone)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend(DisplayErrorContext(e)))?
            .item
            .unwrap_or_default())
    }

    /// Writes `item` if the stored version is still `version` (0: none stored); `false` if
    /// someone wrote in between.
    async fn write(
        &self,
        mut item: HashMap<String, AttributeValue>,
        version: i64,
    ) -> Result<bool, MessagingError> {
        item.insert("version".to_owned(), n(version + 1));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR version = :v")
            .expression_attribute_values(":v", n(version))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(backend(DisplayErrorContext(e))),
        }
    }

    /// A new code for `phone` in call `call_id` (replacing an earlier one), unless the hour's
    /// codes are used up.
    pub async fn issue(
        &self,
        company_id: &str,
        phone: &PhoneNumber,
        call_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Issued, MessagingError> {
        if !self.count_call(company_id, call_id, now).await? {
            return Ok(Issued::CallLimited);
        }
        let now_ms = now.timestamp_millis();
        for _ in 0..3 {
            let item = self.read(company_id, phone).await?;
            let version = num(&item, "version");
            let mut sent: Vec<i64> = match item.get("sent_ms") {
                Some(AttributeValue::L(list)) => list
                    .iter()
                    .filter_map(|v| match v {
                        AttributeValue::N(x) => x.parse().ok(),
                        _ => None,
                    })
                    .filter(|at| now_ms - at < 3_600_000)
                    .collect(),
                _ => Vec::new(),
            };
            if sent.len() >= MAX_CODES_PER_HOUR {
                return Ok(Issued::RateLimited);
            }
            sent.push(now_ms);
            let (code, salt) = six_digits()?;
            let mut new = Self::key(company_id, phone);
            new.extend([
                ("code_hash".to_owned(), s(hash(&salt, call_id, &code))),
                ("salt".to_owned(), s(salt)),
                ("call_id".to_owned(), s(call_id)),
                ("expires_ms".to_owned(), n(now_ms + CODE_VALID_MS)),
                ("tries_left".to_owned(), n(MAX_TRIES)),
                (
                    "sent_ms".to_owned(),
                    AttributeValue::L(sent.into_iter().map(n).collect()),
                ),
                ("expires_at".to_owned(), n(now.timestamp() + KEPT_SECS)),
            ]);
            if self.write(new, version).await? {
                return Ok(Issued::Code(code));
            }
        }
        Err(backend("verification code item kept changing; try again"))
    }

    /// Counts one more code for the call (`VCCALL#<company>#<call_id>`, kept a day): `false`, and
    /// nothing counted, once it had `MAX_CODES_PER_CALL`.
    async fn count_call(
        &self,
        company_id: &str,
        call_id: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, MessagingError> {
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("VCCALL#{company_id}#{call_id}")))
            .key("sk", s("VC"))
            .update_expression("ADD codes :one SET expires_at = :expires")
            .condition_expression("attribute_not_exists(codes) OR codes < :max")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(MAX_CODES_PER_CALL))
            .expression_attribute_values(":expires", n(now.timestamp() + KEPT_SECS))
            .send()
            .await;
        match counted {
            Ok(_) => Ok(true),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Ok(false)
            }
            Err(e) => Err(backend(DisplayErrorContext(e))),
        }
    }

    /// Checks `code` for `phone` in call `call_id`: a right code is spent at once.
    pub async fn check(
        &self,
        company_id: &str,
        phone: &PhoneNumber,
        call_id: &str,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<Checked, MessagingError> {
        for _ in 0..3 {
            let mut item = self.read(company_id, phone).await?;
            let version = num(&item, "version");
            let tries = num(&item, "tries_left");
            if item.is_empty()
                || text(&item, "call_id") != call_id
                || text(&item, "code_hash").is_empty()
                || num(&item, "expires_ms") <= now.timestamp_millis()
                || tries <= 0
            {
                return Ok(Checked::NoValidCode);
            }
            let given = hash(text(&item, "salt"), call_id, code);
            let right = same(given.as_bytes(), text(&item, "code_hash").as_bytes());
            let outcome = if right {
                item.remove("code_hash");
                item.insert("tries_left".to_owned(), n(0));
                Checked::Verified
            } else {
                item.insert("tries_left".to_owned(), n(tries - 1));
                Checked::Wrong {
                    tries_left: tries - 1,
                }
            };
            if self.write(item, version).await? {
                return Ok(outcome);
            }
        }
        Err(backend("verification code item kept changing; try again"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_salted() {
        let (a, salt_a) = six_digits().expect("random");
        let (b, salt_b) = six_digits().expect("random");
        assert!(a.len() == 6 && a.bytes().all(|c| c.is_ascii_digit()));
        assert!(b.len() == 6);
        assert_ne!(salt_a, salt_b);
        assert_ne!(hash(&salt_a, "call", &a), hash(&salt_b, "call", &a));
    }
}
