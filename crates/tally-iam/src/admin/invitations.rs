//! Invitations: by e-mail with an organization role and projects, several at once or by
//! CSV upload; resend, copy link, revoke; accepting creates the account or attaches an
//! existing one. E-mails to one domain are rate-limited.

use serde_json::json;
use tally_store::{Accepted, Invitation, InvitedProject, NewInvitation, User, email_domain};
use tally_types::{InvitationId, OrgPermission, OrgRole, ProjectId, Secret};

use super::{Ctx, WithChange, check_assignable, project_role_set};
use crate::authz::OrgPermit;
use crate::mail::Mail;
use crate::{IamError, password, token_hash, validate};
use tally_types::permissions::org::ManageMembers;

/// Characters in an invitation token (256 bits).
const TOKEN_LEN: usize = 43;

#[derive(Debug, Clone)]
pub struct InviteInput {
    pub email: String,
    pub org_role: OrgRole,
    pub projects: Vec<InvitedProject>,
}

/// A sent invitation and its link (for "copy invite link").
#[derive(Debug)]
pub struct Sent {
    pub invitation: Invitation,
    pub link: Secret<String>,
}

fn link(ctx: Ctx<'_>, token: &str) -> String {
    format!("{}/invitations/accept?token={token}", ctx.settings.base_url.trim_end_matches('/'))
}

async fn check_rate(ctx: Ctx<'_>, email: &str) -> Result<(), IamError> {
    let domain = email_domain(email);
    let hour_ago = ctx.now().checked_sub(jiff::SignedDuration::from_hours(1)).unwrap_or(ctx.now());
    let sent = ctx.store.invitations_sent_to_domain(&domain, hour_ago).await?;
    if sent >= ctx.settings.invitations_per_domain_per_hour {
        return Err(IamError::RateLimited(format!(
            "too many invitations to {domain} in the last hour (at most {}); try again later",
            ctx.settings.invitations_per_domain_per_hour
        )));
    }
    Ok(())
}

/// "Who may grant what": the same rule for making an invitation and for every later action
/// on it (resend, copy link, revoke), since whoever holds its link holds its roles. Only
/// Owners give Owner, nobody gives an organization role above their own, and each project
/// role must be one the actor could give on that project. Projects gone since are skipped.
async fn check_grantable(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, ManageMembers>,
    org_role: OrgRole,
    projects: &[InvitedProject],
    skip_missing: bool,
) -> Result<(), IamError> {
    if org_role == OrgRole::Owner && !permit.allows(OrgPermission::GrantOrgOwner) {
        return Err(IamError::Forbidden("only Owners can invite Owners or act on their invitations".into()));
    }
    if org_role.rank() > permit.role().rank() {
        return Err(IamError::Forbidden(format!("the role {org_role} is above your own")));
    }
    for project in projects {
        let found = ctx.store.project(project.project_id).await?.filter(|found| found.org_id == permit.org_id());
        let Some(found) = found else {
            if skip_missing {
                continue;
            }
            return Err(IamError::NotFound("project"));
        };
        let actor = super::actor_in_project(ctx, found.id).await?;
        check_assignable(ctx.store, found.id, &project.role, actor.permissions()).await?;
    }
    Ok(())
}

async fn check_input(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, ManageMembers>,
    input: &InviteInput,
) -> Result<String, IamError> {
    let email = validate::email(&input.email)?.to_string();
    check_grantable(ctx, permit, input.org_role, &input.projects, false).await?;
    if ctx.store.org_members(permit.org_id()).await?.iter().any(|member| member.user.email.eq_ignore_ascii_case(&email))
    {
        return Err(IamError::Conflict(format!("{email} is already a member of this organization")));
    }
    Ok(email)
}

/// A pending invitation of this organization that the actor may act on.
async fn actionable(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, ManageMembers>,
    id: InvitationId,
) -> Result<Invitation, IamError> {
    let invitation = ctx.store.invitation(permit.org_id(), id).await?.ok_or(IamError::NotFound("invitation"))?;
    check_grantable(ctx, permit, invitation.org_role, &invitation.projects, true).await?;
    Ok(invitation)
}

async fn send(ctx: Ctx<'_>, org_name: &str, email: &str, link: &str) -> Result<(), IamError> {
    let mail = Mail {
        to: email.to_string(),
        subject: format!("You are invited to {org_name} on Tally"),
        body: format!(
            "You have been invited to join {org_name} on Tally.\n\nAccept the invitation: {link}\n\nThe link works once and expires in {} days.\n",
            ctx.settings.invitation_lifetime.as_hours() / 24
        ),
    };
    ctx.mailer.send(mail).await?;
    Ok(())
}

