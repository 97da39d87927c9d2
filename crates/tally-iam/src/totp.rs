//! Authenticator-app codes (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of skew).
//! The secret is sealed at rest; each step is accepted once (the store keeps the last).

use jiff::Timestamp;
use totp_rs::{Algorithm, Builder, Totp};

use crate::IamError;

/// 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;

/// A new random secret.
pub fn new_secret() -> Vec<u8> {
    let mut bytes = vec![0u8; SECRET_BYTES];
    rand::Rng::fill(&mut rand::rng(), bytes.as_mut_slice());
    bytes
}

fn totp(secret: &[u8], account: &str) -> Result<Totp, IamError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret.to_vec())
        .with_issuer(Some("Tally"))
        .with_account_name(account)
        .build()
        .map_err(|error| IamError::Hashing(format!("authenticator secret: {error}")))
}

/// What an authenticator app needs: the `otpauth://` URI, the same as a QR code (PNG,
/// base64), and the secret in base32 for typing in.
#[derive(Debug, Clone)]
pub struct Provisioning {
    pub uri: String,
    pub qr_png_base64: String,
    pub secret_base32: String,
}

pub fn provisioning(secret: &[u8], account: &str) -> Result<Provisioning, IamError> {
    let totp = totp(secret, account)?;
    Ok(Provisioning {
        uri: totp.to_url().map_err(|error| IamError::Hashing(error.to_string()))?,
        qr_png_base64: totp.to_qr_base64().map_err(|error| IamError::Hashing(error.to_string()))?,
        secret_base32: totp.secret().to_base32(),
    })
}

/// The step the code belongs to, if it is valid at `now` (the current step or one either
/// side). Anything but six digits is simply not valid.
pub fn matching_step(secret: &[u8], code: &str, now: Timestamp) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret, "check").ok()?;
    let seconds = u64::try_from(now.as_second()).ok()?;
    totp.check(code, seconds).and_then(|step| i64::try_from(step).ok())
}

/// The code for `now` (tests and the enrollment page's example).
pub fn code_at(secret: &[u8], now: Timestamp) -> Option<String> {
    let seconds = u64::try_from(now.as_second()).ok()?;
    Some(totp(secret, "code").ok()?.generate(seconds).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1, reduced to the 6 digits we use.
    #[test]
    fn rfc_6238_vectors() {
        let secret = b"12345678901234567890";
        for (seconds, eight_digits) in
            [(59, "94287082"), (1_111_111_109, "07081804"), (1_234_567_890, "89005924"), (2_000_000_000, "69279037")]
        {
            let at = Timestamp::from_second(seconds).unwrap();
            assert_eq!(code_at(secret, at).unwrap(), eight_digits[2..], "t={seconds}");
            assert_eq!(matching_step(secret, &eight_digits[2..], at), Some(seconds / 30));
        }
    }

    #[test]
    fn one_step_of_skew_either_way_and_no_more() {
        let secret = new_secret();
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let step = 1_800_000_000 / 30;
        for (offset, expected) in
            [(-60, None), (-30, Some(step - 1)), (0, Some(step)), (30, Some(step + 1)), (60, None)]
        {
            let code = code_at(&secret, now + jiff::SignedDuration::from_secs(offset)).unwrap();
            assert_eq!(matching_step(&secret, &code, now), expected, "offset {offset}");
        }
        assert_eq!(matching_step(&secret, "12345", now), None);
        assert_eq!(matching_step(&secret, "abcdef", now), None);
    }

    #[test]
    fn provisioning_uri_names_issuer_and_account() {
        let info = provisioning(&new_secret(), "ada@example.com").unwrap();
        assert!(info.uri.starts_with("otpauth://totp/Tally:ada%40example.com?"), "{}", info.uri);
        assert!(info.uri.contains("issuer=Tally"));
        assert!(!info.qr_png_base64.is_empty());
        assert_eq!(info.secret_base32.len(), 32);
    }
}
