//! Service accounts: non-human members of one organization, signing in with a username
//! and a secret (only the secret's hash is kept).

use jiff::Timestamp;
use tally_types::{OrgId, OrgRole, ProjectId, ServiceAccountId, UserId};

use crate::BeginWriting;
use crate::access::upsert_grant;
use crate::audit::insert_audit;
use crate::model::parse_org_role;
use crate::row::RowExt;
use crate::tenants::unique_as_conflict;
use crate::{AuditEntry, Store, StoreError, millis, with_pool};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    pub id: ServiceAccountId,
    pub org_id: OrgId,
    pub username: String,
    pub org_role: OrgRole,
    pub home_project_id: Option<ProjectId>,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct NewServiceAccount<'a> {
    pub org_id: OrgId,
    pub username: &'a str,
    pub secret_hash: &'a str,
    pub org_role: OrgRole,
    pub home_project_id: Option<ProjectId>,
    pub created_by: Option<UserId>,
    pub expires_at: Option<Timestamp>,
    /// Project roles to grant at once.
    pub projects: &'a [(ProjectId, String)],
}

const COLUMNS: &str =
    "id, org_id, username, org_role, home_project_id, created_by, created_at, expires_at, last_used_at";

fn account_from_row(row: &impl RowExt) -> Result<ServiceAccount, StoreError> {
    Ok(ServiceAccount {
        id: ServiceAccountId(row.int("id")?),
        org_id: OrgId(row.int("org_id")?),
        username: row.text("username")?,
        org_role: parse_org_role(&row.text("org_role")?)?,
        home_project_id: row.opt_int("home_project_id")?.map(ProjectId),
        created_by: row.opt_int("created_by")?.map(UserId),
        created_at: row.time("created_at")?,
        expires_at: row.opt_time("expires_at")?,
        last_used_at: row.opt_time("last_used_at")?,
    })
}

impl Store {
    pub async fn create_service_account(
        &self,
        account: &NewServiceAccount<'_>,
        audit: &AuditEntry,
    ) -> Result<ServiceAccount, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO service_accounts (org_id, username, secret_hash, org_role, home_project_id, created_by, \
                 created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
            )))
            .bind(account.org_id.0)
            .bind(account.username)
            .bind(account.secret_hash)
            .bind(account.org_role.as_str())
            .bind(account.home_project_id.map(|id| id.0))
            .bind(account.created_by.map(|id| id.0))
            .bind(audit.at.as_millisecond())
            .bind(account.expires_at.map(millis))
            .fetch_one(&mut *tx)
            .await
            .map_err(|error| unique_as_conflict(error, "a service account with that username"))?;
            let created = account_from_row(&row)?;
            for (project_id, role) in account.projects {
                upsert_grant!(
                    &mut *tx,
                    project = project_id.0,
                    kind = "service_account",
                    id = created.id.0,
                    role = role.as_str(),
                    by = account.created_by.map(|id| id.0),
                    at = audit.at.as_millisecond()
                );
            }
            let mut audit = audit.clone();
            audit.target_id = created.id.to_string();
            insert_audit!(&mut *tx, &audit);
            tx.commit().await?;
            Ok(created)
        })
    }

    pub async fn service_accounts(&self, org_id: OrgId) -> Result<Vec<ServiceAccount>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM service_accounts WHERE org_id = $1 ORDER BY id"
            )))
            .bind(org_id.0)
            .fetch_all(pool)
            .await?;
            rows.iter().map(account_from_row).collect()
        })
    }

    pub async fn service_account(
        &self,
        org_id: OrgId,
        id: ServiceAccountId,
    ) -> Result<Option<ServiceAccount>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM service_accounts WHERE org_id = $1 AND id = $2"
            )))
            .bind(org_id.0)
            .bind(id.0)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(account_from_row).transpose()
        })
    }

    /// The account with this username and its secret hash, for sign-in.
    pub async fn service_account_credentials(
        &self,
        username: &str,
    ) -> Result<Option<(ServiceAccount, String)>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS}, secret_hash FROM service_accounts WHERE username = $1"
            )))
            .bind(username)
            .fetch_optional(pool)
            .await?;
            row.map(|row| Ok((account_from_row(&row)?, row.text("secret_hash")?))).transpose()
        })
    }

    /// Records use, at most once a minute per account so that busy clients do not write
    /// on every request.
    pub async fn touch_service_account(&self, id: ServiceAccountId, now: Timestamp) -> Result<(), StoreError> {
        let now = millis(now);
        with_pool!(self, pool => {
            sqlx::query("UPDATE service_accounts SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)")
                .bind(id.0)
                .bind(now)
                .bind(now - 60_000)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Deletes an account and everything it held (grants, team memberships).
    pub async fn delete_service_account(&self, id: ServiceAccountId, audit: &AuditEntry) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query("DELETE FROM project_grants WHERE principal_kind = 'service_account' AND principal_id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM team_members WHERE principal_kind = 'service_account' AND principal_id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            let removed = sqlx::query("DELETE FROM service_accounts WHERE id = $1").bind(id.0).execute(&mut *tx).await?.rows_affected();
            if removed == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Whether a service account has access anywhere but this project: a grant on another
    /// project, or a team.
    pub async fn service_account_reaches_beyond(
        &self,
        id: ServiceAccountId,
        project_id: ProjectId,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool => {
            let n: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM project_grants WHERE principal_kind = 'service_account' \
                 AND principal_id = $1 AND project_id <> $2) \
                 + (SELECT COUNT(*) FROM team_members WHERE principal_kind = 'service_account' AND principal_id = $1)",
            )
            .bind(id.0)
            .bind(project_id.0)
            .fetch_one(pool)
            .await?;
            Ok(n > 0)
        })
    }

    /// Service accounts with a direct grant on a project, with the role.
    pub async fn project_service_accounts(
        &self,
        project_id: ProjectId,
    ) -> Result<Vec<(ServiceAccount, String)>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT s.id, s.org_id, s.username, s.org_role, s.home_project_id, s.created_by, s.created_at, s.expires_at, \
                 s.last_used_at, g.role FROM service_accounts s JOIN project_grants g \
                 ON g.principal_kind = 'service_account' AND g.principal_id = s.id WHERE g.project_id = $1 ORDER BY s.id",
            )
            .bind(project_id.0)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|row| Ok((account_from_row(row)?, row.text("role")?))).collect()
        })
    }
}

impl Store {
    /// The organization a service account belongs to, as a membership.
    pub async fn memberships_of_service_account(
        &self,
        id: ServiceAccountId,
    ) -> Result<Vec<crate::Membership>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT o.id, o.name, o.created_at, s.org_role AS role FROM service_accounts s \
                 JOIN organizations o ON o.id = s.org_id WHERE s.id = $1 AND o.deleted_at IS NULL",
            )
            .bind(id.0)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(crate::Membership {
                        organization: crate::model::org_from_row(row)?,
                        role: parse_org_role(&row.text("role")?)?,
                    })
                })
                .collect()
        })
    }
}
