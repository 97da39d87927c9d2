//! A person's data on request (GDPR and CCPA, Mixpanel's v3 API shapes): those who may
//! handle such requests (`manage_privacy_requests`: project Owners and Admins) ask for a
//! retrieval or a deletion; a job runner inside `tally serve` does it, and a job cut short
//! by a stop runs again on the next start (the work is safe to repeat).

use serde_json::json;
use tally_store::{AuditActor, AuditEntry, PrivacyRequest, Project};
use tally_types::Clock;
use tally_types::permissions::project;

use crate::IamError;
use crate::admin::{Ctx, WithChange};
use crate::authz::{DataScope, ProjectPermit, Visibility};

/// At most this many distinct ids in one request.
pub const MAX_IDS: usize = 2000;

/// What a request asks for.
#[derive(Debug, Clone, Default)]
pub struct PrivacyInput {
    pub distinct_ids: Vec<String>,
    /// `GDPR` (the default) or `CCPA`.
    pub compliance_type: Option<String>,
    /// Retrievals: `Data` (the default), `Categories` or `Sources`.
    pub disclosure_type: Option<String>,
}

fn checked(kind: &str, input: &PrivacyInput) -> Result<(String, String, Vec<String>), IamError> {
    if input.distinct_ids.is_empty() || input.distinct_ids.len() > MAX_IDS {
        return Err(IamError::invalid("distinct_ids", format!("name 1 to {MAX_IDS} distinct ids")));
    }
    if input.distinct_ids.iter().any(|id| id.trim().is_empty() || id.chars().count() > 255) {
        return Err(IamError::invalid("distinct_ids", "a distinct id is 1 to 255 characters"));
    }
    let compliance = input.compliance_type.clone().unwrap_or_else(|| "GDPR".to_string());
    if !matches!(compliance.as_str(), "GDPR" | "CCPA") {
        return Err(IamError::invalid("compliance_type", "is GDPR or CCPA"));
    }
    let disclosure = input.disclosure_type.clone().unwrap_or_else(|| "Data".to_string());
    if kind == "retrieval" && !matches!(disclosure.as_str(), "Data" | "Categories" | "Sources") {
        return Err(IamError::invalid("disclosure_type", "is Data, Categories or Sources"));
    }
    let mut ids = input.distinct_ids.clone();
    ids.sort();
    ids.dedup();
    Ok((compliance, disclosure, ids))
}

/// Asks for a retrieval or a deletion (`kind`); the job runs soon after.
pub async fn request(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ManagePrivacyRequests>,
    kind: &str,
    input: &PrivacyInput,
) -> Result<PrivacyRequest, IamError> {
    if !matches!(kind, "retrieval" | "deletion") {
        return Err(IamError::NotFound("privacy request"));
    }
    let (compliance_type, disclosure_type, distinct_ids) = checked(kind, input)?;
    let request = PrivacyRequest {
        tracking_id: tally_types::token::random_alphanumeric(24),
        project_id: permit.project_id(),
        kind: kind.to_string(),
        compliance_type,
        disclosure_type,
        distinct_ids,
        status: "PENDING".to_string(),
        requesting_user: ctx.actor.label.clone(),
        created_at: ctx.now(),
        finished_at: None,
        result: String::new(),
    };
    let audit = ctx
        .audit(
            permit.org_id(),
            Some(permit.project_id()),
            &format!("privacy.{kind}_requested"),
            "privacy_request",
            &request.tracking_id,
        )
        .with(
            None,
            Some(json!({ "compliance_type": request.compliance_type, "distinct_ids": request.distinct_ids.len() })),
        );
    ctx.store.create_privacy_request(&request, &audit).await?;
    Ok(request)
}

/// One request of the project, by its tracking id.
pub async fn get(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ManagePrivacyRequests>,
    kind: &str,
    tracking_id: &str,
) -> Result<PrivacyRequest, IamError> {
    ctx.store
        .privacy_request(permit.project_id(), kind, tracking_id)
        .await?
        .ok_or(IamError::NotFound("privacy request"))
}

