//! Signing in: a password or an e-mailed link, then (when the account has one, or an
//! organization requires one) a second factor, and only then a session. Every failed step
//! gives the same answer, and is counted per account and per address for throttling.

use jiff::SignedDuration;
use serde_json::json;
use tally_store::{AuditEntry, User};
use tally_types::{OrgId, Secret, UserId};

use crate::admin::{Ctx, WithChange};
use crate::mail::Mail;
use crate::sessions::ClientInfo;
use crate::throttle::{account_subject, is_locked, record_failure};
use crate::{IamError, password, token_hash, totp, twofactor};

/// How long a sign-in may wait between its first step and its second factor.
const CHALLENGE_LIFETIME: SignedDuration = SignedDuration::from_mins(10);
/// How long a magic link and a password-reset link work.
const MAGIC_LINK_LIFETIME: SignedDuration = SignedDuration::from_mins(15);
const RESET_LINK_LIFETIME: SignedDuration = SignedDuration::from_hours(1);
/// Characters in challenge and e-mailed tokens (256 bits).
const TOKEN_LEN: usize = 43;

/// Where a sign-in stands after a step.
#[derive(Debug)]
pub enum SignInStep {
    /// Done: a session token for the cookie.
    SignedIn { user: User, session: Secret<String> },
    /// The account has a second factor: send the code (or a recovery code) with this challenge.
    SecondFactor { challenge: Secret<String>, method: String },
    /// An organization of the account requires a second factor it does not have yet:
    /// enroll one with this challenge.
    EnrollmentRequired { challenge: Secret<String> },
}

/// What proves the second factor.
#[derive(Debug)]
pub enum Proof<'a> {
    Code(&'a str),
    RecoveryCode(&'a str),
}

/// A PHC string for a password nobody has, so that an unknown e-mail costs the same
/// hashing time as a known one and timing does not reveal which accounts exist.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| {
        let random = Secret::new(tally_types::token::random_alphanumeric(32));
        password::hash(&random).unwrap_or_default()
    })
}

/// The user whose e-mail and password these are, or `None`: the same answer for an
/// unknown e-mail, a wrong password and an account without a password.
pub async fn verify_password(
    store: &impl crate::Metadata,
    email: &str,
    given: &Secret<String>,
) -> Result<Option<User>, IamError> {
    let store = crate::directory::raw(store);
    if given.expose().chars().count() > password::MAX_LEN {
        return Ok(None);
    }
    let Some(user) = store.user_by_email(email).await? else {
        let _ = password::verify(given, decoy_hash());
        return Ok(None);
    };
    let Some(stored) = store.password_hash(user.id).await? else {
        let _ = password::verify(given, decoy_hash());
        return Ok(None);
    };
    Ok(password::verify(given, &stored).then_some(user))
}

/// Writes an audit row in every organization the user belongs to.
pub async fn audit_in_orgs(
    ctx: Ctx<'_>,
    user: &User,
    event_type: &str,
    client: &ClientInfo,
    after: Option<serde_json::Value>,
) -> Result<(), IamError> {
    for membership in ctx.store.memberships(user.id).await? {
        let mut entry: AuditEntry =
            ctx.audit(membership.organization.id, None, event_type, "user", user.id).with(None, after.clone());
        entry.actor = tally_store::AuditActor { kind: "user", id: Some(user.id.0), label: user.email.clone() };
        entry.ip = client.ip.clone();
        ctx.store.record_audit(&entry).await?;
    }
    Ok(())
}

async fn failed(ctx: Ctx<'_>, email: &str, user: Option<&User>, client: &ClientInfo) -> IamError {
    let account = account_subject(email);
    if let Err(error) = record_failure(ctx.store, ctx.clock, &account, client.ip.as_deref()).await {
        return error;
    }
    if let Some(user) = user
        && let Err(error) = audit_in_orgs(ctx, user, "session.login_failed", client, None).await
    {
        return error;
    }
    IamError::SignInFailed
}

