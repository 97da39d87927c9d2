//! Second factors: an authenticator app (TOTP) or SMS codes, enrolled by confirming a first
//! code, with ten single-use recovery codes; an organization can require one of its members.

use jiff::SignedDuration;
use rand::Rng;
use serde_json::json;
use subtle::ConstantTimeEq;
use tally_store::{EnrolledMethod, User};
use tally_types::permissions::org;
use tally_types::{Principal, Secret, UserId};

use crate::admin::{Ctx, WithChange};
use crate::authz::OrgPermit;
use crate::sessions::ClientInfo;
use crate::signin::user_audits;
use crate::stepup::{self, StepUp};
use crate::{IamError, sms, token_hash, totp};

const N_RECOVERY_CODES: usize = 10;
/// An SMS code works for five minutes and five tries.
const SMS_CODE_LIFETIME: SignedDuration = SignedDuration::from_mins(5);
const SMS_MAX_ATTEMPTS: i64 = 5;
/// At most one SMS every 30 seconds, and five per sign-in or enrollment.
const SMS_RESEND_AFTER: SignedDuration = SignedDuration::from_secs(30);
const SMS_MAX_SENDS: i64 = 5;

/// SMS codes sent for an enrollment are bound to this instead of a sign-in challenge.
fn enrollment_binding(user_id: UserId) -> String {
    format!("enroll:{user_id}")
}

/// Recovery codes are compared without case, dashes or spaces.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// Ten codes of 16 characters from 32 symbols (80 bits each), shown as `abcd-efgh-ijkl-mnop`,
/// and their hashes. High-entropy codes need no slow hash: SHA-256 suffices.
fn new_recovery_codes() -> (Vec<Secret<String>>, Vec<String>) {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let mut shown = Vec::with_capacity(N_RECOVERY_CODES);
    let mut hashes = Vec::with_capacity(N_RECOVERY_CODES);
    for _ in 0..N_RECOVERY_CODES {
        let raw: String = (0..16).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect();
        let display = raw
            .as_bytes()
            .chunks(4)
            .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
            .collect::<Vec<_>>()
            .join("-");
        hashes.push(token_hash(&normalize_recovery_code(&display)));
        shown.push(Secret::new(display));
    }
    (shown, hashes)
}

/// Checks a code for a user: their authenticator (each step once) or the SMS code bound
/// to `binding` (five tries, five minutes, once).
pub(crate) async fn check_code(ctx: Ctx<'_>, user_id: UserId, binding: &str, code: &str) -> Result<bool, IamError> {
    let factor = ctx.store.second_factor(user_id).await?;
    match factor.method.as_deref() {
        Some("totp") => {
            let Some(sealed) = factor.totp_secret_sealed else { return Ok(false) };
            let secret = secret_bytes(ctx, &sealed)?;
            match totp::matching_step(&secret, code, ctx.now()) {
                Some(step) => Ok(ctx.store.advance_totp_step(user_id, step).await?),
                None => Ok(false),
            }
        }
        Some("sms") => check_sms_code(ctx, user_id, binding, code).await,
        _ => Ok(false),
    }
}

async fn check_sms_code(ctx: Ctx<'_>, user_id: UserId, binding: &str, code: &str) -> Result<bool, IamError> {
    let Some(stored) = ctx.store.sms_code(user_id, binding).await? else { return Ok(false) };
    if ctx.now() >= stored.expires_at || stored.attempts >= SMS_MAX_ATTEMPTS {
        return Ok(false);
    }
    let given = token_hash(code.trim());
    if !bool::from(given.as_bytes().ct_eq(stored.code_hash.as_bytes())) {
        ctx.store.bump_sms_attempts(user_id, binding).await?;
        return Ok(false);
    }
    Ok(ctx.store.take_sms_code(user_id, binding).await?)
}

/// Sends a fresh six-digit code to `phone`, bound to `binding`, within the resend limits.
/// The code is stored only once the provider has taken the message.
pub(crate) async fn send_sms_code(
    ctx: Ctx<'_>,
    user_id: UserId,
    binding: &str,
    phone: Option<&str>,
) -> Result<(), IamError> {
    let phone = phone.ok_or(IamError::SignInFailed)?;
    if let Some(previous) = ctx.store.sms_code(user_id, binding).await? {
        if previous.n_sent >= SMS_MAX_SENDS {
            return Err(IamError::RateLimited("too many codes sent; start again later".into()));
        }
        if ctx.now() < previous.sent_at.checked_add(SMS_RESEND_AFTER).unwrap_or(previous.sent_at) {
            return Err(IamError::RateLimited(
                "a code was just sent; wait 30 seconds before asking for another".into(),
            ));
        }
    }
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    let body = format!("Your Tally code is {code}. It expires in 5 minutes.");
    ctx.sms.send(phone, &body).await?;
    let now = ctx.now();
    let expires_at = now.checked_add(SMS_CODE_LIFETIME).unwrap_or(now);
    ctx.store.put_sms_code(user_id, binding, &token_hash(&code), phone, now, expires_at).await?;
    Ok(())
}

