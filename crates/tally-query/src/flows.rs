//! Flows (report-semantics.md §4), by unique users: one path per user, from their first
//! anchor event inside the range; the N events right after it (within the window counted
//! from the anchor) and the N right before it; hidden events are dropped before paths are
//! built, so the next visible event moves up; identical consecutive events are not
//! collapsed; a path shorter than N drops off where it ends. Each step shows its top events
//! by users and merges the rest into "Other events"; links join consecutive steps; the top
//! paths are the commonest sequences after the anchor.
//!
//! Each user's events go through the per-user sequence aggregate with their event name's
//! number as the code ([`crate::functions::Sequence`]); the answer tallies the paths.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::logical_expr::{lit, when};
use datafusion::prelude::{SessionContext, ident};
use serde::Serialize;
use tally_iam::authz::DataScope;
use tally_types::permissions::project::ViewReports;

use crate::buckets::resolve;
use crate::functions::{Finish, each_user};
use crate::model::Flows;
use crate::{QueryEngine, QueryError, ResolvedRange, engine_error, filters, resolved};

/// Most steps on either side of the anchor.
pub const MAX_STEPS: usize = 10;
/// The events merged into one node at a step.
pub const OTHER_EVENTS: &str = "Other events";
/// Most paths listed.
const TOP_PATHS: usize = 50;
/// Most users listed at a node.
const MAX_USERS: usize = 1000;
/// The code bit of the anchor event inside the range.
const ANCHOR: i64 = 1 << 40;
const NAME_BITS: i64 = (1 << 32) - 1;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FlowsAnswer {
    /// Users whose path starts at the anchor.
    pub users: u64,
    /// From the first step before the anchor (-N) to the last after it (+N); 0 is the anchor.
    pub steps: Vec<FlowStep>,
    pub links: Vec<FlowLink>,
    /// The commonest sequences after the anchor (anchor included), most users first.
    pub paths: Vec<FlowPath>,
    /// The users at the node asked for with `users_at` (at most 1000), by canonical id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users_at: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FlowStep {
    pub step: i32,
    pub nodes: Vec<FlowNode>,
    /// Users whose path ends before this step (after the anchor) or starts after it (before).
    pub dropped: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FlowNode {
    pub event: String,
    pub users: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FlowLink {
    /// The step the link leaves; it arrives at `from_step + 1`.
    pub from_step: i32,
    pub from: String,
    pub to: String,
    pub users: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FlowPath {
    pub events: Vec<String>,
    pub users: u64,
}

/// Each user's path: `[before count, before codes…, anchor code, after codes…]`.
#[derive(Debug, Serialize, serde::Deserialize)]
struct Path {
    before: usize,
    after: usize,
    window_ms: i64,
}

pub(crate) const FINISH: &str = "tally_flow";

/// A flow's finish made again from [`Finish::state`].
pub(crate) fn finish_from(state: serde_json::Value) -> Result<Arc<dyn Finish>, serde_json::Error> {
    serde_json::from_value::<Path>(state).map(|path| Arc::new(path) as Arc<dyn Finish>)
}

/// What the event-name numbering holds, for a cluster ([`crate::cluster`]).
pub(crate) fn encode_udf(udf: &ScalarUDF) -> Option<datafusion::common::Result<Vec<u8>>> {
    tally_events::portable::state_of(udf, |code: &NameCode| tally_events::portable::written(code.codes.as_ref()))
}

pub(crate) fn decode_udf(name: &str, bytes: &[u8]) -> Option<datafusion::common::Result<ScalarUDF>> {
    (name == NAME_CODE).then(|| tally_events::portable::from_state(name, bytes).map(|codes| name_code(Arc::new(codes))))
}

const NAME_CODE: &str = "tally_name_code";

fn name_code(codes: Arc<HashMap<String, i64>>) -> ScalarUDF {
    ScalarUDF::from(NameCode { codes, signature: Signature::any(1, Volatility::Immutable) })
}

impl Finish for Path {
    fn name(&self) -> &'static str {
        FINISH
    }

    fn state(&self) -> datafusion::common::Result<serde_json::Value> {
        serde_json::to_value(self).map_err(|error| datafusion::common::DataFusionError::Internal(error.to_string()))
    }

    fn finish(&self, events: &[(i64, i64)]) -> Vec<i64> {
        // Events at the same millisecond in name order (the dictionary is sorted by name), so
        // a path never depends on the order the files were read in.
        let mut events = events.to_vec();
        events.sort_by_key(|(time, code)| (*time, code & NAME_BITS));
        let Some(anchor) = events.iter().position(|(_, code)| code & ANCHOR != 0) else { return Vec::new() };
        let at = events[anchor].0;
        let start = anchor.saturating_sub(self.before);
        let before: Vec<i64> = events[start..anchor]
            .iter()
            .filter(|(time, _)| at - time <= self.window_ms)
            .map(|(_, code)| code & NAME_BITS)
            .collect();
        let mut path = Vec::with_capacity(2 + before.len() + self.after);
        path.push(before.len() as i64);
        path.extend(before);
        path.push(events[anchor].1 & NAME_BITS);
        path.extend(
            events[anchor + 1..]
                .iter()
                .take(self.after)
                .take_while(|(time, _)| time - at <= self.window_ms)
                .map(|(_, code)| code & NAME_BITS),
        );
        path
    }
}

/// An event name's number in the query's dictionary (0 when unknown).
#[derive(Debug)]
struct NameCode {
    codes: Arc<HashMap<String, i64>>,
    signature: Signature,
}

impl PartialEq for NameCode {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.codes, &other.codes)
    }
}

