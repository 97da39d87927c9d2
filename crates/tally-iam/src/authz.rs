//! The one authorization function. Every request that touches an organization or a project
//! goes through [`authorize`], which returns a capability ([`OrgScope`] or
//! [`ProjectScope`]) that only this module can build. A scope says who the caller is there;
//! the domain operations (`admin`, `domains`, `scim`, `twofactor`, and single sign-on's
//! set-up) take a permit ([`OrgPermit`] or [`ProjectPermit`]) for the one permission that
//! guards them, which only [`OrgScope::require`] / [`ProjectScope::require`] make, so a
//! forgotten or wrong check does not compile.
//!
//! Scopes made without a caller's check have names that say so: the operator's
//! [`unchecked_operator_org_scope`] and [`unchecked_operator_project_scope`] (`tally admin`
//! only), and [`project_standing_without_permission`] (membership only, no permission).
//!
//! Effective permissions are the union of every grant (Mixpanel's additive model): the
//! organization role, individual grants, team grants and the project's all-users default.

use std::collections::HashMap;

use tally_store::{Grant, GrantSource, Project, Store, StoreError};
use tally_types::permissions::{OrgMarker, ProjectMarker};
use tally_types::{
    Classified, Clock, ErrorKind, OrgId, OrgPermission, OrgPermissionSet, OrgRole, Principal, ProjectId,
    ProjectPermission, ProjectPermissionSet, ProjectRole,
};

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    /// Unknown, deleted, or belonging to an organization the caller is not in: the same
    /// answer for all three, so ids of other tenants reveal nothing.
    #[error("no such resource")]
    NotFound,
    #[error("you lack the permission {0} here")]
    Forbidden(&'static str),
    #[error("you have no access to this project; ask one of its Owners or Admins, or request access")]
    NoProjectAccess,
    /// The session came from another organization's single sign-on, which vouches for
    /// that organization only.
    #[error(
        "you signed in through another organization's single sign-on; sign in to this organization with its own \
         single sign-on, or with your password and second factor"
    )]
    SignInRequired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Classified for AuthzError {
    fn kind(&self) -> ErrorKind {
        match self {
            AuthzError::NotFound => ErrorKind::NotFound,
            AuthzError::Forbidden(_) | AuthzError::NoProjectAccess | AuthzError::SignInRequired => ErrorKind::Forbidden,
            AuthzError::Store(error) => error.kind(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AuthzError::NotFound => "not_found",
            AuthzError::Forbidden(_) => "forbidden",
            AuthzError::NoProjectAccess => "no_project_access",
            AuthzError::SignInRequired => "sign_in_required",
            AuthzError::Store(error) => error.code(),
        }
    }
}

/// Who asks: a principal and, for a session made by an organization's single sign-on, the
/// one organization that session may open (every other asks for its own sign-in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subject {
    pub principal: Principal,
    pub only_org: Option<OrgId>,
}

impl From<Principal> for Subject {
    fn from(principal: Principal) -> Self {
        Subject { principal, only_org: None }
    }
}

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Org(OrgId, OrgPermission),
    Project(ProjectId, ProjectPermission),
}

/// Proof that a principal may act in an organization, with everything it may do there.
#[derive(Debug, Clone)]
pub struct OrgScope {
    org_id: OrgId,
    principal: Principal,
    role: OrgRole,
    permissions: OrgPermissionSet,
}

impl OrgScope {
    pub fn org_id(&self) -> OrgId {
        self.org_id
    }
    pub fn principal(&self) -> Principal {
        self.principal
    }
    pub fn role(&self) -> OrgRole {
        self.role
    }
    pub fn permissions(&self) -> OrgPermissionSet {
        self.permissions
    }
    pub fn allows(&self, permission: OrgPermission) -> bool {
        self.permissions.contains(permission)
    }
}

/// Proof that a principal may act in a project, with its effective permissions and the
/// grants they come from.
#[derive(Debug, Clone)]
pub struct ProjectScope {
    project: Project,
    principal: Principal,
    org_role: OrgRole,
    grants: Vec<Grant>,
    permissions: ProjectPermissionSet,
}

