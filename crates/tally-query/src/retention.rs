//! Retention, first time in the range (report-semantics.md §3): a user is born at their
//! first birth event inside the range (the row is that moment's day, week or month in the
//! project's zone); bucket N holds returns in `[N·U, (N+1)·U)` after the birth (rolling:
//! U = 24 h, 7 days or 30 days); the birth event itself never counts as a return; `on`
//! counts users with a return in bucket N, `on_or_after` in bucket N or any later one.
//! Returns may fall after the range. The empty distinct_id is not a user.

use std::collections::HashMap;

use std::sync::Arc;

use datafusion::logical_expr::{Expr, lit, when};
use datafusion::prelude::{DataFrame, SessionContext, ident};
use serde::Serialize;
use tally_iam::authz::DataScope;
use tally_types::permissions::project::ViewReports;

use crate::buckets::buckets;
use crate::functions::{Finish, each_user};
use crate::model::{Retention, RetentionCriterion, RetentionKind};
use crate::{QueryEngine, QueryError, ResolvedRange, engine_error, filters, resolved};

/// Most buckets after bucket 0.
pub const MAX_BUCKETS: usize = 62;
/// The furthest a custom bracket may end, in units (two years of days).
const MAX_BRACKET_END: u32 = 732;

const BORN: i64 = 1;
const RETURNED: i64 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RetentionAnswer {
    pub rows: Vec<RetentionRow>,
    /// All cohorts together: users born, and returning users per bucket.
    pub total: RetentionRow,
    /// Mixpanel's average row: per bucket, over the cohorts whose bucket has ended and
    /// that have users (`None` when none has).
    pub average: Vec<Option<RetentionAverage>>,
    pub criterion: RetentionCriterion,
    /// With custom brackets: each bucket's end, in units after the birth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brackets: Option<Vec<u32>>,
    /// With a breakdown: the same table per segment, largest first (users born).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<RetentionSegment>,
}

/// One segment's retention table.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RetentionSegment {
    pub segment: String,
    pub rows: Vec<RetentionRow>,
    pub total: RetentionRow,
    pub average: Vec<Option<RetentionAverage>>,
}

/// One bucket of the average row (report-semantics.md §3): complete cohorts only, weighted
/// by cohort size `P_i`: `rate = Σ(C_i·P_i) / Σ(P_i²)`, `count = Σ(C_i·P_i) / ΣP_i`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RetentionAverage {
    pub rate: f64,
    pub count: f64,
    /// How many cohorts it averages.
    pub cohorts: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RetentionRow {
    /// The cohort's local start (`YYYY-MM-DD`); "all" for the total.
    pub cohort: String,
    /// Users born in the cohort.
    pub first: u64,
    /// Users counted in bucket 0, 1, … (`buckets + 1` entries).
    pub counts: Vec<u64>,
}

/// Each user's births (one, or one per cohort when recurring) and the buckets of the
/// returns after each, as a bit set: `[born_at, seen, born_at, seen, …]`.
#[derive(Debug, Serialize, serde::Deserialize)]
struct Returns {
    unit_ms: i64,
    /// Each bucket's end, in units after the birth (1, 2, 3, … without custom brackets).
    ends: Vec<i64>,
    /// With recurring retention, the cohorts' starts: the first birth in each starts a clock.
    cohorts: Option<Vec<i64>>,
}

pub(crate) const FINISH: &str = "tally_retention";

/// A retention's finish made again from [`Finish::state`].
pub(crate) fn finish_from(state: serde_json::Value) -> Result<Arc<dyn Finish>, serde_json::Error> {
    serde_json::from_value::<Returns>(state).map(|returns| Arc::new(returns) as Arc<dyn Finish>)
}

impl Finish for Returns {
    fn name(&self) -> &'static str {
        FINISH
    }

    fn state(&self) -> datafusion::common::Result<serde_json::Value> {
        serde_json::to_value(self).map_err(|error| datafusion::common::DataFusionError::Internal(error.to_string()))
    }

    fn finish(&self, events: &[(i64, i64)]) -> Vec<i64> {
        let Some(first) = events.iter().position(|(_, code)| code & BORN != 0) else { return Vec::new() };
        let Some(starts) = &self.cohorts else { return self.returns_after(events, first) };
        let cohort_of = |time: i64| starts.partition_point(|start| *start <= time);
        let mut out = Vec::new();
        let mut last_cohort = None;
        for (index, (time, code)) in events.iter().enumerate().skip(first) {
            if code & BORN != 0 && last_cohort != Some(cohort_of(*time)) {
                last_cohort = Some(cohort_of(*time));
                out.extend(self.returns_after(events, index));
            }
        }
        out
    }
}

