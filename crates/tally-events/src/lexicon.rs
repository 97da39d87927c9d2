//! Lexicon discovery: every event name and property a project has sent, with the JSON
//! types seen, first and last time seen (event time) and counts. Kept beside the events
//! and rebuilt from the same log on start.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use tally_ingest::Event;

/// What is known of one property (or of an event name).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Seen {
    pub count: u64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

impl Seen {
    /// `other` (another node's) added in.
    fn absorb(&mut self, other: &Seen) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        self.first_seen_ms = self.first_seen_ms.min(other.first_seen_ms);
        self.last_seen_ms = self.last_seen_ms.max(other.last_seen_ms);
        self.count += other.count;
    }

    fn record(&mut self, time_ms: i64) {
        if self.count == 0 || time_ms < self.first_seen_ms {
            self.first_seen_ms = time_ms;
        }
        if self.count == 0 || time_ms > self.last_seen_ms {
            self.last_seen_ms = time_ms;
        }
        self.count += 1;
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PropertyEntry {
    #[serde(flatten)]
    pub seen: Seen,
    /// `string`, `number`, `boolean`, `list`, `object`, `null`.
    #[serde(deserialize_with = "known_types")]
    pub types: BTreeSet<&'static str>,
}

const TYPES: [&str; 6] = ["string", "number", "boolean", "list", "object", "null"];

/// Reads type names back (from a snapshot) as the static names `type_of` gives.
fn known_types<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeSet<&'static str>, D::Error> {
    let names = BTreeSet::<String>::deserialize(deserializer)?;
    Ok(names.iter().filter_map(|name| TYPES.iter().copied().find(|known| known == name)).collect())
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EventEntry {
    #[serde(flatten)]
    pub seen: Seen,
    pub properties: BTreeMap<String, PropertyEntry>,
}

/// One project's lexicon, sorted by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Lexicon {
    pub events: BTreeMap<String, EventEntry>,
}

impl Lexicon {
    /// `other` (another node's lexicon of the project) added in: counts added, first and
    /// last seen widened, types united.
    pub fn absorb(&mut self, other: &Lexicon) {
        for (name, theirs) in &other.events {
            let entry = self.events.entry(name.clone()).or_default();
            entry.seen.absorb(&theirs.seen);
            for (property, seen) in &theirs.properties {
                let mine = entry.properties.entry(property.clone()).or_default();
                mine.seen.absorb(&seen.seen);
                mine.types.extend(seen.types.iter().copied());
            }
        }
    }

    /// Whether every value of `property` the project sent was text (or it sent none): a
    /// reserved property then lives in its typed column alone, never in the JSON column.
    /// `false` when the caps left an event or a property unlisted (nothing is known then).
    pub fn only_strings(&self, property: &str) -> bool {
        self.events.len() < MAX_EVENT_NAMES
            && self.events.values().all(|entry| {
                entry.properties.len() < MAX_PROPERTY_NAMES
                    && entry
                        .properties
                        .get(property)
                        .is_none_or(|found| found.types.iter().all(|kind| *kind == "string"))
            })
    }
}

/// Most custom properties a project keeps in typed columns.
pub const MAX_PROMOTED: usize = 32;

