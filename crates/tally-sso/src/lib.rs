//! Single sign-on for organizations: an OpenID Connect relying party (authorization code
//! flow with PKCE, state bound to the browser, nonce, ID-token validation through the
//! provider's JWKS) and a SAML 2.0 service provider (signatures through samael and
//! libxmlsec1, signature-wrapping and replay defences here), with just-in-time accounts
//! for claimed domains. SSO sign-ins skip Tally's own second factor, as Mixpanel's do.
//!
//! This crate makes outbound requests only to the issuer an organization's Owner or Admin
//! configured, with redirects disabled and short timeouts. It knows nothing of HTTP serving.
//!
//! Setting single sign-on up takes the permit for `manage_security`; a bare scope does not
//! compile:
//!
//! ```compile_fail
//! # async fn f(
//! #     ctx: tally_iam::admin::Ctx<'_>,
//! #     scope: &tally_iam::authz::OrgScope,
//! #     settings: &tally_sso::oidc::OidcSettings,
//! # ) {
//! let _ = tally_sso::oidc::configure(ctx, scope, settings, None).await;
//! # }
//! ```
//!
//! ```
//! # use tally_types::permissions::org;
//! # async fn f(
//! #     ctx: tally_iam::admin::Ctx<'_>,
//! #     scope: &tally_iam::authz::OrgScope,
//! #     settings: &tally_sso::oidc::OidcSettings,
//! # ) -> Result<(), tally_sso::SsoError> {
//! let permit = scope.require::<org::ManageSecurity>().map_err(tally_iam::IamError::from)?;
//! tally_sso::oidc::configure(ctx, &permit, settings, None).await?;
//! # Ok(()) }
//! ```

pub mod oidc;
pub mod outbound;
pub mod saml;

use serde_json::json;
use tally_iam::IamError;
use tally_iam::admin::Ctx;
use tally_iam::sessions::ClientInfo;
use tally_iam::signin::SignInStep;
use tally_store::SsoConnection;
use tally_types::{Classified, ErrorKind, OrgId, Secret};

#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("{0}")]
    Config(String),
    #[error("single sign-on failed: {0}")]
    Rejected(String),
    #[error("the identity provider could not be reached: {0}")]
    Provider(String),
    #[error(transparent)]
    Iam(#[from] IamError),
}

impl From<tally_store::StoreError> for SsoError {
    fn from(error: tally_store::StoreError) -> Self {
        SsoError::Iam(IamError::Store(error))
    }
}

