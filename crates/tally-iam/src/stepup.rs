//! Step-up checks: before a change that could let someone else in or lock the owner out
//! (a second factor, recovery codes, the password, an organization's security settings, a
//! single sign-on link), the person proves again who they are: their password, or a code
//! of their current second factor. Failures count exactly as failed sign-ins do (per
//! account and per address); once the account is locked, the acting session ends, so a
//! stolen session cannot be used to guess the password.

use tally_store::User;
use tally_types::Secret;

use crate::admin::Ctx;
use crate::throttle::{account_subject, is_locked, record_failure};
use crate::{IamError, twofactor};

/// What the person gives: a password, or a code from their current second factor (an
/// authenticator code, or an SMS code sent for the step-up).
#[derive(Debug, Default)]
pub struct StepUp {
    pub password: Option<Secret<String>>,
    pub code: Option<String>,
}

impl StepUp {
    pub fn password(password: Option<String>) -> StepUp {
        StepUp { password: password.map(Secret::new), code: None }
    }
}

/// SMS codes sent for a step-up are bound to this.
pub(crate) fn binding(user: &User) -> String {
    format!("stepup:{}", user.id)
}

/// Checks the proof, counting a failure like a failed sign-in. The operator at the
/// machine is not asked.
pub async fn confirm(ctx: Ctx<'_>, user: &User, proof: &StepUp) -> Result<(), IamError> {
    if ctx.actor.is_operator() {
        return Ok(());
    }
    let account = account_subject(&user.email);
    let ip = ctx.actor.ip.as_deref();
    if is_locked(ctx.store, ctx.clock, ctx.settings.throttle, &account, ip).await? {
        return Err(end_session(ctx).await);
    }
    let (field, accepted) = match (&proof.password, proof.code.as_deref()) {
        (Some(password), _) => {
            ("password", crate::signin::verify_password(ctx.store, &user.email, password).await?.is_some())
        }
        (None, Some(code)) => ("code", twofactor::check_code(ctx, user.id, &binding(user), code).await?),
        (None, None) => {
            let how = if user.has_password { "your password" } else { "a code from your second factor" };
            return Err(IamError::invalid("password", format!("enter {how} to confirm")));
        }
    };
    if accepted {
        return Ok(());
    }
    record_failure(ctx.store, ctx.clock, &account, ip).await?;
    if is_locked(ctx.store, ctx.clock, ctx.settings.throttle, &account, ip).await? {
        return Err(end_session(ctx).await);
    }
    Err(IamError::invalid(field, format!("the {field} is wrong")))
}

/// Ends the acting session after too many failures.
async fn end_session(ctx: Ctx<'_>) -> IamError {
    if let Some(hash) = &ctx.actor.session_hash
        && let Err(error) = ctx.store.delete_session(hash).await
    {
        return error.into();
    }
    IamError::StepUpLocked
}

/// Sends an SMS code for a step-up, to an account whose second factor is SMS.
pub async fn send_sms_code(ctx: Ctx<'_>, user: &User) -> Result<(), IamError> {
    let factor = ctx.store.second_factor(user.id).await?;
    if factor.method.as_deref() != Some("sms") {
        return Err(IamError::Conflict("your second factor is not SMS; use your authenticator app's code".into()));
    }
    twofactor::send_sms_code(ctx, user.id, &binding(user), factor.phone.as_deref()).await
}
