//! Body extractors whose rejections use Tally's error envelope instead of axum's plain
//! text, naming what was wrong with the body.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use tally_types::ErrorKind;

use crate::ApiError;

/// A JSON body.
pub(crate) struct JsonBody<T>(pub T);

/// An `application/x-www-form-urlencoded` body.
pub(crate) struct FormBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(body_error(rejection.status(), "invalid_json", rejection.body_text())),
        }
    }
}

impl<T, S> FromRequest<S> for FormBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(request, state).await {
            Ok(axum::Form(value)) => Ok(FormBody(value)),
            Err(rejection) => Err(body_error(rejection.status(), "invalid_form", rejection.body_text())),
        }
    }
}

fn body_error(status: StatusCode, code: &'static str, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(
            ErrorKind::TooLarge,
            "body_too_large",
            "the request body is larger than `http.max_body_bytes` allows",
        );
    }
    if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return ApiError::invalid(code, format!("{text}; send the matching Content-Type header"));
    }
    ApiError::invalid(code, text)
}

/// Path parameters; a malformed id is simply not found, with our error envelope.
pub(crate) struct Ids<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Ids<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Ids(value)),
            Err(_) => Err(ApiError::not_found()),
        }
    }
}

/// Query parameters, with our error envelope when they do not parse.
pub(crate) struct QueryParams<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(QueryParams(value)),
            Err(rejection) => Err(ApiError::invalid("invalid_query", rejection.body_text())),
        }
    }
}

/// A body that is JSON or a form (pages post forms, scripts post JSON); `true` for a form.
pub(crate) async fn json_or_form<T, S>(request: axum::extract::Request, state: &S) -> Result<(T, bool), ApiError>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    let is_form = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        let FormBody(body) = FormBody::<T>::from_request(request, state).await?;
        Ok((body, true))
    } else {
        let JsonBody(body) = JsonBody::<T>::from_request(request, state).await?;
        Ok((body, false))
    }
}

/// The data view a read asks for: `?workspace_id=` (Mixpanel's name for it); absent, the
/// caller's default view.
pub(crate) struct ViewChoice(pub Option<i64>);

impl<S> axum::extract::FromRequestParts<S> for ViewChoice
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ViewChoice(workspace_id(parts)?))
    }
}

/// `?workspace_id=` of a request, when given.
pub(crate) fn workspace_id(parts: &axum::http::request::Parts) -> Result<Option<i64>, ApiError> {
    let query = parts.uri.query().unwrap_or_default();
    let Some((_, value)) = url::form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == "workspace_id")
    else {
        return Ok(None);
    };
    if value.is_empty() {
        return Ok(None);
    }
    value.parse::<i64>().map(Some).map_err(|_| {
        ApiError::invalid("invalid_parameter", format!("workspace_id {value:?} is not a data view id (a whole number)"))
    })
}
