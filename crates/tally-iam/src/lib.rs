//! Tally's identity and access: the first tenant (setup link and `tally admin bootstrap`),
//! passwords, sessions, and the key that seals secrets at rest.
//!
//! Domain rules live here; this crate knows nothing of HTTP and reads the time only
//! through the `Clock` it is given.

pub mod account;
pub mod admin;
pub mod alerts;
pub mod authz;
pub mod directory;
pub mod domains;
pub mod lexicon;
pub mod mail;
pub mod password;
pub mod privacy;
pub mod reports;
pub mod scim;
pub mod seal;
pub mod sessions;
pub mod setup;
pub mod signin;
pub mod sms;
pub mod stepup;
pub mod throttle;
pub mod totp;
pub mod twofactor;
pub mod validate;
pub mod views;

use tally_store::StoreError;

pub use directory::{Directory, Metadata};

/// The records this crate's functions return, for the server to name.
pub mod records {
    pub use tally_store::{
        AccessRequest, Alert, AlertCheck, Annotation, AnnotationTag, AuditFilter, AuditRecord, Board, BoardCard,
        BoardShare, Bookmark, ClaimedDomain, Cohort, CreatedTenant, CustomRole, DataView, DataViewMember, Grant,
        Invitation, InvitedProject, LexiconEntry, LexiconSchema, Membership, OrgMember, Organization, Plan,
        PrivacyRequest, Project, ProjectMember, ServiceAccount, SessionInfo, StoreError, Team, User,
    };
}
use tally_types::{Classified, ErrorKind};

/// SHA-256 of a token, hex: how tokens are stored, so a leaked database yields no
/// usable session or link.
pub fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[derive(Debug, thiserror::Error)]
pub enum IamError {
    #[error("{field}: {message}")]
    InvalidInput { field: &'static str, message: String },
    #[error("the account {email} already exists; run again without --password-stdin to add the organization to it")]
    AccountExists { email: String },
    #[error("cannot read or create the secrets key {path}: {message}")]
    Key { path: String, message: String },
    #[error("cannot open a sealed secret: {0}")]
    Unseal(String),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    RateLimited(String),
    /// Every failed sign-in step looks the same, whatever failed.
    #[error("sign-in failed: check your e-mail, password and code, or wait and try again")]
    SignInFailed,
    #[error(transparent)]
    Sms(#[from] sms::SmsError),
    #[error("your organization signs in with single sign-on; use \"Sign in with SSO\"")]
    SsoRequired,
    /// Too many wrong passwords or codes at a step-up check: the session has ended.
    #[error(
        "too many wrong passwords or codes: this session has ended and the account is locked for a while; \
         sign in again later"
    )]
    StepUpLocked,
    /// An invitation for an existing account is accepted only by that account, signed in.
    #[error("this invitation is for the existing account {email}: sign in as {email}, then open the link again")]
    SignInToAccept { email: String },
    #[error("could not send the e-mail, try again: {0}")]
    Mail(#[from] mail::MailError),
    #[error(transparent)]
    Authz(#[from] authz::AuthzError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl IamError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        IamError::InvalidInput { field, message: message.into() }
    }
}

impl Classified for IamError {
    fn kind(&self) -> ErrorKind {
        match self {
            IamError::InvalidInput { .. } => ErrorKind::InvalidInput,
            IamError::AccountExists { .. } | IamError::Conflict(_) => ErrorKind::Conflict,
            IamError::Key { .. } | IamError::Unseal(_) | IamError::Hashing(_) => ErrorKind::Internal,
            IamError::Forbidden(_) => ErrorKind::Forbidden,
            IamError::NotFound(_) => ErrorKind::NotFound,
            IamError::RateLimited(_) => ErrorKind::RateLimited,
            IamError::SignInFailed => ErrorKind::Unauthenticated,
            IamError::SsoRequired => ErrorKind::Forbidden,
            IamError::SignInToAccept { .. } | IamError::StepUpLocked => ErrorKind::Unauthenticated,
            IamError::Sms(_) => ErrorKind::Upstream,
            IamError::Mail(_) => ErrorKind::Upstream,
            IamError::Authz(error) => error.kind(),
            IamError::Store(error) => error.kind(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            IamError::InvalidInput { field, .. } => match *field {
                "email" => "invalid_email",
                "password" => "invalid_password",
                "organization" => "invalid_organization",
                "name" => "invalid_name",
                "role" => "invalid_role",
                "timezone" => "invalid_timezone",
                "region" => "invalid_region",
                "permissions" => "invalid_permissions",
                "phone" => "invalid_phone",
                "code" => "invalid_code",
                "domain" => "invalid_domain",
                "csv" => "invalid_csv",
                _ => "invalid_input",
            },
            IamError::AccountExists { .. } => "account_exists",
            IamError::Conflict(_) => "conflict",
            IamError::Key { .. } | IamError::Unseal(_) | IamError::Hashing(_) => "internal",
            IamError::Forbidden(_) => "forbidden",
            IamError::NotFound(_) => "not_found",
            IamError::RateLimited(_) => "rate_limited",
            IamError::SignInFailed => "invalid_credentials",
            IamError::SsoRequired => "sso_required",
            IamError::SignInToAccept { .. } => "sign_in_to_accept",
            IamError::StepUpLocked => "session_ended",
            IamError::Sms(_) => "sms_unavailable",
            IamError::Mail(_) => "mail_unavailable",
            IamError::Authz(error) => error.code(),
            IamError::Store(error) => error.code(),
        }
    }
}
