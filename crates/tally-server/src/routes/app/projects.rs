//! Project settings: details, keys, lifecycle, members and their grants, the default role,
//! custom roles and access requests.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tally_iam::admin::custom_roles::CustomRoleInput;
use tally_iam::admin::projects::ProjectUpdate;
use tally_iam::authz::authorize_project;
use tally_types::permissions::project;
use tally_types::{AccessRequestId, ErrorKind, OrgId, ProjectId, ProjectPermission, ServiceAccountId, UserId};

use super::{created, done, ok, views};
use crate::access::ProjectAccess;
use crate::extract::{Ids, JsonBody, QueryParams, ViewChoice};
use crate::{ApiError, AppState};

/// A project's settings, with the caller's permissions there.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ProjectSettingsView {
    #[serde(flatten)]
    project: views::ProjectView,
    your_permissions: Vec<&'static str>,
}

pub(crate) async fn get(ProjectAccess(scope, _): ProjectAccess) -> Response {
    ok(ProjectSettingsView { project: views::project(scope.project()), your_permissions: scope.permissions().names() })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProjectUpdateBody)]
pub(crate) struct UpdateBody {
    name: Option<String>,
    timezone: Option<String>,
    region: Option<String>,
    /// `simplified` or `original`.
    id_merge: Option<tally_types::IdMerge>,
}

pub(crate) async fn update(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let project = scope.project();
    let permit = scope.require::<project::EditProjectSettings>()?;
    let project_has_data = match (body.id_merge, state.event_store(&project.region)) {
        (Some(wanted), Some(events)) if wanted != project.id_merge => {
            events.has_data(&permit.whole_project_data_scope_returning_no_data()).await.map_err(|error| {
                ApiError::new(
                    ErrorKind::Unavailable,
                    "storage_unavailable",
                    format!("cannot check the project's data: {error}"),
                )
            })?
        }
        // Another node holds the project's region: it cannot be checked here, so refuse.
        (Some(wanted), None) if wanted != project.id_merge => true,
        _ => false,
    };
    let update = ProjectUpdate {
        name: body.name,
        timezone: body.timezone,
        region: body.region,
        id_merge: body.id_merge,
        project_has_data,
    };
    let project = tally_iam::admin::projects::update(state.ctx(&actor), &permit, &update).await?;
    Ok(ok(views::project(&project)))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::DeleteProject>()?;
    let purge_after = tally_iam::admin::projects::delete(state.ctx(&actor), &permit).await?;
    Ok(ok(json!({ "purge_after": purge_after.to_string() })))
}

pub(crate) async fn reset(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ResetProject>()?;
    let generation = tally_iam::admin::projects::reset(state.ctx(&actor), &permit).await?;
    let project = scope.project();
    if let Some(events) = state.event_store(&project.region) {
        events.reset_project(&permit.whole_project_data_scope_returning_no_data()).await.map_err(|error| {
            ApiError::new(
                ErrorKind::Unavailable,
                "storage_unavailable",
                format!("the project's event data could not be removed ({error}); try the reset again"),
            )
        })?;
    }
    Ok(ok(json!({ "data_generation": generation })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = TransferBody)]
pub(crate) struct TransferBody {
    organization_id: i64,
}

pub(crate) async fn transfer(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    JsonBody(body): JsonBody<TransferBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::TransferProject>()?;
    tally_iam::admin::projects::transfer(state.ctx(&actor), &permit, OrgId(body.organization_id)).await?;
    Ok(done())
}

pub(crate) async fn keys(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewAccessKeys>()?;
    let keys = tally_iam::admin::projects::keys(state.ctx(&actor), &permit)?;
    Ok(ok(KeysView { token: keys.token, api_secret: keys.api_secret.expose().clone() }))
}

/// The project's ingestion token and its API secret.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct KeysView {
    token: String,
    api_secret: String,
}

pub(crate) async fn rotate_secret(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ManageProjectSecurity>()?;
    let secret = tally_iam::admin::projects::rotate_secret(state.ctx(&actor), &permit).await?;
    Ok(ok(json!({ "api_secret": secret.expose() })))
}

