//! Health, readiness and metrics.

use reqwest::StatusCode;
use serde_json::Value;
use tally_testkit::TestBackend;

use crate::support::{Instance, client};

#[tokio::test]
async fn readyz_reports_each_store_and_fails_when_one_is_gone() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let http = client();
    assert_eq!(http.get(server.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
    let ready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["metadata"], "ok");
    assert_eq!(body["checks"]["event_storage"], "ok");

    std::fs::remove_dir_all(instance.data_dir.join("events")).unwrap();
    let not_ready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(not_ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = not_ready.json().await.unwrap();
    assert_eq!(body["checks"]["event_storage"], "missing");
    assert_eq!(body["checks"]["metadata"], "ok");
    // Liveness is a different question: the process is still up.
    assert_eq!(http.get(server.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_with_latency_histograms() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let http = client();
    for _ in 0..3 {
        http.get(server.url("/healthz")).send().await.unwrap();
    }
    http.get(server.url("/no/such/page")).send().await.unwrap();
    let response = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = response.text().await.unwrap();
    assert!(text.contains(r#"tally_http_requests_total{method="GET",route="/healthz",status="200"} 3"#), "{text}");
    assert!(text.contains(r#"tally_http_requests_total{method="GET",route="unmatched",status="404"} 1"#), "{text}");
    assert!(
        text.contains(r#"tally_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"} 3"#),
        "{text}"
    );
    assert!(text.contains(r#"tally_http_request_duration_seconds_bucket{le="#), "{text}");
    // Raw paths never become labels.
    assert!(!text.contains("/no/such/page"), "{text}");
}

#[tokio::test]
async fn responses_carry_security_headers_and_a_request_id() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let response = client().get(server.url("/")).send().await.unwrap();
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert!(headers.get("strict-transport-security").is_none(), "no HSTS over plain HTTP");
    assert_eq!(headers["x-request-id"].to_str().unwrap().len(), 36);
}

#[tokio::test]
async fn readyz_fails_when_postgres_goes_away() {
    let Some(admin_url) = tally_testkit::postgres_admin_url() else { return };
    let instance = Instance::new(TestBackend::Postgres).await;
    let server = instance.serve().await;
    let http = client();
    assert_eq!(http.get(server.url("/readyz")).send().await.unwrap().status(), StatusCode::OK);

    // Take the database away under the running server.
    let database = instance.metadata.url.rsplit('/').next().unwrap().split('?').next().unwrap().to_string();
    let status = std::process::Command::new("psql")
        .arg(&admin_url)
        .arg("-qc")
        .arg(format!("DROP DATABASE {database} WITH (FORCE)"))
        .status()
        .unwrap();
    assert!(status.success());

    let not_ready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(not_ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = not_ready.json().await.unwrap();
    assert_ne!(body["checks"]["metadata"], "ok", "{body}");
    assert_eq!(http.get(server.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
}
