//! Tally's event storage, one instance per data-residency region (each under its own
//! storage root, so one region's data never lands under another's).
//!
//! Writes go through a write-ahead log with group commit: a request's events are
//! acknowledged only after the log is on disk (`fdatasync`). On start, the log is replayed,
//! stopping at the first torn or corrupt frame, which is cut off. Accepted events are
//! visible to readers as soon as they are acknowledged.
//!
//! Not yet here: flushing to Parquet, the catalog of files, compaction and deletion of
//! replayed log segments (the log is the store of record until then).

mod identity;
pub mod lexicon;
pub mod parquet_file;
mod wal;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use tally_ingest::Event;
use tally_ingest::profiles::{Profile, ProfileKey, ProfileUpdate};

pub use lexicon::Lexicon;
pub use wal::WalError;

/// One log frame: a request's events or a request's profile updates.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Record {
    Events(Vec<Event>),
    Profiles(Vec<ProfileUpdate>),
}

type Profiles = HashMap<(i64, ProfileKey), Profile>;

/// The events and profiles of one region.
#[derive(Clone)]
pub struct EventStore {
    root: PathBuf,
    wal: wal::Wal,
    buffer: Arc<RwLock<HashMap<i64, Vec<Event>>>>,
    profiles: Arc<RwLock<Profiles>>,
    /// What is derived from the events as they arrive: the lexicon and identities.
    derived: Arc<RwLock<Derived>>,
}

#[derive(Debug, Default)]
struct Derived {
    lexicons: lexicon::Lexicons,
    identities: identity::Identities,
}

impl Derived {
    fn record(&mut self, event: &Event) {
        lexicon::record(&mut self.lexicons, event);
        self.identities.record(event);
    }
}

/// Applies updates in order; failures (a profile over its property limit) leave it as it was.
fn apply_all(profiles: &mut Profiles, updates: &[ProfileUpdate]) -> Vec<(usize, String)> {
    let mut failures = Vec::new();
    for (index, update) in updates.iter().enumerate() {
        let key = (update.project_id, update.key.clone());
        let current = profiles.get(&key).cloned();
        match tally_ingest::profiles::apply(current, update) {
            Ok(Some(profile)) => {
                profiles.insert(key, profile);
            }
            Ok(None) => {
                profiles.remove(&key);
            }
            Err(message) => failures.push((index, message)),
        }
    }
    failures
}

impl std::fmt::Debug for EventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStore").field("root", &self.root).finish()
    }
}

/// Which events a reader wants.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub project_id: i64,
    /// Inclusive, milliseconds.
    pub from_ms: i64,
    /// Exclusive, milliseconds.
    pub to_ms: i64,
    /// Only these event names, when given.
    pub names: Option<Vec<String>>,
    /// Only events whose property equals the value (simple equality).
    pub property_equals: Option<(String, serde_json::Value)>,
    pub limit: Option<usize>,
}

impl EventStore {
    /// Opens (creating) the region's storage under `root` and replays its log.
    pub async fn open(root: &Path) -> Result<EventStore, WalError> {
        let (wal, replayed) = wal::Wal::open(&root.join("wal")).await?;
        let mut buffer: HashMap<i64, Vec<Event>> = HashMap::new();
        let mut profiles = Profiles::new();
        let mut derived = Derived::default();
        let mut n_events = 0usize;
        for record in replayed {
            match record {
                Record::Events(batch) => {
                    for event in batch {
                        n_events += 1;
                        derived.record(&event);
                        buffer.entry(event.project_id).or_default().push(event);
                    }
                }
                Record::Profiles(updates) => {
                    apply_all(&mut profiles, &updates);
                }
            }
        }
        if n_events > 0 {
            tracing::info!(root = %root.display(), n_events, "replayed the write-ahead log");
        }
        Ok(EventStore {
            root: root.to_path_buf(),
            wal,
            buffer: Arc::new(RwLock::new(buffer)),
            profiles: Arc::new(RwLock::new(profiles)),
            derived: Arc::new(RwLock::new(derived)),
        })
    }

    /// Makes the events durable, then visible. Returns once they are on disk.
    ///
    /// Runs to the end even when the caller stops waiting (a client that disconnects, a
    /// request timeout), so a frame on disk is always published to readers too.
    pub async fn append(&self, events: Vec<Event>) -> Result<(), WalError> {
        let store = self.clone();
        tokio::spawn(async move { store.append_now(events).await }).await.map_err(|_| WalError::Stopped)?
    }

