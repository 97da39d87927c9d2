//! Invitations: sending (one, several, or a CSV), resending, copying the link, revoking,
//! and the public page and API that accept one.

use axum::extract::{FromRequestParts, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tally_iam::admin::invitations::{InviteInput, RowOutcome, Sent};
use tally_iam::records::InvitedProject;
use tally_types::permissions::org;
use tally_types::{Classified, InvitationId, OrgRole, ProjectId, Secret};

use super::{created, done, ok, views};
use crate::access::{OrgAccess, SignedInUser};
use crate::auth::session_cookie;
use crate::extract::{Ids, JsonBody, QueryParams};
use crate::{ApiError, AppState};

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = InvitedProjectRole)]
pub(crate) struct ProjectRoleBody {
    id: i64,
    role: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = InviteBody)]
pub(crate) struct InviteBody {
    email: String,
    #[serde(default = "member")]
    organization_role: String,
    #[serde(default)]
    projects: Vec<ProjectRoleBody>,
}

fn member() -> String {
    "member".into()
}

/// One invitation or several: `{"invitations":[...]}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(as = InviteRequest)]
pub(crate) enum InviteRequest {
    Many { invitations: Vec<InviteBody> },
    One(InviteBody),
}

fn input(body: InviteBody) -> Result<InviteInput, tally_iam::IamError> {
    let org_role: OrgRole = body.organization_role.parse().map_err(|error: tally_types::roles::UnknownRole| {
        tally_iam::IamError::InvalidInput { field: "role", message: error.to_string() }
    })?;
    let projects =
        body.projects.into_iter().map(|p| InvitedProject { project_id: ProjectId(p.id), role: p.role }).collect();
    Ok(InviteInput { email: body.email, org_role, projects })
}

fn sent_view(sent: &Sent) -> views::InvitationView {
    let mut view = views::invitation(&sent.invitation);
    view.link = Some(sent.link.expose().clone());
    view
}

/// Invitations made from a list or a CSV file: what happened to each row.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct InviteOutcomesView {
    sent: usize,
    failed: usize,
    rows: Vec<InviteRowView>,
}

/// One row: `status` is `ok` (with the invitation) or `error` (with its code and message).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct InviteRowView {
    row: usize,
    email: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    invitation: Option<views::InvitationView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn outcomes_view(outcomes: &[RowOutcome]) -> InviteOutcomesView {
    let rows: Vec<_> = outcomes
        .iter()
        .map(|outcome| {
            let mut row = InviteRowView {
                row: outcome.row,
                email: outcome.email.clone(),
                status: "ok",
                invitation: None,
                code: None,
                error: None,
            };
            match &outcome.result {
                Ok(sent) => row.invitation = Some(sent_view(sent)),
                Err(error) => {
                    row.status = "error";
                    row.code = Some(error.code().to_string());
                    row.error = Some(error.to_string());
                }
            }
            row
        })
        .collect();
    let n_sent = outcomes.iter().filter(|outcome| outcome.result.is_ok()).count();
    InviteOutcomesView { sent: n_sent, failed: outcomes.len() - n_sent, rows }
}

/// `POST .../invitations`: one invitation (answered like any create) or a list (answered
/// row by row, good rows applied).
pub(crate) async fn invite(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    JsonBody(body): JsonBody<InviteRequest>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let ctx = state.ctx(&actor);
    match body {
        InviteRequest::One(body) => {
            let permit = scope.require::<org::ManageMembers>()?;
            let sent = tally_iam::admin::invitations::invite(ctx, &permit, &input(body)?).await?;
            Ok(created(sent_view(&sent)))
        }
        InviteRequest::Many { invitations } => {
            let inputs = invitations.into_iter().enumerate().map(|(i, body)| (i + 1, input(body))).collect();
            let permit = scope.require::<org::ManageMembers>()?;
            let outcomes = tally_iam::admin::invitations::invite_many(ctx, &permit, inputs).await;
            Ok(ok(outcomes_view(&outcomes)))
        }
    }
}

/// `POST .../invitations/csv` with a `text/csv` body.
pub(crate) async fn invite_csv(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    body: String,
) -> Result<Response, ApiError> {
    let rows = tally_iam::admin::invitations::parse_csv(&body)?;
    let actor = caller.actor();
    let permit = scope.require::<org::ManageMembers>()?;
    let outcomes = tally_iam::admin::invitations::invite_many(state.ctx(&actor), &permit, rows).await;
    Ok(ok(outcomes_view(&outcomes)))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ManageMembers>()?;
    let invitations = tally_iam::admin::invitations::list(state.ctx(&actor), &permit).await?;
    Ok(ok(invitations.iter().map(views::invitation).collect::<Vec<_>>()))
}