/// First step by password.
pub async fn with_password(
    ctx: Ctx<'_>,
    email: &str,
    given: &Secret<String>,
    client: &ClientInfo,
) -> Result<SignInStep, IamError> {
    let account = account_subject(email);
    if is_locked(ctx.store, ctx.clock, ctx.settings.throttle, &account, client.ip.as_deref()).await? {
        let user = ctx.store.user_by_email(email).await?;
        return Err(failed(ctx, email, user.as_ref(), client).await);
    }
    let Some(user) = verify_password(ctx.store, email, given).await? else {
        let user = ctx.store.user_by_email(email).await?;
        return Err(failed(ctx, email, user.as_ref(), client).await);
    };
    check_sso_not_required(ctx, &user).await?;
    after_first_step(ctx, user, client).await
}

/// First step by an e-mailed link (for accounts without a password).
pub async fn with_magic_link(ctx: Ctx<'_>, token: &str, client: &ClientInfo) -> Result<SignInStep, IamError> {
    let Some(user_id) = ctx.store.consume_email_token(&token_hash(token), "magic_link", ctx.now()).await? else {
        return Err(IamError::NotFound("sign-in link (it is invalid, expired or already used)"));
    };
    let user = ctx.store.user_by_id(user_id).await?.ok_or(IamError::NotFound("account"))?;
    check_sso_not_required(ctx, &user).await?;
    after_first_step(ctx, user, client).await
}

/// After a first step (password, link, or a freshly accepted invitation): a second factor,
/// an enrollment, or the session.
pub async fn after_first_step(ctx: Ctx<'_>, user: User, client: &ClientInfo) -> Result<SignInStep, IamError> {
    let factor = ctx.store.second_factor(user.id).await?;
    if let Some(method) = factor.method {
        let challenge = new_challenge(ctx, user.id, "second_factor").await?;
        if method == "sms" {
            twofactor::send_sms_code(ctx, user.id, &token_hash(challenge.expose()), factor.phone.as_deref()).await?;
        }
        return Ok(SignInStep::SecondFactor { challenge, method });
    }
    if ctx.store.user_needs_second_factor(user.id).await? {
        let challenge = new_challenge(ctx, user.id, "enroll").await?;
        return Ok(SignInStep::EnrollmentRequired { challenge });
    }
    signed_in(ctx, user, client).await
}

async fn new_challenge(ctx: Ctx<'_>, user_id: UserId, purpose: &str) -> Result<Secret<String>, IamError> {
    let token = tally_types::token::random_alphanumeric(TOKEN_LEN);
    let now = ctx.now();
    let expires_at = now.checked_add(CHALLENGE_LIFETIME).unwrap_or(now);
    ctx.store.insert_challenge(&token_hash(&token), user_id, purpose, now, expires_at).await?;
    Ok(Secret::new(token))
}

/// Starts the session: a new token every time (never one chosen by the client).
pub(crate) async fn signed_in(ctx: Ctx<'_>, user: User, client: &ClientInfo) -> Result<SignInStep, IamError> {
    signed_in_with(ctx, user, client, "password").await
}

/// Starts the session after a first step that needs no second factor here (single
/// sign-on), recording how the person signed in.
pub async fn signed_in_with(
    ctx: Ctx<'_>,
    user: User,
    client: &ClientInfo,
    method: &str,
) -> Result<SignInStep, IamError> {
    session_for(ctx, user, client, method, None).await
}

/// Starts the session of a single sign-on through `org_id`'s identity provider: it vouches
/// for that organization only, so the session opens no other.
pub async fn signed_in_by_sso(
    ctx: Ctx<'_>,
    user: User,
    client: &ClientInfo,
    method: &str,
    org_id: OrgId,
) -> Result<SignInStep, IamError> {
    session_for(ctx, user, client, method, Some(org_id)).await
}

async fn session_for(
    ctx: Ctx<'_>,
    user: User,
    client: &ClientInfo,
    method: &str,
    sso_org: Option<OrgId>,
) -> Result<SignInStep, IamError> {
    ctx.store.clear_auth_failures(&account_subject(&user.email)).await?;
    let session =
        crate::sessions::start_with(ctx.store, ctx.clock, ctx.settings.sessions, user.id, client, sso_org).await?;
    audit_in_orgs(ctx, &user, "session.logged_in", client, Some(json!({ "method": method }))).await?;
    Ok(SignInStep::SignedIn { user, session })
}

