//! Funnels, by unique users (report-semantics.md §2): a user enters at their first step-1
//! inside the date range and only that attempt counts; later steps come after the previous
//! step (each step a separate, later event: one event never fills two steps) and within the
//! conversion window counted from the entry (`t - t_entry <= window`); they may fall after
//! the range's end. Events at the same millisecond are taken in step order. The empty
//! distinct_id is not a user.
//!
//! Exclusions end an attempt at the step it had reached; with Totals a user enters again
//! once the previous attempt has ended (converted, timed out or excluded: the next entry is
//! a step-1 after the last step, after the exclusion, or past the window).
//!
//! Each user's events go through one `GroupsAccumulator` ([`crate::functions::Sequence`])
//! whose result is each attempt's step times (`[n, t_0 .. t_n-1]`, one after another); the
//! answer tallies those: counts and times per step, the conversion of each interval's
//! entries, the time to convert of converted attempts, and a sample of the users at (and
//! dropping off after) each step.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::logical_expr::{Expr, lit, when};
use datafusion::prelude::{DataFrame, SessionContext, ident};
use serde::Serialize;
use tally_iam::authz::DataScope;
use tally_types::permissions::project::ViewReports;

use crate::buckets::resolve;
use crate::functions::{Finish, each_user};
use crate::interner::{Interner, Lookup};
use crate::model::{Funnel, FunnelAttribution, FunnelCounting, FunnelOrder, PropertySource};
use crate::{QueryEngine, QueryError, ResolvedRange, engine_error, filters, resolved};

/// Most steps in a funnel.
pub const MAX_STEPS: usize = 30;
/// The longest conversion window: 366 days.
pub const MAX_WINDOW_SECONDS: i64 = 366 * 86_400;
/// The code bit of an event inside the date range (entries happen only there).
const IN_RANGE: i64 = 1 << 40;
/// The code's bits from here up hold the number of the event's held and breakdown values.
const VALUES_SHIFT: u32 = 41;
/// The code bit of the first exclusion (steps take the bits below it).
const FIRST_EXCLUSION: usize = MAX_STEPS;
/// Most exclusions in a funnel.
pub const MAX_EXCLUSIONS: usize = 10;
/// Most segments of an event-property breakdown (the rest go to `$other`).
pub const MAX_SEGMENTS: usize = 200;
/// Most properties held constant.
pub const MAX_HELD: usize = 3;
/// The longest idle time a session may have.
const MAX_SESSION_MINUTES: i64 = 1440;
/// Most users listed at a step (and as dropping off after it).
pub const USER_SAMPLE: usize = 100;
/// Events that never extend a session (report-semantics.md §5).
const IDENTITY_EVENTS: [&str; 3] = ["$identify", "$merge", "$create_alias"];
/// The time-to-convert histogram's bucket edges, in seconds.
const TTC_EDGES: [i64; 11] = [0, 60, 300, 900, 3_600, 14_400, 43_200, 86_400, 172_800, 604_800, 2_592_000];

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FunnelAnswer {
    pub steps: Vec<FunnelStep>,
    pub window_seconds: i64,
    pub order: FunnelOrder,
    pub counting: FunnelCounting,
    /// Per interval of the report's unit: the attempts that entered in it and how many of
    /// them converted.
    pub over_time: Vec<FunnelPeriod>,
    /// How long converted attempts took, from the entry to the last step.
    pub time_to_convert: Vec<TimeToConvert>,
    /// With a breakdown: each top segment's step counts, largest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<FunnelSegment>,
}

/// One segment of a funnel broken down (by its users' first entry, or their profile).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FunnelSegment {
    pub segment: String,
    /// Users (or attempts, counting totals) at each step.
    pub counts: Vec<u64>,
    /// The last step's count over the first's.
    pub overall_conversion: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FunnelPeriod {
    /// The interval's label (its local start).
    pub bucket: String,
    pub entered: u64,
    pub converted: u64,
}

/// Converted attempts that took from `from_seconds` up to (not including) `to_seconds`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TimeToConvert {
    pub from_seconds: i64,
    /// `None` for the last bucket.
    pub to_seconds: Option<i64>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FunnelStep {
    pub event: String,
    /// Users who reached this step.
    pub count: u64,
    /// Of those who reached the previous step (1 for the first step with entries).
    pub step_conversion: f64,
    /// Of those who entered.
    pub overall_conversion: f64,
    /// From the previous step, over the users who reached this one (seconds).
    pub avg_time_from_previous: Option<f64>,
    /// From the entry (seconds).
    pub avg_time_from_start: Option<f64>,
    pub median_time_from_start: Option<f64>,
    /// Some of the users who reached this step (the first by id).
    pub users: Vec<String>,
    /// Some of the users who reached this step and not the next (none at the last step).
    pub dropped: Vec<String>,
}

/// The attempts of one user: for each, the entry's time, then each later step's.
#[derive(Debug)]
struct Steps {
    steps: usize,
    window_ms: i64,
    order: FunnelOrder,
    counting: FunnelCounting,
    /// Per exclusion: the step after which and before which it ends an attempt.
    exclusions: Vec<(usize, usize)>,
    /// Optimized re-entry: the best of the attempts every step-1 starts.
    optimized: bool,
    /// Counting sessions: the idle time that ends a session, and the zone whose midnights do.
    sessions: Option<(i64, jiff::tz::TimeZone)>,
    /// The numbering of each event's held and breakdown values (in the code's top bits).
    values: Option<Interner>,
    /// Whether later steps need the entry's held values.
    hold: bool,
    /// With a breakdown by an event property: which step's value an attempt counts under.
    attribution: Option<FunnelAttribution>,
}