pub(crate) async fn usage(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    crate::usage::write_pending(&state).await;
    let actor = caller.actor();
    let permit = scope.require::<project::ViewUsage>()?;
    let usage = tally_iam::admin::projects::usage(state.ctx(&actor), &permit).await?;
    let rows: Vec<_> = usage.iter().map(|row| json!({ "month": row.month, "events": row.n_events })).collect();
    Ok(ok(rows))
}

/// Lexicon discovery: every event name and property the project has sent.
pub(crate) async fn lexicon(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    view: ViewChoice,
) -> Result<Response, ApiError> {
    Ok(ok(lexicon_view(&state, &scope, &caller, &view).await?))
}

/// `GET .../lexicon/export`: the Lexicon as CSV, a row per event and per event property
/// (for those who may download it).
pub(crate) async fn lexicon_csv(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    view: ViewChoice,
) -> Result<Response, ApiError> {
    scope.require::<project::DownloadLexicon>()?;
    let view = lexicon_view(&state, &scope, &caller, &view).await?;
    let header = [
        "kind",
        "event",
        "name",
        "display_name",
        "description",
        "tags",
        "hidden",
        "dropped",
        "types",
        "count",
        "first_seen",
        "last_seen",
        "owners",
        "merged_into",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = vec![header];
    for event in &view.events {
        // One row per event, then one per property of it.
        let row =
            |kind: &str, name: &str, edit: &EditView, types: &[String], count: u64, seen: [&Option<String>; 2]| {
                vec![
                    kind.to_string(),
                    event.name.clone(),
                    name.to_string(),
                    edit.display_name.clone(),
                    edit.description.clone(),
                    edit.tags.join(";"),
                    edit.hidden.to_string(),
                    edit.dropped.to_string(),
                    types.join(";"),
                    count.to_string(),
                    seen[0].clone().unwrap_or_default(),
                    seen[1].clone().unwrap_or_default(),
                    edit.owners.join(";"),
                    edit.merged_into.clone(),
                ]
            };
        rows.push(row("event", &event.name, &event.edit, &[], event.count, [&event.first_seen, &event.last_seen]));
        for property in &event.properties {
            let seen = [&property.first_seen, &property.last_seen];
            rows.push(row("property", &property.name, &property.edit, &property.types, property.count, seen));
        }
    }
    super::csv_download(rows, "lexicon.csv")
}

async fn lexicon_view(
    state: &AppState,
    scope: &tally_iam::authz::ProjectScope,
    caller: &crate::access::Caller,
    view: &ViewChoice,
) -> Result<LexiconView, ApiError> {
    let permit = scope.require::<project::ViewReports>()?;
    let data = state.data_scope(&permit, view).await?;
    let store = state.events_of(&data)?;
    let lexicon = store.lexicon_of(&data).await.map_err(AppState::storage_unavailable)?;
    let entries = tally_iam::reports::lexicon_entries(state.ctx(&caller.actor()), &permit).await?;
    let edit = |kind: &str, name: &str| {
        entries.iter().find(|entry| entry.kind == kind && entry.name == name).map(EditView::of).unwrap_or_default()
    };
    let mut events: Vec<LexiconEventView> = lexicon
        .events
        .iter()
        .map(|(name, entry)| LexiconEventView {
            name: name.clone(),
            edit: edit("event", name),
            count: entry.seen.count,
            first_seen: millis_to_rfc3339(entry.seen.first_seen_ms),
            last_seen: millis_to_rfc3339(entry.seen.last_seen_ms),
            properties: entry
                .properties
                .iter()
                .map(|(name, property)| LexiconPropertyView {
                    name: name.clone(),
                    edit: edit("property", name),
                    types: property.types.iter().map(|kind| kind.to_string()).collect(),
                    count: property.seen.count,
                    first_seen: millis_to_rfc3339(property.seen.first_seen_ms),
                    last_seen: millis_to_rfc3339(property.seen.last_seen_ms),
                })
                .collect(),
        })
        .collect();
    // An event dropped before it was ever sent is listed too, with nothing seen (not in a
    // data view, which lists only what its data holds).
    let listed_without_data = |entry: &&tally_iam::records::LexiconEntry| {
        data.visibility().view.is_none() && entry.kind == "event" && !lexicon.events.contains_key(&entry.name)
    };
    for entry in entries.iter().filter(listed_without_data) {
        events.push(LexiconEventView {
            name: entry.name.clone(),
            edit: EditView::of(entry),
            count: 0,
            first_seen: None,
            last_seen: None,
            properties: Vec::new(),
        });
    }
    events.sort_by(|a, b| a.name.cmp(&b.name));
    let user_properties = store
        .profile_properties_of(&data)
        .await
        .map_err(AppState::storage_unavailable)?
        .into_iter()
        .map(|property| UserPropertyView {
            name: property.name,
            types: property.types.iter().map(|kind| kind.to_string()).collect(),
            profiles: property.profiles,
        })
        .collect();
    Ok(LexiconView { events, user_properties })
}

/// Every event and property a project has received.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LexiconView {
    events: Vec<LexiconEventView>,
    /// The properties of the project's user profiles (filters and breakdowns read them
    /// with `"source": "user"`).
    user_properties: Vec<UserPropertyView>,
}

