//! A person's data on request (GDPR and CCPA): everything stored of some users, and its
//! deletion from the log, memory, profiles and every file.
//!
//! A deletion reaches every node sharing the region: it is recorded as a forget in the
//! metadata store, which each node applies in order ([`EventStore::apply_forgets`], at its
//! start and before each flush; the catalog refuses a flush that missed one). It is
//! crash-safe and can run again: applied here, a `Forget` frame in the log first (a replay
//! drops the users' events, profiles and identity mappings again; run again, a deletion
//! takes every id its first run recorded, since the identity map no longer links them),
//! then a flush (memory, already without them,
//! goes to files and the log segments that held their events are removed), then each file
//! that holds their events is rewritten without them: the new file is written and synced,
//! then swapped for the old one in the catalog in one transaction, then the old one is
//! deleted. A crash leaves either the old or the new file catalogued (the start sweeps the
//! other), and running the deletion again finishes what remains. The swap refuses a file
//! another node compacted or rewrote meanwhile (its new file would bring the users back
//! from the old one): the deletion then lists the files again and rewrites what replaced it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, StringArray};
use datafusion::arrow::compute::{concat_batches, filter_record_batch};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::logical_expr::{col, lit};
use datafusion::prelude::SessionContext;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use tally_iam::authz::DataScope;
use tally_ingest::Event;
use tally_ingest::profiles::{Profile, ProfileKey};
use tally_types::permissions::project::ManagePrivacyRequests;

use crate::{EventQuery, EventStore, Record, StorageError, WalError, flush, parquet_file, scan};

/// How many times a deletion lists and rewrites the users' files when other nodes change
/// some of them meanwhile.
const REWRITE_PASSES: usize = 5;

/// What a deletion removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeletionReport {
    /// Every id deleted: those asked for and every id merged with them.
    pub distinct_ids: Vec<String>,
    pub profiles: usize,
    pub files_rewritten: usize,
    pub events_in_files: u64,
}

/// Rows of `batch` whose `distinct_id` is not one of `ids`.
fn without(batch: &RecordBatch, ids: &HashSet<String>) -> Result<(RecordBatch, usize), StorageError> {
    let column = batch.column_by_name("distinct_id").ok_or_else(|| StorageError::Io("no distinct_id column".into()))?;
    let column = datafusion::arrow::compute::cast(column, &datafusion::arrow::datatypes::DataType::Utf8)
        .map_err(scan::engine)?;
    let Some(column) = column.as_any().downcast_ref::<StringArray>() else {
        return Err(StorageError::Io("distinct_id is not text".into()));
    };
    let keep: BooleanArray =
        (0..column.len()).map(|row| Some(column.is_null(row) || !ids.contains(column.value(row)))).collect();
    let removed = keep.iter().filter(|kept| *kept == Some(false)).count();
    Ok((filter_record_batch(batch, &keep).map_err(scan::engine)?, removed))
}

impl crate::Memory {
    /// Drops the users' events from memory (fresh and flushing).
    pub(crate) fn remove_users(&mut self, project_id: i64, ids: &HashSet<String>) -> Result<usize, StorageError> {
        let mut removed = 0;
        if let Some(memory) = self.fresh.get_mut(&project_id) {
            if memory.open.rows() > 0 {
                let batch = memory.open.finish()?;
                memory.sealed.push(batch);
            }
            for batch in &mut memory.sealed {
                let (kept, gone) = without(batch, ids)?;
                *batch = kept;
                removed += gone;
            }
            self.fresh_count -= removed;
        }
        if let Some(batches) = self.flushing.get(&project_id) {
            let mut filtered = Vec::with_capacity(batches.len());
            for batch in batches {
                let (kept, gone) = without(batch, ids)?;
                filtered.push(kept);
                removed += gone;
            }
            Arc::make_mut(&mut self.flushing).insert(project_id, filtered);
        }
        Ok(removed)
    }
}

/// Removes the users' profiles; returns how many.
pub(crate) fn remove_profiles(profiles: &mut crate::Profiles, project_id: i64, ids: &HashSet<String>) -> usize {
    let before = profiles.len();
    profiles.retain(|(project, key), _| {
        !(*project == project_id && matches!(key, ProfileKey::User(id) if ids.contains(id)))
    });
    before - profiles.len()
}

/// Drops what a forget names from `memory`, and with `state` from the profiles and the
/// identities (for a whole project, its lexicon too); returns how many profiles went.
pub(crate) fn forget_in(
    memory: &mut crate::Memory,
    state: Option<(&mut crate::Profiles, &mut crate::Derived)>,
    project_id: i64,
    ids: Option<&HashSet<String>>,
) -> Result<usize, StorageError> {
    match ids {
        None => {
            memory.forget(project_id);
            Ok(state.map_or(0, |(profiles, derived)| {
                let before = profiles.len();
                profiles.retain(|(owner, _), _| *owner != project_id);
                derived.forget(project_id);
                before - profiles.len()
            }))
        }
        Some(ids) => {
            memory.remove_users(project_id, ids)?;
            Ok(state.map_or(0, |(profiles, derived)| {
                derived.identities.forget_users(project_id, ids);
                remove_profiles(profiles, project_id, ids)
            }))
        }
    }
}