impl Eq for NameCode {}

impl std::hash::Hash for NameCode {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.codes) as usize).hash(state);
    }
}

impl ScalarUDFImpl for NameCode {
    fn name(&self) -> &str {
        NAME_CODE
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::common::Result<ColumnarValue> {
        let [names] = args.args.as_slice() else {
            return datafusion::common::exec_err!("tally_name_code takes one argument");
        };
        let names = datafusion::arrow::compute::cast(&names.to_array(args.number_rows)?, &DataType::Utf8)?;
        let Some(names) = names.as_any().downcast_ref::<StringArray>() else {
            return datafusion::common::exec_err!("tally_name_code reads text");
        };
        let codes: Int64Array =
            names.iter().map(|name| Some(name.and_then(|name| self.codes.get(name)).copied().unwrap_or(0))).collect();
        Ok(ColumnarValue::Array(Arc::new(codes)))
    }
}

pub(crate) async fn run(
    engine: &QueryEngine,
    scope: &DataScope<ViewReports>,
    context: &SessionContext,
    zone: &jiff::tz::TimeZone,
    report: &Flows,
) -> Result<(ResolvedRange, FlowsAnswer), QueryError> {
    if report.steps_after > MAX_STEPS || report.steps_before > MAX_STEPS {
        return Err(QueryError::invalid(format!("a flow shows at most {MAX_STEPS} steps before and after the anchor")));
    }
    if !(1..=366 * 86_400).contains(&report.window_seconds) {
        return Err(QueryError::invalid("the flow's window is from 1 second to 366 days"));
    }
    if !(1..=50).contains(&report.top_events) {
        return Err(QueryError::invalid("a flow step shows 1 to 50 events before merging the rest"));
    }
    let (from_ms, to_ms) = resolve(&report.range, zone)?;
    let range = resolved(&report.range, zone, from_ms, to_ms);
    let window_ms = report.window_seconds * 1000;
    let profiles = crate::Profiles::for_filters(&report.anchor.filters, report.where_expression.as_deref());
    let (events, frame) = engine
        .events(scope, context, from_ms.saturating_sub(window_ms), to_ms.saturating_add(window_ms + 1), profiles)
        .await?;
    // The dictionary of event names: the project's lexicon (code 0 for a name it lacks).
    let mut names: Vec<String> = vec![OTHER_EVENTS.to_string()];
    names.extend(events.event_names());
    let codes: Arc<HashMap<String, i64>> =
        Arc::new(names.iter().enumerate().skip(1).map(|(code, name)| (name.clone(), code as i64)).collect());
    let mut per_step: HashMap<i32, HashMap<i64, u64>> = HashMap::new();
    let mut paths: Vec<(String, Vec<i64>, usize)> = Vec::new();
    if let Some(frame) = frame {
        let mut frame = crate::expression::filtered(frame, report.where_expression.as_deref())?;
        if !report.hidden.is_empty() {
            let hidden = report.hidden.iter().map(|name| lit(name.as_str())).collect();
            frame = frame.filter(ident("name").in_list(hidden, true)).map_err(engine_error)?;
        }
        let anchor = filters::selects(&report.anchor, &[])?
            .and(ident("time_ms").gt_eq(lit(from_ms)))
            .and(ident("time_ms").lt(lit(to_ms)));
        let flag = when(anchor, lit(ANCHOR)).otherwise(lit(0i64)).map_err(engine_error)?;
        let name_code = name_code(Arc::clone(&codes)).call(vec![ident("name")]);
        let finish = Arc::new(Path { before: report.steps_before, after: report.steps_after, window_ms });
        each_user(frame, name_code + flag, None, finish, |id, values| {
            let Some((&before, rest)) = values.split_first() else { return };
            let before = usize::try_from(before).unwrap_or(0).min(rest.len());
            for (offset, code) in rest.iter().enumerate() {
                let step = offset as i32 - before as i32;
                *per_step.entry(step).or_default().entry(*code).or_default() += 1;
            }
            paths.push((id.to_string(), rest.to_vec(), before));
        })
        .await?;
    }
    let name =
        |code: i64| names.get(usize::try_from(code).unwrap_or(0)).cloned().unwrap_or_else(|| OTHER_EVENTS.into());
    let users = per_step.get(&0).map_or(0, |nodes| nodes.values().sum());
    // Each step keeps its top events; the rest are one node.
    let mut kept: HashMap<i32, Vec<i64>> = HashMap::new();
    let mut steps = Vec::new();
    for step in -(report.steps_before as i32)..=(report.steps_after as i32) {
        let nodes = per_step.remove(&step).unwrap_or_default();
        let reached: u64 = nodes.values().sum();
        let mut ranked: Vec<(i64, u64)> = nodes.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| name(a.0).cmp(&name(b.0))));
        let top: Vec<i64> =
            ranked.iter().take(report.top_events).map(|(code, _)| *code).filter(|code| *code != 0).collect();
        let mut shown: Vec<FlowNode> = ranked
            .iter()
            .filter(|(code, _)| top.contains(code))
            .map(|(code, users)| FlowNode { event: name(*code), users: *users })
            .collect();
        let other: u64 = ranked.iter().filter(|(code, _)| !top.contains(code)).map(|(_, users)| users).sum();
        if other > 0 {
            shown.push(FlowNode { event: OTHER_EVENTS.into(), users: other });
        }
        kept.insert(step, top);
        steps.push(FlowStep { step, nodes: shown, dropped: users.saturating_sub(reached) });
    }
    let label = |step: i32, code: i64| {
        if kept.get(&step).is_some_and(|top| top.contains(&code)) { name(code) } else { OTHER_EVENTS.to_string() }
    };
    let mut links: HashMap<(i32, String, String), u64> = HashMap::new();
    let mut sequences: HashMap<Vec<String>, u64> = HashMap::new();
    let mut users_at = report.users_at.as_ref().map(|_| Vec::new());
    for (id, path, before) in &paths {
        let labelled: Vec<(i32, String)> = path
            .iter()
            .enumerate()
            .map(|(offset, code)| {
                let step = offset as i32 - *before as i32;
                (step, label(step, *code))
            })
            .collect();
        for pair in labelled.windows(2) {
            *links.entry((pair[0].0, pair[0].1.clone(), pair[1].1.clone())).or_default() += 1;
        }
        let after: Vec<String> =
            labelled.iter().filter(|(step, _)| *step >= 0).map(|(_, event)| event.clone()).collect();
        *sequences.entry(after).or_default() += 1;
        if let (Some(found), Some(node)) = (users_at.as_mut(), report.users_at.as_ref())
            && found.len() < MAX_USERS
            && labelled.iter().any(|(step, event)| *step == node.step && *event == node.event)
        {
            found.push(id.clone());
        }
    }
    let mut links: Vec<FlowLink> =
        links.into_iter().map(|((from_step, from, to), users)| FlowLink { from_step, from, to, users }).collect();
    links.sort_by(|a, b| {
        a.from_step
            .cmp(&b.from_step)
            .then_with(|| b.users.cmp(&a.users))
            .then_with(|| a.from.cmp(&b.from))
            .then_with(|| a.to.cmp(&b.to))
    });
    let mut paths: Vec<FlowPath> = sequences.into_iter().map(|(events, users)| FlowPath { events, users }).collect();
    paths.sort_by(|a, b| b.users.cmp(&a.users).then_with(|| a.events.cmp(&b.events)));
    paths.truncate(TOP_PATHS);
    if let Some(found) = users_at.as_mut() {
        found.sort();
    }
    Ok((range, FlowsAnswer { users, steps, links, paths, users_at }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_starts_at_the_first_anchor_and_stops_at_the_window() {
        let path = Path { before: 2, after: 3, window_ms: 100 };
        let events = [(0, 5), (10, 6), (20, 7 | ANCHOR), (30, 8), (40, 7 | ANCHOR), (200, 9)];
        assert_eq!(path.finish(&events), vec![2, 5, 6, 7, 8, 7]);
        assert!(path.finish(&[(0, 5)]).is_empty(), "no anchor, no path");
    }
}