impl Classified for SsoError {
    fn kind(&self) -> ErrorKind {
        match self {
            SsoError::Config(_) => ErrorKind::InvalidInput,
            SsoError::Rejected(_) => ErrorKind::Unauthenticated,
            SsoError::Provider(_) => ErrorKind::Upstream,
            SsoError::Iam(error) => error.kind(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            SsoError::Config(_) => "invalid_sso_configuration",
            SsoError::Rejected(_) => "sso_rejected",
            SsoError::Provider(_) => "sso_provider_unavailable",
            SsoError::Iam(error) => error.code(),
        }
    }
}

/// The organization whose SSO signs in this e-mail: the one that verified its domain and
/// set up a connection.
pub async fn organization_for(ctx: Ctx<'_>, email: &str) -> Result<Option<(OrgId, SsoConnection)>, SsoError> {
    let domain = tally_iam::domains::domain_of(email);
    let Some(org_id) = ctx.store.verified_domain_owner(&domain).await? else { return Ok(None) };
    Ok(ctx.store.sso_connection(org_id).await?.map(|connection| (org_id, connection)))
}

/// Where to send the browser to sign in, and the state to bind to it in a cookie.
#[derive(Debug)]
pub struct Started {
    pub url: String,
    pub binding: Binding,
}

/// What the browser keeps until the identity provider answers.
#[derive(Debug)]
pub enum Binding {
    /// The OIDC `state`, checked at the callback.
    Oidc(Secret<String>),
    /// The SAML RelayState, checked at the ACS.
    Saml(Secret<String>),
}

/// Starts an SSO sign-in for this e-mail's organization, with its protocol.
pub async fn start(ctx: Ctx<'_>, email: &str) -> Result<Started, SsoError> {
    let Some((org_id, connection)) = organization_for(ctx, email).await? else {
        return Err(SsoError::Config(format!(
            "no single sign-on is set up for {}",
            tally_iam::domains::domain_of(email)
        )));
    };
    if connection.protocol == "saml" {
        let (url, relay_state) = saml::start(ctx, org_id).await?;
        return Ok(Started { url, binding: Binding::Saml(relay_state) });
    }
    let started = oidc::start(ctx, org_id, &connection, email).await?;
    Ok(Started { url: started.authorize_url, binding: Binding::Oidc(started.state) })
}

/// What trust in the organization's identity provider rests on: for OIDC the issuer and
/// the client (the issuer publishes the keys), for SAML the entity ID and the signing
/// certificates. `None` when single sign-on is not set up.
fn trust_anchor(connection: Option<&SsoConnection>) -> Option<String> {
    let connection = connection?;
    match connection.protocol.as_str() {
        "saml" => connection.saml.as_ref().map(|saml| {
            let mut certs = saml.idp_certs.clone();
            certs.sort();
            format!("saml\n{}\n{}", saml.idp_entity_id, certs.join("\n"))
        }),
        _ => Some(format!(
            "oidc\n{}\n{}",
            connection.oidc_issuer.as_deref().unwrap_or_default(),
            connection.oidc_client_id.as_deref().unwrap_or_default()
        )),
    }
}

/// A change of identity provider (a new issuer, client or signing certificate) is for
/// Owners only: whoever controls the identity provider can vouch for members, so an Admin
/// who pointed the organization at a key they hold could otherwise try to act as someone
/// above them. Every such change is audited by the caller and e-mailed to every Owner
/// first (if the e-mail cannot be sent, nothing changes).
pub(crate) async fn check_provider_change(
    ctx: Ctx<'_>,
    permit: &tally_iam::authz::OrgPermit<'_, tally_types::permissions::org::ManageSecurity>,
    before: Option<&SsoConnection>,
    after: &SsoConnection,
    description: &str,
) -> Result<(), SsoError> {
    if trust_anchor(before) == trust_anchor(Some(after)) {
        return Ok(());
    }
    if permit.role() != tally_types::OrgRole::Owner && !ctx.actor.is_operator() {
        return Err(SsoError::Iam(IamError::Forbidden(
            "only Owners can change the identity provider (its issuer, client or signing certificates); \
             Admins may change the other single sign-on settings"
                .into(),
        )));
    }
    let org = ctx.store.organization(permit.org_id()).await?.ok_or(IamError::NotFound("organization"))?;
    for owner in ctx.store.org_members(permit.org_id()).await?.iter().filter(|m| m.role == tally_types::OrgRole::Owner)
    {
        let mail = tally_iam::mail::Mail {
            to: owner.user.email.clone(),
            subject: format!("The identity provider of {} on Tally changed", org.name),
            body: format!(
                "{actor} changed the single sign-on identity provider of {org} on Tally:\n\n{description}\n\n\
                 If you did not expect this, review the organization's single sign-on settings and audit log now.\n",
                actor = ctx.actor.label,
                org = org.name,
            ),
        };
        ctx.mailer.send(mail).await.map_err(IamError::from)?;
    }
    Ok(())
}

/// Who the identity provider says signed in.
pub(crate) struct SignIn<'a> {
    /// The provider's issuer (OIDC) or entity ID (SAML).
    pub issuer: &'a str,
    /// Its stable name for the person; `None` links nothing (a SAML transient NameID).
    pub subject: Option<&'a str>,
    pub email: Option<&'a str>,
    pub email_verified: bool,
    pub name: &'a str,
    /// `oidc` or `saml`, for the audit log.
    pub method: &'a str,
}

/// The capability of the just-in-time path: an organization's identity provider vouched
/// for a person. Made only where a provider's answer has passed every check (SAML's
/// signature, audience, recipient, time and replay checks; OIDC's ID-token validation and
/// nonce), from the connection that checked it; [`sign_in`] acts on that connection's
/// organization and no other, and takes nothing else.
pub(crate) struct Vouched<'a> {
    connection: &'a SsoConnection,
    who: SignIn<'a>,
}

impl<'a> Vouched<'a> {
    /// Call only once the provider's answer has been verified against `connection`.
    pub(crate) fn after_verification(connection: &'a SsoConnection, who: SignIn<'a>) -> Vouched<'a> {
        Vouched { connection, who }
    }
}

/// What an SSO answer leads to.
#[derive(Debug)]
pub enum SsoOutcome {
    /// Signed in: a session that opens this organization only.
    SignedIn(SignInStep),
    /// The identity names an existing account that this organization does not manage: it
    /// is linked only once that account proves itself with its password and second factor
    /// ([`link_with_password`]). The token names the pending link.
    LinkRequired { token: Secret<String>, email: String },
}

/// How long an identity waits for its account to prove itself.
const PENDING_LINK_LIFETIME: jiff::SignedDuration = jiff::SignedDuration::from_mins(10);

