//! `GET /api/openapi.json`: the route inventory as an OpenAPI 3.1 document. Generated from
//! the same table the router is built from, so it cannot drift from the routes. Bodies
//! that are Rust types deriving `utoipa::ToSchema` are published as components and named by
//! their routes; `docs/openapi.json` is this document, and the web app's TypeScript types
//! are generated from it (a test fails when the committed copy is stale).

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};
use utoipa::openapi::ComponentsBuilder;

use crate::AppState;
use crate::access::RouteSpec;

/// Routes whose request and answer bodies are typed: (method, path, request, answer), each
/// body a component's name (`Name[]` a list of them, `A|B` either). The answer is the
/// `results` of the `{"status":"ok"}` envelope.
const TYPED: &[(&str, &str, Option<&str>, Option<&str>)] = &[
    ("POST", "/api/app/projects/{project_id}/query", Some("Report"), Some("Answer")),
    ("POST", "/api/app/projects/{project_id}/query/users", Some("SelectionBody"), Some("SelectionUsersView")),
    ("GET", "/api/app/projects/{project_id}/users", None, Some("UsersPage")),
    ("GET", "/api/app/projects/{project_id}/users/activity", None, Some("ActivityAnswer")),
    ("GET", "/api/app/projects/{project_id}/events/live", None, Some("LiveAnswer")),
    ("GET", "/api/app/me", None, Some("MeView")),
    ("GET", "/api/app/permissions", None, Some("PermissionCatalogView")),
    ("GET", "/api/app/projects/{project_id}/custom-roles", None, Some("CustomRoleView[]")),
    ("GET", "/api/app/projects/{project_id}/custom-roles/{role_id}", None, Some("CustomRoleView")),
    ("GET", "/api/app/setup", None, Some("SetupLinkView")),
    ("GET", "/api/app/sso/discover", None, Some("SsoDiscoveryView")),
    ("POST", "/api/app/organizations/{org_id}/scim-token", Some("StepUpProofBody"), Some("ScimTokenView")),
    ("POST", "/api/app/sessions", Some("SignInBody"), Some("SignInStepView")),
    ("POST", "/api/app/sessions/second-factor", Some("SecondFactorBody"), Some("SignInStepView")),
    ("POST", "/api/app/sessions/enroll/totp", Some("ChallengeBody"), Some("ProvisioningView")),
    ("POST", "/api/app/sessions/enroll/confirm", Some("EnrollConfirmBody"), Some("SignInStepView")),
    ("POST", "/api/app/magic-link/consume", Some("MagicLinkBody"), Some("SignInStepView")),
    ("GET", "/api/app/me/sessions", None, Some("SessionView[]")),
    ("GET", "/api/app/me/two-factor", None, Some("TwoFactorStatusView")),
    ("POST", "/api/app/me/two-factor/totp", Some("StepUpProofBody"), Some("ProvisioningView")),
    ("POST", "/api/app/me/two-factor/confirm", Some("CodeBody"), Some("RecoveryCodesView")),
    ("POST", "/api/app/me/two-factor/recovery-codes", Some("StepUpProofBody"), Some("RecoveryCodesView")),
    ("GET", "/api/app/invitations/lookup", None, Some("InvitationLookupView")),
    ("GET", "/api/app/organizations/{org_id}", None, Some("OrganizationView")),
    ("GET", "/api/app/organizations/{org_id}/members", None, Some("OrgMemberView[]")),
    ("GET", "/api/app/organizations/{org_id}/projects", None, Some("OrgProjectView[]")),
    ("POST", "/api/app/organizations/{org_id}/projects", Some("NewProjectBody"), Some("ProjectView")),
    ("GET", "/api/app/organizations/{org_id}/billing", None, Some("BillingView")),
    ("GET", "/api/app/organizations/{org_id}/security", None, Some("OrgSecurityView")),
    ("GET", "/api/app/organizations/{org_id}/sso", None, Some("SsoSettingsView")),
    ("GET", "/api/app/organizations/{org_id}/domains", None, Some("DomainView[]")),
    ("POST", "/api/app/organizations/{org_id}/domains", Some("ClaimDomainBody"), Some("DomainView")),
    ("GET", "/api/app/organizations/{org_id}/teams", None, Some("TeamView[]")),
    ("POST", "/api/app/organizations/{org_id}/teams", Some("TeamNameBody"), Some("TeamView")),
    ("GET", "/api/app/organizations/{org_id}/teams/{team_id}", None, Some("TeamDetailView")),
    ("GET", "/api/app/organizations/{org_id}/invitations", None, Some("InvitationView[]")),
    (
        "POST",
        "/api/app/organizations/{org_id}/invitations",
        Some("InviteRequest"),
        Some("InvitationView|InviteOutcomesView"),
    ),
    ("POST", "/api/app/organizations/{org_id}/invitations/csv", None, Some("InviteOutcomesView")),
    ("POST", "/api/app/organizations/{org_id}/invitations/{invitation_id}/resend", None, Some("InvitationView")),
    ("POST", "/api/app/organizations/{org_id}/invitations/{invitation_id}/link", None, Some("InvitationLinkView")),
    ("GET", "/api/app/projects/{project_id}", None, Some("ProjectSettingsView")),
    ("PATCH", "/api/app/projects/{project_id}", Some("ProjectUpdateBody"), Some("ProjectView")),
    ("GET", "/api/app/projects/{project_id}/keys", None, Some("KeysView")),
    ("GET", "/api/app/projects/{project_id}/lexicon", None, Some("LexiconView")),
    ("GET", "/api/app/projects/{project_id}/permissions", None, Some("PermissionsView")),
    ("GET", "/api/app/projects/{project_id}/members", None, Some("ProjectMemberView[]")),
    ("GET", "/api/app/projects/{project_id}/access-requests", None, Some("AccessRequestView[]")),
    ("GET", "/api/app/organizations/{org_id}/audit-log", None, Some("AuditEntry[]")),
    ("GET", "/api/app/projects/{project_id}/audit-log", None, Some("AuditEntry[]")),
    ("GET", "/api/app/organizations/{org_id}/service-accounts", None, Some("ServiceAccountView[]")),
    (
        "POST",
        "/api/app/organizations/{org_id}/service-accounts",
        Some("NewServiceAccountBody"),
        Some("ServiceAccountView"),
    ),
    ("GET", "/api/app/organizations/{org_id}/service-accounts/{service_account_id}", None, Some("ServiceAccountView")),
    ("GET", "/api/app/projects/{project_id}/service-accounts", None, Some("ServiceAccountView[]")),
    (
        "POST",
        "/api/app/projects/{project_id}/service-accounts",
        Some("NewProjectServiceAccountBody"),
        Some("ServiceAccountView"),
    ),
    ("POST", "/api/app/setup", Some("SetupBody"), None),
    ("POST", "/api/app/sessions/second-factor/resend", Some("ChallengeBody"), None),
    ("POST", "/api/app/sessions/enroll/sms", Some("EnrollSmsBody"), None),
    ("POST", "/api/app/magic-link", Some("EmailBody"), None),
    ("POST", "/api/app/password-reset", Some("EmailBody"), None),
    ("POST", "/api/app/password-reset/confirm", Some("PasswordResetBody"), None),
    ("PUT", "/api/app/me/password", Some("PasswordChangeBody"), None),
    ("POST", "/api/app/me/two-factor/sms", Some("PhoneBody"), None),
    ("DELETE", "/api/app/me/two-factor", Some("StepUpProofBody"), None),
    ("POST", "/api/app/invitations/accept", Some("AcceptInvitationBody"), None),
    ("PUT", "/api/app/organizations/{org_id}/members/{user_id}", Some("OrgRoleBody"), None),
    ("PUT", "/api/app/organizations/{org_id}/billing", Some("PlanBody"), None),
    ("PUT", "/api/app/organizations/{org_id}/security", Some("OrgSecurityBody"), None),
    ("PUT", "/api/app/organizations/{org_id}/sso/oidc", Some("OidcSettingsBody"), None),
    ("PUT", "/api/app/organizations/{org_id}/sso/saml", Some("SamlSettingsBody"), None),
    ("PATCH", "/api/app/organizations/{org_id}/teams/{team_id}", Some("TeamNameBody"), None),
    ("POST", "/api/app/organizations/{org_id}/teams/{team_id}/members", Some("TeamMemberBody"), None),
    ("PUT", "/api/app/organizations/{org_id}/teams/{team_id}/projects/{project_id}", Some("TeamProjectRoleBody"), None),
    ("POST", "/api/app/projects/{project_id}/transfer", Some("TransferBody"), None),
    ("PUT", "/api/app/projects/{project_id}/members/users/{user_id}", Some("ProjectMemberRoleBody"), None),
    (
        "PUT",
        "/api/app/projects/{project_id}/members/service-accounts/{service_account_id}",
        Some("ProjectMemberRoleBody"),
        None,
    ),
    ("PUT", "/api/app/projects/{project_id}/default-role", Some("ProjectMemberRoleBody"), None),
    ("POST", "/api/app/projects/{project_id}/custom-roles", Some("CustomRoleBody"), Some("CustomRoleView")),
    ("PUT", "/api/app/projects/{project_id}/custom-roles/{role_id}", Some("CustomRoleBody"), Some("CustomRoleView")),
    (
        "POST",
        "/api/app/projects/{project_id}/custom-roles/{role_id}/copy",
        Some("CopyCustomRoleBody"),
        Some("CustomRoleView"),
    ),
    ("POST", "/api/app/projects/{project_id}/access-requests", Some("AccessRequestBody"), None),
    (
        "POST",
        "/api/app/projects/{project_id}/access-requests/{request_id}/approve",
        Some("ProjectMemberRoleBody"),
        None,
    ),
    ("GET", "/api/app/projects/{project_id}/boards", None, Some("BoardView[]")),
    ("POST", "/api/app/projects/{project_id}/boards", Some("BoardBody"), Some("BoardView")),
    ("GET", "/api/app/projects/{project_id}/board-settings", None, Some("BoardSettingsBody")),
    ("PUT", "/api/app/projects/{project_id}/board-settings", Some("BoardSettingsBody"), Some("BoardSettingsBody")),
    ("GET", "/api/app/projects/{project_id}/boards/{board_id}", None, Some("BoardDetailView")),
    ("PATCH", "/api/app/projects/{project_id}/boards/{board_id}", Some("BoardPatchBody"), Some("BoardDetailView")),
    ("PUT", "/api/app/projects/{project_id}/boards/{board_id}/sharing", Some("SharingBody"), Some("BoardDetailView")),
    (
        "POST",
        "/api/app/projects/{project_id}/boards/{board_id}/transfer",
        Some("BoardTransferBody"),
        Some("BoardDetailView"),
    ),
    ("PUT", "/api/app/projects/{project_id}/boards/{board_id}/layout", Some("LayoutBody"), Some("CardView[]")),
    ("POST", "/api/app/projects/{project_id}/boards/{board_id}/cards", Some("CardBody"), Some("CardView")),
    ("PATCH", "/api/app/projects/{project_id}/boards/{board_id}/cards/{card_id}", Some("TextBody"), None),
    ("GET", "/api/app/projects/{project_id}/bookmarks", None, Some("BookmarkView[]")),
    ("POST", "/api/app/projects/{project_id}/bookmarks", Some("BookmarkBody"), Some("BookmarkView")),
    ("GET", "/api/app/projects/{project_id}/bookmarks/{bookmark_id}", None, Some("BookmarkView")),
    (
        "PATCH",
        "/api/app/projects/{project_id}/bookmarks/{bookmark_id}",
        Some("BookmarkPatchBody"),
        Some("BookmarkView"),
    ),
    (
        "POST",
        "/api/app/projects/{project_id}/bookmarks/{bookmark_id}/duplicate",
        Some("TargetBoardBody"),
        Some("BookmarkView"),
    ),
    (
        "POST",
        "/api/app/projects/{project_id}/bookmarks/{bookmark_id}/move",
        Some("TargetBoardBody"),
        Some("BookmarkView"),
    ),
    ("GET", "/api/app/projects/{project_id}/annotations", None, Some("AnnotationView[]")),
    ("POST", "/api/app/projects/{project_id}/annotations", Some("AnnotationBody"), Some("AnnotationView")),
    ("GET", "/api/app/projects/{project_id}/annotations/tags", None, Some("AnnotationTagView[]")),
    ("POST", "/api/app/projects/{project_id}/annotations/tags", Some("TagBody"), Some("AnnotationTagView")),
    ("GET", "/api/app/projects/{project_id}/annotations/{annotation_id}", None, Some("AnnotationView")),
    (
        "PATCH",
        "/api/app/projects/{project_id}/annotations/{annotation_id}",
        Some("AnnotationPatchBody"),
        Some("AnnotationView"),
    ),
    ("GET", "/api/app/projects/{project_id}/public-boards", None, Some("PublicBoardsBody")),
    ("PUT", "/api/app/projects/{project_id}/public-boards", Some("PublicBoardsBody"), Some("PublicBoardsBody")),
    (
        "POST",
        "/api/app/projects/{project_id}/boards/{board_id}/public-links",
        Some("PublicLinkBody"),
        Some("PublicLinkView"),
    ),
    ("GET", "/api/app/projects/{project_id}/public-links", None, Some("PublicLinkView[]")),
    ("GET", "/api/public/boards/{token}", None, Some("PublicBoardView")),
    ("GET", "/api/public/boards/{token}/reports/{bookmark_id}", None, Some("Answer")),
    ("GET", "/api/app/projects/{project_id}/cohorts", None, Some("CohortView[]")),
    ("POST", "/api/app/projects/{project_id}/cohorts", Some("CohortBody"), Some("CohortView")),
    ("POST", "/api/app/projects/{project_id}/cohorts/csv", None, Some("CohortView")),
    ("POST", "/api/app/projects/{project_id}/cohorts/preview", Some("CohortPreviewBody"), Some("CohortUsersView")),
    ("GET", "/api/app/projects/{project_id}/cohorts/{cohort_id}", None, Some("CohortView")),
    ("PATCH", "/api/app/projects/{project_id}/cohorts/{cohort_id}", Some("CohortBody"), Some("CohortView")),
    ("GET", "/api/app/projects/{project_id}/cohorts/{cohort_id}/users", None, Some("CohortUsersView")),
    ("PATCH", "/api/app/projects/{project_id}/lexicon/events/{event_name}", Some("LexiconEditBody"), Some("EditView")),
    (
        "PUT",
        "/api/app/projects/{project_id}/lexicon/events/{event_name}/dropped",
        Some("DroppedBody"),
        Some("EditView"),
    ),
    (
        "PATCH",
        "/api/app/projects/{project_id}/lexicon/properties/{property_name}",
        Some("LexiconEditBody"),
        Some("EditView"),
    ),
    ("PUT", "/api/app/projects/{project_id}/lexicon/events/{event_name}/merged", Some("MergedBody"), Some("EditView")),
    (
        "PUT",
        "/api/app/projects/{project_id}/lexicon/properties/{property_name}/merged",
        Some("MergedBody"),
        Some("EditView"),
    ),
    ("POST", "/api/app/projects/{project_id}/lexicon/import", None, Some("ImportedView")),
    ("GET", "/api/app/projects/{project_id}/schemas", None, Some("SchemaEntry[]")),
    ("POST", "/api/app/projects/{project_id}/schemas", Some("SchemasBody"), Some("SchemasChangedView")),
    ("DELETE", "/api/app/projects/{project_id}/schemas", None, Some("SchemasChangedView")),
    ("GET", "/api/app/projects/{project_id}/schemas/{entity_type}", None, Some("SchemaEntry[]")),
    ("DELETE", "/api/app/projects/{project_id}/schemas/{entity_type}", None, Some("SchemasChangedView")),
    ("GET", "/api/app/projects/{project_id}/schemas/{entity_type}/{entity_name}", None, Some("SchemaEntry")),
    ("DELETE", "/api/app/projects/{project_id}/schemas/{entity_type}/{entity_name}", None, Some("SchemasChangedView")),
    (
        "PUT",
        "/api/app/projects/{project_id}/lexicon/properties/{property_name}/classified",
        Some("ClassifiedBody"),
        Some("EditView"),
    ),
    ("GET", "/api/app/projects/{project_id}/data-views", None, Some("DataViewView[]")),
    ("GET", "/api/app/projects/{project_id}/alerts", None, Some("AlertView[]")),
    ("POST", "/api/app/projects/{project_id}/alerts", Some("AlertBody"), Some("AlertView")),
    ("GET", "/api/app/projects/{project_id}/alerts/{alert_id}", None, Some("AlertView")),
    ("PATCH", "/api/app/projects/{project_id}/alerts/{alert_id}", Some("AlertBody"), Some("AlertView")),
    ("POST", "/api/app/projects/{project_id}/alerts/{alert_id}/test", None, Some("AlertCheckView")),
    ("GET", "/api/app/projects/{project_id}/alerts/{alert_id}/history", None, Some("AlertCheckView[]")),
    ("GET", "/api/app/projects/{project_id}/privacy-requests", None, Some("PrivacyRequestView[]")),
    ("POST", "/api/app/projects/{project_id}/data-deletions", Some("PrivacyRequestBody"), Some("PrivacyTaskView")),
    ("GET", "/api/app/projects/{project_id}/data-deletions/{tracking_id}", None, Some("PrivacyRequestView")),
    ("POST", "/api/app/projects/{project_id}/data-retrievals", Some("PrivacyRequestBody"), Some("PrivacyTaskView")),
    ("GET", "/api/app/projects/{project_id}/data-retrievals/{tracking_id}", None, Some("PrivacyRequestView")),
    ("POST", "/api/app/projects/{project_id}/data-views", Some("DataViewBody"), Some("DataViewView")),
    ("PATCH", "/api/app/projects/{project_id}/data-views/{view_id}", Some("DataViewBody"), Some("DataViewView")),
    (
        "PUT",
        "/api/app/projects/{project_id}/data-views/{view_id}/members",
        Some("DataViewMembersBody"),
        Some("DataViewMemberView[]"),
    ),
];

