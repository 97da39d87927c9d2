//! Filters and event selection, compiled to DataFusion expressions over the event table.

use std::ops::Not;

use datafusion::logical_expr::{Expr, lit};
use datafusion::prelude::ident;

use crate::QueryError;
use crate::functions::{sourced_number, sourced_text};
use crate::model::{ALL_EVENTS, Condition, EventSelector, Filter, PropertySource};

/// Whether an event matches the selector (its name and its own filters) and `global`.
pub(crate) fn selects(selector: &EventSelector, global: &[Filter]) -> Result<Expr, QueryError> {
    let mut condition =
        if selector.event == ALL_EVENTS { lit(true) } else { ident("name").eq(lit(selector.event.as_str())) };
    for filter in selector.filters.iter().chain(global) {
        condition = condition.and(compile(filter)?);
    }
    Ok(condition)
}

fn text_literal(value: &serde_json::Value) -> Result<String, QueryError> {
    match value {
        serde_json::Value::String(text) => Ok(text.clone()),
        serde_json::Value::Number(number) => Ok(number.to_string()),
        serde_json::Value::Bool(flag) => Ok(flag.to_string()),
        other => Err(QueryError::invalid(format!("a filter value must be a string, number or boolean, not {other}"))),
    }
}

/// One filter. NULL (the property is not set) never matches a positive operator; the
/// negative ones (`not_equals`, `not_contains`) match it.
pub(crate) fn compile(filter: &Filter) -> Result<Expr, QueryError> {
    if filter.property.trim().is_empty() {
        return Err(QueryError::invalid("a filter names no property"));
    }
    let text = || sourced_text(filter.source, &filter.property);
    let number = || sourced_number(filter.source, &filter.property);
    let is_set = |expr: Expr| expr.is_not_null();
    let when_set = |expr: Expr, test: Expr| expr.is_not_null().and(test);
    Ok(match &filter.condition {
        Condition::Equals(values) | Condition::NotEquals(values) => {
            if values.is_empty() {
                return Err(QueryError::invalid(format!("the filter on {} lists no values", filter.property)));
            }
            let list = values.iter().map(|value| text_literal(value).map(lit)).collect::<Result<Vec<_>, _>>()?;
            let matches = when_set(text(), text().in_list(list, false));
            match filter.condition {
                Condition::Equals(_) => matches,
                _ => matches.not(),
            }
        }
        Condition::Contains(part) => when_set(text(), contains(text(), part)),
        Condition::NotContains(part) => when_set(text(), contains(text(), part)).not(),
        Condition::IsSet => is_set(text()),
        Condition::IsNotSet => text().is_null(),
        Condition::GreaterThan(value) => when_set(number(), number().gt(lit(*value))),
        Condition::GreaterOrEqual(value) => when_set(number(), number().gt_eq(lit(*value))),
        Condition::LessThan(value) => when_set(number(), number().lt(lit(*value))),
        Condition::LessOrEqual(value) => when_set(number(), number().lt_eq(lit(*value))),
        Condition::Between(low, high) => {
            when_set(number(), number().gt_eq(lit(low.min(*high))).and(number().lt_eq(lit(low.max(*high)))))
        }
        Condition::IsTrue => when_set(text(), text().eq(lit("true"))),
        Condition::IsFalse => when_set(text(), text().eq(lit("false"))),
    })
}

/// Whether any of the filters reads a profile property (the events then need their
/// users' profiles joined).
pub(crate) fn reads_profiles<'a>(filters: impl IntoIterator<Item = &'a Filter>) -> bool {
    filters.into_iter().any(|filter| filter.source == PropertySource::User)
}

/// Case-insensitive substring.
fn contains(text: Expr, part: &str) -> Expr {
    let pattern = format!("%{}%", part.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    text.ilike(lit(pattern))
}
