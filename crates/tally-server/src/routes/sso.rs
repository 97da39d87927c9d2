//! The browser side of single sign-on: which sign-in an e-mail uses, the redirect to the
//! identity provider, and its callback.

use axum::extract::State;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;
use tally_types::OrgId;

use crate::access::Client;
use crate::auth::{cookie, session_cookie};
use crate::extract::{FormBody, Ids, QueryParams};
use crate::routes::app::ok;
use crate::routes::{escape_html, html_page};
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
    Ok(ok(SsoDiscoveryView {
        sso: found.is_some(),
        required: found.as_ref().is_some_and(|(_, connection)| connection.require_sso),
        protocol: found.as_ref().map(|(_, connection)| connection.protocol.clone()),
        start_url: found.map(|_| {
            let query =
                url::form_urlencoded::Serializer::new(String::new()).append_pair("email", query.email.trim()).finish();
            format!("/sso/start?{query}")
        }),
    }))
}

/// Whether an e-mail signs in with its organization's single sign-on, and where to start.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SsoDiscoveryView {
    sso: bool,
    /// Password sign-in is refused for this domain (Owners and Admins excepted).
    required: bool,
    protocol: Option<String>,
    start_url: Option<String>,
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
    let outcome = tally_sso::oidc::callback(
        state.ctx(&actor),
        &query.code,
        &query.state,
        query.iss.as_deref(),
        browser_state.as_deref(),
        &client,
    )
    .await?;
    signed_in(&state, outcome, &oidc_cookie(&state, "", 0))
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
    let outcome = tally_sso::saml::acs(
        state.ctx(&actor),
        OrgId(org_id),
        &form.saml_response,
        form.relay_state.as_deref(),
        browser_state.as_deref(),
        &client,
    )
    .await?;
    signed_in(&state, outcome, &saml_cookie(&state, "", 0))
}

/// Keeps the pending link of an SSO identity to an existing account in this browser while
/// that account proves itself.
const LINK_COOKIE: &str = "tally_sso_link";

