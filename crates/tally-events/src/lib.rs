//! Tally's event storage, one instance per data-residency region (each under its own
//! storage root, so one region's data never lands under another's).
//!
//! Writes go through a write-ahead log with group commit: a request's events are
//! acknowledged only after the log is on disk (`fdatasync`), then held in memory where
//! readers see them at once. A flush ([`EventStore::flush`]) writes them to zstd Parquet
//! files (one per project, UTC day and user bucket) through `object_store`, catalogues the
//! files in the metadata store, writes a snapshot of profiles, lexicon and identities, and
//! only then removes the log segments it covered. Compaction merges a partition's files,
//! sorted by (distinct_id, time) and without duplicates. On start: the snapshot, then the
//! log segments after the last catalogued flush (a torn or corrupt tail is cut off).
//! See `docs/design/2026-11-27-event-storage.md`.

pub mod bucket;
mod changes;
mod flush;
mod identity;
pub mod lexicon;
pub mod parquet_file;
mod peers;
pub mod portable;
mod privacy;
pub mod promoted;
mod read;
mod readers;
mod scan;
mod visibility;
mod wal;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tally_iam::authz::DataScope;
use tally_types::permissions::ProjectMarker;
use tally_types::permissions::project::{EditProjectSettings, ResetProject};

use datafusion::arrow::record_batch::RecordBatch;
use object_store::ObjectStore;
use serde::{Deserialize, Serialize};
use tally_ingest::Event;
use tally_ingest::profiles::{Profile, ProfileKey, ProfileUpdate};

pub use changes::DataVersion;
pub use flush::{CompactReport, FlushReport, write_durably};
pub use lexicon::Lexicon;
pub use privacy::DeletionReport;
pub use read::{PROFILE_USER, ProfileProperty, ProjectEvents, USER_PROPERTIES};
pub use scan::{ClusterSession, SORT_MERGE_RESERVATION, files_url, spilling_runtime};
pub use visibility::ViewPlanner;
pub use wal::WalError;

/// What can go wrong opening, flushing or reading the stored events.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(transparent)]
    Parquet(#[from] parquet_file::ParquetError),
    #[error("the event catalog in the metadata store: {0}")]
    Catalog(#[from] tally_store::StoreError),
    #[error("{0}")]
    Inconsistent(String),
    #[error("event storage: {0}")]
    Io(String),
}

/// One log frame: a request's events or a request's profile updates.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Record {
    Events(Vec<Event>),
    Profiles(Vec<ProfileUpdate>),
    /// Everything of the project before this frame is gone (a project reset).
    Reset(i64),
    /// The events and user profiles of these ids before this frame are gone (a person's
    /// deletion request; logs before forgets were shared).
    Delete {
        project_id: i64,
        distinct_ids: Vec<String>,
    },
    /// The region's forget `id` (run on any node, applied here in order): the events and
    /// user profiles of `distinct_ids` before this frame are gone, or with none everything
    /// of the project (a reset). `own`: run on this node, whose replay of a reset also
    /// removes the project's catalogued files, as the reset did.
    Forget {
        id: i64,
        project_id: i64,
        distinct_ids: Option<Vec<String>>,
        own: bool,
    },
}

pub(crate) type Profiles = HashMap<(i64, ProfileKey), Profile>;

/// Where a region's event files live.
#[derive(Clone)]
pub enum EventFiles {
    /// `<root>/events` on this machine: files and their folders are synced before they are
    /// catalogued.
    Local,
    /// An object store, such as an S3-compatible bucket: a file is catalogued once its PUT
    /// succeeded. The log, snapshot and profiles stay under the root.
    Objects(Arc<dyn ObjectStore>),
}

impl EventFiles {
    /// The store the region's files are read through: the bucket, or `<root>/events`.
    pub fn store(self, root: &Path) -> Result<Arc<dyn ObjectStore>, StorageError> {
        match self {
            EventFiles::Local => flush::local_files(root).map(|(files, _)| files),
            EventFiles::Objects(files) => Ok(files),
        }
    }
}

impl std::fmt::Debug for EventFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventFiles::Local => f.write_str("Local"),
            EventFiles::Objects(store) => write!(f, "Objects({store})"),
        }
    }
}

