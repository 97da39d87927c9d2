//! `GET /api/app/me`: who the caller is (a user or a service account) and what it may
//! access, project by project, with the grants behind each permission.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use tally_iam::account::Account;
use tally_iam::records::{Membership, Organization};
use tally_types::{OrgRole, ProjectPermission};

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
    pub(crate) fn new(project: tally_iam::records::Project, show_keys: bool) -> ProjectView {
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

/// Who is calling.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum IdentityView {
    User { id: i64, email: String, name: String },
    ServiceAccount { id: i64, username: String },
}

/// `GET /api/app/me`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MeView {
    user: IdentityView,
    organizations: Vec<OrgSummaryView>,
}

/// An organization of the caller's, with the projects it may open there.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct OrgSummaryView {
    id: i64,
    name: String,
    role: OrgRole,
    /// Set when this session (made by another organization's single sign-on) may not open
    /// this organization: sign in again to open it.
    #[serde(skip_serializing_if = "Option::is_none")]
    sign_in_required: Option<bool>,
    projects: Vec<ProjectSummaryView>,
}

/// A project the caller may open, with its permissions there and the grants behind them.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ProjectSummaryView {
    #[serde(flatten)]
    project: views::ProjectView,
    /// The ingestion token, for those who may view the project's access keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    permissions: Vec<&'static str>,
    grants: Vec<views::GrantView>,
}

pub(crate) async fn me(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let memberships = tally_iam::account::memberships(state.directory(), &caller.account).await?;
    let identity = match &caller.account {
        Account::User(user) => IdentityView::User { id: user.id.0, email: user.email.clone(), name: user.name.clone() },
        Account::ServiceAccount(account) => {
            IdentityView::ServiceAccount { id: account.id.0, username: account.username.clone() }
        }
    };
    let mut organizations = Vec::new();
    for Membership { organization, role } in memberships {
        organizations.push(organization_view(&state, &caller, &organization, role).await?);
    }
    Ok(ok(MeView { user: identity, organizations }))
}

async fn organization_view(
    state: &AppState,
    caller: &Caller,
    org: &Organization,
    role: OrgRole,
) -> Result<OrgSummaryView, ApiError> {
    let mut view =
        OrgSummaryView { id: org.id.0, name: org.name.clone(), role, sign_in_required: None, projects: Vec::new() };
    if !caller.may_open(org.id) {
        // Named, so the person knows to sign in there; nothing of it is shown.
        view.sign_in_required = Some(true);
        return Ok(view);
    }
    // Every member may view its organization; the authorization function says so here too.
    let scope = match tally_iam::authz::authorize_org(
        state.directory(),
        state.clock(),
        caller.subject(),
        org.id,
        tally_types::OrgPermission::ViewOrganization,
    )
    .await
    {
        Ok(scope) => scope,
        Err(tally_iam::authz::AuthzError::Store(error)) => return Err(error.into()),
        // Listed (it is theirs), with nothing the caller may open in it now.
        Err(_) => return Ok(view),
    };
    let actor = caller.actor();
    let permit = scope.require::<tally_types::permissions::org::ViewOrganization>()?;
    for project in tally_iam::admin::orgs::projects(state.ctx(&actor), &permit).await? {
        let standing = tally_iam::authz::project_standing_without_permission(
            state.directory(),
            state.clock(),
            caller.subject(),
            project.id,
        )
        .await?;
        if standing.permissions().is_empty() {
            continue;
        }
        view.projects.push(ProjectSummaryView {
            project: views::project(&project),
            token: standing.allows(ProjectPermission::ViewAccessKeys).then(|| project.token.clone()),
            permissions: standing.permissions().names(),
            grants: views::grants(standing.grants()),
        });
    }
    Ok(view)
}

/// Every permission there is, by name: what a custom role may hold.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PermissionCatalogView {
    project: Vec<&'static str>,
    organization: Vec<&'static str>,
    /// What each project permission lets its holder do.
    descriptions: std::collections::BTreeMap<&'static str, &'static str>,
}

/// `GET /api/app/permissions`.
pub(crate) async fn permissions(_caller: Caller) -> Response {
    ok(PermissionCatalogView {
        project: ProjectPermission::ALL.iter().map(|p| p.as_str()).collect(),
        organization: tally_types::OrgPermission::ALL.iter().map(|p| p.as_str()).collect(),
        descriptions: ProjectPermission::ALL.iter().map(|p| (p.as_str(), p.description())).collect(),
    })
}
