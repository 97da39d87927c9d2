//! Mixpanel's ingestion endpoints at the root (`/track`, `/import`, `/engage`, `/groups`)
//! and its raw reads (`/api/2.0/export`, `/api/2.0/engage`), answering exactly as Mixpanel
//! does so the official SDKs work by changing only their host. Events are acknowledged only
//! once they are on disk. What is valid is decided below HTTP, in `tally-ingest`; this
//! module reads requests, finds projects, stores, and answers.
//!
//! - [`track`]: `/track` (events from clients);
//! - [`import`]: `/import` (server-side and historical events);
//! - [`profiles`]: `/engage` and `/groups` (profile updates);
//! - [`read`]: the raw export and the profile query.
//!
//! Every ingestion request either stores everything it says it stored, or says what it
//! did not store.

mod import;
mod profiles;
mod read;
mod track;

use std::collections::HashMap;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tally_iam::authz::DataScope;
use tally_iam::authz::IngestScope;
use tally_ingest::{DecodeError, Event, Payload, RecordError, decode_items};
use tally_types::permissions::ProjectMarker;
use tally_types::{Principal, ProjectId, ProjectPermission};

pub(crate) use import::import;
pub(crate) use profiles::{engage, groups};
pub(crate) use read::{export, profile_properties, query_profiles};
pub(crate) use track::track;

use crate::AppState;
use crate::access::basic_credentials;

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

/// `OPTIONS` for browsers about to post events: the methods the SDKs use, and whatever
/// request headers the page asked for (mixpanel-browser's `xhr_headers` may add its own;
/// the ingestion routes read no cookie, so no header widens what a page can do).
pub(crate) async fn preflight(request: HeaderMap) -> Response {
    let mut response = with_cors(&request, StatusCode::NO_CONTENT.into_response());
    let asked = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned();
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, OPTIONS"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        asked.unwrap_or(HeaderValue::from_static("Content-Type, Content-Encoding, Authorization")),
    );
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    headers.append(header::VARY, HeaderValue::from_static("Access-Control-Request-Headers"));
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

