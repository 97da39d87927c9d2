//! Privilege escalations found by trying Tally from outside (issue 11), each driven through
//! the door the attack used and paired with the control that is allowed: invitation links
//! (an existing account joins only signed in as itself; a link is shown only to whoever may
//! grant every role it carries), second-factor resets that would reach other
//! organizations, step-up checks on second factors and passwords (throttled like
//! sign-in), and "only members below you" as one table over every change of someone's
//! access.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tally_testkit::TallyProcess;
use tally_testkit::api::{Api, PASSWORD, Reply};
use tally_testkit::backends;
use tally_testkit::clock::TestClock;

use super::world::tenant;
use crate::support::{Instance, oathtool};

/// 2027-01-15T08:00:00Z.
const T0: i64 = 1_800_000_000;

async fn serve(instance: &Instance, clock: &TestClock) -> TallyProcess {
    let env = [
        ("TALLY_TEST_CLOCK_FILE", clock.path().to_str().unwrap()),
        ("TALLY_INVITATIONS_PER_DOMAIN_PER_HOUR", "100000"),
        ("TALLY_DNS_RESOLVER", "127.0.0.1:9"),
    ];
    instance.serve_with(&[], &env).await
}

fn link_token(reply: &Reply) -> String {
    let link = reply.results()["link"].as_str().unwrap_or_else(|| panic!("no link in {reply:?}"));
    link.split("token=").nth(1).unwrap().to_string()
}

async fn organizations(api: &Api) -> Vec<String> {
    let me = api.get("/api/app/me").await;
    me.results()["organizations"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap().to_string()).collect()
}

/// Enrolls an authenticator for a signed-in account (password re-entered); returns its
/// secret. The clock moves on a step so the next code is a fresh one.
async fn enroll_totp(api: &Api, clock: &mut TestClock) -> String {
    let provisioning = api.post("/api/app/me/two-factor/totp", json!({ "password": PASSWORD })).await;
    assert_eq!(provisioning.status, StatusCode::OK, "{provisioning:?}");
    let secret = provisioning.results()["secret"].as_str().unwrap().to_string();
    let confirmed = api.post("/api/app/me/two-factor/confirm", json!({ "code": oathtool(&secret, clock.now()) })).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{confirmed:?}");
    clock.advance(30);
    secret
}

async fn factor(api: &Api) -> Value {
    api.get("/api/app/me/two-factor").await.results()["method"].clone()
}

