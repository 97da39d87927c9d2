//! Signing in: passwords, second factors by authenticator app (codes from oathtool and
//! pyotp) and by SMS (through a Twilio-speaking stand-in), recovery codes, organization
//! enforcement, throttling, sessions, magic links and password resets. Time moves by a
//! clock file the server reads, never by sleeping.

use std::collections::BTreeSet;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tally_testkit::api::{Api, PASSWORD, Reply};
use tally_testkit::clock::TestClock;
use tally_testkit::sms::{FakeTwilio, Mode};
use tally_testkit::{TallyProcess, backends};

use crate::access::world::{Tenant, tenant};
use crate::support::{Instance, oathtool};

/// 2027-01-15T08:00:00Z.
const T0: i64 = 1_800_000_000;

async fn serve(instance: &Instance, clock: &TestClock, extra: &[(&str, String)]) -> TallyProcess {
    let mut env: Vec<(&str, &str)> = vec![
        ("TALLY_TEST_CLOCK_FILE", clock.path().to_str().unwrap()),
        ("TALLY_INVITATIONS_PER_DOMAIN_PER_HOUR", "1000"),
    ];
    env.extend(extra.iter().map(|(key, value)| (*key, value.as_str())));
    instance.serve_with(&[], &env).await
}

/// The same from PyPI's pyotp, when the test Python is there.
fn pyotp(secret: &str, seconds: i64) -> Option<String> {
    let python = tally_testkit::python()?;
    let script = format!("import pyotp; print(pyotp.TOTP('{secret}').at({seconds}))");
    let output = Command::new(python).args(["-c", &script]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    Some(String::from_utf8(output.stdout).unwrap().trim().to_string())
}

async fn sign_in_step(api: &Api, email: &str, password: &str) -> Reply {
    api.post("/api/app/sessions", json!({ "email": email, "password": password })).await
}

fn challenge(reply: &Reply) -> String {
    reply.results()["challenge"].as_str().unwrap_or_else(|| panic!("no challenge in {reply:?}")).to_string()
}

/// The response body without its request id, to compare failures.
fn shape(reply: &Reply) -> (StatusCode, Value) {
    let mut body = reply.body.clone();
    body.as_object_mut().map(|object| object.remove("request_id"));
    (reply.status, body)
}

#[tokio::test]
async fn organization_enforced_second_factor_end_to_end() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let mut clock = TestClock::at(T0);
        let mut twilio = FakeTwilio::start().await;
        let server = serve(&instance, &clock, &twilio.twilio_env()).await;
        let Tenant { owner, org_id: org, .. } = tenant(&instance, &server, "owner@acme.example", "Acme").await;

        // Turning enforcement on needs the password again.
        let security = format!("/api/app/organizations/{org}/security");
        let without = owner.put(&security, json!({ "require_two_factor": true })).await;
        assert_eq!(without.status, StatusCode::BAD_REQUEST, "{without:?}");
        let wrong = owner.put(&security, json!({ "require_two_factor": true, "password": "not my password" })).await;
        assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
        assert_eq!(owner.get(&security).await.results()["require_two_factor"], false);
        let on = owner.put(&security, json!({ "require_two_factor": true, "password": PASSWORD })).await;
        assert_eq!(on.status, StatusCode::OK, "{on:?}");

        // Mary joins: no session until she enrolls.
        let invite = owner
            .post(&format!("/api/app/organizations/{org}/invitations"), json!({ "email": "mary@acme.example" }))
            .await;
        let token = invite.results()["link"].as_str().unwrap().split("token=").nth(1).unwrap().to_string();
        let mary = Api::anonymous(server.base_url());
        let accepted = mary.post("/api/app/invitations/accept", json!({ "token": token, "password": PASSWORD })).await;
        assert_eq!(accepted.results()["sign_in"]["status"], "enrollment_required", "{accepted:?}");
        assert_eq!(mary.get("/api/app/me").await.status, StatusCode::UNAUTHORIZED);

        // Signing in with her password asks for enrollment; she enrolls an authenticator app.
        let step = sign_in_step(&mary, "mary@acme.example", PASSWORD).await;
        assert_eq!(step.results()["status"], "enrollment_required");
        let enroll = challenge(&step);
        let provisioning = mary.post("/api/app/sessions/enroll/totp", json!({ "challenge": enroll })).await;
        let secret = provisioning.results()["secret"].as_str().unwrap().to_string();
        assert!(
            provisioning.results()["otpauth_uri"]
                .as_str()
                .unwrap()
                .starts_with("otpauth://totp/Tally:mary%40acme.example")
        );
        assert!(!provisioning.results()["qr_png_base64"].as_str().unwrap().is_empty());
        let bad = mary.post("/api/app/sessions/enroll/confirm", json!({ "challenge": enroll, "code": "000000" })).await;
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
        let code = oathtool(&secret, clock.now());
        let confirmed =
            mary.post("/api/app/sessions/enroll/confirm", json!({ "challenge": enroll, "code": code })).await;
        assert_eq!(confirmed.results()["status"], "signed_in", "{confirmed:?}");
        let mary_codes: Vec<String> = confirmed.results()["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        assert_eq!(mary_codes.len(), 10);
        assert_eq!(mary.get("/api/app/me/two-factor").await.results()["method"], "totp");
        assert_eq!(mary.delete("/api/app/sessions/current").await.status, StatusCode::OK);

        // Next sign-in: a code from pyotp (or oathtool) one step later; the same code twice
        // and a code two steps old are refused.
        clock.advance(30);
        let step = sign_in_step(&mary, "mary@acme.example", PASSWORD).await;
        assert_eq!(step.results()["status"], "second_factor_required");
        assert_eq!(step.results()["method"], "totp");
        let missing = mary.post("/api/app/sessions/second-factor", json!({ "challenge": challenge(&step) })).await;
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
        let step = sign_in_step(&mary, "mary@acme.example", PASSWORD).await;
        let now_code = pyotp(&secret, clock.now()).unwrap_or_else(|| oathtool(&secret, clock.now()));
        assert_eq!(now_code, oathtool(&secret, clock.now()), "pyotp and oathtool agree");
        let done = mary
            .post("/api/app/sessions/second-factor", json!({ "challenge": challenge(&step), "code": now_code }))
            .await;
        assert_eq!(done.results()["status"], "signed_in", "{done:?}");
        let replay_step = sign_in_step(&Api::anonymous(server.base_url()), "mary@acme.example", PASSWORD).await;
        let replay = Api::anonymous(server.base_url())
            .post("/api/app/sessions/second-factor", json!({ "challenge": challenge(&replay_step), "code": now_code }))
            .await;
        assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "a code is accepted once");
        let old_step = sign_in_step(&Api::anonymous(server.base_url()), "mary@acme.example", PASSWORD).await;
        let old = Api::anonymous(server.base_url())
            .post(
                "/api/app/sessions/second-factor",
                json!({ "challenge": challenge(&old_step), "code": oathtool(&secret, clock.now() - 60) }),
            )
            .await;
        assert_eq!(old.status, StatusCode::UNAUTHORIZED, "two steps old");
        // A code from the step just before the last accepted one is refused too.
        let earlier_step = sign_in_step(&Api::anonymous(server.base_url()), "mary@acme.example", PASSWORD).await;
        let earlier = Api::anonymous(server.base_url())
            .post(
                "/api/app/sessions/second-factor",
                json!({ "challenge": challenge(&earlier_step), "code": oathtool(&secret, clock.now() - 30) }),
            )
            .await;
        assert_eq!(earlier.status, StatusCode::UNAUTHORIZED, "an earlier step after a later one");

        // Sam enrolls by SMS through the Twilio stand-in.
        let (_, _) = (
            owner
                .post(&format!("/api/app/organizations/{org}/invitations"), json!({ "email": "sam@acme.example" }))
                .await,
            (),
        );
        let invitations = owner.get(&format!("/api/app/organizations/{org}/invitations")).await;
        let sam_invite =
            invitations.results().as_array().unwrap().iter().find(|i| i["email"] == "sam@acme.example").unwrap()["id"]
                .clone();
        let link = owner.post(&format!("/api/app/organizations/{org}/invitations/{sam_invite}/link"), json!({})).await;
        let token = link.results()["link"].as_str().unwrap().split("token=").nth(1).unwrap().to_string();
        let sam = Api::anonymous(server.base_url());
        let accepted = sam.post("/api/app/invitations/accept", json!({ "token": token, "password": PASSWORD })).await;
        let enroll = accepted.results()["sign_in"]["challenge"].as_str().unwrap().to_string();
        let not_e164 =
            sam.post("/api/app/sessions/enroll/sms", json!({ "challenge": enroll, "phone": "415-555-0123" })).await;
        assert_eq!(not_e164.status, StatusCode::BAD_REQUEST);
        assert_eq!(not_e164.code(), "invalid_phone");
        let sent =
            sam.post("/api/app/sessions/enroll/sms", json!({ "challenge": enroll, "phone": "+14155550123" })).await;
        assert_eq!(sent.status, StatusCode::OK, "{sent:?}");
        let sms = twilio.next().await;
        assert_eq!(sms.to, "+14155550123");
        assert_eq!(sms.from.as_deref(), Some("+15005550006"));
        let confirmed =
            sam.post("/api/app/sessions/enroll/confirm", json!({ "challenge": enroll, "code": sms.code() })).await;
        assert_eq!(confirmed.results()["status"], "signed_in", "{confirmed:?}");
        let sam_codes: Vec<String> = confirmed.results()["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        assert_eq!(sam.get("/api/app/me/two-factor").await.results()["phone"], "+141•••23");

        // Signing in by SMS: the code comes bound to this sign-in; used once.
        let again = Api::anonymous(server.base_url());
        let step = sign_in_step(&again, "sam@acme.example", PASSWORD).await;
        assert_eq!(step.results()["method"], "sms");
        let code = twilio.next().await.code();
        let other_step = sign_in_step(&Api::anonymous(server.base_url()), "sam@acme.example", PASSWORD).await;
        let _ = twilio.next().await;
        let cross = Api::anonymous(server.base_url())
            .post("/api/app/sessions/second-factor", json!({ "challenge": challenge(&other_step), "code": code }))
            .await;
        assert_eq!(cross.status, StatusCode::UNAUTHORIZED, "a code is bound to its own sign-in");
        let done =
            again.post("/api/app/sessions/second-factor", json!({ "challenge": challenge(&step), "code": code })).await;
        assert_eq!(done.results()["status"], "signed_in", "{done:?}");
        let reused =
            again.post("/api/app/sessions/second-factor", json!({ "challenge": challenge(&step), "code": code })).await;
        assert_eq!(reused.status, StatusCode::UNAUTHORIZED);

        // A recovery code works once.
        let rescue = Api::anonymous(server.base_url());
        let step = sign_in_step(&rescue, "sam@acme.example", PASSWORD).await;
        let _ = twilio.next().await;
        let used = rescue
            .post(
                "/api/app/sessions/second-factor",
                json!({ "challenge": challenge(&step), "recovery_code": sam_codes[0] }),
            )
            .await;
        assert_eq!(used.results()["status"], "signed_in", "{used:?}");
        let step = sign_in_step(&Api::anonymous(server.base_url()), "sam@acme.example", PASSWORD).await;
        let _ = twilio.next().await;
        let twice = Api::anonymous(server.base_url())
            .post(
                "/api/app/sessions/second-factor",
                json!({ "challenge": challenge(&step), "recovery_code": sam_codes[0].to_uppercase() }),
            )
            .await;
        assert_eq!(twice.status, StatusCode::UNAUTHORIZED);
        assert_eq!(rescue.get("/api/app/me/two-factor").await.results()["recovery_codes_left"], 9);

        // The owner resets Mary: her sessions end and she enrolls again next time.
        let mary_id = mary.get("/api/app/me").await.results()["user"]["id"].as_i64().unwrap();
        assert_eq!(
            owner.delete(&format!("/api/app/organizations/{org}/members/{mary_id}/two-factor")).await.status,
            StatusCode::OK
        );
        assert_eq!(mary.get("/api/app/me").await.status, StatusCode::UNAUTHORIZED);
        let step = sign_in_step(&mary, "mary@acme.example", PASSWORD).await;
        assert_eq!(step.results()["status"], "enrollment_required");
        let stale = Api::anonymous(server.base_url())
            .post(
                "/api/app/sessions/second-factor",
                json!({ "challenge": challenge(&step), "recovery_code": mary_codes[1] }),
            )
            .await;
        assert_eq!(stale.status, StatusCode::UNAUTHORIZED, "old recovery codes died with the reset");

        // Mary may not turn the factor off while the organization requires one.
        let step = sign_in_step(&mary, "mary@acme.example", PASSWORD).await;
        let enroll = challenge(&step);
        let provisioning = mary.post("/api/app/sessions/enroll/totp", json!({ "challenge": enroll })).await;
        let secret = provisioning.results()["secret"].as_str().unwrap().to_string();
        clock.advance(90);
        let confirmed = mary
            .post(
                "/api/app/sessions/enroll/confirm",
                json!({ "challenge": enroll, "code": oathtool(&secret, clock.now()) }),
            )
            .await;
        assert_eq!(confirmed.results()["status"], "signed_in");
        let off =
            mary.call(reqwest::Method::DELETE, "/api/app/me/two-factor", Some(json!({ "password": PASSWORD }))).await;
        assert_eq!(off.status, StatusCode::CONFLICT, "{off:?}");

        // The audit log saw it all.
        let log = owner.get(&format!("/api/app/organizations/{org}/audit-log")).await;
        let types: BTreeSet<&str> =
            log.results().as_array().unwrap().iter().map(|r| r["event_type"].as_str().unwrap()).collect();
        for expected in [
            "organization_access_security.twofactor_enabled",
            "user.twofactor_enabled",
            "user.twofactor_disabled",
            "session.logged_in",
            "session.logged_out",
            "session.login_failed",
        ] {
            assert!(types.contains(expected), "{backend:?}: {expected} missing from {types:?}");
        }
    }
}

