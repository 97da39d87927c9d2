//! Service accounts: created at organization level (with an org role and projects) or in a
//! project's settings (org Member, that project only). The secret is shown once.

use jiff::Timestamp;
use serde_json::json;
use subtle::ConstantTimeEq;
use tally_store::{Grantee, NewServiceAccount, ServiceAccount};
use tally_types::{OrgPermission, OrgRole, Principal, ProjectId, Secret, ServiceAccountId};

use super::{Ctx, WithChange, check_assignable, check_outranks_in_project};
use crate::authz::{OrgPermit, ProjectPermit};
use crate::{IamError, token_hash};
use tally_types::permissions::org::ManageServiceAccounts;
use tally_types::permissions::project::ManageProjectServiceAccounts;

/// Characters in a service-account secret (about 190 bits).
const SECRET_LEN: usize = 32;

#[derive(Debug, Clone)]
pub struct ServiceAccountInput {
    pub username: String,
    pub org_role: Option<OrgRole>,
    pub expires_at: Option<Timestamp>,
    pub projects: Vec<(ProjectId, String)>,
}

fn checked_username(username: &str) -> Result<&str, IamError> {
    let ok = (1..=100).contains(&username.len())
        && username.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !ok {
        return Err(IamError::invalid("username", "use 1 to 100 letters, digits, '.', '-' or '_'"));
    }
    Ok(username)
}

/// Creates an account in the organization with projects; returns it with its secret.
pub async fn create_in_org(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, ManageServiceAccounts>,
    input: &ServiceAccountInput,
) -> Result<(ServiceAccount, Secret<String>), IamError> {
    let role = input.org_role.unwrap_or(OrgRole::Member);
    if role == OrgRole::Owner && !permit.allows(OrgPermission::GrantOrgOwner) {
        return Err(IamError::Forbidden("only Owners can create Owner service accounts".into()));
    }
    if role.rank() > permit.role().rank() {
        return Err(IamError::Forbidden(format!("you cannot give the role {role}, which is above your own")));
    }
    for (project_id, project_role) in &input.projects {
        let project = ctx.store.project(*project_id).await?.filter(|project| project.org_id == permit.org_id());
        let project = project.ok_or(IamError::NotFound("project"))?;
        let actor = super::actor_in_project(ctx, project.id).await?;
        check_assignable(ctx.store, project.id, project_role, actor.permissions()).await?;
    }
    create(ctx, permit.org_id(), input, role, None).await
}

/// Creates an account from a project's settings: an org Member with this project only.
pub async fn create_in_project(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, ManageProjectServiceAccounts>,
    username: &str,
    role: &str,
    expires_at: Option<Timestamp>,
) -> Result<(ServiceAccount, Secret<String>), IamError> {
    check_assignable(ctx.store, permit.project_id(), role, permit.permissions()).await?;
    let input = ServiceAccountInput {
        username: username.to_string(),
        org_role: Some(OrgRole::Member),
        expires_at,
        projects: vec![(permit.project_id(), role.to_string())],
    };
    create(ctx, permit.org_id(), &input, OrgRole::Member, Some(permit.project_id())).await
}

async fn create(
    ctx: Ctx<'_>,
    org_id: tally_types::OrgId,
    input: &ServiceAccountInput,
    role: OrgRole,
    home_project_id: Option<ProjectId>,
) -> Result<(ServiceAccount, Secret<String>), IamError> {
    let username = checked_username(&input.username)?;
    if input.expires_at.is_some_and(|at| at <= ctx.now()) {
        return Err(IamError::invalid("expires", "must be in the future"));
    }
    let secret = Secret::new(tally_types::token::random_alphanumeric(SECRET_LEN));
    let secret_hash = token_hash(secret.expose());
    let new = NewServiceAccount {
        org_id,
        username,
        secret_hash: &secret_hash,
        org_role: role,
        home_project_id,
        created_by: ctx.actor.user_id(),
        expires_at: input.expires_at,
        projects: &input.projects,
    };
    let audit = ctx.audit(org_id, home_project_id, "service_account.created", "service_account", "").with(
        None,
        Some(json!({ "username": username, "org_role": role, "projects": input.projects.iter().map(|(p, r)| json!({"id": p, "role": r})).collect::<Vec<_>>() })),
    );
    let account = ctx.store.create_service_account(&new, &audit).await.map_err(|error| match error {
        tally_store::StoreError::Conflict(_) => IamError::Conflict(format!("the username {username:?} is taken")),
        other => other.into(),
    })?;
    Ok((account, secret))
}

pub async fn list(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, ManageServiceAccounts>,
) -> Result<Vec<ServiceAccount>, IamError> {
    Ok(ctx.store.service_accounts(permit.org_id()).await?)
}

