//! What other nodes sharing the region's bucket know: their identity maps, lexicons and
//! profiles. At each flush a node publishes its own (`nodes/<node>/derived.json` and
//! `nodes/<node>/profiles.parquet`, beside the event files) and reads the others' that
//! changed since. Reads merge them with the node's own, which is the freshest for what it
//! received:
//! - identities: the node's own mapping wins, then the other nodes' in the order of their
//!   ids; a chain across nodes (a → b on one node, b → c on another) is followed to its end;
//! - lexicons: counts added, first and last seen widened, types united;
//! - profiles: each property from the node that holds it, the node's own values winning,
//!   then the other nodes' in the order of their ids; `$last_seen` the latest.
//!
//! So a node sees what another node received after that node's next flush.

use std::collections::{BTreeMap, HashMap};

use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use tally_ingest::profiles::{Profile, ProfileKey};
use tally_types::IdMerge;

use crate::flush::io;
use crate::lexicon::Lexicon;
use crate::{Derived, Profiles, StorageError, parquet_file};

/// The folder of the nodes' published state in the bucket.
pub(crate) const NODES: &str = "nodes";
const DERIVED: &str = "derived.json";
const PROFILES: &str = "profiles.parquet";

/// One other node's published state.
#[derive(Debug, Default)]
struct Peer {
    /// Its `derived.json`'s entity tag and time (it is written last).
    version: String,
    derived: Derived,
    profiles: Profiles,
}

/// The other nodes' state, by node id.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    nodes: BTreeMap<String, Peer>,
}

/// The project's profiles as a node reads them: `own`'s merged with what `peers` published
/// ([`Peers::profiles`]).
pub(crate) fn project_profiles(
    own: &std::sync::RwLock<Profiles>,
    peers: &std::sync::RwLock<Peers>,
    project_id: i64,
) -> Vec<(ProfileKey, Profile)> {
    let own = own.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    peers.read().unwrap_or_else(|poisoned| poisoned.into_inner()).profiles(&own, project_id)
}

/// Writes `node`'s state for the others: profiles first, then what names them done.
pub(crate) async fn publish(
    files: &dyn ObjectStore,
    node: &str,
    derived: &[u8],
    profiles: Vec<u8>,
) -> Result<(), StorageError> {
    let folder = format!("{NODES}/{node}");
    files.put(&ObjectPath::from(format!("{folder}/{PROFILES}")), profiles.into()).await.map_err(io)?;
    files.put(&ObjectPath::from(format!("{folder}/{DERIVED}")), derived.to_vec().into()).await.map_err(io)?;
    Ok(())
}