/// The events and profiles of one region.
#[derive(Clone)]
pub struct EventStore {
    root: PathBuf,
    region: String,
    catalog: tally_store::Store,
    /// The region's Parquet files (`<root>/events`, or a bucket), through `object_store`.
    files: Arc<dyn ObjectStore>,
    /// The folder of the files when they are on this machine (synced before they are
    /// catalogued); `None` for a bucket.
    local_files: Option<PathBuf>,
    /// This node's id (empty: a single node's).
    node: String,
    /// What the other nodes sharing the bucket published (none with local files).
    peers: Arc<RwLock<peers::Peers>>,
    wal: wal::Wal,
    /// Appends hold it shared across "write the frame, then publish"; a flush takes it
    /// exclusively for the moment it seals the log and swaps the buffer (a consistent cut).
    cut: Arc<tokio::sync::RwLock<()>>,
    memory: Arc<RwLock<Memory>>,
    profiles: Arc<RwLock<Profiles>>,
    /// What is derived from the events as they arrive: the lexicon and identities.
    derived: Arc<RwLock<Derived>>,
    /// One flush or compaction at a time.
    maintenance: Arc<tokio::sync::Mutex<flush::Maintenance>>,
    /// What changed in each project's data, for the answer cache.
    changes: Arc<changes::Changes>,
    /// Readers, and the files compaction replaced that they may still hold.
    readers: Arc<readers::Readers>,
    /// The query engine's memory pool and spill folder, shared by every read of the region.
    runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
    /// Woken when the buffer passes [`FLUSH_EVENTS`].
    flush_wanted: Arc<tokio::sync::Notify>,
    clock: tally_types::SharedClock,
    /// The query engine's reading of data views (registered by `tally-query`).
    view_planner: Arc<std::sync::OnceLock<Arc<dyn ViewPlanner>>>,
}

/// Events not yet in catalogued files, per project, in Arrow form (the file layout,
/// `parquet_file::schema`): `fresh` since the last cut (appended to builders, sealed into
/// batches every [`SEAL_ROWS`]), `flushing` those of the cut being written (readers see
/// both until the files are catalogued).
#[derive(Debug, Default)]
struct Memory {
    fresh: HashMap<i64, ProjectMemory>,
    fresh_count: usize,
    flushing: Arc<Batches>,
    /// The log segment of the flush `flushing` belongs to, until it succeeds (at a start,
    /// the last sealed segment replayed).
    pending_sealed: Option<u64>,
}

type Batches = HashMap<i64, Vec<RecordBatch>>;

/// Rows appended to a project's builders before they are sealed into a batch.
const SEAL_ROWS: usize = 8192;

#[derive(Debug, Default)]
struct ProjectMemory {
    sealed: Vec<RecordBatch>,
    open: parquet_file::Builders,
}

impl ProjectMemory {
    fn rows(&self) -> usize {
        self.sealed.iter().map(RecordBatch::num_rows).sum::<usize>() + self.open.rows()
    }
}