    async fn append_now(&self, events: Vec<Event>) -> Result<(), WalError> {
        if events.is_empty() {
            return Ok(());
        }
        let record = Record::Events(events);
        let payload = serde_json::to_vec(&record).map_err(|error| WalError::Encode(error.to_string()))?;
        let Record::Events(events) = record else { return Ok(()) };
        self.wal.append(payload).await?;
        {
            let mut derived = self.derived.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            for event in &events {
                derived.record(event);
            }
        }
        let mut buffer = self.buffer.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        for event in events {
            buffer.entry(event.project_id).or_default().push(event);
        }
        Ok(())
    }

    /// Events matching the query, in time order, each under its user's canonical
    /// distinct_id (merges apply to earlier events too).
    pub fn events(&self, query: &EventQuery) -> Vec<Event> {
        let buffer = self.buffer.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let derived = self.derived.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(events) = buffer.get(&query.project_id) else { return Vec::new() };
        let mut found: Vec<Event> = events
            .iter()
            .filter(|event| event.time_ms >= query.from_ms && event.time_ms < query.to_ms)
            .filter(|event| query.names.as_ref().is_none_or(|names| names.contains(&event.name)))
            .filter_map(|event| {
                let distinct_id = derived.identities.canonical(query.project_id, &event.distinct_id);
                let wanted = query.property_equals.as_ref().is_none_or(|(key, value)| match key.as_str() {
                    "distinct_id" => value.as_str() == Some(distinct_id),
                    _ => event.properties.get(key) == Some(value),
                });
                wanted.then(|| Event { distinct_id: distinct_id.to_string(), ..event.clone() })
            })
            .collect();
        found.sort_by_key(|event| (event.time_ms, event.received_ms));
        if let Some(limit) = query.limit {
            found.truncate(limit);
        }
        found
    }

    /// Applies profile updates durably. Updates that cannot apply (a profile over its
    /// property limit) are refused before anything is written; returns their indexes and
    /// reasons.
    /// Like [`EventStore::append`], runs to the end even when the caller stops waiting.
    pub async fn update_profiles(&self, updates: Vec<ProfileUpdate>) -> Result<Vec<(usize, String)>, WalError> {
        let store = self.clone();
        tokio::spawn(async move { store.update_profiles_now(updates).await }).await.map_err(|_| WalError::Stopped)?
    }

    async fn update_profiles_now(&self, updates: Vec<ProfileUpdate>) -> Result<Vec<(usize, String)>, WalError> {
        let failures = {
            let profiles = self.profiles.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut trial = Profiles::new();
            for update in &updates {
                let key = (update.project_id, update.key.clone());
                if let Some(profile) = profiles.get(&key) {
                    trial.entry(key).or_insert_with(|| profile.clone());
                }
            }
            apply_all(&mut trial, &updates)
        };
        let failed: Vec<usize> = failures.iter().map(|(index, _)| *index).collect();
        let kept: Vec<ProfileUpdate> = updates
            .into_iter()
            .enumerate()
            .filter(|(index, _)| !failed.contains(index))
            .map(|(_, update)| update)
            .collect();
        if !kept.is_empty() {
            let record = Record::Profiles(kept);
            let payload = serde_json::to_vec(&record).map_err(|error| WalError::Encode(error.to_string()))?;
            self.wal.append(payload).await?;
            if let Record::Profiles(kept) = record {
                let mut profiles = self.profiles.write().unwrap_or_else(|poisoned| poisoned.into_inner());
                apply_all(&mut profiles, &kept);
            }
        }
        Ok(failures)
    }

    /// The profiles of a project, sorted by id: user profiles, or with `group_key` the
    /// profiles of that group key.
    pub fn profiles(&self, project_id: i64, group_key: Option<&str>) -> Vec<(String, Profile)> {
        let profiles = self.profiles.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut found: Vec<(String, Profile)> = profiles
            .iter()
            .filter(|((project, _), _)| *project == project_id)
            .filter_map(|((_, key), profile)| match (key, group_key) {
                (ProfileKey::User(id), None) => Some((id.clone(), profile.clone())),
                (ProfileKey::Group { key, id }, Some(wanted)) if key == wanted => Some((id.clone(), profile.clone())),
                _ => None,
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// Every event name and property the project has sent.
    pub fn lexicon(&self, project_id: i64) -> Lexicon {
        let derived = self.derived.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        derived.lexicons.get(&project_id).cloned().unwrap_or_default()
    }
}
