//! Mixpanel's Query API limits per project: at most `query.per_hour` queries in any hour
//! and `query.concurrent` running at once (Mixpanel's are 60 and 5). Time is the instance
//! clock, so tests move it instead of waiting an hour.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Project {
    /// When the queries of the last hour started (ms).
    started: VecDeque<i64>,
    running: u32,
}

/// The limits and what each project used of them.
#[derive(Debug)]
pub(crate) struct QueryLimits {
    per_hour: u32,
    concurrent: u32,
    projects: Mutex<HashMap<i64, Project>>,
}

/// Why a query was refused: what was running and what ran in the last hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub running: u32,
    pub concurrent: u32,
    pub in_hour: u32,
    pub per_hour: u32,
}

impl Refusal {
    /// Mixpanel's message.
    pub(crate) fn message(&self, project_id: i64) -> String {
        format!(
            "Query rate limit exceeded for project_id: {project_id}. {}/{} queries running concurrently and {}/{} queries running in the last hour.",
            self.running, self.concurrent, self.in_hour, self.per_hour
        )
    }
}

/// A running query; dropping it frees its place.
#[derive(Debug)]
pub(crate) struct Admitted {
    limits: Arc<QueryLimits>,
    project_id: i64,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut projects = self.limits.projects.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(project) = projects.get_mut(&self.project_id) {
            project.running = project.running.saturating_sub(1);
        }
    }
}

const HOUR_MS: i64 = 3_600_000;

impl QueryLimits {
    /// 0 means no limit.
    pub(crate) fn new(per_hour: u32, concurrent: u32) -> Arc<QueryLimits> {
        Arc::new(QueryLimits { per_hour, concurrent, projects: Mutex::new(HashMap::new()) })
    }

    /// Admits a query of the project at `now_ms`, or says why not.
    pub(crate) fn admit(self: &Arc<Self>, project_id: i64, now_ms: i64) -> Result<Admitted, Refusal> {
        let mut projects = self.projects.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let project = projects.entry(project_id).or_default();
        while project.started.front().is_some_and(|started| now_ms - started >= HOUR_MS) {
            project.started.pop_front();
        }
        let in_hour = u32::try_from(project.started.len()).unwrap_or(u32::MAX);
        let over_hour = self.per_hour > 0 && in_hour >= self.per_hour;
        let over_running = self.concurrent > 0 && project.running >= self.concurrent;
        if over_hour || over_running {
            return Err(Refusal {
                running: project.running,
                concurrent: self.concurrent,
                in_hour: in_hour.saturating_add(1),
                per_hour: self.per_hour,
            });
        }
        project.started.push_back(now_ms);
        project.running += 1;
        Ok(Admitted { limits: Arc::clone(self), project_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hour_holds_so_many_queries_and_frees_them_as_it_slides() {
        let limits = QueryLimits::new(3, 0);
        for minute in 0..3 {
            drop(limits.admit(1, minute * 60_000).unwrap());
        }
        let refused = limits.admit(1, 10 * 60_000).unwrap_err();
        assert_eq!((refused.in_hour, refused.per_hour), (4, 3));
        assert!(refused.message(1).contains("4/3 queries running in the last hour"), "{}", refused.message(1));
        assert!(limits.admit(2, 10 * 60_000).is_ok(), "projects have their own limits");
        assert!(limits.admit(1, HOUR_MS).is_ok(), "the first query left the window");
    }

    #[test]
    fn running_queries_are_capped_until_one_ends() {
        let limits = QueryLimits::new(0, 2);
        let first = limits.admit(1, 0).unwrap();
        let _second = limits.admit(1, 0).unwrap();
        assert_eq!(limits.admit(1, 0).unwrap_err().running, 2);
        drop(first);
        assert!(limits.admit(1, 0).is_ok());
    }
}
