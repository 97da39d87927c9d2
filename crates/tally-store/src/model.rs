//! What the store keeps, as plain values.

use jiff::Timestamp;
use tally_types::{IdMerge, OrgId, OrgRole, ProjectId, UserId};

use crate::StoreError;
use crate::row::RowExt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub has_password: bool,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    pub created_at: Timestamp,
}

/// An organization seen by one of its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    pub organization: Organization,
    pub role: OrgRole,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: ProjectId,
    pub org_id: OrgId,
    pub name: String,
    pub region: String,
    pub timezone: String,
    pub environment: Option<String>,
    /// The public ingestion token (not a secret: it ships inside web pages).
    pub token: String,
    /// The API secret, sealed with the instance key; only `tally-iam` can open it.
    pub api_secret_sealed: String,
    pub created_by: Option<UserId>,
    pub created_at: Timestamp,
    /// Simplified or Original ID Merge (§7).
    pub id_merge: IdMerge,
}

/// A user to create (or find, when the e-mail is already known).
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    /// An argon2 PHC string, or `None` for an account without a password yet.
    pub password_hash: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct NewProject<'a> {
    pub name: &'a str,
    pub region: &'a str,
    pub timezone: &'a str,
    pub environment: Option<&'a str>,
    pub token: &'a str,
    pub api_secret_hash: &'a str,
    pub api_secret_sealed: &'a str,
}

/// Who is allowed to create a tenant.
#[derive(Debug, Clone, Copy)]
pub enum TenantClaim<'a> {
    /// The one-time setup link of an empty instance; its hash must match a live token,
    /// which is consumed.
    SetupToken { token_hash: &'a str },
    /// The operator at the machine (`tally admin bootstrap`); any pending setup link is
    /// withdrawn, since the instance is no longer empty.
    Operator,
}

/// An organization with its first Owner and projects, created in one transaction.
#[derive(Debug, Clone)]
pub struct NewTenant<'a> {
    pub owner: NewUser<'a>,
    pub org_name: &'a str,
    pub projects: &'a [NewProject<'a>],
    pub claim: TenantClaim<'a>,
    pub now: Timestamp,
}

#[derive(Debug, Clone)]
pub struct CreatedTenant {
    pub user: User,
    /// False when the owner's e-mail already had an account, which was reused.
    pub user_created: bool,
    pub organization: Organization,
    pub projects: Vec<Project>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: UserId,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    /// Made by this organization's single sign-on: it opens that organization only.
    pub sso_org_id: Option<OrgId>,
}

/// Where a session was started, for its owner's session list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionOrigin {
    /// A random id that names the session in lists (the token is never shown again).
    pub public_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// E-mail addresses are unique without regard to case.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

pub(crate) fn user_from_row(row: &impl RowExt) -> Result<User, StoreError> {
    Ok(User {
        id: UserId(row.int("id")?),
        email: row.text("email")?,
        name: row.text("name")?,
        has_password: row.opt_text("password_hash")?.is_some(),
        created_at: row.time("created_at")?,
    })
}

pub(crate) fn org_from_row(row: &impl RowExt) -> Result<Organization, StoreError> {
    Ok(Organization { id: OrgId(row.int("id")?), name: row.text("name")?, created_at: row.time("created_at")? })
}

pub(crate) fn project_from_row(row: &impl RowExt) -> Result<Project, StoreError> {
    Ok(Project {
        id: ProjectId(row.int("id")?),
        org_id: OrgId(row.int("org_id")?),
        name: row.text("name")?,
        region: row.text("region")?,
        timezone: row.text("timezone")?,
        environment: row.opt_text("environment")?,
        token: row.text("token")?,
        api_secret_sealed: row.text("api_secret_sealed")?,
        created_by: row.opt_int("created_by")?.map(UserId),
        created_at: row.time("created_at")?,
        id_merge: row.text("id_merge")?.parse().map_err(StoreError::Corrupt)?,
    })
}

pub(crate) fn session_from_row(row: &impl RowExt) -> Result<Session, StoreError> {
    Ok(Session {
        user_id: UserId(row.int("user_id")?),
        created_at: row.time("created_at")?,
        last_seen_at: row.time("last_seen_at")?,
        expires_at: row.time("expires_at")?,
        sso_org_id: row.opt_int("sso_org_id")?.map(OrgId),
    })
}

pub(crate) fn parse_org_role(text: &str) -> Result<OrgRole, StoreError> {
    text.parse().map_err(|error| StoreError::Corrupt(format!("org_members.role: {error}")))
}