/// "Require SSO": an organization that verified the e-mail's domain and requires single
/// sign-on refuses password and link sign-ins, except for its Owners and Admins (the
/// break-glass path, as with Mixpanel).
async fn check_sso_not_required(ctx: Ctx<'_>, user: &User) -> Result<(), IamError> {
    let domain = tally_store::email_domain(&user.email);
    let Some(org_id) = ctx.store.verified_domain_owner(&domain).await? else { return Ok(()) };
    let Some(connection) = ctx.store.sso_connection(org_id).await? else { return Ok(()) };
    if !connection.require_sso {
        return Ok(());
    }
    let standing = ctx.store.org_standing(org_id, tally_types::Principal::User(user.id)).await?;
    if standing
        .is_some_and(|standing| matches!(standing.role, tally_types::OrgRole::Owner | tally_types::OrgRole::Admin))
    {
        return Ok(());
    }
    Err(IamError::SsoRequired)
}

/// The user and purpose of a live challenge, or the generic failure.
pub(crate) async fn challenge_user(ctx: Ctx<'_>, challenge: &str, purpose: &str) -> Result<User, IamError> {
    let found = ctx.store.challenge(&token_hash(challenge), ctx.now()).await?;
    let Some((user_id, _)) = found.filter(|(_, found_purpose)| found_purpose == purpose) else {
        return Err(IamError::SignInFailed);
    };
    ctx.store.user_by_id(user_id).await?.ok_or(IamError::SignInFailed)
}

/// Second step: an authenticator code, an SMS code, or a recovery code.
pub async fn second_factor(
    ctx: Ctx<'_>,
    challenge: &str,
    proof: Proof<'_>,
    client: &ClientInfo,
) -> Result<SignInStep, IamError> {
    let user = pass_second_factor(ctx, challenge, "second_factor", proof, client).await?;
    signed_in(ctx, user, client).await
}

/// Checks the second factor of a challenge made for `purpose` (throttled and counted like
/// every sign-in step) and uses the challenge up; returns its account.
async fn pass_second_factor(
    ctx: Ctx<'_>,
    challenge: &str,
    purpose: &str,
    proof: Proof<'_>,
    client: &ClientInfo,
) -> Result<User, IamError> {
    let user = challenge_user(ctx, challenge, purpose).await?;
    let account = account_subject(&user.email);
    if is_locked(ctx.store, ctx.clock, ctx.settings.throttle, &account, client.ip.as_deref()).await? {
        return Err(failed(ctx, &user.email, Some(&user), client).await);
    }
    let challenge_hash = token_hash(challenge);
    let accepted = match proof {
        Proof::RecoveryCode(code) => {
            let normalized = twofactor::normalize_recovery_code(code);
            ctx.store.use_recovery_code(user.id, &token_hash(&normalized), ctx.now()).await?
        }
        Proof::Code(code) => twofactor::check_code(ctx, user.id, &challenge_hash, code).await?,
    };
    if !accepted {
        return Err(failed(ctx, &user.email, Some(&user), client).await);
    }
    ctx.store.delete_challenge(&challenge_hash).await?;
    Ok(user)
}

/// Where proving an account stands (to link a single sign-on identity to it).
#[derive(Debug)]
pub enum Proven {
    /// The account proved itself.
    Done(User),
    /// The password was right; the second factor must follow with this challenge.
    SecondFactor { challenge: Secret<String>, method: String },
}

/// Proves that the person holds `user`'s password (first step), exactly as a sign-in
/// would: throttled, counted, locked the same way, and answering the same failure
/// whatever was wrong. It starts no session.
pub async fn prove_with_password(
    ctx: Ctx<'_>,
    user: &User,
    given: &Secret<String>,
    client: &ClientInfo,
) -> Result<Proven, IamError> {
    let account = account_subject(&user.email);
    if is_locked(ctx.store, ctx.clock, ctx.settings.throttle, &account, client.ip.as_deref()).await? {
        return Err(failed(ctx, &user.email, Some(user), client).await);
    }
    if verify_password(ctx.store, &user.email, given).await?.is_none_or(|found| found.id != user.id) {
        return Err(failed(ctx, &user.email, Some(user), client).await);
    }
    let factor = ctx.store.second_factor(user.id).await?;
    let Some(method) = factor.method else {
        ctx.store.clear_auth_failures(&account).await?;
        return Ok(Proven::Done(user.clone()));
    };
    let challenge = new_challenge(ctx, user.id, "prove").await?;
    if method == "sms" {
        twofactor::send_sms_code(ctx, user.id, &token_hash(challenge.expose()), factor.phone.as_deref()).await?;
    }
    Ok(Proven::SecondFactor { challenge, method })
}

