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
    JsonBody(report): JsonBody<Report>,
) -> Result<Response, ApiError> {
    let permit = scope.require::<ViewReports>()?;
    let data = state.data_scope(&permit, &view).await?;
    let engine = state.query_engine_of(&data)?;
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
