//! Insights: each metric per time bucket (and per segment of a breakdown), and over the
//! whole range. Rules (report-semantics.md §1): total events count every matching event;
//! unique users are distinct canonical ids with at least one matching event in the bucket,
//! the empty id left out; the range value is computed once over the whole range (a user
//! active on three days counts once); per-user aggregates aggregate each user's count over
//! the users who did the event; property aggregates skip values that are not numbers;
//! percentiles are exact with linear interpolation.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, Float64Array, Int32Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::functions_aggregate::expr_fn::{array_agg, avg, count, count_distinct, max, median, min, sum};
use datafusion::logical_expr::{Expr, GroupingSet, cast, lit, when};
use datafusion::prelude::{DataFrame, SessionContext, ident};
use serde::Serialize;
use tally_iam::authz::DataScope;
use tally_types::permissions::project::ViewReports;

use crate::buckets::buckets;
use crate::formula::Formula;
use crate::functions::{Bucket, Quantile, property_number, property_text};
use crate::model::{DateRange, Insights, Measure, Metric, PerUserAggregate, PropertyAggregate, SeriesView};
use crate::{QueryEngine, QueryError, ResolvedRange, engine_error, filters, resolved};

/// The segment of events whose breakdown property is not set.
pub const NOT_SET: &str = "(not set)";
/// The segments beyond a breakdown's limit, together.
pub const OTHER: &str = "$other";
/// Most segments a breakdown keeps (Mixpanel's Query API allows 10,000).
pub const MAX_SEGMENTS: usize = 10_000;
/// Most values in one answer (buckets × segments × metrics).
pub const MAX_CELLS: usize = 2_000_000;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct InsightsAnswer {
    /// Each bucket's label (its local start), in order.
    pub buckets: Vec<String>,
    /// The metrics' series, then the formulas'.
    pub series: Vec<Series>,
    /// With `compare`: the same report over the period just before.
    pub previous: Option<ComparedPeriod>,
}

/// The period an Insights report is compared with: as many days, just before its range.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ComparedPeriod {
    pub from_date: String,
    pub to_date: String,
    pub buckets: Vec<String>,
    pub series: Vec<Series>,
}

/// One metric (in one segment).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Series {
    /// The metric's position in the report (0 = A); for a formula's series, the first
    /// metric it reads.
    pub metric: usize,
    /// The formula's position in the report, for a formula's series.
    pub formula: Option<usize>,
    pub label: String,
    /// The breakdown's segment; `None` without a breakdown.
    pub segment: Option<String>,
    /// One value per bucket (`null` where an average has no users).
    pub values: Vec<Option<f64>>,
    /// The value over the whole range (computed once, not summed).
    pub total: Option<f64>,
}

const BUCKET: &str = "tally_bucket";
const SEGMENT: &str = "tally_segment";
/// The column holding one element of a list property, an event's row per element.
const ELEMENT: &str = "tally_element";
const USER: &str = "tally_user";
const VALUE: &str = "tally_value";
const COUNT: &str = "tally_count";
const LIST: &str = "tally_list";

pub(crate) async fn run(
    engine: &QueryEngine,
    scope: &DataScope<ViewReports>,
    context: &SessionContext,
    zone: &jiff::tz::TimeZone,
    report: &Insights,
) -> Result<(ResolvedRange, InsightsAnswer), QueryError> {
    let formulas = report
        .formulas
        .iter()
        .map(|formula| Formula::parse(&formula.expression, report.metrics.len()))
        .collect::<Result<Vec<_>, _>>()?;
    if formulas.len() > 26 {
        return Err(QueryError::invalid("an Insights report holds at most 26 formulas"));
    }
    if let SeriesView::Rolling { window } = report.view
        && !(1..=MAX_ROLLING_WINDOW).contains(&window)
    {
        return Err(QueryError::invalid(format!("a rolling window is from 1 to {MAX_ROLLING_WINDOW} buckets")));
    }
    let (range, mut answer) = run_once(engine, scope, context, zone, report).await?;
    finish(report, &formulas, &mut answer.series);
    if report.compare {
        let previous = previous_period(&report.range)?;
        let earlier = Insights { range: previous.clone(), compare: false, ..report.clone() };
        let (_, mut before) = run_once(engine, scope, context, zone, &earlier).await?;
        finish(report, &formulas, &mut before.series);
        answer.previous = Some(ComparedPeriod {
            from_date: previous.from_date.to_string(),
            to_date: previous.to_date.to_string(),
            buckets: before.buckets,
            series: before.series,
        });
    }
    Ok((range, answer))
}

