//! Cohorts, computed when a query runs: a [`CohortCondition`] becomes the set of canonical
//! user ids it holds now. Behaviors count each user's matching events in their window (one
//! aggregation); profile conditions read the profiles as they are; "at most" and negations
//! are taken from every user the project knows (anyone with an event or a profile). A
//! report filtered or segmented by a saved cohort gets the members of each cohort it names
//! before it is compiled (a task-local map), and tests `distinct_id` against them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Array, StringArray};
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{Expr, lit};
use datafusion::prelude::{DataFrame, SessionContext, ident};
use tally_iam::authz::DataScope;
use tally_types::permissions::ProjectMarker;

use crate::model::{CohortCondition, CohortWindow, CountComparison, Filter, PropertySource, Report};
use crate::{Profiles, QueryEngine, QueryError, engine_error, filters};

/// Saved cohorts by id, as a query may name them.
pub type SavedCohorts = HashMap<i64, CohortCondition>;

/// How deep cohorts may name other cohorts.
const MAX_NESTING: usize = 5;

tokio::task_local! {
    static MEMBERS: Arc<HashMap<i64, Arc<Vec<String>>>>;
}

/// Runs `work` with the members of the cohorts it names.
pub(crate) async fn with_members<F: std::future::Future>(
    members: HashMap<i64, Arc<Vec<String>>>,
    work: F,
) -> F::Output {
    MEMBERS.scope(Arc::new(members), work).await
}

/// Whether the row's user is in the saved cohort `id` (false for a cohort the running
/// query was not given: the engine refuses such reports before compiling them).
pub(crate) fn membership(id: &str) -> Expr {
    let members =
        id.parse::<i64>().ok().and_then(|id| MEMBERS.try_with(|members| members.get(&id).cloned()).ok().flatten());
    match members {
        Some(members) if !members.is_empty() => {
            ident("distinct_id").in_list(members.iter().map(|id| lit(id.as_str())).collect(), false)
        }
        _ => lit(false),
    }
}

/// The cohort ids a report's filters and breakdown name.
pub(crate) fn named_in(report: &Report) -> Vec<i64> {
    let mut filters: Vec<&Filter> = Vec::new();
    let mut breakdown_ids: Vec<&str> = Vec::new();
    match report {
        Report::Insights(insights) => {
            filters.extend(&insights.filters);
            filters.extend(insights.metrics.iter().flat_map(|metric| &metric.events.filters));
            if let Some(breakdown) = &insights.breakdown
                && breakdown.source == PropertySource::Cohort
                && let Some(property) = &breakdown.property
            {
                breakdown_ids.push(property);
            }
        }
        Report::Funnels(funnel) => {
            filters.extend(&funnel.filters);
            filters.extend(funnel.steps.iter().flat_map(|step| &step.filters));
            filters.extend(funnel.exclusions.iter().flat_map(|exclusion| &exclusion.events.filters));
        }
        Report::Retention(retention) => {
            filters.extend(&retention.born.filters);
            filters.extend(&retention.returned.filters);
        }
        Report::Flows(flows) => filters.extend(&flows.anchor.filters),
    }
    let mut ids: Vec<i64> = filters
        .iter()
        .filter(|filter| filter.source == PropertySource::Cohort)
        .map(|filter| filter.property.as_str())
        .chain(breakdown_ids)
        .filter_map(|id| id.trim().parse().ok())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Computes cohorts over one project's events and profiles.
pub(crate) struct Resolver<'a, P: ProjectMarker> {
    engine: &'a QueryEngine,
    scope: &'a DataScope<P>,
    context: SessionContext,
    saved: &'a SavedCohorts,
    universe: Option<Arc<HashSet<String>>>,
    done: HashMap<i64, Arc<HashSet<String>>>,
}

impl<'a, P: ProjectMarker> Resolver<'a, P> {
    pub(crate) fn new(engine: &'a QueryEngine, scope: &'a DataScope<P>, saved: &'a SavedCohorts) -> Self {
        Resolver { engine, scope, context: engine.context(), saved, universe: None, done: HashMap::new() }
    }

