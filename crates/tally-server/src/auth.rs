//! Who is calling: the session cookie, resolved to a user.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use tally_store::User;

use crate::{ApiError, AppState};

pub(crate) const SESSION_COOKIE: &str = "tally_session";

/// A signed-in user. Extracting it fails with 401 when no live session came along.
pub(crate) struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(parts, SESSION_COOKIE) else { return Err(ApiError::unauthenticated()) };
        let user_id = tally_iam::sessions::resolve(state.store(), state.clock(), state.session_policy(), &token)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        let user = state.store().user_by_id(user_id).await?.ok_or_else(ApiError::unauthenticated)?;
        Ok(CurrentUser(user))
    }
}

/// The value of one cookie from the request's `Cookie` headers.
pub(crate) fn cookie(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

/// The `Set-Cookie` value that starts a session.
pub(crate) fn session_cookie(token: &str, secure: bool, max_age_secs: i64) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}")
}
