//! Signing in (password or e-mailed link, then a second factor or its enrollment), signing
//! out, one's own sessions, password changes and resets.

use axum::extract::State;
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tally_iam::signin::{Proof, SignInStep};
use tally_types::Secret;

use super::{done, ok};
use crate::access::{Caller, Client, SignedInUser};
use crate::auth::{expired_session_cookie, session_cookie, session_token};
use crate::extract::{Ids, JsonBody};
use crate::{ApiError, AppState};

/// Where a sign-in stands after a step.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub(crate) enum SignInStepView {
    /// Done: the answer sets the session cookie. `recovery_codes` only after an enrollment
    /// (shown once).
    SignedIn {
        user_id: i64,
        email: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        recovery_codes: Option<Vec<String>>,
    },
    /// Send a code (`totp` or `sms`) or a recovery code with this challenge.
    SecondFactorRequired { method: String, challenge: String },
    /// An organization requires a second factor the account has not enrolled yet.
    EnrollmentRequired { challenge: String },
}

/// The answer to any sign-in step: a session cookie when done, else what comes next.
pub(crate) fn step_response(state: &AppState, step: SignInStep, recovery_codes: Option<Vec<String>>) -> Response {
    match step {
        SignInStep::SignedIn { user, session } => {
            let cookie =
                session_cookie(session.expose(), state.config().is_https(), state.session_policy().absolute.as_secs());
            let body = SignInStepView::SignedIn { user_id: user.id.0, email: user.email, recovery_codes };
            ([(header::SET_COOKIE, cookie)], ok(body)).into_response()
        }
        SignInStep::SecondFactor { challenge, method } => ok(SignInStepView::SecondFactorRequired {
            method: method.to_string(),
            challenge: challenge.expose().clone(),
        }),
        SignInStep::EnrollmentRequired { challenge } => {
            ok(SignInStepView::EnrollmentRequired { challenge: challenge.expose().clone() })
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = SignInBody)]
pub(crate) struct SignIn {
    email: String,
    password: String,
}

/// `POST /api/app/sessions`.
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    Client(client): Client,
    JsonBody(body): JsonBody<SignIn>,
) -> Result<Response, ApiError> {
    let actor = tally_iam::admin::Actor::anonymous(&body.email);
    let step =
        tally_iam::signin::with_password(state.ctx(&actor), &body.email, &Secret::new(body.password), &client).await?;
    Ok(step_response(&state, step, None))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = SecondFactorBody)]
pub(crate) struct SecondFactorBody {
    challenge: String,
    code: Option<String>,
    recovery_code: Option<String>,
}

/// `POST /api/app/sessions/second-factor`: a code or a recovery code.
pub(crate) async fn second_factor(
    State(state): State<AppState>,
    Client(client): Client,
    JsonBody(body): JsonBody<SecondFactorBody>,
) -> Result<Response, ApiError> {
    let actor = tally_iam::admin::Actor::anonymous("sign-in");
    let proof = match (&body.code, &body.recovery_code) {
        (Some(code), None) => Proof::Code(code),
        (None, Some(code)) => Proof::RecoveryCode(code),
        // A missing code fails like a wrong one.
        _ => Proof::Code(""),
    };
    let step = tally_iam::signin::second_factor(state.ctx(&actor), &body.challenge, proof, &client).await?;
    Ok(step_response(&state, step, None))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ChallengeBody)]
pub(crate) struct ChallengeBody {
    challenge: String,
}

pub(crate) async fn resend(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ChallengeBody>,
) -> Result<Response, ApiError> {
    let actor = tally_iam::admin::Actor::anonymous("sign-in");
    tally_iam::signin::resend_sms(state.ctx(&actor), &body.challenge).await?;
    Ok(done())
}

pub(crate) async fn enroll_totp(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ChallengeBody>,
) -> Result<Response, ApiError> {
    let actor = tally_iam::admin::Actor::anonymous("sign-in");
    let provisioning = tally_iam::signin::enroll_totp(state.ctx(&actor), &body.challenge).await?;
    Ok(ok(super::views::provisioning(&provisioning)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = EnrollSmsBody)]
pub(crate) struct EnrollSmsBody {
    challenge: String,
    phone: String,
}

pub(crate) async fn enroll_sms(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<EnrollSmsBody>,
) -> Result<Response, ApiError> {
    let actor = tally_iam::admin::Actor::anonymous("sign-in");
    tally_iam::signin::enroll_sms(state.ctx(&actor), &body.challenge, &body.phone).await?;
    Ok(done())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = EnrollConfirmBody)]
pub(crate) struct ConfirmBody {
    challenge: String,
    code: String,
}

pub(crate) async fn enroll_confirm(
    State(state): State<AppState>,
    Client(client): Client,
    JsonBody(body): JsonBody<ConfirmBody>,
) -> Result<Response, ApiError> {
    let actor = tally_iam::admin::Actor::anonymous("sign-in");
    let (step, codes) =
        tally_iam::signin::confirm_enrollment(state.ctx(&actor), &body.challenge, &body.code, &client).await?;
    let codes = codes.iter().map(|code| code.expose().clone()).collect();
    Ok(step_response(&state, step, Some(codes)))
}