fn link_cookie(state: &AppState, value: &str, max_age: u32) -> String {
    let secure = if state.config().is_https() { "; Secure" } else { "" };
    format!("{LINK_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

fn with_cookies(mut response: Response, cookies: &[&str]) -> Response {
    for value in cookies {
        if let Ok(value) = axum::http::HeaderValue::from_str(value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// The session cookie and the way home after an SSO sign-in, clearing the cookie that
/// bound it to the browser; or, for an identity that names an account the organization
/// does not manage, the page where that account proves itself to link it.
fn signed_in(state: &AppState, outcome: tally_sso::SsoOutcome, clear: &str) -> Result<Response, ApiError> {
    let step = match outcome {
        tally_sso::SsoOutcome::SignedIn(step) => step,
        tally_sso::SsoOutcome::LinkRequired { token, .. } => {
            let link = link_cookie(state, token.expose(), 600);
            return Ok(with_cookies(Redirect::to("/sso/link").into_response(), &[link.as_str(), clear]));
        }
    };
    let tally_iam::signin::SignInStep::SignedIn { session, .. } = step else {
        return Err(ApiError::new(tally_types::ErrorKind::Internal, "internal", "single sign-on did not complete"));
    };
    let session =
        session_cookie(session.expose(), state.config().is_https(), state.session_policy().absolute.as_secs());
    Ok(with_cookies(Redirect::to("/").into_response(), &[session.as_str(), clear]))
}

/// `GET /sso/link`: an identity provider named an existing account that this organization
/// does not manage. The account links the identity by proving itself once, here: its
/// password, then its second factor.
pub(crate) async fn link_page(State(state): State<AppState>, parts: Parts) -> Result<Response, ApiError> {
    let actor = tally_iam::admin::Actor::anonymous("sso");
    let pending = match cookie(&parts, LINK_COOKIE) {
        Some(token) => tally_sso::pending_link_account(state.ctx(&actor), &token).await?,
        None => None,
    };
    let Some((email, org)) = pending else {
        return Ok(link_expired());
    };
    let body = format!(
        "<h1>Link single sign-on</h1><p>{org}'s identity provider signed in as <strong>{email}</strong>, an \
         existing Tally account. Before {org}'s single sign-on can sign in as it, prove once that the account is \
         yours. Continue only if you started this sign-in yourself.</p>\
         <form method=\"post\" action=\"/sso/link\"><label>Password for {email} <input type=\"password\" \
         name=\"password\" required autocomplete=\"current-password\"></label><br>\
         <button type=\"submit\">Link and sign in</button></form>",
        org = escape_html(&org),
        email = escape_html(&email),
    );
    Ok(Html(html_page("Link single sign-on", &body)).into_response())
}

fn link_expired() -> Response {
    let body = "<h1>Nothing to link</h1><p>This link request expired or was already used. Sign in with single \
                sign-on again.</p>";
    (axum::http::StatusCode::NOT_FOUND, Html(html_page("Link single sign-on", body))).into_response()
}

#[derive(Deserialize)]
pub(crate) struct LinkPasswordBody {
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
pub(crate) struct LinkFactorBody {
    #[serde(default)]
    challenge: String,
    code: Option<String>,
    recovery_code: Option<String>,
}

/// The pending link's token (from its cookie) and the body, as JSON or a form.
async fn link_request<T: serde::de::DeserializeOwned>(
    state: &AppState,
    request: axum::extract::Request,
) -> Result<(String, T, bool), ApiError> {
    let (parts, body) = request.into_parts();
    let token = cookie(&parts, LINK_COOKIE).unwrap_or_default();
    let (body, is_form) = crate::extract::json_or_form(axum::extract::Request::from_parts(parts, body), state).await?;
    Ok((token, body, is_form))
}

/// `POST /sso/link` (form or JSON): the password of the account the pending identity
/// names.
pub(crate) async fn link_password(
    State(state): State<AppState>,
    Client(client): Client,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let (token, body, is_form): (String, LinkPasswordBody, bool) = link_request(&state, request).await?;
    let actor = tally_iam::admin::Actor::anonymous("sso");
    let password = tally_types::Secret::new(body.password);
    let step = tally_sso::link_with_password(state.ctx(&actor), &token, &password, &client).await?;
    link_answer(&state, step, is_form)
}

/// `POST /sso/link/second-factor` (form or JSON): the second step, with the challenge the
/// password step gave.
pub(crate) async fn link_second_factor(
    State(state): State<AppState>,
    Client(client): Client,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let (token, body, is_form): (String, LinkFactorBody, bool) = link_request(&state, request).await?;
    let proof = match (&body.recovery_code, &body.code) {
        (Some(code), _) if !code.trim().is_empty() => tally_iam::signin::Proof::RecoveryCode(code),
        (_, Some(code)) => tally_iam::signin::Proof::Code(code),
        _ => return Err(ApiError::invalid("invalid_code", "enter the code from your second factor")),
    };
    let actor = tally_iam::admin::Actor::anonymous("sso");
    let step = tally_sso::link_with_second_factor(state.ctx(&actor), &token, &body.challenge, proof, &client).await?;
    link_answer(&state, step, is_form)
}

/// Signed in (the session cookie, the link cookie cleared), or the second-factor step: a
/// page for forms, JSON otherwise.
fn link_answer(state: &AppState, step: tally_sso::LinkStep, is_form: bool) -> Result<Response, ApiError> {
    match step {
        tally_sso::LinkStep::Linked(step) => {
            let tally_iam::signin::SignInStep::SignedIn { session, .. } = step else {
                return Err(ApiError::new(tally_types::ErrorKind::Internal, "internal", "the link did not complete"));
            };
            let session =
                session_cookie(session.expose(), state.config().is_https(), state.session_policy().absolute.as_secs());
            let clear = link_cookie(state, "", 0);
            let answer = if is_form { Redirect::to("/").into_response() } else { ok(json!({ "status": "linked" })) };
            Ok(with_cookies(answer, &[session.as_str(), clear.as_str()]))
        }
        tally_sso::LinkStep::SecondFactor { challenge, method } => {
            if !is_form {
                return Ok(ok(json!({
                    "status": "second_factor_required",
                    "method": method,
                    "challenge": challenge.expose(),
                })));
            }
            let body = format!(
                "<h1>Link single sign-on</h1><p>Enter the code from your {what}, or a recovery code.</p>\
                 <form method=\"post\" action=\"/sso/link/second-factor\"><input type=\"hidden\" \
                 name=\"challenge\" value=\"{challenge}\"><label>Code <input type=\"text\" name=\"code\" \
                 autocomplete=\"one-time-code\"></label><br><label>Or a recovery code <input type=\"text\" \
                 name=\"recovery_code\"></label><br><button type=\"submit\">Link and sign in</button></form>",
                what = if method == "sms" { "text message" } else { "authenticator app" },
                challenge = escape_html(challenge.expose()),
            );
            Ok(Html(html_page("Link single sign-on", &body)).into_response())
        }
    }
}
