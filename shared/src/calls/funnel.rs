//! The booking funnel: calls → wanted an appointment → booked, per agent version and per staff
//! member, and the calls that wanted one and got none with the reason Retell's post-call
//! analysis gave and the transcript turn where it was lost.
//!
//! What a call wanted comes from the agent's `post_call_analysis_data` (the default templates'
//! `wanted_appointment`, `no_booking_reason`, `lost_at_quote`); whether it booked comes from the
//! tools (`booked_appointments`, sure even when the analysis is not), so a booked call always
//! counts as having wanted one. Read from the `company-outcomes` index: no transcripts.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use crate::platform::dynamo::from_attribute;

pub const OUTCOMES_INDEX: &str = "company-outcomes";
/// Most calls one report reads (a year of a busy salon); beyond it (or [`READ_BUDGET`]) the
/// report says it is cut.
pub const MAX_CALLS: usize = 50_000;
/// How long one report reads before it reports what it has (a page answers within seconds).
pub const READ_BUDGET: std::time::Duration = std::time::Duration::from_secs(4);
/// Lost calls listed, newest first.
pub const MAX_LOST_LISTED: usize = 25;
/// The staff key of calls that asked for no one.
pub const ANYONE: &str = "";

/// What one call wanted and got.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub call_id: String,
    pub call_ts: i64,
    pub agent_id: String,
    pub agent_version: Option<u64>,
    /// Whom the caller asked for, or booked with (display names).
    pub staff: Vec<String>,
    pub wanted: bool,
    pub booked: bool,
    /// Analysed at all (calls without `custom_analysis_data` are counted as calls only).
    pub analysed: bool,
    pub reason: Option<String>,
    pub lost_at_quote: Option<String>,
}

fn text_of(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "none")
        .map(|s| s.chars().take(500).collect())
}

/// A yes as the analysis may give it: `true`, or the text `true`/`yes`.
fn yes(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.trim().to_lowercase().as_str(), "true" | "yes" | "ja"),
        _ => false,
    }
}