impl EventStore {
    /// Applies the region's forgets (resets and deletions, from any node) after the last
    /// one this node applied, in order: a `Forget` frame in the log, then memory, profiles,
    /// lexicon and identities. Returns the profiles each removed, by forget id.
    pub(crate) async fn apply_forgets(
        &self,
        maintenance: &mut flush::Maintenance,
    ) -> Result<HashMap<i64, usize>, StorageError> {
        let mut removed = HashMap::new();
        for forget in self.catalog.forgets_after(&self.region, maintenance.forgets_applied).await? {
            let project_id = forget.project_id;
            let ids: Option<HashSet<String>> = forget.distinct_ids.as_ref().map(|ids| ids.iter().cloned().collect());
            let record = Record::Forget {
                id: forget.id,
                project_id,
                distinct_ids: forget.distinct_ids,
                own: forget.node == self.node,
            };
            let payload = serde_json::to_vec(&record).map_err(|error| WalError::Encode(error.to_string()))?;
            let _cut = self.cut.write().await;
            self.wal.append(payload, None).await?;
            let mut memory = self.memory.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut profiles = self.profiles.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            let mut derived = self.derived.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            let count = forget_in(&mut memory, Some((&mut profiles, &mut derived)), project_id, ids.as_ref())?;
            removed.insert(forget.id, count);
            self.changes.everything(project_id);
            maintenance.forgets_applied = forget.id;
            // Its published profiles and identities must lose them too.
            maintenance.published = false;
        }
        Ok(removed)
    }

    /// The ids of the users `distinct_ids` name: each, its canonical id, and every id merged
    /// into that, sorted.
    fn people<P: tally_types::permissions::ProjectMarker>(
        &self,
        scope: &DataScope<P>,
        distinct_ids: &[String],
    ) -> (HashSet<String>, HashSet<String>) {
        let mapping = self.identities_of(scope);
        let canonical: HashSet<String> =
            distinct_ids.iter().map(|id| mapping.get(id).cloned().unwrap_or_else(|| id.clone())).collect();
        let mut ids: HashSet<String> = distinct_ids.iter().cloned().collect();
        ids.extend(canonical.iter().cloned());
        ids.extend(mapping.iter().filter(|(_, to)| canonical.contains(*to)).map(|(from, _)| from.clone()));
        (ids, canonical)
    }

    /// Deletes every event and user profile of the users `distinct_ids` name (with every id
    /// merged with them), from the log, memory, profiles and every file; see the module.
    pub async fn delete_users(
        &self,
        scope: &DataScope<ManagePrivacyRequests>,
        distinct_ids: &[String],
    ) -> Result<DeletionReport, StorageError> {
        let project_id = scope.project_id().0;
        let (mut ids, _) = self.people(scope, distinct_ids);
        // Run again (a crash stopped it), it deletes every id its first run found, though
        // the identity map, which that run cleared, no longer links them.
        for earlier in self.catalog.forgets_after(&self.region, 0).await? {
            if earlier.project_id == project_id
                && let Some(earlier_ids) = earlier.distinct_ids
                && earlier_ids.iter().any(|id| ids.contains(id))
            {
                ids.extend(earlier_ids);
            }
        }
        let mut sorted: Vec<String> = ids.iter().cloned().collect();
        sorted.sort();
        // Recorded for every node first (a node's flush catalogued after this applied it),
        // then applied here like any other.
        let profiles = {
            let mut maintenance = self.maintenance.lock().await;
            let forget = self
                .catalog
                .record_forget(&self.region, &self.node, project_id, Some(&sorted), self.clock.now())
                .await?;
            self.apply_forgets(&mut maintenance).await?.get(&forget).copied().unwrap_or(0)
        };
        // Memory (without them) to files, and the log segments that held their events go.
        self.flush().await?;
        let _maintenance = self.maintenance.lock().await;
        let mut report = DeletionReport { distinct_ids: sorted, profiles, ..DeletionReport::default() };
        // Another node may compact (or rewrite) a file while this pass rewrites it: the pass
        // that loses that race lists the files again.
        for _ in 0..REWRITE_PASSES {
            let files = self.catalog.event_files(&self.region, project_id, i64::MIN, i64::MAX).await?;
            if self.rewrite_without(&ids, files, &mut report).await? == 0 {
                return Ok(report);
            }
        }
        Err(StorageError::Io(format!(
            "the users' event files kept changing on other nodes during {REWRITE_PASSES} passes; run the deletion again"
        )))
    }

