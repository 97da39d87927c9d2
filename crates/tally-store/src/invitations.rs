//! Invitations to an organization, with projects and roles, answered by a link.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tally_types::{InvitationId, OrgId, OrgRole, ProjectId, UserId};

use crate::BeginWriting;
use crate::access::upsert_grant;
use crate::audit::insert_audit;
use crate::model::{email_key, parse_org_role};
use crate::row::RowExt;
use crate::tenants::find_or_create_user;
use crate::{AuditEntry, Store, StoreError, User, millis, with_pool};

/// A project the invitee will get, with the role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitedProject {
    pub project_id: ProjectId,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: InvitationId,
    pub org_id: OrgId,
    pub email: String,
    pub org_role: OrgRole,
    pub projects: Vec<InvitedProject>,
    pub invited_by: Option<UserId>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub last_sent_at: Timestamp,
    pub accepted_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct NewInvitation<'a> {
    pub org_id: OrgId,
    pub email: &'a str,
    pub org_role: OrgRole,
    pub projects: &'a [InvitedProject],
    pub token_hash: &'a str,
    pub invited_by: Option<UserId>,
    pub expires_at: Timestamp,
}

/// What accepting did.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub invitation: Invitation,
    pub user: User,
    pub user_created: bool,
}

const COLUMNS: &str =
    "id, org_id, email, org_role, projects, invited_by, created_at, expires_at, last_sent_at, accepted_at";

fn invitation_from_row(row: &impl RowExt) -> Result<Invitation, StoreError> {
    let projects: Vec<InvitedProject> = serde_json::from_str(&row.text("projects")?)
        .map_err(|error| StoreError::Corrupt(format!("invitation projects: {error}")))?;
    Ok(Invitation {
        id: InvitationId(row.int("id")?),
        org_id: OrgId(row.int("org_id")?),
        email: row.text("email")?,
        org_role: parse_org_role(&row.text("org_role")?)?,
        projects,
        invited_by: row.opt_int("invited_by")?.map(UserId),
        created_at: row.time("created_at")?,
        expires_at: row.time("expires_at")?,
        last_sent_at: row.time("last_sent_at")?,
        accepted_at: row.opt_time("accepted_at")?,
    })
}