/// One user's events as the finish reads them.
struct Trail<'a> {
    events: &'a [(i64, i64)],
    /// Each event's session (all 0 unless counting sessions).
    sessions: Vec<u32>,
    lookup: Option<&'a Lookup<'a>>,
}

impl Trail<'_> {
    fn tuple(&self, index: usize) -> i64 {
        self.events[index].1 >> VALUES_SHIFT
    }

    fn held(&self, index: usize) -> i64 {
        self.lookup.map_or(0, |lookup| lookup.held(self.tuple(index)))
    }

    fn segment(&self, index: usize) -> Option<&str> {
        self.lookup.and_then(|lookup| lookup.segment(self.tuple(index)))
    }
}

/// An attempt: the events of the steps it reached, and where another may start.
struct Attempt {
    reached: Vec<usize>,
    resume: usize,
}

pub(crate) const FINISH: &str = "tally_funnel";

/// Whether the funnel numbers its events' values: it holds properties constant, or breaks
/// down by an event property (attributed inside each attempt).
fn numbers_values(report: &Funnel) -> bool {
    !report.hold_constant.is_empty()
        || report.breakdown.as_ref().is_some_and(|breakdown| breakdown.source == PropertySource::Event)
}

/// What [`Steps`] holds, as it travels to a cluster's executors.
#[derive(Serialize, serde::Deserialize)]
struct StepsState {
    steps: usize,
    window_ms: i64,
    order: FunnelOrder,
    counting: FunnelCounting,
    exclusions: Vec<(usize, usize)>,
    optimized: bool,
    /// The idle time and the zone's name.
    sessions: Option<(i64, String)>,
    hold: bool,
    attribution: Option<FunnelAttribution>,
    /// The fixed numbering of held and attributed values.
    values: Option<crate::interner::FixedState>,
}

/// A funnel's finish made again from [`Finish::state`].
pub(crate) fn finish_from(
    state: serde_json::Value,
) -> Result<datafusion::common::Result<Arc<dyn Finish>>, serde_json::Error> {
    let state: StepsState = serde_json::from_value(state)?;
    let sessions = match state.sessions {
        None => None,
        Some((idle_ms, zone)) => match jiff::tz::TimeZone::get(&zone) {
            Ok(zone) => Some((idle_ms, zone)),
            Err(error) => {
                return Ok(datafusion::common::plan_err!("a funnel's time zone {zone} is unknown here: {error}"));
            }
        },
    };
    let values = match state.values.map(Interner::from_state).transpose() {
        Ok(values) => values,
        Err(error) => return Ok(Err(error)),
    };
    Ok(Ok(Arc::new(Steps {
        steps: state.steps,
        window_ms: state.window_ms,
        order: state.order,
        counting: state.counting,
        exclusions: state.exclusions,
        optimized: state.optimized,
        sessions,
        values,
        hold: state.hold,
        attribution: state.attribution,
    })))
}

impl Finish for Steps {
    fn name(&self) -> &'static str {
        FINISH
    }

    fn state(&self) -> datafusion::common::Result<serde_json::Value> {
        let values = self.values.as_ref().map(Interner::state).transpose()?;
        let sessions = match &self.sessions {
            None => None,
            Some((idle_ms, zone)) => match zone.iana_name() {
                Some(name) => Some((*idle_ms, name.to_string())),
                None => return datafusion::common::plan_err!("a funnel's time zone has no name to travel by"),
            },
        };
        let state = StepsState {
            steps: self.steps,
            window_ms: self.window_ms,
            order: self.order,
            counting: self.counting,
            exclusions: self.exclusions.clone(),
            optimized: self.optimized,
            sessions,
            hold: self.hold,
            attribution: self.attribution,
            values,
        };
        serde_json::to_value(state).map_err(|error| datafusion::common::DataFusionError::Internal(error.to_string()))
    }

    fn finish(&self, events: &[(i64, i64)]) -> Vec<i64> {
        let mut ordered: Vec<(i64, i64)> = events.to_vec();
        // Same millisecond: the lower step first.
        ordered.sort_by_key(|(time, code)| (*time, (*code & ((1 << MAX_STEPS) - 1)).trailing_zeros()));
        let sessions = match &self.sessions {
            Some((idle_ms, zone)) => sessions_of(&ordered, *idle_ms, zone),
            None => vec![0; ordered.len()],
        };
        match &self.values {
            Some(values) => values
                .with(|lookup| self.attempts(&Trail { events: &ordered, sessions, lookup: Some(lookup) }))
                .unwrap_or_default(),
            None => self.attempts(&Trail { events: &ordered, sessions, lookup: None }),
        }
    }
}

/// Each event's session: a new one after `idle_ms` without an event, or at local midnight.
fn sessions_of(events: &[(i64, i64)], idle_ms: i64, zone: &jiff::tz::TimeZone) -> Vec<u32> {
    let mut out = Vec::with_capacity(events.len());
    let (mut session, mut previous, mut day_end) = (0u32, None::<i64>, i64::MIN);
    for (time, _) in events {
        let new_day = *time >= day_end;
        if previous.is_some_and(|previous| time - previous > idle_ms || new_day) {
            session += 1;
        }
        if new_day {
            day_end = next_midnight(*time, zone);
        }
        previous = Some(*time);
        out.push(session);
    }
    out
}

