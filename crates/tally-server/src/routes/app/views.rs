//! Wire shapes of domain values. Kept apart from the domain types: what the API shows is
//! a decision made here. Each shape is a Rust type with an OpenAPI schema (`utoipa`), so
//! the published document and the web app's generated types follow it.

use serde::Serialize;
use tally_iam::records::{
    AccessRequest, CustomRole, Grant, Invitation, OrgMember, Project, ProjectMember, ServiceAccount, Team,
};
use tally_types::{IdMerge, OrgRole, Principal};
use utoipa::ToSchema;

/// A project's settings.
#[derive(Serialize, ToSchema)]
pub(crate) struct ProjectView {
    pub id: i64,
    pub organization_id: i64,
    pub name: String,
    /// The data-residency region, fixed at creation.
    pub region: String,
    pub timezone: String,
    pub environment: Option<String>,
    pub id_merge: IdMerge,
    pub created_by: Option<i64>,
    pub created: String,
}

pub(crate) fn project(project: &Project) -> ProjectView {
    ProjectView {
        id: project.id.0,
        organization_id: project.org_id.0,
        name: project.name.clone(),
        region: project.region.clone(),
        timezone: project.timezone.clone(),
        environment: project.environment.clone(),
        id_merge: project.id_merge,
        created_by: project.created_by.map(|id| id.0),
        created: project.created_at.to_string(),
    }
}

/// One source of a project role: `organization_role`, `individual`, `team:<name>` or
/// `all_users`.
#[derive(Serialize, ToSchema)]
pub(crate) struct GrantView {
    pub source: String,
    /// A default role (`owner`, `admin`, `analyst`, `consumer`) or a custom role's id.
    pub role: String,
}

pub(crate) fn grant(grant: &Grant) -> GrantView {
    GrantView { source: grant.source.label(), role: grant.role.clone() }
}

pub(crate) fn grants(grants: &[Grant]) -> Vec<GrantView> {
    grants.iter().map(grant).collect()
}

/// A person or a service account.
#[derive(Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum PrincipalView {
    User { id: i64 },
    ServiceAccount { id: i64 },
}

pub(crate) fn principal(principal: Principal) -> PrincipalView {
    match principal {
        Principal::User(id) => PrincipalView::User { id: id.0 },
        Principal::ServiceAccount(id) => PrincipalView::ServiceAccount { id: id.0 },
    }
}

/// Someone with access to a project, with every grant and its source.
#[derive(Serialize, ToSchema)]
pub(crate) struct ProjectMemberView {
    pub principal: PrincipalView,
    pub label: String,
    pub grants: Vec<GrantView>,
}

pub(crate) fn project_member(member: &ProjectMember) -> ProjectMemberView {
    ProjectMemberView {
        principal: principal(member.principal),
        label: member.label.clone(),
        grants: grants(&member.grants),
    }
}

/// A member of an organization.
#[derive(Serialize, ToSchema)]
pub(crate) struct OrgMemberView {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub role: OrgRole,
    pub joined: String,
}

