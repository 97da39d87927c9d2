//! The answer cache: a report asked again over data that has not changed is answered from
//! memory, marked `from_cache`. An answer is kept only once everything it read lies in the
//! past (its range and what it looks ahead, such as a funnel's window, ended before now), so
//! time passing cannot change it; it is served again only while the event store says no
//! write since could change what it read ([`tally_events::EventStore::unchanged_before`]):
//! new events after what it read keep it, events inside it, merges, profile changes and
//! deletions do not. Flushes and compactions do not change data, so they keep it too.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tally_events::DataVersion;

use crate::Answer;
use crate::model::Report;

/// Most answers kept; the oldest go first.
const CAPACITY: usize = 256;

/// What makes two questions the same: the project, what of its data the asker sees, and the
/// report itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Question {
    project_id: i64,
    seen: String,
    report: String,
}

impl Question {
    pub(crate) fn new(project_id: i64, seen: String, report: &Report) -> Option<Question> {
        let report = serde_json::to_string(report).ok()?;
        Some(Question { project_id, seen, report })
    }
}

#[derive(Debug)]
struct Kept {
    version: DataVersion,
    /// The end of what the answer read.
    until_ms: i64,
    answer: Answer,
}

/// Answers kept for questions asked again; one per process, shared by its query engines.
#[derive(Debug, Default)]
pub struct AnswerCache {
    kept: Mutex<(HashMap<Question, Kept>, VecDeque<Question>)>,
}

impl AnswerCache {
    /// The kept answer to `question` that `still_holds` (given its version and the end of
    /// what it read) accepts.
    pub(crate) fn get(
        &self,
        question: &Question,
        still_holds: impl FnOnce(DataVersion, i64) -> bool,
    ) -> Option<Answer> {
        let mut kept = self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let found = kept.0.get(question)?;
        if still_holds(found.version, found.until_ms) {
            let mut answer = found.answer.clone();
            answer.from_cache = true;
            return Some(answer);
        }
        kept.0.remove(question);
        None
    }

    pub(crate) fn put(&self, question: Question, version: DataVersion, until_ms: i64, answer: &Answer) {
        let mut kept = self.kept.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (answers, order) = &mut *kept;
        if answers.insert(question.clone(), Kept { version, until_ms, answer: answer.clone() }).is_none() {
            order.push_back(question);
        }
        while answers.len() > CAPACITY {
            let Some(oldest) = order.pop_front() else { break };
            answers.remove(&oldest);
        }
        // Questions removed as stale leave their place in the order behind.
        if order.len() > 2 * CAPACITY {
            order.retain(|question| answers.contains_key(question));
        }
    }
}

/// How far past its range's end a report reads, in milliseconds.
pub(crate) fn looks_ahead(report: &Report) -> i64 {
    match report {
        Report::Insights(_) => 0,
        Report::Funnels(funnel) => funnel.window_seconds.saturating_mul(1000).saturating_add(1),
        Report::Retention(retention) => {
            let units = match &retention.brackets {
                Some(brackets) => brackets.last().map_or(1, |end| i64::from(*end)),
                None => i64::try_from(retention.buckets).unwrap_or(i64::MAX).saturating_add(1),
            };
            retention.unit.millis().saturating_mul(units)
        }
        Report::Flows(flows) => flows.window_seconds.saturating_mul(1000),
    }
}
