//! Claimed domains: the organization's proof that it controls an e-mail domain.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tally_iam::records::ClaimedDomain;
use tally_types::Secret;
use tally_types::permissions::org;

use super::{created, done, ok};
use crate::access::OrgAccess;
use crate::extract::{Ids, JsonBody};
use crate::{ApiError, AppState};

/// A claimed domain and the DNS record that proves it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DomainView {
    id: i64,
    domain: String,
    /// `pending` until the record is found, then `verified`.
    status: String,
    record: DnsRecordView,
    created: String,
    verified: Option<String>,
    last_checked: Option<String>,
}

/// The TXT record to publish.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DnsRecordView {
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    value: String,
}

fn domain_view(domain: &ClaimedDomain) -> DomainView {
    DomainView {
        id: domain.id,
        domain: domain.domain.clone(),
        status: domain.status.to_string(),
        record: DnsRecordView {
            kind: "TXT",
            name: domain.domain.clone(),
            value: format!("{}{}", tally_iam::domains::RECORD_PREFIX, domain.token),
        },
        created: domain.created_at.to_string(),
        verified: domain.verified_at.map(|at| at.to_string()),
        last_checked: domain.last_checked_at.map(|at| at.to_string()),
    }
}

pub(crate) async fn domains(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ManageSecurity>()?;
    let domains = tally_iam::domains::list(state.ctx(&actor), &permit).await?;
    Ok(ok(domains.iter().map(domain_view).collect::<Vec<_>>()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ClaimDomainBody)]
pub(crate) struct ClaimBody {
    domain: String,
    password: Option<String>,
}

pub(crate) async fn claim(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    JsonBody(body): JsonBody<ClaimBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let password = body.password.map(Secret::new);
    let permit = scope.require::<org::ManageSecurity>()?;
    let domain = tally_iam::domains::claim(state.ctx(&actor), &permit, &body.domain, password.as_ref()).await?;
    Ok(created(domain_view(&domain)))
}

pub(crate) async fn verify(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ManageSecurity>()?;
    let domain = tally_iam::domains::verify(state.ctx(&actor), &permit, id).await?;
    Ok(ok(domain_view(&domain)))
}

pub(crate) async fn remove(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    Ids((_, id)): Ids<(i64, i64)>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let permit = scope.require::<org::ManageSecurity>()?;
    tally_iam::domains::remove(state.ctx(&actor), &permit, id).await?;
    Ok(done())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = OidcSettingsBody)]
pub(crate) struct OidcBody {
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    #[serde(default)]
    require_sso: bool,
    #[serde(default)]
    idp_managed: bool,
    password: Option<String>,
}

pub(crate) async fn connection(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let base = &state.ctx(&actor).settings.base_url;
    let redirect = tally_sso::oidc::redirect_uri(base);
    let permit = scope.require::<org::ManageSecurity>()?;
    let connection = tally_sso::connection(state.ctx(&actor), &permit).await?;
    let saml = connection.as_ref().and_then(|c| c.saml.as_ref());
    let saml_view = SamlSettingsView {
        sp_entity_id: tally_sso::saml::sp_entity_id(base, scope.org_id()),
        acs_url: tally_sso::saml::acs_url(base, scope.org_id()),
        sp_metadata_url: tally_sso::saml::sp_entity_id(base, scope.org_id()),
        idp_entity_id: saml.map(|s| s.idp_entity_id.clone()),
        sso_url: saml.map(|s| s.idp_sso_url.clone()),
        metadata_url: saml.and_then(|s| s.metadata_url.clone()),
        certificates: saml.map(tally_sso::saml::certificate_fingerprints).unwrap_or_default(),
        sign_requests: saml.is_some_and(|s| s.sign_requests),
        want_assertions_signed: saml.is_some_and(|s| s.want_assertions_signed),
        idp_initiated: saml.is_none_or(|s| s.idp_initiated),
    };
    Ok(ok(SsoSettingsView {
        saml: saml_view,
        protocol: connection.as_ref().map(|c| c.protocol.clone()),
        issuer: connection.as_ref().and_then(|c| c.oidc_issuer.clone()),
        client_id: connection.as_ref().and_then(|c| c.oidc_client_id.clone()),
        client_secret_set: connection.as_ref().is_some_and(|c| c.oidc_client_secret_sealed.is_some()),
        require_sso: connection.as_ref().is_some_and(|c| c.require_sso),
        idp_managed: connection.as_ref().is_some_and(|c| c.idp_managed),
        redirect_uri: redirect,
    }))
}

