//! `GET|POST /import`: server-side and historical events, authenticated by the project's
//! API secret (or token), or a service account with `project_id`.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::json;
use tally_ingest::{DecodeError, Endpoint, Outcome, Payload, Rules, decode_items, validate_event};

use super::{
    Refusal, header_str, import_answer, import_scope, merged_params, misdirected_answer, now_ms, peer_ip,
    random_insert_id, rate_limit_message, rate_limited, read_body, request_ip, store, too_many, track_answer,
    unavailable,
};
use crate::AppState;
use crate::extract::QueryParams;

/// Mixpanel's documented `/import` takes a JSON body and answers JSON; the official SDKs
/// also send `data=` (base64 or raw JSON) as a form body (Python, Node's `import_batch`) or
/// on the query string of a GET (Node's `import`), and expect `/track`'s answers (`1`, or
/// `{"status":1}`). Those are legacy requests: not strict unless they say `strict=1`.
pub(crate) async fn import(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<HashMap<String, String>>,
    parts: Parts,
    body: Body,
) -> Response {
    let scope = match import_scope(&state, &parts, query.get("project_id").map(String::as_str)).await {
        Ok(scope) => scope,
        Err(response) => return response,
    };
    let (project, trusted) = (scope.project(), scope.trusted());
    if state.event_store(&project.region).is_none() {
        return misdirected_answer(&state, &project.region);
    }
    // Dropped events are taken and not stored (nor counted as imported).
    let dropped = match state.dropped_events(&scope).await {
        Ok(dropped) => dropped,
        Err(error) => return super::metadata_unavailable(&error),
    };
    let limit = state.config().http.max_body_bytes;
    let too_large = |message: String| {
        import_answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({ "code": 413, "error": message, "status": "Request Entity Too Large" }),
        )
    };
    let Some(bytes) = read_body(body, limit).await else {
        return too_large(format!("request exceeds max limit of {limit} bytes"));
    };
    let content_type = header_str(&parts.headers, header::CONTENT_TYPE);
    let query = merged_params(&query, &bytes, content_type);
    let payload = Payload {
        body: &bytes,
        content_type,
        content_encoding: header_str(&parts.headers, header::CONTENT_ENCODING),
        query_data: query.get("data").map(String::as_str),
    };
    let legacy = content_type.is_some_and(|kind| kind.starts_with("application/x-www-form-urlencoded"))
        || bytes.starts_with(b"data=")
        || (bytes.trim_ascii().is_empty() && query.contains_key("data"));
    let items = match decode_items(&payload) {
        Ok(items) if items.len() > tally_ingest::MAX_ITEMS => return too_large(too_many(items.len())),
        Ok(items) => items,
        Err(DecodeError::TooLarge) => return too_large(DecodeError::TooLarge.to_string()),
        Err(error) => {
            if legacy {
                let mut response = track_answer(&query, false, &[], Some(error.to_string()));
                *response.status_mut() = StatusCode::BAD_REQUEST;
                return response;
            }
            return import_answer(
                StatusCode::BAD_REQUEST,
                json!({ "code": 400, "error": error.to_string(), "status": "Bad Request" }),
            );
        }
    };
    let strict = match query.get("strict") {
        Some(value) => value == "1" || value == "true",
        None => !legacy,
    };
    let rules = Rules { endpoint: Endpoint::Import, now_ms: now_ms(&state), trusted, strict };
    let mut accepted = Vec::new();
    let mut failed = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match validate_event(index, item, rules, project.id.0, &mut random_insert_id) {
            Ok(Outcome::Accepted { mut event, ip, sent_distinct_id, .. }) => {
                if let Some(geoip) = state.geoip() {
                    geoip.annotate(&mut event.properties, ip.as_ref(), request_ip(&query, peer_ip(&parts.extensions)));
                }
                if dropped.contains(&event.name) {
                    continue;
                }
                event.apply_id_merge(project.id_merge, sent_distinct_id);
                accepted.push((*event, project.region.clone()));
            }
            Ok(Outcome::Ignored) => {}
            Err(error) => failed.push(error),
        }
    }
    let n_imported = accepted.len();
    match store(&state, accepted).await {
        Ok(()) => {}
        Err(Refusal::Unavailable(error)) => {
            return unavailable(json!({ "code": 503, "error": error, "status": "Service Unavailable" }));
        }
        Err(Refusal::RateLimited(seconds)) => {
            return rate_limited(
                seconds,
                json!({ "code": 429, "error": rate_limit_message(seconds), "status": "Too Many Requests" }),
            );
        }
    }
    if legacy {
        return track_answer(&query, n_imported > 0, &failed, None);
    }
    // Strict, as at Mixpanel: the valid records are stored (their `$insert_id`s make a
    // corrected retry harmless) and the answer is 400, naming every refused one.
    if strict && !failed.is_empty() {
        return import_answer(
            StatusCode::BAD_REQUEST,
            json!({
                "code": 400,
                "error": "some data points in the request failed validation",
                "num_records_imported": n_imported,
                "status": "Bad Request",
                "failed_records": failed,
            }),
        );
    }
    let mut body = json!({ "code": 200, "num_records_imported": n_imported, "status": "OK" });
    if !failed.is_empty() {
        body["failed_records"] = json!(failed);
    }
    import_answer(StatusCode::OK, body)
}