/// The first local midnight after `time_ms`.
fn next_midnight(time_ms: i64, zone: &jiff::tz::TimeZone) -> i64 {
    jiff::Timestamp::from_millisecond(time_ms)
        .ok()
        .and_then(|time| time.to_zoned(zone.clone()).date().tomorrow().ok())
        .and_then(|day| day.to_zoned(zone.clone()).ok())
        .map_or(i64::MAX, |midnight| midnight.timestamp().as_millisecond())
}

impl Steps {
    /// Every attempt counted, as `[n, overall, segment, t_0 .. t_n-1]` one after another:
    /// `overall` is 1 for the attempts the funnel's own steps count (the user's first with
    /// uniques), `segment` the tuple number whose breakdown value the attempt counts under
    /// (-1 for none).
    fn attempts(&self, trail: &Trail<'_>) -> Vec<i64> {
        let mut out = Vec::new();
        if self.optimized {
            if let Some(best) = self.best(trail) {
                let attributed = self.attributed(trail, &best.reached);
                self.push(&mut out, trail, &best, attributed, true);
            }
            return out;
        }
        // With uniques and an event-property breakdown, a user enters again after each exit
        // and counts once in each segment (report-semantics.md §2, Attribution).
        let per_segment = self.counting == FunnelCounting::Uniques && self.attribution.is_some();
        let mut segments: Vec<Option<&str>> = Vec::new();
        let mut from = 0;
        let mut first = true;
        while let Some(entry) = self.next_entry(trail, from) {
            let attempt = self.attempt(trail, entry);
            let resume = attempt.resume;
            let attributed = self.attributed(trail, &attempt.reached);
            let segment = attributed.and_then(|index| trail.segment(index));
            // Past the first attempt, uniques count one more only under a segment not seen yet.
            let overall = first || self.counting != FunnelCounting::Uniques;
            if overall || !segments.contains(&segment) {
                if per_segment {
                    segments.push(segment);
                }
                self.push(&mut out, trail, &attempt, attributed, overall);
            }
            first = false;
            if (self.counting == FunnelCounting::Uniques && !per_segment) || resume <= entry {
                break;
            }
            from = match self.counting {
                // One attempt per session: the next starts in a later one.
                FunnelCounting::Sessions => {
                    let session = trail.sessions[entry];
                    (resume..trail.events.len())
                        .find(|index| trail.sessions[*index] > session)
                        .unwrap_or(trail.events.len())
                }
                _ => resume,
            };
        }
        out
    }

    fn push(&self, out: &mut Vec<i64>, trail: &Trail<'_>, attempt: &Attempt, attributed: Option<usize>, overall: bool) {
        out.push(attempt.reached.len() as i64);
        out.push(i64::from(overall));
        out.push(attributed.map_or(-1, |index| trail.tuple(index)));
        out.extend(attempt.reached.iter().map(|index| trail.events[*index].0));
    }

    /// The event whose breakdown value the attempt counts under.
    fn attributed(&self, trail: &Trail<'_>, reached: &[usize]) -> Option<usize> {
        match self.attribution? {
            FunnelAttribution::Step(step) => reached.get(step).copied(),
            FunnelAttribution::FirstDefined => reached.iter().copied().find(|index| trail.segment(*index).is_some()),
            FunnelAttribution::LastDefined => {
                reached.iter().copied().rev().find(|index| trail.segment(*index).is_some())
            }
        }
    }

    /// Optimized re-entry: of the attempts each step-1 starts, the one reaching most steps,
    /// then the one done soonest, then the latest entry (the latest step-1 before a step-2).
    fn best(&self, trail: &Trail<'_>) -> Option<Attempt> {
        let mut best: Option<Attempt> = None;
        let mut from = 0;
        while let Some(entry) = self.next_entry(trail, from) {
            let attempt = self.attempt(trail, entry);
            let rank = |attempt: &Attempt| {
                let last = attempt.reached.last().map_or(i64::MAX, |index| trail.events[*index].0);
                (std::cmp::Reverse(attempt.reached.len()), last)
            };
            if best.as_ref().is_none_or(|best| rank(&attempt) <= rank(best)) {
                best = Some(attempt);
            }
            from = entry + 1;
        }
        best
    }

    /// The first event at or after `from` that may start an attempt (inside the range).
    fn next_entry(&self, trail: &Trail<'_>, from: usize) -> Option<usize> {
        let starts = match self.order {
            FunnelOrder::AnyOrder => (1i64 << self.steps) - 1,
            _ => 1,
        };
        (from..trail.events.len())
            .find(|index| trail.events[*index].1 & IN_RANGE != 0 && trail.events[*index].1 & starts != 0)
    }

    fn attempt(&self, trail: &Trail<'_>, entry: usize) -> Attempt {
        match self.order {
            FunnelOrder::InOrder | FunnelOrder::Strict => self.in_order(trail, entry),
            FunnelOrder::AnyOrder => self.any_order(trail, entry),
        }
    }

