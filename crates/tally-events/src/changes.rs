//! What changed in each project's data since a moment, for the query engine's answer cache:
//! an answer computed at a [`DataVersion`] still holds while no write since then could
//! change what it read. New events change only answers that read their times, so each
//! write remembers the earliest event time it brought; identities, profiles, deletions and
//! resets change any answer, so they start a new epoch. Flushes and compactions move events
//! between memory and files without changing them, and change nothing here.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Most writes remembered per project: an answer older than all of them is recomputed.
const REMEMBERED: usize = 4096;

/// A project's data at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataVersion {
    epoch: u64,
    sequence: u64,
}

#[derive(Debug, Default)]
struct ProjectChanges {
    epoch: u64,
    sequence: u64,
    /// The latest writes of events: their sequence and their earliest event time.
    writes: VecDeque<(u64, i64)>,
}

#[derive(Debug, Default)]
pub(crate) struct Changes {
    projects: Mutex<HashMap<i64, ProjectChanges>>,
}

impl Changes {
    fn with<T>(&self, project_id: i64, change: impl FnOnce(&mut ProjectChanges) -> T) -> T {
        let mut projects = self.projects.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        change(projects.entry(project_id).or_default())
    }

    /// Events with times from `earliest_ms` on were written.
    pub(crate) fn events(&self, project_id: i64, earliest_ms: i64) {
        self.with(project_id, |project| {
            project.sequence += 1;
            let sequence = project.sequence;
            project.writes.push_back((sequence, earliest_ms));
            if project.writes.len() > REMEMBERED {
                project.writes.pop_front();
            }
        });
    }

    /// Something that may change any answer of the project happened.
    pub(crate) fn everything(&self, project_id: i64) {
        self.with(project_id, |project| {
            project.epoch += 1;
            project.writes.clear();
        });
    }

    pub(crate) fn version(&self, project_id: i64) -> DataVersion {
        self.with(project_id, |project| DataVersion { epoch: project.epoch, sequence: project.sequence })
    }

    /// Whether an answer computed at `version`, reading events before `until_ms`, still
    /// holds: same epoch, and every write since brought only events from `until_ms` on.
    pub(crate) fn unchanged_before(&self, project_id: i64, version: DataVersion, until_ms: i64) -> bool {
        self.with(project_id, |project| {
            if project.epoch != version.epoch {
                return false;
            }
            if project.sequence == version.sequence {
                return true;
            }
            // The writes since `version` must all be remembered.
            let remembered = project.writes.front().is_some_and(|(sequence, _)| *sequence <= version.sequence + 1);
            remembered
                && project
                    .writes
                    .iter()
                    .filter(|(sequence, _)| *sequence > version.sequence)
                    .all(|(_, earliest)| *earliest >= until_ms)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_events_keep_an_answer_and_earlier_ones_or_merges_do_not() {
        let changes = Changes::default();
        changes.events(1, 500);
        let version = changes.version(1);
        assert!(changes.unchanged_before(1, version, 1_000));
        changes.events(1, 1_000);
        changes.events(2, 0);
        assert!(changes.unchanged_before(1, version, 1_000), "events at or after the end it read");
        changes.events(1, 999);
        assert!(!changes.unchanged_before(1, version, 1_000), "an event inside what it read");
        let version = changes.version(1);
        changes.everything(1);
        assert!(!changes.unchanged_before(1, version, 0), "a merge or profile change");
        let version = changes.version(1);
        for _ in 0..REMEMBERED + 1 {
            changes.events(1, i64::MAX);
        }
        assert!(!changes.unchanged_before(1, version, 0), "writes beyond what is remembered");
    }
}
