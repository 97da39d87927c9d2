//! Readers and the files compaction replaces. A read holds a [`ReadLease`] from before it
//! lists the catalogued files until its last batch is read; a file compaction replaced is
//! deleted as soon as no lease is held (at once when nobody is reading, otherwise when the
//! last reader finishes), never while a reader might still open it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use object_store::ObjectStore;

#[derive(Debug, Default)]
struct State {
    active: usize,
    /// Each with when it was retired.
    retired: Vec<(String, Instant)>,
}

/// The region's readers and its retired files.
#[derive(Debug, Default)]
pub(crate) struct Readers {
    state: Mutex<State>,
    /// How long a retired file stays at least (readers on other nodes, which this one
    /// cannot see, may still open it).
    grace: Duration,
}

/// Held by one read; dropping it may delete retired files.
pub(crate) struct ReadLease {
    readers: Arc<Readers>,
    files: Arc<dyn ObjectStore>,
}

impl Readers {
    /// Readers whose retired files stay at least `grace`.
    pub(crate) fn with_grace(grace: Duration) -> Readers {
        Readers { grace, ..Readers::default() }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The retired files that can go now: none while a lease is held, and only those
    /// retired at least the grace ago.
    fn ready(&self, state: &mut State) -> Vec<String> {
        if state.active > 0 {
            return Vec::new();
        }
        let (ready, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut state.retired).into_iter().partition(|(_, at)| at.elapsed() >= self.grace);
        state.retired = waiting;
        ready.into_iter().map(|(path, _)| path).collect()
    }

    /// Takes a lease; take it before listing the catalog.
    pub(crate) fn lease(self: &Arc<Self>, files: Arc<dyn ObjectStore>) -> ReadLease {
        self.state().active += 1;
        ReadLease { readers: Arc::clone(self), files }
    }

    /// Files the catalog no longer lists: returned for deletion now when nobody reads,
    /// otherwise kept until the last lease is dropped.
    pub(crate) fn retire(&self, paths: Vec<String>) -> Vec<String> {
        let mut state = self.state();
        let now = Instant::now();
        state.retired.extend(paths.into_iter().map(|path| (path, now)));
        self.ready(&mut state)
    }

    /// Retired files that can go now (nobody reads).
    pub(crate) fn take_idle(&self) -> Vec<String> {
        self.retire(Vec::new())
    }

    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.state().retired.len()
    }
}

impl Drop for ReadLease {
    fn drop(&mut self) {
        let ready = {
            let mut state = self.readers.state();
            state.active = state.active.saturating_sub(1);
            self.readers.ready(&mut state)
        };
        if ready.is_empty() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                let files = Arc::clone(&self.files);
                handle.spawn(async move {
                    crate::flush::delete_uncatalogued(&*files, ready, "a compacted-away event file").await;
                });
            }
            // No runtime to delete from: the next maintenance pass does it.
            Err(_) => self.readers.state().retired.extend(ready.into_iter().map(|path| (path, Instant::now()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use object_store::ObjectStoreExt;
    use object_store::local::LocalFileSystem;
    use object_store::path::Path as ObjectPath;

    use super::*;

    #[tokio::test]
    async fn a_retired_file_stays_while_a_reader_holds_a_lease_and_goes_when_the_last_one_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let files: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        for name in ["old.parquet", "idle.parquet"] {
            files.put(&ObjectPath::from(name), bytes::Bytes::from_static(b"x").into()).await.unwrap();
        }
        let readers = Arc::new(Readers::default());

        let first = readers.lease(Arc::clone(&files));
        let second = readers.lease(Arc::clone(&files));
        assert!(readers.retire(vec!["old.parquet".into()]).is_empty(), "readers hold it");
        assert_eq!(readers.waiting(), 1);
        drop(first);
        assert_eq!(readers.waiting(), 1, "one reader is still there");
        drop(second);
        for _ in 0..100 {
            if files.head(&ObjectPath::from("old.parquet")).await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(files.head(&ObjectPath::from("old.parquet")).await.is_err(), "deleted when the last reader left");
        assert_eq!(readers.waiting(), 0);

        // Nobody reading: handed back for deletion at once.
        assert_eq!(readers.retire(vec!["idle.parquet".into()]), vec!["idle.parquet".to_string()]);
    }
}
