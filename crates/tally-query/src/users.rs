//! One user's activity feed: their events newest first, across every id merged into them
//! (the feed of a profile page).

use datafusion::prelude::{SessionContext, ident, lit};
use serde::Serialize;
use tally_iam::authz::DataScope;
use tally_types::permissions::project::ViewUsers;

use crate::buckets::resolve;
use crate::model::DateRange;
use crate::{QueryEngine, QueryError, ResolvedRange, engine_error, resolved};

/// Most events in one feed page.
pub const MAX_FEED: usize = 1000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivityAnswer {
    pub range: ResolvedRange,
    /// The canonical id the asked id belongs to.
    pub distinct_id: String,
    /// `{"event", "properties"}` as the export writes them (time in milliseconds), newest
    /// first.
    pub events: Vec<serde_json::Value>,
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
        let (events, frame) = self.events(scope, &context, from_ms, to_ms).await?;
        let canonical = events.canonical(distinct_id);
        let mut found = Vec::new();
        if let Some(frame) = frame {
            let batches = frame
                .filter(ident("distinct_id").eq(lit(canonical.as_str())))
                .and_then(|frame| {
                    frame.sort(vec![ident("time_ms").sort(false, true), ident("received_ms").sort(false, true)])
                })
                .and_then(|frame| frame.limit(0, Some(limit)))
                .map_err(engine_error)?
                .collect()
                .await
                .map_err(engine_error)?;
            let mut read = Vec::new();
            for batch in &batches {
                tally_events::parquet_file::append_events(batch, "activity feed", scope.project_id().0, &mut read)
                    .map_err(|error| QueryError::Storage(error.to_string()))?;
            }
            found = read.iter().map(|event| event.to_export_json(true)).collect();
        }
        Ok(ActivityAnswer { range: resolved(range, &zone, from_ms, to_ms), distinct_id: canonical, events: found })
    }
}
