//! Simplified ID Merge (§7.2): the first event that carries both `$user_id` and
//! `$device_id` maps the device (`$device:<id>`) to the user, for good. Readers resolve
//! every distinct_id through the map, so merging is retroactive.

use std::collections::HashMap;

use serde_json::Value;
use tally_ingest::Event;
use tally_ingest::validate::DEVICE_PREFIX;

/// Each project's device → user map.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Identities(HashMap<i64, HashMap<String, String>>);

fn text(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::String(text)) if !text.is_empty() => Some(text.clone()),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    }
}

impl Identities {
    pub(crate) fn record(&mut self, event: &Event) {
        let user = text(event.properties.get("$user_id"));
        let device = text(event.properties.get("$device_id"));
        if let (Some(user), Some(device)) = (user, device) {
            self.0.entry(event.project_id).or_default().entry(format!("{DEVICE_PREFIX}{device}")).or_insert(user);
        }
    }

    /// The canonical distinct_id of `distinct_id` in the project.
    pub(crate) fn canonical<'a>(&'a self, project_id: i64, distinct_id: &'a str) -> &'a str {
        self.0.get(&project_id).and_then(|map| map.get(distinct_id)).map_or(distinct_id, String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(project_id: i64, properties: Value) -> Event {
        Event {
            project_id,
            name: "e".into(),
            distinct_id: String::new(),
            time_ms: 0,
            insert_id: "i".into(),
            properties: properties.as_object().cloned().unwrap_or_default(),
            received_ms: 0,
        }
    }

    #[test]
    fn the_first_event_with_both_ids_maps_the_device_for_good() {
        let mut identities = Identities::default();
        identities.record(&event(1, json!({ "$device_id": "d1" })));
        assert_eq!(identities.canonical(1, "$device:d1"), "$device:d1");
        identities.record(&event(1, json!({ "$device_id": "d1", "$user_id": "ada" })));
        identities.record(&event(1, json!({ "$device_id": "d1", "$user_id": "bob" })));
        assert_eq!(identities.canonical(1, "$device:d1"), "ada", "two users are never merged");
        assert_eq!(identities.canonical(2, "$device:d1"), "$device:d1", "per project");
        assert_eq!(identities.canonical(1, "ada"), "ada");
    }
}
