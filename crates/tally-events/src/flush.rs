//! From memory to catalogued Parquet files: the flush, the snapshot, compaction and the
//! sweep of files a crash left uncatalogued. The order of a flush is what makes it safe:
//! files written and synced → snapshot written and synced → files and the flushed log
//! position catalogued in one transaction → only then the covered log segments removed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use tally_ingest::Event;
use tally_ingest::profiles::{Profile, ProfileKey};
use tally_store::EventFile;

use crate::parquet_file::{self, FileStats};
use crate::{Derived, EventStore, Profiles, StorageError, deduplicate};

/// The snapshot of profiles, lexicon and identities, beside the region's log.
pub(crate) const SNAPSHOT: &str = "snapshot.json";
/// Files per project and day, by a hash of the distinct_id (engine.md §8): a user's events
/// of a day are in one bucket, so per-user work needs no shuffle across buckets.
pub const USER_BUCKETS: u32 = 4;
/// Compaction merges files smaller than this (rows); bigger ones are left as they are.
const SMALL_FILE_ROWS: i64 = 1_000_000;
/// Compaction of today's partition waits for this many small files; past days merge at 2.
const TODAY_MIN_FILES: usize = 4;

fn io(error: impl std::fmt::Display) -> StorageError {
    StorageError::Io(error.to_string())
}

/// The region's Parquet files under `<root>/events`.
pub(crate) fn local_files(root: &Path) -> Result<Arc<dyn ObjectStore>, StorageError> {
    let folder = root.join("events");
    std::fs::create_dir_all(&folder).map_err(|error| io(format!("cannot create {}: {error}", folder.display())))?;
    let store = LocalFileSystem::new_with_prefix(&folder).map_err(io)?;
    Ok(Arc::new(store))
}

/// What a flush covered: the state of profiles, lexicon and identities after every log
/// segment up to `sealed_through`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    pub(crate) sealed_through: u64,
    profiles: Vec<(i64, ProfileKey, Profile)>,
    derived: Derived,
}

impl Snapshot {
    pub(crate) fn into_state(self) -> (Profiles, Derived) {
        let profiles = self.profiles.into_iter().map(|(project, key, profile)| ((project, key), profile)).collect();
        (profiles, self.derived)
    }
}

pub(crate) async fn read_snapshot(root: &Path) -> Result<Option<Snapshot>, StorageError> {
    let path = root.join(SNAPSHOT);
    let bytes = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io(format!("cannot read {}: {error}", path.display()))),
    };
    let parsed = tokio::task::spawn_blocking(move || serde_json::from_slice::<Snapshot>(&bytes)).await.map_err(io)?;
    parsed.map(Some).map_err(|error| io(format!("{} is damaged: {error}", path.display())))
}

/// Writes the snapshot under a temporary name, syncs it, renames it into place and syncs
/// the folder: a crash leaves the old snapshot or the new one, never half of one.
async fn write_snapshot(root: &Path, snapshot: Snapshot) -> Result<(), StorageError> {
    let bytes = tokio::task::spawn_blocking(move || serde_json::to_vec(&snapshot)).await.map_err(io)?.map_err(io)?;
    let temporary = root.join(format!("{SNAPSHOT}.tmp"));
    let file = async {
        let mut file = tokio::fs::File::create(&temporary).await?;
        tokio::io::AsyncWriteExt::write_all(&mut file, &bytes).await?;
        tokio::io::AsyncWriteExt::flush(&mut file).await?;
        file.sync_all().await?;
        tokio::fs::rename(&temporary, root.join(SNAPSHOT)).await?;
        sync_folder(root).await
    };
    file.await.map_err(|error| io(format!("cannot write the snapshot under {}: {error}", root.display())))
}

async fn sync_folder(folder: &Path) -> std::io::Result<()> {
    tokio::fs::File::open(folder).await?.sync_all().await
}

/// Makes a file written through the local object store durable: the file, then every
/// folder from its own up to `<root>/events` (new folders' names must survive a crash too).
async fn make_durable(root: &Path, path: &ObjectPath) -> Result<(), StorageError> {
    let events = root.join("events");
    let full: PathBuf = events.join(path.as_ref());
    let sync = async {
        tokio::fs::File::open(&full).await?.sync_all().await?;
        let mut folder = full.parent();
        while let Some(current) = folder {
            sync_folder(current).await?;
            if current == events {
                break;
            }
            folder = current.parent();
        }
        std::io::Result::Ok(())
    };
    sync.await.map_err(|error| io(format!("cannot sync {}: {error}", full.display())))
}

