//! Who has access to a project: listing with sources, individual grants, the all-users
//! default role, and access requests.

use serde_json::json;
use tally_store::{AccessRequest, GrantSource, Grantee, ProjectMember};
use tally_types::{AccessRequestId, Principal, ProjectId};

use super::{Ctx, WithChange, check_assignable, check_outranks_in_project};
use crate::IamError;
use crate::authz::{AuthzError, ProjectScope, custom_role_permissions, effective_permissions};

pub async fn list(ctx: Ctx<'_>, scope: &ProjectScope) -> Result<Vec<ProjectMember>, IamError> {
    Ok(ctx.store.project_members(scope.project_id()).await?)
}

/// The principal must belong to the project's organization; otherwise it does not exist
/// as far as this caller is concerned.
async fn check_in_org(ctx: Ctx<'_>, scope: &ProjectScope, principal: Principal) -> Result<(), IamError> {
    match ctx.store.org_standing(scope.org_id(), principal).await? {
        Some(_) => Ok(()),
        None => Err(IamError::NotFound("member of this organization")),
    }
}

fn grant_event(principal: Principal, added: bool) -> &'static str {
    match (principal, added) {
        (Principal::User(_), true) => "project.user_added",
        (Principal::User(_), false) => "project.user_removed",
        (Principal::ServiceAccount(_), true) => "service_account.added_to_project",
        (Principal::ServiceAccount(_), false) => "service_account.removed_from_project",
    }
}

/// Gives (or changes) a principal's individual role on the project, within the actor's
/// own level; an existing individual role above the actor's cannot be changed.
pub async fn set_role(ctx: Ctx<'_>, scope: &ProjectScope, principal: Principal, role: &str) -> Result<(), IamError> {
    check_in_org(ctx, scope, principal).await?;
    check_assignable(ctx.store, scope.project_id(), role, scope.permissions()).await?;
    let grantee = Grantee::Principal(principal);
    let before = ctx.store.grant(scope.project_id(), grantee).await?;
    if before.is_some() {
        check_outranks_in_project(ctx, scope, principal).await?;
    }
    let event = if before.is_some() {
        if matches!(principal, Principal::User(_)) { "user.role_changed" } else { "service_account.role_changed" }
    } else {
        grant_event(principal, true)
    };
    let audit = ctx
        .audit(scope.org_id(), Some(scope.project_id()), event, principal.kind(), principal.id())
        .with(before.map(|role| json!({ "role": role })), Some(json!({ "role": role })));
    ctx.store.set_grant(scope.project_id(), grantee, role, ctx.actor.user_id(), &audit).await?;
    Ok(())
}

/// Removes a principal's individual grant. Access through a team cannot be removed here
/// (only organization Owners and Admins manage teams), nor a grant at or above the actor's level.
pub async fn remove(ctx: Ctx<'_>, scope: &ProjectScope, principal: Principal) -> Result<(), IamError> {
    check_in_org(ctx, scope, principal).await?;
    let grantee = Grantee::Principal(principal);
    let Some(current) = ctx.store.grant(scope.project_id(), grantee).await? else {
        let grants = ctx.store.grants_of(scope.project_id(), principal).await?;
        if let Some(team) = grants.iter().find_map(|grant| match &grant.source {
            GrantSource::Team { name, .. } => Some(name.clone()),
            _ => None,
        }) {
            return Err(IamError::Conflict(format!(
                "their access comes through the team {team:?}; organization Owners and Admins manage teams"
            )));
        }
        return Err(IamError::NotFound("individual grant on this project"));
    };
    check_outranks_in_project(ctx, scope, principal).await?;
    let audit = ctx
        .audit(
            scope.org_id(),
            Some(scope.project_id()),
            grant_event(principal, false),
            principal.kind(),
            principal.id(),
        )
        .with(Some(json!({ "role": current })), None);
    ctx.store.remove_grant(scope.project_id(), grantee, &audit).await?;
    Ok(())
}

