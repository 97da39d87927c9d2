//! Reading events with DataFusion: a project's catalogued Parquet files (pruned by the
//! catalog's time statistics) and its events still in memory, as one table; filtered by
//! time and name, one copy kept per (event, distinct_id, time, `$insert_id`) — the most
//! recently received — and sorted by time.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{Expr, ExprFunctionExt};
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionConfig, SessionContext, col, ident, lit};

use crate::parquet_file;
use crate::{EventQuery, StorageError};

/// Catalogued files to read: their region, their paths (relative to the region's event
/// folder) and the union of their promoted columns, which every read presents.
#[derive(Debug, Clone, Default)]
pub(crate) struct Files {
    pub region: String,
    pub paths: Vec<String>,
    pub promoted: Vec<parquet_file::Promoted>,
}

/// Where a region's files are registered in a query's session (and in a cluster's
/// scheduler and executors, which read the same files).
pub fn files_url(region: &str) -> String {
    format!("tally-events://{region}/")
}

pub(crate) fn engine(error: impl std::fmt::Display) -> StorageError {
    StorageError::Io(format!("query engine: {error}"))
}

/// Picks one copy per deduplication key (the most recently received) and orders the result
/// by time. `events` is the union of memory and files, already filtered; every column of the
/// layout is kept. Column names hold `$`, so they are named with [`ident`], never parsed.
fn deduplicated(events: DataFrame) -> Result<DataFrame, StorageError> {
    deduplicated_unsorted(events).and_then(in_time_order)
}

/// `events` in time order, then by reception, name, distinct_id and `$insert_id`: a total
/// order, so the same read twice gives the same rows in the same order.
pub(crate) fn in_time_order(events: DataFrame) -> Result<DataFrame, StorageError> {
    let order = ["time_ms", "received_ms", "name", "distinct_id", "insert_id"];
    events.sort(order.map(|column| ident(column).sort(true, false)).to_vec()).map_err(engine)
}

/// Marks a session whose plans run on a cluster (`tally_query::cluster`), in its config.
///
/// There the deduplicating window partitions by one key column made of the four: a stage
/// boundary (a shuffle) forgets that a filter made a key column constant (one event name),
/// so the sort after it, which the planner shortened by that column, no longer satisfies
/// the window on the executor ("Expects PARTITION BY expression to be ordered").
#[derive(Debug, Default)]
pub struct ClusterSession;

/// One copy per deduplication key, in no particular order (what aggregates need).
pub(crate) fn deduplicated_unsorted(events: DataFrame) -> Result<DataFrame, StorageError> {
    let columns = ["name", "distinct_id", "time_ms", "insert_id"].map(ident);
    let key = if events.task_ctx().session_config().get_extension::<ClusterSession>().is_some() {
        // Each value marked set or not, so no two different keys read the same.
        let mut parts = Vec::new();
        for column in columns {
            let marked = datafusion::functions::string::expr_fn::concat(vec![lit("\u{2}"), column.clone()]);
            parts.push(
                datafusion::logical_expr::when(column.is_null(), lit("\u{1}")).otherwise(marked).map_err(engine)?,
            );
            parts.push(lit("\u{0}"));
        }
        vec![datafusion::functions::string::expr_fn::concat(parts)]
    } else {
        columns.to_vec()
    };
    let copy = row_number()
        .partition_by(key)
        .order_by(vec![ident("received_ms").sort(false, true)])
        .build()
        .map_err(engine)?
        .alias(COPY);
    let columns: Vec<Expr> = events.schema().fields().iter().map(|field| ident(field.name())).collect();
    events
        .window(vec![copy])
        .and_then(|frame| frame.filter(ident(COPY).eq(lit(1u64))))
        .and_then(|frame| frame.select(columns))
        .map_err(engine)
}

/// The window column that numbers the copies of one event.
const COPY: &str = "tally_copy";

/// Runs the scan. `memory` are the project's events not yet in catalogued files; `files`
/// the catalogued files' paths (relative to the region's event folder).
#[cfg(test)]
pub(crate) async fn scan(
    files_store: Arc<dyn object_store::ObjectStore>,
    files: Files,
    memory: Vec<RecordBatch>,
    query: &EventQuery,
) -> Result<Vec<tally_ingest::Event>, StorageError> {
    let batches = scan_batches(files_store, files, memory, query).await?;
    let mut found = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    for batch in &batches {
        parquet_file::append_events(batch, "query result", query.project_id, &mut found)?;
    }
    Ok(found)
}

