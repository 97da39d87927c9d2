//! Mixpanel's ingestion endpoints at the root (`/track`, `/import`) and the raw export
//! (`/api/2.0/export`), answering exactly as Mixpanel does so the official SDKs work by
//! changing only their host. Events are acknowledged only once they are on disk.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tally_ingest::{Endpoint, Event, MAX_ITEMS, Outcome, Payload, RecordError, Rules, decode_items, validate_event};
use tally_store::Project;
use tally_types::{Principal, ProjectId, ProjectPermission};

use crate::AppState;
use crate::access::basic_credentials;
use crate::extract::QueryParams;

/// A 1×1 transparent GIF, for `img=1`.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// CORS for the browser SDKs. mixpanel-browser sends its requests with credentials, which
/// a wildcard origin does not allow, so the caller's origin is echoed. That is safe here
/// because the ingestion routes read no cookie: a project token in the payload is their
/// only credential.
fn with_cors(request: &HeaderMap, mut response: Response) -> Response {
    let headers = response.headers_mut();
    match request.get(header::ORIGIN) {
        Some(origin) => {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        None => {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        }
    }
    response
}

/// `OPTIONS` for browsers about to post events.
pub(crate) async fn preflight(request: HeaderMap) -> Response {
    let mut response = with_cors(&request, StatusCode::NO_CONTENT.into_response());
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type, Content-Encoding, Authorization"),
    );
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    response
}

/// The body, or `None` past the limit.
async fn read_body(body: Body, limit: usize) -> Option<axum::body::Bytes> {
    axum::body::to_bytes(body, limit).await.ok()
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn now_ms(state: &AppState) -> i64 {
    state.clock().now().as_millisecond()
}

fn random_insert_id() -> String {
    tally_types::token::random_hex(16)
}

/// Why nothing of a request was stored.
enum Refusal {
    /// Storage failed (503, with the message).
    Unavailable(String),
    /// A project is over its rate limit (429 after this many seconds).
    RateLimited(u64),
}

/// Charges each project's rate limit for its share of a request, all or nothing.
fn charge(state: &AppState, project_ids: impl Iterator<Item = i64>) -> Result<(), Refusal> {
    let mut counts: HashMap<i64, u64> = HashMap::new();
    for project_id in project_ids {
        *counts.entry(project_id).or_default() += 1;
    }
    state.ingest_limit().take(now_ms(state), &counts).map_err(Refusal::RateLimited)
}

/// 429 with `Retry-After`; nothing of the request was stored.
fn rate_limited(seconds: u64, body: Value) -> Response {
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

fn rate_limit_message(seconds: u64) -> String {
    format!("this project is over its ingestion rate limit; nothing was stored, retry in {seconds} s")
}

/// Stores events in their regions' logs, after charging the projects' rate limits.
async fn store(state: &AppState, events: Vec<(Event, String)>) -> Result<(), Refusal> {
    charge(state, events.iter().map(|(event, _)| event.project_id))?;
    let mut by_region: HashMap<String, Vec<Event>> = HashMap::new();
    for (event, region) in events {
        by_region.entry(region).or_default().push(event);
    }
    for (region, events) in by_region {
        let store = state
            .event_store(&region)
            .ok_or_else(|| Refusal::Unavailable(format!("region {region} is not served here")))?;
        let project_ids: Vec<i64> = events.iter().map(|event| event.project_id).collect();
        store.append(events).await.map_err(|error| Refusal::Unavailable(error.to_string()))?;
        // Usage by project and month, written in the background (the events are safe).
        let month = state.clock().now().strftime("%Y-%m").to_string();
        let mut counts: HashMap<i64, i64> = HashMap::new();
        for project_id in project_ids {
            *counts.entry(project_id).or_default() += 1;
        }
        for (project_id, n) in counts {
            state.pending_usage().add(project_id, &month, n);
        }
    }
    Ok(())
}

/// Parameters sent in a form body beside `data` (mixpanel-python sends `verbose=1&ip=0`
/// there), merged over the query string's.
fn merged_params(query: &HashMap<String, String>, body: &[u8], content_type: Option<&str>) -> HashMap<String, String> {
    let mut params = query.clone();
    let is_form = content_type.is_some_and(|kind| kind.starts_with("application/x-www-form-urlencoded"))
        || body.starts_with(b"data=");
    if is_form {
        for (key, value) in url::form_urlencoded::parse(body) {
            if key != "data" {
                params.insert(key.into_owned(), value.into_owned());
            }
        }
    }
    params
}

/// The answer `/track` gives: `1`/`0`, `{"status":..}` with `verbose=1`, a pixel with
/// `img=1`, or a JSONP call with `callback=`.
fn track_answer(query: &HashMap<String, String>, accepted: bool, error: Option<String>) -> Response {
    let flag = |name: &str| query.get(name).is_some_and(|value| value == "1" || value == "true");
    if flag("img") {
        return ([(header::CONTENT_TYPE, "image/gif")], PIXEL).into_response();
    }
    let body = if flag("verbose") {
        match (&error, accepted) {
            (_, true) => json!({ "status": 1 }).to_string(),
            (Some(error), false) => json!({ "status": 0, "error": error }).to_string(),
            (None, false) => json!({ "status": 0, "error": "no valid data" }).to_string(),
        }
    } else {
        if accepted { "1" } else { "0" }.to_string()
    };
    if let Some(callback) = query.get("callback") {
        // Only a plain function name may be called back (no script injection).
        let safe =
            !callback.is_empty() && callback.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '$'));
        if safe {
            return ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], format!("{callback}({body})"))
                .into_response();
        }
    }
    let kind = if flag("verbose") { "application/json" } else { "text/plain; charset=utf-8" };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

