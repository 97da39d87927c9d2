//! GDPR and CCPA requests in Mixpanel's v3 shapes, for a project: retrievals (a download
//! of everything stored of some users) and deletions (their events and profiles, from
//! every file), run by [`crate::privacy`]. For those who may handle them
//! (`manage_privacy_requests`).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tally_iam::privacy::{self, PrivacyInput};
use tally_iam::records::PrivacyRequest;
use tally_types::permissions::project;

use super::{created, done, ok};
use crate::access::ProjectAccess;
use crate::extract::{Ids, JsonBody};
use crate::{ApiError, AppState};

/// A retrieval or deletion request.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrivacyRequestBody {
    /// 1 to 2000 distinct ids; every id merged with each is included.
    distinct_ids: Vec<String>,
    /// `GDPR` (the default) or `CCPA` (a retrieval then covers the last twelve months).
    compliance_type: Option<String>,
    /// Retrievals: `Data` (the default: events and profiles), `Categories` (the kinds of
    /// data held) or `Sources` (where it came from).
    disclosure_type: Option<String>,
}

/// The answer to a new request: its tracking id.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PrivacyTaskView {
    task_id: String,
}

/// A request and where it stands.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PrivacyRequestView {
    tracking_id: String,
    /// `retrieval` or `deletion`.
    kind: String,
    /// `PENDING`, `STARTED`, `SUCCESS`, `FAILURE` or `REVOKED`.
    status: String,
    requesting_user: String,
    compliance_type: String,
    disclosure_type: String,
    project_id: i64,
    date_requested: String,
    date_finished: Option<String>,
    distinct_ids: Vec<String>,
    /// A finished retrieval's download address; what failed, for a failure; else empty.
    result: String,
}

fn view_of(request: &PrivacyRequest) -> PrivacyRequestView {
    PrivacyRequestView {
        tracking_id: request.tracking_id.clone(),
        kind: request.kind.clone(),
        status: request.status.clone(),
        requesting_user: request.requesting_user.clone(),
        compliance_type: request.compliance_type.clone(),
        disclosure_type: request.disclosure_type.clone(),
        project_id: request.project_id.0,
        date_requested: request.created_at.to_string(),
        date_finished: request.finished_at.map(|at| at.to_string()),
        distinct_ids: request.distinct_ids.clone(),
        result: request.result.clone(),
    }
}

async fn make(
    state: &AppState,
    access: ProjectAccess,
    kind: &str,
    body: PrivacyRequestBody,
) -> Result<Response, ApiError> {
    let ProjectAccess(scope, caller) = access;
    let permit = scope.require::<project::ManagePrivacyRequests>()?;
    let input = PrivacyInput {
        distinct_ids: body.distinct_ids,
        compliance_type: body.compliance_type,
        disclosure_type: body.disclosure_type,
    };
    let request = privacy::request(state.ctx(&caller.actor()), &permit, kind, &input).await?;
    Ok(created(PrivacyTaskView { task_id: request.tracking_id }))
}

async fn show(state: &AppState, access: ProjectAccess, kind: &str, tracking_id: &str) -> Result<Response, ApiError> {
    let ProjectAccess(scope, caller) = access;
    let permit = scope.require::<project::ManagePrivacyRequests>()?;
    let request = privacy::get(state.ctx(&caller.actor()), &permit, kind, tracking_id).await?;
    Ok(ok(view_of(&request)))
}

/// `POST .../data-deletions`.
pub(crate) async fn create_deletion(
    State(state): State<AppState>,
    access: ProjectAccess,
    JsonBody(body): JsonBody<PrivacyRequestBody>,
) -> Result<Response, ApiError> {
    make(&state, access, "deletion", body).await
}

/// `POST .../data-retrievals`.
pub(crate) async fn create_retrieval(
    State(state): State<AppState>,
    access: ProjectAccess,
    JsonBody(body): JsonBody<PrivacyRequestBody>,
) -> Result<Response, ApiError> {
    make(&state, access, "retrieval", body).await
}

pub(crate) async fn deletion(
    State(state): State<AppState>,
    access: ProjectAccess,
    Ids((_, tracking_id)): Ids<(i64, String)>,
) -> Result<Response, ApiError> {
    show(&state, access, "deletion", &tracking_id).await
}

pub(crate) async fn retrieval(
    State(state): State<AppState>,
    access: ProjectAccess,
    Ids((_, tracking_id)): Ids<(i64, String)>,
) -> Result<Response, ApiError> {
    show(&state, access, "retrieval", &tracking_id).await
}

/// `DELETE .../data-deletions/{tracking_id}`: cancels a deletion that has not started.
pub(crate) async fn cancel_deletion(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, tracking_id)): Ids<(i64, String)>,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::ManagePrivacyRequests>()?;
    privacy::cancel(state.ctx(&caller.actor()), &permit, "deletion", &tracking_id).await?;
    Ok(done())
}

/// `GET .../privacy-requests`: the project's requests, newest first.
pub(crate) async fn list(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::ManagePrivacyRequests>()?;
    let requests = privacy::list(state.ctx(&caller.actor()), &permit).await?;
    Ok(ok(requests.iter().map(view_of).collect::<Vec<_>>()))
}

/// `GET .../data-retrievals/{tracking_id}/download`: a finished retrieval's document.
pub(crate) async fn download(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    Ids((_, tracking_id)): Ids<(i64, String)>,
) -> Result<Response, ApiError> {
    let permit = scope.require::<project::ManagePrivacyRequests>()?;
    let request = privacy::get(state.ctx(&caller.actor()), &permit, "retrieval", &tracking_id).await?;
    if request.status != "SUCCESS" {
        return Err(ApiError::new(
            tally_types::ErrorKind::Conflict,
            "not_ready",
            format!("the retrieval is {}; download it once it is SUCCESS", request.status),
        ));
    }
    let bytes = tokio::fs::read(crate::privacy::retrieval_path(&state, &tracking_id)).await.map_err(|error| {
        ApiError::new(
            tally_types::ErrorKind::Unavailable,
            "storage_unavailable",
            format!("the retrieval's file: {error}"),
        )
    })?;
    let disposition = format!("attachment; filename=\"retrieval-{tracking_id}.json\"");
    Ok(([(header::CONTENT_TYPE, "application/json".to_string()), (header::CONTENT_DISPOSITION, disposition)], bytes)
        .into_response())
}
