//! Random tokens: session ids, setup links, project tokens, API secrets.

use rand::Rng;
use rand::distr::Alphanumeric;

/// A random alphanumeric string of `len` characters from the operating system's CSPRNG.
///
/// 43 characters carry 256 bits (62^43 > 2^256).
pub fn random_alphanumeric(len: usize) -> String {
    rand::rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

/// A random lowercase hexadecimal string of `n_bytes * 2` characters.
pub fn random_hex(n_bytes: usize) -> String {
    let mut bytes = vec![0u8; n_bytes];
    rand::rng().fill(bytes.as_mut_slice());
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_asked_length_and_differ() {
        let a = random_alphanumeric(43);
        let b = random_alphanumeric(43);
        assert_eq!(a.len(), 43);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        assert_eq!(random_hex(16).len(), 32);
    }
}