impl ProjectScope {
    pub fn project(&self) -> &Project {
        &self.project
    }
    pub fn project_id(&self) -> ProjectId {
        self.project.id
    }
    pub fn org_id(&self) -> OrgId {
        self.project.org_id
    }
    pub fn principal(&self) -> Principal {
        self.principal
    }
    pub fn org_role(&self) -> OrgRole {
        self.org_role
    }
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }
    pub fn permissions(&self) -> ProjectPermissionSet {
        self.permissions
    }
    pub fn allows(&self, permission: ProjectPermission) -> bool {
        self.permissions.contains(permission)
    }
}

/// Proof that the authorization function checked the organization permission `P` for this
/// scope: only [`OrgScope::require`] makes one, so a domain function that takes
/// `&OrgPermit<'_, org::X>` cannot be reached without permission X.
#[derive(Debug, Clone, Copy)]
pub struct OrgPermit<'a, P: OrgMarker> {
    scope: &'a OrgScope,
    _permission: std::marker::PhantomData<P>,
}

impl<'a, P: OrgMarker> OrgPermit<'a, P> {
    pub fn scope(&self) -> &'a OrgScope {
        self.scope
    }
}

impl<P: OrgMarker> std::ops::Deref for OrgPermit<'_, P> {
    type Target = OrgScope;
    fn deref(&self) -> &OrgScope {
        self.scope
    }
}

impl OrgScope {
    /// The permit for `P`, when this scope holds it.
    pub fn require<P: OrgMarker>(&self) -> Result<OrgPermit<'_, P>, AuthzError> {
        if !self.allows(P::PERMISSION) {
            return Err(AuthzError::Forbidden(P::PERMISSION.as_str()));
        }
        Ok(OrgPermit { scope: self, _permission: std::marker::PhantomData })
    }
}

/// Proof that the authorization function checked the project permission `P`; see
/// [`OrgPermit`].
#[derive(Debug, Clone, Copy)]
pub struct ProjectPermit<'a, P: ProjectMarker> {
    scope: &'a ProjectScope,
    _permission: std::marker::PhantomData<P>,
}

impl<'a, P: ProjectMarker> ProjectPermit<'a, P> {
    pub fn scope(&self) -> &'a ProjectScope {
        self.scope
    }
}

impl<P: ProjectMarker> std::ops::Deref for ProjectPermit<'_, P> {
    type Target = ProjectScope;
    fn deref(&self) -> &ProjectScope {
        self.scope
    }
}

impl ProjectScope {
    /// The permit for `P`, when this scope holds it.
    pub fn require<P: ProjectMarker>(&self) -> Result<ProjectPermit<'_, P>, AuthzError> {
        if !self.allows(P::PERMISSION) {
            return Err(AuthzError::Forbidden(P::PERMISSION.as_str()));
        }
        Ok(ProjectPermit { scope: self, _permission: std::marker::PhantomData })
    }
}

/// What of a project's data a [`DataScope`] shows: the rows of one data view (none: all
/// project data) and no values of the classified properties its holder may not see.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Visibility {
    pub view: Option<ViewFilter>,
    /// Properties (of events and of profiles) whose values are hidden: classified ones,
    /// for a holder without `access_classified_data`.
    pub hidden: std::collections::BTreeSet<String>,
    /// The Lexicon's merges, applied in queries (never to the raw export): an event or
    /// event property read as another.
    pub merges: Merges,
}

/// Events and event properties merged into others in the Lexicon: name → the name it is
/// read as.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Merges {
    pub events: std::collections::BTreeMap<String, String>,
    pub properties: std::collections::BTreeMap<String, String>,
}

/// The data view a scope reads through.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewFilter {
    pub id: i64,
    pub name: String,
    /// The view's filters, as the report model's JSON (`tally-query` reads them).
    pub filters: serde_json::Value,
}

impl Visibility {
    /// Whether everything of the project is visible (no view, nothing hidden).
    pub fn is_everything(&self) -> bool {
        self.view.is_none() && self.hidden.is_empty()
    }
}

