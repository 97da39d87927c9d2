//! `GET /api/app/me`: who the caller is and what they belong to.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use tally_types::OrgRole;

use crate::auth::CurrentUser;
use crate::{ApiError, AppState};

#[derive(Serialize)]
pub(crate) struct MeResponse {
    user: UserView,
    organizations: Vec<OrganizationView>,
}

#[derive(Serialize)]
pub(crate) struct UserView {
    pub id: i64,
    pub email: String,
    pub name: String,
}

#[derive(Serialize)]
pub(crate) struct OrganizationView {
    id: i64,
    name: String,
    role: OrgRole,
    projects: Vec<ProjectView>,
}

#[derive(Serialize)]
pub(crate) struct ProjectView {
    pub id: i64,
    pub name: String,
    pub region: String,
    pub timezone: String,
    pub environment: Option<String>,
    /// Access keys are shown to organization Owners and Admins only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl ProjectView {
    pub(crate) fn new(project: tally_store::Project, show_keys: bool) -> ProjectView {
        ProjectView {
            id: project.id.0,
            name: project.name,
            region: project.region,
            timezone: project.timezone,
            environment: project.environment,
            token: show_keys.then_some(project.token),
        }
    }
}

pub(crate) async fn me(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> Result<Json<MeResponse>, ApiError> {
    let mut organizations = Vec::new();
    for membership in state.store().memberships(user.id).await? {
        let show_keys = matches!(membership.role, OrgRole::Owner | OrgRole::Admin);
        let projects = state.store().projects_in_org(membership.organization.id).await?;
        organizations.push(OrganizationView {
            id: membership.organization.id.0,
            name: membership.organization.name,
            role: membership.role,
            projects: projects.into_iter().map(|project| ProjectView::new(project, show_keys)).collect(),
        });
    }
    Ok(Json(MeResponse { user: UserView { id: user.id.0, email: user.email, name: user.name }, organizations }))
}
