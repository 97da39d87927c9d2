//! Tally's read side: answers Insights, Funnels and Retention reports over one project's
//! events with Apache DataFusion.
//!
//! A report ([`model::Report`]) compiles to a DataFusion plan over the project's events as
//! `tally-events` presents them ([`tally_events::ProjectEvents::frame`]: files and memory,
//! one copy per deduplication key, canonical user ids). Counting per user in order
//! (funnels, retention) is a `GroupsAccumulator` over each user's events
//! ([`functions::Sequence`]), never a self-join. Every entry point takes a
//! [`DataScope`] for `ViewReports`, which only `tally-iam`'s authorization makes.
//! Rules: `docs/design/2026-12-06-query-engine.md`, after `report-semantics.md`.

mod bins;
pub mod buckets;
mod cache;
pub mod cluster;
mod cohorts;
mod export;
pub mod expression;
mod filters;
mod flows;
mod formula;
pub mod functions;
mod funnels;
mod insights;
mod interner;
pub mod model;
mod retention;
pub mod selection;
mod users;
pub mod views;

use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use serde::Serialize;
use tally_iam::authz::DataScope;
use tally_types::ErrorKind;
use tally_types::permissions::project::ViewReports;

pub use cache::AnswerCache;
pub use cohorts::SavedCohorts;
pub use export::{ExportLines, ExportRequest};
pub use flows::{FlowLink, FlowNode, FlowPath, FlowStep, FlowsAnswer};
pub use funnels::{FunnelAnswer, FunnelStep};
pub use insights::{ComparedPeriod, InsightsAnswer, MAX_SEGMENTS, NOT_SET, Series};
pub use retention::{RetentionAnswer, RetentionAverage, RetentionRow};
pub use users::{ActivityAnswer, ExportedEvent, LiveAnswer, MAX_FEED, MAX_LIVE};

/// Why a report could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The report asks for something that cannot be answered as asked (400).
    #[error("{0}")]
    Invalid(String),
    /// The events could not be read (503).
    #[error("the event storage cannot be read right now: {0}")]
    Storage(String),
    /// The query needs more memory than the engine may use (400: narrow the question).
    #[error("{0}")]
    TooBig(String),
    /// The query ran longer than the engine's time limit (400, as one too big: narrow it).
    #[error("{0}")]
    TimedOut(String),
}

impl QueryError {
    pub fn invalid(message: impl Into<String>) -> QueryError {
        QueryError::Invalid(message.into())
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            QueryError::Invalid(_) => ErrorKind::InvalidInput,
            QueryError::Storage(_) => ErrorKind::Unavailable,
            QueryError::TooBig(_) => ErrorKind::InvalidInput,
            QueryError::TimedOut(_) => ErrorKind::InvalidInput,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            QueryError::Invalid(_) => "invalid_report",
            QueryError::Storage(_) => "storage_unavailable",
            QueryError::TooBig(_) => "query_too_big",
            QueryError::TimedOut(_) => "query_timed_out",
        }
    }
}

/// Whether the engine failed for want of memory.
pub(crate) fn exhausted(error: &datafusion::error::DataFusionError) -> bool {
    matches!(error.find_root(), datafusion::error::DataFusionError::ResourcesExhausted(_))
}

pub(crate) fn engine_error(error: datafusion::error::DataFusionError) -> QueryError {
    if exhausted(&error) {
        return QueryError::TooBig(format!(
            "the query needs more memory than the query engine may use ({error}); choose a shorter range or fewer segments"
        ));
    }
    QueryError::Storage(format!("query engine: {error}"))
}

/// An answer's column as text, `None` where null.
pub(crate) fn texts(
    column: &datafusion::arrow::array::ArrayRef,
) -> Result<impl Iterator<Item = Option<String>>, QueryError> {
    use datafusion::arrow::array::{Array, StringArray};
    let column = datafusion::arrow::compute::cast(column, &datafusion::arrow::datatypes::DataType::Utf8)
        .map_err(|error| engine_error(error.into()))?;
    let Some(strings) = column.as_any().downcast_ref::<StringArray>() else {
        return Err(QueryError::Storage("query engine: a column cast to text came back as another type".to_string()));
    };
    let values: Vec<Option<String>> = strings.iter().map(|value| value.map(str::to_string)).collect();
    Ok(values.into_iter())
}

