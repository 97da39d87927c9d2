//! Data views (filtered views of a project, with their members) and classified
//! properties: the routes over `tally_iam::views`. Every read route takes the view it asks
//! for as `?workspace_id=` ([`crate::extract::ViewChoice`]).

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tally_iam::records::DataView;
use tally_iam::views::{self, DataViewInput};
use tally_query::views::DataViewFilters;
use tally_types::permissions::project;

use super::{created, done, ok};
use crate::access::ProjectAccess;
use crate::extract::{Ids, JsonBody};
use crate::{ApiError, AppState};

/// A data view: its filters, whether it is the project's default, and (for those who
/// manage views) its members. Id 0 is "All Project Data".
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DataViewView {
    id: i64,
    name: String,
    description: String,
    filters: DataViewFilters,
    is_default: bool,
    /// Its members: users and teams (listed to those who manage views).
    members: Vec<DataViewMemberView>,
}

/// A member of a data view: `user` or `team`, and its id.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DataViewMemberView {
    kind: String,
    id: i64,
}

fn view_of(view: &DataView, members: Vec<DataViewMemberView>) -> DataViewView {
    let filters = serde_json::from_str::<serde_json::Value>(&view.filters)
        .ok()
        .and_then(|value| serde_json::from_value(value).ok())
        .unwrap_or_default();
    DataViewView {
        id: view.id,
        name: view.name.clone(),
        description: view.description.clone(),
        filters,
        is_default: view.is_default,
        members,
    }
}

/// `GET .../data-views`: the views the caller may open (All Project Data first when open).
pub(crate) async fn list(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::ViewReports>()?;
    let listed = views::list_data_views(state.ctx(&caller.actor()), &permit).await?;
    Ok(ok(listed
        .iter()
        .map(|listed| {
            let members = listed
                .members
                .iter()
                .map(|member| DataViewMemberView { kind: member.kind.clone(), id: member.id })
                .collect();
            view_of(&listed.view, members)
        })
        .collect::<Vec<_>>()))
}

/// A new data view, or a change to one (what is absent stays).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DataViewBody {
    /// 1 to 255 characters.
    name: Option<String>,
    description: Option<String>,
    filters: Option<DataViewFilters>,
    /// What project members without another view open.
    is_default: Option<bool>,
}

fn input_of(body: &DataViewBody) -> Result<DataViewInput, ApiError> {
    let filters = match &body.filters {
        Some(filters) => {
            let value = serde_json::to_value(filters)
                .map_err(|error| ApiError::invalid("invalid_filters", error.to_string()))?;
            DataViewFilters::checked(&value).map_err(super::query::query_error)?;
            Some(value)
        }
        None => None,
    };
    Ok(DataViewInput {
        name: body.name.clone(),
        description: body.description.clone(),
        filters,
        is_default: body.is_default,
    })
}

pub(crate) async fn create(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    JsonBody(body): JsonBody<DataViewBody>,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::EditProjectSettings>()?;
    let view = views::create_data_view(state.ctx(&caller.actor()), &permit, &input_of(&body)?).await?;
    Ok(created(view_of(&view, Vec::new())))
}

pub(crate) async fn update(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, view_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<DataViewBody>,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::EditProjectSettings>()?;
    let view = views::update_data_view(state.ctx(&caller.actor()), &permit, view_id, &input_of(&body)?).await?;
    Ok(ok(view_of(&view, Vec::new())))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, view_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::EditProjectSettings>()?;
    views::delete_data_view(state.ctx(&caller.actor()), &permit, view_id).await?;
    Ok(done())
}

/// The members of a view (replacing those it had).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DataViewMembersBody {
    members: Vec<DataViewMemberView>,
}

/// `PUT .../data-views/{view_id}/members` (0: All Project Data).
pub(crate) async fn set_members(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, view_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<DataViewMembersBody>,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::EditProjectSettings>()?;
    let members: Vec<(String, i64)> = body.members.iter().map(|member| (member.kind.clone(), member.id)).collect();
    let set = views::set_data_view_members(state.ctx(&caller.actor()), &permit, view_id, &members).await?;
    Ok(ok(set.iter().map(|member| DataViewMemberView { kind: member.kind.clone(), id: member.id }).collect::<Vec<_>>()))
}

/// Whether a property is classified.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClassifiedBody {
    classified: bool,
}

/// `PUT .../lexicon/properties/{property_name}/classified`: marks a property classified (its
/// values hidden from everyone without `access_classified_data`) or not.
pub(crate) async fn set_classified(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, name)): Ids<(i64, String)>,
    JsonBody(body): JsonBody<ClassifiedBody>,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::MarkClassifiedData>()?;
    let entry = views::set_property_classified(state.ctx(&caller.actor()), &permit, &name, body.classified).await?;
    Ok(ok(super::projects::EditView::of(&entry)))
}
