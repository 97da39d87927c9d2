//! Grants and what a principal holds: the raw facts that `tally-iam` turns into
//! effective permissions.

use jiff::Timestamp;
use tally_types::{OrgId, OrgRole, Principal, ProjectId, ServiceAccountId, TeamId, UserId};

use crate::BeginWriting;
use crate::audit::insert_audit;
use crate::model::parse_org_role;
use crate::row::RowExt;
use crate::{AuditEntry, Store, StoreError, with_pool};

/// Why a principal holds a role in a project (Mixpanel's grant types).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantSource {
    /// Organization Owners and Admins hold Owner and Admin in every project.
    OrganizationRole,
    /// Set on the project for this principal.
    Individual,
    /// Through membership of a team that has the project.
    Team { id: TeamId, name: String },
    /// The project's default role for every organization member.
    AllUsers,
}

impl GrantSource {
    /// `organization_role`, `individual`, `team:<name>` or `all_users`.
    pub fn label(&self) -> String {
        match self {
            GrantSource::OrganizationRole => "organization_role".into(),
            GrantSource::Individual => "individual".into(),
            GrantSource::Team { name, .. } => format!("team:{name}"),
            GrantSource::AllUsers => "all_users".into(),
        }
    }
}

/// A role held for a reason. `role` is `owner`, `admin`, `analyst`, `consumer` or
/// `custom:<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Grant {
    pub source: GrantSource,
    pub role: String,
}

/// What the store knows about a principal within one organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgStanding {
    pub org_id: OrgId,
    pub role: OrgRole,
    /// Service accounts may expire.
    pub expires_at: Option<Timestamp>,
}

/// One line of a project's member listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectMember {
    pub principal: Principal,
    /// E-mail or service-account username.
    pub label: String,
    pub grants: Vec<Grant>,
}

/// Who a grant is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grantee {
    Principal(Principal),
    Team(TeamId),
    AllUsers,
}

impl Grantee {
    fn kind(self) -> &'static str {
        match self {
            Grantee::Principal(principal) => principal.kind(),
            Grantee::Team(_) => "team",
            Grantee::AllUsers => "all_users",
        }
    }

    fn id(self) -> i64 {
        match self {
            Grantee::Principal(principal) => principal.id(),
            Grantee::Team(team) => team.0,
            Grantee::AllUsers => 0,
        }
    }
}

/// Gives `(kind, id)` the role on a project, replacing any role it held there directly,
/// through any executor of the current backend (`&mut *tx`).
macro_rules! upsert_grant {
    ($executor:expr, project = $project:expr, kind = $kind:expr, id = $id:expr, role = $role:expr, by = $by:expr, at = $at:expr) => {
        sqlx::query(
            "INSERT INTO project_grants (project_id, principal_kind, principal_id, role, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (project_id, principal_kind, principal_id) DO UPDATE SET role = excluded.role",
        )
        .bind($project)
        .bind($kind)
        .bind($id)
        .bind($role)
        .bind($by)
        .bind($at)
        .execute($executor)
        .await?
    };
}
pub(crate) use upsert_grant;

const GRANTS_OF_PRINCIPAL: &str = "\
    SELECT 'individual' AS source, CAST(NULL AS BIGINT) AS team_id, CAST(NULL AS TEXT) AS team_name, g.role \
    FROM project_grants g WHERE g.project_id = $1 AND g.principal_kind = $2 AND g.principal_id = $3 \
    UNION ALL \
    SELECT 'team' AS source, t.id AS team_id, t.name AS team_name, g.role FROM project_grants g \
    JOIN teams t ON g.principal_kind = 'team' AND g.principal_id = t.id \
    JOIN team_members m ON m.team_id = t.id \
    WHERE g.project_id = $1 AND m.principal_kind = $2 AND m.principal_id = $3 \
    UNION ALL \
    SELECT 'all_users' AS source, CAST(NULL AS BIGINT) AS team_id, CAST(NULL AS TEXT) AS team_name, g.role \
    FROM project_grants g WHERE g.project_id = $1 AND g.principal_kind = 'all_users' AND $2 = 'user'";