#[tokio::test]
async fn an_invitation_link_never_attaches_an_existing_account_and_resets_stay_in_their_organization() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let mut clock = TestClock::at(T0);
        let server = serve(&instance, &clock).await;
        let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let beta = tenant(&instance, &server, "owner@beta.example", "Beta").await;
        enroll_totp(&acme.owner, &mut clock).await;
        let (beta_admin, _) = beta.owner.invite_and_accept(beta.org_id, "admin@beta.example", "admin", json!([])).await;

        // Beta's Admin invites Acme's Owner and holds the link.
        let invitations = format!("/api/app/organizations/{}/invitations", beta.org_id);
        let invite = beta_admin.post(&invitations, json!({ "email": "owner@acme.example" })).await;
        assert_eq!(invite.status, StatusCode::CREATED, "{invite:?}");
        let token = link_token(&invite);

        // The link alone attaches nobody: not anonymously, not signed in as someone else.
        let stranger = Api::anonymous(server.base_url());
        let anonymous = stranger.post("/api/app/invitations/accept", json!({ "token": token })).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{anonymous:?}");
        assert_eq!(anonymous.code(), "sign_in_to_accept");
        assert!(anonymous.body["error"].as_str().unwrap().contains("sign in as owner@acme.example"), "{anonymous:?}");
        let with_password = stranger
            .post("/api/app/invitations/accept", json!({ "token": token, "password": "a brand new password" }))
            .await;
        assert_eq!(with_password.code(), "sign_in_to_accept", "a chosen password changes nothing: {with_password:?}");
        let as_admin = beta_admin.post("/api/app/invitations/accept", json!({ "token": token })).await;
        assert_eq!(as_admin.status, StatusCode::FORBIDDEN, "{as_admin:?}");
        assert_eq!(organizations(&acme.owner).await, vec!["Acme"], "nothing was attached");

        // Signed in as itself, the account accepts.
        let accepted = acme.owner.post("/api/app/invitations/accept", json!({ "token": token })).await;
        assert_eq!(accepted.status, StatusCode::CREATED, "{accepted:?}");
        assert_eq!(accepted.results()["account_created"], false);
        assert_eq!(organizations(&acme.owner).await, vec!["Acme", "Beta"]);

        // Beta's Admin cannot turn off a factor the account also uses for Acme...
        let reset = beta_admin
            .delete(&format!("/api/app/organizations/{}/members/{}/two-factor", beta.org_id, acme.owner_id))
            .await;
        assert_eq!(reset.status, StatusCode::CONFLICT, "{reset:?}");
        assert!(reset.body["error"].as_str().unwrap().contains("other organizations"), "{reset:?}");
        assert_eq!(factor(&acme.owner).await, "totp", "the factor is untouched");

        // ...while a member of Beta alone is reset (the control), and nobody resets their own.
        let (bob, bob_id) = beta.owner.invite_and_accept(beta.org_id, "bob@beta.example", "member", json!([])).await;
        enroll_totp(&bob, &mut clock).await;
        let reset_bob =
            beta_admin.delete(&format!("/api/app/organizations/{}/members/{bob_id}/two-factor", beta.org_id)).await;
        assert_eq!(reset_bob.status, StatusCode::OK, "{reset_bob:?}");
        let signed_in_again = Api::sign_in(server.base_url(), "bob@beta.example", PASSWORD).await;
        assert_eq!(factor(&signed_in_again).await, Value::Null);
        let own = beta
            .owner
            .delete(&format!("/api/app/organizations/{}/members/{}/two-factor", beta.org_id, beta.owner_id))
            .await;
        assert_eq!(own.status, StatusCode::FORBIDDEN, "{own:?}");
    }
}

#[tokio::test]
async fn every_action_on_an_invitation_passes_the_rule_for_making_it() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let clock = TestClock::at(T0);
        let server = serve(&instance, &clock).await;
        let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let org = acme.org_id;
        let production = acme.projects[0];
        let (admin, _) = acme.owner.invite_and_accept(org, "admin@acme.example", "admin", json!([])).await;
        let invitations = format!("/api/app/organizations/{org}/invitations");

        // Pending invitations made by the Owner, carrying roles above an Admin's.
        let above = [
            json!({ "email": "next-owner@acme.example", "organization_role": "owner" }),
            json!({ "email": "project-owner@acme.example", "projects": [{ "id": production, "role": "owner" }] }),
        ];
        for body in above {
            let made = acme.owner.post(&invitations, body.clone()).await;
            assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
            let id = made.results()["id"].as_i64().unwrap();
            for (method, action) in [("POST", "link"), ("POST", "resend"), ("DELETE", "")] {
                let path = if action.is_empty() {
                    format!("{invitations}/{id}")
                } else {
                    format!("{invitations}/{id}/{action}")
                };
                let reply = match method {
                    "POST" => admin.post(&path, json!({})).await,
                    _ => admin.delete(&path).await,
                };
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "Admin {method} {path} for {body}: {reply:?}");
                assert!(reply.body["results"]["link"].is_null(), "no link leaks: {reply:?}");
            }
            // The Owner may; the Admin could not make such an invitation in the first place.
            let link = acme.owner.post(&format!("{invitations}/{id}/link"), json!({})).await;
            assert_eq!(link.status, StatusCode::OK, "{link:?}");
            let made_by_admin = admin.post(&invitations, json!({ "email": "x@acme.example" }).clone()).await;
            assert_eq!(made_by_admin.status, StatusCode::CREATED);
        }

        // The control: an invitation within the Admin's own level is theirs to handle.
        let member = acme.owner.post(&invitations, json!({ "email": "member@acme.example" })).await;
        let id = member.results()["id"].as_i64().unwrap();
        let link = admin.post(&format!("{invitations}/{id}/link"), json!({})).await;
        assert_eq!(link.status, StatusCode::OK, "{link:?}");
        let accepted = Api::anonymous(server.base_url())
            .post("/api/app/invitations/accept", json!({ "token": link_token(&link), "password": PASSWORD }))
            .await;
        assert_eq!(accepted.status, StatusCode::CREATED, "{accepted:?}");
        let revoke_owner_invitation = {
            let made = acme
                .owner
                .post(&invitations, json!({ "email": "o2@acme.example", "organization_role": "owner" }))
                .await;
            acme.owner.delete(&format!("{invitations}/{}", made.results()["id"])).await
        };
        assert_eq!(revoke_owner_invitation.status, StatusCode::OK, "the Owner revokes: {revoke_owner_invitation:?}");
    }
}

