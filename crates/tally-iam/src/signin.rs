//! Password sign-in. (Throttling, lockout and second factors build on this.)

use tally_store::{Store, User};
use tally_types::Secret;

use crate::{IamError, password};

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
pub async fn verify_password(store: &Store, email: &str, given: &Secret<String>) -> Result<Option<User>, IamError> {
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