/// The project's requests, newest first.
pub async fn list(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ManagePrivacyRequests>,
) -> Result<Vec<PrivacyRequest>, IamError> {
    Ok(ctx.store.privacy_requests(permit.project_id()).await?)
}

/// Cancels a request that has not started (then `REVOKED`); one that has cannot be.
pub async fn cancel(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ManagePrivacyRequests>,
    kind: &str,
    tracking_id: &str,
) -> Result<(), IamError> {
    get(ctx, permit, kind, tracking_id).await?;
    let audit = ctx.audit(
        permit.org_id(),
        Some(permit.project_id()),
        &format!("privacy.{kind}_cancelled"),
        "privacy_request",
        tracking_id,
    );
    let moved =
        ctx.store.move_privacy_request(tracking_id, &["PENDING"], "REVOKED", "", Some(ctx.now()), Some(&audit)).await?;
    if !moved {
        return Err(IamError::Conflict("this request has started (or ended) and can no longer be cancelled".into()));
    }
    Ok(())
}

/// A request the runner does, with the scope to do it in.
#[derive(Debug, Clone)]
pub struct PrivacyJob {
    pub request: PrivacyRequest,
    /// The whole project, nothing hidden: a person's request discloses (or deletes)
    /// everything held about them, whatever a data view or classification hides.
    pub scope: DataScope<project::ManagePrivacyRequests>,
    org_id: tally_types::OrgId,
}

/// The requests waiting or cut short, with their scopes: the escape hatch of the job
/// runner, which acts without a caller. Its authority is the requester's, checked when the
/// request was made (`request` takes the permit).
pub async fn jobs_authorized_when_requested(store: &impl crate::Metadata) -> Result<Vec<PrivacyJob>, IamError> {
    let store = crate::directory::raw(store);
    let mut jobs = Vec::new();
    for request in store.unfinished_privacy_requests().await? {
        let Some(project) = store.project(request.project_id).await? else { continue };
        jobs.push(job(project, request));
    }
    Ok(jobs)
}

fn job(project: Project, request: PrivacyRequest) -> PrivacyJob {
    PrivacyJob { org_id: project.org_id, scope: DataScope::new(project, Visibility::default()), request }
}

impl PrivacyJob {
    /// Marks the job started; `false` when it is no longer to be done (cancelled, or done).
    pub async fn start(&self, store: &impl crate::Metadata) -> Result<bool, IamError> {
        let store = crate::directory::raw(store);
        Ok(store
            .move_privacy_request(&self.request.tracking_id, &["PENDING", "STARTED"], "STARTED", "", None, None)
            .await?)
    }

    /// Records the job's end (`SUCCESS` with its result, or `FAILURE` with what failed), with
    /// an audit entry.
    pub async fn finish(
        &self,
        store: &impl crate::Metadata,
        clock: &dyn Clock,
        succeeded: bool,
        result: &str,
        details: serde_json::Value,
    ) -> Result<(), IamError> {
        let store = crate::directory::raw(store);
        let status = if succeeded { "SUCCESS" } else { "FAILURE" };
        let audit = AuditEntry {
            org_id: self.org_id,
            project_id: Some(self.request.project_id),
            at: clock.now(),
            actor: AuditActor { kind: "system", id: None, label: "privacy request runner".to_string() },
            ip: None,
            event_type: format!("privacy.{}_{}", self.request.kind, if succeeded { "completed" } else { "failed" }),
            target_kind: "privacy_request",
            target_id: self.request.tracking_id.clone(),
            before: None,
            after: Some(details),
        };
        store
            .move_privacy_request(
                &self.request.tracking_id,
                &["STARTED"],
                status,
                result,
                Some(clock.now()),
                Some(&audit),
            )
            .await?;
        Ok(())
    }
}