    /// Whether `code` holds an exclusion that ends an attempt looking for `step`.
    fn excluded(&self, code: i64, step: usize) -> bool {
        self.exclusions.iter().enumerate().any(|(index, (after, before))| {
            code & (1i64 << (FIRST_EXCLUSION + index)) != 0 && *after < step && step <= *before
        })
    }

    /// Whether the event at `index` ends the attempt from `entry`: past the window, or in a
    /// later session when counting sessions.
    fn beyond(&self, trail: &Trail<'_>, entry: usize, index: usize) -> bool {
        trail.events[index].0 - trail.events[entry].0 > self.window_ms || trail.sessions[index] != trail.sessions[entry]
    }

    /// Whether the event at `index` may fill a step of the attempt from `entry`: it shares
    /// the entry's held values.
    fn holds(&self, trail: &Trail<'_>, entry: usize, index: usize) -> bool {
        !self.hold || trail.held(index) == trail.held(entry)
    }

    /// One attempt in order from `entry`: the steps reached, and where another attempt may
    /// start (after the last step, after the exclusion, or past the window).
    fn in_order(&self, trail: &Trail<'_>, entry: usize) -> Attempt {
        let events = trail.events;
        let mut reached = vec![entry];
        let mut position = entry;
        for step in 1..self.steps {
            let bit = 1i64 << step;
            let mut index = position + 1;
            loop {
                let Some((_, code)) = events.get(index) else { return Attempt { reached, resume: events.len() } };
                if self.beyond(trail, entry, index) {
                    return Attempt { reached, resume: index };
                }
                if code & bit != 0 && self.holds(trail, entry, index) {
                    break;
                }
                if self.excluded(*code, step) {
                    return Attempt { reached, resume: index + 1 };
                }
                if self.order == FunnelOrder::Strict {
                    // Strict: the very next event must be this step.
                    return Attempt { reached, resume: index };
                }
                index += 1;
            }
            reached.push(index);
            position = index;
        }
        Attempt { reached, resume: position + 1 }
    }

    /// Any order: from an event of any step inside the range, each later event in the
    /// window completes one step not yet done; step k counts attempts that completed k steps.
    fn any_order(&self, trail: &Trail<'_>, entry: usize) -> Attempt {
        let all = (1i64 << self.steps) - 1;
        let mut done = 0i64;
        let mut reached = Vec::new();
        for (index, (_, code)) in trail.events.iter().enumerate().skip(entry) {
            if self.beyond(trail, entry, index) {
                return Attempt { reached, resume: index };
            }
            let open = code & all & !done;
            if open != 0 && self.holds(trail, entry, index) {
                done |= open & open.wrapping_neg();
                reached.push(index);
                if done == all {
                    return Attempt { reached, resume: index + 1 };
                }
            }
        }
        Attempt { reached, resume: trail.events.len() }
    }
}

/// The distinct tuples of `values` over `frame`'s rows, as text (`None` where not set).
async fn distinct_tuples(frame: DataFrame, values: &[Expr]) -> Result<Vec<Vec<Option<String>>>, QueryError> {
    let columns: Vec<Expr> =
        values.iter().enumerate().map(|(index, value)| value.clone().alias(format!("v{index}"))).collect();
    let batches = frame
        .select(columns)
        .and_then(DataFrame::distinct)
        .map_err(engine_error)?
        .collect()
        .await
        .map_err(engine_error)?;
    let mut tuples = Vec::new();
    for batch in &batches {
        let mut columns = batch.columns().iter().map(crate::texts).collect::<Result<Vec<_>, _>>()?;
        for _ in 0..batch.num_rows() {
            tuples.push(columns.iter_mut().map(|column| column.next().flatten()).collect());
        }
    }
    // The same numbers whatever order the partitions answered in.
    tuples.sort_unstable();
    Ok(tuples)
}

/// Keeps the `USER_SAMPLE` lowest ids.
fn sample(set: &mut BTreeSet<String>, id: &str) {
    if set.len() < USER_SAMPLE {
        set.insert(id.to_string());
    } else if set.last().is_some_and(|last| id < last.as_str()) && !set.contains(id) {
        set.pop_last();
        set.insert(id.to_string());
    }
}