impl Store {
    pub async fn create_invitation(
        &self,
        invitation: &NewInvitation<'_>,
        audit: &AuditEntry,
    ) -> Result<Invitation, StoreError> {
        let projects =
            serde_json::to_string(invitation.projects).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let domain = email_domain(invitation.email);
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO invitations (org_id, email, email_key, org_role, projects, token_hash, invited_by, created_at, \
                 expires_at, last_sent_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8) RETURNING {COLUMNS}"
            )))
            .bind(invitation.org_id.0)
            .bind(invitation.email.trim())
            .bind(email_key(invitation.email))
            .bind(invitation.org_role.as_str())
            .bind(projects.as_str())
            .bind(invitation.token_hash)
            .bind(invitation.invited_by.map(|id| id.0))
            .bind(audit.at.as_millisecond())
            .bind(invitation.expires_at.as_millisecond())
            .fetch_one(&mut *tx)
            .await?;
            let created = invitation_from_row(&row)?;
            sqlx::query("INSERT INTO invitation_sends (domain, sent_at) VALUES ($1, $2)")
                .bind(domain.as_str())
                .bind(audit.at.as_millisecond())
                .execute(&mut *tx)
                .await?;
            let mut audit = audit.clone();
            audit.target_id = created.id.to_string();
            insert_audit!(&mut *tx, &audit);
            tx.commit().await?;
            Ok(created)
        })
    }

    /// How many invitation e-mails went to this domain since `since`.
    pub async fn invitations_sent_to_domain(&self, domain: &str, since: Timestamp) -> Result<i64, StoreError> {
        with_pool!(self, pool => {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM invitation_sends WHERE domain = $1 AND sent_at >= $2")
                .bind(domain)
                .bind(millis(since))
                .fetch_one(pool)
                .await?)
        })
    }

    /// Open (not accepted, not revoked) invitations of an organization.
    pub async fn invitations(&self, org_id: OrgId) -> Result<Vec<Invitation>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM invitations WHERE org_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL ORDER BY id"
            )))
            .bind(org_id.0)
            .fetch_all(pool)
            .await?;
            rows.iter().map(invitation_from_row).collect()
        })
    }

    pub async fn invitation(&self, org_id: OrgId, id: InvitationId) -> Result<Option<Invitation>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM invitations WHERE org_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL"
            )))
            .bind(org_id.0)
            .bind(id.0)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(invitation_from_row).transpose()
        })
    }

    /// A live invitation by the hash of its link token.
    pub async fn invitation_by_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<Invitation>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM invitations i WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL \
                 AND expires_at > $2 AND EXISTS (SELECT 1 FROM organizations o WHERE o.id = i.org_id AND o.deleted_at IS NULL)"
            )))
            .bind(token_hash)
            .bind(millis(now))
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(invitation_from_row).transpose()
        })
    }

    /// A new link and expiry for a resent invitation.
    pub async fn renew_invitation(
        &self,
        id: InvitationId,
        token_hash: &str,
        expires_at: Timestamp,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let email: Option<String> = sqlx::query_scalar(
                "UPDATE invitations SET token_hash = $2, expires_at = $3, last_sent_at = $4 \
                 WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL RETURNING email",
            )
            .bind(id.0)
            .bind(token_hash)
            .bind(expires_at.as_millisecond())
            .bind(audit.at.as_millisecond())
            .fetch_optional(&mut *tx)
            .await?;
            let email = email.ok_or(StoreError::NotFound)?;
            sqlx::query("INSERT INTO invitation_sends (domain, sent_at) VALUES ($1, $2)")
                .bind(email_domain(&email))
                .bind(audit.at.as_millisecond())
                .execute(&mut *tx)
                .await?;
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn revoke_invitation(&self, id: InvitationId, audit: &AuditEntry) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let changed = sqlx::query("UPDATE invitations SET revoked_at = $2 WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL")
                .bind(id.0)
                .bind(audit.at.as_millisecond())
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

    /// Accepts an invitation in one transaction: creates the account (with this password
    /// hash) or attaches the existing one, adds the membership and the project grants.
    /// `project_roles` are the invitation's projects with roles already checked against
    /// what still exists. An existing account is attached only when it is `signed_in`
    /// (the account that proved itself); otherwise nothing changes and the answer is
    /// `Conflict`.
    pub async fn accept_invitation(
        &self,
        invitation: &Invitation,
        signed_in: Option<UserId>,
        name: &str,
        password_hash: Option<&str>,
        project_roles: &[InvitedProject],
        audit: &AuditEntry,
    ) -> Result<Accepted, StoreError> {
        let now = audit.at.as_millisecond();
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let claimed = sqlx::query("UPDATE invitations SET accepted_at = $2 WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL")
                .bind(invitation.id.0)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if claimed == 0 {
                return Err(StoreError::NotFound);
            }
            let (user, user_created) = find_or_create_user!(
                &mut *tx,
                email = invitation.email.as_str(),
                name = name,
                password_hash = password_hash,
                at = now
            );
            if !user_created && signed_in != Some(user.id) {
                return Err(StoreError::Refused("the invited account exists; it must be signed in to accept"));
            }
            sqlx::query(
                "INSERT INTO org_members (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (org_id, user_id) DO NOTHING",
            )
            .bind(invitation.org_id.0)
            .bind(user.id.0)
            .bind(invitation.org_role.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            for project in project_roles {
                upsert_grant!(
                    &mut *tx,
                    project = project.project_id.0,
                    kind = "user",
                    id = user.id.0,
                    role = project.role.as_str(),
                    by = invitation.invited_by.map(|id| id.0),
                    at = now
                );
            }
            let mut audit = audit.clone();
            audit.actor = crate::AuditActor { kind: "user", id: Some(user.id.0), label: user.email.clone() };
            insert_audit!(&mut *tx, &audit);
            tx.commit().await?;
            Ok(Accepted { invitation: invitation.clone(), user, user_created })
        })
    }
}

/// The part of an address after `@`, lowercased: what invitation rate limits count by.
pub fn email_domain(email: &str) -> String {
    email.rsplit_once('@').map(|(_, domain)| domain.trim().to_lowercase()).unwrap_or_default()
}