    /// The members of the saved cohort `id`.
    pub(crate) async fn saved(&mut self, id: i64) -> Result<Arc<HashSet<String>>, QueryError> {
        self.saved_at(id, &mut Vec::new()).await
    }

    async fn saved_at(&mut self, id: i64, path: &mut Vec<i64>) -> Result<Arc<HashSet<String>>, QueryError> {
        if let Some(found) = self.done.get(&id) {
            return Ok(Arc::clone(found));
        }
        if path.contains(&id) {
            return Err(QueryError::invalid(format!("cohort {id} names itself through other cohorts")));
        }
        if path.len() >= MAX_NESTING {
            return Err(QueryError::invalid(format!("cohorts name other cohorts at most {MAX_NESTING} deep")));
        }
        let Some(condition) = self.saved.get(&id).cloned() else {
            return Err(QueryError::invalid(format!("there is no cohort {id} you may use")));
        };
        path.push(id);
        let members = Arc::new(Box::pin(self.condition_at(&condition, path)).await?);
        path.pop();
        self.done.insert(id, Arc::clone(&members));
        Ok(members)
    }

    /// The users `condition` holds.
    pub(crate) async fn condition(&mut self, condition: &CohortCondition) -> Result<HashSet<String>, QueryError> {
        self.condition_at(condition, &mut Vec::new()).await
    }

    async fn condition_at(
        &mut self,
        condition: &CohortCondition,
        path: &mut Vec<i64>,
    ) -> Result<HashSet<String>, QueryError> {
        Ok(match condition {
            CohortCondition::Behavior { events, comparison, count, window } => {
                let counted = self.counts(events, window).await?;
                let above = |limit: u64| counted.iter().filter(move |(_, n)| *n > limit).map(|(id, _)| id.clone());
                match (comparison, count) {
                    (CountComparison::AtLeast, 0) => (*self.universe().await?).clone(),
                    (CountComparison::AtLeast, at_least) => {
                        counted.iter().filter(|(_, n)| n >= at_least).map(|(id, _)| id.clone()).collect()
                    }
                    (CountComparison::AtMost, at_most) | (CountComparison::Exactly, at_most @ 0) => {
                        let over: HashSet<String> = above(*at_most).collect();
                        self.universe().await?.iter().filter(|id| !over.contains(*id)).cloned().collect()
                    }
                    (CountComparison::Exactly, exactly) => {
                        counted.iter().filter(|(_, n)| n == exactly).map(|(id, _)| id.clone()).collect()
                    }
                }
            }
            CohortCondition::Profile { filter } => self.profiles_where(filter).await?,
            CohortCondition::Cohort { id, negate } => {
                let members = Box::pin(self.saved_at(*id, path)).await?;
                if *negate {
                    self.universe().await?.iter().filter(|id| !members.contains(*id)).cloned().collect()
                } else {
                    (*members).clone()
                }
            }
            CohortCondition::Users { distinct_ids } => {
                if distinct_ids.len() > 1_000_000 {
                    return Err(QueryError::invalid("a cohort lists at most 1,000,000 distinct ids"));
                }
                let events = self.engine.events.project_events(self.scope, 0, 0).await.map_err(crate::storage_error)?;
                distinct_ids.iter().filter(|id| !id.is_empty()).map(|id| events.canonical(id)).collect()
            }
            CohortCondition::All { conditions } | CohortCondition::Any { conditions } => {
                let all = matches!(condition, CohortCondition::All { .. });
                if conditions.is_empty() {
                    return Err(QueryError::invalid("a group of cohort conditions holds at least one"));
                }
                let mut result: Option<HashSet<String>> = None;
                for inner in conditions {
                    let members = Box::pin(self.condition_at(inner, path)).await?;
                    result = Some(match result {
                        None => members,
                        Some(so_far) if all => so_far.intersection(&members).cloned().collect(),
                        Some(mut so_far) => {
                            so_far.extend(members);
                            so_far
                        }
                    });
                }
                result.unwrap_or_default()
            }
        })
    }