/// `GET|POST /track`: events from clients, the project named by each event's token.
pub(crate) async fn track(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<HashMap<String, String>>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let response = track_events(state, query, &headers, peer_ip(&extensions), body).await;
    with_cors(&headers, response)
}

/// The caller's address.
fn peer_ip(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip())
}

/// The request's address when the sender asked for geolocation by it (`ip=1`).
fn request_ip(query: &HashMap<String, String>, peer: Option<std::net::IpAddr>) -> Option<std::net::IpAddr> {
    query.get("ip").is_some_and(|value| value == "1").then_some(peer).flatten()
}

/// The parameters (query and form) and the JSON items of a client request to `/track`,
/// `/engage` or `/groups`; `Err` is the `/track`-style answer for a body that cannot be read.
async fn client_items(
    state: &AppState,
    query: HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(HashMap<String, String>, Vec<Value>), Response> {
    let limit = state.config().http.max_body_bytes;
    // 413, not 0: mixpanel-browser splits a batch and retries on 413 and drops it otherwise.
    let too_large = |query: &HashMap<String, String>| {
        let mut response = track_answer(query, false, Some(format!("request exceeds max limit of {limit} bytes")));
        *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
        response
    };
    let Some(bytes) = read_body(body, limit).await else { return Err(too_large(&query)) };
    let query = merged_params(&query, &bytes, header_str(headers, header::CONTENT_TYPE));
    let payload = Payload {
        body: &bytes,
        content_type: header_str(headers, header::CONTENT_TYPE),
        content_encoding: header_str(headers, header::CONTENT_ENCODING),
        query_data: query.get("data").map(String::as_str),
    };
    match decode_items(&payload) {
        Ok(items) => Ok((query, items)),
        Err(tally_ingest::DecodeError::TooLarge) => Err(too_large(&query)),
        Err(error) => Err(track_answer(&query, false, Some(error.to_string()))),
    }
}

/// 503 when the metadata store cannot say which project a credential names: a client
/// must retry, not drop its batch as it would on an answer of 0 or 401.
fn metadata_unavailable(error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "cannot look up a project for ingestion");
    unavailable(json!({ "status": 0, "error": "the metadata store is unavailable; retry later" }))
}

/// At most this many different tokens are looked up per request.
const MAX_TOKENS_PER_REQUEST: usize = 16;

/// The project a token names, looked up once per request.
async fn project_named<'a>(
    state: &AppState,
    projects: &'a mut HashMap<String, Option<Project>>,
    token: &str,
) -> Result<Option<&'a Project>, Response> {
    if !projects.contains_key(token) {
        // Each new token costs a metadata lookup; a request naming dozens is not an SDK.
        if projects.len() >= MAX_TOKENS_PER_REQUEST {
            return Ok(None);
        }
        let found = state.store().project_by_token(token).await.map_err(|error| metadata_unavailable(&error))?;
        projects.insert(token.to_string(), found);
    }
    Ok(projects.get(token).and_then(Option::as_ref))
}

