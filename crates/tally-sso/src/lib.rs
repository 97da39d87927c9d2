//! Single sign-on for organizations: an OpenID Connect relying party (authorization code
//! flow with PKCE, state bound to the browser, nonce, ID-token validation through the
//! provider's JWKS) and a SAML 2.0 service provider (signatures through samael and
//! libxmlsec1, signature-wrapping and replay defences here), with just-in-time accounts
//! for claimed domains. SSO sign-ins skip Tally's own second factor, as Mixpanel's do.
//!
//! This crate makes outbound requests only to the issuer an organization's Owner or Admin
//! configured, with redirects disabled and short timeouts. It knows nothing of HTTP serving.

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

/// Links the provider's identity to an account (or creates one) and starts the session.
pub(crate) async fn sign_in(
    ctx: Ctx<'_>,
    connection: &SsoConnection,
    who: SignIn<'_>,
    client_info: &ClientInfo,
) -> Result<SignInStep, SsoError> {
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
            let member = match ctx.store.user_by_email(email).await? {
                Some(user) => ctx.store.scim_member(org_id, user.id).await?,
                None => None,
            };
            // A name the provider sends is kept only when Tally would accept it from a person.
            let name = tally_iam::validate::name("name", who.name).unwrap_or_default();
            let user_id = match member {
                Some(member) if member.deactivated_at.is_some() => {
                    return Err(SsoError::Rejected("your access to this organization is turned off".into()));
                }
                Some(member) => member.user.id,
                None if connection.idp_managed => {
                    let audit = tally_iam::admin::audit_entry(ctx, org_id, "organization.user_added", "user", 0)
                        .with_after(json!({ "email": email, "via": who.method, "org_role": "member" }));
                    ctx.store.create_sso_member(org_id, email, name, &audit).await?.id
                }
                None => {
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
    // SSO sign-ins are not asked for Tally's second factor (the provider owns that).
    Ok(tally_iam::signin::signed_in_with(ctx, user, client_info, who.method).await?)
}