/// The second step of proving an account: its second factor (or a recovery code).
pub async fn prove_second_factor(
    ctx: Ctx<'_>,
    challenge: &str,
    proof: Proof<'_>,
    client: &ClientInfo,
) -> Result<User, IamError> {
    let user = pass_second_factor(ctx, challenge, "prove", proof, client).await?;
    ctx.store.clear_auth_failures(&account_subject(&user.email)).await?;
    Ok(user)
}

/// Sends a new SMS code for a sign-in waiting on one.
pub async fn resend_sms(ctx: Ctx<'_>, challenge: &str) -> Result<(), IamError> {
    let user = challenge_user(ctx, challenge, "second_factor").await?;
    let factor = ctx.store.second_factor(user.id).await?;
    if factor.method.as_deref() != Some("sms") {
        return Err(IamError::SignInFailed);
    }
    twofactor::send_sms_code(ctx, user.id, &token_hash(challenge), factor.phone.as_deref()).await
}

/// Enrollment demanded at sign-in, step one: a new authenticator secret.
pub async fn enroll_totp(ctx: Ctx<'_>, challenge: &str) -> Result<totp::Provisioning, IamError> {
    let user = challenge_user(ctx, challenge, "enroll").await?;
    twofactor::begin_totp(ctx, &user).await
}

/// Enrollment demanded at sign-in, step one: a phone number, which gets a code.
pub async fn enroll_sms(ctx: Ctx<'_>, challenge: &str, phone: &str) -> Result<(), IamError> {
    let user = challenge_user(ctx, challenge, "enroll").await?;
    twofactor::begin_sms(ctx, &user, phone).await
}

/// Enrollment demanded at sign-in, step two: the first code confirms the factor, and the
/// sign-in completes. Returns the recovery codes, shown once.
pub async fn confirm_enrollment(
    ctx: Ctx<'_>,
    challenge: &str,
    code: &str,
    client: &ClientInfo,
) -> Result<(SignInStep, Vec<Secret<String>>), IamError> {
    let user = challenge_user(ctx, challenge, "enroll").await?;
    let account = account_subject(&user.email);
    if is_locked(ctx.store, ctx.clock, ctx.settings.throttle, &account, client.ip.as_deref()).await? {
        return Err(failed(ctx, &user.email, Some(&user), client).await);
    }
    let codes = match twofactor::confirm(ctx, &user, code, client).await {
        Ok(codes) => codes,
        Err(IamError::InvalidInput { field: "code", .. }) => {
            return Err(failed(ctx, &user.email, Some(&user), client).await);
        }
        Err(error) => return Err(error),
    };
    ctx.store.delete_challenge(&token_hash(challenge)).await?;
    Ok((signed_in(ctx, user, client).await?, codes))
}

/// Sends a sign-in link to an account without a password. Says nothing about whether the
/// account exists.
pub async fn request_magic_link(ctx: Ctx<'_>, email: &str) -> Result<(), IamError> {
    let Some(user) = ctx.store.user_by_email(email).await? else { return Ok(()) };
    if user.has_password {
        // Once an account has a password, links no longer sign it in.
        return Ok(());
    }
    let link = email_link(ctx, user.id, "magic_link", MAGIC_LINK_LIFETIME, "/magic-link").await?;
    let body = format!(
        "Sign in to Tally: {link}\n\nThe link works once, for 15 minutes. If you did not ask for it, ignore this e-mail.\n"
    );
    ctx.mailer.send(Mail { to: user.email.clone(), subject: "Your Tally sign-in link".into(), body }).await?;
    Ok(())
}

