//! Alerts over HTTP: one on a saved Insights report fires to an HTTPS webhook (a 503 first,
//! then a retry; Basic auth) and by e-mail to a real SMTP server, once for its period even
//! across a restart; a test alert goes out on request; the history says what happened; an
//! alert whose report changes shape says it is invalid; others' alerts are not seen.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tally_testkit::api::{Api, PASSWORD};
use tally_testkit::smtp::SmtpServer;
use tally_testkit::webhook::WebhookReceiver;

use crate::access::world::tenant;
use crate::ingest::production;
use crate::support::Instance;

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen in time");
}

#[tokio::test]
async fn an_alert_fires_once_by_webhook_and_email_across_a_restart() {
    let Some(python) = tally_testkit::python() else { return };
    // A check is recorded per hour: keep clear of an hour's turn while the test runs.
    let now = tally_types::Clock::now(&tally_types::SystemClock).as_second();
    let to_turn = 3600 - now.rem_euclid(3600);
    if to_turn < 90 {
        tokio::time::sleep(Duration::from_secs(u64::try_from(to_turn).unwrap_or(0) + 2)).await;
    }
    let mut smtp = SmtpServer::start(&python).await;
    let receiver = WebhookReceiver::start(1).await;
    let instance = Instance::new(tally_testkit::TestBackend::Sqlite).await;
    let folder = tempfile::tempdir().unwrap();
    let ca = folder.path().join("webhook-ca.pem");
    std::fs::write(&ca, &receiver.cert_pem).unwrap();
    let smtp_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let env = [
        ("TALLY_MAIL_TRANSPORT", "smtp"),
        ("TALLY_MAIL_SMTP_URL", smtp_url.as_str()),
        ("TALLY_MAIL_FROM", "Tally <tally@acme.example>"),
        ("TALLY_ALERTS_WEBHOOK_CA_FILE", ca.to_str().unwrap()),
    ];
    let mut server = instance.serve_with(&[], &env).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let project = production(&acme).await;
    let base = format!("/api/app/projects/{}", project.id);
    let owner = &acme.owner;

    // Three purchases today.
    let rows: Vec<Value> = ["a", "b", "c"]
        .iter()
        .map(|user| json!({ "event": "Purchase", "properties": { "time": now - 60, "distinct_id": user, "$insert_id": format!("p-{user}") } }))
        .collect();
    let reply = tally_testkit::http_client(None)
        .post(format!("{}/import?strict=1", server.base_url()))
        .basic_auth(&project.secret, Some(""))
        .json(&rows)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let board =
        owner.post(&format!("{base}/boards"), json!({ "title": "Sales" })).await.results()["id"].as_i64().unwrap();
    let report = json!({ "type": "insights", "range": { "from_date": "2026-01-01", "to_date": "2026-01-02" },
        "metrics": [{ "event": "Purchase", "measure": { "kind": "total" } }] });
    let bookmark = owner
        .post(&format!("{base}/bookmarks"), json!({ "board_id": board, "name": "Purchases", "report": report }))
        .await
        .results()["id"]
        .as_i64()
        .unwrap();

    // Bad alerts say what to fix.
    let alert = |changes: Value| {
        let mut body = json!({ "bookmark_id": bookmark, "name": "Many purchases", "frequency": "hourly",
            "condition": { "kind": "above", "value": 2 }, "emails": ["owner@acme.example"],
            "webhook": { "url": receiver.url, "username": "hook", "password": "s3cret" } });
        for (key, value) in changes.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };
    for (changes, field) in [
        (json!({ "webhook": { "url": "http://127.0.0.1:9/hook" } }), "https"),
        (json!({ "emails": ["stranger@elsewhere.example"] }), "member"),
        (json!({ "condition": { "kind": "sideways", "value": 1 } }), "above"),
        (json!({ "frequency": "yearly" }), "hourly"),
    ] {
        let refused = owner.post(&format!("{base}/alerts"), alert(changes)).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{refused:?}");
        assert!(refused.body["error"].as_str().unwrap().contains(field), "{refused:?}");
    }

    // The alert: checked at once, above 2 with 3 purchases, so it fires.
    let made = owner.post(&format!("{base}/alerts"), alert(json!({}))).await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let alert_id = made.results()["id"].as_i64().unwrap();
    assert!(made.body.to_string().find("s3cret").is_none(), "the password never comes back");
    wait_until("the webhook delivery", || !receiver.accepted().is_empty()).await;
    let received = receiver.received();
    assert_eq!(received.len(), 2, "a 503, then the retry: {received:?}");
    let delivered = &receiver.accepted()[0];
    assert_eq!(delivered.body["value"], 3.0, "{delivered:?}");
    assert_eq!(delivered.body["test"], false);
    assert_eq!(delivered.body["alert"]["id"], alert_id);
    use base64::Engine;
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("hook:s3cret"));
    assert_eq!(delivered.authorization.as_deref(), Some(basic.as_str()));
    let mail = smtp.next_message().await;
    assert!(mail.contains("Subject: Tally alert: Many purchases"), "{mail}");
    assert!(mail.contains("To: owner@acme.example") && mail.contains("is 3 for"), "{mail}");

    let history = owner.get(&format!("{base}/alerts/{alert_id}/history")).await;
    let checks = history.results().as_array().unwrap().clone();
    assert_eq!(checks.len(), 1, "{history:?}");
    assert_eq!(checks[0]["fired"], true);
    assert_eq!(checks[0]["delivered"], true);
    assert_eq!(checks[0]["delivery"]["webhook"]["attempts"], 2);
    assert_eq!(checks[0]["delivery"]["email"]["sent"], 1);

    // A restart does not fire the same hour again.
    server.terminate();
    server.wait(Duration::from_secs(30)).await;
    let server = instance.serve_with(&[], &env).await;
    let owner = Api::sign_in(server.base_url(), "owner@acme.example", PASSWORD).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(receiver.accepted().len(), 1, "once per firing: {:?}", receiver.received());
    let history = owner.get(&format!("{base}/alerts/{alert_id}/history")).await;
    assert_eq!(history.results().as_array().unwrap().len(), 1);

    // A test alert goes out now, marked as one.
    let test = owner.post(&format!("{base}/alerts/{alert_id}/test"), json!({})).await;
    assert_eq!(test.status, StatusCode::OK, "{test:?}");
    assert_eq!(test.results()["test"], true);
    assert_eq!(test.results()["delivered"], true, "{test:?}");
    assert_eq!(receiver.accepted().len(), 2);
    assert_eq!(receiver.accepted()[1].body["test"], true);
    assert!(smtp.next_message().await.contains("Subject: [test] Tally alert: Many purchases"));

    // Someone else does not see it; a Consumer cannot make one.
    let (analyst, _) = owner
        .invite_and_accept(
            acme.org_id,
            "analyst@acme.example",
            "member",
            json!([{ "id": project.id, "role": "analyst" }]),
        )
        .await;
    assert_eq!(analyst.get(&format!("{base}/alerts/{alert_id}")).await.status, StatusCode::NOT_FOUND);
    assert!(analyst.get(&format!("{base}/alerts")).await.results().as_array().unwrap().is_empty());
    let (consumer, _) = owner
        .invite_and_accept(
            acme.org_id,
            "consumer@acme.example",
            "member",
            json!([{ "id": project.id, "role": "consumer" }]),
        )
        .await;
    assert_eq!(consumer.post(&format!("{base}/alerts"), alert(json!({}))).await.status, StatusCode::FORBIDDEN);

    // The report now counts another event: the alert is invalid and says why; saving it
    // again follows the report.
    let other = json!({ "type": "insights", "range": { "from_date": "2026-01-01", "to_date": "2026-01-02" },
        "metrics": [{ "event": "Sign Up", "measure": { "kind": "unique" } }] });
    let changed = owner.patch(&format!("{base}/bookmarks/{bookmark}"), json!({ "report": other })).await;
    assert!(changed.status.is_success(), "{changed:?}");
    let shown = owner.get(&format!("{base}/alerts/{alert_id}")).await;
    assert_eq!(shown.results()["status"], "invalid", "{shown:?}");
    let reason = shown.results()["invalid_reason"].as_str().unwrap();
    assert!(reason.contains("Purchase (total)") && reason.contains("Sign Up (unique)"), "{shown:?}");
    let refused = owner.post(&format!("{base}/alerts/{alert_id}/test"), json!({})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{refused:?}");
    let saved = owner.patch(&format!("{base}/alerts/{alert_id}"), json!({ "name": "Sign-ups" })).await;
    assert_eq!(saved.results()["status"], "active", "{saved:?}");
    assert_eq!(saved.results()["report_shape"], "Insights of Sign Up (unique)");
}