/// The schema of a body named as in [`TYPED`].
fn schema_ref(name: &str) -> Value {
    if let Some(item) = name.strip_suffix("[]") {
        return json!({ "type": "array", "items": schema_ref(item) });
    }
    if name.contains('|') {
        return json!({ "oneOf": name.split('|').map(schema_ref).collect::<Vec<_>>() });
    }
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The components every typed route refers to.
fn components() -> Value {
    /// Each type with every schema it refers to.
    macro_rules! published {
        ($($ty:ty),* $(,)?) => {{
            let mut schemas = Vec::new();
            let mut builder = ComponentsBuilder::new();
            $(
                <$ty as utoipa::ToSchema>::schemas(&mut schemas);
                builder = builder.schema_from::<$ty>();
            )*
            builder.schemas_from_iter(schemas).build()
        }};
    }
    use crate::routes::{app, me};
    let components = published!(
        tally_query::model::Report,
        tally_query::Answer,
        tally_query::ActivityAnswer,
        tally_query::LiveAnswer,
        app::users::UsersPage,
        app::boards::BoardView,
        app::projects::EditView,
        app::projects::LexiconEditBody,
        app::projects::DroppedBody,
        app::projects::MergedBody,
        app::projects::ImportedView,
        app::projects::SchemaEntry,
        app::projects::SchemasBody,
        app::projects::SchemasChangedView,
        app::cohorts::CohortView,
        app::cohorts::CohortBody,
        app::cohorts::CohortPreviewBody,
        app::cohorts::CohortUsersView,
        app::data_views::DataViewView,
        app::data_views::DataViewMemberView,
        app::data_views::DataViewBody,
        app::data_views::DataViewMembersBody,
        app::data_views::ClassifiedBody,
        app::privacy::PrivacyRequestBody,
        app::alerts::AlertBody,
        app::query::SelectionBody,
        app::query::SelectionUsersView,
        app::alerts::AlertView,
        app::alerts::AlertCheckView,
        app::alerts::AlertConditionBody,
        app::alerts::WebhookBody,
        app::alerts::WebhookView,
        app::privacy::PrivacyTaskView,
        app::privacy::PrivacyRequestView,
        app::boards::PublicBoardsBody,
        app::boards::PublicLinkView,
        app::boards::PublicLinkBody,
        crate::routes::public::PublicBoardView,
        app::boards::BoardBody,
        app::boards::BoardSettingsBody,
        app::boards::BoardDetailView,
        app::boards::BoardPatchBody,
        app::boards::SharingBody,
        app::boards::BoardTransferBody,
        app::boards::LayoutBody,
        app::boards::CardView,
        app::boards::CardBody,
        app::boards::TextBody,
        app::boards::BookmarkView,
        app::boards::BookmarkBody,
        app::boards::BookmarkPatchBody,
        app::boards::TargetBoardBody,
        app::boards::AnnotationView,
        app::boards::AnnotationBody,
        app::boards::AnnotationTagView,
        app::boards::TagBody,
        app::boards::AnnotationPatchBody,
        me::MeView,
        crate::routes::setup::SetupLinkView,
        crate::routes::sso::SsoDiscoveryView,
        crate::routes::scim::ScimTokenView,
        app::sessions::SignInStepView,
        app::sessions::SessionView,
        app::views::ProvisioningView,
        app::views::RecoveryCodesView,
        app::twofactor::TwoFactorStatusView,
        app::twofactor::OrgSecurityView,
        app::invitations::InvitationLookupView,
        app::invitations::InviteOutcomesView,
        app::invitations::InvitationLinkView,
        app::views::InvitationView,
        app::orgs::OrganizationView,
        app::views::OrgMemberView,
        app::orgs::OrgProjectView,
        app::views::ProjectView,
        app::orgs::BillingView,
        app::sso::SsoSettingsView,
        app::sso::DomainView,
        app::views::TeamView,
        app::teams::TeamDetailView,
        app::projects::ProjectSettingsView,
        app::projects::KeysView,
        app::projects::LexiconView,
        app::projects::PermissionsView,
        app::views::ProjectMemberView,
        app::views::AccessRequestView,
        app::views::ServiceAccountView,
        app::views::CustomRoleView,
        me::PermissionCatalogView,
        tally_iam::admin::audit::AuditEntry,
        crate::routes::setup::SetupInput,
        app::sessions::SignIn,
        app::sessions::SecondFactorBody,
        app::sessions::ChallengeBody,
        app::sessions::EnrollSmsBody,
        app::sessions::ConfirmBody,
        app::sessions::PasswordBody,
        app::sessions::EmailBody,
        app::sessions::ResetBody,
        app::sessions::TokenBody,
        app::twofactor::ProofBody,
        app::twofactor::PhoneBody,
        app::twofactor::CodeBody,
        app::twofactor::SecurityBody,
        app::invitations::InviteRequest,
        app::invitations::AcceptBody,
        app::orgs::RoleBody,
        app::orgs::NewProjectBody,
        app::orgs::PlanBody,
        app::sso::ClaimBody,
        app::sso::OidcBody,
        app::sso::SamlBody,
        app::teams::NameBody,
        app::teams::MemberBody,
        app::teams::RoleBody,
        app::projects::UpdateBody,
        app::projects::TransferBody,
        app::projects::RoleBody,
        app::projects::CustomRoleBody,
        app::projects::CopyBody,
        app::projects::RequestBody,
        app::service_accounts::CreateBody,
        app::service_accounts::ProjectCreateBody,
    );
    serde_json::to_value(components).unwrap_or_else(|_| json!({}))
}

pub(crate) async fn document(State(state): State<AppState>) -> Json<Value> {
    Json(document_for(state.inventory()))
}

/// The document for a route inventory.
pub(crate) fn document_for(inventory: &[RouteSpec]) -> Value {
    let mut paths = Map::new();
    for route in inventory {
        // axum's catch-all `{*rest}` is a plain `{rest}` in OpenAPI's templates.
        let path = route.path.replace("{*", "{");
        let parameters: Vec<Value> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                let kind = if ["role_id", "screen", "file"].contains(&name) { "string" } else { "integer" };
                json!({ "name": name, "in": "path", "required": true, "schema": { "type": kind } })
            })
            .collect();
        let typed = TYPED.iter().find(|(method, path, _, _)| *method == route.method && *path == route.path);
        let mut operation = json!({
            "summary": route.summary,
            "parameters": parameters,
            "x-tally-requirement": route.requirement.label(),
            "security": match route.requirement {
                crate::access::Requirement::Public => json!([]),
                crate::access::Requirement::ScimToken => json!([{ "scimToken": [] }]),
                _ => json!([{ "session": [] }, { "serviceAccount": [] }]),
            },
            "responses": { "default": { "description": "`{\"status\":\"ok\",\"results\":...}` or `{\"status\":\"error\",\"error\":...,\"code\":...}`" } },
        });
        if let Some((_, _, request, answer)) = typed {
            if let Some(request) = request {
                operation["requestBody"] = json!({
                    "required": true,
                    "content": { "application/json": { "schema": schema_ref(request) } },
                });
            }
            if let Some(answer) = answer {
                operation["responses"]["200"] = json!({
                    "description": "the answer, in the envelope's `results`",
                    "content": { "application/json": { "schema": {
                        "type": "object",
                        "required": ["status", "results"],
                        "properties": {
                            "status": { "const": "ok" },
                            "results": schema_ref(answer),
                        },
                    } } },
                });
            }
        }
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        entry[route.method.to_lowercase()] = operation;
    }
    let mut components = components();
    components["securitySchemes"] = json!({
        "session": { "type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE },
        "serviceAccount": { "type": "http", "scheme": "basic" },
        "scimToken": { "type": "http", "scheme": "bearer" },
    });
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Tally", "version": env!("CARGO_PKG_VERSION") },
        "components": components,
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every component name a body names.
    fn names_in(name: &str) -> impl Iterator<Item = &str> {
        name.split('|').map(|part| part.trim_end_matches("[]"))
    }

    /// `docs/openapi.json` is what the server publishes; the web app's types are generated
    /// from it. `TALLY_UPDATE_OPENAPI=1` rewrites it (then `scripts/api-types`).
    #[test]
    fn committed_document_is_current() {
        let (_, inventory) = crate::routes::build();
        let document = document_for(&inventory);
        let text = serde_json::to_string_pretty(&document).unwrap_or_default() + "\n";
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        if std::env::var_os("TALLY_UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == text,
            "docs/openapi.json is stale: run scripts/api-types (it rewrites the document and the web app's types)"
        );
    }

    #[test]
    fn typed_routes_exist_and_name_published_schemas() {
        let (_, inventory) = crate::routes::build();
        let document = document_for(&inventory);
        for (method, path, request, answer) in TYPED {
            assert!(inventory.iter().any(|r| r.method == *method && r.path == *path), "{method} {path}");
            for name in request.iter().chain(answer.iter()).flat_map(|name| names_in(name)) {
                assert!(document["components"]["schemas"][name].is_object(), "{name} is not published");
            }
        }
        // Every reference inside the components names a published schema.
        let text = document["components"].to_string();
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap_or_default();
            assert!(document["components"]["schemas"][name].is_object(), "{name} is referred to but not published");
        }
    }
}
