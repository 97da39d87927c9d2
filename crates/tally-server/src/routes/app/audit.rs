//! Reading and exporting the audit log.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use tally_iam::records::AuditFilter;
use tally_types::permissions::{org, project};

use super::ok;
use crate::access::{OrgAccess, ProjectAccess};
use crate::extract::QueryParams;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    event_type: Option<String>,
    actor_id: Option<i64>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<i64>,
    /// `json` (default), `csv` or `ndjson`.
    format: Option<String>,
}

fn parse_time(name: &str, text: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    text.map(|text| {
        text.parse::<Timestamp>().map_err(|_| {
            ApiError::invalid(
                "invalid_query",
                format!("{name} {text:?} is not an RFC 3339 time such as 2026-11-01T00:00:00Z"),
            )
        })
    })
    .transpose()
}

fn filter(query: &AuditQuery) -> Result<AuditFilter, ApiError> {
    Ok(AuditFilter {
        project_id: None,
        event_type: query.event_type.clone(),
        actor_id: query.actor_id,
        since: parse_time("from", query.from.as_deref())?,
        until: parse_time("to", query.to.as_deref())?,
        limit: query.limit.unwrap_or(1000),
    })
}

fn render(records: &[tally_iam::records::AuditRecord], format: Option<&str>) -> Result<Response, ApiError> {
    match format.unwrap_or("json") {
        "json" => Ok(ok(records.iter().map(tally_iam::admin::audit::AuditEntry::of).collect::<Vec<_>>())),
        "ndjson" => Ok((
            [
                (header::CONTENT_TYPE, "application/x-ndjson"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"audit-log.ndjson\""),
            ],
            tally_iam::admin::audit::to_ndjson(records),
        )
            .into_response()),
        "csv" => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (header::CONTENT_DISPOSITION, "attachment; filename=\"audit-log.csv\""),
            ],
            tally_iam::admin::audit::to_csv(records)?,
        )
            .into_response()),
        other => Err(ApiError::invalid("invalid_query", format!("format {other:?} is not one of json, csv, ndjson"))),
    }
}

pub(crate) async fn org_log(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ViewAuditLog>()?;
    let records = tally_iam::admin::audit::org_log(state.ctx(&actor), &permit, &filter(&query)?).await?;
    render(&records, query.format.as_deref())
}

pub(crate) async fn project_log(
    State(state): State<AppState>,
    ProjectAccess(scope, caller): ProjectAccess,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<project::ViewProjectAuditLog>()?;
    let records = tally_iam::admin::audit::project_log(state.ctx(&actor), &permit, &filter(&query)?).await?;
    render(&records, query.format.as_deref())
}