/// Refuses a send that comes too soon after the last one, or one too many.
async fn check_send_allowed(ctx: Ctx<'_>, user_id: UserId, binding: &str) -> Result<(), IamError> {
    if let Some(previous) = ctx.store.sms_code(user_id, binding).await? {
        if previous.n_sent >= SMS_MAX_SENDS {
            return Err(IamError::RateLimited("too many codes sent; start again later".into()));
        }
        if ctx.now() < previous.sent_at.checked_add(SMS_RESEND_AFTER).unwrap_or(previous.sent_at) {
            return Err(IamError::RateLimited(
                "a code was just sent; wait 30 seconds before asking for another".into(),
            ));
        }
    }
    Ok(())
}

fn secret_bytes(ctx: Ctx<'_>, sealed: &str) -> Result<Vec<u8>, IamError> {
    let base32 = ctx.sealer.open(sealed)?;
    totp_secret_from_base32(base32.expose())
}

fn totp_secret_from_base32(text: &str) -> Result<Vec<u8>, IamError> {
    totp_rs::Secret::try_from_base32(text)
        .map(|secret| secret.to_vec())
        .map_err(|_| IamError::Unseal("authenticator secret".into()))
}

/// A change of second factor from one's account settings: an account that has a password
/// or a factor proves itself first (ASVS 7.5.1). An account with neither (made by single
/// sign-on) has nothing to weaken and enrolls directly.
async fn check_change_allowed(ctx: Ctx<'_>, user: &User, proof: &StepUp) -> Result<(), IamError> {
    if user.has_password || ctx.store.second_factor(user.id).await?.method.is_some() {
        stepup::confirm(ctx, user, proof).await?;
    }
    Ok(())
}

/// Starts an authenticator enrollment from one's settings, after a step-up check.
pub async fn start_totp(ctx: Ctx<'_>, user: &User, proof: &StepUp) -> Result<totp::Provisioning, IamError> {
    check_change_allowed(ctx, user, proof).await?;
    begin_totp(ctx, user).await
}

/// Starts an SMS enrollment from one's settings, after a step-up check.
pub async fn start_sms(ctx: Ctx<'_>, user: &User, phone: &str, proof: &StepUp) -> Result<(), IamError> {
    check_change_allowed(ctx, user, proof).await?;
    begin_sms(ctx, user, phone).await
}

/// Starts an authenticator enrollment: a new secret, pending until a code confirms it.
pub(crate) async fn begin_totp(ctx: Ctx<'_>, user: &User) -> Result<totp::Provisioning, IamError> {
    let secret = totp::new_secret();
    let provisioning = totp::provisioning(&secret, &user.email)?;
    let sealed = ctx.sealer.seal(&Secret::new(provisioning.secret_base32.clone()))?;
    ctx.store.set_pending_second_factor(user.id, Some(&sealed), None).await?;
    Ok(provisioning)
}

/// Starts an SMS enrollment: the number gets a code. If the code cannot be sent, nothing
/// of the enrollment is kept.
pub(crate) async fn begin_sms(ctx: Ctx<'_>, user: &User, phone: &str) -> Result<(), IamError> {
    let phone = sms::check_e164(phone)?;
    check_send_allowed(ctx, user.id, &enrollment_binding(user.id)).await?;
    ctx.store.set_pending_second_factor(user.id, None, Some(phone)).await?;
    if let Err(error) = send_sms_code(ctx, user.id, &enrollment_binding(user.id), Some(phone)).await {
        ctx.store.set_pending_second_factor(user.id, None, None).await?;
        return Err(error);
    }
    Ok(())
}

/// Confirms the pending enrollment with its first code; returns the recovery codes.
pub async fn confirm(
    ctx: Ctx<'_>,
    user: &User,
    code: &str,
    client: &ClientInfo,
) -> Result<Vec<Secret<String>>, IamError> {
    let factor = ctx.store.second_factor(user.id).await?;
    let wrong = || IamError::invalid("code", "the code is wrong or expired");
    let method = if let Some(sealed) = &factor.pending_totp_sealed {
        let secret = secret_bytes(ctx, sealed)?;
        let step = totp::matching_step(&secret, code, ctx.now()).ok_or_else(wrong)?;
        EnrolledMethod::Totp { step }
    } else if let Some(pending_phone) = &factor.pending_phone {
        // The code must have gone to the number being enrolled.
        let binding = enrollment_binding(user.id);
        let sent_to = ctx.store.sms_code(user.id, &binding).await?.map(|sent| sent.phone);
        if sent_to.as_deref() != Some(pending_phone.as_str()) || !check_sms_code(ctx, user.id, &binding, code).await? {
            return Err(wrong());
        }
        EnrolledMethod::Sms
    } else {
        return Err(IamError::invalid("code", "start an enrollment first"));
    };
    let (shown, hashes) = new_recovery_codes();
    let name = match method {
        EnrolledMethod::Totp { .. } => "totp",
        EnrolledMethod::Sms => "sms",
    };
    let mut audits = user_audits(ctx, user, "user.twofactor_enabled").await?;
    for audit in &mut audits {
        audit.after = Some(json!({ "method": name }));
        audit.ip = client.ip.clone();
    }
    ctx.store.enable_second_factor(user.id, method, &hashes, &audits).await?;
    Ok(shown)
}

