//! Organization members, roles, billing and deletion.

use serde_json::json;
use tally_store::{OrgMember, Plan, Usage};
use tally_types::permissions::org;
use tally_types::{OrgPermission, OrgRole, Principal, UserId};

use super::{Ctx, WithChange};
use crate::IamError;
use crate::authz::OrgPermit;
use tally_types::permissions::OrgMarker;

pub async fn members(ctx: Ctx<'_>, permit: &OrgPermit<'_, org::ViewOrganization>) -> Result<Vec<OrgMember>, IamError> {
    Ok(ctx.store.org_members(permit.org_id()).await?)
}

/// Changes a member's organization role. Admins change only members below Admin and give
/// roles up to Admin; only Owners make Owners; the last Owner stays.
pub async fn change_role(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, org::ModifyOrgRoles>,
    user_id: UserId,
    role: OrgRole,
) -> Result<(), IamError> {
    let members = ctx.store.org_members(permit.org_id()).await?;
    let target = members.iter().find(|member| member.user.id == user_id).ok_or(IamError::NotFound("member"))?;
    check_may_manage(permit, target)?;
    if role == OrgRole::Owner && !permit.allows(OrgPermission::GrantOrgOwner) {
        return Err(IamError::Forbidden("only Owners can make someone an Owner".into()));
    }
    if role.rank() > permit.role().rank() {
        return Err(IamError::Forbidden(format!("you cannot give the role {role}, which is above your own")));
    }
    let audit = ctx
        .audit(permit.org_id(), None, "user.role_changed", "user", user_id)
        .with(Some(json!({ "org_role": target.role })), Some(json!({ "org_role": role })));
    ctx.store.set_org_role(permit.org_id(), user_id, role, &audit).await?;
    Ok(())
}

/// Removes a user from the organization: every grant, team membership and session goes
/// with them, in one transaction.
pub async fn remove_member(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, org::ManageMembers>,
    user_id: UserId,
) -> Result<(), IamError> {
    let members = ctx.store.org_members(permit.org_id()).await?;
    let target = members.iter().find(|member| member.user.id == user_id).ok_or(IamError::NotFound("member"))?;
    check_may_manage(permit, target)?;
    let audit = ctx
        .audit(permit.org_id(), None, "organization.user_removed", "user", user_id)
        .with(Some(json!({ "email": target.user.email, "org_role": target.role })), None);
    ctx.store.remove_org_member(permit.org_id(), user_id, &audit).await?;
    Ok(())
}

/// "Only members below you", for both permits that change a member (their role, their
/// membership).
fn check_may_manage<P: OrgMarker>(permit: &OrgPermit<'_, P>, target: &OrgMember) -> Result<(), IamError> {
    super::check_outranks_in_org(permit, Principal::User(target.user.id), &target.user.email, target.role)
}

pub async fn plan(ctx: Ctx<'_>, permit: &OrgPermit<'_, org::ViewBilling>) -> Result<Plan, IamError> {
    Ok(ctx.store.plan(permit.org_id()).await?)
}

pub async fn set_plan(ctx: Ctx<'_>, permit: &OrgPermit<'_, org::ManageBilling>, plan: &Plan) -> Result<(), IamError> {
    let name = crate::validate::name("name", &plan.name)?;
    if plan.monthly_event_quota < 0 {
        return Err(IamError::invalid("monthly_event_quota", "must be zero or more"));
    }
    if plan.seats < 1 {
        return Err(IamError::invalid("seats", "must be at least 1"));
    }
    let before = ctx.store.plan(permit.org_id()).await?;
    let plan = Plan { name: name.to_string(), ..plan.clone() };
    let audit = ctx.audit(permit.org_id(), None, "billing_info.updated", "organization", permit.org_id()).with(
        Some(json!({ "plan": before.name, "monthly_event_quota": before.monthly_event_quota, "seats": before.seats })),
        Some(json!({ "plan": plan.name, "monthly_event_quota": plan.monthly_event_quota, "seats": plan.seats })),
    );
    ctx.store.set_plan(permit.org_id(), &plan, &audit).await?;
    Ok(())
}

pub async fn usage(ctx: Ctx<'_>, permit: &OrgPermit<'_, org::ViewBilling>) -> Result<Vec<Usage>, IamError> {
    Ok(ctx.store.usage(permit.org_id()).await?)
}

/// Soft-deletes the organization: gone at once for everyone, purged after the grace period.
pub async fn delete(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, org::DeleteOrganization>,
) -> Result<jiff::Timestamp, IamError> {
    let purge_after = ctx.now().checked_add(ctx.settings.org_deletion_grace).unwrap_or(ctx.now());
    let audit = ctx.audit(permit.org_id(), None, "organization.deleted", "organization", permit.org_id());
    ctx.store.delete_organization(permit.org_id(), purge_after, &audit).await?;
    Ok(purge_after)
}

/// The organization itself.
pub async fn get(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, org::ViewOrganization>,
) -> Result<tally_store::Organization, IamError> {
    ctx.store.organization(permit.org_id()).await?.ok_or(IamError::NotFound("organization"))
}

/// Every project of the organization (whether the caller may open each is for
/// [`crate::authz::project_standing_without_permission`] to say).
pub async fn projects(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, org::ViewOrganization>,
) -> Result<Vec<tally_store::Project>, IamError> {
    Ok(ctx.store.projects_in_org(permit.org_id()).await?)
}

/// How many seats are taken: the organization's members.
pub async fn seats_taken(ctx: Ctx<'_>, permit: &OrgPermit<'_, org::ViewBilling>) -> Result<usize, IamError> {
    Ok(ctx.store.org_members(permit.org_id()).await?.len())
}
