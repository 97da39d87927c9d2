//! The one-time setup link: `GET /setup?token=...` opens the web app's setup screen (404
//! once the link is used or expired); submitting it (as JSON to `/api/app/setup`, or as a
//! plain form to `/setup`) creates the first Owner, organization and projects, and signs
//! the Owner in.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use tally_iam::records::CreatedTenant;
use tally_iam::setup::SetupForm;
use tally_types::Secret;

use crate::access::Client;
use crate::auth::session_cookie;
use crate::extract::{FormBody, JsonBody, QueryParams};
use crate::routes::me::{ProjectView, UserView};
use crate::routes::{escape_html, html_page};
use crate::{ApiError, AppState};

/// The fields of the form and of the JSON body.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = SetupBody)]
pub(crate) struct SetupInput {
    token: String,
    email: String,
    #[serde(default)]
    name: String,
    password: String,
    organization: String,
}

#[derive(Serialize)]
pub(crate) struct SetupResponse {
    user: UserView,
    organization: OrganizationView,
    projects: Vec<ProjectView>,
}

#[derive(Serialize)]
struct OrganizationView {
    id: i64,
    name: String,
}

#[derive(Deserialize)]
pub(crate) struct TokenQuery {
    #[serde(default)]
    token: String,
}

async fn link_is_live(state: &AppState, token: &str) -> Result<bool, ApiError> {
    Ok(!token.is_empty() && tally_iam::setup::setup_link_is_live(state.directory(), state.clock(), token).await?)
}

fn link_rejected() -> ApiError {
    ApiError::new(
        tally_types::ErrorKind::NotFound,
        "setup_link_rejected",
        "This setup link is invalid, expired, or already used. Restart `tally serve` on an empty instance for a \
         new one, or run `tally admin bootstrap`.",
    )
}

/// `GET /setup?token=`: the web app's setup screen; 404 when the link is not live.
pub(crate) async fn screen(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<TokenQuery>,
) -> Result<Response, ApiError> {
    let mut page = crate::routes::web::app().await;
    if !link_is_live(&state, &query.token).await? {
        *page.status_mut() = StatusCode::NOT_FOUND;
    }
    Ok(page)
}

/// `GET /api/app/setup?token=`: whether a setup link is live (the setup screen asks first).
pub(crate) async fn check(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<TokenQuery>,
) -> Result<Response, ApiError> {
    if !link_is_live(&state, &query.token).await? {
        return Err(link_rejected());
    }
    Ok(crate::routes::app::ok(SetupLinkView { live: true }))
}

/// A setup link that can still be used.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SetupLinkView {
    live: bool,
}

pub(crate) async fn page_for(
    state: &AppState,
    token: &str,
    error: Option<&str>,
) -> Result<(StatusCode, Html<String>), ApiError> {
    if token.is_empty() || !tally_iam::setup::setup_link_is_live(state.directory(), state.clock(), token).await? {
        let body = "<h1>Setup link not valid</h1><p>This setup link is invalid, expired, or already used. \
                    Restart <code>tally serve</code> on an empty instance for a new one, or run \
                    <code>tally admin bootstrap</code>.</p>";
        return Ok((StatusCode::NOT_FOUND, Html(html_page("Setup", body))));
    }
    let error = error.map(|text| format!("<p role=\"alert\">{}</p>", escape_html(text))).unwrap_or_default();
    let body = format!(
        "<h1>Set up Tally</h1>{error}\
         <p>Create the first account. You will own the organization and its two projects, \
         Production and Development.</p>\
         <form method=\"post\" action=\"/setup\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\
         <label>Your e-mail <input type=\"email\" name=\"email\" required autocomplete=\"email\"></label><br>\
         <label>Your name <input type=\"text\" name=\"name\" autocomplete=\"name\"></label><br>\
         <label>Password <input type=\"password\" name=\"password\" required minlength=\"8\" maxlength=\"128\" \
         autocomplete=\"new-password\"></label><br>\
         <label>Organization <input type=\"text\" name=\"organization\" required></label><br>\
         <button type=\"submit\">Create</button></form>",
        token = escape_html(token),
    );
    Ok((StatusCode::OK, Html(html_page("Setup", &body))))
}

pub(crate) async fn submit_form(
    State(state): State<AppState>,
    Client(client): Client,
    FormBody(input): FormBody<SetupInput>,
) -> Result<Response, ApiError> {
    match perform(&state, &input, &client).await {
        Ok((_, cookie)) => Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()),
        Err(error) if error.status() == StatusCode::BAD_REQUEST => {
            let (_, html) = page_for(&state, &input.token, Some(error.message())).await?;
            Ok((StatusCode::BAD_REQUEST, html).into_response())
        }
        Err(error) => Err(error),
    }
}

pub(crate) async fn submit_json(
    State(state): State<AppState>,
    Client(client): Client,
    JsonBody(input): JsonBody<SetupInput>,
) -> Result<Response, ApiError> {
    let (tenant, cookie) = perform(&state, &input, &client).await?;
    let body = SetupResponse {
        user: UserView { id: tenant.user.id.0, email: tenant.user.email, name: tenant.user.name },
        organization: OrganizationView { id: tenant.organization.id.0, name: tenant.organization.name },
        projects: tenant.projects.into_iter().map(|project| ProjectView::new(project, true)).collect(),
    };
    Ok((StatusCode::CREATED, [(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// Creates the tenant and a session for its Owner; returns the `Set-Cookie` value.
async fn perform(
    state: &AppState,
    input: &SetupInput,
    client: &tally_iam::sessions::ClientInfo,
) -> Result<(CreatedTenant, String), ApiError> {
    let form = SetupForm {
        token: Secret::new(input.token.clone()),
        email: input.email.clone(),
        name: input.name.clone(),
        password: Secret::new(input.password.clone()),
        organization: input.organization.clone(),
    };
    let tenant = tally_iam::setup::complete_setup(state.directory(), state.clock(), state.sealer(), &form).await?;
    tracing::info!(user_id = %tenant.user.id, org_id = %tenant.organization.id, "instance set up through the setup link");
    let policy = state.session_policy();
    let token = tally_iam::sessions::start(state.directory(), state.clock(), policy, tenant.user.id, client).await?;
    let cookie = session_cookie(token.expose(), state.config().is_https(), policy.absolute.as_secs());
    Ok((tenant, cookie))
}