fn grant_from_row(row: &impl RowExt) -> Result<Grant, StoreError> {
    let source = match row.text("source")?.as_str() {
        "individual" => GrantSource::Individual,
        "all_users" => GrantSource::AllUsers,
        "team" => GrantSource::Team {
            id: TeamId(row.opt_int("team_id")?.unwrap_or_default()),
            name: row.opt_text("team_name")?.unwrap_or_default(),
        },
        "organization_role" => GrantSource::OrganizationRole,
        other => return Err(StoreError::Corrupt(format!("grant source {other:?}"))),
    };
    Ok(Grant { source, role: row.text("role")? })
}

impl Store {
    /// The principal's role in the organization, if it belongs to it.
    pub async fn org_standing(&self, org_id: OrgId, principal: Principal) -> Result<Option<OrgStanding>, StoreError> {
        with_pool!(self, pool => {
            let row = match principal {
                Principal::User(user_id) => {
                    sqlx::query(
                        "SELECT m.role, CAST(NULL AS BIGINT) AS expires_at FROM org_members m \
                         JOIN organizations o ON o.id = m.org_id \
                         WHERE m.org_id = $1 AND m.user_id = $2 AND o.deleted_at IS NULL AND m.deactivated_at IS NULL",
                    )
                    .bind(org_id.0)
                    .bind(user_id.0)
                    .fetch_optional(pool)
                    .await?
                }
                Principal::ServiceAccount(account_id) => {
                    sqlx::query(
                        "SELECT s.org_role AS role, s.expires_at FROM service_accounts s \
                         JOIN organizations o ON o.id = s.org_id \
                         WHERE s.org_id = $1 AND s.id = $2 AND o.deleted_at IS NULL",
                    )
                    .bind(org_id.0)
                    .bind(account_id.0)
                    .fetch_optional(pool)
                    .await?
                }
            };
            row.map(|row| {
                Ok(OrgStanding {
                    org_id,
                    role: parse_org_role(&row.text("role")?)?,
                    expires_at: row.opt_time("expires_at")?,
                })
            })
            .transpose()
        })
    }