/// Links the provider's identity to an account (or creates one) and starts the session.
///
/// The rule that keeps a change of identity provider from reaching further than its
/// author: an identity is linked silently only to an account the organization manages
/// (made by its just-in-time sign-in or SCIM, a member of no other organization, not an
/// Owner). Any other account is linked only after it proves itself ([`link_with_password`]).
pub(crate) async fn sign_in(
    ctx: Ctx<'_>,
    vouched: Vouched<'_>,
    client_info: &ClientInfo,
) -> Result<SsoOutcome, SsoError> {
    let Vouched { connection, who } = vouched;
    let org_id = connection.org_id;
    let linked = match who.subject {
        Some(subject) => ctx.store.sso_identity(org_id, who.issuer, subject).await?,
        None => None,
    };
    let user_id = match linked {
        Some(user_id) => user_id,
        None => {
            let email = who.email.ok_or_else(|| SsoError::Rejected("the provider sent no e-mail address".into()))?;
            if !who.email_verified {
                return Err(SsoError::Rejected(format!("the provider has not verified {email}")));
            }
            tally_iam::validate::email(email).map_err(|_| {
                SsoError::Rejected(format!("the provider sent {email:?}, which is not an e-mail address"))
            })?;
            let domain = tally_iam::domains::domain_of(email);
            if ctx.store.verified_domain_owner(&domain).await? != Some(org_id) {
                return Err(SsoError::Rejected(format!("{domain} is not a verified domain of this organization")));
            }
            let existing = ctx.store.user_by_email(email).await?;
            let member = match &existing {
                Some(user) => ctx.store.scim_member(org_id, user.id).await?,
                None => None,
            };
            // A name the provider sends is kept only when Tally would accept it from a person.
            let name = tally_iam::validate::name("name", who.name).unwrap_or_default();
            let user_id = match (existing, member) {
                (_, Some(member)) if member.deactivated_at.is_some() => {
                    return Err(SsoError::Rejected("your access to this organization is turned off".into()));
                }
                (_, Some(member)) => {
                    let managed = member.role != tally_types::OrgRole::Owner
                        && ctx.store.account_managed_by(org_id, member.user.id).await?;
                    if !managed {
                        return pending_link(ctx, org_id, &who, &member.user).await;
                    }
                    member.user.id
                }
                (Some(_), None) => {
                    return Err(SsoError::Rejected(format!(
                        "{email} already has a Tally account outside this organization; ask an administrator to \
                         invite it, and accept the invitation signed in as {email}"
                    )));
                }
                (None, None) if connection.idp_managed => {
                    let audit = tally_iam::admin::audit_entry(ctx, org_id, "organization.user_added", "user", 0)
                        .with_after(json!({ "email": email, "via": who.method, "org_role": "member" }));
                    ctx.store.create_sso_member(org_id, email, name, &audit).await?.id
                }
                (None, None) => {
                    return Err(SsoError::Rejected(format!(
                        "{email} is not a member of this organization; ask an administrator to invite you"
                    )));
                }
            };
            if let Some(subject) = who.subject {
                ctx.store.link_sso_identity(org_id, who.issuer, subject, user_id, ctx.clock.now()).await?;
            }
            user_id
        }
    };
    if ctx.store.org_standing(org_id, tally_types::Principal::User(user_id)).await?.is_none() {
        return Err(SsoError::Rejected("your access to this organization is turned off".into()));
    }
    let user = ctx.store.user_by_id(user_id).await?.ok_or_else(|| SsoError::Rejected("account not found".into()))?;
    // SSO sign-ins are not asked for Tally's second factor (the provider owns that); the
    // session opens this organization only.
    Ok(SsoOutcome::SignedIn(tally_iam::signin::signed_in_by_sso(ctx, user, client_info, who.method, org_id).await?))
}

/// Keeps the identity until its account proves itself.
async fn pending_link(
    ctx: Ctx<'_>,
    org_id: OrgId,
    who: &SignIn<'_>,
    user: &tally_store::User,
) -> Result<SsoOutcome, SsoError> {
    let Some(subject) = who.subject else {
        return Err(SsoError::Rejected(format!(
            "the identity provider sends a transient name for {}, which cannot be linked to an existing account; \
             configure it to send a persistent or e-mail NameID",
            user.email
        )));
    };
    let token = tally_types::token::random_alphanumeric(43);
    let now = ctx.clock.now();
    let link = tally_store::SsoPendingLink {
        org_id,
        issuer: who.issuer.to_string(),
        subject: subject.to_string(),
        user_id: user.id,
        created_at: now,
        expires_at: now.checked_add(PENDING_LINK_LIFETIME).unwrap_or(now),
    };
    ctx.store.insert_sso_pending_link(&link, &tally_iam::token_hash(&token)).await?;
    Ok(SsoOutcome::LinkRequired { token: Secret::new(token), email: user.email.clone() })
}

