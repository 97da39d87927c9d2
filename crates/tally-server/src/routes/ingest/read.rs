//! Mixpanel's raw reads: `/api/2.0/export` (events as JSON lines) and `/api/2.0/engage`
//! (profiles, paged as Mixpanel pages them, filtered by a `where` expression).

use std::collections::HashMap;

use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tally_iam::authz::DataScope;
use tally_types::permissions::{ProjectMarker, project};

use super::{data_scope_for, header_str, merged_params, misdirected_answer, read_body};
use crate::AppState;
use crate::extract::QueryParams;

/// The project a read request names (API secret, or a service account with `project_id`
/// and the permission `P`) and its region's storage on this node.
pub(crate) async fn readable<P: ProjectMarker>(
    state: &AppState,
    parts: &Parts,
    query: &HashMap<String, String>,
) -> Result<(DataScope<P>, tally_events::EventStore), Response> {
    let scope = data_scope_for::<P>(state, parts, query.get("project_id").map(String::as_str)).await?;
    match state.event_store(&scope.project().region).cloned() {
        Some(store) => Ok((scope, store)),
        None => Err(misdirected_answer(state, &scope.project().region)),
    }
}

fn export_error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message, "status": "error" }))).into_response()
}

/// `GET /api/2.0/export`: raw events as JSON lines, `from_date`..`to_date` inclusive in
/// the project's timezone, streamed in time order as the events are read (memory stays
/// flat whatever the size), one copy per (event, distinct_id, time, `$insert_id`), `where`
/// as a segmentation expression and `limit` stopping the scan.
pub(crate) async fn export(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<HashMap<String, String>>,
    parts: Parts,
) -> Response {
    let (scope, engine) = match crate::routes::query_api::engine::<project::ExportEvents>(&state, &parts, &query).await
    {
        Ok(found) => found,
        Err(response) => return response,
    };
    let range = tally_query::model::DateRange::from_params(&query).and_then(|range| {
        tally_query::buckets::resolve(&range, &tally_query::zone_of(&scope)).map_err(|error| error.to_string())
    });
    let (from_ms, to_ms) = match range {
        Ok(range) => range,
        Err(message) => return export_error(StatusCode::BAD_REQUEST, message),
    };
    let names = match query.get("event") {
        None => None,
        Some(text) => match serde_json::from_str::<Vec<String>>(text) {
            Ok(names) => Some(names),
            Err(_) => return export_error(StatusCode::BAD_REQUEST, "event must be a JSON array of event names".into()),
        },
    };
    let request = tally_query::ExportRequest {
        from_ms,
        to_ms,
        names,
        where_expression: query.get("where").map(|text| text.trim().to_string()).filter(|text| !text.is_empty()),
        limit: query.get("limit").and_then(|text| text.parse().ok()),
        time_in_ms: query.get("time_in_ms").is_some_and(|value| value == "true" || value == "1"),
    };
    let events = match engine.export(&scope, request).await {
        Ok(events) => events,
        Err(error) if error.kind() == tally_types::ErrorKind::InvalidInput => {
            return export_error(StatusCode::BAD_REQUEST, error.to_string());
        }
        Err(error) => {
            tracing::error!(%error, "cannot read events for an export");
            return export_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the event storage cannot be read right now; try again shortly".into(),
            );
        }
    };
    let wants_gzip = header_str(&parts.headers, header::ACCEPT_ENCODING)
        .is_some_and(|accepted| accepted.split(',').any(|coding| coding.trim().starts_with("gzip")));
    let body = axum::body::Body::from_stream(ndjson(events, wants_gzip));
    if wants_gzip {
        return ([(header::CONTENT_TYPE, "application/x-ndjson"), (header::CONTENT_ENCODING, "gzip")], body)
            .into_response();
    }
    ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
}

