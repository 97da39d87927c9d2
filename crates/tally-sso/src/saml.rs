//! The SAML 2.0 service provider. Each organization is its own service provider (entity
//! ID `{base}/sso/saml/{org}/metadata`, ACS `{base}/sso/saml/{org}/acs`), so an assertion
//! meant for one organization is never accepted by another, even when both trust the same
//! identity provider.
//!
//! Signatures are checked by samael (libxmlsec1). Tally adds what samael leaves to its
//! callers: a configuration without a signing certificate is refused (samael would skip
//! the signature check), the raw document is inspected before samael sees it (one
//! assertion, a child of the response, no DTD, no comments, no encrypted assertion), the
//! assertion samael verified must be the one the document carries (XML signature
//! wrapping), and used assertion IDs are kept until they expire (replays).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use jiff::{SignedDuration, Timestamp};
use samael::crypto::AllowedSignatureAlgorithm;
use samael::metadata::EntityDescriptor;
use samael::schema::{Assertion, AuthnRequest, Issuer};
use samael::service_provider::{Error as SamlError, ServiceProviderBuilder};
use serde_json::json;
use subtle::ConstantTimeEq;
use tally_iam::admin::Ctx;
use tally_iam::authz::OrgPermit;
use tally_iam::sessions::ClientInfo;
use tally_store::{SamlConnection, SsoConnection};
use tally_types::permissions::org::ManageSecurity;
use tally_types::{OrgId, Secret};

use crate::SsoError;

const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const METADATA_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const REDIRECT_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
const POST_BINDING: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const EMAIL_FORMAT: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";
const TRANSIENT_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";

/// How far the identity provider's clock may be from ours.
const CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(2);
/// How long after it was issued a response is still taken.
const ISSUE_DELAY: SignedDuration = SignedDuration::from_mins(3);
/// How long an SP-initiated sign-in may stay at the identity provider.
const REQUEST_LIFETIME: SignedDuration = SignedDuration::from_mins(10);
/// The largest `SAMLResponse` form field accepted (base64).
const MAX_RESPONSE: usize = 256 * 1024;
/// The largest metadata document fetched or uploaded.
const MAX_METADATA: usize = 1024 * 1024;

/// Attribute names for the e-mail, first and last name: Okta's usual ones, Microsoft
/// Entra's claim URIs, and the LDAP names some IdPs send. Matched ignoring case.
const EMAIL_NAMES: &[&str] = &[
    "email",
    "mail",
    "emailaddress",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "urn:oid:0.9.2342.19200300.100.1.3",
];
const FIRST_NAMES: &[&str] = &[
    "firstname",
    "givenname",
    "first_name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
    "urn:oid:2.5.4.42",
];
const LAST_NAMES: &[&str] = &[
    "lastname",
    "surname",
    "sn",
    "last_name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
    "urn:oid:2.5.4.4",
];

/// The service provider's entity ID for an organization (also where its metadata is).
pub fn sp_entity_id(base_url: &str, org_id: OrgId) -> String {
    format!("{}/sso/saml/{}/metadata", base_url.trim_end_matches('/'), org_id.0)
}

/// The assertion consumer service of an organization.
pub fn acs_url(base_url: &str, org_id: OrgId) -> String {
    format!("{}/sso/saml/{}/acs", base_url.trim_end_matches('/'), org_id.0)
}

/// Where the identity provider's details come from.
#[derive(Debug, Clone)]
pub enum IdpSource {
    /// The identity provider's metadata document, uploaded.
    Metadata(String),
    /// The address of its metadata, fetched now (no redirects, 10 s, 1 MiB).
    MetadataUrl(String),
    /// By hand: the entity ID (issuer), the sign-in URL and the signing certificates (PEM).
    Manual { entity_id: String, sso_url: String, certificates: Vec<String> },
}

/// What an admin configures.
#[derive(Debug, Clone)]
pub struct SamlSettings {
    pub idp: IdpSource,
    pub require_sso: bool,
    pub idp_managed: bool,
    /// Sign AuthnRequests (the identity provider then needs the SP metadata's certificate).
    pub sign_requests: bool,
    /// Require the Assertion itself to be signed (a signed Response is otherwise enough).
    pub want_assertions_signed: bool,
    /// Accept sign-ins that start at the identity provider (on by default, like Mixpanel).
    pub idp_initiated: bool,
}

/// The identity provider's details, read from metadata or given by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Idp {
    entity_id: String,
    sso_url: String,
    certs: Vec<String>,
}

fn config_error(message: impl Into<String>) -> SsoError {
    SsoError::Config(message.into())
}

fn rejected(message: impl Into<String>) -> SsoError {
    SsoError::Rejected(message.into())
}

/// Refuses what no SAML document needs and XML attacks use: document type declarations
/// (entity expansion), an XML declaration naming another encoding than UTF-8 (roxmltree
/// ignores it, libxml2 obeys it: the two parsers would read different documents), and
/// anything roxmltree cannot read.
fn parse_xml(text: &str) -> Result<roxmltree::Document<'_>, String> {
    if text.contains("<!DOCTYPE") || text.contains("<!ENTITY") {
        return Err("document type declarations are not allowed".into());
    }
    let body = text.trim_start_matches('\u{feff}').trim_start();
    let declarations = text.matches("<?xml").count();
    if declarations > 1 || (declarations == 1 && !body.starts_with("<?xml")) {
        return Err("an XML declaration may only open the document".into());
    }
    if let Some(declaration) = body.strip_prefix("<?xml").and_then(|rest| rest.split_once("?>")).map(|(d, _)| d)
        && let Some((_, after)) = declaration.split_once("encoding")
    {
        let value = after.trim_start().trim_start_matches('=').trim().trim_matches(['"', '\'']);
        let value = value.split(['"', '\'']).next().unwrap_or_default();
        if !value.eq_ignore_ascii_case("utf-8") && !value.eq_ignore_ascii_case("utf8") {
            return Err(format!("the document must be UTF-8, not {value}"));
        }
    }
    roxmltree::Document::parse(text).map_err(|error| format!("not well-formed XML: {error}"))
}

