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

    /// The raw-export form ([`export_json`]).
    pub fn to_export_json(&self, time_in_ms: bool) -> Value {
        let exported = Exported {
            name: &self.name,
            distinct_id: &self.distinct_id,
            time_ms: self.time_ms,
            insert_id: &self.insert_id,
            received_ms: self.received_ms,
        };
        export_json(exported, self.properties.clone(), time_in_ms)
    }
}

/// An event's own members, as the raw export writes them.
#[derive(Debug, Clone, Copy)]
pub struct Exported<'a> {
    pub name: &'a str,
    pub distinct_id: &'a str,
    pub time_ms: i64,
    pub insert_id: &'a str,
    pub received_ms: i64,
}

/// The raw-export form: `{"event": ..., "properties": {time (seconds, or milliseconds
/// with `time_in_ms`), distinct_id, $insert_id, mp_processing_time_ms, ...}}`; the event's
/// own members win over properties of the same names.
pub fn export_json(event: Exported<'_>, properties: Map<String, Value>, time_in_ms: bool) -> Value {
    let mut all = Map::with_capacity(properties.len() + 4);
    let time = if time_in_ms { Value::from(event.time_ms) } else { Value::from(event.time_ms / 1000) };
    all.insert("time".into(), time);
    all.insert("distinct_id".into(), Value::from(event.distinct_id));
    all.insert("$insert_id".into(), Value::from(event.insert_id));
    all.insert("mp_processing_time_ms".into(), Value::from(event.received_ms));
    for (key, value) in properties {
        all.entry(key).or_insert(value);
    }
    serde_json::json!({ "event": event.name, "properties": all })
}