pub(crate) fn org_member(member: &OrgMember) -> OrgMemberView {
    OrgMemberView {
        user_id: member.user.id.0,
        email: member.user.email.clone(),
        name: member.user.name.clone(),
        role: member.role,
        joined: member.joined_at.to_string(),
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct TeamView {
    pub id: i64,
    pub name: String,
    pub created: String,
}

pub(crate) fn team(team: &Team) -> TeamView {
    TeamView { id: team.id.0, name: team.name.clone(), created: team.created_at.to_string() }
}

/// A project and a role on it (a team's, or an invitation's).
#[derive(Serialize, ToSchema)]
pub(crate) struct ProjectRoleView {
    pub id: i64,
    pub role: String,
}

/// An invitation; `link` only where it was just made (the token is never stored).
#[derive(Serialize, ToSchema)]
pub(crate) struct InvitationView {
    pub id: i64,
    pub email: String,
    pub organization_role: OrgRole,
    pub projects: Vec<ProjectRoleView>,
    pub invited_by: Option<i64>,
    pub created: String,
    pub expires: String,
    pub last_sent: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
}

pub(crate) fn invitation(invitation: &Invitation) -> InvitationView {
    InvitationView {
        id: invitation.id.0,
        email: invitation.email.clone(),
        organization_role: invitation.org_role,
        projects: invitation
            .projects
            .iter()
            .map(|p| ProjectRoleView { id: p.project_id.0, role: p.role.clone() })
            .collect(),
        invited_by: invitation.invited_by.map(|id| id.0),
        created: invitation.created_at.to_string(),
        expires: invitation.expires_at.to_string(),
        last_sent: invitation.last_sent_at.to_string(),
        link: None,
    }
}

/// A request for access to a project.
#[derive(Serialize, ToSchema)]
pub(crate) struct AccessRequestView {
    pub id: i64,
    pub user_id: i64,
    pub email: String,
    pub message: String,
    /// `pending`, `approved` or `denied`.
    pub status: String,
    pub role: Option<String>,
    pub created: String,
}

pub(crate) fn access_request(request: &AccessRequest) -> AccessRequestView {
    AccessRequestView {
        id: request.id.0,
        user_id: request.user_id.0,
        email: request.email.clone(),
        message: request.message.clone(),
        status: request.status.clone(),
        role: request.granted_role.clone(),
        created: request.created_at.to_string(),
    }
}

/// An authenticator app to enroll: scan the QR code or type the secret.
#[derive(Serialize, ToSchema)]
pub(crate) struct ProvisioningView {
    pub otpauth_uri: String,
    pub qr_png_base64: String,
    pub secret: String,
}

pub(crate) fn provisioning(provisioning: &tally_iam::totp::Provisioning) -> ProvisioningView {
    ProvisioningView {
        otpauth_uri: provisioning.uri.clone(),
        qr_png_base64: provisioning.qr_png_base64.clone(),
        secret: provisioning.secret_base32.clone(),
    }
}

/// Fresh recovery codes, shown once.
#[derive(Serialize, ToSchema)]
pub(crate) struct RecoveryCodesView {
    pub recovery_codes: Vec<String>,
}

/// A service account, in Mixpanel's shape (its paths and fields).
#[derive(Serialize, ToSchema)]
pub(crate) struct ServiceAccountView {
    pub id: i64,
    pub username: String,
    pub organization_role: OrgRole,
    /// The project it was made for, if any.
    pub project_id: Option<i64>,
    pub creator: Option<i64>,
    pub created: String,
    pub expires: Option<String>,
    pub last_used: Option<String>,
    /// The secret: only in the answer that made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Its role on the project (in a project's list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_type: Option<&'static str>,
    #[serde(rename = "hasSensitiveAccess", skip_serializing_if = "Option::is_none")]
    pub has_sensitive_access: Option<bool>,
}

pub(crate) fn service_account(account: &ServiceAccount) -> ServiceAccountView {
    ServiceAccountView {
        id: account.id.0,
        username: account.username.clone(),
        organization_role: account.org_role,
        project_id: account.home_project_id.map(|id| id.0),
        creator: account.created_by.map(|id| id.0),
        created: account.created_at.to_string(),
        expires: account.expires_at.map(|at| at.to_string()),
        last_used: account.last_used_at.map(|at| at.to_string()),
        token: None,
        role: None,
        target_type: None,
        has_sensitive_access: None,
    }
}

/// A custom role, in Mixpanel's shape.
#[derive(Serialize, ToSchema)]
pub(crate) struct CustomRoleView {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Project permission names (`GET /api/app/permissions` lists them all).
    pub permissions: Vec<String>,
    pub copied_from_role_id: Option<String>,
    pub is_default: bool,
    pub created_by_user_id: Option<i64>,
    pub created: String,
    pub modified: String,
}

pub(crate) fn custom_role(role: &CustomRole) -> CustomRoleView {
    CustomRoleView {
        id: role.id.clone(),
        name: role.name.clone(),
        description: role.description.clone(),
        permissions: role.permissions.clone(),
        copied_from_role_id: role.copied_from.clone(),
        is_default: false,
        created_by_user_id: role.created_by.map(|id| id.0),
        created: role.created_at.to_string(),
        modified: role.modified_at.to_string(),
    }
}
