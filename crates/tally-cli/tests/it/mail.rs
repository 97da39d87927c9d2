//! Invitations by e-mail through a real SMTP server.

use reqwest::StatusCode;
use serde_json::json;
use tally_testkit::TestBackend;
use tally_testkit::api::{Api, PASSWORD};
use tally_testkit::python;
use tally_testkit::smtp::SmtpServer;

use crate::access::world::tenant;
use crate::support::Instance;

#[tokio::test]
async fn invitations_are_mailed_over_smtp_and_the_link_in_the_mail_works() {
    let Some(python) = python() else { return };
    let mut smtp = SmtpServer::start(&python).await;
    let instance = Instance::new(TestBackend::Sqlite).await;
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let server = instance
        .serve_with(
            &[],
            &[
                ("TALLY_MAIL_TRANSPORT", "smtp"),
                ("TALLY_MAIL_SMTP_URL", &url),
                ("TALLY_MAIL_FROM", "Tally <tally@acme.example>"),
            ],
        )
        .await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let reply = acme
        .owner
        .post(&format!("/api/app/organizations/{}/invitations", acme.org_id), json!({ "email": "new@acme.example" }))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");

    let message = smtp.next_message().await;
    assert!(message.contains("Subject: You are invited to Acme on Tally"), "{message}");
    assert!(message.contains("To: new@acme.example"), "{message}");
    let link = message
        .split_whitespace()
        .find(|word| word.contains("/invitations/accept?token="))
        .unwrap_or_else(|| panic!("no link in {message}"));
    assert!(link.starts_with(server.base_url()), "{link}");
    let token = link.split("token=").nth(1).unwrap();
    let invitee = Api::anonymous(server.base_url());
    let accepted = invitee.post("/api/app/invitations/accept", json!({ "token": token, "password": PASSWORD })).await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{accepted:?}");
    assert_eq!(invitee.get("/api/app/me").await.results()["user"]["email"], "new@acme.example");
}

#[tokio::test]
async fn a_mail_server_that_is_down_withdraws_the_invitation_with_a_clear_error() {
    let instance = Instance::new(TestBackend::Sqlite).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("smtp://127.0.0.1:{closed}");
    let server = instance.serve_with(&[], &[("TALLY_MAIL_TRANSPORT", "smtp"), ("TALLY_MAIL_SMTP_URL", &url)]).await;
    let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
    let path = format!("/api/app/organizations/{}/invitations", acme.org_id);
    let reply = acme.owner.post(&path, json!({ "email": "new@acme.example" })).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{reply:?}");
    assert_eq!(reply.code(), "mail_unavailable");
    assert!(acme.owner.get(&path).await.results().as_array().unwrap().is_empty(), "nothing half-sent is kept");
}
