//! Access requests: an organization member asks for a project; its Owners and Admins
//! approve (choosing the role) or deny.

use jiff::Timestamp;
use tally_types::{AccessRequestId, ProjectId, UserId};

use crate::BeginWriting;
use crate::access::upsert_grant;
use crate::audit::insert_audit;
use crate::row::RowExt;
use crate::tenants::unique_as_conflict;
use crate::{AuditEntry, Store, StoreError, with_pool};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    pub id: AccessRequestId,
    pub project_id: ProjectId,
    pub user_id: UserId,
    pub email: String,
    pub message: String,
    /// `pending`, `approved` or `denied`.
    pub status: String,
    pub created_at: Timestamp,
    pub granted_role: Option<String>,
}

fn request_from_row(row: &impl RowExt) -> Result<AccessRequest, StoreError> {
    Ok(AccessRequest {
        id: AccessRequestId(row.int("id")?),
        project_id: ProjectId(row.int("project_id")?),
        user_id: UserId(row.int("user_id")?),
        email: row.text("email")?,
        message: row.text("message")?,
        status: row.text("status")?,
        created_at: row.time("created_at")?,
        granted_role: row.opt_text("granted_role")?,
    })
}

const SELECT: &str = "SELECT r.id, r.project_id, r.user_id, u.email, r.message, r.status, r.created_at, r.granted_role \
                      FROM access_requests r JOIN users u ON u.id = r.user_id";

impl Store {
    pub async fn create_access_request(
        &self,
        project_id: ProjectId,
        user_id: UserId,
        message: &str,
        audit: &AuditEntry,
    ) -> Result<AccessRequestId, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO access_requests (project_id, user_id, message, status, created_at) \
                 VALUES ($1, $2, $3, 'pending', $4) RETURNING id",
            )
            .bind(project_id.0)
            .bind(user_id.0)
            .bind(message)
            .bind(audit.at.as_millisecond())
            .fetch_one(&mut *tx)
            .await
            .map_err(|error| unique_as_conflict(error, "a pending request from you for this project"))?;
            let mut audit = audit.clone();
            audit.target_id = id.to_string();
            insert_audit!(&mut *tx, &audit);
            tx.commit().await?;
            Ok(AccessRequestId(id))
        })
    }

    pub async fn access_requests(&self, project_id: ProjectId) -> Result<Vec<AccessRequest>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE r.project_id = $1 ORDER BY r.id")))
                .bind(project_id.0)
                .fetch_all(pool)
                .await?;
            rows.iter().map(request_from_row).collect()
        })
    }

    pub async fn access_request(
        &self,
        project_id: ProjectId,
        id: AccessRequestId,
    ) -> Result<Option<AccessRequest>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE r.project_id = $1 AND r.id = $2")))
                .bind(project_id.0)
                .bind(id.0)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(request_from_row).transpose()
        })
    }

    /// Approves (with a role, which becomes the requester's individual grant) or denies
    /// (`role` = `None`) a pending request; `Conflict` if it was already answered.
    pub async fn decide_access_request(
        &self,
        project_id: ProjectId,
        id: AccessRequestId,
        role: Option<&str>,
        decided_by: UserId,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let status = if role.is_some() { "approved" } else { "denied" };
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let user_id: Option<i64> = sqlx::query_scalar(
                "UPDATE access_requests SET status = $3, decided_by = $4, decided_at = $5, granted_role = $6 \
                 WHERE project_id = $1 AND id = $2 AND status = 'pending' RETURNING user_id",
            )
            .bind(project_id.0)
            .bind(id.0)
            .bind(status)
            .bind(decided_by.0)
            .bind(audit.at.as_millisecond())
            .bind(role)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(user_id) = user_id else {
                return Err(StoreError::Refused("this request was already answered; it is no longer pending"));
            };
            if let Some(role) = role {
                upsert_grant!(
                    &mut *tx,
                    project = project_id.0,
                    kind = "user",
                    id = user_id,
                    role = role,
                    by = Some(decided_by.0),
                    at = audit.at.as_millisecond()
                );
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }
}
