//! An OpenID provider for tests: npm `oidc-provider` (tests/peers/oidc), installed by
//! `.ci/test` (`TALLY_TEST_NODE_PEERS`).

use std::path::PathBuf;

use tokio::process::{Child, Command};

/// The folder of the Node peers, or `None` when they are not installed; under CI their
/// absence is an error.
pub fn node_peers() -> Option<PathBuf> {
    match std::env::var("TALLY_TEST_NODE_PEERS") {
        Ok(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            assert!(
                std::env::var("CI").map(|ci| ci != "true").unwrap_or(true),
                "TALLY_TEST_NODE_PEERS must be set under CI (.ci/test prepares it)"
            );
            None
        }
    }
}

pub struct OpenIdProvider {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    _child: Child,
}

impl OpenIdProvider {
    /// Makes the next token response carry a defective ID token (`bad_signature`,
    /// `wrong_key`, `wrong_aud`, `expired`, `wrong_iss`, `wrong_nonce`, `alg_none`), or one
    /// re-signed unchanged (`resigned`, a control); see `tests/peers/oidc/op.mjs`.
    pub async fn tamper(&self, mode: &str) {
        let response = crate::http_client(None)
            .post(format!("{}/control/tamper", self.issuer))
            .json(&serde_json::json!({ "mode": mode }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::NO_CONTENT, "tamper {mode}");
    }

    pub async fn start(peers: &std::path::Path, redirect_uri: &str) -> OpenIdProvider {
        let port = crate::free_port();
        let client_id = format!("tally-{}", crate::token_hex(4));
        let client_secret = crate::token_hex(16);
        let mut command = Command::new("node");
        command
            .arg(peers.join("oidc/op.mjs"))
            .arg(port.to_string())
            .arg(&client_id)
            .arg(&client_secret)
            .arg(redirect_uri);
        let child = crate::process::start_peer(command, "OpenID provider").await;
        OpenIdProvider { issuer: format!("http://127.0.0.1:{port}"), client_id, client_secret, _child: child }
    }
}
