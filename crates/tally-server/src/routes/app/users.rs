//! Users: the project's profiles (filtered by a segmentation expression, sorted by a
//! property, paged) and one user's activity feed, for anyone who may view users.

use std::collections::HashMap;

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;
use tally_types::permissions::project::ViewUsers;

use super::ok;
use super::query::query_error;
use crate::access::ProjectAccess;
use crate::extract::{QueryParams, ViewChoice};
use crate::routes::ingest::profile_properties;
use crate::{ApiError, AppState};

/// Most profiles per page.
const MAX_PAGE: usize = 1000;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::invalid("invalid_parameter", message)
}

/// `GET /api/app/projects/{id}/users?where=&sort=&order=asc|desc&page=&page_size=`.
pub(crate) async fn list(
    State(state): State<AppState>,
    ProjectAccess(scope, _): ProjectAccess,
    view: ViewChoice,
    QueryParams(params): QueryParams<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let data = state.data_scope(&scope.require::<ViewUsers>()?, &view).await?;
    let events = state.events_of(&data)?;
    let filter = match params.get("where").map(|text| text.trim()).filter(|text| !text.is_empty()) {
        Some(text) => Some(tally_ingest::expr::parse(text).map_err(|error| invalid(error.to_string()))?),
        None => None,
    };
    let number = |name: &str, default: usize| -> Result<usize, ApiError> {
        match params.get(name) {
            None => Ok(default),
            Some(text) => text.parse().map_err(|_| invalid(format!("{name} must be a whole number"))),
        }
    };
    let (page, page_size) = (number("page", 0)?, number("page_size", 100)?);
    if !(1..=MAX_PAGE).contains(&page_size) {
        return Err(invalid(format!("page_size is from 1 to {MAX_PAGE}")));
    }
    let descending = match params.get("order").map(String::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => return Err(invalid(format!("order {other:?} is not asc or desc"))),
    };
    let mut rows: Vec<(String, serde_json::Map<String, Value>)> = events
        .profiles_of(&data, None)
        .await
        .map_err(AppState::storage_unavailable)?
        .iter()
        .map(|(id, profile)| (id.clone(), profile_properties(profile)))
        .filter(|(_, properties)| filter.as_ref().is_none_or(|expr| expr.matches(properties)))
        .collect();
    if let Some(property) = params.get("sort").filter(|name| !name.is_empty()) {
        // Numbers by value, then text; profiles without the property last either way.
        let key = |properties: &serde_json::Map<String, Value>| properties.get(property).cloned();
        rows.sort_by(|a, b| {
            let (left, right) = (key(&a.1), key(&b.1));
            let order = match (&left, &right) {
                (Some(Value::Number(x)), Some(Value::Number(y))) => {
                    x.as_f64().unwrap_or(0.0).total_cmp(&y.as_f64().unwrap_or(0.0))
                }
                (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
                (Some(_), None) => return std::cmp::Ordering::Less,
                (None, Some(_)) => return std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            };
            let order = if descending { order.reverse() } else { order };
            order.then_with(|| a.0.cmp(&b.0))
        });
    }
    let total = rows.len();
    let users = rows
        .into_iter()
        .skip(page.saturating_mul(page_size))
        .take(page_size)
        .map(|(distinct_id, properties)| UserProfile { distinct_id, properties })
        .collect();
    Ok(ok(UsersPage { total, page, page_size, users }))
}

/// One page of user profiles.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UsersPage {
    /// Profiles that match, on every page.
    total: usize,
    page: usize,
    page_size: usize,
    users: Vec<UserProfile>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UserProfile {
    distinct_id: String,
    /// `$`-prefixed reserved properties and the project's own, as last set.
    #[schema(value_type = Object)]
    properties: serde_json::Map<String, Value>,
}

/// `GET /api/app/projects/{id}/users/activity?distinct_id=&from_date=&to_date=&limit=`: the
/// user's events, newest first, across every id merged into them.
pub(crate) async fn activity(
    State(state): State<AppState>,
    ProjectAccess(scope, _): ProjectAccess,
    view: ViewChoice,
    QueryParams(params): QueryParams<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let data = state.data_scope(&scope.require::<ViewUsers>()?, &view).await?;
    let engine = state.query_engine_of(&data)?;
    let distinct_id =
        params.get("distinct_id").filter(|id| !id.is_empty()).ok_or_else(|| invalid("distinct_id is required"))?;
    let range = tally_query::model::DateRange::from_params(&params).map_err(invalid)?;
    let limit = match params.get("limit") {
        None => 100,
        Some(text) => text.parse().map_err(|_| invalid("limit must be a whole number"))?,
    };
    let answer = engine.activity(&data, distinct_id, &range, limit).await.map_err(query_error)?;
    Ok(ok(answer))
}

/// `GET /api/app/projects/{id}/events/live?limit=`: the newest events received, newest
/// first (the web app polls it while someone sets up an SDK).
pub(crate) async fn live(
    State(state): State<AppState>,
    ProjectAccess(scope, _): ProjectAccess,
    view: ViewChoice,
    QueryParams(params): QueryParams<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let data = state.data_scope(&scope.require::<ViewUsers>()?, &view).await?;
    let engine = state.query_engine_of(&data)?;
    let limit = match params.get("limit") {
        None => 50,
        Some(text) => text.parse().map_err(|_| invalid("limit must be a whole number"))?,
    };
    let answer = engine.live(&data, limit).await.map_err(query_error)?;
    Ok(ok(answer))
}
