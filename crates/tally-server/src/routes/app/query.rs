//! `POST /api/app/projects/{id}/query`: a report (Insights, Funnels, Retention) answered as
//! JSON for the web app's charts, for anyone who may view the project's reports.

use axum::extract::State;
use axum::response::Response;
use tally_query::model::Report;
use tally_types::permissions::project::ViewReports;

use super::ok;
use crate::access::ProjectAccess;
use crate::extract::{JsonBody, ViewChoice};
use crate::{ApiError, AppState};

pub(crate) async fn run(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    view: ViewChoice,
    headers: axum::http::HeaderMap,
    JsonBody(report): JsonBody<Report>,
) -> Result<Response, ApiError> {
    let permit = scope.require::<ViewReports>()?;
    let data = state.data_scope(&permit, &view).await?;
    let mut engine = state.query_engine_of(&data)?;
    // `Cache-Control: no-cache` computes the answer again (and keeps the new one).
    let fresh = headers
        .get_all(axum::http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.split(',').any(|directive| directive.trim().eq_ignore_ascii_case("no-cache")));
    if fresh {
        engine = engine.refreshing();
    }
    // The cohorts the report may name: the caller's own and the shared ones.
    let cohorts = super::cohorts::usable(&state, &scope, &caller).await?;
    let answer = engine.run_with_cohorts(&data, &report, &cohorts).await.map_err(query_error)?;
    Ok(ok(answer))
}

/// A query's failure as the API's error: the report's mistake (400) says what to fix; the
/// storage's (503) is retried.
pub(crate) fn query_error(error: tally_query::QueryError) -> ApiError {
    ApiError::new(error.kind(), error.code(), error.to_string())
}

/// A report and one of its numbers.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SelectionBody {
    report: Report,
    selection: tally_query::selection::Selection,
}

/// The users behind a report's number.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SelectionUsersView {
    count: usize,
    /// Canonical ids, sorted (at most 100,000).
    distinct_ids: Vec<String>,
}

/// `POST .../query/users`: the users at a funnel step, in a retention cell or behind an
/// Insights point (to save them as a cohort), for those who may see users.
pub(crate) async fn selection_users(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    view: ViewChoice,
    JsonBody(body): JsonBody<SelectionBody>,
) -> Result<Response, ApiError> {
    scope.require::<tally_types::permissions::project::ViewUsers>()?;
    let permit = scope.require::<ViewReports>()?;
    let data = state.data_scope(&permit, &view).await?;
    let engine = state.query_engine_of(&data)?;
    let cohorts = super::cohorts::usable(&state, &scope, &caller).await?;
    let users = engine.selection_users(&data, &body.report, &body.selection, &cohorts).await.map_err(query_error)?;
    Ok(ok(SelectionUsersView { count: users.len(), distinct_ids: users }))
}