#[tokio::test]
async fn one_code_submitted_twenty_times_at_once_succeeds_once() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let clock = TestClock::at(T0);
        let server = serve(&instance, &clock, &[("TALLY_AUTH_MAX_FAILURES_PER_ACCOUNT", "100".into())]).await;
        let Tenant { owner, .. } = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let provisioning = owner.post("/api/app/me/two-factor/totp", json!({ "password": PASSWORD })).await;
        let secret = provisioning.results()["secret"].as_str().unwrap().to_string();
        let confirmed =
            owner.post("/api/app/me/two-factor/confirm", json!({ "code": oathtool(&secret, T0 - 30) })).await;
        assert_eq!(confirmed.status, StatusCode::OK, "{confirmed:?}");

        let mut attempts = Vec::new();
        for _ in 0..20 {
            let api = Api::anonymous(server.base_url());
            let step = sign_in_step(&api, "owner@acme.example", PASSWORD).await;
            attempts.push((api, challenge(&step)));
        }
        let code = oathtool(&secret, T0);
        let replies = futures_util::future::join_all(attempts.iter().map(|(api, challenge)| {
            api.post("/api/app/sessions/second-factor", json!({ "challenge": challenge, "code": code }))
        }))
        .await;
        let n_ok = replies.iter().filter(|reply| reply.status == StatusCode::OK).count();
        assert_eq!(n_ok, 1, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn lockout_and_enumeration_look_the_same_from_outside() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let mut clock = TestClock::at(T0);
        let server = serve(&instance, &clock, &[]).await;
        let _ = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let api = Api::anonymous(server.base_url());

        let unknown = sign_in_step(&api, "nobody@acme.example", PASSWORD).await;
        let wrong = sign_in_step(&api, "owner@acme.example", "wrong password").await;
        assert_eq!(shape(&unknown), shape(&wrong), "an unknown e-mail and a wrong password look the same");
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        for _ in 0..4 {
            assert_eq!(
                sign_in_step(&api, "owner@acme.example", "wrong password").await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        // Five failures: the right password is refused exactly like a wrong one.
        let locked = sign_in_step(&api, "owner@acme.example", PASSWORD).await;
        assert_eq!(shape(&locked), shape(&wrong), "{backend:?}: a locked account looks like a wrong password");
        clock.advance(10 * 60);
        assert_eq!(
            sign_in_step(&api, "owner@acme.example", PASSWORD).await.status,
            StatusCode::UNAUTHORIZED,
            "still locked"
        );
        clock.advance(6 * 60);
        let open = sign_in_step(&api, "owner@acme.example", PASSWORD).await;
        assert_eq!(open.results()["status"], "signed_in", "{backend:?}: the lock lifts after the window: {open:?}");
    }
}

#[tokio::test]
async fn sessions_are_listed_revoked_and_expire() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let mut clock = TestClock::at(T0);
        let server = serve(&instance, &clock, &[("TALLY_SESSIONS_IDLE_MINUTES", "30".into())]).await;
        let Tenant { owner, .. } = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let laptop = Api::sign_in(server.base_url(), "owner@acme.example", PASSWORD).await;

        let sessions = owner.get("/api/app/me/sessions").await;
        let list = sessions.results().as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
        assert!(list.iter().all(|s| s["ip"] == "127.0.0.1"));
        let other = list.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_string();
        assert_eq!(owner.delete(&format!("/api/app/me/sessions/{other}")).await.status, StatusCode::OK);
        assert_eq!(laptop.get("/api/app/me").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(owner.delete("/api/app/me/sessions/not-a-session").await.status, StatusCode::NOT_FOUND);

        // A password change ends every other session; the caller stays signed in.
        let phone = Api::sign_in(server.base_url(), "owner@acme.example", PASSWORD).await;
        let wrong = owner
            .put("/api/app/me/password", json!({ "current_password": "nope", "new_password": "a brand new secret" }))
            .await;
        assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
        let too_long = owner
            .put("/api/app/me/password", json!({ "current_password": PASSWORD, "new_password": "x".repeat(200) }))
            .await;
        assert_eq!(too_long.code(), "invalid_password");
        let common = owner
            .put("/api/app/me/password", json!({ "current_password": PASSWORD, "new_password": "password123" }))
            .await;
        assert_eq!(common.code(), "invalid_password");
        let changed = owner
            .put("/api/app/me/password", json!({ "current_password": PASSWORD, "new_password": "a brand new secret" }))
            .await;
        assert_eq!(changed.status, StatusCode::OK, "{changed:?}");
        assert_eq!(phone.get("/api/app/me").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(owner.get("/api/app/me").await.status, StatusCode::OK);
        assert_eq!(
            sign_in_step(&Api::anonymous(server.base_url()), "owner@acme.example", PASSWORD).await.status,
            StatusCode::UNAUTHORIZED
        );

        // Idle for longer than allowed: signed out.
        clock.advance(31 * 60);
        assert_eq!(owner.get("/api/app/me").await.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn magic_links_and_password_resets_arrive_by_mail_and_work_once() {
    let Some(python) = tally_testkit::python() else { return };
    let mut smtp = tally_testkit::smtp::SmtpServer::start(&python).await;
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let clock = TestClock::at(T0);
        let url = format!("smtp://127.0.0.1:{}", smtp.port);
        let server =
            serve(&instance, &clock, &[("TALLY_MAIL_TRANSPORT", "smtp".into()), ("TALLY_MAIL_SMTP_URL", url)]).await;
        // An account without a password: Mixpanel's default sign-in is by e-mailed link.
        let boot = instance
            .command(&["admin", "bootstrap", "--email", "link@acme.example", "--org", "Acme", "--json"], None)
            .await;
        assert!(boot.status.success());

        let api = Api::anonymous(server.base_url());
        let bad = api.post("/api/app/magic-link", json!({ "email": "not an email" })).await;
        assert_eq!(bad.code(), "invalid_email");
        assert_eq!(
            api.post("/api/app/magic-link", json!({ "email": "nobody@acme.example" })).await.status,
            StatusCode::ACCEPTED
        );
        assert_eq!(
            api.post("/api/app/magic-link", json!({ "email": "link@acme.example" })).await.status,
            StatusCode::ACCEPTED
        );
        let message = smtp.next_message().await;
        assert!(message.contains("To: link@acme.example"), "only the real account got mail: {message}");
        let link = message.split_whitespace().find(|word| word.contains("/magic-link?token=")).unwrap().to_string();
        // The link opens the web app's screen; the token is used only when the person acts.
        let page = reqwest::get(&link).await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("<div id=\"root\">") || html.contains("web app is not in this binary"), "{html}");
        let token = link.split("token=").nth(1).unwrap();
        let signed = api.post("/api/app/magic-link/consume", json!({ "token": token })).await;
        assert_eq!(signed.results()["status"], "signed_in", "{signed:?}");
        assert_eq!(
            api.post("/api/app/magic-link/consume", json!({ "token": token })).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(reqwest::get(&link).await.unwrap().status(), StatusCode::NOT_FOUND, "a used link's screen is 404");

        // Once the account has a password, links no longer sign it in; resets do arrive.
        let set = api.put("/api/app/me/password", json!({ "new_password": "my first password" })).await;
        assert_eq!(set.status, StatusCode::OK, "{set:?}");
        api.post("/api/app/magic-link", json!({ "email": "link@acme.example" })).await;
        api.post("/api/app/password-reset", json!({ "email": "link@acme.example" })).await;
        let message = smtp.next_message().await;
        assert!(message.contains("Subject: Reset your Tally password"), "no magic link was sent first: {message}");
        let link = message.split_whitespace().find(|word| word.contains("/password-reset?token=")).unwrap().to_string();
        let token = link.split("token=").nth(1).unwrap().to_string();
        let weak = api.post("/api/app/password-reset/confirm", json!({ "token": token, "password": "short" })).await;
        assert_eq!(weak.code(), "invalid_password");
        let reset = api
            .post("/api/app/password-reset/confirm", json!({ "token": token, "password": "my second password" }))
            .await;
        assert_eq!(reset.status, StatusCode::OK, "{reset:?}");
        assert_eq!(api.get("/api/app/me").await.status, StatusCode::UNAUTHORIZED, "a reset ends every session");
        let again = api
            .post("/api/app/password-reset/confirm", json!({ "token": token, "password": "my third password" }))
            .await;
        assert_eq!(again.status, StatusCode::NOT_FOUND);
        Api::sign_in(server.base_url(), "link@acme.example", "my second password").await;
    }
}

#[tokio::test]
async fn a_failing_sms_provider_keeps_nothing_half_enrolled() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let clock = TestClock::at(T0);
        let mut twilio = FakeTwilio::start().await;
        let server = serve(&instance, &clock, &twilio.twilio_env()).await;
        let Tenant { owner, .. } = tenant(&instance, &server, "owner@acme.example", "Acme").await;

        for mode in [Mode::Fail, Mode::Hang] {
            twilio.set_mode(mode);
            let reply = owner
                .post("/api/app/me/two-factor/sms", json!({ "phone": "+14155550123", "password": PASSWORD }))
                .await;
            assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{mode:?}: {reply:?}");
            assert_eq!(reply.code(), "sms_unavailable");
            assert!(
                reply.body["error"].as_str().unwrap().starts_with("could not send the code, try again"),
                "{reply:?}"
            );
            let confirm = owner.post("/api/app/me/two-factor/confirm", json!({ "code": "123456" })).await;
            assert_eq!(confirm.status, StatusCode::BAD_REQUEST);
            assert!(confirm.body["error"].as_str().unwrap().contains("start an enrollment first"), "{confirm:?}");
            assert_eq!(owner.get("/api/app/me/two-factor").await.results()["method"], Value::Null);
        }
        assert!(twilio.try_next().is_none());

        // Back up: enrollment works, and resends are throttled.
        twilio.set_mode(Mode::Accept);
        assert_eq!(
            owner
                .post("/api/app/me/two-factor/sms", json!({ "phone": "+14155550123", "password": PASSWORD }))
                .await
                .status,
            StatusCode::OK
        );
        let first = twilio.next().await;
        let too_soon =
            owner.post("/api/app/me/two-factor/sms", json!({ "phone": "+14155550123", "password": PASSWORD })).await;
        assert_eq!(too_soon.status, StatusCode::TOO_MANY_REQUESTS);
        let confirmed = owner.post("/api/app/me/two-factor/confirm", json!({ "code": first.code() })).await;
        assert_eq!(confirmed.status, StatusCode::OK, "{confirmed:?}");
        assert_eq!(owner.get("/api/app/me/two-factor").await.results()["method"], "sms");
    }
}

#[tokio::test]
async fn the_webhook_provider_posts_codes_as_json() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let clock = TestClock::at(T0);
        let mut hook = FakeTwilio::start().await;
        let url = format!("{}/hook", hook.base_url);
        let server =
            serve(&instance, &clock, &[("TALLY_SMS_PROVIDER", "webhook".into()), ("TALLY_SMS_WEBHOOK_URL", url)]).await;
        let Tenant { owner, .. } = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        assert_eq!(
            owner
                .post("/api/app/me/two-factor/sms", json!({ "phone": "+447911123456", "password": PASSWORD }))
                .await
                .status,
            StatusCode::OK
        );
        let sms = hook.next().await;
        assert_eq!(sms.to, "+447911123456");
        let confirmed = owner.post("/api/app/me/two-factor/confirm", json!({ "code": sms.code() })).await;
        assert_eq!(confirmed.results()["recovery_codes"].as_array().unwrap().len(), 10);
    }
}

