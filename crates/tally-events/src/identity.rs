//! Identity merge (§7), resolved at read time so merges reach earlier events.
//!
//! Simplified ID Merge (§7.2): the first event that carries both `$user_id` and
//! `$device_id` maps the device (`$device:<id>`) to the user, for good.
//!
//! Original ID Merge (§7.3): `$identify` ($anon_id, a UUID v4 not yet merged elsewhere,
//! joins `$identified_id`), `$create_alias` (an alias joins one distinct_id, once) and
//! `$merge` (two ids, accepted only through `/import` with the secret) join clusters of at
//! most [`MAX_CLUSTER`] ids; the id the others joined is the cluster's canonical id.
//!
//! Both are recorded for every project (a project switches system only while it has no
//! data); readers ask for the project's system.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tally_ingest::Event;
use tally_ingest::validate::{DEVICE_PREFIX, is_disallowed_id};
use tally_types::IdMerge;

/// Most ids in one Original ID Merge cluster; merges beyond it are not made.
pub const MAX_CLUSTER: usize = 500;

/// Each project's identities.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct Identities {
    /// Simplified: device → user.
    devices: HashMap<i64, HashMap<String, String>>,
    /// Original: clusters.
    clusters: HashMap<i64, Clusters>,
}

/// Original ID Merge clusters of one project. Ids alone in their cluster are not stored.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Clusters {
    /// Every id of a cluster of two or more → the cluster's canonical id.
    canonical: HashMap<String, String>,
    /// Canonical id → every id of its cluster (itself included).
    members: HashMap<String, Vec<String>>,
}

impl Clusters {
    fn root<'a>(&'a self, id: &'a str) -> &'a str {
        self.canonical.get(id).map_or(id, String::as_str)
    }

    fn size(&self, root: &str) -> usize {
        self.members.get(root).map_or(1, Vec::len)
    }

    /// Joins `other`'s cluster to `keep`'s (whose canonical id stays). Fails past the limit.
    fn join(&mut self, keep: &str, other: &str) -> Result<(), &'static str> {
        let (keep, other) = (self.root(keep).to_string(), self.root(other).to_string());
        if keep == other {
            return Ok(());
        }
        if self.size(&keep) + self.size(&other) > MAX_CLUSTER {
            return Err("the merged cluster would hold more than 500 ids");
        }
        let moved = self.members.remove(&other).unwrap_or_else(|| vec![other.clone()]);
        for id in &moved {
            self.canonical.insert(id.clone(), keep.clone());
        }
        self.canonical.insert(keep.clone(), keep.clone());
        let members = self.members.entry(keep.clone()).or_insert_with(|| vec![keep.clone()]);
        members.extend(moved);
        Ok(())
    }
}

/// An id as text; empty ids and ids that mean a sender's bug are none (merging them would
/// join unrelated users).
fn text(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::String(text)) => usable(text),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    }
}

fn usable(id: &str) -> Option<String> {
    (!id.trim().is_empty() && !is_disallowed_id(id)).then(|| id.to_string())
}

/// The event's own distinct_id, when it is a usable id.
fn own_id(event: &Event) -> Option<String> {
    usable(&event.distinct_id)
}

impl Identities {
    /// Whether recording `event` may change identities (so it must be recorded in log order).
    pub(crate) fn concerns(event: &Event) -> bool {
        matches!(event.name.as_str(), "$identify" | "$create_alias" | "$merge")
            || (event.properties.contains_key("$user_id") && event.properties.contains_key("$device_id"))
    }
}

/// A UUID v4 in its usual text form (what the SDKs generate for anonymous users).
fn is_uuid_v4(text: &str) -> bool {
    // The hyphenated form only, as the SDKs write it.
    text.len() == 36
        && uuid::Uuid::try_parse(text)
            .is_ok_and(|id| id.get_version_num() == 4 && id.get_variant() == uuid::Variant::RFC4122)
}

