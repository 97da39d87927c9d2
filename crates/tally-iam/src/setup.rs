//! The first tenant of an instance: by the one-time setup link in a browser, or by
//! `tally admin bootstrap` at the machine. Both create an organization, its Owner, and
//! the two projects Mixpanel recommends, Production and Development.

use jiff::SignedDuration;
use tally_store::{CreatedTenant, NewProject, NewTenant, NewUser, TenantClaim};
use tally_types::{Clock, Secret};

use crate::seal::Sealer;
use crate::{IamError, password, token_hash, validate};

/// How long a printed setup link works.
pub const SETUP_LINK_LIFETIME: SignedDuration = SignedDuration::from_hours(24);

/// Region of projects created at setup, until regions are configured.
pub const DEFAULT_REGION: &str = "us";

/// Characters in a setup-link token (256 bits).
const SETUP_TOKEN_LEN: usize = 43;

/// On an empty instance, makes a new setup token (replacing older ones) and returns it;
/// `None` once an organization exists.
pub async fn issue_setup_link(
    store: &impl crate::Metadata,
    clock: &dyn Clock,
) -> Result<Option<Secret<String>>, IamError> {
    let store = crate::directory::raw(store);
    if !store.instance_is_empty().await? {
        return Ok(None);
    }
    let token = tally_types::token::random_alphanumeric(SETUP_TOKEN_LEN);
    let now = clock.now();
    let expires_at = now.checked_add(SETUP_LINK_LIFETIME).unwrap_or(now);
    store.replace_setup_token(&token_hash(&token), now, expires_at).await?;
    Ok(Some(Secret::new(token)))
}

/// Whether a setup token still works (for showing the form or a clear "link used" page).
pub async fn setup_link_is_live(
    store: &impl crate::Metadata,
    clock: &dyn Clock,
    token: &str,
) -> Result<bool, IamError> {
    let store = crate::directory::raw(store);
    Ok(store.setup_token_is_live(&token_hash(token), clock.now()).await?)
}

/// What the setup form asks.
#[derive(Debug)]
pub struct SetupForm {
    pub token: Secret<String>,
    pub email: String,
    pub name: String,
    pub password: Secret<String>,
    pub organization: String,
}

/// Consumes the setup link and creates the first tenant.
pub async fn complete_setup(
    store: &impl crate::Metadata,
    clock: &dyn Clock,
    sealer: &Sealer,
    form: &SetupForm,
) -> Result<CreatedTenant, IamError> {
    let store = crate::directory::raw(store);
    let email = validate::email(&form.email)?;
    let organization = validate::name("organization", &form.organization)?;
    let name = if form.name.trim().is_empty() { "" } else { validate::name("name", &form.name)? };
    password::check_policy(&form.password)?;
    let password_hash = password::hash(&form.password)?;
    let token_hash = token_hash(form.token.expose());
    let projects = FirstProjects::generate(sealer)?;
    let tenant = NewTenant {
        owner: NewUser { email, name, password_hash: Some(&password_hash) },
        org_name: organization,
        projects: &projects.as_new(),
        claim: TenantClaim::SetupToken { token_hash: &token_hash },
        now: clock.now(),
    };
    Ok(store.create_tenant(&tenant).await?)
}

/// What `tally admin bootstrap` is given.
#[derive(Debug)]
pub struct BootstrapRequest {
    pub email: String,
    pub organization: String,
    /// Set for a new account; must be absent when the e-mail already has one.
    pub password: Option<Secret<String>>,
}

#[derive(Debug)]
pub struct Bootstrapped {
    pub tenant: CreatedTenant,
    /// The projects' API secrets in the order of `tenant.projects`, shown to the operator.
    pub api_secrets: Vec<Secret<String>>,
}

/// Creates an organization with its Owner and first projects, at the operator's word.
/// Works on an empty instance and on one that already has tenants.
pub async fn bootstrap(
    store: &impl crate::Metadata,
    clock: &dyn Clock,
    sealer: &Sealer,
    request: &BootstrapRequest,
) -> Result<Bootstrapped, IamError> {
    let store = crate::directory::raw(store);
    let email = validate::email(&request.email)?;
    let organization = validate::name("organization", &request.organization)?;
    let password_hash = match &request.password {
        Some(password) => {
            if store.user_by_email(email).await?.is_some() {
                return Err(IamError::AccountExists { email: email.to_string() });
            }
            password::check_policy(password)?;
            Some(password::hash(password)?)
        }
        None => None,
    };
    let projects = FirstProjects::generate(sealer)?;
    let tenant = NewTenant {
        owner: NewUser { email, name: "", password_hash: password_hash.as_deref() },
        org_name: organization,
        projects: &projects.as_new(),
        claim: TenantClaim::Operator,
        now: clock.now(),
    };
    let tenant = store.create_tenant(&tenant).await?;
    Ok(Bootstrapped { tenant, api_secrets: projects.secrets })
}

/// Production and Development, each with a fresh token and API secret.
struct FirstProjects {
    projects: Vec<FirstProject>,
    secrets: Vec<Secret<String>>,
}

struct FirstProject {
    name: &'static str,
    environment: &'static str,
    token: String,
    secret_hash: String,
    sealed: String,
}

const FIRST_PROJECTS: [(&str, &str); 2] = [("Production", "production"), ("Development", "development")];

impl FirstProjects {
    fn generate(sealer: &Sealer) -> Result<FirstProjects, IamError> {
        let mut first = FirstProjects { projects: Vec::new(), secrets: Vec::new() };
        for (name, environment) in FIRST_PROJECTS {
            // Mixpanel's tokens and secrets are 32 hexadecimal characters; SDKs accept any string.
            let secret = Secret::new(tally_types::token::random_hex(16));
            first.projects.push(FirstProject {
                name,
                environment,
                token: tally_types::token::random_hex(16),
                secret_hash: token_hash(secret.expose()),
                sealed: sealer.seal(&secret)?,
            });
            first.secrets.push(secret);
        }
        Ok(first)
    }

    fn as_new(&self) -> Vec<NewProject<'_>> {
        self.projects
            .iter()
            .map(|project| NewProject {
                name: project.name,
                region: DEFAULT_REGION,
                timezone: "UTC",
                environment: Some(project.environment),
                token: &project.token,
                api_secret_hash: &project.secret_hash,
                api_secret_sealed: &project.sealed,
            })
            .collect()
    }
}