/// The transforms a SAML signature may use: enveloped, and the canonicalizations.
const ALLOWED_TRANSFORMS: &[&str] = &[
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
    "http://www.w3.org/2006/12/xml-c14n11",
];

/// Every signature must sign its own parent (the Response or the Assertion) by a
/// same-document reference, with canonicalization and enveloped transforms only. Checked
/// before libxmlsec1 sees the document: it resolves references (to URLs and files) and runs
/// transforms (XSLT, XPath) before it checks the signature value, so an unsigned response
/// could otherwise make the server fetch addresses or spin.
fn check_signatures(
    document: &roxmltree::Document<'_>,
    root: roxmltree::Node<'_, '_>,
    assertion: roxmltree::Node<'_, '_>,
) -> Result<(), SsoError> {
    let refused = |why: &str| rejected(format!("the SAML response's signature is not acceptable: {why}"));
    for signature in document.descendants().filter(|node| is(node, DSIG_NS, "Signature")) {
        let parent = signature.parent_element().ok_or_else(|| refused("a signature without a parent"))?;
        if parent != root && parent != assertion {
            return Err(refused("a signature may only sign the Response or the Assertion"));
        }
        if signature.descendants().any(|node| {
            is(&node, DSIG_NS, "Object") || is(&node, DSIG_NS, "Manifest") || is(&node, DSIG_NS, "RetrievalMethod")
        }) {
            return Err(refused("Object, Manifest and RetrievalMethod elements are not allowed"));
        }
        let references: Vec<_> = signature.descendants().filter(|node| is(node, DSIG_NS, "Reference")).collect();
        let id = parent.attribute("ID").unwrap_or_default();
        let [reference] = references.as_slice() else {
            return Err(refused("a signature must have exactly one reference"));
        };
        if id.is_empty() || reference.attribute("URI") != Some(format!("#{id}").as_str()) {
            return Err(refused("the reference must point at the signed element's own ID"));
        }
        let methods = signature
            .descendants()
            .filter(|node| is(node, DSIG_NS, "Transform") || is(node, DSIG_NS, "CanonicalizationMethod"));
        for method in methods {
            let algorithm = method.attribute("Algorithm").unwrap_or_default();
            if !ALLOWED_TRANSFORMS.contains(&algorithm) {
                return Err(refused(&format!("the transform {algorithm} is not allowed")));
            }
            if method.has_children()
                && method.children().any(|child| {
                    child.is_element() && !is(&child, "http://www.w3.org/2001/10/xml-exc-c14n#", "InclusiveNamespaces")
                })
            {
                return Err(refused("transform parameters other than InclusiveNamespaces are not allowed"));
            }
        }
    }
    Ok(())
}

fn is(node: &roxmltree::Node<'_, '_>, namespace: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(namespace) && node.tag_name().name() == name
}

/// Reads an identity provider's metadata: exactly one entity with an IDPSSODescriptor,
/// its HTTP-Redirect sign-in URL and its signing certificates.
fn read_metadata(text: &str) -> Result<Idp, SsoError> {
    if text.len() > MAX_METADATA {
        return Err(config_error("the metadata is larger than 1 MiB"));
    }
    let document = parse_xml(text).map_err(|error| config_error(format!("the metadata: {error}")))?;
    let entities: Vec<_> = document.descendants().filter(|node| is(node, METADATA_NS, "EntityDescriptor")).collect();
    let [entity] = entities.as_slice() else {
        return Err(config_error(format!(
            "the metadata must describe exactly one entity (EntityDescriptor), found {}",
            entities.len()
        )));
    };
    let entity_id = entity.attribute("entityID").unwrap_or_default().trim().to_string();
    let Some(descriptor) = entity.children().find(|node| is(node, METADATA_NS, "IDPSSODescriptor")) else {
        return Err(config_error("the metadata has no IDPSSODescriptor: is it the identity provider's?"));
    };
    let sso_url = descriptor
        .children()
        .filter(|node| is(node, METADATA_NS, "SingleSignOnService"))
        .find(|node| node.attribute("Binding") == Some(REDIRECT_BINDING))
        .and_then(|node| node.attribute("Location"))
        .unwrap_or_default()
        .trim()
        .to_string();
    let certs_for = |wanted: fn(Option<&str>) -> bool| -> Vec<String> {
        descriptor
            .children()
            .filter(|node| is(node, METADATA_NS, "KeyDescriptor") && wanted(node.attribute("use")))
            .flat_map(|key| key.descendants().filter(|node| is(node, DSIG_NS, "X509Certificate")))
            .filter_map(|node| node.text())
            .map(|text| text.split_whitespace().collect::<String>())
            .collect()
    };
    let mut certs = certs_for(|usage| usage == Some("signing"));
    if certs.is_empty() {
        certs = certs_for(|usage| usage.is_none_or(str::is_empty));
    }
    if sso_url.is_empty() {
        return Err(config_error("the metadata has no SingleSignOnService with the HTTP-Redirect binding"));
    }
    Ok(Idp { entity_id, sso_url, certs })
}