/// Longest rolling window, in buckets.
pub const MAX_ROLLING_WINDOW: usize = 366;

/// The days just before `range`, as many as it has.
fn previous_period(range: &DateRange) -> Result<DateRange, QueryError> {
    let out_of_range = |_| QueryError::invalid("the period before this range is out of the calendar's range");
    let days = range.to_date.since(range.from_date).map_err(out_of_range)?.get_days();
    let to_date = range.from_date.yesterday().map_err(out_of_range)?;
    let from_date = to_date.checked_sub(jiff::Span::new().days(days)).map_err(out_of_range)?;
    Ok(DateRange { from_date, to_date })
}

/// Adds the formulas' series (per segment, from the metrics' values; a segment a metric
/// has no series for reads as that metric's empty value), then applies the view to every
/// series' buckets.
fn finish(report: &Insights, formulas: &[Formula], series: &mut Vec<Series>) {
    let n_buckets = series.first().map_or(0, |first| first.values.len());
    let mut added = Vec::new();
    for (position, (formula, spec)) in formulas.iter().zip(&report.formulas).enumerate() {
        let reads = formula.metrics();
        let mut segments: Vec<Option<String>> = Vec::new();
        for found in series.iter().filter(|found| reads.is_empty() || reads.contains(&found.metric)) {
            if !segments.contains(&found.segment) {
                segments.push(found.segment.clone());
            }
        }
        if segments.is_empty() {
            segments.push(None);
        }
        for segment in segments {
            let of = |metric: usize| series.iter().find(|found| found.metric == metric && found.segment == segment);
            let empty = |metric: usize| report.metrics.get(metric).and_then(|metric| empty_value(&metric.measure));
            let at = |bucket: Option<usize>| {
                formula.evaluate(&|metric| match (of(metric), bucket) {
                    (Some(found), Some(bucket)) => found.values.get(bucket).copied().flatten(),
                    (Some(found), None) => found.total,
                    (None, _) => empty(metric),
                })
            };
            added.push(Series {
                metric: reads.first().copied().unwrap_or(0),
                formula: Some(position),
                label: spec.label.clone().unwrap_or_else(|| spec.expression.trim().to_string()),
                values: (0..n_buckets).map(|bucket| at(Some(bucket))).collect(),
                total: at(None),
                segment,
            });
        }
    }
    series.extend(added);
    for one in series.iter_mut() {
        one.values = viewed(&one.values, report.view);
    }
}

/// A series' bucket values as `view` shows them.
fn viewed(values: &[Option<f64>], view: SeriesView) -> Vec<Option<f64>> {
    match view {
        SeriesView::Plain => values.to_vec(),
        SeriesView::Cumulative => {
            let mut sum: Option<f64> = None;
            values
                .iter()
                .map(|value| {
                    if let Some(value) = value {
                        sum = Some(sum.unwrap_or(0.0) + value);
                    }
                    sum
                })
                .collect()
        }
        SeriesView::Rolling { window } => (0..values.len())
            .map(|end| {
                let start = (end + 1).saturating_sub(window);
                let present: Vec<f64> = values[start..=end].iter().flatten().copied().collect();
                (!present.is_empty()).then(|| present.iter().sum::<f64>() / present.len() as f64)
            })
            .collect(),
    }
}

