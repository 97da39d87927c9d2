//! Projects: creation, settings, keys, reset, deletion, transfer, purge.

use jiff::Timestamp;
use tally_types::{IdMerge, OrgId, ProjectId, UserId};

use crate::BeginWriting;
use crate::access::upsert_grant;
use crate::audit::insert_audit;
use crate::model::project_from_row;
use crate::tenants::{PROJECT_COLUMNS, unique_as_conflict};
use crate::{AuditEntry, NewProject, Project, Store, StoreError, millis, with_pool};

/// What a settings change may alter. The region is not here: it never changes.
#[derive(Debug, Clone, Default)]
pub struct ProjectChanges<'a> {
    pub name: Option<&'a str>,
    pub timezone: Option<&'a str>,
    /// The caller checks first that the project has no data.
    pub id_merge: Option<IdMerge>,
}

impl Store {
    /// A live project.
    pub async fn project(&self, project_id: ProjectId) -> Result<Option<Project>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {PROJECT_COLUMNS} FROM projects p WHERE p.id = $1 AND p.deleted_at IS NULL \
                 AND EXISTS (SELECT 1 FROM organizations o WHERE o.id = p.org_id AND o.deleted_at IS NULL)"
            )))
            .bind(project_id.0)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(project_from_row).transpose()
        })
    }

    pub async fn project_by_token(&self, token: &str) -> Result<Option<Project>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {PROJECT_COLUMNS} FROM projects p WHERE p.token = $1 AND p.deleted_at IS NULL"
            )))
            .bind(token)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(project_from_row).transpose()
        })
    }

    pub async fn project_by_api_secret_hash(&self, secret_hash: &str) -> Result<Option<Project>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {PROJECT_COLUMNS} FROM projects p WHERE p.api_secret_hash = $1 AND p.deleted_at IS NULL"
            )))
            .bind(secret_hash)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(project_from_row).transpose()
        })
    }

    pub async fn create_project(
        &self,
        org_id: OrgId,
        project: &NewProject<'_>,
        created_by: Option<UserId>,
        audit: &AuditEntry,
    ) -> Result<Project, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO projects (org_id, name, region, timezone, environment, token, api_secret_hash, \
                 api_secret_sealed, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 RETURNING {PROJECT_COLUMNS}"
            )))
            .bind(org_id.0)
            .bind(project.name)
            .bind(project.region)
            .bind(project.timezone)
            .bind(project.environment)
            .bind(project.token)
            .bind(project.api_secret_hash)
            .bind(project.api_secret_sealed)
            .bind(created_by.map(|id| id.0))
            .bind(audit.at.as_millisecond())
            .fetch_one(&mut *tx)
            .await
            .map_err(|error| unique_as_conflict(error, "a project with that name in this organization"))?;
            let created = project_from_row(&row)?;
            // Whoever creates a project becomes its Owner.
            if let Some(user_id) = created_by {
                upsert_grant!(
                    &mut *tx,
                    project = created.id.0,
                    kind = "user",
                    id = user_id.0,
                    role = "owner",
                    by = Some(user_id.0),
                    at = audit.at.as_millisecond()
                );
            }
            let mut audit = audit.clone();
            audit.project_id = Some(created.id);
            audit.target_id = created.id.to_string();
            insert_audit!(&mut *tx, &audit);
            tx.commit().await?;
            Ok(created)
        })
    }

    pub async fn update_project(
        &self,
        project_id: ProjectId,
        changes: &ProjectChanges<'_>,
        audit: &AuditEntry,
    ) -> Result<Project, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE projects SET name = COALESCE($2, name), timezone = COALESCE($3, timezone), \
                 id_merge = COALESCE($4, id_merge) WHERE id = $1 AND deleted_at IS NULL RETURNING {PROJECT_COLUMNS}"
            )))
            .bind(project_id.0)
            .bind(changes.name)
            .bind(changes.timezone)
            .bind(changes.id_merge.map(IdMerge::as_str))
            .fetch_optional(&mut *tx)
            .await
            .map_err(|error| unique_as_conflict(error, "a project with that name in this organization"))?
            .ok_or(StoreError::NotFound)?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            project_from_row(&row)
        })
    }

    /// Replaces the project's API secret (the old one stops working at once).
    pub async fn rotate_api_secret(
        &self,
        project_id: ProjectId,
        secret_hash: &str,
        sealed: &str,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query("UPDATE projects SET api_secret_hash = $2, api_secret_sealed = $3 WHERE id = $1 AND deleted_at IS NULL")
                .bind(project_id.0)
                .bind(secret_hash)
                .bind(sealed)
                .execute(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Starts the project over with no data: event storage reads only the new generation.
    /// Returns the new generation.
    pub async fn reset_project(&self, project_id: ProjectId, audit: &AuditEntry) -> Result<i64, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let generation: i64 = sqlx::query_scalar(
                "UPDATE projects SET data_generation = data_generation + 1 WHERE id = $1 AND deleted_at IS NULL \
                 RETURNING data_generation",
            )
            .bind(project_id.0)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
            sqlx::query("DELETE FROM project_usage WHERE project_id = $1").bind(project_id.0).execute(&mut *tx).await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
            Ok(generation)
        })
    }

    pub async fn data_generation(&self, project_id: ProjectId) -> Result<i64, StoreError> {
        with_pool!(self, pool => {
            Ok(sqlx::query_scalar("SELECT data_generation FROM projects WHERE id = $1")
                .bind(project_id.0)
                .fetch_optional(pool)
                .await?
                .ok_or(StoreError::NotFound)?)
        })
    }

    /// Soft-deletes a project: unreachable at once, purged after `purge_after`.
    pub async fn delete_project(
        &self,
        project_id: ProjectId,
        purge_after: Timestamp,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let changed = sqlx::query("UPDATE projects SET deleted_at = $2, purge_after = $3 WHERE id = $1 AND deleted_at IS NULL")
                .bind(project_id.0)
                .bind(audit.at.as_millisecond())
                .bind(purge_after.as_millisecond())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Moves a project to another organization. Its members, teams and service accounts
    /// do not move: every grant on it is dropped except the all-users default.
    pub async fn transfer_project(
        &self,
        project_id: ProjectId,
        to: OrgId,
        audits: &[AuditEntry],
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let changed = sqlx::query("UPDATE projects SET org_id = $2 WHERE id = $1 AND deleted_at IS NULL")
                .bind(project_id.0)
                .bind(to.0)
                .execute(&mut *tx)
                .await
                .map_err(|error| unique_as_conflict(error, "a project with that name in the target organization"))?
                .rows_affected();
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query("DELETE FROM project_grants WHERE project_id = $1 AND principal_kind <> 'all_users'")
                .bind(project_id.0)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM access_requests WHERE project_id = $1 AND status = 'pending'")
                .bind(project_id.0)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE service_accounts SET home_project_id = NULL WHERE home_project_id = $1")
                .bind(project_id.0)
                .execute(&mut *tx)
                .await?;
            for audit in audits {
                insert_audit!(&mut *tx, audit);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Permanently removes projects and organizations whose grace period has passed.
    /// Returns how many of each were purged.
    pub async fn purge_expired(&self, now: Timestamp) -> Result<(u64, u64), StoreError> {
        let now = millis(now);
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let doomed_projects = "(SELECT p.id FROM projects p LEFT JOIN organizations o ON o.id = p.org_id \
                 WHERE p.purge_after <= $1 OR o.purge_after <= $1)";
            for table in [
                "project_grants",
                "custom_roles",
                "access_requests",
                "project_usage",
                "public_links",
                "data_view_members",
                "data_views",
                "privacy_requests",
                "alert_checks",
                "alerts",
                "cohorts",
                "lexicon_entries",
                "lexicon_schemas",
                "board_cards",
                "board_shares",
                "bookmarks",
                "annotation_tag_links",
                "annotation_tags",
                "annotations",
                "boards",
            ] {
                if table == "boards" {
                    // Nested boards first lose their parent, so no row points at a deleted one.
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE boards SET parent_id = NULL WHERE project_id IN {doomed_projects}"
                    )))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE project_id IN {doomed_projects}")))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE service_accounts SET home_project_id = NULL WHERE home_project_id IN {doomed_projects}"
            )))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let n_projects = sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM projects WHERE id IN {doomed_projects}")))
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let doomed_orgs = "(SELECT id FROM organizations WHERE purge_after <= $1)";
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM team_members WHERE team_id IN (SELECT id FROM teams WHERE org_id IN {doomed_orgs})"
            )))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            for table in [
                "teams",
                "service_accounts",
                "org_members",
                "invitations",
                "audit_log",
                "claimed_domains",
                "scim_tokens",
                "scim_users",
                "sso_connections",
                "sso_states",
                "sso_identities",
                "saml_requests",
                "saml_assertions_seen",
                "sso_pending_links",
            ] {
                sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE org_id IN {doomed_orgs}")))
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            let n_orgs = sqlx::query("DELETE FROM organizations WHERE purge_after <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok((n_projects, n_orgs))
        })
    }
}