/// The answer `/track`, `/engage` and `/groups` give: `1`/`0`, `{"status":..}` with
/// `verbose=1` (naming the records that were not stored, when some were and some were
/// not), a pixel with `img=1`, or a JSONP call with `callback=`.
fn track_answer(
    query: &HashMap<String, String>,
    accepted: bool,
    failed: &[RecordError],
    error: Option<String>,
) -> Response {
    let flag = |name: &str| query.get(name).is_some_and(|value| value == "1" || value == "true");
    if flag("img") {
        return ([(header::CONTENT_TYPE, "image/gif")], PIXEL).into_response();
    }
    let error = error.or_else(|| failed.last().map(|failure| failure.message.clone()));
    let body = if flag("verbose") {
        let mut body = match (&error, accepted) {
            (_, true) => json!({ "status": 1 }),
            (Some(error), false) => json!({ "status": 0, "error": error }),
            (None, false) => json!({ "status": 0, "error": "no valid data" }),
        };
        if accepted && let Some(error) = &error {
            body["error"] = json!(error);
        }
        if !failed.is_empty() {
            body["failed_records"] = json!(failed);
        }
        body.to_string()
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

/// The caller's address.
fn peer_ip(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip())
}

/// The request's address when the sender asked for geolocation by it (`ip=1`).
fn request_ip(query: &HashMap<String, String>, peer: Option<std::net::IpAddr>) -> Option<std::net::IpAddr> {
    query.get("ip").is_some_and(|value| value == "1").then_some(peer).flatten()
}

/// The parameters (query and form) and the JSON items of a client request to `/track`,
/// `/engage` or `/groups`; `Err` is the `/track`-style answer for a body that cannot be read,
/// or for more items than one request may carry (nothing of it is stored).
async fn client_items(
    state: &AppState,
    query: HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(HashMap<String, String>, Vec<Value>), Response> {
    let limit = state.config().http.max_body_bytes;
    // 413, not 0: mixpanel-browser splits a batch and retries on 413 and drops it otherwise.
    let too_large = |query: &HashMap<String, String>, message: String| {
        let mut response = track_answer(query, false, &[], Some(message));
        *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
        response
    };
    let Some(bytes) = read_body(body, limit).await else {
        return Err(too_large(&query, format!("request exceeds max limit of {limit} bytes")));
    };
    let query = merged_params(&query, &bytes, header_str(headers, header::CONTENT_TYPE));
    let payload = Payload {
        body: &bytes,
        content_type: header_str(headers, header::CONTENT_TYPE),
        content_encoding: header_str(headers, header::CONTENT_ENCODING),
        query_data: query.get("data").map(String::as_str),
    };
    match decode_items(&payload) {
        Ok(items) if items.len() > tally_ingest::MAX_ITEMS => Err(too_large(&query, too_many(items.len()))),
        Ok(items) => Ok((query, items)),
        Err(DecodeError::TooLarge) => Err(too_large(&query, DecodeError::TooLarge.to_string())),
        Err(error) => Err(track_answer(&query, false, &[], Some(error.to_string()))),
    }
}

/// A refused record, as `failed_records` lists it.
fn refused(index: usize, insert_id: Option<&str>, field: &str, message: &str) -> RecordError {
    RecordError { index, insert_id: insert_id.map(str::to_string), field: field.into(), message: message.into() }
}

/// Why a request with too many items stored none of them.
fn too_many(n: usize) -> String {
    format!(
        "{n} items in one request, more than the {} allowed; nothing was stored: send them in smaller batches",
        tally_ingest::MAX_ITEMS
    )
}

/// 503 when the metadata store cannot say which project a credential names: a client
/// must retry, not drop its batch as it would on an answer of 0 or 401.
fn metadata_unavailable(error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "cannot look up a project for ingestion");
    unavailable(json!({ "status": 0, "error": "the metadata store is unavailable; retry later" }))
}

/// At most this many different tokens are looked up per request.
const MAX_TOKENS_PER_REQUEST: usize = 16;

/// The ingestion scope of the project a token names, looked up once per request.
async fn project_named<'a>(
    state: &AppState,
    projects: &'a mut HashMap<String, Option<IngestScope>>,
    token: &str,
) -> Result<Option<&'a IngestScope>, Response> {
    if !projects.contains_key(token) {
        // Each new token costs a metadata lookup; a request naming dozens is not an SDK.
        if projects.len() >= MAX_TOKENS_PER_REQUEST {
            return Ok(None);
        }
        let found = tally_iam::authz::ingest_scope_by_token(state.directory(), token)
            .await
            .map_err(|error| metadata_unavailable(&error))?;
        projects.insert(token.to_string(), found);
    }
    Ok(projects.get(token).and_then(Option::as_ref))
}