fn names(item: &HashMap<String, AttributeValue>, field: &str) -> Vec<String> {
    match item.get(field).map(from_attribute) {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

impl Outcome {
    /// The outcome of a `company-outcomes` item; `None` for an item without its keys.
    pub fn from_item(item: &HashMap<String, AttributeValue>) -> Option<Self> {
        let call_id = match item.get("call_id") {
            Some(AttributeValue::S(s)) => s.clone(),
            _ => return None,
        };
        let call_ts = match item.get("call_ts") {
            Some(AttributeValue::N(n)) => n.parse().ok()?,
            _ => return None,
        };
        let agent_id = match item.get("agent_id") {
            Some(AttributeValue::S(s)) => s.clone(),
            _ => String::new(),
        };
        let agent_version = match item.get("agent_version") {
            Some(AttributeValue::N(n)) => n.parse().ok(),
            _ => None,
        };
        let analysis = item.get("custom_analysis_data").map(from_attribute);
        let analysis = analysis.as_ref().and_then(Value::as_object);
        let booked = !names(item, "booked_appointments").is_empty();
        let mut staff = names(item, "booked_staff");
        if staff.is_empty() {
            staff = names(item, "asked_staff");
        }
        staff.sort_unstable();
        staff.dedup();
        let wanted = booked || analysis.is_some_and(|a| yes(a.get("wanted_appointment")));
        let lost = wanted && !booked;
        Some(Self {
            call_id,
            call_ts,
            agent_id,
            agent_version,
            staff,
            wanted,
            booked,
            analysed: analysis.is_some(),
            reason: lost
                .then(|| analysis.and_then(|a| text_of(a.get("no_booking_reason"))))
                .flatten(),
            lost_at_quote: lost
                .then(|| analysis.and_then(|a| text_of(a.get("lost_at_quote"))))
                .flatten(),
        })
    }
}

/// Calls, those that wanted an appointment, those that booked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stage {
    pub calls: u64,
    pub wanted: u64,
    pub booked: u64,
}

impl Stage {
    fn add(&mut self, o: &Outcome) {
        self.calls += 1;
        self.wanted += u64::from(o.wanted);
        self.booked += u64::from(o.booked);
    }

    /// Booked of wanted, in percent (none wanted: none).
    pub fn conversion(&self) -> Option<f64> {
        (self.wanted > 0).then(|| self.booked as f64 * 100.0 / self.wanted as f64)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunnelReport {
    pub total: Stage,
    /// (agent id, version) → its calls; a call without a version under `None`.
    pub by_version: BTreeMap<(String, Option<u64>), Stage>,
    /// Staff display name ([`ANYONE`]: no one asked for) → the calls that wanted them.
    pub by_staff: BTreeMap<String, Stage>,
    /// Calls not analysed for what they wanted (no post-call analysis data).
    pub unanalysed: u64,
    /// Wanted and not booked, newest first, at most [`MAX_LOST_LISTED`].
    pub lost: Vec<Outcome>,
    /// The range held more than [`MAX_CALLS`]: the report covers the newest of them.
    pub cut: bool,
}

impl FunnelReport {
    pub fn build(mut outcomes: Vec<Outcome>, cut: bool) -> Self {
        outcomes.sort_by_key(|o| std::cmp::Reverse(o.call_ts));
        let mut report = FunnelReport {
            cut,
            ..Default::default()
        };
        for o in &outcomes {
            report.total.add(o);
            report
                .by_version
                .entry((o.agent_id.clone(), o.agent_version))
                .or_default()
                .add(o);
            if o.wanted {
                if o.staff.is_empty() {
                    report.by_staff.entry(ANYONE.to_owned()).or_default().add(o);
                }
                for name in &o.staff {
                    report.by_staff.entry(name.clone()).or_default().add(o);
                }
            }
            report.unanalysed += u64::from(!o.analysed && !o.booked);
            if o.wanted && !o.booked && report.lost.len() < MAX_LOST_LISTED {
                report.lost.push(o.clone());
            }
        }
        report
    }
}

/// Lower case letters and digits only, words single-spaced: how a quote is looked for.
fn folded(text: &str) -> String {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The turn of `transcript` (Retell's "Agent: …\nUser: …" text) holding `quote`: its number
/// (from 1) and its line. `None` when the quote is not in it (the analysis paraphrased).
pub fn lost_turn(transcript: &str, quote: &str) -> Option<(usize, String)> {
    let want = folded(quote);
    if want.len() < 3 {
        return None;
    }
    transcript
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .find(|(_, line)| folded(line).contains(&want))
        .map(|(i, line)| (i + 1, line.trim().chars().take(500).collect()))
}

/// Reads the outcomes of a company's calls that started in `[from_ms, to_ms)`, newest first,
/// at most [`MAX_CALLS`]; whether there were more.
pub async fn read(
    dynamodb: &aws_sdk_dynamodb::Client,
    calls_table: &str,
    company_id: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<(Vec<Outcome>, bool), String> {
    let mut outcomes = Vec::new();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    let began = std::time::Instant::now();
    loop {
        let out = dynamodb
            .query()
            .table_name(calls_table)
            .index_name(OUTCOMES_INDEX)
            .key_condition_expression("company_id = :c AND call_ts BETWEEN :a AND :b")
            .expression_attribute_values(":c", AttributeValue::S(company_id.to_owned()))
            .expression_attribute_values(":a", AttributeValue::N(from_ms.to_string()))
            .expression_attribute_values(":b", AttributeValue::N((to_ms - 1).to_string()))
            .scan_index_forward(false)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
        outcomes.extend(out.items().iter().filter_map(Outcome::from_item));
        if outcomes.len() >= MAX_CALLS {
            outcomes.truncate(MAX_CALLS);
            return Ok((outcomes, true));
        }
        match out.last_evaluated_key {
            // A page's request inside the time budget; what is left unread is said (`cut`).
            Some(key) if !key.is_empty() && began.elapsed() >= READ_BUDGET => {
                return Ok((outcomes, true))
            }
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok((outcomes, false)),
        }
    }
}

impl crate::calls::store::DynamoCallStore {
    /// [`read`] on this store's calls table.
    pub async fn outcomes(
        &self,
        company_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<(Vec<Outcome>, bool), String> {
        read(&self.client, &self.calls_table, company_id, from_ms, to_ms).await
    }

    /// The transcripts (text) of a company's calls `ids` (at most 100), by call id; another
    /// company's call is left out.
    pub async fn transcripts(
        &self,
        company_id: &str,
        ids: &[String],
    ) -> Result<HashMap<String, String>, String> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found = HashMap::new();
        if ids.is_empty() {
            return Ok(found);
        }
        let keys: Vec<HashMap<String, AttributeValue>> = ids
            .iter()
            .take(100)
            .map(|id| HashMap::from([("call_id".to_owned(), AttributeValue::S(id.clone()))]))
            .collect();
        let mut request = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .projection_expression("call_id, company_id, transcript")
                .build()
                .map_err(|e| e.to_string())?,
        );
        // Unprocessed keys are asked again, a bounded number of times.
        for _ in 0..5 {
            let Some(keys) = request.take() else { break };
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.calls_table, keys)
                .send()
                .await
                .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
            for item in out
                .responses()
                .and_then(|r| r.get(&self.calls_table))
                .into_iter()
                .flatten()
            {
                let text = |k: &str| match item.get(k) {
                    Some(AttributeValue::S(s)) => Some(s.clone()),
                    _ => None,
                };
                if text("company_id").as_deref() != Some(company_id) {
                    continue;
                }
                if let (Some(id), Some(t)) = (text("call_id"), text("transcript")) {
                    found.insert(id, t);
                }
            }
            request = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.calls_table))
                .filter(|k| !k.keys().is_empty());
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::dynamo::to_attribute;
    use serde_json::json;

    fn item(fields: Value) -> HashMap<String, AttributeValue> {
        fields
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), to_attribute(v)))
            .collect()
    }

    #[test]
    fn calls_wanted_and_booked_per_version_and_person() {
        let rows = [
            // Booked with Anna on version 3: wanted, whatever the analysis said.
            json!({"call_id": "c1", "call_ts": 1000, "agent_id": "a", "agent_version": 3,
                   "booked_appointments": ["apt_1"], "booked_staff": ["Anna"],
                   "custom_analysis_data": {"wanted_appointment": false}}),
            // Wanted Ben, nothing free: lost, with the reason and the quote.
            json!({"call_id": "c2", "call_ts": 2000, "agent_id": "a", "agent_version": 3,
                   "asked_staff": ["Ben"],
                   "custom_analysis_data": {"wanted_appointment": true, "no_booking_reason": "no_suitable_time",
                                            "lost_at_quote": "Dann lasse ich es lieber."}}),
            // A question about parking on version 4.
            json!({"call_id": "c3", "call_ts": 3000, "agent_id": "a", "agent_version": 4,
                   "custom_analysis_data": {"wanted_appointment": "false", "no_booking_reason": "none"}}),
            // Wanted anyone, booked on version 4 ("true" as text).
            json!({"call_id": "c4", "call_ts": 4000, "agent_id": "a", "agent_version": 4,
                   "booked_appointments": ["apt_2"],
                   "custom_analysis_data": {"wanted_appointment": "true"}}),
            // Not analysed (an agent without the fields).
            json!({"call_id": "c5", "call_ts": 5000, "agent_id": "b"}),
            // Wanted, lost, no reason given.
            json!({"call_id": "c6", "call_ts": 6000, "agent_id": "a", "agent_version": 4,
                   "custom_analysis_data": {"wanted_appointment": true}}),
        ];
        let outcomes: Vec<Outcome> = rows
            .iter()
            .filter_map(|r| Outcome::from_item(&item(r.clone())))
            .collect();
        let report = FunnelReport::build(outcomes, false);
        assert_eq!(
            report.total,
            Stage {
                calls: 6,
                wanted: 4,
                booked: 2
            }
        );
        assert_eq!(
            report.by_version[&("a".into(), Some(3))],
            Stage {
                calls: 2,
                wanted: 2,
                booked: 1
            }
        );
        assert_eq!(
            report.by_version[&("a".into(), Some(4))],
            Stage {
                calls: 3,
                wanted: 2,
                booked: 1
            }
        );
        assert_eq!(
            report.by_version[&("b".into(), None)],
            Stage {
                calls: 1,
                wanted: 0,
                booked: 0
            }
        );
        assert_eq!(
            report.by_staff["Anna"],
            Stage {
                calls: 1,
                wanted: 1,
                booked: 1
            }
        );
        assert_eq!(
            report.by_staff["Ben"],
            Stage {
                calls: 1,
                wanted: 1,
                booked: 0
            }
        );
        assert_eq!(
            report.by_staff[ANYONE],
            Stage {
                calls: 2,
                wanted: 2,
                booked: 1
            }
        );
        assert_eq!(report.unanalysed, 1);
        let lost: Vec<&str> = report.lost.iter().map(|o| o.call_id.as_str()).collect();
        assert_eq!(lost, ["c6", "c2"]);
        assert_eq!(report.lost[1].reason.as_deref(), Some("no_suitable_time"));
        assert_eq!(report.lost[0].reason, None);
        assert_eq!(report.total.conversion(), Some(50.0));
    }

    #[test]
    fn the_lost_turn_is_found_in_any_spelling() {
        let transcript = "Agent: Guten Tag, Salon Demo.\nUser: Ich hätte gern einen Termin bei Ben.\n\nAgent: Ben ist diese Woche ausgebucht.\nUser: Hm, dann lasse ich es lieber!\n";
        assert_eq!(
            lost_turn(transcript, "dann lasse ich es lieber."),
            Some((4, "User: Hm, dann lasse ich es lieber!".into()))
        );
        assert_eq!(lost_turn(transcript, "Das habe ich nie gesagt"), None);
        assert_eq!(lost_turn(transcript, "."), None);
        assert_eq!(lost_turn("", "lieber"), None);
    }

    #[test]
    fn items_without_keys_or_with_hostile_values_are_read_safely() {
        assert!(Outcome::from_item(&item(json!({"call_ts": 1}))).is_none());
        assert!(Outcome::from_item(&item(json!({"call_id": "c", "call_ts": "x"}))).is_none());
        let o = Outcome::from_item(&item(json!({"call_id": "c", "call_ts": 1,
            "custom_analysis_data": {"wanted_appointment": {"deep": [1]}, "lost_at_quote": "x".repeat(100_000)},
            "booked_staff": "not a list", "agent_version": "v3"})))
        .expect("read");
        assert!(!o.wanted && !o.booked && o.staff.is_empty() && o.agent_version.is_none());
    }
}