impl Returns {
    /// The birth at `birth` and the buckets of the returns after it.
    fn returns_after(&self, events: &[(i64, i64)], birth: usize) -> Vec<i64> {
        let born_at = events[birth].0;
        let mut seen = 0i64;
        for (index, (time, code)) in events.iter().enumerate() {
            if index == birth || code & RETURNED == 0 || *time < born_at {
                continue;
            }
            let units = (time - born_at) / self.unit_ms;
            let bucket = self.ends.partition_point(|end| *end <= units);
            if bucket < self.ends.len() {
                seen |= 1 << bucket;
            }
        }
        vec![born_at, seen]
    }
}

pub(crate) async fn run(
    engine: &QueryEngine,
    scope: &DataScope<ViewReports>,
    context: &SessionContext,
    zone: &jiff::tz::TimeZone,
    report: &Retention,
    pick: &mut crate::selection::Pick,
) -> Result<(ResolvedRange, RetentionAnswer), QueryError> {
    let ends = bucket_ends(report)?;
    let cohorts = buckets(&report.range, report.unit.cohort_unit(), zone)?;
    let range = resolved(&report.range, zone, cohorts.from_ms, cohorts.to_ms);
    let unit_ms = report.unit.millis();
    let slots = ends.len();
    let horizon = unit_ms.saturating_mul(ends.last().copied().unwrap_or(1));
    let profiles = crate::Profiles::for_filters(
        report.born.filters.iter().chain(&report.returned.filters),
        report.where_expression.as_deref(),
    )
    .or(crate::Profiles::for_filters([], report.born_where.as_deref()))
    .or(match &report.breakdown {
        Some(breakdown) if breakdown.source == crate::model::PropertySource::User => crate::Profiles::Joined,
        _ => crate::Profiles::Without,
    });
    let (_events, frame) =
        engine.events(scope, context, cohorts.from_ms, cohorts.to_ms.saturating_add(horizon), profiles).await?;
    let mut rows = empty_rows(&cohorts.labels, slots);
    let mut segment_of: HashMap<String, String> = HashMap::new();
    let mut by_segment: HashMap<String, Vec<RetentionRow>> = HashMap::new();
    if let Some(frame) = frame {
        let frame = crate::expression::filtered(frame, report.where_expression.as_deref())?;
        let mut birth = filters::selects(&report.born, &[])?.and(ident("time_ms").lt(lit(cohorts.to_ms)));
        if let Some(text) = &report.born_where {
            birth = birth.and(crate::expression::condition(text)?);
        }
        let birth_condition = birth.clone();
        let born = when(birth, lit(BORN)).otherwise(lit(0i64)).map_err(engine_error)?;
        let returned =
            when(filters::selects(&report.returned, &[])?, lit(RETURNED)).otherwise(lit(0i64)).map_err(engine_error)?;
        let recurring = (report.kind == RetentionKind::Recurring).then(|| cohorts.starts.clone());
        let finish = Arc::new(Returns { unit_ms, ends: ends.clone(), cohorts: recurring });
        if let Some(breakdown) = &report.breakdown {
            segment_of = user_segments(&frame, breakdown, birth_condition.clone()).await?;
        }
        each_user(frame, born + returned, Some(ident("code").not_eq(lit(0i64))), finish, |user, values| {
            for pair in values.chunks_exact(2) {
                let [born_at, seen] = pair else { continue };
                let Some(index) = cohorts.index(*born_at) else { continue };
                let Some(cohort) = rows.get_mut(index) else { continue };
                let segment_rows = segment_of.get(user).map(|segment| {
                    by_segment.entry(segment.clone()).or_insert_with(|| empty_rows(&cohorts.labels, slots))
                });
                let mut segment_row = segment_rows.and_then(|rows| rows.get_mut(index));
                cohort.first += 1;
                if let Some(row) = segment_row.as_deref_mut() {
                    row.first += 1;
                }
                for (bucket, count) in cohort.counts.iter_mut().enumerate() {
                    let counted = match report.criterion {
                        RetentionCriterion::On => seen & (1 << bucket) != 0,
                        RetentionCriterion::OnOrAfter => (seen >> bucket) != 0,
                    };
                    if counted {
                        *count += 1;
                        if let Some(row) = segment_row.as_deref_mut() {
                            row.counts[bucket] += 1;
                        }
                        pick.retention(index, bucket, user);
                    }
                }
            }
        })
        .await?;
    }
    // A cohort's bucket N has ended once its last possible return has: the cohort's end
    // (the next cohort's start) plus N + 1 units.
    let now_ms = engine.clock.now().as_millisecond();
    let cohort_ends: Vec<i64> =
        (0..rows.len()).map(|index| cohorts.starts.get(index + 1).copied().unwrap_or(cohorts.to_ms)).collect();
    let table = |rows: &[RetentionRow]| (total_of(rows, slots), averages(rows, &cohort_ends, &ends, unit_ms, now_ms));
    let (total, average) = table(&rows);
    let mut segments: Vec<RetentionSegment> = by_segment
        .into_iter()
        .map(|(segment, rows)| {
            let (total, average) = table(&rows);
            RetentionSegment { segment, rows, total, average }
        })
        .collect();
    segments.sort_by(|a, b| b.total.first.cmp(&a.total.first).then_with(|| a.segment.cmp(&b.segment)));
    if let Some(breakdown) = &report.breakdown {
        segments.truncate(breakdown.limit);
    }
    let brackets = report.brackets.clone();
    Ok((range, RetentionAnswer { rows, total, average, criterion: report.criterion, brackets, segments }))
}