impl Memory {
    fn add(&mut self, prepared: &[parquet_file::Prepared<'_>]) -> Result<(), parquet_file::ParquetError> {
        for event in prepared {
            let project = self.fresh.entry(event.event().project_id).or_default();
            project.open.append(event);
            if project.open.rows() >= SEAL_ROWS {
                let batch = project.open.finish()?;
                project.sealed.push(batch);
            }
            self.fresh_count += 1;
        }
        Ok(())
    }

    /// Everything fresh, as batches (the builders sealed), leaving fresh empty.
    fn take_fresh(&mut self) -> Result<Batches, parquet_file::ParquetError> {
        self.fresh_count = 0;
        std::mem::take(&mut self.fresh)
            .into_iter()
            .map(|(project, mut memory)| {
                if memory.open.rows() > 0 {
                    let batch = memory.open.finish()?;
                    memory.sealed.push(batch);
                }
                Ok((project, memory.sealed))
            })
            .collect()
    }

    fn forget(&mut self, project_id: i64) {
        if let Some(memory) = self.fresh.remove(&project_id) {
            self.fresh_count -= memory.rows();
        }
        if self.flushing.contains_key(&project_id) {
            Arc::make_mut(&mut self.flushing).remove(&project_id);
        }
    }

    fn holds(&self, project_id: i64) -> bool {
        self.flushing.get(&project_id).is_some_and(|batches| !batches.is_empty())
            || self.fresh.get(&project_id).is_some_and(|memory| memory.rows() > 0)
    }

    fn batches_of(&self, project_id: i64) -> Result<Vec<RecordBatch>, parquet_file::ParquetError> {
        let mut batches: Vec<RecordBatch> = self.flushing.get(&project_id).cloned().unwrap_or_default();
        if let Some(memory) = self.fresh.get(&project_id) {
            batches.extend(memory.sealed.iter().cloned());
            if memory.open.rows() > 0 {
                batches.push(memory.open.finish_cloned()?);
            }
        }
        Ok(batches)
    }
}

fn prepare_all(events: &[Event]) -> Result<Vec<parquet_file::Prepared<'_>>, parquet_file::ParquetError> {
    events.iter().map(parquet_file::prepare).collect()
}

/// A flush is asked for when this many events wait in memory.
pub const FLUSH_EVENTS: usize = 500_000;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Derived {
    lexicons: lexicon::Lexicons,
    identities: identity::Identities,
}

impl Derived {
    /// On replay: everything, in log order.
    fn record(&mut self, event: &Event) {
        lexicon::record(&mut self.lexicons, event);
        self.identities.record(event);
    }

    fn forget(&mut self, project_id: i64) {
        self.lexicons.remove(&project_id);
        self.identities.forget(project_id);
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

/// A UTC day, in milliseconds: the unit of the event files' partitions.
const DAY_MS: i64 = 86_400_000;

impl std::fmt::Debug for EventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStore").field("root", &self.root).finish()
    }
}

/// Which events the store's own reads (compaction, its tests) want; the query engine reads
/// through [`EventStore::project_events`].
#[derive(Debug, Clone, Default)]
pub(crate) struct EventQuery {
    #[cfg(test)]
    pub project_id: i64,
    /// Inclusive, milliseconds.
    pub from_ms: i64,
    /// Exclusive, milliseconds.
    pub to_ms: i64,
    /// Only these event names, when given.
    pub names: Option<Vec<String>>,
    /// Only events this `where` expression keeps (over the event's properties, with
    /// `distinct_id` as the canonical one).
    #[cfg(test)]
    pub filter: Option<tally_ingest::expr::Expr>,
    #[cfg(test)]
    pub limit: Option<usize>,
    /// The project's identity-merge system, which decides canonical distinct_ids.
    #[cfg(test)]
    pub id_merge: tally_types::IdMerge,
}

impl EventStore {
    /// Opens (creating) the storage of `region` under `root`, with its file catalog in
    /// `catalog`: loads the snapshot, replays the log segments after the last flush and
    /// removes files a crash left uncatalogued.
    pub async fn open(
        root: &Path,
        region: &str,
        catalog: tally_store::Store,
        clock: tally_types::SharedClock,
    ) -> Result<EventStore, StorageError> {
        EventStore::open_with(root, EventFiles::Local, "", region, catalog, clock).await
    }

