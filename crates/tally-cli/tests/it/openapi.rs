//! `/api/openapi.json` is generated from the router's own table: it lists every route
//! with its requirement, and an independent validator accepts it.

use std::collections::BTreeSet;

use serde_json::Value;
use tally_testkit::TestBackend;
use tally_testkit::api::Api;

use crate::support::Instance;

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_validates() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let document = Api::anonymous(server.base_url()).get("/api/openapi.json").await;
    let body = &document.body;
    assert_eq!(body["openapi"], "3.1.0");
    let paths = body["paths"].as_object().unwrap();

    let mut operations = BTreeSet::new();
    for (path, methods) in paths {
        let declared: BTreeSet<String> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_string)
            .collect();
        for (method, operation) in methods.as_object().unwrap() {
            assert!(operation["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path}");
            let requirement = operation["x-tally-requirement"].as_str().unwrap();
            assert!(
                ["public", "authenticated", "project_org_member", "project_key", "scim_token"].contains(&requirement)
                    || requirement.starts_with("org:")
                    || requirement.starts_with("project:"),
                "{method} {path}: {requirement}"
            );
            let parameters: BTreeSet<String> = operation["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(parameters, declared, "{method} {path}");
            operations.insert((method.to_uppercase(), path.clone()));
        }
    }
    // Spot checks of routes that must be there.
    for (method, path) in [
        ("GET", "/api/app/me"),
        ("POST", "/api/app/organizations/{org_id}/service-accounts"),
        ("GET", "/api/app/projects/{project_id}/members"),
        ("GET", "/healthz"),
    ] {
        assert!(operations.contains(&(method.to_string(), path.to_string())), "{method} {path} missing");
    }

    // Every listed operation is served: none falls through to the router's fallback,
    // which the metrics label "unmatched".
    let http = tally_testkit::http_client(None);
    for (method, path) in &operations {
        let concrete = path.split('/').map(|s| if s.starts_with('{') { "1" } else { s }).collect::<Vec<_>>().join("/");
        let method: reqwest::Method = method.parse().unwrap();
        http.request(method, format!("{}{}", server.base_url(), concrete)).send().await.unwrap();
    }
    let metrics = http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("route=\"unmatched\""), "{metrics}");

    // An independent validator agrees it is OpenAPI.
    if let Some(python) = tally_testkit::python() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("openapi.json");
        std::fs::write(&file, serde_json::to_vec_pretty::<Value>(body).unwrap()).unwrap();
        let output =
            std::process::Command::new(python).args(["-m", "openapi_spec_validator"]).arg(&file).output().unwrap();
        assert!(
            output.status.success(),
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