async fn run_once(
    engine: &QueryEngine,
    scope: &DataScope<ViewReports>,
    context: &SessionContext,
    zone: &jiff::tz::TimeZone,
    report: &Insights,
) -> Result<(ResolvedRange, InsightsAnswer), QueryError> {
    if report.metrics.is_empty() {
        return Err(QueryError::invalid("an Insights report needs at least one metric"));
    }
    if report.metrics.len() > 40 {
        return Err(QueryError::invalid("an Insights report holds at most 40 metrics"));
    }
    let buckets = buckets(&report.range, report.unit, zone)?;
    let range = resolved(&report.range, zone, buckets.from_ms, buckets.to_ms);
    // Active users look back up to `days - 1` days before the first bucket's last day.
    let look_back = report
        .metrics
        .iter()
        .filter_map(|metric| match metric.measure {
            Measure::Active { days } => Some(days),
            _ => None,
        })
        .max();
    if look_back.is_some_and(|days| !(1..=MAX_ACTIVE_DAYS).contains(&days)) {
        return Err(QueryError::invalid(format!("active users look back 1 to {MAX_ACTIVE_DAYS} days")));
    }
    let window = match look_back {
        Some(days) => Some(ActiveWindows::new(&buckets, zone, days)?),
        None => None,
    };
    let read_from = window.as_ref().map_or(buckets.from_ms, |window| window.day_starts[0].min(buckets.from_ms));
    let profiles = crate::Profiles::for_filters(
        report.filters.iter().chain(report.metrics.iter().flat_map(|metric| &metric.events.filters)),
        report.where_expression.as_deref(),
    )
    .or(match &report.breakdown {
        Some(breakdown) if breakdown.property.is_some() && breakdown.source == crate::model::PropertySource::User => {
            crate::Profiles::Joined
        }
        Some(breakdown) => crate::Profiles::for_filters([], breakdown.expression.as_deref()),
        None => crate::Profiles::Without,
    });
    let (_events, frame) = engine.events(scope, context, read_from, buckets.to_ms, profiles).await?;
    let all_days = frame.clone();
    let frame = match frame {
        Some(frame) if read_from < buckets.from_ms => {
            Some(frame.filter(ident("time_ms").gt_eq(lit(buckets.from_ms))).map_err(engine_error)?)
        }
        other => other,
    };
    let mut answer = InsightsAnswer { buckets: buckets.labels.clone(), series: Vec::new(), previous: None };
    let Some(mut frame) = frame else {
        for (index, metric) in report.metrics.iter().enumerate() {
            answer.series.push(Series {
                metric: index,
                formula: None,
                label: label(metric),
                segment: None,
                values: vec![empty_value(&metric.measure); buckets.starts.len()],
                total: empty_value(&metric.measure),
            });
        }
        return Ok((range, answer));
    };
    frame = crate::expression::filtered(frame, report.where_expression.as_deref())?;
    let bucket = Bucket::expr(buckets.starts.clone(), buckets.to_ms, ident("time_ms"));

    // A breakdown keeps the top segments by the first metric over the range; the rest
    // become one `$other` segment, computed as a segment of its own (not a sum of values).
    let segment = match &report.breakdown {
        None => None,
        Some(breakdown) => {
            if breakdown.limit == 0 || breakdown.limit > MAX_SEGMENTS {
                return Err(QueryError::invalid(format!("a breakdown keeps between 1 and {MAX_SEGMENTS} segments")));
            }
            let cells = buckets.starts.len().saturating_mul(breakdown.limit + 1).saturating_mul(report.metrics.len());
            if cells > MAX_CELLS {
                return Err(QueryError::invalid(format!(
                    "the answer would hold {cells} values (buckets × segments × metrics), more than {MAX_CELLS}; \
                     choose a larger unit, fewer segments or fewer metrics"
                )));
            }
            let first = &report.metrics[0];
            let raw = match (&breakdown.property, &breakdown.expression, &breakdown.bins) {
                // A list property: the event counts once under each of its elements.
                (Some(property), None, None)
                    if breakdown.source == crate::model::PropertySource::Event
                        && engine.events.list_properties(scope).contains(property) =>
                {
                    let items = crate::functions::elements(crate::functions::sourced_text(breakdown.source, property));
                    frame = frame
                        .with_column(ELEMENT, items)
                        .and_then(|frame| frame.unnest_columns(&[ELEMENT]))
                        .map_err(engine_error)?;
                    datafusion::functions::expr_fn::coalesce(vec![ident(ELEMENT), lit(NOT_SET)])
                }
                (Some(property), None, None) => datafusion::functions::expr_fn::coalesce(vec![
                    crate::functions::sourced_text(breakdown.source, property),
                    lit(NOT_SET),
                ]),
                (None, Some(expression), None) => {
                    datafusion::functions::expr_fn::coalesce(vec![crate::expression::text(expression)?, lit(NOT_SET)])
                }
                (Some(property), None, Some(bins)) => {
                    let value = crate::functions::sourced_number(breakdown.source, property);
                    let selected = filters::selects(&first.events, &report.filters)?;
                    crate::bins::segment(&frame, selected, value, bins).await?
                }
                (None, Some(expression), Some(bins)) => {
                    let value = crate::expression::number(expression)?;
                    let selected = filters::selects(&first.events, &report.filters)?;
                    crate::bins::segment(&frame, selected, value, bins).await?
                }
                _ => return Err(QueryError::invalid("a breakdown names either a property or an expression")),
            };
            // The top segments by value, ranked in the plan (a breakdown by an id property
            // has as many segments as events): one more than kept says whether others exist.
            let ranked = measured(&frame, first, &report.filters, lit(0i32), raw.clone(), false)?
                .sort(vec![ident(VALUE).sort(false, false), ident(SEGMENT).sort(true, false)])
                .and_then(|frame| frame.limit(0, Some(breakdown.limit + 1)))
                .map_err(engine_error)?;
            let totals = collect(ranked).await?;
            let mut ranking: Vec<(String, f64)> =
                totals.into_iter().map(|(_, segment, value)| (segment, value.unwrap_or(0.0))).collect();
            ranking.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            if ranking.len() <= breakdown.limit {
                Some(raw)
            } else if !breakdown.other {
                let kept: Vec<Expr> =
                    ranking.iter().take(breakdown.limit).map(|(segment, _)| lit(segment.as_str())).collect();
                frame = frame.filter(raw.clone().in_list(kept, false)).map_err(engine_error)?;
                Some(raw)
            } else {
                let kept: Vec<Expr> =
                    ranking.iter().take(breakdown.limit).map(|(segment, _)| lit(segment.as_str())).collect();
                Some(when(raw.clone().in_list(kept, false), raw.clone()).otherwise(lit(OTHER)).map_err(engine_error)?)
            }
        }
    };
    for (index, metric) in report.metrics.iter().enumerate() {
        let segment_expr = segment.clone().unwrap_or_else(|| lit(""));
        // One scan: each bucket's value and the range's (computed, never summed) together.
        let plan = match (&metric.measure, &window, &all_days) {
            (Measure::Active { days }, Some(window), Some(all_days)) => {
                let filtered = crate::expression::filtered(all_days.clone(), report.where_expression.as_deref())?;
                window.plan(context, &filtered, metric, &report.filters, segment_expr, *days)?
            }
            _ => measured(&frame, metric, &report.filters, bucket.clone(), segment_expr, true)?,
        };
        let rows = collect(plan).await?;
        let mut by_segment: HashMap<String, Series> = HashMap::new();
        for (bucket, name, value) in &rows {
            let Some(bucket) = bucket else { continue };
            let series = by_segment.entry(name.clone()).or_insert_with(|| Series {
                metric: index,
                formula: None,
                label: label(metric),
                segment: segment.is_some().then(|| name.clone()),
                values: vec![empty_value(&metric.measure); buckets.starts.len()],
                total: empty_value(&metric.measure),
            });
            if let Some(slot) = usize::try_from(*bucket).ok().and_then(|bucket| series.values.get_mut(bucket)) {
                *slot = *value;
            }
        }
        for (bucket, name, value) in &rows {
            if bucket.is_none()
                && let Some(series) = by_segment.get_mut(name)
            {
                series.total = *value;
            }
        }
        if let Measure::Active { .. } = metric.measure {
            for series in by_segment.values_mut() {
                series.total = series.values.last().copied().flatten();
            }
        }
        if by_segment.is_empty() && segment.is_none() {
            by_segment.insert(
                String::new(),
                Series {
                    metric: index,
                    formula: None,
                    label: label(metric),
                    segment: None,
                    values: vec![empty_value(&metric.measure); buckets.starts.len()],
                    total: empty_value(&metric.measure),
                },
            );
        }
        let mut series: Vec<Series> = by_segment.into_values().collect();
        // Largest segments first, `$other` last.
        series.sort_by(|a, b| {
            let other = |series: &Series| series.segment.as_deref() == Some(OTHER);
            other(a)
                .cmp(&other(b))
                .then_with(|| b.total.unwrap_or(0.0).total_cmp(&a.total.unwrap_or(0.0)))
                .then_with(|| a.segment.cmp(&b.segment))
        });
        answer.series.extend(series);
    }
    Ok((range, answer))
}