/// Memory the region's reads may hold in the query engine's operators (sorts, the
/// deduplicating window) before they spill to disk, shared by all of them. Reads of any size
/// then run in about this much memory plus one batch.
pub(crate) const QUERY_MEMORY: usize = 128 * 1024 * 1024;

/// What each sort keeps back for merging its spilled runs (DataFusion's default, 10 MB per
/// sort and partition, is a large share of a small pool).
pub const SORT_MERGE_RESERVATION: usize = 2 * 1024 * 1024;

/// A query engine runtime: a fair spilling memory pool of `memory` bytes and spill files
/// under `spill_dir` (emptied here: nothing in it outlives a process). Each region's reads
/// share one of [`QUERY_MEMORY`]; the query engine makes its own.
pub fn spilling_runtime(spill_dir: &std::path::Path, memory: usize) -> Result<Arc<RuntimeEnv>, StorageError> {
    if spill_dir.exists() {
        std::fs::remove_dir_all(spill_dir)
            .map_err(|error| StorageError::Io(format!("{}: {error}", spill_dir.display())))?;
    }
    std::fs::create_dir_all(spill_dir)
        .map_err(|error| StorageError::Io(format!("{}: {error}", spill_dir.display())))?;
    RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(memory)))
        .with_temp_file_path(spill_dir)
        .build_arc()
        .map_err(engine)
}

/// The scan as batches of the file layout (the query's name filter and time range
/// applied, one copy per deduplication key): what compaction rewrites.
pub(crate) async fn scan_batches(
    files_store: Arc<dyn object_store::ObjectStore>,
    files: Files,
    memory: Vec<RecordBatch>,
    query: &EventQuery,
) -> Result<Vec<RecordBatch>, StorageError> {
    let context = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
    match plan(&context, files_store, files, memory, query).await? {
        Some(frame) => frame.collect().await.map_err(engine),
        None => Ok(Vec::new()),
    }
}

/// The plan every read shares; `None` when there is nothing to read.
pub(crate) async fn plan(
    context: &SessionContext,
    files_store: Arc<dyn object_store::ObjectStore>,
    files: Files,
    memory: Vec<RecordBatch>,
    query: &EventQuery,
) -> Result<Option<DataFrame>, StorageError> {
    match undeduplicated(context, files_store, files, memory, query).await? {
        Some(events) => deduplicated(events).map(Some),
        None => Ok(None),
    }
}

/// The files and memory as one table, filtered by the query's time range and names, every
/// copy of an event kept: for files known to hold one copy of each (compacted partitions
/// alone in their partition), and as the input of [`deduplicated`].
pub(crate) async fn undeduplicated(
    context: &SessionContext,
    files_store: Arc<dyn object_store::ObjectStore>,
    files: Files,
    memory: Vec<RecordBatch>,
    query: &EventQuery,
) -> Result<Option<DataFrame>, StorageError> {
    let Files { region, paths: files, promoted } = files;
    let promoted = promoted.as_slice();
    if files.is_empty() && memory.is_empty() {
        return Ok(None);
    }
    let files_url = files_url(&region);
    let url = url::Url::parse(&files_url).map_err(engine)?;
    context.register_object_store(&url, files_store);

    // Every file read as the union of the files' layouts (`promoted`: the union of their
    // promoted columns; a file without one reads it as null), memory too.
    let schema = parquet_file::schema_with(promoted);
    let mut frames: Vec<DataFrame> = Vec::new();
    if !files.is_empty() {
        let paths: Vec<String> = files.iter().map(|path| format!("{files_url}{path}")).collect();
        let options = ParquetReadOptions::default().schema(&schema);
        frames.push(context.read_parquet(paths, options).await.map_err(engine)?);
    }
    if !memory.is_empty() {
        let memory = if promoted.is_empty() {
            memory
        } else {
            memory.iter().map(|batch| parquet_file::widen(batch, &schema)).collect::<Result<Vec<_>, _>>()?
        };
        frames.push(context.read_batches(memory).map_err(engine)?);
    }
    let mut union: Option<DataFrame> = None;
    for frame in frames {
        union = Some(match union {
            Some(union) => union.union(frame).map_err(engine)?,
            None => frame,
        });
    }
    let Some(mut events) = union else { return Ok(None) };
    events = events
        .filter(col("time_ms").gt_eq(lit(query.from_ms)).and(col("time_ms").lt(lit(query.to_ms))))
        .map_err(engine)?;
    if let Some(names) = &query.names {
        let names = names.iter().map(|name| lit(name.as_str())).collect();
        events = events.filter(col("name").in_list(names, false)).map_err(engine)?;
    }
    Ok(Some(events))
}