#[tokio::test]
async fn changing_a_factor_or_a_password_asks_for_a_step_up_that_is_throttled_like_sign_in() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let mut clock = TestClock::at(T0);
        let server = serve(&instance, &clock).await;
        let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let owner = &acme.owner;
        let secret = enroll_totp(owner, &mut clock).await;

        // A session alone cannot replace, remove or re-code the factor.
        for (path, body) in [
            ("/api/app/me/two-factor/totp", json!({})),
            ("/api/app/me/two-factor/sms", json!({ "phone": "+15555550123" })),
            ("/api/app/me/two-factor/recovery-codes", json!({})),
        ] {
            let reply = owner.post(path, body).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}: {reply:?}");
            assert!(reply.body["error"].as_str().unwrap().contains("to confirm"), "{path}: {reply:?}");
        }
        let removed = owner.call(reqwest::Method::DELETE, "/api/app/me/two-factor", Some(json!({}))).await;
        assert_eq!(removed.status, StatusCode::BAD_REQUEST, "{removed:?}");
        assert_eq!(factor(owner).await, "totp");

        // The current factor's code is proof enough (the control), and so is the password.
        let by_code = owner
            .post("/api/app/me/two-factor/recovery-codes", json!({ "code": oathtool(&secret, clock.now()) }))
            .await;
        assert_eq!(by_code.status, StatusCode::OK, "{by_code:?}");
        let by_password = owner.post("/api/app/me/two-factor/totp", json!({ "password": PASSWORD })).await;
        assert_eq!(by_password.status, StatusCode::OK, "{by_password:?}");

        // Wrong passwords at any step-up count as failed sign-ins: after five, the session
        // ends and the account is locked like a sign-in would be.
        let security = format!("/api/app/organizations/{}/security", acme.org_id);
        for attempt in 0..4 {
            let wrong = if attempt % 2 == 0 {
                owner.put(&security, json!({ "require_two_factor": true, "password": "not the password" })).await
            } else {
                owner
                    .put(
                        "/api/app/me/password",
                        json!({ "current_password": "not the password", "new_password": "another long password" }),
                    )
                    .await
            };
            assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "attempt {attempt}: {wrong:?}");
        }
        let fifth = owner.put(&security, json!({ "require_two_factor": true, "password": "not the password" })).await;
        assert_eq!(fifth.status, StatusCode::UNAUTHORIZED, "{fifth:?}");
        assert_eq!(fifth.code(), "session_ended");
        assert_eq!(owner.get("/api/app/me").await.status, StatusCode::UNAUTHORIZED, "the session has ended");
        let locked = Api::anonymous(server.base_url())
            .post("/api/app/sessions", json!({ "email": "owner@acme.example", "password": PASSWORD }))
            .await;
        assert_eq!(locked.status, StatusCode::UNAUTHORIZED, "the account is locked: {locked:?}");
        clock.advance(16 * 60);
        let later = Api::anonymous(server.base_url())
            .post("/api/app/sessions", json!({ "email": "owner@acme.example", "password": PASSWORD }))
            .await;
        assert_eq!(later.status, StatusCode::OK, "the lock ends with its window: {later:?}");
    }
}

