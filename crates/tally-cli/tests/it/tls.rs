//! HTTPS with a certificate from the config.

use reqwest::StatusCode;
use serde_json::Value;
use tally_testkit::TestBackend;

use crate::support::{Instance, setup_body, token_of};

#[tokio::test]
async fn https_serves_with_the_configured_certificate_and_secure_cookies() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let certificate = tally_testkit::tls::self_signed();
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, &certificate.cert_pem).unwrap();
    std::fs::write(&key, &certificate.key_pem).unwrap();
    let config = dir.path().join("tally.toml");
    std::fs::write(
        &config,
        format!("[tls]\ncert = {:?}\nkey = {:?}\n", cert.display().to_string(), key.display().to_string()),
    )
    .unwrap();

    let server = instance.serve_with(&["--config", config.to_str().unwrap()], &[]).await;
    assert!(server.base_url().starts_with("https://127.0.0.1:"), "{}", server.base_url());
    let setup_url = server.started.setup_url.clone().unwrap();
    assert!(setup_url.starts_with("https://"), "{setup_url}");

    // A client that trusts the test certificate gets through; one that does not, does not.
    let trusting = tally_testkit::http_client(Some(certificate.cert_pem.as_bytes()));
    let response = trusting.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["strict-transport-security"], "max-age=31536000");
    assert!(tally_testkit::http_client(None).get(server.url("/healthz")).send().await.is_err());

    // Plain HTTP to the HTTPS port is not served.
    let plain = server.url("/healthz").replace("https://", "http://");
    let answer = tally_testkit::http_client(None).get(plain).send().await;
    assert!(answer.map(|r| !r.status().is_success()).unwrap_or(true));

    let response = trusting
        .post(server.url("/api/app/setup"))
        .json(&setup_body(&token_of(&setup_url), "ada@example.com", "Acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
    // On HTTPS the session cookie carries the __Host- prefix (Secure, Path=/, no Domain).
    assert!(cookie.starts_with("__Host-tally_session="), "{cookie}");
    assert!(cookie.contains("; Path=/;") && !cookie.to_lowercase().contains("domain="), "{cookie}");
    let me: Value = trusting.get(server.url("/api/app/me")).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["results"]["user"]["email"], "ada@example.com");
}

#[tokio::test]
async fn a_bad_certificate_path_stops_start_up() {
    let (_dir, data_dir) = tally_testkit::process::data_dir();
    let output = tally_testkit::process::run_command(
        crate::support::binary(),
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap()],
        &[("TALLY_TLS_CERT", "/nonexistent/cert.pem"), ("TALLY_TLS_KEY", "/nonexistent/key.pem")],
        None,
    )
    .await;
    assert!(!output.status.success());
    assert!(output.stderr.contains("cannot load TLS certificate /nonexistent/cert.pem"), "{}", output.stderr);
}

#[tokio::test]
async fn cookies_are_secure_behind_an_https_proxy() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve_with(&[], &[("TALLY_PUBLIC_URL", "https://tally.example.com")]).await;
    let setup_url = server.started.setup_url.clone().unwrap();
    assert!(setup_url.starts_with("https://tally.example.com/setup?token="), "links use the public URL: {setup_url}");
    let response = tally_testkit::http_client(None)
        .post(server.url("/api/app/setup"))
        .json(&setup_body(&token_of(&setup_url), "ada@example.com", "Acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.starts_with("__Host-tally_session="), "{cookie}");
    // The prefixed cookie is the one read back (as a browser would send it).
    let token = cookie.split(';').next().unwrap().to_string();
    let me =
        tally_testkit::http_client(None).get(server.url("/api/app/me")).header("cookie", &token).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let unprefixed = token.replace("__Host-tally_session=", "tally_session=");
    let ignored = tally_testkit::http_client(None)
        .get(server.url("/api/app/me"))
        .header("cookie", unprefixed)
        .send()
        .await
        .unwrap();
    assert_eq!(ignored.status(), StatusCode::UNAUTHORIZED, "a cookie without the prefix is not the session");
}