/// Most days active users look back.
pub const MAX_ACTIVE_DAYS: u32 = 90;

const DAY: &str = "tally_day";
const WINDOW_DAY: &str = "tally_window_day";

/// The local days active users are counted over: from the first bucket's window to the
/// range's end, and each bucket's last day.
struct ActiveWindows {
    day_starts: Vec<i64>,
    to_ms: i64,
    /// Each bucket's last day, as an index into `day_starts`.
    last_days: Vec<usize>,
}

impl ActiveWindows {
    fn new(buckets: &crate::buckets::Buckets, zone: &jiff::tz::TimeZone, days: u32) -> Result<Self, QueryError> {
        let date_of = |ms: i64| {
            jiff::Timestamp::from_millisecond(ms)
                .map(|at| at.to_zoned(zone.clone()).date())
                .map_err(|_| QueryError::invalid("a date of the range is out of the calendar"))
        };
        let first_end = buckets.starts.get(1).copied().unwrap_or(buckets.to_ms) - 1;
        let back = jiff::Span::new().days(i64::from(days) - 1);
        let first_day = date_of(first_end)?
            .checked_sub(back)
            .map_err(|_| QueryError::invalid("active users look back out of the calendar"))?
            .min(date_of(buckets.from_ms)?);
        let last_day = date_of(buckets.to_ms - 1)?;
        let mut day_starts = Vec::new();
        let mut day = first_day;
        while day <= last_day {
            day_starts.push(crate::buckets::day_start(day, zone)?);
            day = day.tomorrow().map_err(|_| QueryError::invalid("the range ends out of the calendar"))?;
        }
        let last_days = (0..buckets.starts.len())
            .map(|index| {
                let end = buckets.starts.get(index + 1).copied().unwrap_or(buckets.to_ms) - 1;
                day_starts.partition_point(|start| *start <= end).saturating_sub(1)
            })
            .collect();
        Ok(ActiveWindows { day_starts, to_ms: buckets.to_ms, last_days })
    }

