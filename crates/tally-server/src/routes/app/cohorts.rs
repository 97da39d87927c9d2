//! Saved cohorts: definitions computed when a query runs, private to their creator unless
//! shared; their members (with profiles), a CSV export of them (not for Consumers), and
//! the saved cohorts a report may name (`/query` filters and segments by them).

use std::collections::HashMap;

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tally_iam::reports::{self, CohortInput};
use tally_query::model::CohortCondition;
use tally_types::permissions::project;

use super::{created, done, ok};
use crate::access::{Caller, ProjectAccess};
use crate::extract::{Ids, JsonBody, QueryParams, ViewChoice};
use crate::{ApiError, AppState};

/// A saved cohort.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CohortView {
    id: i64,
    name: String,
    description: String,
    #[schema(value_type = CohortCondition)]
    definition: Value,
    /// Shared with the project (else its creator's alone).
    shared: bool,
    created_by: Option<i64>,
    created_at: String,
    modified_at: String,
}

fn cohort_view(cohort: &tally_iam::records::Cohort) -> CohortView {
    CohortView {
        id: cohort.id,
        name: cohort.name.clone(),
        description: cohort.description.clone(),
        definition: serde_json::from_str(&cohort.definition).unwrap_or(Value::Null),
        shared: cohort.shared,
        created_by: cohort.created_by.map(|id| id.0),
        created_at: cohort.created_at.to_string(),
        modified_at: cohort.modified_at.to_string(),
    }
}

/// Saved cohorts by id for the query engine (one whose definition no longer reads is left
/// out: a report naming it is refused as naming no cohort).
pub(crate) fn saved_cohorts(cohorts: &[tally_iam::records::Cohort]) -> tally_query::SavedCohorts {
    cohorts
        .iter()
        .filter_map(|cohort| serde_json::from_str(&cohort.definition).ok().map(|definition| (cohort.id, definition)))
        .collect()
}

/// The cohorts the caller may use, by id, for the query engine.
pub(crate) async fn usable(
    state: &AppState,
    scope: &tally_iam::authz::ProjectScope,
    caller: &Caller,
) -> Result<tally_query::SavedCohorts, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewReports>()?;
    Ok(saved_cohorts(&reports::cohorts(state.ctx(&actor), &permit).await?))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewReports>()?;
    let cohorts = reports::cohorts(state.ctx(&actor), &permit).await?;
    Ok(ok(cohorts.iter().map(cohort_view).collect::<Vec<_>>()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CohortBody {
    name: String,
    #[serde(default)]
    description: String,
    definition: CohortCondition,
    /// Share with everyone in the project (needs the right to share).
    #[serde(default)]
    shared: bool,
}

fn input_of(body: &CohortBody) -> Result<CohortInput, ApiError> {
    let definition = serde_json::to_string(&body.definition)
        .map_err(|_| ApiError::invalid("invalid_input", "the cohort's definition cannot be saved as given"))?;
    Ok(CohortInput { name: body.name.clone(), description: body.description.clone(), definition, shared: body.shared })
}

pub(crate) async fn create(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    JsonBody(body): JsonBody<CohortBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::EditCohorts>()?;
    let cohort = reports::create_cohort(state.ctx(&actor), &permit, &input_of(&body)?).await?;
    Ok(created(cohort_view(&cohort)))
}

pub(crate) async fn get(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, cohort_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewReports>()?;
    let cohort = reports::cohort(state.ctx(&actor), &permit, cohort_id).await?;
    Ok(ok(cohort_view(&cohort)))
}

pub(crate) async fn update(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, cohort_id)): Ids<(i64, i64)>,
    JsonBody(body): JsonBody<CohortBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::EditCohorts>()?;
    let cohort = reports::update_cohort(state.ctx(&actor), &permit, cohort_id, &input_of(&body)?).await?;
    Ok(ok(cohort_view(&cohort)))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, cohort_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::EditCohorts>()?;
    reports::delete_cohort(state.ctx(&actor), &permit, cohort_id).await?;
    Ok(done())
}

/// How many users a cohort holds, and one page of them with their profiles.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CohortUsersView {
    count: usize,
    page: usize,
    page_size: usize,
    users: Vec<CohortUserView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct CohortUserView {
    distinct_id: String,
    /// The user's profile properties (empty without a profile).
    #[schema(value_type = Object)]
    properties: serde_json::Map<String, Value>,
}

/// A cohort definition to count before saving it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CohortPreviewBody {
    definition: CohortCondition,
}

/// The users `definition` holds now (it may name the cohorts of `saved`), and the profile
/// properties of each user by canonical id.
async fn members(
    state: &AppState,
    scope: &tally_iam::authz::ProjectScope,
    view: &ViewChoice,
    definition: &CohortCondition,
    saved: &tally_query::SavedCohorts,
) -> Result<(Vec<String>, HashMap<String, serde_json::Map<String, Value>>), ApiError> {
    let data = state.data_scope(&scope.require::<project::ViewUsers>()?, view).await?;
    let engine = state.query_engine_of(&data)?;
    let members = engine.cohort_members(&data, definition, saved).await.map_err(super::query::query_error)?;
    let store = state.events_of(&data)?;
    let events = store.project_events(&data, 0, 0).await.map_err(AppState::storage_unavailable)?;
    let mut profiles = HashMap::new();
    for (id, profile) in store.profiles_of(&data, None).await.map_err(AppState::storage_unavailable)? {
        profiles.entry(events.canonical(&id)).or_insert_with(|| crate::routes::ingest::profile_properties(&profile));
    }
    Ok((members, profiles))
}

