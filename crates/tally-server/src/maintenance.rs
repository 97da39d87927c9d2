//! Background upkeep: permanently removing organizations and projects whose grace period
//! after deletion has passed.

use std::time::Duration;

use tally_store::Store;
use tally_types::SharedClock;

/// How often to look for expired deletions.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Runs until the returned handle is aborted.
pub fn spawn(store: Store, clock: SharedClock) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(PURGE_EVERY);
        loop {
            interval.tick().await;
            match store.purge_expired(clock.now()).await {
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
        }
    })
}