/// What the user sees of their second factor.
#[derive(Debug, Clone)]
pub struct Status {
    pub method: Option<String>,
    pub phone: Option<String>,
    pub recovery_codes_left: i64,
    pub required_by_organization: bool,
}

pub async fn status(ctx: Ctx<'_>, user: &User) -> Result<Status, IamError> {
    let factor = ctx.store.second_factor(user.id).await?;
    Ok(Status {
        method: factor.method,
        phone: factor.phone.as_deref().map(sms::mask),
        recovery_codes_left: ctx.store.recovery_codes_left(user.id).await?,
        required_by_organization: ctx.store.user_needs_second_factor(user.id).await?,
    })
}

/// Turns one's own second factor off (after a step-up check). Refused while an
/// organization requires one; switching method is enrolling the other one instead.
/// Sessions end.
pub async fn disable(ctx: Ctx<'_>, user: &User, proof: &StepUp) -> Result<(), IamError> {
    stepup::confirm(ctx, user, proof).await?;
    if ctx.store.user_needs_second_factor(user.id).await? {
        return Err(IamError::Conflict(
            "an organization you belong to requires two-factor authentication; enroll another method instead".into(),
        ));
    }
    let audits = user_audits(ctx, user, "user.twofactor_disabled").await?;
    ctx.store.disable_second_factor(user.id, &audits).await?;
    Ok(())
}

/// New recovery codes (after a step-up check); the old ones stop working.
pub async fn regenerate_recovery_codes(
    ctx: Ctx<'_>,
    user: &User,
    proof: &StepUp,
) -> Result<Vec<Secret<String>>, IamError> {
    stepup::confirm(ctx, user, proof).await?;
    if ctx.store.second_factor(user.id).await?.method.is_none() {
        return Err(IamError::Conflict("enroll a second factor first".into()));
    }
    let (shown, hashes) = new_recovery_codes();
    ctx.store.replace_recovery_codes(user.id, &hashes).await?;
    Ok(shown)
}

/// An organization's Owner or Admin turns "Require two-factor authentication" on or off,
/// re-entering their password.
pub async fn set_required(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, org::ManageSecurity>,
    required: bool,
    password: Option<&Secret<String>>,
) -> Result<(), IamError> {
    crate::domains::reenter_password(ctx, permit, password).await?;
    let event = if required {
        "organization_access_security.twofactor_enabled"
    } else {
        "organization_access_security.twofactor_disabled"
    };
    let before = ctx.store.requires_two_factor(permit.org_id()).await?;
    let audit = ctx
        .audit(permit.org_id(), None, event, "organization", permit.org_id())
        .with(Some(json!({ "require_two_factor": before })), Some(json!({ "require_two_factor": required })));
    ctx.store.set_require_two_factor(permit.org_id(), required, &audit).await?;
    Ok(())
}

/// An Owner or Admin resets a member's second factor: they enroll again at next sign-in,
/// and their sessions end now. A reset here must not weaken the account anywhere else, so
/// it applies only to an account that belongs to this organization alone; one that also
/// belongs to others recovers with its recovery codes (or each of its organizations' own
/// rules). Nobody resets their own factor here (account settings ask for a step-up).
pub async fn reset_member(
    ctx: Ctx<'_>,
    permit: &OrgPermit<'_, org::ManageSecurity>,
    user_id: UserId,
) -> Result<(), IamError> {
    let members = ctx.store.org_members(permit.org_id()).await?;
    let target = members.iter().find(|member| member.user.id == user_id).ok_or(IamError::NotFound("member"))?;
    if permit.principal() == Principal::User(user_id) {
        return Err(IamError::Forbidden(
            "you cannot reset your own second factor here; change it in your account settings".into(),
        ));
    }
    crate::admin::check_outranks_in_org(permit, Principal::User(user_id), &target.user.email, target.role)?;
    if ctx.store.memberships(user_id).await?.len() > 1 {
        return Err(IamError::Conflict(format!(
            "{} also belongs to other organizations, so a reset here would weaken the account there too; \
             they can sign in with a recovery code and enroll again",
            target.user.email
        )));
    }
    let audit = ctx
        .audit(permit.org_id(), None, "user.twofactor_disabled", "user", user_id)
        .with(None, Some(json!({ "reset_by_admin": true, "email": target.user.email })));
    ctx.store.disable_second_factor(user_id, &[audit]).await?;
    Ok(())
}

/// Whether the organization requires a second factor of its members.
pub async fn org_requires(ctx: Ctx<'_>, permit: &OrgPermit<'_, org::ViewOrganization>) -> Result<bool, IamError> {
    Ok(ctx.store.requires_two_factor(permit.org_id()).await?)
}