    /// Rewrites each of `files` that holds events of `ids` without them (or removes it from
    /// the catalog when nothing else is left), counting into `report`; returns how many it
    /// could not swap because another node replaced or removed them meanwhile.
    pub(crate) async fn rewrite_without(
        &self,
        ids: &HashSet<String>,
        files: Vec<tally_store::EventFile>,
        report: &mut DeletionReport,
    ) -> Result<usize, StorageError> {
        let mut changed_elsewhere = 0;
        let listed: Vec<datafusion::logical_expr::Expr> = ids.iter().map(|id| lit(id.as_str())).collect();
        for file in files {
            let context = SessionContext::new();
            let everything = EventQuery { from_ms: i64::MIN, to_ms: i64::MAX, ..EventQuery::default() };
            let promoted = parquet_file::columns_of(&file.columns, &file.path)?;
            let Some(frame) = scan::undeduplicated(
                &context,
                Arc::clone(&self.files),
                scan::Files { region: self.region.clone(), paths: vec![file.path.clone()], promoted: promoted.clone() },
                Vec::new(),
                &everything,
            )
            .await?
            else {
                continue;
            };
            let held = frame
                .clone()
                .filter(col("distinct_id").in_list(listed.clone(), false))
                .map_err(scan::engine)?
                .count()
                .await
                .map_err(scan::engine)?;
            if held == 0 {
                continue;
            }
            let kept = frame
                .filter(col("distinct_id").in_list(listed.clone(), true))
                .map_err(scan::engine)?
                .collect()
                .await
                .map_err(scan::engine)?;
            let rows: usize = kept.iter().map(RecordBatch::num_rows).sum();
            if rows == 0 {
                if !self.catalog.remove_event_file(&self.region, &file.path).await? {
                    changed_elsewhere += 1;
                    continue;
                }
            } else {
                let layout = parquet_file::schema_with(&promoted);
                let (bytes, stats) = tokio::task::spawn_blocking(move || {
                    let batch = concat_batches(&layout, &kept).map_err(flush::arrow)?;
                    let bytes = parquet_file::encode_batch(&batch)?;
                    let stats = parquet_file::FileStats::of_batch(&batch, &bytes)?;
                    Ok::<_, parquet_file::ParquetError>((bytes, stats))
                })
                .await
                .map_err(flush::io)??;
                // A compacted file stays one: it still holds one copy of each event.
                let (folder, name) = file.path.rsplit_once('/').unwrap_or(("", file.path.as_str()));
                let kind = if name.starts_with("compact-") { "compact" } else { "rewritten" };
                let name = flush::file_name(kind, &self.node, &uuid::Uuid::new_v4().simple().to_string());
                let path = ObjectPath::from(format!("{folder}/{name}"));
                self.files.put(&path, bytes.into()).await.map_err(parquet_file::ParquetError::from)?;
                self.make_durable(std::slice::from_ref(&path)).await?;
                let partition = (file.project_id, file.day.clone(), u32::try_from(file.bucket).unwrap_or(0));
                let row = flush::catalog_row(&partition, &path, &stats, &promoted);
                let old = std::slice::from_ref(&file.path);
                if !self.catalog.replace_event_files(&self.region, old, &row, self.clock.now()).await? {
                    changed_elsewhere += 1;
                    let unused = vec![path.to_string()];
                    flush::delete_uncatalogued(&*self.files, unused, "a rewrite another node overtook").await;
                    continue;
                }
            }
            report.files_rewritten += 1;
            report.events_in_files += u64::try_from(held).unwrap_or(0);
            let now_free = self.readers.retire(vec![file.path.clone()]);
            flush::delete_uncatalogued(&*self.files, now_free, "an event file rewritten without deleted users").await;
        }
        Ok(changed_elsewhere)
    }

    /// Everything stored of the users `distinct_ids` name (with every id merged with them)
    /// since `from_ms`: their events (ids as sent, oldest first) and user profiles. A
    /// person's request discloses all of it, whatever a data view or classification hides.
    pub async fn user_data(
        &self,
        scope: &DataScope<ManagePrivacyRequests>,
        distinct_ids: &[String],
        from_ms: i64,
    ) -> Result<(Vec<Event>, Vec<(String, Profile)>), StorageError> {
        let project_id = scope.project_id().0;
        let (ids, _) = self.people(scope, distinct_ids);
        let everything = tally_iam::authz::Visibility::default();
        let taken = self.events_of(project_id, scope.project().id_merge, &everything, from_ms, i64::MAX).await?;
        let context = self.read_session();
        let mut events = Vec::new();
        if let Some(frame) = taken.raw(&context).await? {
            let wanted = ids.iter().map(|id| lit(id.as_str())).collect();
            let batches = frame
                .filter(datafusion::prelude::ident("distinct_id").in_list(wanted, false))
                .map_err(scan::engine)?
                .collect()
                .await
                .map_err(scan::engine)?;
            for batch in &batches {
                parquet_file::append_events(batch, "a person's events", project_id, &mut events)?;
            }
        }
        let profiles = self.profiles_of(scope, None).await?.into_iter().filter(|(id, _)| ids.contains(id)).collect();
        Ok((events, profiles))
    }
}
