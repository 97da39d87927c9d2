//! Retrievals and deletions of a person's data (GDPR and CCPA), as jobs. Every read and
//! change names its project, except those of the job runner, which serves them all.

use jiff::Timestamp;
use tally_types::ProjectId;

use crate::BeginWriting;
use crate::audit::insert_audit;
use crate::row::RowExt;
use crate::{AuditEntry, Store, StoreError, with_pool};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivacyRequest {
    pub tracking_id: String,
    pub project_id: ProjectId,
    /// `retrieval` or `deletion`.
    pub kind: String,
    /// `GDPR` or `CCPA`.
    pub compliance_type: String,
    pub disclosure_type: String,
    pub distinct_ids: Vec<String>,
    /// Mixpanel's job states: `PENDING`, `STARTED`, `SUCCESS`, `FAILURE`, `REVOKED`.
    pub status: String,
    pub requesting_user: String,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// A retrieval's download address, or what failed.
    pub result: String,
}

const COLUMNS: &str = "tracking_id, project_id, kind, compliance_type, disclosure_type, distinct_ids, status, \
                       requesting_user, created_at, finished_at, result";

fn from_row(row: &impl RowExt) -> Result<PrivacyRequest, StoreError> {
    let ids = row.text("distinct_ids")?;
    Ok(PrivacyRequest {
        tracking_id: row.text("tracking_id")?,
        project_id: ProjectId(row.int("project_id")?),
        kind: row.text("kind")?,
        compliance_type: row.text("compliance_type")?,
        disclosure_type: row.text("disclosure_type")?,
        distinct_ids: serde_json::from_str(&ids).map_err(|error| StoreError::Corrupt(error.to_string()))?,
        status: row.text("status")?,
        requesting_user: row.text("requesting_user")?,
        created_at: row.time("created_at")?,
        finished_at: row.opt_int("finished_at")?.and_then(|ms| Timestamp::from_millisecond(ms).ok()),
        result: row.text("result")?,
    })
}

impl Store {
    pub async fn create_privacy_request(&self, request: &PrivacyRequest, audit: &AuditEntry) -> Result<(), StoreError> {
        let ids =
            serde_json::to_string(&request.distinct_ids).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query(
                "INSERT INTO privacy_requests (tracking_id, project_id, kind, compliance_type, disclosure_type, \
                 distinct_ids, status, requesting_user, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(request.tracking_id.as_str())
            .bind(request.project_id.0)
            .bind(request.kind.as_str())
            .bind(request.compliance_type.as_str())
            .bind(request.disclosure_type.as_str())
            .bind(ids)
            .bind(request.status.as_str())
            .bind(request.requesting_user.as_str())
            .bind(request.created_at.as_millisecond())
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn privacy_request(
        &self,
        project_id: ProjectId,
        kind: &str,
        tracking_id: &str,
    ) -> Result<Option<PrivacyRequest>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM privacy_requests WHERE project_id = $1 AND kind = $2 AND tracking_id = $3"
            )))
            .bind(project_id.0)
            .bind(kind)
            .bind(tracking_id)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(from_row).transpose()
        })
    }

    pub async fn privacy_requests(&self, project_id: ProjectId) -> Result<Vec<PrivacyRequest>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM privacy_requests WHERE project_id = $1 ORDER BY id DESC"
            )))
            .bind(project_id.0)
            .fetch_all(pool)
            .await?;
            rows.iter().map(from_row).collect()
        })
    }

    /// Requests waiting (`PENDING`) or cut short by a stop (`STARTED`), oldest first.
    pub async fn unfinished_privacy_requests(&self) -> Result<Vec<PrivacyRequest>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM privacy_requests WHERE status IN ('PENDING', 'STARTED') ORDER BY id"
            )))
            .fetch_all(pool)
            .await?;
            rows.iter().map(from_row).collect()
        })
    }

    /// Moves a request from one of `from` to `to` (with its result); `false` when it was in
    /// none of them (another node took it, or it was cancelled).
    pub async fn move_privacy_request(
        &self,
        tracking_id: &str,
        from: &[&str],
        to: &str,
        result: &str,
        finished_at: Option<Timestamp>,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError> {
        let placeholders: Vec<String> = (0..from.len()).map(|index| format!("${}", index + 5)).collect();
        let statement = format!(
            "UPDATE privacy_requests SET status = $1, result = $2, finished_at = $3 WHERE tracking_id = $4 \
             AND status IN ({})",
            placeholders.join(", ")
        );
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let mut query = sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
                .bind(to)
                .bind(result)
                .bind(finished_at.map(|at| at.as_millisecond()))
                .bind(tracking_id);
            for status in from {
                query = query.bind(*status);
            }
            let moved = query.execute(&mut *tx).await?.rows_affected() > 0;
            if moved && let Some(audit) = audit {
                insert_audit!(&mut *tx, audit);
            }
            tx.commit().await?;
            Ok(moved)
        })
    }
}