impl Lexicon {
    /// The custom properties new files keep in typed columns: those sent in at least 1 % of
    /// the project's events, always as one type (text, number or boolean; nulls aside), the
    /// most frequent first, at most [`MAX_PROMOTED`]. Reserved string properties have
    /// columns of their own already. Any choice is safe: a value that does not fit its
    /// column stays in the JSON column.
    pub fn promotions(&self) -> Vec<crate::parquet_file::Promoted> {
        use crate::parquet_file::{Kind, Promoted, TYPED_PROPERTIES};
        let events: u64 = self.events.values().map(|entry| entry.seen.count).sum();
        let mut found: BTreeMap<&str, (u64, BTreeSet<&'static str>)> = BTreeMap::new();
        for entry in self.events.values() {
            for (name, property) in &entry.properties {
                let seen = found.entry(name.as_str()).or_default();
                seen.0 += property.seen.count;
                seen.1.extend(property.types.iter().copied().filter(|kind| *kind != "null"));
            }
        }
        let mut chosen: Vec<(u64, Promoted)> = found
            .into_iter()
            .filter(|(name, (count, _))| !TYPED_PROPERTIES.contains(name) && count.saturating_mul(100) >= events)
            .filter_map(|(name, (count, kinds))| {
                let kind = match kinds.iter().copied().collect::<Vec<_>>().as_slice() {
                    ["string"] => Kind::Text,
                    ["number"] => Kind::Number,
                    ["boolean"] => Kind::Flag,
                    _ => return None,
                };
                Some((count, Promoted { name: name.to_string(), kind }))
            })
            .collect();
        chosen.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        chosen.truncate(MAX_PROMOTED);
        chosen.into_iter().map(|(_, promoted)| promoted).collect()
    }
}

pub(crate) fn type_of(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

/// At most this many event names per project and property names per event are listed;
/// senders that invent names per event (ids in names) would otherwise grow the lexicon
/// without bound. Events past the caps are still stored, only not listed.
pub const MAX_EVENT_NAMES: usize = 10_000;
pub const MAX_PROPERTY_NAMES: usize = 2_000;

/// Lexicons of every project in a region.
pub(crate) type Lexicons = HashMap<i64, Lexicon>;

pub(crate) fn record(lexicons: &mut Lexicons, event: &Event) {
    let lexicon = lexicons.entry(event.project_id).or_default();
    // One lookup for names already listed (nearly every event); the caps only matter for
    // new ones.
    let entry = match lexicon.events.get_mut(&event.name) {
        Some(entry) => entry,
        None => {
            if lexicon.events.len() >= MAX_EVENT_NAMES {
                return;
            }
            lexicon.events.entry(event.name.clone()).or_default()
        }
    };
    entry.seen.record(event.time_ms);
    for (name, value) in &event.properties {
        let property = match entry.properties.get_mut(name) {
            Some(property) => property,
            None => {
                if entry.properties.len() >= MAX_PROPERTY_NAMES {
                    continue;
                }
                entry.properties.entry(name.clone()).or_default()
            }
        };
        property.seen.record(event.time_ms);
        property.types.insert(type_of(value));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(name: &str, time_ms: i64, properties: Value) -> Event {
        Event {
            project_id: 1,
            name: name.into(),
            distinct_id: "u".into(),
            time_ms,
            insert_id: "i".into(),
            properties: properties.as_object().cloned().unwrap_or_default(),
            received_ms: 0,
        }
    }

    #[test]
    fn counts_types_and_first_and_last_seen() {
        let mut lexicons = Lexicons::new();
        record(&mut lexicons, &event("Play", 2000, json!({ "genre": "jazz", "n": 1 })));
        record(&mut lexicons, &event("Play", 1000, json!({ "genre": 7 })));
        record(&mut lexicons, &event("Stop", 3000, json!({})));
        let lexicon = &lexicons[&1];
        let play = &lexicon.events["Play"];
        assert_eq!((play.seen.count, play.seen.first_seen_ms, play.seen.last_seen_ms), (2, 1000, 2000));
        let genre = &play.properties["genre"];
        assert_eq!(genre.seen.count, 2);
        assert_eq!(genre.types.iter().copied().collect::<Vec<_>>(), vec!["number", "string"]);
        assert_eq!(play.properties["n"].seen.count, 1);
        assert_eq!(lexicon.events["Stop"].seen.count, 1);
        assert!(!lexicons.contains_key(&2));
    }

    #[test]
    fn a_property_is_text_only_while_every_value_was_text_and_nothing_is_capped() {
        let mut lexicons = Lexicons::new();
        record(&mut lexicons, &event("Play", 1, json!({ "$browser": "Chrome", "n": 1 })));
        record(&mut lexicons, &event("Stop", 2, json!({})));
        assert!(lexicons[&1].only_strings("$browser"));
        assert!(lexicons[&1].only_strings("$os"), "never sent: nothing in the JSON column either");
        assert!(!lexicons[&1].only_strings("n"));
        record(&mut lexicons, &event("Stop", 3, json!({ "$browser": 7 })));
        assert!(!lexicons[&1].only_strings("$browser"), "one number anywhere is enough");
        let mut capped = Lexicons::new();
        for n in 0..MAX_EVENT_NAMES {
            record(&mut capped, &event(&format!("e{n}"), 0, json!({})));
        }
        assert!(!capped[&1].only_strings("$os"), "an unlisted event may have sent anything");
    }

    #[test]
    fn names_past_the_caps_are_not_listed() {
        let mut lexicons = Lexicons::new();
        for n in 0..MAX_EVENT_NAMES + 5 {
            record(&mut lexicons, &event(&format!("e{n}"), 0, json!({})));
        }
        assert_eq!(lexicons[&1].events.len(), MAX_EVENT_NAMES);
        let mut properties = serde_json::Map::new();
        for n in 0..MAX_PROPERTY_NAMES + 5 {
            properties.insert(format!("p{n}"), json!(n));
        }
        record(&mut lexicons, &event("e0", 0, Value::Object(properties)));
        assert_eq!(lexicons[&1].events["e0"].properties.len(), MAX_PROPERTY_NAMES);
        assert_eq!(lexicons[&1].events["e0"].seen.count, 2, "known names still count");
    }

    #[test]
    fn frequent_properties_of_one_type_are_promoted() {
        use crate::parquet_file::{Kind, Promoted};
        let mut lexicons = Lexicons::new();
        for n in 0..300 {
            let mut properties = json!({ "plan": "pro", "amount": n, "vip": n % 2 == 0, "$browser": "Chrome" });
            if n == 0 {
                properties["mixed"] = json!("a");
                properties["rare"] = json!(1);
                properties["plan"] = Value::Null;
            }
            if n == 1 {
                properties["mixed"] = json!(2);
            }
            if n < 5 {
                properties["list"] = json!([n]);
            }
            record(&mut lexicons, &event(if n % 2 == 0 { "Play" } else { "Stop" }, n, properties));
        }
        let promoted = lexicons[&1].promotions();
        let promoted: Vec<(&str, Kind)> =
            promoted.iter().map(|Promoted { name, kind }| (name.as_str(), *kind)).collect();
        assert_eq!(promoted, [("amount", Kind::Number), ("plan", Kind::Text), ("vip", Kind::Flag)]);
    }
}