    /// Rows of (bucket, segment, value): distinct (day, user) pairs, joined with the
    /// (day, bucket) pairs of every bucket's window, counted per bucket once per user.
    fn plan(
        &self,
        context: &SessionContext,
        frame: &DataFrame,
        metric: &Metric,
        global: &[crate::model::Filter],
        segment: Expr,
        days: u32,
    ) -> Result<DataFrame, QueryError> {
        let span = usize::try_from(days).unwrap_or(1).saturating_sub(1);
        let (mut window_days, mut window_buckets) = (Vec::new(), Vec::new());
        for (bucket, last) in self.last_days.iter().enumerate() {
            for day in last.saturating_sub(span)..=*last {
                window_days.push(i32::try_from(day).unwrap_or(i32::MAX));
                window_buckets.push(i32::try_from(bucket).unwrap_or(i32::MAX));
            }
        }
        let windows = datafusion::arrow::record_batch::RecordBatch::try_from_iter([
            (WINDOW_DAY, std::sync::Arc::new(Int32Array::from(window_days)) as datafusion::arrow::array::ArrayRef),
            (BUCKET, std::sync::Arc::new(Int32Array::from(window_buckets)) as datafusion::arrow::array::ArrayRef),
        ])
        .map_err(|error| QueryError::Storage(format!("query engine: {error}")))?;
        let windows = context.read_batch(windows).map_err(engine_error)?;
        let day = Bucket::expr(self.day_starts.clone(), self.to_ms, ident("time_ms"));
        frame
            .clone()
            .filter(filters::selects(&metric.events, global)?)
            .and_then(|frame| {
                frame.select(vec![day.alias(DAY), segment.alias(SEGMENT), ident("distinct_id").alias(USER)])
            })
            .and_then(|frame| frame.filter(ident(DAY).is_not_null().and(ident(USER).not_eq(lit("")))))
            .and_then(|frame| frame.aggregate(vec![ident(DAY), ident(SEGMENT), ident(USER)], vec![]))
            .and_then(|frame| frame.join(windows, datafusion::common::JoinType::Inner, &[DAY], &[WINDOW_DAY], None))
            .and_then(|frame| frame.aggregate(vec![ident(BUCKET), ident(SEGMENT), ident(USER)], vec![]))
            .and_then(|frame| {
                frame.aggregate(
                    vec![ident(BUCKET), ident(SEGMENT)],
                    vec![cast(count(lit(1)), DataType::Float64).alias(VALUE)],
                )
            })
            .map_err(engine_error)
    }
}