/// A user profile property.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct UserPropertyView {
    name: String,
    /// The JSON types seen: `string`, `number`, `boolean`, `list`, `object`, `null`.
    types: Vec<String>,
    /// How many profiles hold it.
    profiles: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LexiconEventView {
    name: String,
    #[serde(flatten)]
    edit: EditView,
    count: u64,
    first_seen: Option<String>,
    last_seen: Option<String>,
    properties: Vec<LexiconPropertyView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LexiconPropertyView {
    name: String,
    #[serde(flatten)]
    edit: EditView,
    /// The JSON types seen: `string`, `number`, `boolean`, `list`, `object`, `null`.
    types: Vec<String>,
    count: u64,
    first_seen: Option<String>,
    last_seen: Option<String>,
}

/// What the Lexicon's editors said of an event or property.
#[derive(Serialize, Default, utoipa::ToSchema)]
pub(crate) struct EditView {
    /// Shown instead of the raw name (which never changes).
    display_name: String,
    description: String,
    tags: Vec<String>,
    /// Left out of menus; its data is still stored.
    hidden: bool,
    /// Its new data is not stored (events).
    dropped: bool,
    /// Only holders of `access_classified_data` see its values (properties).
    classified: bool,
    /// Who to ask about it (e-mails of organization members).
    owners: Vec<String>,
    /// Read in queries as this other event or property (empty: itself).
    merged_into: String,
}

impl EditView {
    pub(crate) fn of(entry: &tally_iam::records::LexiconEntry) -> EditView {
        EditView {
            display_name: entry.display_name.clone(),
            description: entry.description.clone(),
            tags: entry.tags.clone(),
            hidden: entry.hidden,
            dropped: entry.dropped,
            classified: entry.classified,
            owners: entry.owners.clone(),
            merged_into: entry.merged_into.clone(),
        }
    }
}

/// A change to an event's or property's Lexicon entry; what is absent stays.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LexiconEditBody {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    hidden: Option<bool>,
    /// Members of the organization, by e-mail.
    #[serde(default)]
    owners: Option<Vec<String>>,
}

async fn edit_entry(
    state: &AppState,
    scope: &tally_iam::authz::ProjectScope,
    caller: &crate::access::Caller,
    kind: &str,
    name: &str,
    body: LexiconEditBody,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::EditLexicon>()?;
    let patch = tally_iam::reports::LexiconPatch {
        display_name: body.display_name,
        description: body.description,
        tags: body.tags,
        hidden: body.hidden,
        owners: body.owners,
    };
    let entry = tally_iam::reports::edit_lexicon_entry(state.ctx(&caller.actor()), &permit, kind, name, &patch).await?;
    Ok(ok(EditView::of(&entry)))
}

/// `PATCH .../lexicon/events/{event_name}`: display name, description, tags, hidden.
pub(crate) async fn edit_event(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, name)): Ids<(i64, String)>,
    JsonBody(body): JsonBody<LexiconEditBody>,
) -> Result<Response, ApiError> {
    edit_entry(&state, &scope, &caller, "event", &name, body).await
}