pub(crate) fn storage_error(error: tally_events::StorageError) -> QueryError {
    QueryError::Storage(error.to_string())
}

/// The range a report covered, as resolved in the project's time zone.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ResolvedRange {
    pub from_date: String,
    pub to_date: String,
    pub time_zone: String,
    /// UTC milliseconds: the start of `from_date` and the end of `to_date`.
    pub from_ms: i64,
    pub to_ms: i64,
}

/// Every answer: the report's own result and when and how it was computed.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Answer {
    pub range: ResolvedRange,
    /// RFC 3339, UTC.
    pub computed_at: String,
    pub from_cache: bool,
    #[serde(flatten)]
    pub result: ReportResult,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReportResult {
    Insights(InsightsAnswer),
    Funnels(FunnelAnswer),
    Retention(RetentionAnswer),
    Flows(FlowsAnswer),
}

/// What every query of the process shares: a fair spilling memory pool of the configured
/// size and a spill folder (emptied when made: nothing in it outlives a process).
#[derive(Debug, Clone)]
pub struct QueryRuntime(Arc<RuntimeEnv>);

impl QueryRuntime {
    pub fn new(spill_dir: &std::path::Path, memory_bytes: usize) -> Result<QueryRuntime, QueryError> {
        tally_events::spilling_runtime(spill_dir, memory_bytes).map(QueryRuntime).map_err(storage_error)
    }
}

/// The query engine of one region: its sessions share the process's [`QueryRuntime`] and
/// use as many partitions as the machine has cores.
#[derive(Debug, Clone)]
pub struct QueryEngine {
    events: tally_events::EventStore,
    runtime: Arc<RuntimeEnv>,
    partitions: usize,
    clock: tally_types::SharedClock,
    time_limit: Option<std::time::Duration>,
    cache: Arc<AnswerCache>,
    /// Whether kept answers are ignored (and replaced).
    refresh: bool,
    /// The scheduler of the cluster reports run on (`df://host:port`), if any.
    cluster: Option<Arc<str>>,
}

impl QueryEngine {
    /// Without a runtime of its own, the engine shares the region's (the export's).
    pub fn new(
        events: tally_events::EventStore,
        clock: tally_types::SharedClock,
        runtime: Option<&QueryRuntime>,
    ) -> QueryEngine {
        let partitions = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let runtime = runtime.map_or_else(|| events.runtime(), |runtime| Arc::clone(&runtime.0));
        events.set_view_planner(Arc::new(views::Planner));
        QueryEngine {
            runtime,
            events,
            partitions,
            clock,
            time_limit: None,
            cache: Arc::default(),
            refresh: false,
            cluster: None,
        }
    }

    /// The engine stopping every report and cohort that runs longer than `limit`.
    pub fn with_time_limit(mut self, limit: std::time::Duration) -> QueryEngine {
        self.time_limit = Some(limit);
        self
    }

    /// The engine computing every answer again rather than serving a kept one (the new
    /// answer is kept).
    pub fn refreshing(mut self) -> QueryEngine {
        self.refresh = true;
        self
    }

    /// The engine keeping its answers in `cache` (shared by the engines of one process).
    pub fn with_cache(mut self, cache: Arc<AnswerCache>) -> QueryEngine {
        self.cache = cache;
        self
    }

    /// The engine running reports on the Ballista cluster whose scheduler is at `url`
    /// (`df://host:port`).
    pub fn with_cluster(mut self, url: Option<&str>) -> QueryEngine {
        self.cluster = url.map(Arc::from);
        self
    }

    /// The session a report runs in: the cluster's when there is one, else this process's.
    /// Whether it is the cluster's comes with it.
    async fn report_context(&self) -> Result<(SessionContext, bool), QueryError> {
        match &self.cluster {
            Some(url) => Ok((cluster::remote_session(url, self.partitions).await?, true)),
            None => Ok((self.context(), false)),
        }
    }