    /// [`EventStore::open`] with the event files where `files` says, as node `node` (its
    /// log is its own; its files' names carry its id, so nodes sharing a bucket never
    /// overwrite or sweep each other's). The empty id is a single node's, with the names
    /// files had before nodes had ids.
    pub async fn open_with(
        root: &Path,
        files: EventFiles,
        node: &str,
        region: &str,
        catalog: tally_store::Store,
        clock: tally_types::SharedClock,
    ) -> Result<EventStore, StorageError> {
        let (files, local_files, readers) = match files {
            EventFiles::Local => {
                let (files, folder) = flush::local_files(root)?;
                (files, Some(folder), readers::Readers::default())
            }
            // Other nodes may be reading what compaction replaces: it waits before it goes.
            EventFiles::Objects(files) => (files, None, readers::Readers::with_grace(flush::SHARED_RETIRE_GRACE)),
        };
        let (flushed, adopted) = catalog.flushed_through(region, node).await?;
        let snapshot = flush::read_snapshot(root).await?;
        let snapshot_through = match (&snapshot, flushed) {
            (Some(snapshot), Some(flushed)) if snapshot.sealed_through < flushed => {
                return Err(StorageError::Inconsistent(format!(
                    "the snapshot under {} covers log segment {} but the catalog says {flushed} was flushed; \
                     restore the snapshot that belongs to this metadata database",
                    root.display(),
                    snapshot.sealed_through
                )));
            }
            (None, Some(flushed)) => {
                return Err(StorageError::Inconsistent(format!(
                    "the catalog says region {region} was flushed through log segment {flushed}, but {} has no \
                     snapshot; restore {} or point metadata.url at the database this data was written with",
                    root.display(),
                    flush::SNAPSHOT
                )));
            }
            (snapshot, _) => snapshot.as_ref().map(|snapshot| snapshot.sealed_through),
        };
        let segments_on_disk = wal::segment_numbers(&root.join("wal")).await?;
        flush::check_catalog_is_current(region, flushed, snapshot_through, &segments_on_disk)?;
        let place = local_files.as_ref().map_or_else(|| files.to_string(), |folder| folder.display().to_string());
        let sweep = flush::Sweep { region, node, adopted, place: &place, segments_on_disk: &segments_on_disk };
        flush::sweep_uncatalogued(&*files, &catalog, sweep).await?;
        let (wal, replayed) = wal::Wal::open(&root.join("wal"), flushed).await?;
        let mut memory = Memory::default();
        let mut resets = Vec::new();
        // The last forget applied: the snapshot's, or a later one of a frame in the log.
        let mut forgets_applied = snapshot.as_ref().map_or(0, |snapshot| snapshot.forgets_applied);
        let (mut profiles, mut derived) = match snapshot {
            Some(snapshot) => snapshot.into_state(root).await?,
            None => (Profiles::new(), Derived::default()),
        };
        // Records of segments before the current one (a flush sealed them and then failed, or
        // stopped): the first flush covers them even when nothing new comes.
        let current_segment = segments_on_disk.iter().copied().max();
        memory.pending_sealed =
            replayed.iter().map(|replayed| replayed.segment).filter(|segment| Some(*segment) < current_segment).max();
        for wal::Replayed { segment, record } in replayed {
            // Segments the snapshot covers still hold events not yet in files; what they
            // did to profiles and the lexicon is already in the snapshot.
            let in_snapshot = snapshot_through.is_some_and(|through| segment <= through);
            match record {
                Record::Forget { id, project_id, distinct_ids, own } => {
                    forgets_applied = forgets_applied.max(id);
                    let ids: Option<HashSet<String>> = distinct_ids.map(|ids| ids.into_iter().collect());
                    let state = (!in_snapshot).then_some((&mut profiles, &mut derived));
                    privacy::forget_in(&mut memory, state, project_id, ids.as_ref())?;
                    if own && ids.is_none() {
                        resets.push(project_id);
                    }
                }
                Record::Events(events) => {
                    if !in_snapshot {
                        for event in &events {
                            derived.record(event);
                        }
                    }
                    memory.add(&prepare_all(&events)?)?;
                }
                Record::Profiles(updates) if !in_snapshot => {
                    apply_all(&mut profiles, &updates);
                }
                Record::Profiles(_) => {}
                Record::Reset(project_id) => {
                    let state = (!in_snapshot).then_some((&mut profiles, &mut derived));
                    privacy::forget_in(&mut memory, state, project_id, None)?;
                    resets.push(project_id);
                }
                Record::Delete { project_id, distinct_ids } => {
                    let ids = distinct_ids.into_iter().collect();
                    memory.remove_users(project_id, &ids)?;
                    if !in_snapshot {
                        privacy::remove_profiles(&mut profiles, project_id, &ids);
                    }
                }
            }
        }
        // Every catalogued file predates an unflushed reset: the reset's files go too.
        for project in resets {
            flush::forget_files(&*files, &catalog, region, project).await?;
        }
        if memory.fresh_count > 0 {
            tracing::info!(root = %root.display(), events = memory.fresh_count, "replayed the write-ahead log");
        }
        let store = EventStore {
            root: root.to_path_buf(),
            region: region.to_string(),
            catalog,
            files,
            local_files,
            node: node.to_string(),
            peers: Arc::default(),
            wal,
            cut: Arc::default(),
            memory: Arc::new(RwLock::new(memory)),
            profiles: Arc::new(RwLock::new(profiles)),
            derived: Arc::new(RwLock::new(derived)),
            maintenance: Arc::new(tokio::sync::Mutex::new(flush::Maintenance { published: false, forgets_applied })),
            readers: Arc::new(readers),
            runtime: scan::spilling_runtime(&root.join("spill"), scan::QUERY_MEMORY)?,
            flush_wanted: Arc::default(),
            changes: Arc::default(),
            clock,
            view_planner: Arc::default(),
        };
        // Resets and deletions run on other nodes while this one was down.
        store.apply_forgets(&mut *store.maintenance.lock().await).await?;
        if store.shares_files()
            && let Err(error) = store.refresh_peers().await
        {
            tracing::warn!(%region, %error, "cannot read what other nodes published; the next flush tries again");
        }
        Ok(store)
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
        let prepared = prepare_all(&events).map_err(|error| WalError::Encode(error.to_string()))?;
        // Identities depend on order (the first event naming a device's user wins): they
        // are recorded by the log writer once durable, in log order, as a replay would.
        let identity_events: Vec<Event> =
            events.iter().filter(|event| identity::Identities::concerns(event)).cloned().collect();
        let publish: Option<wal::Publish> = (!identity_events.is_empty()).then(|| {
            let derived = Arc::clone(&self.derived);
            let changes = Arc::clone(&self.changes);
            Box::new(move || {
                let mut derived = derived.write().unwrap_or_else(|poisoned| poisoned.into_inner());
                for event in &identity_events {
                    if derived.identities.record(event) {
                        changes.everything(event.project_id);
                    }
                }
            }) as wal::Publish
        });
        let _cut = self.cut.read().await;
        self.wal.append(payload, publish).await?;
        {
            // Counts, types and first/last seen do not depend on order.
            let mut derived = self.derived.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            for event in &events {
                lexicon::record(&mut derived.lexicons, event);
            }
        }
        let mut memory = self.memory.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        // The builders cannot refuse rows of the layout; an error here would be a bug, and
        // the events are safe in the log either way.
        if let Err(error) = memory.add(&prepared) {
            tracing::error!(%error, "events are in the log but not in memory until the next start");
        }
        let mut earliest: HashMap<i64, i64> = HashMap::new();
        for event in &events {
            let time = earliest.entry(event.project_id).or_insert(event.time_ms);
            *time = (*time).min(event.time_ms);
        }
        for (project_id, time_ms) in earliest {
            self.changes.events(project_id, time_ms);
        }
        if memory.fresh_count >= FLUSH_EVENTS {
            self.flush_wanted.notify_one();
        }
        Ok(())
    }

