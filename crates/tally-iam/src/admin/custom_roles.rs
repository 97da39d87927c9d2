//! Custom project roles: up to five named permission sets per project.

use serde_json::json;
use tally_store::CustomRole;
use tally_types::{ProjectPermission, ProjectPermissionSet};

use super::{Ctx, WithChange, checked_name};
use crate::IamError;
use crate::authz::{ProjectPermit, custom_set};
use tally_types::permissions::project;

#[derive(Debug, Clone, Default)]
pub struct CustomRoleInput {
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
}

/// Parses permission names; a custom role may carry only permissions its author holds
/// (and, for the project's Owner, the classified-data ones).
fn checked_permissions(
    permit: &ProjectPermit<'_, project::ManageCustomRoles>,
    names: &[String],
) -> Result<Vec<String>, IamError> {
    let mut set = ProjectPermissionSet::EMPTY;
    for name in names {
        let permission: ProjectPermission =
            name.parse().map_err(|_| IamError::invalid("permissions", format!("{name:?} is not a permission name")))?;
        set = set.union(ProjectPermissionSet::of(&[permission]));
    }
    let grantable = super::grantable_by(permit.permissions());
    if !set.is_subset_of(grantable) {
        let missing: Vec<&str> =
            set.iter().filter(|p| !grantable.contains(*p)).map(ProjectPermission::as_str).collect();
        return Err(IamError::Forbidden(format!(
            "you cannot grant permissions you do not hold: {}",
            missing.join(", ")
        )));
    }
    Ok(set.names().into_iter().map(str::to_string).collect())
}

fn checked_description(text: &str) -> Result<String, IamError> {
    if text.chars().count() > 1000 {
        return Err(IamError::invalid("description", "must be at most 1000 characters"));
    }
    Ok(text.trim().to_string())
}

pub async fn list(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewProjectSettings>,
) -> Result<Vec<CustomRole>, IamError> {
    Ok(ctx.store.custom_roles(permit.project_id()).await?)
}

pub async fn create(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ManageCustomRoles>,
    input: &CustomRoleInput,
    copied_from: Option<String>,
) -> Result<CustomRole, IamError> {
    let name = checked_name("name", &input.name)?;
    if name.parse::<tally_types::ProjectRole>().is_ok() {
        return Err(IamError::invalid("name", "the four default role names are taken"));
    }
    let now = ctx.now();
    let role = CustomRole {
        id: new_role_id(),
        project_id: permit.project_id(),
        name: name.to_string(),
        description: checked_description(&input.description)?,
        permissions: checked_permissions(permit, &input.permissions)?,
        copied_from,
        created_by: ctx.actor.user_id(),
        created_at: now,
        modified_at: now,
    };
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "custom_role.created", "custom_role", &role.id)
        .with(None, Some(json!({ "name": role.name, "permissions": role.permissions })));
    ctx.store.create_custom_role(&role, &audit).await.map_err(|error| match error {
        tally_store::StoreError::Conflict(what) => IamError::Conflict(format!("there is already {what}")),
        other => other.into(),
    })?;
    Ok(role)
}

pub async fn update(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ManageCustomRoles>,
    role_id: &str,
    input: &CustomRoleInput,
) -> Result<CustomRole, IamError> {
    let before = ctx.store.custom_role(permit.project_id(), role_id).await?.ok_or(IamError::NotFound("custom role"))?;
    let name = checked_name("name", &input.name)?;
    let role = CustomRole {
        name: name.to_string(),
        description: checked_description(&input.description)?,
        permissions: checked_permissions(permit, &input.permissions)?,
        modified_at: ctx.now(),
        ..before.clone()
    };
    let audit =
        ctx.audit(permit.org_id(), Some(permit.project_id()), "custom_role.updated", "custom_role", role_id).with(
            Some(json!({ "name": before.name, "permissions": before.permissions })),
            Some(json!({ "name": role.name, "permissions": role.permissions })),
        );
    ctx.store.update_custom_role(&role, &audit).await?;
    Ok(role)
}

/// Deletes the role; its holders fall back to Consumer.
pub async fn delete(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ManageCustomRoles>,
    role_id: &str,
) -> Result<(), IamError> {
    let role = ctx.store.custom_role(permit.project_id(), role_id).await?.ok_or(IamError::NotFound("custom role"))?;
    let audit = ctx
        .audit(permit.org_id(), Some(permit.project_id()), "custom_role.deleted", "custom_role", role_id)
        .with(Some(json!({ "name": role.name })), None);
    ctx.store.delete_custom_role(permit.project_id(), role_id, &audit).await?;
    Ok(())
}

/// Copies a role of `from` into `to` (the actor needs to manage custom roles in both).
pub async fn copy(
    ctx: Ctx<'_>,
    from: &ProjectPermit<'_, project::ManageCustomRoles>,
    role_id: &str,
    to: &ProjectPermit<'_, project::ManageCustomRoles>,
) -> Result<CustomRole, IamError> {
    let role = ctx.store.custom_role(from.project_id(), role_id).await?.ok_or(IamError::NotFound("custom role"))?;
    if from.org_id() != to.org_id() {
        return Err(IamError::NotFound("project"));
    }
    let input = CustomRoleInput {
        name: role.name.clone(),
        description: role.description.clone(),
        permissions: role.permissions.clone(),
    };
    create(ctx, to, &input, Some(role.id)).await
}

/// The effective permissions of a stored custom role.
pub fn permissions_of(role: &CustomRole) -> ProjectPermissionSet {
    custom_set(&role.permissions)
}

fn new_role_id() -> String {
    let hex = tally_types::token::random_hex(16);
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

/// One custom role of the project.
pub async fn get(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewProjectSettings>,
    role_id: &str,
) -> Result<CustomRole, IamError> {
    ctx.store.custom_role(permit.project_id(), role_id).await?.ok_or(IamError::NotFound("custom role"))
}