/// A certificate as PEM or bare base64 DER, checked: base64 DER back.
fn normalize_certificate(text: &str) -> Result<String, SsoError> {
    let body: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with("-----"))
        .flat_map(|line| line.split_whitespace())
        .collect();
    let der = BASE64.decode(body.as_bytes()).map_err(|_| {
        config_error("a certificate is not PEM or base64: paste the identity provider's signing certificate")
    })?;
    let cert = openssl::x509::X509::from_der(&der)
        .map_err(|error| config_error(format!("a certificate could not be read: {error}")))?;
    let key = cert.public_key().map_err(|error| config_error(format!("a certificate's key: {error}")))?;
    if key.rsa().is_err() && key.ec_key().is_err() {
        return Err(config_error("a signing certificate must hold an RSA or EC key"));
    }
    Ok(BASE64.encode(der))
}

fn fingerprint(cert: &str) -> String {
    use sha2::Digest;
    let der = BASE64.decode(cert.as_bytes()).unwrap_or_default();
    let digest = sha2::Sha256::digest(der);
    digest.iter().map(|byte| format!("{byte:02X}")).collect::<Vec<_>>().join(":")
}

async fn fetch_metadata(url: &str, public_only: bool) -> Result<String, SsoError> {
    crate::outbound::check_url(url, "metadata_url", public_only)?;
    let client = crate::outbound::client(public_only)?;
    let mut response =
        client.get(url).send().await.map_err(|error| SsoError::Provider(format!("fetching {url} failed: {error}")))?;
    if !response.status().is_success() {
        return Err(SsoError::Provider(format!("fetching {url} answered {}", response.status())));
    }
    let mut body = Vec::new();
    while let Some(chunk) =
        response.chunk().await.map_err(|error| SsoError::Provider(format!("reading {url} failed: {error}")))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_METADATA {
            return Err(config_error(format!("the metadata at {url} is larger than 1 MiB")));
        }
    }
    String::from_utf8(body).map_err(|_| config_error(format!("the metadata at {url} is not UTF-8")))
}

/// A new RSA-2048 key pair for the organization's service provider, with a self-signed
/// certificate (ten years): the certificate as base64 DER and the key as PEM.
fn new_sp_key(org_id: OrgId) -> Result<(String, Secret<String>), SsoError> {
    let failed = |error: openssl::error::ErrorStack| config_error(format!("the service provider key: {error}"));
    let rsa = openssl::rsa::Rsa::generate(2048).map_err(failed)?;
    let key = openssl::pkey::PKey::from_rsa(rsa).map_err(failed)?;
    let mut name = openssl::x509::X509NameBuilder::new().map_err(failed)?;
    name.append_entry_by_text("CN", &format!("Tally SAML service provider, organization {}", org_id.0))
        .map_err(failed)?;
    let name = name.build();
    let mut builder = openssl::x509::X509Builder::new().map_err(failed)?;
    builder.set_version(2).map_err(failed)?;
    let mut serial = openssl::bn::BigNum::new().map_err(failed)?;
    serial.rand(127, openssl::bn::MsbOption::MAYBE_ZERO, false).map_err(failed)?;
    let serial = serial.to_asn1_integer().map_err(failed)?;
    builder.set_serial_number(&serial).map_err(failed)?;
    builder.set_subject_name(&name).map_err(failed)?;
    builder.set_issuer_name(&name).map_err(failed)?;
    builder.set_pubkey(&key).map_err(failed)?;
    let not_before = openssl::asn1::Asn1Time::days_from_now(0).map_err(failed)?;
    let not_after = openssl::asn1::Asn1Time::days_from_now(3650).map_err(failed)?;
    builder.set_not_before(&not_before).map_err(failed)?;
    builder.set_not_after(&not_after).map_err(failed)?;
    builder.sign(&key, openssl::hash::MessageDigest::sha256()).map_err(failed)?;
    let cert = builder.build().to_der().map_err(failed)?;
    let pem = key.private_key_to_pem_pkcs8().map_err(failed)?;
    let pem = String::from_utf8(pem).map_err(|_| config_error("the service provider key is not PEM"))?;
    Ok((BASE64.encode(cert), Secret::new(pem)))
}