    /// Runs `work` under the engine's time limit: past it, the work is dropped (its plans
    /// stop) and the caller told so.
    async fn limited<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, QueryError>>,
    ) -> Result<T, QueryError> {
        let Some(limit) = self.time_limit else { return work.await };
        match tokio::time::timeout(limit, work).await {
            Ok(answer) => answer,
            Err(_) => Err(QueryError::TimedOut(format!(
                "the query ran longer than its limit of {} ms and was stopped; choose a shorter range or fewer segments",
                limit.as_millis()
            ))),
        }
    }

    fn context(&self) -> SessionContext {
        self.session(Arc::clone(&self.runtime), self.partitions)
    }

    /// A session in `runtime` with `partitions` target partitions and Tally's functions.
    fn session(&self, runtime: Arc<RuntimeEnv>, partitions: usize) -> SessionContext {
        let mut config = SessionConfig::new().with_target_partitions(partitions);
        config.options_mut().execution.sort_spill_reservation_bytes = tally_events::SORT_MERGE_RESERVATION;
        let context = SessionContext::new_with_config_rt(config, runtime);
        functions::register(&context);
        context
    }

    /// The project's events in `[from_ms, to_ms)` as a table of `context`, with their users'
    /// profiles (the column `user_properties`) when `profiles` is [`Profiles::Joined`].
    async fn events<P: tally_types::permissions::ProjectMarker>(
        &self,
        scope: &DataScope<P>,
        context: &SessionContext,
        from_ms: i64,
        to_ms: i64,
        profiles: Profiles,
    ) -> Result<(tally_events::ProjectEvents, Option<DataFrame>), QueryError> {
        let events = self.events.project_events(scope, from_ms, to_ms).await.map_err(storage_error)?;
        let frame = events.frame(context).await.map_err(storage_error)?;
        let frame = match (frame, profiles) {
            (Some(frame), Profiles::Joined) => Some(events.with_profiles(context, frame).map_err(storage_error)?),
            (frame, _) => frame,
        };
        Ok((events, frame))
    }

    /// Answers `report` over the scope's project.
    pub async fn run(&self, scope: &DataScope<ViewReports>, report: &model::Report) -> Result<Answer, QueryError> {
        self.run_with_cohorts(scope, report, &SavedCohorts::new()).await
    }

    /// The users a cohort holds now (canonical ids, sorted); `saved` are the cohorts it may
    /// name.
    pub async fn cohort_members<P: tally_types::permissions::ProjectMarker>(
        &self,
        scope: &DataScope<P>,
        condition: &model::CohortCondition,
        saved: &SavedCohorts,
    ) -> Result<Vec<String>, QueryError> {
        self.limited(async {
            let mut resolver = cohorts::Resolver::new(self, scope, saved);
            let mut members: Vec<String> = resolver.condition(condition).await?.into_iter().collect();
            members.sort_unstable();
            Ok(members)
        })
        .await
    }

    /// Answers `report`, whose filters and breakdown may name the cohorts of `saved` (the
    /// ones the caller may use); naming another is refused.
    pub async fn run_with_cohorts(
        &self,
        scope: &DataScope<ViewReports>,
        report: &model::Report,
        saved: &SavedCohorts,
    ) -> Result<Answer, QueryError> {
        self.limited(async {
            let members = self.members_of_named_cohorts(scope, report, saved).await?;
            if !members.is_empty() {
                // A cohort's members change with time and with data the report does not read.
                return cohorts::with_members(members, self.run_alone(scope, report)).await;
            }
            let question = cache::Question::new(
                scope.project_id().0,
                format!(
                    "{:?} {:?} {:?}",
                    scope.project().timezone,
                    scope.visibility(),
                    self.events.text_only_properties(scope)
                ),
                report,
            );
            if let Some(question) = &question
                && !self.refresh
                && let Some(answer) =
                    self.cache.get(question, |version, until_ms| self.events.unchanged_before(scope, version, until_ms))
            {
                return Ok(answer);
            }
            let version = self.events.data_version(scope);
            let answer = self.run_alone(scope, report).await?;
            let until_ms = answer.range.to_ms.saturating_add(cache::looks_ahead(report));
            if let Some(question) = question
                && until_ms <= self.clock.now().as_millisecond()
            {
                self.cache.put(question, version, until_ms, &answer);
            }
            Ok(answer)
        })
        .await
    }

    /// The users of each saved cohort `report` names, sorted, for [`cohorts::with_members`].
    pub(crate) async fn members_of_named_cohorts(
        &self,
        scope: &DataScope<ViewReports>,
        report: &model::Report,
        saved: &SavedCohorts,
    ) -> Result<std::collections::HashMap<i64, Arc<Vec<String>>>, QueryError> {
        let mut members = std::collections::HashMap::new();
        let mut resolver = cohorts::Resolver::new(self, scope, saved);
        for id in cohorts::named_in(report) {
            let mut sorted: Vec<String> = resolver.saved(id).await?.iter().cloned().collect();
            sorted.sort_unstable();
            members.insert(id, Arc::new(sorted));
        }
        Ok(members)
    }

    async fn run_alone(&self, scope: &DataScope<ViewReports>, report: &model::Report) -> Result<Answer, QueryError> {
        self.run_picking(scope, report, &mut selection::Pick::None).await
    }

    /// Runs a report, collecting what `pick` asks for on the way.
    pub(crate) async fn run_picking(
        &self,
        scope: &DataScope<ViewReports>,
        report: &model::Report,
        pick: &mut selection::Pick,
    ) -> Result<Answer, QueryError> {
        let zone = zone_of(scope);
        let computed_at = self.clock.now().to_string();
        let (context, remote) = self.report_context().await?;
        let text_only = self.events.text_only_properties(scope);
        let work = async {
            let (range, result) = match report {
                model::Report::Insights(insights) => {
                    let (range, answer) = insights::run(self, scope, &context, &zone, insights).await?;
                    (range, ReportResult::Insights(answer))
                }
                model::Report::Funnels(funnel) => {
                    let (range, answer) = funnels::run(self, scope, &context, &zone, funnel, pick).await?;
                    (range, ReportResult::Funnels(answer))
                }
                model::Report::Retention(retention) => {
                    let (range, answer) = retention::run(self, scope, &context, &zone, retention, pick).await?;
                    (range, ReportResult::Retention(answer))
                }
                model::Report::Flows(flows) => {
                    let (range, answer) = flows::run(self, scope, &context, &zone, flows).await?;
                    (range, ReportResult::Flows(answer))
                }
            };
            Ok::<_, QueryError>((range, result))
        };
        let (range, result) = functions::with_text_only(text_only, work).await.map_err(|error| match error {
            QueryError::Storage(detail) if remote => QueryError::Storage(format!(
                "on the query cluster at {}: {detail}",
                self.cluster.as_deref().unwrap_or("")
            )),
            error => error,
        })?;
        Ok(Answer { range, computed_at, from_cache: false, result })
    }
}

