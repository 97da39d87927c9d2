//! Background upkeep: permanently removing organizations and projects whose grace period
//! after deletion has passed, and re-checking verified domains' DNS records.

use std::time::Duration;

use crate::AppState;

/// How often to look for expired deletions and re-check domains.
const EVERY: Duration = Duration::from_secs(3600);

/// Runs until the returned handle is aborted.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(EVERY);
        loop {
            interval.tick().await;
            match state.directory().purge_expired(state.clock().now()).await {
                Ok((0, 0)) => {}
                Ok((n_projects, n_orgs)) => {
                    tracing::info!(
                        n_projects,
                        n_orgs,
                        "purged deleted projects and organizations past their grace period"
                    );
                }
                Err(error) => tracing::warn!(%error, "purge of deleted organizations failed; will retry"),
            }
            let actor = tally_iam::admin::Actor::operator();
            if let Err(error) = tally_iam::domains::recheck_all(state.ctx(&actor)).await {
                tracing::warn!(%error, "re-checking claimed domains failed; will retry");
            }
        }
    })
}