/// Saves the organization's SAML connection (password re-entered). A configuration
/// without a signing certificate is refused: there would be nothing to check signatures
/// against.
pub async fn configure(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, ManageSecurity>,
    settings: &SamlSettings,
    password: Option<&Secret<String>>,
) -> Result<(), SsoError> {
    tally_iam::domains::reenter_password(ctx, permit, password).await?;
    let (idp, metadata_url) = match &settings.idp {
        IdpSource::Metadata(xml) => (read_metadata(xml)?, None),
        IdpSource::MetadataUrl(url) => {
            (read_metadata(&fetch_metadata(url, ctx.settings.sso_public_only).await?)?, Some(url.clone()))
        }
        IdpSource::Manual { entity_id, sso_url, certificates } => (
            Idp {
                entity_id: entity_id.trim().to_string(),
                sso_url: sso_url.trim().to_string(),
                certs: certificates.clone(),
            },
            None,
        ),
    };
    if idp.entity_id.is_empty() {
        return Err(config_error("the identity provider's entity ID (issuer) is required"));
    }
    crate::outbound::check_url(&idp.sso_url, "the sign-in URL", false)?;
    if idp.certs.is_empty() {
        return Err(config_error(
            "a signing certificate is required: the identity provider's metadata or settings must include the certificate it signs with",
        ));
    }
    let certs = idp.certs.iter().map(|cert| normalize_certificate(cert)).collect::<Result<Vec<_>, _>>()?;
    let org_id = permit.org_id();
    let before = ctx.store.sso_connection(org_id).await?;
    let existing = before.as_ref().and_then(|connection| connection.saml.clone());
    let (sp_cert, sp_key_sealed) = match existing {
        Some(saml) if !saml.sp_cert.is_empty() && !saml.sp_key_sealed.is_empty() => (saml.sp_cert, saml.sp_key_sealed),
        _ => {
            let (cert, key) = new_sp_key(org_id)?;
            (cert, ctx.sealer.seal(&key).map_err(SsoError::Iam)?)
        }
    };
    let saml = SamlConnection {
        idp_entity_id: idp.entity_id,
        idp_sso_url: idp.sso_url,
        idp_certs: certs,
        metadata_url,
        sign_requests: settings.sign_requests,
        want_assertions_signed: settings.want_assertions_signed,
        idp_initiated: settings.idp_initiated,
        sp_cert,
        sp_key_sealed,
    };
    let after = SsoConnection {
        org_id,
        protocol: "saml".into(),
        oidc_issuer: None,
        oidc_client_id: None,
        oidc_client_secret_sealed: None,
        require_sso: settings.require_sso,
        idp_managed: settings.idp_managed,
        saml: Some(saml.clone()),
    };
    let description = format!(
        "SAML identity provider {}, signing certificates (SHA-256) {}",
        saml.idp_entity_id,
        certificate_fingerprints(&saml).join(", ")
    );
    crate::check_provider_change(ctx, permit, before.as_ref(), &after, &description).await?;
    let audit = tally_iam::admin::audit_entry(ctx, org_id, "sso_settings.updated", "organization", org_id.0)
        .with_after(json!({
            "protocol": "saml",
            "idp_entity_id": saml.idp_entity_id,
            "sso_url": saml.idp_sso_url,
            "metadata_url": saml.metadata_url,
            "certificates": certificate_fingerprints(&saml),
            "sign_requests": settings.sign_requests,
            "want_assertions_signed": settings.want_assertions_signed,
            "idp_initiated": settings.idp_initiated,
            "require_sso": settings.require_sso,
            "idp_managed": settings.idp_managed,
        }));
    ctx.store.set_saml_connection(org_id, settings.require_sso, settings.idp_managed, &saml, &audit).await?;
    Ok(())
}

/// SHA-256 fingerprints of the identity provider's certificates, for the settings page.
pub fn certificate_fingerprints(saml: &SamlConnection) -> Vec<String> {
    saml.idp_certs.iter().map(|cert| fingerprint(cert)).collect()
}

/// A metadata signing key (`md` and `ds` prefixes bound by the caller).
fn key_descriptor(cert: &str) -> String {
    format!(
        "<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The organization's service-provider metadata, for its identity provider.
pub async fn sp_metadata(ctx: Ctx<'_>, org_id: OrgId) -> Result<Option<String>, SsoError> {
    if ctx.store.organization(org_id).await?.is_none() {
        return Ok(None);
    }
    let saml = ctx.store.sso_connection(org_id).await?.and_then(|connection| connection.saml);
    let base = &ctx.settings.base_url;
    let key = saml
        .as_ref()
        .filter(|saml| !saml.sp_cert.is_empty())
        .map(|saml| format!("\n    {}", key_descriptor(&saml.sp_cert)))
        .unwrap_or_default();
    let signs = saml.as_ref().is_some_and(|saml| saml.sign_requests);
    let wants = saml.as_ref().is_some_and(|saml| saml.want_assertions_signed);
    Ok(Some(format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="{METADATA_NS}" xmlns:ds="{DSIG_NS}" entityID="{entity}">
  <md:SPSSODescriptor AuthnRequestsSigned="{signs}" WantAssertionsSigned="{wants}" protocolSupportEnumeration="{PROTOCOL_NS}">{key}
    <md:NameIDFormat>{EMAIL_FORMAT}</md:NameIDFormat>
    <md:AssertionConsumerService Binding="{POST_BINDING}" Location="{acs}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"#,
        entity = escape(&sp_entity_id(base, org_id)),
        acs = escape(&acs_url(base, org_id)),
    )))
}

/// The organization's SAML identity provider, when SAML is its protocol and has a
/// certificate to check signatures with.
fn saml_of(connection: &SsoConnection) -> Option<&SamlConnection> {
    Some(connection)
        .filter(|connection| connection.protocol == "saml")
        .and_then(|connection| connection.saml.as_ref())
        .filter(|saml| !saml.idp_certs.is_empty())
}

fn chrono_time(at: Timestamp) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(at.as_millisecond()).unwrap_or_default()
}

