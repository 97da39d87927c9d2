//! Teams: organization-level groups of users and service accounts that hold project roles.

use jiff::Timestamp;
use tally_types::{OrgId, Principal, ServiceAccountId, TeamId, UserId};

use crate::BeginWriting;
use crate::audit::insert_audit;
use crate::row::RowExt;
use crate::tenants::unique_as_conflict;
use crate::{AuditEntry, Store, StoreError, with_pool};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: TeamId,
    pub org_id: OrgId,
    pub name: String,
    pub created_at: Timestamp,
    /// The identity provider's id for the team (SCIM `externalId`), when it has one.
    pub external_id: Option<String>,
}

/// A team member with a printable label (e-mail or username).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMember {
    pub principal: Principal,
    pub label: String,
}

/// A project a team holds, with the role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamProject {
    pub project_id: i64,
    pub role: String,
}

const TEAM_COLUMNS: &str = "id, org_id, name, created_at, external_id";

fn team_from_row(row: &impl RowExt) -> Result<Team, StoreError> {
    Ok(Team {
        id: TeamId(row.int("id")?),
        org_id: OrgId(row.int("org_id")?),
        name: row.text("name")?,
        created_at: row.time("created_at")?,
        external_id: row.opt_text("external_id")?,
    })
}

fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

const TEAM_NAME_TAKEN: &str = "a team with that name in this organization";

impl Store {
    pub async fn create_team(&self, org_id: OrgId, name: &str, audit: &AuditEntry) -> Result<Team, StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO teams (org_id, name, name_key, created_at) VALUES ($1, $2, $3, $4) RETURNING {TEAM_COLUMNS}"
            )))
            .bind(org_id.0)
            .bind(name)
            .bind(name_key(name))
            .bind(audit.at.as_millisecond())
            .fetch_one(&mut *tx)
            .await
            .map_err(|error| unique_as_conflict(error, TEAM_NAME_TAKEN))?;
            let team = team_from_row(&row)?;
            let mut audit = audit.clone();
            audit.target_id = team.id.to_string();
            insert_audit!(&mut *tx, &audit);
            tx.commit().await?;
            Ok(team)
        })
    }

    pub async fn teams(&self, org_id: OrgId) -> Result<Vec<Team>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TEAM_COLUMNS} FROM teams WHERE org_id = $1 ORDER BY name_key")))
                .bind(org_id.0)
                .fetch_all(pool)
                .await?;
            rows.iter().map(team_from_row).collect()
        })
    }

    /// A team of this organization (another organization's team is not found).
    pub async fn team(&self, org_id: OrgId, team_id: TeamId) -> Result<Option<Team>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TEAM_COLUMNS} FROM teams WHERE org_id = $1 AND id = $2")))
                .bind(org_id.0)
                .bind(team_id.0)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(team_from_row).transpose()
        })
    }

    pub async fn team_by_name(&self, org_id: OrgId, name: &str) -> Result<Option<Team>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {TEAM_COLUMNS} FROM teams WHERE org_id = $1 AND name_key = $2")))
                .bind(org_id.0)
                .bind(name_key(name))
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(team_from_row).transpose()
        })
    }

    pub async fn rename_team(&self, team_id: TeamId, name: &str, audit: &AuditEntry) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query("UPDATE teams SET name = $2, name_key = $3 WHERE id = $1")
                .bind(team_id.0)
                .bind(name)
                .bind(name_key(name))
                .execute(&mut *tx)
                .await
                .map_err(|error| unique_as_conflict(error, TEAM_NAME_TAKEN))?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes a team: only what came through it (its memberships and project grants) goes.
    pub async fn delete_team(&self, team_id: TeamId, audit: &AuditEntry) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query("DELETE FROM project_grants WHERE principal_kind = 'team' AND principal_id = $1")
                .bind(team_id.0)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM team_members WHERE team_id = $1").bind(team_id.0).execute(&mut *tx).await?;
            sqlx::query("DELETE FROM teams WHERE id = $1").bind(team_id.0).execute(&mut *tx).await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Adds a user or service account to a team; adding twice is harmless.
    pub async fn add_team_member(
        &self,
        team_id: TeamId,
        principal: Principal,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let added = sqlx::query(
                "INSERT INTO team_members (team_id, principal_kind, principal_id, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(team_id.0)
            .bind(principal.kind())
            .bind(principal.id())
            .bind(audit.at.as_millisecond())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if added > 0 {
                insert_audit!(&mut *tx, audit);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn remove_team_member(
        &self,
        team_id: TeamId,
        principal: Principal,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let removed = sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND principal_kind = $2 AND principal_id = $3")
                .bind(team_id.0)
                .bind(principal.kind())
                .bind(principal.id())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if removed == 0 {
                return Err(StoreError::NotFound);
            }
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn team_members(&self, team_id: TeamId) -> Result<Vec<TeamMember>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT m.principal_kind, m.principal_id, COALESCE(u.email, s.username, '') AS label FROM team_members m \
                 LEFT JOIN users u ON m.principal_kind = 'user' AND u.id = m.principal_id \
                 LEFT JOIN service_accounts s ON m.principal_kind = 'service_account' AND s.id = m.principal_id \
                 WHERE m.team_id = $1 ORDER BY label",
            )
            .bind(team_id.0)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let id = row.int("principal_id")?;
                    let principal = match row.text("principal_kind")?.as_str() {
                        "user" => Principal::User(UserId(id)),
                        _ => Principal::ServiceAccount(ServiceAccountId(id)),
                    };
                    Ok(TeamMember { principal, label: row.text("label")? })
                })
                .collect()
        })
    }

    pub async fn team_projects(&self, team_id: TeamId) -> Result<Vec<TeamProject>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT g.project_id, g.role FROM project_grants g JOIN projects p ON p.id = g.project_id \
                 WHERE g.principal_kind = 'team' AND g.principal_id = $1 AND p.deleted_at IS NULL ORDER BY g.project_id",
            )
            .bind(team_id.0)
            .fetch_all(pool)
            .await?;
            rows.iter().map(|row| Ok(TeamProject { project_id: row.int("project_id")?, role: row.text("role")? })).collect()
        })
    }
}
