//! Single sign-on for organizations: an OpenID Connect relying party (authorization code
//! flow with PKCE, state bound to the browser, nonce, ID-token validation through the
//! provider's JWKS) with just-in-time accounts for claimed domains. SSO sign-ins skip
//! Tally's own second factor, as Mixpanel's do.
//!
//! This crate makes outbound requests only to the issuer an organization's Owner or Admin
//! configured, with redirects disabled and short timeouts. It knows nothing of HTTP serving.

pub mod oidc;

use tally_iam::IamError;
use tally_types::{Classified, ErrorKind};

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