/// `POST .../cohorts/preview`: how many users an unsaved definition holds now.
pub(crate) async fn preview(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    view: ViewChoice,
    JsonBody(body): JsonBody<CohortPreviewBody>,
) -> Result<Response, ApiError> {
    let saved = usable(&state, &scope, &caller).await?;
    let (members, _) = members(&state, &scope, &view, &body.definition, &saved).await?;
    Ok(ok(CohortUsersView { count: members.len(), page: 0, page_size: 0, users: Vec::new() }))
}

/// A cohort the caller may see, read as a definition, with every cohort the caller may use
/// (read once for both).
async fn definition_of(
    state: &AppState,
    scope: &tally_iam::authz::ProjectScope,
    caller: &Caller,
    cohort_id: i64,
) -> Result<(CohortCondition, tally_query::SavedCohorts), ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewReports>()?;
    let cohorts = reports::cohorts(state.ctx(&actor), &permit).await?;
    let cohort = cohorts.iter().find(|cohort| cohort.id == cohort_id).ok_or(tally_iam::IamError::NotFound("cohort"))?;
    let definition = serde_json::from_str(&cohort.definition).map_err(|_| {
        ApiError::new(
            tally_types::ErrorKind::Conflict,
            "cohort_unreadable",
            "this cohort's definition no longer reads; save it again",
        )
    })?;
    Ok((definition, saved_cohorts(&cohorts)))
}

/// `GET .../cohorts/{id}/users?page=&page_size=`: the cohort's members now, sorted by id.
pub(crate) async fn users(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    view: ViewChoice,
    Ids((_, cohort_id)): Ids<(i64, i64)>,
    QueryParams(params): QueryParams<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (definition, saved) = definition_of(&state, &scope, &caller, cohort_id).await?;
    let number = |name: &str, default: usize| -> Result<usize, ApiError> {
        match params.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| ApiError::invalid("invalid_parameter", format!("{name} must be a whole number"))),
        }
    };
    let page = number("page", 0)?;
    let page_size = number("page_size", 100)?.clamp(1, 1000);
    let (members, mut profiles) = members(&state, &scope, &view, &definition, &saved).await?;
    let users = members
        .iter()
        .skip(page.saturating_mul(page_size))
        .take(page_size)
        .map(|id| CohortUserView { distinct_id: id.clone(), properties: profiles.remove(id).unwrap_or_default() })
        .collect();
    Ok(ok(CohortUsersView { count: members.len(), page, page_size, users }))
}

/// `GET .../cohorts/{id}/export`: the members as CSV (`distinct_id`, `$email`, `$name`).
pub(crate) async fn export(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    view: ViewChoice,
    Ids((_, cohort_id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    scope.require::<project::ExportCohorts>()?;
    let (definition, saved) = definition_of(&state, &scope, &caller, cohort_id).await?;
    let (members, profiles) = members(&state, &scope, &view, &definition, &saved).await?;
    let text = |value: Option<&Value>| match value {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let header = ["distinct_id", "$email", "$name"].map(String::from);
    let rows = members.iter().map(|id| {
        let profile = profiles.get(id);
        [id.clone(), text(profile.and_then(|p| p.get("$email"))), text(profile.and_then(|p| p.get("$name")))]
    });
    super::csv_download(std::iter::once(header).chain(rows), &format!("cohort-{cohort_id}.csv"))
}

/// The distinct ids of a CSV upload: the first column of each row, blank rows skipped, a
/// first row of `distinct_id` (or `$distinct_id`) taken as the header, repeats once.
fn ids_of_csv(body: &str) -> Result<Vec<String>, ApiError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(body.as_bytes());
    let mut ids = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|error| {
            ApiError::invalid("invalid_csv", format!("line {} of the CSV cannot be read: {error}", index + 1))
        })?;
        let Some(id) = record.get(0).map(str::trim).filter(|id| !id.is_empty()) else { continue };
        if index == 0 && matches!(id.to_lowercase().as_str(), "distinct_id" | "$distinct_id") {
            continue;
        }
        if seen.insert(id.to_string()) {
            ids.push(id.to_string());
        }
        if ids.len() > 1_000_000 {
            return Err(ApiError::invalid("invalid_csv", "a cohort lists at most 1,000,000 distinct ids"));
        }
    }
    if ids.is_empty() {
        return Err(ApiError::invalid(
            "invalid_csv",
            "the CSV holds no distinct id: one per line, in the first column",
        ));
    }
    Ok(ids)
}

/// `POST .../cohorts/csv?name=&shared=`: a cohort of the distinct ids in a CSV body (named
/// "Uploaded users" without a name).
pub(crate) async fn upload_csv(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    QueryParams(params): QueryParams<HashMap<String, String>>,
    body: String,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::EditCohorts>()?;
    let name =
        params.get("name").filter(|name| !name.trim().is_empty()).cloned().unwrap_or_else(|| "Uploaded users".into());
    let shared = params.get("shared").is_some_and(|value| value == "true" || value == "1");
    let distinct_ids = ids_of_csv(&body)?;
    let definition = serde_json::to_string(&CohortCondition::Users { distinct_ids })
        .map_err(|_| ApiError::invalid("invalid_csv", "the cohort cannot be saved as given"))?;
    let input = CohortInput { name, description: String::new(), definition, shared };
    let cohort = reports::create_cohort(state.ctx(&actor), &permit, &input).await?;
    Ok(created(cohort_view(&cohort)))
}

#[cfg(test)]
mod tests {
    use super::ids_of_csv;

    #[test]
    fn a_csv_gives_its_first_column_once_each_without_the_header() {
        let ids = ids_of_csv("distinct_id,email\nu1,a@x\n\nu2\nu1,again\n\"u,3\"\n").unwrap();
        assert_eq!(ids, ["u1", "u2", "u,3"]);
        assert!(ids_of_csv("distinct_id\n").is_err(), "no id at all");
        assert!(ids_of_csv("").is_err());
    }
}