/// Org roles; an actor manages a target only when strictly above it (Owners manage
/// everyone). Billing Admins and Members rank alike.
const ORG_ROLES: [&str; 4] = ["owner", "admin", "billing_admin", "member"];

fn org_rank(role: &str) -> usize {
    match role {
        "owner" => 3,
        "admin" => 2,
        _ => 1,
    }
}

/// Project roles from the top.
const PROJECT_ROLES: [&str; 4] = ["owner", "admin", "analyst", "consumer"];

fn project_rank(role: &str) -> usize {
    PROJECT_ROLES.len() - PROJECT_ROLES.iter().position(|r| *r == role).unwrap()
}

#[tokio::test]
async fn only_members_below_you_is_one_rule_for_every_change_of_access() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let clock = TestClock::at(T0);
        let server = serve(&instance, &clock).await;
        let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let org = acme.org_id;
        let mut n = 0;
        let mut next = |prefix: &str| {
            n += 1;
            format!("{prefix}{n}")
        };

        // Organization level: every actor role that manages members, against every target role,
        // for changing the role, resetting the second factor, removing the member and deleting
        // a service account of that role.
        for actor_role in ["owner", "admin"] {
            let (actor, _) = acme
                .owner
                .invite_and_accept(org, &format!("{}@acme.example", next(actor_role)), actor_role, json!([]))
                .await;
            for target_role in ORG_ROLES {
                let allowed = actor_role == "owner" || org_rank(actor_role) > org_rank(target_role);
                let what = |action: &str| format!("{backend:?}: {actor_role} {action} a {target_role}");
                let check = |reply: &Reply, action: &str| {
                    if allowed {
                        assert!(reply.status.is_success(), "{}: {reply:?}", what(action));
                    } else {
                        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}: {reply:?}", what(action));
                    }
                };
                let (_, target) = acme
                    .owner
                    .invite_and_accept(org, &format!("{}@acme.example", next("target")), target_role, json!([]))
                    .await;
                let members = format!("/api/app/organizations/{org}/members/{target}");
                check(&actor.delete(&format!("{members}/two-factor")).await, "resets the factor of");
                let new_role = if target_role == "member" { "billing_admin" } else { "member" };
                let changed = actor.put(&members, json!({ "role": new_role })).await;
                check(&changed, "changes the role of");
                if !allowed {
                    let article = if target_role == "owner" { "an Owner" } else { "an Admin" };
                    assert!(changed.body["error"].as_str().unwrap().contains(&format!("is {article};")), "{changed:?}");
                }
                let (_, target) = acme
                    .owner
                    .invite_and_accept(org, &format!("{}@acme.example", next("target")), target_role, json!([]))
                    .await;
                check(&actor.delete(&format!("/api/app/organizations/{org}/members/{target}")).await, "removes");
                let robot = acme
                    .owner
                    .post(
                        &format!("/api/app/organizations/{org}/service-accounts"),
                        json!({ "username": next("robot-"), "role": target_role }),
                    )
                    .await;
                assert_eq!(robot.status, StatusCode::CREATED, "{robot:?}");
                let robot_id = robot.results()["id"].as_i64().unwrap();
                check(
                    &actor.delete(&format!("/api/app/organizations/{org}/service-accounts/{robot_id}")).await,
                    "deletes a service account of role",
                );
            }
        }

        // Project level: an actor holding a project role on a fresh project, against a user and
        // a service account holding each project role there: change the grant, remove it, and
        // remove the service account from the project's settings.
        for actor_role in ["owner", "admin"] {
            let project = acme
                .owner
                .post(&format!("/api/app/organizations/{org}/projects"), json!({ "name": next("Project ") }))
                .await;
            let project_id = project.results()["id"].as_i64().unwrap();
            let base = format!("/api/app/projects/{project_id}");
            let grant = |role: &str| json!([{ "id": project_id, "role": role }]);
            let (actor, _) = acme
                .owner
                .invite_and_accept(org, &format!("{}@acme.example", next("p-actor")), "member", grant(actor_role))
                .await;
            for target_role in PROJECT_ROLES {
                let allowed = actor_role == "owner" || project_rank(actor_role) > project_rank(target_role);
                let check = |reply: &Reply, action: &str| {
                    let what = format!("{backend:?}: project {actor_role} {action} a project {target_role}");
                    if allowed {
                        assert!(reply.status.is_success(), "{what}: {reply:?}");
                    } else {
                        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{what}: {reply:?}");
                    }
                };
                let (_, user) = acme
                    .owner
                    .invite_and_accept(org, &format!("{}@acme.example", next("p-target")), "member", grant(target_role))
                    .await;
                let user_path = format!("{base}/members/users/{user}");
                check(&actor.put(&user_path, json!({ "role": "consumer" })).await, "demotes");
                let (_, user) = acme
                    .owner
                    .invite_and_accept(org, &format!("{}@acme.example", next("p-target")), "member", grant(target_role))
                    .await;
                check(&actor.delete(&format!("{base}/members/users/{user}")).await, "removes");
                let robot = acme
                    .owner
                    .post(&format!("{base}/service-accounts"), json!({ "username": next("bot-"), "role": target_role }))
                    .await;
                assert_eq!(robot.status, StatusCode::CREATED, "{robot:?}");
                let robot_id = robot.results()["id"].as_i64().unwrap();
                check(
                    &actor.delete(&format!("{base}/service-accounts/{robot_id}")).await,
                    "removes a service account holding",
                );
            }
        }
    }
}