async fn track_events(
    state: AppState,
    query: HashMap<String, String>,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    body: Body,
) -> Response {
    let (query, items) = match client_items(&state, query, headers, body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let rules = Rules { endpoint: Endpoint::Track, now_ms: now_ms(&state), trusted: false };
    let mut projects: HashMap<String, Option<Project>> = HashMap::new();
    let mut accepted = Vec::new();
    let mut n_ignored = 0;
    let mut last_error = None;
    let mut misdirected: Option<String> = None;
    for (index, item) in items.into_iter().enumerate() {
        if index >= MAX_ITEMS {
            last_error = Some(format!("more than {MAX_ITEMS} events in one request"));
            break;
        }
        match validate_event(index, item, rules, 0, &mut random_insert_id) {
            Ok(Outcome::Accepted { mut event, token, ip, sent_distinct_id }) => {
                if let Some(geoip) = state.geoip() {
                    geoip.annotate(&mut event.properties, ip.as_ref(), request_ip(&query, peer));
                }
                let Some(token) = token else {
                    last_error = Some("'properties.token' is required".into());
                    continue;
                };
                let project = match project_named(&state, &mut projects, &token).await {
                    Ok(Some(project)) => project,
                    Ok(None) => {
                        last_error = Some("'properties.token' names no project".into());
                        continue;
                    }
                    Err(response) => return response,
                };
                if state.event_store(&project.region).is_none() {
                    misdirected = Some(project.region.clone());
                    continue;
                }
                event.project_id = project.id.0;
                keep_sent_id_for_original_merge(&mut event, project, sent_distinct_id);
                accepted.push((*event, project.region.clone()));
            }
            Ok(Outcome::Ignored) => n_ignored += 1,
            Err(error) => last_error = Some(error.message),
        }
    }
    if accepted.is_empty()
        && n_ignored == 0
        && let Some(region) = misdirected
    {
        return misdirected_answer(&state, &region);
    }
    let any = !accepted.is_empty() || n_ignored > 0;
    match store(&state, accepted).await {
        Ok(()) => track_answer(&query, any, last_error),
        Err(Refusal::Unavailable(error)) => unavailable(json!({ "status": 0, "error": error })),
        Err(Refusal::RateLimited(seconds)) => {
            rate_limited(seconds, json!({ "status": 0, "error": rate_limit_message(seconds) }))
        }
    }
}

fn unavailable(body: Value) -> Response {
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// 421: this node does not hold the project's region; nothing is stored.
fn misdirected_answer(state: &AppState, region: &str) -> Response {
    let host = state
        .config()
        .regions
        .iter()
        .find(|configured| configured.name == region)
        .map(|_| format!("the ingestion host of region {region}"))
        .unwrap_or_else(|| format!("a node serving region {region}"));
    let body = json!({
        "status": "error",
        "code": "misdirected",
        "error": format!("this project's data lives in region {region}, which this node does not serve; send its events to {host}"),
        "region": region,
    });
    (StatusCode::MISDIRECTED_REQUEST, axum::Json(body)).into_response()
}

/// `/import`'s JSON answers.
fn import_answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn invalid_credentials() -> Response {
    import_answer(
        StatusCode::UNAUTHORIZED,
        json!({ "code": 401, "error": "Invalid credentials", "status": "Unauthorized" }),
    )
}

/// The project a server-side request is for: a service account with `?project_id=` and the
/// permission, the project's API secret as the Basic username, or (`allow_token`) its token.
async fn project_for(
    state: &AppState,
    parts: &Parts,
    project_id: Option<&str>,
    permission: ProjectPermission,
    allow_token: bool,
) -> Result<(Project, bool), Response> {
    let Some((username, secret)) = basic_credentials(parts) else { return Err(invalid_credentials()) };
    if secret.is_empty() {
        let by_secret = state
            .store()
            .project_by_api_secret_hash(&tally_iam::token_hash(&username))
            .await
            .map_err(|error| metadata_unavailable(&error))?;
        if let Some(project) = by_secret {
            return Ok((project, true));
        }
        if allow_token
            && let Some(project) =
                state.store().project_by_token(&username).await.map_err(|error| metadata_unavailable(&error))?
        {
            return Ok((project, false));
        }
        return Err(invalid_credentials());
    }
    let account = tally_iam::admin::service_accounts::authenticate(state.store(), state.clock(), &username, &secret)
        .await
        .ok()
        .flatten()
        .ok_or_else(invalid_credentials)?;
    let project_id = project_id.and_then(|id| id.parse::<i64>().ok()).ok_or_else(|| {
        import_answer(
            StatusCode::BAD_REQUEST,
            json!({ "code": 400, "error": "project_id is required with service account credentials", "status": "Bad Request" }),
        )
    })?;
    let principal = Principal::ServiceAccount(account.id);
    match tally_iam::authz::authorize_project(
        state.store(),
        state.clock(),
        principal,
        ProjectId(project_id),
        permission,
    )
    .await
    {
        Ok(scope) => Ok((scope.project().clone(), true)),
        Err(tally_iam::authz::AuthzError::Forbidden(_) | tally_iam::authz::AuthzError::NoProjectAccess) => {
            Err(import_answer(
                StatusCode::FORBIDDEN,
                json!({ "code": 403, "error": format!("the service account lacks {permission} in this project"), "status": "Forbidden" }),
            ))
        }
        Err(_) => Err(invalid_credentials()),
    }
}

/// Original ID Merge projects keep `distinct_id` as sent; Simplified derives it from
/// `$user_id` / `$device_id` when they are present (§7.2, §7.3).
fn keep_sent_id_for_original_merge(event: &mut tally_ingest::Event, project: &Project, sent: Option<String>) {
    if project.id_merge == tally_types::IdMerge::Original
        && let Some(sent) = sent
    {
        event.distinct_id = sent;
    }
}

/// `POST /import`: server-side and historical events.
pub(crate) async fn import(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<HashMap<String, String>>,
    parts: Parts,
    body: Body,
) -> Response {
    let (project, trusted) = match project_for(
        &state,
        &parts,
        query.get("project_id").map(String::as_str),
        ProjectPermission::ImportEvents,
        true,
    )
    .await
    {
        Ok(project) => project,
        Err(response) => return response,
    };
    if state.event_store(&project.region).is_none() {
        return misdirected_answer(&state, &project.region);
    }
    let limit = state.config().http.max_body_bytes;
    let too_large = || {
        import_answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({ "code": 413, "error": format!("request exceeds max limit of {limit} bytes"), "status": "Request Entity Too Large" }),
        )
    };
    let Some(bytes) = read_body(body, limit).await else { return too_large() };
    let payload = Payload {
        body: &bytes,
        content_type: header_str(&parts.headers, header::CONTENT_TYPE),
        content_encoding: header_str(&parts.headers, header::CONTENT_ENCODING),
        query_data: None,
    };
    let items = match decode_items(&payload) {
        Ok(items) => items,
        Err(tally_ingest::DecodeError::TooLarge) => return too_large(),
        Err(error) => {
            return import_answer(
                StatusCode::BAD_REQUEST,
                json!({ "code": 400, "error": error.to_string(), "status": "Bad Request" }),
            );
        }
    };
    // The form-encoded /import of older SDKs answers like /track (`1`, or `{"status":1}`).
    let legacy = header_str(&parts.headers, header::CONTENT_TYPE)
        .is_some_and(|kind| kind.starts_with("application/x-www-form-urlencoded"))
        || bytes.starts_with(b"data=");
    let query = merged_params(&query, &bytes, header_str(&parts.headers, header::CONTENT_TYPE));
    let strict = !legacy && query.get("strict").is_none_or(|value| value == "1" || value == "true");
    let rules = Rules { endpoint: Endpoint::Import, now_ms: now_ms(&state), trusted };
    let mut accepted = Vec::new();
    let mut failed: Vec<RecordError> = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        if index >= MAX_ITEMS {
            failed.push(RecordError {
                index,
                insert_id: None,
                field: "event".into(),
                message: format!("more than {MAX_ITEMS} events in one request"),
            });
            continue;
        }
        match validate_event(index, item, rules, project.id.0, &mut random_insert_id) {
            Ok(Outcome::Accepted { mut event, ip, sent_distinct_id, .. }) => {
                if let Some(geoip) = state.geoip() {
                    geoip.annotate(&mut event.properties, ip.as_ref(), request_ip(&query, peer_ip(&parts.extensions)));
                }
                keep_sent_id_for_original_merge(&mut event, &project, sent_distinct_id);
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
        return track_answer(&query, n_imported > 0, failed.last().map(|error| error.message.clone()));
    }
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
    import_answer(StatusCode::OK, json!({ "code": 200, "num_records_imported": n_imported, "status": "OK" }))
}

/// `where` for the export: `properties["key"] == "value"` (or a number), nothing fancier yet.
fn parse_where(text: &str) -> Option<(String, Value)> {
    let (left, right) = text.split_once("==")?;
    let left = left.trim();
    let key = left
        .strip_prefix("properties[")
        .and_then(|rest| rest.strip_suffix(']'))
        .map(|key| key.trim().trim_matches('"').to_string())?;
    let value: Value = serde_json::from_str(right.trim()).ok()?;
    Some((key, value))
}

/// The project a read request names (API secret, or a service account with `project_id`
/// and the permission) and its region's storage on this node.
async fn readable(
    state: &AppState,
    parts: &Parts,
    query: &HashMap<String, String>,
    permission: ProjectPermission,
) -> Result<(Project, tally_events::EventStore), Response> {
    let (project, _) =
        project_for(state, parts, query.get("project_id").map(String::as_str), permission, false).await?;
    match state.event_store(&project.region).cloned() {
        Some(store) => Ok((project, store)),
        None => Err(misdirected_answer(state, &project.region)),
    }
}

fn export_error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(json!({ "error": message, "status": "error" }))).into_response()
}