/// Starts an SP-initiated sign-in: the identity provider's URL with the AuthnRequest
/// (HTTP-Redirect binding, signed when the organization asks for it), and the RelayState
/// (256 random bits) that the answer must bring back to the same browser (in a cookie).
pub async fn start(ctx: Ctx<'_>, org_id: OrgId) -> Result<(String, Secret<String>), SsoError> {
    let connection = ctx.store.sso_connection(org_id).await?;
    let Some(saml) = connection.as_ref().and_then(saml_of) else {
        return Err(config_error("SAML single sign-on is not set up for this organization"));
    };
    let base = &ctx.settings.base_url;
    let now = ctx.clock.now();
    let request_id = format!("_{}", tally_types::token::random_hex(16));
    let relay_state = tally_types::token::random_alphanumeric(43);
    let request = AuthnRequest {
        id: request_id.clone(),
        version: "2.0".into(),
        issue_instant: chrono_time(now),
        destination: Some(saml.idp_sso_url.clone()),
        assertion_consumer_service_url: Some(acs_url(base, org_id)),
        protocol_binding: Some(POST_BINDING.into()),
        issuer: Some(Issuer { value: Some(sp_entity_id(base, org_id)), ..Issuer::default() }),
        ..AuthnRequest::default()
    };
    let url = if saml.sign_requests {
        let pem = ctx.sealer.open(&saml.sp_key_sealed).map_err(SsoError::Iam)?;
        let key = openssl::pkey::PKey::private_key_from_pem(pem.expose().as_bytes())
            .map_err(|error| config_error(format!("the service provider key: {error}")))?;
        request.signed_redirect(&relay_state, &key)
    } else {
        request.redirect(&relay_state)
    }
    .map_err(|error| config_error(format!("the sign-in request: {error}")))?
    .ok_or_else(|| config_error("the identity provider has no sign-in URL"))?;
    let expires_at = now.checked_add(REQUEST_LIFETIME).unwrap_or(now);
    ctx.store.insert_saml_request(&tally_iam::token_hash(&relay_state), org_id, &request_id, now, expires_at).await?;
    Ok((url.to_string(), Secret::new(relay_state)))
}

/// What the raw response document says, read before (and independently of) samael.
#[derive(Debug)]
struct Raw {
    assertion_id: String,
    /// When the Response and the Assertion say they were issued.
    issued: Vec<Timestamp>,
    /// Every InResponseTo in the document (on the Response and on SubjectConfirmationData).
    in_response_to: Vec<String>,
    /// The Assertion carries its own signature over itself.
    assertion_signed: bool,
}

/// The structural checks: a `samlp:Response` root with a successful status, exactly one
/// `saml:Assertion` in the whole document and it a child of the root, no encrypted
/// assertion, no comments, a Destination that is this ACS (required on a signed
/// Response), and IssueInstants that read as UTC times.
fn inspect(xml: &str, acs: &str) -> Result<Raw, SsoError> {
    let document = parse_xml(xml).map_err(|error| rejected(format!("the SAML response: {error}")))?;
    let root = document.root_element();
    if !is(&root, PROTOCOL_NS, "Response") {
        return Err(rejected("the SAML response must be a samlp:Response"));
    }
    if document.descendants().any(|node| node.is_comment()) {
        return Err(rejected("the SAML response must not contain XML comments"));
    }
    if document.descendants().any(|node| is(&node, ASSERTION_NS, "EncryptedAssertion")) {
        return Err(rejected(
            "encrypted assertions are not supported: turn assertion encryption off at the identity provider",
        ));
    }
    let status = root
        .children()
        .find(|node| is(node, PROTOCOL_NS, "Status"))
        .and_then(|status| status.children().find(|node| is(node, PROTOCOL_NS, "StatusCode")))
        .and_then(|code| code.attribute("Value"))
        .unwrap_or_default();
    if status != SUCCESS {
        return Err(rejected(format!(
            "the identity provider answered {}",
            if status.is_empty() { "without a status" } else { status }
        )));
    }
    if let Some(destination) = root.attribute("Destination")
        && destination != acs
    {
        return Err(rejected(format!(
            "the SAML response is addressed to {destination}, not to this organization's ACS {acs}"
        )));
    }
    // SAML bindings 3.5.5.2: a signed message names its Destination, or it could be
    // replayed to any service provider that trusts the same identity provider.
    let response_signed = root.children().any(|node| is(&node, DSIG_NS, "Signature"));
    if response_signed && root.attribute("Destination").is_none() {
        return Err(rejected(format!(
            "a signed SAML response must carry a Destination (this organization's ACS {acs})"
        )));
    }
    let assertions: Vec<_> = document.descendants().filter(|node| is(node, ASSERTION_NS, "Assertion")).collect();
    let [assertion] = assertions.as_slice() else {
        return Err(rejected(format!(
            "the SAML response must carry exactly one assertion, it carries {}",
            assertions.len()
        )));
    };
    if assertion.parent_element() != Some(root) {
        return Err(rejected("the SAML response must carry exactly one assertion, directly inside the response"));
    }
    check_signatures(&document, root, *assertion)?;
    let mut issued = Vec::new();
    for element in [root, *assertion] {
        let text = element.attribute("IssueInstant").unwrap_or_default();
        let at = text
            .parse::<Timestamp>()
            .map_err(|_| rejected(format!("the SAML response's IssueInstant {text:?} is not a UTC date and time")))?;
        issued.push(at);
    }
    let assertion_id = assertion.attribute("ID").unwrap_or_default().to_string();
    // `check_signatures` made every signature reference its own parent.
    let assertion_signed = assertion.children().any(|node| is(&node, DSIG_NS, "Signature"));
    let in_response_to = document
        .descendants()
        .filter(|node| is(node, PROTOCOL_NS, "Response") || is(node, ASSERTION_NS, "SubjectConfirmationData"))
        .filter_map(|node| node.attribute("InResponseTo"))
        .map(str::to_string)
        .collect();
    Ok(Raw { assertion_id, issued, in_response_to, assertion_signed })
}