/// `PATCH .../lexicon/properties/{property_name}`: display name, description, tags, hidden.
pub(crate) async fn edit_property(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, name)): Ids<(i64, String)>,
    JsonBody(body): JsonBody<LexiconEditBody>,
) -> Result<Response, ApiError> {
    edit_entry(&state, &scope, &caller, "property", &name, body).await
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DroppedBody {
    /// Stop storing the event's new data (true), or store it again (false).
    dropped: bool,
}

/// `PUT .../lexicon/events/{event_name}/dropped`: the project's Owner drops an event; new
/// data for it is taken and not stored from the next request on.
pub(crate) async fn drop_event(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, name)): Ids<(i64, String)>,
    JsonBody(body): JsonBody<DroppedBody>,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::MergeDropData>()?;
    let entry = tally_iam::reports::set_event_dropped(state.ctx(&caller.actor()), &permit, &name, body.dropped).await?;
    state.forget_dropped_events(permit.project_id().0);
    Ok(ok(EditView::of(&entry)))
}

fn millis_to_rfc3339(ms: i64) -> Option<String> {
    jiff::Timestamp::from_millisecond(ms).ok().map(|at| at.to_string())
}

/// The caller's effective permissions here and the grants they come from.
pub(crate) async fn permissions(ProjectAccess(scope, _): ProjectAccess) -> Response {
    ok(PermissionsView {
        organization_role: scope.org_role(),
        grants: views::grants(scope.grants()),
        permissions: scope.permissions().names(),
    })
}

/// The caller's permissions on a project and the grants they come from.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PermissionsView {
    organization_role: tally_types::OrgRole,
    grants: Vec<views::GrantView>,
    permissions: Vec<&'static str>,
}

pub(crate) async fn members(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewProjectSettings>()?;
    let members = tally_iam::admin::members::list(state.ctx(&actor), &permit).await?;
    Ok(ok(members.iter().map(views::project_member).collect::<Vec<_>>()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ProjectMemberRoleBody)]
pub(crate) struct RoleBody {
    role: String,
}

pub(crate) async fn set_user_role(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, user_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<RoleBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ManageProjectMembers>()?;
    tally_iam::admin::members::set_user_role(state.ctx(&actor), &permit, UserId(user_id), &body.role).await?;
    Ok(done())
}

pub(crate) async fn remove_user(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, user_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ManageProjectMembers>()?;
    tally_iam::admin::members::remove_user(state.ctx(&actor), &permit, UserId(user_id)).await?;
    Ok(done())
}

pub(crate) async fn set_service_account_role(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, account_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<RoleBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ManageProjectServiceAccounts>()?;
    let id = ServiceAccountId(account_id);
    tally_iam::admin::members::set_service_account_role(state.ctx(&actor), &permit, id, &body.role).await?;
    Ok(done())
}

pub(crate) async fn set_default_role(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    JsonBody(body): JsonBody<RoleBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ManageProjectMembers>()?;
    tally_iam::admin::members::set_default_role(state.ctx(&actor), &permit, &body.role).await?;
    Ok(done())
}

pub(crate) async fn remove_default_role(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ManageProjectMembers>()?;
    tally_iam::admin::members::remove_default_role(state.ctx(&actor), &permit).await?;
    Ok(done())
}

pub(crate) async fn custom_roles(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewProjectSettings>()?;
    let roles = tally_iam::admin::custom_roles::list(state.ctx(&actor), &permit).await?;
    Ok(ok(roles.iter().map(views::custom_role).collect::<Vec<_>>()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = CustomRoleBody)]
pub(crate) struct CustomRoleBody {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    permissions: Vec<String>,
}

impl From<CustomRoleBody> for CustomRoleInput {
    fn from(body: CustomRoleBody) -> Self {
        CustomRoleInput { name: body.name, description: body.description, permissions: body.permissions }
    }
}

pub(crate) async fn create_custom_role(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    JsonBody(body): JsonBody<CustomRoleBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ManageCustomRoles>()?;
    let role = tally_iam::admin::custom_roles::create(state.ctx(&actor), &permit, &body.into(), None).await?;
    Ok(created(views::custom_role(&role)))
}

pub(crate) async fn custom_role(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, role_id)): Ids<(i64, String)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewProjectSettings>()?;
    let role = tally_iam::admin::custom_roles::get(state.ctx(&actor), &permit, &role_id).await?;
    Ok(ok(views::custom_role(&role)))
}

