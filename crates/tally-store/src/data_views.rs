//! Data views: filtered views of a project's data and who may open each. View 0 is the
//! project's implicit "All Project Data" (no row; members only). Every read and write names
//! its project, so an id from another project finds nothing.

use jiff::Timestamp;
use tally_types::{ProjectId, UserId};

use crate::BeginWriting;
use crate::audit::insert_audit;
use crate::row::RowExt;
use crate::{AuditEntry, Store, StoreError, with_pool};

/// The id of a project's "All Project Data" view.
pub const ALL_PROJECT_DATA: i64 = 0;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataView {
    pub id: i64,
    pub project_id: ProjectId,
    pub name: String,
    pub description: String,
    /// The view's filters, as the report model's JSON (the caller validates them).
    pub filters: String,
    /// What project members without another view open (at most one per project).
    pub is_default: bool,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub modified_at: Timestamp,
}

/// A member of a data view: a user or a team (`kind` is `user` or `team`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DataViewMember {
    pub view_id: i64,
    pub kind: String,
    pub id: i64,
}

const VIEW_COLUMNS: &str =
    "id, project_id, name, description, filters, is_default, created_by, created_at, modified_at";

fn view_from_row(row: &impl RowExt) -> Result<DataView, StoreError> {
    Ok(DataView {
        id: row.int("id")?,
        project_id: ProjectId(row.int("project_id")?),
        name: row.text("name")?,
        description: row.text("description")?,
        filters: row.text("filters")?,
        is_default: row.int("is_default")? != 0,
        created_by: row.opt_int("created_by")?.map(UserId),
        created_at: row.time("created_at")?,
        modified_at: row.time("modified_at")?,
    })
}

impl Store {
    pub async fn data_views(&self, project_id: ProjectId) -> Result<Vec<DataView>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {VIEW_COLUMNS} FROM data_views WHERE project_id = $1 ORDER BY id"
            )))
            .bind(project_id.0)
            .fetch_all(pool)
            .await?;
            rows.iter().map(view_from_row).collect()
        })
    }

    /// Stores a new view (`view.id` is ignored); a default view stops the previous one being
    /// the default.
    pub async fn create_data_view(&self, view: &DataView, audit: &AuditEntry) -> Result<DataView, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            if view.is_default {
                sqlx::query("UPDATE data_views SET is_default = 0 WHERE project_id = $1")
                    .bind(view.project_id.0)
                    .execute(&mut *tx)
                    .await?;
            }
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO data_views (project_id, name, description, filters, is_default, created_by, created_at, \
                 modified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {VIEW_COLUMNS}"
            )))
            .bind(view.project_id.0)
            .bind(view.name.as_str())
            .bind(view.description.as_str())
            .bind(view.filters.as_str())
            .bind(i64::from(view.is_default))
            .bind(view.created_by.map(|id| id.0))
            .bind(view.created_at.as_millisecond())
            .fetch_one(&mut *tx)
            .await?;
            let created = view_from_row(&row)?;
            let mut audit = audit.clone();
            audit.target_id = created.id.to_string();
            insert_audit!(&mut *tx, &audit);
            tx.commit().await?;
            Ok(created)
        })
    }

    pub async fn update_data_view(&self, view: &DataView, audit: &AuditEntry) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            if view.is_default {
                sqlx::query("UPDATE data_views SET is_default = 0 WHERE project_id = $1 AND id <> $2")
                    .bind(view.project_id.0)
                    .bind(view.id)
                    .execute(&mut *tx)
                    .await?;
            }
            let changed = sqlx::query(
                "UPDATE data_views SET name = $3, description = $4, filters = $5, is_default = $6, modified_at = $7 \
                 WHERE project_id = $1 AND id = $2",
            )
            .bind(view.project_id.0)
            .bind(view.id)
            .bind(view.name.as_str())
            .bind(view.description.as_str())
            .bind(view.filters.as_str())
            .bind(i64::from(view.is_default))
            .bind(view.modified_at.as_millisecond())
            .execute(&mut *tx)
            .await?;
            if changed.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes a view with its members and the public links made in it (they would
    /// otherwise open more than their maker chose to show).
    pub async fn delete_data_view(
        &self,
        project_id: ProjectId,
        view_id: i64,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let removed = sqlx::query("DELETE FROM data_views WHERE project_id = $1 AND id = $2")
                .bind(project_id.0)
                .bind(view_id)
                .execute(&mut *tx)
                .await?;
            if removed.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            for statement in [
                "DELETE FROM data_view_members WHERE project_id = $1 AND view_id = $2",
                "DELETE FROM public_links WHERE project_id = $1 AND view_id = $2",
            ] {
                sqlx::query(statement).bind(project_id.0).bind(view_id).execute(&mut *tx).await?;
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn data_view_members(&self, project_id: ProjectId) -> Result<Vec<DataViewMember>, StoreError> {
        let rows: Vec<(i64, String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT view_id, member_kind, member_id FROM data_view_members WHERE project_id = $1 \
                 ORDER BY view_id, member_kind, member_id",
            )
            .bind(project_id.0)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(|(view_id, kind, id)| DataViewMember { view_id, kind, id }).collect())
    }

    /// Replaces a view's members.
    pub async fn set_data_view_members(
        &self,
        project_id: ProjectId,
        view_id: i64,
        members: &[DataViewMember],
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query("DELETE FROM data_view_members WHERE project_id = $1 AND view_id = $2")
                .bind(project_id.0)
                .bind(view_id)
                .execute(&mut *tx)
                .await?;
            for member in members {
                sqlx::query(
                    "INSERT INTO data_view_members (project_id, view_id, member_kind, member_id) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(project_id.0)
                .bind(view_id)
                .bind(member.kind.as_str())
                .bind(member.id)
                .execute(&mut *tx)
                .await?;
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// The views a principal (`kind` `user` or `service_account`) is a member of in the
    /// project, by itself or through its teams.
    pub async fn data_views_of_member(
        &self,
        project_id: ProjectId,
        principal_kind: &str,
        principal_id: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT DISTINCT view_id FROM data_view_members WHERE project_id = $1 AND \
                 ((member_kind = 'user' AND $2 = 'user' AND member_id = $3) OR (member_kind = 'team' AND member_id IN \
                 (SELECT team_id FROM team_members WHERE principal_kind = $2 AND principal_id = $3))) ORDER BY view_id",
            )
            .bind(project_id.0)
            .bind(principal_kind)
            .bind(principal_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}
