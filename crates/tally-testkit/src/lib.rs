//! Test helpers for Tally, used only by tests: scratch databases on both metadata backends,
//! the real `tally` binary started on a free port, and HTTP clients for it.
//!
//! Nothing here fakes our own storage or server: tests run the real thing against real
//! SQLite files and a real PostgreSQL server.

// A test helper that cannot do its job should stop the test loudly.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

pub mod api;
pub mod clock;
pub mod dns;
pub mod oidc;
pub mod postgres;
pub mod process;
pub mod s3;
pub mod saml;
pub mod sms;
pub mod smtp;
pub mod tls;
pub mod webhook;

pub use postgres::{ScratchPostgres, postgres_admin_url};
pub use process::{Started, TallyProcess};

/// A metadata backend to run a test against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

/// The backends this run covers: SQLite always, PostgreSQL when `TALLY_TEST_POSTGRES_URL`
/// names a server. Under CI (`CI=true`) a missing PostgreSQL is an error, not a skip.
pub fn backends() -> Vec<TestBackend> {
    let mut backends = vec![TestBackend::Sqlite];
    if postgres_admin_url().is_some() {
        backends.push(TestBackend::Postgres);
    }
    backends
}

/// A metadata database for one test: a SQLite file in a temporary folder or a fresh
/// PostgreSQL database. Dropped with the value.
pub struct ScratchMetadata {
    pub url: String,
    pub backend: TestBackend,
    _dir: Option<tempfile::TempDir>,
    _postgres: Option<ScratchPostgres>,
}

impl ScratchMetadata {
    pub async fn new(backend: TestBackend) -> ScratchMetadata {
        match backend {
            TestBackend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary folder");
                let url = format!("sqlite://{}", dir.path().join("metadata.db").display());
                ScratchMetadata { url, backend, _dir: Some(dir), _postgres: None }
            }
            TestBackend::Postgres => {
                let postgres = ScratchPostgres::create().await;
                ScratchMetadata { url: postgres.url.clone(), backend, _dir: None, _postgres: Some(postgres) }
            }
        }
    }
}

/// The variable naming the virtualenv's Python.
pub const PYTHON_ENV: &str = "TALLY_TEST_PYTHON";

/// The test Python, or `None` when it is not set up; under CI its absence is an error.
/// Python peers (SMTP server, validators, IdPs) run from here.
pub fn python() -> Option<String> {
    match std::env::var(PYTHON_ENV) {
        Ok(path) if !path.is_empty() => Some(path),
        _ => {
            assert!(
                std::env::var("CI").map(|ci| ci != "true").unwrap_or(true),
                "{PYTHON_ENV} must be set under CI (.ci/test prepares it)"
            );
            None
        }
    }
}

/// Debian's headless `chromium` for browser tests (`TALLY_TEST_CHROMIUM`, set by
/// `.ci/test`), or `None` when it is not installed; under CI its absence is an error.
pub fn chromium() -> Option<String> {
    match std::env::var("TALLY_TEST_CHROMIUM") {
        Ok(path) if !path.is_empty() => Some(path),
        _ => {
            assert!(
                std::env::var("CI").map(|ci| ci != "true").unwrap_or(true),
                "TALLY_TEST_CHROMIUM must be set under CI (.ci/test prepares it)"
            );
            None
        }
    }
}

/// A loopback TCP port that is free now, for a peer or a `tally` process to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Random hex for test names and secrets.
pub fn token_hex(n_bytes: usize) -> String {
    tally_types::token::random_hex(n_bytes)
}

/// Installs the `ring` TLS provider for rustls (once per process).
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An HTTP client that keeps cookies and trusts `extra_root` (a test CA) if given.
pub fn http_client(extra_root: Option<&[u8]>) -> reqwest::Client {
    install_tls_provider();
    let mut builder = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none());
    if let Some(pem) = extra_root {
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(pem).expect("test certificate"));
    }
    builder.build().expect("http client")
}