/// What data-path code (event reads, queries, exports) acts on: one project, checked for the
/// project permission `P`, and what of it the holder sees ([`Visibility`]: a data view and
/// the classified properties hidden). Owned (it outlives the request's borrow of the scope),
/// and made only in this crate: from a [`ProjectPermit`] by [`crate::views::data_scope`]
/// (the caller's data view), from the project's API secret ([`data_scope_by_api_secret`]),
/// which Mixpanel's server-side APIs accept as the whole project's credential, or for a
/// public link.
#[derive(Debug, Clone)]
pub struct DataScope<P: ProjectMarker> {
    project: Project,
    visibility: std::sync::Arc<Visibility>,
    _permission: std::marker::PhantomData<P>,
}

impl DataScope<tally_types::permissions::project::ViewReports> {
    /// The scope a live public link opens (`reports::open_public_board_without_account`
    /// only): its callers answer the linked board's saved reports and nothing else.
    pub(crate) fn for_public_link(project: Project, visibility: Visibility) -> Self {
        DataScope::new(project, visibility)
    }
}

impl<P: ProjectMarker> DataScope<P> {
    pub(crate) fn new(project: Project, visibility: Visibility) -> Self {
        DataScope { project, visibility: std::sync::Arc::new(visibility), _permission: std::marker::PhantomData }
    }
    pub fn project(&self) -> &Project {
        &self.project
    }
    pub fn project_id(&self) -> ProjectId {
        self.project.id
    }
    /// What of the project this scope shows.
    pub fn visibility(&self) -> &Visibility {
        &self.visibility
    }
}

impl<P: ProjectMarker> ProjectPermit<'_, P> {
    /// The data-path capability for the same project and permission over the whole project,
    /// whatever the holder's data view: only for operations on the project as a whole that
    /// return none of its data (resetting it, asking whether it holds any). Reads take
    /// [`crate::views::data_scope`].
    pub fn whole_project_data_scope_returning_no_data(&self) -> DataScope<P> {
        DataScope::new(self.scope.project.clone(), Visibility::default())
    }
}

/// The project whose API secret is `secret` (compared by its hash), as a
/// data scope for `P`: the API secret is the project's own credential for every read, over
/// all project data (as in Mixpanel), but no one vouched for its holder's access to
/// classified data, so classified values stay hidden.
pub async fn data_scope_by_api_secret<P: ProjectMarker>(
    store: &impl crate::Metadata,
    secret: &str,
) -> Result<Option<DataScope<P>>, StoreError> {
    let store = crate::directory::raw(store);
    let Some(project) = store.project_by_api_secret_hash(&crate::token_hash(secret)).await? else { return Ok(None) };
    let (hidden, merges) = crate::views::lexicon_rules(store, project.id).await?;
    Ok(Some(DataScope::new(project, Visibility { view: None, hidden, merges })))
}

/// What the ingestion path writes into: one project, named by a credential that may send
/// it events. Made only here: from the project's token (public, as in Mixpanel: it sends
/// events and profile updates, nothing else), from its API secret, or from a service
/// account's permit to import. `trusted` for the last two: such a caller may send old
/// events and set the client's address.
#[derive(Debug, Clone)]
pub struct IngestScope {
    project: Project,
    trusted: bool,
}

impl IngestScope {
    pub fn project(&self) -> &Project {
        &self.project
    }
    pub fn project_id(&self) -> ProjectId {
        self.project.id
    }
    /// Whether the credential was a secret (API secret or service account), not the token.
    pub fn trusted(&self) -> bool {
        self.trusted
    }
}

/// The project whose token is `token`, as an ingestion scope (untrusted).
pub async fn ingest_scope_by_token(
    store: &impl crate::Metadata,
    token: &str,
) -> Result<Option<IngestScope>, StoreError> {
    let store = crate::directory::raw(store);
    let project = store.project_by_token(token).await?;
    Ok(project.map(|project| IngestScope { project, trusted: false }))
}

/// The project whose API secret is `secret` (compared by its hash), as a trusted
/// ingestion scope.
pub async fn ingest_scope_by_api_secret(
    store: &impl crate::Metadata,
    secret: &str,
) -> Result<Option<IngestScope>, StoreError> {
    let store = crate::directory::raw(store);
    let project = store.project_by_api_secret_hash(&crate::token_hash(secret)).await?;
    Ok(project.map(|project| IngestScope { project, trusted: true }))
}

