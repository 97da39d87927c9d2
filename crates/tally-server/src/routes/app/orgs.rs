//! Organization settings: members and roles, projects, billing, deletion.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tally_iam::admin::projects::ProjectInput;
use tally_iam::records::Plan;
use tally_types::permissions::org;
use tally_types::{OrgRole, UserId};

use super::{created, done, ok, views};
use crate::access::OrgAccess;
use crate::extract::{Ids, JsonBody};
use crate::{ApiError, AppState};

/// An organization, with the caller's role and permissions in it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct OrganizationView {
    id: i64,
    name: String,
    created: String,
    your_role: OrgRole,
    your_permissions: Vec<&'static str>,
}

pub(crate) async fn get(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let org = tally_iam::admin::orgs::get(state.ctx(&actor), &scope.require::<org::ViewOrganization>()?).await?;
    Ok(ok(OrganizationView {
        id: org.id.0,
        name: org.name,
        created: org.created_at.to_string(),
        your_role: scope.role(),
        your_permissions: scope.permissions().names(),
    }))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::DeleteOrganization>()?;
    let purge_after = tally_iam::admin::orgs::delete(state.ctx(&actor), &permit).await?;
    Ok(ok(json!({ "purge_after": purge_after.to_string() })))
}

pub(crate) async fn members(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ViewOrganization>()?;
    let members = tally_iam::admin::orgs::members(state.ctx(&actor), &permit).await?;
    Ok(ok(members.iter().map(views::org_member).collect::<Vec<_>>()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = OrgRoleBody)]
pub(crate) struct RoleBody {
    role: String,
}

pub(crate) async fn set_member_role(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, user_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<RoleBody>,
) -> Result<Response, ApiError> {
    let role: OrgRole = body
        .role
        .parse()
        .map_err(|error: tally_types::roles::UnknownRole| ApiError::invalid("invalid_role", error.to_string()))?;
    let actor = caller.actor();
    let permit = scope.require::<org::ModifyOrgRoles>()?;
    tally_iam::admin::orgs::change_role(state.ctx(&actor), &permit, UserId(user_id), role).await?;
    Ok(done())
}

pub(crate) async fn remove_member(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, user_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ManageMembers>()?;
    tally_iam::admin::orgs::remove_member(state.ctx(&actor), &permit, UserId(user_id)).await?;
    Ok(done())
}

/// A project of the organization, with the caller's permissions there (none when no
/// role opens it) and the grants behind them.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct OrgProjectView {
    #[serde(flatten)]
    project: views::ProjectView,
    your_permissions: Vec<&'static str>,
    your_grants: Vec<views::GrantView>,
}

/// Every project of the organization, each with whether (and how) the caller can use it.
pub(crate) async fn projects(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ViewOrganization>()?;
    let mut listed = Vec::new();
    for project in tally_iam::admin::orgs::projects(state.ctx(&actor), &permit).await? {
        let standing = tally_iam::authz::project_standing_without_permission(
            state.directory(),
            state.clock(),
            caller.subject(),
            project.id,
        )
        .await?;
        listed.push(OrgProjectView {
            project: views::project(&project),
            your_permissions: standing.permissions().names(),
            your_grants: views::grants(standing.grants()),
        });
    }
    Ok(ok(listed))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = NewProjectBody)]
pub(crate) struct NewProjectBody {
    name: String,
    region: Option<String>,
    timezone: Option<String>,
    environment: Option<String>,
}

pub(crate) async fn create_project(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    JsonBody(body): JsonBody<NewProjectBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let input =
        ProjectInput { name: body.name, region: body.region, timezone: body.timezone, environment: body.environment };
    let permit = scope.require::<org::CreateProjects>()?;
    let project = tally_iam::admin::projects::create(state.ctx(&actor), &permit, &input).await?;
    Ok(created(views::project(&project)))
}

pub(crate) async fn billing(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let ctx = state.ctx(&actor);
    let permit = scope.require::<org::ViewBilling>()?;
    let plan = tally_iam::admin::orgs::plan(ctx, &permit).await?;
    crate::usage::write_pending(&state).await;
    let usage = tally_iam::admin::orgs::usage(ctx, &permit).await?;
    let n_members = tally_iam::admin::orgs::seats_taken(ctx, &permit).await?;
    Ok(ok(BillingView {
        plan: plan.name,
        monthly_event_quota: plan.monthly_event_quota,
        seats: plan.seats,
        seats_used: n_members,
        usage: usage
            .iter()
            .map(|u| UsageView { project_id: u.project_id, month: u.month.clone(), events: u.n_events })
            .collect(),
    }))
}

/// The plan, seats and events per project and month.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BillingView {
    plan: String,
    monthly_event_quota: i64,
    seats: i64,
    seats_used: usize,
    usage: Vec<UsageView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UsageView {
    project_id: i64,
    /// `YYYY-MM`.
    month: String,
    events: i64,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = PlanBody)]
pub(crate) struct PlanBody {
    plan: String,
    monthly_event_quota: i64,
    seats: i64,
}

pub(crate) async fn set_billing(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    JsonBody(body): JsonBody<PlanBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let plan = Plan { name: body.plan, monthly_event_quota: body.monthly_event_quota, seats: body.seats };
    let permit = scope.require::<org::ManageBilling>()?;
    tally_iam::admin::orgs::set_plan(state.ctx(&actor), &permit, &plan).await?;
    Ok(done())
}