pub(crate) async fn run(
    engine: &QueryEngine,
    scope: &DataScope<ViewReports>,
    context: &SessionContext,
    zone: &jiff::tz::TimeZone,
    report: &Funnel,
    pick: &mut crate::selection::Pick,
) -> Result<(ResolvedRange, FunnelAnswer), QueryError> {
    let steps = report.steps.len();
    if !(2..=MAX_STEPS).contains(&steps) {
        return Err(QueryError::invalid(format!("a funnel has 2 to {MAX_STEPS} steps, not {steps}")));
    }
    if !(1..=MAX_WINDOW_SECONDS).contains(&report.window_seconds) {
        return Err(QueryError::invalid("the conversion window is from 1 second to 366 days"));
    }
    if report.exclusions.len() > MAX_EXCLUSIONS {
        return Err(QueryError::invalid(format!("a funnel has at most {MAX_EXCLUSIONS} exclusions")));
    }
    if !report.exclusions.is_empty() && report.order == FunnelOrder::AnyOrder {
        return Err(QueryError::invalid("exclusions need steps in order; choose in order or strict"));
    }
    for exclusion in &report.exclusions {
        if exclusion.after >= exclusion.before || exclusion.before >= steps {
            return Err(QueryError::invalid(format!(
                "an exclusion sits between two steps: after a step and before a later one (positions 0 to {}), \
                 not after {} and before {}",
                steps - 1,
                exclusion.after,
                exclusion.before
            )));
        }
    }
    if report.hold_constant.len() > MAX_HELD {
        return Err(QueryError::invalid(format!("a funnel holds at most {MAX_HELD} properties constant")));
    }
    if report.optimized_reentry && report.counting != FunnelCounting::Uniques {
        return Err(QueryError::invalid(
            "optimized re-entry picks each user's best attempt, so it counts uniques; choose uniques or leave it off",
        ));
    }
    if !(1..=MAX_SESSION_MINUTES).contains(&report.session_minutes) {
        return Err(QueryError::invalid("a session ends after 1 to 1440 minutes without an event"));
    }
    if let FunnelAttribution::Step(step) = report.attribution
        && step >= steps
    {
        return Err(QueryError::invalid(format!(
            "attribution names a step by its position, from 0 to {}, not {step}",
            steps - 1
        )));
    }
    if let Some(breakdown) = &report.breakdown {
        if breakdown.source == PropertySource::Cohort {
            return Err(QueryError::invalid("a funnel breakdown is by an event or profile property"));
        }
        if breakdown.source == PropertySource::Event && !(1..=MAX_SEGMENTS).contains(&breakdown.limit) {
            return Err(QueryError::invalid(format!("a funnel breakdown keeps between 1 and {MAX_SEGMENTS} segments")));
        }
    }
    let periods = crate::buckets::buckets(&report.range, report.unit, zone)?;
    let (from_ms, to_ms) = resolve(&report.range, zone)?;
    let range = resolved(&report.range, zone, from_ms, to_ms);
    let window_ms = report.window_seconds * 1000;
    // Later steps may fall after the range, within the window.
    let profiles = crate::Profiles::for_filters(
        report
            .filters
            .iter()
            .chain(report.steps.iter().flat_map(|step| &step.filters))
            .chain(report.exclusions.iter().flat_map(|exclusion| &exclusion.events.filters)),
        report.where_expression.as_deref(),
    )
    .or(match &report.breakdown {
        Some(breakdown) if breakdown.source == crate::model::PropertySource::User => crate::Profiles::Joined,
        _ => crate::Profiles::Without,
    });
    let mut segment_of: HashMap<String, String> = HashMap::new();
    let mut by_segment: HashMap<String, Vec<u64>> = HashMap::new();
    let (_events, frame) =
        engine.events(scope, context, from_ms, to_ms.saturating_add(window_ms + 1), profiles).await?;
    let mut counts = vec![0u64; steps];
    let mut from_previous = vec![(0f64, 0u64); steps];
    let mut from_start: Vec<Vec<f64>> = vec![Vec::new(); steps];
    let mut entered = vec![0u64; periods.starts.len()];
    let mut converted = vec![0u64; periods.starts.len()];
    let mut ttc = vec![0u64; TTC_EDGES.len()];
    let mut users: Vec<BTreeSet<String>> = vec![BTreeSet::new(); steps];
    let mut dropped: Vec<BTreeSet<String>> = vec![BTreeSet::new(); steps];
    if let Some(frame) = frame {
        let frame = crate::expression::filtered(frame, report.where_expression.as_deref())?;
        let mut code: Expr = lit(0i64);
        for (index, step) in report.steps.iter().enumerate() {
            let bit = when(filters::selects(step, &report.filters)?, lit(1i64 << index))
                .otherwise(lit(0i64))
                .map_err(engine_error)?;
            code = code + bit;
        }
        for (index, exclusion) in report.exclusions.iter().enumerate() {
            let bit =
                when(filters::selects(&exclusion.events, &report.filters)?, lit(1i64 << (FIRST_EXCLUSION + index)))
                    .otherwise(lit(0i64))
                    .map_err(engine_error)?;
            code = code + bit;
        }
        let in_range =
            when(ident("time_ms").lt(lit(to_ms)), lit(IN_RANGE)).otherwise(lit(0i64)).map_err(engine_error)?;
        // An event-property breakdown is attributed inside each attempt; a profile's is the user's.
        let attributed = report.breakdown.as_ref().filter(|breakdown| breakdown.source == PropertySource::Event);
        let values = if numbers_values(report) {
            let mut tuple: Vec<Expr> =
                report.hold_constant.iter().map(|name| crate::functions::property_text(name)).collect();
            if let Some(breakdown) = attributed {
                let property = breakdown.single_property().ok_or_else(|| {
                    QueryError::invalid("a funnel breakdown names one property (no expression or numeric ranges)")
                })?;
                tuple.push(crate::functions::property_text(property));
            }
            let (held, segment) = (report.hold_constant.len(), attributed.is_some());
            let values = if crate::cluster::is_remote(context) {
                // A cluster's processes share no lock: number the values the steps' events
                // hold in a first query, then send that numbering with the plan.
                let any_step = report.steps.iter().try_fold(lit(false), |any, step| {
                    filters::selects(step, &report.filters).map(|selects| any.or(selects))
                })?;
                let found = distinct_tuples(frame.clone().filter(any_step).map_err(engine_error)?, &tuple).await?;
                Interner::fixed(held, segment, found).map_err(engine_error)?
            } else {
                Interner::new(held, segment)
            };
            code = code + values.call(tuple) * lit(1i64 << VALUES_SHIFT);
            Some(values)
        } else {
            None
        };
        let sessions = report.counting == FunnelCounting::Sessions;
        let frame = if sessions {
            // Sessions: every event but the identity ones extends a session (§5).
            let named: Vec<&str> = report.steps.iter().map(|step| step.event.as_str()).collect();
            let identity: Vec<Expr> =
                IDENTITY_EVENTS.iter().filter(|name| !named.contains(name)).map(|name| lit(*name)).collect();
            if identity.is_empty() {
                frame
            } else {
                frame.filter(ident("name").in_list(identity, true)).map_err(engine_error)?
            }
        } else {
            frame
        };
        // Only strict order and sessions need the events between steps.
        let keep = (report.order != FunnelOrder::Strict && !sessions)
            .then(|| (ident("code") % lit(IN_RANGE)).not_eq(lit(0i64)));
        let exclusions = report.exclusions.iter().map(|exclusion| (exclusion.after, exclusion.before)).collect();
        let finish = Arc::new(Steps {
            steps,
            window_ms,
            order: report.order,
            counting: report.counting,
            exclusions,
            optimized: report.optimized_reentry,
            sessions: sessions.then(|| (report.session_minutes * 60_000, zone.clone())),
            values: values.clone(),
            hold: !report.hold_constant.is_empty(),
            attribution: attributed.map(|_| report.attribution),
        });
        if let Some(breakdown) = report.breakdown.as_ref().filter(|breakdown| breakdown.source != PropertySource::Event)
        {
            let entry = filters::selects(&report.steps[0], &report.filters)?.and(ident("time_ms").lt(lit(to_ms)));
            segment_of = crate::retention::user_segments(&frame, breakdown, entry).await?;
        }
        each_user(frame, code + in_range, keep, finish, |user, attempts| {
            let mut rest = attempts;
            while let [n, overall, segment, tail @ ..] = rest {
                let n = usize::try_from(*n).unwrap_or(0).min(tail.len());
                let (times, after) = tail.split_at(n);
                rest = after;
                let Some(&entry) = times.first() else { continue };
                let segment = match &values {
                    Some(values) if attributed.is_some() => Some(
                        values
                            .with(|lookup| lookup.segment(*segment).unwrap_or(crate::insights::NOT_SET).to_string())
                            .unwrap_or_else(|| crate::insights::NOT_SET.to_string()),
                    ),
                    _ => segment_of.get(user).cloned(),
                };
                if let Some(segment) = segment {
                    let counts = by_segment.entry(segment).or_insert_with(|| vec![0; steps]);
                    for count in counts.iter_mut().take(n) {
                        *count += 1;
                    }
                }
                if *overall == 0 {
                    continue;
                }
                pick.funnel(n, steps, user);
                for (step, time) in times.iter().enumerate().take(steps) {
                    counts[step] += 1;
                    sample(&mut users[step], user);
                    if step > 0 {
                        from_previous[step].0 += (time - times[step - 1]) as f64 / 1000.0;
                        from_previous[step].1 += 1;
                        from_start[step].push((time - entry) as f64 / 1000.0);
                    }
                }
                if n < steps {
                    sample(&mut dropped[n - 1], user);
                }
                if let Some(period) = periods.index(entry) {
                    entered[period] += 1;
                    converted[period] += u64::from(n == steps);
                }
                if n == steps
                    && let Some(&last) = times.last()
                {
                    let seconds = (last - entry) / 1000;
                    let bucket = TTC_EDGES.iter().rposition(|edge| seconds >= *edge).unwrap_or(0);
                    ttc[bucket] += 1;
                }
            }
        })
        .await?;
    }
    let starting = counts[0];
    let ratio = |part: u64, whole: u64| if whole == 0 { 0.0 } else { part as f64 / whole as f64 };
    let answer = FunnelAnswer {
        steps: report
            .steps
            .iter()
            .enumerate()
            .map(|(index, step)| {
                let times = &mut from_start[index];
                times.sort_by(f64::total_cmp);
                let (sum, timed) = from_previous[index];
                FunnelStep {
                    event: step.event.clone(),
                    count: counts[index],
                    step_conversion: if index == 0 {
                        if starting > 0 { 1.0 } else { 0.0 }
                    } else {
                        ratio(counts[index], counts[index - 1])
                    },
                    overall_conversion: ratio(counts[index], starting),
                    avg_time_from_previous: (timed > 0).then(|| sum / timed as f64),
                    avg_time_from_start: (!times.is_empty()).then(|| times.iter().sum::<f64>() / times.len() as f64),
                    median_time_from_start: median_of(times),
                    users: std::mem::take(&mut users[index]).into_iter().collect(),
                    dropped: std::mem::take(&mut dropped[index]).into_iter().collect(),
                }
            })
            .collect(),
        window_seconds: report.window_seconds,
        order: report.order,
        counting: report.counting,
        over_time: periods
            .labels
            .iter()
            .zip(entered.iter().zip(&converted))
            .map(|(bucket, (entered, converted))| FunnelPeriod {
                bucket: bucket.clone(),
                entered: *entered,
                converted: *converted,
            })
            .collect(),
        time_to_convert: TTC_EDGES
            .iter()
            .enumerate()
            .map(|(index, from)| TimeToConvert {
                from_seconds: *from,
                to_seconds: TTC_EDGES.get(index + 1).copied(),
                count: ttc[index],
            })
            .collect(),
        segments: segments_of(by_segment, report.breakdown.as_ref()),
    };
    Ok((range, answer))
}

