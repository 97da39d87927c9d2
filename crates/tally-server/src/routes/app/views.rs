//! Wire shapes of domain values. Kept apart from the domain types: what the API shows is
//! a decision made here.

use serde_json::{Value, json};
use tally_store::{
    AccessRequest, CustomRole, Grant, Invitation, OrgMember, Project, ProjectMember, ServiceAccount, Team,
};
use tally_types::Principal;

pub(crate) fn project(project: &Project) -> Value {
    json!({
        "id": project.id,
        "organization_id": project.org_id,
        "name": project.name,
        "region": project.region,
        "timezone": project.timezone,
        "environment": project.environment,
        "id_merge": project.id_merge,
        "created_by": project.created_by,
        "created": project.created_at.to_string(),
    })
}

pub(crate) fn grant(grant: &Grant) -> Value {
    json!({ "source": grant.source.label(), "role": grant.role })
}

pub(crate) fn principal(principal: Principal) -> Value {
    match principal {
        Principal::User(id) => json!({ "type": "user", "id": id }),
        Principal::ServiceAccount(id) => json!({ "type": "service_account", "id": id }),
    }
}

pub(crate) fn project_member(member: &ProjectMember) -> Value {
    json!({
        "principal": principal(member.principal),
        "label": member.label,
        "grants": member.grants.iter().map(grant).collect::<Vec<_>>(),
    })
}

pub(crate) fn org_member(member: &OrgMember) -> Value {
    json!({
        "user_id": member.user.id,
        "email": member.user.email,
        "name": member.user.name,
        "role": member.role,
        "joined": member.joined_at.to_string(),
    })
}

pub(crate) fn team(team: &Team) -> Value {
    json!({ "id": team.id, "name": team.name, "created": team.created_at.to_string() })
}

pub(crate) fn service_account(account: &ServiceAccount) -> Value {
    json!({
        "id": account.id,
        "username": account.username,
        "organization_role": account.org_role,
        "project_id": account.home_project_id,
        "creator": account.created_by,
        "created": account.created_at.to_string(),
        "expires": account.expires_at.map(|at| at.to_string()),
        "last_used": account.last_used_at.map(|at| at.to_string()),
    })
}

pub(crate) fn custom_role(role: &CustomRole) -> Value {
    json!({
        "id": role.id,
        "name": role.name,
        "description": role.description,
        "permissions": role.permissions,
        "copied_from_role_id": role.copied_from,
        "is_default": false,
        "created_by_user_id": role.created_by,
        "created": role.created_at.to_string(),
        "modified": role.modified_at.to_string(),
    })
}

pub(crate) fn access_request(request: &AccessRequest) -> Value {
    json!({
        "id": request.id,
        "user_id": request.user_id,
        "email": request.email,
        "message": request.message,
        "status": request.status,
        "role": request.granted_role,
        "created": request.created_at.to_string(),
    })
}

pub(crate) fn invitation(invitation: &Invitation) -> Value {
    json!({
        "id": invitation.id,
        "email": invitation.email,
        "organization_role": invitation.org_role,
        "projects": invitation.projects.iter().map(|p| json!({ "id": p.project_id, "role": p.role })).collect::<Vec<_>>(),
        "invited_by": invitation.invited_by,
        "created": invitation.created_at.to_string(),
        "expires": invitation.expires_at.to_string(),
        "last_sent": invitation.last_sent_at.to_string(),
    })
}

pub(crate) fn provisioning(provisioning: &tally_iam::totp::Provisioning) -> Value {
    json!({
        "otpauth_uri": provisioning.uri,
        "qr_png_base64": provisioning.qr_png_base64,
        "secret": provisioning.secret_base32,
    })
}
