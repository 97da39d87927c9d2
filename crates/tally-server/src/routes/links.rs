//! Pages that e-mailed links open: a magic sign-in link and a password reset. Neither
//! uses its token on GET (mail scanners follow links); the page's form does.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use crate::extract::QueryParams;
use crate::routes::{escape_html, html_page};
use crate::{ApiError, AppState};

#[derive(Deserialize)]
pub(crate) struct TokenQuery {
    #[serde(default)]
    token: String,
}

async fn live(state: &AppState, token: &str, purpose: &str) -> Result<bool, ApiError> {
    let actor = tally_iam::admin::Actor::anonymous("link");
    Ok(!token.is_empty() && tally_iam::signin::email_link_is_live(state.ctx(&actor), token, purpose).await?)
}

fn expired(title: &str) -> Response {
    let body = format!("<h1>{title}</h1><p>This link is invalid, expired or already used. Ask for a new one.</p>");
    (StatusCode::NOT_FOUND, Html(html_page(title, &body))).into_response()
}

pub(crate) async fn magic_link(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<TokenQuery>,
) -> Result<Response, ApiError> {
    if !live(&state, &query.token, "magic_link").await? {
        return Ok(expired("Sign-in link not valid"));
    }
    let body = format!(
        "<h1>Sign in to Tally</h1><form method=\"post\" action=\"/api/app/magic-link/consume\">\
         <input type=\"hidden\" name=\"token\" value=\"{}\"><button type=\"submit\">Sign in</button></form>",
        escape_html(&query.token)
    );
    Ok(Html(html_page("Sign in", &body)).into_response())
}

pub(crate) async fn password_reset(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<TokenQuery>,
) -> Result<Response, ApiError> {
    if !live(&state, &query.token, "password_reset").await? {
        return Ok(expired("Reset link not valid"));
    }
    let body = format!(
        "<h1>Choose a new password</h1><form method=\"post\" action=\"/api/app/password-reset/confirm\">\
         <input type=\"hidden\" name=\"token\" value=\"{}\">\
         <label>New password <input type=\"password\" name=\"password\" required minlength=\"8\" maxlength=\"128\" \
         autocomplete=\"new-password\"></label><button type=\"submit\">Save</button></form>",
        escape_html(&query.token)
    );
    Ok(Html(html_page("Reset password", &body)).into_response())
}
