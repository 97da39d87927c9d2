//! Teams, managed at organization level only: their members and the projects they hold.

use serde_json::json;
use tally_store::{Grantee, Team, TeamMember, TeamProject};
use tally_types::permissions::org;
use tally_types::{Principal, ProjectId, TeamId};

use super::{Ctx, WithChange, check_assignable, checked_name};
use crate::IamError;
use crate::authz::OrgPermit;

pub async fn list(ctx: Ctx<'_>, permit: &OrgPermit<'_, org::ViewOrganization>) -> Result<Vec<Team>, IamError> {
    Ok(ctx.store.teams(permit.org_id()).await?)
}

pub async fn get(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, org::ViewOrganization>,
    team_id: TeamId,
) -> Result<(Team, Vec<TeamMember>, Vec<TeamProject>), IamError> {
    let team = ctx.store.team(permit.org_id(), team_id).await?.ok_or(IamError::NotFound("team"))?;
    let members = ctx.store.team_members(team.id).await?;
    let projects = ctx.store.team_projects(team.id).await?;
    Ok((team, members, projects))
}

pub async fn create(ctx: Ctx<'_>, permit: &OrgPermit<'_, org::ManageTeams>, name: &str) -> Result<Team, IamError> {
    let name = checked_name("name", name)?;
    let audit = ctx.audit(permit.org_id(), None, "team.created", "team", "").with(None, Some(json!({ "name": name })));
    Ok(ctx.store.create_team(permit.org_id(), name, &audit).await?)
}

pub async fn rename(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, org::ManageTeams>,
    team_id: TeamId,
    name: &str,
) -> Result<(), IamError> {
    let name = checked_name("name", name)?;
    let team = ctx.store.team(permit.org_id(), team_id).await?.ok_or(IamError::NotFound("team"))?;
    let audit = ctx
        .audit(permit.org_id(), None, "team.updated", "team", team.id)
        .with(Some(json!({ "name": team.name })), Some(json!({ "name": name })));
    ctx.store.rename_team(team.id, name, &audit).await?;
    Ok(())
}

/// Deletes a team. Only access that came through it goes; other grants remain.
pub async fn delete(ctx: Ctx<'_>, permit: &OrgPermit<'_, org::ManageTeams>, team_id: TeamId) -> Result<(), IamError> {
    let team = ctx.store.team(permit.org_id(), team_id).await?.ok_or(IamError::NotFound("team"))?;
    let audit = ctx
        .audit(permit.org_id(), None, "team.deleted", "team", team.id)
        .with(Some(json!({ "name": team.name })), None);
    ctx.store.delete_team(team.id, &audit).await?;
    Ok(())
}

pub async fn add_member(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, org::ManageTeams>,
    team_id: TeamId,
    principal: Principal,
) -> Result<(), IamError> {
    let team = ctx.store.team(permit.org_id(), team_id).await?.ok_or(IamError::NotFound("team"))?;
    if ctx.store.org_standing(permit.org_id(), principal).await?.is_none() {
        return Err(IamError::NotFound("member of this organization"));
    }
    let event = match principal {
        Principal::User(_) => "team.user_added",
        Principal::ServiceAccount(_) => "team.service_account_added",
    };
    let audit = ctx
        .audit(permit.org_id(), None, event, "team", team.id)
        .with(None, Some(json!({ principal.kind(): principal.id() })));
    ctx.store.add_team_member(team.id, principal, &audit).await?;
    Ok(())
}

pub async fn remove_member(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, org::ManageTeams>,
    team_id: TeamId,
    principal: Principal,
) -> Result<(), IamError> {
    let team = ctx.store.team(permit.org_id(), team_id).await?.ok_or(IamError::NotFound("team"))?;
    let event = match principal {
        Principal::User(_) => "team.user_removed",
        Principal::ServiceAccount(_) => "team.service_account_removed",
    };
    let audit = ctx
        .audit(permit.org_id(), None, event, "team", team.id)
        .with(Some(json!({ principal.kind(): principal.id() })), None);
    ctx.store.remove_team_member(team.id, principal, &audit).await.map_err(|error| match error {
        tally_store::StoreError::NotFound => IamError::NotFound("team member"),
        other => other.into(),
    })
}

/// Gives the team a role on a project of the same organization, within the actor's level there.
pub async fn set_project_role(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, org::ManageTeams>,
    team_id: TeamId,
    project_id: ProjectId,
    role: &str,
) -> Result<(), IamError> {
    let team = ctx.store.team(permit.org_id(), team_id).await?.ok_or(IamError::NotFound("team"))?;
    let project = ctx.store.project(project_id).await?.filter(|project| project.org_id == permit.org_id());
    let project = project.ok_or(IamError::NotFound("project"))?;
    let actor_in_project = super::actor_in_project(ctx, project.id).await?;
    check_assignable(ctx.store, project.id, role, actor_in_project.permissions()).await?;
    let before = ctx.store.grant(project.id, Grantee::Team(team.id)).await?;
    let audit = ctx
        .audit(permit.org_id(), Some(project.id), "project.team_added", "team", team.id)
        .with(before.map(|role| json!({ "role": role })), Some(json!({ "team": team.name, "role": role })));
    ctx.store.set_grant(project.id, Grantee::Team(team.id), role, ctx.actor.user_id(), &audit).await?;
    Ok(())
}

pub async fn remove_project(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, org::ManageTeams>,
    team_id: TeamId,
    project_id: ProjectId,
) -> Result<(), IamError> {
    let team = ctx.store.team(permit.org_id(), team_id).await?.ok_or(IamError::NotFound("team"))?;
    let project = ctx.store.project(project_id).await?.filter(|project| project.org_id == permit.org_id());
    let project = project.ok_or(IamError::NotFound("project"))?;
    let audit = ctx
        .audit(permit.org_id(), Some(project.id), "project.team_removed", "team", team.id)
        .with(Some(json!({ "team": team.name })), None);
    ctx.store.remove_grant(project.id, Grantee::Team(team.id), &audit).await.map_err(|error| match error {
        tally_store::StoreError::NotFound => IamError::NotFound("team grant on this project"),
        other => other.into(),
    })
}
