//! Funnels, by unique users (report-semantics.md §2): a user enters at their first step-1
//! inside the date range and only that attempt counts; later steps come after the previous
//! step (each step a separate, later event: one event never fills two steps) and within the
//! conversion window counted from the entry (`t - t_entry <= window`); they may fall after
//! the range's end. Events at the same millisecond are taken in step order. The empty
//! distinct_id is not a user.
//!
//! Each user's events go through one `GroupsAccumulator` ([`crate::functions::Sequence`])
//! whose result is the time of each step the user reached; the answer tallies those.

use std::sync::Arc;

use datafusion::logical_expr::{Expr, lit, when};
use datafusion::prelude::{SessionContext, ident};
use serde::Serialize;
use tally_iam::authz::DataScope;
use tally_types::permissions::project::ViewReports;

use crate::buckets::resolve;
use crate::functions::{Finish, each_user};
use crate::model::{Funnel, FunnelOrder};
use crate::{QueryEngine, QueryError, ResolvedRange, engine_error, filters, resolved};

/// Most steps in a funnel.
pub const MAX_STEPS: usize = 30;
/// The longest conversion window: 366 days.
pub const MAX_WINDOW_SECONDS: i64 = 366 * 86_400;
/// The code bit of an event inside the date range (entries happen only there).
const IN_RANGE: i64 = 1 << 40;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FunnelAnswer {
    pub steps: Vec<FunnelStep>,
    pub window_seconds: i64,
    pub order: FunnelOrder,
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
}

/// The steps each user reached: the entry's time, then each later step's.
#[derive(Debug)]
struct Steps {
    steps: usize,
    window_ms: i64,
    order: FunnelOrder,
}

impl Finish for Steps {
    fn name(&self) -> &'static str {
        "tally_funnel"
    }

    fn finish(&self, events: &[(i64, i64)]) -> Vec<i64> {
        let mut ordered: Vec<(i64, i64)> = events.to_vec();
        // Same millisecond: the lower step first.
        ordered.sort_by_key(|(time, code)| (*time, (*code & (IN_RANGE - 1)).trailing_zeros()));
        match self.order {
            FunnelOrder::InOrder | FunnelOrder::Strict => self.in_order(&ordered),
            FunnelOrder::AnyOrder => self.any_order(&ordered),
        }
    }
}

impl Steps {
    fn in_order(&self, events: &[(i64, i64)]) -> Vec<i64> {
        let Some(entry) = events.iter().position(|(_, code)| code & IN_RANGE != 0 && code & 1 != 0) else {
            return Vec::new();
        };
        let start = events[entry].0;
        let mut reached = vec![start];
        let mut position = entry;
        for step in 1..self.steps {
            let bit = 1i64 << step;
            let next = events
                .iter()
                .enumerate()
                .skip(position + 1)
                .take_while(|(_, (time, _))| time - start <= self.window_ms);
            let found = if self.order == FunnelOrder::Strict {
                // Strict: the very next event must be the step.
                next.take(1).find(|(_, (_, code))| code & bit != 0)
            } else {
                next.into_iter().find(|(_, (_, code))| code & bit != 0)
            };
            match found {
                Some((index, (time, _))) => {
                    reached.push(*time);
                    position = index;
                }
                None => break,
            }
        }
        reached
    }

    /// Any order: from the first event of any step inside the range, each later event in the
    /// window completes one step not yet done; step k counts attempts that completed k steps.
    fn any_order(&self, events: &[(i64, i64)]) -> Vec<i64> {
        let all = (1i64 << self.steps) - 1;
        let Some(entry) = events.iter().position(|(_, code)| code & IN_RANGE != 0 && code & all != 0) else {
            return Vec::new();
        };
        let start = events[entry].0;
        let mut done = 0i64;
        let mut reached = Vec::new();
        for (time, code) in &events[entry..] {
            if time - start > self.window_ms {
                break;
            }
            let open = code & all & !done;
            if open != 0 {
                done |= open & open.wrapping_neg();
                reached.push(*time);
            }
        }
        reached
    }
}