pub(crate) async fn update_custom_role(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, role_id)): Ids<(i64, String)>,
    JsonBody(body): JsonBody<CustomRoleBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ManageCustomRoles>()?;
    let role = tally_iam::admin::custom_roles::update(state.ctx(&actor), &permit, &role_id, &body.into()).await?;
    Ok(ok(views::custom_role(&role)))
}

pub(crate) async fn delete_custom_role(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, role_id)): Ids<(i64, String)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ManageCustomRoles>()?;
    tally_iam::admin::custom_roles::delete(state.ctx(&actor), &permit, &role_id).await?;
    Ok(done())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = CopyCustomRoleBody)]
pub(crate) struct CopyBody {
    project_id: i64,
}

/// Copies a custom role to another project of the same organization where the caller
/// may also manage custom roles.
pub(crate) async fn copy_custom_role(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, role_id)): Ids<(i64, String)>,
    JsonBody(body): JsonBody<CopyBody>,
) -> Result<Response, ApiError> {
    let target = authorize_project(
        state.directory(),
        state.clock(),
        caller.subject(),
        ProjectId(body.project_id),
        ProjectPermission::ManageCustomRoles,
    )
    .await?;
    let actor = caller.actor();
    let (from, to) = (scope.require::<project::ManageCustomRoles>()?, target.require::<project::ManageCustomRoles>()?);
    let role = tally_iam::admin::custom_roles::copy(state.ctx(&actor), &from, &role_id, &to).await?;
    Ok(created(views::custom_role(&role)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = AccessRequestBody)]
pub(crate) struct RequestBody {
    #[serde(default)]
    message: String,
}

pub(crate) async fn request_access(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    JsonBody(body): JsonBody<RequestBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let id = tally_iam::admin::members::request_access(state.ctx(&actor), &scope, &body.message).await?;
    Ok(created(json!({ "id": id })))
}

pub(crate) async fn access_requests(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ManageProjectMembers>()?;
    let requests = tally_iam::admin::members::access_requests(state.ctx(&actor), &permit).await?;
    Ok(ok(requests.iter().map(views::access_request).collect::<Vec<_>>()))
}

pub(crate) async fn approve_request(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, request_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<RoleBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let id = AccessRequestId(request_id);
    let permit = scope.require::<project::ManageProjectMembers>()?;
    tally_iam::admin::members::decide_access_request(state.ctx(&actor), &permit, id, Some(&body.role)).await?;
    Ok(done())
}

pub(crate) async fn deny_request(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, request_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ManageProjectMembers>()?;
    tally_iam::admin::members::decide_access_request(state.ctx(&actor), &permit, AccessRequestId(request_id), None)
        .await?;
    Ok(done())
}

/// What an event or event property is merged into (`null` or empty: itself again).
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MergedBody {
    into: Option<String>,
}

async fn merge_entry(
    state: &AppState,
    scope: &tally_iam::authz::ProjectScope,
    caller: &crate::access::Caller,
    kind: &str,
    name: &str,
    body: MergedBody,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::MergeDropData>()?;
    let entry =
        tally_iam::lexicon::set_merged(state.ctx(&caller.actor()), &permit, kind, name, body.into.as_deref()).await?;
    Ok(ok(EditView::of(&entry)))
}

/// `PUT .../lexicon/events/{event_name}/merged`: the project's Owner merges an event into
/// another in every query (the raw data and the export keep it as sent).
pub(crate) async fn merge_event(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, name)): Ids<(i64, String)>,
    JsonBody(body): JsonBody<MergedBody>,
) -> Result<Response, ApiError> {
    merge_entry(&state, &scope, &caller, "event", &name, body).await
}

/// `PUT .../lexicon/properties/{property_name}/merged`: the same for an event property.
pub(crate) async fn merge_property(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, name)): Ids<(i64, String)>,
    JsonBody(body): JsonBody<MergedBody>,
) -> Result<Response, ApiError> {
    merge_entry(&state, &scope, &caller, "property", &name, body).await
}