fn idp_descriptor(saml: &SamlConnection) -> Result<EntityDescriptor, SsoError> {
    let certs: String = saml.idp_certs.iter().map(|cert| key_descriptor(cert)).collect();
    let xml = format!(
        r#"<md:EntityDescriptor xmlns:md="{METADATA_NS}" xmlns:ds="{DSIG_NS}" entityID="{entity}"><md:IDPSSODescriptor protocolSupportEnumeration="{PROTOCOL_NS}">{certs}<md:SingleSignOnService Binding="{REDIRECT_BINDING}" Location="{sso}"/></md:IDPSSODescriptor></md:EntityDescriptor>"#,
        entity = escape(&saml.idp_entity_id),
        sso = escape(&saml.idp_sso_url),
    );
    xml.parse::<EntityDescriptor>().map_err(|error| config_error(format!("the stored identity provider: {error}")))
}

/// samael's refusals, in words an admin can act on.
fn explain(error: SamlError, saml: &SamlConnection, entity_id: &str, acs: &str) -> SsoError {
    rejected(match error {
        SamlError::FailedToValidateSignature => {
            "the SAML response is not signed with the configured certificate, or is signed with a refused algorithm \
             (SHA-256 or stronger is required)"
                .to_string()
        }
        SamlError::AssertionIssuerMismatch { issuer, .. } | SamlError::ResponseIssuerMismatch { issuer, .. } => {
            format!(
                "the SAML response was issued by {}, not by the configured identity provider {}",
                issuer.unwrap_or_else(|| "an unnamed issuer".into()),
                saml.idp_entity_id
            )
        }
        SamlError::AssertionExpired { time }
        | SamlError::ResponseExpired { time }
        | SamlError::AssertionConditionExpired { time }
        | SamlError::AssertionSubjectConfirmationExpired { time } => {
            format!("the SAML assertion expired at {time}; sign in again (and check the identity provider's clock)")
        }
        SamlError::AssertionConditionExpiredBefore { time }
        | SamlError::AssertionSubjectConfirmationExpiredBefore { time } => {
            format!("the SAML assertion is not valid before {time}; check the identity provider's clock")
        }
        SamlError::AssertionConditionAudienceRestrictionFailed { .. } => {
            format!("the SAML assertion is meant for another service provider; its audience must be {entity_id}")
        }
        SamlError::AssertionRecipientMismatch { .. } | SamlError::DestinationValidationError { .. } => {
            format!("the SAML response is addressed to another ACS; it must be {acs}")
        }
        SamlError::AssertionInResponseToInvalid { .. } | SamlError::ResponseInResponseToInvalid { .. } => {
            "the SAML response does not answer this sign-in request; start again".to_string()
        }
        SamlError::ResponseBadStatusCode { code } => format!("the identity provider answered {code}"),
        SamlError::AssertionBearerSubjectConfirmationMissing | SamlError::AssertionSubjectConfirmationMissing => {
            "the SAML assertion has no bearer subject confirmation with a recipient and an expiry".to_string()
        }
        other => format!("the SAML response could not be read: {other}"),
    })
}

/// The latest moment the assertion could still be accepted: until then its ID is kept.
fn replay_horizon(assertion: &Assertion, now: Timestamp) -> Timestamp {
    let to_jiff = |at: chrono::DateTime<chrono::Utc>| Timestamp::from_millisecond(at.timestamp_millis()).ok();
    let issued = to_jiff(assertion.issue_instant).and_then(|at| at.checked_add(ISSUE_DELAY).ok());
    let conditions = assertion.conditions.as_ref().and_then(|conditions| conditions.not_on_or_after).and_then(to_jiff);
    let confirmations = assertion
        .subject
        .iter()
        .flat_map(|subject| subject.subject_confirmations.iter().flatten())
        .filter_map(|confirmation| confirmation.subject_confirmation_data.as_ref()?.not_on_or_after)
        .filter_map(to_jiff);
    let latest = issued.into_iter().chain(conditions).chain(confirmations).max().unwrap_or(now).max(now);
    latest.checked_add(CLOCK_SKEW).unwrap_or(latest)
}

/// One attribute's value by any of its names; several different values are refused.
fn attribute(assertion: &Assertion, names: &[&str]) -> Result<Option<String>, SsoError> {
    let mut values: Vec<String> = assertion
        .attribute_statements
        .iter()
        .flatten()
        .flat_map(|statement| statement.attributes.iter())
        .filter(|attribute| {
            attribute.name.as_deref().is_some_and(|name| names.iter().any(|wanted| wanted.eq_ignore_ascii_case(name)))
        })
        .flat_map(|attribute| attribute.values.iter().filter_map(|value| value.value.clone()))
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
        .collect();
    values.sort();
    values.dedup();
    match values.len() {
        0 => Ok(None),
        1 => Ok(values.pop()),
        _ => Err(rejected(format!("the SAML assertion carries several different values for {}", names[0]))),
    }
}

