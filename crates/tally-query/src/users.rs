//! One user's activity feed: their events newest first, across every id merged into them
//! (the feed of a profile page).

use datafusion::prelude::{DataFrame, SessionContext, ident, lit};
use serde::Serialize;
use tally_iam::authz::DataScope;
use tally_types::permissions::project::ViewUsers;

use crate::buckets::resolve;
use crate::model::DateRange;
use crate::{QueryEngine, QueryError, ResolvedRange, engine_error, resolved};

/// Most events in one feed page.
pub const MAX_FEED: usize = 1000;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ActivityAnswer {
    pub range: ResolvedRange,
    /// The canonical id the asked id belongs to.
    pub distinct_id: String,
    /// `{"event", "properties"}` as the export writes them (time in milliseconds), newest
    /// first.
    #[schema(value_type = Vec<ExportedEvent>)]
    pub events: Vec<serde_json::Value>,
}

/// An event as the export writes it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: the feed writes these as the raw export does
pub struct ExportedEvent {
    event: String,
    /// `time` (milliseconds), `distinct_id`, `$insert_id` and the event's own properties.
    #[schema(value_type = Object)]
    properties: serde_json::Map<String, serde_json::Value>,
}

impl QueryEngine {
    /// The user's events in the range, newest first, at most `limit` (≤ [`MAX_FEED`]).
    pub async fn activity(
        &self,
        scope: &DataScope<ViewUsers>,
        distinct_id: &str,
        range: &DateRange,
        limit: usize,
    ) -> Result<ActivityAnswer, QueryError> {
        if !(1..=MAX_FEED).contains(&limit) {
            return Err(QueryError::invalid(format!("an activity feed page holds 1 to {MAX_FEED} events")));
        }
        let zone = crate::zone_of(scope);
        let (from_ms, to_ms) = resolve(range, &zone)?;
        let context: SessionContext = self.context();
        let (events, frame) = self.events(scope, &context, from_ms, to_ms, crate::Profiles::Without).await?;
        let canonical = events.canonical(distinct_id);
        let found = match frame {
            Some(frame) => {
                let newest = frame
                    .filter(ident("distinct_id").eq(lit(canonical.as_str())))
                    .and_then(|frame| {
                        frame.sort(vec![ident("time_ms").sort(false, true), ident("received_ms").sort(false, true)])
                    })
                    .and_then(|frame| frame.limit(0, Some(limit)))
                    .map_err(engine_error)?;
                exported(newest, "activity feed").await?
            }
            None => Vec::new(),
        };
        Ok(ActivityAnswer { range: resolved(range, &zone, from_ms, to_ms), distinct_id: canonical, events: found })
    }
}

/// Most events in one live view answer.
pub const MAX_LIVE: usize = 200;

/// The newest events a project received (the live view that shows an SDK set-up working).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LiveAnswer {
    /// Newest received first, as the export writes them (time in milliseconds).
    #[schema(value_type = Vec<ExportedEvent>)]
    pub events: Vec<serde_json::Value>,
    /// RFC 3339, UTC: when this answer was read.
    pub read_at: String,
}

impl QueryEngine {
    /// The last `limit` (≤ [`MAX_LIVE`]) events received whose own time is within the last
    /// day (or up to an hour ahead, for clocks that run fast), newest received first.
    pub async fn live(&self, scope: &DataScope<ViewUsers>, limit: usize) -> Result<LiveAnswer, QueryError> {
        if !(1..=MAX_LIVE).contains(&limit) {
            return Err(QueryError::invalid(format!("the live view shows 1 to {MAX_LIVE} events")));
        }
        let now = self.clock.now();
        let now_ms = now.as_millisecond();
        let context: SessionContext = self.context();
        let (_, frame) =
            self.events(scope, &context, now_ms - 86_400_000, now_ms + 3_600_000, crate::Profiles::Without).await?;
        let found = match frame {
            Some(frame) => {
                let newest = frame
                    .sort(vec![ident("received_ms").sort(false, true), ident("time_ms").sort(false, true)])
                    .and_then(|frame| frame.limit(0, Some(limit)))
                    .map_err(engine_error)?;
                exported(newest, "live view").await?
            }
            None => Vec::new(),
        };
        Ok(LiveAnswer { events: found, read_at: now.to_string() })
    }
}

/// A frame's events as the export writes them (time in milliseconds), in its order.
async fn exported(frame: DataFrame, what: &str) -> Result<Vec<serde_json::Value>, QueryError> {
    let batches = frame.collect().await.map_err(engine_error)?;
    let mut read = Vec::new();
    for batch in &batches {
        let rows = tally_events::parquet_file::LayoutRows::new(batch, what)
            .map_err(|error| QueryError::Storage(error.to_string()))?;
        for row in 0..rows.len() {
            read.push(rows.exported(row, true).map_err(|error| QueryError::Storage(error.to_string()))?);
        }
    }
    Ok(read)
}