/// How many rows an import applied.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ImportedView {
    imported: usize,
}

/// `POST .../lexicon/import[?replace=true]` with a CSV (the export's columns; `kind` and
/// `name` required, `display_name`, `description`, `tags`, `hidden`, `owners` read, lists
/// separated by `;`): each row overwrites its entry's edits; `replace` clears the others.
pub(crate) async fn import_lexicon(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    QueryParams(params): QueryParams<std::collections::HashMap<String, String>>,
    body: String,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::EditLexicon>()?;
    let replace = params.get("replace").is_some_and(|value| value == "true" || value == "1");
    let rows = import_rows(&body)?;
    let imported = tally_iam::lexicon::import_csv(state.ctx(&caller.actor()), &permit, &rows, replace).await?;
    Ok(ok(ImportedView { imported }))
}

/// The rows of a Lexicon CSV, one per (kind, name) (the last wins: the export repeats a
/// property under each of its events).
fn import_rows(text: &str) -> Result<Vec<tally_iam::lexicon::ImportRow>, ApiError> {
    let bad = |message: String| ApiError::invalid("invalid_csv", message);
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    let header = reader.headers().map_err(|error| bad(format!("the header: {error}")))?.clone();
    let column = |name: &str| header.iter().position(|found| found.trim() == name);
    let (Some(kind), Some(name)) = (column("kind"), column("name")) else {
        return Err(bad("the header needs kind and name columns (as the Lexicon export has)".into()));
    };
    let optional = ["display_name", "description", "tags", "hidden", "owners"].map(column);
    let mut rows: Vec<tally_iam::lexicon::ImportRow> = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|error| bad(format!("line {}: {error}", index + 2)))?;
        let field = |at: Option<usize>| at.and_then(|at| record.get(at)).unwrap_or_default().to_string();
        let list = |at: Option<usize>| -> Vec<String> {
            field(at).split(';').map(str::trim).filter(|item| !item.is_empty()).map(str::to_string).collect()
        };
        let hidden = match field(optional[3]).trim() {
            "" | "false" | "0" => false,
            "true" | "1" => true,
            other => return Err(bad(format!("line {}: hidden is true or false, not {other:?}", index + 2))),
        };
        let row = tally_iam::lexicon::ImportRow {
            kind: field(Some(kind)).trim().to_string(),
            name: field(Some(name)),
            display_name: field(optional[0]),
            description: field(optional[1]),
            tags: list(optional[2]),
            hidden,
            owners: list(optional[4]),
        };
        rows.retain(|kept| !(kept.kind == row.kind && kept.name == row.name));
        rows.push(row);
    }
    Ok(rows)
}

/// One Lexicon Schemas API entry: an event's or profile's schema.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SchemaEntry {
    /// `event` or `profile`.
    #[serde(rename = "entityType")]
    entity_type: String,
    name: String,
    /// JSON Schema with Mixpanel's `metadata.com.mixpanel` (displayName, tags, hidden,
    /// dropped, contacts) on the entity and its properties.
    #[serde(rename = "schemaJson")]
    #[schema(value_type = Object)]
    schema_json: serde_json::Value,
}

/// `POST .../schemas`: entries to save, and whether to delete the entity types' others.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SchemasBody {
    entries: Vec<SchemaEntry>,
    #[serde(default)]
    truncate: bool,
}

/// What a schema change did.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SchemasChangedView {
    added: u64,
    deleted: u64,
}

fn schema_entry(schema: &tally_iam::records::LexiconSchema) -> SchemaEntry {
    SchemaEntry {
        entity_type: schema.entity_type.clone(),
        name: schema.name.clone(),
        schema_json: serde_json::from_str(&schema.schema_json).unwrap_or(serde_json::Value::Null),
    }
}

async fn list_schemas(
    state: &AppState,
    scope: &tally_iam::authz::ProjectScope,
    caller: &crate::access::Caller,
    entity_type: Option<&str>,
    name: Option<&str>,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::ViewReports>()?;
    let found = tally_iam::lexicon::schemas(state.ctx(&caller.actor()), &permit, entity_type, name).await?;
    Ok(ok(found.iter().map(schema_entry).collect::<Vec<_>>()))
}