impl Identities {
    /// Records what `event` says of identities; returns whether that may have changed them.
    pub(crate) fn record(&mut self, event: &Event) -> bool {
        let user = text(event.properties.get("$user_id"));
        let device = text(event.properties.get("$device_id"));
        let mut changed = false;
        if let (Some(user), Some(device)) = (user, device) {
            let devices = self.devices.entry(event.project_id).or_default();
            let key = format!("{DEVICE_PREFIX}{device}");
            if let std::collections::hash_map::Entry::Vacant(entry) = devices.entry(key) {
                entry.insert(user);
                changed = true;
            }
        }
        let outcome = match event.name.as_str() {
            "$identify" => self.identify(event).map(|()| true),
            "$create_alias" => self.alias(event).map(|()| true),
            "$merge" => self.merge(event).map(|()| true),
            _ => Ok(false),
        };
        match outcome {
            Ok(merged) => changed || merged,
            Err(reason) => {
                tracing::debug!(project = event.project_id, event = %event.name, reason, "identity merge not made");
                changed
            }
        }
    }

    fn identify(&mut self, event: &Event) -> Result<(), &'static str> {
        let identified = text(event.properties.get("$identified_id"))
            .or_else(|| own_id(event))
            .ok_or("$identified_id is missing")?;
        let anon = text(event.properties.get("$anon_id")).ok_or("$anon_id is missing")?;
        if !is_uuid_v4(&anon) {
            return Err("$anon_id is not a UUID v4");
        }
        let clusters = self.clusters.entry(event.project_id).or_default();
        if clusters.root(&anon) != clusters.root(&identified) && clusters.size(clusters.root(&anon)) > 1 {
            return Err("$anon_id is already merged with another identified id");
        }
        clusters.join(&identified, &anon)
    }

    fn alias(&mut self, event: &Event) -> Result<(), &'static str> {
        let alias = text(event.properties.get("alias")).ok_or("alias is missing")?;
        let target = own_id(event).ok_or("distinct_id is missing")?;
        let clusters = self.clusters.entry(event.project_id).or_default();
        if alias == target {
            return Err("an alias of itself");
        }
        if clusters.root(&alias) != clusters.root(&target) && clusters.size(clusters.root(&alias)) > 1 {
            return Err("the alias already maps to another distinct_id");
        }
        clusters.join(&target, &alias)
    }

    fn merge(&mut self, event: &Event) -> Result<(), &'static str> {
        let ids: Vec<String> = match event.properties.get("$distinct_ids") {
            Some(Value::Array(ids)) => ids.iter().filter_map(|id| text(Some(id))).collect(),
            _ => Vec::new(),
        };
        let [first, second] = ids.as_slice() else { return Err("$distinct_ids must hold exactly two usable ids") };
        self.clusters.entry(event.project_id).or_default().join(first, second)
    }

    /// The canonical distinct_id of `distinct_id` in the project, under its merge system.
    #[cfg(test)]
    pub(crate) fn canonical<'a>(&'a self, project_id: i64, distinct_id: &'a str, system: IdMerge) -> &'a str {
        match system {
            IdMerge::Simplified => {
                self.devices.get(&project_id).and_then(|map| map.get(distinct_id)).map_or(distinct_id, String::as_str)
            }
            IdMerge::Original => {
                self.clusters.get(&project_id).map_or(distinct_id, |clusters| clusters.root(distinct_id))
            }
        }
    }

    /// Every id of the project whose canonical id is another one, under its merge system.
    pub(crate) fn mapping(&self, project_id: i64, system: IdMerge) -> HashMap<String, String> {
        match system {
            IdMerge::Simplified => self.devices.get(&project_id).cloned().unwrap_or_default(),
            IdMerge::Original => self.clusters.get(&project_id).map_or_else(HashMap::new, |clusters| {
                clusters
                    .canonical
                    .iter()
                    .filter(|(id, root)| id != root)
                    .map(|(id, root)| (id.clone(), root.clone()))
                    .collect()
            }),
        }
    }

    pub(crate) fn forget(&mut self, project_id: i64) {
        self.devices.remove(&project_id);
        self.clusters.remove(&project_id);
    }

    /// Forgets every mapping from or to one of `ids` in the project (a person's deletion,
    /// whose `ids` are every id merged with theirs): a device of theirs that sends again
    /// is nobody's until it signs in again.
    pub(crate) fn forget_users(&mut self, project_id: i64, ids: &HashSet<String>) {
        if let Some(devices) = self.devices.get_mut(&project_id) {
            devices.retain(|device, user| !ids.contains(device) && !ids.contains(user));
        }
        if let Some(clusters) = self.clusters.get_mut(&project_id) {
            clusters.canonical.retain(|id, root| !ids.contains(id) && !ids.contains(root));
            clusters.members.retain(|root, _| !ids.contains(root));
            for members in clusters.members.values_mut() {
                members.retain(|id| !ids.contains(id));
            }
        }
    }

    /// Whether the project has any identity recorded (part of "has data").
    pub(crate) fn knows(&self, project_id: i64) -> bool {
        self.devices.get(&project_id).is_some_and(|map| !map.is_empty())
            || self.clusters.get(&project_id).is_some_and(|clusters| !clusters.members.is_empty())
    }

    /// The projects it holds identities of.
    pub(crate) fn projects(&self) -> impl Iterator<Item = i64> + '_ {
        self.devices.keys().chain(self.clusters.keys()).copied()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(project_id: i64, name: &str, distinct_id: &str, properties: Value) -> Event {
        Event {
            project_id,
            name: name.into(),
            distinct_id: distinct_id.into(),
            time_ms: 0,
            insert_id: "i".into(),
            properties: properties.as_object().cloned().unwrap_or_default(),
            received_ms: 0,
        }
    }

    #[test]
    fn the_first_event_with_both_ids_maps_the_device_for_good() {
        let mut identities = Identities::default();
        let simplified = IdMerge::Simplified;
        identities.record(&event(1, "e", "", json!({ "$device_id": "d1" })));
        assert_eq!(identities.canonical(1, "$device:d1", simplified), "$device:d1");
        identities.record(&event(1, "e", "", json!({ "$device_id": "d1", "$user_id": "ada" })));
        identities.record(&event(1, "e", "", json!({ "$device_id": "d1", "$user_id": "bob" })));
        assert_eq!(identities.canonical(1, "$device:d1", simplified), "ada", "two users are never merged");
        assert_eq!(identities.canonical(2, "$device:d1", simplified), "$device:d1", "per project");
        assert_eq!(identities.canonical(1, "ada", simplified), "ada");
        assert_eq!(identities.canonical(1, "$device:d1", IdMerge::Original), "$device:d1", "not in Original");
    }

    const ANON: &str = "3f2b8a10-5c7d-4e1f-9a2b-0c1d2e3f4a5b";
    const ANON2: &str = "7e6d5c4b-3a29-4817-8a6b-5c4d3e2f1a0b";

    #[test]
    fn original_identify_alias_and_merge_build_clusters() {
        let original = IdMerge::Original;
        let mut identities = Identities::default();
        identities.record(&event(1, "$identify", "ada", json!({ "$identified_id": "ada", "$anon_id": ANON })));
        assert_eq!(identities.canonical(1, ANON, original), "ada");
        assert_eq!(identities.canonical(1, ANON, IdMerge::Simplified), ANON, "not in Simplified");
        // The same anonymous id cannot then join another user.
        identities.record(&event(1, "$identify", "bob", json!({ "$identified_id": "bob", "$anon_id": ANON })));
        assert_eq!(identities.canonical(1, ANON, original), "ada");
        // Not a UUID v4: no merge.
        identities.record(&event(1, "$identify", "bob", json!({ "$identified_id": "bob", "$anon_id": "device-1" })));
        assert_eq!(identities.canonical(1, "device-1", original), "device-1");
        // An alias joins once.
        identities.record(&event(1, "$create_alias", "ada", json!({ "alias": "ada@work" })));
        identities.record(&event(1, "$create_alias", "bob", json!({ "alias": "ada@work" })));
        assert_eq!(identities.canonical(1, "ada@work", original), "ada");
        // $merge joins two clusters, the first id's canonical id staying.
        identities.record(&event(1, "$identify", "bob", json!({ "$identified_id": "bob", "$anon_id": ANON2 })));
        identities.record(&event(1, "$merge", "ada", json!({ "$distinct_ids": ["ada@work", "bob"] })));
        for id in ["ada", ANON, "ada@work", "bob", ANON2] {
            assert_eq!(identities.canonical(1, id, original), "ada", "{id}");
        }
        assert_eq!(identities.canonical(2, "bob", original), "bob", "per project");
        assert!(identities.knows(1) && !identities.knows(2));
    }

    #[test]
    fn a_deleted_persons_mappings_are_forgotten_and_no_one_elses() {
        let mut identities = Identities::default();
        identities.record(&event(1, "e", "", json!({ "$device_id": "d1", "$user_id": "ada" })));
        identities.record(&event(1, "e", "", json!({ "$device_id": "d2", "$user_id": "bob" })));
        identities.record(&event(1, "$identify", "ada", json!({ "$identified_id": "ada", "$anon_id": ANON })));
        identities.record(&event(1, "$identify", "bob", json!({ "$identified_id": "bob", "$anon_id": ANON2 })));
        identities.record(&event(2, "e", "", json!({ "$device_id": "d1", "$user_id": "ada" })));
        let ada: HashSet<String> = ["ada", "$device:d1", ANON].into_iter().map(String::from).collect();
        identities.forget_users(1, &ada);
        for system in [IdMerge::Simplified, IdMerge::Original] {
            let mapping = identities.mapping(1, system);
            assert!(mapping.iter().all(|(from, to)| !ada.contains(from) && !ada.contains(to)), "{mapping:?}");
        }
        assert_eq!(identities.canonical(1, "$device:d2", IdMerge::Simplified), "bob");
        assert_eq!(identities.canonical(1, ANON2, IdMerge::Original), "bob");
        assert_eq!(identities.canonical(2, "$device:d1", IdMerge::Simplified), "ada", "another project's");
        // A device of hers that signs in again maps anew.
        identities.record(&event(1, "e", "", json!({ "$device_id": "d1", "$user_id": "cy" })));
        assert_eq!(identities.canonical(1, "$device:d1", IdMerge::Simplified), "cy");
    }

    #[test]
    fn empty_and_junk_ids_are_never_merged() {
        let mut identities = Identities::default();
        identities.record(&event(1, "$identify", "", json!({ "$anon_id": ANON })));
        identities.record(&event(1, "$create_alias", "", json!({ "alias": "x" })));
        identities.record(&event(1, "$create_alias", "undefined", json!({ "alias": "y" })));
        identities.record(&event(1, "$merge", "a", json!({ "$distinct_ids": ["a", "null"] })));
        for id in [ANON, "x", "y", "null", ""] {
            assert_eq!(identities.canonical(1, id, IdMerge::Original), id, "{id:?}");
        }
        assert!(!identities.knows(1));
    }

    #[test]
    fn original_clusters_stop_at_500_ids() {
        let mut identities = Identities::default();
        for n in 1..MAX_CLUSTER {
            identities.record(&event(1, "$merge", "big", json!({ "$distinct_ids": ["big", format!("id-{n}")] })));
        }
        assert_eq!(identities.canonical(1, "id-499", IdMerge::Original), "big");
        identities.record(&event(1, "$merge", "big", json!({ "$distinct_ids": ["big", "one-more"] })));
        assert_eq!(identities.canonical(1, "one-more", IdMerge::Original), "one-more", "the 501st id stays apart");
        identities.record(&event(1, "$merge", "x", json!({ "$distinct_ids": ["x", "y"] })));
        identities.record(&event(1, "$merge", "big", json!({ "$distinct_ids": ["big", "x"] })));
        assert_eq!(identities.canonical(1, "y", IdMerge::Original), "x", "two clusters past the limit stay apart");
    }
}