#[tokio::test]
async fn sms_codes_expire_allow_five_tries_and_methods_can_be_switched() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let mut clock = TestClock::at(T0);
        let mut twilio = FakeTwilio::start().await;
        let mut env = twilio.twilio_env();
        env.push(("TALLY_AUTH_MAX_FAILURES_PER_ACCOUNT", "100".into()));
        let server = serve(&instance, &clock, &env).await;
        let Tenant { owner, .. } = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        owner.post("/api/app/me/two-factor/sms", json!({ "phone": "+14155550123", "password": PASSWORD })).await;
        let code = twilio.next().await.code();
        owner.post("/api/app/me/two-factor/confirm", json!({ "code": code })).await.results();

        // Expired after five minutes.
        let api = Api::anonymous(server.base_url());
        let step = sign_in_step(&api, "owner@acme.example", PASSWORD).await;
        let code = twilio.next().await.code();
        clock.advance(5 * 60);
        let late =
            api.post("/api/app/sessions/second-factor", json!({ "challenge": challenge(&step), "code": code })).await;
        assert_eq!(late.status, StatusCode::UNAUTHORIZED, "{backend:?}: an expired code");

        // Five wrong tries spend the code, even before the right one.
        let step = sign_in_step(&api, "owner@acme.example", PASSWORD).await;
        let code = twilio.next().await.code();
        let wrong = if code == "111111" { "222222" } else { "111111" };
        for _ in 0..5 {
            api.post("/api/app/sessions/second-factor", json!({ "challenge": challenge(&step), "code": wrong })).await;
        }
        let spent =
            api.post("/api/app/sessions/second-factor", json!({ "challenge": challenge(&step), "code": code })).await;
        assert_eq!(spent.status, StatusCode::UNAUTHORIZED, "{backend:?}: the code is spent after five tries");

        // A wrong code looks like a wrong password.
        let step = sign_in_step(&api, "owner@acme.example", PASSWORD).await;
        let _ = twilio.next().await;
        let wrong_code = api
            .post("/api/app/sessions/second-factor", json!({ "challenge": challenge(&step), "code": "000000" }))
            .await;
        let wrong_password = sign_in_step(&api, "owner@acme.example", "not the password").await;
        assert_eq!(shape(&wrong_code), shape(&wrong_password));

        // Switching to an authenticator app replaces the SMS factor; new recovery codes
        // replace the old ones.
        let provisioning = owner.post("/api/app/me/two-factor/totp", json!({ "password": PASSWORD })).await;
        let secret = provisioning.results()["secret"].as_str().unwrap().to_string();
        let switched =
            owner.post("/api/app/me/two-factor/confirm", json!({ "code": oathtool(&secret, clock.now()) })).await;
        let old_codes = switched.results()["recovery_codes"].clone();
        assert_eq!(owner.get("/api/app/me/two-factor").await.results()["method"], "totp");
        let fresh = owner.post("/api/app/me/two-factor/recovery-codes", json!({ "password": PASSWORD })).await;
        let new_codes = fresh.results()["recovery_codes"].clone();
        assert_ne!(old_codes, new_codes);
        let step = sign_in_step(&api, "owner@acme.example", PASSWORD).await;
        let stale = api
            .post(
                "/api/app/sessions/second-factor",
                json!({ "challenge": challenge(&step), "recovery_code": old_codes[0] }),
            )
            .await;
        assert_eq!(stale.status, StatusCode::UNAUTHORIZED);
        let step = sign_in_step(&api, "owner@acme.example", PASSWORD).await;
        let good = api
            .post(
                "/api/app/sessions/second-factor",
                json!({ "challenge": challenge(&step), "recovery_code": new_codes[0] }),
            )
            .await;
        assert_eq!(good.results()["status"], "signed_in");

        // Turning it off needs the password and ends every other session.
        let off =
            owner.call(reqwest::Method::DELETE, "/api/app/me/two-factor", Some(json!({ "password": "wrong" }))).await;
        assert_eq!(off.status, StatusCode::BAD_REQUEST);
        let off =
            owner.call(reqwest::Method::DELETE, "/api/app/me/two-factor", Some(json!({ "password": PASSWORD }))).await;
        assert_eq!(off.status, StatusCode::OK);
        assert_eq!(api.get("/api/app/me").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(owner.get("/api/app/me/two-factor").await.results()["method"], Value::Null);
    }
}