    /// Events matching the query, in time order, each under its user's canonical
    /// distinct_id (merges apply to earlier events too), one copy per (event,
    /// distinct_id, time, `$insert_id`): the most recently received.
    ///
    /// Runs on DataFusion over the catalogued files and memory ([`scan`]). Holds every
    /// answer in memory: for small reads; the export streams ([`EventStore::event_stream`]).
    #[cfg(test)]
    pub(crate) async fn events(&self, query: &EventQuery) -> Result<Vec<Event>, StorageError> {
        // A compaction may remove a listed file before it is read (after a whole
        // maintenance pass): the second attempt lists the files again.
        let mut found = match self.scan(query).await {
            Ok(found) => found,
            Err(error) => {
                tracing::debug!(%error, "reading events failed; listing the files again");
                self.scan(query).await?
            }
        };
        self.canonical_and_filtered(query, &mut found);
        if let Some(limit) = query.limit {
            found.truncate(limit);
        }
        Ok(found)
    }

    /// Each event under its user's canonical distinct_id, and only those the query's
    /// property condition keeps.
    #[cfg(test)]
    fn canonical_and_filtered(&self, query: &EventQuery, found: &mut Vec<Event>) {
        let derived = self.derived.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        found.retain_mut(|event| {
            let distinct_id = derived.identities.canonical(query.project_id, &event.distinct_id, query.id_merge);
            if distinct_id != event.distinct_id {
                event.distinct_id = distinct_id.to_string();
            }
            let Some(filter) = &query.filter else { return true };
            // The expression sees distinct_id beside the properties, for this check only.
            let shadowed = event.properties.insert("distinct_id".into(), event.distinct_id.clone().into());
            let wanted = filter.matches(&event.properties);
            match shadowed {
                Some(value) => event.properties.insert("distinct_id".into(), value),
                None => event.properties.remove("distinct_id"),
            };
            wanted
        });
    }