fn empty_rows(labels: &[String], slots: usize) -> Vec<RetentionRow> {
    labels.iter().map(|label| RetentionRow { cohort: label.clone(), first: 0, counts: vec![0; slots] }).collect()
}

/// All cohorts together.
fn total_of(rows: &[RetentionRow], slots: usize) -> RetentionRow {
    let mut total = RetentionRow { cohort: "all".into(), first: 0, counts: vec![0; slots] };
    for row in rows {
        total.first += row.first;
        for (sum, count) in total.counts.iter_mut().zip(&row.counts) {
            *sum += count;
        }
    }
    total
}

/// Each bucket's end in units after the birth: the custom brackets, or one unit per bucket.
fn bucket_ends(report: &Retention) -> Result<Vec<i64>, QueryError> {
    let Some(brackets) = &report.brackets else {
        if report.buckets > MAX_BUCKETS {
            return Err(QueryError::invalid(format!("retention shows at most {MAX_BUCKETS} buckets after bucket 0")));
        }
        return Ok((1..=report.buckets as i64 + 1).collect());
    };
    if brackets.is_empty() || brackets.len() > MAX_BUCKETS + 1 {
        return Err(QueryError::invalid(format!("custom brackets hold 1 to {} bucket ends", MAX_BUCKETS + 1)));
    }
    if brackets[0] == 0 || brackets.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err(QueryError::invalid(
            "custom brackets are each bucket's end in units after the birth, ascending from 1 (for example [1, 3, 7, 14])",
        ));
    }
    if brackets.last().is_some_and(|last| *last > MAX_BRACKET_END) {
        return Err(QueryError::invalid(format!(
            "the last bracket ends at most {MAX_BRACKET_END} units after the birth"
        )));
    }
    Ok(brackets.iter().map(|end| i64::from(*end)).collect())
}

/// Mixpanel's average row over the cohorts whose bucket has ended (`cohort_ends`: each
/// cohort's end; `ends`: each bucket's end in units).
fn averages(
    rows: &[RetentionRow],
    cohort_ends: &[i64],
    ends: &[i64],
    unit_ms: i64,
    now_ms: i64,
) -> Vec<Option<RetentionAverage>> {
    (0..ends.len())
        .map(|bucket| {
            let span = unit_ms.saturating_mul(ends[bucket]);
            let complete =
                rows.iter().zip(cohort_ends).filter(|(row, end)| row.first > 0 && end.saturating_add(span) <= now_ms);
            let (mut weighted, mut squares, mut sizes, mut n) = (0f64, 0f64, 0f64, 0u64);
            for (row, _) in complete {
                let size = row.first as f64;
                weighted += row.counts[bucket] as f64 * size;
                squares += size * size;
                sizes += size;
                n += 1;
            }
            (n > 0).then(|| RetentionAverage { rate: weighted / squares, count: weighted / sizes, cohorts: n })
        })
        .collect()
}

