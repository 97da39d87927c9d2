//! Reading and exporting the audit log, at organization or project scope.

use tally_store::{AuditFilter, AuditRecord};

use super::Ctx;
use crate::IamError;
use crate::authz::{OrgPermit, ProjectPermit};
use tally_types::permissions::{org, project};

/// The most rows one read returns.
pub const MAX_ROWS: i64 = 10_000;

/// Every row of the organization (its projects included).
pub async fn org_log(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, org::ViewAuditLog>,
    filter: &AuditFilter,
) -> Result<Vec<AuditRecord>, IamError> {
    let filter = AuditFilter { project_id: None, limit: filter.limit.clamp(1, MAX_ROWS), ..filter.clone() };
    Ok(ctx.store.audit_log(permit.org_id(), &filter).await?)
}

/// The rows of one project.
pub async fn project_log(
    ctx: Ctx<'_>,
    permit: &ProjectPermit<'_, project::ViewProjectAuditLog>,
    filter: &AuditFilter,
) -> Result<Vec<AuditRecord>, IamError> {
    let filter =
        AuditFilter { project_id: Some(permit.project_id()), limit: filter.limit.clamp(1, MAX_ROWS), ..filter.clone() };
    Ok(ctx.store.audit_log(permit.org_id(), &filter).await?)
}

/// One JSON object per record, as the API shows it.
pub fn record_json(record: &AuditRecord) -> serde_json::Value {
    serde_json::to_value(AuditEntry::of(record)).unwrap_or_default()
}

/// One audit record as the API and the exports show it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// RFC 3339, UTC.
    pub time: String,
    pub organization_id: i64,
    pub project_id: Option<i64>,
    /// What happened, e.g. `team.created`, `member.role_changed`.
    pub event_type: String,
    pub actor: AuditActor,
    pub ip: Option<String>,
    pub target: AuditTarget,
    /// The target before and after the change, where it has a state.
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
}

/// Who acted: `user`, `service_account`, `scim`, `system` or `anonymous`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AuditActor {
    pub kind: String,
    pub id: Option<i64>,
    pub label: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AuditTarget {
    pub kind: String,
    pub id: String,
}

impl AuditEntry {
    pub fn of(record: &AuditRecord) -> AuditEntry {
        AuditEntry {
            id: record.id,
            time: record.at.to_string(),
            organization_id: record.org_id.0,
            project_id: record.project_id.map(|id| id.0),
            event_type: record.event_type.clone(),
            actor: AuditActor {
                kind: record.actor_kind.clone(),
                id: record.actor_id,
                label: record.actor_label.clone(),
            },
            ip: record.ip.clone(),
            target: AuditTarget { kind: record.target_kind.clone(), id: record.target_id.clone() },
            before: record.before.clone(),
            after: record.after.clone(),
        }
    }
}

/// Newline-delimited JSON, one record a line.
pub fn to_ndjson(records: &[AuditRecord]) -> String {
    records.iter().map(|record| format!("{}\n", record_json(record))).collect()
}

/// CSV with a header; `before` and `after` as JSON text.
pub fn to_csv(records: &[AuditRecord]) -> Result<String, IamError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let fail = |error: csv::Error| IamError::invalid("format", error.to_string());
    writer
        .write_record([
            "id",
            "time",
            "organization_id",
            "project_id",
            "event_type",
            "actor_kind",
            "actor_id",
            "actor",
            "ip",
            "target_kind",
            "target_id",
            "before",
            "after",
        ])
        .map_err(fail)?;
    for record in records {
        let json = |value: &Option<serde_json::Value>| value.as_ref().map(ToString::to_string).unwrap_or_default();
        writer
            .write_record([
                record.id.to_string(),
                record.at.to_string(),
                record.org_id.to_string(),
                record.project_id.map(|id| id.to_string()).unwrap_or_default(),
                record.event_type.clone(),
                record.actor_kind.clone(),
                record.actor_id.map(|id| id.to_string()).unwrap_or_default(),
                record.actor_label.clone(),
                record.ip.clone().unwrap_or_default(),
                record.target_kind.clone(),
                record.target_id.clone(),
                json(&record.before),
                json(&record.after),
            ])
            .map_err(fail)?;
    }
    let bytes = writer.into_inner().map_err(|error| IamError::invalid("format", error.to_string()))?;
    String::from_utf8(bytes).map_err(|error| IamError::invalid("format", error.to_string()))
}
