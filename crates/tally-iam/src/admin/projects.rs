//! Projects: creation with a fixed region, settings, access keys, reset, deletion, transfer.

use serde_json::json;
use tally_store::{NewProject, Project, ProjectChanges};
use tally_types::{IdMerge, OrgPermission, Secret};

use super::{Ctx, WithChange, checked_name};
use tally_types::permissions::{org, project};

use crate::authz::{OrgPermit, ProjectPermit, authorize_org};
use crate::{IamError, token_hash};

/// What creating a project takes.
#[derive(Debug, Clone, Default)]
pub struct ProjectInput {
    pub name: String,
    /// One of the configured regions; the default region when absent.
    pub region: Option<String>,
    /// IANA name; `UTC` when absent.
    pub timezone: Option<String>,
    /// `production` or `development`.
    pub environment: Option<String>,
}

/// A project with its API secret opened, for those who may see keys.
#[derive(Debug)]
pub struct ProjectKeys {
    pub token: String,
    pub api_secret: Secret<String>,
}

pub fn check_timezone(name: &str) -> Result<(), IamError> {
    jiff::tz::TimeZone::get(name).map(|_| ()).map_err(|_| {
        IamError::invalid("timezone", format!("{name:?} is not an IANA time zone such as Europe/Paris or UTC"))
    })
}

/// Creates a project in the organization; only a holder of `create_projects` gets here.
pub async fn create(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, org::CreateProjects>,
    input: &ProjectInput,
) -> Result<Project, IamError> {
    let name = checked_name("name", &input.name)?;
    let regions = &ctx.settings.regions;
    let region = match &input.region {
        Some(region) if regions.iter().any(|known| known == region) => region.clone(),
        Some(region) => {
            return Err(IamError::invalid(
                "region",
                format!("{region:?} is not a configured region; choose one of {}", regions.join(", ")),
            ));
        }
        None => regions.first().cloned().unwrap_or_else(|| "us".into()),
    };
    let timezone = input.timezone.clone().unwrap_or_else(|| "UTC".into());
    check_timezone(&timezone)?;
    if let Some(environment) = &input.environment
        && !matches!(environment.as_str(), "production" | "development")
    {
        return Err(IamError::invalid("environment", "must be \"production\" or \"development\""));
    }
    let secret = Secret::new(tally_types::token::random_hex(16));
    let token = tally_types::token::random_hex(16);
    let secret_hash = token_hash(secret.expose());
    let sealed = ctx.sealer.seal(&secret)?;
    let new = NewProject {
        name,
        region: &region,
        timezone: &timezone,
        environment: input.environment.as_deref(),
        token: &token,
        api_secret_hash: &secret_hash,
        api_secret_sealed: &sealed,
    };
    let audit = ctx
        .audit(permit.org_id(), None, "project.created", "project", "")
        .with(None, Some(json!({ "name": name, "region": region, "timezone": timezone })));
    Ok(ctx.store.create_project(permit.org_id(), &new, ctx.actor.user_id(), &audit).await?)
}

/// Name and timezone. The region is fixed at creation and cannot be part of a change.
#[derive(Debug, Clone, Default)]
pub struct ProjectUpdate {
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub region: Option<String>,
    /// Simplified or Original ID Merge: only while the project has no data.
    pub id_merge: Option<IdMerge>,
    /// Whether the project has events, profiles or identities (the caller asks the event
    /// store, which this crate does not reach).
    pub project_has_data: bool,
}