    /// Each user's matching events in the window (users without any are absent).
    async fn counts(
        &mut self,
        events: &crate::model::EventSelector,
        window: &CohortWindow,
    ) -> Result<Vec<(String, u64)>, QueryError> {
        let zone = crate::zone_of(self.scope);
        let range = match window {
            CohortWindow::Between { range } => range.clone(),
            CohortWindow::LastDays { days } => {
                if !(1..=3660).contains(days) {
                    return Err(QueryError::invalid("a cohort's window is 1 to 3660 days"));
                }
                let today = self.engine.clock.now().to_zoned(zone.clone()).date();
                let from = today
                    .checked_sub(jiff::Span::new().days(i64::from(*days) - 1))
                    .map_err(|_| QueryError::invalid("the cohort's window is out of range"))?;
                crate::model::DateRange { from_date: from, to_date: today }
            }
        };
        let (from_ms, to_ms) = crate::buckets::resolve(&range, &zone)?;
        let profiles = Profiles::for_filters(&events.filters, None);
        let (_events, frame) = self.engine.events(self.scope, &self.context, from_ms, to_ms, profiles).await?;
        let Some(frame) = frame else { return Ok(Vec::new()) };
        let selected = filters::selects(events, &[])?
            .and(ident("time_ms").gt_eq(lit(from_ms)))
            .and(ident("time_ms").lt(lit(to_ms)))
            .and(ident("distinct_id").not_eq(lit("")));
        let counted = frame
            .filter(selected)
            .and_then(|frame| frame.aggregate(vec![ident("distinct_id")], vec![count(lit(1)).alias("n")]))
            .map_err(engine_error)?;
        let mut found = Vec::new();
        for batch in counted.collect().await.map_err(engine_error)? {
            let ids = batch.column(0).as_any().downcast_ref::<StringArray>();
            let cast =
                datafusion::arrow::compute::cast(batch.column(1), &datafusion::arrow::datatypes::DataType::Int64)
                    .map_err(|error| QueryError::Storage(error.to_string()))?;
            let counts = cast.as_any().downcast_ref::<Int64Array>();
            let (Some(ids), Some(counts)) = (ids, counts) else { continue };
            for row in 0..batch.num_rows() {
                if !ids.is_null(row) {
                    found.push((ids.value(row).to_string(), u64::try_from(counts.value(row)).unwrap_or(0)));
                }
            }
        }
        Ok(found)
    }

    /// The users whose profile matches `filter` now.
    async fn profiles_where(&mut self, filter: &Filter) -> Result<HashSet<String>, QueryError> {
        let events = self.engine.events.project_events(self.scope, 0, 0).await.map_err(crate::storage_error)?;
        let table = events.profile_table(&self.context).map_err(crate::storage_error)?;
        let on_profile = Filter { source: PropertySource::User, ..filter.clone() };
        let matched = table
            .filter(filters::compile(&on_profile)?)
            .and_then(|frame| frame.select(vec![ident(tally_events::PROFILE_USER)]))
            .map_err(engine_error)?;
        strings(matched).await
    }

    /// Everyone the project knows: anyone with an event or a profile.
    async fn universe(&mut self) -> Result<Arc<HashSet<String>>, QueryError> {
        if let Some(universe) = &self.universe {
            return Ok(Arc::clone(universe));
        }
        let (events, frame) =
            self.engine.events(self.scope, &self.context, i64::MIN, i64::MAX, Profiles::Without).await?;
        let mut everyone = match frame {
            Some(frame) => {
                let ids = frame
                    .filter(ident("distinct_id").not_eq(lit("")))
                    .and_then(|frame| frame.aggregate(vec![ident("distinct_id")], vec![]))
                    .map_err(engine_error)?;
                strings(ids).await?
            }
            None => HashSet::new(),
        };
        let profiles = events
            .profile_table(&self.context)
            .map_err(crate::storage_error)?
            .select(vec![ident(tally_events::PROFILE_USER)])
            .map_err(engine_error)?;
        everyone.extend(strings(profiles).await?);
        let universe = Arc::new(everyone);
        self.universe = Some(Arc::clone(&universe));
        Ok(universe)
    }
}

/// The first column of a one-column text answer.
async fn strings(frame: DataFrame) -> Result<HashSet<String>, QueryError> {
    let mut found = HashSet::new();
    for batch in frame.collect().await.map_err(engine_error)? {
        found.extend(crate::texts(batch.column(0))?.flatten());
    }
    Ok(found)
}
