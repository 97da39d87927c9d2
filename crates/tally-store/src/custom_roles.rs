//! Custom project roles: named permission sets, at most five per project.

use jiff::Timestamp;
use tally_types::{ProjectId, UserId};

use crate::BeginWriting;
use crate::audit::insert_audit;
use crate::row::RowExt;
use crate::tenants::unique_as_conflict;
use crate::{AuditEntry, Store, StoreError, with_pool};

/// How many custom roles a project may have.
pub const MAX_CUSTOM_ROLES: i64 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomRole {
    /// A UUID-like random id.
    pub id: String,
    pub project_id: ProjectId,
    pub name: String,
    pub description: String,
    /// Permission names, sorted.
    pub permissions: Vec<String>,
    pub copied_from: Option<String>,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

const COLUMNS: &str =
    "id, project_id, name, description, permissions, copied_from, created_by, created_at, modified_at";

fn role_from_row(row: &impl RowExt) -> Result<CustomRole, StoreError> {
    let permissions = row.text("permissions")?;
    Ok(CustomRole {
        id: row.text("id")?,
        project_id: ProjectId(row.int("project_id")?),
        name: row.text("name")?,
        description: row.text("description")?,
        permissions: permissions.split(',').filter(|name| !name.is_empty()).map(str::to_string).collect(),
        copied_from: row.opt_text("copied_from")?,
        created_by: row.opt_int("created_by")?.map(UserId),
        created_at: row.time("created_at")?,
        modified_at: row.time("modified_at")?,
    })
}

impl Store {
    /// Creates a custom role; `Conflict` when the project already has five or the name is taken.
    pub async fn create_custom_role(&self, role: &CustomRole, audit: &AuditEntry) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM custom_roles WHERE project_id = $1")
                .bind(role.project_id.0)
                .fetch_one(&mut *tx)
                .await?;
            if count >= MAX_CUSTOM_ROLES {
                return Err(StoreError::Refused("this project has five custom roles, the most allowed; delete one first"));
            }
            sqlx::query(
                "INSERT INTO custom_roles (id, project_id, name, name_key, description, permissions, copied_from, \
                 created_by, created_at, modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
            )
            .bind(role.id.as_str())
            .bind(role.project_id.0)
            .bind(role.name.as_str())
            .bind(role.name.trim().to_lowercase())
            .bind(role.description.as_str())
            .bind(role.permissions.join(","))
            .bind(role.copied_from.as_deref())
            .bind(role.created_by.map(|id| id.0))
            .bind(role.created_at.as_millisecond())
            .execute(&mut *tx)
            .await
            .map_err(|error| unique_as_conflict(error, "a custom role with that name in this project"))?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn custom_roles(&self, project_id: ProjectId) -> Result<Vec<CustomRole>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM custom_roles WHERE project_id = $1 ORDER BY created_at, id"
            )))
            .bind(project_id.0)
            .fetch_all(pool)
            .await?;
            rows.iter().map(role_from_row).collect()
        })
    }

    pub async fn custom_role(&self, project_id: ProjectId, role_id: &str) -> Result<Option<CustomRole>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM custom_roles WHERE project_id = $1 AND id = $2"
            )))
            .bind(project_id.0)
            .bind(role_id)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(role_from_row).transpose()
        })
    }

    pub async fn update_custom_role(&self, role: &CustomRole, audit: &AuditEntry) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let changed = sqlx::query(
                "UPDATE custom_roles SET name = $3, name_key = $4, description = $5, permissions = $6, modified_at = $7 \
                 WHERE project_id = $1 AND id = $2",
            )
            .bind(role.project_id.0)
            .bind(role.id.as_str())
            .bind(role.name.as_str())
            .bind(role.name.trim().to_lowercase())
            .bind(role.description.as_str())
            .bind(role.permissions.join(","))
            .bind(role.modified_at.as_millisecond())
            .execute(&mut *tx)
            .await
            .map_err(|error| unique_as_conflict(error, "a custom role with that name in this project"))?
            .rows_affected();
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes a custom role; everyone holding it (users, service accounts, teams, the
    /// all-users default) falls back to Consumer.
    pub async fn delete_custom_role(
        &self,
        project_id: ProjectId,
        role_id: &str,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let role_key = format!("custom:{role_id}");
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let removed = sqlx::query("DELETE FROM custom_roles WHERE project_id = $1 AND id = $2")
                .bind(project_id.0)
                .bind(role_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if removed == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query("UPDATE project_grants SET role = 'consumer' WHERE project_id = $1 AND role = $2")
                .bind(project_id.0)
                .bind(role_key.as_str())
                .execute(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }
}