/// Removes files under `<root>/events` that the catalog does not list: what a crash left
/// between writing a flush's (or compaction's) files and cataloguing them, or files a
/// compaction replaced. Refuses to delete anything when the catalog has never recorded a
/// flush for the region: that means the metadata database is not the one these files were
/// written with.
pub(crate) async fn sweep_uncatalogued(
    files: &dyn ObjectStore,
    catalog: &tally_store::Store,
    region: &str,
    catalog_has_flushes: bool,
    root: &Path,
) -> Result<(), StorageError> {
    let catalogued: HashSet<String> =
        catalog.all_event_files(region).await?.into_iter().map(|file| file.path).collect();
    let mut listing = files.list(None);
    let mut uncatalogued = Vec::new();
    while let Some(object) = listing.next().await {
        let object = object.map_err(io)?;
        if !catalogued.contains(object.location.as_ref()) {
            uncatalogued.push(object.location);
        }
    }
    if uncatalogued.is_empty() {
        return Ok(());
    }
    if !catalog_has_flushes {
        return Err(StorageError::Inconsistent(format!(
            "{} holds event files but the metadata database has no catalog for region {region}; point \
             metadata.url at the database these files were written with",
            root.join("events").display()
        )));
    }
    tracing::warn!(region, files = uncatalogued.len(), "removing event files that were never catalogued");
    for location in uncatalogued {
        files.delete(&location).await.map_err(io)?;
    }
    Ok(())
}

/// Files replaced by compaction, removed at the next maintenance pass (so readers that
/// listed them before the swap can finish).
#[derive(Debug, Default)]
pub(crate) struct Retired(Vec<String>);

/// What a flush did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FlushReport {
    /// The last log segment now in files; `None` when there was nothing to flush.
    pub sealed_through: Option<u64>,
    pub events: usize,
    pub files: usize,
    pub removed_segments: usize,
}

/// What a compaction did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CompactReport {
    pub partitions: usize,
    pub files_in: usize,
    pub rows_in: u64,
    pub rows_out: u64,
}

/// Which file of a (project, day) an event goes to.
pub(crate) fn bucket_of(distinct_id: &str) -> u32 {
    crc32c::crc32c(distinct_id.as_bytes()) % USER_BUCKETS
}

fn day_of(time_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(time_ms)
        .map(|time| time.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| "invalid".to_string())
}

type Partition = (i64, String, u32);

fn partition_folder((project, day, bucket): &Partition) -> String {
    format!("project={project}/day={day}/bucket={bucket}")
}

fn sort_for_file(events: &mut [&Event]) {
    events.sort_by(|a, b| (&a.distinct_id, a.time_ms).cmp(&(&b.distinct_id, b.time_ms)));
}

/// Groups, sorts and encodes the flushed events (CPU work, run on the blocking pool).
fn encode_partitions(
    events: &HashMap<i64, Vec<Event>>,
) -> Result<Vec<(Partition, Vec<u8>, FileStats)>, parquet_file::ParquetError> {
    let mut partitions: BTreeMap<Partition, Vec<&Event>> = BTreeMap::new();
    for (project, list) in events {
        for event in list {
            partitions.entry((*project, day_of(event.time_ms), bucket_of(&event.distinct_id))).or_default().push(event);
        }
    }
    partitions
        .into_iter()
        .map(|(partition, mut list)| {
            sort_for_file(&mut list);
            let bytes = parquet_file::encode(&list)?;
            let stats = FileStats::of(&list, &bytes);
            Ok((partition, bytes, stats))
        })
        .collect()
}

fn catalog_row(partition: &Partition, path: &ObjectPath, stats: &FileStats) -> EventFile {
    EventFile {
        path: path.to_string(),
        project_id: partition.0,
        day: partition.1.clone(),
        bucket: i64::from(partition.2),
        rows: stats.rows as i64,
        bytes: stats.bytes as i64,
        min_time_ms: stats.min_time_ms,
        max_time_ms: stats.max_time_ms,
    }
}