/// The top segments by their first step's count (then by name), with conversions; the rest
/// summed as `$other` when the breakdown asks for it.
fn segments_of(
    by_segment: HashMap<String, Vec<u64>>,
    breakdown: Option<&crate::model::Breakdown>,
) -> Vec<FunnelSegment> {
    let Some(breakdown) = breakdown else { return Vec::new() };
    let segment = |segment: String, counts: Vec<u64>| {
        let first = counts.first().copied().unwrap_or(0);
        let last = counts.last().copied().unwrap_or(0);
        let overall_conversion = if first == 0 { 0.0 } else { last as f64 / first as f64 };
        FunnelSegment { segment, counts, overall_conversion }
    };
    let mut segments: Vec<FunnelSegment> = by_segment.into_iter().map(|(name, counts)| segment(name, counts)).collect();
    segments.sort_by(|a, b| b.counts.first().cmp(&a.counts.first()).then_with(|| a.segment.cmp(&b.segment)));
    let rest = segments.split_off(breakdown.limit.min(segments.len()));
    if breakdown.other && !rest.is_empty() {
        let mut counts = vec![0; rest[0].counts.len()];
        for other in &rest {
            for (sum, count) in counts.iter_mut().zip(&other.counts) {
                *sum += count;
            }
        }
        segments.push(segment(crate::insights::OTHER.to_string(), counts));
    }
    segments
}

