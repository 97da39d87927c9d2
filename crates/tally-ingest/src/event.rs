//! An accepted event, as stored.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One event after validation. `properties` holds everything but the fields promoted to
/// their own members (token, time, distinct_id, $insert_id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub project_id: i64,
    pub name: String,
    pub distinct_id: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub time_ms: i64,
    pub insert_id: String,
    pub properties: Map<String, Value>,
    /// When Tally accepted it (Mixpanel's `mp_processing_time_ms`).
    pub received_ms: i64,
}

impl Event {
    /// Original ID Merge projects keep `distinct_id` as sent; Simplified derives it from
    /// `$user_id` / `$device_id` when they are present (§7.2, §7.3). `sent` is the id as
    /// sent when Simplified derived another one.
    pub fn apply_id_merge(&mut self, id_merge: tally_types::IdMerge, sent: Option<String>) {
        if id_merge == tally_types::IdMerge::Original
            && let Some(sent) = sent
        {
            self.distinct_id = sent;
        }
    }

    /// The raw-export form: `{"event": ..., "properties": {time (seconds), distinct_id,
    /// $insert_id, mp_processing_time_ms, ...}}`.
    pub fn to_export_json(&self, time_in_ms: bool) -> Value {
        let mut properties = Map::with_capacity(self.properties.len() + 4);
        let time = if time_in_ms { Value::from(self.time_ms) } else { Value::from(self.time_ms / 1000) };
        properties.insert("time".into(), time);
        properties.insert("distinct_id".into(), Value::from(self.distinct_id.clone()));
        properties.insert("$insert_id".into(), Value::from(self.insert_id.clone()));
        properties.insert("mp_processing_time_ms".into(), Value::from(self.received_ms));
        for (key, value) in &self.properties {
            properties.entry(key.clone()).or_insert_with(|| value.clone());
        }
        serde_json::json!({ "event": self.name, "properties": properties })
    }
}