fn unavailable(body: Value) -> Response {
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// 421: this node does not hold the project's region; nothing is stored.
pub(crate) fn misdirected_answer(state: &AppState, region: &str) -> Response {
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

/// The ingestion scope of an `/import`: a service account with `?project_id=` and the
/// permission to import, the project's API secret as the Basic username, or its token
/// (untrusted).
async fn import_scope(state: &AppState, parts: &Parts, project_id: Option<&str>) -> Result<IngestScope, Response> {
    let Some((username, secret)) = basic_credentials(parts) else { return Err(invalid_credentials()) };
    if secret.is_empty() {
        let by_secret = tally_iam::authz::ingest_scope_by_api_secret(state.directory(), &username)
            .await
            .map_err(|error| metadata_unavailable(&error))?;
        if let Some(scope) = by_secret {
            return Ok(scope);
        }
        let by_token = tally_iam::authz::ingest_scope_by_token(state.directory(), &username)
            .await
            .map_err(|error| metadata_unavailable(&error))?;
        return by_token.ok_or_else(invalid_credentials);
    }
    let scope = service_account_scope(state, &username, &secret, project_id, ProjectPermission::ImportEvents).await?;
    match scope.require::<tally_types::permissions::project::ImportEvents>() {
        Ok(permit) => Ok(permit.ingest_scope()),
        Err(_) => Err(lacks(ProjectPermission::ImportEvents)),
    }
}

/// The data scope of a server-side read (export, engage, the Query API): the project's API
/// secret as the Basic username, or a service account with `?project_id=` and the
/// permission `P`. Tokens never read.
pub(crate) async fn data_scope_for<P: ProjectMarker>(
    state: &AppState,
    parts: &Parts,
    project_id: Option<&str>,
) -> Result<DataScope<P>, Response> {
    let Some((username, secret)) = basic_credentials(parts) else { return Err(invalid_credentials()) };
    if secret.is_empty() {
        let scope = match tally_iam::authz::data_scope_by_api_secret::<P>(state.directory(), &username).await {
            Ok(Some(scope)) => scope,
            Ok(None) => return Err(invalid_credentials()),
            Err(error) => return Err(metadata_unavailable(&error)),
        };
        // An API secret opens its own project only: naming another is a mistake to report.
        if let Some(named) = project_id.filter(|id| !id.is_empty())
            && named.parse::<i64>().ok() != Some(scope.project_id().0)
        {
            return Err(import_answer(
                StatusCode::BAD_REQUEST,
                json!({ "code": 400, "error": format!("project_id {named} is not the project of this API secret"), "status": "Bad Request" }),
            ));
        }
        return Ok(scope);
    }
    let scope = service_account_scope(state, &username, &secret, project_id, P::PERMISSION).await?;
    let Ok(permit) = scope.require::<P>() else { return Err(lacks(P::PERMISSION)) };
    // A service account reads through its data view (`workspace_id`, or its default).
    let view = crate::extract::workspace_id(parts).map_err(|error| error.into_response())?;
    tally_iam::views::data_scope(state.directory(), &permit, view).await.map_err(|error| {
        let error = crate::ApiError::from(error);
        let status = error.status();
        import_answer(
            status,
            json!({ "code": status.as_u16(), "error": error.message(), "status": status.canonical_reason() }),
        )
    })
}

fn lacks(permission: ProjectPermission) -> Response {
    import_answer(
        StatusCode::FORBIDDEN,
        json!({ "code": 403, "error": format!("the service account lacks {permission} in this project"), "status": "Forbidden" }),
    )
}

/// A service account's scope in `?project_id=`, checked for `permission`.
async fn service_account_scope(
    state: &AppState,
    username: &str,
    secret: &str,
    project_id: Option<&str>,
    permission: ProjectPermission,
) -> Result<tally_iam::authz::ProjectScope, Response> {
    // A metadata outage is 503 (retry), never 401: SDKs drop a batch on 401.
    let account = tally_iam::admin::service_accounts::authenticate(state.directory(), state.clock(), username, secret)
        .await
        .map_err(|error| metadata_unavailable(&error))?
        .ok_or_else(invalid_credentials)?;
    let project_id = project_id.and_then(|id| id.parse::<i64>().ok()).ok_or_else(|| {
        import_answer(
            StatusCode::BAD_REQUEST,
            json!({ "code": 400, "error": "project_id is required with service account credentials", "status": "Bad Request" }),
        )
    })?;
    let principal = Principal::ServiceAccount(account.id);
    match tally_iam::authz::authorize_project(
        state.directory(),
        state.clock(),
        principal,
        ProjectId(project_id),
        permission,
    )
    .await
    {
        Ok(scope) => Ok(scope),
        Err(tally_iam::authz::AuthzError::Forbidden(_) | tally_iam::authz::AuthzError::NoProjectAccess) => {
            Err(lacks(permission))
        }
        Err(tally_iam::authz::AuthzError::Store(error)) => Err(metadata_unavailable(&error)),
        Err(_) => Err(invalid_credentials()),
    }
}
