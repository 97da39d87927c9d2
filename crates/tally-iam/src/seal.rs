//! Secrets that must be shown again later (project API secrets, IdP client secrets) are
//! stored sealed with XChaCha20-Poly1305 under one instance key.
//!
//! The key lives in a file (`secrets.key_file`, 0600) created at first start; nodes that
//! share a metadata database must share this file.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use tally_types::Secret;

use crate::IamError;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const PREFIX: &str = "v1:";

/// Seals and opens secrets with the instance key.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(***)")
    }
}

impl Sealer {
    pub fn from_key(key: &[u8; KEY_LEN]) -> Sealer {
        Sealer { cipher: XChaCha20Poly1305::new(key.into()) }
    }

    /// Reads the key file, or creates it with a fresh random key (mode 0600) if absent.
    /// Two processes starting at once agree on one key: only one `create_new` wins.
    pub fn load_or_create(path: &Path) -> Result<Sealer, IamError> {
        let key_error = |message: String| IamError::Key { path: path.display().to_string(), message };
        if !path.exists() {
            if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|error| key_error(error.to_string()))?;
            }
            let key = XChaCha20Poly1305::generate_key(&mut OsRng);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(mut file) => {
                    let text = format!("{}\n", STANDARD.encode(key));
                    file.write_all(text.as_bytes())
                        .and_then(|()| file.sync_all())
                        .map_err(|error| key_error(error.to_string()))?;
                }
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(key_error(error.to_string())),
            }
        }
        let text = std::fs::read_to_string(path).map_err(|error| key_error(error.to_string()))?;
        let bytes =
            STANDARD.decode(text.trim()).map_err(|_| key_error("the file does not hold a base64 key".into()))?;
        let key: [u8; KEY_LEN] = bytes.try_into().map_err(|_| key_error(format!("the key must be {KEY_LEN} bytes")))?;
        Ok(Sealer::from_key(&key))
    }

    pub fn seal(&self, secret: &Secret<String>) -> Result<String, IamError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, secret.expose().as_bytes())
            .map_err(|_| IamError::Unseal("encryption failed".into()))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        Ok(format!("{PREFIX}{}", STANDARD.encode(sealed)))
    }

    pub fn open(&self, sealed: &str) -> Result<Secret<String>, IamError> {
        let body = sealed.strip_prefix(PREFIX).ok_or_else(|| IamError::Unseal("unknown format".into()))?;
        let bytes = STANDARD.decode(body).map_err(|_| IamError::Unseal("not base64".into()))?;
        if bytes.len() < NONCE_LEN {
            return Err(IamError::Unseal("too short".into()));
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| IamError::Unseal("wrong key or tampered value".into()))?;
        String::from_utf8(plain).map(Secret::new).map_err(|_| IamError::Unseal("not text".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/secret.key");
        let sealer = Sealer::load_or_create(&path).unwrap();
        let secret = Secret::new("0123456789abcdef".to_string());
        let sealed = sealer.seal(&secret).unwrap();
        assert!(!sealed.contains("0123456789abcdef"));
        assert_eq!(sealer.open(&sealed).unwrap(), secret);

        // The same file gives the same key.
        let again = Sealer::load_or_create(&path).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), secret);

        // Another key, or a flipped byte, does not open it.
        let other = Sealer::from_key(&[7u8; 32]);
        assert!(other.open(&sealed).is_err());
        let mut bytes = STANDARD.decode(&sealed[3..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(sealer.open(&format!("v1:{}", STANDARD.encode(bytes))).is_err());

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
