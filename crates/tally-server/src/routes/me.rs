//! `GET /api/app/me`: who the caller is (a user or a service account) and what it may
//! access, project by project, with the grants behind each permission.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};
use tally_store::{Membership, Organization};
use tally_types::{OrgRole, Principal, ProjectPermission};

use crate::access::Caller;
use crate::routes::app::{ok, views};
use crate::{ApiError, AppState};

/// A user in the setup response.
#[derive(Serialize)]
pub(crate) struct UserView {
    pub id: i64,
    pub email: String,
    pub name: String,
}

/// A project in the setup response (its creator sees the token).
#[derive(Serialize)]
pub(crate) struct ProjectView {
    pub id: i64,
    pub name: String,
    pub region: String,
    pub timezone: String,
    pub environment: Option<String>,
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

pub(crate) async fn me(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let (identity, memberships) = match caller.principal {
        Principal::User(user_id) => {
            let user = state.store().user_by_id(user_id).await?.ok_or_else(ApiError::unauthenticated)?;
            let identity = json!({ "type": "user", "id": user.id, "email": user.email, "name": user.name });
            (identity, state.store().memberships(user_id).await?)
        }
        Principal::ServiceAccount(account_id) => {
            let orgs = state.store().memberships_of_service_account(account_id).await?;
            let identity = json!({ "type": "service_account", "id": account_id, "username": caller.label });
            (identity, orgs)
        }
    };
    let mut organizations = Vec::new();
    for Membership { organization, role } in memberships {
        organizations.push(organization_view(&state, &caller, &organization, role).await?);
    }
    Ok(ok(json!({ "user": identity, "organizations": organizations })))
}

async fn organization_view(
    state: &AppState,
    caller: &Caller,
    org: &Organization,
    role: OrgRole,
) -> Result<Value, ApiError> {
    if !caller.may_open(org.id) {
        // Named, so the person knows to sign in there; nothing of it is shown.
        return Ok(json!({ "id": org.id, "name": org.name, "role": role, "sign_in_required": true, "projects": [] }));
    }
    let mut projects = Vec::new();
    for project in state.store().projects_in_org(org.id).await? {
        let standing = tally_iam::authz::project_standing_without_permission(
            state.store(),
            state.clock(),
            caller.subject(),
            project.id,
        )
        .await?;
        if standing.permissions().is_empty() {
            continue;
        }
        let mut view = views::project(&project);
        if standing.allows(ProjectPermission::ViewAccessKeys) {
            view["token"] = json!(project.token);
        }
        view["permissions"] = json!(standing.permissions().names());
        view["grants"] = json!(standing.grants().iter().map(views::grant).collect::<Vec<_>>());
        projects.push(view);
    }
    Ok(json!({ "id": org.id, "name": org.name, "role": role, "projects": projects }))
}