/// Whether a report reads its events' user profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Profiles {
    /// The events alone.
    Without,
    /// Each event with its user's profile as it is now.
    Joined,
}

impl Profiles {
    /// Joined when any of the filters or the `where` expression reads a profile property.
    pub(crate) fn for_filters<'a>(
        filters: impl IntoIterator<Item = &'a model::Filter>,
        where_expression: Option<&str>,
    ) -> Profiles {
        if filters::reads_profiles(filters) || expression::reads_profiles(where_expression) {
            Profiles::Joined
        } else {
            Profiles::Without
        }
    }

    pub(crate) fn or(self, other: Profiles) -> Profiles {
        if self == Profiles::Joined { self } else { other }
    }
}

/// The project's time zone (UTC when its name is unknown to this build).
pub fn zone_of<P: tally_types::permissions::ProjectMarker>(scope: &DataScope<P>) -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::get(&scope.project().timezone).unwrap_or(jiff::tz::TimeZone::UTC)
}

pub(crate) fn resolved(range: &model::DateRange, zone: &jiff::tz::TimeZone, from_ms: i64, to_ms: i64) -> ResolvedRange {
    ResolvedRange {
        from_date: range.from_date.to_string(),
        to_date: range.to_date.to_string(),
        time_zone: zone.iana_name().unwrap_or("UTC").to_string(),
        from_ms,
        to_ms,
    }
}