/// `GET /api/2.0/export`: raw events as JSON lines, `from_date`..`to_date` inclusive in
/// the project's timezone. Like Mixpanel's, the raw export does not deduplicate.
pub(crate) async fn export(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<HashMap<String, String>>,
    parts: Parts,
) -> Response {
    let (project, store) = match readable(&state, &parts, &query, ProjectPermission::ExportEvents).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let zone = jiff::tz::TimeZone::get(&project.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    let day = |name: &str| -> Result<jiff::civil::Date, String> {
        let text = query.get(name).ok_or_else(|| format!("{name} is required (YYYY-MM-DD)"))?;
        text.parse::<jiff::civil::Date>().map_err(|_| format!("{name} {text:?} is not a date such as 2026-11-27"))
    };
    let (from, to) = match (day("from_date"), day("to_date")) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(message), _) | (_, Err(message)) => return export_error(StatusCode::BAD_REQUEST, message),
    };
    if to < from {
        return export_error(StatusCode::BAD_REQUEST, "to_date is before from_date".into());
    }
    let start = |date: jiff::civil::Date| date.to_zoned(zone.clone()).map(|zoned| zoned.timestamp().as_millisecond());
    let (Ok(from_ms), Ok(to_ms)) = (start(from), to.tomorrow().and_then(start)) else {
        return export_error(StatusCode::BAD_REQUEST, "dates out of range".into());
    };
    let names = match query.get("event") {
        None => None,
        Some(text) => match serde_json::from_str::<Vec<String>>(text) {
            Ok(names) => Some(names),
            Err(_) => return export_error(StatusCode::BAD_REQUEST, "event must be a JSON array of event names".into()),
        },
    };
    let property_equals = match query.get("where") {
        None => None,
        Some(text) => match parse_where(text) {
            Some(condition) => Some(condition),
            None => {
                return export_error(
                    StatusCode::BAD_REQUEST,
                    "where supports properties[\"name\"] == value only, for now".into(),
                );
            }
        },
    };
    let limit = query.get("limit").and_then(|text| text.parse().ok());
    let time_in_ms = query.get("time_in_ms").is_some_and(|value| value == "true" || value == "1");
    let query = tally_events::EventQuery {
        project_id: project.id.0,
        from_ms,
        to_ms,
        names,
        property_equals,
        limit,
        id_merge: project.id_merge,
    };
    let events = match store.events(&query).await {
        Ok(events) => events,
        Err(error) => {
            tracing::error!(%error, "cannot read events for an export");
            return export_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the event storage cannot be read right now; try again shortly".into(),
            );
        }
    };
    let mut body = String::new();
    for event in &events {
        body.push_str(&event.to_export_json(time_in_ms).to_string());
        body.push('\n');
    }
    let wants_gzip = header_str(&parts.headers, header::ACCEPT_ENCODING)
        .is_some_and(|accepted| accepted.split(',').any(|coding| coding.trim().starts_with("gzip")));
    if wants_gzip {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        if encoder.write_all(body.as_bytes()).is_ok()
            && let Ok(compressed) = encoder.finish()
        {
            return ([(header::CONTENT_TYPE, "application/x-ndjson"), (header::CONTENT_ENCODING, "gzip")], compressed)
                .into_response();
        }
    }
    ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
}