/// What a bucket without matching events shows: 0 for counts and sums, nothing for the
/// other aggregates.
fn empty_value(measure: &Measure) -> Option<f64> {
    match measure {
        Measure::Total | Measure::Unique | Measure::Active { .. } => Some(0.0),
        Measure::Property { aggregate: PropertyAggregate::Sum | PropertyAggregate::DistinctCount, .. }
        | Measure::Expression { aggregate: PropertyAggregate::Sum | PropertyAggregate::DistinctCount, .. } => Some(0.0),
        _ => None,
    }
}

fn label(metric: &Metric) -> String {
    let what = match &metric.measure {
        Measure::Total => "total".to_string(),
        Measure::Unique => "unique users".to_string(),
        Measure::PerUser { aggregate } => format!("{} per user", format!("{aggregate:?}").to_lowercase()),
        Measure::Property { property: what, aggregate } | Measure::Expression { expression: what, aggregate } => {
            format!("{} of {what}", format!("{aggregate:?}").to_lowercase())
        }
        Measure::Active { days: 1 } => "daily active users".to_string(),
        Measure::Active { days: 7 } => "weekly active users".to_string(),
        Measure::Active { days: 30 } => "monthly active users".to_string(),
        Measure::Active { days } => format!("users active in {days} days"),
    };
    let event = if metric.events.event == crate::model::ALL_EVENTS { "All events" } else { &metric.events.event };
    format!("{event} - {what}")
}

