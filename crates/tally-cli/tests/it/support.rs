//! Shared helpers for the binary's tests.

use std::path::{Path, PathBuf};

use tally_testkit::process::{CommandOutput, run_command};
use tally_testkit::{ScratchMetadata, TallyProcess, TestBackend};

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tally"))
}

/// A data folder plus a metadata database on one backend.
pub struct Instance {
    pub _dir: tempfile::TempDir,
    pub data_dir: PathBuf,
    pub metadata: ScratchMetadata,
}

impl Instance {
    pub async fn new(backend: TestBackend) -> Instance {
        let (dir, data_dir) = tally_testkit::process::data_dir();
        let metadata = ScratchMetadata::new(backend).await;
        Instance { _dir: dir, data_dir, metadata }
    }

    /// The environment that points Tally at this instance's metadata database (SQLite
    /// needs none: it defaults to a file in the data dir).
    pub fn env(&self) -> Vec<(&str, &str)> {
        match self.metadata.backend {
            TestBackend::Sqlite => vec![],
            TestBackend::Postgres => vec![("TALLY_METADATA_URL", self.metadata.url.as_str())],
        }
    }

    pub async fn serve(&self) -> TallyProcess {
        self.serve_with(&[], &[]).await
    }

    pub async fn serve_with(&self, args: &[&str], extra_env: &[(&str, &str)]) -> TallyProcess {
        let mut env = self.env();
        env.extend_from_slice(extra_env);
        TallyProcess::serve(binary(), &self.data_dir, args, &env).await
    }

    pub async fn command(&self, args: &[&str], stdin: Option<&str>) -> CommandOutput {
        let data_dir = self.data_dir.to_str().unwrap();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--data-dir", data_dir]);
        run_command(binary(), &all, &self.env(), stdin).await
    }
}

/// The TOTP code for `secret` (base32) at `seconds`, from Debian's oathtool.
pub fn oathtool(secret: &str, seconds: i64) -> String {
    let at = format!("@{seconds}");
    let output = std::process::Command::new("oathtool")
        .args(["--totp", "-b", "--now", &at, secret])
        .output()
        .expect("oathtool installed");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

pub fn client() -> reqwest::Client {
    tally_testkit::http_client(None)
}

pub fn setup_body(token: &str, email: &str, org: &str) -> serde_json::Value {
    serde_json::json!({
        "token": token,
        "email": email,
        "name": "Ada Lovelace",
        "password": "correct horse battery staple",
        "organization": org,
    })
}

/// The token in a printed setup link.
pub fn token_of(setup_url: &str) -> String {
    setup_url.split("token=").nth(1).unwrap().to_string()
}
