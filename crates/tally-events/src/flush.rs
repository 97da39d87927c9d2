//! From memory to catalogued Parquet files: the flush, the snapshot, compaction and the
//! sweep of files a crash left uncatalogued. The order of a flush is what makes it safe:
//! files written and synced → snapshot written and synced → files and the flushed log
//! position catalogued in one transaction → only then the covered log segments removed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{Int64Array, StringArray, UInt32Array};
use datafusion::arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use datafusion::arrow::record_batch::RecordBatch;
use futures_util::StreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use tally_ingest::profiles::{Profile, ProfileKey};
use tally_store::EventFile;

use crate::lexicon::Lexicon;
use crate::parquet_file::{self, FileStats, ParquetError, Promoted};
use crate::{Batches, Derived, EventQuery, EventStore, Profiles, StorageError};

/// The snapshot of lexicon and identities (and the name of the profiles file), beside the
/// region's log.
pub(crate) const SNAPSHOT: &str = "snapshot.json";
/// The folder of profile snapshots (Parquet, readable by the query engine).
const PROFILES: &str = "profiles";
/// Files per project and day, by a hash of the distinct_id (engine.md §8): a user's events
/// of a day are in one bucket, so per-user work needs no shuffle across buckets.
pub const USER_BUCKETS: u32 = 4;
/// Compaction merges files smaller than this (rows); bigger ones are left as they are.
const SMALL_FILE_ROWS: i64 = 1_000_000;
/// Compaction of today's partition waits for this many small files; past days merge at 2.
const TODAY_MIN_FILES: usize = 4;
use crate::DAY_MS;
/// How long a node holds the compaction lease without renewing it (it renews it for each
/// partition; one that dies frees it this long after).
const COMPACTION_LEASE: jiff::SignedDuration = jiff::SignedDuration::from_secs(300);
/// Most rows in one flushed file (compaction leaves files this big alone).
const FILE_ROWS: usize = 1_000_000;
/// Most Arrow bytes gathered into one flushed file (well under the 2 GiB of a string column).
const FILE_BYTES: usize = 512 * 1024 * 1024;

pub(crate) fn io(error: impl std::fmt::Display) -> StorageError {
    StorageError::Io(error.to_string())
}

/// The region's Parquet files under `<root>/events`, and that folder.
pub(crate) fn local_files(root: &Path) -> Result<(Arc<dyn ObjectStore>, PathBuf), StorageError> {
    let folder = root.join("events");
    std::fs::create_dir_all(&folder).map_err(|error| io(format!("cannot create {}: {error}", folder.display())))?;
    let store = LocalFileSystem::new_with_prefix(&folder).map_err(io)?;
    Ok((Arc::new(store), folder))
}

/// What a flush covered: the state of profiles, lexicon and identities after every log
/// segment up to `sealed_through`. Profiles are in their own Parquet file (`profiles`,
/// relative to the region's root), where the query engine can read them.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    pub(crate) sealed_through: u64,
    profiles: String,
    derived: Derived,
    /// The last of the region's forgets applied ([`crate::privacy`]).
    #[serde(default)]
    pub(crate) forgets_applied: i64,
}

