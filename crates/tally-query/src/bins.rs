//! Numeric breakdowns: a value read as a number, segmented into ranges ([`Bins`]). Each
//! segment is labelled by its range (`0 - 10`; `< 0` and `>= 100` outside explicit edges);
//! a value that is not a number is `(not set)`.

use datafusion::arrow::array::{Array, Float64Array};
use datafusion::functions_aggregate::expr_fn::{max, min};
use datafusion::logical_expr::{Expr, cast, lit, when};
use datafusion::prelude::DataFrame;

use crate::insights::NOT_SET;
use crate::model::Bins;
use crate::{QueryError, engine_error};

/// Most ranges one breakdown may ask for.
pub const MAX_BINS: usize = 50;

/// The segment of each row: the label of the range `value` falls in. Automatic ranges span
/// the values of the rows `selected` keeps (one extra aggregation over `frame`).
pub(crate) async fn segment(frame: &DataFrame, selected: Expr, value: Expr, bins: &Bins) -> Result<Expr, QueryError> {
    let value = cast(value, datafusion::arrow::datatypes::DataType::Float64);
    let (edges, open_ends) = match bins {
        Bins::Auto { count } => {
            if !(1..=MAX_BINS).contains(count) {
                return Err(QueryError::invalid(format!("a numeric breakdown has 1 to {MAX_BINS} ranges")));
            }
            let Some((low, high)) = span(frame, selected, value.clone()).await? else {
                return Ok(lit(NOT_SET));
            };
            (round_edges(low, high, *count), false)
        }
        Bins::Edges { edges } => {
            if edges.is_empty() || edges.len() > MAX_BINS {
                return Err(QueryError::invalid(format!("a numeric breakdown names 1 to {MAX_BINS} edges")));
            }
            if edges.iter().any(|edge| !edge.is_finite()) || edges.windows(2).any(|pair| pair[0] >= pair[1]) {
                return Err(QueryError::invalid("a numeric breakdown's edges are finite numbers in ascending order"));
            }
            (edges.clone(), true)
        }
    };
    Ok(ranges(value, &edges, open_ends))
}

/// The smallest and largest value among the selected rows; `None` when none is a number.
async fn span(frame: &DataFrame, selected: Expr, value: Expr) -> Result<Option<(f64, f64)>, QueryError> {
    let batches = frame
        .clone()
        .filter(selected.and(value.clone().is_not_null()))
        .and_then(|frame| frame.aggregate(vec![], vec![min(value.clone()).alias("low"), max(value).alias("high")]))
        .map_err(engine_error)?
        .collect()
        .await
        .map_err(engine_error)?;
    let read = |batch: &datafusion::arrow::record_batch::RecordBatch, column: usize| {
        batch
            .column(column)
            .as_any()
            .downcast_ref::<Float64Array>()
            .filter(|array| !array.is_null(0))
            .map(|array| array.value(0))
    };
    Ok(batches.iter().find(|batch| batch.num_rows() > 0).and_then(|batch| Some((read(batch, 0)?, read(batch, 1)?))))
}

/// Edges of about `count` ranges of one round width (1, 2 or 5 times a power of ten)
/// covering `low..=high`, the first starting at a multiple of the width.
pub(crate) fn round_edges(low: f64, high: f64, count: usize) -> Vec<f64> {
    let count = count.max(1) as f64;
    let raw = (high - low) / count;
    let width = if raw > 0.0 {
        let magnitude = 10f64.powf(raw.log10().floor());
        [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|step| step * magnitude)
            .find(|width| *width >= raw)
            .unwrap_or(10.0 * magnitude)
    } else {
        1.0
    };
    let start = (low / width).floor() * width;
    let ranges = (((high - start) / width).floor() as usize + 1).min(count as usize + 1);
    // The last range ends at the largest value or beyond it, and holds both its ends.
    let ranges = if start + (ranges as f64 - 1.0) * width >= high && ranges > 1 { ranges - 1 } else { ranges };
    (0..=ranges).map(|index| tidy(start + index as f64 * width)).collect()
}

/// Rounds away float noise (`0.30000000000000004`) before a number becomes a label.
fn tidy(value: f64) -> f64 {
    (value * 1e9).round() / 1e9
}

/// A number as a label shows it: whole numbers without a fraction.
pub(crate) fn show(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 { format!("{}", value as i64) } else { format!("{value}") }
}

/// The label of the range of `value` between consecutive `edges`. With `open_ends`, values
/// below the first edge are `< first` and from the last up `>= last`; without, the edges
/// span every value and the last range holds its upper end.
fn ranges(value: Expr, edges: &[f64], open_ends: bool) -> Expr {
    let label = |low: f64, high: f64| format!("{} - {}", show(low), show(high));
    let mut cases: Vec<(Expr, String)> = Vec::new();
    if open_ends {
        cases.push((value.clone().lt(lit(edges[0])), format!("< {}", show(edges[0]))));
    }
    let last = edges.len().saturating_sub(1);
    for (index, pair) in edges.windows(2).enumerate() {
        let test = if !open_ends && index + 1 == last {
            value.clone().lt_eq(lit(pair[1]))
        } else {
            value.clone().lt(lit(pair[1]))
        };
        cases.push((test, label(pair[0], pair[1])));
    }
    let rest = if open_ends {
        lit(format!(">= {}", show(edges[last])))
    } else if edges.len() == 1 {
        lit(label(edges[0], edges[0]))
    } else {
        lit(NOT_SET)
    };
    let mut expr = when(value.clone().is_null(), lit(NOT_SET));
    for (test, label) in cases {
        expr = expr.when(test, lit(label));
    }
    expr.otherwise(rest).unwrap_or_else(|_| lit(NOT_SET))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_edges_span_every_value_with_round_widths() {
        assert_eq!(round_edges(1.0, 100.0, 10), (0..=10).map(|i| i as f64 * 10.0).collect::<Vec<_>>());
        assert_eq!(round_edges(3.0, 17.0, 4), vec![0.0, 5.0, 10.0, 15.0, 20.0]);
        assert_eq!(round_edges(0.1, 0.9, 4), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(round_edges(-15.0, 15.0, 3), vec![-20.0, -10.0, 0.0, 10.0, 20.0]);
        // One value: one range holding it.
        assert_eq!(round_edges(7.0, 7.0, 10), vec![7.0, 8.0]);
        for (low, high, count) in [(1.0, 100.0, 10), (3.0, 17.0, 4), (0.1, 0.9, 4), (-15.0, 15.0, 3), (2.5, 1e6, 7)] {
            let edges = round_edges(low, high, count);
            assert!(edges[0] <= low && *edges.last().unwrap() >= high, "{edges:?} spans {low}..={high}");
            assert!(edges.len() - 1 <= count + 1, "{edges:?}: about {count} ranges");
        }
    }

    #[test]
    fn labels_show_whole_numbers_without_a_fraction() {
        assert_eq!(show(10.0), "10");
        assert_eq!(show(-2.0), "-2");
        assert_eq!(show(0.2), "0.2");
    }
}
