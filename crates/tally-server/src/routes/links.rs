//! Screens that e-mailed links open: a magic sign-in link and a password reset. Both are
//! screens of the web app; neither uses its token on GET (mail scanners follow links): the
//! screen does, when the person acts. A link that is not live answers 404 (the screen still
//! opens and says so).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::extract::QueryParams;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
pub(crate) struct TokenQuery {
    #[serde(default)]
    token: String,
}

async fn screen(state: &AppState, token: &str, purpose: &str) -> Result<Response, ApiError> {
    let actor = tally_iam::admin::Actor::anonymous("link");
    let live = !token.is_empty() && tally_iam::signin::email_link_is_live(state.ctx(&actor), token, purpose).await?;
    let mut page = crate::routes::web::app().await;
    if !live {
        *page.status_mut() = StatusCode::NOT_FOUND;
    }
    Ok(page)
}

pub(crate) async fn magic_link(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<TokenQuery>,
) -> Result<Response, ApiError> {
    screen(&state, &query.token, "magic_link").await
}

pub(crate) async fn password_reset(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<TokenQuery>,
) -> Result<Response, ApiError> {
    screen(&state, &query.token, "password_reset").await
}