impl Snapshot {
    pub(crate) async fn into_state(self, root: &Path) -> Result<(Profiles, Derived), StorageError> {
        let path = root.join(&self.profiles);
        let bytes =
            tokio::fs::read(&path).await.map_err(|error| io(format!("cannot read {}: {error}", path.display())))?;
        let name = path.display().to_string();
        let decoded = tokio::task::spawn_blocking(move || parquet_file::decode_profiles(bytes.into(), &name))
            .await
            .map_err(io)??;
        let profiles = decoded.into_iter().map(|(project, key, profile)| ((project, key), profile)).collect();
        Ok((profiles, self.derived))
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

/// Writes `bytes` to `path` durably: under a temporary name, synced, renamed into place,
/// the folder synced. A crash leaves the old file or the new one, never half of one.
pub async fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let folder = path.parent().unwrap_or(path);
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let write = async {
        tokio::fs::create_dir_all(folder).await?;
        let mut file = tokio::fs::File::create(&temporary).await?;
        tokio::io::AsyncWriteExt::write_all(&mut file, bytes).await?;
        tokio::io::AsyncWriteExt::flush(&mut file).await?;
        file.sync_all().await?;
        tokio::fs::rename(&temporary, path).await?;
        sync_folder(folder).await
    };
    write.await.map_err(|error| io(format!("cannot write {}: {error}", path.display())))
}

/// Writes the profiles file, then the snapshot naming it; removes older profiles files.
/// Returns the profiles file's bytes.
async fn write_snapshot(
    root: &Path,
    sealed_through: u64,
    profiles: Vec<(i64, ProfileKey, Profile)>,
    derived: Derived,
    forgets_applied: i64,
) -> Result<Vec<u8>, StorageError> {
    let file_name = format!("profiles-{sealed_through:020}.parquet");
    let name = format!("{PROFILES}/{file_name}");
    let encoded = tokio::task::spawn_blocking(move || parquet_file::encode_profiles(&profiles)).await.map_err(io)??;
    write_durably(&root.join(&name), &encoded).await?;
    let snapshot = Snapshot { sealed_through, profiles: name.clone(), derived, forgets_applied };
    let bytes = tokio::task::spawn_blocking(move || serde_json::to_vec(&snapshot)).await.map_err(io)?.map_err(io)?;
    write_durably(&root.join(SNAPSHOT), &bytes).await?;
    if let Ok(mut entries) = tokio::fs::read_dir(root.join(PROFILES)).await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            if entry.file_name() != file_name.as_str() {
                let _ = tokio::fs::remove_file(entry.path()).await;
            }
        }
    }
    Ok(encoded)
}

pub(crate) async fn sync_folder(folder: &Path) -> std::io::Result<()> {
    tokio::fs::File::open(folder).await?.sync_all().await
}

/// Makes files written through the local object store (the folder `local`) durable: each
/// file, then every folder from theirs up to `local`, once each (new folders' names must
/// survive a crash too). Files in an object store (`local` is `None`) are durable once
/// their PUT succeeded.
pub(crate) async fn make_durable(local: Option<&Path>, paths: &[ObjectPath]) -> Result<(), StorageError> {
    let Some(events) = local else { return Ok(()) };
    let events = events.to_path_buf();
    let mut folders = BTreeSet::new();
    for path in paths {
        let full: PathBuf = events.join(path.as_ref());
        let synced = async { tokio::fs::File::open(&full).await?.sync_all().await };
        synced.await.map_err(|error| io(format!("cannot sync {}: {error}", full.display())))?;
        let mut folder = full.parent();
        while let Some(current) = folder {
            folders.insert(current.to_path_buf());
            if current == events {
                break;
            }
            folder = current.parent();
        }
    }
    // Deepest first, so a folder is synced after the entries made in it.
    for folder in folders.iter().rev() {
        sync_folder(folder).await.map_err(|error| io(format!("cannot sync {}: {error}", folder.display())))?;
    }
    Ok(())
}

/// How long a file compaction replaced stays in a shared bucket after its last reader on
/// this node left: readers on other nodes may still open it (longer than the default query
/// time limit; an export running longer on another node can find it gone).
pub(crate) const SHARED_RETIRE_GRACE: Duration = Duration::from_secs(600);

/// A file's name for node `node`: `<kind>-<node>_<rest>.parquet` (`<kind>-<rest>.parquet`
/// for the single node, the empty id).
pub(crate) fn file_name(kind: &str, node: &str, rest: &str) -> String {
    if node.is_empty() { format!("{kind}-{rest}.parquet") } else { format!("{kind}-{node}_{rest}.parquet") }
}

/// The node whose file this is (its name's `<node>_`), `None` for names without one
/// (written before nodes had ids).
pub(crate) fn owner_of(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next()?;
    let (_, rest) = name.split_once('-')?;
    rest.split_once('_').map(|(node, _)| node)
}

/// What a start's sweep needs to know.
#[derive(Debug)]
pub(crate) struct Sweep<'a> {
    pub region: &'a str,
    pub node: &'a str,
    /// Whether the node took over the position of the single node before ids: names
    /// without a node are then its own.
    pub adopted: bool,
    /// Where the files are, for messages.
    pub place: &'a str,
    pub segments_on_disk: &'a [u64],
}

impl Sweep<'_> {
    /// Whether the file is this node's to sweep.
    fn owns(&self, path: &str) -> bool {
        match owner_of(path) {
            Some(owner) => owner == self.node,
            None => self.node.is_empty() || self.adopted,
        }
    }
}