/// The account a pending link names, and its organization, without taking it.
pub async fn pending_link_account(ctx: Ctx<'_>, token: &str) -> Result<Option<(String, String)>, SsoError> {
    let Some(link) = ctx.store.sso_pending_link(&tally_iam::token_hash(token), ctx.clock.now()).await? else {
        return Ok(None);
    };
    let user = ctx.store.user_by_id(link.user_id).await?;
    let org = ctx.store.organization(link.org_id).await?;
    Ok(user.zip(org).map(|(user, org)| (user.email, org.name)))
}

/// Where linking stands.
#[derive(Debug)]
pub enum LinkStep {
    /// Linked, and signed in through the organization's single sign-on.
    Linked(SignInStep),
    /// The password was right; the account's second factor must follow.
    SecondFactor { challenge: Secret<String>, method: String },
}

async fn pending(ctx: Ctx<'_>, token: &str) -> Result<tally_store::SsoPendingLink, SsoError> {
    ctx.store
        .sso_pending_link(&tally_iam::token_hash(token), ctx.clock.now())
        .await?
        .ok_or_else(|| SsoError::Rejected("the link request expired; sign in with single sign-on again".into()))
}

/// First step of linking: the password of the account the identity names (counted and
/// locked as sign-ins are).
pub async fn link_with_password(
    ctx: Ctx<'_>,
    token: &str,
    password: &Secret<String>,
    client: &ClientInfo,
) -> Result<LinkStep, SsoError> {
    let link = pending(ctx, token).await?;
    let user = ctx.store.user_by_id(link.user_id).await?.ok_or(IamError::SignInFailed)?;
    match tally_iam::signin::prove_with_password(ctx, &user, password, client).await? {
        tally_iam::signin::Proven::Done(user) => finish_link(ctx, token, &user, client).await,
        tally_iam::signin::Proven::SecondFactor { challenge, method } => {
            Ok(LinkStep::SecondFactor { challenge, method })
        }
    }
}

/// Second step of linking: the account's second factor (or a recovery code).
pub async fn link_with_second_factor(
    ctx: Ctx<'_>,
    token: &str,
    challenge: &str,
    proof: tally_iam::signin::Proof<'_>,
    client: &ClientInfo,
) -> Result<LinkStep, SsoError> {
    let link = pending(ctx, token).await?;
    let user = tally_iam::signin::prove_second_factor(ctx, challenge, proof, client).await?;
    if user.id != link.user_id {
        return Err(SsoError::Iam(IamError::SignInFailed));
    }
    finish_link(ctx, token, &user, client).await
}

/// The account proved itself: the identity is linked (once), audited, and the person is
/// signed in through the organization's single sign-on.
async fn finish_link(
    ctx: Ctx<'_>,
    token: &str,
    user: &tally_store::User,
    client: &ClientInfo,
) -> Result<LinkStep, SsoError> {
    let Some(link) = ctx.store.take_sso_pending_link(&tally_iam::token_hash(token), ctx.clock.now()).await? else {
        return Err(SsoError::Rejected("the link request expired; sign in with single sign-on again".into()));
    };
    if link.user_id != user.id {
        return Err(SsoError::Iam(IamError::SignInFailed));
    }
    if ctx.store.org_standing(link.org_id, tally_types::Principal::User(user.id)).await?.is_none() {
        return Err(SsoError::Rejected("your access to this organization is turned off".into()));
    }
    ctx.store.link_sso_identity(link.org_id, &link.issuer, &link.subject, user.id, ctx.clock.now()).await?;
    let mut audit = tally_iam::admin::audit_entry(ctx, link.org_id, "sso.identity_linked", "user", user.id.0)
        .with_after(json!({ "email": user.email, "issuer": link.issuer }));
    audit.actor = tally_store::AuditActor { kind: "user", id: Some(user.id.0), label: user.email.clone() };
    audit.ip = client.ip.clone();
    ctx.store.record_audit(&audit).await?;
    let method = if link.issuer.starts_with("saml:") { "saml" } else { "oidc" };
    Ok(LinkStep::Linked(tally_iam::signin::signed_in_by_sso(ctx, user.clone(), client, method, link.org_id).await?))
}

/// The organization's single sign-on settings, if it has any.
pub async fn connection(
    ctx: Ctx<'_>,
    permit: &tally_iam::authz::OrgPermit<'_, tally_types::permissions::org::ManageSecurity>,
) -> Result<Option<SsoConnection>, SsoError> {
    Ok(ctx.store.sso_connection(permit.org_id()).await?)
}