pub async fn get(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, ManageServiceAccounts>,
    id: ServiceAccountId,
) -> Result<ServiceAccount, IamError> {
    ctx.store.service_account(permit.org_id(), id).await?.ok_or(IamError::NotFound("service account"))
}

pub async fn delete(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, ManageServiceAccounts>,
    id: ServiceAccountId,
) -> Result<(), IamError> {
    let account = get(ctx, permit, id).await?;
    super::check_outranks_in_org(permit, Principal::ServiceAccount(id), &account.username, account.org_role)?;
    let audit = ctx
        .audit(permit.org_id(), None, "service_account.deleted", "service_account", id)
        .with(Some(json!({ "username": account.username })), None);
    ctx.store.delete_service_account(id, &audit).await?;
    Ok(())
}

pub async fn project_accounts(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, ManageProjectServiceAccounts>,
) -> Result<Vec<(ServiceAccount, String)>, IamError> {
    Ok(ctx.store.project_service_accounts(permit.project_id()).await?)
}

/// From a project's settings, as at Mixpanel, the account loses this project only. An
/// account made in this project's settings that has access nowhere else is deleted with
/// it (nothing would remain to use it for); grants someone else gave it elsewhere keep it.
pub async fn remove_from_project_settings(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, ManageProjectServiceAccounts>,
    id: ServiceAccountId,
) -> Result<(), IamError> {
    let account = ctx.store.service_account(permit.org_id(), id).await?.ok_or(IamError::NotFound("service account"))?;
    check_outranks_in_project(ctx, permit, Principal::ServiceAccount(id)).await?;
    if account.home_project_id == Some(permit.project_id())
        && !ctx.store.service_account_reaches_beyond(id, permit.project_id()).await?
    {
        let audit = ctx
            .audit(permit.org_id(), Some(permit.project_id()), "service_account.deleted", "service_account", id)
            .with(Some(json!({ "username": account.username })), None);
        ctx.store.delete_service_account(id, &audit).await?;
        return Ok(());
    }
    super::members::remove_service_account(ctx, permit, id).await
}

/// Adds accounts of the organization to projects with roles (organization-level API).
pub async fn add_to_projects(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, ManageServiceAccounts>,
    ids: &[ServiceAccountId],
    projects: &[(ProjectId, String)],
) -> Result<(), IamError> {
    for id in ids {
        get(ctx, permit, *id).await?;
    }
    for (project_id, role) in projects {
        let project = ctx.store.project(*project_id).await?.filter(|project| project.org_id == permit.org_id());
        let project = project.ok_or(IamError::NotFound("project"))?;
        let actor = super::actor_in_project(ctx, project.id).await?;
        for id in ids {
            super::members::set_service_account_role_from_org(ctx, permit, &actor, *id, role).await?;
        }
    }
    Ok(())
}

pub async fn remove_from_projects(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, ManageServiceAccounts>,
    projects: &[(ProjectId, Vec<ServiceAccountId>)],
) -> Result<(), IamError> {
    for (project_id, ids) in projects {
        let project = ctx.store.project(*project_id).await?.filter(|project| project.org_id == permit.org_id());
        let project = project.ok_or(IamError::NotFound("project"))?;
        let actor = super::actor_in_project(ctx, project.id).await?;
        for id in ids {
            get(ctx, permit, *id).await?;
            check_outranks_in_project(ctx, &actor, Principal::ServiceAccount(*id)).await?;
            let audit = ctx.audit(
                permit.org_id(),
                Some(project.id),
                "service_account.removed_from_project",
                "service_account",
                id,
            );
            ctx.store
                .remove_grant(project.id, Grantee::Principal(Principal::ServiceAccount(*id)), &audit)
                .await
                .map_err(|error| match error {
                    tally_store::StoreError::NotFound => IamError::NotFound("service account grant on this project"),
                    other => other.into(),
                })?;
        }
    }
    Ok(())
}

/// Checks a username and secret (HTTP Basic). Unknown names, wrong secrets and expired
/// accounts all answer `None`.
pub async fn authenticate(
    store: &impl crate::Metadata,
    clock: &dyn tally_types::Clock,
    username: &str,
    secret: &str,
) -> Result<Option<ServiceAccount>, IamError> {
    let store = crate::directory::raw(store);
    let Some((account, stored_hash)) = store.service_account_credentials(username).await? else {
        return Ok(None);
    };
    let given = token_hash(secret);
    if !bool::from(given.as_bytes().ct_eq(stored_hash.as_bytes())) {
        return Ok(None);
    }
    let now = clock.now();
    if account.expires_at.is_some_and(|at| at <= now) {
        return Ok(None);
    }
    store.touch_service_account(account.id, now).await?;
    Ok(Some(account))
}