/// Invites one person: records the invitation and e-mails the link. If the e-mail
/// cannot be sent, the invitation is withdrawn and the error says so.
pub async fn invite(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, ManageMembers>,
    input: &InviteInput,
) -> Result<Sent, IamError> {
    let email = check_input(ctx, permit, input).await?;
    check_rate(ctx, &email).await?;
    let org = ctx.store.organization(permit.org_id()).await?.ok_or(IamError::NotFound("organization"))?;
    let token = tally_types::token::random_alphanumeric(TOKEN_LEN);
    let expires_at = ctx.now().checked_add(ctx.settings.invitation_lifetime).unwrap_or(ctx.now());
    let new = NewInvitation {
        org_id: permit.org_id(),
        email: &email,
        org_role: input.org_role,
        projects: &input.projects,
        token_hash: &token_hash(&token),
        invited_by: ctx.actor.user_id(),
        expires_at,
    };
    let audit = ctx
        .audit(permit.org_id(), None, "invitation.sent", "invitation", "")
        .with(None, Some(json!({ "email": email, "org_role": input.org_role, "projects": input.projects })));
    let invitation = ctx.store.create_invitation(&new, &audit).await?;
    let link = link(ctx, &token);
    if let Err(error) = send(ctx, &org.name, &email, &link).await {
        let withdrawn = ctx.audit(permit.org_id(), None, "invitation.revoked", "invitation", invitation.id);
        ctx.store.revoke_invitation(invitation.id, &withdrawn).await?;
        return Err(error);
    }
    Ok(Sent { invitation, link: Secret::new(link) })
}

/// A numbered row of a batch, parsed or not.
pub type InviteRow = (usize, Result<InviteInput, IamError>);

/// The outcome of one row of a batch.
#[derive(Debug)]
pub struct RowOutcome {
    /// 1-based row number (CSV rows count the header as row 1).
    pub row: usize,
    pub email: String,
    pub result: Result<Sent, IamError>,
}

/// Invites everyone in the list, reporting each row; good rows are applied even when
/// others fail.
pub async fn invite_many(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, ManageMembers>,
    inputs: Vec<(usize, Result<InviteInput, IamError>)>,
) -> Vec<RowOutcome> {
    let mut outcomes = Vec::with_capacity(inputs.len());
    for (row, input) in inputs {
        let (email, result) = match input {
            Ok(input) => (input.email.clone(), invite(ctx, permit, &input).await),
            Err(error) => (String::new(), Err(error)),
        };
        outcomes.push(RowOutcome { row, email, result });
    }
    outcomes
}

/// Parses the bulk-invite CSV: a header `email,organization_role,projects,project_role`
/// (projects: project ids separated by `;`, may be empty; roles default to member and
/// consumer). Each data row becomes an input or a row error.
pub fn parse_csv(text: &str) -> Result<Vec<InviteRow>, IamError> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(text.as_bytes());
    let headers =
        reader.headers().map_err(|error| IamError::invalid("csv", format!("cannot read the header: {error}")))?.clone();
    let column = |name: &str| headers.iter().position(|header| header.eq_ignore_ascii_case(name));
    let email_column = column("email").ok_or_else(|| {
        IamError::invalid(
            "csv",
            "the header must name an `email` column (template: email,organization_role,projects,project_role)",
        )
    })?;
    let org_role_column = column("organization_role");
    let projects_column = column("projects");
    let project_role_column = column("project_role");
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let row = index + 2;
        let parsed =
            record.map_err(|error| IamError::invalid("csv", format!("row {row}: {error}"))).and_then(|record| {
                let field = |column: Option<usize>| column.and_then(|c| record.get(c)).unwrap_or("").to_string();
                let email = field(Some(email_column));
                let org_role = match field(org_role_column).as_str() {
                    "" => OrgRole::Member,
                    text => text.parse().map_err(|error| IamError::invalid("role", format!("row {row}: {error}")))?,
                };
                let project_role = match field(project_role_column) {
                    text if text.is_empty() => "consumer".to_string(),
                    text => text,
                };
                let mut projects = Vec::new();
                for id in field(projects_column).split(';').map(str::trim).filter(|id| !id.is_empty()) {
                    let project_id: i64 = id
                        .parse()
                        .map_err(|_| IamError::invalid("projects", format!("row {row}: {id:?} is not a project id")))?;
                    projects.push(InvitedProject { project_id: ProjectId(project_id), role: project_role.clone() });
                }
                Ok(InviteInput { email, org_role, projects })
            });
        rows.push((row, parsed));
    }
    Ok(rows)
}

pub async fn list(ctx: Ctx<'_>, permit: &OrgPermit<'_, ManageMembers>) -> Result<Vec<Invitation>, IamError> {
    Ok(ctx.store.invitations(permit.org_id()).await?)
}