    /// The grants a principal holds on a project through individual, team and all-users
    /// grants. (The organization-role grant is derived from [`Store::org_standing`].)
    pub async fn grants_of(&self, project_id: ProjectId, principal: Principal) -> Result<Vec<Grant>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(GRANTS_OF_PRINCIPAL)
                .bind(project_id.0)
                .bind(principal.kind())
                .bind(principal.id())
                .fetch_all(pool)
                .await?;
            let mut grants = rows.iter().map(grant_from_row).collect::<Result<Vec<_>, _>>()?;
            grants.sort();
            Ok(grants)
        })
    }

    /// Sets (or replaces) the role a grantee holds on a project.
    pub async fn set_grant(
        &self,
        project_id: ProjectId,
        grantee: Grantee,
        role: &str,
        by: Option<UserId>,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            upsert_grant!(
                &mut *tx,
                project = project_id.0,
                kind = grantee.kind(),
                id = grantee.id(),
                role = role,
                by = by.map(|id| id.0),
                at = audit.at.as_millisecond()
            );
            insert_audit!(&mut *tx, audit);
            tx.commit().await?;
        });
        Ok(())
    }

    /// The role a grantee holds directly on a project, if any.
    pub async fn grant(&self, project_id: ProjectId, grantee: Grantee) -> Result<Option<String>, StoreError> {
        with_pool!(self, pool => {
            Ok(sqlx::query_scalar(
                "SELECT role FROM project_grants WHERE project_id = $1 AND principal_kind = $2 AND principal_id = $3",
            )
            .bind(project_id.0)
            .bind(grantee.kind())
            .bind(grantee.id())
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Removes a grantee's direct grant on a project; `NotFound` if there was none.
    pub async fn remove_grant(
        &self,
        project_id: ProjectId,
        grantee: Grantee,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin_writing().await?;
            let removed = sqlx::query(
                "DELETE FROM project_grants WHERE project_id = $1 AND principal_kind = $2 AND principal_id = $3",
            )
            .bind(project_id.0)
            .bind(grantee.kind())
            .bind(grantee.id())
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

    /// Every principal with access to a project, each with all its grants and their
    /// sources: organization role, individual, team and all-users grants.
    pub async fn project_members(&self, project_id: ProjectId) -> Result<Vec<ProjectMember>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT 'user' AS kind, u.id AS principal_id, u.email AS label, 'organization_role' AS source, \
                 CAST(NULL AS BIGINT) AS team_id, CAST(NULL AS TEXT) AS team_name, m.role AS role \
                 FROM projects p JOIN org_members m ON m.org_id = p.org_id JOIN users u ON u.id = m.user_id \
                 WHERE p.id = $1 AND m.role IN ('owner', 'admin') AND m.deactivated_at IS NULL \
                 UNION ALL \
                 SELECT 'service_account', s.id, s.username, 'organization_role', NULL, NULL, s.org_role \
                 FROM projects p JOIN service_accounts s ON s.org_id = p.org_id \
                 WHERE p.id = $1 AND s.org_role IN ('owner', 'admin') \
                 UNION ALL \
                 SELECT g.principal_kind, g.principal_id, COALESCE(u.email, s.username, ''), 'individual', NULL, NULL, g.role \
                 FROM project_grants g LEFT JOIN users u ON g.principal_kind = 'user' AND u.id = g.principal_id \
                 LEFT JOIN service_accounts s ON g.principal_kind = 'service_account' AND s.id = g.principal_id \
                 WHERE g.project_id = $1 AND g.principal_kind IN ('user', 'service_account') \
                 UNION ALL \
                 SELECT tm.principal_kind, tm.principal_id, COALESCE(u.email, s.username, ''), 'team', t.id, t.name, g.role \
                 FROM project_grants g JOIN teams t ON g.principal_kind = 'team' AND t.id = g.principal_id \
                 JOIN team_members tm ON tm.team_id = t.id \
                 LEFT JOIN users u ON tm.principal_kind = 'user' AND u.id = tm.principal_id \
                 LEFT JOIN service_accounts s ON tm.principal_kind = 'service_account' AND s.id = tm.principal_id \
                 WHERE g.project_id = $1 \
                 UNION ALL \
                 SELECT 'user', u.id, u.email, 'all_users', NULL, NULL, g.role \
                 FROM project_grants g JOIN projects p ON p.id = g.project_id \
                 JOIN org_members m ON m.org_id = p.org_id JOIN users u ON u.id = m.user_id \
                 WHERE g.project_id = $1 AND g.principal_kind = 'all_users' AND m.deactivated_at IS NULL",
            )
            .bind(project_id.0)
            .fetch_all(pool)
            .await?;
            let mut members: Vec<ProjectMember> = Vec::new();
            for row in &rows {
                let principal = match row.text("kind")?.as_str() {
                    "user" => Principal::User(UserId(row.int("principal_id")?)),
                    _ => Principal::ServiceAccount(ServiceAccountId(row.int("principal_id")?)),
                };
                let grant = grant_from_row(row)?;
                match members.iter_mut().find(|member| member.principal == principal) {
                    Some(member) => member.grants.push(grant),
                    None => members.push(ProjectMember { principal, label: row.text("label")?, grants: vec![grant] }),
                }
            }
            for member in &mut members {
                member.grants.sort();
                member.grants.dedup();
            }
            members.sort_by(|a, b| a.label.cmp(&b.label));
            Ok(members)
        })
    }
}
