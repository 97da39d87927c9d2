//! The newcomer's path: an empty instance prints a setup link; following it creates the
//! first Owner, organization and projects, which survive a restart.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tally_testkit::backends;

use crate::support::{Instance, client, setup_body, token_of};

#[tokio::test]
async fn setup_link_creates_the_first_tenant_which_survives_restart() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let mut server = instance.serve().await;
        let setup_url = server.started.setup_url.clone().expect("an empty instance prints a setup link");
        assert!(setup_url.starts_with(&format!("{}/setup?token=", server.base_url())), "{setup_url}");
        let token = token_of(&setup_url);
        let log = server.output_so_far().join("\n");
        assert!(log.contains("setup_url"), "the link is also in the log: {log}");

        let http = client();
        let page = http.get(&setup_url).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        // The link opens the web app (its setup screen), under a policy that allows no
        // inline script; a binary built without the app says how to build it.
        let policy = page.headers()["content-security-policy"].to_str().unwrap().to_string();
        assert!(policy.contains("script-src 'self';") && !policy.contains("unsafe-inline"), "{policy}");
        let html = page.text().await.unwrap();
        assert!(html.contains("<div id=\"root\">") || html.contains("web app is not in this binary"), "{html}");

        // Without a session, nobody is known.
        let anonymous = http.get(server.url("/api/app/me")).send().await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

        let response = http
            .post(server.url("/api/app/setup"))
            .json(&setup_body(&token, "ada@example.com", "Acme Analytics"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED, "{backend:?}");
        let cookie = response.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(cookie.starts_with("tally_session="), "{cookie}");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(!cookie.contains("Secure"), "plain HTTP on loopback: {cookie}");
        let created: Value = response.json().await.unwrap();
        assert_eq!(created["user"]["email"], "ada@example.com");
        assert_eq!(created["organization"]["name"], "Acme Analytics");
        let names: Vec<&str> =
            created["projects"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["Production", "Development"]);

        let me: Value = http.get(server.url("/api/app/me")).send().await.unwrap().json().await.unwrap();
        let org = &me["results"]["organizations"][0];
        assert_eq!(org["name"], "Acme Analytics");
        assert_eq!(org["role"], "owner");
        let listed: Vec<(&Value, &Value, &Value)> =
            org["projects"].as_array().unwrap().iter().map(|p| (&p["id"], &p["name"], &p["token"])).collect();
        let made: Vec<(&Value, &Value, &Value)> =
            created["projects"].as_array().unwrap().iter().map(|p| (&p["id"], &p["name"], &p["token"])).collect();
        assert_eq!(listed, made);
        assert!(org["projects"][0]["permissions"].as_array().unwrap().contains(&Value::from("delete_project")));

        // The link works once.
        let again = http
            .post(server.url("/api/app/setup"))
            .json(&setup_body(&token, "eve@example.com", "Evil"))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::BAD_REQUEST);
        let body: Value = again.json().await.unwrap();
        assert_eq!(body["status"], "error");
        assert_eq!(body["code"], "setup_link_rejected");
        assert_eq!(http.get(&setup_url).send().await.unwrap().status(), StatusCode::NOT_FOUND);

        server.terminate();
        assert!(server.wait(Duration::from_secs(30)).await.success());

        // After a restart: no new setup link, and the same session sees the same tenant.
        let server = instance.serve().await;
        assert_eq!(server.started.setup_url, None, "{backend:?}: a set-up instance prints no link");
        let me_after: Value = http.get(server.url("/api/app/me")).send().await.unwrap().json().await.unwrap();
        assert_eq!(me_after, me, "{backend:?}");
        let stranger = client().get(server.url("/api/app/me")).send().await.unwrap();
        assert_eq!(stranger.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn setup_form_signs_in_and_shows_projects() {
    let instance = Instance::new(tally_testkit::TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let token = token_of(server.started.setup_url.as_deref().unwrap());
    let http = client();

    let bad = http
        .post(server.url("/setup"))
        .form(&[
            ("token", token.as_str()),
            ("email", "not-an-email"),
            ("password", "correct horse"),
            ("organization", "Acme"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let page = bad.text().await.unwrap();
    assert!(page.contains("is not an e-mail address"), "{page}");
    assert!(page.contains("name=\"token\""), "the form is shown again: {page}");

    let good = http
        .post(server.url("/setup"))
        .form(&[
            ("token", token.as_str()),
            ("email", "ada@example.com"),
            ("password", "correct horse"),
            ("organization", "<Acme & Co>"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), StatusCode::SEE_OTHER);
    assert_eq!(good.headers()["location"], "/");
    let me: serde_json::Value = http.get(server.url("/api/app/me")).send().await.unwrap().json().await.unwrap();
    let org = &me["results"]["organizations"][0];
    assert_eq!(org["name"], "<Acme & Co>", "the name is kept as typed: {me}");
    let names: Vec<&str> = org["projects"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Production", "Development"]);
}

#[tokio::test]
async fn setup_input_errors_name_the_field_and_store_nothing() {
    let instance = Instance::new(tally_testkit::TestBackend::Sqlite).await;
    let server = instance.serve().await;
    let token = token_of(server.started.setup_url.as_deref().unwrap());
    let http = client();
    let cases = [
        (
            serde_json::json!({"email": "ada@example.com", "password": "short", "organization": "Acme"}),
            "invalid_password",
        ),
        (serde_json::json!({"email": "ada@", "password": "long enough", "organization": "Acme"}), "invalid_email"),
        (
            serde_json::json!({"email": "ada@example.com", "password": "long enough", "organization": "  "}),
            "invalid_organization",
        ),
    ];
    for (mut body, code) in cases {
        body["token"] = token.clone().into();
        let response = http.post(server.url("/api/app/setup")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{code}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["code"], code);
    }
    // Not JSON at all.
    let response = http
        .post(server.url("/api/app/setup"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    // The link still works after all those mistakes.
    let response = http
        .post(server.url("/api/app/setup"))
        .json(&setup_body(&token, "ada@example.com", "Acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}