/// The organization's single sign-on: the values to give the identity provider and what
/// is set up.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SsoSettingsView {
    saml: SamlSettingsView,
    /// `saml`, `oidc`, or none yet.
    protocol: Option<String>,
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret_set: bool,
    require_sso: bool,
    idp_managed: bool,
    /// The OIDC callback to register at the identity provider.
    redirect_uri: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SamlSettingsView {
    /// Paste into Okta's "Audience URI" or Entra's "Identifier (Entity ID)".
    sp_entity_id: String,
    /// Paste into Okta's "Single sign-on URL" or Entra's "Reply URL".
    acs_url: String,
    sp_metadata_url: String,
    idp_entity_id: Option<String>,
    sso_url: Option<String>,
    metadata_url: Option<String>,
    /// SHA-256 fingerprints of the identity provider's signing certificates.
    certificates: Vec<String>,
    sign_requests: bool,
    want_assertions_signed: bool,
    idp_initiated: bool,
}

pub(crate) async fn configure_oidc(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    JsonBody(body): JsonBody<OidcBody>,
) -> Result<Response, ApiError> {
    let actor = caller.actor();
    let settings = tally_sso::oidc::OidcSettings {
        issuer: body.issuer,
        client_id: body.client_id,
        client_secret: body.client_secret.map(Secret::new),
        require_sso: body.require_sso,
        idp_managed: body.idp_managed,
    };
    let password = body.password.map(Secret::new);
    let permit = scope.require::<org::ManageSecurity>()?;
    tally_sso::oidc::configure(state.ctx(&actor), &permit, &settings, password.as_ref()).await?;
    Ok(done())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = SamlSettingsBody)]
pub(crate) struct SamlBody {
    metadata_xml: Option<String>,
    metadata_url: Option<String>,
    idp_entity_id: Option<String>,
    sso_url: Option<String>,
    #[serde(default)]
    certificates: Vec<String>,
    #[serde(default)]
    require_sso: bool,
    #[serde(default)]
    idp_managed: bool,
    #[serde(default)]
    sign_requests: bool,
    #[serde(default)]
    want_assertions_signed: bool,
    #[serde(default = "yes")]
    idp_initiated: bool,
    password: Option<String>,
}

fn yes() -> bool {
    true
}

pub(crate) async fn configure_saml(
    State(state): State<AppState>,
    OrgAccess(scope, caller): OrgAccess,
    JsonBody(body): JsonBody<SamlBody>,
) -> Result<Response, ApiError> {
    use tally_sso::saml::IdpSource;
    let actor = caller.actor();
    let idp = match (body.metadata_xml, body.metadata_url) {
        (Some(xml), None) => IdpSource::Metadata(xml),
        (None, Some(url)) => IdpSource::MetadataUrl(url),
        (None, None) => IdpSource::Manual {
            entity_id: body.idp_entity_id.unwrap_or_default(),
            sso_url: body.sso_url.unwrap_or_default(),
            certificates: body.certificates,
        },
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                tally_types::ErrorKind::InvalidInput,
                "invalid_sso_configuration",
                "give either metadata_xml or metadata_url, not both",
            ));
        }
    };
    let settings = tally_sso::saml::SamlSettings {
        idp,
        require_sso: body.require_sso,
        idp_managed: body.idp_managed,
        sign_requests: body.sign_requests,
        want_assertions_signed: body.want_assertions_signed,
        idp_initiated: body.idp_initiated,
    };
    let password = body.password.map(Secret::new);
    let permit = scope.require::<org::ManageSecurity>()?;
    tally_sso::saml::configure(state.ctx(&actor), &permit, &settings, password.as_ref()).await?;
    Ok(done())
}
