//! Teams, at organization level only.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tally_types::permissions::org;
use tally_types::{Principal, ProjectId, ServiceAccountId, TeamId, UserId};

use super::{created, done, ok, views};
use crate::access::OrgAccess;
use crate::extract::{Ids, JsonBody};
use crate::{ApiError, AppState};

pub(crate) async fn list(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ViewOrganization>()?;
    let teams = tally_iam::admin::teams::list(state.ctx(&actor), &permit).await?;
    Ok(ok(teams.iter().map(views::team).collect::<Vec<_>>()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = TeamNameBody)]
pub(crate) struct NameBody {
    name: String,
}

pub(crate) async fn create(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    JsonBody(body): JsonBody<NameBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ManageTeams>()?;
    let team = tally_iam::admin::teams::create(state.ctx(&actor), &permit, &body.name).await?;
    Ok(created(views::team(&team)))
}

pub(crate) async fn get(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, team_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ViewOrganization>()?;
    let (team, members, projects) = tally_iam::admin::teams::get(state.ctx(&actor), &permit, TeamId(team_id)).await?;
    Ok(ok(TeamDetailView {
        team: views::team(&team),
        members: members
            .iter()
            .map(|member| TeamMemberView { principal: views::principal(member.principal), label: member.label.clone() })
            .collect(),
        projects: projects.iter().map(|p| views::ProjectRoleView { id: p.project_id, role: p.role.clone() }).collect(),
    }))
}

/// A team with its members and the project roles it gives them.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TeamDetailView {
    #[serde(flatten)]
    team: views::TeamView,
    members: Vec<TeamMemberView>,
    projects: Vec<views::ProjectRoleView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TeamMemberView {
    principal: views::PrincipalView,
    label: String,
}

pub(crate) async fn rename(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, team_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<NameBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ManageTeams>()?;
    tally_iam::admin::teams::rename(state.ctx(&actor), &permit, TeamId(team_id), &body.name).await?;
    Ok(done())
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, team_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ManageTeams>()?;
    tally_iam::admin::teams::delete(state.ctx(&actor), &permit, TeamId(team_id)).await?;
    Ok(done())
}

/// `{"user_id": n}` or `{"service_account_id": n}`.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = TeamMemberBody)]
pub(crate) struct MemberBody {
    user_id: Option<i64>,
    service_account_id: Option<i64>,
}

pub(crate) fn member_principal(user_id: Option<i64>, service_account_id: Option<i64>) -> Result<Principal, ApiError> {
    match (user_id, service_account_id) {
        (Some(id), None) => Ok(Principal::User(UserId(id))),
        (None, Some(id)) => Ok(Principal::ServiceAccount(ServiceAccountId(id))),
        _ => Err(ApiError::invalid("invalid_member", "give exactly one of user_id or service_account_id")),
    }
}

pub(crate) async fn add_member(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, team_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<MemberBody>,
) -> Result<Response, ApiError> {
    let principal = member_principal(body.user_id, body.service_account_id)?;
    let actor = caller.actor();
    let permit = scope.require::<org::ManageTeams>()?;
    tally_iam::admin::teams::add_member(state.ctx(&actor), &permit, TeamId(team_id), principal).await?;
    Ok(done())
}

pub(crate) async fn remove_user(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, team_id, user_id)): Ids<(i64, i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let principal = Principal::User(UserId(user_id));
    let permit = scope.require::<org::ManageTeams>()?;
    tally_iam::admin::teams::remove_member(state.ctx(&actor), &permit, TeamId(team_id), principal).await?;
    Ok(done())
}

pub(crate) async fn remove_service_account(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, team_id, account_id)): Ids<(i64, i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let principal = Principal::ServiceAccount(ServiceAccountId(account_id));
    let permit = scope.require::<org::ManageTeams>()?;
    tally_iam::admin::teams::remove_member(state.ctx(&actor), &permit, TeamId(team_id), principal).await?;
    Ok(done())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = TeamProjectRoleBody)]
pub(crate) struct RoleBody {
    role: String,
}

pub(crate) async fn set_project(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, team_id, project_id)): Ids<(i64, i64, i64)>,
    JsonBody(body): JsonBody<RoleBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ManageTeams>()?;
    tally_iam::admin::teams::set_project_role(
        state.ctx(&actor),
        &permit,
        TeamId(team_id),
        ProjectId(project_id),
        &body.role,
    )
    .await?;
    Ok(done())
}

pub(crate) async fn remove_project(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, team_id, project_id)): Ids<(i64, i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ManageTeams>()?;
    tally_iam::admin::teams::remove_project(state.ctx(&actor), &permit, TeamId(team_id), ProjectId(project_id)).await?;
    Ok(done())
}