/// The metric's plan: rows of (bucket, segment, value) for the buckets `bucket` makes, and
/// with `with_range` also rows of (NULL, segment, value) over the whole range, from the same
/// scan (grouping sets on the first aggregation).
fn measured(
    frame: &DataFrame,
    metric: &Metric,
    global: &[crate::model::Filter],
    bucket: Expr,
    segment: Expr,
    with_range: bool,
) -> Result<DataFrame, QueryError> {
    let selected = frame.clone().filter(filters::selects(&metric.events, global)?).map_err(engine_error)?;
    let keyed = |extra: Vec<Expr>| {
        let mut columns = vec![bucket.clone().alias(BUCKET), segment.clone().alias(SEGMENT)];
        columns.extend(extra);
        selected.clone().select(columns).and_then(|frame| frame.filter(ident(BUCKET).is_not_null()))
    };
    let keys = || vec![ident(BUCKET), ident(SEGMENT)];
    // The first aggregation over the events: per bucket, and (with_range) over the range.
    let first_keys = |extra: Vec<Expr>| {
        let mut per_bucket = keys();
        per_bucket.extend(extra.iter().cloned());
        if !with_range {
            return per_bucket;
        }
        let mut per_range = vec![ident(SEGMENT)];
        per_range.extend(extra);
        vec![Expr::GroupingSet(GroupingSet::GroupingSets(vec![per_bucket, per_range]))]
    };
    let as_value = |expr: Expr| cast(expr, DataType::Float64).alias(VALUE);
    let users =
        || keyed(vec![ident("distinct_id").alias(USER)]).and_then(|frame| frame.filter(ident(USER).not_eq(lit(""))));
    let plan = match &metric.measure {
        Measure::Total => {
            keyed(vec![]).and_then(|frame| frame.aggregate(first_keys(vec![]), vec![as_value(count(lit(1)))]))
        }
        // Active users are planned by `ActiveWindows`; here (ranking a breakdown's segments)
        // they count as the range's unique users.
        Measure::Unique | Measure::Active { .. } => {
            users().and_then(|frame| frame.aggregate(first_keys(vec![]), vec![as_value(count_distinct(ident(USER)))]))
        }
        Measure::PerUser { aggregate } => {
            let per_user = users().and_then(|frame| {
                frame
                    .aggregate(first_keys(vec![ident(USER)]), vec![cast(count(lit(1)), DataType::Float64).alias(COUNT)])
            });
            let across = match aggregate {
                PerUserAggregate::Average => avg(ident(COUNT)),
                PerUserAggregate::Median => median(ident(COUNT)),
                PerUserAggregate::Min => min(ident(COUNT)),
                PerUserAggregate::Max => max(ident(COUNT)),
            };
            per_user.and_then(|frame| frame.aggregate(keys(), vec![as_value(across)]))
        }
        Measure::Property { .. } | Measure::Expression { .. } => {
            let (text, number, aggregate) = match &metric.measure {
                Measure::Property { property, aggregate } => {
                    (property_text(property), property_number(property), aggregate)
                }
                // Mixpanel's legacy `/segmentation/sum` and `/average` count a value that is no
                // number as 0 (QO).
                Measure::Expression { expression, aggregate } => (
                    crate::expression::text(expression)?,
                    datafusion::functions::expr_fn::coalesce(vec![crate::expression::number(expression)?, lit(0.0)]),
                    aggregate,
                ),
                _ => return Err(QueryError::invalid("not a property measure")),
            };
            if *aggregate == PropertyAggregate::DistinctCount {
                keyed(vec![text.alias(COUNT)])
                    .and_then(|frame| frame.filter(ident(COUNT).is_not_null()))
                    .and_then(|frame| frame.aggregate(first_keys(vec![]), vec![as_value(count_distinct(ident(COUNT)))]))
            } else {
                let value = ident(COUNT);
                let quantile = match aggregate {
                    PropertyAggregate::Median => Some(0.5),
                    PropertyAggregate::P25 => Some(0.25),
                    PropertyAggregate::P75 => Some(0.75),
                    PropertyAggregate::P90 => Some(0.9),
                    PropertyAggregate::P99 => Some(0.99),
                    _ => None,
                };
                let numbers =
                    keyed(vec![number.alias(COUNT)]).and_then(|frame| frame.filter(ident(COUNT).is_not_null()));
                if let Some(quantile) = quantile {
                    // Exact: every value of the bucket, then the interpolated rank.
                    let mut columns = keys();
                    columns.push(Quantile::expr(ident(LIST), quantile).alias(VALUE));
                    return numbers
                        .and_then(|frame| frame.aggregate(first_keys(vec![]), vec![array_agg(value).alias(LIST)]))
                        .and_then(|frame| frame.select(columns))
                        .map_err(engine_error);
                }
                let across = match aggregate {
                    PropertyAggregate::Sum => sum(value.clone()),
                    PropertyAggregate::Average => avg(value.clone()),
                    PropertyAggregate::Min => min(value.clone()),
                    PropertyAggregate::Max => max(value.clone()),
                    _ => count_distinct(value.clone()),
                };
                numbers.and_then(|frame| frame.aggregate(first_keys(vec![]), vec![as_value(across)]))
            }
        }
    };
    plan.map_err(engine_error)
}

/// Runs a measured plan: (bucket, segment, value) rows; the bucket is `None` on the rows
/// over the whole range.
async fn collect(plan: DataFrame) -> Result<Vec<(Option<i32>, String, Option<f64>)>, QueryError> {
    let batches = plan.collect().await.map_err(engine_error)?;
    let mut rows = Vec::new();
    for batch in batches {
        let column = |name: &str| batch.column_by_name(name).cloned();
        let (Some(bucket), Some(segment), Some(value)) = (column(BUCKET), column(SEGMENT), column(VALUE)) else {
            return Err(QueryError::Storage("query engine: a result column is missing".into()));
        };
        let (bucket, segment, value) = (
            crate::functions::column_as::<Int32Array>(&bucket, &DataType::Int32)?,
            crate::functions::column_as::<StringArray>(&segment, &DataType::Utf8)?,
            crate::functions::column_as::<Float64Array>(&value, &DataType::Float64)?,
        );
        for row in 0..batch.num_rows() {
            let value = if value.is_null(row) { None } else { Some(value.value(row)) };
            let bucket = if bucket.is_null(row) { None } else { Some(bucket.value(row)) };
            rows.push((bucket, segment.value(row).to_string(), value));
        }
    }
    Ok(rows)
}
