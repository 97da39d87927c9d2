//! Ingestion usage (events per project and month), counted in memory on the ingestion
//! path and written to the metadata store in one pass every few seconds, so a busy
//! ingestion path costs the database one upsert per project per pass rather than one per
//! request. Readers of usage write the pending counts first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tally_types::ProjectId;

use crate::AppState;

/// How often pending counts are written.
const EVERY: Duration = Duration::from_secs(2);

/// Counts not yet in the metadata store, by (project, `YYYY-MM`).
#[derive(Debug, Default)]
pub(crate) struct PendingUsage(Mutex<HashMap<(i64, String), i64>>);

impl PendingUsage {
    pub(crate) fn add(&self, project_id: i64, month: &str, n_events: i64) {
        let mut pending = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *pending.entry((project_id, month.to_string())).or_default() += n_events;
    }

    fn take(&self) -> HashMap<(i64, String), i64> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

/// Writes the pending counts; what cannot be written now is kept for the next pass.
pub async fn write_pending(state: &AppState) {
    let pending = state.pending_usage();
    for ((project_id, month), n_events) in pending.take() {
        if let Err(error) = state.directory().add_usage(ProjectId(project_id), &month, n_events).await {
            tracing::warn!(%error, project_id, "usage counter not updated; retrying later");
            pending.add(project_id, &month, n_events);
        }
    }
}

/// Writes pending usage every few seconds until the handle is aborted.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(EVERY);
        loop {
            interval.tick().await;
            write_pending(&state).await;
        }
    })
}
