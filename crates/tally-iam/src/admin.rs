//! Administration of the access model: organizations, projects, members and their roles,
//! teams, custom roles, access requests, invitations, service accounts, billing and the
//! audit log. Every operation takes the permit of the permission its route requires
//! ([`crate::authz::OrgPermit`] or [`crate::authz::ProjectPermit`], which only
//! `require::<P>()` on a scope from [`crate::authz`] makes) and applies the rules of who
//! may change whom on top of it; every change is audited in the same transaction. The one
//! exception is [`members::request_access`], for members who hold nothing in the project
//! (it takes their bare standing).
//!
//! A scope alone does not reach an operation, nor does a permit for another permission:
//!
//! ```compile_fail
//! # async fn f(ctx: tally_iam::admin::Ctx<'_>, scope: &tally_iam::authz::OrgScope) {
//! let _ = tally_iam::admin::teams::rename(ctx, scope, tally_types::TeamId(1), "Growth").await;
//! # }
//! ```
//!
//! ```compile_fail
//! # use tally_types::permissions::org;
//! # async fn f(ctx: tally_iam::admin::Ctx<'_>, scope: &tally_iam::authz::OrgScope) -> Result<(), tally_iam::IamError> {
//! let permit = scope.require::<org::ViewOrganization>()?;
//! tally_iam::admin::teams::rename(ctx, &permit, tally_types::TeamId(1), "Growth").await?;
//! # Ok(()) }
//! ```
//!
//! The permit for the route's permission does:
//!
//! ```
//! # use tally_types::permissions::org;
//! # async fn f(ctx: tally_iam::admin::Ctx<'_>, scope: &tally_iam::authz::OrgScope) -> Result<(), tally_iam::IamError> {
//! let permit = scope.require::<org::ManageTeams>()?;
//! tally_iam::admin::teams::rename(ctx, &permit, tally_types::TeamId(1), "Growth").await?;
//! # Ok(()) }
//! ```

pub mod audit;
pub mod custom_roles;
pub mod invitations;
pub mod members;
pub mod orgs;
pub mod projects;
pub mod service_accounts;
pub mod teams;

use jiff::{SignedDuration, Timestamp};
use tally_store::{AuditActor, AuditEntry, Store};
use tally_types::{Clock, OrgId, Principal, ProjectId, ProjectPermissionSet};

use crate::authz::CUSTOM_PREFIX;
use crate::mail::Mailer;
use crate::seal::Sealer;
use crate::{IamError, validate};

/// Who is acting, for permission rules and the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    pub principal: Principal,
    /// E-mail or service-account username.
    pub label: String,
    pub ip: Option<String>,
    /// A session made by an organization's single sign-on acts in that organization only.
    pub only_org: Option<OrgId>,
    /// The hash of the acting session's token, so that too many wrong passwords at a
    /// step-up check end it.
    pub session_hash: Option<String>,
    operator: bool,
}

impl Actor {
    /// A signed-in user or service account.
    pub fn new(principal: Principal, label: String, ip: Option<String>) -> Actor {
        Actor { principal, label, ip, only_org: None, session_hash: None, operator: false }
    }

    /// The same actor, acting through a session (and the organization it is limited to).
    pub fn in_session(mut self, session_hash: String, only_org: Option<OrgId>) -> Actor {
        self.session_hash = Some(session_hash);
        self.only_org = only_org;
        self
    }

    /// Who asks, as the authorization function sees it.
    pub fn subject(&self) -> crate::authz::Subject {
        crate::authz::Subject { principal: self.principal, only_org: self.only_org }
    }

    /// Someone not signed in (following an invitation link).
    pub fn anonymous(label: &str) -> Actor {
        Actor {
            principal: Principal::User(tally_types::UserId(0)),
            label: label.to_string(),
            ip: None,
            only_org: None,
            session_hash: None,
            operator: false,
        }
    }

    /// The `tally admin` command run by whoever controls the machine.
    pub fn operator() -> Actor {
        Actor {
            principal: Principal::User(tally_types::UserId(0)),
            label: "tally admin (operator)".into(),
            ip: None,
            only_org: None,
            session_hash: None,
            operator: true,
        }
    }

    pub fn is_operator(&self) -> bool {
        self.operator
    }

    pub(crate) fn user_id(&self) -> Option<tally_types::UserId> {
        match self.principal {
            Principal::User(id) if id.0 > 0 => Some(id),
            _ => None,
        }
    }
}