/// Each user's segment: the breakdown property on their first birth event (or their
/// profile's), "(not set)" when it has none.
pub(crate) async fn user_segments(
    frame: &DataFrame,
    breakdown: &crate::model::Breakdown,
    birth: Expr,
) -> Result<HashMap<String, String>, QueryError> {
    let Some(property) = breakdown.single_property() else {
        return Err(QueryError::invalid("a retention breakdown names one property (no expression or numeric ranges)"));
    };
    if breakdown.source == crate::model::PropertySource::Cohort {
        return Err(QueryError::invalid("a retention breakdown is by an event or profile property"));
    }
    if breakdown.limit == 0 || breakdown.limit > 100 {
        return Err(QueryError::invalid("a retention breakdown keeps between 1 and 100 segments"));
    }
    let value = datafusion::functions::expr_fn::coalesce(vec![
        crate::functions::sourced_text(breakdown.source, property),
        lit(crate::insights::NOT_SET),
    ]);
    let first = datafusion::functions_aggregate::expr_fn::first_value(value, vec![ident("time_ms").sort(true, false)])
        .alias("segment");
    let batches = frame
        .clone()
        .filter(birth)
        .and_then(|frame| frame.aggregate(vec![ident("distinct_id")], vec![first]))
        .map_err(engine_error)?
        .collect()
        .await
        .map_err(engine_error)?;
    let mut found = HashMap::new();
    for batch in batches {
        for (user, segment) in crate::texts(batch.column(0))?.zip(crate::texts(batch.column(1))?) {
            if let (Some(user), Some(segment)) = (user, segment) {
                found.insert(user, segment);
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn the_birth_event_is_not_a_return_but_another_at_the_same_time_is() {
        let returns = Returns { unit_ms: DAY, ends: vec![1, 2, 3, 4], cohorts: None };
        assert_eq!(returns.finish(&[(10, BORN | RETURNED)]), vec![10, 0]);
        assert_eq!(returns.finish(&[(10, BORN | RETURNED), (10, RETURNED)]), vec![10, 1]);
    }

    #[test]
    fn rolling_buckets_count_from_the_birth() {
        let returns = Returns { unit_ms: DAY, ends: vec![1, 2, 3, 4], cohorts: None };
        let born = DAY / 2;
        let seen = returns.finish(&[
            (born, BORN),
            (born + DAY - 1, RETURNED),
            (born + 3 * DAY, RETURNED),
            (born + 9 * DAY, RETURNED),
        ]);
        assert_eq!(seen, vec![born, 0b1001]);
        assert!(returns.finish(&[(born, RETURNED)]).is_empty(), "no birth, no row");
    }

    #[test]
    fn recurring_births_start_a_clock_in_each_cohort() {
        // Births on days 0 (twice) and 2, a return on day 3: the day-0 row starts at its first
        // birth (the second is a return to it), the day-2 row at its own.
        let returns = Returns { unit_ms: DAY, ends: vec![1, 2, 3, 4], cohorts: Some(vec![0, DAY, 2 * DAY, 3 * DAY]) };
        let events =
            [(10, BORN | RETURNED), (20, BORN | RETURNED), (2 * DAY + 5, BORN | RETURNED), (3 * DAY, RETURNED)];
        // Day-0 row from 10 ms: returns at 20 ms (bucket 0), 2 d + 5 ms (bucket 1), 3 d
        // (bucket 2); day-2 row from 2 d + 5 ms: the return at 3 d is in its bucket 0.
        assert_eq!(returns.finish(&events), vec![10, 0b111, 2 * DAY + 5, 0b1]);
    }

    #[test]
    fn custom_brackets_join_units() {
        // <1 day, 1-3 days, 3-7 days: returns on days 2 and 6 fill the last two; day 7 is past them.
        let returns = Returns { unit_ms: DAY, ends: vec![1, 3, 7], cohorts: None };
        assert_eq!(returns.finish(&[(0, BORN), (2 * DAY, RETURNED), (6 * DAY, RETURNED)]), vec![0, 0b110]);
        assert_eq!(returns.finish(&[(0, BORN), (7 * DAY, RETURNED), (DAY - 1, RETURNED)]), vec![0, 0b1]);
    }
}
