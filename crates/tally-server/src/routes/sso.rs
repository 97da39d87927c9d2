//! The browser side of single sign-on: which sign-in an e-mail uses, the redirect to the
//! identity provider, and its callback.

use axum::extract::State;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;
use tally_types::OrgId;

use crate::access::Client;
use crate::auth::{cookie, session_cookie};
use crate::extract::{FormBody, Ids, QueryParams};
use crate::routes::app::ok;
use crate::{ApiError, AppState};

/// Binds an SSO sign-in to the browser that started it.
const STATE_COOKIE: &str = "tally_sso";
/// Binds an SP-initiated SAML sign-in to the browser that started it (its RelayState).
const SAML_COOKIE: &str = "tally_saml";

#[derive(Deserialize)]
pub(crate) struct EmailQuery {
    #[serde(default)]
    email: String,
}

/// `GET /api/app/sso/discover?email=`: whether this e-mail signs in with SSO, for the
/// sign-in page to route by domain.
pub(crate) async fn discover(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<EmailQuery>,
) -> Result<Response, ApiError> {
    tally_iam::validate::email(&query.email)?;
    let actor = tally_iam::admin::Actor::anonymous("sso");
    let found = tally_sso::organization_for(state.ctx(&actor), &query.email).await?;
    Ok(ok(json!({
        "sso": found.is_some(),
        "required": found.as_ref().is_some_and(|(_, connection)| connection.require_sso),
        "protocol": found.as_ref().map(|(_, connection)| connection.protocol.clone()),
        "start_url": found.map(|_| {
            let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("email", query.email.trim()).finish();
            format!("/sso/start?{query}")
        }),
    })))
}

/// `GET /sso/start?email=`: to the identity provider.
pub(crate) async fn start(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<EmailQuery>,
) -> Result<Response, ApiError> {
    tally_iam::validate::email(&query.email)?;
    let actor = tally_iam::admin::Actor::anonymous("sso");
    let started = tally_sso::start(state.ctx(&actor), &query.email).await?;
    let cookie = match &started.binding {
        tally_sso::Binding::Oidc(browser_state) => oidc_cookie(&state, browser_state.expose(), 600),
        tally_sso::Binding::Saml(relay_state) => saml_cookie(&state, relay_state.expose(), 600),
    };
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&started.url)).into_response())
}

#[derive(Deserialize)]
pub(crate) struct CallbackQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    error: Option<String>,
    error_description: Option<String>,
    iss: Option<String>,
}

/// `GET /sso/oidc/callback`: the provider's answer; signs in and goes home.
pub(crate) async fn oidc_callback(
    State(state): State<AppState>,
    Client(client): Client,
    QueryParams(query): QueryParams<CallbackQuery>,
    parts: Parts,
) -> Result<Response, ApiError> {
    if let Some(error) = query.error {
        let detail = query.error_description.unwrap_or_default();
        return Err(ApiError::new(
            tally_types::ErrorKind::Unauthenticated,
            "sso_rejected",
            format!("the identity provider refused: {error} {detail}"),
        ));
    }
    let browser_state = cookie(&parts, STATE_COOKIE);
    let actor = tally_iam::admin::Actor::anonymous("sso");
    let step = tally_sso::oidc::callback(
        state.ctx(&actor),
        &query.code,
        &query.state,
        query.iss.as_deref(),
        browser_state.as_deref(),
        &client,
    )
    .await?;
    signed_in(&state, step, &oidc_cookie(&state, "", 0))
}

/// Binds an OIDC sign-in to the browser that started it; the callback is a top-level GET,
/// so Lax suffices.
fn oidc_cookie(state: &AppState, value: &str, max_age: u32) -> String {
    let secure = if state.config().is_https() { "; Secure" } else { "" };
    format!("{STATE_COOKIE}={value}; Path=/sso; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// `GET /sso/saml/{org_id}/metadata`: the organization's service-provider metadata.
pub(crate) async fn saml_metadata(
    State(state): State<AppState>,
    Ids((org_id,)): Ids<(i64,)>,
) -> Result<Response, ApiError> {
    let actor = tally_iam::admin::Actor::anonymous("sso");
    let Some(xml) = tally_sso::saml::sp_metadata(state.ctx(&actor), OrgId(org_id)).await? else {
        return Err(ApiError::not_found());
    };
    Ok(([(header::CONTENT_TYPE, "application/samlmetadata+xml")], xml).into_response())
}

/// `GET /sso/saml/{org_id}/start`: an SP-initiated sign-in at the organization's IdP.
pub(crate) async fn saml_start(
    State(state): State<AppState>,
    Ids((org_id,)): Ids<(i64,)>,
) -> Result<Response, ApiError> {
    let actor = tally_iam::admin::Actor::anonymous("sso");
    let (url, relay_state) = tally_sso::saml::start(state.ctx(&actor), OrgId(org_id)).await?;
    let cookie = saml_cookie(&state, relay_state.expose(), 600);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&url)).into_response())
}

/// Binds an SP-initiated SAML sign-in to the browser that started it. The identity
/// provider answers with a cross-site POST, which carries a cookie only when it is
/// `SameSite=None` (and so `Secure`, on HTTPS), or, on plain HTTP, when it has no SameSite
/// attribute (browsers let such a fresh cookie through a top-level POST).
fn saml_cookie(state: &AppState, value: &str, max_age: u32) -> String {
    let attributes = if state.config().is_https() { "; Secure; SameSite=None" } else { "" };
    format!("{SAML_COOKIE}={value}; Path=/sso/saml; HttpOnly; Max-Age={max_age}{attributes}")
}

#[derive(Deserialize)]
pub(crate) struct AcsForm {
    #[serde(rename = "SAMLResponse", default)]
    saml_response: String,
    #[serde(rename = "RelayState")]
    relay_state: Option<String>,
}

/// `POST /sso/saml/{org_id}/acs`: the identity provider's answer (HTTP-POST binding), a
/// cross-site form post; signs in and goes home.
pub(crate) async fn saml_acs(
    State(state): State<AppState>,
    Client(client): Client,
    Ids((org_id,)): Ids<(i64,)>,
    parts: Parts,
    FormBody(form): FormBody<AcsForm>,
) -> Result<Response, ApiError> {
    let actor = tally_iam::admin::Actor::anonymous("sso");
    let browser_state = cookie(&parts, SAML_COOKIE);
    let step = tally_sso::saml::acs(
        state.ctx(&actor),
        OrgId(org_id),
        &form.saml_response,
        form.relay_state.as_deref(),
        browser_state.as_deref(),
        &client,
    )
    .await?;
    signed_in(&state, step, &saml_cookie(&state, "", 0))
}

/// The session cookie and the way home after an SSO sign-in, clearing the cookie that
/// bound it to the browser.
fn signed_in(state: &AppState, step: tally_iam::signin::SignInStep, clear: &str) -> Result<Response, ApiError> {
    let tally_iam::signin::SignInStep::SignedIn { session, .. } = step else {
        return Err(ApiError::new(tally_types::ErrorKind::Internal, "internal", "single sign-on did not complete"));
    };
    let session =
        session_cookie(session.expose(), state.config().is_https(), state.session_policy().absolute.as_secs());
    let mut response = Redirect::to("/").into_response();
    for value in [session.as_str(), clear] {
        if let Ok(value) = axum::http::HeaderValue::from_str(value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}