/// The identity provider's answer at the ACS: checks it (see the module comment and
/// `docs/design/2026-11-28-saml.md` for the order), then signs the person in.
pub async fn acs(
    ctx: Ctx<'_>,
    org_id: OrgId,
    saml_response: &str,
    relay_state: Option<&str>,
    browser_state: Option<&str>,
    client_info: &ClientInfo,
) -> Result<crate::SsoOutcome, SsoError> {
    let connection = ctx.store.sso_connection(org_id).await?;
    let Some((connection, saml)) = connection.as_ref().and_then(|c| Some((c, saml_of(c)?))) else {
        return Err(rejected("SAML single sign-on is not set up for this organization"));
    };
    let encoded: String = saml_response.split_whitespace().collect();
    if encoded.is_empty() || encoded.len() > MAX_RESPONSE {
        return Err(rejected("the SAML response is missing or larger than 256 KiB"));
    }
    let xml = BASE64
        .decode(encoded.as_bytes())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| rejected("the SAML response is not base64-encoded UTF-8 XML"))?;
    let base = &ctx.settings.base_url;
    let entity_id = sp_entity_id(base, org_id);
    let acs = acs_url(base, org_id);
    let raw = inspect(&xml, &acs)?;

    let now = ctx.clock.now();
    // Issued no later than now, give or take the clock skew every other time check allows.
    let latest_issue = now.checked_add(CLOCK_SKEW).unwrap_or(now);
    if let Some(at) = raw.issued.iter().find(|at| **at > latest_issue) {
        return Err(rejected(format!(
            "the SAML response was issued in the future ({at}); check the identity provider's clock"
        )));
    }
    // An SP-initiated answer counts only in the browser that started the sign-in (its
    // RelayState is in that browser's cookie): another browser posting it is treated as
    // IdP-initiated, where an answer to a request is refused (login CSRF).
    let bound = match (relay_state, browser_state) {
        (Some(state), Some(cookie)) if !state.is_empty() => bool::from(state.as_bytes().ct_eq(cookie.as_bytes())),
        _ => false,
    };
    let request_id = match relay_state.filter(|_| bound) {
        Some(state) => ctx.store.take_saml_request(&tally_iam::token_hash(state), org_id, now).await?,
        None => None,
    };
    if request_id.is_none() {
        if !saml.idp_initiated {
            return Err(rejected(
                "IdP-initiated sign-in is turned off for this organization; start from Tally's sign-in page",
            ));
        }
        if !raw.in_response_to.is_empty() {
            return Err(rejected(
                "the SAML response answers a sign-in request Tally does not know (or that expired); start again",
            ));
        }
    }

    let provider = ServiceProviderBuilder::default()
        .entity_id(Some(entity_id.clone()))
        .acs_url(Some(acs.clone()))
        .idp_metadata(idp_descriptor(saml)?)
        .allow_idp_initiated(request_id.is_none())
        .max_issue_delay(chrono::Duration::milliseconds(ISSUE_DELAY.as_millis() as i64))
        .max_clock_skew(chrono::Duration::milliseconds(CLOCK_SKEW.as_millis() as i64))
        .allowed_signature_algorithms(Some(vec![
            AllowedSignatureAlgorithm::RsaSha256,
            AllowedSignatureAlgorithm::RsaSha384,
            AllowedSignatureAlgorithm::RsaSha512,
            AllowedSignatureAlgorithm::EcdsaSha256,
            AllowedSignatureAlgorithm::EcdsaSha384,
            AllowedSignatureAlgorithm::EcdsaSha512,
        ]))
        .build()
        .map_err(|error| config_error(format!("the service provider: {error}")))?;
    let assertion = {
        let (saml, entity_id) = (saml.clone(), entity_id.clone());
        tokio::task::spawn_blocking(move || {
            let ids: Vec<&str> = request_id.iter().map(String::as_str).collect();
            provider
                .parse_xml_response(&xml, request_id.as_ref().map(|_| ids.as_slice()))
                .map_err(|error| explain(error, &saml, &entity_id, &acs))
        })
        .await
        .map_err(|_| rejected("the SAML response could not be checked"))??
    };

    // What samael verified must be the assertion the document carries, not a signed
    // original hidden elsewhere (signature wrapping).
    if assertion.id != raw.assertion_id {
        return Err(rejected("the signed assertion is not the one the SAML response carries"));
    }
    let conditions = assertion.conditions.as_ref();
    if conditions.and_then(|conditions| conditions.not_on_or_after).is_none() {
        return Err(rejected("the SAML assertion has no expiry (Conditions NotOnOrAfter)"));
    }
    let restrictions = conditions.and_then(|conditions| conditions.audience_restrictions.as_ref());
    let audience_ok = restrictions.is_some_and(|restrictions| {
        !restrictions.is_empty() && restrictions.iter().all(|restriction| restriction.audience.contains(&entity_id))
    });
    if !audience_ok {
        return Err(rejected(format!(
            "the SAML assertion must name this organization's entity ID {entity_id} as its audience"
        )));
    }
    if assertion.authn_statements.as_ref().is_none_or(Vec::is_empty) {
        return Err(rejected("the SAML assertion has no authentication statement"));
    }
    if saml.want_assertions_signed && !raw.assertion_signed {
        return Err(rejected(
            "the SAML assertion itself must be signed (this organization requires signed assertions)",
        ));
    }
    let expires_at = replay_horizon(&assertion, now);
    if !ctx.store.record_saml_assertion(org_id, &assertion.id, now, expires_at).await? {
        return Err(rejected("this SAML assertion was already used; sign in again"));
    }

    let name_id = assertion.subject.as_ref().and_then(|subject| subject.name_id.as_ref());
    let email = match attribute(&assertion, EMAIL_NAMES)? {
        Some(email) => Some(email),
        None => name_id
            .filter(|name_id| name_id.format.as_deref() == Some(EMAIL_FORMAT))
            .map(|name_id| name_id.value.trim().to_string()),
    };
    let Some(email) = email else {
        return Err(rejected(
            "the SAML assertion carries no e-mail address (an `email` attribute or an emailAddress NameID)",
        ));
    };
    let name = [attribute(&assertion, FIRST_NAMES)?, attribute(&assertion, LAST_NAMES)?]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    // A transient NameID changes at every sign-in: it links nothing.
    let subject = name_id
        .filter(|name_id| name_id.format.as_deref() != Some(TRANSIENT_FORMAT))
        .map(|name_id| name_id.value.trim().to_string())
        .filter(|value| !value.is_empty());
    // SAML links are kept apart from OIDC ones, whose issuer could be the same string.
    let issuer = format!("saml:{}", saml.idp_entity_id);
    let sign_in = crate::SignIn {
        issuer: &issuer,
        subject: subject.as_deref(),
        email: Some(&email),
        email_verified: true,
        name: &name,
        method: "saml",
    };
    crate::sign_in(ctx, crate::Vouched::after_verification(connection, sign_in), client_info).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACS: &str = "https://tally.example/sso/saml/1/acs";

    /// A response shaped like an IdP's, with `signature` inside the Assertion.
    fn response(declaration: &str, signature: &str) -> String {
        format!(
            r#"{declaration}<samlp:Response xmlns:samlp="{PROTOCOL_NS}" xmlns:saml="{ASSERTION_NS}" xmlns:ds="{DSIG_NS}" ID="_r" IssueInstant="2026-12-06T01:00:00Z" Destination="{ACS}"><samlp:Status><samlp:StatusCode Value="{SUCCESS}"/></samlp:Status><saml:Assertion ID="_a" IssueInstant="2026-12-06T01:00:00.123Z"><saml:Issuer>idp</saml:Issuer>{signature}</saml:Assertion></samlp:Response>"#
        )
    }

    fn signature(uri: &str, transform: &str) -> String {
        format!(
            r#"<ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:Reference URI="{uri}"><ds:Transforms><ds:Transform Algorithm="{transform}"/></ds:Transforms></ds:Reference></ds:SignedInfo></ds:Signature>"#
        )
    }

    const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

    fn refusal(xml: &str) -> String {
        match inspect(xml, ACS) {
            Ok(raw) => panic!("accepted: {raw:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn a_well_formed_response_passes_the_raw_checks() {
        let raw =
            inspect(&response(r#"<?xml version="1.0" encoding="UTF-8"?>"#, &signature("#_a", ENVELOPED)), ACS).unwrap();
        assert_eq!(raw.assertion_id, "_a");
        assert!(raw.assertion_signed);
        assert_eq!(raw.issued.len(), 2);
    }

    #[test]
    fn a_signed_response_without_destination_and_unreadable_issue_instants_are_refused() {
        let signed_response = response("", &signature("#_a", ENVELOPED))
            .replace("<samlp:Status>", &format!("{}<samlp:Status>", signature("#_r", ENVELOPED)));
        assert!(inspect(&signed_response, ACS).is_ok(), "the control, with its Destination");
        let no_destination = signed_response.replace(&format!(" Destination=\"{ACS}\""), "");
        assert!(refusal(&no_destination).contains("must carry a Destination"), "{}", refusal(&no_destination));
        let unsigned_no_destination = response("", "").replace(&format!(" Destination=\"{ACS}\""), "");
        assert!(inspect(&unsigned_no_destination, ACS).is_ok(), "an unsigned Response may leave it out");
        let local_time = response("", "").replace("2026-12-06T01:00:00Z", "2026-12-06T01:00:00");
        assert!(refusal(&local_time).contains("not a UTC date and time"), "{}", refusal(&local_time));
    }

    #[test]
    fn references_outside_the_document_and_unusual_transforms_are_refused_before_xmlsec() {
        for (uri, transform) in [
            ("http://127.0.0.1:9/probe", ENVELOPED),
            ("file:///dev/zero", ENVELOPED),
            ("#_r", ENVELOPED),
            ("", ENVELOPED),
            ("#_a", "http://www.w3.org/TR/1999/REC-xslt-19991116"),
            ("#_a", "http://www.w3.org/TR/1999/REC-xpath-19991116"),
        ] {
            let message = refusal(&response("", &signature(uri, transform)));
            assert!(message.contains("signature is not acceptable"), "{uri} {transform}: {message}");
        }
        let two =
            signature("#_a", ENVELOPED).replace("</ds:SignedInfo>", r##"<ds:Reference URI="#_a"/></ds:SignedInfo>"##);
        assert!(refusal(&response("", &two)).contains("exactly one reference"));
        let manifest = signature("#_a", ENVELOPED)
            .replace("</ds:Signature>", "<ds:Object><ds:Manifest/></ds:Object></ds:Signature>");
        assert!(refusal(&response("", &manifest)).contains("Manifest"));
    }

    #[test]
    fn documents_the_two_parsers_would_read_differently_are_refused() {
        let utf7 = response(r#"<?xml version="1.0" encoding="UTF-7"?>"#, "");
        assert!(refusal(&utf7).contains("must be UTF-8"), "{}", refusal(&utf7));
        let late = format!("{}<?xml version=\"1.0\"?>", response("", ""));
        assert!(refusal(&late).contains("XML declaration"));
        assert!(refusal(&response("<!DOCTYPE x>", "")).contains("document type declarations"));
        let comment = response("", "").replace("<saml:Issuer>idp", "<saml:Issuer>idp<!-- x -->");
        assert!(refusal(&comment).contains("comments"));
    }
}