pub async fn update(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::EditProjectSettings>,
    update: &ProjectUpdate,
) -> Result<Project, IamError> {
    let project = permit.project();
    if let Some(region) = &update.region
        && region != &project.region
    {
        {
            return Err(IamError::invalid(
                "region",
                format!(
                    "a project's data residency is fixed at creation (this one is {:?}); create a new project in {region:?} and move the data instead",
                    project.region
                ),
            ));
        }
    }
    let name = update.name.as_deref().map(|name| checked_name("name", name)).transpose()?;
    if let Some(timezone) = &update.timezone {
        check_timezone(timezone)?;
    }
    if let Some(id_merge) = update.id_merge
        && id_merge != project.id_merge
        && update.project_has_data
    {
        return Err(IamError::Conflict(format!(
            "this project already has data, so its identity merge stays {}: a project switches only while it has no \
             data (create a new project to use {id_merge})",
            project.id_merge
        )));
    }
    let audit = ctx.audit(project.org_id, Some(project.id), "project.updated", "project", project.id).with(
        Some(json!({ "name": project.name, "timezone": project.timezone, "id_merge": project.id_merge })),
        Some(json!({
            "name": name.unwrap_or(&project.name),
            "timezone": update.timezone.as_deref().unwrap_or(&project.timezone),
            "id_merge": update.id_merge.unwrap_or(project.id_merge),
        })),
    );
    let changes = ProjectChanges { name, timezone: update.timezone.as_deref(), id_merge: update.id_merge };
    Ok(ctx.store.update_project(project.id, &changes, &audit).await?)
}

pub fn keys(ctx: Ctx<'_>, permit: &ProjectPermit<'_, project::ViewAccessKeys>) -> Result<ProjectKeys, IamError> {
    let project = permit.project();
    Ok(ProjectKeys { token: project.token.clone(), api_secret: ctx.sealer.open(&project.api_secret_sealed)? })
}

/// A new API secret; the old one stops working at once.
pub async fn rotate_secret(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ManageProjectSecurity>,
) -> Result<Secret<String>, IamError> {
    let project = permit.project();
    let secret = Secret::new(tally_types::token::random_hex(16));
    let audit = ctx.audit(project.org_id, Some(project.id), "project.api_secret_rotated", "project", project.id);
    ctx.store.rotate_api_secret(project.id, &token_hash(secret.expose()), &ctx.sealer.seal(&secret)?, &audit).await?;
    Ok(secret)
}

pub async fn reset(ctx: Ctx<'_>, permit: &ProjectPermit<'_, project::ResetProject>) -> Result<i64, IamError> {
    let project = permit.project();
    let audit = ctx.audit(project.org_id, Some(project.id), "project.reset", "project", project.id);
    Ok(ctx.store.reset_project(project.id, &audit).await?)
}

pub async fn delete(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::DeleteProject>,
) -> Result<jiff::Timestamp, IamError> {
    let project = permit.project();
    let purge_after = ctx.now().checked_add(ctx.settings.project_deletion_grace).unwrap_or(ctx.now());
    let audit = ctx
        .audit(project.org_id, Some(project.id), "project.deleted", "project", project.id)
        .with(Some(json!({ "name": project.name })), None);
    ctx.store.delete_project(project.id, purge_after, &audit).await?;
    Ok(purge_after)
}

/// Moves the project to another organization where the actor is an Owner. Members and
/// service accounts stay behind.
pub async fn transfer(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::TransferProject>,
    to: tally_types::OrgId,
) -> Result<(), IamError> {
    let project = permit.project();
    if to == project.org_id {
        return Err(IamError::invalid("organization_id", "the project is already in that organization"));
    }
    // The actor must be an Owner of the target too; an outsider learns nothing about it.
    authorize_org(ctx.store, ctx.clock, ctx.actor.subject(), to, OrgPermission::TransferProjects).await?;
    let details = json!({ "project": project.name, "from_org": project.org_id, "to_org": to });
    let audits = [
        ctx.audit(project.org_id, Some(project.id), "project.transferred", "project", project.id)
            .with(None, Some(details.clone())),
        ctx.audit(to, Some(project.id), "project.transferred", "project", project.id).with(None, Some(details)),
    ];
    ctx.store.transfer_project(project.id, to, &audits).await?;
    Ok(())
}

/// The project's events per month.
pub async fn usage(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewUsage>,
) -> Result<Vec<tally_store::Usage>, IamError> {
    let mut rows = ctx.store.usage(permit.org_id()).await?;
    rows.retain(|row| row.project_id == permit.project_id().0);
    Ok(rows)
}