/// Sends a password-reset link. Says nothing about whether the account exists.
pub async fn request_password_reset(ctx: Ctx<'_>, email: &str) -> Result<(), IamError> {
    let Some(user) = ctx.store.user_by_email(email).await? else { return Ok(()) };
    let link = email_link(ctx, user.id, "password_reset", RESET_LINK_LIFETIME, "/password-reset").await?;
    let body = format!(
        "Reset your Tally password: {link}\n\nThe link works once, for an hour. If you did not ask for it, ignore this e-mail.\n"
    );
    ctx.mailer.send(Mail { to: user.email.clone(), subject: "Reset your Tally password".into(), body }).await?;
    Ok(())
}

async fn email_link(
    ctx: Ctx<'_>,
    user_id: UserId,
    purpose: &str,
    lifetime: SignedDuration,
    path: &str,
) -> Result<String, IamError> {
    let token = tally_types::token::random_alphanumeric(TOKEN_LEN);
    let now = ctx.now();
    let expires_at = now.checked_add(lifetime).unwrap_or(now);
    ctx.store.insert_email_token(&token_hash(&token), user_id, purpose, now, expires_at).await?;
    Ok(format!("{}{path}?token={token}", ctx.settings.base_url.trim_end_matches('/')))
}

/// Whether an e-mailed link still works (to show its page without using it).
pub async fn email_link_is_live(ctx: Ctx<'_>, token: &str, purpose: &str) -> Result<bool, IamError> {
    Ok(ctx.store.email_token_is_live(&token_hash(token), purpose, ctx.now()).await?)
}

/// Sets a new password from a reset link; every session of the account ends.
pub async fn reset_password(ctx: Ctx<'_>, token: &str, new_password: &Secret<String>) -> Result<(), IamError> {
    password::check_policy(new_password)?;
    let hash = password::hash(new_password)?;
    let Some(user_id) = ctx.store.consume_email_token(&token_hash(token), "password_reset", ctx.now()).await? else {
        return Err(IamError::NotFound("password-reset link (it is invalid, expired or already used)"));
    };
    let user = ctx.store.user_by_id(user_id).await?.ok_or(IamError::NotFound("account"))?;
    let audits = user_audits(ctx, &user, "user.password_reset").await?;
    ctx.store.set_password(user_id, &hash, &audits).await?;
    Ok(())
}

/// Changes the password (the current one is required if there is one); every session
/// ends, and a new one starts for the caller.
pub async fn change_password(
    ctx: Ctx<'_>,
    user: &User,
    current: Option<&Secret<String>>,
    new_password: &Secret<String>,
    client: &ClientInfo,
) -> Result<Secret<String>, IamError> {
    if user.has_password {
        let current = current.ok_or_else(|| IamError::invalid("current_password", "enter your current password"))?;
        let proof = crate::stepup::StepUp { password: Some(current.clone()), code: None };
        crate::stepup::confirm(ctx, user, &proof).await.map_err(|error| match error {
            IamError::InvalidInput { field: "password", .. } => {
                IamError::invalid("current_password", "the current password is wrong")
            }
            other => other,
        })?;
    }
    password::check_policy(new_password)?;
    let hash = password::hash(new_password)?;
    let audits = user_audits(ctx, user, "user.password_changed").await?;
    ctx.store.set_password(user.id, &hash, &audits).await?;
    crate::sessions::start(ctx.store, ctx.clock, ctx.settings.sessions, user.id, client).await
}

/// One audit row per organization of the user, for a change to the account itself.
pub(crate) async fn user_audits(ctx: Ctx<'_>, user: &User, event_type: &str) -> Result<Vec<AuditEntry>, IamError> {
    let memberships = ctx.store.memberships(user.id).await?;
    Ok(memberships
        .iter()
        .map(|membership| {
            ctx.audit(membership.organization.id, None, event_type, "user", user.id)
                .with(None, Some(json!({ "email": user.email })))
        })
        .collect())
}

/// The organization ids in which an audit row about `user` is written.
pub async fn organizations_of(store: &impl crate::Metadata, user_id: UserId) -> Result<Vec<OrgId>, IamError> {
    let store = crate::directory::raw(store);
    Ok(store.memberships(user_id).await?.into_iter().map(|membership| membership.organization.id).collect())
}
