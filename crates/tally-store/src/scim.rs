//! What SCIM provisioning keeps: the identity provider's view of each user it manages (the
//! resource as it last wrote it), beside Tally's own member rows.

use jiff::Timestamp;
use tally_types::{OrgId, OrgRole, UserId};

use crate::BeginWriting;
use crate::audit::insert_audit;
use crate::model::{email_key, parse_org_role, user_from_row};
use crate::row::RowExt;
use crate::tenants::unique_as_conflict;
use crate::{AuditEntry, Store, StoreError, User, with_pool};

/// An organization member as SCIM sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimMember {
    pub user: User,
    pub role: OrgRole,
    pub deactivated_at: Option<Timestamp>,
    pub external_id: Option<String>,
    /// The resource as the provider last wrote it (JSON), when it provisioned this member.
    pub resource: Option<String>,
    pub updated_at: Option<Timestamp>,
}

const SELECT: &str = "SELECT u.id, u.email, u.name, u.password_hash, u.created_at, m.role, m.deactivated_at, m.external_id, \
     s.resource, s.updated_at FROM org_members m JOIN users u ON u.id = m.user_id \
     LEFT JOIN scim_users s ON s.org_id = m.org_id AND s.user_id = m.user_id";

fn member_from_row(row: &impl RowExt) -> Result<ScimMember, StoreError> {
    Ok(ScimMember {
        user: user_from_row(row)?,
        role: parse_org_role(&row.text("role")?)?,
        deactivated_at: row.opt_time("deactivated_at")?,
        external_id: row.opt_text("external_id")?,
        resource: row.opt_text("resource")?,
        updated_at: row.opt_time("updated_at")?,
    })
}

impl Store {
    /// Every member of the organization, by e-mail.
    pub async fn scim_members(&self, org_id: OrgId) -> Result<Vec<ScimMember>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE m.org_id = $1 ORDER BY u.id")))
                .bind(org_id.0)
                .fetch_all(pool)
                .await?;
            rows.iter().map(member_from_row).collect()
        })
    }

    pub async fn scim_member(&self, org_id: OrgId, user_id: UserId) -> Result<Option<ScimMember>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE m.org_id = $1 AND m.user_id = $2")))
                .bind(org_id.0)
                .bind(user_id.0)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(member_from_row).transpose()
        })
    }

    /// Records the resource the provider wrote for a member, with an audit entry.
    pub async fn put_scim_resource(
        &self,
        org_id: OrgId,
        user_id: UserId,
        resource: &str,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            sqlx::query(
                "INSERT INTO scim_users (org_id, user_id, resource, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT (org_id, user_id) DO UPDATE SET resource = excluded.resource, updated_at = excluded.updated_at",
            )
            .bind(org_id.0)
            .bind(user_id.0)
            .bind(resource)
            .bind(audit.at.as_millisecond())
            .execute(&mut *tx)
            .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Changes an account's e-mail (its sign-in name). `Conflict` when another account has it.
    pub async fn set_user_email(&self, user_id: UserId, email: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE users SET email = $2, email_key = $3 WHERE id = $1")
                .bind(user_id.0)
                .bind(email)
                .bind(email_key(email))
                .execute(pool)
                .await
                .map_err(|error| unique_as_conflict(error, "an account with that e-mail"))?;
        });
        Ok(())
    }

    /// How many organizations the account belongs to.
    pub async fn membership_count(&self, user_id: UserId) -> Result<i64, StoreError> {
        with_pool!(self, pool => {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM org_members WHERE user_id = $1")
                .bind(user_id.0)
                .fetch_one(pool)
                .await?)
        })
    }
}