/// `DELETE /api/app/sessions/current`: ends this session and clears the cookie.
pub(crate) async fn sign_out(
    State(state): State<AppState>,
    caller: Caller,
    Client(client): Client,
    parts: Parts,
) -> Result<Response, ApiError> {
    let secure = state.config().is_https();
    if let Some(token) = session_token(&parts, secure) {
        tally_iam::sessions::end(state.directory(), &token).await?;
        if let tally_iam::account::Account::User(user) = &caller.account {
            let actor = caller.actor();
            tally_iam::signin::audit_in_orgs(state.ctx(&actor), user, "session.logged_out", &client, None).await?;
        }
    }
    let expired = expired_session_cookie(secure);
    Ok(([(header::SET_COOKIE, expired)], done()).into_response())
}

/// `GET /api/app/me/sessions`.
pub(crate) async fn list(
    State(state): State<AppState>,
    SignedInUser(user, _): SignedInUser,
    parts: Parts,
) -> Result<Response, ApiError> {
    let current = session_token(&parts, state.config().is_https()).map(|token| tally_iam::token_hash(&token));
    let sessions = tally_iam::account::sessions(state.directory(), &user).await?;
    Ok(ok(sessions
        .iter()
        .map(|session| SessionView {
            id: session.public_id.clone(),
            created: session.created_at.to_string(),
            last_seen: session.last_seen_at.to_string(),
            expires: session.expires_at.to_string(),
            ip: session.ip.clone(),
            user_agent: session.user_agent.clone(),
            current: current.as_deref() == Some(session.token_hash.as_str()),
        })
        .collect::<Vec<_>>()))
}

/// One of your sessions; `current` is this browser's.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SessionView {
    id: String,
    created: String,
    last_seen: String,
    expires: String,
    ip: Option<String>,
    user_agent: Option<String>,
    current: bool,
}

/// `DELETE /api/app/me/sessions/{session_id}`.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    SignedInUser(user, _): SignedInUser,
    Ids(session_id): Ids<String>,
) -> Result<Response, ApiError> {
    if !tally_iam::account::end_session(state.directory(), &user, &session_id).await? {
        return Err(ApiError::not_found());
    }
    Ok(done())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = PasswordChangeBody)]
pub(crate) struct PasswordBody {
    current_password: Option<String>,
    new_password: String,
}

/// `PUT /api/app/me/password`: every session ends; the caller gets a new one.
pub(crate) async fn change_password(
    State(state): State<AppState>,
    SignedInUser(user, caller): SignedInUser,
    Client(client): Client,
    JsonBody(body): JsonBody<PasswordBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let current = body.current_password.map(Secret::new);
    let session = tally_iam::signin::change_password(
        state.ctx(&actor),
        &user,
        current.as_ref(),
        &Secret::new(body.new_password),
        &client,
    )
    .await?;
    let cookie = session_cookie(session.expose(), state.config().is_https(), state.session_policy().absolute.as_secs());
    Ok(([(header::SET_COOKIE, cookie)], done()).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = EmailBody)]
pub(crate) struct EmailBody {
    email: String,
}

/// `POST /api/app/password-reset`: always accepted, whether or not the account exists.
pub(crate) async fn request_reset(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<EmailBody>,
) -> Result<Response, ApiError> {
    let actor = tally_iam::admin::Actor::anonymous("password reset");
    tally_iam::validate::email(&body.email)?;
    tally_iam::signin::request_password_reset(state.ctx(&actor), &body.email).await?;
    Ok((axum::http::StatusCode::ACCEPTED, done()).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = PasswordResetBody)]
pub(crate) struct ResetBody {
    token: String,
    password: String,
}

/// `POST /api/app/password-reset/confirm` (JSON or the reset page's form).
pub(crate) async fn confirm_reset(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let (body, is_form): (ResetBody, bool) = crate::extract::json_or_form(request, &state).await?;
    let actor = tally_iam::admin::Actor::anonymous("password reset");
    tally_iam::signin::reset_password(state.ctx(&actor), &body.token, &Secret::new(body.password)).await?;
    if is_form {
        let page = crate::routes::html_page(
            "Password changed",
            "<h1>Password changed</h1><p>Sign in with your new password.</p>",
        );
        return Ok(axum::response::Html(page).into_response());
    }
    Ok(done())
}

/// `POST /api/app/magic-link`: always accepted.
pub(crate) async fn request_magic_link(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<EmailBody>,
) -> Result<Response, ApiError> {
    let actor = tally_iam::admin::Actor::anonymous("magic link");
    tally_iam::validate::email(&body.email)?;
    tally_iam::signin::request_magic_link(state.ctx(&actor), &body.email).await?;
    Ok((axum::http::StatusCode::ACCEPTED, done()).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = MagicLinkBody)]
pub(crate) struct TokenBody {
    token: String,
}

/// `POST /api/app/magic-link/consume` (JSON or the link page's form).
pub(crate) async fn consume_magic_link(
    State(state): State<AppState>,
    Client(client): Client,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let (body, is_form): (TokenBody, bool) = crate::extract::json_or_form(request, &state).await?;
    let actor = tally_iam::admin::Actor::anonymous("magic link");
    let step = tally_iam::signin::with_magic_link(state.ctx(&actor), &body.token, &client).await?;
    if is_form && let SignInStep::SignedIn { session, .. } = &step {
        let cookie =
            session_cookie(session.expose(), state.config().is_https(), state.session_policy().absolute.as_secs());
        return Ok(([(header::SET_COOKIE, cookie)], axum::response::Redirect::to("/")).into_response());
    }
    Ok(step_response(&state, step, None))
}
