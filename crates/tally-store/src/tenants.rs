//! Organizations, their members and projects.

use tally_types::{OrgId, UserId};

use crate::BeginWriting;
use crate::model::{org_from_row, parse_org_role, project_from_row, user_from_row};
use crate::row::RowExt;
use crate::{
    CreatedTenant, Membership, NewTenant, Project, Store, StoreError, TenantClaim, User, email_key, millis, with_pool,
};

pub(crate) const USER_COLUMNS: &str = "id, email, name, password_hash, created_at";
pub(crate) const PROJECT_COLUMNS: &str =
    "id, org_id, name, region, timezone, environment, token, api_secret_sealed, created_by, created_at, id_merge";

/// The account with this e-mail, or a new one; evaluates to `(User, created)`. Runs on
/// any executor of the current backend (`&mut *tx`).
macro_rules! find_or_create_user {
    ($executor:expr, email = $email:expr, name = $name:expr, password_hash = $hash:expr, at = $at:expr) => {{
        let key = $crate::model::email_key($email);
        let existing = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {} FROM users WHERE email_key = $1",
            $crate::tenants::USER_COLUMNS
        )))
        .bind(&key)
        .fetch_optional(&mut *$executor)
        .await?;
        match existing {
            Some(row) => ($crate::model::user_from_row(&row)?, false),
            None => {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO users (email, email_key, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5) \
                     RETURNING {}",
                    $crate::tenants::USER_COLUMNS
                )))
                .bind($email)
                .bind(&key)
                .bind($name)
                .bind($hash)
                .bind($at)
                .fetch_one(&mut *$executor)
                .await?;
                ($crate::model::user_from_row(&row)?, true)
            }
        }
    }};
}
pub(crate) use find_or_create_user;

impl Store {
    /// True while no organization exists: the state in which the setup link works.
    pub async fn instance_is_empty(&self) -> Result<bool, StoreError> {
        let n_orgs: i64 = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM organizations").fetch_one(pool).await?
        });
        Ok(n_orgs == 0)
    }

    /// Creates an organization, its first Owner (or reuses the account with that e-mail)
    /// and its projects, all or nothing.
    pub async fn create_tenant(&self, tenant: &NewTenant<'_>) -> Result<CreatedTenant, StoreError> {
        let now = millis(tenant.now);
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;

            match tenant.claim {
                TenantClaim::SetupToken { token_hash } => {
                    let consumed = sqlx::query("DELETE FROM setup_tokens WHERE token_hash = $1 AND expires_at > $2")
                        .bind(token_hash)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    let n_orgs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM organizations").fetch_one(&mut *tx).await?;
                    if consumed == 0 || n_orgs > 0 {
                        return Err(StoreError::SetupTokenRejected);
                    }
                    sqlx::query("DELETE FROM setup_tokens").execute(&mut *tx).await?;
                }
                TenantClaim::Operator => {
                    sqlx::query("DELETE FROM setup_tokens").execute(&mut *tx).await?;
                }
            }

            let (user, user_created) = find_or_create_user!(
                &mut *tx,
                email = tenant.owner.email.trim(),
                name = tenant.owner.name,
                password_hash = tenant.owner.password_hash,
                at = now
            );

            let row = sqlx::query("INSERT INTO organizations (name, created_at) VALUES ($1, $2) RETURNING id, name, created_at")
                .bind(tenant.org_name)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            let organization = org_from_row(&row)?;

            sqlx::query("INSERT INTO org_members (org_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)")
                .bind(organization.id.0)
                .bind(user.id.0)
                .bind(now)
                .execute(&mut *tx)
                .await?;

            let mut projects = Vec::with_capacity(tenant.projects.len());
            for project in tenant.projects {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO projects (org_id, name, region, timezone, environment, token, api_secret_hash, \
                     api_secret_sealed, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {PROJECT_COLUMNS}"
                )))
                .bind(organization.id.0)
                .bind(project.name)
                .bind(project.region)
                .bind(project.timezone)
                .bind(project.environment)
                .bind(project.token)
                .bind(project.api_secret_hash)
                .bind(project.api_secret_sealed)
                .bind(user.id.0)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|error| unique_as_conflict(error, "a project with that name"))?;
                projects.push(project_from_row(&row)?);
            }

            tx.commit().await?;
            Ok(CreatedTenant { user, user_created, organization, projects })
        })
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let key = email_key(email);
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE email_key = $1")))
                .bind(&key)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(user_from_row).transpose()
        })
    }

    pub async fn user_by_id(&self, user_id: UserId) -> Result<Option<User>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")))
                .bind(user_id.0)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(user_from_row).transpose()
        })
    }

    /// The argon2 PHC string of a user's password, if they have one.
    pub async fn password_hash(&self, user_id: UserId) -> Result<Option<String>, StoreError> {
        with_pool!(self, pool => {
            let hash: Option<Option<String>> = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                .bind(user_id.0)
                .fetch_optional(pool)
                .await?;
            Ok(hash.flatten())
        })
    }

    /// The live organizations a user belongs to, with their role in each, oldest first.
    pub async fn memberships(&self, user_id: UserId) -> Result<Vec<Membership>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT o.id, o.name, o.created_at, m.role FROM org_members m \
                 JOIN organizations o ON o.id = m.org_id \
                 WHERE m.user_id = $1 AND o.deleted_at IS NULL AND m.deactivated_at IS NULL ORDER BY o.id",
            )
            .bind(user_id.0)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|row| Ok(Membership { organization: org_from_row(row)?, role: parse_org_role(&row.text("role")?)? }))
                .collect()
        })
    }

    /// The live projects of an organization, oldest first.
    pub async fn projects_in_org(&self, org_id: OrgId) -> Result<Vec<Project>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {PROJECT_COLUMNS} FROM projects WHERE org_id = $1 AND deleted_at IS NULL ORDER BY id"
            )))
            .bind(org_id.0)
            .fetch_all(pool)
            .await?;
            rows.iter().map(project_from_row).collect()
        })
    }
}

pub(crate) fn unique_as_conflict(error: sqlx::Error, what: &'static str) -> StoreError {
    match &error {
        sqlx::Error::Database(database_error) if database_error.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::from(error),
    }
}