/// Sets the role every organization member, present and future, holds in the project.
pub async fn set_default_role(ctx: Ctx<'_>, scope: &ProjectScope, role: &str) -> Result<(), IamError> {
    check_assignable(ctx.store, scope.project_id(), role, scope.permissions()).await?;
    let before = ctx.store.grant(scope.project_id(), Grantee::AllUsers).await?;
    let audit = ctx
        .audit(
            scope.org_id(),
            Some(scope.project_id()),
            "project.default_access_granted",
            "project",
            scope.project_id(),
        )
        .with(before.map(|role| json!({ "role": role })), Some(json!({ "role": role })));
    ctx.store.set_grant(scope.project_id(), Grantee::AllUsers, role, ctx.actor.user_id(), &audit).await?;
    Ok(())
}

pub async fn remove_default_role(ctx: Ctx<'_>, scope: &ProjectScope) -> Result<(), IamError> {
    let before =
        ctx.store.grant(scope.project_id(), Grantee::AllUsers).await?.ok_or(IamError::NotFound("default role"))?;
    let audit = ctx
        .audit(
            scope.org_id(),
            Some(scope.project_id()),
            "project.default_access_revoked",
            "project",
            scope.project_id(),
        )
        .with(Some(json!({ "role": before })), None);
    ctx.store.remove_grant(scope.project_id(), Grantee::AllUsers, &audit).await?;
    Ok(())
}

/// A member of the organization asks for a project they cannot use yet.
pub async fn request_access(ctx: Ctx<'_>, scope: &ProjectScope, message: &str) -> Result<AccessRequestId, IamError> {
    let Principal::User(user_id) = scope.principal() else {
        return Err(IamError::Forbidden(
            "service accounts are given access by an admin; they do not request it".into(),
        ));
    };
    let custom = custom_role_permissions(ctx.store, scope.project_id(), scope.grants()).await?;
    if !effective_permissions(scope.grants(), &custom).is_empty() {
        return Err(IamError::Conflict("you already have access to this project".into()));
    }
    if message.chars().count() > 1000 {
        return Err(IamError::invalid("message", "must be at most 1000 characters"));
    }
    let audit = ctx.audit(scope.org_id(), Some(scope.project_id()), "access_request.created", "access_request", "");
    Ok(ctx.store.create_access_request(scope.project_id(), user_id, message.trim(), &audit).await?)
}

pub async fn access_requests(ctx: Ctx<'_>, scope: &ProjectScope) -> Result<Vec<AccessRequest>, IamError> {
    Ok(ctx.store.access_requests(scope.project_id()).await?)
}

/// Approves with a role (within the actor's level) or denies (`role` = `None`).
pub async fn decide_access_request(
    ctx: Ctx<'_>,
    scope: &ProjectScope,
    id: AccessRequestId,
    role: Option<&str>,
) -> Result<(), IamError> {
    let request =
        ctx.store.access_request(scope.project_id(), id).await?.ok_or(IamError::NotFound("access request"))?;
    if let Some(role) = role {
        check_assignable(ctx.store, scope.project_id(), role, scope.permissions()).await?;
    }
    let Some(decided_by) = ctx.actor.user_id() else {
        return Err(IamError::Forbidden("access requests are answered by people".into()));
    };
    let event = if role.is_some() { "access_request.approved" } else { "access_request.denied" };
    let audit = ctx
        .audit(scope.org_id(), Some(scope.project_id()), event, "access_request", id)
        .with(None, Some(json!({ "user": request.email, "role": role })));
    ctx.store.decide_access_request(scope.project_id(), id, role, decided_by, &audit).await?;
    Ok(())
}

/// The project a principal can at least see the existence of (an organization member),
/// for access requests; outsiders get `NotFound`.
pub async fn standing(ctx: Ctx<'_>, project_id: ProjectId) -> Result<ProjectScope, IamError> {
    crate::authz::project_standing_without_permission(ctx.store, ctx.clock, ctx.actor.subject(), project_id)
        .await
        .map_err(|error| match error {
            AuthzError::Store(error) => IamError::Store(error),
            other => IamError::Authz(other),
        })
}
