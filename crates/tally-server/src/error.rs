//! One mapping from errors to HTTP, in the envelope Mixpanel's app API uses:
//! `{"status":"error","error":"<message>","code":"<code>"}` plus our `request_id`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tally_types::{Classified, ErrorKind};

tokio::task_local! {
    /// The id of the request being handled, set by the request-id middleware so that
    /// error bodies and logs can quote it.
    pub(crate) static REQUEST_ID: String;
}

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    kind: ErrorKind,
    code: &'static str,
    message: String,
    /// The full chain, logged for internal and unavailable errors, never sent.
    detail: Option<String>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { kind, code, message: message.into(), detail: None }
    }

    pub fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::InvalidInput, code, message)
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            ErrorKind::Unauthenticated,
            "unauthenticated",
            "sign in first: no valid session came with the request",
        )
    }

    /// 421: the project's data lives in a region this node does not serve.
    pub fn misdirected(region: &str) -> ApiError {
        ApiError::new(
            ErrorKind::Misdirected,
            "misdirected",
            format!("this project's data lives in region {region}, which this node does not serve"),
        )
    }

    pub fn not_found() -> ApiError {
        ApiError::new(ErrorKind::NotFound, "not_found", "no such resource")
    }

    pub fn status(&self) -> StatusCode {
        status_of(self.kind)
    }

    /// The message a client sees for its own mistakes.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The single place where a kind of failure becomes an HTTP status.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable | ErrorKind::Upstream => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Misdirected => StatusCode::MISDIRECTED_REQUEST,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl<E> From<E> for ApiError
where
    E: Classified + Send + Sync + 'static,
{
    fn from(error: E) -> Self {
        let kind = error.kind();
        let detail = matches!(kind, ErrorKind::Internal | ErrorKind::Unavailable).then(|| error_chain(&error));
        ApiError { kind, code: error.code(), message: error.to_string(), detail }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    status: &'static str,
    error: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = REQUEST_ID.try_with(Clone::clone).ok();
        let shown = match self.kind {
            ErrorKind::Internal => {
                tracing::error!(
                    code = self.code,
                    detail = self.detail.as_deref().unwrap_or(&self.message),
                    "internal error"
                );
                format!("internal error; please report request id {}", request_id.as_deref().unwrap_or("(none)"))
            }
            ErrorKind::Unavailable => {
                tracing::warn!(
                    code = self.code,
                    detail = self.detail.as_deref().unwrap_or(&self.message),
                    "dependency unavailable"
                );
                "temporarily unavailable; retry shortly".to_string()
            }
            _ => self.message,
        };
        let body = ErrorBody { status: "error", error: &shown, code: self.code, request_id };
        let mut response = (status_of(self.kind), Json(body)).into_response();
        if matches!(self.kind, ErrorKind::Unavailable | ErrorKind::Upstream | ErrorKind::RateLimited) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// Gives a bare error answer (one that routing or a layer made, with no body type: 405
/// with its `Allow`, 408, 413, ...) the same envelope as every other error, so clients
/// parse one shape. Answers that already have a type (ours, SCIM's, Mixpanel's plain
/// `0`) are left as they are.
pub(crate) fn with_envelope(response: Response, method: &str) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response;
    }
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = response.headers().get(header::ALLOW).and_then(|value| value.to_str().ok()).unwrap_or("");
            ("method_not_allowed", format!("this path does not accept {method}; it accepts {allowed}"))
        }
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took too long and was stopped; try again".to_string()),
        StatusCode::PAYLOAD_TOO_LARGE => ("too_large", "the request body is too large".to_string()),
        other => ("error", other.canonical_reason().unwrap_or("error").to_lowercase()),
    };
    let request_id = REQUEST_ID.try_with(Clone::clone).ok();
    let body = ErrorBody { status: "error", error: &message, code, request_id };
    let (mut parts, _) = response.into_parts();
    let mut enveloped = (status, Json(body)).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in parts.headers.drain().filter_map(|(name, value)| name.map(|name| (name, value))) {
        enveloped.headers_mut().entry(name).or_insert(value);
    }
    enveloped
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn render(error: ApiError) -> (StatusCode, serde_json::Value) {
        let response = REQUEST_ID.scope("req-123".to_string(), async { error.into_response() }).await;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn internal_errors_show_the_request_id_and_hide_details() {
        let error = ApiError::from(tally_iam::records::StoreError::Corrupt("row 7 of secret_table".into()));
        let (status, body) = render(error).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["status"], "error");
        assert_eq!(body["code"], "internal");
        assert_eq!(body["request_id"], "req-123");
        let text = body.to_string();
        assert!(text.contains("req-123") && !text.contains("secret_table"), "{text}");
    }

    #[tokio::test]
    async fn client_mistakes_keep_their_message() {
        let error = ApiError::from(tally_iam::records::StoreError::SetupTokenRejected);
        let (status, body) = render(error).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["code"], "setup_link_rejected");
        assert_eq!(body["error"], "the setup link is invalid, expired or already used");
    }

    #[tokio::test]
    async fn bare_errors_get_the_envelope_and_keep_their_headers() {
        let bare = Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(header::ALLOW, "GET,HEAD")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = REQUEST_ID.scope("req-9".to_string(), async { with_envelope(bare, "DELETE") }).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "GET,HEAD");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["code"], "method_not_allowed");
        assert_eq!(body["request_id"], "req-9");
        assert!(body["error"].as_str().unwrap().contains("DELETE"), "{body}");
    }

    #[test]
    fn every_kind_has_its_status() {
        let expected = [
            (ErrorKind::InvalidInput, 400),
            (ErrorKind::Unauthenticated, 401),
            (ErrorKind::Forbidden, 403),
            (ErrorKind::NotFound, 404),
            (ErrorKind::Conflict, 409),
            (ErrorKind::TooLarge, 413),
            (ErrorKind::RateLimited, 429),
            (ErrorKind::Unavailable, 503),
            (ErrorKind::Upstream, 503),
            (ErrorKind::Misdirected, 421),
            (ErrorKind::Internal, 500),
        ];
        for (kind, status) in expected {
            assert_eq!(status_of(kind).as_u16(), status, "{kind:?}");
        }
    }
}