#[tokio::test]
async fn removing_a_service_account_in_one_projects_settings_revokes_that_project_only() {
    for backend in backends() {
        let instance = Instance::new(backend).await;
        let clock = TestClock::at(T0);
        let server = serve(&instance, &clock).await;
        let acme = tenant(&instance, &server, "owner@acme.example", "Acme").await;
        let (production, development) = (acme.projects[0], acme.projects[1]);
        let made = acme
            .owner
            .post(
                &format!("/api/app/projects/{production}/service-accounts"),
                json!({ "username": "etl", "role": "analyst" }),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
        let id = made.results()["id"].as_i64().unwrap();
        let secret = made.results()["token"].as_str().unwrap().to_string();
        // Someone gives it Development too, from the other project's settings.
        let granted = acme
            .owner
            .put(
                &format!("/api/app/projects/{development}/members/service-accounts/{id}"),
                json!({ "role": "consumer" }),
            )
            .await;
        assert!(granted.status.is_success(), "{granted:?}");

        let removed = acme.owner.delete(&format!("/api/app/projects/{production}/service-accounts/{id}")).await;
        assert_eq!(removed.status, StatusCode::OK, "{removed:?}");
        let robot = Api::service_account(server.base_url(), "etl", &secret);
        let lost = robot.get(&format!("/api/app/projects/{production}/permissions")).await;
        assert!(matches!(lost.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{lost:?}");
        let kept = robot.get(&format!("/api/app/projects/{development}/permissions")).await;
        assert_eq!(kept.status, StatusCode::OK, "Development is kept: {kept:?}");
        let listed = acme.owner.get(&format!("/api/app/organizations/{}/service-accounts/{id}", acme.org_id)).await;
        assert_eq!(listed.status, StatusCode::OK, "the account still exists: {listed:?}");

        // The control: an account made in a project's settings with access nowhere else goes.
        let lone = acme
            .owner
            .post(
                &format!("/api/app/projects/{production}/service-accounts"),
                json!({ "username": "lonely", "role": "consumer" }),
            )
            .await;
        let lone_id = lone.results()["id"].as_i64().unwrap();
        let gone = acme.owner.delete(&format!("/api/app/projects/{production}/service-accounts/{lone_id}")).await;
        assert_eq!(gone.status, StatusCode::OK);
        let after = acme.owner.get(&format!("/api/app/organizations/{}/service-accounts/{lone_id}", acme.org_id)).await;
        assert_eq!(after.status, StatusCode::NOT_FOUND, "{after:?}");
    }
}
