//! Bad configuration and bad requests: a clear message, the right status, nothing lost.

use reqwest::StatusCode;
use serde_json::Value;
use tally_testkit::TestBackend;
use tally_testkit::process::run_command;

use crate::support::{Instance, binary, client};

#[tokio::test]
async fn unknown_config_key_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tally.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\n[metadata]\nurl = \"sqlite://x.db\"\npool = 3\n").unwrap();
    let output = run_command(binary(), &["serve", "--config", config.to_str().unwrap()], &[], None).await;
    assert!(!output.status.success());
    assert!(output.stderr.contains("pool"), "{}", output.stderr);
    assert!(output.stderr.contains("tally.toml"), "{}", output.stderr);
}

#[tokio::test]
async fn unknown_environment_variable_is_refused() {
    let output = run_command(binary(), &["config", "print"], &[("TALLY_LISTN", "127.0.0.1:1")], None).await;
    assert!(!output.status.success());
    assert!(output.stderr.contains("unknown environment variable TALLY_LISTN"), "{}", output.stderr);
}

#[tokio::test]
async fn unreachable_database_stops_start_up_without_leaking_the_password() {
    let (_dir, data_dir) = tally_testkit::process::data_dir();
    let output = run_command(
        binary(),
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap()],
        &[("TALLY_METADATA_URL", "postgres://tally:hunter2@127.0.0.1:1/tally")],
        None,
    )
    .await;
    assert!(!output.status.success());
    assert!(
        output.stderr.contains("cannot open the metadata database postgres://tally:***@127.0.0.1:1/tally"),
        "{}",
        output.stderr
    );
    assert!(!output.stderr.contains("hunter2"), "{}", output.stderr);
}

#[tokio::test]
async fn malformed_and_oversized_bodies_get_the_json_error_envelope() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve_with(&[], &[("TALLY_HTTP_MAX_BODY_BYTES", "4096")]).await;
    let http = client();

    let malformed = http
        .post(server.url("/api/app/setup"))
        .header("content-type", "application/json")
        .body("{\"token\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let body: Value = malformed.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(body["code"], "invalid_json");
    assert!(body["request_id"].as_str().is_some_and(|id| !id.is_empty()));

    let oversized = http
        .post(server.url("/api/app/setup"))
        .header("content-type", "application/json")
        .body(format!("{{\"token\": \"{}\"}}", "x".repeat(10_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(oversized.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = oversized.json().await.unwrap();
    assert_eq!(body["code"], "body_too_large");

    let missing = http.get(server.url("/api/app/nothing-here")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let header_id = missing.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["request_id"].as_str(), Some(header_id.as_str()), "the body quotes the request id");

    // A method the path does not take: 405 with its Allow header, in the same envelope.
    let wrong_method = http.delete(server.url("/api/app/me")).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(wrong_method.headers()["allow"].to_str().unwrap().contains("GET"));
    let header_id = wrong_method.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: Value = wrong_method.json().await.unwrap();
    assert_eq!(body["status"], "error");
    assert_eq!(body["code"], "method_not_allowed");
    assert_eq!(body["request_id"].as_str(), Some(header_id.as_str()));
    assert!(body["error"].as_str().unwrap().contains("DELETE"), "{body}");

    // Nothing was lost to the bad requests: the setup link still works.
    let token = crate::support::token_of(server.started.setup_url.as_deref().unwrap());
    let response = http
        .post(server.url("/api/app/setup"))
        .json(&crate::support::setup_body(&token, "ada@example.com", "Acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}
