//! One's own second factor, and an organization's two-factor requirement.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tally_iam::stepup::StepUp;
use tally_types::permissions::org;
use tally_types::{Secret, UserId};

use super::{done, ok, views};
use crate::access::{Client, OrgAccess, SignedInUser};
use crate::auth::session_cookie;
use crate::extract::{Ids, JsonBody};
use crate::{ApiError, AppState};

pub(crate) async fn status(
    State(state): State<AppState>,
    SignedInUser(user, caller): SignedInUser,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let status = tally_iam::twofactor::status(state.ctx(&actor), &user).await?;
    Ok(ok(TwoFactorStatusView {
        method: status.method,
        phone: status.phone,
        recovery_codes_left: status.recovery_codes_left,
        required_by_organization: status.required_by_organization,
    }))
}

/// Your second factor: `totp`, `sms` or none.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TwoFactorStatusView {
    method: Option<String>,
    /// The enrolled number, partly hidden.
    phone: Option<String>,
    recovery_codes_left: i64,
    /// An organization of yours requires a second factor.
    required_by_organization: bool,
}

fn recovery_codes_view(codes: &[Secret<String>]) -> views::RecoveryCodesView {
    views::RecoveryCodesView { recovery_codes: codes.iter().map(|code| code.expose().clone()).collect() }
}

/// A step-up proof: the password, or a code of the current second factor.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = StepUpProofBody)]
pub(crate) struct ProofBody {
    password: Option<String>,
    code: Option<String>,
}

impl ProofBody {
    fn proof(self) -> StepUp {
        StepUp {
            password: self.password.filter(|text| !text.is_empty()).map(Secret::new),
            code: self.code.filter(|text| !text.trim().is_empty()),
        }
    }
}

/// Starts an authenticator enrollment (a step-up proof when the account has a password or
/// a factor).
pub(crate) async fn start_totp(
    State(state): State<AppState>,
    SignedInUser(user, caller): SignedInUser,
    JsonBody(body): JsonBody<ProofBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let proof = body.proof();
    let provisioning = tally_iam::twofactor::start_totp(state.ctx(&actor), &user, &proof).await?;
    Ok(ok(views::provisioning(&provisioning)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = PhoneBody)]
pub(crate) struct PhoneBody {
    phone: String,
    #[serde(flatten)]
    proof: ProofBody,
}

pub(crate) async fn start_sms(
    State(state): State<AppState>,
    SignedInUser(user, caller): SignedInUser,
    JsonBody(body): JsonBody<PhoneBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    tally_iam::twofactor::start_sms(state.ctx(&actor), &user, &body.phone, &body.proof.proof()).await?;
    Ok(done())
}

/// Sends an SMS code to prove oneself at a step-up check (SMS factor only).
pub(crate) async fn step_up_sms(
    State(state): State<AppState>,
    SignedInUser(user, caller): SignedInUser,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    tally_iam::stepup::send_sms_code(state.ctx(&actor), &user).await?;
    Ok(done())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = CodeBody)]
pub(crate) struct CodeBody {
    code: String,
}

/// Confirms the enrollment; the recovery codes are shown this once.
pub(crate) async fn confirm(
    State(state): State<AppState>,
    SignedInUser(user, caller): SignedInUser,
    Client(client): Client,
    JsonBody(body): JsonBody<CodeBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let codes = tally_iam::twofactor::confirm(state.ctx(&actor), &user, &body.code, &client).await?;
    Ok(ok(recovery_codes_view(&codes)))
}

/// Turns the second factor off; all sessions end and the caller gets a fresh one.
pub(crate) async fn disable(
    State(state): State<AppState>,
    SignedInUser(user, caller): SignedInUser,
    Client(client): Client,
    JsonBody(body): JsonBody<ProofBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    tally_iam::twofactor::disable(state.ctx(&actor), &user, &body.proof()).await?;
    let session =
        tally_iam::sessions::start(state.directory(), state.clock(), state.session_policy(), user.id, &client).await?;
    let cookie = session_cookie(session.expose(), state.config().is_https(), state.session_policy().absolute.as_secs());
    Ok(([(header::SET_COOKIE, cookie)], done()).into_response())
}

pub(crate) async fn recovery_codes(
    State(state): State<AppState>,
    SignedInUser(user, caller): SignedInUser,
    JsonBody(body): JsonBody<ProofBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let codes = tally_iam::twofactor::regenerate_recovery_codes(state.ctx(&actor), &user, &body.proof()).await?;
    Ok(ok(recovery_codes_view(&codes)))
}

pub(crate) async fn org_security(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ViewOrganization>()?;
    let required = tally_iam::twofactor::org_requires(state.ctx(&actor), &permit).await?;
    Ok(ok(OrgSecurityView { require_two_factor: required }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = OrgSecurityBody)]
pub(crate) struct SecurityBody {
    require_two_factor: bool,
    password: Option<String>,
}

pub(crate) async fn set_org_security(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    JsonBody(body): JsonBody<SecurityBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let password = body.password.map(Secret::new);
    let permit = scope.require::<org::ManageSecurity>()?;
    tally_iam::twofactor::set_required(state.ctx(&actor), &permit, body.require_two_factor, password.as_ref()).await?;
    Ok(done())
}

pub(crate) async fn reset_member(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, user_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ManageSecurity>()?;
    tally_iam::twofactor::reset_member(state.ctx(&actor), &permit, UserId(user_id)).await?;
    Ok(done())
}

/// Whether the organization requires a second factor of every member.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct OrgSecurityView {
    require_two_factor: bool,
}
