//! Password sign-in. (Throttling, lockout and second factors build on this.)

use tally_store::{Store, User};
use tally_types::Secret;

use crate::{IamError, password};

/// A PHC string for a password nobody has, so that an unknown e-mail costs the same
/// hashing time as a known one and timing does not reveal which accounts exist.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$3r8Cdm8XtvYV6ZkPPO7oXuT9f0tqF6e6mJ0vdfsL4sA";

/// The user whose e-mail and password these are, or `None`: the same answer for an
/// unknown e-mail, a wrong password and an account without a password.
pub async fn verify_password(store: &Store, email: &str, given: &Secret<String>) -> Result<Option<User>, IamError> {
    if given.expose().chars().count() > password::MAX_LEN {
        return Ok(None);
    }
    let Some(user) = store.user_by_email(email).await? else {
        let _ = password::verify(given, DECOY_HASH);
        return Ok(None);
    };
    let Some(stored) = store.password_hash(user.id).await? else {
        let _ = password::verify(given, DECOY_HASH);
        return Ok(None);
    };
    Ok(password::verify(given, &stored).then_some(user))
}
