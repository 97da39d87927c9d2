//! What every request goes through, outermost first: panic catching, request ids,
//! tracing, metrics, security headers, a timeout and a body size limit (enforced by the
//! body extractors in `extract`, so that an oversized body gets the JSON error envelope).

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::AppState;
use crate::error::{ApiError, REQUEST_ID};
use crate::metrics::RequestLabels;

const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

pub(crate) fn wrap(router: Router<AppState>, state: AppState) -> Router {
    let config = state.config();
    let max_body = config.http.max_body_bytes;
    let timeout = config.http.request_timeout;
    let https = config.is_https();

    let security_headers = ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            https.then(|| HeaderValue::from_static("max-age=31536000")),
        ));

    router
        .layer(
            ServiceBuilder::new()
                .layer(CatchPanicLayer::custom(|_| {
                    ApiError::new(tally_types::ErrorKind::Internal, "internal", "panic").into_response()
                }))
                .layer(SetSensitiveRequestHeadersLayer::new([header::AUTHORIZATION, header::COOKIE]))
                .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER, MakeRequestUuid))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER))
                .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
                    let request_id =
                        request.headers().get(REQUEST_ID_HEADER).and_then(|value| value.to_str().ok()).unwrap_or("-");
                    // The path only: query strings can carry tokens.
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
                }))
                .layer(axum::middleware::from_fn_with_state(state.clone(), track))
                .layer(security_headers)
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
                .layer(DefaultBodyLimit::max(max_body)),
        )
        .with_state(state)
}

/// Counts and times the request, and makes its id available to error responses.
async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let request_id =
        request.headers().get(REQUEST_ID_HEADER).and_then(|value| value.to_str().ok()).unwrap_or("-").to_string();
    let metrics = state.metrics();
    metrics.started();
    let response = REQUEST_ID
        .scope(request_id, async {
            let response = next.run(request).await;
            crate::error::with_envelope(response, &method)
        })
        .await;
    let labels = RequestLabels { method, route, status: response.status().as_u16() };
    metrics.finished(labels, started.elapsed().as_secs_f64());
    response
}