impl ProjectPermit<'_, tally_types::permissions::project::ImportEvents> {
    /// The trusted ingestion scope of a principal allowed to import into the project.
    pub fn ingest_scope(&self) -> IngestScope {
        IngestScope { project: self.scope.project.clone(), trusted: true }
    }
}

/// Either capability, as [`authorize`] returns it.
#[derive(Debug, Clone)]
pub enum Access {
    Org(OrgScope),
    Project(Box<ProjectScope>),
}

/// Decides whether `principal` may do what `need` names. Outsiders get `NotFound`;
/// members lacking the permission get `Forbidden` (or `NoProjectAccess`).
pub async fn authorize(
    store: &impl crate::Metadata,
    clock: &dyn Clock,
    subject: impl Into<Subject>,
    need: Need,
) -> Result<Access, AuthzError> {
    let store = crate::directory::raw(store);
    let subject = subject.into();
    match need {
        Need::Org(org_id, permission) => {
            let scope = org_scope(store, clock, subject, org_id).await?;
            if !scope.allows(permission) {
                return Err(AuthzError::Forbidden(permission.as_str()));
            }
            Ok(Access::Org(scope))
        }
        Need::Project(project_id, permission) => {
            let scope = project_scope(store, clock, subject, project_id).await?;
            if scope.permissions.is_empty() {
                return Err(AuthzError::NoProjectAccess);
            }
            if !scope.allows(permission) {
                return Err(AuthzError::Forbidden(permission.as_str()));
            }
            Ok(Access::Project(Box::new(scope)))
        }
    }
}

/// [`authorize`] for an organization permission.
pub async fn authorize_org(
    store: &impl crate::Metadata,
    clock: &dyn Clock,
    principal: impl Into<Subject>,
    org_id: OrgId,
    permission: OrgPermission,
) -> Result<OrgScope, AuthzError> {
    let store = crate::directory::raw(store);
    match authorize(store, clock, principal, Need::Org(org_id, permission)).await? {
        Access::Org(scope) => Ok(scope),
        Access::Project(_) => Err(AuthzError::NotFound),
    }
}

/// [`authorize`] for a project permission.
pub async fn authorize_project(
    store: &impl crate::Metadata,
    clock: &dyn Clock,
    principal: impl Into<Subject>,
    project_id: ProjectId,
    permission: ProjectPermission,
) -> Result<ProjectScope, AuthzError> {
    let store = crate::directory::raw(store);
    match authorize(store, clock, principal, Need::Project(project_id, permission)).await? {
        Access::Project(scope) => Ok(*scope),
        Access::Org(_) => Err(AuthzError::NotFound),
    }
}

async fn org_scope(store: &Store, clock: &dyn Clock, subject: Subject, org_id: OrgId) -> Result<OrgScope, AuthzError> {
    let principal = subject.principal;
    let standing = store.org_standing(org_id, principal).await?.ok_or(AuthzError::NotFound)?;
    if standing.expires_at.is_some_and(|expires_at| expires_at <= clock.now()) {
        return Err(AuthzError::NotFound);
    }
    // Checked after membership, so outsiders still learn nothing.
    if subject.only_org.is_some_and(|only| only != org_id) {
        return Err(AuthzError::SignInRequired);
    }
    Ok(OrgScope { org_id, principal, role: standing.role, permissions: standing.role.permissions() })
}

/// A principal's standing in a project even when it holds no permission there (used by
/// access requests). Outsiders get `NotFound`.
async fn project_scope(
    store: &Store,
    clock: &dyn Clock,
    subject: Subject,
    project_id: ProjectId,
) -> Result<ProjectScope, AuthzError> {
    let principal = subject.principal;
    let project = store.project(project_id).await?.ok_or(AuthzError::NotFound)?;
    let org = org_scope(store, clock, subject, project.org_id).await?;
    let mut grants = store.grants_of(project_id, principal).await?;
    if let Some(role) = org.role.implied_project_role() {
        grants.insert(0, Grant { source: GrantSource::OrganizationRole, role: role.as_str().to_string() });
    }
    let custom = custom_role_permissions(store, project_id, &grants).await?;
    let permissions = effective_permissions(&grants, &custom);
    Ok(ProjectScope { project, principal, org_role: org.role, grants, permissions })
}