/// `GET|POST /engage` and `/groups`: profile updates, the project named by each `$token`.
async fn profile_updates(
    state: AppState,
    query: HashMap<String, String>,
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    body: Body,
    group: bool,
) -> Response {
    let (query, items) = match client_items(&state, query, headers, body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let now = now_ms(&state);
    let mut projects: HashMap<String, Option<Project>> = HashMap::new();
    let mut by_region: HashMap<String, Vec<tally_ingest::profiles::ProfileUpdate>> = HashMap::new();
    let mut last_error = None;
    let mut misdirected = None;
    for (index, item) in items.into_iter().enumerate() {
        if index >= MAX_ITEMS {
            last_error = Some(format!("more than {MAX_ITEMS} updates in one request"));
            break;
        }
        match tally_ingest::profiles::validate_update(index, item, group, now) {
            Ok((mut update, token, ip)) => {
                let project = match project_named(&state, &mut projects, &token).await {
                    Ok(Some(project)) => project,
                    Ok(None) => {
                        last_error = Some("'$token' names no project".into());
                        continue;
                    }
                    Err(response) => return response,
                };
                if state.event_store(&project.region).is_none() {
                    misdirected = Some(project.region.clone());
                    continue;
                }
                update.project_id = project.id.0;
                let updates = by_region.entry(project.region.clone()).or_default();
                // Geolocated updates overwrite the profile's geo properties first (§6.7);
                // /engage locates by the caller's address unless ip=0.
                let request_ip = peer.filter(|_| query.get("ip").is_none_or(|value| value != "0"));
                if update.operation != tally_ingest::profiles::Operation::Delete
                    && let Some(geo) = state.geoip().and_then(|geoip| geoip.profile_properties(ip.as_ref(), request_ip))
                {
                    updates.push(tally_ingest::profiles::ProfileUpdate {
                        operation: tally_ingest::profiles::Operation::Set(geo),
                        ignore_time: true,
                        ..update.clone()
                    });
                }
                updates.push(update);
            }
            Err(error) => last_error = Some(error.message),
        }
    }
    if by_region.is_empty()
        && let Some(region) = misdirected
    {
        return misdirected_answer(&state, &region);
    }
    if let Err(Refusal::RateLimited(seconds)) =
        charge(&state, by_region.values().flatten().map(|update| update.project_id))
    {
        return rate_limited(seconds, json!({ "status": 0, "error": rate_limit_message(seconds) }));
    }
    let mut any = false;
    for (region, updates) in by_region {
        let Some(store) = state.event_store(&region) else { continue };
        let n_updates = updates.len();
        match store.update_profiles(updates).await {
            Ok(failures) => {
                any |= failures.len() < n_updates;
                if let Some((_, message)) = failures.last() {
                    last_error = Some(message.clone());
                }
            }
            Err(error) => return unavailable(json!({ "status": 0, "error": error.to_string() })),
        }
    }
    track_answer(&query, any, last_error)
}

pub(crate) async fn engage(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<HashMap<String, String>>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let response = profile_updates(state, query, &headers, peer_ip(&extensions), body, false).await;
    with_cors(&headers, response)
}

pub(crate) async fn groups(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<HashMap<String, String>>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let response = profile_updates(state, query, &headers, peer_ip(&extensions), body, true).await;
    with_cors(&headers, response)
}

/// `GET|POST /api/2.0/engage`: user profiles as Mixpanel's Query API lists them
/// (`distinct_id` for one).
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
    let (project, store) = match readable(&state, &parts, &query, ProjectPermission::ViewUsers).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let group_key = query.get("data_group_id").map(String::as_str).filter(|key| !key.is_empty());
    let mut profiles = store.profiles(project.id.0, group_key);
    if let Some(distinct_id) = query.get("distinct_id") {
        profiles.retain(|(id, _)| id == distinct_id);
    }
    let results: Vec<Value> = profiles
        .iter()
        .map(|(id, profile)| {
            let mut properties = profile.properties.clone();
            if let Some(ms) = profile.last_seen_ms
                && let Ok(at) = jiff::Timestamp::from_millisecond(ms)
            {
                properties.insert("$last_seen".into(), Value::from(at.strftime("%Y-%m-%dT%H:%M:%S").to_string()));
            }
            json!({ "$distinct_id": id, "$properties": properties })
        })
        .collect();
    let total = results.len();
    axum::Json(
        json!({ "page": 0, "page_size": 1000, "results": results, "session_id": "", "status": "ok", "total": total }),
    )
    .into_response()
}