    #[cfg(test)]
    async fn scan(&self, query: &EventQuery) -> Result<Vec<Event>, StorageError> {
        let _lease = self.readers.lease(Arc::clone(&self.files));
        // Memory first, then the catalog: a flush that catalogues its files in between
        // shows its events twice (one copy is kept), never not at all.
        let memory =
            self.memory.read().unwrap_or_else(|poisoned| poisoned.into_inner()).batches_of(query.project_id)?;
        let files = self.catalog.event_files(&self.region, query.project_id, query.from_ms, query.to_ms).await?;
        let promoted = parquet_file::union_of(&files)?;
        let paths = files.into_iter().map(|file| file.path).collect();
        scan::scan(Arc::clone(&self.files), scan::Files { region: self.region.clone(), paths, promoted }, memory, query)
            .await
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
            let Record::Profiles(kept) = record else { return Ok(failures) };
            // Applied by the log writer once durable, in log order: concurrent requests
            // updating one profile end as a replay of the log would leave them.
            let profiles = Arc::clone(&self.profiles);
            let changes = Arc::clone(&self.changes);
            let publish: wal::Publish = Box::new(move || {
                let mut profiles = profiles.write().unwrap_or_else(|poisoned| poisoned.into_inner());
                apply_all(&mut profiles, &kept);
                for update in &kept {
                    changes.everything(update.project_id);
                }
            });
            let _cut = self.cut.read().await;
            self.wal.append(payload, Some(publish)).await?;
        }
        Ok(failures)
    }

    /// The scope's profiles, sorted by id: user profiles, or with `group_key` the profiles
    /// of that group key; through the scope's data view (a view with conditions on user
    /// profiles shows no group profiles) and without its hidden properties.
    pub async fn profiles_of<P: ProjectMarker>(
        &self,
        scope: &DataScope<P>,
        group_key: Option<&str>,
    ) -> Result<Vec<(String, Profile)>, StorageError> {
        let mut found = self.profiles(scope.project_id().0, group_key);
        if scope.visibility().is_everything() {
            return Ok(found);
        }
        let identities = self.identities_of(scope);
        let restriction = self.restriction(scope.visibility(), scope.project_id().0, &identities).await?;
        if restriction.is_none() {
            return Ok(found);
        }
        if group_key.is_some() && restriction.users.is_some() {
            return Ok(Vec::new());
        }
        found.retain_mut(|(id, profile)| {
            restriction.strip(&mut profile.properties);
            group_key.is_some() || restriction.keeps_user(identities.get(id).map_or(id.as_str(), String::as_str))
        });
        Ok(found)
    }

    /// The profiles of a project, sorted by id: user profiles, or with `group_key` the
    /// profiles of that group key.
    pub(crate) fn profiles(&self, project_id: i64, group_key: Option<&str>) -> Vec<(String, Profile)> {
        let mut found: Vec<(String, Profile)> = peers::project_profiles(&self.profiles, &self.peers, project_id)
            .into_iter()
            .filter_map(|(key, profile)| match (key, group_key) {
                (ProfileKey::User(id), None) => Some((id, profile)),
                (ProfileKey::Group { key, id }, Some(wanted)) if key == wanted => Some((id, profile)),
                _ => None,
            })
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }

    /// Removes every event, profile, lexicon entry and identity of the project, durably: a
    /// forget for every node of the region (each drops what it has not flushed), applied
    /// here (a frame in the log, memory, profiles), then the project's files. A project reset.
    pub async fn reset_project(&self, scope: &DataScope<ResetProject>) -> Result<(), StorageError> {
        let project_id = scope.project_id().0;
        // No flush or compaction here meanwhile: one could catalogue the project's old
        // events after they are forgotten. Other nodes' flushes after the forget are
        // refused until they applied it; those before it are in the catalog now.
        let mut maintenance = self.maintenance.lock().await;
        self.catalog.record_forget(&self.region, &self.node, project_id, None, self.clock.now()).await?;
        self.apply_forgets(&mut maintenance).await?;
        flush::forget_files(&*self.files, &self.catalog, &self.region, project_id).await
    }

    /// The scope's project data as it is now, for the query engine's answer cache.
    pub fn data_version<P: ProjectMarker>(&self, scope: &DataScope<P>) -> DataVersion {
        self.changes.version(scope.project_id().0)
    }

    /// Whether an answer computed at `version`, reading events before `until_ms`, still
    /// holds now: no identity, profile or deletion since, and no event written before then.
    pub fn unchanged_before<P: ProjectMarker>(
        &self,
        scope: &DataScope<P>,
        version: DataVersion,
        until_ms: i64,
    ) -> bool {
        self.changes.unchanged_before(scope.project_id().0, version, until_ms)
    }

    /// Whether the project has any events, profiles or identities stored (a project may
    /// change its identity-merge system only while it has none).
    pub async fn has_data(&self, scope: &DataScope<EditProjectSettings>) -> Result<bool, StorageError> {
        let project_id = scope.project_id().0;
        let in_memory = self.memory.read().unwrap_or_else(|poisoned| poisoned.into_inner()).holds(project_id);
        let other = {
            let profiles = self.profiles.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            let derived = self.derived.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            profiles.keys().any(|(project, _)| *project == project_id)
                || derived.identities.knows(project_id)
                || self.peers.read().unwrap_or_else(|poisoned| poisoned.into_inner()).knows(project_id)
        };
        if in_memory || other {
            return Ok(true);
        }
        Ok(!self.catalog.event_files(&self.region, project_id, i64::MIN, i64::MAX).await?.is_empty())
    }

    /// The custom properties the project's new files keep in typed columns now.
    pub(crate) fn promotions(&self, project_id: i64) -> Vec<parquet_file::Promoted> {
        let derived = self.derived.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        derived.lexicons.get(&project_id).map(Lexicon::promotions).unwrap_or_default()
    }

    /// `read` of the project's lexicon (as [`EventStore::lexicon`] merges it), without a
    /// copy when no other node published one.
    pub(crate) fn with_lexicon<R>(&self, project_id: i64, read: impl FnOnce(&Lexicon) -> R) -> R {
        let no_peers = self.peers.read().unwrap_or_else(|poisoned| poisoned.into_inner()).is_empty();
        if no_peers {
            let derived = self.derived.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            let empty = Lexicon::default();
            return read(derived.lexicons.get(&project_id).unwrap_or(&empty));
        }
        read(&self.lexicon(project_id))
    }

    /// The project's lexicon: this node's, with what other nodes sharing the bucket
    /// published added in.
    pub(crate) fn lexicon(&self, project_id: i64) -> Lexicon {
        let own = {
            let derived = self.derived.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            derived.lexicons.get(&project_id).cloned().unwrap_or_default()
        };
        self.peers.read().unwrap_or_else(|poisoned| poisoned.into_inner()).lexicon(project_id, own)
    }

    /// The project's identity map (every id whose canonical id is another): this node's,
    /// merged with what other nodes sharing the bucket published.
    pub(crate) fn mapping(&self, project_id: i64, id_merge: tally_types::IdMerge) -> HashMap<String, String> {
        let own = {
            let derived = self.derived.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            derived.identities.mapping(project_id, id_merge)
        };
        self.peers.read().unwrap_or_else(|poisoned| poisoned.into_inner()).mapping(project_id, id_merge, own)
    }
}