/// Removes this node's files that the catalog does not list: what a crash left between
/// writing a flush's (or compaction's) files and cataloguing them, or files a compaction
/// replaced. Other nodes' files are never touched. Refuses to delete anything when the
/// catalog has never recorded a flush of the region by any node: that means the metadata
/// database is not the one these files were written with.
pub(crate) async fn sweep_uncatalogued(
    files: &dyn ObjectStore,
    catalog: &tally_store::Store,
    sweep: Sweep<'_>,
) -> Result<(), StorageError> {
    let region = sweep.region;
    let catalogued: HashSet<String> =
        catalog.all_event_files(region).await?.into_iter().map(|file| file.path).collect();
    // Event files only: the nodes' published state (`nodes/`) is not catalogued.
    let mut listing = files.list(None);
    let mut uncatalogued = Vec::new();
    while let Some(object) = listing.next().await {
        let object = object.map_err(io)?;
        let location = object.location.as_ref();
        if location.starts_with("project=") && !catalogued.contains(location) {
            uncatalogued.push(object.location);
        }
    }
    // A flush's file whose log segment is still on disk holds nothing the log does not.
    let in_log = |location: &ObjectPath| {
        sweep.owns(location.as_ref())
            && flushed_segment(location.as_ref()).is_some_and(|segment| sweep.segments_on_disk.contains(&segment))
    };
    if uncatalogued.is_empty() {
        return Ok(());
    }
    // With no flush ever catalogued, only a first flush cut short by a crash can have left
    // files: anything else means another metadata database.
    if !catalog.region_has_flushes(region).await? && !uncatalogued.iter().all(in_log) {
        return Err(StorageError::Inconsistent(format!(
            "{} holds event files but the metadata database has no catalog for region {region}; point \
             metadata.url at the database these files were written with",
            sweep.place
        )));
    }
    uncatalogued.retain(|location| sweep.owns(location.as_ref()));
    if uncatalogued.is_empty() {
        return Ok(());
    }
    tracing::warn!(region, files = uncatalogued.len(), "removing event files that were never catalogued");
    for location in uncatalogued {
        files.delete(&location).await.map_err(io)?;
    }
    Ok(())
}

/// The log segment a flushed file's name carries (`.../flush-[<node>_]<segment>-<n>.parquet`).
fn flushed_segment(path: &str) -> Option<u64> {
    let name = path.rsplit('/').next()?;
    let rest = name.strip_prefix("flush-")?;
    let rest = rest.split_once('_').map_or(rest, |(_, rest)| rest);
    rest.split('-').next()?.parse().ok()
}