async fn save_schemas(
    state: &AppState,
    scope: &tally_iam::authz::ProjectScope,
    caller: &crate::access::Caller,
    entries: Vec<SchemaEntry>,
    truncate: bool,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::EditLexicon>()?;
    let may_drop = scope.allows(tally_types::ProjectPermission::MergeDropData);
    let inputs: Vec<tally_iam::lexicon::SchemaInput> = entries
        .into_iter()
        .map(|entry| tally_iam::lexicon::SchemaInput {
            entity_type: entry.entity_type,
            name: entry.name,
            schema_json: entry.schema_json,
        })
        .collect();
    let (added, deleted) =
        tally_iam::lexicon::save_schemas(state.ctx(&caller.actor()), &permit, &inputs, truncate, may_drop).await?;
    if may_drop {
        state.forget_dropped_events(permit.project_id().0);
    }
    Ok(ok(SchemasChangedView { added, deleted }))
}

async fn remove_schemas(
    state: &AppState,
    scope: &tally_iam::authz::ProjectScope,
    caller: &crate::access::Caller,
    entity_type: Option<&str>,
    name: Option<&str>,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::EditLexicon>()?;
    let deleted = tally_iam::lexicon::delete_schemas(state.ctx(&caller.actor()), &permit, entity_type, name).await?;
    Ok(ok(SchemasChangedView { added: 0, deleted }))
}

/// `GET .../schemas`: every schema.
pub(crate) async fn schemas(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    list_schemas(&state, &scope, &caller, None, None).await
}

/// `POST .../schemas`: saves schemas (and their Lexicon metadata).
pub(crate) async fn create_schemas(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    JsonBody(body): JsonBody<SchemasBody>,
) -> Result<Response, ApiError> {
    save_schemas(&state, &scope, &caller, body.entries, body.truncate).await
}

/// `DELETE .../schemas`: every schema.
pub(crate) async fn delete_all_schemas(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    remove_schemas(&state, &scope, &caller, None, None).await
}

/// `GET .../schemas/{entity_type}[?entity_name=]`.
pub(crate) async fn schemas_of_type(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, entity_type)): Ids<(i64, String)>,
    QueryParams(params): QueryParams<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let name = params.get("entity_name").map(String::as_str).filter(|name| !name.is_empty());
    list_schemas(&state, &scope, &caller, Some(&entity_type), name).await
}

/// `DELETE .../schemas/{entity_type}[?entity_name=]`.
pub(crate) async fn delete_schemas_of_type(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, entity_type)): Ids<(i64, String)>,
    QueryParams(params): QueryParams<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let name = params.get("entity_name").map(String::as_str).filter(|name| !name.is_empty());
    remove_schemas(&state, &scope, &caller, Some(&entity_type), name).await
}

/// `GET .../schemas/{entity_type}/{entity_name}`: one schema (404 when there is none).
pub(crate) async fn schema(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, entity_type, name)): Ids<(i64, String, String)>,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::ViewReports>()?;
    let found =
        tally_iam::lexicon::schemas(state.ctx(&caller.actor()), &permit, Some(&entity_type), Some(&name)).await?;
    let schema = found.first().ok_or_else(ApiError::not_found)?;
    Ok(ok(schema_entry(schema)))
}

/// `POST .../schemas/{entity_type}/{entity_name}` with the schema as the body.
pub(crate) async fn put_schema(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, entity_type, name)): Ids<(i64, String, String)>,
    JsonBody(schema_json): JsonBody<serde_json::Value>,
) -> Result<Response, ApiError> {
    save_schemas(&state, &scope, &caller, vec![SchemaEntry { entity_type, name, schema_json }], false).await
}

/// `DELETE .../schemas/{entity_type}/{entity_name}`.
pub(crate) async fn delete_schema(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, entity_type, name)): Ids<(i64, String, String)>,
) -> Result<Response, ApiError> {
    remove_schemas(&state, &scope, &caller, Some(&entity_type), Some(&name)).await
}
