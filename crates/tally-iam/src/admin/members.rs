//! Who has access to a project: listing with sources, individual grants, the all-users
//! default role, and access requests.
//!
//! An individual grant is changed by two permissions, one per kind of principal: a user's by
//! `manage_project_members`, a service account's by `manage_project_service_accounts` (as
//! the routes require). Each has its own entry point taking its own permit; they share the
//! private `set_grant` and `remove_grant`.

use serde_json::json;
use tally_store::{AccessRequest, GrantSource, Grantee, ProjectMember};
use tally_types::permissions::org::ManageServiceAccounts;
use tally_types::permissions::project::{ManageProjectMembers, ManageProjectServiceAccounts, ViewProjectSettings};
use tally_types::{AccessRequestId, Principal, ProjectId, ServiceAccountId, UserId};

use super::{Ctx, WithChange, check_assignable, check_outranks_in_project};
use crate::IamError;
use crate::authz::{
    AuthzError, OrgPermit, ProjectPermit, ProjectScope, custom_role_permissions, effective_permissions,
};

pub async fn list(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, ViewProjectSettings>,
) -> Result<Vec<ProjectMember>, IamError> {
    Ok(ctx.store.project_members(permit.project_id()).await?)
}

/// The principal must belong to the project's organization; otherwise it does not exist
/// as far as this caller is concerned.
async fn check_in_org(ctx: Ctx<'_>, actor: &ProjectScope, principal: Principal) -> Result<(), IamError> {
    match ctx.store.org_standing(actor.org_id(), principal).await? {
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

/// Gives (or changes) a user's individual role on the project, within the actor's own
/// level; an existing individual role above the actor's cannot be changed.
pub async fn set_user_role(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, ManageProjectMembers>,
    user_id: UserId,
    role: &str,
) -> Result<(), IamError> {
    set_grant(ctx, permit, Principal::User(user_id), role).await
}

/// Gives (or changes) a service account's individual role on the project, from the
/// project's settings; the same rules as [`set_user_role`].
pub async fn set_service_account_role(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, ManageProjectServiceAccounts>,
    id: ServiceAccountId,
    role: &str,
) -> Result<(), IamError> {
    set_grant(ctx, permit, Principal::ServiceAccount(id), role).await
}

/// The organization-level way to give a service account a role on one of the
/// organization's projects: the caller holds `manage_service_accounts` in the organization
/// (`_permit`), and the roles it may give on the project are those of its own standing
/// there (`actor_in_project`, as `super::actor_in_project` makes it), by the same rules as
/// [`set_user_role`].
pub(super) async fn set_service_account_role_from_org(
    ctx: Ctx<'_>,
    _permit: &OrgPermit<'_, ManageServiceAccounts>,
    actor_in_project: &ProjectScope,
    id: ServiceAccountId,
    role: &str,
) -> Result<(), IamError> {
    set_grant(ctx, actor_in_project, Principal::ServiceAccount(id), role).await
}

/// Sets an individual grant, within the actor's own level (`actor`: its standing in the
/// project, which an entry point above has checked).
async fn set_grant(ctx: Ctx<'_>, actor: &ProjectScope, principal: Principal, role: &str) -> Result<(), IamError> {
    check_in_org(ctx, actor, principal).await?;
    check_assignable(ctx.store, actor.project_id(), role, actor.permissions()).await?;
    let grantee = Grantee::Principal(principal);
    let before = ctx.store.grant(actor.project_id(), grantee).await?;
    if before.is_some() {
        check_outranks_in_project(ctx, actor, principal).await?;
    }
    let event = if before.is_some() {
        if matches!(principal, Principal::User(_)) { "user.role_changed" } else { "service_account.role_changed" }
    } else {
        grant_event(principal, true)
    };
    let audit = ctx
        .audit(actor.org_id(), Some(actor.project_id()), event, principal.kind(), principal.id())
        .with(before.map(|role| json!({ "role": role })), Some(json!({ "role": role })));
    ctx.store.set_grant(actor.project_id(), grantee, role, ctx.actor.user_id(), &audit).await?;
    Ok(())
}

/// Removes a user's individual grant. Access through a team cannot be removed here (only
/// organization Owners and Admins manage teams), nor a grant at or above the actor's level.
pub async fn remove_user(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, ManageProjectMembers>,
    user_id: UserId,
) -> Result<(), IamError> {
    remove_grant(ctx, permit, Principal::User(user_id)).await
}

/// Removes a service account's individual grant (see
/// `super::service_accounts::remove_from_project_settings`, which calls it).
pub(super) async fn remove_service_account(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, ManageProjectServiceAccounts>,
    id: ServiceAccountId,
) -> Result<(), IamError> {
    remove_grant(ctx, permit, Principal::ServiceAccount(id)).await
}

async fn remove_grant(ctx: Ctx<'_>, actor: &ProjectScope, principal: Principal) -> Result<(), IamError> {
    check_in_org(ctx, actor, principal).await?;
    let grantee = Grantee::Principal(principal);
    let Some(current) = ctx.store.grant(actor.project_id(), grantee).await? else {
        let grants = ctx.store.grants_of(actor.project_id(), principal).await?;
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
    check_outranks_in_project(ctx, actor, principal).await?;
    let audit = ctx
        .audit(
            actor.org_id(),
            Some(actor.project_id()),
            grant_event(principal, false),
            principal.kind(),
            principal.id(),
        )
        .with(Some(json!({ "role": current })), None);
    ctx.store.remove_grant(actor.project_id(), grantee, &audit).await?;
    Ok(())
}

/// Sets the role every organization member, present and future, holds in the project.
pub async fn set_default_role(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, ManageProjectMembers>,
    role: &str,
) -> Result<(), IamError> {
    check_assignable(ctx.store, permit.project_id(), role, permit.permissions()).await?;
    let before = ctx.store.grant(permit.project_id(), Grantee::AllUsers).await?;
    let audit = ctx
        .audit(
            permit.org_id(),
            Some(permit.project_id()),
            "project.default_access_granted",
            "project",
            permit.project_id(),
        )
        .with(before.map(|role| json!({ "role": role })), Some(json!({ "role": role })));
    ctx.store.set_grant(permit.project_id(), Grantee::AllUsers, role, ctx.actor.user_id(), &audit).await?;
    Ok(())
}

pub async fn remove_default_role(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, ManageProjectMembers>,
) -> Result<(), IamError> {
    let before =
        ctx.store.grant(permit.project_id(), Grantee::AllUsers).await?.ok_or(IamError::NotFound("default role"))?;
    let audit = ctx
        .audit(
            permit.org_id(),
            Some(permit.project_id()),
            "project.default_access_revoked",
            "project",
            permit.project_id(),
        )
        .with(Some(json!({ "role": before })), None);
    ctx.store.remove_grant(permit.project_id(), Grantee::AllUsers, &audit).await?;
    Ok(())
}

/// A member of the organization asks for a project they cannot use yet. No permission
/// guards this (its route requires membership of the organization only, and asking is
/// for those who hold nothing here): it takes the caller's bare `standing`, as [`standing`]
/// (that is, `authz::project_standing_without_permission`) makes it.
pub async fn request_access(ctx: Ctx<'_>, standing: &ProjectScope, message: &str) -> Result<AccessRequestId, IamError> {
    let Principal::User(user_id) = standing.principal() else {
        return Err(IamError::Forbidden(
            "service accounts are given access by an admin; they do not request it".into(),
        ));
    };
    let custom = custom_role_permissions(ctx.store, standing.project_id(), standing.grants()).await?;
    if !effective_permissions(standing.grants(), &custom).is_empty() {
        return Err(IamError::Conflict("you already have access to this project".into()));
    }
    if message.chars().count() > 1000 {
        return Err(IamError::invalid("message", "must be at most 1000 characters"));
    }
    let audit =
        ctx.audit(standing.org_id(), Some(standing.project_id()), "access_request.created", "access_request", "");
    Ok(ctx.store.create_access_request(standing.project_id(), user_id, message.trim(), &audit).await?)
}

pub async fn access_requests(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, ManageProjectMembers>,
) -> Result<Vec<AccessRequest>, IamError> {
    Ok(ctx.store.access_requests(permit.project_id()).await?)
}

/// Approves with a role (within the actor's level) or denies (`role` = `None`).
pub async fn decide_access_request(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, ManageProjectMembers>,
    id: AccessRequestId,
    role: Option<&str>,
) -> Result<(), IamError> {
    let request =
        ctx.store.access_request(permit.project_id(), id).await?.ok_or(IamError::NotFound("access request"))?;
    if let Some(role) = role {
        check_assignable(ctx.store, permit.project_id(), role, permit.permissions()).await?;
    }
    let Some(decided_by) = ctx.actor.user_id() else {
        return Err(IamError::Forbidden("access requests are answered by people".into()));
    };
    let event = if role.is_some() { "access_request.approved" } else { "access_request.denied" };
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), event, "access_request", id)
        .with(None, Some(json!({ "user": request.email, "role": role })));
    ctx.store.decide_access_request(permit.project_id(), id, role, decided_by, &audit).await?;
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