/// The scope of an organization member in a project where it may hold nothing yet: it
/// proves membership of the organization and nothing else (no permission), for access
/// requests and listings that say what the caller holds. Its name says so on purpose.
pub async fn project_standing_without_permission(
    store: &impl crate::Metadata,
    clock: &dyn Clock,
    subject: impl Into<Subject>,
    project_id: ProjectId,
) -> Result<ProjectScope, AuthzError> {
    let store = crate::directory::raw(store);
    project_scope(store, clock, subject.into(), project_id).await
}

/// The escape hatch for the operator at the machine (`tally admin`), who acts with Owner
/// rights in any organization without a check. Only the command line calls it; no HTTP
/// route can (its name is meant to stand out in review).
pub async fn unchecked_operator_org_scope(store: &impl crate::Metadata, org_id: OrgId) -> Result<OrgScope, AuthzError> {
    let store = crate::directory::raw(store);
    store.organization(org_id).await?.ok_or(AuthzError::NotFound)?;
    let role = OrgRole::Owner;
    Ok(OrgScope { org_id, principal: Principal::User(tally_types::UserId(0)), role, permissions: role.permissions() })
}

/// The operator's scope in a project: Owner rights, unchecked (see
/// [`unchecked_operator_org_scope`]).
pub async fn unchecked_operator_project_scope(
    store: &impl crate::Metadata,
    project_id: ProjectId,
) -> Result<ProjectScope, AuthzError> {
    let store = crate::directory::raw(store);
    let project = store.project(project_id).await?.ok_or(AuthzError::NotFound)?;
    let grants = vec![Grant { source: GrantSource::OrganizationRole, role: ProjectRole::Owner.as_str().to_string() }];
    Ok(ProjectScope {
        project,
        principal: Principal::User(tally_types::UserId(0)),
        org_role: OrgRole::Owner,
        grants,
        permissions: ProjectRole::Owner.permissions(),
    })
}

/// Permission sets of the custom roles named by these grants.
pub async fn custom_role_permissions(
    store: &impl crate::Metadata,
    project_id: ProjectId,
    grants: &[Grant],
) -> Result<HashMap<String, ProjectPermissionSet>, StoreError> {
    let store = crate::directory::raw(store);
    let mut custom = HashMap::new();
    if grants.iter().any(|grant| grant.role.starts_with(CUSTOM_PREFIX)) {
        for role in store.custom_roles(project_id).await? {
            custom.insert(format!("{CUSTOM_PREFIX}{}", role.id), custom_set(&role.permissions));
        }
    }
    Ok(custom)
}

/// Role keys of custom roles start with this.
pub const CUSTOM_PREFIX: &str = "custom:";

/// A stored custom role's permission names as a set (with the baseline every custom role
/// has); names no longer known are ignored.
pub fn custom_set(names: &[String]) -> ProjectPermissionSet {
    names
        .iter()
        .filter_map(|name| name.parse::<ProjectPermission>().ok())
        .collect::<ProjectPermissionSet>()
        .union(tally_types::permissions::custom_role_baseline())
}

/// What one role key gives: a default role's set, a custom role's set, or (for a custom
/// role that no longer exists) Consumer's, as deleting a role demotes its holders.
pub fn role_permissions(role: &str, custom: &HashMap<String, ProjectPermissionSet>) -> ProjectPermissionSet {
    if let Ok(default_role) = role.parse::<ProjectRole>() {
        return default_role.permissions();
    }
    custom.get(role).copied().unwrap_or_else(|| ProjectRole::Consumer.permissions())
}

/// The union over all grants.
pub fn effective_permissions(grants: &[Grant], custom: &HashMap<String, ProjectPermissionSet>) -> ProjectPermissionSet {
    grants.iter().fold(ProjectPermissionSet::EMPTY, |set, grant| set.union(role_permissions(&grant.role, custom)))
}
