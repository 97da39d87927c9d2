//! Organization members, roles, billing and deletion.

use jiff::Timestamp;
use tally_types::{OrgId, OrgRole, UserId};

use crate::BeginWriting;
use crate::audit::insert_audit;
use crate::model::{org_from_row, parse_org_role, user_from_row};
use crate::row::RowExt;
use crate::{AuditEntry, Organization, Store, StoreError, User, with_pool};

/// A person in an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgMember {
    pub user: User,
    pub role: OrgRole,
    pub joined_at: Timestamp,
    /// Set when the identity provider turned the member off (SCIM `active=false`).
    pub deactivated_at: Option<Timestamp>,
    /// The identity provider's id for the member, if provisioned by SCIM.
    pub external_id: Option<String>,
}

/// The organization's one plan and its limits. No payments: this is bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub name: String,
    pub monthly_event_quota: i64,
    pub seats: i64,
}

/// Events ingested into one project in one calendar month (UTC, `YYYY-MM`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub project_id: i64,
    pub month: String,
    pub n_events: i64,
}

/// Fails the transaction (as `Conflict`) if the organization would have no Owner left.
macro_rules! ensure_an_owner_remains {
    ($executor:expr, $org_id:expr) => {
        let n_owners: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM org_members WHERE org_id = $1 AND role = 'owner'")
            .bind($org_id.0)
            .fetch_one($executor)
            .await?;
        if n_owners == 0 {
            return Err(StoreError::Refused(
                "this is the last Owner of the organization; make someone else Owner first",
            ));
        }
    };
}

impl Store {
    /// A live organization.
    pub async fn organization(&self, org_id: OrgId) -> Result<Option<Organization>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT id, name, created_at FROM organizations WHERE id = $1 AND deleted_at IS NULL")
                .bind(org_id.0)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(org_from_row).transpose()
        })
    }

    pub async fn org_members(&self, org_id: OrgId) -> Result<Vec<OrgMember>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT u.id, u.email, u.name, u.password_hash, u.created_at, m.role, m.created_at AS joined_at, \
                 m.deactivated_at, m.external_id \
                 FROM org_members m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.email_key",
            )
            .bind(org_id.0)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(OrgMember {
                        user: user_from_row(row)?,
                        role: parse_org_role(&row.text("role")?)?,
                        joined_at: row.time("joined_at")?,
                        deactivated_at: row.opt_time("deactivated_at")?,
                        external_id: row.opt_text("external_id")?,
                    })
                })
                .collect()
        })
    }

    /// Changes a member's organization role. Refuses (as `Conflict`) to leave the
    /// organization without an Owner.
    pub async fn set_org_role(
        &self,
        org_id: OrgId,
        user_id: UserId,
        role: OrgRole,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let changed = sqlx::query("UPDATE org_members SET role = $3 WHERE org_id = $1 AND user_id = $2")
                .bind(org_id.0)
                .bind(user_id.0)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            ensure_an_owner_remains!(&mut *tx, org_id);
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Adds an existing account to an organization.
    pub async fn add_org_member(
        &self,
        org_id: OrgId,
        user_id: UserId,
        role: OrgRole,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query("INSERT INTO org_members (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
                .bind(org_id.0)
                .bind(user_id.0)
                .bind(role.as_str())
                .bind(audit.at.as_millisecond())
                .execute(&mut *tx)
                .await
                .map_err(|error| crate::tenants::unique_as_conflict(error, "that member"))?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Removes a user from an organization in one transaction: the membership, their
    /// individual grants on its projects, their team memberships in it, and all their
    /// sessions. Refuses to remove the last Owner.
    pub async fn remove_org_member(
        &self,
        org_id: OrgId,
        user_id: UserId,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let removed = sqlx::query("DELETE FROM org_members WHERE org_id = $1 AND user_id = $2")
                .bind(org_id.0)
                .bind(user_id.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if removed == 0 {
                return Err(StoreError::NotFound);
            }
            ensure_an_owner_remains!(&mut *tx, org_id);
            sqlx::query(
                "DELETE FROM project_grants WHERE principal_kind = 'user' AND principal_id = $2 \
                 AND project_id IN (SELECT id FROM projects WHERE org_id = $1)",
            )
            .bind(org_id.0)
            .bind(user_id.0)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "DELETE FROM team_members WHERE principal_kind = 'user' AND principal_id = $2 \
                 AND team_id IN (SELECT id FROM teams WHERE org_id = $1)",
            )
            .bind(org_id.0)
            .bind(user_id.0)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM access_requests WHERE user_id = $2 AND status = 'pending' \
                         AND project_id IN (SELECT id FROM projects WHERE org_id = $1)")
                .bind(org_id.0)
                .bind(user_id.0)
                .execute(&mut *tx)
                .await?;
            // The identity provider's view of the member goes with the membership.
            sqlx::query("DELETE FROM scim_users WHERE org_id = $1 AND user_id = $2")
                .bind(org_id.0)
                .bind(user_id.0)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id.0).execute(&mut *tx).await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn plan(&self, org_id: OrgId) -> Result<Plan, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT plan_name, plan_event_quota, plan_seats FROM organizations WHERE id = $1")
                .bind(org_id.0)
                .fetch_one(pool)
                .await?;
            Ok(Plan {
                name: row.text("plan_name")?,
                monthly_event_quota: row.int("plan_event_quota")?,
                seats: row.int("plan_seats")?,
            })
        })
    }

    pub async fn set_plan(&self, org_id: OrgId, plan: &Plan, audit: &AuditEntry) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query("UPDATE organizations SET plan_name = $2, plan_event_quota = $3, plan_seats = $4 WHERE id = $1")
                .bind(org_id.0)
                .bind(plan.name.as_str())
                .bind(plan.monthly_event_quota)
                .bind(plan.seats)
                .execute(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Events per live project per month, newest month first.
    pub async fn usage(&self, org_id: OrgId) -> Result<Vec<Usage>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT u.project_id, u.month, u.n_events FROM project_usage u JOIN projects p ON p.id = u.project_id \
                 WHERE p.org_id = $1 AND p.deleted_at IS NULL ORDER BY u.month DESC, u.project_id",
            )
            .bind(org_id.0)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| Ok(Usage { project_id: row.int("project_id")?, month: row.text("month")?, n_events: row.int("n_events")? }))
                .collect()
        })
    }

    /// Adds ingested events to a project's monthly tally.
    pub async fn add_usage(
        &self,
        project_id: tally_types::ProjectId,
        month: &str,
        n_events: i64,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO project_usage (project_id, month, n_events) VALUES ($1, $2, $3) \
                 ON CONFLICT (project_id, month) DO UPDATE SET n_events = project_usage.n_events + excluded.n_events",
            )
            .bind(project_id.0)
            .bind(month)
            .bind(n_events)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Soft-deletes an organization: it disappears at once; `purge_expired` removes it
    /// for good after `purge_after`.
    pub async fn delete_organization(
        &self,
        org_id: OrgId,
        purge_after: Timestamp,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let changed = sqlx::query(
                "UPDATE organizations SET deleted_at = $2, purge_after = $3 WHERE id = $1 AND deleted_at IS NULL",
            )
            .bind(org_id.0)
            .bind(audit.at.as_millisecond())
            .bind(purge_after.as_millisecond())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Err(StoreError::NotFound);
            }
            sqlx::query("DELETE FROM invitations WHERE org_id = $1 AND accepted_at IS NULL").bind(org_id.0).execute(&mut *tx).await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }
}