/// The median of sorted values, interpolated between the two middle ones.
fn median_of(sorted: &[f64]) -> Option<f64> {
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2]),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn steps(order: FunnelOrder, window_ms: i64) -> Steps {
        Steps {
            steps: 3,
            window_ms,
            order,
            counting: FunnelCounting::Uniques,
            exclusions: Vec::new(),
            optimized: false,
            sessions: None,
            values: None,
            hold: false,
            attribution: None,
        }
    }

    fn at(hours_times_10: i64, code: i64) -> (i64, i64) {
        (hours_times_10 * HOUR / 10, code | IN_RANGE)
    }

    /// The steps each attempt reached.
    fn attempts(out: &[i64]) -> Vec<usize> {
        timed(out).iter().map(Vec::len).collect()
    }

    /// The times of the steps each attempt reached.
    fn timed(out: &[i64]) -> Vec<Vec<i64>> {
        let mut found = Vec::new();
        let mut rest = out;
        while let [n, _, _, tail @ ..] = rest {
            found.push(tail[..*n as usize].to_vec());
            rest = &tail[*n as usize..];
        }
        found
    }

    /// The steps the first attempt reached (0 without one).
    fn first(out: &[i64]) -> usize {
        attempts(out).first().copied().unwrap_or(0)
    }

    #[test]
    fn the_window_counts_from_the_first_step_one() {
        // A 1:00, A 1:30, B 1:45, C 2:15 with a 1 h window reaches B, not C (FA).
        let events = [at(10, 1), at(15, 1), (HOUR * 7 / 4, 2 | IN_RANGE), (HOUR * 9 / 4, 4 | IN_RANGE)];
        let out = steps(FunnelOrder::InOrder, HOUR).finish(&events);
        assert_eq!(first(&out), 2, "{out:?}");
        assert_eq!(timed(&out)[0][0], HOUR);
    }

    #[test]
    fn other_events_between_steps_break_only_strict_order() {
        let events = [at(10, 1), at(11, 0), at(12, 2), at(13, 4)];
        assert_eq!(first(&steps(FunnelOrder::InOrder, 10 * HOUR).finish(&events)), 3);
        assert_eq!(first(&steps(FunnelOrder::Strict, 10 * HOUR).finish(&events)), 1);
        assert_eq!(first(&steps(FunnelOrder::Strict, 10 * HOUR).finish(&[at(10, 1), at(12, 2), at(13, 4)])), 3);
    }

    #[test]
    fn one_event_never_fills_two_steps() {
        // Steps A, A, B: the second A must be a later event.
        let funnel = steps(FunnelOrder::InOrder, 10 * HOUR);
        assert_eq!(first(&funnel.finish(&[at(10, 3), at(12, 4)])), 1);
        assert_eq!(first(&funnel.finish(&[at(10, 3), at(11, 3), at(12, 4)])), 3);
    }

    #[test]
    fn the_entry_must_be_inside_the_range() {
        let funnel = steps(FunnelOrder::InOrder, 10 * HOUR);
        assert!(funnel.finish(&[(HOUR, 1), (2 * HOUR, 2 | IN_RANGE)]).is_empty());
    }

    #[test]
    fn same_millisecond_steps_count_in_step_order() {
        let funnel = steps(FunnelOrder::InOrder, HOUR);
        assert_eq!(first(&funnel.finish(&[(5, 2 | IN_RANGE), (5, 1 | IN_RANGE)])), 2);
    }

    #[test]
    fn any_order_counts_the_steps_done() {
        let funnel = steps(FunnelOrder::AnyOrder, 10 * HOUR);
        assert_eq!(first(&funnel.finish(&[at(10, 4), at(11, 1), at(12, 1)])), 2);
        assert_eq!(first(&funnel.finish(&[at(10, 4), at(11, 1), at(12, 2)])), 3);
    }

    #[test]
    fn an_exclusion_ends_the_attempt_and_totals_enter_again() {
        // A → B excluding A between them, with A A A B: enter at #1, drop at #2, enter again
        // at #3, convert at #4 (report-semantics.md §2).
        let exclusion = 1i64 << FIRST_EXCLUSION;
        let a = 1 | exclusion;
        let events = [at(10, a), at(11, a), at(12, a), at(13, 2)];
        let mut funnel = Steps {
            steps: 2,
            counting: FunnelCounting::Totals,
            exclusions: vec![(0, 1)],
            ..steps(FunnelOrder::InOrder, 10 * HOUR)
        };
        assert_eq!(attempts(&funnel.finish(&events)), [1, 2]);
        funnel.counting = FunnelCounting::Uniques;
        assert_eq!(attempts(&funnel.finish(&events)), [1], "uniques: the first attempt only");
    }

    #[test]
    fn totals_enter_again_after_a_conversion_or_past_the_window() {
        let mut funnel = steps(FunnelOrder::InOrder, HOUR);
        funnel.counting = FunnelCounting::Totals;
        // Converts (1:00 → 1:12 → 1:24); a step-1 at 1:30 enters again and times out; the
        // step-1 at 1:42 is inside that attempt's window, so it is no entry; 3:00 is.
        let events = [at(10, 1), at(12, 2), at(14, 4), at(15, 1), at(17, 1), at(30, 1), at(31, 2)];
        assert_eq!(attempts(&funnel.finish(&events)), [3, 1, 2]);
    }

    #[test]
    fn optimized_reentry_takes_the_latest_step_one_before_step_two() {
        // A A^ A^^ B C: the attempt from A^^ (report-semantics.md §2), so B comes 0.1 h after it.
        let mut funnel = steps(FunnelOrder::InOrder, 10 * HOUR);
        funnel.optimized = true;
        let out = funnel.finish(&[at(10, 1), at(11, 1), at(12, 1), at(13, 2), at(14, 4)]);
        assert_eq!(timed(&out), [vec![12 * HOUR / 10, 13 * HOUR / 10, 14 * HOUR / 10]]);
        // The first attempt fails (its window ends first), a later one converts: uniques
        // count the converted one.
        let mut funnel = steps(FunnelOrder::InOrder, HOUR);
        funnel.optimized = true;
        let out = funnel.finish(&[at(10, 1), at(30, 1), at(31, 2), at(32, 4)]);
        assert_eq!(attempts(&out), [3]);
        funnel.optimized = false;
        assert_eq!(attempts(&funnel.finish(&[at(10, 1), at(30, 1), at(31, 2), at(32, 4)])), [1]);
    }

    #[test]
    fn sessions_end_after_the_idle_time_and_at_midnight() {
        let zone = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let local = |hour: i8, minute: i8| {
            jiff::civil::date(2026, 3, 2)
                .at(hour, minute, 0, 0)
                .to_zoned(zone.clone())
                .unwrap()
                .timestamp()
                .as_millisecond()
        };
        let events = [
            (local(9, 0), 0),
            (local(9, 20), 0),
            (local(9, 51), 0),
            (local(23, 50), 0),
            (local(23, 50) + 20 * 60_000, 0),
        ];
        assert_eq!(sessions_of(&events, 30 * 60_000, &zone), [0, 0, 1, 2, 3], "idle 31 minutes, then midnight");
        let mut funnel = steps(FunnelOrder::InOrder, 10 * HOUR);
        funnel.counting = FunnelCounting::Sessions;
        funnel.sessions = Some((30 * 60_000, zone.clone()));
        // A session: A B C converts; the next: A then, after an idle hour, B C (a third
        // session without its own A): the second attempt stops at A.
        let code = |bits: i64| bits | IN_RANGE;
        let out = funnel.finish(&[
            (local(9, 0), code(1)),
            (local(9, 5), code(2)),
            (local(9, 10), code(4)),
            (local(12, 0), code(1)),
            (local(13, 0), code(2)),
            (local(13, 5), code(4)),
        ]);
        assert_eq!(attempts(&out), [3, 1]);
    }

    #[test]
    fn held_properties_must_match_the_entrys() {
        let values = Interner::new(1, false);
        let tuple = |value: &str| {
            let mut out = datafusion::arrow::array::Int64Builder::new();
            values.number_for_tests(vec![Some(value)], &mut out);
            out.finish().value(0) << VALUES_SHIFT
        };
        let (red, blue) = (tuple("red"), tuple("blue"));
        let mut funnel = steps(FunnelOrder::InOrder, 10 * HOUR);
        funnel.values = Some(values.clone());
        funnel.hold = true;
        // A(red) B(blue) B(red) C(blue) C(red): B and C must be red.
        let events = [at(10, 1 | red), at(11, 2 | blue), at(12, 2 | red), at(13, 4 | blue), at(14, 4 | red)];
        assert_eq!(timed(&funnel.finish(&events)), [vec![HOUR, 12 * HOUR / 10, 14 * HOUR / 10]]);
        funnel.hold = false;
        assert_eq!(timed(&funnel.finish(&events)), [vec![HOUR, 11 * HOUR / 10, 13 * HOUR / 10]]);
    }
}
