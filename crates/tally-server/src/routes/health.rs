//! Liveness, readiness and metrics for operators and orchestrators.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::{ApiError, AppState};

const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The process is up and answering.
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// The stores this node needs are reachable: 200 when all are, 503 naming the ones that
/// are not.
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let metadata = match tokio::time::timeout(READY_CHECK_TIMEOUT, state.directory().ping()).await {
        Ok(Ok(())) => "ok",
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness: metadata store unreachable");
            "unreachable"
        }
        Err(_) => "timeout",
    };
    let events_dir = state.config().events_dir();
    let events = if tokio::fs::metadata(&events_dir).await.is_ok_and(|meta| meta.is_dir()) { "ok" } else { "missing" };
    let ready = metadata == "ok" && events == "ok";
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if ready { "ok" } else { "unavailable" },
        "checks": { "metadata": metadata, "event_storage": events },
    });
    (status, Json(body)).into_response()
}

/// Prometheus text format.
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = state
        .metrics()
        .render()
        .map_err(|_| ApiError::new(tally_types::ErrorKind::Internal, "internal", "cannot render metrics"))?;
    Ok(([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response())
}
