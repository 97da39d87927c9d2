//! Passwords: argon2id at the crate's default (OWASP-recommended) cost, 8 to 128
//! characters, and none of the most common passwords.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tally_types::Secret;

use crate::IamError;

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 128;

/// Passwords attackers try first, one a line, compared without regard to case.
const COMMON: &str = include_str!("common_passwords.txt");

fn is_common(password: &str) -> bool {
    let lowered = password.to_lowercase();
    COMMON.lines().any(|common| common.to_lowercase() == lowered)
}

/// Checks the rules; the message says what to change.
pub fn check_policy(password: &Secret<String>) -> Result<(), IamError> {
    let n_chars = password.expose().chars().count();
    if n_chars < MIN_LEN {
        return Err(IamError::invalid("password", format!("must be at least {MIN_LEN} characters")));
    }
    if n_chars > MAX_LEN {
        return Err(IamError::invalid("password", format!("must be at most {MAX_LEN} characters")));
    }
    if is_common(password.expose()) {
        return Err(IamError::invalid("password", "is one of the most common passwords; choose another"));
    }
    Ok(())
}

/// An argon2id PHC string for the password.
pub fn hash(password: &Secret<String>) -> Result<String, IamError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| IamError::Hashing(error.to_string()))
}

/// Whether the password matches the stored PHC string. A malformed stored hash never
/// matches.
pub fn verify(password: &Secret<String>, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default().verify_password(password.expose().as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let password = Secret::new("correct horse battery".to_string());
        let stored = hash(&password).unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify(&password, &stored));
        assert!(!verify(&Secret::new("wrong horse battery".into()), &stored));
        assert!(!verify(&password, "not a hash"));
    }

    #[test]
    fn policy_bounds_and_common_passwords() {
        assert!(check_policy(&Secret::new("short".into())).is_err());
        assert!(check_policy(&Secret::new("x".repeat(129))).is_err());
        assert!(check_policy(&Secret::new("long enough".into())).is_ok());
        for common in ["password", "PassWord123", "qwertyuiop", "12345678"] {
            let error = check_policy(&Secret::new(common.into())).unwrap_err();
            assert!(error.to_string().contains("most common"), "{common}: {error}");
        }
    }
}