#[tokio::test]
async fn one_address_failing_across_accounts_is_throttled() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let clock = TestClock::at(T0);
        let server = serve(&instance, &clock, &[("TALLY_AUTH_MAX_FAILURES_PER_IP", "3".into())]).await;
        let _ = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let api = Api::anonymous(server.base_url());
        for n in 0..3 {
            sign_in_step(&api, &format!("guess{n}@acme.example"), "whatever it is").await;
        }
        let blocked = sign_in_step(&api, "owner@acme.example", PASSWORD).await;
        assert_eq!(blocked.status, StatusCode::UNAUTHORIZED, "the address is throttled, whatever account it tries");
    }
}

#[tokio::test]
async fn cookie_requests_from_other_sites_are_refused() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let clock = TestClock::at(T0);
        let server = serve(&instance, &clock, &[]).await;
        let Tenant { owner, org_id: org, .. } = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let path = format!("/api/app/organizations/{org}/teams");
        let host = server.base_url().trim_start_matches("http://").to_string();
        let cases = [
            ("origin", "https://evil.example".to_string(), StatusCode::FORBIDDEN),
            ("sec-fetch-site", "cross-site".to_string(), StatusCode::FORBIDDEN),
            ("origin", format!("http://{host}"), StatusCode::CREATED),
            ("sec-fetch-site", "same-origin".to_string(), StatusCode::CREATED),
        ];
        for (n, (header, value, expected)) in cases.into_iter().enumerate() {
            let response = owner
                .request(reqwest::Method::POST, &path)
                .header(header, &value)
                .json(&json!({ "name": format!("Team {n}") }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), expected, "{header}: {value}");
        }
        // Reads are not affected, and service accounts (no cookie) are not browsers.
        let read =
            owner.request(reqwest::Method::GET, &path).header("origin", "https://evil.example").send().await.unwrap();
        assert_eq!(read.status(), StatusCode::OK);
    }
}