/// Refuses to start when the catalog is older than the snapshot and the log segments in
/// between are gone: the metadata database was restored from before the last flushes, and
/// sweeping the files it does not list would lose acknowledged events.
pub(crate) fn check_catalog_is_current(
    region: &str,
    flushed: Option<u64>,
    snapshot_through: Option<u64>,
    segments_on_disk: &[u64],
) -> Result<(), StorageError> {
    let Some(through) = snapshot_through else { return Ok(()) };
    let first = flushed.map_or(0, |flushed| flushed + 1);
    let missing: Vec<u64> = (first..=through).filter(|segment| !segments_on_disk.contains(segment)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(StorageError::Inconsistent(format!(
        "the metadata database lists region {region}'s files only up to log segment {}, but the event data was \
         flushed through segment {through} and segments {missing:?} are gone: the metadata database is older than \
         the event data (restored from a backup?); point metadata.url at the current database",
        flushed.map_or_else(|| "none".to_string(), |flushed| flushed.to_string()),
    )))
}

/// Removes a project's files from the catalog, then from storage (a project reset).
pub(crate) async fn forget_files(
    files: &dyn ObjectStore,
    catalog: &tally_store::Store,
    region: &str,
    project_id: i64,
) -> Result<(), StorageError> {
    let paths = catalog.delete_event_files(region, project_id).await?;
    delete_uncatalogued(files, paths, "a reset project's file").await;
    Ok(())
}

/// Deletes files the catalog no longer lists; one that cannot be deleted is left to the
/// next start's sweep (and logged as `what`).
pub(crate) async fn delete_uncatalogued(files: &dyn ObjectStore, paths: Vec<String>, what: &str) {
    for path in paths {
        match files.delete(&ObjectPath::from(path.as_str())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => tracing::warn!(%path, %error, "cannot remove {what}; the next start sweeps it"),
        }
    }
}

/// Held by a flush or a compaction: one at a time.
#[derive(Debug, Default)]
pub(crate) struct Maintenance {
    /// Whether the state this node last published for the others sharing the bucket is
    /// its current one ([`crate::peers`]): false once it starts, after it applied a forget
    /// and while a publish failed, so its next flush publishes even with nothing new.
    pub(crate) published: bool,
    /// The last of the region's forgets this node applied ([`EventStore::apply_forgets`]).
    pub(crate) forgets_applied: i64,
}

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

pub(crate) fn arrow(error: impl std::fmt::Display) -> ParquetError {
    ParquetError::Encode(error.to_string())
}

/// Sorts a batch of the file layout by (distinct_id, time).
fn sort_batch(batch: &RecordBatch) -> Result<RecordBatch, ParquetError> {
    let by = |name: &str| -> Result<SortColumn, ParquetError> {
        let values = batch.column_by_name(name).cloned().ok_or_else(|| arrow(format!("no column {name}")))?;
        Ok(SortColumn { values, options: None })
    };
    let indices = lexsort_to_indices(&[by("distinct_id")?, by("time_ms")?], None).map_err(arrow)?;
    take_record_batch(batch, &indices).map_err(arrow)
}

/// One encoded file: its partition, bytes, statistics and promoted columns.
type Encoded = (Partition, Vec<u8>, FileStats, Vec<Promoted>);

/// Splits the flushed batches (each one request's) by (project, day, bucket), then
/// gathers each partition's pieces into files of at most [`FILE_ROWS`] rows or
/// [`FILE_BYTES`] of Arrow data, each sorted and encoded (CPU work, run on the blocking
/// pool). Splitting before gathering keeps any one concatenation small, however large the
/// backlog.
fn encode_partitions(
    batches: &Batches,
    promotions: &HashMap<i64, Vec<Promoted>>,
) -> Result<Vec<Encoded>, ParquetError> {
    let mut pieces: BTreeMap<Partition, Vec<RecordBatch>> = BTreeMap::new();
    for (project, list) in batches {
        for batch in list {
            let times = parquet_file::column::<Int64Array>(batch, "time_ms", "memory")?;
            let ids = parquet_file::column::<StringArray>(batch, "distinct_id", "memory")?;
            let mut rows: BTreeMap<(i64, u32), Vec<u32>> = BTreeMap::new();
            for row in 0..batch.num_rows() {
                let key = (times.value(row).div_euclid(DAY_MS), bucket_of(ids.value(row)));
                rows.entry(key).or_default().push(u32::try_from(row).map_err(arrow)?);
            }
            for ((day, bucket), indices) in rows {
                let piece = take_record_batch(batch, &UInt32Array::from(indices)).map_err(arrow)?;
                pieces.entry((*project, day_of(day * DAY_MS), bucket)).or_default().push(piece);
            }
        }
    }
    let schema = parquet_file::schema();
    let mut encoded = Vec::new();
    let none = Vec::new();
    for (partition, list) in pieces {
        let promoted = promotions.get(&partition.0).unwrap_or(&none);
        let (mut group, mut rows, mut bytes) = (Vec::new(), 0usize, 0usize);
        for piece in list {
            rows += piece.num_rows();
            bytes += piece.get_array_memory_size();
            group.push(piece);
            if rows >= FILE_ROWS || bytes >= FILE_BYTES {
                encoded.push(encode_file(&schema, &partition, &std::mem::take(&mut group), promoted)?);
                (rows, bytes) = (0, 0);
            }
        }
        if !group.is_empty() {
            encoded.push(encode_file(&schema, &partition, &group, promoted)?);
        }
    }
    Ok(encoded)
}

/// One file of `group` (batches of `schema`): its frequent properties moved into the
/// `promoted` columns, sorted by (distinct_id, time), encoded.
fn encode_file(
    schema: &datafusion::arrow::datatypes::SchemaRef,
    partition: &Partition,
    group: &[RecordBatch],
    promoted: &[Promoted],
) -> Result<Encoded, ParquetError> {
    let batch = parquet_file::promote(&concat_batches(schema, group).map_err(arrow)?, promoted)?;
    let file = sort_batch(&batch)?;
    let bytes = parquet_file::encode_batch(&file)?;
    let stats = FileStats::of_batch(&file, &bytes)?;
    Ok((partition.clone(), bytes, stats, parquet_file::promoted_of(file.schema().as_ref())))
}

pub(crate) fn catalog_row(
    partition: &Partition,
    path: &ObjectPath,
    stats: &FileStats,
    promoted: &[Promoted],
) -> EventFile {
    EventFile {
        path: path.to_string(),
        project_id: partition.0,
        day: partition.1.clone(),
        bucket: i64::from(partition.2),
        rows: stats.rows as i64,
        bytes: stats.bytes as i64,
        min_time_ms: stats.min_time_ms,
        max_time_ms: stats.max_time_ms,
        columns: parquet_file::columns_text(promoted),
    }
}

impl EventStore {
    /// Deletes the files compaction replaced that no reader holds any more.
    async fn remove_retired(&self) {
        delete_uncatalogued(&*self.files, self.readers.take_idle(), "a compacted-away event file").await;
    }

    /// Writes every event received so far to catalogued Parquet files, snapshots profiles,
    /// lexicon and identities, and removes the log segments this covered. Events stay
    /// visible to readers throughout. A flush that fails leaves everything to the next.
    /// With files in a bucket, it then publishes this node's identities, lexicon and
    /// profiles and reads what other nodes published since ([`crate::peers`]).
    pub async fn flush(&self) -> Result<FlushReport, StorageError> {
        let report = self.flush_own().await;
        if self.shares_files()
            && let Err(error) = self.refresh_peers().await
        {
            tracing::warn!(region = %self.region, %error, "cannot read what other nodes published; next flush tries again");
        }
        report
    }

    /// Whether the event files are in a bucket other nodes may share (else on this machine).
    pub(crate) fn shares_files(&self) -> bool {
        self.local_files.is_none()
    }

    /// Makes this node's newly written files durable ([`make_durable`]).
    pub(crate) async fn make_durable(&self, paths: &[ObjectPath]) -> Result<(), StorageError> {
        make_durable(self.local_files.as_deref(), paths).await
    }

    /// Reads what the other nodes sharing the bucket published since the last time; the
    /// projects it changes start a new data epoch (kept answers drop). Every flush of new
    /// events changes a node's published lexicon counts, so an answer kept on one node drops
    /// once another node's flush of that project is read.
    pub(crate) async fn refresh_peers(&self) -> Result<(), StorageError> {
        let changed = crate::peers::Peers::refresh(&self.peers, &*self.files, &self.node).await?;
        for project in changed {
            self.changes.everything(project);
        }
        Ok(())
    }

    /// This node's profiles and derived state as they are now.
    fn state(&self) -> (Vec<(i64, ProfileKey, Profile)>, Derived) {
        let profiles = self.profiles.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let derived = self.derived.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let profiles =
            profiles.iter().map(|((project, key), profile)| (*project, key.clone(), profile.clone())).collect();
        (profiles, derived.clone())
    }

    /// Publishes the encoded `derived` and `profiles` for the other nodes sharing the
    /// bucket ([`crate::peers::publish`]); whether it did. A failure waits for the next flush.
    async fn publish(&self, derived: &[u8], profiles: Vec<u8>) -> bool {
        let published = crate::peers::publish(&*self.files, &self.node, derived, profiles).await;
        if let Err(error) = &published {
            tracing::warn!(region = %self.region, %error, "cannot publish this node's state to the others; the next flush tries again");
        }
        published.is_ok()
    }

    async fn flush_own(&self) -> Result<FlushReport, StorageError> {
        let mut maintenance = self.maintenance.lock().await;
        self.remove_retired().await;
        // What other nodes' resets and deletions forget goes before the cut.
        self.apply_forgets(&mut maintenance).await?;
        let cut = {
            let _cut = self.cut.write().await;
            let rotated = self.wal.rotate().await?;
            let mut memory = self.memory.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            // Nothing new in the log, but a failed flush's events wait: retry them under
            // that flush's segment number.
            match rotated.or(memory.pending_sealed) {
                None => None,
                Some(sealed) => {
                    memory.pending_sealed = Some(sealed);
                    let fresh = memory.take_fresh()?;
                    // Events of an earlier flush that failed are still here: this flush covers them too.
                    let flushing = Arc::make_mut(&mut memory.flushing);
                    for (project, events) in fresh {
                        flushing.entry(project).or_default().extend(events);
                    }
                    Some((sealed, Arc::clone(&memory.flushing), self.state()))
                }
            }
        };
        let Some((sealed, flushing, snapshot)) = cut else {
            // Nothing new: the state is the last snapshot's, which a node that started
            // since or whose publish failed has not published yet.
            if self.shares_files() && !maintenance.published {
                let (profiles, derived) = self.state();
                let derived = serde_json::to_vec(&derived).map_err(io)?;
                let profiles = tokio::task::spawn_blocking(move || parquet_file::encode_profiles(&profiles))
                    .await
                    .map_err(io)??;
                maintenance.published = self.publish(&derived, profiles).await;
            }
            return Ok(FlushReport::default());
        };
        let events: usize = flushing.values().flatten().map(RecordBatch::num_rows).sum();
        let promotions: HashMap<i64, Vec<Promoted>> = flushing
            .keys()
            .map(|project| (*project, snapshot.1.lexicons.get(project).map(Lexicon::promotions).unwrap_or_default()))
            .collect();
        let encoded =
            tokio::task::spawn_blocking(move || encode_partitions(&flushing, &promotions)).await.map_err(io)??;
        let mut rows = Vec::with_capacity(encoded.len());
        let mut written = Vec::with_capacity(encoded.len());
        for (index, (partition, bytes, stats, promoted)) in encoded.into_iter().enumerate() {
            let name = file_name("flush", &self.node, &format!("{sealed:020}-{index}"));
            let path = ObjectPath::from(format!("{}/{name}", partition_folder(&partition)));
            self.files.put(&path, bytes.into()).await.map_err(parquet_file::ParquetError::from)?;
            rows.push(catalog_row(&partition, &path, &stats, &promoted));
            written.push(path);
        }
        self.make_durable(&written).await?;
        let (profiles, derived) = snapshot;
        let published = if self.shares_files() { Some(serde_json::to_vec(&derived).map_err(io)?) } else { None };
        let applied = maintenance.forgets_applied;
        let profiles_file = write_snapshot(&self.root, sealed, profiles, derived, applied).await?;
        if !self.catalog.record_flush(&self.region, &self.node, &rows, sealed, applied, self.clock.now()).await? {
            // The next flush applies it first and writes these files again.
            let unused = written.iter().map(ToString::to_string).collect();
            delete_uncatalogued(&*self.files, unused, "a flush a forget overtook").await;
            return Err(StorageError::Io(
                "a project reset or a deletion on another node arrived during this flush; the next flush applies it"
                    .into(),
            ));
        }
        {
            let mut memory = self.memory.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            memory.flushing = Arc::default();
            memory.pending_sealed = None;
        }
        // Published only once its files are catalogued: a node that reads it (and so drops
        // its kept answers) then finds them too.
        if let Some(derived) = published {
            maintenance.published = self.publish(&derived, profiles_file).await;
        }
        let removed_segments = crate::wal::remove_through(&self.root.join("wal"), sealed).await?;
        tracing::debug!(region = %self.region, sealed, events, files = rows.len(), "flushed events to Parquet");
        Ok(FlushReport { sealed_through: Some(sealed), events, files: rows.len(), removed_segments })
    }

    /// Merges each partition's small files into one, sorted by (distinct_id, time), keeping
    /// one copy per (event, distinct_id, time, `$insert_id`). Past days merge as soon as
    /// they have two small files, today's once it has [`TODAY_MIN_FILES`].
    /// One node at a time compacts a region (a lease in the metadata database, renewed
    /// for each partition); the others skip their pass.
    pub async fn compact(&self) -> Result<CompactReport, StorageError> {
        let _maintenance = self.maintenance.lock().await;
        self.remove_retired().await;
        let lease = format!("compact:{}", self.region);
        if !self.renew_lease(&lease).await? {
            return Ok(CompactReport::default());
        }
        let compacted = self.compact_holding(&lease).await;
        if let Err(error) = self.catalog.release_lease(&lease, &self.node).await {
            tracing::warn!(%error, "cannot give the compaction lease back; it expires by itself");
        }
        compacted
    }

    /// Takes or renews `lease` for this node.
    async fn renew_lease(&self, lease: &str) -> Result<bool, StorageError> {
        let now = self.clock.now();
        let until = now.saturating_add(COMPACTION_LEASE).unwrap_or(now);
        Ok(self.catalog.acquire_lease(lease, &self.node, now, until).await?)
    }

    async fn compact_holding(&self, lease: &str) -> Result<CompactReport, StorageError> {
        let files = self.catalog.all_event_files(&self.region).await?;
        self.compact_listed(lease, files).await
    }

    /// Compacts `files` (the catalog as listed a moment ago). A partition whose files
    /// another node rewrote or removed since (a deletion, a reset) is left to the next pass.
    pub(crate) async fn compact_listed(
        &self,
        lease: &str,
        files: Vec<EventFile>,
    ) -> Result<CompactReport, StorageError> {
        let today = day_of(self.clock.now().as_millisecond());
        let mut partitions: BTreeMap<Partition, Vec<EventFile>> = BTreeMap::new();
        for file in files {
            if file.rows < SMALL_FILE_ROWS {
                let bucket = u32::try_from(file.bucket).unwrap_or(0);
                partitions.entry((file.project_id, file.day.clone(), bucket)).or_default().push(file);
            }
        }
        let mut report = CompactReport::default();
        let mut promotions: HashMap<i64, Vec<Promoted>> = HashMap::new();
        for (partition, files) in partitions {
            let wanted = if partition.1 < today { 2 } else { TODAY_MIN_FILES };
            if files.len() < wanted {
                continue;
            }
            if !self.renew_lease(lease).await? {
                tracing::warn!(region = %self.region, "another node took the compaction lease; stopping this pass");
                break;
            }
            // The files through the readers' own deduplicating scan (newest copy per key).
            let paths: Vec<String> = files.iter().map(|file| file.path.clone()).collect();
            let everything = EventQuery { from_ms: i64::MIN, to_ms: i64::MAX, ..EventQuery::default() };
            let read_as = parquet_file::union_of(&files)?;
            let to_read = crate::scan::Files { region: self.region.clone(), paths, promoted: read_as.clone() };
            let batches = crate::scan::scan_batches(Arc::clone(&self.files), to_read, Vec::new(), &everything).await?;
            let rows_in: u64 = files.iter().map(|file| u64::try_from(file.rows).unwrap_or(0)).sum();
            // The project's promotions as they are now: old files' values move into new columns.
            let promoted = promotions.entry(partition.0).or_insert_with(|| self.promotions(partition.0)).clone();
            let (bytes, stats, promoted) = tokio::task::spawn_blocking(move || {
                let batch = concat_batches(&parquet_file::schema_with(&read_as), &batches).map_err(arrow)?;
                let file = sort_batch(&parquet_file::promote(&batch, &promoted)?)?;
                let bytes = parquet_file::encode_batch(&file)?;
                let stats = FileStats::of_batch(&file, &bytes)?;
                Ok::<_, parquet_file::ParquetError>((bytes, stats, parquet_file::promoted_of(file.schema().as_ref())))
            })
            .await
            .map_err(io)??;
            let name = file_name("compact", &self.node, &uuid::Uuid::new_v4().simple().to_string());
            let path = ObjectPath::from(format!("{}/{name}", partition_folder(&partition)));
            self.files.put(&path, bytes.into()).await.map_err(parquet_file::ParquetError::from)?;
            self.make_durable(std::slice::from_ref(&path)).await?;
            let old: Vec<String> = files.iter().map(|file| file.path.clone()).collect();
            let row = catalog_row(&partition, &path, &stats, &promoted);
            if !self.catalog.replace_event_files(&self.region, &old, &row, self.clock.now()).await? {
                tracing::info!(region = %self.region, ?partition, "a file to compact changed on another node; the next pass compacts the partition");
                delete_uncatalogued(&*self.files, vec![path.to_string()], "a compaction another node overtook").await;
                continue;
            }
            report.partitions += 1;
            report.files_in += old.len();
            report.rows_in += rows_in;
            report.rows_out += stats.rows;
            // Gone from disk as soon as no reader can hold them: now, or when the last
            // reader that listed them finishes.
            let now_free = self.readers.retire(old);
            delete_uncatalogued(&*self.files, now_free, "a compacted-away event file").await;
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