impl Peers {
    /// Reads the state the other nodes published since the last refresh; returns the
    /// projects whose merged state may have changed (those a changed node knows, before or
    /// after).
    pub(crate) async fn refresh(
        current: &std::sync::RwLock<Peers>,
        files: &dyn ObjectStore,
        own: &str,
    ) -> Result<Vec<i64>, StorageError> {
        let mut published: BTreeMap<String, String> = BTreeMap::new();
        let mut listing = files.list(Some(&ObjectPath::from(NODES)));
        while let Some(object) = listing.next().await {
            let object = object.map_err(io)?;
            let mut parts = object.location.parts();
            let (Some(_), Some(node), Some(name)) = (parts.next(), parts.next(), parts.next()) else { continue };
            if name.as_ref() == DERIVED && node.as_ref() != own {
                let version = format!("{:?} {}", object.e_tag, object.last_modified.timestamp_millis());
                published.insert(node.as_ref().to_string(), version);
            }
        }
        let stale: Vec<String> = {
            let current = current.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            published
                .iter()
                .filter(|(node, version)| current.nodes.get(*node).is_none_or(|peer| &peer.version != *version))
                .map(|(node, _)| node.clone())
                .collect()
        };
        let mut fresh = Vec::with_capacity(stale.len());
        for node in stale {
            let version = published.get(&node).cloned().unwrap_or_default();
            fresh.push((node.clone(), read_peer(files, &node, version).await?));
        }
        let mut changed = Vec::new();
        let mut current = current.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let gone: Vec<String> = current.nodes.keys().filter(|node| !published.contains_key(*node)).cloned().collect();
        for node in gone {
            if let Some(peer) = current.nodes.remove(&node) {
                changed.extend(peer.projects());
            }
        }
        for (node, peer) in fresh {
            changed.extend(peer.projects());
            if let Some(old) = current.nodes.insert(node, peer) {
                changed.extend(old.projects());
            }
        }
        changed.sort_unstable();
        changed.dedup();
        Ok(changed)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// `own` (this node's mapping of the project) merged with the other nodes'.
    pub(crate) fn mapping(
        &self,
        project_id: i64,
        system: IdMerge,
        own: HashMap<String, String>,
    ) -> HashMap<String, String> {
        if self.nodes.is_empty() {
            return own;
        }
        let mut merged = own;
        for peer in self.nodes.values() {
            for (id, canonical) in peer.derived.identities.mapping(project_id, system) {
                merged.entry(id).or_insert(canonical);
            }
        }
        // Follow chains to their end (at most a few hops; a cycle stops where it started).
        let mut resolved = HashMap::with_capacity(merged.len());
        for (id, first) in &merged {
            let mut target = first;
            for _ in 0..8 {
                match merged.get(target) {
                    Some(next) if next != id && next != target => target = next,
                    _ => break,
                }
            }
            resolved.insert(id.clone(), target.clone());
        }
        resolved
    }

    /// `own` (this node's lexicon of the project) with the other nodes' added in.
    pub(crate) fn lexicon(&self, project_id: i64, mut own: Lexicon) -> Lexicon {
        for peer in self.nodes.values() {
            if let Some(other) = peer.derived.lexicons.get(&project_id) {
                own.absorb(other);
            }
        }
        own
    }

    /// The project's profiles: `own`'s (this node's) merged with the other nodes'.
    pub(crate) fn profiles(&self, own: &Profiles, project_id: i64) -> Vec<(ProfileKey, Profile)> {
        let mut merged: HashMap<ProfileKey, Profile> = own
            .iter()
            .filter(|((project, _), _)| *project == project_id)
            .map(|((_, key), profile)| (key.clone(), profile.clone()))
            .collect();
        for peer in self.nodes.values() {
            for ((project, key), profile) in &peer.profiles {
                if *project != project_id {
                    continue;
                }
                let entry = merged
                    .entry(key.clone())
                    .or_insert_with(|| Profile { properties: serde_json::Map::new(), last_seen_ms: None });
                for (name, value) in &profile.properties {
                    entry.properties.entry(name.clone()).or_insert_with(|| value.clone());
                }
                entry.last_seen_ms = entry.last_seen_ms.max(profile.last_seen_ms);
            }
        }
        merged.into_iter().collect()
    }

    /// Whether any other node knows identities of the project.
    pub(crate) fn knows(&self, project_id: i64) -> bool {
        self.nodes.values().any(|peer| {
            peer.derived.identities.knows(project_id) || peer.profiles.keys().any(|(project, _)| *project == project_id)
        })
    }
}

impl Peer {
    /// Every project it holds state of.
    fn projects(&self) -> Vec<i64> {
        let mut projects: Vec<i64> = self.derived.lexicons.keys().copied().collect();
        projects.extend(self.profiles.keys().map(|(project, _)| *project));
        projects.extend(self.derived.identities.projects());
        projects
    }
}

/// Reads one node's published state.
async fn read_peer(files: &dyn ObjectStore, node: &str, version: String) -> Result<Peer, StorageError> {
    let folder = format!("{NODES}/{node}");
    let derived_path = ObjectPath::from(format!("{folder}/{DERIVED}"));
    let derived = files.get(&derived_path).await.map_err(io)?.bytes().await.map_err(io)?;
    let profiles_path = ObjectPath::from(format!("{folder}/{PROFILES}"));
    let profiles = match files.get(&profiles_path).await {
        Ok(found) => Some(found.bytes().await.map_err(io)?),
        Err(object_store::Error::NotFound { .. }) => None,
        Err(error) => return Err(io(error)),
    };
    let name = profiles_path.to_string();
    tokio::task::spawn_blocking(move || {
        let derived: Derived =
            serde_json::from_slice(&derived).map_err(|error| io(format!("{derived_path} is damaged: {error}")))?;
        let profiles = match profiles {
            Some(bytes) => parquet_file::decode_profiles(bytes, &name)?
                .into_iter()
                .map(|(project, key, profile)| ((project, key), profile))
                .collect(),
            None => Profiles::new(),
        };
        Ok(Peer { version, derived, profiles })
    })
    .await
    .map_err(io)?
}