/// The export's body, written as the events are read: JSON lines, gzip-compressed on the
/// way when asked. An error after the first bytes can only cut the answer short (the
/// status is sent): it is logged and the stream ends with it, so the client sees an
/// incomplete body rather than a complete-looking one.
fn ndjson(
    lines: tally_query::ExportLines,
    gzip: bool,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send {
    use futures_util::StreamExt;
    use std::io::Write;
    let encoder = gzip.then(|| flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    let lines = lines.map(|lines| {
        lines.map_err(|error| {
            tracing::error!(%error, "an export stopped part-way");
            std::io::Error::other(error.to_string())
        })
    });
    futures_util::stream::unfold(Some((lines, encoder)), |state| async move {
        let (mut lines, mut encoder) = state?;
        match lines.next().await {
            Some(Ok(text)) => {
                let chunk = match encoder.as_mut() {
                    Some(encoder) => {
                        if let Err(error) = encoder.write_all(&text) {
                            return Some((Err(error), None));
                        }
                        std::mem::take(encoder.get_mut())
                    }
                    None => text,
                };
                Some((Ok(bytes::Bytes::from(chunk)), Some((lines, encoder))))
            }
            Some(Err(error)) => Some((Err(error), None)),
            // The end: the gzip trailer, once.
            // (The line stream is done and must not be polled again.)
            None => match encoder.take().map(flate2::write::GzEncoder::finish) {
                Some(Ok(tail)) => Some((Ok(bytes::Bytes::from(tail)), None)),
                Some(Err(error)) => Some((Err(error), None)),
                None => None,
            },
        }
    })
}

/// Profiles per page of `/api/2.0/engage` (Mixpanel's fixed page size).
const PAGE_SIZE: usize = 1000;

/// `GET|POST /api/2.0/engage`: user (or group) profiles as Mixpanel's Query API lists them:
/// `distinct_id` or `distinct_ids` for some, `where` to filter, and pages of 1000 in a
/// stable order (by distinct_id) — repeat with the `session_id` and `page + 1` while a page
/// is full. A `where` this version cannot read is refused with 400, never read as
/// "everything".
pub(crate) async fn query_profiles(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<HashMap<String, String>>,
    request: axum::extract::Request,
) -> Response {
    // POST sends its parameters as a form, as Mixpanel's Query API accepts them.
    let (parts, body) = request.into_parts();
    let Some(bytes) = read_body(body, state.config().http.max_body_bytes).await else {
        return export_error(StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large".into());
    };
    let query = merged_params(&query, &bytes, header_str(&parts.headers, header::CONTENT_TYPE));
    let (scope, store) = match readable::<project::ViewUsers>(&state, &parts, &query).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let project = scope.project();
    let filter = match query.get("where").map(|text| text.trim()).filter(|text| !text.is_empty()) {
        None => None,
        Some(text) => match tally_ingest::expr::parse(text) {
            Ok(expr) => Some(expr),
            Err(error) => return export_error(StatusCode::BAD_REQUEST, error.to_string()),
        },
    };
    let wanted_ids: Option<Vec<String>> = match (query.get("distinct_id"), query.get("distinct_ids")) {
        (Some(id), _) => Some(vec![id.clone()]),
        (None, Some(text)) => match serde_json::from_str::<Vec<String>>(text) {
            Ok(ids) => Some(ids),
            Err(_) => {
                return export_error(StatusCode::BAD_REQUEST, "distinct_ids must be a JSON array of strings".into());
            }
        },
        (None, None) => None,
    };
    let page = match query.get("page").map(|text| text.parse::<usize>()) {
        None => 0,
        Some(Ok(page)) => page,
        Some(Err(_)) => return export_error(StatusCode::BAD_REQUEST, "page must be a number from 0".into()),
    };
    let group_key = query.get("data_group_id").map(String::as_str).filter(|key| !key.is_empty());
    // Sorted by distinct_id: the order is the same on every page of a session.
    let mut profiles = match store.profiles_of(&scope, group_key).await {
        Ok(profiles) => profiles,
        Err(error) => return export_error(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
    };
    if let Some(ids) = &wanted_ids {
        profiles.retain(|(id, _)| ids.contains(id));
    }
    // `filter_by_cohort={"id":N}`: the members of a shared cohort, computed now.
    if let Some(text) = query.get("filter_by_cohort").filter(|text| !text.trim().is_empty()) {
        let members = match cohort_members(&state, &scope, text).await {
            Ok(members) => members,
            Err(response) => return response,
        };
        let events = match store.project_events(&scope, 0, 0).await {
            Ok(events) => events,
            Err(error) => return export_error(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
        };
        profiles.retain(|(id, _)| members.contains(&events.canonical(id)));
    }
    // Every match is counted; only the page's are written.
    let first = page.saturating_mul(PAGE_SIZE);
    let (mut total, mut results) = (0usize, Vec::with_capacity(PAGE_SIZE));
    for (id, profile) in &profiles {
        let properties = profile_properties(profile);
        if filter.as_ref().is_some_and(|expr| !expr.matches(&properties)) {
            continue;
        }
        if (first..first.saturating_add(PAGE_SIZE)).contains(&total) {
            results.push(json!({ "$distinct_id": id, "$properties": properties }));
        }
        total += 1;
    }
    // The session names the query it pages through (the same parameters, the same order).
    let session_id = match query.get("session_id").filter(|id| !id.is_empty()) {
        Some(id) => id.clone(),
        None => session_of(project, &query),
    };
    axum::Json(json!({
        "page": page,
        "page_size": PAGE_SIZE,
        "results": results,
        "session_id": session_id,
        "status": "ok",
        "total": total,
    }))
    .into_response()
}

/// A profile's properties as the Query API shows them: with `$last_seen`.
pub(crate) fn profile_properties(profile: &tally_ingest::profiles::Profile) -> serde_json::Map<String, Value> {
    let mut properties = profile.properties.clone();
    if let Some(ms) = profile.last_seen_ms
        && let Ok(at) = jiff::Timestamp::from_millisecond(ms)
    {
        properties.insert("$last_seen".into(), Value::from(at.strftime("%Y-%m-%dT%H:%M:%S").to_string()));
    }
    properties
}

/// A session id for a profile query: a digest of what it asks.
fn session_of(project: &tally_iam::records::Project, query: &HashMap<String, String>) -> String {
    let mut asked: Vec<(&String, &String)> =
        query.iter().filter(|(key, _)| !matches!(key.as_str(), "page" | "session_id")).collect();
    asked.sort();
    let text = format!("{}:{asked:?}", project.id.0);
    tally_iam::token_hash(&text).chars().take(24).collect()
}

/// The members of the shared cohort `{"id": N}` names (canonical ids).
async fn cohort_members(
    state: &AppState,
    scope: &tally_iam::authz::DataScope<project::ViewUsers>,
    text: &str,
) -> Result<std::collections::HashSet<String>, Response> {
    let Some(id) = serde_json::from_str::<Value>(text).ok().and_then(|value| value["id"].as_i64()) else {
        return Err(export_error(StatusCode::BAD_REQUEST, "filter_by_cohort must be JSON such as {\"id\": 12}".into()));
    };
    let cohorts = tally_iam::reports::api_cohorts(state.directory(), scope)
        .await
        .map_err(|error| export_error(StatusCode::SERVICE_UNAVAILABLE, error.to_string()))?;
    let saved = crate::routes::app::cohorts::saved_cohorts(&cohorts);
    let Some(definition) = saved.get(&id) else {
        return Err(export_error(StatusCode::NOT_FOUND, format!("no shared cohort has id {id}")));
    };
    let Some(engine) = state.query_engine(&scope.project().region) else {
        return Err(export_error(StatusCode::MISDIRECTED_REQUEST, "this project's data is served elsewhere".into()));
    };
    let members = engine
        .cohort_members(scope, definition, &saved)
        .await
        .map_err(|error| export_error(StatusCode::BAD_REQUEST, error.to_string()))?;
    Ok(members.into_iter().collect())
}