/// Instance-wide settings the access model needs.
#[derive(Debug, Clone)]
pub struct AccessSettings {
    /// Regions a project may be created in; the first is the default.
    pub regions: Vec<String>,
    pub invitation_lifetime: SignedDuration,
    pub invitations_per_domain_per_hour: i64,
    pub org_deletion_grace: SignedDuration,
    pub project_deletion_grace: SignedDuration,
    /// Where links in e-mails point, such as `https://tally.example.com`.
    pub base_url: String,
    pub sessions: crate::sessions::SessionPolicy,
    pub throttle: crate::throttle::ThrottlePolicy,
    /// The DNS server domain claims are checked against; `None` for the system's.
    pub dns_resolver: Option<std::net::SocketAddr>,
    /// Requests to identity providers go only to public addresses.
    pub sso_public_only: bool,
}

impl Default for AccessSettings {
    fn default() -> Self {
        AccessSettings {
            regions: vec!["us".into()],
            invitation_lifetime: SignedDuration::from_hours(24 * 7),
            invitations_per_domain_per_hour: 10,
            org_deletion_grace: SignedDuration::from_hours(24 * 90),
            project_deletion_grace: SignedDuration::from_hours(24 * 60),
            base_url: "http://127.0.0.1:8080".into(),
            sessions: crate::sessions::SessionPolicy::default(),
            throttle: crate::throttle::ThrottlePolicy::default(),
            dns_resolver: None,
            sso_public_only: false,
        }
    }
}

/// Everything an operation needs besides its arguments.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub clock: &'a dyn Clock,
    pub sealer: &'a Sealer,
    pub mailer: &'a dyn Mailer,
    pub sms: &'a dyn crate::sms::SmsSender,
    pub settings: &'a AccessSettings,
    pub actor: &'a Actor,
}

impl Ctx<'_> {
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// An audit row for a change by this context's actor, now.
    pub(crate) fn audit(
        &self,
        org_id: OrgId,
        project_id: Option<ProjectId>,
        event_type: &str,
        target_kind: &'static str,
        target_id: impl ToString,
    ) -> AuditEntry {
        let actor = &self.actor;
        let (kind, id) = match actor.principal {
            _ if actor.is_operator() => ("operator", None),
            Principal::User(id) if id.0 == 0 => ("anonymous", None),
            Principal::User(id) => ("user", Some(id.0)),
            Principal::ServiceAccount(id) => ("service_account", Some(id.0)),
        };
        AuditEntry {
            org_id,
            project_id,
            at: self.now(),
            actor: AuditActor { kind, id, label: actor.label.clone() },
            ip: actor.ip.clone(),
            event_type: event_type.to_string(),
            target_kind,
            target_id: target_id.to_string(),
            before: None,
            after: None,
        }
    }
}

/// An audit row for a change by the context's actor (for crates building on this one).
pub fn audit_entry(
    ctx: Ctx<'_>,
    org_id: OrgId,
    event_type: &str,
    target_kind: &'static str,
    target_id: impl ToString,
) -> AuditEntry {
    ctx.audit(org_id, None, event_type, target_kind, target_id)
}

pub(crate) trait WithChange {
    fn with(self, before: Option<serde_json::Value>, after: Option<serde_json::Value>) -> Self;
}

impl WithChange for AuditEntry {
    fn with(mut self, before: Option<serde_json::Value>, after: Option<serde_json::Value>) -> Self {
        self.before = before;
        self.after = after;
        self
    }
}

/// The actor's capability in a project of the organization it is acting in: its own
/// standing, or Owner rights for the operator.
async fn actor_in_project(ctx: Ctx<'_>, project_id: ProjectId) -> Result<crate::authz::ProjectScope, IamError> {
    if ctx.actor.is_operator() {
        return Ok(crate::authz::unchecked_operator_project_scope(ctx.store, project_id).await?);
    }
    Ok(crate::authz::project_standing_without_permission(ctx.store, ctx.clock, ctx.actor.subject(), project_id).await?)
}

/// Checks that a role key names a default role or one of this project's custom roles,
/// and returns the permissions it gives.
async fn project_role_set(store: &Store, project_id: ProjectId, role: &str) -> Result<ProjectPermissionSet, IamError> {
    if let Some(custom_id) = role.strip_prefix(CUSTOM_PREFIX) {
        let custom = store
            .custom_role(project_id, custom_id)
            .await?
            .ok_or_else(|| IamError::invalid("role", format!("no custom role {custom_id:?} in this project")))?;
        return Ok(crate::authz::custom_set(&custom.permissions));
    }
    role.parse::<tally_types::ProjectRole>()
        .map(|role| role.permissions())
        .map_err(|error| IamError::invalid("role", format!("{error}, or custom:<id> for a custom role")))
}