/// A fresh link and expiry, e-mailed again (`send_mail`) or only returned ("copy link").
pub async fn renew(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, ManageMembers>,
    id: InvitationId,
    send_mail: bool,
) -> Result<Sent, IamError> {
    let invitation = actionable(ctx, permit, id).await?;
    if send_mail {
        check_rate(ctx, &invitation.email).await?;
    }
    let token = tally_types::token::random_alphanumeric(TOKEN_LEN);
    let expires_at = ctx.now().checked_add(ctx.settings.invitation_lifetime).unwrap_or(ctx.now());
    let event = if send_mail { "invitation.resent" } else { "invitation.link_copied" };
    let audit = ctx.audit(permit.org_id(), None, event, "invitation", id);
    ctx.store.renew_invitation(id, &token_hash(&token), expires_at, &audit).await?;
    let link = link(ctx, &token);
    if send_mail {
        let org = ctx.store.organization(permit.org_id()).await?.ok_or(IamError::NotFound("organization"))?;
        send(ctx, &org.name, &invitation.email, &link).await?;
    }
    let invitation = ctx.store.invitation(permit.org_id(), id).await?.ok_or(IamError::NotFound("invitation"))?;
    Ok(Sent { invitation, link: Secret::new(link) })
}

pub async fn revoke(ctx: Ctx<'_>, permit: &OrgPermit<'_, ManageMembers>, id: InvitationId) -> Result<(), IamError> {
    actionable(ctx, permit, id).await?;
    let audit = ctx.audit(permit.org_id(), None, "invitation.revoked", "invitation", id);
    ctx.store.revoke_invitation(id, &audit).await?;
    Ok(())
}

/// The invitation a link names, if it still works.
pub async fn lookup(ctx: Ctx<'_>, token: &str) -> Result<Invitation, IamError> {
    ctx.store
        .invitation_by_token(&token_hash(token), ctx.now())
        .await?
        .ok_or(IamError::NotFound("invitation (the link is invalid, expired or already used)"))
}

/// What the person opening an invitation link is shown: the invitation, the name of the
/// organization, and whether an account with its e-mail address exists (then they sign in
/// as it to accept).
pub async fn preview(ctx: Ctx<'_>, token: &str) -> Result<(Invitation, String, bool), IamError> {
    let invitation = lookup(ctx, token).await?;
    let org = ctx.store.organization(invitation.org_id).await?.ok_or(IamError::NotFound("organization"))?;
    let has_account = ctx.store.user_by_email(&invitation.email).await?.is_some();
    Ok((invitation, org.name, has_account))
}

/// Accepts an invitation. A new account needs a password (and may give a name). An
/// existing account joins only by signing in as itself first (`signed_in`): the link
/// alone never attaches it, since whoever sent the link also holds it.
pub async fn accept(
    ctx: Ctx<'_>,
    token: &str,
    signed_in: Option<&User>,
    name: &str,
    new_password: Option<&Secret<String>>,
) -> Result<Accepted, IamError> {
    let invitation = lookup(ctx, token).await?;
    let existing = ctx.store.user_by_email(&invitation.email).await?;
    if let Some(user) = signed_in
        && !user.email.eq_ignore_ascii_case(&invitation.email)
    {
        return Err(IamError::Forbidden(format!(
            "this invitation is for {}, and you are signed in as {}; sign out and open the link again",
            invitation.email, user.email
        )));
    }
    let password_hash = match (&existing, new_password) {
        (Some(account), _) => {
            if signed_in.map(|user| user.id) != Some(account.id) {
                return Err(IamError::SignInToAccept { email: invitation.email.clone() });
            }
            None
        }
        (None, Some(password)) => {
            password::check_policy(password)?;
            Some(password::hash(password)?)
        }
        (None, None) => return Err(IamError::invalid("password", "choose a password for your new account")),
    };
    let name = if name.trim().is_empty() { "" } else { validate::name("name", name)? };
    // Projects or custom roles may have gone since the invitation was sent.
    let mut projects = Vec::new();
    for project in &invitation.projects {
        let live = ctx.store.project(project.project_id).await?.filter(|live| live.org_id == invitation.org_id);
        if let Some(live) = live {
            let role = match project_role_set(ctx.store, live.id, &project.role).await {
                Ok(_) => project.role.clone(),
                Err(_) => "consumer".to_string(),
            };
            projects.push(InvitedProject { project_id: live.id, role });
        }
    }
    let audit = ctx
        .audit(invitation.org_id, None, "invitation.accepted", "invitation", invitation.id)
        .with(None, Some(json!({ "email": invitation.email, "org_role": invitation.org_role })));
    let signed_in = signed_in.map(|user| user.id);
    let accepted = ctx
        .store
        .accept_invitation(&invitation, signed_in, name, password_hash.as_deref(), &projects, &audit)
        .await
        .map_err(|error| match error {
            tally_store::StoreError::Refused(_) => IamError::SignInToAccept { email: invitation.email.clone() },
            other => other.into(),
        })?;
    Ok(accepted)
}
