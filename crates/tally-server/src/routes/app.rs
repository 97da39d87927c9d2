//! The JSON administration API under `/api/app`: thin handlers over `tally_iam::admin`.
//! Responses use Mixpanel's envelope, `{"status":"ok","results":...}`.

pub(crate) mod alerts;
pub(crate) mod audit;
pub(crate) mod boards;
pub(crate) mod cohorts;
pub(crate) mod data_views;
pub(crate) mod invitations;
pub(crate) mod orgs;
pub(crate) mod privacy;
pub(crate) mod projects;
pub(crate) mod query;
pub(crate) mod service_accounts;
pub(crate) mod sessions;
pub(crate) mod sso;
pub(crate) mod teams;
pub(crate) mod twofactor;
pub(crate) mod users;
pub(crate) mod views;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

/// `200 {"status":"ok","results":...}`.
pub(crate) fn ok(results: impl Serialize) -> Response {
    Json(json!({ "status": "ok", "results": results })).into_response()
}

/// A CSV download named `filename`: the rows (the first the header) as `text/csv`.
pub(crate) fn csv_download<R, F>(rows: impl IntoIterator<Item = R>, filename: &str) -> Result<Response, crate::ApiError>
where
    R: IntoIterator<Item = F>,
    F: AsRef<[u8]>,
{
    let body = crate::routes::csv_bytes(rows).map_err(|_| {
        crate::ApiError::new(tally_types::ErrorKind::Internal, "internal", "the CSV could not be written")
    })?;
    let disposition = format!("attachment; filename=\"{filename}\"");
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// `201 {"status":"ok","results":...}`.
pub(crate) fn created(results: impl Serialize) -> Response {
    (StatusCode::CREATED, Json(json!({ "status": "ok", "results": results }))).into_response()
}

/// `200 {"status":"ok"}`.
pub(crate) fn done() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}
