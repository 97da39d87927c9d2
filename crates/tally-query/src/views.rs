//! Data views' filters in the report model, and their reading by the event store
//! ([`tally_events::ViewPlanner`]), registered by every [`QueryEngine`](crate::QueryEngine).

use datafusion::logical_expr::{Expr, lit};
use datafusion::prelude::ident;
use serde::{Deserialize, Serialize};

use crate::QueryError;
use crate::model::{Filter, PropertySource};

/// What a data view shows: its events, and conditions that all hold on their properties and
/// on their users' profiles.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataViewFilters {
    /// Only these events (none: every event).
    #[serde(default)]
    pub events: Vec<String>,
    /// Conditions on event properties or (`"source": "user"`) on the user's profile; a
    /// profile condition keeps only the users whose profiles meet it, with their events.
    #[serde(default)]
    pub filters: Vec<Filter>,
}

impl DataViewFilters {
    /// The filters when they can be applied: named events, conditions on event or profile
    /// properties (not cohorts), each one that compiles.
    pub fn checked(value: &serde_json::Value) -> Result<DataViewFilters, QueryError> {
        let filters: DataViewFilters = serde_json::from_value(value.clone())
            .map_err(|error| QueryError::invalid(format!("the data view's filters: {error}")))?;
        if filters.events.iter().any(|name| name.trim().is_empty()) {
            return Err(QueryError::invalid("a data view's events are named (an empty name was given)"));
        }
        if filters.events.len() > 1000 || filters.filters.len() > 100 {
            return Err(QueryError::invalid("a data view holds at most 1000 events and 100 conditions"));
        }
        for filter in &filters.filters {
            if filter.source == PropertySource::Cohort {
                return Err(QueryError::invalid("a data view filters by event or profile properties, not cohorts"));
            }
            crate::filters::compile(filter)?;
        }
        Ok(filters)
    }

    fn all_of(conditions: impl Iterator<Item = Result<Expr, QueryError>>) -> Result<Option<Expr>, QueryError> {
        let mut all: Option<Expr> = None;
        for condition in conditions {
            let condition = condition?;
            all = Some(match all {
                Some(before) => before.and(condition),
                None => condition,
            });
        }
        Ok(all)
    }
}

/// The query engine's reading of data views for the event store.
#[derive(Debug)]
pub(crate) struct Planner;

impl tally_events::ViewPlanner for Planner {
    fn conditions(&self, filters: &serde_json::Value) -> Result<(Option<Expr>, Option<Expr>), String> {
        let filters = DataViewFilters::checked(filters).map_err(|error| error.to_string())?;
        let names = (!filters.events.is_empty())
            .then(|| Ok(ident("name").in_list(filters.events.iter().map(|name| lit(name.as_str())).collect(), false)));
        let of = |source: PropertySource| {
            filters.filters.iter().filter(move |filter| filter.source == source).map(crate::filters::compile)
        };
        let events = DataViewFilters::all_of(names.into_iter().chain(of(PropertySource::Event)));
        let profiles = DataViewFilters::all_of(of(PropertySource::User));
        events.and_then(|events| Ok((events, profiles?))).map_err(|error| error.to_string())
    }
}