pub(crate) async fn run(
    engine: &QueryEngine,
    scope: &DataScope<ViewReports>,
    context: &SessionContext,
    zone: &jiff::tz::TimeZone,
    report: &Funnel,
) -> Result<(ResolvedRange, FunnelAnswer), QueryError> {
    let steps = report.steps.len();
    if !(2..=MAX_STEPS).contains(&steps) {
        return Err(QueryError::invalid(format!("a funnel has 2 to {MAX_STEPS} steps, not {steps}")));
    }
    if !(1..=MAX_WINDOW_SECONDS).contains(&report.window_seconds) {
        return Err(QueryError::invalid("the conversion window is from 1 second to 366 days"));
    }
    let (from_ms, to_ms) = resolve(&report.range, zone)?;
    let range = resolved(&report.range, zone, from_ms, to_ms);
    let window_ms = report.window_seconds * 1000;
    // Later steps may fall after the range, within the window.
    let (_events, frame) = engine.events(scope, context, from_ms, to_ms.saturating_add(window_ms + 1)).await?;
    let mut counts = vec![0u64; steps];
    let mut from_previous = vec![(0f64, 0u64); steps];
    let mut from_start: Vec<Vec<f64>> = vec![Vec::new(); steps];
    if let Some(frame) = frame {
        let frame = crate::expression::filtered(frame, report.where_expression.as_deref())?;
        let mut code: Expr = lit(0i64);
        for (index, step) in report.steps.iter().enumerate() {
            let bit = when(filters::selects(step, &report.filters)?, lit(1i64 << index))
                .otherwise(lit(0i64))
                .map_err(engine_error)?;
            code = code + bit;
        }
        let in_range =
            when(ident("time_ms").lt(lit(to_ms)), lit(IN_RANGE)).otherwise(lit(0i64)).map_err(engine_error)?;
        // Only strict order needs the events between steps.
        let keep = (report.order != FunnelOrder::Strict).then(|| (ident("code") % lit(IN_RANGE)).not_eq(lit(0i64)));
        let finish = Arc::new(Steps { steps, window_ms, order: report.order });
        each_user(frame, code + in_range, keep, finish, |_, times| {
            for (step, time) in times.iter().enumerate().take(steps) {
                counts[step] += 1;
                if step > 0 {
                    from_previous[step].0 += (time - times[step - 1]) as f64 / 1000.0;
                    from_previous[step].1 += 1;
                    from_start[step].push((time - times[0]) as f64 / 1000.0);
                }
            }
        })
        .await?;
    }
    let entered = counts[0];
    let ratio = |part: u64, whole: u64| if whole == 0 { 0.0 } else { part as f64 / whole as f64 };
    let answer = FunnelAnswer {
        steps: report
            .steps
            .iter()
            .enumerate()
            .map(|(index, step)| {
                let times = &mut from_start[index];
                times.sort_by(f64::total_cmp);
                let (sum, users) = from_previous[index];
                FunnelStep {
                    event: step.event.clone(),
                    count: counts[index],
                    step_conversion: if index == 0 {
                        if entered > 0 { 1.0 } else { 0.0 }
                    } else {
                        ratio(counts[index], counts[index - 1])
                    },
                    overall_conversion: ratio(counts[index], entered),
                    avg_time_from_previous: (users > 0).then(|| sum / users as f64),
                    avg_time_from_start: (!times.is_empty()).then(|| times.iter().sum::<f64>() / times.len() as f64),
                    median_time_from_start: median_of(times),
                }
            })
            .collect(),
        window_seconds: report.window_seconds,
        order: report.order,
    };
    Ok((range, answer))
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
        Steps { steps: 3, window_ms, order }
    }

    fn at(hours_times_10: i64, code: i64) -> (i64, i64) {
        (hours_times_10 * HOUR / 10, code | IN_RANGE)
    }

    #[test]
    fn the_window_counts_from_the_first_step_one() {
        // A 1:00, A 1:30, B 1:45, C 2:15 with a 1 h window reaches B, not C (FA).
        let events = [at(10, 1), at(15, 1), (HOUR * 7 / 4, 2 | IN_RANGE), (HOUR * 9 / 4, 4 | IN_RANGE)];
        let reached = steps(FunnelOrder::InOrder, HOUR).finish(&events);
        assert_eq!(reached.len(), 2, "{reached:?}");
        assert_eq!(reached[0], HOUR);
    }

    #[test]
    fn other_events_between_steps_break_only_strict_order() {
        let events = [at(10, 1), at(11, 0), at(12, 2), at(13, 4)];
        assert_eq!(steps(FunnelOrder::InOrder, 10 * HOUR).finish(&events).len(), 3);
        assert_eq!(steps(FunnelOrder::Strict, 10 * HOUR).finish(&events).len(), 1);
    }

    #[test]
    fn one_event_never_fills_two_steps() {
        // Steps A, A, B: the second A must be a later event.
        let funnel = Steps { steps: 3, window_ms: 10 * HOUR, order: FunnelOrder::InOrder };
        assert_eq!(funnel.finish(&[at(10, 3), at(12, 4)]).len(), 1);
        assert_eq!(funnel.finish(&[at(10, 3), at(11, 3), at(12, 4)]).len(), 3);
    }

    #[test]
    fn the_entry_must_be_inside_the_range() {
        let funnel = steps(FunnelOrder::InOrder, 10 * HOUR);
        assert!(funnel.finish(&[(HOUR, 1), (2 * HOUR, 2 | IN_RANGE)]).is_empty());
    }

    #[test]
    fn same_millisecond_steps_count_in_step_order() {
        let funnel = steps(FunnelOrder::InOrder, HOUR);
        assert_eq!(funnel.finish(&[(5, 2 | IN_RANGE), (5, 1 | IN_RANGE)]).len(), 2);
    }

    #[test]
    fn any_order_counts_the_steps_done() {
        let funnel = steps(FunnelOrder::AnyOrder, 10 * HOUR);
        assert_eq!(funnel.finish(&[at(10, 4), at(11, 1), at(12, 1)]).len(), 2);
        assert_eq!(funnel.finish(&[at(10, 4), at(11, 1), at(12, 2)]).len(), 3);
    }
}
