//! The OpenID Connect relying party.

use std::future::Future;
use std::pin::Pin;

use jiff::SignedDuration;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AsyncHttpClient, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpClientError, HttpRequest, HttpResponse,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde_json::json;
use subtle::ConstantTimeEq;
use tally_iam::admin::Ctx;
use tally_iam::authz::OrgPermit;
use tally_iam::sessions::ClientInfo;
use tally_store::{SsoConnection, SsoState};
use tally_types::permissions::org::ManageSecurity;
use tally_types::{OrgId, Secret};

use crate::SsoError;

/// How long a sign-in may stay at the identity provider.
const STATE_LIFETIME: SignedDuration = SignedDuration::from_mins(10);

type HttpFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpClientError<reqwest::Error>>> + Send>>;

/// The provider's HTTP client (see `outbound`): every URL it is asked for, including those
/// the discovery document names (JWKS, token, userinfo), is checked first, since literal
/// addresses bypass the resolver.
fn http_client(ctx: Ctx<'_>) -> Result<impl Fn(HttpRequest) -> HttpFuture, SsoError> {
    let public_only = ctx.settings.sso_public_only;
    let http = crate::outbound::client(public_only)?;
    Ok(move |request: HttpRequest| -> HttpFuture {
        let http = http.clone();
        Box::pin(async move {
            crate::outbound::check_url(&request.uri().to_string(), "an identity-provider endpoint", public_only)
                .map_err(|error| HttpClientError::Other(error.to_string()))?;
            http.call(request).await
        })
    })
}

/// The callback address registered with the provider.
pub fn redirect_uri(base_url: &str) -> String {
    format!("{}/sso/oidc/callback", base_url.trim_end_matches('/'))
}

/// What an admin configures.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    /// `None` keeps the stored secret.
    pub client_secret: Option<Secret<String>>,
    pub require_sso: bool,
    pub idp_managed: bool,
}

async fn metadata(ctx: Ctx<'_>, issuer: &str) -> Result<CoreProviderMetadata, SsoError> {
    let issuer_url =
        IssuerUrl::new(issuer.to_string()).map_err(|error| SsoError::Config(format!("issuer: {error}")))?;
    crate::outbound::check_url(issuer, "issuer", ctx.settings.sso_public_only)?;
    let http = http_client(ctx)?;
    CoreProviderMetadata::discover_async(issuer_url, &http)
        .await
        .map_err(|error| SsoError::Provider(format!("discovery of {issuer} failed: {error}")))
}

/// Saves the organization's OIDC connection (password re-entered). The issuer must answer
/// discovery, so a typo is caught here rather than at the first sign-in.
pub async fn configure(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, ManageSecurity>,
    settings: &OidcSettings,
    password: Option<&Secret<String>>,
) -> Result<(), SsoError> {
    tally_iam::domains::reenter_password(ctx, permit, password).await?;
    if settings.client_id.trim().is_empty() {
        return Err(SsoError::Config("client_id is required".into()));
    }
    let discovered = metadata(ctx, &settings.issuer).await?;
    let issuer = discovered.issuer().as_str().to_string();
    let existing = ctx.store.sso_connection(permit.org_id()).await?;
    let sealed = match &settings.client_secret {
        Some(secret) => Some(ctx.sealer.seal(secret).map_err(SsoError::Iam)?),
        None => existing.as_ref().and_then(|connection| connection.oidc_client_secret_sealed.clone()),
    };
    let Some(sealed) = sealed else {
        return Err(SsoError::Config("client_secret is required".into()));
    };
    let connection = SsoConnection {
        org_id: permit.org_id(),
        protocol: "oidc".into(),
        oidc_issuer: Some(issuer.clone()),
        oidc_client_id: Some(settings.client_id.trim().to_string()),
        oidc_client_secret_sealed: Some(sealed),
        require_sso: settings.require_sso,
        idp_managed: settings.idp_managed,
        saml: None,
    };
    let description = format!("OpenID Connect issuer {issuer}, client {}", settings.client_id.trim());
    crate::check_provider_change(ctx, permit, existing.as_ref(), &connection, &description).await?;
    let audit = tally_iam::admin::audit_entry(ctx, permit.org_id(), "sso_settings.updated", "organization", permit.org_id().0)
        .with_after(json!({ "protocol": "oidc", "issuer": issuer, "client_id": settings.client_id, "require_sso": settings.require_sso, "idp_managed": settings.idp_managed }));
    ctx.store.set_sso_connection(&connection, &audit).await?;
    Ok(())
}

fn client_for(
    connection: &SsoConnection,
    metadata: CoreProviderMetadata,
    ctx: Ctx<'_>,
) -> Result<OidcClient, SsoError> {
    let (Some(client_id), Some(sealed)) = (&connection.oidc_client_id, &connection.oidc_client_secret_sealed) else {
        return Err(SsoError::Config("the organization's OIDC connection is incomplete".into()));
    };
    let secret = ctx.sealer.open(sealed).map_err(SsoError::Iam)?;
    let redirect =
        RedirectUrl::new(redirect_uri(&ctx.settings.base_url)).map_err(|error| SsoError::Config(error.to_string()))?;
    Ok(CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.clone()),
        Some(ClientSecret::new(secret.into_inner())),
    )
    .set_redirect_uri(redirect))
}

type OidcClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// Where to send the browser, and the state to bind to it (a cookie).
#[derive(Debug)]
pub(crate) struct Started {
    pub authorize_url: String,
    pub state: Secret<String>,
}

/// Starts an OIDC sign-in for this e-mail at its organization's provider.
pub(crate) async fn start(
    ctx: Ctx<'_>,
    org_id: OrgId,
    connection: &SsoConnection,
    email: &str,
) -> Result<Started, SsoError> {
    let issuer = connection.oidc_issuer.clone().ok_or_else(|| SsoError::Config("no issuer".into()))?;
    let client = client_for(connection, metadata(ctx, &issuer).await?, ctx)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .add_extra_param("login_hint", email.trim())
        .url();
    let stored = SsoState {
        org_id,
        nonce: nonce.secret().clone(),
        pkce_verifier_sealed: ctx.sealer.seal(&Secret::new(verifier.secret().clone())).map_err(SsoError::Iam)?,
    };
    let now = ctx.clock.now();
    let expires_at = now.checked_add(STATE_LIFETIME).unwrap_or(now);
    ctx.store.insert_sso_state(&tally_iam::token_hash(state.secret()), &stored, now, expires_at).await?;
    Ok(Started { authorize_url: url.to_string(), state: Secret::new(state.secret().clone()) })
}

/// The provider's answer: checks the browser-bound state, exchanges the code (with the PKCE
/// verifier), validates the ID token (signature, issuer, audience, expiry, nonce), then
/// signs the person in, creating their account when the organization manages access
/// through the provider.
pub async fn callback(
    ctx: Ctx<'_>,
    code: &str,
    state: &str,
    issuer_param: Option<&str>,
    browser_state: Option<&str>,
    client_info: &ClientInfo,
) -> Result<crate::SsoOutcome, SsoError> {
    let bound = browser_state.is_some_and(|cookie| bool::from(cookie.as_bytes().ct_eq(state.as_bytes())));
    if !bound {
        return Err(SsoError::Rejected("the sign-in did not start in this browser; start again".into()));
    }
    let Some(stored) = ctx.store.take_sso_state(&tally_iam::token_hash(state), ctx.clock.now()).await? else {
        return Err(SsoError::Rejected("the sign-in expired or was already completed; start again".into()));
    };
    let connection = ctx
        .store
        .sso_connection(stored.org_id)
        .await?
        .filter(|connection| connection.protocol == "oidc")
        .ok_or_else(|| SsoError::Rejected("OIDC single sign-on is no longer set up".into()))?;
    let issuer = connection.oidc_issuer.clone().ok_or_else(|| SsoError::Config("no issuer".into()))?;
    // RFC 9207: a provider that names itself in the answer must be the one we sent the
    // person to (defence against mix-up attacks).
    if let Some(named) = issuer_param
        && named != issuer
    {
        return Err(SsoError::Rejected(format!("the answer came from {named}, not from {issuer}")));
    }
    let client = client_for(&connection, metadata(ctx, &issuer).await?, ctx)?;
    let verifier = ctx.sealer.open(&stored.pkce_verifier_sealed).map_err(SsoError::Iam)?;
    let http = http_client(ctx)?;
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|error| SsoError::Config(error.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.into_inner()))
        .request_async(&http)
        .await
        .map_err(|error| SsoError::Rejected(format!("the code exchange failed: {error}")))?;
    let id_token = token.id_token().ok_or_else(|| SsoError::Rejected("the provider sent no ID token".into()))?;
    let claims = id_token
        .claims(&client.id_token_verifier(), &Nonce::new(stored.nonce.clone()))
        .map_err(|error| SsoError::Rejected(format!("the ID token is not valid: {error}")))?;
    let subject = claims.subject().clone();
    let mut email = claims.email().map(|email| email.as_str().to_string());
    let mut verified = claims.email_verified() == Some(true);
    let mut name =
        claims.name().and_then(|names| names.get(None)).map(|name| name.as_str().to_string()).unwrap_or_default();
    if email.is_none() {
        // Providers that keep ID tokens small (OpenID Connect's default for the code flow)
        // give the e-mail from the userinfo endpoint, for the same subject only.
        let info: openidconnect::core::CoreUserInfoClaims = client
            .user_info(token.access_token().clone(), Some(subject.clone()))
            .map_err(|error| {
                SsoError::Rejected(format!("no e-mail in the ID token and no userinfo endpoint: {error}"))
            })?
            .request_async(&http)
            .await
            .map_err(|error| SsoError::Rejected(format!("the userinfo request failed: {error}")))?;
        email = info.email().map(|email| email.as_str().to_string());
        verified = info.email_verified() == Some(true);
        if name.is_empty() {
            name =
                info.name().and_then(|names| names.get(None)).map(|name| name.as_str().to_string()).unwrap_or_default();
        }
    }
    let subject = subject.as_str().to_string();
    let sign_in = crate::SignIn {
        issuer: &issuer,
        subject: Some(&subject),
        email: email.as_deref(),
        email_verified: verified,
        name: &name,
        method: "oidc",
    };
    crate::sign_in(ctx, crate::Vouched::after_verification(&connection, sign_in), client_info).await
}