/// What a holder of `held` may give others (in custom roles, and by giving roles): what it
/// holds, and for the project's Owner (who holds its security, `ManageProjectSecurity`)
/// the classified-data permissions too, which no default role holds (since April 2026), so
/// a custom role the Owner makes and gives is the only way to them.
pub(crate) fn grantable_by(held: ProjectPermissionSet) -> ProjectPermissionSet {
    if !held.contains(tally_types::ProjectPermission::ManageProjectSecurity) {
        return held;
    }
    held.union(ProjectPermissionSet::of(&[
        tally_types::ProjectPermission::MarkClassifiedData,
        tally_types::ProjectPermission::AccessClassifiedData,
    ]))
}

/// "Owners and Admins can change roles only to a role at or below their own level": a
/// role may be given only by someone who holds every permission it carries.
async fn check_assignable(
    store: &Store,
    project_id: ProjectId,
    role: &str,
    assigner: ProjectPermissionSet,
) -> Result<(), IamError> {
    let wanted = project_role_set(store, project_id, role).await?;
    if !wanted.is_subset_of(grantable_by(assigner)) {
        return Err(IamError::Forbidden(format!(
            "you cannot give the role {role}: it carries permissions you do not hold"
        )));
    }
    Ok(())
}

/// Whether `actor` outranks a holder of `held` ("only members below you"). Project Owners
/// (those who may delete the project) outrank everyone.
fn outranks(actor: ProjectPermissionSet, held: ProjectPermissionSet) -> bool {
    actor.contains(tally_types::ProjectPermission::DeleteProject) || (held.is_subset_of(actor) && held != actor)
}

/// "Only members below you", in a project: the one rule for every change that can lower or
/// take away someone's access there (changing or removing a grant, removing or deleting a
/// service account). It compares the actor with the target's whole standing in the
/// project (every grant, from every source), so a peer cannot be demoted by one of them.
pub(crate) async fn check_outranks_in_project(
    ctx: Ctx<'_>,
    scope: &crate::authz::ProjectScope,
    target: Principal,
) -> Result<(), IamError> {
    if scope.allows(tally_types::ProjectPermission::DeleteProject) {
        return Ok(());
    }
    if scope.principal() == target {
        return Err(IamError::Forbidden("you cannot change your own access to this project".into()));
    }
    let held = crate::authz::project_standing_without_permission(ctx.store, ctx.clock, target, scope.project_id())
        .await
        .map_err(|_| IamError::NotFound("member of this organization"))?
        .permissions();
    if !outranks(scope.permissions(), held) {
        return Err(IamError::Forbidden(
            "their access to this project is not below yours; only someone above them can change or remove it".into(),
        ));
    }
    Ok(())
}

/// "Only members below you", in an organization: Owners manage anyone (the last-Owner rule
/// aside); everyone else only principals ranked below them, and never themselves.
pub(crate) fn check_outranks_in_org(
    scope: &crate::authz::OrgScope,
    target: Principal,
    target_label: &str,
    target_role: tally_types::OrgRole,
) -> Result<(), IamError> {
    if scope.role() == tally_types::OrgRole::Owner {
        return Ok(());
    }
    if scope.principal() == target {
        return Err(IamError::Forbidden("you cannot change your own organization role or access".into()));
    }
    if target_role.rank() >= scope.role().rank() {
        return Err(IamError::Forbidden(format!(
            "{target_label} is {}; you can change only members below you",
            target_role.with_article()
        )));
    }
    Ok(())
}

/// E-mails (at most `most` `what`), each a member of the organization `org_id`, lowercase,
/// sorted and once each; `hint` follows the message naming one that is not.
pub(crate) async fn member_emails(
    ctx: &Ctx<'_>,
    org_id: OrgId,
    emails: &[String],
    field: &'static str,
    most: usize,
    what: &str,
    hint: &str,
) -> Result<Vec<String>, IamError> {
    if emails.len() > most {
        return Err(IamError::invalid(field, format!("at most {most} {what}")));
    }
    let members = ctx.store.org_members(org_id).await?;
    let mut checked = Vec::new();
    for email in emails {
        let email = email.trim().to_lowercase();
        if !members.iter().any(|member| member.user.email.to_lowercase() == email) {
            return Err(IamError::invalid(field, format!("{email} is not a member of the organization{hint}")));
        }
        checked.push(email);
    }
    checked.sort();
    checked.dedup();
    Ok(checked)
}

fn checked_name<'a>(field: &'static str, name: &'a str) -> Result<&'a str, IamError> {
    validate::name(field, name)
}