pub(crate) async fn resend(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ManageMembers>()?;
    let sent = tally_iam::admin::invitations::renew(state.ctx(&actor), &permit, InvitationId(id), true).await?;
    Ok(ok(views::invitation(&sent.invitation)))
}

/// A fresh link to hand over by other means (no e-mail is sent).
pub(crate) async fn link(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ManageMembers>()?;
    let sent = tally_iam::admin::invitations::renew(state.ctx(&actor), &permit, InvitationId(id), false).await?;
    Ok(ok(InvitationLinkView { link: sent.link.expose().clone() }))
}

pub(crate) async fn revoke(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ManageMembers>()?;
    tally_iam::admin::invitations::revoke(state.ctx(&actor), &permit, InvitationId(id)).await?;
    Ok(done())
}

#[derive(Deserialize)]
pub(crate) struct TokenQuery {
    #[serde(default)]
    token: String,
}

fn anonymous() -> tally_iam::admin::Actor {
    tally_iam::admin::Actor::anonymous("invitee")
}

/// `GET /api/app/invitations/lookup?token=...`: what the invitation page shows: the
/// organization, the address, and whether that address has an account (which must sign in
/// as itself to accept). An invalid, expired or used link is 404.
pub(crate) async fn lookup(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<TokenQuery>,
) -> Result<Response, ApiError> {
    let actor = anonymous();
    let (invitation, organization, has_account) =
        tally_iam::admin::invitations::preview(state.ctx(&actor), &query.token).await.map_err(|_| {
        ApiError::new(
            tally_types::ErrorKind::NotFound,
            "invitation_not_valid",
            "This invitation link is invalid, expired, or already used. Ask an administrator of the organization for a new one.",
        )
    })?;
    Ok(ok(InvitationLookupView { organization, email: invitation.email, has_account }))
}

/// What an invitation link is for.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct InvitationLookupView {
    organization: String,
    email: String,
    /// The address has an account: it must sign in as itself to accept.
    has_account: bool,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = AcceptInvitationBody)]
pub(crate) struct AcceptBody {
    token: String,
    #[serde(default)]
    name: String,
    password: Option<String>,
}

/// `POST /api/app/invitations/accept` (JSON or form). A new account is signed in at once.
pub(crate) async fn accept(
    State(state): State<AppState>,
    crate::access::Client(client): crate::access::Client,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    // An existing account accepts only while signed in as itself; no session is no one.
    let (mut parts, request_body) = request.into_parts();
    let signed_in = SignedInUser::from_request_parts(&mut parts, &state).await.ok().map(|SignedInUser(user, _)| user);
    let request = axum::extract::Request::from_parts(parts, request_body);
    let (body, _): (AcceptBody, bool) = crate::extract::json_or_form(request, &state).await?;
    let actor = anonymous();
    let password = body.password.map(Secret::new);
    let accepted = tally_iam::admin::invitations::accept(
        state.ctx(&actor),
        &body.token,
        signed_in.as_ref(),
        &body.name,
        password.as_ref(),
    )
    .await?;
    let results = json!({
        "user_id": accepted.user.id,
        "email": accepted.user.email,
        "organization_id": accepted.invitation.org_id,
        "account_created": accepted.user_created,
    });
    if !accepted.user_created {
        return Ok(created(results));
    }
    // A new account signs in at once, unless an organization requires a second factor
    // it has yet to enroll.
    let step = tally_iam::signin::after_first_step(state.ctx(&actor), accepted.user, &client).await?;
    let mut results = results;
    let cookie = match step {
        tally_iam::signin::SignInStep::SignedIn { session, .. } => {
            let policy = state.session_policy();
            Some(session_cookie(session.expose(), state.config().is_https(), policy.absolute.as_secs()))
        }
        tally_iam::signin::SignInStep::EnrollmentRequired { challenge } => {
            results["sign_in"] = json!({ "status": "enrollment_required", "challenge": challenge.expose() });
            None
        }
        tally_iam::signin::SignInStep::SecondFactor { challenge, method } => {
            results["sign_in"] =
                json!({ "status": "second_factor_required", "method": method, "challenge": challenge.expose() });
            None
        }
    };
    match cookie {
        Some(cookie) => Ok(([(header::SET_COOKIE, cookie)], created(results)).into_response()),
        None => Ok(created(results)),
    }
}

/// A fresh invitation link (the previous one stops working).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct InvitationLinkView {
    link: String,
}
