//! Mixpanel's raw export (`/api/2.0/export`) on the query engine: the project's events as
//! JSON lines, streamed one UTC day at a time (files are partitioned by day, so every copy
//! of an event is in its day) through the same table the reports read ([`ProjectEvents`]):
//! one copy per (event, distinct_id, time, `$insert_id`), canonical ids, the data view's
//! restriction, raw event names. Each day's plan sorts by time on one partition in the
//! region's small read pool (sorts spill), as the export did before it moved here
//! (docs/benchmarks.md, "Export"), so an export of any size holds about one batch at a
//! time; the client going away drops the plan.

use std::collections::VecDeque;
use std::sync::Arc;

use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::Expr;
use datafusion::prelude::{SessionContext, ident, lit};
use futures_util::StreamExt;
use tally_events::ProjectEvents;
use tally_events::parquet_file::LayoutRows;
use tally_iam::authz::DataScope;
use tally_types::permissions::project::ExportEvents;

use crate::{QueryEngine, QueryError, engine_error, exhausted, expression, storage_error};

/// What an export reads.
#[derive(Debug, Clone, Default)]
pub struct ExportRequest {
    /// UTC milliseconds, `[from_ms, to_ms)`.
    pub from_ms: i64,
    pub to_ms: i64,
    /// Only these (raw) event names.
    pub names: Option<Vec<String>>,
    /// A segmentation expression the events must meet.
    pub where_expression: Option<String>,
    /// At most this many events.
    pub limit: Option<usize>,
    /// `time` in milliseconds rather than seconds.
    pub time_in_ms: bool,
}

/// The export's JSON lines, a batch of events at a time. An error ends the stream.
pub type ExportLines = std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Vec<u8>, QueryError>> + Send>>;

impl QueryEngine {
    /// The scope's events as the raw export writes them. A bad `where` is refused here,
    /// before anything is sent.
    pub async fn export(
        &self,
        scope: &DataScope<ExportEvents>,
        request: ExportRequest,
    ) -> Result<ExportLines, QueryError> {
        let mut condition = request.where_expression.as_deref().map(expression::condition).transpose()?;
        if let Some(names) = &request.names {
            let names = names.iter().map(|name| lit(name.as_str())).collect();
            let named = ident("name").in_list(names, false);
            condition = Some(match condition {
                Some(condition) => named.and(condition),
                None => named,
            });
        }
        let events = self.events.project_events(scope, request.from_ms, request.to_ms).await.map_err(storage_error)?;
        let export = Export {
            engine: self.clone(),
            days: events.days().into(),
            events,
            condition,
            remaining: request.limit,
            time_in_ms: request.time_in_ms,
            current: None,
        };
        Ok(Box::pin(futures_util::stream::unfold(Some(export), |export| async move {
            let mut export = export?;
            match export.next_lines().await {
                Ok(Some(lines)) => Some((Ok(lines), Some(export))),
                Ok(None) => None,
                Err(error) => Some((Err(error), None)),
            }
        })))
    }
}

/// The day being read: its plan's output, and whether running out of memory may still
/// read it again (nothing of it sent yet, and not already read again).
struct Day {
    day: i64,
    rows: SendableRecordBatchStream,
    may_retry: bool,
}

struct Export {
    engine: QueryEngine,
    /// Keeps the files read until the export ends.
    events: ProjectEvents,
    days: VecDeque<i64>,
    condition: Option<Expr>,
    remaining: Option<usize>,
    time_in_ms: bool,
    current: Option<Day>,
}

/// One day's plan in `runtime`: its events, filtered, in time order. (A function of the
/// parts it reads, not of [`Export`], whose current stream cannot be shared.)
async fn open_day(
    engine: &QueryEngine,
    events: &ProjectEvents,
    condition: Option<&Expr>,
    remaining: Option<usize>,
    day: i64,
    runtime: Arc<RuntimeEnv>,
) -> Result<Option<SendableRecordBatchStream>, QueryError> {
    // One partition: no repartition buffers (which cannot spill) between the scan and the
    // sorts, so a day fits the region's small read pool and spills the rest.
    let context: SessionContext = engine.session(runtime, 1);
    let Some(mut frame) = events.raw_day(&context, day).await.map_err(storage_error)? else {
        return Ok(None);
    };
    if let Some(condition) = condition {
        frame = frame.filter(condition.clone()).map_err(engine_error)?;
    }
    if let Some(limit) = remaining {
        frame = frame.limit(0, Some(limit)).map_err(engine_error)?;
    }
    frame.execute_stream().await.map(Some).map_err(engine_error)
}

impl Export {
    async fn open(&mut self, day: i64, runtime: Arc<RuntimeEnv>, may_retry: bool) -> Result<(), QueryError> {
        let rows = open_day(&self.engine, &self.events, self.condition.as_ref(), self.remaining, day, runtime).await?;
        self.current = rows.map(|rows| Day { day, rows, may_retry });
        Ok(())
    }

    /// The next non-empty batch of lines, or `None` at the end.
    async fn next_lines(&mut self) -> Result<Option<Vec<u8>>, QueryError> {
        loop {
            if self.remaining == Some(0) {
                return Ok(None);
            }
            let Some(current) = self.current.as_mut() else {
                let Some(day) = self.days.pop_front() else { return Ok(None) };
                // The region's read pool (small: an export's memory stays flat), not the
                // reports' one.
                self.open(day, self.engine.events.runtime(), true).await?;
                continue;
            };
            let batch = match current.rows.next().await {
                Some(Ok(batch)) => batch,
                None => {
                    self.current = None;
                    continue;
                }
                Some(Err(failure)) => {
                    // A day's sort takes all of its input before the first row comes out, so
                    // running out of the shared memory happens before anything of the day was
                    // sent: that day is read again without the limit (its memory is then
                    // bounded by the day) rather than failing the export.
                    if exhausted(&failure) && current.may_retry {
                        let day = current.day;
                        tracing::warn!(day, error = %failure, "a day did not fit the query memory; reading it without the limit");
                        self.open(day, Arc::new(RuntimeEnv::default()), false).await?;
                        continue;
                    }
                    return Err(engine_error(failure));
                }
            };
            current.may_retry = false;
            let rows = LayoutRows::new(&batch, "export").map_err(|error| QueryError::Storage(error.to_string()))?;
            let count = self.remaining.map_or(rows.len(), |remaining| remaining.min(rows.len()));
            if count == 0 {
                continue;
            }
            let mut lines = Vec::with_capacity(count * 256);
            for row in 0..count {
                let line =
                    rows.exported(row, self.time_in_ms).map_err(|error| QueryError::Storage(error.to_string()))?;
                serde_json::to_writer(&mut lines, &line).map_err(|error| QueryError::Storage(error.to_string()))?;
                lines.push(b'\n');
            }
            if let Some(remaining) = self.remaining.as_mut() {
                *remaining -= count;
            }
            return Ok(Some(lines));
        }
    }
}
