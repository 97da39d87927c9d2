//! Signing in and out with a password.

use axum::extract::State;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tally_types::{ErrorKind, Secret};

use super::{done, ok};
use crate::access::Caller;
use crate::auth::{SESSION_COOKIE, cookie, session_cookie};
use crate::extract::JsonBody;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
pub(crate) struct SignIn {
    email: String,
    password: String,
}

/// `POST /api/app/sessions`: the same answer for an unknown e-mail and a wrong password.
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SignIn>,
) -> Result<Response, ApiError> {
    let password = Secret::new(body.password);
    let user = tally_iam::signin::verify_password(state.store(), &body.email, &password)
        .await?
        .ok_or_else(|| ApiError::new(ErrorKind::Unauthenticated, "invalid_credentials", "wrong e-mail or password"))?;
    let policy = state.session_policy();
    let token = tally_iam::sessions::start(state.store(), state.clock(), policy, user.id).await?;
    let cookie = session_cookie(token.expose(), state.config().is_https(), policy.absolute.as_secs());
    let body = serde_json::json!({ "user_id": user.id, "email": user.email });
    Ok(([(header::SET_COOKIE, cookie)], ok(body)).into_response())
}

/// `DELETE /api/app/sessions/current`: ends this session and clears the cookie.
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    _caller: Caller,
    parts: Parts,
) -> Result<Response, ApiError> {
    if let Some(token) = cookie(&parts, SESSION_COOKIE) {
        tally_iam::sessions::end(state.store(), &token).await?;
    }
    let expired = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok(([(header::SET_COOKIE, expired)], done()).into_response())
}
