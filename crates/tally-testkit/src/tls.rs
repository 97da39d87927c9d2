//! Self-signed certificates for HTTPS tests.

/// A certificate for `localhost` and `127.0.0.1`, with its key, both PEM.
pub struct TestCertificate {
    pub cert_pem: String,
    pub key_pem: String,
}

pub fn self_signed() -> TestCertificate {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let certified = rcgen::generate_simple_self_signed(names).expect("generate a certificate");
    TestCertificate { cert_pem: certified.cert.pem(), key_pem: certified.signing_key.serialize_pem() }
}
