//! Service accounts on Mixpanel's documented paths (organization level) and in a project's
//! settings.

use axum::extract::State;
use axum::response::Response;
use jiff::Timestamp;
use serde::Deserialize;
use tally_iam::admin::service_accounts::ServiceAccountInput;
use tally_types::permissions::{org, project};
use tally_types::{OrgRole, ProjectId, ServiceAccountId};

use super::{created, done, ok, views};
use crate::access::{OrgAccess, ProjectAccess};
use crate::extract::{Ids, JsonBody};
use crate::{ApiError, AppState};

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ServiceAccountProjectRole)]
pub(crate) struct ProjectRoleBody {
    id: i64,
    role: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = NewServiceAccountBody)]
pub(crate) struct CreateBody {
    username: String,
    /// The organization role (`member` unless said otherwise).
    role: Option<String>,
    expires: Option<String>,
    #[serde(default)]
    projects: Vec<ProjectRoleBody>,
}

fn parse_expiry(text: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    text.map(|text| {
        text.parse::<Timestamp>().map_err(|_| {
            ApiError::invalid(
                "invalid_expires",
                format!("expires {text:?} is not an RFC 3339 date-time such as 2027-01-31T00:00:00Z"),
            )
        })
    })
    .transpose()
}

pub(crate) async fn list(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ManageServiceAccounts>()?;
    let accounts = tally_iam::admin::service_accounts::list(state.ctx(&actor), &permit).await?;
    Ok(ok(accounts.iter().map(views::service_account).collect::<Vec<_>>()))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    let org_role = body
        .role
        .as_deref()
        .map(|role| role.parse::<OrgRole>().map_err(|error| ApiError::invalid("invalid_role", error.to_string())))
        .transpose()?;
    let input = ServiceAccountInput {
        username: body.username,
        org_role,
        expires_at: parse_expiry(body.expires.as_deref())?,
        projects: body.projects.into_iter().map(|p| (ProjectId(p.id), p.role)).collect(),
    };
    let actor = caller.actor();
    let permit = scope.require::<org::ManageServiceAccounts>()?;
    let (account, secret) =
        tally_iam::admin::service_accounts::create_in_org(state.ctx(&actor), &permit, &input).await?;
    let mut view = views::service_account(&account);
    view.token = Some(secret.expose().clone());
    Ok(created(view))
}

pub(crate) async fn get(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ManageServiceAccounts>()?;
    let account = tally_iam::admin::service_accounts::get(state.ctx(&actor), &permit, ServiceAccountId(id)).await?;
    Ok(ok(views::service_account(&account)))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ManageServiceAccounts>()?;
    tally_iam::admin::service_accounts::delete(state.ctx(&actor), &permit, ServiceAccountId(id)).await?;
    Ok(done())
}

#[derive(Deserialize)]
pub(crate) struct AddToProjectBody {
    service_account_ids: Vec<i64>,
    projects: Vec<ProjectRoleBody>,
}

pub(crate) async fn add_to_project(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    JsonBody(body): JsonBody<AddToProjectBody>,
) -> Result<Response, ApiError> {
    let ids: Vec<_> = body.service_account_ids.into_iter().map(ServiceAccountId).collect();
    let projects: Vec<_> = body.projects.into_iter().map(|p| (ProjectId(p.id), p.role)).collect();
    let actor = caller.actor();
    let permit = scope.require::<org::ManageServiceAccounts>()?;
    tally_iam::admin::service_accounts::add_to_projects(state.ctx(&actor), &permit, &ids, &projects).await?;
    Ok(done())
}

#[derive(Deserialize)]
pub(crate) struct RemoveProjectBody {
    id: i64,
    service_account_ids: Vec<i64>,
}

#[derive(Deserialize)]
pub(crate) struct RemoveFromProjectBody {
    projects: Vec<RemoveProjectBody>,
}

pub(crate) async fn remove_from_project(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    JsonBody(body): JsonBody<RemoveFromProjectBody>,
) -> Result<Response, ApiError> {
    let projects: Vec<_> = body
        .projects
        .into_iter()
        .map(|p| (ProjectId(p.id), p.service_account_ids.into_iter().map(ServiceAccountId).collect()))
        .collect();
    let actor = caller.actor();
    let permit = scope.require::<org::ManageServiceAccounts>()?;
    tally_iam::admin::service_accounts::remove_from_projects(state.ctx(&actor), &permit, &projects).await?;
    Ok(done())
}

/// A project's service accounts, each with its role and how it holds it.
pub(crate) async fn project_list(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ManageProjectServiceAccounts>()?;
    let accounts = tally_iam::admin::service_accounts::project_accounts(state.ctx(&actor), &permit).await?;
    Ok(ok(accounts
        .iter()
        .map(|(account, role)| {
            let mut view = views::service_account(account);
            view.role = Some(role.clone());
            view.target_type = Some("individual");
            view.has_sensitive_access = Some(false);
            view
        })
        .collect::<Vec<_>>()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = NewProjectServiceAccountBody)]
pub(crate) struct ProjectCreateBody {
    username: String,
    role: String,
    expires: Option<String>,
}

pub(crate) async fn project_create(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    JsonBody(body): JsonBody<ProjectCreateBody>,
) -> Result<Response, ApiError> {
    let expires = parse_expiry(body.expires.as_deref())?;
    let actor = caller.actor();
    let permit = scope.require::<project::ManageProjectServiceAccounts>()?;
    let (account, secret) = tally_iam::admin::service_accounts::create_in_project(
        state.ctx(&actor),
        &permit,
        &body.username,
        &body.role,
        expires,
    )
    .await?;
    let mut view = views::service_account(&account);
    view.token = Some(secret.expose().clone());
    view.role = Some(body.role);
    Ok(created(view))
}

pub(crate) async fn project_remove(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ManageProjectServiceAccounts>()?;
    tally_iam::admin::service_accounts::remove_from_project_settings(state.ctx(&actor), &permit, ServiceAccountId(id))
        .await?;
    Ok(done())
}