impl EventStore {
    async fn remove_retired(&self, retired: &mut Retired) {
        for path in std::mem::take(&mut retired.0) {
            match self.files.delete(&ObjectPath::from(path.as_str())).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => {
                    tracing::warn!(%path, %error, "cannot remove a compacted-away event file; the next start sweeps it")
                }
            }
        }
    }

    /// Writes every event received so far to catalogued Parquet files, snapshots profiles,
    /// lexicon and identities, and removes the log segments this covered. Events stay
    /// visible to readers throughout. A flush that fails leaves everything to the next.
    pub async fn flush(&self) -> Result<FlushReport, StorageError> {
        let mut retired = self.maintenance.lock().await;
        self.remove_retired(&mut retired).await;
        let (sealed, flushing, snapshot) = {
            let _cut = self.cut.write().await;
            let Some(sealed) = self.wal.rotate().await? else { return Ok(FlushReport::default()) };
            let mut memory = self.memory.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            let fresh = std::mem::take(&mut memory.fresh);
            memory.fresh_count = 0;
            // Events of an earlier flush that failed are still here: this flush covers them too.
            let flushing = Arc::make_mut(&mut memory.flushing);
            for (project, events) in fresh {
                flushing.entry(project).or_default().extend(events);
            }
            let profiles = self.profiles.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            let derived = self.derived.read().unwrap_or_else(|poisoned| poisoned.into_inner());
            let snapshot = Snapshot {
                sealed_through: sealed,
                profiles: profiles
                    .iter()
                    .map(|((project, key), profile)| (*project, key.clone(), profile.clone()))
                    .collect(),
                derived: derived.clone(),
            };
            (sealed, Arc::clone(&memory.flushing), snapshot)
        };
        let events: usize = flushing.values().map(Vec::len).sum();
        let encoded = tokio::task::spawn_blocking(move || encode_partitions(&flushing)).await.map_err(io)??;
        let mut rows = Vec::with_capacity(encoded.len());
        for (partition, bytes, stats) in encoded {
            let path = ObjectPath::from(format!("{}/flush-{sealed:020}.parquet", partition_folder(&partition)));
            self.files.put(&path, bytes.into()).await.map_err(parquet_file::ParquetError::from)?;
            make_durable(&self.root, &path).await?;
            rows.push(catalog_row(&partition, &path, &stats));
        }
        write_snapshot(&self.root, snapshot).await?;
        self.catalog.record_flush(&self.region, &rows, sealed, self.clock.now()).await?;
        {
            let mut memory = self.memory.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            memory.flushing = Arc::default();
        }
        let removed_segments = crate::wal::remove_through(&self.root.join("wal"), sealed).await?;
        tracing::debug!(region = %self.region, sealed, events, files = rows.len(), "flushed events to Parquet");
        Ok(FlushReport { sealed_through: Some(sealed), events, files: rows.len(), removed_segments })
    }

    /// Merges each partition's small files into one, sorted by (distinct_id, time), keeping
    /// one copy per (event, distinct_id, time, `$insert_id`). Past days merge as soon as
    /// they have two small files, today's once it has [`TODAY_MIN_FILES`].
    pub async fn compact(&self) -> Result<CompactReport, StorageError> {
        let mut retired = self.maintenance.lock().await;
        self.remove_retired(&mut retired).await;
        let today = day_of(self.clock.now().as_millisecond());
        let mut partitions: BTreeMap<Partition, Vec<EventFile>> = BTreeMap::new();
        for file in self.catalog.all_event_files(&self.region).await? {
            if file.rows < SMALL_FILE_ROWS {
                let bucket = u32::try_from(file.bucket).unwrap_or(0);
                partitions.entry((file.project_id, file.day.clone(), bucket)).or_default().push(file);
            }
        }
        let mut report = CompactReport::default();
        for (partition, files) in partitions {
            let wanted = if partition.1 < today { 2 } else { TODAY_MIN_FILES };
            if files.len() < wanted {
                continue;
            }
            let mut contents = Vec::with_capacity(files.len());
            for file in &files {
                let path = ObjectPath::from(file.path.as_str());
                contents.push((file.path.clone(), parquet_file::read_bytes(&*self.files, &path).await?));
            }
            let project = partition.0;
            let merged = tokio::task::spawn_blocking(move || {
                let mut events = Vec::new();
                for (path, bytes) in contents {
                    events.extend(parquet_file::decode(bytes, &path, project)?);
                }
                let rows_in = events.len() as u64;
                let events = deduplicate(events);
                let mut list: Vec<&Event> = events.iter().collect();
                sort_for_file(&mut list);
                let bytes = parquet_file::encode(&list)?;
                let stats = FileStats::of(&list, &bytes);
                Ok::<_, parquet_file::ParquetError>((rows_in, bytes, stats))
            })
            .await
            .map_err(io)??;
            let (rows_in, bytes, stats) = merged;
            let path = ObjectPath::from(format!(
                "{}/compact-{}.parquet",
                partition_folder(&partition),
                uuid::Uuid::new_v4().simple()
            ));
            self.files.put(&path, bytes.into()).await.map_err(parquet_file::ParquetError::from)?;
            make_durable(&self.root, &path).await?;
            let old: Vec<String> = files.iter().map(|file| file.path.clone()).collect();
            self.catalog
                .replace_event_files(&self.region, &old, &catalog_row(&partition, &path, &stats), self.clock.now())
                .await?;
            report.partitions += 1;
            report.files_in += old.len();
            report.rows_in += rows_in;
            report.rows_out += stats.rows;
            retired.0.extend(old);
        }
        if report.partitions > 0 {
            tracing::debug!(region = %self.region, ?report, "compacted event files");
        }
        Ok(report)
    }

    /// Flushes every `every` (or as soon as [`crate::FLUSH_EVENTS`] wait in memory), then
    /// compacts. Failures are logged and retried on the next pass.
    pub fn spawn_maintenance(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = store.flush_wanted.notified() => {}
                }
                if let Err(error) = store.flush().await {
                    tracing::error!(region = %store.region, %error, "cannot flush events to Parquet; retrying later");
                }
                if let Err(error) = store.compact().await {
                    tracing::error!(region = %store.region, %error, "cannot compact event files; retrying later");
                }
            }
        })
    }
}
